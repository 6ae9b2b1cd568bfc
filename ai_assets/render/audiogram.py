"""Clips of a recording without a picture (a podcast's MP3 or M4A): an audiogram.

The frame is the episode's cover art (its attached picture), fitted in a square over a blurred, darkened copy of
itself, with the clip's waveform drawn live beneath it and the captions burned in below, where every platform puts
them. A file without cover art gets a plain dark background instead. The still part is composed once per clip into
a PNG; each frame then costs only the waveform, the captions and the encode.
"""

from __future__ import annotations

from dataclasses import dataclass

# Frames per second of an audiogram: the waveform moves, nothing else does; 25 keeps it smooth and cheap to encode.
AUDIOGRAM_FPS = 25.0
BACKGROUND = "0x14172b"  # without cover art: a dark blue-grey that white and yellow captions read well on
# Background darkening: the cover's colours, not its detail.
DIM = -0.18
# Blurred backgrounds (this cover fill and the video's blurred layout) are blurred at this fraction of the output size
# and scaled back up: a box blur of radius r at 1/8 size looks the same as radius 8r at full size once scaled, and
# costs about 1/64 of it. At full size the blur was two thirds of a no-face render (14.3 s of a 40 s 1080x1080 clip,
# against 5.0 s this way).
BLUR_SHRINK = 8


@dataclass(frozen=True)
class AudiogramFrame:
    """Where things sit in a width x height frame: the cover's square (x, y, side; None: no cover) and the
    waveform's box (x, y, w, h). Both lie above `caption_top`, the top of the caption block."""

    width: int
    height: int
    cover: tuple[int, int, int] | None
    wave: tuple[int, int, int, int]


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def audiogram_frame(width: int, height: int, caption_top: float, cover: bool) -> AudiogramFrame:
    """The layout of an audiogram: cover square and waveform stacked and centred in the space above the captions
    (from 6 % of the height to 3 % above `caption_top`, in pixels). Without a cover, or where the square would be
    under a fifth of the frame, the waveform takes the space alone and is drawn taller."""
    top = 0.06 * height
    bottom = max(top + 0.2 * height, min(float(height), caption_top) - 0.03 * height)
    room = bottom - top
    wave_w = _even(0.8 * width)
    if cover:
        wave_h = _even(min(0.12 * height, 0.22 * room))
        gap = 0.03 * height
        side = _even(min(0.72 * width, room - wave_h - gap))
        if side >= 0.2 * min(width, height):
            y = top + (room - side - gap - wave_h) / 2
            return AudiogramFrame(width, height, ((width - side) // 2, int(y), side),
                                  ((width - wave_w) // 2, int(y + side + gap), wave_w, wave_h))
    wave_h = _even(min(0.25 * height, 0.5 * room))
    return AudiogramFrame(width, height, None, ((width - wave_w) // 2, int(top + (room - wave_h) / 2), wave_w, wave_h))


def still_graph(frame: AudiogramFrame) -> str:
    """The filter graph of the frame's still part, from input 0's cover art (its first video stream, an attached
    picture): the cover fitted into the frame's square over a blurred, darkened fill of the whole frame. `encode`
    runs it (`compose_still`)."""
    assert frame.cover is not None
    x, y, side = frame.cover
    w, h = frame.width, frame.height
    small_w, small_h = _even(w / BLUR_SHRINK), _even(h / BLUR_SHRINK)
    return (
        f"[0:v:0]format=yuv420p,split=2[bg][fg];"
        f"[bg]scale={small_w}:{small_h}:force_original_aspect_ratio=increase,crop={small_w}:{small_h},"
        f"boxblur=luma_radius=3:luma_power=2,eq=brightness={DIM},scale={w}:{h}:flags=bilinear[fill];"
        f"[fg]scale={side}:{side}:force_original_aspect_ratio=decrease:flags=lanczos[art];"
        f"[fill][art]overlay=x={x}+({side}-w)/2:y={y}+({side}-h)/2,setsar=1"
    )


def _hex(colour: str) -> str:
    return "0x" + colour.lstrip("#")


def audiogram_chain(frame: AudiogramFrame, fps: float, still_input: int | None, wave_label: str, tag: str,
                    wave_colour: str) -> str:
    """Filters making the picture of output `tag` up to (not including) its captions: the still (input
    `still_input`, one PNG) or a plain background, with `wave_label`'s audio drawn as a waveform on it."""
    x, y, w, h = frame.wave
    if still_input is None:
        base = f"color=c={BACKGROUND}:s={frame.width}x{frame.height}:r={fps:g},format=yuv420p[base{tag}];"
    else:
        # The PNG is decoded once and its frame repeated: an image looped by the demuxer is decoded every frame.
        base = (f"[{still_input}:v]format=yuv420p,setsar=1,loop=loop=-1:size=1,setpts=N/{fps:g}/TB"
                f"[base{tag}];")
    # sqrt scale: quiet speech still moves the line; one channel, so stereo does not draw two overlapping waves.
    waves = (f"{wave_label}aformat=channel_layouts=mono,showwaves=s={w}x{h}:mode=cline:rate={fps:g}:scale=sqrt:"
             f"colors={_hex(wave_colour)}@0.9,format=rgba[wave{tag}];")
    return base + waves + f"[base{tag}][wave{tag}]overlay=x={x}:y={y}:format=yuv420:eof_action=repeat"
