"""upload_sensor: new files in the uploads folder (and S3, when configured) become video partitions."""

import time
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

from ai_assets.ingest.intake import Upload, WatchState, ingest_local, ingest_s3, run_budget_s, scan_local, scan_s3
from ai_assets.ingest.source_video import declared_duration
from ai_assets.jobs import process_video
from ai_assets.partitions import videos
from resources import UploadSource


@dg.sensor(job=process_video, minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING)
def upload_sensor(context: dg.SensorEvaluationContext, uploads: UploadSource, s3: S3Resource) -> dg.SensorResult:
    """Registers settled uploads, adds a partition per new content hash and requests its run."""
    state = WatchState.from_cursor(context.cursor)
    observed = scan_local(Path(uploads.local_dir))
    if uploads.s3_bucket:
        observed |= scan_s3(s3.get_client(), uploads.s3_bucket, uploads.s3_prefix)
    intake_dir = Path(uploads.intake_dir)
    registered: dict[str, Upload] = {}
    for item in state.advance(observed, now=time.time(), settle_seconds=uploads.settle_seconds):
        try:
            if item.startswith("s3://"):
                bucket, _, key = item.removeprefix("s3://").partition("/")
                upload = ingest_s3(intake_dir, s3.get_client(), bucket, key)
            else:
                upload = ingest_local(intake_dir, Path(item))
        except Exception as exc:  # one unreadable upload must not stop the others
            context.log.warning(f"skipping {item} this tick: {type(exc).__name__}: {exc}")
            continue
        state.mark_done(item, observed[item][0])
        registered.setdefault(upload.key, upload)
    new_keys = [k for k in registered if not context.instance.has_dynamic_partition(videos.name, k)]
    for key in new_keys:
        context.log.info(f"new video {registered[key].name} -> partition {key}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=k, run_key=k, tags=run_tags(registered[k])) for k in new_keys],
        dynamic_partitions_requests=[videos.build_add_request(new_keys)] if new_keys else [],
        cursor=state.to_cursor(),
    )


def run_tags(upload: Upload) -> dict[str, str]:
    """A runtime limit scaled by the video's length: a local file's header says it; an S3 object's size stands in."""
    duration = None if upload.source.startswith("s3://") else declared_duration(Path(upload.source))
    return {"dagster/max_runtime": str(run_budget_s(upload.size, duration))}
