"""Sentence embeddings, loaded once per process.

BERT-family sentence-transformers models with mean pooling (MiniLM among them) run in NumPy on the
CPU, which spares each run process the torch import; any other model, or another device, goes
through sentence-transformers.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

import dagster as dg
import numpy as np
from pydantic import Field

from ai_assets import bert_numpy
from ai_assets.settings import Layout
from resources.models import ModelRegistry

_MODELS: dict[tuple, object] = {}
_LOCK = threading.Lock()


class _SentenceTransformersEncoder:
    def __init__(self, path: Path, device: str, batch_size: int, allow_download: bool):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(path), device=device, local_files_only=not allow_download)
        self.batch_size = batch_size
        self.dimension = int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)


class TextEmbedder(dg.ConfigurableResource):
    """Which model to run comes from the embed policy; this resource owns loading and the device."""

    model_paths: dict[str, str] = Field(default_factory=dict)
    allow_download: bool = False
    cache_dir: str | None = None
    device: str = "cpu"
    batch_size: int = 64
    backend: Literal["auto", "sentence-transformers"] = Field(
        default="auto", description="auto: NumPy for BERT mean-pooling models on the CPU, sentence-transformers otherwise."
    )

    def _load(self, model: str):
        cache = Path(self.cache_dir) if self.cache_dir else Layout.from_env().model_cache
        path = ModelRegistry(cache, self.model_paths, self.allow_download).resolve(model, "embedding")
        key = (str(path), self.device, self.backend)
        with _LOCK:
            if key not in _MODELS:
                if self.backend == "auto" and self.device == "cpu" and bert_numpy.supports(path):
                    _MODELS[key] = bert_numpy.BertSentenceEncoder(path)
                else:
                    _MODELS[key] = _SentenceTransformersEncoder(path, self.device, self.batch_size, self.allow_download)
            return _MODELS[key]

    def encode(self, texts: list[str], model: str) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text."""
        encoder = self._load(model)
        if not texts:
            return np.zeros((0, encoder.dimension), dtype=np.float32)
        return np.asarray(encoder.encode(texts), dtype=np.float32)
