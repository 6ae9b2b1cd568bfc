"""Rendering one clip with ffmpeg: frame-accurate cut, moving crop or blurred layout, burned captions.

The cut is an input seek followed by a full re-encode, so it lands on the exact frame (ffmpeg
decodes from the previous keyframe and drops what lies before the seek point) and audio and video
start together. A constant output frame rate makes the frame count, and so the duration, exact.
The crop position changes per frame through `sendcmd`, from a file written next to the job.

Every ffmpeg and ffprobe call goes through `run_media_tool`, which gives it a time limit that grows with
the seconds of media it handles, so one hung encode cannot hold a run forever.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ai_assets.ingest.source_video import (
    SEEK_LEAD_S,
    TO_SDR,
    ZSCALE_TRANSFERS,
    media_end,
    picture_end,
    picture_index,
)
from ai_assets.render.audiogram import BLUR_SHRINK, AudiogramFrame, audiogram_chain, still_graph
from ai_assets.render.reframe import CropPath
from ai_assets.storage.files import atomic_path


class RenderError(RuntimeError):
    """ffmpeg refused a clip; the message carries its last lines of output."""


class RenderTimeout(RenderError):
    """ffmpeg or ffprobe ran past its time limit and was killed."""


_COMPONENT = re.compile(r"\[(?P<name>[\w.@-]+) @ 0x[0-9a-f]+\]\s*(?P<text>.+)$")


def one_line(exc: RenderError, limit: int = 300) -> str:
    """A render failure in one line a user can act on: the first message of the filter or encoder that refused
    ("crop@reframe0: Invalid too big or non positive size ..."), not ffmpeg's closing "Error while processing ...";
    else the last component's message; else the last line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [m for line in lines if (m := _COMPONENT.search(line))]
    # A filter (crop@reframe0, Parsed_ass_5) or an encoder refusing is the cause; a decoder's complaints about damaged
    # input, which come first on a damaged file, are not.
    causes = [m for m in named if "@" in m["name"] or m["name"].startswith("Parsed_") or m["name"] in ENCODERS]
    pick = (causes or named[-1:])
    text = f"{pick[0]['name']}: {pick[0]['text']}" if pick else (lines[-1] if lines else type(exc).__name__)
    return text[:limit]


# Time limits: base + per_second * seconds of media. The base covers start-up, opening the source and
# seeking (an input seek decodes from the previous keyframe); the per-second part is the work itself.
ENCODE_BASE_SECONDS = 60.0
# A 1080p libx264 encode with lanczos scaling, blur or burned captions runs near real time on a slow
# 2-core machine; 10x leaves room for a loaded one while still catching a hang.
ENCODE_SECONDS_PER_MEDIA_SECOND = 10.0
PROBE_BASE_SECONDS = 30.0
# ffprobe -count_frames only decodes (no filters, no encode), many times faster than real time.
PROBE_SECONDS_PER_MEDIA_SECOND = 2.0


def media_timeout(media_seconds: float, base: float, per_second: float) -> float:
    """Seconds a tool may run on `media_seconds` of media: `base + per_second * media_seconds`."""
    return base + per_second * max(0.0, media_seconds)


def _tail(stderr: str | None) -> str:
    """ffmpeg's last lines of output, as failure messages have always carried them."""
    return (stderr or "").strip()[-800:]


def run_media_tool(
    args: Sequence[str], media_seconds: float, doing: str, *, cwd: Path | None = None,
    base: float | None = None, per_second: float | None = None,
) -> str:
    """Run an ffmpeg/ffprobe command with a time limit proportional to `media_seconds`; return its stdout.

    `doing` says what the command does, in words a user reads ("rendering clip x.mp4"). On a timeout the
    process is killed and reaped (ffmpeg starts no children of its own, so one kill leaves nothing behind)
    and `RenderTimeout` says so in one line; on failure `RenderError` carries ffmpeg's last output, as before.
    Neither message holds the command line, which names local paths. Limits default to the encode constants.
    """
    tool = Path(args[0]).name
    limit = media_timeout(media_seconds, ENCODE_BASE_SECONDS if base is None else base,
        ENCODE_SECONDS_PER_MEDIA_SECOND if per_second is None else per_second)
    try:
        # run() kills the child on a timeout (or on any exception, Ctrl-C included) and waits for it.
        done = subprocess.run(list(args), cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=limit)
    except subprocess.TimeoutExpired:
        # One line, without the command or ffmpeg's output, both of which can name local paths.
        media = f" ({media_seconds:.1f} s of video)" if media_seconds > 0 else ""
        raise RenderTimeout(f"{tool} timed out after {limit:.0f} s {doing}{media}") from None
    if done.returncode != 0:
        raise RenderError(f"{tool} failed {doing}: {_tail(done.stderr)}")
    return done.stdout


