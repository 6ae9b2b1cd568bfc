"""Text normalisation for WER: lowercase words, digits and % spelled the way the references use them."""

import re

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_BRITISH = {"metres": "meters", "metre": "meter", "colour": "color", "centre": "center"}


def number_words(n: int) -> str:
    if n < 20:
        return _UNITS[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _UNITS[n % 10])
    if n < 1000:
        rest = n % 100
        return _UNITS[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    if n < 1_000_000:
        rest = n % 1000
        return number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_words(rest))
    return str(n)


def normalize(text: str) -> str:
    text = text.lower().replace("%", " percent").replace("'", "")
    text = re.sub(r"\d+", lambda m: f" {number_words(int(m.group()))} ", text.replace(",", ""))
    words = re.sub(r"[^\w ]+|_", " ", text).split()
    return " ".join(_BRITISH.get(w, w) for w in words)


def word_errors(reference: str, hypothesis: str) -> dict:
    """WER and its parts after normalising both texts the same way."""
    import jiwer

    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        raise ValueError("the reference transcript has no words")
    if not hyp:
        return {"wer": 1.0, "reference_words": len(ref.split()), "substitutions": 0, "deletions": len(ref.split()),
            "insertions": 0}
    out = jiwer.process_words(ref, hyp)
    return {
        "wer": round(out.wer, 4),
        "reference_words": len(ref.split()),
        "substitutions": out.substitutions,
        "deletions": out.deletions,
        "insertions": out.insertions,
    }
