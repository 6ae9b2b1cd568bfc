"""Captions for a clip: cues grouped from word timestamps, broken into lines that fit the frame.

The same cues feed the SRT file and the burned-in ASS subtitles, so what a player shows from the SRT
matches what is drawn on the picture. Cue times are the first word's start and the last word's end,
shifted to the clip's clock.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ai_assets.language.sentences import SENTENCE_END, join_words

# Where Debian's fonts-dejavu-core puts it; fc-match finds another bold sans if it is missing.
DEFAULT_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def clip_words(words: list[dict], start: float, end: float) -> list[Word]:
    """The words whose midpoint lies in [start, end), on the clip's clock and inside it."""
    kept = []
    for w in words:
        text = w["word"].strip()
        if text and start <= (w["start"] + w["end"]) / 2 < end:
            kept.append(Word(max(0.0, w["start"] - start), min(end - start, w["end"] - start), text))
    return kept


def balanced_lines(words: list[str], fits: Callable[[str], bool], max_lines: int) -> tuple[str, ...] | None:
    """Split words into at most `max_lines` lines that each fit, as even as possible; None if impossible."""
    whole = join_words(words)
    if fits(whole):
        return (whole,)
    if max_lines == 1:
        return None
    best, best_longest = None, None
    for cut in range(1, len(words)):
        head = join_words(words[:cut])
        if not fits(head):
            break
        rest = balanced_lines(words[cut:], fits, max_lines - 1)
        if rest is None:
            continue
        longest = max(len(line) for line in (head, *rest))
        if best_longest is None or longest < best_longest:
            best, best_longest = (head, *rest), longest
    if best is None and fits(whole):
        return (whole,)
    return best


def group_cues(
    words: list[Word], fits: Callable[[str], bool], max_lines: int = 2, max_seconds: float = 3.5,
    pause_break: float = 0.6
) -> list[Cue]:
    """Greedy cues: a new cue at a sentence end, a long pause, the time limit, or when the text stops fitting.

    A single word too wide for the frame still gets its own cue rather than being dropped.
    """
    cues: list[Cue] = []
    group: list[Word] = []

    def close() -> None:
        if group:
            lines = balanced_lines([w.text for w in group], fits, max_lines) or (join_words(w.text for w in group),)
            cues.append(Cue(round(group[0].start, 3), round(group[-1].end, 3), lines))
            group.clear()

    for word in words:
        if group:
            too_long = word.end - group[0].start > max_seconds
            paused = word.start - group[-1].end >= pause_break
            overflow = balanced_lines([w.text for w in group] + [word.text], fits, max_lines) is None
            if too_long or paused or overflow:
                close()
        group.append(word)
        if word.text.endswith(SENTENCE_END):
            close()
    close()
    return cues


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    h, rem = divmod(millis, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def to_srt(cues: list[Cue]) -> str:
    blocks = [f"{i}\n{_timestamp(c.start, ',')} --> {_timestamp(c.end, ',')}\n" + "\n".join(c.lines) for i,
        c in enumerate(cues, 1)]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def parse_srt(text: str) -> list[Cue]:
    """Read back an SRT file, for checks and tests."""
    def seconds(stamp: str) -> float:
        hms, ms = stamp.strip().split(",")
        h, m, s = (int(x) for x in hms.split(":"))
        return h * 3600 + m * 60 + s + int(ms) / 1000

    cues = []
    for block in filter(None, text.strip().split("\n\n")):
        lines = block.splitlines()
        start, end = lines[1].split(" --> ")
        cues.append(Cue(seconds(start), seconds(end), tuple(lines[2:])))
    return cues


@dataclass(frozen=True)
class CaptionStyle:
    """Sizes in output pixels; the font is a file so measuring and drawing use the same glyphs."""

    font_file: Path
    font_px: int
    max_width: int
    margin_bottom: int
    outline_px: int

    @classmethod
    def for_frame(cls, font_file: Path, width: int, height: int, font_scale: float,
            bottom_share: float) -> CaptionStyle:
        font_px = max(12, round(width * font_scale))
        return cls(font_file, font_px, int(width * 0.86), round(height * bottom_share), max(2, font_px // 14))

    def measure(self) -> Callable[[str], int]:
        return _measurer(str(self.font_file), self.font_px)

    def fits(self) -> Callable[[str], bool]:
        measure = self.measure()
        return lambda text: measure(text) <= self.max_width


@lru_cache(maxsize=8)
def _measurer(font_file: str, font_px: int) -> Callable[[str], int]:
    from PIL import ImageFont

    font = ImageFont.truetype(font_file, font_px)
    return lambda text: int(round(font.getlength(text)))


def find_font(preferred: Path = DEFAULT_FONT) -> Path | None:
    if preferred.is_file():
        return preferred
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "-f", "%{file}", "sans:bold"], capture_output=True,
            text=True).stdout.strip()
        if found and Path(found).is_file():
            return Path(found)
    return None


def font_face(font_file: Path) -> tuple[str, bool]:
    """The family name libass looks the file up by, and whether it is the bold face."""
    from PIL import ImageFont

    family, face = ImageFont.truetype(str(font_file), 12).getname()
    return family, "bold" in (face or "").lower()


def _ass_time(seconds: float) -> str:
    centis = round(seconds * 100)
    h, rem = divmod(centis, 360_000)
    m, rem = divmod(rem, 6000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def _ass_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("{", "(").replace("}", ")")


def to_ass(cues: list[Cue], width: int, height: int, style: CaptionStyle) -> str:
    """ASS subtitles with our own line breaks (WrapStyle 2: libass never re-wraps), white on a black outline."""
    family, bold = font_face(style.font_file)
    header = (
        "[Script Info]\nScriptType: v4.00+\nWrapStyle: 2\nScaledBorderAndShadow: yes\n"
        f"PlayResX: {width}\nPlayResY: {height}\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
        "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
        "MarginL, MarginR, MarginV, Encoding\n"
        f"Style: Caption,{family},{style.font_px},&H00FFFFFF,&H00FFFFFF,&H00000000,&H64000000,{-1 if bold else 0},"
        f"0,0,0,100,100,0,0,1,{style.outline_px},0,2,0,0,{style.margin_bottom},1\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    )
    line_break = "\\N"
    events = [
        f"Dialogue: 0,{_ass_time(c.start)},{_ass_time(c.end)},Caption,,0,0,0,,"
        f"{line_break.join(_ass_escape(line) for line in c.lines)}"
        for c in cues
    ]
    return header + "\n".join(events) + "\n"
