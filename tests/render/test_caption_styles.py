"""Caption styles: word-highlight and word-pop ASS events on the clip clock, escaping, the policy fields, and a real
render whose frames show the highlight colour over the word being spoken."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ai_assets.policy.documents import ClipPolicy, PolicyError, default_policy, validate
from ai_assets.render.captions import (
    CaptionStyle,
    Word,
    clip_words,
    find_font,
    group_cues,
    parse_ass_events,
    parse_srt,
    to_ass,
    to_srt,
)
from ai_assets.render.clips import SourceVideo, plan_jobs
from ai_assets.render.encode import ClipCut, render_clip
from ai_assets.render.reframe import plan_crop

FONT = find_font()
needs_font = pytest.mark.skipif(FONT is None, reason="no TrueType font installed (apt-get install fonts-dejavu-core)")
HIGHLIGHT = "#FFD400"
ON, OFF = r"{\1c&H00D4FF&}", r"{\1c&HFFFFFF&}"  # the highlight and white, as ASS writes them (blue first)


def style_for(mode: str, width: int = 360, height: int = 640) -> CaptionStyle:
    return CaptionStyle.for_frame(FONT, width, height, 0.07, 0.2, mode=mode, highlight_colour=HIGHLIGHT)


def visible(text: str) -> str:
    """What libass draws of an event's text: override blocks dropped, escapes read, lines split by \\n."""
    text = re.sub(r"(?<!\\)\{[^}]*\}", "", text)
    return text.replace("\\N", "\n").replace("\\{", "{").replace("\\}", "}").replace("\u2060", "")


def highlighted_at(text: str) -> int | None:
    """Character offset, in the visible text, of the highlighted word; None when no word is highlighted."""
    if ON not in text:
        return None
    return len(visible(text[: text.index(ON)]))


def word_offsets(lines: tuple[str, ...], words) -> list[int]:
    """Each word's offset in "\\n".join(lines), found in order."""
    text, pos, offsets = "\n".join(lines), 0, []
    for w in words:
        pos = text.index(w.text, pos)
        offsets.append(pos)
        pos += len(w.text)
    return offsets


# --- ASS events -----------------------------------------------------------------------------

@needs_font
def test_word_highlight_events_are_the_word_timestamps_on_the_clip_clock():
    source_words = [{"start": a, "end": b, "word": f" {w}"} for a, b, w in [
        (10.30, 10.62, "Short"), (10.70, 11.05, "clips"), (11.40, 11.80, "win."), (12.10, 12.50, "Every"),
        (12.55, 12.90, "time.")]]
    words = clip_words(source_words, 10.0, 14.0)
    ass = to_ass(group_cues(words, style_for("word_highlight").fits()), 360, 640, style_for("word_highlight"))
    events = parse_ass_events(ass)
    # Two cues (a sentence end splits them); each word lit from its start to the next word's start in its cue.
    assert [(round(a, 2), round(b, 2), visible(t)[highlighted_at(t):].split()[0]) for a, b, _, t in events] == [
        (0.30, 0.70, "Short"), (0.70, 1.40, "clips"), (1.40, 1.80, "win."), (2.10, 2.55, "Every"),
        (2.55, 2.90, "time.")]
    assert {visible(t) for _, _, _, t in events[:3]} == {"Short clips win."}
    assert all(style == "Caption" for _, _, style, _ in events)
    # The SRT keeps plain cues on the same clock.
    assert [(c.start, c.end, c.text) for c in parse_srt(to_srt(group_cues(words, lambda t: True)))] == [
        (0.3, 1.8, "Short clips win."), (2.1, 2.9, "Every time.")]


@needs_font
def test_cue_style_keeps_one_plain_event_per_cue_in_the_policy_colours():
    style = CaptionStyle.for_frame(FONT, 360, 640, 0.07, 0.2, mode="cue", text_colour="#102030",
                                   outline_colour="#A0B0C0")
    cues = group_cues([Word(0.0, 0.5, "One."), Word(1.0, 1.5, "Two.")], style.fits())
    ass = to_ass(cues, 360, 640, style)
    assert [(a, b, t) for a, b, _, t in parse_ass_events(ass)] == [(0.0, 0.5, "One."), (1.0, 1.5, "Two.")]
    assert "Style: Caption,DejaVu Sans," in ass and ",&H302010,&H302010,&HC0B0A0," in ass


