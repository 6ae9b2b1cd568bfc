"""The geometry of speech regions before decoding: clean (inside the audio, disjoint, not empty), cut to fit a
Whisper window, and packed into chunks."""

from __future__ import annotations

import bisect
import math

import numpy as np

from ai_assets.speech.vad import CHUNK_SECONDS

# Shorter speech is not worth a decode (and an empty span would crash the feature extractor).
MIN_SPAN_S = 0.02


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
    chunks: list[tuple[float, float]] = []
    for start, end in split_long(regions, max_seconds):
        if chunks and end - chunks[-1][0] <= max_seconds:
            chunks[-1] = (chunks[-1][0], end)
        else:
            chunks.append((start, end))
    return chunks


def split_long(regions: list[tuple[float, float]], max_seconds: float = CHUNK_SECONDS) -> list[tuple[float, float]]:
    """Regions cut into pieces of at most `max_seconds`, so each fits one Whisper window."""
    pieces: list[tuple[float, float]] = []
    for start, end in regions:
        # Equal pieces: stepping by max_seconds drifts in floating point and can leave an empty tail.
        n = max(1, math.ceil((end - start) / max_seconds - 1e-9))
        step = (end - start) / n
        pieces += [(start + k * step, start + (k + 1) * step if k < n - 1 else end) for k in range(n)]
    return pieces


class Compacted:
    """Speech regions laid end to end, each followed by at most `max_gap_s` of the silence after it, so 30 s
    windows hold more speech; times on that shorter clock map back to the file's.

    Pieces are kept in samples, so the mapping does not drift over a long file.
    """

    def __init__(self, regions: list[tuple[float, float]], max_gap_s: float, sample_rate: int):
        self.rate = sample_rate
        self.pieces: list[tuple[int, int, int]] = []  # (source start, source end, compact start), in samples
        self._speech_ends: list[int] = []  # where each piece's speech ends and its kept silence begins, compact
        at = 0
        for i, (start, end) in enumerate(regions):
            a, b = int(round(start * sample_rate)), int(round(end * sample_rate))
            self._speech_ends.append(at + b - a)
            if i + 1 < len(regions):
                b = max(b, min(int(round(regions[i + 1][0] * sample_rate)), b + int(round(max_gap_s * sample_rate))))
            self.pieces.append((a, b, at))
            at += b - a
        self._starts = [c for _, _, c in self.pieces]

    def audio(self, samples: np.ndarray) -> np.ndarray:
        if not self.pieces:
            return samples[:0]
        return np.concatenate([samples[a:b] for a, b, _ in self.pieces])

    def to_compact(self, t: float) -> float:
        """A time inside one of the pieces, on the compact clock."""
        s = int(round(t * self.rate))
        for a, b, c in self.pieces:
            if a <= s <= b:
                return (c + s - a) / self.rate
        raise ValueError(f"{t:.3f} s lies outside the compacted speech")

    def to_source(self, t: float, end: bool = False) -> float:
        """A compact time on the file's clock; at a seam, `end` picks the earlier piece's end."""
        if not self.pieces:
            return t
        s = t * self.rate
        if abs(s - round(s)) < 1e-6:  # a seam computed in floats lands a hair past it; keep it on the seam
            s = float(round(s))
        i = (bisect.bisect_left if end else bisect.bisect_right)(self._starts, s) - 1
        a, b, c = self.pieces[max(i, 0)]
        return min(a + max(s - c, 0.0), b) / self.rate

    def span_to_source(self, span: tuple[float, float]) -> tuple[float, float]:
        return self.to_source(span[0]), self.to_source(span[1], end=True)

    def word_to_source(self, start: float, end: float) -> tuple[float, float]:
        """A word's compact span on the file's clock.

        A word cannot cross a seam: the silence there was cut out. Yet Whisper's alignment stretches the first
        word after a pause back over the kept silence, and its 20 ms rounding puts a start on a seam a hair before
        it; mapped point by point, such a word would begin up to the whole pause early. The word is kept to the
        piece that holds most of its speech (the later one on a tie, or when only silence is on the other side).
        """
        s0, s1 = start * self.rate, end * self.rate
        first = max(bisect.bisect_right(self._starts, s0) - 1, 0)
        last = max(bisect.bisect_left(self._starts, s1) - 1, first)
        if s1 <= s0:  # no length (on a seam, its end would map a whole pause before its start)
            at = self.to_source(start)
            return at, at
        if last == first:
            return self.to_source(start), self.to_source(end, end=True)

        def speech_in(k: int) -> float:
            return max(0.0, min(s1, self._speech_ends[k]) - max(s0, self._starts[k]))

        k = max(range(first, last + 1), key=lambda k: (speech_in(k), k))
        a, b, c = self.pieces[k]
        inside_start = max(s0, c) / self.rate
        inside_end = min(s1, c + b - a) / self.rate
        return self.to_source(inside_start), self.to_source(inside_end, end=True)
