"""safety: flagged spans (profanity, hate, sexual, violence, self-harm) with category and score."""

from collections import Counter

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE, TRANSIENT
from ai_assets.assets.outputs import table_output
from ai_assets.code_version import code_version
from ai_assets.language.safety import lexicon_flags, moderation_flags
from ai_assets.language.sentences import sentences
from ai_assets.partitions import videos
from ai_assets.storage.tables import to_table
from resources import MetricsResource
from resources.llm import LlmResource


@dg.asset(partitions_def=videos, group_name="understanding", code_version=code_version(__name__), kinds={"openai"},
    automation_condition=ON_CHANGE, pool="llm", retry_policy=TRANSIENT)
def safety(context: dg.AssetExecutionContext, transcript: pa.Table, llm: LlmResource,
        metrics: MetricsResource) -> dg.Output[pa.Table]:
    """The local lexicon always runs on the words; with an endpoint configured, the moderation model also scores
    every sentence. A failing endpoint degrades the run to the lexicon, never fails it."""
    transcript_rows = transcript.to_pylist()
    words = [w for seg in sorted(transcript_rows, key=lambda r: r["start"]) for w in seg["words"] or []]
    degraded = None
    with metrics.track(context) as row:
        flags = lexicon_flags(words)
        row.model = "lexicon"
        if llm.configured and llm.moderation_model and words:
            spans = [(s.start, s.end, s.text) for s in sentences(transcript_rows)]
            try:
                flags += moderation_flags(llm.client(), llm.moderation_model, spans)
                row.model = f"lexicon+{llm.moderation_model}"
            except Exception as exc:  # the endpoint is optional: any failure leaves the lexicon's flags
                degraded = f"moderation endpoint failed ({type(exc).__name__}); lexicon only"
        elif not llm.configured:
            degraded = "no moderation endpoint configured; lexicon only"
        row.params = {"flags": len(flags), "degraded": degraded}
    rows = [{"video": context.partition_key, "start": f.start, "end": f.end, "category": f.category,
             "score": round(f.score, 4),
             "text": f.text, "source": f.source} for f in sorted(flags, key=lambda f: (f.start, f.category))]
    return table_output(to_table("safety", rows), metadata={"flags": len(rows),
        "by_category": dg.MetadataValue.json(dict(Counter(f.category for f in flags))),
                                                         "degraded": degraded or False})
