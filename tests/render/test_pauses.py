"""Cutting pauses: which frames stay, where words land on the tighter clock, and a real render whose length, audio
and sync follow the cut."""

from __future__ import annotations

from dataclasses import replace

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ai_assets.policy.documents import ClipPolicy, PolicyError, validate
from ai_assets.render.captions import Word, find_font, parse_srt
from ai_assets.render.clips import ClipJob, SourceVideo, render_job
from ai_assets.render.encode import ClipCut, probe_clip, render_clip
from ai_assets.render.pauses import (
    keep_path,
    kept_count,
    kept_frames,
    kept_indices,
    remap_time,
    remap_words,
    removed_seconds,
)
from ai_assets.render.reframe import FaceSample, plan_crop
from tests.render.test_clips import flash_and_beep_video

FPS = 25


def test_only_whole_frames_inside_a_long_pause_past_the_margins_are_cut():
    words = [Word(0.50, 1.00, "one"), Word(1.20, 1.60, "two"), Word(3.52, 4.00, "three"), Word(4.10, 4.50, "four")]
    # The pause 1.60 -> 3.52 is cut from 1.70 to 3.42: frames 43 (starts 1.72) to 84 (ends 3.40); 85 ends at 3.44.
    assert kept_frames(words, 175, FPS, 0.6, 0.1) == ((0, 43), (85, 175))
    assert removed_seconds(((0, 43), (85, 175)), 175, FPS) == pytest.approx(42 / FPS)
    # A pause no longer than the threshold stays; no pause at all keeps everything as ().
    assert kept_frames(words, 175, FPS, 1.92, 0.1) == ()
    assert kept_frames(words, 175, FPS, 1.91, 0.1) == ((0, 43), (85, 175))
    assert kept_frames(words[:2], 175, FPS, 0.6, 0.1) == ()
    # Overlapping words: the pause runs from the latest end so far, not the previous word's end.
    overlapping = [Word(0.0, 3.0, "long"), Word(1.0, 1.2, "inside"), Word(3.2, 3.5, "next")]
    assert kept_frames(overlapping, 100, FPS, 0.6, 0.1) == ()


def test_policy_keeps_pause_cutting_off_and_refuses_margins_that_eat_the_pause():
    body = validate("clip", {"platforms": {"tiktok": {"aspect": "9:16", "width": 360, "height": 640}}})
    assert body["pauses"] == {"remove": False, "min_seconds": 0.6, "keep_seconds": 0.1}
    with pytest.raises(PolicyError, match=r"keep_seconds \(0.3\) on both sides must leave something of a 0.6 s"):
        validate("clip", {"pauses": {"remove": True, "keep_seconds": 0.3},
                          "platforms": {"tiktok": {"aspect": "9:16", "width": 360, "height": 640}}})


def test_times_move_onto_the_cut_clock_and_a_time_inside_a_cut_lands_on_the_cut():
    kept = ((0, 43), (85, 175))
    assert remap_time(1.0, kept, FPS) == pytest.approx(1.0)
    assert remap_time(3.52, kept, FPS) == pytest.approx(3.52 - 42 / FPS)
    assert remap_time(2.5, kept, FPS) == pytest.approx(43 / FPS)  # inside the cut
    assert remap_time(9.0, kept, FPS) == pytest.approx(133 / FPS)  # past the end: the end
    assert remap_time(2.5, (), FPS) == 2.5
    assert list(kept_indices(kept, 175)) == [*range(43), *range(85, 175)] and kept_count(kept, 175) == 133


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 800)), min_size=1, max_size=25),
       st.floats(0.2, 2.0), st.floats(0.0, 0.09))
def test_no_word_is_clipped_and_the_cut_clock_keeps_order_and_lengths(spans, min_pause, keep):
    words, t = [], 0.2
    for gap, length in spans:  # milliseconds
        t += gap / 1000
        words.append(Word(round(t, 3), round(t + length / 1000, 3), "w"))
        t += length / 1000
    frames = int((t + 0.5) * FPS)
    kept = kept_frames(words, frames, FPS, min_pause, keep)
    index = set(kept_indices(kept, frames).tolist())
    for w in words:  # every frame a word is heard in stays
        assert all(i in index for i in range(int(w.start * FPS + 1e-6), min(frames, int(np.ceil(w.end * FPS - 1e-6)))))
    moved = remap_words(words, kept, FPS)
    assert [w.start for w in moved] == sorted(w.start for w in moved)
    assert all(m.end - m.start == pytest.approx(w.end - w.start, abs=2e-3) for m, w in zip(moved, words, strict=True))
    # What is removed is exactly the pauses longer than the threshold, less the margins, to a frame each.
    long_pauses = [b.start - a.end - 2 * keep for a, b in zip(words, words[1:], strict=False)
                   if b.start - a.end > min_pause]
    assert removed_seconds(kept, frames, FPS) == pytest.approx(sum(long_pauses), abs=len(long_pauses) * 2 / FPS + 1e-9)


