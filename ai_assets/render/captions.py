"""Captions for a clip: cues grouped from word timestamps, broken into lines that fit the frame.

The same cues feed the SRT file and the burned-in ASS subtitles, so what a player shows from the SRT
matches what is drawn on the picture. Cue times are the first word's start and the last word's end,
shifted to the clip's clock.

Burned-in captions have three styles. `cue` draws whole cues. `word_highlight` draws the whole cue and colours the
word being spoken: one ASS event per word, the events of a cue tiling it from word start to next word start, all
with the cue's own line breaks (measured once), so the text never moves or flickers. `word_pop` shows one or two
words at a time, larger, on the same clock. The SRT file always holds plain cues: players cannot highlight.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
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
    words: tuple[Word, ...] = ()  # what the lines are made of, in order (empty when read back from an SRT)

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
            cues.append(Cue(round(group[0].start, 3), round(group[-1].end, 3), lines, tuple(group)))
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
    mode: str = "cue"  # cue, word_highlight or word_pop
    text_colour: str = "#FFFFFF"  # #RRGGBB
    highlight_colour: str = "#FFD400"
    outline_colour: str = "#000000"
    pop_scale: float = 1.4  # word_pop's font size over font_px
    pop_words: int = 2

    @classmethod
    def for_frame(cls, font_file: Path, width: int, height: int, font_scale: float, bottom_share: float,
            outline_share: float = 0.07, **look) -> CaptionStyle:
        """`look`: mode, colours, pop_scale and pop_words, as the clip policy's caption rule sets them."""
        font_px = max(12, round(width * font_scale))
        outline = max(2, round(font_px * outline_share)) if outline_share > 0 else 0
        return cls(font_file, font_px, int(width * 0.86), round(height * bottom_share), outline, **look)

    def popped(self) -> CaptionStyle:
        """The larger style word_pop draws (and measures) its words in."""
        font_px = round(self.font_px * self.pop_scale)
        return replace(self, font_px=font_px, outline_px=round(self.outline_px * self.pop_scale))

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


def font_for(text: str, preferred: Path) -> Path:
    """The font a clip's captions are measured and drawn with: `preferred` when it has a glyph for every character
    of `text`, else the installed font that lacks the fewest (fontconfig's candidates for the missing characters,
    bold first). DejaVu has no Chinese, Japanese, Korean or Indic glyphs: drawn with it, such captions are boxes,
    and measured with it, their lines overflow the frame."""
    needed = frozenset(ord(c) for c in text if not c.isspace() and unicodedata.category(c)[0] not in "CZ")
    missing = needed - _glyphs(str(preferred))
    if not missing:
        return preferred
    best, fewest = preferred, len(missing)
    query = sorted(missing)[:MAX_CHARSET_QUERY]
    # One character no font has (an emoji, a rare sign) must not leave the rest without a font: then each is asked
    # for on its own.
    candidates = _fonts_with(frozenset(query)) or tuple(dict.fromkeys(
        path for char in query for path in _fonts_with(frozenset([char]))))
    for candidate in candidates:
        left = len(needed - _glyphs(candidate))
        if left < fewest:
            best, fewest = Path(candidate), left
        if not left:
            break
    return best


# fontconfig is asked for fonts that have these many of the missing characters; each candidate is then checked
# for all of them.
MAX_CHARSET_QUERY = 24


