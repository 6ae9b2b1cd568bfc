"""Media as devices record it: a phone's video stored on its side with a display rotation, and a stream recording
whose clock starts late, are probed, scanned, tracked and cut as they are shown and played."""

from __future__ import annotations

import subprocess

import av
import numpy as np
import pytest
from PIL import Image

from ai_assets.ingest.samples import make_face_video
from ai_assets.ingest.source_video import picture_end, probe
from ai_assets.policy.documents import default_policy
from ai_assets.render.clips import ClipJob, SourceVideo, render_jobs
from ai_assets.render.encode import (
    ClipCut,
    ClipOutput,
    Encoding,
    RenderError,
    render_outputs,
    render_thumbnail,
    video_frames,
)
from ai_assets.render.reframe import plan_crop, track_faces
from ai_assets.vision.faces import detect_faces
from ai_assets.vision.keyframes import scan_video

WIDTH, HEIGHT, FACE_X = 640, 360, 0.75


@pytest.fixture(scope="module")
def on_its_side(tmp_path_factory):
    """An upright 640x360 face video, stored turned a quarter clockwise (360x640) with a 90 degree display rotation,
    as a phone stores what it filmed."""
    folder = tmp_path_factory.mktemp("rotation")
    upright = make_face_video(folder / "upright.mp4", 3.0, lambda t: FACE_X, size=(WIDTH, HEIGHT))
    side = folder / "side.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(upright), "-vf", "transpose=clock",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "copy", str(side)],
                   check=True)
    tagged = folder / "phone.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(side), "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", str(tagged)], check=True)
    with av.open(str(tagged)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height, frame.rotation) == (HEIGHT, WIDTH, 90)  # stored on its side
    return tagged


def test_the_probe_gives_the_size_as_shown_and_the_rotation(on_its_side):
    info = probe(on_its_side)
    assert (info.width, info.height, info.rotation) == (WIDTH, HEIGHT, 90)


def test_keyframes_are_upright(on_its_side, tmp_path):
    scan = scan_video(on_its_side, tmp_path / "frames", 1.0, 0)
    assert (scan.width, scan.height) == (320, 180)
    with Image.open(scan.keyframes[0].path) as first:
        assert first.size == (320, 180)


def test_the_face_is_tracked_and_cut_where_it_is_shown(on_its_side, tmp_path):
    samples = track_faces(on_its_side, 0.0, 2.0, 5.0)
    assert all(s.cx is not None and abs(s.cx - FACE_X * WIDTH) < 20 for s in samples)
    cut = ClipCut.snap(0.0, 2.0, 25)
    path = plan_crop(samples, WIDTH, HEIGHT, (9, 16), 180, 25, cut.frames, [], 0.08, 0.6, 0.5)
    out = tmp_path / "clip.mp4"
    render_outputs(on_its_side, cut, [ClipOutput(out, 180, 320, path)], Encoding("ultrafast", 23))
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    assert frame.shape[:2] == (320, 180)
    [face] = detect_faces(frame)
    assert abs(face.centre[0] - 90) < 25  # the face, upright, in the middle of the 9:16 crop


def test_a_recording_whose_clock_starts_late_is_scanned_and_tracked_on_the_file_clock(tmp_path):
    """MPEG-TS cut from a broadcast or a stream keeps its capture clock: here the first frame says 101.4 s."""
    made = make_face_video(tmp_path / "made.mp4", 4.0, lambda t: 0.25 if t < 2.0 else 0.75, cuts=(2.0,),
                           size=(WIDTH, HEIGHT))
    ts = tmp_path / "recording.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(made), "-c", "copy", "-f", "mpegts",
                    "-output_ts_offset", "100", str(ts)], check=True)
    with av.open(str(ts)) as container:
        assert container.start_time / 1e6 > 100
    scan = scan_video(ts, tmp_path / "frames", 1.0, 0)
    assert scan.keyframes[0].time == pytest.approx(0.0, abs=0.05)
    assert scan.cuts == [pytest.approx(2.0, abs=0.05)]
    samples = track_faces(ts, 1.0, 3.0, 5.0)
    assert samples[0].time == pytest.approx(0.0, abs=0.05) and len(samples) == 10
    # The face is on the left until the cut at 2 s of the file, on the right after it.
    assert all(abs(s.cx - (0.25 if s.time < 0.95 else 0.75) * WIDTH) < 20 for s in samples if abs(s.time - 1.0) > 0.1)


