"""transcript_embeddings: sentence-window vectors, with the model and window size of the embed policy."""

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.outputs import table_output
from ai_assets.assets.policies import embed_policy
from ai_assets.code_version import code_version
from ai_assets.language.sentences import sentence_windows, sentences
from ai_assets.partitions import videos
from ai_assets.policy.views import view_version
from ai_assets.storage.tables import to_table
from resources import MetricsResource, TextEmbedder
from resources.policies import PolicyResource


@dg.asset(
    partitions_def=videos, group_name="language", code_version=code_version(__name__), kinds={"sentence_transformers"},
    deps=[embed_policy], automation_condition=ON_CHANGE, pool="embed",
)
def transcript_embeddings(
    context: dg.AssetExecutionContext, transcript: pa.Table, embedder: TextEmbedder, policies: PolicyResource,
    metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """One unit-norm embedding per window of `window_sentences` sentences, starting at every sentence."""
    policy = policies.current("embed")
    embed = policy.parsed()
    windows = sentence_windows(sentences(transcript.to_pylist()), embed.window_sentences)
    with metrics.track(context) as row:
        vectors = embedder.encode([w.text for w in windows], embed.model)
        row.model, row.params = embed.model, {"window_sentences": embed.window_sentences, "windows": len(windows)}
        row.policy_version, row.policy_sha256 = policy.version, policy.sha256
    table = to_table(
        "transcript_embeddings",
        [
            {"video": context.partition_key, "window": i, "sentence_index": w.sentence_index,
             "sentence_count": w.sentence_count, "start": w.start, "end": w.end, "text": w.text, "model": embed.model,
             "policy_version": policy.version, "policy_sha256": policy.sha256, "embedding": vec.tolist()}
            for i, (w, vec) in enumerate(zip(windows, vectors, strict=True))
        ],
    )
    return table_output(
        table,
        metadata={"model": embed.model, "windows": len(windows), "window_sentences": embed.window_sentences,
                  "policy_version": policy.version, "policy_sha256": policy.sha256},
        used=view_version("embed_policy", policy.body),
        row=row,
    )
