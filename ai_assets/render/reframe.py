"""Reframing a landscape shot for a narrower frame: follow the face, smoothly.

A face track is sampled a few times a second with OpenCV. The crop centre then follows it as a
critically damped spring toward a goal that only moves when the face leaves a dead zone, so
detector noise and small head movements never move the picture. At a scene cut the crop jumps with
the picture, where a jump is invisible. Jitter is the mean absolute crop-centre velocity in output
pixels per second, cut frames excluded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path

import numpy as np

# Frames are downscaled to this width before detection: faces a tenth of a 1080p frame stay detectable.
DETECT_WIDTH = 480
# With no face in view (slides, a screen, scenery), searching every sample is most of a render's cost, so the search
# backs off until a face or a cut: after QUIET_S of nothing the frame-tall squares run on every other sample, and the
# slower whole-frame search for small faces waits 1 s, then 2 s, then at most SMALL_SEARCH_MAX_GAP_S between runs.
QUIET_S = 1.0
SMALL_SEARCH_GAP_S = 1.0
SMALL_SEARCH_MAX_GAP_S = 4.0
# While one face is followed, most samples search only the square around it (one detector run, not a frame's
# two or more); the whole frame is searched at least this often, so a second person is seen within it.
FULL_SEARCH_S = 1.0


@dataclass(frozen=True)
class SeenFace:
    """One tracked face at one sample: its id through the shot, box centre and height in source pixels, and how
    much its mouth moved since the previous sample (grey levels per pixel and frame, head motion taken out)."""

    id: int
    cx: float
    cy: float
    h: float
    motion: float = 0.0


@dataclass(frozen=True)
class FaceSample:
    time: float  # seconds on the clip's clock
    cx: float | None  # the followed face's centre in source pixels, None when no face was found
    cy: float | None
    size: float = 0.0  # its height in source pixels
    faces: tuple[SeenFace, ...] = ()  # every face seen at this sample
    face: int | None = None  # which of them is followed
    switch_at: float | None = None  # the followed speaker changed at this clip time, since the previous sample


@dataclass(frozen=True)
class CropPath:
    width: int  # crop size in source pixels
    height: int
    xs: np.ndarray  # crop left edge for every output frame
    ys: np.ndarray
    jitter: float  # mean |crop-centre velocity|, output pixels per second
    faces_found: int
    face_coverage: float  # share of track samples with a face


def crop_size(src_w: int, src_h: int, aspect_w: int, aspect_h: int) -> tuple[int, int]:
    """The largest crop of the target aspect inside the source, with even sides."""
    if src_w * aspect_h > src_h * aspect_w:
        height = src_h - src_h % 2
        width = min(src_w, round(height * aspect_w / aspect_h))
    else:
        width = src_w - src_w % 2
        height = min(src_h, round(width * aspect_h / aspect_w))
    return width - width % 2, height - height % 2


def track_faces(video: Path, start: float, end: float, track_fps: float, detector: str = "blazeface",
                cut_times: list[float] = (), frame_size: tuple[int, int] | None = None) -> list[FaceSample]:
    """Every face at `track_fps` over [start, end), with ids through each shot (cut_times on the clip clock) and,
    while two or more faces are in view, their mouth motion measured on every frame between samples. Each sample
    follows the largest face, preferring the one followed before; `follow_speakers` may then pick another. While
    no face is in view the search backs off (see QUIET_S); every sample is still reported.

    Positions are in the source's shown pixels; with `frame_size` (the probed width, height), frames of another size
    (a stream that changes resolution) are placed as the render fits them into it (`encode.fitted`), and a change of
    size counts as a cut."""
    import av

    from ai_assets.ingest.source_video import (
        clock_origin,
        frames_from,
        picture_stream,
        pixel_shape,
        quarter_turns,
        upright,
    )
    from ai_assets.vision.faces import FaceTracker, detect_faces

    samples: list[FaceSample] = []
    step = 1.0 / track_fps
    next_t = 0.0
    tracker = FaceTracker()
    live: list[tuple[int, object]] = []  # (id, Face) at the last sample, in detection pixels
    motion: dict[int, list[float]] = {}
    previous_gray: np.ndarray | None = None
    followed: int | None = None
    last_small = last_full = -np.inf
    small_misses = 0  # whole-frame small-face searches that found nothing since the last face or cut
    quiet_since = 0.0  # when the view last became empty of faces (None while a face is in view)
    skipped = False  # whether the previous sample was left out while nothing was in view
    cuts = sorted(cut_times)
    shape = None  # the upright shown size of the frames being tracked
    with av.open(str(video)) as container:
        stream = picture_stream(container)
        stream.thread_type = "AUTO"
        origin = clock_origin(container)  # clip times count from the file's start, as ffmpeg's do
        widen = pixel_shape(stream)
        # A damaged packet costs its frame, not the clip; an MPEG-TS seek that lands late is made again earlier.
        for frame in frames_from(container, stream, origin + start, []):
            if frame.time is None or frame.time - origin < start - 1e-3:
                continue
            t = frame.time - origin - start
            if frame.time - origin >= end:
                break
            shown_width = frame.width * widen  # square pixels, as the render makes them
            scale = DETECT_WIDTH / shown_width if shown_width > DETECT_WIDTH else 1.0
            size = {"width": round(shown_width * scale) // 2 * 2, "height": round(frame.height * scale) // 2 * 2}
            turns = quarter_turns(frame)
            shown = (shown_width, frame.height) if turns % 2 == 0 else (frame.height, shown_width)
            if shown != shape:
                if shape is not None:  # the stream changed resolution: old positions mean nothing in the new frames
                    cuts = sorted([*cuts, t])
                    live, previous_gray = [], None
                shape = shown
                place = _placement(shown, frame_size)
            sampling = t + 1e-6 >= next_t
            if not sampling and len(live) < 2:
                previous_gray = None  # mouth motion is only needed to tell two faces apart
                continue
            # As shown (a phone's portrait video is stored on its side): the crop is placed on ffmpeg's upright frames.
            # The same conversion on every frame: a different grey at sample frames would read as motion.
            gray = upright(frame.to_ndarray(format="gray", **size), turns)
            if previous_gray is not None and len(live) >= 2:
                for face_id, face in live:
                    motion.setdefault(face_id, []).append(_mouth_motion(previous_gray, gray, face))
            previous_gray = gray
            if not sampling:
                continue
            next_t += step * max(1, int((t - next_t) / step) + 1)
            if any(samples and samples[-1].time < c <= t for c in cuts):
                tracker.reset()
                followed = None
                last_small, last_full, small_misses, quiet_since, skipped = -np.inf, -np.inf, 0, t, False
            sx = shown_width / size["width"] * place[0]
            quiet = not live and quiet_since is not None and t - quiet_since >= QUIET_S
            if quiet and not skipped:
                # Nothing in view for a while: this sample is taken as empty without a search (see QUIET_S).
                skipped = True
                motion.clear()
                samples.append(FaceSample(round(t, 3), None, None, 0.0, (), None))
                followed = None
                continue
            skipped = False
            # Small faces (a wide shot of a stage) are followed by searching around where they were; the search of
            # the whole frame for them takes several detector runs, so it runs at most once a second, less often
            # while it keeps finding nothing.
            small = not live and t - last_small >= min(SMALL_SEARCH_GAP_S * 2 ** small_misses, SMALL_SEARCH_MAX_GAP_S)
            if small:
                last_small = t
            near_only = len(live) == 1 and t - last_full < FULL_SEARCH_S
            if not near_only:
                last_full = t
            image = upright(frame.to_ndarray(format="bgr24", **size), turns)
            live = tracker.update(t, detect_faces(image, detector, small_faces=small, near=[f for _, f in live],
                                                  near_only=near_only))
            if live:
                small_misses, quiet_since = 0, None
            else:
                small_misses += small
                quiet_since = t if quiet_since is None else quiet_since
            seen = tuple(SeenFace(i, (f.x + f.w / 2) * sx + place[1], (f.y + f.h / 2) * sx + place[2], f.h * sx,
                                  round(float(np.mean(motion[i])), 3) if motion.get(i) else 0.0) for i, f in live)
            motion.clear()
            pick = _pick_face(seen, followed)
            followed = pick.id if pick else None
            samples.append(FaceSample(round(t, 3), pick.cx if pick else None, pick.cy if pick else None,
                                      pick.h if pick else 0.0, seen, followed))
    return samples


def _placement(shown: tuple[int, int], frame_size: tuple[int, int] | None) -> tuple[float, float, float]:
    """(scale, left, top) that put a frame shown at `shown` where the render's fit puts it in `frame_size`: scaled to
    fit, centred. (1, 0, 0) for frames of that size, or without one."""
    if not frame_size or tuple(shown) == tuple(frame_size):
        return 1.0, 0.0, 0.0
    scale = min(frame_size[0] / shown[0], frame_size[1] / shown[1])
    return scale, (frame_size[0] - shown[0] * scale) / 2, (frame_size[1] - shown[1] * scale) / 2


def _mouth_motion(before: np.ndarray, after: np.ndarray, face) -> float:
    """Mean absolute change in the mouth region, less that of the upper face (a moving head or camera moves
    both; a talking mouth only the lower one)."""
    x, y, w, h = face.mouth_box()
    upper = (round(face.x + face.w * 0.2), round(face.y + face.h * 0.1), max(2, round(face.w * 0.6)),
             max(2, round(face.h * 0.3)))

    def change(box) -> float:
        bx, by, bw, bh = box
        bx, by = max(0, bx), max(0, by)
        a = before[by : by + bh, bx : bx + bw].astype(np.int16)
        b = after[by : by + bh, bx : bx + bw].astype(np.int16)
        return float(np.abs(a - b).mean()) if a.size and a.shape == b.shape else 0.0

    return max(0.0, change((x, y, w, h)) - change(upper))


def _pick_face(faces: tuple[SeenFace, ...], followed: int | None) -> SeenFace | None:
    if not faces:
        return None
    same = [f for f in faces if f.id == followed]
    largest = max(f.h for f in faces)
    if same and same[0].h >= 0.5 * largest:
        return same[0]  # continuity: the same person unless someone much bigger appears
    return max(faces, key=lambda f: f.h)


def follow_speakers(samples: list[FaceSample], speech: list[tuple[float, float]] | None,
                    turns: list[tuple[float, float]] | None, cut_times: list[float]) -> tuple[list[FaceSample], list]:
    """Follow the speaking face instead of the largest one where two or more faces are seen; returns the samples
    with the followed face replaced and the speaker shots (`ai_assets.vision.speaking.SpeakerShot`)."""
    from ai_assets.vision.speaking import choose_speakers, face_at

    ids = sorted({f.id for s in samples for f in s.faces})
    if len(ids) < 2:
        return samples, []
    times = np.array([s.time for s in samples])
    motion = {i: np.full(len(samples), np.nan) for i in ids}
    sizes = {i: np.full(len(samples), np.nan) for i in ids}
    for k, sample in enumerate(samples):
        for f in sample.faces:
            motion[f.id][k], sizes[f.id][k] = f.motion, f.h
    shots = choose_speakers(times, motion, sizes, speech, turns, cut_times)
    switches = [shot.start for shot in shots[1:]]
    out, previous_time = [], -np.inf
    for sample in samples:
        face_id = face_at(shots, sample.time)
        pick = next((f for f in sample.faces if f.id == face_id), None)
        switch = next((t for t in switches if previous_time < t <= sample.time), None)
        previous_time = sample.time
        if pick:
            sample = replace(sample, cx=pick.cx, cy=pick.cy, size=pick.h, face=pick.id)
        out.append(replace(sample, switch_at=switch))
    return out, shots


def _targets(samples: list[FaceSample], times: np.ndarray, default: float, axis: str,
        cut_times: list[float]) -> np.ndarray:
    """Face position at each output time: linear between detections of the same shot, held across gaps
    and at the ends. A shot without any detection keeps the previous shot's last position."""
    found = [(s.time, getattr(s, axis)) for s in samples if getattr(s, axis) is not None]
    if not found:
        return np.full(len(times), default)
    bounds = [-np.inf, *sorted(cut_times), np.inf]
    out = np.empty(len(times))
    last = found[0][1]
    for lo, hi in pairwise(bounds):
        in_shot = (times >= lo) & (times < hi)
        shot = [(t, v) for t, v in found if lo <= t < hi]
        if shot:
            t, v = np.array(shot).T
            out[in_shot] = np.interp(times[in_shot], t, v)
            last = v[-1]
        else:
            out[in_shot] = last
    return out


