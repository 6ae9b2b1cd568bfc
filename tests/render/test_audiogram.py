"""Audiograms: a recording without a picture (a podcast) gets clips of its cover art, a live waveform and captions."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ai_assets.catalog import connect as metrics_view
from ai_assets.definitions import build_defs
from ai_assets.ingest.samples import SAMPLE_TEXT, speak
from ai_assets.policy.documents import default_policy
from ai_assets.render.audiogram import AUDIOGRAM_FPS, audiogram_frame
from ai_assets.render.clips import ClipJob, SourceVideo, existing_render, render_jobs
from ai_assets.render.encode import ClipCut, ClipOutput, Encoding, probe_clip, render_outputs
from tests.conftest import add_video

POLICY = default_policy("clip").parsed()
BLOCK = 1.25 * 1080 * 0.07 * 2  # the default captions' two-line block, as the clips plan it


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *args], check=True)


def podcast(tmp_path: Path, cover: bool, seconds: float = 6.0, name: str = "episode") -> Path:
    """A tone that swells and fades twice a second (the waveform must move), with a green cover or none."""
    voice = f"aevalsrc='0.8*sin(2*PI*220*t)*abs(sin(2*PI*t))':s=44100:d={seconds}"
    if not cover:
        target = tmp_path / f"{name}.wav"
        ffmpeg("-f", "lavfi", "-i", voice, str(target))
        return target
    art = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "color=0x00c000:s=500x500", "-frames:v", "1", str(art))
    target = tmp_path / f"{name}.m4a"
    ffmpeg("-f", "lavfi", "-i", voice, "-i", str(art), "-map", "0:a", "-map", "1:v", "-c:a", "aac", "-c:v", "png",
           "-disposition:v", "attached_pic", str(target))
    return target


def frames(path: Path, times: list[float]) -> list[np.ndarray]:
    wanted, out = list(times), []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if wanted and frame.time >= wanted[0] - 1e-6:
                out.append(frame.to_ndarray(format="rgb24").astype(int))
                wanted.pop(0)
    assert not wanted, f"no frames at {wanted}"
    return out


def words(start: float, end: float) -> list[dict]:
    return [{"start": t, "end": t + 0.3, "word": f" word{i}", "probability": 0.9}
            for i, t in enumerate(np.arange(start, end - 0.3, 0.4))]


def test_default_frames_keep_cover_and_waveform_above_the_captions():
    tall = audiogram_frame(1080, 1920, 1920 * 0.8 - BLOCK, cover=True)
    assert (tall.cover, tall.wave) == ((152, 170, 776), (108, 1004, 864, 230))
    square = audiogram_frame(1080, 1080, 1080 * 0.92 - BLOCK, cover=True)
    assert (square.cover, square.wave) == ((267, 65, 546), (108, 643, 864, 128))
    bare = audiogram_frame(1080, 1920, 1920 * 0.8 - BLOCK, cover=False)
    assert bare.cover is None and bare.wave == (108, 462, 864, 480)


@settings(max_examples=300, deadline=None)
@given(width=st.integers(60, 2000), height=st.integers(60, 2000), caption_share=st.floats(0.3, 1.2),
       cover=st.booleans())
def test_a_frame_of_any_size_places_everything_inside_and_apart(width, height, caption_share, cover):
    width, height = width * 2, height * 2
    caption_top = caption_share * height
    frame = audiogram_frame(width, height, caption_top, cover)
    x, y, w, h = frame.wave
    assert w % 2 == 0 and h % 2 == 0 and w > 0 and h > 0
    assert 0 <= x and x + w <= width and 0 <= y and y + h <= min(height, caption_top)
    if frame.cover is not None:
        cx, cy, side = frame.cover
        assert cover and side % 2 == 0 and side >= 0.2 * min(width, height)
        assert 0 <= cx and cx + side <= width and 0 <= cy
        assert cy + side < y  # the square ends above the waveform, with a gap
    assert frame.cover is None or cover


def test_a_podcast_with_cover_art_renders_both_formats_from_one_pass(tmp_path):
    source = SourceVideo(podcast(tmp_path, cover=True), 0, 0, AUDIOGRAM_FPS, 6.0, True, "", False, True)
    jobs = [ClipJob(1, 1.0, 5.0, POLICY.platforms[name], [name], eager=True) for name in ("tiktok", "linkedin")]
    out = tmp_path / "clips"
    out.mkdir()
    made = render_jobs(jobs, source, words(1.0, 5.0), [], POLICY, out, None, [])
    assert [(c.layout, c.picture_note, c.face_coverage) for c in made] == [("audiogram", None, 0.0)] * 2
    for clip in made:
        spec = clip.job.spec
        info = probe_clip(clip.video_path)
        assert (info["width"], info["height"], info["frames"]) == (spec.width, spec.height, 100)
        assert info["audio_duration"] == pytest.approx(4.0, abs=0.03)
        frame = audiogram_frame(spec.width, spec.height, spec.height * (1 - spec.caption_bottom) - BLOCK, True)
        cx, cy, side = frame.cover
        x, y, w, h = frame.wave
        early, late = frames(clip.video_path, [1.0, 1.26])
        for image in (early, late):
            art = image[cy + side // 2, cx + side // 2]
            assert art[1] > 170 and art[0] < 40 and art[2] < 40, art  # the cover, as it is
            fill = image[8, 8]
            assert fill[1] > fill[0] + 40 and fill[1] < art[1] - 20, fill  # its colour, dimmed, fills the frame
        art_box = (slice(cy, cy + side), slice(cx, cx + side))
        wave_box = (slice(y, y + h), slice(x, x + w))
        assert np.abs(early[art_box] - late[art_box]).mean() < 1.0  # the picture holds still
        assert np.abs(early[wave_box] - late[wave_box]).mean() > 3.0  # the waveform follows the sound
        with av.open(str(clip.thumbnail_path)) as container:
            thumb = next(container.decode(video=0))
        assert (thumb.width, thumb.height) == (spec.width, spec.height)
        assert json.loads(clip.video_path.with_suffix(".json").read_text())["layout"] == "audiogram"
        # The render is found again as it is; the same job over a video source would be another render.
        assert existing_render(clip.job, source, POLICY, out) is not None
        assert clip.job.signature(POLICY, source) != clip.job.signature(POLICY, replace(source, has_video=True))


def test_a_recording_without_cover_art_gets_a_plain_background(tmp_path):
    source = SourceVideo(podcast(tmp_path, cover=False), 0, 0, AUDIOGRAM_FPS, 6.0, True, "", False, False)
    [clip] = render_jobs([ClipJob(1, 0.0, 4.0, POLICY.platforms["linkedin"], ["linkedin"], eager=True)], source,
                         words(0.0, 4.0), [], POLICY, tmp_path, None, [])
    assert (clip.layout, clip.picture_note) == ("audiogram", None)
    [image] = frames(clip.video_path, [2.0])
    assert np.abs(image[10, 10] - [0x14, 0x17, 0x2B]).max() <= 6  # BACKGROUND
    assert probe_clip(clip.video_path)["frames"] == 100


def test_unreadable_cover_art_costs_the_picture_not_the_clip(tmp_path):
    # The table says there is cover art, but the file has no picture stream to read it from.
    source = SourceVideo(podcast(tmp_path, cover=False), 0, 0, AUDIOGRAM_FPS, 6.0, True, "", False, True)
    [clip] = render_jobs([ClipJob(1, 0.0, 3.0, POLICY.platforms["linkedin"], ["linkedin"], eager=True)], source,
                         [], [], POLICY, tmp_path, None, [])
    assert clip.layout == "audiogram" and clip.picture_note.startswith("cover art unreadable, plain background (")
    assert json.loads(clip.video_path.with_suffix(".json").read_text())["picture_note"] == clip.picture_note
    assert probe_clip(clip.video_path)["frames"] == 75


def test_cut_pauses_shorten_the_waveform_with_the_sound(tmp_path):
    wav = podcast(tmp_path, cover=False)
    cut = ClipCut(0.0, 125, AUDIOGRAM_FPS, kept=((0, 25), (75, 125)))
    frame = audiogram_frame(320, 320, 300, False)
    target = tmp_path / "kept.mp4"
    render_outputs(wav, cut, [ClipOutput(target, 320, 320, None, audiogram=frame)], Encoding("ultrafast", 28))
    info = probe_clip(target)
    assert info["frames"] == 75 and info["audio_duration"] == pytest.approx(3.0, abs=0.03)


@pytest.mark.slow
def test_an_audio_only_podcast_goes_through_the_graph_to_audiogram_clips(layout, instance, tmp_path):
    speech = tmp_path / "speech.wav"
    speak(SAMPLE_TEXT, speech)
    art = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "color=0x00c000:s=400x400", "-frames:v", "1", str(art))
    episode = tmp_path / "episode.mp3"
    ffmpeg("-i", str(speech), "-i", str(art), "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-c:v", "png",
           "-disposition:v", "attached_pic", str(episode))
    key = add_video(layout, instance, episode)
    result = build_defs(layout).resolve_job_def("process_video").execute_in_process(instance=instance,
                                                                                   partition_key=key)
    assert result.success
    rows = [r for r in result.output_for_node("clips").to_pylist() if r["rendered"]]
    assert rows and {r["layout"] for r in rows} == {"audiogram"}
    assert all(r["captions_burned"] and r["caption_cues"] > 0 for r in rows)
    for row in rows:
        info = probe_clip(Path(row["path"]))
        assert (info["width"], info["height"], info["frames"]) == (row["width"], row["height"], row["frames"])
        assert row["fps"] == AUDIOGRAM_FPS
    with metrics_view(layout.home) as conn:
        assert conn.execute("select status, audio_seconds > 0 from metrics where asset = 'clips' and video = ?",
                            [key]).fetchall() == [("success", True)]
    [made] = result.asset_materializations_for_node("clips")
    assert made.metadata["layouts"].value == ["audiogram"] and "picture_notes" not in made.metadata
