"""faster-whisper, loaded once per process and shared by every asset in it.

What to run (model, beam, batch, compute type, VAD) comes from the asr policy; this resource owns
only how: device, threads, where models come from.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import dagster as dg
import numpy as np
from pydantic import Field

from ai_assets.policy.documents import AsrRule, default_policy
from ai_assets.speech.transcript import DEFAULT_HEAL, DecodeParams, HealParams, Transcription, transcribe
from ai_assets.storage.models import LOADED, ModelRegistry
from ai_assets.storage.settings import Layout, step_threads
from resources import model_worker


class WhisperResource(dg.ConfigurableResource):
    """Speech recognition with faster-whisper; in the model worker when it is on (resources/model_worker.py)."""

    WORKER_METHODS: ClassVar[tuple[str, ...]] = ("transcribe_here",)

    language: str | None = Field(default=None, description="Force a language code and skip detection.")
    model_paths: dict[str, str] = Field(default_factory=dict,
        description="Model name to a local CTranslate2 directory.")
    allow_download: bool = Field(default=False, description="Fetch unknown models from the hub (needs network).")
    cache_dir: str | None = Field(default=None,
        description="Where joined or downloaded models go; default $AI_ASSETS_HOME/models.")
    device: str = "cpu"
    cpu_threads: int = Field(default=0, description="0: $AI_ASSETS_STEP_THREADS, else every core.")

    def registry(self) -> ModelRegistry:
        cache = Path(self.cache_dir) if self.cache_dir else Layout.from_env().model_cache
        return ModelRegistry(cache, self.model_paths, self.allow_download)

    def model_path(self, name: str) -> Path:
        return self.registry().resolve(name, "whisper")

    def load(self, name: str, compute_type: str = "int8"):
        """The WhisperModel for `name`, loaded at most once per process."""
        from faster_whisper import WhisperModel

        path = self.model_path(name)
        threads = self.cpu_threads or step_threads()
        return LOADED.get(
            ("whisper", str(path), self.device, compute_type, threads),
            lambda: WhisperModel(str(path), device=self.device, compute_type=compute_type, cpu_threads=threads),
        )

    def transcribe(
        self, audio: np.ndarray, regions: list[tuple[float, float]], rule: AsrRule | None = None,
        multilingual_model: str | None = None, heal: HealParams | None = DEFAULT_HEAL, progress=None
    ) -> tuple[Transcription, str, DecodeParams]:
        """Each stretch of speech in its own language (see ai_assets.speech.transcript.transcribe). Without a
        rule, the built-in default policy's `clean_single` rule applies. `progress(share)` hears each tenth of
        the speech decoded."""
        return model_worker.run(self, "transcribe_here", audio, regions, rule, multilingual_model, heal,
                                progress=progress)

    def transcribe_here(
        self, audio: np.ndarray, regions: list[tuple[float, float]], rule: AsrRule | None = None,
        multilingual_model: str | None = None, heal: HealParams | None = DEFAULT_HEAL, progress=None
    ) -> tuple[Transcription, str, DecodeParams]:
        """`transcribe` with the models loaded in this process."""
        if rule is None or multilingual_model is None:
            default = default_policy("asr").parsed()
            rule = rule or default.classes["clean_single"]
            multilingual_model = multilingual_model or default.multilingual_model
        params = DecodeParams(beam_size=rule.beam_size, batch_size=rule.batch_size)
        result, model_name = transcribe(
            lambda name: self.load(name, rule.compute_type), audio, regions, rule.model, multilingual_model, params,
            language=self.language, heal=heal, progress=progress,
        )
        return result, model_name, params
