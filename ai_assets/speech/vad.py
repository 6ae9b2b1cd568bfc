"""Voice activity: Silero VAD (bundled with faster-whisper) speech regions, in seconds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ai_assets.ingest.audio import SAMPLE_RATE

# Whisper sees 30 s windows: VAD splits longer speech at this length, and chunks are packed up to it.
CHUNK_SECONDS = 30.0


@dataclass(frozen=True)
class VadParams:
    threshold: float = 0.5
    min_speech_duration_ms: int = 250
    min_silence_duration_ms: int = 500
    speech_pad_ms: int = 200
    max_speech_duration_s: float = CHUNK_SECONDS


def speech_regions(audio: np.ndarray, params: VadParams = VadParams()) -> list[tuple[float, float]]:
    """Silero VAD (bundled with faster-whisper) speech regions, in seconds."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    stamps = get_speech_timestamps(audio, VadOptions(**asdict(params)))
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]
