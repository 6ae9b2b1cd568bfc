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
from ai_assets.stale import quiet_runner, refresh, stale_pairs, stale_reasons
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


def changed(automation: AutomationTicker) -> dict[str, set[str]]:
    """{asset: partitions} that automation reran until nothing more was requested."""
    ran: dict[str, set[str]] = {}
    for asset, partition in automation.settle():
        ran.setdefault(asset, set()).add(partition)
    return ran


TRANSCRIPT_CHILDREN = {"emotion", "safety", "topics", "transcript_embeddings", "transcript_quality",
                       "transcript_shadow", "transcript_speakers", "segments", "clips"}


def test_asr_changes_rerun_exactly_the_videos_whose_rule_changed(layout, instance, two_videos):
    defs, keys, automation = two_videos
    # process_video made every stage, the shadow evaluation included: automation has nothing to add.
    assert changed(automation) == {}
    before = materializations(instance)
    assert set(before.values()) == {2}
    assert PolicyStore(layout.metrics_db).current("asr").version == 0
    classes = {pq.read_table(lake_file(layout.lake, "audio_profile", k)).column("complexity_class")[0].as_py()
               for k in keys}
    assert classes == {"clean_single"}

    # An execution-only field, and the rule of a class no video has: nothing reruns.
    change_policy(layout, defs, instance, "asr", "bigger batches",
        lambda body: body["classes"]["clean_single"].update(batch_size=16))
    change_policy(layout, defs, instance, "asr", "wider beam for noisy audio",
        lambda body: body["classes"]["noisy"].update(beam_size=3))
    assert changed(automation) == {}
    assert materializations(instance) == before

    # The rule of their class: the transcripts and what reads them, nothing above or beside.
    new = change_policy(layout, defs, instance, "asr", "beam 2 on clean audio",
        lambda body: body["classes"]["clean_single"].update(beam_size=2))
    ran = changed(automation)
    assert {"transcript"} | TRANSCRIPT_CHILDREN <= set(ran)
    assert not {"source_video", "audio", "diarization", "audio_profile", "keyframes", "visual_analysis"} & set(ran)
    # The transcript and what reads it directly, for both videos; clip_copy reads only the ranking, so only where
    # the ranking came out different.
    assert all(ran[name] == set(keys) for name in {"transcript"} | TRANSCRIPT_CHILDREN)
    assert set(ran) <= {"transcript", "clip_copy"} | TRANSCRIPT_CHILDREN
    assert materializations(instance) - before == Counter({name: len(ran[name]) for name in ran})
    for key in keys:
        assert set(pq.read_table(lake_file(layout.lake, "transcript", key)).column("policy_version").to_pylist()) <= {
            new.version}

    # Observing the same policy again changes no data version: nothing is requested.
    observe(defs, instance)
    assert changed(automation) == {}

    # A rollback restores the earlier rule, so the same videos rerun again.
    store = PolicyStore(layout.metrics_db)
    rollback = store.set("asr", store.history("asr")[-2].body, "sensor", "rollback: beam 2 did not help")
    observe(defs, instance)
    assert {"transcript"} | TRANSCRIPT_CHILDREN <= set(changed(automation))
    assert rollback.version == new.version + 1


def test_rematerializing_with_equal_output_reruns_nothing_below(layout, instance, two_videos):
    defs, keys, automation = two_videos
    changed(automation)
    before = materializations(instance)
    # As a user clicking "Materialize" on segments in the UI: equal output, so clips and copy stay.
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(instance=instance, partition_key=keys[0], run_config=QUIET,
        asset_selection=[dg.AssetKey("segments")]).success
    assert changed(automation) == {}
    assert materializations(instance) - before == Counter({"segments": 1})
    assert stale_pairs(defs, instance, keys) == {}


