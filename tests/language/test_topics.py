"""Chapters: TextTiling boundaries on embeddings with known topic changes, c-TF-IDF names, YouTube rules."""

import re
from itertools import pairwise

import numpy as np
import pytest

from ai_assets.language.sentences import Sentence
from ai_assets.language.topics import (
    STOPWORDS,
    Chapter,
    boundaries,
    chapters,
    depth_scores,
    keywords,
    title,
    youtube_chapters,
)
from resources.text_embedder import TextEmbedder


def topic_vectors(sizes: list[int], noise: float = 0.6, seed: int = 0) -> np.ndarray:
    """Unit vectors around one random direction per topic block, like sentence embeddings of a talk."""
    rng = np.random.default_rng(seed)
    dim = 384
    rows = []
    for size in sizes:
        centre = rng.normal(size=dim)
        centre /= np.linalg.norm(centre)
        for _ in range(size):
            row = centre + noise * rng.normal(size=dim) / np.sqrt(dim)
            rows.append(row / np.linalg.norm(row))
    return np.array(rows, dtype=np.float32)


def windowed(vectors: np.ndarray, size: int) -> np.ndarray:
    """One vector per window of `size` sentences starting at every sentence, as transcript_embeddings has."""
    rows = [vectors[i : i + size].mean(axis=0) for i in range(len(vectors))]
    return np.array([r / np.linalg.norm(r) for r in rows])


def timed(texts: list[str], seconds: float = 6.0, pause: float = 0.5) -> list[Sentence]:
    return [
        Sentence(i, i * (seconds + pause), i * (seconds + pause) + seconds, text, len(text.split()), seconds)
        for i, text in enumerate(texts)
    ]


@pytest.mark.parametrize("sizes", [[10, 12], [8, 9, 7], [15, 6, 11, 9]])
def test_boundaries_land_exactly_on_topic_changes(sizes):
    vectors = topic_vectors(sizes)
    truth = list(np.cumsum(sizes)[:-1])
    assert boundaries(vectors) == truth
    depth = depth_scores(vectors, block=3)
    assert depth.shape == (len(vectors) - 1,) and depth.min() >= 0
    assert int(np.argmax(depth)) + 1 in truth


def test_windows_of_two_sentences_do_not_shift_the_boundary():
    vectors = windowed(topic_vectors([9, 10, 8], seed=3), 2)
    assert boundaries(vectors, window=2) == [9, 19]


def test_one_topic_has_no_boundaries():
    assert boundaries(topic_vectors([30], seed=5)) == []


@pytest.mark.parametrize("min_sentences", [3, 5])
def test_min_sentences_is_respected(min_sentences):
    vectors = topic_vectors([8, 2, 8, 4], seed=1)  # the 2- and 4-sentence blocks are too short to stand alone
    starts = boundaries(vectors, min_sentences=min_sentences)
    edges = [0, *starts, len(vectors)]
    assert starts and all(b - a >= min_sentences for a, b in pairwise(edges))


ASTRONOMY = (
    "Tonight we point the telescope at a distant galaxy. The galaxy is full of stars, and the telescope "
    "collects their light for hours. At the center of the galaxy sits a black hole. A black hole bends "
    "the light of stars behind it. This video shows the telescope images."
)
COOKING = (
    "Melt the butter in a pan and add garlic. Stir the garlic until the butter turns golden, then pour "
    "the cream into the pan. Season the sauce with pepper and serve the sauce over pasta. "
    "This video shows the pasta recipe."
)


def test_keywords_are_the_distinctive_words_of_each_chapter():
    astro, cook = keywords([ASTRONOMY, COOKING], k=5)
    assert astro[:2] == ["telescope", "galaxy"]  # said three times each; the longer word first
    assert set(astro) == {"telescope", "galaxy", "black hole", "light", "stars"}
    assert set(cook) == {"butter", "garlic", "pan", "sauce", "pasta"}
    everything = keywords([ASTRONOMY, COOKING], k=50)
    words = [w for terms in everything for term in terms for w in term.split()]
    assert not set(words) & STOPWORDS
    assert "video" not in astro + cook  # said in both chapters, so it names neither
    assert "black" not in everything[0] and "hole" not in everything[0]  # the bigram stands for both words


def test_titles_are_short_title_case_and_keep_acronyms():
    assert title(["black hole", "telescope"], ASTRONOMY) == "Black Hole and Telescope"
    assert title(["nasa", "budget"], "The NASA budget grew.") == "NASA and Budget"
    long = title(["extraordinarily long keyword phrase", "another remarkably verbose keyword"], "")
    assert len(long) <= 60 and long == "Extraordinarily Long Keyword Phrase"
    assert title([], "so what happens next is up to you.") == "So What Happens Next Is Up To You"


def test_chapters_tile_the_transcript_from_zero():
    texts = [ASTRONOMY] * 8 + [COOKING] * 8 + [ASTRONOMY] * 8
    items = timed(texts)
    found = chapters(items, topic_vectors([8, 8, 8], seed=2))
    assert [(c.first_sentence, c.last_sentence) for c in found] == [(0, 7), (8, 15), (16, 23)]
    assert found[0].start == 0.0 and found[-1].end == items[-1].end
    assert all(a.end == b.start == items[b.first_sentence].start for a, b in pairwise(found))
    assert [c.index for c in found] == [0, 1, 2]