@lru_cache(maxsize=64)
def _glyphs(font_file: str) -> frozenset[int]:
    """The characters a font file (the first face of a collection) has glyphs for; none if it cannot be read."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(font_file, fontNumber=0, lazy=True) as font:
            return frozenset(font.getBestCmap() or {})
    except Exception:  # a damaged or unsupported font file is no candidate
        return frozenset()


@lru_cache(maxsize=64)
def _fonts_with(chars: frozenset[int]) -> tuple[str, ...]:
    """Installed TrueType/OpenType files (fontconfig) that have all of `chars`, bold sans faces first."""
    if not chars or not shutil.which("fc-list"):
        return ()
    charset = " ".join(f"{c:x}" for c in sorted(chars))
    try:
        listed = subprocess.run(["fc-list", "--format", "%{file}|%{style}|%{spacing}\n", f":charset={charset}"],
                                capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    found = []
    for line in listed.splitlines():
        path, _, rest = line.partition("|")
        style, _, spacing = rest.partition("|")
        if path.lower().endswith((".ttf", ".otf", ".ttc")):
            # Bold (as captions are drawn), proportional, then the shortest name (the plain family, not "UI" etc.).
            found.append(((0 if "bold" in style.lower() else 1), spacing not in ("", "0"), len(Path(path).name), path))
    return tuple(path for *_, path in sorted(set(found)))


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


# libass reads "\N", "\n", "\h", "\{" and "\}" as escapes and has none for a backslash, so a backslash is
# followed by a zero-width word joiner (drawn as nothing, measured as nothing); braces are escaped.
_WORD_JOINER = "\u2060"


def _ass_escape(text: str) -> str:
    return text.replace("\\", "\\" + _WORD_JOINER).replace("{", "\\{").replace("}", "\\}")


def _ass_colour(hex_colour: str) -> str:
    """#RRGGBB as ASS writes it: &HBBGGRR (blue first)."""
    rgb = hex_colour.lstrip("#")
    return f"&H{rgb[4:6]}{rgb[2:4]}{rgb[0:2]}".upper()


@lru_cache(maxsize=8)
def _cell_height(font_file: str) -> float:
    """Ascent plus descent per pixel of em. libass (like VSFilter) takes an ASS font size as that height, not as
    the em PIL measures in, so the size written is font_px times this: drawn glyphs then match the measurer."""
    from PIL import ImageFont

    ascent, descent = ImageFont.truetype(font_file, 1000).getmetrics()
    return (ascent + descent) / 1000


def _ass_size(style: CaptionStyle) -> str:
    return f"{style.font_px * _cell_height(str(style.font_file)):.2f}"


def word_spans(cue: Cue) -> list[tuple[int, int, int]] | None:
    """Where each of the cue's words sits in its lines: (line, first char, end char); None if the lines are not
    made of the words (a cue read back from an SRT)."""
    spans, line, pos = [], 0, 0
    for word in cue.words:
        if line < len(cue.lines) and pos >= len(cue.lines[line]):
            line, pos = line + 1, 0
        if line >= len(cue.lines):
            return None
        text = cue.lines[line]
        if pos and text.startswith(" ", pos):
            pos += 1
        if not text.startswith(word.text, pos):
            return None
        spans.append((line, pos, pos + len(word.text)))
        pos += len(word.text)
    if not cue.words or line != len(cue.lines) - 1 or pos != len(cue.lines[-1]):
        return None
    return spans


def _centis(seconds: float) -> int:
    return round(seconds * 100)


def word_tiles(cue: Cue) -> list[tuple[int, int, int | None]]:
    """(start, end, highlighted word or None) in centiseconds, tiling the cue: word k from its start to the next
    word's start (the last to the cue's end). Times are rounded once, so neighbours share their boundary exactly;
    a word whose start rounds onto the next one's gets no tile. Before the first word the cue shows unhighlighted."""
    start, end = _centis(cue.start), _centis(cue.end)
    starts, last = [], start
    for word in cue.words:
        last = min(end, max(last, _centis(word.start)))  # ordered and inside the cue, whatever the input
        starts.append(last)
    tiles: list[tuple[int, int, int | None]] = []
    if starts and start < starts[0]:
        tiles.append((start, starts[0], None))
    for k, at in enumerate(starts):
        until = starts[k + 1] if k + 1 < len(starts) else end
        if at < until:
            tiles.append((at, until, k))
    return tiles or ([(start, end, None)] if start < end else [])