# x264's presets, fastest first, against NVENC's (p1 fastest, p7 best): the clip policy names one preset for both.
NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p2", "veryfast": "p3", "faster": "p4", "fast": "p5", "medium": "p6",
                 "slow": "p7"}
ENCODERS = ("libx264", "h264_nvenc")
# The trial encode that tells whether this machine's ffmpeg can open NVENC: a GPU without an encoder (an H100), no
# driver, or an ffmpeg built without it each fail it within a second or two.
NVENC_TRIAL = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
               "color=black:s=256x256:r=25:d=0.2", "-c:v", "h264_nvenc", "-f", "null", "-"]


@dataclass(frozen=True)
class Encoding:
    preset: str = "ultrafast"
    crf: int = 21
    audio_bitrate: str = "128k"
    threads: int = 0  # x264 and filter-graph threads; 0 lets ffmpeg take every core
    codec: str = "libx264"  # or h264_nvenc: the same preset and quality number, on an NVIDIA GPU's encoder

    def video_args(self) -> list[str]:
        """The video encoder's options. NVENC gets the preset of the same rank and constant-quality rate control at
        `crf` as its quality number (NVENC's scale is not x264's: see the README)."""
        if self.codec == "h264_nvenc":
            return ["-c:v", "h264_nvenc", "-preset", NVENC_PRESETS[self.preset], "-tune", "hq", "-rc", "vbr", "-cq",
                    str(self.crf), "-b:v", "0", "-profile:v", "high"]
        if self.codec != "libx264":
            raise ValueError(f"unknown video encoder {self.codec!r}: choose one of {', '.join(ENCODERS)}")
        threads = ["-threads:v", str(self.threads)] if self.threads else []
        return ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-profile:v", "high", *threads]


@functools.cache
def nvenc_problem() -> str | None:
    """Why NVENC cannot encode on this machine, in one line; None when a trial encode works. Asked once per process."""
    try:
        run_media_tool(NVENC_TRIAL, 0.0, "trying the NVENC encoder", base=30.0)
    except (RenderError, OSError) as exc:
        # ffmpeg's own line from the encoder ("[h264_nvenc @ 0x...] Cannot load libcuda.so.1") says why; the lines
        # after it only say that opening the encoder failed.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        said = [m.group(1) for line in lines if (m := re.search(r"\[h264_nvenc @ [^]]*\]\s*(.+)", line))]
        return (said or [lines[0].split(": ", 1)[-1] if lines else "the trial encode failed"])[0]
    return None


def choose_encoder(wanted: str, problem: Callable[[], str | None] = nvenc_problem) -> tuple[str, str | None]:
    """The encoder clips use, and why it is not the one asked for (None when it is). `wanted` is the clip policy's
    `encoder`: auto takes NVENC where it works, else libx264; a named NVENC that cannot run falls back to libx264, so a
    policy written for a GPU machine still renders elsewhere."""
    if wanted == "libx264":
        return "libx264", None
    if wanted not in ("auto", "h264_nvenc"):
        raise ValueError(f"unknown encoder {wanted!r}: choose auto, {', '.join(ENCODERS)}")
    why = problem()
    if why is None:
        return "h264_nvenc", None
    return "libx264", f"no NVENC ({why})" if wanted == "auto" else f"h264_nvenc could not run here ({why})"


@dataclass(frozen=True)
class ClipCut:
    start: float  # seconds in the source, already on a frame boundary
    frames: int
    fps: float
    # Frame ranges [first, end) of the span that are kept when pauses are cut (render/pauses.py); () keeps all.
    kept: tuple[tuple[int, int], ...] = ()

    @property
    def duration(self) -> float:
        """Seconds of source the clip spans."""
        return self.frames / self.fps

    @property
    def out_frames(self) -> int:
        """Frames the clip has once its pauses are cut."""
        return sum(end - first for first, end in self.kept) if self.kept else self.frames

    @property
    def out_duration(self) -> float:
        return self.out_frames / self.fps

    @classmethod
    def snap(cls, start: float, end: float, fps: float) -> ClipCut:
        first = round(start * fps)
        return cls(first / fps, max(1, round(end * fps) - first), fps)


