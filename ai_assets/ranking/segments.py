"""Ranked clip candidates: sentence-aligned spans scored by named, explainable signals.

Every signal lies in [0, 1] and has its own column, and so does its contribution (weight × value),
so the reason for a rank can be read off the row (the `reason` column spells it out):

- hook: the opening `hook_seconds`: a question (1.0), a bold claim (0.8: an exclamation, or words like
  "never", "secret", "mistake", "here's why"), a number (0.6), or an emotional peak (its intensity);
- emotion: emotional intensity of the span, prosody and words together (0.7 mean, 0.3 peak);
- speech_rate: 1 at a lively 2.3–3.3 words/s, falling to 0 at 1 and 4.8 words/s;
- speaker_dynamics: 0 for one voice; with more, half exchange rate (a change every 15 s counts
  fully) and half balance (the entropy of the speakers' shares);
- visual: faces, motion and cuts over the span's keyframes, averaged with VLM interest if any;
- completeness: does it stand alone: topical coherence, no dangling opener ("and", "but", ...), a
  full stop at the end, starting and ending at a natural boundary (a topic change, a speaker turn,
  a pause), and staying within one chapter;
- speech_density: the share of the span that is speech, not dead air.

A safety flag at or above the policy threshold that overlaps a span keeps it out of the ranking (it
stays in the table, unranked, with `blocked_reason`); below the threshold, the highest flag score
costs `safety_weight` × score. Where the moderation endpoint was configured but could not check a span,
only the lexicon's flags count there, and the segment says `moderation` "unavailable".
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ai_assets.language.safety import UNMODERATED, Flag, blocking_flags, penalty, reason, unmoderated
from ai_assets.language.sentences import SENTENCE_END, Sentence, spaceless
from ai_assets.policy.documents import SegmentPolicy
from ai_assets.storage.tables import MODERATION_UNAVAILABLE, SIGNALS

# Motion energy (mean absolute grey difference, 0–1) and cuts per minute at which their parts saturate.
FULL_MOTION, FULL_CUTS_PER_MIN = 0.1, 10.0
HOOK_SCORES = {"question": 1.0, "bold_claim": 0.8, "number": 0.6}
# An emotional opening counts as a hook from this intensity on.
EMOTIONAL_PEAK = 0.6
NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred thousand million billion first second third half percent dozen"
).split()
_NUMBER = re.compile(r"\d|\b(" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)
CLAIM_WORDS = (
    "never always nobody everyone everybody secret truth mistake mistakes wrong best worst biggest most only "
    "stop myth lie lies surprising shocking insane crazy guaranteed proven"
).split()
_CLAIM = re.compile(r"\b(" + "|".join(CLAIM_WORDS) + r")\b|\bhere's why\b|\bthe reason\b|\byou need to\b",
    re.IGNORECASE)
# Openers that lean on what came before, so a clip starting with one does not stand alone.
DANGLING = {"and", "but", "so", "because", "or", "which", "then", "also", "that", "plus", "anyway"}
# A pause this long before a sentence is a natural place to start a clip.
BOUNDARY_PAUSE_S = 0.8
IDEAL_RATE = (2.3, 3.3)
RATE_LIMITS = (1.0, 4.8)
EXCHANGE_S = 15.0


@dataclass
class Evidence:
    """What the upstream assets know about one video, as plain rows."""

    window_vectors: np.ndarray
    frames: list[dict] = field(default_factory=list)  # visual_analysis rows
    emotions: list[dict] = field(default_factory=list)  # emotion rows: start, end, intensity
    turns: list[dict] = field(default_factory=list)  # diarization rows: start, end, speaker
    chapter_starts: list[float] = field(default_factory=list)
    flags: list[dict] = field(default_factory=list)  # safety rows: start, end, category, score, text


COLUMNS = [
    "platform", "rank", "start", "end", "duration", "score",
    *(c for s in SIGNALS for c in (s, f"{s}_contrib")), "safety", "safety_contrib",
    "coherence", "face_share", "motion_level", "cut_rate", "vlm_interest", "hook_kind", "speakers", "chapter",
    "starts_on_boundary", "ends_on_boundary", "first_sentence", "last_sentence", "reason", "blocked_reason",
    "moderation", "text",
]


def hook_kind(text: str) -> str | None:
    """What kind of hook an opening is, by the strongest cue: question, bold claim, number."""
    stripped = text.strip()
    if stripped.endswith("?"):
        return "question"
    if stripped.endswith("!") or _CLAIM.search(stripped):
        return "bold_claim"
    if _NUMBER.search(stripped):
        return "number"
    return None


def candidate_spans(items: list[Sentence], min_seconds: float, max_seconds: float) -> list[tuple[int, int]]:
    """Every (first, last) sentence pair whose span lasts between min and max seconds."""
    spans = []
    for a, first in enumerate(items):
        for b in range(a, len(items)):
            duration = items[b].end - first.start
            if duration > max_seconds:
                break
            if duration >= min_seconds:
                spans.append((a, b))
    return spans


def visual_signals(frames: list[dict], start: float, end: float) -> dict:
    """The visual signal and its parts over time-sorted keyframes in [start, end); all zero without a picture."""
    times = [f["time"] for f in frames]
    inside = frames[bisect.bisect_left(times, start) : bisect.bisect_left(times, end)]
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


def rate_score(words_per_second: float) -> float:
    low, high = RATE_LIMITS
    lo_ideal, hi_ideal = IDEAL_RATE
    if words_per_second <= low or words_per_second >= high:
        return 0.0
    if words_per_second < lo_ideal:
        return (words_per_second - low) / (lo_ideal - low)
    if words_per_second > hi_ideal:
        return (high - words_per_second) / (high - hi_ideal)
    return 1.0


def dynamics_score(turns: list[dict], start: float, end: float) -> tuple[float, int]:
    """Speaker dynamics in [0, 1] and the number of voices heard in [start, end)."""
    seconds: dict[str, float] = {}
    order: list[str] = []
    for turn, shared in overlap_seconds(turns, start, end):
        seconds[turn["speaker"]] = seconds.get(turn["speaker"], 0.0) + shared
        if not order or order[-1] != turn["speaker"]:
            order.append(turn["speaker"])
    if len(seconds) < 2:
        return 0.0, len(seconds)
    shares = np.array(list(seconds.values())) / sum(seconds.values())
    balance = float(-(shares * np.log(shares)).sum() / math.log(len(shares)))
    exchange = min(1.0, (len(order) - 1) * EXCHANGE_S / max(end - start, 1e-6))
    return 0.5 * exchange + 0.5 * balance, len(seconds)


def overlap_seconds(rows: list[dict], start: float, end: float) -> list[tuple[dict, float]]:
    """Rows overlapping [start, end), in order, with the seconds they share."""
    return [(r, min(end, r["end"]) - max(start, r["start"])) for r in rows
        if min(end, r["end"]) > max(start, r["start"])]


class Timeline:
    """Timed rows sorted by start, so the ones overlapping a span are found by bisection, not a scan."""

    def __init__(self, rows: list[dict]):
        self.rows = sorted(rows, key=lambda r: r["start"])
        self.starts = [r["start"] for r in self.rows]
        self.longest = max((r["end"] - r["start"] for r in self.rows), default=0.0)

    def overlapping(self, start: float, end: float) -> list[tuple[dict, float]]:
        near = self.rows[bisect.bisect_left(self.starts, start - self.longest) : bisect.bisect_left(self.starts, end)]
        return overlap_seconds(near, start, end)


class _Video:
    """Per-sentence facts computed once, shared by every candidate span and platform."""

    def __init__(self, items: list[Sentence], words: list[dict], evidence: Evidence, policy: SegmentPolicy):
        self.items, self.policy, self.evidence = items, policy, evidence
        self.frames = sorted(evidence.frames, key=lambda f: f["time"])
        vectors = evidence.window_vectors
        self.prefix_vec = np.vstack([np.zeros(vectors.shape[1]), np.cumsum(vectors, axis=0)])
        self.prefix_speech = np.concatenate([[0.0], np.cumsum([s.speech_seconds for s in items])])
        self.prefix_words = np.concatenate([[0], np.cumsum([s.word_count for s in items])])
        self.turns, self.emotions = Timeline(evidence.turns), Timeline(evidence.emotions)
        self.word_starts = [w["start"] for w in words]
        self.sentence_starts = [s.start for s in items]
        self.speakers = [self._speaker(s) for s in items]
        self.intensity = [self._intensity(s) for s in items]
        durations = [max(s.end - s.start, 1e-3) for s in items]
        self.prefix_intensity = np.concatenate([[0.0],
            np.cumsum([i * d for i, d in zip(self.intensity, durations, strict=True)])])
        self.prefix_duration = np.concatenate([[0.0], np.cumsum(durations)])
        self.chapter_of = [bisect.bisect_right(evidence.chapter_starts, s.start + 1e-3) - 1 for s in items]
        self.boundary_start = [self._starts_naturally(i) for i in range(len(items))]
        self.hooks = [self._hook(i, words) for i in range(len(items))]
        self.flags = Timeline(evidence.flags)

    def _speaker(self, sentence: Sentence) -> str | None:
        found = self.turns.overlapping(sentence.start, sentence.end)
        return max(found, key=lambda x: x[1])[0]["speaker"] if found else None

    def _intensity(self, sentence: Sentence) -> float:
        found = self.emotions.overlapping(sentence.start, sentence.end)
        total = sum(o for _, o in found)
        return float(sum(r["intensity"] * o for r, o in found) / total) if total > 0 else 0.0

    def _starts_naturally(self, i: int) -> bool:
        if i == 0:
            return True
        previous, sentence = self.items[i - 1], self.items[i]
        if sentence.start - previous.end >= BOUNDARY_PAUSE_S:
            return True
        if self.chapter_of[i] != self.chapter_of[i - 1]:
            return True
        return (
            self.speakers[i] is not None
            and self.speakers[i - 1] is not None
            and self.speakers[i] != self.speakers[i - 1]
        )

    def _hook(self, i: int, words: list[dict]) -> tuple[float, str | None]:
        """Hook strength and kind of a clip that starts at sentence i."""
        start = self.items[i].start
        limit = start + self.policy.hook_seconds
        first_word, after = (bisect.bisect_left(self.word_starts, t) for t in (start - 1e-3, limit))
        opening = " ".join(w["word"].strip() for w in words[first_word:after])
        first = self.items[i].text.strip()
        # A question counts when it is asked early, not when its question mark arrives late.
        kind = (
            "question"
            if first.endswith("?") and self.items[i].end <= start + 2 * self.policy.hook_seconds
            else hook_kind(opening.rstrip("?"))
        )
        score = HOOK_SCORES.get(kind, 0.0)
        opened = bisect.bisect_left(self.sentence_starts, limit)
        peak = max(self.intensity[i:opened], default=0.0)
        if peak >= EMOTIONAL_PEAK and peak > score:
            return round(peak, 4), "emotional_peak"
        return score, kind

    def signals(self, a: int, b: int) -> dict:
        items = self.items
        start, end = items[a].start, items[b].end
        duration = end - start
        n = b - a + 1
        coherence = float(np.clip(np.linalg.norm(self.prefix_vec[b + 1] - self.prefix_vec[a]) / n, 0.0, 1.0))
        first_word = items[a].text.strip().split(" ")[0].strip(",.;:!?\"'").lower()
        clean_start = first_word not in DANGLING
        clean_end = items[b].text.rstrip().endswith(SENTENCE_END)
        ends_naturally = b == len(items) - 1 or self.boundary_start[b + 1]
        one_chapter = self.chapter_of[a] == self.chapter_of[b]
        completeness = (0.35 * coherence + 0.15 * clean_start + 0.15 * clean_end + 0.1 * self.boundary_start[a]
                        + 0.1 * ends_naturally + 0.15 * one_chapter)
        mean_intensity = (self.prefix_intensity[b + 1] - self.prefix_intensity[a]) / (
            self.prefix_duration[b + 1] - self.prefix_duration[a]
        )
        emotion = 0.7 * mean_intensity + 0.3 * max(self.intensity[a : b + 1])
        dynamics, speakers = dynamics_score([t for t, _ in self.turns.overlapping(start, end)], start, end)
        visual = visual_signals(self.frames, start, end)
        hook, kind = self.hooks[a]
        values = {
            "hook": hook,
            "emotion": emotion,
            "speech_rate": rate_score((self.prefix_words[b + 1] - self.prefix_words[a]) / duration),
            "speaker_dynamics": dynamics,
            "visual": visual.pop("visual"),
            "completeness": completeness,
            "speech_density": min(1.0, (self.prefix_speech[b + 1] - self.prefix_speech[a]) / duration),
        }
        return {
            "start": start, "end": end, "duration": round(duration, 3),
            **{k: round(float(np.clip(v, 0.0, 1.0)), 4) for k, v in values.items()},
            "coherence": round(coherence, 4), **visual, "hook_kind": kind, "speakers": speakers,
            "chapter": self.chapter_of[a] if self.evidence.chapter_starts else None,
            "starts_on_boundary": bool(self.boundary_start[a]), "ends_on_boundary": bool(ends_naturally),
            "first_sentence": a, "last_sentence": b,
        }


def score_row(values: dict, flags: Timeline, policy: SegmentPolicy) -> dict:
    """Contributions, safety, score, and the readable reason for one candidate's signal values."""
    row = dict(values)
    for name in SIGNALS:
        row[f"{name}_contrib"] = round(policy.weights[name] * values[name], 4)
    start, end = values["start"], values["end"]
    found = [Flag(f["start"], f["end"], f["category"], f["score"], f["text"], f.get("source", "")) for f,
        _ in flags.overlapping(start, end)]
    hits = [f for f in found if f.category != UNMODERATED]
    row["moderation"] = MODERATION_UNAVAILABLE if unmoderated(found, start, end) else None
    below = [f for f in hits if f.score < policy.safety_threshold]
    row["safety"] = round(penalty(hits, start, end), 4)
    row["safety_contrib"] = round(-policy.safety_weight * penalty(below, start, end), 4)
    row["score"] = round(sum(row[f"{s}_contrib"] for s in SIGNALS) + row["safety_contrib"], 4)
    row["blocked_reason"] = reason(blocking_flags(hits, start, end, policy.safety_threshold)[:3]) or None
    row["reason"] = explain(row, below)
    return row


