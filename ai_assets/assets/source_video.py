"""source_video: the upload, copied into content-addressed storage and probed."""

from pathlib import Path

import dagster as dg
import pyarrow as pa
from dagster_aws.s3 import S3Resource

from ai_assets.assets.automation import TRANSIENT
from ai_assets.assets.failures import media_failures
from ai_assets.assets.outputs import table_output
from ai_assets.code_version import code_version
from ai_assets.ingest.intake import lookup, open_upload, readable
from ai_assets.ingest.partition_keys import is_video_key, key_problem
from ai_assets.ingest.source_video import MediaError, probe, store_original
from ai_assets.partitions import videos
from ai_assets.storage.tables import to_table
from resources import MediaStore, MetricsResource, UploadSource


@dg.asset(partitions_def=videos, group_name="ingest", code_version=code_version(__name__), kinds={"video"},
          retry_policy=TRANSIENT)
def source_video(
    context: dg.AssetExecutionContext, uploads: UploadSource, media_store: MediaStore, s3: S3Resource,
    metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """The uploaded file, stored by content hash (the upload itself is never moved or deleted) and probed with PyAV."""
    key = context.partition_key
    with metrics.track(context) as row, media_failures(key):
        if not is_video_key(key):
            raise MediaError(key_problem(key))
        upload = lookup(Path(uploads.intake_dir), key)
        if upload is None:
            raise MediaError("no upload is registered under this key; add the file through the uploads folder or "
                "`ai-assets process`")
        objects = media_store.objects
        location = objects.location_in(media_store.folder(upload.sha256), f"original{Path(upload.name).suffix.lower()}")
        if objects.remote and objects.size(location) == upload.size:
            stored = objects.local(location)  # content addressing: the same bytes are already stored
        else:
            store_original(lambda: open_upload(upload, s3.get_client), Path(upload.name).suffix,
                objects.staging(location).parent, upload.sha256, upload.size)
            stored = objects.local(objects.publish(location))
        info = probe(stored)
        row.audio_seconds = info.duration
        row.model = "pyav"
    table = to_table(
        "source_video",
        [{"video": key, "name": readable(upload.name), "source": readable(upload.source), "sha256": upload.sha256,
            "media_path": location, **info.as_row()}],
    )
    return table_output(
        table,
        metadata={
            "name": readable(upload.name),
            "duration_s": info.duration,
            "resolution": (f"{info.width}x{info.height}" + (f" HDR ({info.hdr.upper()}, clips in SDR)" if info.hdr
                else "")) if info.has_video else "audio only",
            "codecs": f"{info.video_codec or '-'} / {info.audio_codec}",
            "media_path": dg.MetadataValue.path(location),
        },
        row=row,
    )
