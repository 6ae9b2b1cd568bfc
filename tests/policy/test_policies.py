import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_assets.cli import main
from ai_assets.policy.documents import DEFAULTS, PolicyError, PolicyStore, default_policy, validate

AVAILABLE = {"whisper": ["base", "tiny.en"], "embedding": ["all-MiniLM-L6-v2"]}


def asr_body(**clean):
    body = json.loads(json.dumps(DEFAULTS["asr"]))
    body["classes"]["clean_single"].update(clean)
    return body


@pytest.mark.parametrize(
    ("domain", "body", "message"),
    [
        ("speech", {}, "unknown policy domain 'speech' (domains: asr, vision, embed, clip, segment)"),
        ("asr", {"classes": {"clean_single": DEFAULTS["asr"]["classes"]["clean_single"]}},
            "classes must be exactly ['clean_single', 'noisy', 'multi_speaker'] (missing ['multi_speaker', 'noisy']"),
        ("asr", asr_body(beam_size=0), "classes.clean_single.beam_size: Input should be greater than or equal to 1"),
        ("asr", asr_body(batch_size=500), "classes.clean_single.batch_size: Input should be less than or equal to 64"),
        ("asr", asr_body(compute_type="int4"), "classes.clean_single.compute_type: Input should be"),
        ("asr", asr_body(temperature=0.2), "classes.clean_single.temperature: Extra inputs are not permitted"),
        ("asr", asr_body(model="large-v3"), "model large-v3 not available (available: base, tiny.en)"),
        ("vision", {"sample_fps": 0}, "sample_fps: Input should be greater than 0"),
        ("embed", {"model": "e5-large"}, "model e5-large not available (available: all-MiniLM-L6-v2)"),
        ("segment", {**DEFAULTS["segment"], "weights": {**DEFAULTS["segment"]["weights"], "laughs": 0.1}},
         "weights must name exactly ['hook', 'emotion', 'speech_rate', 'speaker_dynamics', 'visual', 'completeness', "
         "'speech_density'] (missing [], unknown ['laughs'])"),
        ("segment", {**DEFAULTS["segment"], "weights": {**DEFAULTS["segment"]["weights"], "hook": 1.5}},
            "each weight must lie in [0, 1]"),
        ("segment", {**DEFAULTS["segment"], "platforms": {"tiktok": {"min_seconds": 60, "max_seconds": 30}}},
         "platforms.tiktok: Value error, min_seconds (60) must be below max_seconds (30)"),
        ("segment", {**DEFAULTS["segment"], "safety_threshold": 0}, "safety_threshold: Input should be greater than 0"),
    ],
)
def test_invalid_documents_are_refused_with_the_reason(domain, body, message):
    with pytest.raises(PolicyError) as err:
        validate(domain, body, AVAILABLE)
    assert message in str(err.value)


def test_versions_are_stored_once_per_distinct_body(tmp_path):
    store = PolicyStore(tmp_path / "metrics.duckdb")
    assert store.current("asr").version == 0 and store.current("asr").sha256 == default_policy("asr").sha256
    first = store.set("asr", asr_body(beam_size=5), "user", "beam 5 everywhere")
    assert (first.version, first.author, first.reason) == (1, "user", "beam 5 everywhere")
    assert store.set("asr", asr_body(beam_size=5), "user", "again").version == 1  # identical body: nothing stored
    second = store.set("asr", asr_body(batch_size=16), "sensor", "faster")
    assert [p.version for p in store.history("asr")] == [0, 1, 2]
    assert store.current("asr") == second and second.sha256 != first.sha256
    assert store.current("embed").version == 0  # domains are independent
    with pytest.raises(PolicyError, match="a reason is required"):
        store.set("asr", asr_body(), "user", "  ")
    with pytest.raises(PolicyError, match="author must be one of"):
        store.set("asr", asr_body(), "robot", "x")


