"""`ai-assets process`: ingest files and materialize every asset for them in this process, a line per stage."""

from __future__ import annotations

import re
import sys
import time
import uuid
from pathlib import Path

from ai_assets.storage.tables import clock

STEP_EVENTS = {"STEP_START": "…", "STEP_SUCCESS": "✓", "STEP_FAILURE": "✗"}


def process_files(files: list[Path], top: int) -> int:
    from ai_assets.definitions import build_defs
    from ai_assets.ingest.intake import ingest_local, readable
    from ai_assets.instance import get_instance
    from ai_assets.partitions import videos
    from ai_assets.storage.metrics import MetricsStore
    from ai_assets.storage.settings import Layout

    layout = Layout.from_env()
    instance = get_instance(layout)
    job = build_defs(layout).resolve_job_def("process_video")
    failures: list[str] = []
    done: list[tuple[str, str]] = []
    for path in files:
        shown, name = readable(str(path)), readable(path.name)  # bytes that are not UTF-8 would stop the printing
        if not path.is_file():
            failures.append(f"{shown}: no such file")
            continue
        upload = ingest_local(layout.intake, path)
        instance.add_dynamic_partitions(videos.name, [upload.key])
        print(f"[{name}] partition {upload.key}", flush=True)
        error = run_partition(job, instance, upload.key, name)
        if error:
            failures.append(f"{shown}: {error}")
        else:
            done.append((name, upload.key))
    MetricsStore(layout.metrics_db, layout.metrics_spool).flush(wait_s=5.0)
    for name, key in done:
        _print_segments(layout, name, key, top)
        _print_clips(layout, key)
    if done:
        lake = layout.objects().location("lake")
        print(f"\noutputs: {lake}/<asset>/<partition>.parquet   metrics: {layout.metrics_db}")
        print(
            "query:   python -c \"from ai_assets.catalog import connect; print(connect().sql('from segments').df())\""
        )
    for line in failures:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failures else 0


def run_partition(job, instance, key: str, name: str, stages: list | None = None) -> str | None:
    """Run the job (or only the asset keys `stages` of it) for one partition, printing a line per stage; return the
    failure reason, if any."""
    from ai_assets.instance import cli_run_tags

    run_id = str(uuid.uuid4())
    started: dict[str, float] = {}

    def on_event(entry) -> None:
        event = entry.dagster_event
        if event is not None and event.event_type_value == "ASSET_MATERIALIZATION":
            # Damage in the file that the stage worked around (skipped packets): the output is there, but not all of it.
            damaged = event.event_specific_data.materialization.metadata.get("damaged")
            if damaged is not None and damaged.value:
                print(f"[{name}] ! {event.step_key}: {damaged.value}", flush=True)
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
        asset_selection=stages or None,
        tags=cli_run_tags(),
        raise_on_error=False,
        # Dagster's console logger would print each step failure with its whole stack trace (80 lines for a file
        # that is not media); the lines above and the reason below say it, and the run keeps the trace.
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    if result.success:
        return None
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                return data.user_failure_data.description.removeprefix(f"{key}: ")
            # Not the input's fault: a bug or an environment problem, where the trace is what helps.
            return f"{event.step_key}: {error_text(data.error)} (trace: run {run_id[:8]} in `./dev.sh ui`)"
    return "run failed"


def error_text(error) -> str:
    """The first line of the innermost error's message, without its exception class: what a person can act on.

    Dagster wraps what a step raised ("DagsterExecutionStepExecutionError: Error occurred while executing op"),
    and each message starts with its class name ("AssertionError: non-negative timestamp expected")."""
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None:
        return "failed"
    lines = error.message.strip().splitlines()
    text = re.sub(rf"^(?:\S*\.)?{re.escape(error.cls_name or '')}(?::\s*|$)", "", lines[0] if lines else "")
    return text.strip() or "failed with an internal error"


def _print_segments(layout, name: str, key: str, top: int) -> None:
    from resources.lake import lake_location

    objects = layout.objects()
    rows = objects.read_table(lake_location(objects, "segments", key)).to_pylist()
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
            print(f"  #{r['rank']:<2} {clock(r['start']):>7}–{clock(r['end']):<7} {text}")
            print(f"      {r['reason']}")
    blocked = {(r["start"], r["end"]): r for r in rows if r["rank"] is None}
    for r in list(blocked.values())[:3]:
        print(f"  not ranked {clock(r['start'])}–{clock(r['end'])}, safety: {r['blocked_reason']}")


def _print_clips(layout, key: str) -> None:
    from resources.lake import lake_location

    objects = layout.objects()
    for line in clip_lines(objects.read_table(lake_location(objects, "clips", key)).to_pylist()):
        print(line)


def clip_lines(rows: list[dict]) -> list[str]:
    """The clips table in a few lines: each rendered file with its platforms, then what is planned and not rendered
    (beyond the policy's render_top, or held for review), with the command that renders one."""
    if not rows:
        return ["  clips: none rendered (no segment fits a platform)"]
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        if r["path"] is not None:
            by_file.setdefault(r["path"], []).append(r)
    waiting = [r for r in rows if r["path"] is None]
    lines = [f"  clips: {_count(len(by_file), 'file')} for {_count(len({r['platform'] for r in rows}), 'platform')}"]
    for path, group in by_file.items():
        first = group[0]
        platforms = ", ".join(r["platform"] for r in group)
        lines.append(f"  #{first['rank']} {first['width']}x{first['height']} {first['duration']:.1f} s "
                     f"{first['layout']:<10} {platforms}")
        lines.append(f"     {path}")
    held = [r for r in waiting if r.get("held_reason")]
    if held:
        lines.append(f"  held for review: {_count(len(held), 'clip')}, {held[0]['held_reason']}; after a look, "
                     f"`ai-assets render {held[0]['clip_id']}` renders one")
    failed = [r for r in waiting if r.get("render_error")]
    if failed:
        lines.append(f"  failed to render: {_count(len(failed), 'clip')}, {failed[0]['render_error']}; "
                     f"`ai-assets render {failed[0]['clip_id']}` tries again")
    later = [r for r in waiting if not r.get("held_reason") and not r.get("render_error")]
    if later:
        lines.append(f"  planned, not rendered: {_count(len(later), 'more clip')} (rank "
                     f"{', '.join(str(n) for n in sorted({r['rank'] for r in later}))}); `ai-assets render "
                     f"{later[0]['clip_id']}` renders one")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
