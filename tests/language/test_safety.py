"""Brand-safety flags: lexicon matching on Whisper-style words, thresholds, reasons, and the moderation endpoint."""

import time

import openai
import pytest

from ai_assets.language.safety import (
    CATEGORIES,
    UNMODERATED,
    Flag,
    blocking_flags,
    lexicon_flags,
    moderate,
    penalty,
    reason,
    unmoderated,
)
from tests.fake_openai import FakeOpenAI

THRESHOLD = 0.5


def words(text: str, start: float = 10.0, step: float = 0.5) -> list[dict]:
    """Whisper-style words: leading spaces, punctuation attached, one every `step` seconds lasting 0.4 s."""
    return [{"start": start + i * step, "end": start + i * step + 0.4, "word": " " + w, "probability": 0.9}
            for i, w in enumerate(text.split())]


def top(text: str) -> dict[str, float]:
    """The highest score per category in `text`."""
    out: dict[str, float] = {}
    for f in lexicon_flags(words(text)):
        out[f.category] = max(out.get(f.category, 0.0), f.score)
    return out


@pytest.mark.parametrize("text", [
    "I grew up in Scunthorpe and later moved to Sussex and Essex.",
    "We are assessing the class of Dickens readers, it's a classic assignment.",
    "The therapist grabbed a cocktail and some shiitake mushrooms.",
    "Hello, welcome to the analysis of grapes and drapes.",
    "Magna cum laude, she said, at the hello world meetup.",
])
def test_token_matching_ignores_terms_inside_other_words(text):
    assert lexicon_flags(words(text)) == []


@pytest.mark.parametrize("text", [
    "Let's shoot a video about it.",
    "We can kill time before the keynote.",
    "Honestly this talk is killer.",
    "I'll shoot you an email tomorrow.",
    "Shoot us a message if you have questions.",
    "It won't kill you to sleep more.",
    "We shoot people and products in the studio.",
    "The data should be wiped after use.",
    "Damn, what the hell, that's crap.",
])
def test_context_dependent_and_mild_terms_stay_below_the_threshold(text):
    assert all(score < THRESHOLD for score in top(text).values())


def test_mild_profanity_scores_between_a_quarter_and_the_threshold():
    for word in ("damn", "hell", "crap"):
        assert 0.25 <= top(word)["profanity"] < THRESHOLD


@pytest.mark.parametrize("text", ["What the f*ck.", "That's sh1t!", "F***ing great.", "b!tch please", "$hit happens",
                                  "WHAT THE FUCK?", "fucking", "motherfuckers", "sh*tty idea", "that's bullsh!t"])
def test_strong_profanity_through_inflections_masks_and_leetspeak(text):
    assert top(text)["profanity"] >= 0.7


@pytest.mark.parametrize("text", ["****", "#metoo", "2020", "a*b", "f**"])
def test_masks_need_visible_letters_that_fit_a_term(text):
    assert top(text).get("profanity", 0.0) == 0.0


@pytest.mark.parametrize("text, category", [
    ("what the fuck is this", "profanity"),
    ("those people are vermin", "hate"),
    ("they are all animals", "hate"),
    ("go back to your country", "hate"),
    ("an inferior race", "hate"),
    ("they watch porn all day", "sexual"),
    ("send nudes", "sexual"),
    ("I'll shoot you", "violence"),
    ("I am going to kill them", "violence"),
    ("we should bomb the station", "violence"),
    ("I want to kill myself", "self_harm"),
    ("I want to end my life", "self_harm"),
    ("sometimes I cut myself", "self_harm"),
    ("I wanna die", "self_harm"),
])
def test_each_category_has_terms_and_phrases(text, category):
    assert top(text).get(category, 0.0) >= 0.7


def test_every_category_is_covered():
    texts = ["fuck", "subhuman", "porn", "I will stab you", "self-harm"]
    assert {c for t in texts for c, s in top(t).items() if s >= 0.7} == set(CATEGORIES)


