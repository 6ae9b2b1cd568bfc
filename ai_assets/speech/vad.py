"""Voice activity: Silero VAD (bundled with faster-whisper) speech regions, in seconds."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ai_assets.ingest.audio import (
    SAMPLE_RATE,
    AudioTrack,
    choose_track,
    extract_audio,
    load_wav,
    mix_wavs,
    tracks_to_mix,
    wav_levels,
)
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
    # Other tracks mixed in with `index` (track, its one channel where its two cancel out): speakers on tracks of
    # their own (see ingest.audio.tracks_to_mix). Empty for one track.
    mixed: tuple[tuple[int, int | None], ...] = ()

    @property
    def note(self) -> str | None:
        """Why another track than the first was taken, or several mixed, in words; None for the first alone."""
        if self.mixed:
            names = [self.index + 1, *(k + 1 for k, _ in self.mixed)]
            heard = ", ".join(f"{self.speech_seconds[n - 1]:.1f} s" for n in names)
            return (f"sound tracks {', '.join(map(str, names[:-1]))} and {names[-1]} of {len(self.speech_seconds)} "
                    f"mixed: each carries speech the others do not ({heard} of speech)")
        if not self.index:
            return None
        first = self.speech_seconds[0]
        said = "could not be decoded" if first is None else f"has {first:.1f} s of speech"
        return (f"sound track {self.index + 1} of {len(self.speech_seconds)} transcribed: it has "
                f"{self.speech_seconds[self.index]:.1f} s of speech, the first {said}")


def speech_track(path: Path, target: Path, tracks: int, params: VadParams = VadParams()) -> SpeechTrack:
    """Decode the track to transcribe to `target` (WAV, see `extract_audio`) and find its speech. With several sound
    tracks each is decoded and listened to: `ingest.audio.choose_track` picks one, and tracks that talk where it is
    silent are mixed in with it (`ingest.audio.tracks_to_mix`). Raises the first track's MediaError when no track
    decodes."""
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
        decoded = [not isinstance(h, MediaError) for h in heard]
        if not any(decoded):
            raise first
        seconds = [_speech(h[1]) if ok else None for h, ok in zip(heard, decoded, strict=True)]
        failures = [f"track {k + 1}: {h}" for k, (h, ok) in enumerate(zip(heard, decoded, strict=True)) if not ok]
        chosen = choose_track(seconds, max(h[0].seconds for h, ok in zip(heard, decoded, strict=True) if ok))
        wavs = [target, *(Path(scratch) / f"{k}.wav" for k in range(1, tracks))]
        others = tracks_to_mix([h[1] if ok else None for h, ok in zip(heard, decoded, strict=True)],
                               [wav_levels(wav) if ok else None for wav, ok in zip(wavs, decoded, strict=True)], chosen)
        if not others:
            if chosen:
                os.replace(wavs[chosen], target)
            return SpeechTrack(chosen, *heard[chosen], seconds, failures)
        parts = [heard[k][0] for k in (chosen, *others)]
        length = mix_wavs([wavs[k] for k in (chosen, *others)], target)
        # The mix as one track: as long as its longest part, with every part's damage.
        sound = AudioTrack(length, round(sum(p.filled_seconds for p in parts), 3),
                           sum(p.damaged_packets for p in parts), parts[0].from_channel)
        mixed = tuple((k, heard[k][0].from_channel) for k in others)
        return SpeechTrack(chosen, sound, speech_regions(load_wav(target), params), seconds, failures, mixed)


def extract_and_listen(path: Path, target: Path, track: int, params: VadParams):
    """(AudioTrack, speech regions) of one track, or the MediaError that stopped it."""
    try:
        decoded = extract_audio(path, target, track)
    except MediaError as exc:
        return exc
    return decoded, speech_regions(load_wav(target), params)


def _speech(regions: list[tuple[float, float]]) -> float:
    return round(sum(end - start for start, end in regions), 3)
