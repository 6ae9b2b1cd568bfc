"""Clip candidates: sentence-aligned spans of 15–60 s, scored by transparent signals.

Each signal lies in [0, 1] and keeps its own column, so a user can see why a clip ranks where it
does and re-weight it in SQL:

- speech_density: the share of the span covered by spoken words (dead air makes weak clips);
- hook: how the first sentence opens: a question (1.0), an exclamation (0.8) or a number (0.6);
- coherence: how tightly the span's sentence windows cluster around their common topic, the mean
  cosine similarity of each window's MiniLM embedding to the span's centroid;
- visual: what the picture offers over the span's keyframes: half the share with a face, a quarter
  motion, a quarter shot changes; averaged with the VLM's visual interest where a VLM described them.
  Its parts keep their own columns (face_share, motion_level, cut_rate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ai_assets.text import Sentence

WEIGHTS = {"speech_density": 0.30, "hook": 0.20, "coherence": 0.35, "visual": 0.15}
# Motion energy (mean absolute grey difference, 0–1) and cuts per minute at which their parts saturate.
FULL_MOTION, FULL_CUTS_PER_MIN = 0.1, 10.0
HOOK_SCORES = {"question": 1.0, "exclamation": 0.8, "number": 0.6}
NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred thousand million billion first second third half percent dozen"
).split()
_NUMBER = re.compile(r"\d|\b(" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class SegmentRules:
    min_seconds: float = 15.0
    max_seconds: float = 60.0
    max_segments: int = 20
    # Two picks may share at most this fraction of the shorter one.
    max_overlap: float = 0.2


def hook_kind(sentence: str) -> str | None:
    text = sentence.strip()
    if text.endswith("?"):
        return "question"
    if text.endswith("!"):
        return "exclamation"
    if _NUMBER.search(text):
        return "number"
    return None


def candidate_spans(items: list[Sentence], rules: SegmentRules) -> list[tuple[int, int]]:
    """Every (first, last) sentence pair whose span lasts between min and max seconds."""
    spans = []
    for a, first in enumerate(items):
        for b in range(a, len(items)):
            duration = items[b].end - first.start
            if duration > rules.max_seconds:
                break
            if duration >= rules.min_seconds:
                spans.append((a, b))
    return spans


def visual_signals(frames: list[dict], start: float, end: float) -> dict:
    """The visual signal and its parts over the keyframes in [start, end); all zero without a picture."""
    inside = [f for f in frames if start <= f["time"] < end]
    if not inside:
        return {"visual": 0.0, "face_share": 0.0, "motion_level": 0.0, "cut_rate": 0.0, "vlm_interest": None}
    face_share = sum(f["faces"] > 0 for f in inside) / len(inside)
    motions = [f["motion"] for f in inside if f["motion"] is not None]
    motion_level = min(1.0, float(np.mean(motions)) / FULL_MOTION) if motions else 0.0
    cuts = len({f["scene"] for f in inside}) - 1
    cut_rate = min(1.0, cuts / ((end - start) / 60.0) / FULL_CUTS_PER_MIN)
    local = 0.5 * face_share + 0.25 * motion_level + 0.25 * cut_rate
    interests = [f["vlm_interest"] for f in inside if f.get("vlm_interest") is not None]
    vlm = float(np.mean(interests)) if interests else None
    return {
        "visual": round(local if vlm is None else (local + vlm) / 2, 4), "face_share": round(face_share, 4),
        "motion_level": round(motion_level, 4), "cut_rate": round(cut_rate, 4), "vlm_interest": vlm,
    }


def rank_segments(
    items: list[Sentence], window_vectors: np.ndarray, rules: SegmentRules = SegmentRules(), frames: list[dict] | None = None
) -> pd.DataFrame:
    """Score every candidate span, then keep the best ones that do not overlap much, ranked.

    `window_vectors[i]` is the unit-norm embedding of the window that starts at sentence i; `frames`
    are the video's visual_analysis rows (none for audio-only media).
    """
    columns = [
        "rank", "start", "end", "duration", "score", *WEIGHTS, "face_share", "motion_level", "cut_rate", "vlm_interest",
        "hook_kind", "first_sentence", "last_sentence", "text",
    ]
    frames = sorted(frames or [], key=lambda f: f["time"])
    spans = candidate_spans(items, rules)
    if not spans:
        return pd.DataFrame(columns=columns)
    if len(window_vectors) != len(items):
        raise ValueError(f"{len(window_vectors)} window embeddings for {len(items)} sentences")
    prefix_vec = np.vstack([np.zeros(window_vectors.shape[1]), np.cumsum(window_vectors, axis=0)])
    prefix_speech = np.concatenate([[0.0], np.cumsum([s.speech_seconds for s in items])])
    hooks = [hook_kind(s.text) for s in items]

    rows = []
    for a, b in spans:
        start, end = items[a].start, items[b].end
        duration = end - start
        n = b - a + 1
        # Mean cosine to the unit centroid equals |sum of unit vectors| / n.
        coherence = float(np.linalg.norm(prefix_vec[b + 1] - prefix_vec[a]) / n)
        visual = visual_signals(frames, start, end)
        signals = {
            "speech_density": float(min(1.0, (prefix_speech[b + 1] - prefix_speech[a]) / duration)),
            "hook": HOOK_SCORES.get(hooks[a], 0.0),
            "coherence": float(np.clip(coherence, 0.0, 1.0)),
            "visual": visual.pop("visual"),
        }
        rows.append(
            {
                "start": start,
                "end": end,
                "duration": round(duration, 3),
                "score": round(sum(WEIGHTS[k] * v for k, v in signals.items()), 4),
                **signals,
                **visual,
                "hook_kind": hooks[a],
                "first_sentence": a,
                "last_sentence": b,
            }
        )
    picked = _pick_non_overlapping(sorted(rows, key=lambda r: (-r["score"], r["start"])), rules)
    for rank, row in enumerate(picked, start=1):
        row["rank"] = rank
        row["text"] = " ".join(s.text for s in items[row["first_sentence"] : row["last_sentence"] + 1])
    return pd.DataFrame(picked, columns=columns)


def _pick_non_overlapping(ordered: list[dict], rules: SegmentRules) -> list[dict]:
    picked: list[dict] = []
    for row in ordered:
        if len(picked) == rules.max_segments:
            break
        if all(_overlap(row, p) <= rules.max_overlap for p in picked):
            picked.append(row)
    return picked


def _overlap(x: dict, y: dict) -> float:
    shared = min(x["end"], y["end"]) - max(x["start"], y["start"])
    return max(0.0, shared) / min(x["duration"], y["duration"])
