"""Clip copy against an OpenAI-compatible server on loopback: limits, caching, retries, fallbacks, concurrency."""

import json
from types import SimpleNamespace

import openai
import pytest

from ai_assets.language.clip_copy import (
    PLATFORM_LIMITS,
    CopyCache,
    CopySettings,
    extractive_copy,
    fit,
    limits_for,
    text_key,
    write_copy,
)
from tests.fake_openai import COPY_DESCRIPTION

KEY = "sk-test-secret"
PLATFORMS = ["tiktok", "shorts", "reels", "linkedin"]
TEXTS = [
    "Black holes are not holes at all. A black hole is where gravity pulls so hard that light cannot escape. "
    "The telescope saw the shadow of the black hole in a distant galaxy.",
    "Melt the butter and add the garlic. The garlic should smell sweet before the cream goes in. Then the sauce is "
    "ready.",
]


@pytest.fixture
def cache(tmp_path):
    return CopyCache(tmp_path / "copy_cache", "gpt-test")


def client_for(server, timeout_s: float = 10.0):
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, timeout=timeout_s, max_retries=0)


def settings(**overrides) -> CopySettings:
    return CopySettings(model="gpt-test", **{"backoff_s": 0.05, **overrides})


def within_limits(copy: dict, platform: str) -> bool:
    limits = limits_for(platform)
    caption = " ".join([copy["description"], *copy["hashtags"]])
    return (
        len(copy["title"]) <= limits.title
        and len(caption) <= limits.caption
        and len(copy["hashtags"]) <= limits.hashtags
    )


def test_every_platform_within_its_limits_with_tokens_and_cost(server, cache):
    result = write_copy(client_for(server), TEXTS, PLATFORMS, settings(), cache)
    assert result.degraded is None and (server.text_calls, result.calls, result.cached) == (2, 2, 0)
    assert set(result.by_hash) == {text_key(t) for t in TEXTS} and set(result.source.values()) == {"llm"}
    for copies in result.by_hash.values():
        assert set(copies) == set(PLATFORMS)
        for platform, copy in copies.items():
            assert within_limits(copy, platform)
            assert copy["title"] == "Why black holes glow"
            assert copy["hashtags"] == ["#Space", "#BlackHoles", "#Science"]  # normalised, the duplicate #Space dropped
    tiktok, shorts = result.by_hash[text_key(TEXTS[0])]["tiktok"], result.by_hash[text_key(TEXTS[0])]["shorts"]
    assert shorts["description"] == COPY_DESCRIPTION and len(COPY_DESCRIPTION) > PLATFORM_LIMITS["tiktok"].caption
    assert tiktok["description"].endswith("…") and COPY_DESCRIPTION.startswith(tiktok["description"][:-1])
    assert (result.input_tokens, result.output_tokens) == (400, 160)
    assert result.cost_usd(settings()) == pytest.approx(400 / 1e6 * 0.15 + 160 / 1e6 * 0.60)
    assert server.api_keys == {f"Bearer {KEY}"}


def test_a_rerun_is_served_from_the_cache(server, cache, tmp_path):
    first = write_copy(client_for(server), TEXTS, PLATFORMS, settings(), cache)
    again = write_copy(client_for(server), TEXTS, PLATFORMS, settings(), CopyCache(tmp_path / "copy_cache", "gpt-test"))
    assert (server.calls, again.calls, again.cached, again.input_tokens) == (2, 0, 2, 0)
    assert again.by_hash == first.by_hash and set(again.source.values()) == {"cache"} and again.degraded is None
    assert len(list(cache.folder.glob("*.json"))) == 2  # one file per text
    subset = write_copy(client_for(server), TEXTS, ["shorts"], settings(), cache)
    assert subset.calls == 0 and subset.by_hash[text_key(TEXTS[1])] == {
        "shorts": first.by_hash[text_key(TEXTS[1])]["shorts"]
    }
    wider = write_copy(client_for(server), TEXTS[:1], ["shorts", "x"], settings(), cache)  # a platform not cached yet
    assert wider.calls == 1 and set(cache.get(text_key(TEXTS[0]))) == {*PLATFORMS, "x"}
    other_cache = CopyCache(tmp_path / "copy_cache", "gpt-other")
    other_model = write_copy(client_for(server), TEXTS[:1], ["shorts"], CopySettings(model="gpt-other"), other_cache)
    assert other_model.calls == 1


def test_identical_texts_are_asked_once(server, cache):
    result = write_copy(client_for(server), [TEXTS[0]] * 3, ["tiktok"], settings(), cache)
    assert (server.text_calls, result.calls, list(result.by_hash)) == (1, 1, [text_key(TEXTS[0])])


