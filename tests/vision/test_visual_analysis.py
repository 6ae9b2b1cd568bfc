"""Local visual signals on frames whose answer is known."""

import cv2
import dagster as dg
import numpy as np
import pytest

from ai_assets.assets import keyframes, source_video, visual_analysis
from ai_assets.definitions import build_resources
from ai_assets.ingest.samples import draw_face
from ai_assets.vision.visual_analysis import analyse_keyframes, colourfulness, frame_signals, shot_type
from tests.conftest import add_video


def flat(value, size=(180, 320)) -> np.ndarray:
    return np.full((*size, 3), value, np.uint8)


def test_exposure_contrast_and_colour():
    black, white = frame_signals(flat(0), None)[0], frame_signals(flat(255), None)[0]
    assert black["brightness"] == 0.0 and white["brightness"] == 1.0
    assert black["contrast"] == white["contrast"] == 0.0 and white["colourfulness"] == 0.0
    stripes = flat(0)
    stripes[:, ::2] = 255
    assert frame_signals(stripes, None)[0]["contrast"] > 0.9
    red = flat(0)
    red[:, :, 2] = 255
    assert colourfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))


def test_sharpness_drops_when_blurred():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, size=(180, 320, 3), dtype=np.uint8)
    blurred = cv2.GaussianBlur(sharp, (9, 9), 3)
    assert frame_signals(sharp, None)[0]["sharpness"] > 10 * frame_signals(blurred, None)[0]["sharpness"]


@pytest.mark.parametrize("height,shot", [(300, "close-up"), (150, "medium")])
def test_a_face_is_found_with_its_centre_and_shot_type(height, shot):
    image = np.full((720, 1280, 3), (90, 110, 100), np.uint8)
    draw_face(image, 900, 360, height)
    signals, _ = frame_signals(image, None)
    assert signals["faces"] == 1 and signals["shot_type"] == shot
    assert signals["face_cx"] == pytest.approx(900 / 1280, abs=0.02) and signals["face_cy"] == pytest.approx(0.5,
            abs=0.05)
    x, y, w, h = signals["face_boxes"][0]
    assert x < 900 / 1280 < x + w and h == pytest.approx(height / 720, rel=0.35)


def test_no_face_in_an_empty_frame():
    signals, _ = frame_signals(np.full((720, 1280, 3), (90, 110, 100), np.uint8), None)
    assert signals["faces"] == 0 and signals["face_cx"] is None and signals["shot_type"] == "wide"


def test_text_on_screen_is_likely_and_a_plain_frame_is_not():
    caption = flat(255)
    cv2.putText(caption, "BREAKING NEWS TODAY", (10, 90), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    assert frame_signals(caption, None)[0]["text_likelihood"] > 0.2
    assert frame_signals(flat(128), None)[0]["text_likelihood"] == 0.0


def test_motion_compares_with_the_previous_frame_of_the_same_scene(tmp_path):
    paths = []
    for i, value in enumerate([0, 0, 255, 255]):
        path = tmp_path / f"{i}.jpg"
        cv2.imwrite(str(path), flat(value))
        paths.append(str(path))
    rows = analyse_keyframes([
        {"time": 0.0, "scene": 0, "path": paths[0]}, {"time": 1.0, "scene": 0, "path": paths[1]},
        {"time": 2.0, "scene": 0, "path": paths[2]}, {"time": 3.0, "scene": 1, "path": paths[3]},
    ])
    assert [r["motion"] for r in rows] == [None, 0.0, 1.0, None]
    with pytest.raises(FileNotFoundError, match="missing or unreadable; rerun keyframes"):
        analyse_keyframes([{"time": 0.0, "scene": 0, "path": str(tmp_path / "gone.jpg")}])


@pytest.mark.parametrize(("heights", "shot"), [([], "wide"), ([0.05], "wide"), ([0.05, 0.2], "medium"),
    ([0.45], "close-up")])
def test_shot_type_follows_the_largest_face(heights, shot):
    assert shot_type(heights) == shot


def test_visual_analysis_asset_covers_every_keyframe(layout, instance, media):
    key = add_video(layout, instance, media["talk"])
    result = dg.materialize([source_video, keyframes, visual_analysis], partition_key=key, instance=instance,
        resources=build_resources(layout))
    assert result.success
    frames = result.output_for_node("keyframes").to_pylist()
    rows = result.output_for_node("visual_analysis").to_pylist()
    assert [r["time"] for r in rows] == [f["time"] for f in frames]
    assert all(r["faces"] == 0 and r["shot_type"] == "wide" for r in rows)  # test patterns have no faces
    assert all(0 <= r["brightness"] <= 1 and r["sharpness"] > 0 for r in rows)
    assert sum(r["motion"] is None for r in rows) == 4  # one per scene start
