import warnings

import dagster as dg

from ai_assets.partitions import videos
from resources.metrics import MetricsResource

# Observable sources belong in the runs that read them; `include_sources` is beta in Dagster 1.13.
warnings.filterwarnings("ignore", message="Parameter `include_sources`", category=dg.BetaWarning)
POLICIES = dg.AssetSelection.groups("policies", include_sources=True)

# Every stage for one video, in one process, so each model loads once per run. The policies are
# observed first in the same run, so the outputs are never older than the policy versions they used.
# Shadow evaluation is left to automation: it is evidence for the optimizer, not part of the result.
process_video = dg.define_asset_job(
    "process_video",
    selection=dg.AssetSelection.all(include_sources=True) - dg.AssetSelection.groups("evaluation"),
    partitions_def=videos,
    executor_def=dg.in_process_executor,
    description="All stages for one video partition.",
)

# Re-reads the policy documents so a new version becomes a new data version.
observe_policies = dg.define_asset_job(
    "observe_policies",
    selection=POLICIES,
    description="Observe asr_policy, vision_policy, embed_policy, clip_policy and segment_policy.",
)

# The part of the graph an asr policy change makes stale.
def refresh_job(name: str, roots: tuple[str, ...], description: str):
    """One video's `roots` and everything below them, in one process, with the policies observed first."""
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(*roots).downstream() | POLICIES,
        partitions_def=videos,
        executor_def=dg.in_process_executor,
        description=description,
    )


refresh_transcripts = refresh_job(
    "refresh_transcripts", ("audio_profile", "transcript"), "Re-run transcript and everything below it for one video."
)


@dg.op
def flush_metrics_spool(context: dg.OpExecutionContext, metrics: MetricsResource) -> None:
    moved = metrics.store().flush(wait_s=60.0)
    left = len(metrics.store().pending())
    context.log.info(f"moved {moved} spooled metrics rows into DuckDB; {left} still waiting for the lock")
    if left:
        raise dg.Failure(description=f"{left} metrics rows still spooled: metrics.duckdb stayed locked for 60 s")


@dg.job(description="Move spooled metrics rows into metrics.duckdb.")
def compact_metrics():
    flush_metrics_spool()

# The part of the graph an embed policy change makes stale.
refresh_embeddings = refresh_job(
    "refresh_embeddings", ("transcript_embeddings",),
    "Re-run transcript_embeddings and everything below it for one video."
)

# The part of the graph a segment policy change (weights, lengths, safety threshold) makes stale.
refresh_segments = refresh_job(
    "refresh_segments", ("segments",), "Re-rank segments and redo everything below them for one video."
)
