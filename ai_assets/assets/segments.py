"""segments: the ranked product: per platform, the best sentence-aligned spans, each with its reasons."""

import dagster as dg
import numpy as np
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.outputs import excerpt, markdown_table, table_output
from ai_assets.assets.policies import segment_policy
from ai_assets.code_version import code_version
from ai_assets.language.sentences import sentences
from ai_assets.partitions import videos
from ai_assets.policy.views import view_version
from ai_assets.ranking.segments import Evidence, rank_segments
from ai_assets.storage.tables import SIGNALS, clock, to_table
from resources import MetricsResource
from resources.policies import PolicyResource


def upstream_policies(transcript: pa.Table, embeddings: pa.Table) -> dict:
    """The asr and embed policy versions behind the inputs, for lineage."""
    found = {}
    for prefix, table in (("asr", transcript), ("embed", embeddings)):
        if table.num_rows:
            found[f"{prefix}_policy_version"] = table.column("policy_version")[0].as_py()
            found[f"{prefix}_policy_sha256"] = table.column("policy_sha256")[0].as_py()
    return found


@dg.asset(
    partitions_def=videos, group_name="ranking", code_version=code_version(__name__), kinds={"pandas"},
    deps=[segment_policy], automation_condition=ON_CHANGE,
)
def segments(
    context: dg.AssetExecutionContext, transcript: pa.Table, transcript_embeddings: pa.Table, visual_analysis: pa.Table,
    diarization: pa.Table, emotion: pa.Table, safety: pa.Table, topics: pa.Table, policies: PolicyResource,
    metrics: MetricsResource,
) -> dg.Output[pa.Table]:
    """Top-K per platform of the candidates whose length fits it, scored by hook, emotion, speech rate, speaker
    dynamics, visual interest, completeness and speech density with the segment policy's weights, minus a safety
    penalty; spans a safety flag blocks stay unranked with their reason."""
    policy = policies.current("segment")
    rule = policy.parsed()
    transcript_rows = transcript.to_pylist()
    with metrics.track(context) as row:
        items = sentences(transcript_rows)
        words = [w for seg in sorted(transcript_rows, key=lambda r: r["start"]) for w in seg["words"] or []]
        vectors = np.asarray(transcript_embeddings.column("embedding").to_pylist(), dtype=np.float32)
        evidence = Evidence(
            window_vectors=vectors.reshape(len(items), -1) if len(items) else vectors.reshape(0, 1),
            frames=visual_analysis.to_pylist(), emotions=emotion.to_pylist(), turns=diarization.to_pylist(),
            chapter_starts=sorted(t["start"] for t in topics.to_pylist()), flags=safety.to_pylist(),
        )
        ranked = rank_segments(items, words, evidence, rule)
        lineage = upstream_policies(transcript, transcript_embeddings)
        row.model, row.params = "rules", {"weights": rule.weights, "candidates": len(ranked), **lineage}
        row.policy_version, row.policy_sha256 = policy.version, policy.sha256
        row.confidence = float(ranked["score"].max()) if len(ranked) else None
    ranked.insert(0, "video", context.partition_key)
    ranked["policy_version"], ranked["policy_sha256"] = policy.version, policy.sha256
    tops = {}
    for platform in rule.platforms:  # each platform's list, as a reviewer reads it on the asset's page
        top = ranked[(ranked["platform"] == platform) & ranked["rank"].notna()].sort_values("rank").head(5)
        tops[f"top_{platform}"] = markdown_table(
            [{"rank": int(r["rank"]), "span": f"{clock(r['start'])}–{clock(r['end'])}", "score": float(r["score"]),
              "reason": r["reason"], "text": excerpt(r["text"], 90)} for r in top.to_dict("records")],
            {"rank": "#", "span": "span", "score": "score", "reason": "reason", "text": "text"},
        ) if len(top) else "no span of speech fits the platform's length"
    blocked = ranked[ranked["blocked_reason"].notna()]
    return table_output(
        to_table("segments", ranked.to_dict("records")),
        metadata={
            "ranked": int(ranked["rank"].notna().sum()), "blocked": len(blocked),
            # Candidates the moderation endpoint could not check: ranked on the lexicon alone.
            "moderation_unavailable": int(ranked["moderation"].notna().sum()),
            "platforms": dg.MetadataValue.json(list(rule.platforms)), "weights": dg.MetadataValue.json(rule.weights),
            **tops,
            "blocked_reasons": dg.MetadataValue.json(sorted(set(blocked["blocked_reason"]))[:10]),
            "policy_version": policy.version, "policy_sha256": policy.sha256, **lineage,
            "signals": dg.MetadataValue.json(list(SIGNALS)),
        },
        used=view_version("segment_policy", policy.body),
        row=row,
    )