@needs_font
def test_words_with_braces_and_backslashes_are_drawn_as_text_not_read_as_tags():
    words = [Word(0.0, 0.3, "{\\b1}bold"), Word(0.4, 0.7, "a\\Nb"), Word(0.8, 1.0, "}{")]
    style = style_for("word_highlight")
    cues = group_cues(words, style.fits())
    events = parse_ass_events(to_ass(cues, 360, 640, style))
    assert len(events) == 3
    for k, (_, _, _, text) in enumerate(events):
        # Only our own two colour tags are override blocks; the words' braces are escaped, their backslashes
        # cannot start an escape (no \N line break from "a\Nb").
        assert re.findall(r"(?<!\\)\{[^}]*\}", text) == [ON, OFF]
        assert visible(text) == "\n".join(cues[0].lines) == "{\\b1}bold a\\Nb}{"  # join_words puts no space before "}"
        assert visible(text)[highlighted_at(text):].startswith(words[k].text)


@needs_font
def test_word_pop_shows_at_most_two_words_larger_on_the_same_clock():
    words = [Word(0.1 + 0.4 * i, 0.4 + 0.4 * i, w) for i, w in enumerate("one two three four five.".split())]
    style = style_for("word_pop")
    ass = to_ass(group_cues(words, style.fits()), 360, 640, style)
    sizes = dict(re.findall(r"Style: (\w+),DejaVu Sans,([\d.]+),", ass))
    assert float(sizes["Pop"]) == pytest.approx(1.4 * float(sizes["Caption"]), rel=0.03)
    events = parse_ass_events(ass)
    assert [(round(a, 2), round(b, 2), visible(t)) for a, b, _, t in events] == [
        (0.1, 0.5, "one two"), (0.5, 0.9, "one two"), (0.9, 1.3, "three four"), (1.3, 1.7, "three four"),
        (1.7, 2.0, "five.")]
    assert all(s == "Pop" for _, _, s, _ in events)
    assert [visible(t)[highlighted_at(t):].split()[0] for *_, t in events] == ["one", "two", "three", "four", "five."]


def _cs(seconds: float) -> int:
    """Centiseconds, ASS's resolution."""
    return round(seconds * 100)


def _check_tiling(cues, events, clip_seconds: float) -> None:
    events = [(_cs(a), _cs(b), style, text) for a, b, style, text in events]
    assert all(a < b for a, b, _, _ in events), "empty or reversed event"
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(events, events[1:], strict=False)), "events overlap"
    assert all(0 <= a and b <= _cs(clip_seconds) for a, b, _, _ in events)
    for cue in cues:
        first, last = _cs(cue.start), _cs(cue.end)
        mine = [e for e in events if first <= e[0] and e[1] <= last]
        if first == last:
            assert not mine  # shorter than ASS's centisecond: nothing to show
            continue
        # The cue's events tile it from start to end, all with the cue's own lines.
        assert mine and mine[0][0] == first and mine[-1][1] == last
        assert all(prev[1] == nxt[0] for prev, nxt in zip(mine, mine[1:], strict=False))
        assert {visible(t) for *_, t in mine} == {"\n".join(cue.lines)}
        offsets = word_offsets(cue.lines, cue.words)
        lit: dict[int, list[tuple[int, int]]] = {}
        for a, b, _, text in mine:
            at = highlighted_at(text)
            if at is not None:
                lit.setdefault(offsets.index(at), []).append((a, b))
        # Every word is lit exactly once, from its start to the next word's; only a word whose start rounds onto
        # the next one's is never lit.
        starts = [_cs(w.start) for w in cue.words] + [last]
        for k in range(len(cue.words)):
            expected = [(starts[k], starts[k + 1])] if starts[k] < starts[k + 1] else []
            assert lit.get(k, []) == expected, (k, cue.words[k])


