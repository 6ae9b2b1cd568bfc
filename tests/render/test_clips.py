"""Clips: caption cues, clip spans, the reframe path, and real renders checked with ffprobe and OpenCV."""

from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from ai_assets.ingest.samples import make_face_video, make_video
from ai_assets.language.sentences import Sentence
from ai_assets.policy.documents import ClipPolicy, validate
from ai_assets.render.captions import (
    CaptionStyle,
    Word,
    balanced_lines,
    clip_words,
    find_font,
    group_cues,
    parse_srt,
    to_ass,
    to_srt,
)
from ai_assets.render.clips import SourceVideo, clip_span, plan_jobs, platform_ranking, render_clips, render_one
from ai_assets.render.encode import (
    NVENC_PRESETS,
    ClipCut,
    ClipOutput,
    Encoding,
    choose_encoder,
    nvenc_problem,
    probe_clip,
    render_clip,
    render_outputs,
)
from ai_assets.render.reframe import FaceSample, crop_size, follow, plan_crop, track_faces
from ai_assets.vision.faces import detect_faces

FONT = find_font()
needs_font = pytest.mark.skipif(FONT is None, reason="no TrueType font installed (apt-get install fonts-dejavu-core)")


def words_at(*spans: tuple[float, float, str]) -> list[dict]:
    return [{"start": a, "end": b, "word": f" {w}", "probability": 0.9} for a, b, w in spans]


# --- captions ---------------------------------------------------------------------------------

def test_clip_words_keep_words_by_midpoint_on_the_clip_clock():
    words = words_at((9.0, 9.9, "before"), (9.7, 10.4, "cut"), (10.5, 10.8, "in"), (19.7, 20.5, "out"),
        (20.6, 21.0, "gone"))
    kept = clip_words(words, 10.0, 20.2)
    assert [w.text for w in kept] == ["cut", "in", "out"]
    assert kept[0].start == 0.0 and kept[1].start == pytest.approx(0.5) and kept[2].end == pytest.approx(10.2)


def test_cues_take_their_times_from_the_first_and_last_word():
    words = [Word(0.0, 0.4, "Hello"), Word(0.5, 0.9, "there."), Word(1.0, 1.3, "Next"), Word(2.5, 2.9, "pause")]
    cues = group_cues(words, lambda t: len(t) <= 40, pause_break=0.6)
    assert [(c.start, c.end, c.text) for c in cues] == [(0.0, 0.9, "Hello there."), (1.0, 1.3, "Next"),
            (2.5, 2.9, "pause")]


def test_cues_split_when_text_stops_fitting_and_lines_stay_within_the_width():
    words = [Word(i * 0.3, i * 0.3 + 0.25, w) for i,
        w in enumerate("the quick brown fox jumps over the lazy dog again and again".split())]
    cues = group_cues(words, lambda t: len(t) <= 12, max_lines=2, max_seconds=30)
    assert len(cues) > 1
    assert all(len(line) <= 12 for c in cues for line in c.lines) and all(len(c.lines) <= 2 for c in cues)
    assert " ".join(c.text for c in cues) == " ".join(w.text for w in words)


def test_balanced_lines_prefer_even_lines_and_refuse_what_cannot_fit():
    assert balanced_lines("aa bb cc dd".split(), lambda t: len(t) <= 6, 2) == ("aa bb", "cc dd")
    assert balanced_lines("aaaaaaa bb".split(), lambda t: len(t) <= 5, 2) is None


def test_srt_round_trips_with_millisecond_times():
    cues = group_cues([Word(0.0, 1.234, "One."), Word(61.5, 3723.456, "Two.")], lambda t: True)
    text = to_srt(cues)
    assert "00:00:00,000 --> 00:00:01,234" in text and "00:01:01,500 --> 01:02:03,456" in text
    assert [(c.start, c.end, c.lines) for c in parse_srt(text)] == [(c.start, c.end, c.lines) for c in cues]


