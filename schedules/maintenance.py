"""Nightly stale sweep and daily metrics compaction."""

from datetime import UTC, datetime

import dagster as dg

from ai_assets.jobs import compact_metrics, process_video
from ai_assets.partitions import videos


@dg.schedule(job=process_video, cron_schedule="30 2 * * *", default_status=dg.DefaultScheduleStatus.RUNNING)
def stale_sweep_schedule(context: dg.ScheduleEvaluationContext):
    """Reruns the stages each video has stale (a policy view, an input or the code changed since they ran).

    The automation sensor handles changes as they happen; this catches what it missed: changes made while it
    was off, or runs that were lost.
    """
    from ai_assets.stale import downstream, stale_pairs

    graph = context.repository_def.asset_graph
    runnable = {k.to_user_string() for k in process_video.selection.resolve(graph)}
    stale = stale_pairs(graph, context.instance, context.instance.get_dynamic_partitions(videos.name))
    # With the automation off, nothing would carry a rerun's new output further down; one run per video does it
    # (the stages below rerun whether or not their inputs change: a nightly catch-up favours completeness).
    stale = {p: sorted(set(stages) | set(downstream(graph, stages))) for p, stages in stale.items()}
    day = f"{datetime.now(UTC):%Y%m%d}"  # one sweep per video a day; tomorrow's may rerun what failed today
    requests = [dg.RunRequest(partition_key=partition, run_key=f"stale-{partition}-{day}",
                              asset_selection=[dg.AssetKey(s) for s in stages if s in runnable])
                for partition, stages in stale.items() if runnable & set(stages)]
    return requests or dg.SkipReason("nothing is stale")


@dg.schedule(job=compact_metrics, cron_schedule="15 3 * * *", default_status=dg.DefaultScheduleStatus.RUNNING)
def compact_metrics_schedule():
    """Moves any metrics fragments still in the spool into metrics.duckdb."""
    return dg.RunRequest()
