"""Cover art (an attached picture, as MP3 and M4A podcasts carry it) is not the video to cut clips from."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import pytest

from ai_assets.ingest.source_video import picture_stream, probe
from ai_assets.render.encode import ClipCut, ClipOutput, Encoding, render_outputs, render_thumbnail


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *args], check=True)


def cover(tmp_path: Path, colour: str = "red", size: str = "600x600") -> Path:
    target = tmp_path / f"cover-{colour}.jpg"
    ffmpeg("-f", "lavfi", "-i", f"color={colour}:s={size}", "-frames:v", "1", str(target))
    return target


@pytest.mark.parametrize(("name", "codec"), [("episode.mp3", "libmp3lame"), ("episode.m4a", "aac")])
def test_a_podcast_with_cover_art_is_sound_without_a_picture(tmp_path, name, codec):
    podcast = tmp_path / name
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=4", "-i", str(cover(tmp_path)), "-map", "0:a", "-map",
           "1:v", "-c:a", codec, "-c:v", "mjpeg", "-disposition:v", "attached_pic", str(podcast))
    with av.open(str(podcast)) as container:
        assert len(container.streams.video) == 1  # the cover is there, as a video stream
    info = probe(podcast)
    assert info.has_audio and not info.has_video
    assert (info.width, info.height, info.fps, info.video_codec) == (None, None, None, None)
    assert [s.get("cover_art", False) for s in json.loads(info.streams) if s["type"] == "video"] == [True]


def test_a_video_with_a_larger_cover_is_probed_and_cut_from_its_video(tmp_path):
    video = tmp_path / "green.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=green:s=320x180:r=25:d=3", "-f", "lavfi", "-i", "sine=duration=3",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video))
    both = tmp_path / "covered.mp4"
    ffmpeg("-i", str(video), "-i", str(cover(tmp_path, size="1200x1200")), "-map", "0:v", "-map", "0:a", "-map",
           "1:v", "-c", "copy", "-disposition:v:1", "attached_pic", str(both))
    with av.open(str(both)) as container:
        assert [s.codec_context.name for s in container.streams.video] == ["h264", "mjpeg"]
        assert picture_stream(container).codec_context.width == 320
    info = probe(both)
    assert (info.has_video, info.width, info.height, info.fps) == (True, 320, 180, 25.0)

    cut = ClipCut.snap(0.5, 2.5, 25)
    out = tmp_path / "clip.mp4"
    render_outputs(both, cut, [ClipOutput(out, 180, 320, None)], Encoding("ultrafast", 23))
    thumb = tmp_path / "thumb.jpg"
    render_thumbnail(both, thumb, 1.0, 180, 320, (70, 0, 100, 178))
    for made in (out, thumb):
        with av.open(str(made)) as container:
            mean = next(container.decode(video=0)).to_ndarray(format="rgb24").reshape(-1, 3).mean(0)
        assert mean[1] > 100 and mean[0] < 60, (made.name, mean)  # the green video, never the red cover