@needs_font
def test_ass_keeps_our_line_breaks_and_measured_lines_fit_the_frame():
    style = CaptionStyle.for_frame(FONT, 1080, 1920, 0.07, 0.2)
    words = [Word(i * 0.3, i * 0.3 + 0.25, w) for i,
        w in enumerate(("Captions matter because ninety percent of viewers "
             "watch on mobile with the sound off, so every word should be readable at a glance").split())]
    cues = group_cues(words, style.fits(), max_lines=2, max_seconds=10)
    measure = style.measure()
    assert all(measure(line) <= 1080 * 0.86 for c in cues for line in c.lines)
    ass = to_ass(cues, 1080, 1920, style)
    assert "WrapStyle: 2" in ass and "PlayResY: 1920" in ass and f",{round(1920 * 0.2)},1" in ass
    assert ass.count("Dialogue:") == len(cues) and any("\\N" in line for line in ass.splitlines()
            if line.startswith("Dialogue"))


# --- spans and jobs ---------------------------------------------------------------------------

def test_clip_span_pads_and_trims_at_a_sentence_end_within_the_platform_limit():
    assert clip_span(10.0, 40.0, [20.0, 40.0], 0.15, 0.35, 60, 100) == (9.85, 40.35, False)
    start, end, trimmed = clip_span(10.0, 70.0, [25.0, 55.0, 70.0], 0.15, 0.35, 60, 100)
    assert (start, trimmed) == (9.85, True) and end == pytest.approx(55.35)
    assert clip_span(10.0, 80.0, [75.0, 80.0], 0.15, 0.35, 60, 100) is None
    assert clip_span(0.05, 10.0, [10.0], 0.15, 0.35, 60, 10.1)[::2] == (0.0, False)


def test_identical_platform_specs_share_one_render_and_top_k_holds_per_platform():
    policy = ClipPolicy.model_validate(validate("clip", {"top_k": 2, "platforms": {
        "tiktok": {"aspect": "9:16", "width": 1080, "height": 1920, "caption_bottom": 0.2},
        "shorts": {"aspect": "9:16", "width": 1080, "height": 1920, "caption_bottom": 0.2},
        "linkedin": {"aspect": "16:9", "width": 1920, "height": 1080, "max_seconds": 20}}}))
    items = [Sentence(i, i * 10.0, i * 10.0 + 9.5, f"s{i}", 5, 8.0) for i in range(10)]
    spans = [(0.0, 29.5, 0, 2), (40.0, 59.5, 4, 5), (70.0, 89.5, 7, 8)]

    def row(platform, rank, span):
        return {"platform": platform, "rank": rank, "start": span[0], "end": span[1], "first_sentence": span[2],
            "last_sentence": span[3]}

    # TikTok and Shorts rank alike; LinkedIn ranks its own way; a blocked span is never rendered;
    # "reels" has no ranking of its own and borrows the first one.
    segments = [row("tiktok", r + 1, spans[r]) for r in range(3)] + [row("shorts", r + 1, spans[r]) for r in range(3)]
    segments += [row("linkedin", 1, spans[1]), row("linkedin", 2, spans[0]), row("linkedin", None, spans[2])]
    jobs, skipped = plan_jobs(segments, items, policy, 100.0)
    assert [(j.rank, j.platforms, j.start) for j in jobs] == [
        (1, ["linkedin"], 39.85), (1, ["shorts", "tiktok"], 0.0), (2, ["linkedin"], 0.0),
        (2, ["shorts", "tiktok"], 39.85)]
    linkedin_2 = jobs[2]
    assert linkedin_2.trimmed and linkedin_2.end - linkedin_2.start <= 20 and linkedin_2.end == pytest.approx(19.85)
    assert skipped == []
    assert [s["start"] for s in platform_ranking(segments, "reels")] == [0.0, 40.0, 70.0]
    assert [s["rank"] for s in platform_ranking(segments, "linkedin")] == [1, 2]


