"""The transcript stage's engine: speech regions packed into chunks for batched Whisper, levelled, decoded and
recovered, as transcript rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ai_assets.ingest.audio import SAMPLE_RATE
from ai_assets.ingest.source_video import MediaError
from ai_assets.speech.vad import CHUNK_SECONDS

# Seconds of speech fed to language identification.
LANGUAGE_PROBE_SECONDS = 30.0
# Speech regions are levelled to this RMS (about -26 dBFS) before decoding, within these gains.
TARGET_RMS = 0.05
MIN_GAIN, MAX_GAIN = 0.1, 30.0
# Regions this long that got no words are decoded again, at most this many more times.
MIN_RECOVER_S = 1.0
RECOVERY_ROUNDS = 2
# Shorter speech is not worth a decode (and an empty span would crash the feature extractor).
MIN_SPAN_S = 0.02


class NothingDecoded(MediaError):
    """Every speech chunk failed to decode; the message names the cause."""


def clean_regions(regions: list[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """Speech regions as the decoder needs them: finite, inside [0, duration], sorted, overlapping ones merged,
    none shorter than MIN_SPAN_S. Touching ones stay apart: VAD splits long speech into touching regions at
    CHUNK_SECONDS, and merging them would cut the speech again at an arbitrary point."""
    spans = sorted(
        (max(0.0, float(start)), min(duration, float(end)))
        for start, end in regions
        if np.isfinite(start) and np.isfinite(end)
    )
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end - start >= MIN_SPAN_S:
            merged.append((start, end))
    return [(start, end) for start, end in merged if end - start >= MIN_SPAN_S]


def pack_chunks(regions: list[tuple[float, float]], max_seconds: float = CHUNK_SECONDS) -> list[tuple[float, float]]:
    """Merge consecutive speech regions (clean ones: sorted, disjoint) into spans of at most `max_seconds` each.

    Each span keeps the silence between its regions, so word timestamps stay on the file's clock and Whisper
    gets context. A region longer than `max_seconds` (VAD settings of a policy may allow one) is cut into
    pieces, so no speech is left out of Whisper's window.
    """
    pieces: list[tuple[float, float]] = []
    for start, end in regions:
        while end - start > max_seconds:
            pieces.append((start, start + max_seconds))
            start += max_seconds
        pieces.append((start, end))
    chunks: list[tuple[float, float]] = []
    for start, end in pieces:
        if chunks and end - chunks[-1][0] <= max_seconds:
            chunks[-1] = (chunks[-1][0], end)
        else:
            chunks.append((start, end))
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
    # Speech that could not be decoded, and why: the transcript is then partial ("degraded").
    untranscribed: list[tuple[float, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def degraded(self) -> str | None:
        if not self.untranscribed:
            return None
        seconds = sum(end - start for start, end in self.untranscribed)
        return f"{seconds:.1f} s of speech in {len(self.untranscribed)} chunks could not be decoded: {self.failures[0]}"

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


@dataclass
class Decoded:
    rows: list[dict]
    untranscribed: list[tuple[float, float]]
    failures: list[str]


def transcribe_batched(pipeline, audio: np.ndarray, regions: list[tuple[float, float]], language: str,
        params: DecodeParams) -> Decoded:
    """Transcribe speech regions with a faster-whisper BatchedInferencePipeline.

    First pass: regions packed into 30 s chunks. Without timestamps a batched decode can stop after
    the first sentence of a chunk with pauses in it, so regions that got no words are decoded again,
    each on its own, for up to RECOVERY_ROUNDS more passes.

    A batch that fails is decoded again chunk by chunk; a chunk that still fails is reported in
    `untranscribed` with its reason. Only when nothing at all could be decoded does it raise NothingDecoded.
    """
    duration = len(audio) / SAMPLE_RATE
    regions = clean_regions(regions, duration)
    if not regions:
        return Decoded([], [], [])
    leveled = level_regions(audio, regions)
    rows, failed = _decode_contained(pipeline, leveled, pack_chunks(regions), language, params)
    done = {span for span, _ in failed}
    todo = [r for r in uncovered(regions, rows) if not any(_overlaps(r, span) for span in done)]
    for _ in range(RECOVERY_ROUNDS):
        if not todo:
            break
        recovered = []
        for start, end in todo:
            found, _ = _decode_contained(pipeline, leveled, [(start, end)], language, params)
            recovered += [kept for row in found if (kept := _within(row, start, end))]
        rows += recovered
        todo = uncovered(todo, recovered)
    if failed and not rows:
        raise NothingDecoded(f"no speech could be decoded: {failed[0][1]}")
    rows = [clamp_times(row, duration) for row in sorted(rows, key=lambda r: r["start"])]
    return Decoded(rows, [span for span, _ in failed], [f"{s:.1f}–{e:.1f} s: {why}" for (s, e), why in failed])


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _decode_contained(pipeline, audio: np.ndarray, chunks: list[tuple[float, float]], language: str,
        params: DecodeParams) -> tuple[list[dict], list[tuple[tuple[float, float], str]]]:
    """Rows, and the chunks that failed with their reason: a failed batch is retried one chunk at a time."""
    try:
        return _decode(pipeline, audio, chunks, language, params), []
    except Exception as exc:  # the decoder's own errors; one bad chunk must not cost the others
        if len(chunks) == 1:
            return [], [(chunks[0], _reason(exc))]
    rows, failed = [], []
    for chunk in chunks:
        found, lost = _decode_contained(pipeline, audio, [chunk], language, params)
        rows += found
        failed += lost
    return rows, failed


def _reason(exc: Exception) -> str:
    """One line for people: the decoder's message, never an exception class name."""
    lines = str(exc).strip().splitlines()
    return f"decoding failed ({lines[0]})" if lines else "decoding failed inside the speech recognizer"


def clamp_times(row: dict, duration: float) -> dict:
    """Whisper may place a last word a little past the end of the audio; keep every time inside it."""
    def inside(t: float) -> float:
        return round(min(max(float(t), 0.0), duration), 3)

    words = []
    for w in row["words"]:
        start = inside(w["start"])
        words.append({**w, "start": start, "end": max(start, inside(w["end"]))})
    start = inside(row["start"])
    return {**row, "words": words, "start": start, "end": max(start, inside(row["end"]))}


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
