"""The audio stage's decoding: the first audio stream as 16 kHz mono WAV, and back to samples."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from ai_assets.ingest.source_video import MediaError, error_reason
from ai_assets.storage.files import atomic_path

SAMPLE_RATE = 16_000


def extract_audio(path: Path, target: Path) -> float:
    """Decode the first audio stream to 16 kHz mono 16-bit WAV, streaming. Returns seconds written."""
    import av

    samples = 0
    with av.open(str(path), metadata_errors="ignore") as container, atomic_path(target) as tmp:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        with wave.open(str(tmp), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            stream = container.streams.audio[0]
            try:
                for frame in container.decode(stream):
                    samples += _write_frames(out, resampler.resample(frame))
            except av.error.FFmpegError as exc:
                raise MediaError(
                    f"audio could not be decoded after {samples / SAMPLE_RATE:.1f} s ({error_reason(exc)})"
                ) from None
            samples += _write_frames(out, resampler.resample(None))
    if samples == 0:
        raise MediaError("the audio stream decodes to no samples")
    return samples / SAMPLE_RATE


def _write_frames(out: wave.Wave_write, frames) -> int:
    written = 0
    for frame in frames:
        pcm = frame.to_ndarray().reshape(-1)
        out.writeframes(pcm.astype("<i2").tobytes())
        written += pcm.shape[0]
    return written


def load_wav(path: Path) -> np.ndarray:
    """16 kHz mono WAV to float32 in [-1, 1]."""
    with wave.open(str(path), "rb") as wav:
        if wav.getframerate() != SAMPLE_RATE or wav.getnchannels() != 1:
            raise MediaError(f"{path.name}: expected 16 kHz mono audio")
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0
