"""transcript_quality: WER against a reference transcript uploaded beside the video, when there is one."""

from pathlib import Path

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.outputs import table_output
from ai_assets.code_version import code_version
from ai_assets.ingest.intake import read_reference
from ai_assets.partitions import videos
from ai_assets.speech.wer import word_errors
from ai_assets.storage.tables import to_table
from resources import MetricsResource, UploadSource


@dg.asset(partitions_def=videos, group_name="evaluation", code_version=code_version(__name__), kinds={"jiwer"},
          automation_condition=ON_CHANGE)
def transcript_quality(
    context: dg.AssetExecutionContext, transcript: pa.Table, uploads: UploadSource, metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """Word error rate of the transcript against `NAME.txt` / `NAME.srt` from the upload; empty without one."""
    reference = read_reference(Path(uploads.intake_dir), context.partition_key)
    rows = transcript.to_pylist()
    with metrics.track(context) as row:
        if reference is None:
            row.params = {"reference": False}
            result = []
        else:
            errors = word_errors(reference, " ".join(r["text"] for r in rows))
            row.model = "jiwer"
            row.params = {"reference": True, **errors}
            row.policy_version = rows[0]["policy_version"] if rows else None
            row.policy_sha256 = rows[0]["policy_sha256"] if rows else None
            result = [{"video": context.partition_key, **errors, "model": rows[0]["model"] if rows else None,
                       "policy_version": row.policy_version, "policy_sha256": row.policy_sha256}]
    metadata = {"reference": reference is not None}
    if result:
        metadata |= {"wer": result[0]["wer"], "reference_words": result[0]["reference_words"]}
    return table_output(to_table("transcript_quality", result), metadata=metadata, row=row)
