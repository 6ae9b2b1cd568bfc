"""Active-speaker framing: the crop follows whoever speaks, cuts on the change, and stacks two quick talkers."""

import subprocess
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from ai_assets.ingest.samples import draw_face
from ai_assets.render.encode import ClipCut, ClipOutput, render_outputs
from ai_assets.render.reframe import (
    FaceSample,
    SeenFace,
    follow_speakers,
    plan_crop,
    speech_regions,
    stack_crops,
    stacked_pair,
    track_faces,
)
from ai_assets.vision.faces import detect_faces
from ai_assets.vision.speaking import MIN_LEAD_SECONDS, choose_speakers, two_speaker_layout
from tests.conversation import build_conversation, crop_on_speaker

GRID = Path(__file__).resolve().parents[2].parent / "shared" / "media" / "grid-faces"
STEP = 0.2


def series(n, pattern):
    return np.array([pattern(k * STEP) for k in range(n)], dtype=float)


def test_the_speaking_face_is_chosen_and_the_switch_is_dated_back_to_the_start_of_its_lead():
    times = np.arange(60) * STEP  # 12 s; left speaks in [0, 6), right in [6, 12)
    motion = {0: series(60, lambda t: 1.5 if t < 6 else 0.0), 1: series(60, lambda t: 1.5 if t >= 6 else 0.0)}
    sizes = {0: np.full(60, 100.0), 1: np.full(60, 120.0)}
    shots = choose_speakers(times, motion, sizes)
    assert [s.face for s in shots] == [0, 1]
    # Smoothing spreads the onset by half its window; the switch lands within one sample of it.
    assert abs(shots[1].start - 6.0) <= 0.2 + STEP


def test_silence_never_switches_and_a_brief_twitch_of_the_listener_does_not_either():
    times = np.arange(50) * STEP
    # The left face talks all along (quieter after 7 s); the right one twitches once at 5 s, then talks from 7 s.
    twitch = series(50, lambda t: 2.0 if 5.0 <= t < 5.0 + STEP else 0.0)
    motion = {0: series(50, lambda t: 1.0 if t < 7 else 0.3), 1: twitch + series(50, lambda t: 2.0 if t >= 7 else 0)}
    sizes = {0: np.full(50, 100.0), 1: np.full(50, 100.0)}
    # Speech only in [0, 4): nothing after it is speech (a smile, eating), so nothing switches.
    shots = choose_speakers(times, motion, sizes, speech=[(0.0, 4.0)])
    assert [s.face for s in shots] == [0]
    # With speech everywhere the right face takes over around 7 s, not at the twitch.
    shots = choose_speakers(times, motion, sizes)
    assert [s.face for s in shots] == [0, 1] and 6.5 <= shots[1].start <= 7.2
    assert MIN_LEAD_SECONDS > STEP  # one sample alone never switches


def test_a_switch_moves_onto_a_nearby_diarization_turn():
    times = np.arange(60) * STEP
    motion = {0: series(60, lambda t: 1.5 if t < 6.4 else 0.0), 1: series(60, lambda t: 1.5 if t >= 6.4 else 0.0)}
    sizes = {0: np.full(60, 100.0), 1: np.full(60, 100.0)}
    shots = choose_speakers(times, motion, sizes, turns=[(0.0, 6.1), (6.1, 12.0)])
    assert shots[1].start == pytest.approx(6.1)


def test_an_unseen_face_is_never_chosen():
    times = np.arange(30) * STEP
    motion = {0: np.full(30, 0.1), 1: np.full(30, 2.0)}
    sizes = {0: np.full(30, 100.0), 1: np.full(30, np.nan)}  # face 1 was never detected
    assert [s.face for s in choose_speakers(times, motion, sizes)] == [0]


