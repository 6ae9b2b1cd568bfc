"""The source_video stage: store an upload by content hash and probe it, or say in one line why it cannot be used."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

import numpy as np

from ai_assets.storage.files import atomic_path, copy_hashing

# A stream counts as truncated when its packets stop this far short of the declared duration.
TRUNCATION_TOLERANCE_S = 1.0
TRUNCATION_RATIO = 0.95


class MediaError(ValueError):
    """The input cannot be processed; the message says why, in one line."""


@dataclass(frozen=True)
class Probe:
    container: str
    duration: float
    size_bytes: int
    has_audio: bool
    has_video: bool
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    streams: str  # JSON list, one object per stream
    # Degrees the stored picture is turned counterclockwise to be shown (phones store portrait video on its side and
    # say so): width and height above are as shown, as ffmpeg renders it.
    rotation: int = 0
    hdr: str | None = None  # "pq" or "hlg": HDR video, which renders map to SDR; None for SDR
    interlaced: bool = False  # broadcast and camcorder video in fields (1080i): renders deinterlace it

    def as_row(self) -> dict:
        return asdict(self)


def store_original(open_source: Callable[[], BinaryIO], suffix: str, dest_dir: Path, sha256: str, size: int) -> Path:
    """Copy an upload into content-addressed storage, verifying its hash. The source is untouched."""
    target = dest_dir / f"original{suffix.lower()}"
    if target.exists() and target.stat().st_size == size:
        return target  # same hash, same bytes: content addressing makes the copy idempotent
    with open_source() as fh_in, atomic_path(target) as tmp:
        with open(tmp, "wb") as fh_out:
            actual, _ = copy_hashing(fh_in, fh_out)
        if actual != sha256:
            raise MediaError(
                f"upload changed after it was registered (expected sha256 {sha256[:12]}…, "
                f"found {actual[:12]}…); upload the new version as a new file"
            )
    return target


def _sniff(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(12)


def _looks_like_mp4(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free")


# ffmpeg's own choice among several pictures (a camera's proxy beside its main stream, a recorder's second angle):
# the largest, unless another is marked default, which outweighs this many pixels (ffmpeg 5.1's stream selection).
DEFAULT_PICTURE_BONUS = 5_000_000


def picture_stream(container):
    """The container's main picture, as ffmpeg picks it by default (see DEFAULT_PICTURE_BONUS), of its video streams
    that are a video: cover art (an attached picture, as MP3 and M4A podcasts carry it) is one still image in a video
    stream, not the picture to cut clips from. None when there is none."""
    pictures = [s for s in container.streams.video if not _is_cover_art(s)]
    return max(pictures, key=_picture_score, default=None)  # the first of equals


def _picture_score(stream) -> int:
    import av

    context = stream.codec_context
    area = (context.width or 0) * (context.height or 0)
    return area + DEFAULT_PICTURE_BONUS * bool(stream.disposition & av.stream.Disposition.default)


def picture_index(path: Path) -> int:
    """Which of the file's pictures (ffmpeg's `V` streams: video that is not cover art) `picture_stream` picks, as
    ffmpeg's filter graphs name it (`[0:V:n]`); 0 when the file cannot be read, and for what is not a regular file (a
    pipe would hold the open forever: ffmpeg's own time limit judges it). Remembered per file version."""
    try:
        stat = path.stat()
    except OSError:
        return 0
    if not S_ISREG(stat.st_mode):
        return 0
    return _picture_index(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _picture_index(path: str, size: int, modified_ns: int) -> int:
    import av

    try:
        with av.open(path, metadata_errors="ignore") as container:
            pictures = [s for s in container.streams.video if not _is_cover_art(s)]
            main = picture_stream(container)
            return next((n for n, s in enumerate(pictures) if s is main), 0)
    except (av.error.FFmpegError, UnicodeDecodeError):
        return 0


def clock_origin(container) -> float:
    """The file's time zero in the timestamps PyAV gives, in seconds: the container's start time. ffmpeg (cuts,
    the audio track) counts from it; a recording cut from a broadcast or stream (MPEG-TS) starts at its capture
    clock, seconds or hours in."""
    return container.start_time / 1_000_000 if container.start_time else 0.0


def pixel_shape(stream) -> float:
    """How much wider than tall a stored pixel is shown (the sample aspect ratio): 4/3 for HDV's 1440x1080 shown as
    1920x1080, 1 for square pixels and where the file does not say."""
    ratio = stream.sample_aspect_ratio
    return float(ratio) if ratio and ratio > 0 else 1.0


def quarter_turns(frame) -> int:
    """Quarter turns counterclockwise (numpy's rot90) that show a decoded frame as players and ffmpeg do: PyAV hands
    frames over as stored, with the display rotation beside them."""
    return round((frame.rotation or 0) / 90) % 4


def upright(image: np.ndarray, turns: int) -> np.ndarray:
    """A decoded frame's array turned `turns` quarter turns counterclockwise (see `quarter_turns`), contiguous."""
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


# HDR video shown as SDR without conversion comes out grey and washed out. These filters map it to BT.709 SDR: linear
# light with reference white (203 nits, BT.2408) at 1.0, BT.709 primaries, Mobius linear up to 70 % of white (faces
# and mid-tones keep their level; only what is brighter, the HDR highlights, is compressed), then BT.709 gamma.
# Chosen on GRID faces and Big Buck Bunny converted to HLG: mean error against the SDR originals 4.7 and 8.4 levels,
# against 23.2 and 16.3 for the common recipe (white at 100 nits, knee 0.3). Such conversions have no highlights above
# white, so they cannot judge how highlights look; a higher knee would clip them. Float: apply it to small pictures.
TO_SDR = (("zscale", "pin=bt2020:min=bt2020nc:t=linear:npl=203"), ("format", "gbrpf32le"), ("zscale", "p=bt709"),
          ("tonemap", "tonemap=mobius:param=0.7:desat=0"), ("zscale", "t=bt709:m=bt709:r=tv"), ("format", "yuv420p"))

# HDR transfer functions by their FFmpeg numbers (AVCOL_TRC_SMPTE2084, AVCOL_TRC_ARIB_STD_B67): PQ (HDR10, Dolby
# Vision, most Android phones and cameras) and HLG (iPhones, broadcast); and as zscale names them.
HDR_TRANSFERS = {16: "pq", 18: "hlg"}
ZSCALE_TRANSFERS = {"pq": "smpte2084", "hlg": "arib-std-b67"}


def _first_frame(path: Path, index: int) -> tuple[int, str | None, bool]:
    """`quarter_turns`, the HDR transfer ("pq", "hlg" or None for SDR) and whether the picture is interlaced, from the
    first frame of stream `index`, where the decoder states them even when the container does not; (0, None, False)
    when none decodes (the rest of the probe says why)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            frame = next(decoded_frames(container, container.streams[index], []))
            # VideoFrame.color_trc is PyAV 17+; before it, the stream's own tag (below) decides.
            return (quarter_turns(frame), HDR_TRANSFERS.get(getattr(frame, "color_trc", None)),
                    bool(frame.interlaced_frame))
    except (av.error.FFmpegError, StopIteration, UnicodeDecodeError):
        return 0, None, False


def decoded_frames(container, stream, damaged: list[float]):
    """The frames of `stream`, decoded packet by packet. A packet the decoder rejects (damaged bytes in a file whose
    index is sound, as a broken download or a failing memory card leaves) is skipped and its time, in seconds on the
    file's clock, appended to `damaged`; `container.decode` would end the whole file there. The decoder picks up again
    at the next packet it can read, as ffmpeg's command line does. Errors reading the container still raise."""
    import av

    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            damaged.append(float(packet.pts * packet.time_base) if packet.pts is not None and packet.time_base
                           else float("nan"))
            continue
        yield from frames


# A seek into MPEG-TS lands after its target: ffmpeg finds a packet before it, but the decoder then drops frames up to
# the next keyframe (the whole rest of the file in its last GOP). Seeking this far earlier and decoding forward gets
# the frames; it is tried only when the direct seek came up short.
SEEK_LEAD_S = 30.0


def frames_from(container, stream, at: float, damaged: list[float], lead: float = 1.0):
    """Decoded frames of `stream` from a keyframe before `at` (seconds on the file's clock, as frame.time counts):
    the caller drops those before `at`. A seek `lead` seconds early is tried first; if its first frame comes after
    `at`, the seek goes SEEK_LEAD_S earlier. A seek the demuxer refuses (FLV refuses a backward one near 0 with
    EPERM, and a failed seek leaves the position anywhere) is made to `at` itself, else forward to the first keyframe;
    failing all, frames come from where the container stands. See `decoded_frames` for `damaged`."""
    for back in (lead, SEEK_LEAD_S):
        if not (_seek(container, stream, max(0.0, at - back)) or _seek(container, stream, at)
                or _seek(container, stream, 0.0, backward=False)):
            yield from decoded_frames(container, stream, damaged)
            return
        frames = decoded_frames(container, stream, damaged)
        first = next(frames, None)
        if first is None or (back < SEEK_LEAD_S and first.time is not None and first.time > at + 1e-3):
            continue
        yield first
        yield from frames
        return


def _seek(container, stream, at: float, backward: bool = True) -> bool:
    """Seek `stream` to the keyframe at or before (`backward`, else after) `at` seconds; whether the demuxer did."""
    import av

    try:
        container.seek(int(at / stream.time_base), stream=stream, backward=backward)
    except av.error.FFmpegError:
        return False
    return True


def _is_cover_art(stream) -> bool:
    import av

    return stream.type == "video" and bool(stream.disposition & av.stream.Disposition.attached_pic)


def has_cover_art(streams: str | None) -> bool:
    """Whether a probe's `streams` (JSON) lists cover art: a podcast's attached picture."""
    try:
        return any(s.get("cover_art") for s in json.loads(streams or "[]"))
    except (ValueError, AttributeError):
        return False


def probe(path: Path) -> Probe:
    """Describe a media file, or raise MediaError saying exactly what is wrong with it."""
    import av

    size = path.stat().st_size
    if size == 0:
        raise MediaError("empty file (0 bytes)")
    head = _sniff(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        if _looks_like_mp4(head):
            raise MediaError(
                f"truncated or corrupt MP4: the container index is missing ({error_reason(exc)})"
            ) from None
        raise MediaError(f"not a media file: no audio/video container recognised ({error_reason(exc)})") from None
    with container:
        video = picture_stream(container)
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError("no audio or video streams in the container")
        # A browser's recording (MediaRecorder's WebM) and other live-written files say nothing of their length:
        # it is read from the packets, or every clip would be cut from a video of 0 s.
        duration = _duration(container) or _demuxed_end(path)
        streams = [
            {
                "index": s.index,
                "type": s.type,
                "codec": s.codec_context.name if s.codec_context else None,
                **({"cover_art": True} if _is_cover_art(s) else {}),
            }
            for s in container.streams
        ]
        turns, hdr, interlaced = _first_frame(path, video.index) if video is not None else (0, None, False)
        hdr = hdr or (HDR_TRANSFERS.get(video.codec_context.color_trc) if video is not None else None)
        width, height = (video.codec_context.width, video.codec_context.height) if video is not None else (None, None)
        if video is not None and (shape := pixel_shape(video)) != 1.0:  # as shown: square pixels, as renders make them
            width = int(round(width * shape / 2) * 2)
        if turns % 2:
            width, height = height, width
        info = Probe(
            container=container.format.name,
            duration=duration,
            size_bytes=size,
            has_audio=audio is not None,
            has_video=video is not None,
            width=width,
            height=height,
            fps=frame_rate(container, video, duration) if video is not None else None,
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            audio_channels=audio.codec_context.channels if audio is not None else None,
            streams=json.dumps(streams),
            rotation=90 * turns,
            hdr=hdr,
            interlaced=interlaced,
        )
        if audio is None:
            raise MediaError("no audio stream: the video has no sound track to transcribe")
        _check_complete(container, audio, duration)
    return info


# Variable frame rate: meeting recorders (Zoom, Teams) drop to a frame every second or two while a still screen is
# shared, so the average rate can be a fraction of the camera's. Renders run at the camera's rate, found from the
# timestamps at SAMPLE_POINTS places in the file (up to SAMPLE_PACKETS frames or SAMPLE_SECONDS each, so a frozen
# stretch gives a few intervals, not a hundred): the interval that RATE_QUANTILE of the frame intervals are at most.
# The rate counts as variable when that is VARIABLE_RATIO above the average (timestamps rounded to milliseconds make
# a constant 29.97 look 1 % faster) and some intervals are FROZEN_RATIO times that long (frames really freeze). A
# rate this close to a standard one is that rate; it is at most MAX_FPS, and below MIN_VARIABLE_FPS the stated rate
# or MIN_VARIABLE_FPS is used instead.
SAMPLE_POINTS = 8
SAMPLE_PACKETS = 120
SAMPLE_SECONDS = 5.0
RATE_QUANTILE = 0.2
VARIABLE_RATIO = 1.05
FROZEN_RATIO = 3.0
STANDARD_RATES = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 48.0, 50.0, 60000 / 1001, 60.0)
STANDARD_TOLERANCE = 0.02
MIN_VARIABLE_FPS, MAX_FPS = 24.0, 60.0


def frame_rate(container, video, duration: float) -> float | None:
    """The rate clips are rendered at: the stream's average rate when it is constant, else the rate its moving
    parts have (see SAMPLE_POINTS). None when the stream states no rate and its timestamps give none. Never raises:
    timestamps it cannot read leave the average."""
    average = float(video.average_rate or video.guessed_rate or 0) or None
    nominal = float(video.base_rate or 0) or None
    try:
        intervals = _frame_intervals(container, video, duration)
    except Exception:  # an odd stream must not cost the video its probe
        intervals = np.zeros(0)
    if intervals.size < 2:
        return average or nominal
    fast = float(np.quantile(intervals, RATE_QUANTILE))
    rate = 1.0 / fast
    if average and (rate <= average * VARIABLE_RATIO or not np.any(intervals >= FROZEN_RATIO * fast)):
        return average
    # A stated base rate above the average is the camera's (unless it is a clock, 90000 or 1000, not a rate): it caps
    # the estimate, and stands in for it where nearly every sample froze (a short camera intro, then an hour of
    # slides), so captions still move at a video's rate.
    stated = nominal if nominal and (average is None or nominal > average * VARIABLE_RATIO) and nominal <= MAX_FPS \
        else None
    if stated:
        rate = min(rate, stated)
    if rate < MIN_VARIABLE_FPS:
        rate = stated or MIN_VARIABLE_FPS
    rate = min(rate, max(MAX_FPS, average or 0.0))
    standard = min(STANDARD_RATES, key=lambda r: abs(rate / r - 1))
    return standard if abs(rate / standard - 1) <= STANDARD_TOLERANCE else round(rate, 3)


def _frame_intervals(container, video, duration: float) -> np.ndarray:
    """Seconds between successive frames, in presentation order, sampled across the file; demuxed, not decoded."""
    import av

    base = float(video.time_base)
    first = video.start_time or 0  # a recording's clock may start late (MPEG-TS): seek on the stream's own clock
    intervals: list[np.ndarray] = []
    points = [duration * k / SAMPLE_POINTS for k in range(SAMPLE_POINTS)] if duration > 0 else [0.0]
    for at in points:
        try:
            container.seek(first + int(at / base), stream=video, backward=True)
            times: list[float] = []
            for packet in container.demux(video):
                if packet.pts is not None and packet.size:
                    times.append(packet.pts * base)
                if len(times) >= SAMPLE_PACKETS or (times and max(times) - min(times) >= SAMPLE_SECONDS):
                    break
        except (av.error.FFmpegError, ValueError, OverflowError):
            continue
        steps = np.diff(np.unique(np.array(times, dtype=float)))
        intervals.append(steps[steps > 1e-4])
    with contextlib.suppress(av.error.FFmpegError, ValueError):
        container.seek(0)
    return np.concatenate(intervals) if intervals else np.zeros(0)


def error_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).split(":")[0]