def test_short_chapters_merge_into_a_neighbour():
    vectors = topic_vectors([8, 4, 8], seed=4)
    items = timed(["word"] * 20, seconds=2.0, pause=0.0)  # the middle block lasts 8 s
    assert boundaries(vectors) == [8, 12]
    merged = chapters(items, vectors, min_chapter_s=10.0)
    assert len(merged) == 2 and all(c.end - c.start >= 10.0 for c in merged)
    assert merged[0].start == 0.0 and merged[-1].end == items[-1].end
    assert len(chapters(items, vectors, min_chapter_s=60.0)) == 1


def chapter(start: float, end: float, name: str) -> Chapter:
    return Chapter(0, start, end, 0, 0, name, [], "")


def test_youtube_lines_and_rules():
    listing = [chapter(0.0, 65.2, "Intro"), chapter(65.2, 3723.9, "Black Holes"), chapter(3723.9, 3800.0, "Q&A")]
    assert youtube_chapters(listing) == "00:00 Intro\n01:05 Black Holes\n1:02:03 Q&A"
    assert youtube_chapters(listing[:2]) == ""  # fewer than 3
    assert youtube_chapters([chapter(0.0, 30.0, "A"), chapter(30.0, 39.0, "B"), chapter(39.0, 90.0, "C")]) == ""
    assert youtube_chapters([chapter(2.0, 30.0, "A"), chapter(30.0, 60.0, "B"), chapter(60.0, 90.0, "C")]) == ""


TALK = [
    [
        "The telescope collected light from a distant galaxy for six hours.",
        "Astronomers measured how fast the galaxy is moving away from us.",
        "Its light is stretched toward red, which tells us about the expansion of the universe.",
        "Nearby stars in our galaxy orbit a supermassive black hole.",
        "The black hole at the center of the galaxy weighs four million suns.",
        "Next year a new space telescope will map dark matter around galaxies.",
    ],
    [
        "To make the sauce, melt butter in a pan over low heat.",
        "Add chopped garlic and cook it until it smells sweet.",
        "Pour in the cream, then season the sauce with salt and pepper.",
        "Boil the pasta in plenty of salted water until it is tender.",
        "Toss the drained pasta with the sauce and grate some parmesan on top.",
        "Serve the dish warm with fresh basil and a glass of wine.",
    ],
    [
        "Interest rates went up again, so mortgages became more expensive.",
        "The central bank raised rates to bring inflation down.",
        "Stock markets fell when investors feared a recession.",
        "Bond yields rose as traders priced in more rate hikes.",
        "Companies cut their hiring plans because borrowing costs more.",
        "Economists expect inflation to ease by the end of next year.",
    ],
]


def test_real_minilm_windows_find_the_three_topics(tmp_path):
    texts = [s for block in TALK for s in block]
    windows = [" ".join(texts[i : i + 2])
        for i in range(len(texts))]  # as transcript_embeddings with window_sentences=2
    vectors = TextEmbedder(cache_dir=str(tmp_path)).encode(windows, "all-MiniLM-L6-v2")
    found = chapters(timed(texts), vectors, window=2)
    assert len(found) == 3
    for chapter_found, truth in zip(found[1:], (6, 12), strict=False):
        assert abs(chapter_found.first_sentence - truth) <= 1
    assert "galaxy" in found[0].keywords and "sauce" in found[1].keywords and "inflation" in found[2].keywords
    lines = youtube_chapters(found).splitlines()
    assert len(lines) == 3 and lines[0].startswith("00:00 ") and all(re.fullmatch(r"\d\d:\d\d \S.{0,59}", x)
            for x in lines)


ARCHITECTURE = [
    "Our service runs as a set of small containers behind a load balancer.",
    "Each request first hits the gateway, which checks the token.",
    "The gateway forwards the call to the worker pool.",
    "Workers read from a Postgres database with two replicas.",
    "We cache the hot rows in Redis to keep latency low.",
    "When traffic spikes, the autoscaler adds more workers within a minute.",
    "Logs go to a central store so we can trace a slow request.",
    "We deploy twice a day with a blue green rollout.",
    "If a health check fails, the old version keeps serving.",
    "The queue absorbs bursts of uploads during the night.",
    "Background jobs resize images and send emails.",
    "All of this runs in two regions for redundancy.",
]
PRICING = [
    "Now let me talk about how we charge customers.",
    "The free plan lets small teams try the product without a card.",
    "The team plan costs twelve dollars per seat each month.",
    "Enterprise customers pay a yearly contract with a discount.",
    "We tried usage based billing, but customers found invoices hard to predict.",
    "So we moved to flat seat prices with generous limits.",
    "Annual plans get two months free, which improved retention.",
    "Discounts for nonprofits and schools are fifty percent.",
    "Upgrades are prorated, so nobody pays twice.",
    "Our sales team handles deals above fifty seats.",
    "Churn dropped after we simplified the pricing page.",
    "Next quarter we will test a cheaper starter tier.",
]


def test_real_minilm_splits_one_talk_at_its_one_topic_change_only(tmp_path):
    """Same speaker, same product, a softer change than astronomy to cooking; in-topic valleys stay below min_depth."""
    texts = ARCHITECTURE + PRICING
    embedder = TextEmbedder(cache_dir=str(tmp_path))
    vectors = embedder.encode([" ".join(texts[i : i + 2]) for i in range(len(texts))], "all-MiniLM-L6-v2")
    assert boundaries(vectors, window=2) == [12]
    single = embedder.encode([" ".join(ARCHITECTURE[i : i + 2]) for i in range(12)], "all-MiniLM-L6-v2")
    assert boundaries(single, window=2) == []