def samples_alternating(turn: float, seconds: float = 12.0):
    out = []
    for k in range(int(seconds / STEP)):
        t = k * STEP
        left = int(t // turn) % 2 == 0
        out.append(FaceSample(t, None, None, 0.0, (SeenFace(0, 320, 360, 180, 1.5 if left else 0.0),
                                                   SeenFace(1, 960, 360, 180, 0.0 if left else 1.5))))
    return out


def test_quick_turns_stack_two_faces_slow_turns_follow_one_and_the_policy_can_force_either():
    quick, _ = follow_speakers(samples_alternating(1.2), None, None, [])
    slow, _ = follow_speakers(samples_alternating(4.0), None, None, [])
    assert stacked_pair(quick, "auto", 2.5, 0.25) is not None
    assert stacked_pair(slow, "auto", 2.5, 0.25) is None
    assert stacked_pair(quick, "active_speaker", 2.5, 0.25) is None
    left, right = stacked_pair(slow, "two_speaker", 2.5, 0.25)
    assert (left.cx, right.cx) == (320, 960)
    # Faces too small for a half-frame panel (180 px against a 200 px minimum) are never stacked.
    assert stacked_pair(quick, "two_speaker", 2.5, 0.25, min_height=200) is None
    # A detection dropped now and then does not cut one speaker's turn into quick ones.
    gappy = [replace(s, face=None) if k % 4 == 3 else s for k, s in enumerate(slow)]
    assert stacked_pair(gappy, "auto", 2.5, 0.25) is None
    assert not two_speaker_layout([], 2.5, 0.25, 0.0)


def test_stack_crops_hold_each_face_inside_the_source():
    pair = (SeenFace(0, 40, 300, 200), SeenFace(1, 1250, 700, 200))
    for x, y, w, h in stack_crops(pair, 1280, 720, 1080, 1920):
        assert 0 <= x and x + w <= 1280 and 0 <= y and y + h <= 720
        assert abs(w / h - 1080 / 960) < 0.01


def test_speech_regions_join_close_words():
    words = [{"start": 0.0, "end": 0.4}, {"start": 0.5, "end": 0.9}, {"start": 2.0, "end": 2.3}]
    assert speech_regions(words) == [(0.0, 0.9), (2.0, 2.3)]


def two_talkers(target: Path, seconds: float = 12.0, turn: float = 3.0, fps: int = 25) -> Path:
    """Two drawn faces side by side; the one whose turn it is opens and closes its mouth four times a second."""
    import cv2

    args = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", "1280x720", "-r",
            str(fps), "-i", "-", "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono", "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-t", str(seconds),
            str(target)]
    encoder = subprocess.Popen(args, stdin=subprocess.PIPE)
    for i in range(round(seconds * fps)):
        t = i / fps
        frame = np.empty((720, 1280, 3), np.uint8)
        frame[:] = (90, 110, 100)
        speaker = int(t // turn) % 2
        for side, cx in enumerate((320, 960)):
            draw_face(frame, cx, 330, 200)
            opening = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) if side == speaker else 0.0
            cv2.ellipse(frame, (cx, 330 + 50), (28, int(3 + 22 * opening)), 0, 0, 360, (40, 30, 90), -1)
        encoder.stdin.write(frame.tobytes())
    encoder.stdin.close()
    assert encoder.wait() == 0
    return target


@pytest.fixture(scope="module")
def talkers(tmp_path_factory):
    return two_talkers(tmp_path_factory.mktemp("talkers") / "two.mp4")