def pop_cues(cues: list[Cue], fits: Callable[[str], bool], most: int) -> list[Cue]:
    """word_pop's units: up to `most` words of a cue that fit on one line at the larger size, each shown from its
    first word's start to the next unit's start (the last to the cue's end)."""
    units: list[Cue] = []
    for cue in cues:
        chunks: list[list[Word]] = []
        for word in cue.words:
            if chunks and len(chunks[-1]) < most and fits(join_words(w.text for w in [*chunks[-1], word])):
                chunks[-1].append(word)
            else:
                chunks.append([word])
        for i, chunk in enumerate(chunks):
            until = chunks[i + 1][0].start if i + 1 < len(chunks) else cue.end
            units.append(Cue(chunk[0].start, max(chunk[0].start, until), (join_words(w.text for w in chunk),),
                             tuple(chunk)))
    return units


def _highlighted(cue: Cue, spans: list[tuple[int, int, int]] | None, k: int | None, on: str, off: str) -> str:
    lines = list(cue.lines)
    escaped = [_ass_escape(line) for line in lines]
    if k is not None and spans is not None:
        line, a, b = spans[k]
        text = lines[line]
        escaped[line] = (f"{_ass_escape(text[:a])}{{\\1c{on}&}}{_ass_escape(text[a:b])}{{\\1c{off}&}}"
                         f"{_ass_escape(text[b:])}")
    return "\\N".join(escaped)


def _style_line(name: str, family: str, bold: bool, style: CaptionStyle) -> str:
    text, outline = _ass_colour(style.text_colour), _ass_colour(style.outline_colour)
    return (f"Style: {name},{family},{_ass_size(style)},{text},{text},{outline},&H64000000,{-1 if bold else 0},"
            f"0,0,0,100,100,0,0,1,{style.outline_px},0,2,0,0,{style.margin_bottom},1\n")


def to_ass(cues: list[Cue], width: int, height: int, style: CaptionStyle) -> str:
    """ASS subtitles with our own line breaks (WrapStyle 2: libass never re-wraps), in the style's colours, bottom
    centred `margin_bottom` above the bottom edge; `style.mode` picks whole cues, word highlighting or word pop."""
    family, bold = font_face(style.font_file)
    pop = style.popped()
    header = (
        "[Script Info]\nScriptType: v4.00+\nWrapStyle: 2\nScaledBorderAndShadow: yes\n"
        f"PlayResX: {width}\nPlayResY: {height}\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
        "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
        "MarginL, MarginR, MarginV, Encoding\n"
        + _style_line("Caption", family, bold, style) + _style_line("Pop", family, bold, pop) + "\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    )
    name = "Pop" if style.mode == "word_pop" else "Caption"
    if style.mode == "cue":
        units = [(c, [(_centis(c.start), _centis(c.end), None)]) for c in cues]
    else:
        shown = pop_cues(cues, pop.fits(), style.pop_words) if style.mode == "word_pop" else cues
        units = [(c, word_tiles(c)) for c in shown]
    on, off = _ass_colour(style.highlight_colour), _ass_colour(style.text_colour)
    events = []
    for cue, tiles in units:
        spans = word_spans(cue)
        for start, end, k in tiles:
            events.append(f"Dialogue: 0,{_ass_time(start / 100)},{_ass_time(end / 100)},{name},,0,0,0,,"
                          f"{_highlighted(cue, spans, k, on, off)}")
    return header + "\n".join(events) + "\n"


_DIALOGUE = re.compile(r"Dialogue: \d+,(\d+):(\d\d):(\d\d)\.(\d\d),(\d+):(\d\d):(\d\d)\.(\d\d),([^,]*),[^,]*,"
                       r"\d+,\d+,\d+,[^,]*,(.*)")


def parse_ass_events(text: str) -> list[tuple[float, float, str, str]]:
    """(start, end, style, text) of each Dialogue line, for checks and tests."""
    events = []
    for line in text.splitlines():
        m = _DIALOGUE.fullmatch(line)
        if m:
            h1, m1, s1, c1, h2, m2, s2, c2 = (int(g) for g in m.groups()[:8])
            events.append((h1 * 3600 + m1 * 60 + s1 + c1 / 100, h2 * 3600 + m2 * 60 + s2 + c2 / 100, m.group(9),
                           m.group(10)))
    return events
