"""The geometry of speech regions before decoding: clean (inside the audio, disjoint, not empty), cut to fit a
Whisper window, and packed into chunks."""

from __future__ import annotations

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