def test_non_square_pixels_are_shown_and_cut_at_their_shape(tmp_path):
    """HDV stores 1920x1080 as 1440x1080 pixels a third wider than tall (sample aspect ratio 4:3)."""
    made = make_face_video(tmp_path / "made.mp4", 2.0, lambda t: 0.75, size=(960, 540))
    hdv = tmp_path / "hdv.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(made), "-vf",
                    "scale=720:540,setsar=4/3", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(hdv)],
                   check=True)
    info = probe(hdv)
    assert (info.width, info.height) == (960, 540)
    scan = scan_video(hdv, tmp_path / "frames", 1.0, 0)
    assert (scan.width, scan.height) == (320, 180)
    samples = track_faces(hdv, 0.0, 1.0, 5.0)
    assert all(abs(s.cx - 0.75 * 960) < 25 for s in samples)
    cut = ClipCut.snap(0.0, 1.0, 25)
    clips = {}
    for name, source in (("square", made), ("hdv", hdv)):
        path = plan_crop(track_faces(source, 0.0, 1.0, 5.0), 960, 540, (1, 1), 270, 25, cut.frames, [], 0.08, 0.6,
                         0.5)
        clips[name] = tmp_path / f"{name}.mp4"
        render_outputs(source, cut, [ClipOutput(clips[name], 270, 270, path)], Encoding("ultrafast", 23))
    frames = {}
    for name, clip in clips.items():
        with av.open(str(clip)) as container:
            frames[name] = next(container.decode(video=0)).to_ndarray(format="gray").astype(float)
    # The same picture, give or take the detail HDV's pixels lost (0.1 grey levels; squeezed, it differed by 5.4).
    assert np.abs(frames["hdv"] - frames["square"]).mean() < 1.5


@pytest.fixture(scope="module")
def one_gop_ts(tmp_path_factory) -> tuple:
    """An MPEG-TS recording in one GOP (one keyframe, at its start), and the same stream in MP4. ffmpeg's seek into
    the TS's last GOP gives no picture, and PyAV's lands past its target."""
    folder = tmp_path_factory.mktemp("gop")
    made = make_face_video(folder / "made.mp4", 8.0, lambda t: 0.3 + 0.05 * t, size=(WIDTH, HEIGHT))
    ts, mp4 = folder / "recording.ts", folder / "same.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(made), "-c:v", "libx264", "-preset",
                    "ultrafast", "-g", "1000", "-c:a", "copy", "-f", "mpegts", str(ts)], check=True)
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(ts), "-c", "copy", str(mp4)],
                   check=True)
    return ts, mp4


def test_a_span_in_the_last_gop_of_a_ts_is_tracked_rendered_and_thumbnailed(one_gop_ts, tmp_path):
    ts, mp4 = one_gop_ts
    samples = track_faces(ts, 5.0, 7.0, 5.0)
    assert len(samples) == 10 and samples[0].time == pytest.approx(0.0, abs=0.05)
    assert all(abs(s.cx - (0.3 + 0.05 * (5.0 + s.time)) * WIDTH) < 20 for s in samples)
    cut = ClipCut.snap(5.0, 7.0, 25)
    path = plan_crop(samples, WIDTH, HEIGHT, (1, 1), 180, 25, cut.frames, [], 0.08, 0.6, 0.5)
    pictures = {}
    for name, source in (("ts", ts), ("mp4", mp4)):
        clip, thumb = tmp_path / f"{name}.mp4", tmp_path / f"{name}.jpg"
        render_outputs(source, cut, [ClipOutput(clip, 180, 180, path)], Encoding("ultrafast", 18))
        render_thumbnail(source, thumb, 6.0, 180, 180, (int(path.xs[25]), 0, path.width, path.height))
        assert video_frames(clip) == 50 and thumb.stat().st_size > 0
        with av.open(str(clip)) as container:
            first = next(container.decode(video=0)).to_ndarray(format="gray").astype(float)
        with av.open(str(thumb)) as container:
            pictures[name] = (first, next(container.decode(video=0)).to_ndarray(format="gray").astype(float))
    # The same frames as the MP4, which seeks as it should: the clip starts at 5 s, not at the file's start.
    for from_ts, from_mp4 in zip(pictures["ts"], pictures["mp4"], strict=True):
        assert np.abs(from_ts - from_mp4).mean() < 1.0


