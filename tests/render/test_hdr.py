"""HDR video (HLG from iPhones, PQ from other phones and cameras) is recognised and its clips and thumbnails come
out in SDR with the colours of the scene, not grey and washed out."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from ai_assets.ingest.source_video import probe
from ai_assets.render.clips import ClipJob, SourceVideo
from ai_assets.render.encode import ClipCut, ClipOutput, Encoding, render_outputs, render_thumbnail
from ai_assets.render.reframe import CropPath

TRANSFERS = {"hlg": "arib-std-b67", "pq": "smpte2084"}
SIZE = (320, 180)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """The same colourful 3 s scene in SDR, and converted to HLG and PQ (10-bit HEVC, reference white at 203 nits,
    tagged in the bitstream only), as a phone records it."""
    folder = tmp_path_factory.mktemp("hdr")
    scene = f"testsrc2=s={SIZE[0]}x{SIZE[1]}:r=25:d=3"
    made = {"sdr": folder / "sdr.mp4"}
    ffmpeg("-f", "lavfi", "-i", scene, "-f", "lavfi", "-i", "sine=d=3", "-c:v", "libx264", "-preset", "ultrafast",
           "-crf", "12", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(made["sdr"]))
    for name, transfer in TRANSFERS.items():
        made[name] = folder / f"{name}.mp4"
        ffmpeg("-i", str(made["sdr"]), "-vf", f"zscale=tin=bt709:min=bt709:pin=bt709:t={transfer}:m=bt2020nc:"
               "p=bt2020:r=tv:npl=203,format=yuv420p10le", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
               f"crf=12:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc:log-level=error", "-c:a", "copy",
               str(made[name]))
    return made


def picture(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24").astype(float)


def saturation(image: np.ndarray) -> float:
    return float((image.max(axis=2) - image.min(axis=2)).mean())


def test_the_probe_names_the_transfer(videos):
    assert {name: probe(path).hdr for name, path in videos.items()} == {"sdr": None, "hlg": "hlg", "pq": "pq"}


@pytest.mark.parametrize("hdr", ["hlg", "pq"])
def test_clips_and_thumbnails_of_hdr_video_keep_the_scene_colours(videos, tmp_path, hdr):
    width, height = SIZE
    cut = ClipCut.snap(0.0, 1.0, 25)
    crop = CropPath(180, 180, np.full(cut.frames, 40), np.zeros(cut.frames, dtype=int), 0.0, 0, 0.0)

    def render(source: Path, name: str, mapped: str | None) -> tuple[np.ndarray, np.ndarray]:
        clip, thumb = tmp_path / f"{name}.mp4", tmp_path / f"{name}.jpg"
        render_outputs(source, cut, [ClipOutput(clip, 180, 180, crop)], Encoding("ultrafast", 12), False, mapped)
        # Smaller than its crop: mapped after scaling down (the clip is mapped before scaling).
        render_thumbnail(source, thumb, 0.0, 90, 90, (40, 0, 180, 180), hdr=mapped)
        return picture(clip), picture(thumb)

    reference = render(videos["sdr"], "sdr", None)
    mapped = render(videos[hdr], hdr, hdr)
    unmapped = render(videos[hdr], f"{hdr}-as-is", None)
    for ref, good, bad in zip(reference, mapped, unmapped, strict=True):
        # Unmapped, the picture is grey: far less saturated, its levels off. Mapped, it is the scene again.
        assert saturation(bad) < 0.75 * saturation(ref)
        assert abs(saturation(good) - saturation(ref)) < 0.15 * saturation(ref)
        assert np.abs(good.mean(axis=(0, 1)) - ref.mean(axis=(0, 1))).max() < 18
        assert np.abs(good - ref).mean() < np.abs(bad - ref).mean() / 2
    info = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                           "stream=pix_fmt,color_transfer,color_primaries", "-of", "csv=p=0",
                           str(tmp_path / f"{hdr}.mp4")], capture_output=True, text=True, check=True).stdout
    assert info.strip() == "yuv420p,bt709,bt709"  # tagged as what it is, so players do not map it again


def test_the_signature_of_an_sdr_render_is_unchanged_and_hdr_renders_differ(tmp_path):
    from ai_assets.policy.documents import default_policy

    policy = default_policy("clip").parsed()
    job = ClipJob(1, 0.0, 20.0, policy.platforms["tiktok"], ["tiktok"])
    sdr = SourceVideo(Path("media/talk.mp4"), 1280, 720, 25.0, 30.0, True)
    hlg = SourceVideo(Path("media/talk.mp4"), 1280, 720, 25.0, 30.0, True, hdr="hlg")
    assert job.signature(policy, sdr) != job.signature(policy, hlg)
    assert SourceVideo.from_row(Path("x.mp4"), {"width": 1280, "height": 720, "fps": 25.0, "duration": 30.0,
        "has_audio": True, "has_video": True, "media_path": "media/x.mp4", "hdr": "pq"}).hdr == "pq"
    # A source_video table written before the column existed reads as SDR.
    assert SourceVideo.from_row(Path("x.mp4"), {"width": 1280, "height": 720, "fps": 25.0, "duration": 30.0,
        "has_audio": True, "has_video": True, "media_path": "media/x.mp4"}).hdr is None
