"""Tighter clips: long pauses between words cut out, and word times moved onto the shorter clock.

A clip keeps a list of frame ranges on its own clock. Only whole frames that lie inside a pause (past a small
margin of silence on each side) are dropped, and audio is cut at the same frame boundaries, so picture and sound
stay in sync to the sample and the output has exactly the kept frames. Pure functions, no ffmpeg.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ai_assets.render.captions import Cue, Word

Spans = tuple[tuple[int, int], ...]  # frame ranges [first, end) kept, in order; () keeps everything


def kept_frames(words: list[Word], frames: int, fps: float, min_pause: float, keep: float) -> Spans:
    """The frames of a clip that stay when pauses between words longer than `min_pause` seconds are cut, `keep`
    seconds of silence left after the word before and before the word after. () when nothing is cut."""
    cuts: list[tuple[int, int]] = []
    spoken_until: float | None = None
    for word in sorted(words, key=lambda w: w.start):
        if spoken_until is not None and word.start - spoken_until > min_pause:
            # Frame i shows [i/fps, (i+1)/fps): it goes only if all of that lies inside the cut.
            first = math.ceil((spoken_until + keep) * fps - 1e-6)
            end = math.floor((word.start - keep) * fps + 1e-6)
            if end > first:
                cuts.append((first, end))
        spoken_until = word.end if spoken_until is None else max(spoken_until, word.end)
    kept, at = [], 0
    for first, end in cuts:
        first, end = max(first, at), min(end, frames)
        if first > at:
            kept.append((at, first))
        at = max(at, end)
    if at < frames:
        kept.append((at, frames))
    return () if kept == [(0, frames)] else tuple(kept)


def kept_count(kept: Spans, frames: int) -> int:
    return sum(end - first for first, end in kept) if kept else frames


def removed_seconds(kept: Spans, frames: int, fps: float) -> float:
    return (frames - kept_count(kept, frames)) / fps


def remap_time(t: float, kept: Spans, fps: float) -> float:
    """A time on the clip's clock on the cut clock. A time inside a removed pause lands on the cut itself."""
    if not kept:
        return t
    frame, before = t * fps, 0
    for first, end in kept:
        if frame < first:
            return before / fps
        if frame <= end:
            return (before + frame - first) / fps
        before += end - first
    return before / fps


def remap_words(words: list[Word], kept: Spans, fps: float) -> list[Word]:
    return [Word(round(remap_time(w.start, kept, fps), 3), round(remap_time(w.end, kept, fps), 3), w.text)
            for w in words]


def remap_cues(cues: list[Cue], kept: Spans, fps: float) -> list[Cue]:
    """Cues grouped on the original clock (a long pause still ends a cue) moved onto the cut clock."""
    return [replace(c, start=round(remap_time(c.start, kept, fps), 3), end=round(remap_time(c.end, kept, fps), 3),
                    words=tuple(remap_words(list(c.words), kept, fps))) for c in cues]


def kept_indices(kept: Spans, frames: int) -> np.ndarray:
    if not kept:
        return np.arange(frames)
    return np.concatenate([np.arange(first, end) for first, end in kept])


def keep_path(path, kept: Spans):
    """A crop path planned per frame of the clip, reduced to the frames that stay (one entry per output frame)."""
    if path is None or not kept:
        return path
    index = kept_indices(kept, len(path.xs))
    return replace(path, xs=path.xs[index], ys=path.ys[index])