def test_embed_clip_and_segment_changes_stay_in_their_lane(layout, instance, two_videos):
    defs, keys, automation = two_videos
    changed(automation)
    transcripts = {k: lake_file(layout.lake, "transcript", k).stat().st_mtime_ns for k in keys}

    PolicyStore(layout.metrics_db).set("embed", {"model": "all-MiniLM-L6-v2", "window_sentences": 3}, "user",
        "wider windows")
    observe(defs, instance)
    ran = changed(automation)
    assert {"transcript_embeddings", "topics", "segments"} <= set(ran) <= {
        "transcript_embeddings", "topics", "segments", "clips", "clip_copy"}

    before = materializations(instance)
    new = change_policy(layout, defs, instance, "clip", "shorter tiktoks",
        lambda body: body["platforms"]["tiktok"].update(max_seconds=30))
    assert changed(automation) == {"clips": set(keys)}
    assert materializations(instance) - before == Counter({"clips": 2})
    rows = pq.read_table(lake_file(layout.lake, "clips", keys[0])).to_pylist()
    assert rows and all(r["duration"] <= 30 and r["policy_version"] == new.version for r in rows)

    # copy_top_k only changes which segments get copy: clip_copy alone reruns.
    change_policy(layout, defs, instance, "segment", "copy for the top 2",
        lambda body: body.update(copy_top_k=2))
    assert changed(automation) == {"clip_copy": set(keys)}

    # A ranking change: segments, and below it what reads the new ranking.
    before = materializations(instance)
    emotion_files = {k: lake_file(layout.lake, "emotion", k).stat().st_mtime_ns for k in keys}
    # The dry run lists exactly the first wave; the refresh then reruns what the automation would.
    assert stale_pairs(defs, instance, keys) == {}
    new = change_policy(layout, defs, instance, "segment", "hooks matter most",
        lambda body: body["weights"].update(hook=0.6))
    assert stale_pairs(defs, instance, keys) == {key: ["segments"] for key in keys}
    assert "has a new dependency data version: segment_policy" in stale_reasons(defs, instance, keys[0], "segments")
    result = refresh(defs, instance, keys, quiet_runner(defs, instance), echo=lambda _: None)
    assert result["failed"] == {}
    assert sorted(set(result["ran"])) == sorted((s, k) for k in keys for s in ("segments", "clips", "clip_copy"))
    assert materializations(instance) - before == Counter({"segments": 2, "clip_copy": 2, "clips": 2})
    assert changed(automation) == {}  # the automation agrees: nothing left
    assert {k: lake_file(layout.lake, "emotion", k).stat().st_mtime_ns for k in keys} == emotion_files
    assert {k: lake_file(layout.lake, "transcript", k).stat().st_mtime_ns for k in keys} == transcripts
    rows = pq.read_table(lake_file(layout.lake, "segments", keys[0])).to_pylist()
    assert rows and {r["policy_version"] for r in rows} == {new.version}
    assert all(r["hook_contrib"] == pytest.approx(0.6 * r["hook"], abs=1e-4) for r in rows)


def test_vision_changes_rerun_the_vision_branch_only(layout, instance, two_videos):
    defs, keys, automation = two_videos
    changed(automation)
    transcripts = {k: lake_file(layout.lake, "transcript", k).stat().st_mtime_ns for k in keys}
    PolicyStore(layout.metrics_db).set("vision", {"sample_fps": 1.0}, "user", "denser sampling")
    observe(defs, instance)
    ran = changed(automation)
    assert {"keyframes", "visual_analysis"} <= set(ran) <= {"keyframes", "visual_analysis", "segments", "clips",
                                                             "clip_copy"}
    # The VLM batch size is read by visual_analysis only: keyframes stay.
    before = materializations(instance)
    PolicyStore(layout.metrics_db).set("vision", {"sample_fps": 1.0, "max_images_per_call": 10}, "user",
        "smaller VLM calls")
    observe(defs, instance)
    assert "keyframes" not in changed(automation)
    assert (materializations(instance) - before)["visual_analysis"] == 2
    assert {k: lake_file(layout.lake, "transcript", k).stat().st_mtime_ns for k in keys} == transcripts


def test_reference_beside_the_upload_gives_a_wer_row(layout, two_videos):
    _, keys, _ = two_videos
    [quality] = pq.read_table(lake_file(layout.lake, "transcript_quality", keys[0])).to_pylist()
    assert 0 <= quality["wer"] <= 0.15 and quality["reference_words"] == len(SAMPLE_TEXT.split())
    assert pq.read_table(lake_file(layout.lake, "transcript_quality", keys[1])).num_rows == 0  # no reference
    with metrics_view(layout.home) as conn:  # rows still spooled included
        [(params,)] = conn.execute("select params from metrics where asset = 'transcript_quality' and video = ?",
            [keys[0]]).fetchall()
    assert '"reference": true' in params and f'"wer": {quality["wer"]}' in params


def test_stale_sweep_requests_the_stale_stages(layout, instance, two_videos):
    defs, keys, automation = two_videos
    changed(automation)
    repository = defs.get_repository_def()
    context = dg.build_schedule_context(instance=instance, repository_def=repository)
    assert isinstance(stale_sweep_schedule(context), dg.SkipReason)
    store = PolicyStore(layout.metrics_db)
    body = store.current("asr").body
    body["thresholds"]["clean_min_snr_db"] = 25.0
    store.set("asr", body, "user", "stricter clean threshold")
    observe(defs, instance)
    requests = stale_sweep_schedule(dg.build_schedule_context(instance=instance, repository_def=repository))
    assert sorted(r.partition_key for r in requests) == sorted(keys)
    # The stale stage first, and what is below it in the same run (nothing else carries it down at night).
    assert all(r.asset_selection[0] == dg.AssetKey("audio_profile") and dg.AssetKey("clips") in r.asset_selection
               and dg.AssetKey("source_video") not in r.asset_selection for r in requests)
    assert len({r.run_key for r in requests}) == 2


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
