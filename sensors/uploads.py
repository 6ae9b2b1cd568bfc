"""upload_sensor: new files in the uploads folder (and S3, when configured) become video partitions.

A tick lists, takes the small local uploads itself within a time budget (INLINE_TAKE_*), and hands the rest on,
so it stays within seconds whatever lands: the others go to an `intake_uploads` run, which hashes and registers
them. Registered keys become partitions with their `process_video` runs (in the same tick for uploads taken in it,
on a later tick for the intake run's). At most MAX_INTAKE_PER_TICK uploads and MAX_READY_PER_TICK partitions
per tick; the rest waits a tick.
"""

import time
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

from ai_assets.ingest import intake
from ai_assets.ingest.intake import (
    Upload,
    WatchState,
    clear_ready,
    is_taken,
    lookup,
    queue_batch,
    ready_keys,
    run_budget_s,
    scan_local,
    scan_s3,
    take_inline,
)
from ai_assets.jobs import INTAKE_BATCH_TAG, intake_uploads, process_video
from ai_assets.partitions import videos
from resources import UploadSource


# Dagster's sensor daemon looks every 5 s: with a 5 s minimum the elapsed time fell short by milliseconds on every
# other look, so the sensor ticked every 10 s, and an upload (seen on one tick, taken on the next) waited ~15 s.
@dg.sensor(jobs=[process_video, intake_uploads], minimum_interval_seconds=4,
           default_status=dg.DefaultSensorStatus.RUNNING)
def upload_sensor(context: dg.SensorEvaluationContext, uploads: UploadSource, s3: S3Resource) -> dg.SensorResult:
    """Hands settled uploads to an intake run; adds a partition and requests its run per newly registered key."""
    intake_dir = Path(uploads.intake_dir)
    now = time.time()
    state = WatchState.from_cursor(context.cursor)
    local = scan_local(Path(uploads.local_dir))
    ready = state.advance(local, now, uploads.settle_seconds, lambda item, fp: is_taken(intake_dir, item, fp))
    fingerprints = {item: fp for item, (fp, _) in local.items()}
    if uploads.s3_bucket:
        objects, state.s3_after = scan_s3(s3.get_client(), uploads.s3_bucket, uploads.s3_prefix, state.s3_after,
                                          intake.S3_KEYS_PER_TICK)
        for item, (fingerprint, _) in sorted(objects.items()):
            if not is_taken(intake_dir, item, fingerprint):
                ready.append(item)
                fingerprints[item] = fingerprint
    requests = []
    handed = state.to_request(ready, now, intake.MAX_INTAKE_PER_TICK)
    taken, handed = take_inline(intake_dir, [(item, fingerprints[item]) for item in handed],
                                intake.INLINE_TAKE_BUDGET_S, intake.INLINE_TAKE_MAX_BYTES)
    for item in taken:  # registered already: their partitions are added below, in this tick
        state.requested.pop(item, None)
    if taken:
        context.log.info(f"{len(taken)} small uploads taken in the tick")
    if handed:
        batch_id = queue_batch(intake_dir, [(item, fingerprints[item]) for item in handed])
        context.log.info(f"{len(handed)} new uploads handed to intake run {batch_id}")
        # Ahead of queued video runs: taking an upload takes seconds, and it is what starts everything else.
        # The time in the key: a batch offered again after REQUEST_TTL_S (its uploads could not be read) runs again.
        requests.append(dg.RunRequest(job_name=intake_uploads.name, run_key=f"intake-{batch_id}-{int(now)}",
                                      tags={INTAKE_BATCH_TAG: batch_id, "dagster/priority": "10"}))
    new_keys = []
    registered = ready_keys(intake_dir)
    # One query for what exists, not one per key.
    existing = set(context.instance.get_dynamic_partitions(videos.name)) if registered else set()
    for key in registered:
        if len(new_keys) == intake.MAX_READY_PER_TICK:
            break
        if key in existing:
            clear_ready(intake_dir, key)  # added by an earlier tick (or the same bytes under another name)
            continue
        upload = lookup(intake_dir, key)
        if upload is None:
            clear_ready(intake_dir, key)
            continue
        context.log.info(f"new video {upload.name} -> partition {key}")
        new_keys.append(key)
        requests.append(dg.RunRequest(job_name=process_video.name, partition_key=key, run_key=key,
                                      tags=run_tags(upload)))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[videos.build_add_request(new_keys)] if new_keys else [],
        cursor=state.to_cursor(),
    )


def run_tags(upload: Upload) -> dict[str, str]:
    """A runtime limit scaled by the video's length (read when the upload was taken; an S3 object's size stands
    in for it)."""
    return {"dagster/max_runtime": str(run_budget_s(upload.size, upload.duration))}