def follow(
    targets: np.ndarray, fps: float, lo: float, hi: float, dead_zone: float, ease_seconds: float, max_speed: float,
    cut_frames: set[int]
) -> np.ndarray:
    """Crop-centre positions that ease toward `targets` (all in source pixels), clamped to [lo, hi].

    The goal moves to the target only once the target leaves the dead zone around it, and keeps
    tracking until the crop has caught up; then it rests again.
    """
    omega = 2.0 / ease_seconds  # critically damped: no overshoot, settles in about 2 time constants
    dt = 1.0 / fps
    out = np.empty(len(targets))
    pos = goal = float(np.clip(targets[0], lo, hi)) if len(targets) else 0.0
    velocity, chasing = 0.0, False
    for i, target in enumerate(np.clip(targets, lo, hi)):
        if i in cut_frames:
            pos = goal = float(target)
            velocity, chasing = 0.0, False
        else:
            if abs(target - goal) > dead_zone:
                chasing = True
            if chasing:
                goal = float(target)
                if abs(goal - pos) < dead_zone * 0.25:
                    chasing = False
            accel = omega * omega * (goal - pos) - 2.0 * omega * velocity
            velocity = float(np.clip(velocity + accel * dt, -max_speed, max_speed))
            pos = float(np.clip(pos + velocity * dt, lo, hi))
            if pos in (lo, hi):
                velocity = 0.0
        out[i] = pos
    return out


