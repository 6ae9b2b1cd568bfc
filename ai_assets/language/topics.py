"""Chapters for a long talk: TextTiling over sentence embeddings, named by class-based TF-IDF.

- Boundaries: at every gap between sentences, the cosine between the mean embedding of the
  `block` sentences before and after it; a topic change is a valley in that curve, and its depth
  (how far the curve falls from the nearest peak on each side) says how sharp the change is.
- Names: each chapter is one "class" document for c-TF-IDF, so its keywords are the words it uses
  often and the other chapters do not; a title is made from the top ones.
- YouTube: chapters start at 00:00, and `youtube_chapters` only writes a list YouTube accepts.

No Dagster here; numpy only.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ai_assets.language.sentences import Sentence

TITLE_CHARS = 60
# YouTube shows chapters only for at least 3 of them, each at least 10 s long, the first at 0:00.
YOUTUBE_MIN_CHAPTERS = 3
YOUTUBE_MIN_SECONDS = 10.0

# Function words and the fillers of spoken English; a transcript is full of both and neither names a topic.
STOPWORDS = frozenset("""
a about above actually after again against ago ah all almost also although always am among an and
another any anybody anyone anything anyway are aren't around as at away back be became because
become been before being below between both but by came can can't cannot come comes could couldn't
did didn't do does doesn't doing don't done down during each either else enough even ever every
everybody everyone everything few find first for from further get gets getting give go goes going
gone gonna good got gotta had hadn't has hasn't have haven't having he he'd he'll he's her here
here's hers herself hey him himself his how how's however i i'd i'll i'm i've if in indeed instead
into is isn't it it's its itself just keep kind know knew last least less let let's like likely
little look lot lots made make makes making many may maybe me mean means might mine more most
mostly much must mustn't my myself need needs never new next no nobody none nor not nothing now of
off oh ok okay on once one ones only onto or other others otherwise ought our ours ourselves out
over own part perhaps pretty put quite rather really right said same saw say saying says see seem
seems seen shall shan't she she'd she'll she's should shouldn't since so some somebody someone
something sometimes somewhat soon sort still such sure take taken takes tell than thank thanks that
that's the their theirs them themselves then there there's these they they'd they'll they're
they've thing things think thinking this those though thought through thus to today together too
took toward towards truly try trying two um uh under unless until up upon us use used uses using
very via want wanted wants was wasn't way ways we we'd we'll we're we've well went were weren't
what what's whatever when whenever where where's whether which while who who's whoever whole whom
whose why will with within without won't would wouldn't yeah yes yet you you'd you'll you're
you've your yours yourself yourselves
""".split())

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_CLAUSE_BREAK = re.compile(r"[.!?;:,…()\"“”\[\]]+")


@dataclass(frozen=True)
class Chapter:
    index: int
    start: float
    end: float
    first_sentence: int
    last_sentence: int
    title: str
    keywords: list[str]
    text: str


def _gap_similarity(vectors: np.ndarray, block: int, window: int) -> np.ndarray:
    """Cosine between the mean of up to `block` windows wholly before and after each of the n-1 gaps.

    vectors[i] covers sentences i..i+window-1, so the windows on the left of the gap after sentence g
    are those starting at g-window+1 or earlier; otherwise the window straddling a topic change would
    pull the valley one sentence early.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    n = len(vectors)
    sims = np.zeros(max(n - 1, 0))
    for gap in range(n - 1):
        left_end = max(gap + 2 - window, 1)
        left = vectors[max(0, left_end - block) : left_end].mean(axis=0)
        right = vectors[gap + 1 : gap + 1 + block].mean(axis=0)
        norm = np.linalg.norm(left) * np.linalg.norm(right)
        sims[gap] = float(left @ right / norm) if norm > 0 else 0.0
    return sims


def depth_scores(vectors: np.ndarray, block: int, window: int = 1) -> np.ndarray:
    """TextTiling depth of each gap; entry g is the gap between sentences g and g+1.

    From each gap the similarity curve is climbed left and right while it keeps rising; the depth
    is (left peak - gap) + (right peak - gap), so a gap on a slope scores only its one side.
    `window` is how many sentences each vector embeds (the embed policy's window_sentences).
    """
    if block < 1 or window < 1:
        raise ValueError("block and window must be at least 1 sentence")
    sims = _gap_similarity(vectors, block, window)
    depth = np.zeros_like(sims)
    for gap, value in enumerate(sims):
        i = gap
        while i > 0 and sims[i - 1] >= sims[i]:
            i -= 1
        j = gap
        while j < len(sims) - 1 and sims[j + 1] >= sims[j]:
            j += 1
        depth[gap] = (sims[i] - value) + (sims[j] - value)
    return depth


