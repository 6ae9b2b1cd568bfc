import dagster as dg

from ai_assets.partitions import videos

# Every asset for one video, in one process, so each model loads once per run.
process_video = dg.define_asset_job(
    "process_video",
    selection=dg.AssetSelection.all(),
    partitions_def=videos,
    executor_def=dg.in_process_executor,
    description="All stages for one video partition.",
)
