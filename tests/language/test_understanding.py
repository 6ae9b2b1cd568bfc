"""The understanding stages end to end on a talk with an unsafe passage, with a loopback OpenAI-compatible
endpoint for moderation and clip copy: the passage is flagged, never ranked, and kept with its reason."""

import json

import dagster as dg
import pyarrow.parquet as pq
import pytest

from ai_assets.automation_tick import QUIET
from ai_assets.catalog import connect as metrics_view
from ai_assets.definitions import build_defs
from ai_assets.ingest.samples import make_video
from resources.lake import lake_file
from tests.conftest import add_video
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow
KEY = "sk-understanding-secret"
THREAT = "If you post my address again, I will kill you."
TALK = (
    "Why do people trust a speaker in the first ten seconds? They listen for a clear promise. "
    "Tell them what they will learn, and then keep that promise. Stories beat statistics, because a story has a "
    "person in it. "
    "A good story has a problem, a struggle and a change. Keep each slide to one idea, so the audience never reads "
    "ahead of you. "
    f"Now a word about the comments on my last video. {THREAT} That is what one viewer wrote to me last week. "
    "I reported it and moved on, and so should you. Let us get back to speaking. "
    "The best speakers pause before the important sentence. The pause tells the audience that something matters. "
    "Finally, end with one action the audience can take today. Write it on the last slide, and say it twice."
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("understanding")
    video = make_video(folder / "talk.mp4", TALK, scenes=3)
    with FakeOpenAI() as fake, pytest.MonkeyPatch.context() as mp:
        fake.moderation_terms = {"kill you": {"violence": 0.93, "harassment/threatening": 0.8}}
        from ai_assets.policy.documents import PolicyStore
        from ai_assets.storage.settings import HOME_ENV, Layout
        from tests.conftest import QUICK_CLIPS

        home = folder / "home"
        mp.setenv(HOME_ENV, str(home))
        mp.setenv("AI_ASSETS_LLM_BASE_URL", fake.base_url)
        mp.setenv("AI_ASSETS_LLM_API_KEY", KEY)
        mp.setenv("AI_ASSETS_LLM_MODEL", "gpt-test")
        layout = Layout(home)
        PolicyStore(layout.metrics_db).set("clip", QUICK_CLIPS, "user", "tests: one small render per video")
        (folder / "dagster").mkdir()
        with dg.instance_for_test(temp_dir=str(folder / "dagster")) as instance:
            key = add_video(layout, instance, video)
            result = build_defs(layout).resolve_job_def("process_video").execute_in_process(
                instance=instance, partition_key=key, run_config=QUIET)
            assert result.success
            logs = "\n".join(str(e.message) for e in instance.all_logs(result.run_id))
            yield {"layout": layout, "key": key, "result": result, "fake": fake, "logs": logs}


def table(run, asset):
    return pq.read_table(lake_file(run["layout"].lake, asset, run["key"])).to_pylist()


def test_the_threat_is_flagged_by_the_lexicon_and_the_moderation_endpoint(run):
    flags = table(run, "safety")
    sources = {f["source"] for f in flags if f["category"] == "violence" and f["score"] >= 0.5}
    assert sources == {"lexicon", "moderation"}
    words = [w for r in table(run, "transcript") for w in r["words"]]
    threat_start = next(w["start"] for i, w in enumerate(words) if w["word"].strip().lower() == "kill")
    assert any(f["start"] <= threat_start < f["end"] for f in flags if f["source"] == "lexicon")
    assert run["fake"].moderation_calls >= 1


def test_no_ranked_segment_overlaps_a_blocking_flag_and_the_blocked_ones_say_why(run):
    blocking = [f for f in table(run, "safety") if f["score"] >= 0.5]
    segments = table(run, "segments")
    ranked = [s for s in segments if s["rank"] is not None]
    assert ranked, "the clean parts of the talk still rank"
    for s in ranked:
        assert not any(f["start"] < s["end"] and f["end"] > s["start"] for f in blocking), s["text"]
        assert THREAT.split(",")[1].strip().lower() not in s["text"].lower()
    blocked = [s for s in segments if s["rank"] is None]
    assert blocked and all(s["blocked_reason"].startswith("violence 0.9") for s in blocked)
    assert all("kill you" in s["text"].lower() for s in blocked)
    assert {c["rank"] for c in table(run, "clips")} <= {s["rank"] for s in ranked}


def test_clip_copy_comes_from_the_endpoint_with_tokens_and_cost_in_metrics(run):
    rows = table(run, "clip_copy")
    assert rows and {r["source"] for r in rows} == {"llm"} and {r["model"] for r in rows} == {"gpt-test"}
    assert all(r["title"] and r["hashtags"] for r in rows)
    with metrics_view(run["layout"].home) as conn:  # rows still spooled included
        [(params,)] = conn.execute("select params from metrics where asset = 'clip_copy'").fetchall()
    params = json.loads(params)
    assert params["calls"] == run["fake"].text_calls >= 1 and params["input_tokens"] == 200 * params["calls"]
    assert params["cost_usd"] > 0 and params["degraded"] is None


def test_the_api_key_never_reaches_logs_metadata_or_metrics(run):
    assert KEY not in run["logs"]
    for event in run["result"].get_asset_materialization_events():
        assert KEY not in str(event.materialization.metadata)
    with metrics_view(run["layout"].home) as conn:  # rows still spooled included
        assert KEY not in str(conn.execute("select * from metrics").fetchall())
    assert f"Bearer {KEY}" in run["fake"].api_keys  # it was sent, to the endpoint only
