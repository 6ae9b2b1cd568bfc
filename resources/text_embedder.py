"""Sentence embeddings for the transcript_embeddings stage; which model comes from the embed policy."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import dagster as dg
import numpy as np
from pydantic import Field

from ai_assets.language.embeddings import encode, load_encoder
from ai_assets.storage.models import ModelRegistry
from ai_assets.storage.settings import Layout
from resources import model_worker


class TextEmbedder(dg.ConfigurableResource):
    """Owns loading and the device; the model is loaded once per process (see ai_assets.language.embeddings)."""

    WORKER_METHODS: ClassVar[tuple[str, ...]] = ("encode_here",)

    model_paths: dict[str, str] = Field(default_factory=dict)
    allow_download: bool = False
    cache_dir: str | None = None
    device: str = "cpu"
    batch_size: int = 64
    backend: Literal["auto", "sentence-transformers"] = Field(
        default="auto",
        description="auto: NumPy for BERT mean-pooling models on the CPU, sentence-transformers otherwise."
    )

    def _load(self, model: str):
        cache = Path(self.cache_dir) if self.cache_dir else Layout.from_env().model_cache
        path = ModelRegistry(cache, self.model_paths, self.allow_download).resolve(model, "embedding")
        return load_encoder(path, self.device, self.backend, self.batch_size, self.allow_download)

    def encode(self, texts: list[str], model: str) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text; in the model worker when it is on."""
        return model_worker.run(self, "encode_here", texts, model)

    def encode_here(self, texts: list[str], model: str) -> np.ndarray:
        return encode(self._load(model), texts)
