"""Dagster resources: model loading, storage roots and clients, each owning its lifecycle."""

from resources.clip_store import ClipStore
from resources.lake import LakeIOManager
from resources.media_store import MediaStore
from resources.metrics import MetricsResource
from resources.text_embedder import TextEmbedder
from resources.uploads import UploadSource
from resources.whisper import WhisperResource

__all__ = [
    "ClipStore",
    "LakeIOManager",
    "MediaStore",
    "MetricsResource",
    "TextEmbedder",
    "UploadSource",
    "WhisperResource",
]
