"""A policy change reruns exactly what depends on it, judged from the instance's materialization records."""

import shutil
from collections import Counter

import dagster as dg
import pyarrow.parquet as pq
import pytest

from ai_assets.automation_tick import QUIET, AutomationTicker
from ai_assets.catalog import connect as metrics_view
from ai_assets.definitions import build_defs
from ai_assets.ingest.samples import SAMPLE_TEXT
from ai_assets.policy.documents import Policy, PolicyStore
from resources.lake import lake_file
from schedules.maintenance import stale_sweep_schedule
from tests.conftest import add_video
from tests.conftest import upload_sensor_tick as tick

pytestmark = pytest.mark.slow
VIDEO_ASSETS = ["source_video", "audio", "diarization", "audio_profile", "transcript", "transcript_quality",
                "transcript_shadow",
                "transcript_embeddings", "transcript_speakers", "emotion", "safety", "topics", "segments", "keyframes",
                "visual_analysis", "clip_copy", "clips"]


def materializations(instance) -> Counter:
    return Counter({name: len(instance.fetch_materializations(dg.AssetKey(name), limit=1000).records)
        for name in VIDEO_ASSETS})


def model_invocations(layout) -> int:
    with metrics_view(layout.home) as conn:  # rows still spooled included
        return conn.execute(
            "select count(*) from metrics where model in ('tiny.en', 'base', 'all-MiniLM-L6-v2')"
        ).fetchone()[0]


def change_policy(layout, defs, instance, domain: str, reason: str, edit) -> Policy:
    """Store an edited copy of the current policy and observe it, as `ai-assets policy set` does."""
    store = PolicyStore(layout.metrics_db)
    body = store.current(domain).body
    edit(body)
    new = store.set(domain, body, "user", reason)
    observe(defs, instance)
    return new


def observe(defs, instance) -> None:
    defs.resolve_job_def("observe_policies").execute_in_process(instance=instance, run_config=QUIET)


@pytest.fixture
def two_videos(layout, instance, media, tmp_path):
    talk = tmp_path / "talk.mp4"
    shutil.copyfile(media["talk"], talk)
    talk.with_suffix(".txt").write_text(SAMPLE_TEXT)  # a reference transcript uploaded beside it
    defs = build_defs(layout)
    automation = AutomationTicker(defs, instance)
    assert automation.tick() == {}  # the automation sensor's first tick, before any upload
    keys = [add_video(layout, instance, talk), add_video(layout, instance, media["short"])]
    job = defs.resolve_job_def("process_video")
    for key in keys:
        assert job.execute_in_process(instance=instance, partition_key=key, run_config=QUIET).success
    return defs, keys, automation


def test_asr_policy_change_reruns_only_the_transcript_chain(layout, instance, two_videos):
    defs, keys, automation = two_videos
    # New videos get their shadow evaluation from automation, after process_video.
    first = automation.tick()
    assert first == {key: ["transcript_shadow"] for key in keys}
    automation.run(first)
    assert automation.tick() == {}
    before = materializations(instance)
    assert set(before.values()) == {2}

    change_policy(layout, defs, instance, "asr", "beam 2 on clean audio",
        lambda body: body["classes"]["clean_single"].update(beam_size=2))
    requested = automation.tick()
    chain = ["audio_profile", "clip_copy", "clips", "emotion", "safety", "segments", "topics", "transcript",
        "transcript_embeddings", "transcript_quality", "transcript_shadow", "transcript_speakers"]
    assert requested == {key: chain for key in keys}
    automation.run(requested)

    after = materializations(instance) - before
    assert after == Counter({name: 2 for name in chain})  # source_video, audio and diarization: zero
    for key in keys:
        assert pq.read_table(lake_file(layout.lake, "transcript",
                key)).column("policy_version").to_pylist()[:1] in ([1], [])

    # Observing the same policy again changes no data version: nothing is requested.
    observe(defs, instance)
    assert automation.tick() == {}


def test_embed_policy_change_leaves_the_transcripts_alone(layout, instance, two_videos):
    defs, keys, automation = two_videos
    automation.run(automation.tick())
    PolicyStore(layout.metrics_db).set("embed", {"model": "all-MiniLM-L6-v2", "window_sentences": 3}, "user",
        "wider windows")
    observe(defs, instance)
    assert automation.tick() == {key: ["clip_copy", "clips", "segments", "topics", "transcript_embeddings"]
            for key in keys}


