"""topics: chapters by TextTiling over the MiniLM sentence embeddings, with keywords and a title each."""

import dagster as dg
import numpy as np
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.outputs import table_output
from ai_assets.code_version import code_version
from ai_assets.language.sentences import sentences
from ai_assets.language.topics import chapters, youtube_chapters
from ai_assets.partitions import videos
from ai_assets.storage.tables import to_table
from resources import MetricsResource


@dg.asset(partitions_def=videos, group_name="language", code_version=code_version(__name__), kinds={"numpy"},
    automation_condition=ON_CHANGE)
def topics(
    context: dg.AssetExecutionContext, transcript: pa.Table, transcript_embeddings: pa.Table, metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """Contiguous chapters from 0:00 with start, end, c-TF-IDF keywords and a short title; `youtube` holds the
    chapter line for a YouTube description (empty when YouTube's rules cannot be met: 3+ chapters of 10+ s)."""
    items = sentences(transcript.to_pylist())
    embedded = transcript_embeddings.column("embedding").to_pylist()
    # No speech (music, silence) means no sentences and no vectors: no chapters, not a failure.
    vectors = np.asarray(embedded, dtype=np.float32).reshape(len(items), -1) if items else np.zeros((0, 0), np.float32)
    # Each vector covers the window of sentences that starts at its sentence; TextTiling must know how many.
    window = max(transcript_embeddings.column("sentence_count").to_pylist(), default=1)
    with metrics.track(context) as row:
        found = chapters(items, vectors, window=window) if items else []
        row.model, row.params = "texttiling", {"sentences": len(items), "window": window, "chapters": len(found)}
    lines = youtube_chapters(found).splitlines()
    rows = [
        {"video": context.partition_key, "chapter": c.index, "start": c.start, "end": c.end,
         "first_sentence": c.first_sentence, "last_sentence": c.last_sentence, "title": c.title, "keywords": c.keywords,
         "youtube": lines[i] if len(lines) == len(found) else None, "text": c.text}
        for i, c in enumerate(found)
    ]
    return table_output(
        to_table("topics", rows),
        metadata={"chapters": len(rows), "youtube": dg.MetadataValue.md("\n".join(f"    {line}" for line in lines)
            or "not enough chapters"), "titles": dg.MetadataValue.json([c.title for c in found])},
        row=row,
    )
