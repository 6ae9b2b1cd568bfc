"""Transcript sanity rules, as plain functions returning (passed, description, numbers)."""

from __future__ import annotations

# A phrase of up to this many words looping at least REPEAT_MIN times in a row is a hallucination.
LOOP_MAX_NGRAM = 8
LOOP_MIN_REPEATS = 4
SINGLE_WORD_MIN_REPEATS = 6
# Speech regions shorter than this are ignored when checking coverage.
MIN_REGION_S = 0.5
MIN_COVERAGE = 0.5
TOLERANCE_S = 0.25


def timestamps_valid(segments: list[dict], duration: float) -> tuple[bool, str, dict]:
    problems = []
    previous_start = -1.0
    for seg in sorted(segments, key=lambda s: s["segment"]):
        if seg["start"] < previous_start:
            problems.append(f"segment {seg['segment']} starts before its predecessor")
        if not 0 <= seg["start"] <= seg["end"] <= duration + TOLERANCE_S:
            problems.append(f"segment {seg['segment']} [{seg['start']}, {seg['end']}] is outside 0–{duration:.2f} s")
        last = seg["start"] - TOLERANCE_S
        for word in seg["words"] or []:
            if word["start"] < last or word["end"] < word["start"] or word["end"] > duration + TOLERANCE_S:
                problems.append(f"segment {seg['segment']}: word '{word['word']}' at {word['start']}–{word['end']} is "
                    "out of order or range")
                break
            last = word["start"]
        previous_start = seg["start"]
    if problems:
        return False, f"{len(problems)} timestamp problems; first: {problems[0]}", {"problems": len(problems)}
    return True, "segment and word timestamps are monotonic and within the duration", {"problems": 0}


def find_loop(words: list[str]) -> tuple[int, int, str] | None:
    """The first n-gram repeated back to back too often: (n, repeats, phrase), or None."""
    tokens = [w.lower().strip(".,!?;:\"'") for w in words]
    for n in range(1, LOOP_MAX_NGRAM + 1):
        needed = SINGLE_WORD_MIN_REPEATS if n == 1 else LOOP_MIN_REPEATS
        for i in range(len(tokens) - n * needed + 1):
            phrase = tokens[i : i + n]
            repeats = 1
            while tokens[i + repeats * n : i + (repeats + 1) * n] == phrase:
                repeats += 1
            if repeats >= needed:
                return n, repeats, " ".join(phrase)
    return None


def no_repetition_loop(segments: list[dict]) -> tuple[bool, str, dict]:
    words = [w["word"] for seg in sorted(segments, key=lambda s: s["start"]) for w in (seg["words"] or [])]
    loop = find_loop(words)
    if loop:
        n, repeats, phrase = loop
        return False, f"'{phrase}' repeats {repeats} times in a row (a decoding loop)", {"ngram": n, "repeats": repeats}
    return True, "no looping phrase", {"ngram": 0, "repeats": 0}


def speech_covered(segments: list[dict], regions: list[tuple[float, float]]) -> tuple[bool, str, dict]:
    """The share of VAD speech (regions of at least MIN_REGION_S) that has transcribed words."""
    words = [(w["start"], w["end"]) for seg in segments for w in (seg["words"] or [])]
    considered = [(s, e) for s, e in regions if e - s >= MIN_REGION_S]
    total = sum(e - s for s, e in considered)
    if total == 0:
        return True, "no speech to cover", {"coverage": 1.0}
    covered = sum(e - s for s, e in considered if any(ws < e + TOLERANCE_S and we > s - TOLERANCE_S for ws,
        we in words))
    coverage = covered / total
    ok = coverage >= MIN_COVERAGE
    text = f"{coverage:.0%} of {total:.1f} s of detected speech has words" + ("" if ok
        else f" (minimum {MIN_COVERAGE:.0%})")
    return ok, text, {"coverage": round(coverage, 4)}
