"""Sentence embeddings with sentence-transformers, loaded once per process."""

from __future__ import annotations

import threading

import dagster as dg
import numpy as np
from pydantic import Field

from ai_assets.settings import Layout
from resources.models import ModelRegistry

_MODELS: dict[tuple, object] = {}
_LOCK = threading.Lock()


class TextEmbedder(dg.ConfigurableResource):
    model: str = Field(default="all-MiniLM-L6-v2", description="Embedding model name or local path.")
    model_paths: dict[str, str] = Field(default_factory=dict)
    allow_download: bool = False
    device: str = "cpu"
    batch_size: int = 64
    window_sentences: int = Field(default=2, description="Sentences per embedded window.")

    def _load(self):
        from sentence_transformers import SentenceTransformer

        registry = ModelRegistry(Layout.from_env().model_cache, self.model_paths, self.allow_download)
        path = registry.resolve(self.model, "embedding")
        key = (str(path), self.device)
        with _LOCK:
            if key not in _MODELS:
                _MODELS[key] = SentenceTransformer(str(path), device=self.device, local_files_only=not self.allow_download)
            return _MODELS[key]

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension()), dtype=np.float32)
        vectors = self._load().encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return vectors.astype(np.float32)

    def dimension(self) -> int:
        return int(self._load().get_embedding_dimension())