def test_clip_policy_refuses_a_size_that_does_not_match_its_aspect():
    with pytest.raises(ValueError, match="1080x1080 is not 9:16"):
        validate("clip", {"platforms": {"tiktok": {"aspect": "9:16", "width": 1080, "height": 1080}}})
    with pytest.raises(ValueError, match="must be even"):
        validate("clip", {"platforms": {"x": {"aspect": "1:1", "width": 1081, "height": 1081}}})


# --- the reframe path -------------------------------------------------------------------------

def test_crop_size_is_the_largest_even_window_of_the_aspect():
    assert crop_size(1920, 1080, 9, 16) == (608, 1080)
    assert crop_size(1280, 720, 1, 1) == (720, 720)
    assert crop_size(1080, 1920, 16, 9) == (1080, 608)
    assert crop_size(1280, 720, 16, 9) == (1280, 720)


def test_dead_zone_absorbs_detector_noise_so_a_still_face_gives_a_still_crop():
    rng = np.random.default_rng(0)
    samples = [FaceSample(t / 5, 640 + rng.normal(0, 6), 300.0, 200) for t in range(100)]
    path = plan_crop(samples, 1280, 720, (9, 16), 1080, 25, 500, [], 0.08, 0.6, 0.5)
    assert path.jitter < 1.0
    assert np.ptp(path.xs) <= 2


def test_crop_follows_a_moving_face_no_faster_than_the_face():
    # 20 s at 25 fps; the face crosses 60% of a 1280 px frame between 4 s and 16 s.
    face = lambda t: 1280 * (0.2 + 0.6 * min(1.0, max(0.0, (t - 4) / 12)))  # noqa: E731
    samples = [FaceSample(t / 5, face(t / 5), 300.0, 200) for t in range(100)]
    path = plan_crop(samples, 1280, 720, (9, 16), 1080, 25, 500, [], 0.08, 0.6, 0.5)
    centres = path.xs + path.width / 2
    truth = np.array([min(1280 - path.width / 2, max(path.width / 2, face(i / 25))) for i in range(500)])
    # Always inside the crop, and settled on it once it stops.
    assert np.max(np.abs(centres - truth)) < path.width / 2 - 100
    assert abs(centres[-1] - truth[-1]) < 0.08 * path.width
    face_speed = np.abs(np.diff(truth)).sum() * 25 / 499 * (1080 / path.width)
    assert path.jitter <= face_speed * 1.1


def test_crop_jumps_with_a_scene_cut_instead_of_panning():
    samples = [FaceSample(t / 5, 300.0 if t < 50 else 1000.0, 300.0, 200) for t in range(100)]
    dz = 0.08 * 404
    xs = follow(np.array([300.0] * 250 + [1000.0] * 250), 25, 202, 1078, dz, 0.6, 640, {250})
    assert xs[249] == pytest.approx(300) and xs[250] == pytest.approx(1000)
    path = plan_crop(samples, 1280, 720, (9, 16), 1080, 25, 500, [10.0], 0.08, 0.6, 0.5)
    assert path.jitter == 0.0


# --- real renders -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moving_face(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("faces")
    return make_face_video(folder / "moving.mp4", 12.0, lambda t: 0.2 + 0.6 * min(1.0, max(0.0, (t - 2) / 8)),
        cuts=(11.0,))


