"""Rendering one clip with ffmpeg: frame-accurate cut, moving crop or blurred layout, burned captions.

The cut is an input seek followed by a full re-encode, so it lands on the exact frame (ffmpeg
decodes from the previous keyframe and drops what lies before the seek point) and audio and video
start together. A constant output frame rate makes the frame count, and so the duration, exact.
The crop position changes per frame through `sendcmd`, from a file written next to the job.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ai_assets.render.reframe import CropPath
from ai_assets.storage.files import atomic_path


class RenderError(RuntimeError):
    """ffmpeg refused a clip; the message carries its last lines of output."""


@dataclass(frozen=True)
class Encoding:
    preset: str = "veryfast"
    crf: int = 21
    audio_bitrate: str = "128k"


@dataclass(frozen=True)
class ClipCut:
    start: float  # seconds in the source, already on a frame boundary
    frames: int
    fps: float

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    @classmethod
    def snap(cls, start: float, end: float, fps: float) -> ClipCut:
        first = round(start * fps)
        return cls(first / fps, max(1, round(end * fps) - first), fps)


def _crop_commands(path: CropPath, fps: float) -> str:
    """One sendcmd line per frame where the crop moves; the filter keeps its last position otherwise."""
    lines, last = [], None
    for i, (x, y) in enumerate(zip(path.xs.tolist(), path.ys.tolist(), strict=True)):
        if (x, y) != last:
            # Half a frame early, so the command is in place when the frame's timestamp arrives.
            at = max(0.0, (i - 0.5) / fps)
            lines.append(f"{at:.4f} crop@reframe x {x}, crop@reframe y {y};")
            last = (x, y)
    return "\n".join(lines) + "\n"


def _blurred_layout(width: int, height: int) -> str:
    """The whole frame, fitted, over a blurred and zoomed copy of itself (filter graph on one input)."""
    return (
        f"split=2[bg][fg];[bg]scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},"
        f"boxblur=luma_radius=24:luma_power=2[blurred];[fg]scale={width}:{height}:force_original_aspect_ratio=decrease:flags=lanczos[fitted];"
        "[blurred][fitted]overlay=(W-w)/2:(H-h)/2"
    )


def _video_filter(width: int, height: int, fps: float, path: CropPath | None, captions: bool,
        fonts_dir: Path | None) -> str:
    if path is not None:
        chain = (
            f"[0:v]fps={fps},sendcmd=f=crop.cmd,crop@reframe=w={path.width}:h={path.height}:x={path.xs[0]}:y={path.ys[0]}:exact=1,"
            f"scale={width}:{height}:flags=lanczos,setsar=1"
        )
    else:
        chain = f"[0:v]fps={fps},{_blurred_layout(width, height)},setsar=1"
    if captions:
        chain += ",ass=captions.ass" + (f":fontsdir={fonts_dir}" if fonts_dir else "")
    return chain + ",format=yuv420p[v]"


def render_clip(
    source: Path, target: Path, cut: ClipCut, width: int, height: int, path: CropPath | None,
    ass: str | None = None, fonts_dir: Path | None = None, encoding: Encoding = Encoding(), has_audio: bool = True,
) -> None:
    """Write an H.264/AAC MP4 of exactly `cut.frames` frames; `path` None means the blurred layout."""
    with tempfile.TemporaryDirectory(prefix="clip-") as work, atomic_path(target) as partial:
        work_dir = Path(work)
        if path is not None:
            (work_dir / "crop.cmd").write_text(_crop_commands(path, cut.fps))
        if ass is not None:
            (work_dir / "captions.ass").write_text(ass, encoding="utf-8")
        args = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-ss", f"{cut.start:.6f}", "-i",
            str(source.resolve())]
        args += ["-filter_complex", _video_filter(width, height, cut.fps, path, ass is not None, fonts_dir), "-map",
            "[v]"]
        args += ["-frames:v", str(cut.frames), "-c:v", "libx264", "-preset", encoding.preset, "-crf", str(encoding.crf)]
        args += ["-profile:v", "high", "-movflags", "+faststart"]
        if has_audio:
            args += ["-map", "0:a:0", "-c:a", "aac", "-b:a", encoding.audio_bitrate, "-ar", "48000", "-af",
                "aresample=async=1:first_pts=0"]
        args += ["-t", f"{cut.duration:.6f}", "-f", "mp4", str(partial.resolve())]
        done = subprocess.run(args, cwd=work_dir, capture_output=True, text=True)
        if done.returncode != 0:
            raise RenderError(f"ffmpeg could not render {target.name}: {done.stderr.strip()[-800:]}")


def render_thumbnail(source: Path, target: Path, at: float, width: int, height: int,
        crop: tuple[int, int, int, int] | None) -> None:
    """One JPEG from the source at `at` seconds, with the clip's crop (x, y, w, h) or its blurred layout."""
    if crop is not None:
        x, y, w, h = crop
        chain = f"crop={w}:{h}:{x}:{y},scale={width}:{height}:flags=lanczos,setsar=1"
    else:
        chain = _blurred_layout(width, height)
    with atomic_path(target) as partial:
        args = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-ss", f"{at:.6f}", "-i", str(source),
            "-filter_complex", chain]
        args += ["-frames:v", "1", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", str(partial)]
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            raise RenderError(f"ffmpeg could not write thumbnail {target.name}: {done.stderr.strip()[-800:]}")


def probe_clip(path: Path) -> dict:
    """What ffprobe reports: video frames, size, duration, and whether there is audio."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_type,width,height,nb_read_frames,duration,r_frame_rate:format=duration", "-of", "json",
         str(path)], capture_output=True, text=True, check=True,
    )
    info = json.loads(out.stdout)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next((s for s in info["streams"] if s["codec_type"] == "audio"), None)
    num, den = (int(v) for v in video["r_frame_rate"].split("/"))
    return {
        "width": video["width"], "height": video["height"], "frames": int(video["nb_read_frames"]), "fps": num / den,
        "duration": float(info["format"]["duration"]), "video_duration": float(video.get("duration", 0.0)),
        "audio_duration": float(audio["duration"]) if audio else None,
    }
