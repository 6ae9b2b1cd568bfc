"""Which language each stretch of speech is in, so a file that switches language is decoded part by part.

Speech is identified in windows of about ID_WINDOW_S with the multilingual model. The encoder gets each
window as it is, not padded to Whisper's 30 s: measured on FLEURS clips 000-004 of three languages, 4 s
windows were identified as well as padded ones (17 of 17) at a twentieth of the cost. Consecutive windows of
one language form a run; runs are decoded separately, each in its own language.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ai_assets.ingest.audio import SAMPLE_RATE

ID_WINDOW_S = 4.0
# Below this the model is not sure of a window's language (seen on the tuning files: 0.25 on one second of quiet
# English, 0.34-0.67 for Welsh on far-field English in AMI trn00); the nearest sure window decides.
SURE_PROBABILITY = 0.8
# Nor of a window shorter than this, however high its probability (seen: "zh" at 0.90 on 0.7 s of AMI trn04).
MIN_SURE_S = 1.5


@dataclass(frozen=True)
class Run:
    """Consecutive speech in one language: its regions (touching windows joined again)."""

    language: str
    probability: float  # speech-weighted mean of the windows' identification probabilities
    regions: tuple[tuple[float, float], ...]

    @property
    def seconds(self) -> float:
        return sum(end - start for start, end in self.regions)


def id_windows(regions: list[tuple[float, float]], window_s: float = ID_WINDOW_S) -> list[tuple[float, float]]:
    """Each region cut into equal windows of about `window_s` (a region shorter than that is one window)."""
    windows: list[tuple[float, float]] = []
    for start, end in regions:
        n = max(1, int((end - start) / window_s + 0.5))
        step = (end - start) / n
        windows += [(start + k * step, start + (k + 1) * step if k < n - 1 else end) for k in range(n)]
    return windows


def identify(model, audio: np.ndarray, spans: list[tuple[float, float]]) -> list[tuple[str, float] | None]:
    """(language, probability) of each span, from the model's encoder over the span alone; None where the
    model could not tell (the span then takes its neighbours' language)."""
    found: list[tuple[str, float] | None] = []
    for start, end in spans:
        try:
            features = model.feature_extractor(audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)])[..., :-1]
            token, probability = model.model.detect_language(model.encode(features[None]))[0][0]
            found.append((token[2:-2], float(probability)))
        except Exception:  # one odd window must not stop the transcript
            found.append(None)
    return found


def language_runs(model, audio: np.ndarray, regions: list[tuple[float, float]], fallback: str = "en") -> list[Run]:
    """The regions (clean: sorted, disjoint) grouped into runs of one language; `fallback` only where no
    window at all could be identified."""
    windows = id_windows(regions)
    labels = filled(identify_sparsely(lambda spans: identify(model, audio, spans), windows), fallback)
    if not any(is_sure(w, label) for w, label in zip(windows, labels, strict=True)):
        # No window is long or clear enough: the speech as a whole decides, as Whisper itself would judge it
        # (the first 30 s of speech, padded to its window).
        overall = whole_speech_language(model, audio, regions) or max(labels, key=lambda x: x[1], default=None)
        labels = [(overall[0], overall[1])] * len(windows) if overall else labels
    return runs_of(windows, smooth(windows, labels), region_starts={start for start, _ in regions})


def identify_sparsely(ask, windows: list[tuple[float, float]]) -> list[tuple[str, float] | None]:
    """The windows' languages, `ask(spans)` identifying a list of spans. Every other window first; a window
    between two sure ones that agree takes their language unheard, any other is identified too. Halves the cost
    on one-language files; a switch that lasts two windows (about 8 s) or more is always heard, a shorter one
    only when a neighbour is unsure."""
    labels: list[tuple[str, float] | None] = [None] * len(windows)
    for i, label in zip(range(0, len(windows), 2), ask(windows[::2]), strict=True):
        labels[i] = label
    gaps = []
    for i in range(1, len(windows), 2):
        before, after = labels[i - 1], labels[i + 1] if i + 1 < len(windows) else None
        if (before and after and before[0] == after[0] and is_sure(windows[i - 1], before)
                and is_sure(windows[i + 1], after)):
            labels[i] = (before[0], min(before[1], after[1]))
        else:
            gaps.append(i)
    for i, label in zip(gaps, ask([windows[i] for i in gaps]), strict=True):
        labels[i] = label
    return labels