def combing(path) -> float:
    """Mean difference of each row from the average of its neighbours: high where two fields of a moving picture
    are woven into one frame."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="gray").astype(float) for f in container.decode(container.streams.video[0])]
    return float(np.mean([np.abs(g[1:-1] - (g[:-2] + g[2:]) / 2).mean() for g in frames]))


def test_interlaced_video_is_recognised_and_its_clips_and_thumbnails_are_deinterlaced(tmp_path):
    """1080i as broadcast and camcorders record it: two fields 1/50 s apart in each frame."""
    interlaced = tmp_path / "interlaced.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=640x360:r=50:d=3", "-f", "lavfi", "-i", "sine=d=3", "-vf",
                    "tinterlace=mode=interleave_top,setfield=tff", "-c:v", "libx264", "-preset", "ultrafast",
                    "-crf", "16", "-flags", "+ildct+ilme", "-x264-params", "tff=1", "-c:a", "aac", "-shortest",
                    str(interlaced)], check=True)
    assert probe(interlaced).interlaced
    assert not probe(make_face_video(tmp_path / "progressive.mp4", 1.0, lambda t: 0.5)).interlaced
    cut = ClipCut.snap(0.5, 2.5, 25)
    path = plan_crop([], 640, 360, (1, 1), 360, 25, cut.frames, [], 0.08, 0.6, 0.5)
    combs = {}
    for woven in (False, True):
        clip, thumb = tmp_path / f"clip-{woven}.mp4", tmp_path / f"thumb-{woven}.jpg"
        render_outputs(interlaced, cut, [ClipOutput(clip, 360, 360, path)], Encoding("ultrafast", 16), True,
                       interlaced=woven)
        render_thumbnail(interlaced, thumb, 1.0, 360, 360, (140, 0, 360, 360), interlaced=woven)
        assert video_frames(clip) == 50  # one frame per frame: the clip keeps the source's 25 fps
        combs[woven] = (combing(clip), combing(thumb))
    for combed, clean in zip(combs[False], combs[True], strict=True):
        assert clean < combed / 2, combs


def _freeze(source, target, keep: str) -> None:
    """`source` with only the frames `keep` (an ffmpeg select expression) selects, each kept at its own time: a
    variable frame rate, as a meeting recorder writes while a still screen is shared."""
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(source), "-vf", f"select='{keep}'",
                    "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(target)],
                   check=True)


def test_a_recording_that_drops_to_a_frame_a_second_is_cut_at_its_camera_rate(tmp_path):
    made = make_face_video(tmp_path / "camera.mp4", 6.0, lambda t: 0.3 + 0.1 * t, size=(WIDTH, HEIGHT))
    meeting = tmp_path / "meeting.mp4"
    _freeze(made, meeting, "not(between(t,1,5))+not(mod(n,25))")  # 25 fps, 1 fps from 1 s to 5 s, 25 fps again
    with av.open(str(meeting)) as container:
        assert float(container.streams.video[0].average_rate) < 12  # what the rate used to be taken from
    info = probe(meeting)
    assert info.fps == 25.0
    cut = ClipCut.snap(0.0, 6.0, info.fps)
    samples = track_faces(meeting, 0.0, 6.0, 5.0)
    path = plan_crop(samples, WIDTH, HEIGHT, (9, 16), 180, info.fps, cut.frames, [], 0.08, 0.6, 0.5)
    out = tmp_path / "clip.mp4"
    render_outputs(meeting, cut, [ClipOutput(out, 180, 320, path)], Encoding("ultrafast", 23))
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        # A constant 25 fps (captions and crop move at every frame), not the average.
        assert (stream.average_rate, video_frames(out)) == (25, 150)
    # In the frozen stretch the crop still follows the face, at its one-a-second positions.
    assert samples[-1].cx is not None and samples[-1].cx > samples[0].cx + 0.3 * WIDTH


@pytest.mark.parametrize("container", ["mkv", "webm"])
def test_a_constant_rate_stays_exact_when_timestamps_are_rounded_to_milliseconds(tmp_path, container):
    target = tmp_path / f"ntsc.{container}"
    codec = ["libx264", "-preset", "ultrafast"] if container == "mkv" else ["libvpx", "-deadline", "realtime"]
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=30000/1001", "-f", "lavfi", "-i", "sine", "-t", "4", "-c:v", *codec,
                    str(target)], check=True)
    assert probe(target).fps == pytest.approx(30000 / 1001)


def test_a_mostly_frozen_recording_whose_container_states_the_average_rate_is_still_cut_at_its_camera_rate(tmp_path):
    made = make_face_video(tmp_path / "camera.mp4", 8.0, lambda t: 0.5, size=(320, 180))
    frozen = tmp_path / "frozen.mp4"
    _freeze(made, frozen, "not(between(t,1,7))+not(mod(n,50))")  # 2 s of camera, 6 s of one frame every 2 s
    remuxed = tmp_path / "frozen.mkv"  # Matroska states only the average rate
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(frozen), "-c", "copy", str(remuxed)],
                   check=True)
    with av.open(str(remuxed)) as container:
        stream = container.streams.video[0]
        assert float(stream.base_rate) == pytest.approx(float(stream.average_rate))
        assert float(stream.average_rate) < 10
    assert probe(remuxed).fps == 25.0


def test_a_recording_of_slides_after_a_short_camera_intro_still_gets_a_video_rate(tmp_path):
    made = make_face_video(tmp_path / "camera.mp4", 30.0, lambda t: 0.5, size=(320, 180))
    slides = tmp_path / "slides.mp4"
    _freeze(made, slides, "lt(t,2)+not(mod(n,75))")  # 2 s of camera, then a slide every 3 s: no sample on camera
    with av.open(str(slides)) as container:
        assert float(container.streams.video[0].average_rate) < 3
    assert probe(slides).fps == 25.0  # the stated rate: captions move at 25 fps, not once every 3 s


@pytest.fixture(scope="module")
def stream_that_drops(tmp_path_factory):
    """A recorded adaptive stream (MPEG-TS): 2 s of a face at 640x360, then the network slows and the same shot goes
    on at 320x180 for 2 s, then 2 s at 4:3 (240x180), all in one H.264 stream, as an HLS download keeps it."""
    folder = tmp_path_factory.mktemp("adaptive")
    parts = []
    for k, size in enumerate([(WIDTH, HEIGHT), (WIDTH // 2, HEIGHT // 2), (240, 180)]):
        face = make_face_video(folder / f"face{k}.mp4", 2.0, lambda t: FACE_X, size=size)
        part = folder / f"part{k}.ts"
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(face), "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac", "-f", "mpegts",
                        str(part)], check=True)
        parts.append(part)
    listing = folder / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    stream = folder / "stream.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", str(stream)], check=True)
    with av.open(str(stream)) as container:
        frames = [(float(f.time), (f.width, f.height)) for f in container.decode(video=0)]
    # Where each new size starts, on the file's clock (ffmpeg's concat leaves the parts' own offsets out).
    starts = [(t - frames[0][0], size) for k, (t, size) in enumerate(frames) if k == 0 or size != frames[k - 1][1]]
    assert [size for _, size in starts] == [(WIDTH, HEIGHT), (WIDTH // 2, HEIGHT // 2), (240, 180)]
    changes = [t for t, _ in starts[1:]]
    return stream, changes


def test_a_stream_that_changes_resolution_is_tracked_and_cut_on_its_first_size(stream_that_drops, tmp_path):
    stream_that_drops, (_, to_four_thirds) = stream_that_drops
    info = probe(stream_that_drops)
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    samples = track_faces(stream_that_drops, 0.0, 6.0, 5.0, frame_size=(WIDTH, HEIGHT))
    found = [s for s in samples if s.cx is not None]
    assert len(found) >= 0.8 * len(samples)
    # The same face, where the render's fit puts each part: 0.75 of the width at full and half size; in the 4:3 part
    # (scaled to 480x360, centred: 80 px bars) at 80 + 0.75 * 480 = 440.
    for s in found:
        expected = FACE_X * WIDTH if s.time < to_four_thirds - 1e-3 else 80 + FACE_X * 480
        assert abs(s.cx - expected) < 25, (s.time, s.cx)
        assert abs(s.cy - HEIGHT / 2) < 40
    cut = ClipCut.snap(0.0, 6.0, 25)
    path = plan_crop(samples, WIDTH, HEIGHT, (9, 16), 180, 25, cut.frames, [4.0], 0.08, 0.6, 0.5)
    clip, thumb = tmp_path / "clip.mp4", tmp_path / "thumb.jpg"
    render_outputs(stream_that_drops, cut, [ClipOutput(clip, 180, 320, path)], Encoding("ultrafast", 23),
                   frame=(WIDTH, HEIGHT))
    assert video_frames(clip) == cut.out_frames
    render_thumbnail(stream_that_drops, thumb, 5.0, 180, 320, (int(path.xs[125]), 0, path.width, path.height),
                     frame=(WIDTH, HEIGHT))
    with av.open(str(clip)) as container:
        last = list(container.decode(video=0))[-1].to_ndarray(format="gray")
    # The face (light skin on a darker backdrop) stays in the middle of the crop after both drops.
    middle = last[100:220, 60:120].mean()
    assert middle > last[100:220, :20].mean() + 20
    # Planned on the first size, the crop does not fit the smaller frames without the fit: ffmpeg refuses them.
    with pytest.raises(RenderError, match="too big|Invalid"):
        render_outputs(stream_that_drops, cut, [ClipOutput(tmp_path / "unfitted.mp4", 180, 320, path)],
                       Encoding("ultrafast", 23))


@pytest.fixture(scope="module", params=["mp4", "ts", "remuxed-ts.mp4"])
def capture(request, tmp_path_factory):
    """A screen capture that stopped at 2 s while the microphone recorded on to 5 s: as an MP4, as MPEG-TS with one
    keyframe (whose clock starts at 1.4 s, and where a seek lands late), and that TS remuxed to MP4 (its picture
    starting 23 ms after its sound)."""
    folder = tmp_path_factory.mktemp("capture")
    kind = request.param
    source = folder / f"capture.{kind.split('.')[-1]}"
    first = folder / "capture.ts" if kind == "remuxed-ts.mp4" else source
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=320x180:r=25:d=2", "-f", "lavfi", "-i", "sine=f=440:d=5", "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", "250", "-pix_fmt", "yuv420p", "-c:a", "aac", str(first)],
                   check=True)
    if first != source:
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(first), "-c", "copy",
                        str(source)], check=True)
    return source


def last_picture(source) -> np.ndarray:
    with av.open(str(source)) as container:
        return list(container.decode(video=0))[-1].to_ndarray(format="gray")


def test_the_picture_end_is_read_from_the_last_packets(capture, tmp_path):
    # The 50th frame at 25 fps, on the file's clock (the TS's picture starts 23 ms after its sound).
    assert picture_end(capture) == pytest.approx(1.96, abs=0.03)
    sound = tmp_path / "sound.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(capture), "-vn", "-c:a", "copy",
                    str(sound)], check=True)
    assert picture_end(sound) is None


def test_a_clip_past_the_end_of_the_picture_holds_its_last_frame_to_the_end_of_the_sound(capture, tmp_path):
    source = capture
    cut = ClipCut.snap(1.0, 4.0, 25)
    clip = tmp_path / "clip.mp4"
    render_outputs(source, cut, [ClipOutput(clip, 180, 180, None)], Encoding("ultrafast", 23))
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
        container.seek(0)
        sound = sum(f.samples for f in container.decode(audio=0)) / 48000
    assert len(frames) == cut.out_frames == 75  # not the 25 frames the picture has from 1 s on
    assert sound == pytest.approx(3.0, abs=0.05)
    assert frames[-1].std() > 20 and np.abs(frames[-1].astype(int) - frames[30]).mean() < 1  # the last picture, held


def test_a_clip_after_the_picture_has_ended_shows_its_last_frame_over_the_sound(capture, tmp_path):
    cut = ClipCut.snap(3.0, 4.6, 25)
    clip, thumb = tmp_path / "clip.mp4", tmp_path / "thumb.jpg"
    render_outputs(capture, cut, [ClipOutput(clip, 320, 180, None)], Encoding("ultrafast", 18))
    render_thumbnail(capture, thumb, 3.5, 320, 180, (0, 0, 320, 180))
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
        container.seek(0)
        sound = sum(f.samples for f in container.decode(audio=0)) / 48000
    assert len(frames) == cut.out_frames == 40
    assert sound == pytest.approx(1.6, abs=0.05)
    last = last_picture(capture)
    assert frames[0].std() > 20
    assert all(np.abs(f.astype(int) - last).mean() < 3 for f in (frames[0], frames[-1]))
    with Image.open(thumb) as image:
        assert np.abs(np.asarray(image.convert("L")).astype(int) - last).mean() < 3


def browser_recording(tmp_path, picture_s: float, sound_s: float):
    """A WebM as MediaRecorder writes it (live: no duration in the header, no cues), VP8 and Opus."""
    webm = tmp_path / "recording.webm"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=s=320x180:r=25:d={picture_s:g}", "-f", "lavfi", "-i", f"sine=d={sound_s:g}", "-c:v",
                    "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus", "-live", "1", "-f", "webm",
                    str(webm)], check=True)
    return webm


def test_a_browser_recording_without_a_stated_length_is_measured(tmp_path):
    # MediaRecorder (browser recorders, web meeting tools) writes WebM as it goes: no duration in the header, no cues.
    webm = browser_recording(tmp_path, 4, 4)
    with av.open(str(webm)) as container:
        assert container.duration is None and all(s.duration is None for s in container.streams)
    info = probe(webm)
    assert info.duration == pytest.approx(4.0, abs=0.05)
    assert info.fps == 25


def test_a_browser_recording_whose_picture_stopped_holds_its_last_frame(tmp_path):
    # The picture stops at 2 s, the sound goes on to 5 s, and the WebM states no length anywhere.
    webm = browser_recording(tmp_path, 2, 5)
    cut = ClipCut.snap(3.0, 4.6, 25)
    clip = tmp_path / "clip.mp4"
    render_outputs(webm, cut, [ClipOutput(clip, 320, 180, None)], Encoding("ultrafast", 18))
    assert video_frames(clip) == cut.out_frames == 40


def test_an_flv_that_refuses_a_seek_to_its_start_is_tracked_from_its_first_frame(tmp_path):
    """Flash video from an old archive: its demuxer refuses a seek to 0 (EPERM), which every clip starting in the
    first second asks for. Before, the clips step failed with `[Errno 1] Operation not permitted`."""
    made = make_face_video(tmp_path / "made.mp4", 4.0, lambda t: 0.25 if t < 2.0 else 0.75, cuts=(2.0,),
                           size=(WIDTH, HEIGHT))
    flv = tmp_path / "archive.flv"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(made), "-c:v", "flv1", "-q:v", "3",
                    "-c:a", "aac", str(flv)], check=True)
    with av.open(str(flv)) as container, pytest.raises(av.error.FFmpegError):
        container.seek(0, stream=container.streams.video[0], backward=True)
    for start in (0.0, 0.5):  # a clip from the very start, and one whose seek a second early asks for 0
        samples = track_faces(flv, start, 3.0, 5.0)
        assert len(samples) == pytest.approx((3.0 - start) * 5, abs=1)
        assert samples[0].time == pytest.approx(0.0, abs=0.05)
        assert all(abs(s.cx - (0.25 if s.time + start < 1.95 else 0.75) * WIDTH) < 20 for s in samples
                   if abs(s.time + start - 2.0) > 0.1)
    assert track_faces(flv, 2.5, 3.5, 5.0)[0].cx == pytest.approx(0.75 * WIDTH, abs=20)  # later seeks still work


@pytest.mark.parametrize("default", [True, False])
def test_of_two_pictures_the_main_one_is_probed_cut_and_thumbnailed(tmp_path, default):
    """A small green proxy stream first, then the red main picture (a camera's proxy, a recorder's second angle):
    the main one is marked default, or both are and the larger wins. Before, stream 0 was taken: clips of the proxy,
    upscaled."""
    source = tmp_path / "two_pictures.mp4"
    marks = ["-disposition:v:0", "0" if default else "default", "-disposition:v:1", "default"]
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "color=c=green:s=160x90:r=10:d=3", "-f", "lavfi", "-i", "color=c=red:s=640x360:r=25:d=3",
                    "-f", "lavfi", "-i", "sine=d=3", "-map", "0:v", "-map", "1:v", "-map", "2:a", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", *marks, str(source)], check=True)
    info = probe(source)
    assert (info.width, info.height, info.fps) == (640, 360, 25)
    clip, thumb = tmp_path / "clip.mp4", tmp_path / "thumb.jpg"
    render_outputs(source, ClipCut.snap(0.5, 2.5, 25), [ClipOutput(clip, 180, 320, None)], Encoding("ultrafast", 23))
    render_thumbnail(source, thumb, 1.0, 180, 320, (230, 0, 180, 320))
    assert video_frames(clip) == 50
    with av.open(str(clip)) as container:
        picture = next(container.decode(video=0)).to_ndarray(format="rgb24")
    red, green = picture[160, 90, 0], picture[160, 90, 1]
    assert red > 200 and green < 60  # the main picture, not the proxy
    assert np.asarray(Image.open(thumb))[160, 90, 0] > 200


@pytest.mark.parametrize(("rate", "clip_fps"), [(120, 60), (100, 50), (60, 60), (25, 25)])
def test_slow_motion_is_cut_at_a_rate_platforms_play(tmp_path, rate, clip_fps):
    """A phone's 120 fps slow motion: before, clips came out at 120 fps (Instagram takes 23-60), each frame encoded."""
    source = make_face_video(tmp_path / f"phone{rate}.mp4", 3.0, lambda t: 0.5, size=(320, 180), fps=rate)
    policy = default_policy("clip").parsed()
    row = {"has_video": True, "width": 320, "height": 180, "fps": float(rate), "duration": 3.0, "has_audio": True,
           "media_path": str(source)}
    video = SourceVideo.from_row(source, row)
    assert video.fps == clip_fps
    [clip] = render_jobs([ClipJob(1, 0.5, 2.5, policy.platforms["linkedin"], ["linkedin"], eager=True)], video, [],
                         [], policy, tmp_path, None, [])
    assert clip.cut.fps == clip_fps and video_frames(clip.video_path) == 2 * clip_fps
    with av.open(str(clip.video_path)) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(clip_fps, abs=0.01)
