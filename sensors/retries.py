"""missed_retry_sensor: a video run that Dagster marked for retry, and that was never retried, is run again.

Dagster's run-retry daemon reads each RUN_FAILURE event once, then reads the run's record. The event is stored
before the run's status is set to failed, so a daemon pass landing between the two sees a run still "started",
decides not to retry it, and moves past its event for good (Dagster 1.13, `handle_new_event`). The run keeps its
`dagster/will_retry=true` tag and nothing retries it: seen once in a test where a dead Ray node failed two runs
60 ms apart, one of which was retried and the other never.

A failed run whose tag still says it will be retried, with no retry of it and no newer run of its video, a minute
after it ended, is requested again here: the whole video, in the same run group, with the retries it had left.
"""

import time
from datetime import UTC, datetime

import dagster as dg

from ai_assets.jobs import process_video

# Dagster's daemon retries within seconds (it reads new failures every 5 s); a run still waiting after this long
# was passed over.
GRACE_S = 60.0
clock = time.time  # the sensor's "now"
LOOKBACK_S = 6 * 3600.0  # failures older than this are `ai-assets failures`' business, not this sensor's

# Dagster's own tags that describe the work, copied onto the retry; the rest describe the failed attempt (its
# failure, its sensor tick, its retry state) and are not.
WORK_TAGS = ("dagster/max_runtime", "dagster/priority")


def missed_retries(instance: dg.DagsterInstance, now: float, grace_s: float = GRACE_S) -> list[dg.DagsterRun]:
    """`process_video` runs launched by the daemon or the UI that failed more than `grace_s` ago marked
    `will_retry`, and that nobody retried since."""
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

    since = datetime.fromtimestamp(now - LOOKBACK_S, tz=UTC)
    records = instance.get_run_records(RunsFilter(job_name=process_video.name, statuses=[DagsterRunStatus.FAILURE],
                                                  updated_after=since), limit=200)
    missed = []
    for record in records:
        run = record.dagster_run
        if run.tags.get("dagster/will_retry") != "true" or run.tags.get("dagster/auto_retry_run_id"):
            continue
        # Only what Dagster itself could have retried: a run launched by the daemon or the UI. An `ai-assets`
        # run executes in its own process (no remote origin); one killed there is the user's to run again.
        if run.remote_job_origin is None:
            continue
        if record.end_time is None or now - record.end_time < grace_s:
            continue
        key = run.tags.get("dagster/partition")
        newest = instance.get_runs(RunsFilter(tags={"dagster/partition": key}), limit=1) if key else []
        if not newest or newest[0].run_id != run.run_id:  # retried, uploaded again or run by hand since
            continue
        missed.append(run)
    return missed


def retry_request(run: dg.DagsterRun, instance_max_retries: int) -> dg.RunRequest:
    """The whole video again, as the retry of `run`: same tags, in its run group, with the retries it has left
    (its own `dagster/max_retries`, else the instance's `run_retries.max_retries`)."""
    number = int(run.tags.get("dagster/retry_number", "0")) + 1
    allowed = int(run.tags.get("dagster/max_retries", str(instance_max_retries)))
    tags = {k: v for k, v in run.tags.items() if k in WORK_TAGS or not k.startswith(("dagster/", ".dagster/"))}
    tags.update({
        "dagster/parent_run_id": run.run_id,
        "dagster/root_run_id": run.tags.get("dagster/root_run_id", run.run_id),
        "dagster/retry_number": str(number),
        # Dagster counts a run's retries through its run group, which a requested run does not join by its own
        # record: the budget left is carried in the tag instead.
        "dagster/max_retries": str(max(0, allowed - number)),
        "ai_assets/retry_of": run.run_id,
    })
    return dg.RunRequest(run_key=f"retry-{run.run_id}", partition_key=run.tags["dagster/partition"], tags=tags)


@dg.sensor(job=process_video, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def missed_retry_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Runs again a failed video run that Dagster's run retries marked for retry and then passed over."""
    missed = missed_retries(context.instance, clock())
    if not missed:
        return dg.SkipReason("no failed run is waiting for a retry")
    for run in missed:
        context.log.warning(f"run {run.run_id} of {run.tags.get('dagster/partition')} was marked for retry and not "
                            "retried: requesting it again")
    return dg.SensorResult(run_requests=[retry_request(run, context.instance.run_retries_max_retries)
                                         for run in missed])
