"""Text normalisation for WER: lowercase words, digits and % spelled the way the references use them."""

import re

_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
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
    words = re.sub(r"[^a-z ]+", " ", text).split()
    return " ".join(_BRITISH.get(w, w) for w in words)
