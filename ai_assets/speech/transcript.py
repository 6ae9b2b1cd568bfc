"""The transcript stage's engine: speech regions packed into chunks for batched Whisper, levelled, decoded and
recovered, as transcript rows."""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field

import numpy as np

from ai_assets.ingest.audio import SAMPLE_RATE
from ai_assets.ingest.source_video import MediaError
from ai_assets.speech.chunks import Compacted, clean_regions, pack_chunks, split_long
from ai_assets.speech.language_id import Run, language_runs, language_shares
from ai_assets.speech.transcript_checks import find_loop

# Speech regions are levelled to this RMS (about -26 dBFS) before decoding, within these gains.
TARGET_RMS = 0.05
MIN_GAIN, MAX_GAIN = 0.1, 30.0
# Regions this long that got no words are decoded again, at most this many more times.
MIN_RECOVER_S = 1.0
RECOVERY_ROUNDS = 2
# Silence kept after each speech region when regions are laid end to end for the first pass: enough for Whisper
# to hear a pause (VAD already pads each region), short enough that a 30 s window is mostly speech.
COMPACT_GAP_S = 0.3


class NothingDecoded(MediaError):
    """Every speech chunk failed to decode; the message names the cause."""

    def __init__(self, message: str, untranscribed: list[tuple[float, float]], failures: list[str]):
        super().__init__(message)
        self.untranscribed, self.failures = untranscribed, failures


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


@dataclass(frozen=True)
class HealParams:
    """When a decoded chunk is suspect, and how it is decoded again (the asr policy's `healing`)."""

    max_compression_ratio: float = 2.4  # gzip ratio of a row's text; loops compress well
    min_avg_logprob: float = -1.0
    beam_size: int = 5
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    condition_on_previous_text: bool = False


DEFAULT_HEAL = HealParams()


