"""Synthetic sample media: espeak-ng speech muxed over ffmpeg test patterns with hard scene cuts.

Used by the demo, the tests and the benchmarks, so none of them needs media committed to the repo.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

SAMPLE_TEXT = (
    "Why do most short videos fail in the first three seconds? "
    "Because nobody tells the viewer why they should keep watching. "
    "Today I will show you three simple habits that fix this. "
    "The first habit is to open with a question. "
    "A question creates a gap in the mind of the listener, and people want to close that gap. "
    "The second habit is to cut every pause that does not carry meaning. "
    "Silence feels longer on a phone than it does in a lecture hall. "
    "The third habit is to finish one complete thought before the clip ends. "
    "A clip that stops in the middle of an idea feels broken, and viewers scroll away. "
    "Now let us talk about something completely different: the weather in the mountains. "
    "In the Alps, the temperature drops about six degrees for every thousand metres you climb. "
    "Storms can build up within an hour on a summer afternoon. "
    "Experienced hikers start early and are back in the valley before two o'clock. "
    "They carry a warm jacket, even when the morning is bright and calm. "
    "This is amazing! "
    "Finally, here is a number that surprised me. "
    "Ninety percent of viewers watch videos on mobile with the sound turned off. "
    "That is why captions matter so much for every clip you publish. "
    "Good captions are short, easy to read, and they follow the rhythm of speech."
)

# Test patterns, one per scene, so scene changes are hard cuts.
SCENE_SOURCES = ("testsrc2", "smptebars", "rgbtestsrc", "pal100bars", "testsrc", "smptehdbars")


def require_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise RuntimeError(f"missing system tools: {', '.join(missing)} (install them with apt-get install ffmpeg "
            "espeak-ng)")


def speak(text: str, wav: Path, voice: str = "en-us", words_per_minute: int = 165) -> None:
    require_tools("espeak-ng")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write(text)
    try:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-f", fh.name, "-w", str(wav)],
            check=True, capture_output=True)
    finally:
        Path(fh.name).unlink(missing_ok=True)


def media_duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return container.duration / 1_000_000


def make_video(
    target: Path,
    text: str = SAMPLE_TEXT,
    scenes: int = 4,
    size: str = "640x360",
    fps: int = 25,
    lead_silence_s: float = 1.0,
    faststart: bool = False,
) -> Path:
    """Write an H.264/AAC MP4 of `text` spoken over `scenes` test patterns of equal length."""
    require_tools("espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        speak(text, wav)
        return mux_over_scenes(wav, target, scenes, size, fps, lead_silence_s, faststart)


def mux_over_scenes(
    wav: Path, target: Path, scenes: int = 4, size: str = "640x360", fps: int = 25, lead_silence_s: float = 0.0,
    faststart: bool = False
) -> Path:
    """Write an H.264/AAC MP4 of `wav` over `scenes` test patterns of equal length, with hard cuts between them."""
    require_tools("ffmpeg")
    target.parent.mkdir(parents=True, exist_ok=True)
    duration = media_duration(wav) + 2 * lead_silence_s
    scene_s = duration / scenes
    args = ["ffmpeg", "-y", "-loglevel", "error"]
    for i in range(scenes):
        source = SCENE_SOURCES[i % len(SCENE_SOURCES)]
        args += ["-f", "lavfi", "-i", f"{source}=size={size}:rate={fps}:duration={scene_s:.3f}"]
    args += ["-i", str(wav)]
    concat = "".join(f"[{i}:v]" for i in range(scenes)) + f"concat=n={scenes}:v=1:a=0[v]"
    audio = f"[{scenes}:a]adelay={int(lead_silence_s * 1000)}:all=1,apad=whole_dur={duration:.3f}[a]"
    args += ["-filter_complex", f"{concat};{audio}", "-map", "[v]", "-map", "[a]"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-ar",
        "44100"]
    if faststart:
        args += ["-movflags", "+faststart"]
    args += ["-t", f"{duration:.3f}", str(target)]
    subprocess.run(args, check=True, capture_output=True)
    return target


def make_silent_video(target: Path, seconds: float = 5.0) -> Path:
    """A video with no audio stream at all."""
    require_tools("ffmpeg")
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(target)],
        check=True, capture_output=True,
    )
    return target


def draw_face(image, cx: int, cy: int, height: int) -> None:
    """A flat cartoon face (skin oval, hair, brows, eyes, nose shade, mouth) that OpenCV's frontal
    Haar cascade detects, so reframing can be tested without photographs of people."""
    import cv2

    def s(k: float) -> int:
        return max(1, int(height * k))

    cv2.ellipse(image, (cx, cy), (s(0.38), s(0.5)), 0, 0, 360, (150, 175, 215), -1)
    cv2.ellipse(image, (cx, cy - s(0.38)), (s(0.40), s(0.2)), 0, 180, 360, (40, 40, 60), -1)
    for side in (-1, 1):
        ex, ey = cx + side * s(0.16), cy - s(0.08)
        cv2.ellipse(image, (ex, ey - s(0.08)), (s(0.1), s(0.025)), 0, 0, 360, (40, 40, 50), -1)
        cv2.ellipse(image, (ex, ey), (s(0.075), s(0.04)), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(image, (ex, ey), s(0.035), (30, 30, 30), -1)
    cv2.ellipse(image, (cx, cy + s(0.07)), (s(0.04), s(0.09)), 0, 0, 360, (120, 145, 190), -1)
    cv2.ellipse(image, (cx, cy + s(0.25)), (s(0.14), s(0.04)), 0, 0, 360, (60, 60, 150), -1)


# Background colours per scene (BGR), different enough for a hard cut.
BACKDROPS = ((90, 110, 100), (140, 90, 60), (70, 70, 140), (120, 130, 150))


def make_face_video(
    target: Path, seconds: float, face_x, wav: Path | None = None, cuts: tuple[float, ...] = (),
    size: tuple[int, int] = (1280, 720), fps: int = 25, face_height: float = 0.3,
) -> Path:
    """A talking-head stand-in: a face at x = `face_x(t)` (a share of the width), a new backdrop at each cut,
    muxed with `wav` if given (else silent AAC, so the file always has audio)."""
    import numpy as np

    require_tools("ffmpeg")
    target.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    audio = ["-i", str(wav)] if wav else ["-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono"]
    args = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
        "-r", str(fps), "-i", "-"]
    args += [*audio, "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-b:a", "96k", "-af", f"apad=whole_dur={seconds:.3f}", "-t", f"{seconds:.3f}", str(target)]
    encoder = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    for i in range(round(seconds * fps)):
        t = i / fps
        scene = sum(t >= c for c in cuts)
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = BACKDROPS[scene % len(BACKDROPS)]
        frame[int(height * 0.75):] = (60, 70, 80)  # a desk, so the frame is not flat
        draw_face(frame, int(face_x(t) * width), int(height * 0.45), int(height * face_height))
        encoder.stdin.write(frame.tobytes())
    encoder.stdin.close()
    if encoder.wait() != 0:
        raise RuntimeError(f"ffmpeg could not write {target}: {encoder.stderr.read().decode()[-400:]}")
    return target


def make_talking_head(target: Path, text: str = SAMPLE_TEXT, scenes: int = 3, lead_silence_s: float = 1.0) -> Path:
    """`text` spoken by a face that drifts across a 1280x720 frame, with a hard cut to a new backdrop
    and position between scenes: a sample that exercises face-tracked vertical reframing."""
    import math

    require_tools("espeak-ng", "ffmpeg")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        speak(text, wav)
        padded = Path(tmp) / "padded.wav"
        seconds = media_duration(wav) + 2 * lead_silence_s
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), "-af",
            f"adelay={int(lead_silence_s * 1000)}:all=1", str(padded)], check=True, capture_output=True)
        cuts = tuple(round(seconds * i / scenes, 2) for i in range(1, scenes))
        anchors = (0.35, 0.65, 0.45, 0.6)

        def face_x(t: float) -> float:
            scene = sum(t >= c for c in cuts)
            return anchors[scene % len(anchors)] + 0.12 * math.sin(2 * math.pi * t / 30)

        return make_face_video(target, seconds, face_x, wav=padded, cuts=cuts)


def through_radio(speech, noise=None, snr_db: float = 10.0, gain: float = 1.0, clip: float = 1.0, seed: int = 0):
    """16 kHz speech as a radio or telephone line gives it: through an 8 kHz channel, with band-limited noise
    (`noise`, else hiss) `snr_db` under the speech, then `gain` with the peaks clipped at `clip`."""
    import numpy as np
    from scipy.signal import resample_poly

    def narrow(x):
        return resample_poly(resample_poly(x, 1, 2), 2, 1)[: len(x)]

    voice = narrow(np.asarray(speech, dtype=np.float64))
    noise = np.random.default_rng(seed).normal(0, 1, len(voice)) if noise is None else noise
    noise = narrow(np.resize(np.asarray(noise, dtype=np.float64), len(voice)))
    noise *= np.sqrt(np.mean(voice**2)) / max(np.sqrt(np.mean(noise**2)), 1e-9) * 10 ** (-snr_db / 20)
    return np.clip((voice + noise) * gain, -clip, clip).astype(np.float32)
