"""transcript_speakers: the diarization's speakers on every transcript word and segment."""

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.outputs import table_output
from ai_assets.code_version import code_version
from ai_assets.partitions import videos
from ai_assets.speakers.diarization import Turn
from ai_assets.speakers.transcript_speakers import label_segments
from ai_assets.storage.tables import to_table
from resources import MetricsResource


@dg.asset(partitions_def=videos, group_name="speakers", code_version=code_version(__name__), kinds={"pandas"},
          automation_condition=ON_CHANGE)
def transcript_speakers(
    context: dg.AssetExecutionContext, transcript: pa.Table, diarization: pa.Table, metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """Per transcript segment: each word's speaker (most overlap, else the nearest turn within 0.5 s), and the
    segment's speaker, the one holding most of its word time."""
    turns = [Turn(t["start"], t["end"], t["speaker"]) for t in diarization.to_pylist()]
    with metrics.track(context) as row:
        rows = label_segments(transcript.to_pylist(), turns)
        unassigned = sum(s is None for r in rows for s in r["word_speakers"])
        row.model, row.params = "overlap", {"segments": len(rows), "unassigned_words": unassigned}
    return table_output(
        to_table("transcript_speakers", [{"video": context.partition_key, **r} for r in rows]),
        metadata={"segments": len(rows), "speakers": len({r["speaker"] for r in rows if r["speaker"]}),
            "unassigned_words": unassigned},
        row=row,
    )
