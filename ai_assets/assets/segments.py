"""segments: ranked 15–60 s clip candidates on sentence boundaries."""

import dagster as dg
import numpy as np
import pyarrow as pa

from ai_assets.assets.automation import EAGER
from ai_assets.partitions import videos
from ai_assets.scoring import WEIGHTS, SegmentRules, rank_segments
from ai_assets.tables import to_table
from ai_assets.text import sentences
from resources import MetricsResource


def upstream_policies(transcript: pa.Table, embeddings: pa.Table) -> dict:
    """The asr and embed policy versions behind the inputs, for lineage."""
    found = {}
    for prefix, table in (("asr", transcript), ("embed", embeddings)):
        if table.num_rows:
            found[f"{prefix}_policy_version"] = table.column("policy_version")[0].as_py()
            found[f"{prefix}_policy_sha256"] = table.column("policy_sha256")[0].as_py()
    return found


@dg.asset(
    partitions_def=videos, group_name="text", code_version="2", kinds={"pandas"},
    automation_condition=EAGER,
)
def segments(
    context: dg.AssetExecutionContext, transcript: pa.Table, transcript_embeddings: pa.Table, visual_analysis: pa.Table,
    metrics: MetricsResource,
) -> dg.Output[pa.Table]:
    """Candidates scored by speech density, opening hook, semantic coherence and visual interest, best first."""
    rules = SegmentRules()
    with metrics.track(context) as row:
        items = sentences(transcript.to_pylist())
        vectors = np.asarray(transcript_embeddings.column("embedding").to_pylist(), dtype=np.float32)
        ranked = rank_segments(items, vectors.reshape(len(items), -1) if len(items) else vectors, rules, visual_analysis.to_pylist())
        lineage = upstream_policies(transcript, transcript_embeddings)
        row.model, row.params = "rules", {"weights": WEIGHTS, "min_s": rules.min_seconds, "max_s": rules.max_seconds, **lineage}
        row.confidence = float(ranked["score"].max()) if len(ranked) else None
    ranked.insert(0, "video", context.partition_key)
    table = to_table("segments", ranked.to_dict("records"))
    top = ranked.head(5)
    return dg.Output(
        table,
        metadata={
            "candidates": len(ranked),
            "weights": dg.MetadataValue.json(WEIGHTS),
            "top": dg.MetadataValue.md(top[["rank", "start", "end", "score", *WEIGHTS]].round(3).to_markdown(index=False))
            if len(top) else "no span of 15–60 s of speech",
            **lineage,
        },
    )
