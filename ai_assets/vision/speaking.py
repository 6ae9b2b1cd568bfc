"""Who is speaking: the face whose mouth moves while there is speech.

Each tracked face carries its mouth-region motion between samples (`ai_assets.render.reframe` measures
it on every decoded frame, minus the motion of the upper face, so a nodding head or a camera shake does
not count as talking). During speech the face with clearly the most mouth motion is the speaker. A
change of speaker needs hysteresis: the newcomer must lead by `SWITCH_RATIO` for `MIN_LEAD_SECONDS`.
Because clips are planned offline, the switch is then placed back at the start of that lead (and onto a
diarization turn boundary when one is near), so the cut comes with the turn, not after it. Silence never
switches: the picture stays on the last speaker.

When two people alternate quickly, or talk over each other, the clip is better shown with both faces
stacked (`two_speaker_layout`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Mouth motion is smoothed over this centred window: one word's worth of lip movement.
SMOOTH_SECONDS = 0.4
# A challenger takes over once its smoothed motion exceeds the current speaker's by this ratio ... (tuned with
# MOTION_FLOOR: 1.3 and 1.5 let a fidgeting listener take the picture early, see tests/conversation.py)
SWITCH_RATIO = 2.0
# ... for this long (then the switch is dated back to the start of the lead).
MIN_LEAD_SECONDS = 0.25
# Below this (mean absolute grey-level change per pixel and frame) a mouth is taken to be still. Tuned on
# conversations of GRID speakers 1-5, with still and with fidgeting listeners (0.1-0.4 tried; at 0.2 the crop held
# the speaker for 99-100% of speech, every switch within 0.36 s); benchmarks/vision.py reports on the other six.
MOTION_FLOOR = 0.2
# An utterance up to this long goes to one face as a whole, the one whose mouth moved most over it by this ratio.
UTTERANCE_MAX_SECONDS = 8.0
UTTERANCE_RATIO = 1.2
# A switch within this distance of a diarization turn boundary moves onto it.
TURN_SNAP_SECONDS = 0.5


@dataclass(frozen=True)
class SpeakerShot:
    start: float  # clip seconds
    end: float
    face: int | None  # tracked face id; None: no face to show


def _smooth(values: np.ndarray, times: np.ndarray, seconds: float) -> np.ndarray:
    if len(times) < 2:
        return values.copy()
    step = float(np.median(np.diff(times))) or 1.0
    half = max(0, int(round(seconds / step / 2)))
    if half == 0:
        return values.copy()
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    padded = np.pad(values, (half, half), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def in_regions(times: np.ndarray, regions: list[tuple[float, float]]) -> np.ndarray:
    mask = np.zeros(len(times), dtype=bool)
    for start, end in regions:
        mask |= (times >= start) & (times < end)
    return mask


def choose_speakers(
    times: np.ndarray, motion: dict[int, np.ndarray], sizes: dict[int, np.ndarray],
    speech: list[tuple[float, float]] | None = None, turns: list[tuple[float, float]] | None = None,
    cut_times: list[float] | None = None,
) -> list[SpeakerShot]:
    """Shots of one face each, covering [times[0], times[-1]].

    `motion[id]` is each face's mouth motion at `times` (NaN where the face was not seen), `sizes[id]` its
    height (NaN likewise). `speech` is where someone speaks (None: everywhere), `turns` the diarization turns,
    `cut_times` scene cuts, where a new shot begins anyway.
    """
    if len(times) == 0:
        return []
    end = float(times[-1]) + (float(np.median(np.diff(times))) if len(times) > 1 else 0.0)
    ids = sorted(motion)
    if not ids:
        return [SpeakerShot(float(times[0]), end, None)]
    seen = np.array([~np.isnan(sizes[i]) for i in ids])  # ids x times
    scores = np.array([_smooth(np.nan_to_num(motion[i], nan=0.0), times, SMOOTH_SECONDS) for i in ids])
    scores[~seen] = -1.0  # an unseen face cannot be chosen
    speaking = in_regions(times, speech) if speech is not None else np.ones(len(times), dtype=bool)
    area = np.array([np.nan_to_num(sizes[i], nan=0.0) for i in ids])
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    need = max(1, int(np.ceil(MIN_LEAD_SECONDS / step)))
    cuts = sorted(cut_times or [])

    chosen = np.empty(len(times), dtype=int)
    current = -1
    lead_start: dict[int, int] = {}
    for k in range(len(times)):
        if cuts and any(times[k - 1] < c <= times[k] for c in cuts) and k > 0:
            current = -1  # a new shot: choose afresh
        if current >= 0 and not seen[current, k]:
            current = -1
        if current < 0:
            visible = np.flatnonzero(seen[:, k])
            if len(visible):
                # The face moving its mouth most if anyone speaks, else the biggest.
                active = speaking[k] and scores[visible, k].max() > MOTION_FLOOR
                pick = scores[visible, k] if active else area[visible, k]
                current = int(visible[np.argmax(pick)])
            chosen[k] = current
            lead_start.clear()
            continue
        if speaking[k]:
            for j in np.flatnonzero(seen[:, k]):
                if j == current:
                    continue
                leads = scores[j, k] > max(SWITCH_RATIO * scores[current, k], MOTION_FLOOR)
                if leads:
                    lead_start.setdefault(j, k)
                else:
                    lead_start.pop(j, None)
            ready = [j for j, k0 in lead_start.items() if k - k0 + 1 >= need]
            if ready:
                winner = max(ready, key=lambda j: scores[j, k])
                since = lead_start[winner]
                chosen[since:k] = winner  # offline: the cut goes where the lead began
                current = winner
                lead_start.clear()
        chosen[k] = current

    segments = list(turns) if turns else list(speech or [])
    if segments:
        chosen = _vote_by_utterance(chosen, times, scores, seen, segments)

    shots: list[SpeakerShot] = []
    bounds = [0, *[k for k in range(1, len(times)) if chosen[k] != chosen[k - 1]], len(times)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        start = float(times[a])
        face = ids[chosen[a]] if chosen[a] >= 0 else None
        shots.append(SpeakerShot(start, float(times[b]) if b < len(times) else end, face))
    return _snap_to_turns(shots, turns or [])


def _vote_by_utterance(chosen: np.ndarray, times: np.ndarray, scores: np.ndarray, seen: np.ndarray,
                       segments: list[tuple[float, float]]) -> np.ndarray:
    """Give each utterance (a diarization turn, else speech between pauses) up to UTTERANCE_MAX_SECONDS long to the
    face whose mouth moved most over all of it, by UTTERANCE_RATIO; through the silence after it the picture stays.
    A listener who fidgets can out-move the speaker for a moment, which the running choice has to follow or
    ignore by its ratio; over a whole utterance the speaker's mouth moves more."""
    out = chosen.copy()
    decided = np.zeros(len(times), dtype=bool)
    for start, end in sorted(segments):
        inside = (times >= start) & (times < end)
        if end - start > UTTERANCE_MAX_SECONDS or inside.sum() < 2:
            continue
        means = np.array([scores[j, inside & seen[j]].mean() if (inside & seen[j]).any() else -1.0
                          for j in range(len(scores))])
        order = np.argsort(-means)
        best = int(order[0])
        runner_up = means[order[1]] if len(order) > 1 else 0.0
        if means[best] > MOTION_FLOOR and means[best] >= UTTERANCE_RATIO * max(runner_up, 1e-9) \
                and seen[best, inside].mean() > 0.5:
            out[inside] = best
            decided |= inside
    in_speech = np.zeros(len(times), dtype=bool)
    for start, end in segments:
        in_speech |= (times >= start) & (times < end)
    for k in range(1, len(times)):
        if not in_speech[k] and decided[k - 1] and seen[out[k - 1], k]:
            out[k], decided[k] = out[k - 1], True  # silence after an utterance keeps its face
    return out