@needs_font
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 900), st.integers(0, 700),
                          st.text("ab{}\\ .,N", min_size=1, max_size=8).map(str.strip).filter(bool)),
                min_size=1, max_size=30),
       st.sampled_from(["word_highlight", "word_pop"]))
def test_events_tile_each_cue_and_light_every_word_over_its_span(spans, mode):
    words, t = [], 0.0
    for gap, length, text in spans:  # milliseconds; words may touch, and starts may round together
        t += gap / 1000
        words.append(Word(round(t, 3), round(t + length / 1000, 3), text))
        t += length / 1000
    clip_seconds = t + 0.5
    style = style_for(mode)
    cues = group_cues(words, style.fits())
    ass = to_ass(cues, 360, 640, style)
    events = parse_ass_events(ass)
    if mode == "word_pop":
        from ai_assets.render.captions import pop_cues

        cues = pop_cues(cues, style.popped().fits(), style.pop_words)
        assert all(len(c.words) <= 2 for c in cues)
    _check_tiling(cues, events, clip_seconds)


# --- the policy -----------------------------------------------------------------------------

def test_vertical_platforms_default_to_word_highlight_and_a_platform_can_override():
    policy = default_policy("clip").parsed()
    assert {name: policy.captions.style_for(spec) for name, spec in policy.platforms.items()} == {
        "tiktok": "word_highlight", "shorts": "word_highlight", "reels": "word_highlight", "linkedin": "cue"}
    body = {"captions": {"style": "word_pop"}, "platforms": {
        "tiktok": {"aspect": "9:16", "width": 360, "height": 640},
        "square": {"aspect": "1:1", "width": 360, "height": 360, "caption_style": "cue"}}}
    custom = ClipPolicy.model_validate(validate("clip", body))
    assert {n: custom.captions.style_for(s) for n, s in custom.platforms.items()} == {"tiktok": "word_pop",
                                                                                    "square": "cue"}


def test_colours_must_be_hex_and_are_stored_upper_case():
    with pytest.raises(PolicyError, match=r"captions.highlight_colour: .*must be a hex colour #RRGGBB such as "
                                          r"#FFD400 \(got 'yellow'\)"):
        validate("clip", {"captions": {"highlight_colour": "yellow"}, "platforms": {
            "tiktok": {"aspect": "9:16", "width": 360, "height": 640}}})
    with pytest.raises(PolicyError, match="outline_colour"):
        validate("clip", {"captions": {"outline_colour": "#12345"}, "platforms": {
            "tiktok": {"aspect": "9:16", "width": 360, "height": 640}}})
    with pytest.raises(PolicyError, match="caption_style"):
        validate("clip", {"platforms": {"tiktok": {"aspect": "9:16", "width": 360, "height": 640,
                                                   "caption_style": "karaoke"}}})
    body = validate("clip", {"captions": {"text_colour": "#abcdef"}, "platforms": {
        "tiktok": {"aspect": "9:16", "width": 360, "height": 640}}})
    assert body["captions"]["text_colour"] == "#ABCDEF" and body["captions"]["style"] == "auto"


def test_platforms_with_one_frame_but_different_caption_styles_get_their_own_render():
    from ai_assets.language.sentences import Sentence

    frame = {"aspect": "9:16", "width": 360, "height": 640, "caption_bottom": 0.2}
    policy = ClipPolicy.model_validate(validate("clip", {"top_k": 1, "platforms": {
        "tiktok": frame, "shorts": frame, "reels": {**frame, "caption_style": "word_pop"}}}))
    items = [Sentence(0, 0.0, 9.5, "s", 5, 8.0)]
    segments = [{"platform": p, "rank": 1, "start": 0.0, "end": 9.5, "first_sentence": 0, "last_sentence": 0}
                for p in ("tiktok", "shorts", "reels")]
    jobs, _ = plan_jobs(segments, items, policy, 20.0)
    assert sorted(j.platforms for j in jobs) == [["reels"], ["shorts", "tiktok"]]
    source = SourceVideo(Path("x"), 640, 360, 25.0, 20.0, True)
    assert len({j.signature(policy, source) for j in jobs}) == 2


