import warnings
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

from ai_assets.assets.automation import WHOLE_VIDEO_TAG
from ai_assets.ingest.intake import read_batch, take
from ai_assets.partitions import videos
from resources import UploadSource
from resources.metrics import MetricsResource

# Observable sources belong in the runs that read them; `include_sources` is beta in Dagster 1.13.
warnings.filterwarnings("ignore", message="Parameter `include_sources`", category=dg.BetaWarning)
POLICIES = dg.AssetSelection.groups("policies", include_sources=True)

# Every stage for one video, in one process, so each model loads once per run. The policies are
# observed first in the same run, so the outputs are never older than the policy versions they used.
# The shadow evaluation is in it too: for the 80% of videos outside the sample it is a no-op of a few
# milliseconds, where a run of its own, as automation launched it before, cost each video a second process
# start, code load and queue place (12 one-minute talks on the daemon: 11 such runs).
process_video = dg.define_asset_job(
    "process_video",
    selection=dg.AssetSelection.all(include_sources=True),
    partitions_def=videos,
    executor_def=dg.in_process_executor,
    description="All stages for one video partition.",
    run_tags={WHOLE_VIDEO_TAG: "true"},  # automation leaves alone what such a run changed (see ON_CHANGE)
)

# Re-reads the policy documents so a new version becomes a new data version.
observe_policies = dg.define_asset_job(
    "observe_policies",
    selection=POLICIES,
    description="Observe every policy view (asr_policy for every classed video).",
)

@dg.op
def flush_metrics_spool(context: dg.OpExecutionContext, metrics: MetricsResource) -> None:
    store = metrics.store()
    moved = store.flush(wait_s=60.0)
    left = len(store.pending())
    context.log.info(f"moved {moved} spooled metrics rows into DuckDB; {left} still waiting for the lock")
    if store.last_quarantined:
        context.log.warning(f"{store.last_quarantined} unreadable spool files moved to {store.bad_dir}")
    if left:
        raise dg.Failure(description=f"{left} metrics rows still spooled: metrics.duckdb stayed locked for 60 s")


@dg.job(description="Move spooled metrics rows into metrics.duckdb.")
def compact_metrics():
    flush_metrics_spool()


# The run tag naming the batch of uploads an intake run takes (written by the upload sensor).
INTAKE_BATCH_TAG = "ai_assets/intake_batch"


@dg.op
def take_uploads(context: dg.OpExecutionContext, uploads: UploadSource, s3: S3Resource) -> None:
    """Hash and register each upload of the batch; the sensor's next tick adds their partitions and runs."""
    intake_dir = Path(uploads.intake_dir)
    batch = read_batch(intake_dir, context.run.tags[INTAKE_BATCH_TAG])
    taken = 0
    clients = []

    def client():  # one S3 client for the batch, made only if an S3 upload is in it
        if not clients:
            clients.append(s3.get_client())
        return clients[0]

    for item, fingerprint in batch:
        try:
            upload = take(intake_dir, item, fingerprint, client)
        except Exception as exc:  # one unreadable upload must not stop the others; the sensor offers it again
            context.log.warning(f"could not take {item}: {exc}")
            continue
        taken += 1
        context.log.info(f"{upload.name} -> {upload.key}")
    if batch and not taken:
        raise dg.Failure(description=f"none of the {len(batch)} uploads could be read")


@dg.job(description="Hash and register new uploads, out of the sensor's tick (which only lists and hands on).",
        executor_def=dg.in_process_executor)
def intake_uploads():
    take_uploads()