def _crop_commands(path: CropPath, fps: float, name: str = "reframe") -> str:
    """One sendcmd line per frame where the crop moves; the filter keeps its last position otherwise."""
    lines, last = [], None
    for i, (x, y) in enumerate(zip(path.xs.tolist(), path.ys.tolist(), strict=True)):
        if (x, y) != last:
            # Half a frame early, so the command is in place when the frame's timestamp arrives.
            at = max(0.0, (i - 0.5) / fps)
            lines.append(f"{at:.4f} crop@{name} x {x}, crop@{name} y {y};")
            last = (x, y)
    return "\n".join(lines) + "\n"


BLUR_RADIUS = 3  # at the shrunk size: 24 output pixels


def tone_map(hdr: str | None) -> str:
    """The filters (ending in a comma) that bring an `hdr` source ("pq", "hlg") to SDR (`TO_SDR`); "" for SDR. The
    input's transfer is stated, not read from the frames' tags, which a file may leave out."""
    if not hdr:
        return ""
    (first, args), *rest = TO_SDR
    return f"{first}=tin={ZSCALE_TRANSFERS[hdr]}:{args}," + "".join(f"{name}={value}," for name, value in rest)


def _scaled(crop: tuple[int, int], size: tuple[int, int], tone: str) -> str:
    """Scale a crop of `crop` (w, h) to `size` (lanczos), with `tone` mapping on whichever side is smaller: it runs in
    float, so a 4K phone video's crop is mapped after scaling down, a 1080p one's before scaling up."""
    scale = f"scale={size[0]}:{size[1]}:flags=lanczos"
    if not tone or crop[0] * crop[1] <= size[0] * size[1]:
        return tone + scale
    return f"{scale},{tone.rstrip(',')}"


