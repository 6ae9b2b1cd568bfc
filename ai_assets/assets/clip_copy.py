"""clip_copy: a title, description and hashtags per platform for each top segment."""

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE, TRANSIENT
from ai_assets.assets.outputs import table_output
from ai_assets.assets.policies import segment_copy
from ai_assets.code_version import code_version
from ai_assets.language.clip_copy import PROMPT_VERSION, text_key, write_copy
from ai_assets.partitions import videos
from ai_assets.policy.views import view_version
from ai_assets.storage.tables import to_table
from resources import MetricsResource
from resources.llm import LlmResource
from resources.policies import PolicyResource


@dg.asset(
    partitions_def=videos, group_name="language", code_version=code_version(__name__),
    deps=[segment_copy], automation_condition=ON_CHANGE, pool="llm", retry_policy=TRANSIENT,
)
def clip_copy(
    context: dg.AssetExecutionContext, segments: pa.Table, llm: LlmResource, policies: PolicyResource,
    metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """Strict-JSON copy from the configured OpenAI-compatible model for the top `copy_top_k` segments of each
    platform, cached by (text, model, prompt version); without an endpoint, or when it fails, an extractive
    version (key sentence and keywords) stands in and the run is marked degraded, never failed."""
    policy = policies.current("segment")
    top_k = policy.parsed().copy_top_k
    chosen = [r for r in segments.to_pylist() if r["rank"] is not None and r["rank"] <= top_k]
    platforms = sorted({r["platform"] for r in chosen})
    texts = list(dict.fromkeys(r["text"] for r in chosen))
    settings = llm.copy_settings()
    with metrics.track(context) as row:
        result = write_copy(llm.client() if llm.configured else None, texts, platforms, settings, llm.copy_cache())
        row.model = llm.model if llm.configured else "extractive"
        row.params = {"segments": len(texts), "calls": result.calls, "cached": result.cached,
                      "input_tokens": result.input_tokens,
                      "output_tokens": result.output_tokens, "cost_usd": result.cost_usd(settings),
                      "degraded": result.degraded, "prompt_version": PROMPT_VERSION}
    rows = []
    for seg in chosen:
        digest = text_key(seg["text"])
        copy = result.by_hash[digest][seg["platform"]]
        rows.append({
            "video": context.partition_key, "platform": seg["platform"], "rank": seg["rank"], "start": seg["start"],
            "end": seg["end"], "title": copy["title"], "description": copy["description"], "hashtags": copy["hashtags"],
            "source": result.source[digest],
            "model": llm.model if result.source[digest] != "extractive" else "extractive",
            "prompt_version": PROMPT_VERSION, "text_sha256": digest,
        })
    return table_output(
        to_table("clip_copy", rows),
        metadata={"degraded": result.degraded or False, "calls": result.calls,
                  "cached": result.cached, "cost_usd": result.cost_usd(settings),
                  "titles": dg.MetadataValue.json(sorted({r["title"] for r in rows})[:10])},
        used=view_version("segment_copy", policy.body),
        row=row,
    )