def test_429_is_retried_with_backoff(server, cache):
    server.fail_status, server.fail_times = 429, 2
    result = write_copy(client_for(server), TEXTS[:1], ["tiktok"], settings(), cache)
    assert (
        result.degraded is None and result.calls == server.calls == 3 and result.source == {text_key(TEXTS[0]): "llm"}
    )


def test_429_forever_falls_back_to_extractive_within_the_budget(server, cache):
    server.fail_status, server.fail_times = 429, -1
    result = write_copy(client_for(server), TEXTS, ["tiktok", "shorts"], settings(retry_budget_s=0.4), cache)
    assert set(result.source.values()) == {"extractive"}
    assert "RateLimitError 429" in result.degraded and "retry budget spent" in result.degraded
    assert result.degraded.startswith("extractive copy for 2 of 2 texts:") and KEY not in result.degraded
    assert 4 <= server.calls <= 14 and result.by_hash[text_key(TEXTS[0])] == extractive_copy(TEXTS[0],
            ["tiktok", "shorts"])
    assert list(cache.folder.glob("*.json")) == []  # a fallback is not cached: the next run asks again


def test_other_4xx_falls_back_at_once(server, cache):
    server.fail_status, server.fail_times = 401, -1
    result = write_copy(client_for(server), TEXTS[:1], ["reels"], settings(), cache)
    assert (
        result.calls == 1
        and result.degraded.endswith("endpoint refused the request (401)")
        and KEY not in result.degraded
    )


def test_timeouts_and_garbage_fall_back(server, cache):
    server.delay_s = 0.5
    slow = write_copy(client_for(server, timeout_s=0.1), TEXTS[:1], ["tiktok"], settings(retry_budget_s=0.3), cache)
    assert "APITimeoutError" in slow.degraded and slow.source == {text_key(TEXTS[0]): "extractive"}
    server.delay_s, server.garbage = 0.0, True
    garbage = write_copy(client_for(server), TEXTS[:1], ["tiktok"], settings(), cache)
    assert garbage.degraded.endswith("unusable answer: not the requested JSON object")
    assert garbage.source == {text_key(TEXTS[0]): "extractive"}
    assert within_limits(garbage.by_hash[text_key(TEXTS[0])]["tiktok"], "tiktok")


def test_without_an_endpoint_everything_is_extractive(cache):
    result = write_copy(None, TEXTS, PLATFORMS, settings(), cache)
    assert result.degraded == "no LLM endpoint configured" and result.calls == 0
    assert set(result.source.values()) == {"extractive"} and set(result.by_hash[text_key(TEXTS[1])]) == set(PLATFORMS)


def test_concurrency_is_bounded(server, cache):
    server.delay_s = 0.2
    texts = [f"Segment number {i} talks about topic {i}." for i in range(8)]
    result = write_copy(client_for(server), texts, ["tiktok"], settings(max_concurrency=2), cache)
    assert result.calls == server.text_calls == 8 and server.max_in_flight == 2 and result.degraded is None


class StubClient:
    """Stands in for openai.OpenAI where the loopback server cannot answer the case: refusals, partial answers."""

    def __init__(self, content: str | None, refusal: str | None = None, finish_reason: str = "stop"):
        message = SimpleNamespace(content=content, refusal=refusal)
        usage = SimpleNamespace(prompt_tokens=10, completion_tokens=5)
        response = SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason=finish_reason)],
            usage=usage)
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=lambda **kwargs: response))


@pytest.mark.parametrize(("client", "reason"), [
    (StubClient('{"platforms": {"tiktok": {"title": "T", "description": "D", "hashtags": ["#a"]}}}'),
        "missing platforms shorts"),
    (StubClient('{"platforms": {"tiktok": {"title": "T", "description": "D", "hashtags": "#a"}, "shorts": {}}}'),
     "tiktok: hashtags must be a list of strings"),
    (StubClient(None, refusal="I can't help with that."), "model refused: I can't help with that."),
    (StubClient('{"platforms": {"tiktok": {"title": "...", "description": "...", "hashtags": ["#Word"]}, '
                '"shorts": {"title": "T", "description": "", "hashtags": []}}}'),
     "tiktok: a title or description without words"),
    (StubClient('{"platforms": {"tiktok": {"title": "T", "descr', finish_reason="length"),
     "answer cut off at the token limit"),
])
def test_partial_answers_and_refusals_fall_back(client, reason, cache):
    result = write_copy(client, TEXTS[:1], ["tiktok", "shorts"], settings(), cache)
    assert result.degraded.endswith(reason) and result.source == {text_key(TEXTS[0]): "extractive"}
    assert (result.calls, result.input_tokens, result.output_tokens) == (1, 10, 5)