def _snap_to_turns(shots: list[SpeakerShot], turns: list[tuple[float, float]]) -> list[SpeakerShot]:
    """Move each switch onto the nearest diarization turn start within TURN_SNAP_SECONDS: the voice changes there."""
    starts = sorted(start for start, _ in turns)
    if not starts or len(shots) < 2:
        return shots
    out = list(shots)
    for i in range(1, len(out)):
        at = out[i].start
        near = min(starts, key=lambda s: abs(s - at))
        if abs(near - at) <= TURN_SNAP_SECONDS and out[i - 1].start < near < out[i].end:
            out[i - 1] = SpeakerShot(out[i - 1].start, near, out[i - 1].face)
            out[i] = SpeakerShot(near, out[i].end, out[i].face)
    return out


def face_at(shots: list[SpeakerShot], t: float) -> int | None:
    for shot in shots:
        if shot.start <= t < shot.end:
            return shot.face
    return shots[-1].face if shots and t >= shots[-1].end else None


def two_speaker_layout(shots: list[SpeakerShot], quick_seconds: float, overlap_share: float,
                       both_speaking: float) -> bool:
    """Stack two faces when the speaker changes quickly (a median turn shorter than `quick_seconds` over at
    least three turns between two faces) or when two faces speak at once for `overlap_share` of the clip
    (`both_speaking`, a share measured by the caller)."""
    faces = [s.face for s in shots if s.face is not None]
    if len(set(faces)) < 2:
        return False
    if both_speaking >= overlap_share:
        return True
    lengths = [s.end - s.start for s in shots if s.face is not None]
    return len(lengths) >= 3 and float(np.median(lengths)) < quick_seconds