def test_a_phrase_spans_its_words():
    flags = lexicon_flags(words("Some days I want to kill myself, honestly.", start=20.0))
    harm = [f for f in flags if f.category == "self_harm"]
    assert len(harm) == 1
    # "kill" is the 6th word (index 5) and "myself," the 7th.
    assert (harm[0].start, harm[0].end) == pytest.approx((22.5, 23.4))
    assert harm[0].text == "kill myself," and harm[0].source == "lexicon"


def test_a_phrase_subsumes_its_own_terms_and_contractions_expand():
    flags = lexicon_flags(words("I'll kill you", start=0.0))
    assert [(f.category, f.score, f.text, f.start, f.end)
            for f in flags] == [("violence", 0.9, "I'll kill you", 0.0, 1.4)]
    assert [f.text for f in lexicon_flags(words("son of a bitch"))] == ["son of a bitch"]


def test_flags_are_in_time_order():
    flags = lexicon_flags(words("damn this, porn later, and fuck it"))
    assert [f.start for f in flags] == sorted(f.start for f in flags)
    assert lexicon_flags([]) == []


def flag(score, start=1.0, end=2.0, category="profanity", text="x"):
    return Flag(start, end, category, score, text, "lexicon")


def test_blocking_flags_threshold_boundary_and_order():
    at, below, high = flag(0.5), flag(0.4999), flag(0.9, 1.5, 1.8)
    assert blocking_flags([at, below, high], 0.0, 10.0, 0.5) == [high, at]
    assert blocking_flags([below], 0.0, 10.0, 0.5) == []
    assert blocking_flags([at], 0.0, 10.0, 0.5 + 1e-9) == []


def test_overlap_is_half_open():
    f = flag(0.8, 5.0, 6.0)
    assert blocking_flags([f], 6.0, 9.0, 0.5) == []  # ends where the clip starts
    assert blocking_flags([f], 0.0, 5.0, 0.5) == []  # starts where the clip ends
    assert blocking_flags([f], 5.5, 9.0, 0.5) == [f]  # runs into the clip
    assert blocking_flags([f], 0.0, 5.01, 0.5) == [f]
    assert blocking_flags([flag(0.8, 3.0, 3.0)], 3.0, 4.0, 0.5) != []  # a zero-length word at the start


def test_penalty_is_the_highest_overlapping_score():
    flags = [flag(0.3, 1, 2), flag(0.45, 4, 5), flag(0.95, 20, 21)]
    assert penalty(flags, 0, 10) == 0.45
    assert penalty(flags, 10, 15) == 0.0
    assert penalty([], 0, 10) == 0.0


def test_reason_is_readable():
    flags = blocking_flags(lexicon_flags(words("well what the f*ck is this", start=12.0)), 0, 30, 0.5)
    assert reason(flags) == 'profanity 0.95 at 13.5–13.9 s ("f*ck")'
    two = [flag(0.9, 1.0, 2.2, "self_harm", "kill myself"), flag(0.6, 3.0, 4.0, "violence", "y" * 100)]
    assert (
        reason(two) == 'self-harm 0.90 at 1.0–2.2 s ("kill myself"); violence 0.60 at 3.0–4.0 s ("' + "y" * 59 + '…")'
    )
    assert reason([]) == ""


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        fake.moderation_terms = {
            "hurt you": {"harassment/threatening": 0.8, "violence": 0.6, "hate": 0.1},
            "explicit": {"sexual": 0.7, "sexual/minors": 0.02},
            "goodbye forever": {"self-harm/intent": 0.9, "self-harm": 0.5, "illicit": 0.9},
            "faint": {"violence": 0.005},
        }
        yield fake


def client_for(fake):
    return openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)


def moderated(server, spans, budget_s: float = 5.0, **kwargs):
    return moderate(client_for(server), "omni-moderation-latest", spans, time.monotonic() + budget_s, 0.02, **kwargs)