@pytest.mark.skipif(find_font() is None, reason="no TrueType font installed (apt-get install fonts-dejavu-core)")
def test_a_render_without_pauses_is_shorter_by_them_and_keeps_sound_and_picture_together(tmp_path):
    # Flash frames with a beep at the same instant, each right after a long pause in the speech.
    flashes = [3.52, 6.0]
    source = flash_and_beep_video(tmp_path / "pauses.mp4", flashes, seconds=7.5)
    spoken = [(0.50, 1.00), (1.20, 1.60), (3.52, 4.00), (4.10, 4.50), (6.00, 6.40), (6.45, 6.90)]
    words = [{"start": a, "end": b, "word": f" w{i}.", "probability": 0.9} for i, (a, b) in enumerate(spoken)]
    policy = ClipPolicy.model_validate(validate("clip", {"pauses": {"remove": True, "min_seconds": 0.6,
        "keep_seconds": 0.1}, "preset": "ultrafast", "platforms": {
            "tiktok": {"aspect": "9:16", "width": 180, "height": 320, "caption_bottom": 0.2}}}))
    job = ClipJob(1, 0.0, 7.2, policy.platforms["tiktok"], ["tiktok"], eager=True)
    video = SourceVideo(source, 640, 360, FPS, 7.5, True)
    clip = render_job(job, video, words, [], policy, tmp_path / "out", find_font(), [])

    # Cut: 1.70 -> 3.42 (frames 43-84) and 4.60 -> 5.90 (frames 115 (4.60) to 146 (ends 5.88)): 42 + 32 frames.
    assert clip.cut.frames == 180 and clip.cut.kept == ((0, 43), (85, 115), (147, 180))
    expected = 7.2 - (42 + 32) / FPS
    info = probe_clip(clip.video_path)
    assert info["frames"] == 106 == clip.cut.out_frames
    assert info["video_duration"] == pytest.approx(expected, abs=1 / FPS)
    assert info["audio_duration"] == pytest.approx(info["video_duration"], abs=1 / FPS)

    flash_times = []
    with av.open(str(clip.video_path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if frame.to_ndarray(format="gray").mean() > 128:
                flash_times.append(i / FPS)
        container.seek(0)
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    loud = np.flatnonzero(np.abs(samples) > 0.1)
    beeps = [loud[0] / 48000] + [loud[i] / 48000 for i in range(1, len(loud)) if loud[i] - loud[i - 1] > 24000]
    # Each flash where the cut clock puts it, and its beep with it, within a frame.
    assert flash_times == pytest.approx([3.52 - 42 / FPS, 6.0 - 74 / FPS], abs=0.021)
    assert beeps == pytest.approx(flash_times, abs=1 / FPS)
    # The captions follow: the word after each pause starts with its flash.
    cues = parse_srt(clip.srt_path.read_text())
    assert [c.start for c in cues if c.text in ("w2.", "w4.")] == pytest.approx(flash_times, abs=0.002)
    assert clip.caption_style == "word_highlight"


def test_a_moving_crop_keeps_one_position_per_output_frame_and_renders_exactly_those_frames(tmp_path):
    samples = [FaceSample(t / 5, 200.0 + 12 * t, 180.0, 100) for t in range(20)]
    cut = replace(ClipCut.snap(0.0, 4.0, FPS), kept=((0, 30), (60, 100)))
    path = plan_crop(samples, 640, 360, (9, 16), 180, FPS, cut.frames, [], 0.08, 0.6, 0.5)
    short = keep_path(path, cut.kept)
    assert len(short.xs) == len(short.ys) == 70 == cut.out_frames
    assert list(short.xs) == [*path.xs[:30], *path.xs[60:100]] and (short.width, short.height) == (path.width,
                                                                                                  path.height)
    assert keep_path(path, ()) is path and keep_path(None, cut.kept) is None
    source = flash_and_beep_video(tmp_path / "src.mp4", [1.6], seconds=5.0)
    target = tmp_path / "cropped.mp4"
    render_clip(source, target, cut, 180, 320, short)
    info = probe_clip(target)
    assert (info["width"], info["height"], info["frames"]) == (180, 320, 70)
    assert info["audio_duration"] == pytest.approx(70 / FPS, abs=1 / FPS)
    # The flash at 1.6 s (frame 40) was cut out with its pause.
    with av.open(str(target)) as container:
        assert max(f.to_ndarray(format="gray").mean() for f in container.decode(video=0)) < 60