def _blurred_layout(width: int, height: int, tag: str = "", tone: str = "") -> str:
    """The whole frame, fitted, over a blurred and zoomed copy of itself (filter graph on one input)."""
    small_w, small_h = max(2, width // BLUR_SHRINK // 2 * 2), max(2, height // BLUR_SHRINK // 2 * 2)
    radius = max(1, min(BLUR_RADIUS, min(small_w, small_h) // 2 - 1))
    return (
        f"split=2[bg{tag}][fg{tag}];[bg{tag}]scale={small_w}:{small_h}:force_original_aspect_ratio=increase,"
        f"crop={small_w}:{small_h},{tone}boxblur=luma_radius={radius}:luma_power=2,scale={width}:{height}:"
        f"flags=bilinear[blurred{tag}];[fg{tag}]scale={width}:{height}:force_original_aspect_ratio=decrease:"
        f"flags=lanczos{',' + tone.rstrip(',') if tone else ''}[fitted{tag}];[blurred{tag}][fitted{tag}]"
        f"overlay=(W-w)/2:(H-h)/2"
    )


def _stacked_layout(stack: Sequence[tuple[int, int, int, int]], width: int, height: int, tag: str = "",
                    tone: str = "") -> str:
    """Two still crops (x, y, w, h) scaled into the top and bottom halves of the frame (filter graph on one input)."""
    top = height // 4 * 2  # even heights for 4:2:0 chroma
    heights = (top, height - top)
    parts = [f"[st{tag}_{i}]crop={w}:{h}:{x}:{y}:exact=1,{_scaled((w, h), (width, heights[i]), tone)},setsar=1"
             f"[half{tag}_{i}]" for i, (x, y, w, h) in enumerate(stack)]
    return f"split=2[st{tag}_0][st{tag}_1];" + ";".join(parts) + f";[half{tag}_0][half{tag}_1]vstack=inputs=2"


@dataclass(frozen=True)
class ClipOutput:
    """One file an encode writes: its frame, its crop path (None: the blurred layout) and its captions."""

    target: Path
    width: int
    height: int
    path: CropPath | None
    ass: str | None = None
    fonts_dir: Path | None = None
    # Two still crops (x, y, w, h) stacked top and bottom, each scaled to half the height: the two-speaker layout.
    stack: tuple[tuple[int, int, int, int], ...] = ()
    # A source without a picture: the audiogram's layout, its composed still (None: plain background), wave colour.
    audiogram: AudiogramFrame | None = None
    still: Path | None = None
    wave_colour: str = "#FFFFFF"


def _output_chain(out: ClipOutput, k: int, source_label: str, tone: str = "") -> str:
    """Filters from `source_label` to [v{k}]: crop (moving, via sendcmd) or blurred layout, captions, pixel format.
    Filter names and labels carry k, so several outputs live in one graph. `tone`: see `tone_map`."""
    if out.stack:
        chain = source_label + _stacked_layout(out.stack, out.width, out.height, str(k), tone)
    elif out.path is not None:
        chain = (
            f"{source_label}sendcmd=f=crop{k}.cmd,crop@reframe{k}=w={out.path.width}:h={out.path.height}:"
            f"x={out.path.xs[0]}:y={out.path.ys[0]}:exact=1,"
            f"{_scaled((out.path.width, out.path.height), (out.width, out.height), tone)},setsar=1"
        )
    else:
        chain = f"{source_label}{_blurred_layout(out.width, out.height, str(k), tone)},setsar=1"
    return chain + _captioned(out, k)


def _captioned(out: ClipOutput, k: int) -> str:
    """The end of output k's chain: its captions burned in, then the encoder's pixel format, as [v{k}]."""
    chain = f",ass=captions{k}.ass" + (f":fontsdir={out.fonts_dir}" if out.fonts_dir else "") if out.ass else ""
    return chain + f",format=yuv420p[v{k}]"


def _kept_video(cut: ClipCut) -> str:
    """Filters after `fps` that keep only the cut's kept frames, renumbered without gaps ("" keeps all)."""
    if not cut.kept:
        return ""
    frames = "+".join(f"between(n,{first},{end - 1})" for first, end in cut.kept)
    return f"select='{frames}',setpts=N/FRAME_RATE/TB,"


def _kept_audio(cut: ClipCut) -> str:
    """Audio filters keeping the same spans as the video, cut at the frame boundaries to the sample ("" keeps all).
    atrim, not aselect: aselect keeps whole audio frames, and its ~20 ms steps would add up over several cuts."""
    if not cut.kept:
        return ""
    spans = [(first / cut.fps, end / cut.fps) for first, end in cut.kept]
    labels = "".join(f"[k{i}]" for i in range(len(spans)))
    trims = ";".join(f"[k{i}]atrim=start={a:.6f}:end={b:.6f},asetpts=PTS-STARTPTS[t{i}]"
                     for i, (a, b) in enumerate(spans))
    joined = "".join(f"[t{i}]" for i in range(len(spans)))
    return f",asplit={len(spans)}{labels};{trims};{joined}concat=n={len(spans)}:v=0:a=1"


# The picture as shown: ffmpeg turns a rotated one upright itself, and this widens non-square pixels (HDV's 1440x1080
# is shown 1920x1080) so crops and faces keep their shape. Square pixels pass through untouched.
SQUARE_PIXELS = "scale='trunc(iw*sar/2)*2':ih,setsar=1"
# Interlaced video (1080i from broadcast and camcorders) shows combs on every moving edge once scaled and encoded as
# frames: bwdif weaves each frame's two fields into one (a frame per frame, so the clip keeps the source's rate), only
# on frames flagged interlaced.
DEINTERLACE = "bwdif=mode=send_frame:deint=interlaced,"


def _picture(interlaced: bool, lead: str = "", frame: tuple[int, int] | None = None, index: int = 0) -> str:
    """The source's picture as shown, from [0:V:index] (`picture_index`: the main one of several): less a seek's
    lead-in, deinterlaced where it is interlaced, square pixels, and fitted into `frame` (width, height as probed; see
    `fitted`)."""
    return f"[0:V:{index}]{lead}{DEINTERLACE if interlaced else ''}{SQUARE_PIXELS}{fitted(frame)}"


def fitted(frame: tuple[int, int] | None) -> str:
    """Filters (after a comma) that keep the picture at `frame`'s size: a stream whose resolution changes part way (a
    recorded adaptive stream drops from 720p to 360p when the network slows) is scaled into it, letterboxed where its
    shape differs, so every crop planned on the probed size stays inside the picture. Frames of that size pass through
    both filters untouched. "" without a `frame`."""
    if not frame:
        return ""
    width, height = frame
    return (f",scale={width}:{height}:force_original_aspect_ratio=decrease,pad={width}:{height}:-1:-1,setsar=1")


HOLD_LAST_PICTURE = "tpad=stop=-1:stop_mode=clone,"  # -frames:v ends the output
# Two voices at once on tracks mixed at their recorded levels can add up past full scale: held under it, without
# delaying the sound (latency) or raising quiet parts (level).
MIX_LIMITER = "alimiter=limit=0.99:level=false:latency=true"


def _video_filter(fps: float, outputs: Sequence[ClipOutput], keep: str = "", tone: str = "",
                  interlaced: bool = False, lead: str = "", frame: tuple[int, int] | None = None,
                  hold: str = HOLD_LAST_PICTURE, index: int = 0) -> str:
    """The source decoded once at the clip's frame rate (less any cut pauses: `keep`), split to each output's chain."""
    # The last picture is held to the clip's end where the picture stops before the sound (a screen capture that
    # died while the microphone kept recording), so every clip has its frames and sound to the end.
    source = f"{_picture(interlaced, lead, frame, index)},fps={fps},{hold}{keep}"
    if len(outputs) == 1:
        return _output_chain(outputs[0], 0, source, tone)
    labels = "".join(f"[s{k}]" for k in range(len(outputs)))
    return ";".join([f"{source}split={len(outputs)}{labels}",
                     *(_output_chain(out, k, f"[s{k}]", tone) for k, out in enumerate(outputs))])


def _audiogram_filter(cut: ClipCut, outputs: Sequence[ClipOutput], stills: dict[int, int], sound: str,
                      mixed: bool = False) -> str:
    """Each output's audiogram (its still from input stills[k], else a plain background) under a waveform of the
    span's audio (`sound`, see `_sound_chain`), with the same pauses cut as the clip's sound. `mixed`: the sound is
    a mix of tracks, which the outputs also carry, from [sa{k}]."""
    labels = "".join(f"[w{k}]" for k in range(len(outputs)))
    head = f"{sound},asplit={len(outputs)}{labels}"
    if mixed:
        # The waveform is drawn from one channel: aresample keeps that from making the carried copies mono too.
        carried = "".join(f"[sa{k}]" for k in range(len(outputs)))
        drawn = "".join(f"[wr{k}]" for k in range(len(outputs)))
        head = f"{sound},asplit={2 * len(outputs)}{drawn}{carried};" + ";".join(
            f"[wr{k}]aresample[w{k}]" for k in range(len(outputs)))
    return ";".join([head, *(audiogram_chain(out.audiogram, cut.fps, stills.get(k), f"[w{k}]", str(k),
                                             out.wave_colour) + _captioned(out, k) for k, out in enumerate(outputs))])


# Platforms take mono or stereo sound (Instagram refuses more), and a phone plays two channels: surround (a film's
# 5.1) is mixed down to stereo, the centre's dialogue on both sides. Mono and stereo pass through untouched.
TWO_CHANNELS_AT_MOST = "aformat=channel_layouts=mono|stereo"


def _sound_filters(lead: float, channel: int | None) -> str:
    """One track's sound less a seek's `lead`, from its `channel` where it has one, starting at the clip's 0, in at
    most two channels."""
    return f"{_trimmed(lead, audio=True)}{_one_channel(channel)}aresample=async=1:first_pts=0,{TWO_CHANNELS_AT_MOST}"


def _sound_chain(parts: Sequence[tuple[str, int, int | None]], lead: float, cut: ClipCut) -> str:
    """Filter graph text ending in an unlabelled pad: the span's sound, less a seek's `lead`, on the clip's clock,
    with its pauses cut. `parts`: (input, track, its one channel or None) to carry, several mixed (speakers each
    recorded on a track of their own) at their recorded levels, with a limiter where they add up past full scale.
    Each part has an input of its own: amix over two tracks of one input stops with the shorter (ffmpeg 5.1)."""
    def part(source: str, track: int, channel: int | None) -> str:
        return f"[{source}:a:{track}]{_sound_filters(lead, channel)}"

    if len(parts) == 1:
        return part(*parts[0]) + _kept_audio(cut)
    chains = ";".join(f"{part(*p)}[mix{i}]" for i, p in enumerate(parts))
    joined = "".join(f"[mix{i}]" for i in range(len(parts)))
    return (f"{chains};{joined}amix=inputs={len(parts)}:normalize=0:duration=longest,{MIX_LIMITER}"
            f"{_kept_audio(cut)}")


# ffmpeg's input seek into the last GOP of an MPEG-TS file (or one GOP long) gives no picture at all, without an error:
# an empty clip, a missing thumbnail. Then the seek lands SEEK_LEAD_S before the span and `trim` drops the lead-in:
# decoding ~30 s more, for a picture. Tried only after an empty result.


def _seeks(start: float) -> tuple[float, ...]:
    """Lead-ins to try, in seconds before `start`: a direct seek first, then SEEK_LEAD_S before it."""
    return (0.0, min(start, SEEK_LEAD_S)) if start > 0 else (0.0,)


def _one_channel(channel: int | None) -> str:
    """The audio filter (ending in a comma) that puts one channel on both sides, for a recording whose channels cancel
    out in mono (a phone's speaker, a platform's mono mix); "" for the recording as it is."""
    return "" if channel is None else f"pan=stereo|c0=c{channel}|c1=c{channel},"


def _last_frame(at: float) -> str:
    """Filters keeping only the picture's last frame, which a seek put `at` seconds in, at time 0. Its time in the
    filters can differ from the packets' by a stream's start offset (23 ms in a remuxed MPEG-TS), so the last quarter
    second is kept and reversed, and its first frame taken."""
    return f"trim=start={max(0.0, at - 0.25):.6f},reverse,trim=end_frame=1,setpts=PTS-STARTPTS,"


def _trimmed(lead: float, audio: bool = False) -> str:
    """Filters dropping a seek's `lead` seconds and restarting the clock at the span's start ("" without a lead)."""
    if not lead:
        return ""
    return f"atrim=start={lead:.6f},asetpts=PTS-STARTPTS," if audio else f"trim=start={lead:.6f},setpts=PTS-STARTPTS,"


def video_frames(path: Path) -> int:
    """Video frames in a file written by ffmpeg, from its header (no decoding); 0 without a video stream."""
    out = run_media_tool(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=nb_frames",
                          "-of", "csv=p=0", str(path)], 0.0, f"reading {path.name}", base=PROBE_BASE_SECONDS)
    return int(out.strip()) if out.strip().isdigit() else 0


def render_outputs(source: Path, cut: ClipCut, outputs: Sequence[ClipOutput], encoding: Encoding = Encoding(),
                   has_audio: bool = True, hdr: str | None = None, interlaced: bool = False,
                   frame: tuple[int, int] | None = None, track: int = 0, channel: int | None = None,
                   mixed: Sequence[tuple[int, int | None]] = ()) -> None:
    """Write one H.264/AAC MP4 of exactly `cut.frames` frames per output, all from one decode of the span (a 9:16
    and a 1:1 version of a clip cost one decode, not two), in SDR whatever `hdr` the source has. Each file appears
    complete or not at all; one without a single video frame is never written (see SEEK_LEAD_S). `frame`: the
    source's probed (width, height), which the crops are planned on (see `fitted`). `track`: the sound track to
    carry (0: the first); `channel`: its one channel to carry on both sides, where its two cancel out in mono;
    `mixed`: other tracks (track, channel) mixed in with it."""
    names = ", ".join(out.target.name for out in outputs)
    with tempfile.TemporaryDirectory(prefix="clip-") as work, contextlib.ExitStack() as stack:
        work_dir = Path(work)
        partials = [stack.enter_context(atomic_path(out.target)) for out in outputs]
        for k, out in enumerate(outputs):
            if out.path is not None:
                (work_dir / f"crop{k}.cmd").write_text(_crop_commands(out.path, cut.fps, f"reframe{k}"))
            if out.ass is not None:
                (work_dir / f"captions{k}.ass").write_text(out.ass, encoding="utf-8")
        for lead in _seeks(cut.start):
            args = _render_args(source, cut, outputs, partials, encoding, has_audio, hdr, interlaced, lead, frame,
                                track, channel=channel, mixed=mixed)
            # Each output is encoded in full, so the time limit grows with their number (all of the span is decoded).
            run_media_tool(args, cut.duration * len(outputs) + lead, f"rendering clip {names}", cwd=work_dir)
            empty = [out.target.name for out, partial in zip(outputs, partials, strict=True)
                     if video_frames(partial) == 0]
            if not empty:
                return
        # Still no picture: where the span starts after the picture's last frame but before the file ends (the
        # sound went on), that frame is held over the span's sound, as it is over the rest of a clip that runs past it.
        last = picture_end(source)
        if last is not None and last < cut.start < media_end(source) - 1 / cut.fps:
            args = _render_args(source, cut, outputs, partials, encoding, has_audio, hdr, interlaced, 0.0, frame,
                                track, held=last, channel=channel, mixed=mixed)
            run_media_tool(args, cut.duration * len(outputs) + SEEK_LEAD_S, f"rendering clip {names}", cwd=work_dir)
            empty = [out.target.name for out, partial in zip(outputs, partials, strict=True)
                     if video_frames(partial) == 0]
            if not empty:
                return
        raise RenderError(f"ffmpeg found no picture for {', '.join(empty)} in {cut.start:.2f}-"
                          f"{cut.start + cut.duration:.2f} s of {source.name}")


def _render_args(source: Path, cut: ClipCut, outputs: Sequence[ClipOutput], partials: Sequence[Path],
                 encoding: Encoding, has_audio: bool, hdr: str | None, interlaced: bool, lead: float,
                 frame: tuple[int, int] | None = None, track: int = 0, held: float | None = None,
                 channel: int | None = None, mixed: Sequence[tuple[int, int | None]] = ()) -> list[str]:
    """ffmpeg's arguments for one render. `held`: the time of the picture's last frame, before the span, which is
    then shown over the whole span (the picture from a second input seeked just before it). `mixed`: see
    `render_outputs`; their mix is made in the filter graph, one copy per output."""
    threads = ["-filter_complex_threads", str(encoding.threads)] if encoding.threads else []
    args = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *threads]
    sound, picture_lead, hold = "0", _trimmed(lead), HOLD_LAST_PICTURE
    frames = ["-frames:v", str(cut.out_frames)]
    if held is not None:
        # The picture is read from well before its last frame (an MPEG-TS seek can land late), and that frame is
        # repeated for the span, before `fps` (which makes nothing of a single frame), then cut to the span's count.
        # Not by -frames:v: with the picture and the sound from two inputs, that ends the sound early too (by 0.16 s
        # in 1.6 s, ffmpeg 5.1).
        seek = max(0.0, held - SEEK_LEAD_S)
        args += ["-ss", f"{seek:.6f}", "-i", str(source.resolve())]
        sound, frames = "1", []
        picture_lead = _last_frame(held - seek) + f"tpad=stop_mode=clone:stop_duration={cut.duration + 1:.3f},"
        hold = f"trim=end_frame={cut.frames},"
    args += ["-ss", f"{cut.start - lead:.6f}", "-i", str(source.resolve())]
    stills = {}
    if outputs[0].audiogram is not None:  # no picture in the source: every output is an audiogram
        stills = {k: 1 + n for n, k in enumerate(k for k, out in enumerate(outputs) if out.still is not None)}
        for k in stills:
            args += ["-i", str(outputs[k].still.resolve())]
    parts = [(sound, track, channel)]
    for other, other_channel in mixed if has_audio else ():
        parts.append((str(args.count("-i")), other, other_channel))
        args += ["-ss", f"{cut.start - lead:.6f}", "-i", str(source.resolve())]
    if outputs[0].audiogram is not None:
        args += ["-filter_complex", _audiogram_filter(cut, outputs, stills, _sound_chain(parts, lead, cut),
                                                      bool(mixed))]
    else:
        graph = _video_filter(cut.fps, outputs, _kept_video(cut), tone_map(hdr), interlaced, picture_lead, frame,
                              hold, picture_index(source))
        if has_audio and mixed:
            carried = "".join(f"[sa{k}]" for k in range(len(outputs)))
            graph += f";{_sound_chain(parts, lead, cut)},asplit={len(outputs)}{carried}"
        args += ["-filter_complex", graph]
    for k, partial in enumerate(partials):
        args += ["-map", f"[v{k}]", *frames, *encoding.video_args(), "-movflags", "+faststart"]
        if has_audio and mixed:
            args += ["-map", f"[sa{k}]", "-c:a", "aac", "-b:a", encoding.audio_bitrate, "-ar", "48000"]
        elif has_audio:
            args += ["-map", f"{sound}:a:{track}", "-c:a", "aac", "-b:a", encoding.audio_bitrate, "-ar", "48000", "-af",
                     _sound_filters(lead, channel) + _kept_audio(cut)]
        args += ["-t", f"{cut.out_duration:.6f}", "-f", "mp4", str(partial.resolve())]
    return args


def compose_still(source: Path, target: Path, frame: AudiogramFrame) -> None:
    """An audiogram's still part as a PNG (`still_graph`), from the source's cover art. Raises RenderError when the
    cover cannot be decoded."""
    with atomic_path(target) as partial:
        run_media_tool(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(source), "-filter_complex",
                        still_graph(frame), "-frames:v", "1", "-f", "image2", "-c:v", "png", str(partial)], 0.0,
                       f"reading the cover art of {source.name}")
        if partial.stat().st_size == 0:  # ffmpeg found no picture to write, and says nothing
            raise RenderError(f"ffmpeg found no picture in the cover art of {source.name}")


