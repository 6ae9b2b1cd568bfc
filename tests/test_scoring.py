import numpy as np
import pytest

from ai_assets.scoring import SegmentRules, candidate_spans, hook_kind, rank_segments
from ai_assets.speech import pack_chunks
from ai_assets.text import join_words, sentence_windows, sentences


def words(text: str, start: float, rate: float = 0.4, gap: float = 0.1):
    out, t = [], start
    for w in text.split():
        out.append({"start": round(t, 3), "end": round(t + rate, 3), "word": w, "probability": 0.9})
        t += rate + gap
    return out


def segment(text: str, start: float):
    ws = words(text, start)
    return {"start": ws[0]["start"], "end": ws[-1]["end"], "text": text, "words": ws}


def test_sentences_split_on_punctuation_and_long_pauses():
    segs = [segment("Is this a question? Yes it is.", 0.0), segment("after a long pause no punctuation", 10.0)]
    result = sentences(segs)
    assert [s.text for s in result] == ["Is this a question?", "Yes it is.", "after a long pause no punctuation"]
    assert result[0].start == 0.0 and result[0].end == pytest.approx(1.9)
    assert result[2].start == 10.0
    assert all(s.word_count > 0 for s in result)


def test_words_join_without_spaces_before_punctuation_tokens():
    assert join_words(["Ninety", "90", "%", "of", "us", "don", "'t", "know", "..."]) == "Ninety 90% of us don't know..."
    assert join_words(["a", "cold", "-hearted", "man"]) == "a cold-hearted man"


def test_windows_slide_one_sentence_at_a_time():
    items = sentences([segment("One. Two. Three.", 0.0)])
    windows = sentence_windows(items, 2)
    assert [(w.sentence_index, w.sentence_count, w.text) for w in windows] == [(0, 2, "One. Two."), (1, 2, "Two. Three."), (2, 1, "Three.")]
    with pytest.raises(ValueError):
        sentence_windows(items, 0)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("What happened next?", "question"), ("This is huge!", "exclamation"), ("We grew 40 times.", "number"),
     ("Three things matter.", "number"), ("Nothing special here.", None)],
)
def test_hook_kind(text, kind):
    assert hook_kind(text) == kind


def test_pack_chunks_merges_regions_up_to_30_seconds():
    regions = [(0.0, 5.0), (6.0, 20.0), (21.0, 29.5), (31.0, 40.0), (45.0, 80.0)]
    assert pack_chunks(regions) == [(0.0, 29.5), (31.0, 40.0), (45.0, 75.0)]


def _talk(n_sentences: int, seconds_each: float):
    segs = []
    for i in range(n_sentences):
        n_words = int(seconds_each / 0.5)
        text = " ".join(["word"] * (n_words - 1) + [f"end{i}."])
        if i % 4 == 0:
            text = text[:-1] + "?"
        segs.append(segment(text, i * (seconds_each + 0.5)))
    return sentences(segs)


def test_candidates_respect_length_bounds():
    items = _talk(30, 6.0)
    rules = SegmentRules()
    for a, b in candidate_spans(items, rules):
        assert rules.min_seconds <= items[b].end - items[a].start <= rules.max_seconds


def test_ranked_segments_are_sentence_aligned_ranked_and_mostly_disjoint():
    items = _talk(30, 6.0)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(items), 8)).astype(np.float32)
    vectors[:10] = vectors[0]  # the first ten sentences share one topic
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ranked = rank_segments(items, vectors)
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    assert list(ranked["score"]) == sorted(ranked["score"], reverse=True)
    starts = {s.start for s in items}
    ends = {s.end for s in items}
    for row in ranked.itertuples():
        assert row.start in starts and row.end in ends
        assert 15.0 <= row.duration <= 60.0
        assert 0 <= row.coherence <= 1 and 0 <= row.speech_density <= 1
    top = ranked.iloc[0]
    assert top.first_sentence < 10 and top.coherence == pytest.approx(1.0, abs=1e-5)
    spans = sorted(zip(ranked.start, ranked.end))
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert max(0.0, e1 - s2) <= 0.2 * min(e1 - s1, e2 - s2) + 1e-9


def test_short_talk_has_no_candidates():
    items = _talk(2, 5.0)
    ranked = rank_segments(items, np.ones((2, 4), dtype=np.float32) / 2)
    assert len(ranked) == 0 and "coherence" in ranked.columns


def test_mismatched_embeddings_are_an_error():
    items = _talk(10, 6.0)
    with pytest.raises(ValueError, match="9 window embeddings for 10 sentences"):
        rank_segments(items, np.ones((9, 4), dtype=np.float32) / 2)