def test_vertical_render_has_exact_frames_size_and_audio_and_keeps_the_face_centred(moving_face, tmp_path):
    cut = ClipCut.snap(0.93, 11.77, 25)
    samples = track_faces(moving_face, cut.start, cut.start + cut.duration, 5.0)
    assert sum(s.cx is not None for s in samples) >= 0.9 * len(samples)
    path = plan_crop(samples, 1280, 720, (9, 16), 1080, 25, cut.frames, [11.0 - cut.start], 0.08, 0.6, 0.5)
    target = tmp_path / "vertical.mp4"
    render_clip(moving_face, target, cut, 1080, 1920, path)
    info = probe_clip(target)
    assert (info["width"], info["height"]) == (1080, 1920)
    assert abs(info["frames"] - cut.frames) <= 1 and info["duration"] == pytest.approx(cut.duration, abs=1 / 25 + 0.03)
    assert info["audio_duration"] == pytest.approx(cut.duration, abs=0.05)
    offsets = []
    with av.open(str(target)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 25 == 0:
                image = frame.to_ndarray(format="bgr24", width=540, height=960)
                found = [(f.x, f.y, f.w, f.h) for f in detect_faces(image)]
                assert found, f"no face in output frame {i}"
                x, _, w, _ = max(found, key=lambda b: b[2])
                offsets.append(abs(x + w / 2 - 270) / 540)
    # The face never drifts more than a fifth of the width from the centre of the vertical frame.
    assert max(offsets) < 0.2, offsets
    # Bound: the face moves 768 px in 8 s, 96 px/s of source = 257 px/s of output over 8 of 10.8 s,
    # so following it exactly costs about 190 px/s on average; jitter on top of that would exceed it.
    assert 100 < path.jitter < 210


def flash_and_beep_video(target: Path, flashes: list[float], seconds: float = 8.0, fps: int = 25) -> Path:
    """Black frames with a white flash frame, and a 1 kHz beep starting exactly then, at each time."""
    rate = 48000
    audio = np.zeros(int(seconds * rate), np.int16)
    for t in flashes:
        n = np.arange(int(0.1 * rate))
        audio[int(t * rate): int(t * rate) + len(n)] = (12000 * np.sin(2 * np.pi * 1000 * n / rate)).astype(np.int16)
    wav = target.with_suffix(".wav")
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(audio.tobytes())
    expr = "+".join(f"between(T,{t - 0.001},{t + 1 / fps - 0.002})" for t in flashes)
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"color=black:s=640x360:r={fps}:d={seconds}",
                    "-i", str(wav), "-vf", f"geq=lum='if({expr},255,16)':cb=128:cr=128", "-c:v", "libx264", "-g", "50",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(target)], check=True, capture_output=True)
    return target


