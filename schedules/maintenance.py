"""Nightly stale sweep and daily metrics compaction."""

import dagster as dg

from ai_assets.jobs import compact_metrics, refresh_transcripts
from ai_assets.partitions import videos
from ai_assets.policy.staleness import recorded_policies, stale_videos
from resources import MetricsResource
from resources.policies import PolicyResource


@dg.schedule(job=refresh_transcripts, cron_schedule="30 2 * * *", default_status=dg.DefaultScheduleStatus.RUNNING)
def stale_sweep_schedule(context: dg.ScheduleEvaluationContext, policies: PolicyResource, metrics: MetricsResource):
    """Re-transcribes videos whose latest transcript used another asr policy than the current one.

    Eager automation already handles videos processed since it was switched on; this catches
    videos that predate it, or whose automation run was lost.
    """
    current = policies.current("asr").sha256
    recorded = recorded_policies(metrics.store(), "transcript")
    keys = stale_videos(context.instance.get_dynamic_partitions(videos.name), recorded, current)
    if not keys:
        return dg.SkipReason("every transcript was made with the current asr policy")
    return [dg.RunRequest(partition_key=k, run_key=f"stale-{k}-{current[:12]}") for k in keys]


@dg.schedule(job=compact_metrics, cron_schedule="15 3 * * *", default_status=dg.DefaultScheduleStatus.RUNNING)
def compact_metrics_schedule():
    """Moves any metrics fragments still in the spool into metrics.duckdb."""
    return dg.RunRequest()
