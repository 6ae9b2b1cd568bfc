"""Sentences and sentence windows from word-timed transcripts. No Dagster here."""

from __future__ import annotations

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
_SPACELESS = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3000, 0x30FF), (0x31F0, 0x31FF),
              (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF), (0x20000, 0x3134F))


def spaceless(char: str) -> bool:
    point = ord(char)
    return any(low <= point <= high for low, high in _SPACELESS)


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