def boundaries(
    vectors: np.ndarray, block: int = 3, min_sentences: int = 3, cutoff: float = 0.5, min_depth: float = 0.4,
    window: int = 1
) -> list[int]:
    """Indices of the sentences that start a new chapter, in order.

    A candidate is a valley of the similarity curve whose depth exceeds mean + cutoff * std of all
    gap depths (most gaps are flat, so only unusually deep valleys pass) and `min_depth`, so a
    single-topic talk is not split on noise: with MiniLM windows of 2 sentences and blocks of 3,
    in-topic valleys measured up to 0.36 and real topic changes 0.64 to 1.05. Deepest first, a
    candidate is kept only if every chapter it makes still has at least `min_sentences` sentences.
    """
    n = len(vectors)
    if n < 2 * min_sentences:
        return []
    sims = _gap_similarity(vectors, block, window)
    depth = depth_scores(vectors, block, window)
    threshold = max(float(depth.mean() + cutoff * depth.std()), min_depth)
    valleys = [
        g for g in range(n - 1)
        if depth[g] > threshold and (g == 0 or sims[g] <= sims[g - 1]) and (g == n - 2 or sims[g] <= sims[g + 1])
    ]
    kept: list[int] = []
    for gap in sorted(valleys, key=lambda g: -depth[g]):
        start = gap + 1
        if min_sentences <= start <= n - min_sentences and all(abs(start - b) >= min_sentences for b in kept):
            kept.append(start)
    return sorted(kept)


def _tokens(text: str) -> list[list[str]]:
    """Lower-case words in runs that punctuation does not break (bigrams never span a comma)."""
    return [
        [w.replace("’", "'") for w in _WORD.findall(clause.lower())]
        for clause in _CLAUSE_BREAK.split(text)
    ]


def _content(word: str) -> bool:
    return word not in STOPWORDS and len(word) > 2 and not word.isdigit()


def term_counts(texts: list[str], min_bigram_count: int = 2) -> tuple[list[Counter], list[int]]:
    """Each text's term counts, and its number of words.

    Terms are content unigrams and bigrams of two content words that occur `min_bigram_count` times
    overall; a word's singular and plural are counted as one term, spelled as the more frequent.
    """
    counts: list[Counter] = []
    words_per_text = []
    for text in texts:
        counter: Counter = Counter()
        total = 0
        for run in _tokens(text):
            total += len(run)
            counter.update(w for w in run if _content(w))
            counter.update(f"{a} {b}" for a, b in pairwise(run) if _content(a) and _content(b))
        counts.append(counter)
        words_per_text.append(total)
    overall: Counter = sum(counts, Counter())
    pairs = [(t, t[:-1]) for t in overall if " " not in t and t.endswith("s") and not t.endswith("ss")
        and t[:-1] in overall]
    canonical = {}
    for plural, single in pairs:
        kept = plural if overall[plural] > overall[single] else single
        canonical[plural] = canonical[single] = kept
    merged = []
    for counter in counts:
        terms: Counter = Counter()
        for term, count in counter.items():
            if " " in term and overall[term] < min_bigram_count:
                continue
            terms[canonical.get(term, term)] += count
        merged.append(terms)
    return merged, words_per_text


def term_weights(texts: list[str], min_bigram_count: int = 2) -> list[dict[str, float]]:
    """c-TF-IDF weight of every term (see term_counts) in every text, each text being one class.

    weight = tf(term, class) * log(1 + A / f(term)), with tf the term's share of the class's words,
    A the mean number of words per class and f the term's count over all classes (BERTopic's form).
    """
    counts, words_per_class = term_counts(texts, min_bigram_count)
    frequency: Counter = sum(counts, Counter())
    mean_words = max(sum(words_per_class) / max(len(texts), 1), 1.0)
    return [
        {t: c / max(total, 1) * math.log(1 + mean_words / frequency[t]) for t, c in terms.items()}
        for terms, total in zip(counts, words_per_class, strict=True)
    ]


def keywords(chapter_texts: list[str], k: int = 5) -> list[list[str]]:
    """Top `k` c-TF-IDF terms of each chapter; a bigram replaces the unigrams it contains.

    Equal weights go to the longer term, usually the more specific word.
    """
    result = []
    for weights in term_weights(chapter_texts):
        chosen: list[str] = []
        for term in sorted(weights, key=lambda t: (-weights[t], -len(t), t)):
            words = term.split()
            if len(words) == 1 and any(term in c.split() for c in chosen):
                continue
            replaced = [i for i, c in enumerate(chosen) if c in words] if len(words) == 2 else []
            if replaced:
                chosen[replaced[0]] = term
                chosen = [c for c in chosen if c not in words]
            else:
                chosen.append(term)
            if len(chosen) == k:
                break
        result.append(chosen)
    return result


