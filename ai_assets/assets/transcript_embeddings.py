"""transcript_embeddings: MiniLM vectors for sliding sentence windows."""


import dagster as dg
import pyarrow as pa

from ai_assets.partitions import videos
from ai_assets.tables import to_table
from ai_assets.text import sentence_windows, sentences
from resources import MetricsResource, TextEmbedder


@dg.asset(partitions_def=videos, group_name="text", code_version="1", kinds={"sentence_transformers"})
def transcript_embeddings(
    context: dg.AssetExecutionContext, transcript: pa.Table, embedder: TextEmbedder, metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """One unit-norm embedding per window of `window_sentences` sentences, starting at every sentence."""
    windows = sentence_windows(sentences(transcript.to_pylist()), embedder.window_sentences)
    with metrics.track(context) as row:
        vectors = embedder.encode([w.text for w in windows])
        row.model = embedder.model
        row.params = {"window_sentences": embedder.window_sentences, "windows": len(windows)}
    table = to_table(
        "transcript_embeddings",
        [
            {"video": context.partition_key, "window": i, "sentence_index": w.sentence_index, "sentence_count": w.sentence_count,
             "start": w.start, "end": w.end, "text": w.text, "model": embedder.model, "embedding": vec.tolist()}
            for i, (w, vec) in enumerate(zip(windows, vectors))
        ],
    )
    return dg.Output(table, metadata={"model": embedder.model, "windows": len(windows), "window_sentences": embedder.window_sentences})
