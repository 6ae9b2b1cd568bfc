"""clip_copy end to end against a real local model: llama-cpp-python's OpenAI-compatible server on 127.0.0.1 with
Gemma 3 270M from PyPI (tests/local_llm.py), asked with the answer's JSON schema as llama.cpp servers take it.

A 270M model writes poor copy, so the test asserts what holds whatever it writes: the requests reached the server,
every answer was parsed strictly (llm copy within the platform's limits) or replaced by extractive copy with the
reason, the tokens it reported are in the metrics, and a rerun asks again only for what it could not answer.
"""

import json
import os

import dagster as dg
import pyarrow as pa
import pytest

from ai_assets.assets.clip_copy import clip_copy
from ai_assets.catalog import connect as metrics_view
from ai_assets.definitions import build_resources
from ai_assets.language.clip_copy import limits_for
from ai_assets.partitions import videos
from ai_assets.storage.tables import to_table
from resources.llm import LlmResource
from tests.conftest import free_port
from tests.language.test_clip_copy import TEXTS
from tests.local_llm import MODEL_ALIAS, LlamaServer, gguf_path, missing

pytestmark = pytest.mark.slow
KEY = "sk-local-llm-secret"  # llama-cpp-python's server takes any key when it has none set
VIDEO = "talk-0123456789"
PLATFORM = "tiktok"


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    why = missing()
    if why:
        if os.environ.get("CI"):  # CI installs the test extra: a missing server there is a broken setup, not a skip
            pytest.fail(f"the local LLM server cannot run: {why}")
        pytest.skip(f"the local LLM server cannot run here: {why}")
    folder = tmp_path_factory.mktemp("llama")
    with LlamaServer(gguf_path(), free_port(), folder / "server.log") as server:
        yield server


@dg.asset(partitions_def=videos, name="segments")
def ranked_segments() -> pa.Table:
    """Two top segments, as `segments` ranks them, for clip_copy to write copy for."""
    return to_table("segments", [
        {"video": VIDEO, "platform": PLATFORM, "rank": rank, "start": 10.0 * rank, "end": 10.0 * rank + 20.0,
         "text": text} for rank, text in enumerate(TEXTS, start=1)])


def materialize(layout, instance, server):
    llm = LlmResource(base_url=server.base_url, api_key=dg.EnvVar("AI_ASSETS_LLM_API_KEY"), model=MODEL_ALIAS,
        cache_dir=str(layout.home / "llm_cache"), timeout_s=300, max_concurrency=1, retry_budget_s=10,
        response_format="json_object_schema", max_output_tokens=256, moderation_model=None)
    result = dg.materialize([ranked_segments, clip_copy], partition_key=VIDEO, instance=instance,
        resources={**build_resources(layout), "llm": llm})
    assert result.success
    with metrics_view(layout.home) as conn:  # rows still spooled included
        params = [json.loads(p) for (p,) in conn.execute(
            "select params from metrics where asset = 'clip_copy' order by started_at").fetchall()]
    return result.output_for_node("clip_copy").to_pylist(), params[-1], result


def test_clip_copy_through_a_real_local_server(llama, layout, instance, monkeypatch):
    monkeypatch.setenv("AI_ASSETS_LLM_API_KEY", KEY)
    instance.add_dynamic_partitions(videos.name, [VIDEO])
    rows, params, result = materialize(layout, instance, llama)

    # The requests reached the real server; what it spent is in the metrics.
    assert params["calls"] == llama.chat_requests() >= len(TEXTS)
    assert params["input_tokens"] > 0 and params["output_tokens"] > 0 and params["cost_usd"] > 0
    # Each text's copy is the model's, strictly parsed and within the platform's limits, or extractive with why.
    assert len(rows) == len(TEXTS) and {r["source"] for r in rows} <= {"llm", "extractive"}
    limits = limits_for(PLATFORM)
    for row in rows:
        assert row["title"].strip() and len(row["title"]) <= limits.title
        assert len(" ".join([row["description"], *row["hashtags"]])) <= limits.caption
        assert all(t.startswith("#") for t in row["hashtags"]) and len(row["hashtags"]) <= limits.hashtags
        assert row["model"] == (MODEL_ALIAS if row["source"] == "llm" else "extractive")
    fallbacks = sum(r["source"] == "extractive" for r in rows)
    assert (params["degraded"] is None) == (fallbacks == 0)
    # With the schema as a grammar, even a 270M model answers parseable JSON.
    assert fallbacks < len(rows), params["degraded"]

    # The rerun asks only for the texts that fell back; the model's answers come from the cache.
    served = llama.chat_requests()
    again, params2, _ = materialize(layout, instance, llama)
    assert params2["cached"] == len(rows) - fallbacks and params2["calls"] == llama.chat_requests() - served
    assert params2["calls"] == 0 if not fallbacks else params2["calls"] >= fallbacks
    first = {r["text_sha256"]: r for r in rows if r["source"] == "llm"}
    for row in again:
        if row["text_sha256"] in first:
            assert row["source"] == "cache" and row["title"] == first[row["text_sha256"]]["title"]

    for event in result.get_asset_materialization_events():
        assert KEY not in str(event.materialization.metadata)