def test_vision_policy_change_reruns_the_vision_branch_and_what_ranks_on_it(layout, instance, two_videos):
    defs, keys, automation = two_videos
    automation.run(automation.tick())
    before = materializations(instance)
    transcripts = {k: lake_file(layout.lake, "transcript", k).stat().st_mtime_ns for k in keys}
    PolicyStore(layout.metrics_db).set("vision", {"sample_fps": 1.0}, "user", "denser sampling")
    observe(defs, instance)
    requested = automation.tick()
    assert requested == {key: ["clip_copy", "clips", "keyframes", "segments", "visual_analysis"] for key in keys}
    automation.run(requested)
    assert materializations(instance) - before == Counter(
        {"keyframes": 2, "visual_analysis": 2, "segments": 2, "clip_copy": 2, "clips": 2})
    # The transcript is untouched: no new materialization and the same file.
    assert {k: lake_file(layout.lake, "transcript", k).stat().st_mtime_ns for k in keys} == transcripts


def test_clip_policy_change_rerenders_only_the_clips(layout, instance, two_videos):
    defs, keys, automation = two_videos
    automation.run(automation.tick())
    before = materializations(instance)
    new = change_policy(layout, defs, instance, "clip", "shorter tiktoks",
        lambda body: body["platforms"]["tiktok"].update(max_seconds=30))
    requested = automation.tick()
    assert requested == {key: ["clips"] for key in keys}
    automation.run(requested)
    assert materializations(instance) - before == Counter({"clips": 2})
    rows = pq.read_table(lake_file(layout.lake, "clips", keys[0])).to_pylist()
    assert rows and all(r["duration"] <= 30 and r["policy_version"] == new.version for r in rows)


def test_segment_policy_change_reranks_without_touching_the_understanding_stages(layout, instance, two_videos):
    defs, keys, automation = two_videos
    automation.run(automation.tick())
    before = materializations(instance)
    emotion_files = {k: lake_file(layout.lake, "emotion", k).stat().st_mtime_ns for k in keys}
    new = change_policy(layout, defs, instance, "segment", "hooks matter most",
        lambda body: body["weights"].update(hook=0.6))
    requested = automation.tick()
    assert requested == {key: ["clip_copy", "clips", "segments"] for key in keys}
    automation.run(requested)
    assert materializations(instance) - before == Counter({"segments": 2, "clip_copy": 2, "clips": 2})
    assert {k: lake_file(layout.lake, "emotion", k).stat().st_mtime_ns for k in keys} == emotion_files
    rows = pq.read_table(lake_file(layout.lake, "segments", keys[0])).to_pylist()
    assert rows and {r["policy_version"] for r in rows} == {new.version}
    assert all(r["hook_contrib"] == pytest.approx(0.6 * r["hook"], abs=1e-4) for r in rows)


def test_reference_beside_the_upload_gives_a_wer_row(layout, two_videos):
    _, keys, _ = two_videos
    [quality] = pq.read_table(lake_file(layout.lake, "transcript_quality", keys[0])).to_pylist()
    assert 0 <= quality["wer"] <= 0.15 and quality["reference_words"] == len(SAMPLE_TEXT.split())
    assert pq.read_table(lake_file(layout.lake, "transcript_quality", keys[1])).num_rows == 0  # no reference
    with metrics_view(layout.home) as conn:  # rows still spooled included
        [(params,)] = conn.execute("select params from metrics where asset = 'transcript_quality' and video = ?",
            [keys[0]]).fetchall()
    assert '"reference": true' in params and f'"wer": {quality["wer"]}' in params


def test_stale_sweep_requests_videos_made_under_an_older_policy(layout, instance, two_videos):
    defs, keys, _ = two_videos
    resources = {k: v for k, v in defs.resources.items() if k in ("policies", "metrics")}
    context = dg.build_schedule_context(instance=instance, resources=resources)
    assert isinstance(stale_sweep_schedule(context), dg.SkipReason)
    store = PolicyStore(layout.metrics_db)
    body = store.current("asr").body
    body["thresholds"]["clean_min_snr_db"] = 25.0
    new = store.set("asr", body, "user", "stricter clean threshold")
    requests = stale_sweep_schedule(dg.build_schedule_context(instance=instance, resources=resources))
    assert sorted(r.partition_key for r in requests) == sorted(keys)
    assert {r.run_key for r in requests} == {f"stale-{k}-{new.sha256[:12]}" for k in keys}


def test_duplicate_upload_of_a_processed_file_invokes_no_model(layout, instance, media, two_videos):
    invocations = model_invocations(layout)
    layout.uploads.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(media["short"], layout.uploads / "same bytes, new name.mp4")
    cursor, results = None, []
    for _ in range(4):  # seen, settled and taken (in the tick: it is small), then nothing new to add
        results.append(tick(instance, layout, cursor))
        cursor = results[-1].cursor
    assert [r.job_name for result in results for r in result.run_requests] == []
    assert all(result.dynamic_partitions_requests == [] for result in results)
    assert model_invocations(layout) == invocations
    assert len(instance.get_dynamic_partitions("videos")) == 2