def test_on_generated_talkers_the_crop_cuts_to_each_speaker_within_half_a_second(talkers):
    samples = track_faces(talkers, 0.0, 12.0, 5.0)
    assert all(len(s.faces) == 2 for s in samples)
    followed, shots = follow_speakers(samples, None, None, [])
    assert len(shots) == 4  # four 3 s turns, left first
    assert [round(s.start) for s in shots] == [0, 3, 6, 9]
    assert all(abs(s.start - 3 * k) <= 0.5 for k, s in enumerate(shots))
    left_x = {s.face: x for s, x in zip(shots, (0, 1, 0, 1), strict=True)}
    assert len(left_x) == 2
    path = plan_crop(followed, 1280, 720, (9, 16), 1080, 25.0, 300,
                     [s.switch_at for s in followed if s.switch_at], 0.08, 0.6, 0.5)
    centres = path.xs + path.width / 2
    for k in range(4):  # mid-turn, the crop is centred on the speaker (a cut, so no pan in between)
        frame = round((3 * k + 1.5) * 25)
        assert abs(centres[frame] - (320, 960)[k % 2]) < 40
        if k:  # around the turn, one frame-to-frame jump across the frame
            near = np.abs(np.diff(centres[round((3 * k - 0.5) * 25) : round((3 * k + 0.5) * 25)]))
            assert near.max() > 500 and np.sort(near)[-2] < 20


def test_a_stacked_render_shows_one_face_in_each_half_with_exact_frames(talkers, tmp_path):
    samples = track_faces(talkers, 0.0, 4.0, 5.0)
    pair = stacked_pair(samples, "two_speaker", 2.5, 0.25)
    cut = ClipCut.snap(0.0, 4.0, 25)
    target = tmp_path / "stack.mp4"
    render_outputs(talkers, cut, [ClipOutput(target, 540, 960, None, stack=stack_crops(pair, 1280, 720, 540, 960))])
    with av.open(str(target)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == cut.frames and frames[0].shape == (960, 540, 3)
    for half in (frames[50][:480], frames[50][480:]):
        faces = detect_faces(half)
        assert len(faces) == 1 and abs(faces[0].centre[0] - 270) < 60


@pytest.mark.skipif(not GRID.is_dir(), reason="../shared/media/grid-faces is absent")
def test_on_a_conversation_of_real_faces_the_crop_holds_the_speaker_90_percent_of_speech(tmp_path):
    names = sorted(p.name for p in GRID.glob("*.mpg"))
    conversation = build_conversation(GRID, names[0], names[1], 2, tmp_path / "conversation.mp4")
    samples = track_faces(conversation.path, 0.0, 12.0, 5.0)
    speech = [(a, b) for a, b, _ in conversation.speech]
    followed, _ = follow_speakers(samples, speech, None, [])
    path = plan_crop(followed, 1280, 720, (9, 16), 1080, 25.0, 300,
                     [s.switch_at for s in followed if s.switch_at], 0.08, 0.6, 0.5)
    figures = crop_on_speaker(conversation, path.xs, path.width, 25.0)
    assert figures["on_speaker"] >= 0.9, figures
    assert len(figures["switch_latencies"]) == 3
    assert all(v is not None and abs(v) <= 0.5 for v in figures["switch_latencies"]), figures


@pytest.mark.parametrize(("layout", "expected"), [("two_speaker", "two-speaker"), ("auto", "active-speaker")])
def test_the_clip_policy_layout_reaches_the_rendered_clip(talkers, tmp_path, layout, expected):
    from ai_assets.policy.documents import DEFAULTS, ClipPolicy
    from ai_assets.render.clips import ClipJob, SourceVideo, render_clips

    policy = ClipPolicy.model_validate({**DEFAULTS["clip"], "reframe": {"layout": layout}})
    spec = policy.platforms["tiktok"]
    job = ClipJob(1, 0.0, 12.0, spec, ["tiktok"], eager=True)
    source = SourceVideo(talkers, 1280, 720, 25.0, 12.0, True)
    words = [{"start": 0.2 + 0.5 * k, "end": 0.6 + 0.5 * k, "word": f" w{k}"} for k in range(23)]
    [clip], deferred = render_clips([job], source, words, [], policy, tmp_path, None)
    assert deferred == [] and clip.layout == expected and clip.face_coverage == 1.0
    with av.open(str(clip.video_path)) as container:
        frame = next(f for i, f in enumerate(container.decode(video=0)) if i == 112).to_ndarray(format="bgr24")
    halves = (frame[:960], frame[960:]) if expected == "two-speaker" else (frame,)
    assert all(len(detect_faces(half)) == 1 for half in halves)