def explain(row: dict, flags_below: list[Flag]) -> str:
    """e.g. `0.62 = completeness .27 + hook .20 (question) + emotion .08 + speech_rate .05 + 2 more .02`."""
    parts = sorted(((row[f"{s}_contrib"], s) for s in SIGNALS), reverse=True)
    named = []
    for contrib, name in parts[:4]:
        if contrib < 0.005:
            break
        label = f"{name} {_decimal(contrib)}"
        if name == "hook" and row.get("hook_kind"):
            label += f" ({row['hook_kind'].replace('_', ' ')})"
        named.append(label)
    rest = [c for c, _ in parts[len(named):] if c > 0]
    text = f"{row['score']:.2f} = " + (" + ".join(named) or "0")
    if rest:
        text += f" + {len(rest)} more {_decimal(sum(rest))}"
    if row["safety_contrib"] < 0:
        worst = max(flags_below, key=lambda f: f.score)
        text += f" − safety {_decimal(-row['safety_contrib'])} ({worst.category})"
    return text


def _decimal(value: float) -> str:
    return f"{value:.2f}".removeprefix("0")


def rank_segments(items: list[Sentence], words: list[dict], evidence: Evidence, policy: SegmentPolicy) -> pd.DataFrame:
    """For each platform, the top-K candidates whose lengths fit it (K grows with the length of the speech: see
    `SegmentPolicy.ranked_for`), deduplicated in time (`max_overlap`) and in wording (`max_repeat`), best first;
    candidates a safety flag blocks are kept unranked with their reason, for review."""
    if not items:
        return pd.DataFrame(columns=COLUMNS)
    if len(evidence.window_vectors) != len(items):
        raise ValueError(f"{len(evidence.window_vectors)} window embeddings for {len(items)} sentences")
    video = _Video(items, words, evidence, policy)
    top_k = policy.ranked_for(items[-1].end)  # more for long videos
    @functools.cache
    def said(first: int, last: int) -> frozenset:
        return wording(" ".join(s.text for s in items[first : last + 1]))

    def repeats(x: dict, y: dict) -> bool:
        # Words said again at another time, or the same opening: two clips that start with the same words hook the
        # same way. Candidates that share sentences are judged by their overlap in time (max_overlap) alone.
        if policy.max_repeat >= 1.0 or (x["first_sentence"] <= y["last_sentence"]
                                        and y["first_sentence"] <= x["last_sentence"]):
            return False
        firsts = said(x["first_sentence"], x["first_sentence"]), said(y["first_sentence"], y["first_sentence"])
        whole = said(x["first_sentence"], x["last_sentence"]), said(y["first_sentence"], y["last_sentence"])
        return _repeat(*whole) > policy.max_repeat or (
            min(map(len, firsts)) >= MIN_OPENING_PHRASES and _repeat(*firsts) > SAME_OPENING)

    scored: dict[tuple[int, int], dict] = {}
    rows: list[dict] = []
    for platform, rule in policy.platforms.items():
        candidates = []
        for span in candidate_spans(items, rule.min_seconds, rule.max_seconds):
            if span not in scored:
                scored[span] = score_row(video.signals(*span), video.flags, policy)
            candidates.append(scored[span])
        ordered = sorted(candidates, key=lambda r: (-r["score"], r["start"]))
        ranked, blocked = [], []
        for row in ordered:
            if len(ranked) == top_k:
                break
            keep = blocked if row["blocked_reason"] else ranked
            if len(keep) < top_k and not any(
                _overlap(row, p) > policy.max_overlap or repeats(row, p) for p in keep
            ):
                keep.append(row)
        for rank, row in enumerate(ranked, start=1):
            rows.append({**row, "platform": platform, "rank": rank})
        rows.extend({**row, "platform": platform, "rank": None} for row in blocked)
    for row in rows:
        row["text"] = " ".join(s.text for s in items[row["first_sentence"] : row["last_sentence"] + 1])
    return pd.DataFrame(rows, columns=COLUMNS)


