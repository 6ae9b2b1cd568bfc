"""Sentence embeddings with sentence-transformers, loaded once per process."""

from __future__ import annotations

import threading
from pathlib import Path

import dagster as dg
import numpy as np
from pydantic import Field

from ai_assets.settings import Layout
from resources.models import ModelRegistry

_MODELS: dict[tuple, object] = {}
_LOCK = threading.Lock()


class TextEmbedder(dg.ConfigurableResource):
    """Which model to run comes from the embed policy; this resource owns loading and the device."""

    model_paths: dict[str, str] = Field(default_factory=dict)
    allow_download: bool = False
    cache_dir: str | None = None
    device: str = "cpu"
    batch_size: int = 64

    def _load(self, model: str):
        from sentence_transformers import SentenceTransformer

        cache = Path(self.cache_dir) if self.cache_dir else Layout.from_env().model_cache
        path = ModelRegistry(cache, self.model_paths, self.allow_download).resolve(model, "embedding")
        key = (str(path), self.device)
        with _LOCK:
            if key not in _MODELS:
                _MODELS[key] = SentenceTransformer(str(path), device=self.device, local_files_only=not self.allow_download)
            return _MODELS[key]

    def encode(self, texts: list[str], model: str) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text."""
        encoder = self._load(model)
        if not texts:
            return np.zeros((0, encoder.get_embedding_dimension()), dtype=np.float32)
        vectors = encoder.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return vectors.astype(np.float32)