def jitter(centres: np.ndarray, fps: float, scale: float, cut_frames: set[int]) -> float:
    """Mean absolute crop-centre velocity in output pixels per second, ignoring the jumps at cuts."""
    if len(centres) < 2:
        return 0.0
    steps = np.abs(np.diff(centres)) * fps * scale
    keep = [i for i in range(len(steps)) if i + 1 not in cut_frames]
    return float(steps[keep].mean()) if keep else 0.0


def plan_crop(
    samples: list[FaceSample], src_w: int, src_h: int, aspect: tuple[int, int], out_width: int, fps: float, frames: int,
    cut_times: list[float], dead_zone: float, ease_seconds: float, max_speed: float,
) -> CropPath:
    """Per-frame crop window for one clip. `dead_zone` is a share of the crop width, `max_speed` of the source width per
    second."""
    width, height = crop_size(src_w, src_h, *aspect)
    times = np.arange(frames) / fps
    cut_frames = {round(t * fps) for t in cut_times if 0 < t * fps < frames}
    paths = {}
    for axis, crop, size in (("cx", width, src_w), ("cy", height, src_h)):
        if crop >= size:
            paths[axis] = np.full(frames, size / 2)
            continue
        targets = _targets(samples, times, size / 2, axis, [c / fps for c in sorted(cut_frames)])
        paths[axis] = follow(targets, fps, crop / 2, size - crop / 2, dead_zone * crop, ease_seconds,
            max_speed * src_w, cut_frames)
    scale = out_width / width
    motion = jitter(paths["cx"], fps, scale, cut_frames) + jitter(paths["cy"], fps, scale, cut_frames)
    found = sum(s.cx is not None for s in samples)
    return CropPath(
        width, height, np.round(paths["cx"] - width / 2).astype(int), np.round(paths["cy"] - height / 2).astype(int),
        round(motion, 3), found, round(found / len(samples), 3) if samples else 0.0,
    )