def test_an_answer_in_a_markdown_code_block_is_still_strict_json(cache):
    answer = {p: {"title": "T", "description": "D", "hashtags": ["#a"]} for p in ("tiktok", "shorts")}
    client = StubClient(f"```json\n{json.dumps({'platforms': answer})}\n```")
    result = write_copy(client, TEXTS[:1], ["tiktok", "shorts"], settings(), cache)
    assert result.degraded is None and result.by_hash[text_key(TEXTS[0])]["shorts"]["title"] == "T"
    sloppy = StubClient(f"Sure! ```json\n{json.dumps({'platforms': answer})}\n```")  # prose around it: refused
    degraded = write_copy(sloppy, TEXTS[1:], ["tiktok"], settings(), cache).degraded
    assert degraded.endswith("not the requested JSON object")


@pytest.mark.parametrize("mode", ["json_object", "json_schema", "json_object_schema"])
def test_the_answer_schema_goes_along_where_the_endpoint_takes_one(server, cache, mode):
    result = write_copy(client_for(server), TEXTS[:1], ["tiktok", "shorts"],
        settings(response_format=mode, max_output_tokens=300), cache)
    assert result.degraded is None and result.source == {text_key(TEXTS[0]): "llm"}
    [body] = server.chat_bodies
    assert body["max_tokens"] == 300
    sent = body["response_format"]
    if mode == "json_object":
        assert sent == {"type": "json_object"}
        return
    schema = sent["json_schema"]["schema"] if mode == "json_schema" else sent["schema"]
    assert sent["type"] == {"json_schema": "json_schema", "json_object_schema": "json_object"}[mode]
    platforms = schema["properties"]["platforms"]
    assert platforms["required"] == ["tiktok", "shorts"] and platforms["additionalProperties"] is False
    tiktok = platforms["properties"]["tiktok"]["properties"]
    if mode == "json_schema":  # OpenAI's strict mode: no length keywords
        assert sent["json_schema"]["strict"] is True and "maxLength" not in json.dumps(schema)
    else:  # a grammar on local servers: the platform's limits bound the answer
        assert tiktok["title"]["maxLength"] == PLATFORM_LIMITS["tiktok"].title
        assert tiktok["description"]["maxLength"] == PLATFORM_LIMITS["tiktok"].caption
        assert tiktok["hashtags"]["maxItems"] == PLATFORM_LIMITS["tiktok"].hashtags


def test_without_max_output_tokens_none_is_sent(server, cache):
    write_copy(client_for(server), TEXTS[:1], ["tiktok"], settings(), cache)
    assert "max_tokens" not in server.chat_bodies[0]


def test_extractive_copy_uses_the_key_sentence_and_keywords():
    copies = extractive_copy(TEXTS[0], ["tiktok", "shorts", "somewhere-new"])
    shorts = copies["shorts"]
    key_sentence = (
        "A black hole is where gravity pulls so hard that light cannot escape."  # the topic, then the most terms
    )
    assert shorts["title"] == key_sentence
    assert shorts["description"] == f"Black holes are not holes at all. {key_sentence}"
    assert shorts["hashtags"][0] == "#BlackHole" and len(set(shorts["hashtags"])) == len(shorts["hashtags"]) >= 3
    assert all(within_limits(copy, platform) for platform, copy in copies.items())
    assert (
        copies["tiktok"]["description"] == "Black holes are not holes at all."
    )  # two sentences would crowd 150 characters
    assert extractive_copy("", ["tiktok"]) == {"tiktok": {"title": "", "description": "", "hashtags": []}}


def test_fit_cuts_on_word_boundaries_and_normalises_hashtags():
    tags = ["ai", "#AI", "machine learning", "#!", "x_y"]
    copy = fit({"title": "word " * 40, "description": "  Short.  ", "hashtags": tags}, "shorts")
    assert copy["title"].endswith("word…") and len(copy["title"]) <= 100
    assert copy["description"] == "Short." and copy["hashtags"] == ["#Ai", "#MachineLearning", "#XY"]
    assert fit({"title": "T", "description": "", "hashtags": [f"#tag{i}" for i in range(9)]}, "reels")["hashtags"] == [
        f"#Tag{i}" for i in range(5)
    ]
