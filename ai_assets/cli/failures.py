"""`ai-assets failures` and `ai-assets retry`: the videos whose latest run failed, and running them again."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class FailedVideo:
    key: str
    run_id: str
    when: float
    step: str | None
    reason: str
    bad_input: bool  # the video itself is the problem (a dg.Failure that forbids retries): running again won't help


def failed_videos(instance) -> list[FailedVideo]:
    """Each video whose most recent run (CLI, sensor, backfill, retry or automation) failed, newest first."""
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

    from ai_assets.partitions import videos

    known = set(instance.get_dynamic_partitions(videos.name))
    latest = {}
    # Newest first: the first finished run seen for a video is its latest.
    for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE,
            DagsterRunStatus.CANCELED])):
        key = run.tags.get("dagster/partition")
        if key in known and key not in latest:
            latest[key] = run
    failed = []
    for key, run in latest.items():
        if run.status == DagsterRunStatus.SUCCESS:
            continue
        step, reason, bad_input = _why(instance, run.run_id, key)
        record = instance.get_run_record_by_id(run.run_id)
        when = (record.end_time or record.create_timestamp.timestamp()) if record else 0.0
        failed.append(FailedVideo(key, run.run_id, when, step, reason, bad_input))
    return sorted(failed, key=lambda f: -f.when)


def _why(instance, run_id: str, key: str) -> tuple[str | None, str, bool]:
    from dagster import DagsterEventType

    from ai_assets.cli.process import error_text

    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        data = entry.dagster_event.step_failure_data
        user = data.user_failure_data
        if user is not None and user.description:
            return entry.dagster_event.step_key, user.description.removeprefix(f"{key}: "), True
        return entry.dagster_event.step_key, error_text(data.error), False
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE):
        return None, (entry.message or "run failed").splitlines()[0], False
    return None, "cancelled", False


def failures_command() -> int:
    from ai_assets.instance import get_instance
    from ai_assets.storage.settings import Layout

    failed = failed_videos(get_instance(Layout.from_env()))
    if not failed:
        print("no failed videos")
        return 0
    for f in failed:
        kind = "bad input" if f.bad_input else "can retry"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(f.when))
        print(f"{f.key}  {when}  {kind:9}  {f.step or 'run'}: {f.reason}")
    print(f"\n{len(failed)} failed; `ai-assets retry` runs the retryable ones again (`ai-assets retry VIDEO` any one)")
    return 0


def retry_command(video: str | None) -> int:
    """Run the given video again, or every failed one not failed by its own input, in this process."""
    from ai_assets.cli.process import run_partition
    from ai_assets.definitions import build_defs
    from ai_assets.ingest.intake import lookup
    from ai_assets.ingest.partition_keys import is_video_key, key_problem
    from ai_assets.instance import get_instance
    from ai_assets.storage.settings import Layout

    layout = Layout.from_env()
    instance = get_instance(layout)
    if video is not None:
        if not is_video_key(video):
            print(f"error: {key_problem(video)}", file=sys.stderr)
            return 2
        keys = [video]
    else:
        keys = [f.key for f in failed_videos(instance) if not f.bad_input]
        if not keys:
            print("nothing to retry")
            return 0
    job = build_defs(layout).resolve_job_def("process_video")
    errors = []
    for key in keys:
        upload = lookup(layout.intake, key)
        if upload is None:
            errors.append(f"{key}: no upload is registered under this key")
            continue
        error = run_partition(job, instance, key, upload.name)
        if error:
            errors.append(f"{key}: {error}")
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    print(f"{len(keys) - len(errors)} of {len(keys)} succeeded")
    return 1 if errors else 0