def _display(word: str, text: str) -> str:
    """The word as the text spells it when that is an acronym or brand (NASA, iPhone), else Capitalised."""
    for match in re.finditer(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", text, flags=re.IGNORECASE):
        spelled = match.group(0)
        if any(ch.isupper() for ch in spelled[1:]):
            return spelled
    return word[:1].upper() + word[1:]


def trim_words(text: str, limit: int, mark: str = "") -> str:
    """`text` cut to at most `limit` characters on a word boundary, ending in `mark` when it was cut."""
    if len(text) <= limit:
        return text
    room = max(limit - len(mark), 0)
    cut = text[:room]
    if cut and not text[room].isspace() and not cut[-1].isspace() and any(ch.isspace() for ch in cut):
        cut = cut.rsplit(maxsplit=1)[0]
    return cut.rstrip(" ,;:-–") + mark


def title(keywords: list[str], text: str) -> str:
    """A Title Case name of at most 60 characters: the top two keywords, or the opening words."""
    if keywords:
        names = [" ".join(_display(w, text) for w in kw.split()) for kw in keywords[:2]]
        full = " and ".join(names)
        return trim_words(full if len(full) <= TITLE_CHARS else names[0], TITLE_CHARS)
    words = text.split()
    return trim_words(" ".join(w[:1].upper() + w[1:] for w in words[:8]).rstrip(".,;:!?"),
        TITLE_CHARS) if words else "Untitled"


def _spans(starts: list[int], n: int) -> list[tuple[int, int]]:
    """(first, last) sentence of each chapter, given the sentences that open chapters 2..k."""
    edges = [0, *starts, n]
    return [(edges[i], edges[i + 1] - 1) for i in range(len(edges) - 1)]


def _times(items: list[Sentence], spans: list[tuple[int, int]]) -> list[tuple[float, float]]:
    """Contiguous (start, end) seconds: 0.0 first, each chapter ending where the next starts."""
    opens = [0.0] + [items[first].start for first, _ in spans[1:]]
    return list(zip(opens, opens[1:] + [items[-1].end], strict=True))


def chapters(
    items: list[Sentence], vectors: np.ndarray, min_chapter_s: float = 30.0, block: int = 3,
    min_sentences: int = 3, cutoff: float = 0.5, min_depth: float = 0.4, window: int = 1, k: int = 5,
) -> list[Chapter]:
    """Chapters that tile the transcript from 0.0 to the last word, none shorter than `min_chapter_s`.

    `vectors[i]` is the embedding of the `window` sentences that start at sentence i (the rows of
    transcript_embeddings, with the embed policy's window_sentences). A chapter runs from its
    first sentence's start (0.0 for the first, as YouTube wants) to the next chapter's start. A
    chapter that is too short loses its weaker boundary (the shallower valley), merging it into
    that neighbour, shortest chapter first.
    """
    if len(vectors) != len(items):
        raise ValueError(f"{len(items)} sentences but {len(vectors)} vectors; expected one window per sentence")
    if not items:
        return []
    depth = depth_scores(vectors, block, window)
    starts = boundaries(vectors, block, min_sentences, cutoff, min_depth, window)
    while starts:
        lengths = [end - begin for begin, end in _times(items, _spans(starts, len(items)))]
        shortest = min(range(len(lengths)), key=lengths.__getitem__)
        if lengths[shortest] >= min_chapter_s:
            break
        # starts[b] opens chapter b + 1, so chapter c is bounded by starts[c - 1] and starts[c].
        sides = [b for b in (shortest - 1, shortest) if 0 <= b < len(starts)]
        starts.pop(min(sides, key=lambda b: depth[starts[b] - 1]))

    spans = _spans(starts, len(items))
    texts = [" ".join(s.text for s in items[first : last + 1]) for first, last in spans]
    return [
        Chapter(index=i, start=begin, end=end, first_sentence=first, last_sentence=last,
                title=title(words, text), keywords=words, text=text)
        for i, ((first, last), (begin, end), text, words)
        in enumerate(zip(spans, _times(items, spans), texts, keywords(texts, k), strict=True))
    ]


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def youtube_chapters(chapters: list[Chapter]) -> str:
    """Lines "00:00 Title" (H:MM:SS from one hour on) to paste into a YouTube description.

    Returns "" when YouTube would ignore the list: fewer than 3 chapters, one shorter than 10 s, or
    a first chapter that does not start at 0:00; a list YouTube rejects is worse than none.
    """
    if len(chapters) < YOUTUBE_MIN_CHAPTERS or int(chapters[0].start) != 0:
        return ""
    if any(c.end - c.start < YOUTUBE_MIN_SECONDS for c in chapters):
        return ""
    return "\n".join(f"{_clock(c.start)} {' '.join(c.title.split())}" for c in chapters)