def test_cli_sets_shows_and_lists_and_refuses_bad_edits(layout, capsys):
    assert main(["policy", "set", "asr", "--set", "classes.noisy.model=base", "--reason",
            "noisy audio needs base"]) == 0
    out = capsys.readouterr().out
    assert "asr policy v1 stored" in out
    assert "no video's outputs depend on what changed; nothing to rerun" in out  # no video processed yet
    assert main(["refresh", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "nothing is stale"
    assert main(["policy", "set", "asr", "--set", "classes.clean_single.beam_size=0", "--reason", "bad"]) == 2
    assert (
        "error: invalid asr policy: classes.clean_single.beam_size: Input should be greater than or equal to 1"
        in capsys.readouterr().err
    )
    assert main(["policy", "set", "asr", "--set", "classes.clean_single.model=whisper-9", "--reason", "bad"]) == 2
    assert "model whisper-9 not available" in capsys.readouterr().err
    assert main(["policy", "set", "asr", "--set", "nosuch.section.x=1", "--reason", "bad"]) == 2
    assert "'nosuch' is not a section of the asr policy" in capsys.readouterr().err
    assert main(["policy", "show", "asr"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("asr v1 (user,") and '"model": "base"' in shown
    assert main(["policy", "history", "asr"]) == 0
    history = capsys.readouterr().out.splitlines()
    assert "| 1 |" in history[2] and "noisy audio needs base" in history[2] and "built-in default" in history[3]
    assert [p.version for p in PolicyStore(layout.metrics_db).history("asr")] == [0, 1]


def test_an_asr_policy_stored_before_the_three_classes_still_reads():
    from ai_assets.policy.documents import AsrPolicy

    old = {"multilingual_model": "base", "classes": {
        "clean_single": {"model": "tiny.en", "beam_size": 1, "batch_size": 8},
        "noisy_or_multi": {"model": "base", "beam_size": 5, "batch_size": 4},
    }}
    parsed = AsrPolicy.model_validate(old)
    assert set(parsed.classes) == {"clean_single", "noisy", "multi_speaker"}
    assert parsed.classes["noisy"] == parsed.classes["multi_speaker"] and parsed.classes["noisy"].model == "base"
    assert parsed.classes["clean_single"].model == "tiny.en"


def test_an_old_stored_asr_document_can_be_edited_with_the_new_class_names(layout, capsys):
    import duckdb

    from ai_assets.policy.documents import canonical

    old = {"multilingual_model": "base", "thresholds": {"clean_min_snr_db": 15.0, "clean_max_speakers": 1},
           "classes": {"clean_single": {"model": "tiny.en", "beam_size": 1, "batch_size": 8},
                       "noisy_or_multi": {"model": "tiny.en", "beam_size": 5, "batch_size": 8}}}
    PolicyStore(layout.metrics_db).set("embed", {"model": "all-MiniLM-L6-v2", "window_sentences": 3}, "user", "x")
    with duckdb.connect(str(layout.metrics_db)) as conn:  # as an earlier version stored it
        conn.execute("INSERT INTO policies VALUES ('asr', 1, now(), 'user', 'old', ?, 'sha')", [canonical(old)])
    assert main(["policy", "set", "asr", "--set", "classes.multi_speaker.model=base", "--reason", "meetings"]) == 0
    current = PolicyStore(layout.metrics_db).current("asr").parsed()
    assert current.classes["multi_speaker"].model == "base" and current.classes["noisy"].model == "tiny.en"
    assert current.rule_for("noisy_or_multi") == current.classes["noisy"]


@pytest.mark.parametrize(("seconds", "clips", "segments"), [
    (0.0, 3, 10), (60.0, 3, 10), (1080.0, 3, 10), (1440.0, 4, 12), (3600.0, 10, 30), (3605.0, 10, 30),
    (5400.0, 15, 45),
    (7200.0, 20, 60), (4 * 3600.0, 40, 100), (24 * 3600.0, 40, 100)])
def test_long_videos_get_more_clips_and_ranked_segments(seconds, clips, segments):
    assert default_policy("clip").parsed().clips_for(seconds) == clips
    assert default_policy("segment").parsed().ranked_for(seconds) == segments


@given(st.integers(1, 20), st.integers(0, 40), st.floats(0, 10 * 3600), st.floats(0, 3600))
def test_the_count_never_falls_below_top_k_never_passes_the_cap_and_grows_with_length(top_k, per_hour, seconds, more):
    clip = default_policy("clip").parsed().model_copy(update={"top_k": top_k, "per_hour": per_hour})
    count = clip.clips_for(seconds)
    assert top_k <= count <= max(top_k, 40)
    assert clip.clips_for(seconds + more) >= count
    if per_hour == 0:
        assert count == top_k