def declared_duration(path: Path) -> float | None:
    """The duration the container's header declares, or None; reads the header only, never raises."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return _duration(container) or None
    except Exception:  # anything unreadable is source_video's to report
        return None


def media_end(path: Path) -> float:
    """The file's length: as its header declares it, else measured from its packets (a browser's WebM states none);
    0.0 where neither can be read."""
    return declared_duration(path) or _demuxed_end(path)


def _duration(container) -> float:
    if container.duration:
        return container.duration / 1_000_000
    best = 0.0
    for stream in container.streams:
        if stream.duration and stream.time_base:
            best = max(best, float(stream.duration * stream.time_base))
    return best


def _demuxed_end(path: Path) -> float:
    """When the last packet of any stream ends, in seconds from the file's start; demuxed, not decoded (about a
    second per hour of video). 0.0 where nothing can be read."""
    import av

    end = 0.0
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            origin = clock_origin(container)
            for packet in container.demux():
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base) - origin)
    except (av.error.FFmpegError, ValueError):
        pass  # what was read so far
    return end


def _check_complete(container, audio_stream, duration: float) -> None:
    """Demux the audio packets (no decoding) and fail if they stop well before the declared end."""
    import av

    last_end = 0.0
    try:
        for packet in container.demux(audio_stream):
            if packet.pts is None or packet.time_base is None:
                continue
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            last_end = max(last_end, end)
    except av.error.FFmpegError as exc:
        raise MediaError(
            f"truncated or corrupt media: reading stopped at {last_end:.1f} s ({error_reason(exc)})"
        ) from None
    start = float(audio_stream.start_time * audio_stream.time_base) if audio_stream.start_time else 0.0
    # The audio track's own length where it declares one: a picture that runs on after the sound stops (a
    # screen recording, a video ending on a title card) is not truncation.
    if audio_stream.duration and audio_stream.time_base:
        duration = float(audio_stream.duration * audio_stream.time_base)
    expected_end = start + duration
    if duration > 0 and last_end < min(expected_end * TRUNCATION_RATIO, expected_end - TRUNCATION_TOLERANCE_S):
        raise MediaError(
            f"truncated media: audio data ends at {last_end:.1f} s but the file declares {duration:.1f} s"
        )


# `picture_end` demuxes this much of a file's end first.
TAIL_SECONDS = 60.0


def picture_end(path: Path) -> float | None:
    """When the picture's last frame is shown, in seconds on the file's clock (as ffmpeg's -ss counts); None without
    a picture or when it cannot be read. Demuxes from the last keyframes (the whole stream only where seeking lands
    past them, as it can in MPEG-TS); nothing is decoded. A screen capture that stopped while the sound went on ends
    its picture long before the file. Remembered per file version (a clip and its thumbnail both ask)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _picture_end(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _picture_end(path: str, size: int, modified_ns: int) -> float | None:
    import av

    try:
        with av.open(path, metadata_errors="ignore") as container:
            video = picture_stream(container)
            if video is None:
                return None
            base, origin = float(video.time_base), clock_origin(container)
            end = container.duration / 1_000_000 if container.duration else 0.0
            first = video.start_time or 0
            for back in (TAIL_SECONDS, None):
                container.seek(first + int(max(0.0, end - back) / base) if back else first, stream=video,
                               backward=True)
                shown = [p.pts for p in container.demux(video) if p.pts is not None and p.size]
                if shown:
                    return max(shown) * base - origin
    except (av.error.FFmpegError, ValueError, OverflowError):
        return None
    return None
