"""The transcript stage's engine: speech regions packed into chunks for batched Whisper, levelled, decoded and
recovered, as transcript rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ai_assets.ingest.audio import SAMPLE_RATE
from ai_assets.speech.vad import CHUNK_SECONDS

# Seconds of speech fed to language identification.
LANGUAGE_PROBE_SECONDS = 30.0
# Speech regions are levelled to this RMS (about -26 dBFS) before decoding, within these gains.
TARGET_RMS = 0.05
MIN_GAIN, MAX_GAIN = 0.1, 30.0
# Regions this long that got no words are decoded again, at most this many more times.
MIN_RECOVER_S = 1.0
RECOVERY_ROUNDS = 2


def pack_chunks(regions: list[tuple[float, float]], max_seconds: float = CHUNK_SECONDS) -> list[tuple[float, float]]:
    """Merge consecutive speech regions into spans of at most `max_seconds` each.

    Each span keeps the silence between its regions, so word timestamps stay on the file's clock
    and Whisper gets context; no region is cut, since VAD already split those at `max_seconds`.
    """
    chunks: list[tuple[float, float]] = []
    for start, end in regions:
        if chunks and end - chunks[-1][0] <= max_seconds:
            chunks[-1] = (chunks[-1][0], end)
        else:
            chunks.append((start, min(end, start + max_seconds)))
    return chunks


def language_probe(audio: np.ndarray, regions: list[tuple[float, float]],
        seconds: float = LANGUAGE_PROBE_SECONDS) -> np.ndarray:
    """The first `seconds` of speech, concatenated, for language identification."""
    pieces, total = [], 0.0
    for start, end in regions:
        take = min(end - start, seconds - total)
        if take <= 0:
            break
        a = int(start * SAMPLE_RATE)
        pieces.append(audio[a : a + int(take * SAMPLE_RATE)])
        total += take
    return np.concatenate(pieces) if pieces else audio[: int(seconds * SAMPLE_RATE)]


@dataclass(frozen=True)
class DecodeParams:
    """Whisper decoding choices; recorded verbatim with every transcript."""

    beam_size: int = 1
    batch_size: int = 8
    word_timestamps: bool = True
    condition_on_previous_text: bool = False
    temperature: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Transcription:
    language: str
    language_probability: float
    segments: list[dict] = field(default_factory=list)

    @property
    def mean_logprob(self) -> float | None:
        if not self.segments:
            return None
        weights = np.array([max(len(s["words"]), 1) for s in self.segments], dtype=float)
        return float(np.average([s["avg_logprob"] for s in self.segments], weights=weights))

    @property
    def mean_no_speech(self) -> float | None:
        return float(np.mean([s["no_speech_prob"] for s in self.segments])) if self.segments else None


def segment_row(segment) -> dict:
    """A faster-whisper Segment to a plain row with rounded times and its words."""
    words = [
        {"start": round(w.start, 3), "end": round(w.end, 3), "word": w.word.strip(),
            "probability": round(w.probability, 4)}
        for w in (segment.words or [])
        if w.word.strip()
    ]
    return {
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text.strip(),
        "avg_logprob": float(segment.avg_logprob),
        "no_speech_prob": float(segment.no_speech_prob),
        "compression_ratio": float(segment.compression_ratio),
        "words": words,
    }


def level_regions(audio: np.ndarray, regions: list[tuple[float, float]], target_rms: float = TARGET_RMS) -> np.ndarray:
    """A copy with every speech region brought to the same loudness (gain bounded, no clipping).

    Whisper's log-mel features keep only 80 dB below the loudest point of a 30 s window, so a quiet
    voice packed next to a loud one would otherwise vanish.
    """
    out = audio.copy()
    for start, end in regions:
        a, b = int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)
        piece = out[a:b]
        if piece.size == 0:
            continue
        rms = float(np.sqrt(np.mean(piece.astype(np.float64) ** 2)))
        gain = min(max(target_rms / max(rms, 1e-9), MIN_GAIN), MAX_GAIN, 0.99 / max(float(np.abs(piece).max()), 1e-9))
        out[a:b] = piece * gain
    return out


def uncovered(regions: list[tuple[float, float]], rows: list[dict]) -> list[tuple[float, float]]:
    """Regions of at least MIN_RECOVER_S in which no transcribed word starts."""
    starts = np.sort(np.array([w["start"] for r in rows for w in r["words"]], dtype=float))
    missing = []
    for start, end in regions:
        if end - start < MIN_RECOVER_S:
            continue
        i = np.searchsorted(starts, start - 0.2)
        if i >= len(starts) or starts[i] > end:
            missing.append((start, end))
    return missing


def _within(row: dict, start: float, end: float) -> dict | None:
    words = [w for w in row["words"] if start - 0.5 <= w["start"] <= end + 0.5]
    if not words:
        return None
    return {**row, "words": words, "start": words[0]["start"], "end": words[-1]["end"]}


def transcribe_batched(pipeline, audio: np.ndarray, regions: list[tuple[float, float]], language: str,
        params: DecodeParams) -> list[dict]:
    """Transcribe speech regions with a faster-whisper BatchedInferencePipeline.

    First pass: regions packed into 30 s chunks. Without timestamps a batched decode can stop after
    the first sentence of a chunk with pauses in it, so regions that got no words are decoded again,
    each on its own, for up to RECOVERY_ROUNDS more passes.
    """
    if not regions:
        return []
    leveled = level_regions(audio, regions)
    rows = _decode(pipeline, leveled, pack_chunks(regions), language, params)
    todo = uncovered(regions, rows)
    for _ in range(RECOVERY_ROUNDS):
        if not todo:
            break
        recovered = []
        for start, end in todo:
            for row in _decode(pipeline, leveled, [(start, end)], language, params):
                kept = _within(row, start, end)
                if kept:
                    recovered.append(kept)
        rows += recovered
        todo = uncovered(todo, recovered)
    return sorted(rows, key=lambda r: r["start"])


def _decode(pipeline, audio: np.ndarray, chunks: list[tuple[float, float]], language: str,
        params: DecodeParams) -> list[dict]:
    segments, _ = pipeline.transcribe(
        audio,
        language=language,
        clip_timestamps=[{"start": s, "end": e} for s, e in chunks],
        beam_size=params.beam_size,
        batch_size=params.batch_size,
        word_timestamps=params.word_timestamps,
        condition_on_previous_text=params.condition_on_previous_text,
        temperature=params.temperature,
    )
    rows = [segment_row(s) for s in segments]
    return [r for r in rows if r["text"] and r["words"]]
