"""Semantic search over every video's transcript windows, from a notebook or `ai-assets search`."""

from __future__ import annotations

from pathlib import Path

from ai_assets.language.embeddings import encode, load_encoder
from ai_assets.storage.catalog import connect
from ai_assets.storage.models import ModelRegistry
from ai_assets.storage.settings import Layout


def search(query: str, k: int = 10, home: str | Path | None = None):
    """Semantic search over every video's transcript windows: a DataFrame of video, name, start, end, text and
    score (cosine similarity), best first, without overlapping hits from one video. The query is embedded
    with the model that embedded the windows."""
    import numpy as np
    import pandas as pd

    layout = Layout(Path(home).resolve()) if home else Layout.from_env()
    conn = connect(layout.home)
    try:
        windows = conn.execute(
            "SELECT e.video, s.name, e.start, e.end, e.text, e.model, e.embedding FROM transcript_embeddings e "
            "LEFT JOIN source_video s USING (video)"
        ).df()
    finally:
        conn.close()
    columns = ["video", "name", "start", "end", "text", "score"]
    if windows.empty or not query.strip():
        return pd.DataFrame(columns=columns)
    registry = ModelRegistry(layout.model_cache)
    scored = []
    for model, group in windows.groupby("model"):
        vectors = np.vstack(group["embedding"].to_numpy()).astype(np.float32)
        scored.append(group.assign(score=vectors @ encode(load_encoder(registry.resolve(model, "embedding")),
            [query])[0]))
    picked: list[dict] = []
    for row in pd.concat(scored).sort_values("score", ascending=False).to_dict("records"):
        if len(picked) == k:
            break
        # Windows start at every sentence, so neighbours repeat each other; keep the best of overlapping ones.
        if not any(p["video"] == row["video"] and min(p["end"], row["end"]) - max(p["start"], row["start"]) > 0
                for p in picked):
            picked.append(row)
    return pd.DataFrame(picked, columns=columns)
