"""Scene cuts and keyframes in one streaming pass over the video. No Dagster here.

Frames are decoded once with PyAV and downscaled by the decoder; PySceneDetect's ContentDetector
sees each frame, and only a short ring of recent frames is kept, so memory does not grow with the
video's length.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ai_assets.ingest.source_video import (
    clock_origin,
    decoded_frames,
    picture_stream,
    pixel_shape,
    quarter_turns,
    upright,
)
from ai_assets.storage.files import atomic_path

SCAN_WIDTH = 320
JPEG_QUALITY = 85
# Frames kept in memory: enough to reach back to a cut the detector reports a few frames late.
RING_FRAMES = 64


@dataclass(frozen=True)
class Keyframe:
    time: float
    scene: int
    reason: str  # "scene_start" or "sample"
    phash: str
    path: str


@dataclass(frozen=True)
class Scan:
    cuts: list[float]
    keyframes: list[Keyframe]
    frames_decoded: int
    duplicates_dropped: int
    fps: float
    width: int
    height: int
    damaged_packets: int = 0  # packets the decoder rejected, skipped (see `decoded_frames`)


def scan_video(
    video: Path, frames_dir: Path, sample_fps: float, phash_max_distance: int, scene_threshold: float = 27.0
) -> Scan:
    """Detect hard cuts and save one JPEG per scene start plus `sample_fps` samples, minus near-duplicates."""
    import av
    import imagehash
    from PIL import Image
    from scenedetect import FrameTimecode
    from scenedetect.detectors import ContentDetector

    detector = ContentDetector(threshold=scene_threshold)
    ring: deque[tuple[int, float, np.ndarray]] = deque(maxlen=RING_FRAMES)
    kept: list[Keyframe] = []
    recent_hashes: list[imagehash.ImageHash] = []
    cuts: list[float] = []
    dropped = 0
    damaged: list[float] = []
    frames_dir.mkdir(parents=True, exist_ok=True)

    def keep(time: float, image: np.ndarray, reason: str) -> None:
        nonlocal dropped
        picture = Image.fromarray(image[:, :, ::-1])  # BGR to RGB
        digest = imagehash.phash(picture)
        if reason == "sample" and any(digest - h <= phash_max_distance for h in recent_hashes):
            dropped += 1
            return
        target = frames_dir / f"{int(round(time * 1000)):09d}.jpg"
        with atomic_path(target) as tmp:
            picture.save(tmp, format="JPEG", quality=JPEG_QUALITY)
        kept.append(Keyframe(round(time, 3), len(cuts), reason, str(digest), str(target)))
        recent_hashes.append(digest)

    with av.open(str(video), metadata_errors="ignore") as container:
        stream = picture_stream(container)
        stream.thread_type = "AUTO"
        fps = stream.average_rate or stream.guessed_rate
        # The frame as shown is SCAN_WIDTH wide: a phone's video is stored on its side, with a display rotation.
        turns = 0
        shown_width = stream.codec_context.width * pixel_shape(stream)  # square pixels, as renders make them
        width = SCAN_WIDTH
        height = int(round(stream.codec_context.height * width / shown_width / 2) * 2)
        scale = None
        next_sample = 0.0
        index = 0
        origin = clock_origin(container)
        for frame in decoded_frames(container, stream, damaged):
            time = float(frame.time) - origin if frame.time is not None else index / float(fps)
            if scale is None:
                turns = quarter_turns(frame)
                if turns % 2:
                    width = int(round(shown_width * SCAN_WIDTH / stream.codec_context.height / 2) * 2)
                    height = SCAN_WIDTH
                scale = _scaler(stream, width, height)
            scale.push(frame)
            image = scale.pull().to_ndarray()
            image = upright(image, turns)
            ring.append((index, time, image))
            if index == 0:
                keep(time, image, "scene_start")
            # Cuts are found at half the keyframe resolution: as accurate, and four times less work.
            for cut in detector.process_frame(FrameTimecode(index, fps), np.ascontiguousarray(image[::2, ::2])):
                _start_scene(cut.frame_num, ring, cuts, keep, recent_hashes)
            if time >= next_sample and index > 0:
                keep(time, image, "sample")
                next_sample = time + 1.0 / sample_fps
            elif index == 0:
                next_sample = time + 1.0 / sample_fps
            index += 1
        for cut in detector.post_process(FrameTimecode(index, fps)):
            _start_scene(cut.frame_num, ring, cuts, keep, recent_hashes)
    kept.sort(key=lambda k: k.time)
    if turns % 2:
        width, height = height, width
    return Scan(cuts, kept, index, dropped, float(fps), width, height, len(damaged))


def _scaler(stream, width: int, height: int):
    """An ffmpeg filter graph that scales and converts in one pass, far cheaper than per-frame reformatting."""
    import av

    graph = av.filter.Graph()
    source = graph.add_buffer(template=stream)
    scale = graph.add("scale", f"{width}:{height}:flags=fast_bilinear")
    convert = graph.add("format", "bgr24")
    sink = graph.add("buffersink")
    source.link_to(scale)
    scale.link_to(convert)
    convert.link_to(sink)
    graph.configure()
    return graph


def _start_scene(frame_num: int, ring, cuts: list[float], keep, recent_hashes: list) -> None:
    for index, time, image in ring:
        if index == frame_num:
            cuts.append(round(time, 3))
            recent_hashes.clear()  # a new scene: its frames are compared only with each other
            keep(time, image, "scene_start")
            return
    raise RuntimeError(f"cut at frame {frame_num} is older than the {RING_FRAMES}-frame ring")


def cut_f1(found: list[float], truth: list[float], tolerance: float = 0.5) -> tuple[float, float, float]:
    """Precision, recall and F1 of detected cuts, each truth cut matched at most once within `tolerance` seconds."""
    unmatched = list(truth)
    hits = 0
    for cut in sorted(found):
        match = next((t for t in unmatched if abs(t - cut) <= tolerance), None)
        if match is not None:
            unmatched.remove(match)
            hits += 1
    precision = hits / len(found) if found else 1.0 if not truth else 0.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