def test_a_cut_between_keyframes_keeps_audio_in_sync_to_a_frame(tmp_path):
    source = flash_and_beep_video(tmp_path / "sync.mp4", [3.0, 5.6])
    cut = ClipCut.snap(2.37, 6.5, 25)  # starts 0.37 s after a keyframe at 2.0 s
    target = tmp_path / "clip.mp4"
    render_clip(source, target, cut, 360, 640, None)
    flashes = []
    with av.open(str(target)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if frame.to_ndarray(format="gray").mean() > 128:
                flashes.append(i / 25)
        container.seek(0)
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    rate = 48000
    loud = np.flatnonzero(np.abs(samples[: len(samples)]) > 0.1)
    beeps = [loud[0] / rate] + [loud[i] / rate for i in range(1, len(loud)) if loud[i] - loud[i - 1] > rate // 2]
    assert flashes == pytest.approx([3.0 - cut.start, 5.6 - cut.start], abs=0.021)
    assert beeps == pytest.approx(flashes, abs=0.041)


def test_no_face_gets_the_blurred_layout_at_the_exact_size(tmp_path):
    source = make_video(tmp_path / "patterns.mp4", "Nothing but test patterns here.", scenes=2)
    cut = ClipCut.snap(0.5, 2.5, 25)
    target = tmp_path / "blur.mp4"
    render_clip(source, target, cut, 540, 960, None)
    info = probe_clip(target)
    assert (info["width"], info["height"], info["frames"]) == (540, 960, 50)
    with av.open(str(target)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    # The sharp 16:9 picture sits in the middle band; above it is a blurred copy, not black bars.
    top, middle = frame[:200], frame[400:560]
    assert top.mean() > 20 and np.abs(np.diff(top, axis=1)).mean() < np.abs(np.diff(middle, axis=1)).mean()


@needs_font
def test_burned_captions_are_drawn_inside_the_safe_margins(moving_face, tmp_path):
    cut = ClipCut.snap(0.0, 3.0, 25)
    style = CaptionStyle.for_frame(FONT, 540, 960, 0.07, 0.2)
    cues = group_cues([Word(0.0, 2.9, "Readable"), Word(0.1, 2.9, "captions"), Word(0.2, 2.9, "everywhere")],
        style.fits())
    plain, captioned = tmp_path / "plain.mp4", tmp_path / "captioned.mp4"
    path = plan_crop([], 1280, 720, (9, 16), 540, 25, cut.frames, [], 0.08, 0.6, 0.5)
    render_clip(moving_face, plain, cut, 540, 960, path)
    render_clip(moving_face, captioned, cut, 540, 960, path, ass=to_ass(cues, 540, 960, style), fonts_dir=FONT.parent)

    def middle_frame(p: Path) -> np.ndarray:
        with av.open(str(p)) as container:
            return [f.to_ndarray(format="gray") for f in container.decode(video=0)][37].astype(int)

    changed = np.abs(middle_frame(captioned) - middle_frame(plain)) > 60
    rows, cols = np.nonzero(changed)
    assert len(rows) > 500, "no caption pixels"
    assert rows.max() <= 960 - 0.2 * 960 + 4 and rows.min() > 960 * 0.5
    assert cols.min() >= 540 * 0.07 - 4 and cols.max() <= 540 * 0.93 + 4


# --- the render budget ------------------------------------------------------------------------

def _budget_setup(tmp_path, render_top=1, crf=21):
    source_path = make_video(tmp_path / "talk.mp4", "One sentence here. And another one there.", scenes=2)
    with av.open(str(source_path)) as container:
        duration = float(container.duration / 1_000_000)
    policy = ClipPolicy.model_validate(validate("clip", {"top_k": 2, "render_top": render_top, "preset": "ultrafast",
        "crf": crf, "platforms": {"tiktok": {"aspect": "9:16", "width": 180, "height": 320, "caption_bottom": 0.2}}}))
    items = [Sentence(0, 0.2, 1.4, "One sentence here.", 3, 3.0), Sentence(1, 1.6, 2.8, "And another one there.", 4,
        3.0)]
    segments = [{"platform": "tiktok", "rank": 1, "start": 0.2, "end": 1.4, "first_sentence": 0, "last_sentence": 0},
                {"platform": "tiktok", "rank": 2, "start": 1.6, "end": 2.8, "first_sentence": 1, "last_sentence": 1}]
    source = SourceVideo(source_path, 640, 360, 25.0, duration, True)
    jobs, _ = plan_jobs(segments, items, policy, duration)
    return source, policy, jobs


def test_only_render_top_clips_are_rendered_and_an_on_demand_render_is_kept_while_it_matches(tmp_path):
    source, policy, jobs = _budget_setup(tmp_path)
    assert [(j.rank, j.eager) for j in jobs] == [(1, True), (2, False)]
    out = tmp_path / "clips"
    heard = []
    rendered, deferred = render_clips(jobs, source, [], [], policy, out, None,
                                      progress=lambda done, total, made: heard.append((done, total, made)))
    assert [c.job.rank for c in rendered] == [1] and [j.rank for j in deferred] == [2]
    assert heard == [(1, 1, rendered)]  # one segment rendered eagerly: one progress line, with its clips
    assert sorted(p.name for p in out.iterdir()) == [f"rank01_tiktok.{e}" for e in ("jpg", "json", "mp4", "srt")]

    made = render_one(deferred[0], jobs, source, [], [], policy, out, None)
    assert made.video_path.name == "rank02_tiktok.mp4" and probe_clip(made.video_path)["width"] == 180
    stamp = made.video_path.stat().st_mtime_ns
    # The next materialization keeps it, rendered, without encoding it again.
    rendered, deferred = render_clips(jobs, source, [], [], policy, out, None)
    assert [c.job.rank for c in rendered] == [1, 2] and deferred == []
    assert made.video_path.stat().st_mtime_ns == stamp
    assert render_one(jobs[1], jobs, source, [], [], policy, out, None).video_path.stat().st_mtime_ns == stamp

    # Other encoding settings: the on-demand render no longer matches, so it is removed and the row says so.
    _, other, jobs = _budget_setup(tmp_path / "again", crf=30)
    rendered, deferred = render_clips(jobs, source, [], [], other, out, None)
    assert [c.job.rank for c in rendered] == [1] and [j.rank for j in deferred] == [2]
    assert not (out / "rank02_tiktok.mp4").exists() and not (out / "rank02_tiktok.json").exists()


def test_render_top_zero_renders_nothing_and_above_top_k_renders_all(tmp_path):
    source, policy, jobs = _budget_setup(tmp_path, render_top=0)
    assert not any(j.eager for j in jobs)
    rendered, deferred = render_clips(jobs, source, [], [], policy, tmp_path / "none", None)
    assert rendered == [] and len(deferred) == 2 and list((tmp_path / "none").iterdir()) == []
    _, _, jobs = _budget_setup(tmp_path / "all", render_top=5)
    assert all(j.eager for j in jobs)


@pytest.mark.parametrize("threads", [0, 1])  # 0: ffmpeg's own choice; 1: one thread, as a busy machine asks
def test_two_frames_of_one_span_come_out_of_one_encode_exact_and_complete(tmp_path, threads):
    source = make_video(tmp_path / "patterns.mp4", "Nothing but test patterns here.", scenes=2)
    cut = ClipCut.snap(0.5, 2.5, 25)
    path = plan_crop([], 640, 360, (9, 16), 180, 25, cut.frames, [], 0.08, 0.6, 0.5)
    outputs = [ClipOutput(tmp_path / "tall.mp4", 180, 320, path), ClipOutput(tmp_path / "square.mp4", 240, 240, None)]
    render_outputs(source, cut, outputs, Encoding("ultrafast", 23, threads=threads))
    for out in outputs:
        info = probe_clip(out.target)
        assert (info["width"], info["height"], info["frames"]) == (out.width, out.height, 50)
        assert info["audio_duration"] == pytest.approx(cut.duration, abs=0.05)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patterns.mp4", "square.mp4", "tall.mp4"]  # no partials


def test_render_clips_groups_the_formats_of_one_segment(tmp_path):
    source, _, _ = _budget_setup(tmp_path)
    policy = ClipPolicy.model_validate(validate("clip", {"top_k": 1, "preset": "ultrafast", "platforms": {
        "tiktok": {"aspect": "9:16", "width": 180, "height": 320, "caption_bottom": 0.2},
        "linkedin": {"aspect": "1:1", "width": 240, "height": 240, "caption_bottom": 0.08}}}))
    items = [Sentence(0, 0.2, 1.4, "One sentence here.", 3, 3.0)]
    segments = [{"platform": p, "rank": 1, "start": 0.2, "end": 1.4, "first_sentence": 0, "last_sentence": 0}
                for p in ("tiktok", "linkedin")]
    jobs, _ = plan_jobs(segments, items, policy, source.duration)
    rendered, deferred = render_clips(jobs, source, [], [], policy, tmp_path / "out", None)
    assert deferred == [] and [c.job.platforms for c in rendered] == [["linkedin"], ["tiktok"]]
    for clip in rendered:
        info = probe_clip(clip.video_path)
        assert (info["width"], info["height"], info["frames"]) == (clip.job.spec.width, clip.job.spec.height,
                                                                   clip.cut.frames)
        assert clip.thumbnail_path.is_file() and clip.srt_path.is_file()


def test_overlapping_spans_are_tracked_once_and_each_gets_its_part_on_its_own_clock(moving_face, monkeypatch):
    import ai_assets.render.clips as clips_module
    from ai_assets.policy.documents import default_policy
    from ai_assets.render.clips import ClipJob, _tracks

    policy = default_policy("clip").parsed()
    spec = policy.platforms["tiktok"]
    jobs = [ClipJob(1, 1.0, 7.0, spec, ["tiktok"], eager=True), ClipJob(2, 4.0, 11.0, spec, ["linkedin"], eager=True)]
    source = SourceVideo(moving_face, 1280, 720, 25.0, 12.0, True)
    calls = []
    real = clips_module.track_faces
    monkeypatch.setattr(clips_module, "track_faces", lambda *a: calls.append(a[1:3]) or real(*a))
    tracks = _tracks([1.0, 4.0], jobs, source, policy)
    assert calls == [(1.0, 11.0)]  # one decode over the union
    first, second = tracks[1.0], tracks[4.0]
    assert first[0].time == 0.0 and max(s.time for s in first) < 6.0
    assert 0.0 <= second[0].time < 0.25 and max(s.time for s in second) < 7.0
    # The face moves right over the video: each part sees the positions of its own span, not the other's.
    alone = real(moving_face, 4.0, 11.0, policy.reframe.track_fps)
    found = [(s.time, s.cx) for s in second if s.cx is not None]
    expected = [s.cx for s in alone if s.cx is not None]
    assert len(found) >= 0.9 * len(second)
    assert np.mean([cx for _, cx in found]) == pytest.approx(np.mean(expected), rel=0.05)
    # Apart from each other, spans keep their own decode.
    calls.clear()
    far = [ClipJob(1, 0.0, 3.0, spec, ["tiktok"], eager=True), ClipJob(2, 8.0, 11.0, spec, ["linkedin"], eager=True)]
    _tracks([0.0, 8.0], far, source, policy)
    assert calls == [(0.0, 3.0), (8.0, 11.0)]


# --- the encoder ---------------------------------------------------------------------------------

def test_nvenc_gets_the_preset_of_the_same_rank_and_the_crf_as_its_constant_quality():
    assert Encoding("veryfast", 23, codec="h264_nvenc").video_args() == [
        "-c:v", "h264_nvenc", "-preset", "p3", "-tune", "hq", "-rc", "vbr", "-cq", "23", "-b:v", "0", "-profile:v",
        "high"]
    x264_order = ClipPolicy.model_fields["preset"].annotation.__args__
    assert [NVENC_PRESETS[p] for p in x264_order] == [f"p{i}" for i in range(1, 8)]
    assert Encoding("ultrafast", 21, threads=2).video_args() == [
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "21", "-profile:v", "high", "-threads:v", "2"]
    with pytest.raises(ValueError, match="unknown video encoder 'x265'"):
        Encoding(codec="x265").video_args()


def test_auto_takes_nvenc_only_where_its_trial_encode_works():
    def never() -> str:
        raise AssertionError("libx264 needs no trial")

    assert choose_encoder("auto", lambda: None) == ("h264_nvenc", None)
    assert choose_encoder("h264_nvenc", lambda: None) == ("h264_nvenc", None)
    assert choose_encoder("auto", lambda: "Cannot load libcuda.so.1") == ("libx264",
                                                                          "no NVENC (Cannot load libcuda.so.1)")
    assert choose_encoder("h264_nvenc", lambda: "No capable devices found") == (
        "libx264", "h264_nvenc could not run here (No capable devices found)")
    assert choose_encoder("libx264", never) == ("libx264", None)
    with pytest.raises(ValueError, match="unknown encoder 'x264'"):
        choose_encoder("x264")


def test_the_encoder_enters_a_render_signature_only_when_the_policy_names_one(tmp_path):
    _, policy, jobs = _budget_setup(tmp_path)
    named = {e: policy.model_copy(update={"encoder": e}) for e in ("auto", "libx264", "h264_nvenc")}
    source = SourceVideo(Path("media/talk.mp4"), 640, 360, 25.0, 10.0, True)
    signatures = {e: jobs[0].signature(p, source) for e, p in named.items()}
    assert len(set(signatures.values())) == 3
    assert signatures["auto"] == jobs[0].signature(policy, source)


needs_no_nvenc = pytest.mark.skipif(nvenc_problem() is None, reason="this machine's ffmpeg can encode with NVENC")


@needs_no_nvenc
def test_the_trial_encode_says_in_one_line_why_nvenc_cannot_run_here():
    why = nvenc_problem()
    assert why and "\n" not in why and len(why) < 300
    assert "[h264_nvenc @" not in why and "ffmpeg failed" not in why  # ffmpeg's reason itself, not its wrapping


@needs_no_nvenc
def test_a_policy_asking_for_nvenc_still_renders_on_a_machine_without_one(tmp_path):
    source, policy, jobs = _budget_setup(tmp_path)
    policy = policy.model_copy(update={"encoder": "h264_nvenc"})
    rendered, _ = render_clips(jobs, source, [], [], policy, tmp_path / "out", None)
    [clip] = rendered
    assert clip.encoder == "libx264" and clip.encoder_note == f"h264_nvenc could not run here ({nvenc_problem()})"
    assert json.loads((tmp_path / "out" / "rank01_tiktok.json").read_text())["encoder"] == "libx264"
    assert probe_clip(clip.video_path)["frames"] == clip.cut.frames


@needs_no_nvenc
def test_a_clip_nvenc_fails_on_is_encoded_on_the_cpu_instead(tmp_path, monkeypatch):
    import ai_assets.render.clips as clips_module

    source, policy, jobs = _budget_setup(tmp_path)
    # As if the trial had passed: the real encode then fails here (no driver), as a GPU's full session table would.
    monkeypatch.setattr(clips_module, "choose_encoder", lambda wanted: ("h264_nvenc", None))
    rendered, _ = render_clips(jobs, source, [], [], policy, tmp_path / "out", None)
    [clip] = rendered
    assert clip.encoder == "libx264" and clip.encoder_note.startswith("h264_nvenc failed on this clip (")
    info = probe_clip(clip.video_path)
    assert (info["width"], info["height"], info["frames"]) == (180, 320, clip.cut.frames)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"rank01_tiktok.{e}" for e in ("jpg", "json", "mp4", "srt")]  # no partial left by the failed encode


def test_an_on_demand_render_made_at_another_frame_rate_is_not_kept(tmp_path):
    source, policy, jobs = _budget_setup(tmp_path)
    out = tmp_path / "clips"
    render_clips(jobs, source, [], [], policy, out, None)
    made = render_one(jobs[1], jobs, source, [], [], policy, out, None)
    record = made.video_path.with_suffix(".json")
    stored = json.loads(record.read_text())
    assert stored["fps"] == 25.0
    # From before the rate was recorded: kept while its frame count is the cut's.
    record.write_text(json.dumps({k: v for k, v in stored.items() if k != "fps"}))
    rendered, deferred = render_clips(jobs, source, [], [], policy, out, None)
    assert [c.job.rank for c in rendered] == [1, 2] and deferred == []
    # Made when the source was probed at its average rate (a variable-rate recording): rendered again on demand.
    record.write_text(json.dumps({**stored, "fps": 14.818}))
    rendered, deferred = render_clips(jobs, source, [], [], policy, out, None)
    assert [c.job.rank for c in rendered] == [1] and [j.rank for j in deferred] == [2]
