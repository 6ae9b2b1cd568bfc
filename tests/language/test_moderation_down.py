"""Safety does not fail open: with the moderation endpoint configured but answering 500s, the calls are retried
within the budget, then every segment is ranked on the local lexicon alone and marked `moderation` unavailable;
the clip policy's `safety_mode` holds those clips for review (the default) or publishes them, marked."""

import dagster as dg
import pyarrow.parquet as pq
import pytest

from ai_assets.assets import ALL_ASSETS
from ai_assets.assets.checks import TRANSCRIPT_CHECKS
from ai_assets.automation_tick import QUIET
from ai_assets.catalog import connect as metrics_view
from ai_assets.definitions import build_resources
from ai_assets.ingest.samples import make_video
from ai_assets.jobs import process_video
from ai_assets.policy.documents import PolicyStore
from ai_assets.storage.settings import HOME_ENV, Layout
from resources.lake import lake_file
from resources.llm import LlmResource
from tests.conftest import QUICK_CLIPS, add_video
from tests.fake_openai import FakeOpenAI
from tests.language.test_understanding import TALK

pytestmark = pytest.mark.slow
KEY = "sk-moderation-down-secret"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("moderation_down")
    video = make_video(folder / "talk.mp4", TALK, scenes=3)
    with FakeOpenAI() as fake, pytest.MonkeyPatch.context() as mp:
        fake.fail_status, fake.fail_times = 500, -1  # moderation (and copy) down for good
        home = folder / "home"
        mp.setenv(HOME_ENV, str(home))
        mp.setenv("AI_ASSETS_LLM_API_KEY", KEY)
        layout = Layout(home)
        store = PolicyStore(layout.metrics_db)
        store.set("clip", QUICK_CLIPS, "user", "tests: one small render per video")
        # A short budget with quick backoff: still several attempts, in a second or two.
        llm = LlmResource(base_url=fake.base_url, api_key=dg.EnvVar("AI_ASSETS_LLM_API_KEY"), model="gpt-test",
            cache_dir=str(home / "llm_cache"), retry_budget_s=1.5, backoff_s=0.05)
        defs = dg.Definitions(assets=ALL_ASSETS, asset_checks=TRANSCRIPT_CHECKS, jobs=[process_video],
            resources={**build_resources(layout), "llm": llm}, executor=dg.in_process_executor)
        (folder / "dagster").mkdir()
        with dg.instance_for_test(temp_dir=str(folder / "dagster")) as instance:
            key = add_video(layout, instance, video)
            held = defs.resolve_job_def("process_video").execute_in_process(
                instance=instance, partition_key=key, run_config=QUIET)
            assert held.success
            held_clips = pq.read_table(lake_file(layout.lake, "clips", key)).to_pylist()
            store.set("clip", {**QUICK_CLIPS, "safety_mode": "publish"}, "user", "tests: publish unchecked clips")
            published = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, partition_key=key, run_config=QUIET, asset_selection=[dg.AssetKey("clips")])
            assert published.success
            logs = "\n".join(str(e.message) for e in instance.all_logs(held.run_id) + instance.all_logs(
                published.run_id))
            yield {"layout": layout, "key": key, "fake": fake, "held": held, "published": published,
                   "held_clips": held_clips, "logs": logs}


def table(run, asset):
    return pq.read_table(lake_file(run["layout"].lake, asset, run["key"])).to_pylist()


def test_moderation_is_retried_then_every_sentence_is_marked_unmoderated(run):
    [mat] = run["held"].asset_materializations_for_node("safety")
    assert mat.metadata["moderation"].value == "unavailable"
    calls = mat.metadata["moderation_calls"].value
    assert calls == run["fake"].moderation_calls >= 2  # retried within the budget, then given up
    flags = table(run, "safety")
    unmoderated = [f for f in flags if f["category"] == "unmoderated"]
    assert unmoderated and all(f["score"] == 0.0 and f["text"].startswith("InternalServerError 500") for f in
        unmoderated)
    assert mat.metadata["unmoderated_rows"].value == len(unmoderated)
    assert mat.metadata["flags"].value == len(flags) - len(unmoderated) >= 1  # the lexicon's, the threat among them
    words = [w for r in table(run, "transcript") for w in r["words"]]
    assert min(f["start"] for f in unmoderated) <= words[0]["start"] and max(f["end"] for f in unmoderated) >= \
        words[-1]["end"]


def test_segments_are_ranked_on_the_lexicon_alone_and_marked(run):
    segments = table(run, "segments")
    ranked = [s for s in segments if s["rank"] is not None]
    assert ranked and {s["moderation"] for s in segments} == {"unavailable"}
    blocked = [s for s in segments if s["rank"] is None]  # the threat: the lexicon's verdict still blocks it
    assert blocked and all(s["blocked_reason"].startswith("violence 0.9") for s in blocked)
    assert all("kill you" not in s["text"].lower() for s in ranked)
    [mat] = run["held"].asset_materializations_for_node("segments")
    assert mat.metadata["moderation_unavailable"].value == len(segments)


def test_by_default_the_unchecked_clips_are_held_for_review_not_rendered(run):
    rows = run["held_clips"]
    assert rows and {r["moderation"] for r in rows} == {"unavailable"}
    assert not any(r["rendered"] or r["path"] for r in rows)
    assert all(r["held_reason"].startswith("moderation unavailable") for r in rows)
    [mat] = run["held"].asset_materializations_for_node("clips")
    assert mat.metadata["held_for_review"].value == len(rows) and mat.metadata["renders"].value == 0


def test_safety_mode_publish_renders_them_still_marked(run):
    rows = table(run, "clips")
    assert rows and {r["moderation"] for r in rows} == {"unavailable"}
    assert all(r["held_reason"] is None for r in rows)
    assert any(r["rendered"] for r in rows)  # render_top of them, as for any clip
    [mat] = run["published"].asset_materializations_for_node("clips")
    assert mat.metadata["held_for_review"].value == 0 and mat.metadata["renders"].value >= 1
    # The default policy's encoder is auto: NVENC where a trial encode works, else libx264, with the reason.
    from ai_assets.render.encode import nvenc_problem

    why = nvenc_problem()
    assert mat.metadata["encoders"].value == (["libx264"] if why else ["h264_nvenc"])
    assert mat.metadata["encoder_notes"].value == ([f"no NVENC ({why})"] if why else [])


def test_no_secret_reaches_logs_metadata_or_metrics(run):
    assert KEY not in run["logs"]
    for result in (run["held"], run["published"]):
        for event in result.get_asset_materialization_events():
            assert KEY not in str(event.materialization.metadata)
    with metrics_view(run["layout"].home) as conn:
        assert KEY not in str(conn.execute("select * from metrics").fetchall())
    assert KEY not in str(table(run, "safety"))
    assert f"Bearer {KEY}" in run["fake"].api_keys  # it was sent, to the endpoint only
