"""`ai-assets`: the headless main job, policies, and the demo sample.

    ai-assets process FILE...              ingest files and materialize every asset for them, in-process
    ai-assets policy show [DOMAIN]         the current policy (asr, vision, embed, clip, segment)
    ai-assets policy history DOMAIN        every version with author and reason
    ai-assets policy set DOMAIN --reason R [--file F | --set PATH=VALUE ...] [--apply]
    ai-assets refresh                      rerun, in-process, the videos a policy change made stale
    ai-assets sample PATH                  write a synthetic talk video (espeak-ng speech, a drawn face, 3 scenes)
    ai-assets feedback CLIP_ID [--rating N] [--selected|--rejected] [--views N] [--retention F] [--note T]
    ai-assets feedback --list              clips to rate, and the feedback so far
    ai-assets chapters [VIDEO]             YouTube chapter lines per video
    ai-assets search QUERY [-k N]          semantic search over every video's transcript
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

STEP_EVENTS = {"STEP_START": "…", "STEP_SUCCESS": "✓", "STEP_FAILURE": "✗"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ai-assets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    process = sub.add_parser("process", help="ingest video files and run every stage on them")
    process.add_argument("files", nargs="+", type=Path)
    process.add_argument("--top", type=int, default=5, help="segments to print per video (default 5)")
    sample = sub.add_parser("sample", help="write a synthetic sample talk video")
    sample.add_argument("path", type=Path)
    policy = sub.add_parser("policy", help="show, set or list model policies")
    policy_sub = policy.add_subparsers(dest="action", required=True)
    show = policy_sub.add_parser("show", help="the current version of one or all domains")
    show.add_argument("domain", nargs="?")
    history = policy_sub.add_parser("history", help="every version of a domain")
    history.add_argument("domain")
    set_ = policy_sub.add_parser("set", help="store a new version (validated first)")
    set_.add_argument("domain")
    set_.add_argument("--reason", required=True, help="why: stored with the version")
    set_.add_argument("--file", type=Path, help="a complete JSON body ('-' for stdin)")
    set_.add_argument("--set", dest="edits", action="append", default=[], metavar="PATH=VALUE",
                      help="edit the current body, e.g. classes.noisy_or_multi.model=base (repeatable)")
    set_.add_argument("--apply", action="store_true", help="then rerun the stale videos in-process")
    sub.add_parser("refresh", help="rerun, in-process, every video whose outputs used an older policy")
    feedback = sub.add_parser("feedback", help="rate a clip; the optimization sensor refits the segment weights from it")
    feedback.add_argument("clip_id", nargs="?", help="as in the clips table, e.g. talk-f5cc409f92:1:tiktok")
    feedback.add_argument("--list", action="store_true", help="list clips and the feedback given so far")
    feedback.add_argument("--rating", type=int, help="1 (bad) to 5 (great)")
    choice = feedback.add_mutually_exclusive_group()
    choice.add_argument("--selected", dest="selected", action="store_const", const=True, help="the clip was published or kept")
    choice.add_argument("--rejected", dest="selected", action="store_const", const=False, help="the clip was thrown away")
    feedback.add_argument("--views", type=int)
    feedback.add_argument("--retention", type=float, help="share of the clip the average viewer watched, 0–1")
    feedback.add_argument("--note")
    chapters = sub.add_parser("chapters", help="print YouTube chapter lines")
    chapters.add_argument("video", nargs="?", help="a partition key (default: every video)")
    search = sub.add_parser("search", help="semantic search over every transcript")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=10)
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")  # model loading progress bars would drown the progress lines
    if args.command == "sample":
        from ai_assets.samples import make_talking_head

        print(make_talking_head(args.path))
        return 0
    if args.command == "policy":
        from ai_assets.policy_cli import policy_command

        return policy_command(args)
    if args.command == "refresh":
        from ai_assets.policy_cli import refresh

        return refresh()
    if args.command == "feedback":
        return feedback_command(args)
    if args.command == "chapters":
        return chapters_command(args.video)
    if args.command == "search":
        from ai_assets.catalog import search

        found = search(args.query, k=args.k)
        if found.empty:
            print("nothing indexed yet: process a video first")
        for r in found.itertuples():
            print(f"{r.score:.3f}  {r.name or r.video}  {_clock(r.start)}–{_clock(r.end)}  {r.text}")
        return 0
    return process_files(args.files, args.top)


def feedback_command(args) -> int:
    from ai_assets.catalog import connect
    from ai_assets.feedback import FeedbackError, record

    if args.list or not args.clip_id:
        conn = connect()
        try:
            print(conn.sql(
                "SELECT c.clip_id, c.duration, count(f.feedback_id) AS feedback, avg(f.rating) AS rating, "
                "bool_or(f.selected) AS selected, left(any_value(c.text), 50) AS text FROM clips c "
                "LEFT JOIN feedback f USING (clip_id) GROUP BY c.clip_id, c.duration ORDER BY c.clip_id"
            ).df().to_string(index=False))
        finally:
            conn.close()
        return 0
    try:
        entry = record(args.clip_id, rating=args.rating, selected=args.selected, views=args.views, retention=args.retention, note=args.note)
    except FeedbackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"feedback {entry['feedback_id'][:8]} stored for {args.clip_id}")
    return 0


def chapters_command(video: str | None) -> int:
    from ai_assets.catalog import connect

    conn = connect()
    try:
        rows = conn.execute(
            "SELECT t.video, s.name, t.youtube, t.start, t.title FROM topics t LEFT JOIN source_video s USING (video) "
            "WHERE ? IS NULL OR t.video = ? ORDER BY t.video, t.chapter", [video, video]
        ).fetchall()
    finally:
        conn.close()
    if not rows:
        print("no chapters: process a video first" if video is None else f"no chapters for {video}")
        return 1 if video else 0
    current = None
    for key, name, line, start, title in rows:
        if key != current:
            print(f"\n{name or key} ({key})")
            current = key
        print(f"  {line}" if line else f"  {_clock(start)} {title}   (too few or too short chapters for YouTube)")
    return 0


def process_files(files: list[Path], top: int) -> int:
    from ai_assets.definitions import build_defs
    from ai_assets.instance import get_instance
    from ai_assets.intake import ingest_local
    from ai_assets.metrics import MetricsStore
    from ai_assets.partitions import videos
    from ai_assets.settings import Layout

    layout = Layout.from_env()
    instance = get_instance(layout)
    job = build_defs(layout).resolve_job_def("process_video")
    failures: list[str] = []
    done: list[tuple[str, str]] = []
    for path in files:
        if not path.is_file():
            failures.append(f"{path}: no such file")
            continue
        upload = ingest_local(layout.intake, path)
        instance.add_dynamic_partitions(videos.name, [upload.key])
        print(f"[{path.name}] partition {upload.key}", flush=True)
        error = run_partition(job, instance, upload.key, path.name)
        if error:
            failures.append(f"{path}: {error}")
        else:
            done.append((path.name, upload.key))
    MetricsStore(layout.metrics_db, layout.metrics_spool).flush(wait_s=5.0)
    for name, key in done:
        _print_segments(layout, name, key, top)
        _print_clips(layout, key)
    if done:
        print(f"\noutputs: {layout.lake}/<asset>/<partition>.parquet   metrics: {layout.metrics_db}")
        print('query:   python -c "from ai_assets.catalog import connect; print(connect().sql(\'from segments\').df())"')
    for line in failures:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failures else 0


def run_partition(job, instance, key: str, name: str) -> str | None:
    """Run the job for one partition, printing a line per stage; return the failure reason, if any."""
    run_id = str(uuid.uuid4())
    started: dict[str, float] = {}

    def on_event(entry) -> None:
        event = entry.dagster_event
        if event is None or event.event_type_value not in STEP_EVENTS:
            return
        step = event.step_key
        if event.event_type_value == "STEP_START":
            started[step] = time.perf_counter()
            print(f"[{name}] {STEP_EVENTS['STEP_START']} {step}", flush=True)
        else:
            seconds = time.perf_counter() - started.get(step, time.perf_counter())
            print(f"[{name}] {STEP_EVENTS[event.event_type_value]} {step} ({seconds:.1f} s)", flush=True)

    instance.add_event_listener(run_id, on_event)
    result = job.execute_in_process(
        instance=instance,
        partition_key=key,
        run_id=run_id,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
    if result.success:
        return None
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                return data.user_failure_data.description.removeprefix(f"{key}: ")
            return data.error.message.strip().splitlines()[-1] if data.error else "step failed"
    return "run failed"


def _print_segments(layout, name: str, key: str, top: int) -> None:
    import pyarrow.parquet as pq

    from resources.lake import lake_file

    rows = pq.read_table(lake_file(layout.lake, "segments", key)).to_pylist()
    # Platforms with the same length rules rank alike: print each distinct ranking once.
    rankings: dict[tuple, list[str]] = {}
    for platform in dict.fromkeys(r["platform"] for r in rows):
        ranked = tuple((r["start"], r["end"]) for r in rows if r["platform"] == platform and r["rank"] is not None)
        rankings.setdefault(ranked, []).append(platform)
    print(f"\n{name} ({key})")
    if not rows:
        print("  no span of continuous speech fits a platform's length")
    for spans, platforms in rankings.items():
        group = [r for r in rows if r["platform"] == platforms[0] and r["rank"] is not None][:top]
        print(f"  top {len(group)} of {len(spans)} segments for {', '.join(sorted(platforms))}")
        for r in group:
            text = r["text"] if len(r["text"]) <= 70 else r["text"][:69] + "…"
            print(f"  #{r['rank']:<2} {_clock(r['start']):>7}–{_clock(r['end']):<7} {text}")
            print(f"      {r['reason']}")
    blocked = {(r["start"], r["end"]): r for r in rows if r["rank"] is None}
    for r in list(blocked.values())[:3]:
        print(f"  not ranked {_clock(r['start'])}–{_clock(r['end'])}, safety: {r['blocked_reason']}")


def _print_clips(layout, key: str) -> None:
    import pyarrow.parquet as pq

    from resources.lake import lake_file

    rows = pq.read_table(lake_file(layout.lake, "clips", key)).to_pylist()
    if not rows:
        print("  clips: none rendered (the file has no picture, or no segment fits a platform)")
        return
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        by_file.setdefault(r["path"], []).append(r)
    print(f"  clips: {len(by_file)} files for {len({r['platform'] for r in rows})} platforms")
    for path, group in by_file.items():
        first = group[0]
        platforms = ", ".join(r["platform"] for r in group)
        print(f"  #{first['rank']} {first['width']}x{first['height']} {first['duration']:.1f} s {first['layout']:<10} {platforms}")
        print(f"     {path}")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"


if __name__ == "__main__":
    sys.exit(main())