def is_sure(window: tuple[float, float], label: tuple[str, float]) -> bool:
    return label[1] >= SURE_PROBABILITY and window[1] - window[0] >= MIN_SURE_S


def whole_speech_language(model, audio: np.ndarray, regions: list[tuple[float, float]]) -> tuple[str, float] | None:
    """The language of the first 30 s of speech, concatenated and padded as Whisper expects."""
    pieces, total = [], 0.0
    for start, end in regions:
        take = min(end - start, 30.0 - total)
        if take <= 0:
            break
        pieces.append(audio[int(start * SAMPLE_RATE) : int((start + take) * SAMPLE_RATE)])
        total += take
    if not pieces:
        return None
    try:
        language, probability, _ = model.detect_language(audio=np.concatenate(pieces))
    except Exception:  # the windows' own guesses stand
        return None
    return language, float(probability)


def filled(labels: list[tuple[str, float] | None], fallback: str) -> list[tuple[str, float]]:
    """Unidentified windows take the language of the nearest identified one before them, else after them."""
    known = [label for label in labels if label is not None]
    if not known:
        return [(fallback, 0.0)] * len(labels)
    out, last = [], None
    for label in labels:
        last = label or last
        out.append(last)
    first = next(label for label in out if label is not None)
    return [label or (first[0], 0.0) for label in out]


def smooth(windows: list[tuple[float, float]], labels: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """A window the model was not sure of (a second of quiet speech, far-field chatter, a cough), or too short
    to be sure of, takes the language of the nearest window it was sure of; with no sure window at all, the
    language that has the most probability over all windows. So the language changes only where the model is
    sure it did."""
    sure = [i for i, (window, label) in enumerate(zip(windows, labels, strict=True)) if is_sure(window, label)]
    if not sure:
        mass: dict[str, float] = {}
        for language, q in labels:
            mass[language] = mass.get(language, 0.0) + q
        overall = max(mass, key=lambda k: mass[k], default=None)
        return [(overall, q) for _, q in labels]
    out = []
    for i, (language, q) in enumerate(labels):
        if i not in sure:
            nearest = min(sure, key=lambda j: (abs(j - i), j > i))
            language = labels[nearest][0]
        out.append((language, q))
    return out


def runs_of(windows: list[tuple[float, float]], labels: list[tuple[str, float]],
        region_starts: set[float] = frozenset()) -> list[Run]:
    """Consecutive windows of one language as runs. Windows of one region join again; windows of two regions
    stay apart even when the regions touch (VAD cuts long speech into touching regions of at most 30 s)."""
    runs: list[Run] = []
    for (start, end), (language, probability) in zip(windows, labels, strict=True):
        if runs and runs[-1].language == language:
            last = runs[-1]
            seconds = last.seconds + end - start
            mean = (last.probability * last.seconds + probability * (end - start)) / seconds
            regions = list(last.regions)
            if regions[-1][1] == start and start not in region_starts:  # the next window of the same region
                regions[-1] = (regions[-1][0], end)
            else:
                regions.append((start, end))
            runs[-1] = Run(language, mean, tuple(regions))
        else:
            runs.append(Run(language, probability, ((start, end),)))
    return runs


def language_shares(runs: list[Run]) -> dict[str, float]:
    """Share of the speech in each language, largest first."""
    total = sum(r.seconds for r in runs) or 1.0
    shares: dict[str, float] = {}
    for run in runs:
        shares[run.language] = shares.get(run.language, 0.0) + run.seconds / total
    return {k: round(v, 4) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}
