"""Voice activity: Silero VAD (bundled with faster-whisper) speech regions, in seconds."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ai_assets.ingest.audio import SAMPLE_RATE, AudioTrack, choose_track, extract_audio, load_wav
from ai_assets.ingest.source_video import MediaError, error_reason

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


@dataclass(frozen=True)
class SpeechTrack:
    """The sound track chosen for transcription, decoded, with its speech regions."""

    index: int  # among the file's audio streams (0: the first)
    audio: AudioTrack
    regions: list[tuple[float, float]]
    speech_seconds: list[float | None]  # per track; None where a track could not be decoded
    failures: list[str]  # why tracks could not be decoded, one line each

    @property
    def note(self) -> str | None:
        """Why another track than the first was taken, in words; None for the first."""
        if not self.index:
            return None
        first = self.speech_seconds[0]
        said = "could not be decoded" if first is None else f"has {first:.1f} s of speech"
        return (f"sound track {self.index + 1} of {len(self.speech_seconds)} transcribed: it has "
                f"{self.speech_seconds[self.index]:.1f} s of speech, the first {said}")


def speech_track(path: Path, target: Path, tracks: int, params: VadParams = VadParams()) -> SpeechTrack:
    """Decode the track to transcribe to `target` (WAV, see `extract_audio`) and find its speech. With several sound
    tracks each is decoded and listened to, and `ingest.audio.choose_track` picks one. Raises the first track's
    MediaError when no track decodes."""
    first = extract_and_listen(path, target, 0, params)
    if tracks <= 1:
        if isinstance(first, MediaError):
            raise first
        return SpeechTrack(0, *first, [_speech(first[1])], [])
    heard: list = [first]
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".tracks-") as scratch:
        for k in range(1, tracks):
            try:
                heard.append(extract_and_listen(path, Path(scratch) / f"{k}.wav", k, params))
            except Exception as exc:  # noqa: BLE001 - a track never read before must not fail the one that was
                heard.append(MediaError(f"could not be decoded ({error_reason(exc)})"))
        seconds = [None if isinstance(h, MediaError) else _speech(h[1]) for h in heard]
        failures = [f"track {k + 1}: {h}" for k, h in enumerate(heard) if isinstance(h, MediaError)]
        if all(s is None for s in seconds):
            raise first
        lengths = [h[0].seconds for h in heard if not isinstance(h, MediaError)]
        chosen = choose_track(seconds, max(lengths))
        if chosen:
            os.replace(Path(scratch) / f"{chosen}.wav", target)
    return SpeechTrack(chosen, *heard[chosen], seconds, failures)


def extract_and_listen(path: Path, target: Path, track: int, params: VadParams):
    """(AudioTrack, speech regions) of one track, or the MediaError that stopped it."""
    try:
        decoded = extract_audio(path, target, track)
    except MediaError as exc:
        return exc
    return decoded, speech_regions(load_wav(target), params)


def _speech(regions: list[tuple[float, float]]) -> float:
    return round(sum(end - start for start, end in regions), 3)
