"""Sentence embeddings: the encoder for a model directory, loaded once per process, and unit-norm vectors.

BERT-family sentence-transformers models with mean pooling (MiniLM among them) run in NumPy on the CPU,
which spares each run process the torch import; any other model, or another device, goes through
sentence-transformers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ai_assets.language import bert_numpy
from ai_assets.storage.models import LOADED


class SentenceTransformersEncoder:
    def __init__(self, path: Path, device: str, batch_size: int, allow_download: bool):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(path), device=device, local_files_only=not allow_download)
        self.batch_size = batch_size
        self.dimension = int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)


def load_encoder(path: Path, device: str = "cpu", backend: str = "auto", batch_size: int = 64,
        allow_download: bool = False):
    """The encoder for a resolved model directory; `backend` "auto" takes NumPy where it applies."""

    def load():
        if backend == "auto" and device == "cpu" and bert_numpy.supports(path):
            return bert_numpy.BertSentenceEncoder(path)
        return SentenceTransformersEncoder(path, device, batch_size, allow_download)

    return LOADED.get(("embedding", str(path), device, backend), load)


def encode(encoder, texts: list[str]) -> np.ndarray:
    """Unit-norm float32 vectors, one row per text."""
    if not texts:
        return np.zeros((0, encoder.dimension), dtype=np.float32)
    return np.asarray(encoder.encode(texts), dtype=np.float32)