def speech_regions(words: list[dict], gap: float = 0.3) -> list[tuple[float, float]]:
    """Where someone speaks, from word timestamps (source seconds): words closer than `gap` join up."""
    regions: list[list[float]] = []
    for w in sorted(words, key=lambda w: w["start"]):
        if regions and w["start"] - regions[-1][1] <= gap:
            regions[-1][1] = max(regions[-1][1], w["end"])
        else:
            regions.append([w["start"], w["end"]])
    return [(a, b) for a, b in regions]


def stacked_pair(samples: list[FaceSample], layout: str, quick_turn_seconds: float, overlap_share: float,
                 min_height: float = 0.0) -> tuple[SeenFace, SeenFace] | None:
    """The two faces to stack (left one first, at their median place), or None to follow one face. Both must be
    in view for at least half of the clip, and at least `min_height` pixels tall (smaller ones would be blown up
    into a blur)."""
    from collections import Counter

    from ai_assets.vision.speaking import MOTION_FLOOR, SpeakerShot, two_speaker_layout

    if layout == "active_speaker" or not samples:
        return None
    counts = Counter(f.id for s in samples for f in s.faces)
    ids = [i for i, n in counts.most_common(2) if n >= 0.5 * len(samples)]
    if len(ids) < 2:
        return None
    if layout == "auto":
        shots, talking, both = [], 0, 0
        for sample in samples:
            if sample.face is not None:  # a dropped detection does not split a speaker's turn
                if shots and shots[-1].face == sample.face:
                    shots[-1] = SpeakerShot(shots[-1].start, sample.time, sample.face)
                else:
                    if shots:  # a shot lasts until the next one starts
                        shots[-1] = SpeakerShot(shots[-1].start, sample.time, shots[-1].face)
                    shots.append(SpeakerShot(sample.time, sample.time, sample.face))
            moving = sum(f.motion > MOTION_FLOOR for f in sample.faces if f.id in ids)
            talking += moving >= 1
            both += moving >= 2
        share = both / talking if talking else 0.0
        if shots:  # the last shot runs to the end of the samples
            step = samples[1].time - samples[0].time if len(samples) > 1 else 0.0
            shots[-1] = SpeakerShot(shots[-1].start, samples[-1].time + step, shots[-1].face)
        if not two_speaker_layout(shots, quick_turn_seconds, overlap_share, share):
            return None
    pair = []
    for face_id in ids:
        seen = [f for s in samples for f in s.faces if f.id == face_id]
        pair.append(SeenFace(face_id, float(np.median([f.cx for f in seen])), float(np.median([f.cy for f in seen])),
                             float(np.median([f.h for f in seen]))))
    if min(f.h for f in pair) < min_height:
        return None
    left, right = sorted(pair, key=lambda f: f.cx)
    return left, right


def stack_crops(pair: tuple[SeenFace, SeenFace], src_w: int, src_h: int, out_w: int,
                out_h: int) -> tuple[tuple[int, int, int, int], ...]:
    """A still crop (x, y, w, h) per face for the two halves of the output: about 2.5 face heights tall, the face
    a little above the centre, kept inside the source."""
    panel_w, panel_h = out_w, out_h // 2
    crops = []
    for face in pair:
        height = min(src_h, max(16.0, 2.5 * face.h))
        width = height * panel_w / panel_h
        if width > src_w:
            width, height = src_w, src_w * panel_h / panel_w
        w, h = int(width) // 2 * 2, int(height) // 2 * 2
        x = int(np.clip(face.cx - w / 2, 0, src_w - w))
        y = int(np.clip(face.cy - 0.45 * h, 0, src_h - h))
        crops.append((x, y, w, h))
    return tuple(crops)