def render_clip(
    source: Path, target: Path, cut: ClipCut, width: int, height: int, path: CropPath | None,
    ass: str | None = None, fonts_dir: Path | None = None, encoding: Encoding = Encoding(), has_audio: bool = True,
) -> None:
    """Write an H.264/AAC MP4 of exactly `cut.frames` frames; `path` None means the blurred layout."""
    render_outputs(source, cut, [ClipOutput(target, width, height, path, ass, fonts_dir)], encoding, has_audio)


def render_thumbnail(source: Path, target: Path, at: float, width: int, height: int,
        crop: tuple[int, int, int, int] | None, stack: Sequence[tuple[int, int, int, int]] = (),
        hdr: str | None = None, interlaced: bool = False, frame: tuple[int, int] | None = None) -> None:
    """One JPEG from the source at `at` seconds, with the clip's crop (x, y, w, h), its two stacked crops, or its
    blurred layout; in SDR whatever `hdr` the source has, deinterlaced where it is `interlaced`, fitted into `frame`
    (see `fitted`)."""
    tone = tone_map(hdr)
    if stack:
        chain = _stacked_layout(stack, width, height, tone=tone)
    elif crop is not None:
        x, y, w, h = crop
        chain = f"crop={w}:{h}:{x}:{y},{_scaled((w, h), (width, height), tone)},setsar=1"
    else:
        chain = _blurred_layout(width, height, tone=tone)
    index = picture_index(source)
    with atomic_path(target) as partial:
        for lead in _seeks(at):
            if _thumbnail(source, partial, at, lead, f"{_picture(interlaced, _trimmed(lead), frame, index)},{chain}",
                          target.name):
                return
        # Past the picture's last frame (the sound went on): that frame, as the clip shows it.
        last = picture_end(source)
        if last is not None and last < at:
            seek = max(0.0, last - SEEK_LEAD_S)
            lead = _last_frame(last - seek)
            if _thumbnail(source, partial, last, last - seek, f"{_picture(interlaced, lead, frame, index)},{chain}",
                          target.name):
                return
        raise RenderError(f"ffmpeg found no picture at {at:.2f} s of {source.name} for {target.name}")