# Two candidates whose first sentences share more than this of their wording open the same way; a first sentence of
# fewer three-word phrases ("So.", "Thank you very much.") opens many a passage and says nothing about a repeat.
SAME_OPENING = 0.8
MIN_OPENING_PHRASES = 3


def wording(text: str) -> frozenset[tuple[str, ...]]:
    """The three-word phrases of a text, in lower case without punctuation (a one- or two-word text is its
    one phrase; in scripts without spaces a character is a word): what two takes of the same words share, however
    Whisper punctuated each."""
    tokens = [piece for run in re.findall(r"[\w']+", text.lower())
              for piece in (list(run) if spaceless(run[0]) else [run])]  # Chinese and Japanese: by character
    if len(tokens) < 3:
        return frozenset([tuple(tokens)]) if tokens else frozenset()
    return frozenset(zip(tokens, tokens[1:], tokens[2:], strict=False))


def _repeat(x: frozenset, y: frozenset) -> float:
    """The share of the smaller wording that the other has too."""
    if not x or not y:
        return 0.0
    return len(x & y) / min(len(x), len(y))


def _overlap(x: dict, y: dict) -> float:
    shared = min(x["end"], y["end"]) - max(x["start"], y["start"])
    return max(0.0, shared) / min(x["duration"], y["duration"])
