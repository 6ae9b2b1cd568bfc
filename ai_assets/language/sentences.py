"""Sentences and sentence windows from word-timed transcripts. No Dagster here."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The marks that end a sentence, Latin and CJK: the one set every stage splits sentences by.
SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
# A pause this long ends a sentence even without punctuation.
PAUSE_BREAK_S = 1.2
# A sentence is also closed at a Whisper segment end once it is this long.
LONG_SENTENCE_S = 20.0


# Tokens Whisper emits without a leading space, e.g. "90" "%", "don" "'t" or "cold" "-hearted".
_NO_SPACE_BEFORE = tuple("%,.!?;:'’)]}…-")


# Scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer, Burmese), with CJK and
# full-width punctuation: Whisper's words there carry no leading space, and none is put between two of them.
_SPACELESS = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3000-\u30ff\u31f0-\u31ff\u3400-\u4dbf"
                        "\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f]")


def spaceless(char: str) -> bool:
    return _SPACELESS.match(char) is not None


def join_words(words) -> str:
    text = ""
    for word in words:
        if not word:
            continue
        glued = not text or word.startswith(_NO_SPACE_BEFORE) or (spaceless(text[-1]) and spaceless(word[0]))
        text += word if glued else " " + word
    return text


@dataclass(frozen=True)
class Sentence:
    index: int
    start: float
    end: float
    text: str
    word_count: int
    speech_seconds: float


def sentences(segments: list[dict]) -> list[Sentence]:
    """Split a transcript into sentences on terminal punctuation, long pauses, or long runs.

    Times come from word timestamps, so every sentence starts and ends on a word boundary.
    """
    result: list[Sentence] = []
    current: list[dict] = []

    def close() -> None:
        if current:
            result.append(
                Sentence(
                    index=len(result),
                    start=float(current[0]["start"]),
                    end=float(current[-1]["end"]),
                    text=join_words(w["word"] for w in current),
                    word_count=len(current),
                    speech_seconds=float(sum(w["end"] - w["start"] for w in current)),
                )
            )
            current.clear()

    for row in sorted(segments, key=lambda r: r["start"]):
        words = row["words"] or []
        for i, word in enumerate(words):
            if current and word["start"] - current[-1]["end"] >= PAUSE_BREAK_S:
                close()
            current.append(word)
            if word["word"].endswith(SENTENCE_END):
                close()
            elif i == len(words) - 1 and current[-1]["end"] - current[0]["start"] >= LONG_SENTENCE_S:
                close()
    close()
    return result


@dataclass(frozen=True)
class Window:
    sentence_index: int  # first sentence in the window
    sentence_count: int
    start: float
    end: float
    text: str


def sentence_windows(items: list[Sentence], size: int) -> list[Window]:
    """Sliding windows of `size` sentences, one starting at every sentence."""
    if size < 1:
        raise ValueError("window size must be at least 1 sentence")
    windows = []
    for i in range(len(items)):
        group = items[i : i + size]
        windows.append(
            Window(
                sentence_index=i,
                sentence_count=len(group),
                start=group[0].start,
                end=group[-1].end,
                text=" ".join(s.text for s in group),
            )
        )
    return windows
