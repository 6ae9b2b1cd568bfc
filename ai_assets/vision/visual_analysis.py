"""Local visual signals for one keyframe: faces, motion, exposure, sharpness, colour, on-screen text.

Everything here runs on the CPU with OpenCV (faces: BlazeFace, `ai_assets.vision.faces`) and needs no model
download; a VLM adds descriptions on top when one is configured.
"""

from __future__ import annotations

import numpy as np

from ai_assets.vision.faces import detect_faces

# Largest face height as a share of the frame height: at least CLOSE_UP is a close-up, at least
# MEDIUM a medium shot; smaller faces, or none, make a wide shot.
CLOSE_UP, MEDIUM = 0.30, 0.12


def shot_type(face_heights: list[float]) -> str:
    largest = max(face_heights, default=0.0)
    if largest >= CLOSE_UP:
        return "close-up"
    if largest >= MEDIUM:
        return "medium"
    return "wide"


def colourfulness(image_bgr: np.ndarray) -> float:
    """Hasler and Süsstrunk's colourfulness metric: 0 for grey, about 85 for a flat saturated red."""
    b, g, r = (image_bgr[:, :, i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def text_likelihood(gray: np.ndarray) -> float:
    """Share of the frame covered by text-like blobs: clusters of short, dense, horizontal strokes."""
    import cv2

    gradient = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    _, binary = cv2.threshold(gradient, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    joined = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    height, width = gray.shape
    area = 0
    for _x, _y, w, h, pixels in stats[1:count]:
        fill = pixels / float(w * h)
        if w > 2 * h and 6 <= h <= height * 0.15 and w >= 0.05 * width and fill > 0.45:
            area += w * h
    return float(min(1.0, area / float(height * width) * 4))


def frame_signals(image_bgr: np.ndarray, previous_gray: np.ndarray | None) -> tuple[dict, np.ndarray]:
    """Signals of one frame, and its grey image for the next frame's motion energy."""
    import cv2

    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    # Keyframes are few, so the detector also searches for small faces (a wide shot of a stage).
    boxes = [[round(f.x / width, 4), round(f.y / height, 4), round(f.w / width, 4), round(f.h / height, 4)]
             for f in detect_faces(image_bgr, small_faces=True)]
    largest = max(boxes, key=lambda b: b[2] * b[3], default=None)
    motion = None
    if previous_gray is not None and previous_gray.shape == gray.shape:
        motion = round(float(np.mean(cv2.absdiff(gray, previous_gray))) / 255.0, 4)
    hsv_value = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2HSV)[:, :, 2]
    signals = {
        "faces": len(boxes),
        "face_boxes": boxes,
        "face_cx": round(largest[0] + largest[2] / 2, 4) if largest else None,
        "face_cy": round(largest[1] + largest[3] / 2, 4) if largest else None,
        "motion": motion,
        "brightness": round(float(hsv_value.mean()) / 255.0, 4),
        "contrast": round(float(gray.std()) / 128.0, 4),
        "sharpness": round(float(cv2.Laplacian(gray, cv2.CV_64F).var()), 2),
        "colourfulness": round(colourfulness(image_bgr), 2),
        "text_likelihood": round(text_likelihood(gray), 4),
        "shot_type": shot_type([b[3] for b in boxes]),
    }
    return signals, gray


def analyse_keyframes(keyframes: list[dict]) -> list[dict]:
    """Signals for each keyframe row (time, scene, path); motion compares with the previous frame of the same scene."""
    import cv2

    rows, previous, previous_scene = [], None, None
    for frame in sorted(keyframes, key=lambda k: k["time"]):
        image = cv2.imread(frame["path"])
        if image is None:
            raise FileNotFoundError(f"keyframe {frame['path']} is missing or unreadable; rerun keyframes")
        signals, gray = frame_signals(image, previous if frame["scene"] == previous_scene else None)
        rows.append({"time": frame["time"], "scene": frame["scene"], "path": frame["path"], **signals})
        previous, previous_scene = gray, frame["scene"]
    return rows
