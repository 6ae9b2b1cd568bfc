"""safety: flagged spans (profanity, hate, sexual, violence, self-harm) with category and score."""

import time
from collections import Counter

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE, TRANSIENT
from ai_assets.assets.outputs import table_output
from ai_assets.code_version import code_version
from ai_assets.language.safety import UNMODERATED, lexicon_flags, moderate
from ai_assets.language.sentences import sentences
from ai_assets.partitions import videos
from ai_assets.storage.tables import to_table
from resources import MetricsResource
from resources.llm import LlmResource


@dg.asset(partitions_def=videos, group_name="language", code_version=code_version(__name__),
    automation_condition=ON_CHANGE, pool="llm", retry_policy=TRANSIENT)
def safety(context: dg.AssetExecutionContext, transcript: pa.Table, llm: LlmResource,
        metrics: MetricsResource) -> dg.Output[pa.Table]:
    """The local lexicon always runs on the words; with an endpoint configured, the moderation model also scores
    every sentence, retried within the endpoint's budget. Sentences it still could not check get an `unmoderated`
    row, so the clips there are marked and held or published by the clip policy's `safety_mode`: never failed,
    never passed as checked."""
    transcript_rows = transcript.to_pylist()
    words = [w for seg in sorted(transcript_rows, key=lambda r: r["start"]) for w in seg["words"] or []]
    degraded, moderation, calls = None, "off", 0
    with metrics.track(context) as row:
        flags = lexicon_flags(words)
        row.model = "lexicon"
        if llm.configured and llm.moderation_model and words:
            spans = [(s.start, s.end, s.text) for s in sentences(transcript_rows)]
            result = moderate(llm.client(), llm.moderation_model, spans, time.monotonic() + llm.retry_budget_s,
                llm.backoff_s)
            flags += result.flags
            calls, moderation = result.calls, "unavailable" if result.error else "checked"
            row.model = f"lexicon+{llm.moderation_model}"
            if result.error:  # the reason names only the error type and status: no request detail
                degraded = (f"moderation unavailable for {result.unmoderated} of {len(spans)} sentences "
                            f"({result.error}); lexicon only there")
        elif not llm.configured:
            degraded = "no moderation endpoint configured; lexicon only"
        found = [f for f in flags if f.category != UNMODERATED]  # the other rows say the endpoint did not answer
        row.params = {"flags": len(found), "degraded": degraded, "moderation": moderation, "calls": calls}
    rows = [{"video": context.partition_key, "start": f.start, "end": f.end, "category": f.category,
             "score": round(f.score, 4),
             "text": f.text, "source": f.source} for f in sorted(flags, key=lambda f: (f.start, f.category))]
    return table_output(to_table("safety", rows), metadata={"flags": len(found),
        "unmoderated_rows": len(flags) - len(found),
        "by_category": dg.MetadataValue.json(dict(Counter(f.category for f in found))),
        "degraded": degraded or False, "moderation": moderation, "moderation_calls": calls}, row=row)