SPANS = [(0.0, 5.0, "I will hurt you"), (5.0, 9.0, "Some explicit content"), (9.0, 12.0, "a faint echo"),
         (12.0, 14.0, "   "), (14.0, 20.0, "goodbye forever"), (20.0, 22.0, "hello")]


def test_moderation_flags_map_categories_and_keep_low_scores(server):
    result = moderated(server, SPANS, batch=2)
    got = {(f.start, f.category): f.score for f in result.flags}
    assert got == {(0.0, "hate"): 0.8, (0.0, "violence"): 0.6, (5.0, "sexual"): 0.7, (14.0, "self_harm"): 0.9}
    assert {f.source for f in result.flags} == {"moderation"}
    assert next(f for f in result.flags if f.start == 5.0).text == "Some explicit content"
    assert server.moderation_calls == 3 and server.calls == 0  # five non-blank spans in batches of two
    assert (result.calls, result.unmoderated, result.error) == (3, 0, None)
    assert moderated(server, []).flags == [] and server.moderation_calls == 3


def test_a_failed_moderation_call_is_retried_within_the_budget(server):
    server.fail_status, server.fail_times = 500, 2
    result = moderated(server, [(0.0, 1.0, "I will hurt you")])
    assert server.moderation_calls == 3 and result.calls == 3 and result.error is None
    assert {f.category for f in result.flags} == {"hate", "violence"}
    server.fail_status, server.fail_times = 429, 1
    assert moderated(server, [(0.0, 1.0, "hello")]).error is None and server.moderation_calls == 5


def test_moderation_that_stays_down_marks_every_span_unmoderated_never_clean(server):
    server.fail_status, server.fail_times = 500, -1
    began = time.monotonic()
    result = moderated(server, SPANS, budget_s=0.5, batch=2)
    assert time.monotonic() - began < 2.0  # the budget bounds the whole run, not each batch
    assert server.moderation_calls >= 2 and result.calls == server.moderation_calls  # retried, then given up
    assert result.unmoderated == 5 and result.error.startswith("InternalServerError 500 after")
    assert "retry budget spent" in result.error and "test" not in result.error  # no request detail, no key
    rows = [(f.start, f.end, f.category, f.score, f.source) for f in result.flags]
    assert rows == [(0.0, 9.0, UNMODERATED, 0.0, "moderation"), (9.0, 20.0, UNMODERATED, 0.0, "moderation"),
                    (20.0, 22.0, UNMODERATED, 0.0, "moderation")]  # one per batch; batches 2 and 3 not even tried
    assert [f.start for f in unmoderated(result.flags, 10.0, 15.0)] == [9.0]
    assert unmoderated(result.flags, 22.0, 30.0) == []


@pytest.mark.parametrize("fault, expected", [
    ({"fail_status": 404, "fail_times": -1}, "endpoint refused the request (404)"),  # e.g. a server without the route
    ({"garbage": True}, "unusable response"),
])
def test_a_moderation_endpoint_that_cannot_answer_is_not_retried_and_leaves_spans_unmoderated(server, fault,
        expected):
    for name, value in fault.items():
        setattr(server, name, value)
    result = moderated(server, [(0.0, 1.0, "I will hurt you")])
    assert server.moderation_calls == 1 and result.unmoderated == 1 and result.error.startswith(expected)
    assert [f.category for f in result.flags] == [UNMODERATED]


def test_a_threat_at_a_sentence_end_is_not_excused_by_the_next_sentence():
    # Whisper words come without leading spaces; "That" opens the next sentence, it is not the threat's object.
    flags = lexicon_flags([{**w, "word": w["word"].strip()}
        for w in words("again, I will kill you. That is what he wrote.")])
    [threat] = [f for f in flags if f.score >= 0.5]
    assert (threat.category, threat.text, threat.start, threat.end) == ("violence", "I will kill you.", 10.5, 12.4)
    # Within one sentence the object rule still applies.
    assert max(f.score for f in lexicon_flags(words("I will kill that bug in the code."))) < 0.5
