"""`ai-assets`: the headless main job, policies, feedback, search and the demo sample; one module per command group.

    ai-assets process FILE...              ingest files and materialize every asset for them, in-process
    ai-assets policy show [DOMAIN]         the current policy (asr, vision, embed, clip, segment)
    ai-assets policy history DOMAIN        every version with author and reason
    ai-assets policy set DOMAIN --reason R [--file F | --set PATH=VALUE ...] [--apply]
    ai-assets refresh [--dry-run]          rerun, in-process, the stages a policy or code change made stale
    ai-assets failures                     the videos whose latest run failed, and why
    ai-assets render CLIP_ID               render a clip planned but not rendered yet (beyond the policy's render_top)
    ai-assets retry [VIDEO]                run the failed videos again (all but bad input), or one video
    ai-assets sample PATH                  write a synthetic talk video (espeak-ng speech, a drawn face, 3 scenes)
    ai-assets feedback CLIP_ID [--rating N] [--selected|--rejected] [--views N] [--retention F] [--note T]
    ai-assets feedback --list              clips to rate, and the feedback so far
    ai-assets chapters [VIDEO]             YouTube chapter lines per video
    ai-assets search QUERY [-k N]          semantic search over every video's transcript
    ai-assets review [--port N]            a loopback web page to watch, keep, reject and rate clips
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ai_assets.review import DEFAULT_PORT

# Every command runs its jobs in this one process, which loads each model once itself; the shared model worker
# (resources/model_worker.py) is for daemon runs. Set on import, so code calling a command module directly
# (benchmarks call ai_assets.cli.process.process_files) gets the same.
os.environ.setdefault("AI_ASSETS_MODEL_WORKER", "off")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ai-assets", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
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
                      help="edit the current body, e.g. classes.noisy.model=base (repeatable)")
    set_.add_argument("--apply", action="store_true", help="then rerun the stale videos in-process")
    refresh = sub.add_parser("refresh",
        help="rerun, in-process, exactly the stages of each video that a policy or code change made stale")
    refresh.add_argument("--dry-run", action="store_true",
        help="observe the policies and print the stale (stage, video) pairs; rerun nothing")
    sub.add_parser("failures", help="the videos whose latest run failed, and why")
    render = sub.add_parser("render", help="render a clip the clips table marks not rendered")
    render.add_argument("clip_id", help="as in the clips table, e.g. talk-f5cc409f92:tiktok:9c41d07e")
    retry = sub.add_parser("retry", help="run failed videos again, in-process (bad input only when named)")
    retry.add_argument("video", nargs="?", help="a partition key (default: every failed video not failed by its input)")
    feedback = sub.add_parser("feedback",
        help="rate a clip; the optimization sensor refits the segment weights from it")
    feedback.add_argument("clip_id", nargs="?", help="as in the clips table, e.g. talk-f5cc409f92:tiktok:3fa2c91b")
    feedback.add_argument("--list", action="store_true", help="list clips and the feedback given so far")
    feedback.add_argument("--rating", type=int, help="1 (bad) to 5 (great)")
    choice = feedback.add_mutually_exclusive_group()
    choice.add_argument("--selected", dest="selected", action="store_const", const=True,
        help="the clip was published or kept")
    choice.add_argument("--rejected", dest="selected", action="store_const", const=False,
        help="the clip was thrown away")
    feedback.add_argument("--views", type=int)
    feedback.add_argument("--retention", type=float, help="share of the clip the average viewer watched, 0–1")
    feedback.add_argument("--note")
    chapters = sub.add_parser("chapters", help="print YouTube chapter lines")
    chapters.add_argument("video", nargs="?", help="a partition key (default: every video)")
    search = sub.add_parser("search", help="semantic search over every transcript")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=10)
    review = sub.add_parser("review", help="serve a local page to watch, keep, reject and rate clips")
    review.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    review.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1); no other")
    review.add_argument("--dagster-url", help="the Dagster UI to link to (default $AI_ASSETS_DAGSTER_URL, else "
        "http://127.0.0.1:3000)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")  # model loading progress bars would drown the progress lines
    if args.command == "sample":
        from ai_assets.ingest.samples import make_talking_head

        print(make_talking_head(args.path))
        return 0
    if args.command == "policy":
        from ai_assets.cli.policy import policy_command

        return policy_command(args)
    if args.command == "refresh":
        from ai_assets.cli.policy import refresh

        return refresh(dry_run=args.dry_run)
    if args.command == "render":
        from ai_assets.cli.render import render_command

        return render_command(args.clip_id)
    if args.command == "failures":
        from ai_assets.cli.failures import failures_command

        return failures_command()
    if args.command == "retry":
        from ai_assets.cli.failures import retry_command

        return retry_command(args.video)
    if args.command == "feedback":
        from ai_assets.cli.feedback import feedback_command

        return feedback_command(args)
    if args.command == "chapters":
        from ai_assets.cli.explore import chapters_command

        return chapters_command(args.video)
    if args.command == "search":
        from ai_assets.cli.explore import search_command

        return search_command(args.query, args.k)
    if args.command == "review":
        from ai_assets.cli.review import review_command

        return review_command(args.port, args.host, args.dagster_url)
    from ai_assets.cli.process import process_files

    return process_files(args.files, args.top)
