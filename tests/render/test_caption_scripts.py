"""Captions in scripts DejaVu lacks (Chinese, Japanese, Korean, Hindi, Thai): drawn and measured with a font that has
their glyphs, and joined without the spaces Chinese, Japanese and Thai do not write."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from ai_assets.language.sentences import Sentence, join_words
from ai_assets.policy.documents import ClipPolicy, validate
from ai_assets.render.captions import _glyphs, find_font, font_for
from ai_assets.render.clips import SourceVideo, plan_jobs, render_clips

FONT = find_font()
needs_font = pytest.mark.skipif(FONT is None, reason="no TrueType font installed (apt-get install fonts-dejavu-core)")
SAMPLES = {"zh": "今天我们来谈谈人工智能的发展。", "ja": "こんにちは、これはテストです。", "ko": "안녕하세요 여러분",
           "hi": "नमस्ते दुनिया", "th": "สวัสดีชาวโลก"}


@pytest.mark.parametrize(("words", "text"), [
    (["今天", "我们", "来", "谈谈", "人工", "智能", "。"], "今天我们来谈谈人工智能。"),
    (["これは", "テスト", "です", "。"], "これはテストです。"),
    (["สวัสดี", "ชาว", "โลก"], "สวัสดีชาวโลก"),
    (["用", "AI", "写", "代码"], "用 AI 写代码"),  # a Latin word inside Chinese keeps its spaces
    (["안녕하세요", "여러분"], "안녕하세요 여러분"),  # Korean is written with spaces
    (["नमस्ते", "दुनिया"], "नमस्ते दुनिया"),
    (["Hello", ",", "world", "!"], "Hello, world!"),
    (["", "Hi", ""], "Hi"),
])
def test_words_are_joined_the_way_each_script_is_written(words, text):
    assert join_words(words) == text


@needs_font
def test_a_character_no_font_has_does_not_cost_the_others_their_font():
    chosen = font_for(SAMPLES["zh"], FONT)
    if chosen == FONT:
        pytest.skip("no Chinese font installed (apt-get install fonts-wqy-zenhei)")
    assert font_for(SAMPLES["zh"] + " \U0010fffd", FONT) == chosen  # a private-use sign: in no font


@needs_font
def test_latin_greek_and_cyrillic_keep_the_default_font():
    assert font_for("Hello, Γειά σου, Привет! 90% ‘quoted’ — done…", FONT) == FONT


@needs_font
@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_a_script_the_default_font_lacks_gets_a_font_with_every_glyph(language):
    text = SAMPLES[language]
    assert not {ord(c) for c in text if not c.isspace()} <= _glyphs(str(FONT))  # DejaVu would draw boxes
    chosen = font_for(text, FONT)
    if chosen == FONT:
        pytest.skip(f"no font for {language} installed (apt-get install fonts-wqy-zenhei fonts-noto-core)")
    assert {ord(c) for c in text if not c.isspace()} <= _glyphs(str(chosen))


def _caption_pixels(tmp_path: Path, words: list[dict]) -> tuple[np.ndarray, str]:
    """Render a 180x320 clip of a blue frame with and without `words` burned in; the pixels the captions changed
    in the middle frame, and the clip's SRT."""
    source = tmp_path / "blue.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "color=c=0x204080:s=320x180:r=25:d=4", "-f", "lavfi", "-i", "sine=duration=4", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(source)], check=True)
    policy = ClipPolicy.model_validate(validate("clip", {"top_k": 1, "preset": "ultrafast", "captions": {
        "style": "cue"}, "platforms": {"tiktok": {"aspect": "9:16", "width": 180, "height": 320}}}))
    items = [Sentence(0, 0.2, 3.6, "".join(w["word"] for w in words), len(words), 3.4)]
    segments = [{"platform": "tiktok", "rank": 1, "start": 0.2, "end": 3.6, "first_sentence": 0, "last_sentence": 0}]
    video = SourceVideo(source, 320, 180, 25.0, 4.0, True)
    frames = []
    for name, said in (("plain", []), ("captioned", words)):
        jobs, _ = plan_jobs(segments, items, policy, 4.0)
        [clip], _ = render_clips(jobs, video, said, [], policy, tmp_path / name, FONT)
        with av.open(str(clip.video_path)) as container:
            frames.append([f.to_ndarray(format="gray") for f in container.decode(video=0)][40].astype(int))
        srt = clip.srt_path.read_text()
    return np.abs(frames[1] - frames[0]) > 60, srt


@needs_font
@pytest.mark.slow
def test_chinese_captions_are_drawn_in_their_own_glyphs_inside_the_frame(tmp_path):
    if font_for(SAMPLES["zh"], FONT) == FONT:
        pytest.skip("no Chinese font installed (apt-get install fonts-wqy-zenhei)")
    # 36 characters in one breath: two lines of 18 by DejaVu's box widths, which are 60% of the drawn glyphs'.
    said = "今天 我们 来谈 人工 智能 发展 这项 技术 正在 改变 我们 生活 工作 方式 很多 公司 已经 开始".split()
    words = [{"start": 0.3 + 0.15 * i, "end": 0.42 + 0.15 * i, "word": w} for i, w in enumerate(said)]
    changed, srt = _caption_pixels(tmp_path, words)
    lines = [line for line in srt.splitlines() if any("\u4e00" <= c <= "\u9fff" for c in line)]
    assert lines[0].startswith("今天我们来谈人工智能") and not any(" " in line for line in lines)
    rows, cols = np.nonzero(changed)
    assert len(rows) > 300, "no caption pixels"
    # Measured with the glyphs drawn: lines stay inside the safe width (DejaVu's narrow boxes ran them off the edges).
    assert cols.min() >= 180 * 0.07 - 3 and cols.max() <= 180 * 0.93 + 3
    # Lines broken where the drawn glyphs need it (no line wider than the safe width), each still filled.
    assert rows.max() - rows.min() > 1.6 * 180 * default_font_scale()


def default_font_scale() -> float:
    from ai_assets.policy.documents import default_policy

    return default_policy("clip").parsed().captions.font_scale
