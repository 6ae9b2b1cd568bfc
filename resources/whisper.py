"""faster-whisper, loaded once per process and shared by every asset in it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import dagster as dg
import numpy as np
from pydantic import Field

from ai_assets.settings import Layout
from ai_assets.speech import DecodeParams, Transcription, language_probe, pack_chunks, transcribe_batched
from resources.models import ModelRegistry

_MODELS: dict[tuple, object] = {}
_LOCK = threading.Lock()


class WhisperResource(dg.ConfigurableResource):
    """Speech recognition. English goes to `english_model`, anything else to `multilingual_model`."""

    english_model: str = Field(default="tiny.en", description="Model for English speech.")
    multilingual_model: str = Field(default="base", description="Model for language ID and non-English speech.")
    language: str | None = Field(default=None, description="Force a language code and skip detection.")
    model_paths: dict[str, str] = Field(default_factory=dict, description="Model name to a local CTranslate2 directory.")
    allow_download: bool = Field(default=False, description="Fetch unknown models from the hub (needs network).")
    cache_dir: str | None = Field(default=None, description="Where joined or downloaded models go; default $AI_ASSETS_HOME/models.")
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(default=0, description="0 uses every core.")
    beam_size: int = 1
    batch_size: int = 8

    def registry(self) -> ModelRegistry:
        cache = Path(self.cache_dir) if self.cache_dir else Layout.from_env().model_cache
        return ModelRegistry(cache, self.model_paths, self.allow_download)

    def model_path(self, name: str) -> Path:
        return self.registry().resolve(name, "whisper")

    def load(self, name: str):
        """The WhisperModel for `name`, loaded at most once per process."""
        from faster_whisper import WhisperModel

        path = self.model_path(name)
        threads = self.cpu_threads or os.cpu_count() or 1
        key = (str(path), self.device, self.compute_type, threads)
        with _LOCK:
            if key not in _MODELS:
                _MODELS[key] = WhisperModel(str(path), device=self.device, compute_type=self.compute_type, cpu_threads=threads)
            return _MODELS[key]

    @property
    def decode_params(self) -> DecodeParams:
        return DecodeParams(beam_size=self.beam_size, batch_size=self.batch_size)

    def detect_language(self, audio: np.ndarray, regions: list[tuple[float, float]]) -> tuple[str, float]:
        if self.language:
            return self.language, 1.0
        if not regions:
            return "und", 0.0
        model = self.load(self.multilingual_model)
        language, probability, _ = model.detect_language(audio=language_probe(audio, regions))
        return language, float(probability)

    def model_for(self, language: str) -> str:
        return self.english_model if language == "en" else self.multilingual_model

    def transcribe(self, audio: np.ndarray, regions: list[tuple[float, float]]) -> tuple[Transcription, str]:
        """Detect the language, pick the model, and transcribe the speech regions in batches."""
        from faster_whisper import BatchedInferencePipeline

        language, probability = self.detect_language(audio, regions)
        model_name = self.model_for(language)
        result = Transcription(language=language, language_probability=probability)
        if regions:
            pipeline = BatchedInferencePipeline(self.load(model_name))
            result.segments = transcribe_batched(pipeline, audio, pack_chunks(regions), language, self.decode_params)
        return result, model_name