# --- a real render --------------------------------------------------------------------------

def _fixture(target: Path, seconds: float = 6.0) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"color=c=0x204080:s=360x640:r=25:d={seconds}", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", str(target)], check=True, capture_output=True)
    return target


def _frame_at(video: Path, seconds: float) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(video), "-ss", f"{seconds:.3f}",
                          "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True,
                         capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(640, 360, 3).astype(int)


def _highlight_pixels(frame: np.ndarray) -> np.ndarray:
    """Pixels of the highlight yellow (255, 212, 0): not the white text, its black outline or the blue ground."""
    r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
    return (r > 170) & (g > 120) & (b < 110) & (r - b > 110)


@needs_font
def test_rendered_frames_show_the_highlight_over_the_word_being_spoken(tmp_path):
    source = _fixture(tmp_path / "blue.mp4")
    source_words = [{"start": 1.0 + a, "end": 1.0 + b, "word": f" {w}"} for a, b, w in [
        (0.40, 0.80, "Every"), (0.90, 1.30, "single"), (1.40, 1.80, "word"), (1.90, 2.30, "lights"),
        (2.40, 3.00, "up")]]
    cut = ClipCut.snap(1.0, 5.0, 25)  # the clip clock starts 1 s into the source
    style = style_for("word_highlight")
    words = clip_words(source_words, cut.start, cut.start + cut.duration)
    [cue] = group_cues(words, style.fits())
    assert cue.lines == ("Every single", "word lights up")  # two lines: both line positions are checked
    target = tmp_path / "captioned.mp4"
    path = plan_crop([], 360, 640, (9, 16), 360, 25, cut.frames, [], 0.08, 0.6, 0.5)
    render_clip(source, target, cut, 360, 640, path, ass=to_ass([cue], 360, 640, style), fonts_dir=FONT.parent)

    # Each word's box from the font measurer: lines centred (alignment 2, no side margins), the block's bottom
    # margin_bottom above the frame's bottom, each line one cell (ascent + descent) high.
    from PIL import ImageFont

    measure = style.measure()
    ascent, descent = ImageFont.truetype(str(FONT), style.font_px).getmetrics()
    cell = ascent + descent
    boxes, offsets = [], word_offsets(cue.lines, cue.words)
    starts = np.cumsum([0] + [len(line) + 1 for line in cue.lines])
    for word, at in zip(cue.words, offsets, strict=True):
        line = int(np.searchsorted(starts, at, side="right") - 1)
        text, a = cue.lines[line], at - starts[line]
        left = (360 - measure(text)) / 2 + measure(text[:a])
        top = 640 - style.margin_bottom - (len(cue.lines) - line) * cell
        boxes.append((left, left + measure(word.text), top, top + cell))
    pad = style.outline_px + 3

    for k, word in enumerate(words):
        lit = _highlight_pixels(_frame_at(target, (word.start + word.end) / 2))
        ys, xs = np.nonzero(lit)
        assert len(xs) > 60, f"no highlight drawn while '{word.text}' is spoken"
        x0, x1, y0, y1 = boxes[k]
        inside = (xs >= x0 - pad) & (xs <= x1 + pad) & (ys >= y0 - pad) & (ys <= y1 + pad)
        assert inside.mean() > 0.97, (word.text, (xs.min(), xs.max(), ys.min(), ys.max()), boxes[k])
        # It covers the word, not a sliver of it, and lies on no other word.
        assert xs.max() - xs.min() > 0.75 * (x1 - x0)
        for j, (ox0, ox1, oy0, oy1) in enumerate(boxes):
            if j != k:
                assert not ((xs > ox0 + pad) & (xs < ox1 - pad) & (ys > oy0) & (ys < oy1)).any(), cue.words[j]
    # Before the first word there is no caption, and after the last one none either.
    assert not _highlight_pixels(_frame_at(target, 0.2)).any()
    assert not _highlight_pixels(_frame_at(target, words[-1].end + 0.3)).any()
