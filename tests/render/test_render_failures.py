"""A clip ffmpeg refuses costs that clip: the video's other clips are rendered, the refused one is left unrendered
with ffmpeg's reason, and only a video where nothing renders fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ai_assets.policy.documents import ClipPolicy, validate
from ai_assets.render.clips import ClipJob, SourceVideo, _in_one_line, render_clips
from ai_assets.render.encode import RenderError, RenderTimeout, one_line, probe_clip

TALL = {"aspect": "9:16", "width": 180, "height": 320, "max_seconds": 60}
WIDE = {"aspect": "16:9", "width": 320, "height": 180, "max_seconds": 60}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """3 s of 640x360 test pattern with a tone, no face."""
    target = tmp_path_factory.mktemp("refused") / "pattern.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=640x360:r=25:d=3", "-f", "lavfi", "-i", "sine=d=3", "-c:v", "libx264", "-preset",
                    "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(target)], check=True)
    return target


def setup(platforms: dict, late: str | None = None) -> tuple[ClipPolicy, list[ClipJob]]:
    # Centre crops (no face), so each platform's render crops the picture.
    policy = ClipPolicy.model_validate(validate("clip", {"top_k": 1, "preset": "ultrafast", "platforms": platforms,
                                                         "reframe": {"no_face_layout": "centre"}}))
    # `late`'s clip is placed past the end of the file (the way a table from a longer upload would place it): ffmpeg
    # decodes no frame for it, and there is no sound to hold the last picture over.
    return policy, [ClipJob(1, *((10.0, 12.0) if name == late else (0.0, 2.0)), policy.platforms[name], [name],
                            eager=True) for name in platforms]


def test_a_refused_clip_is_left_unrendered_with_the_reason_and_the_others_are_made(source, tmp_path):
    policy, jobs = setup({"tall": TALL, "wide": WIDE}, late="tall")
    rendered, deferred = render_clips(jobs, SourceVideo(source, 640, 360, 25.0, 13.0, True), [], [], policy,
                                      tmp_path, None)
    assert [c.job.platforms for c in rendered] == [["wide"]]
    assert probe_clip(rendered[0].video_path)["frames"] == 50
    [refused] = deferred
    assert refused.platforms == ["tall"] and refused.render_error
    assert refused.render_error == "ffmpeg found no picture for rank01_tall.mp4 in 10.00-12.00 s of pattern.mp4"
    assert "\n" not in refused.render_error and len(refused.render_error) <= 300
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"rank01_wide.{ext}" for ext in ("jpg", "json", "mp4",
                                                                                           "srt")]


def test_a_video_where_no_clip_renders_fails_with_ffmpegs_reason(source, tmp_path):
    policy, jobs = setup({"tall": TALL}, late="tall")
    with pytest.raises(RenderError) as raised:
        render_clips(jobs, SourceVideo(source, 640, 360, 25.0, 13.0, True), [], [], policy, tmp_path, None)
    assert str(raised.value) == "ffmpeg found no picture for rank01_tall.mp4 in 10.00-12.00 s of pattern.mp4"
    assert not list(tmp_path.glob("*.mp4"))


def test_the_reason_is_the_component_that_refused_in_one_line():
    refused = RenderError("ffmpeg failed rendering clip x.mp4: [crop@reframe0 @ 0x56022e447740] Invalid too big or "
                          "non positive size for width '404' or height '1440'\n[crop@reframe0 @ 0x56022e447740] Failed "
                          "to configure input pad on crop@reframe0\nError reinitializing filters!\nError while "
                          "processing the decoded data for stream #0:0")
    assert one_line(refused) == "crop@reframe0: Invalid too big or non positive size for width '404' or height '1440'"
    assert one_line(RenderError("ffmpeg failed writing thumbnail a.jpg: Conversion failed!\n")) == (
        "ffmpeg failed writing thumbnail a.jpg: Conversion failed!")
    assert one_line(RenderTimeout("ffmpeg timed out after 60 s rendering clip a.mp4")) == (
        "ffmpeg timed out after 60 s rendering clip a.mp4")
    # On a damaged source the decoder complains first; the filter that refused is the cause.
    damaged = RenderError("ffmpeg failed rendering clip x.mp4: [h264 @ 0x55d0] error while decoding MB 12 7\n"
                          "[Parsed_ass_5 @ 0x55d1] Failed to open captions0.ass\nError initializing filters")
    assert one_line(damaged) == "Parsed_ass_5: Failed to open captions0.ass"
    assert one_line(RenderError("x: [h264 @ 0x1] error while decoding MB 1 2\nConversion failed!")) == (
        "h264: error while decoding MB 1 2")
    assert one_line(RenderError("")) == "RenderError"
    assert len(one_line(RenderError("x" * 1000))) == 300


def test_a_video_where_no_clip_renders_says_what_refused_in_one_line():
    # ffmpeg's last lines on a damaged stream are the decoder's; the asset's error names the filter that refused.
    refused = RenderError("ffmpeg failed rendering clip rank01_linkedin.mp4: [h264 @ 0x55ce] co located POCs "
                          "unavailable\n[crop@reframe0 @ 0x55ce] Invalid too big or non positive size for width '720' "
                          "or height '720'\nError reinitializing filters!\n[h264 @ 0x55cf] co located POCs unavailable")
    assert str(_in_one_line(refused)) == ("ffmpeg failed rendering clip rank01_linkedin.mp4: crop@reframe0: "
                                          "Invalid too big or non positive size for width '720' or height '720'")
    hung = RenderTimeout("ffmpeg timed out after 60 s rendering clip a.mp4 (20.0 s of video)")
    assert _in_one_line(hung) is hung