@dataclass
class Transcription:
    language: str  # the dominant one, by seconds of speech
    language_probability: float
    segments: list[dict] = field(default_factory=list)  # each row with its own language and model
    languages: dict[str, float] = field(default_factory=dict)  # share of the speech in each language
    # Speech that could not be decoded, and why: the transcript is then partial ("degraded").
    untranscribed: list[tuple[float, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # Chunks that looked like a loop or garbage and were decoded again, and how many of those came out better.
    suspect_chunks: int = 0
    healed_chunks: int = 0

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
    suspect_chunks: int = 0
    healed_chunks: int = 0


class ProgressSteps:
    """Passes on the share of the speech decoded (0–1) each time it crosses the next `step`, and never goes back:
    an hour of audio logs about ten lines, not one per segment. Best effort: a report that fails (a log handler, a
    caller gone from the model worker's socket) turns reporting off and never reaches the decoder, which would
    take it for a decoding error and decode again."""

    def __init__(self, report, step: float = 0.1):
        self.report, self.step, self.next = report, step, step

    def __call__(self, share: float) -> None:
        share = min(max(share, 0.0), 1.0)
        if self.report is None or share + 1e-9 < self.next:
            return
        self.next = (int(share / self.step + 1e-9) + 1) * self.step
        try:
            self.report(share)
        except Exception:
            self.report = None


def transcribe_batched(pipeline, audio: np.ndarray, runs: list[list[tuple[float, float]]], language: str,
        params: DecodeParams, heal: HealParams | None = DEFAULT_HEAL, progress=None) -> Decoded:
    """Transcribe runs of speech regions in one language with a faster-whisper BatchedInferencePipeline.

    First pass: each run's regions packed into 30 s chunks (a chunk never crosses into another run, which may be
    in another language). Without timestamps a batched decode can stop after the first sentence of a chunk with
    pauses in it, so regions that got no words are decoded again, each on its own, for up to RECOVERY_ROUNDS
    more passes.

    A chunk whose rows loop, compress too well or are too unsure (`heal`) is decoded again, region by region,
    sequentially with temperature fallback and a wider beam; the better of the two readings is kept.

    A batch that fails is decoded again chunk by chunk; a chunk that still fails is reported in
    `untranscribed` with its reason. Only when nothing at all could be decoded does it raise NothingDecoded.

    `progress(share)`, when given, hears how far the first pass (nearly all of the work) has come, 0 to 1.
    """
    duration = len(audio) / SAMPLE_RATE
    runs = [clean_regions(run, duration) for run in runs]
    regions = sorted(r for run in runs for r in run)
    if not regions:
        return Decoded([], [], [])
    leveled = level_regions(audio, regions)
    layout, compact_chunks = first_pass_chunks(runs)
    compact = layout.audio(leveled)
    # Batched segments arrive batch by batch, in order on the compacted clock: their end is the work done.
    on_segment = (lambda end: progress(end * SAMPLE_RATE / max(len(compact), 1))) if progress else None
    rows, failed = _decode_contained(pipeline, compact, compact_chunks, language, params, on_segment)
    rows = [_on_source(layout, row) for row in rows]
    failed = [(layout.span_to_source(span), why) for span, why in failed]
    chunks = [layout.span_to_source(chunk) for chunk in compact_chunks]
    suspect = healed = 0
    # Spans whose reading is settled: failed chunks (reported) and healed ones (recovery must not undo them).
    settled = [span for span, _ in failed]
    if heal is not None:
        owner = chunk_owner(rows, chunks)
        for i, chunk in enumerate(chunks):
            mine = [r for r, j in zip(rows, owner, strict=True) if j == i]
            if not mine or not suspect_reason(mine, heal):
                continue
            suspect += 1
            inside = [(max(s, chunk[0]), min(e, chunk[1])) for s, e in regions if s < chunk[1] and e > chunk[0]]
            again = _heal(pipeline, leveled, inside, language, params, heal) if inside else []
            # A reading that drops most of the chunk's speech is no cure, however clean it looks.
            if again and reading_score(again, heal) > reading_score(mine, heal) and (
                spoken(again, chunk) >= 0.5 * spoken(mine, chunk)
            ):
                healed += 1
                settled.append(chunk)
                kept = [r for r, j in zip(rows, owner, strict=True) if j != i]
                owner = [j for j in owner if j != i] + [i] * len(again)
                rows = kept + again
    todo = [r for r in uncovered(regions, rows) if not any(_overlaps(r, span) for span in settled)]
    for _ in range(RECOVERY_ROUNDS):
        if not todo:
            break
        recovered = []
        for start, end in split_long(todo):  # one clip is one Whisper window: at most 30 s
            found, _ = _decode_contained(pipeline, leveled, [(start, end)], language, params)
            recovered += [kept for row in found if (kept := _within(row, start, end))]
        rows += recovered
        todo = uncovered(todo, recovered)
    untranscribed = [span for span, _ in failed]
    failures = [f"{s:.1f}–{e:.1f} s: {why}" for (s, e), why in failed]
    if failed and not rows:
        raise NothingDecoded(f"no speech could be decoded: {failed[0][1]}", untranscribed, failures)
    rows = [clamp_times(row, duration) for row in sorted(rows, key=lambda r: r["start"])]
    return Decoded(rows, untranscribed, failures, suspect, healed)


def chunk_owner(rows: list[dict], chunks: list[tuple[float, float]]) -> list[int]:
    """The chunk each row was decoded from: the last chunk starting at or before the row (10 ms for rounding).
    Chunks never overlap, so a row near a chunk's end is never taken for the next one's."""
    starts = [c[0] for c in chunks]
    return [max(bisect.bisect_right(starts, r["start"] + 0.01) - 1, 0) for r in rows]


def spoken(rows: list[dict], chunk: tuple[float, float]) -> float:
    """Seconds of the chunk that the rows' words cover."""
    return sum(max(0.0, min(w["end"], chunk[1]) - max(w["start"], chunk[0])) for r in rows for w in r["words"])


def suspect_reason(rows: list[dict], heal: HealParams) -> str | None:
    """Why a chunk's rows look wrong: a phrase looping back to back, text that compresses like a loop, or
    tokens the model was unsure of; None when they look fine."""
    loop = find_loop([w["word"] for r in rows for w in r["words"]])
    if loop:
        return f"'{loop[2]}' repeats {loop[1]} times"
    if max(r["compression_ratio"] for r in rows) > heal.max_compression_ratio:
        return "compression ratio"
    if _mean_logprob(rows) < heal.min_avg_logprob:
        return "low confidence"
    return None


def reading_score(rows: list[dict], heal: HealParams) -> tuple:
    """Orders two readings of one chunk: no loop first, then no loop-like compression, then confidence."""
    loop = find_loop([w["word"] for r in rows for w in r["words"]]) is not None
    compressed = max(r["compression_ratio"] for r in rows) > heal.max_compression_ratio
    return (not loop, not compressed, _mean_logprob(rows))


def _mean_logprob(rows: list[dict]) -> float:
    weights = [max(len(r["words"]), 1) for r in rows]
    return float(np.average([r["avg_logprob"] for r in rows], weights=weights))


def _heal(pipeline, audio: np.ndarray, regions: list[tuple[float, float]], language: str, params: DecodeParams,
        heal: HealParams) -> list[dict]:
    """The regions decoded one by one, sequentially, with temperature fallback: Whisper's own cure for loops,
    which the batched pipeline does not apply. Only the chunk's own audio is handed over (the sequential model
    computes features for all it gets). A failure leaves the first reading in place."""
    offset = regions[0][0]
    piece = audio[int(offset * SAMPLE_RATE) : int(regions[-1][1] * SAMPLE_RATE)]
    try:
        segments, _ = pipeline.model.transcribe(
            piece,
            language=language,
            clip_timestamps=[round(t - offset, 3) for region in regions for t in region],
            beam_size=heal.beam_size,
            temperature=list(heal.temperatures),
            compression_ratio_threshold=heal.max_compression_ratio,
            log_prob_threshold=heal.min_avg_logprob,
            condition_on_previous_text=heal.condition_on_previous_text,
            word_timestamps=params.word_timestamps,
            vad_filter=False,
        )
        rows = [_shifted(segment_row(s), offset) for s in segments]
    except Exception:  # the first reading stands; the checks still judge it
        return []
    return [r for r in rows if r["text"] and r["words"]]


def first_pass_chunks(runs: list[list[tuple[float, float]]]) -> tuple[Compacted, list[tuple[float, float]]]:
    """The first pass decodes the speech laid end to end (fewer windows to encode and decode for the same
    speech): the layout, and each run's regions packed into chunks on its clock (a chunk never spans two runs)."""
    layout = Compacted(sorted(r for run in runs for r in run), COMPACT_GAP_S, SAMPLE_RATE)
    chunks = [c for run in runs for c in pack_chunks([(layout.to_compact(s), layout.to_compact(e)) for s, e in run])]
    return layout, chunks


def _retimed(row: dict, start_of, end_of) -> dict:
    """The row with its own and its words' start and end times passed through `start_of` and `end_of`."""
    words = [{**w, "start": round(start_of(w["start"]), 3), "end": round(end_of(w["end"]), 3)} for w in row["words"]]
    return {**row, "start": round(start_of(row["start"]), 3), "end": round(end_of(row["end"]), 3), "words": words}


def _on_source(layout: Compacted, row: dict) -> dict:
    """A row decoded from compacted audio, on the file's clock: each word kept inside one piece of speech
    (`Compacted.word_to_source`), and the row spanning its words."""
    if not row["words"]:
        return _retimed(row, layout.to_source, lambda t: layout.to_source(t, end=True))
    words = []
    for w in row["words"]:
        start, end = layout.word_to_source(w["start"], w["end"])
        words.append({**w, "start": round(start, 3), "end": round(end, 3)})
    return {**row, "start": words[0]["start"], "end": max(w["end"] for w in words), "words": words}


def _shifted(row: dict, offset: float) -> dict:
    return _retimed(row, lambda t: t + offset, lambda t: t + offset)


def transcribe(load, audio: np.ndarray, regions: list[tuple[float, float]], english_model: str,
        multilingual_model: str, params: DecodeParams, language: str | None = None,
        heal: HealParams | None = DEFAULT_HEAL, progress=None) -> tuple[Transcription, str]:
    """Find the language of each stretch of speech and transcribe each in its own language: English with
    `english_model`, any other with `multilingual_model`. `load(name)` gives a loaded WhisperModel; `language`
    forces one language and skips identification. Returns the transcription (each row carries its language,
    identification probability and model) and the model of the dominant language. `progress(share)` hears the
    share of the speech decoded, each time it passes another tenth.

    Only when nothing at all could be decoded, in any language, does it raise NothingDecoded."""
    from faster_whisper import BatchedInferencePipeline

    regions = clean_regions(regions, len(audio) / SAMPLE_RATE)
    if not regions:
        runs = []
    elif language:
        runs = [Run(language, 1.0, tuple(regions))]
    else:
        runs = language_runs(load(multilingual_model), audio, regions)
    shares = language_shares(runs)
    dominant = next(iter(shares), "und")
    probability = max((r.probability for r in runs if r.language == dominant), default=0.0)
    result = Transcription(language=dominant, language_probability=probability, languages=shares)
    steps = ProgressSteps(progress) if progress else None
    total = sum(e - s for r in runs for s, e in r.regions) or 1.0
    done = 0.0
    for spoken in shares:
        model_name = english_model if spoken == "en" else multilingual_model
        mine = [r for r in runs if r.language == spoken]
        seconds = sum(e - s for r in mine for s, e in r.regions)
        # Each language's share of the speech is its share of the progress.
        on_share = (lambda share, base=done, part=seconds: steps((base + part * share) / total)) if steps else None
        pipeline = BatchedInferencePipeline(load(model_name))
        try:
            decoded = transcribe_batched(pipeline, audio, [list(r.regions) for r in mine], spoken, params, heal,
                                         on_share)
        except NothingDecoded as exc:  # another language may still decode
            decoded = Decoded([], exc.untranscribed, exc.failures)
        done += seconds
        if steps:
            steps(done / total)
        for row in decoded.rows:
            run = next((r for r in mine if any(s - 0.5 <= row["start"] < e for s, e in r.regions)), mine[0])
            row.update(language=spoken, language_probability=round(run.probability, 4), model=model_name)
        result.segments += decoded.rows
        result.untranscribed += decoded.untranscribed
        result.failures += decoded.failures
        result.suspect_chunks += decoded.suspect_chunks
        result.healed_chunks += decoded.healed_chunks
    if result.failures and not result.segments:
        raise NothingDecoded(f"no speech could be decoded: {result.failures[0].split(': ', 1)[1]}",
            result.untranscribed, result.failures)
    result.segments.sort(key=lambda r: r["start"])
    result.untranscribed.sort()
    return result, english_model if dominant == "en" else multilingual_model


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _decode_contained(pipeline, audio: np.ndarray, chunks: list[tuple[float, float]], language: str,
        params: DecodeParams, on_segment=None) -> tuple[list[dict], list[tuple[tuple[float, float], str]]]:
    """Rows, and the chunks that failed with their reason: a failed batch is split in halves and each half
    retried, down to single chunks, so one bad chunk costs a few extra batches, not a chunk-by-chunk decode."""
    try:
        return _decode(pipeline, audio, chunks, language, params, on_segment), []
    except Exception as exc:  # the decoder's own errors; one bad chunk must not cost the others
        if len(chunks) == 1:
            return [], [(chunks[0], _reason(exc))]
    half = len(chunks) // 2
    rows, failed = _decode_contained(pipeline, audio, chunks[:half], language, params, on_segment)
    more_rows, more_failed = _decode_contained(pipeline, audio, chunks[half:], language, params, on_segment)
    return rows + more_rows, failed + more_failed


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
        params: DecodeParams, on_segment=None) -> list[dict]:
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
    rows = []
    for segment in segments:
        rows.append(segment_row(segment))
        if on_segment:
            on_segment(segment.end)
    return [r for r in rows if r["text"] and r["words"]]


def dominant_language(rows: list[dict]) -> str:
    """The language with the most seconds of transcript rows."""
    seconds: dict[str, float] = {}
    for r in rows:
        seconds[r["language"]] = seconds.get(r["language"], 0.0) + r["end"] - r["start"]
    return max(seconds, key=lambda k: seconds[k])