def _thumbnail(source: Path, partial: Path, at: float, lead: float, graph: str, name: str) -> bool:
    """One frame from `at` - `lead` through `graph` into `partial`; whether ffmpeg found one."""
    args = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-ss", f"{at - lead:.6f}", "-i", str(source),
            "-filter_complex", graph, "-frames:v", "1", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", str(partial)]
    # One frame: the base allowance covers the seek and the decode from the previous keyframe.
    run_media_tool(args, lead, f"writing thumbnail {name}")
    return partial.stat().st_size > 0  # ffmpeg leaves the file untouched when it finds no frame


def preview_data_uri(image: Path, width: int = 96) -> str | None:
    """A small JPEG of a thumbnail as a data: URI, for a table row or the Dagster UI's markdown (which shows
    data: images inline); None if the image cannot be read."""
    import base64

    import cv2

    picture = cv2.imread(str(image))
    if picture is None:
        return None
    height = max(1, round(picture.shape[0] * width / picture.shape[1]))
    small = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return f"data:image/jpeg;base64,{base64.b64encode(data.tobytes()).decode()}" if ok else None


def probe_duration(path: Path) -> float:
    """The container's duration from its header (no decoding, so only the base limit); 0.0 if it has none."""
    out = run_media_tool(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        0.0, f"reading {path.name}", base=PROBE_BASE_SECONDS, per_second=PROBE_SECONDS_PER_MEDIA_SECOND)
    try:
        return float(json.loads(out).get("format", {}).get("duration", 0.0))
    except (TypeError, ValueError):  # "N/A" or missing
        return 0.0


def probe_clip(path: Path, media_seconds: float | None = None) -> dict:
    """What ffprobe reports: video frames, size, duration, and whether there is audio.

    Counting frames decodes the whole file, so its time limit follows the file's duration: `media_seconds`
    when the caller knows it, else read from the header first."""
    if media_seconds is None:
        media_seconds = probe_duration(path)
    out = run_media_tool(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_type,width,height,nb_read_frames,duration,r_frame_rate:format=duration", "-of", "json",
         str(path)], media_seconds, f"counting the frames of {path.name}", base=PROBE_BASE_SECONDS,
        per_second=PROBE_SECONDS_PER_MEDIA_SECOND,
    )
    info = json.loads(out)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next((s for s in info["streams"] if s["codec_type"] == "audio"), None)
    num, den = (int(v) for v in video["r_frame_rate"].split("/"))
    return {
        "width": video["width"], "height": video["height"], "frames": int(video["nb_read_frames"]), "fps": num / den,
        "duration": float(info["format"]["duration"]), "video_duration": float(video.get("duration", 0.0)),
        "audio_duration": float(audio["duration"]) if audio else None,
    }
