"""Optimization rules from synthetic metrics: upgrade, downgrade, too few samples, hysteresis, rollback."""

import time
from dataclasses import replace
from datetime import UTC, datetime

import dagster as dg

from ai_assets.definitions import build_resources
from ai_assets.policy.documents import AsrRule, Policy, PolicyStore, default_policy
from ai_assets.policy.optimizer import (
    OptimizerSettings,
    Sample,
    decide,
    rule_sha,
    samples_from_metrics,
    step_down,
    step_up,
)
from ai_assets.storage.metrics import MetricRow, MetricsStore
from sensors.optimization import optimization_sensor

AVAILABLE = ["base", "tiny.en"]
SETTINGS = OptimizerSettings(min_samples=3, require_shadow_evidence=False)


def policy(version: int, body: dict, author="sensor") -> Policy:
    return Policy("asr", version, datetime.now(UTC), author, f"v{version}", body)


def samples(cls: str, rule: AsrRule, n: int, confidence: float, rtf: float = 0.05, wer=None, status="success", start=0):
    return [Sample(f"v{start + i}", cls, rule_sha(rule), status, rtf, confidence, wer, rule.batch_size)
        for i in range(n)]


def current():
    base = default_policy("asr")
    return base, base.parsed()


def test_steps_follow_the_model_ladder_then_the_beam():
    rule = AsrRule(model="tiny.en", beam_size=1, batch_size=8)
    assert step_up(rule, AVAILABLE).model == "base"
    assert step_up(rule.model_copy(update={"model": "base"}), AVAILABLE).beam_size == 5
    assert step_up(rule.model_copy(update={"model": "base", "beam_size": 5}), AVAILABLE) is None
    assert step_down(rule.model_copy(update={"beam_size": 5}), AVAILABLE).beam_size == 1
    assert step_down(rule.model_copy(update={"model": "base"}), AVAILABLE).model == "tiny.en"
    assert step_down(rule, AVAILABLE) is None


def test_low_confidence_upgrades_the_class_to_base_with_a_reason():
    base, parsed = current()
    rule = parsed.classes["noisy"]
    decision = decide([base], samples("noisy", rule, 4, confidence=0.41, rtf=0.06), [], AVAILABLE, SETTINGS)
    assert decision.changed
    assert decision.body["classes"]["noisy"]["model"] == "base"
    assert decision.body["classes"]["clean_single"] == base.body["classes"]["clean_single"]
    assert decision.reason.startswith("noisy: quality below target (confidence 0.410")
    assert decision.reason.endswith("tiny.en beam 5 batch 8 -> base beam 5 batch 8, rtf 0.114 projected within budget "
        "0.5")


def test_high_wer_also_counts_as_low_quality():
    base, parsed = current()
    rule = parsed.classes["clean_single"]
    decision = decide([base], samples("clean_single", rule, 3, confidence=0.9, wer=0.30), [], AVAILABLE, SETTINGS)
    assert decision.body["classes"]["clean_single"]["model"] == "base"
    assert "WER 30.0%" in decision.reason


def test_too_few_samples_change_nothing():
    base, parsed = current()
    decision = decide([base], samples("noisy", parsed.classes["noisy"], 2, confidence=0.2), [],
        AVAILABLE, SETTINGS)
    assert not decision.changed
    assert "noisy: 2 of 3 samples under the current rule; no change" in decision.notes


def test_hysteresis_leaves_a_class_near_the_target_alone():
    base, parsed = current()
    for confidence in (0.56, 0.64):  # within 0.60 ± 0.05: neither upgrade nor downgrade
        near = samples("noisy", parsed.classes["noisy"], 5, confidence=confidence, rtf=0.6)
        decision = decide([base], near, [], AVAILABLE, SETTINGS)
        assert decision.body is None or decision.body["classes"]["noisy"]["model"] == "tiny.en"
        assert decision.body is None or decision.body["classes"]["noisy"]["beam_size"] == 5


def test_over_budget_with_quality_to_spare_downgrades():
    base, parsed = current()
    decision = decide([base], samples("noisy", parsed.classes["noisy"], 3, confidence=0.9, rtf=0.8),
        [], AVAILABLE, SETTINGS)
    assert decision.body["classes"]["noisy"]["beam_size"] == 1
    assert decision.reason.startswith("noisy: rtf 0.800 over budget 0.5 with quality to spare")


def test_upgrade_over_budget_is_refused():
    base, parsed = current()
    slow = samples("noisy", parsed.classes["noisy"], 3, confidence=0.3, rtf=0.4)
    decision = decide([base], slow, [], AVAILABLE, SETTINGS)
    assert not decision.changed
    assert any("would cost rtf 0.760 (projected) > budget 0.5" in n for n in decision.notes)


def test_upgrade_waits_for_shadow_evidence_then_uses_its_measured_cost():
    base, parsed = current()
    rule = parsed.classes["noisy"]
    low = samples("noisy", rule, 3, confidence=0.3)
    settings = OptimizerSettings(min_samples=3, require_shadow_evidence=True, min_shadow_samples=2)
    waiting = decide([base], low, [], AVAILABLE, settings)
    assert not waiting.changed
    assert any("waiting for shadow evidence on base beam 5 batch 8 (0 of 2)" in n for n in waiting.notes)
    candidate = step_up(rule, AVAILABLE)
    shadow = samples("noisy", candidate, 2, confidence=0.7, rtf=0.2)
    decision = decide([base], low, shadow, AVAILABLE, settings)
    assert decision.body["classes"]["noisy"]["model"] == "base"
    assert "rtf 0.200 measured in 2 shadow runs" in decision.reason


def test_shadow_runs_of_another_model_that_write_the_same_words_block_the_upgrade():
    base, parsed = current()
    rule = parsed.classes["noisy"]  # tiny.en beam 5: the next step is another model
    candidate = step_up(rule, AVAILABLE)
    assert candidate.model != rule.model
    same_words = [replace(s, agreement_wer=0.004) for s in samples("noisy", candidate, 2, confidence=0.9, rtf=0.1)]
    decision = decide([base], samples("noisy", rule, 3, confidence=0.3), same_words, AVAILABLE, SETTINGS)
    assert not decision.changed
    assert any("wrote the same words on the same 2 videos (agreement WER 0.4%)" in n for n in decision.notes)
    # Its confidence (0.28 on its own scale) is never held against tiny.en's: other words go ahead.
    other_words = [replace(s, confidence=0.28, agreement_wer=0.12) for s in same_words]
    assert decide([base], samples("noisy", rule, 3, confidence=0.3), other_words, AVAILABLE, SETTINGS).changed


def test_shadow_runs_of_the_same_model_must_be_more_confident_on_the_same_videos():
    base, parsed = current()
    rule = parsed.classes["clean_single"].model_copy(update={"model": "base"})  # at the top: the step is beam 5
    body = {**base.body, "classes": {**base.body["classes"], "clean_single": rule.model_dump(mode="json")}}
    candidate = step_up(rule, AVAILABLE)
    assert (candidate.model, candidate.beam_size) == ("base", 5)
    shadow = samples("clean_single", candidate, 2, confidence=0.28, rtf=0.1)
    decision = decide([policy(1, body, "user")], samples("clean_single", rule, 3, confidence=0.3), shadow, AVAILABLE,
        SETTINGS)
    assert not decision.changed
    assert any("was no more confident on the same 2 videos (0.280 vs 0.300)" in n for n in decision.notes)


def test_a_worse_new_version_is_rolled_back_on_the_same_videos_and_not_retried():
    base, parsed = current()
    old_rule = parsed.classes["noisy"]
    upgraded = decide([base], samples("noisy", old_rule, 3, confidence=0.5), [], AVAILABLE, SETTINGS)
    v1 = policy(1, upgraded.body)
    new_rule = v1.parsed().classes["noisy"]
    history = [base, v1]
    before = samples("noisy", old_rule, 3, confidence=0.5, wer=0.20)
    # The same three videos rerun under the new rule (another model: its confidence is not compared).
    after = samples("noisy", new_rule, 3, confidence=0.95, wer=0.30)
    decision = decide(history, before + after, [], AVAILABLE, SETTINGS)
    assert decision.body == base.body
    assert decision.reason.startswith("rollback of v1 for noisy: base beam 5 batch 8 did worse than tiny.en "
        "beam 5 batch 8")
    assert "WER 30.0% vs 20.0%; on the same 3 videos" in decision.reason and "confidence" not in decision.reason
    assert decision.rejected == {"noisy": [rule_sha(new_rule)]}
    # Back on the old rule, still below target: the rejected upgrade is not proposed again.
    again = decide([base, v1, policy(2, decision.body)], before + after, [], AVAILABLE, SETTINGS, decision.rejected)
    assert not again.changed
    assert any("was rolled back before; not retried" in n for n in again.notes)


def test_a_rollback_never_compares_different_videos():
    base, parsed = current()
    old_rule = parsed.classes["noisy"]
    v1 = policy(1, decide([base], samples("noisy", old_rule, 3, confidence=0.5), [], AVAILABLE, SETTINGS).body)
    new_rule = v1.parsed().classes["noisy"]
    before = samples("noisy", old_rule, 3, confidence=0.5, wer=0.1)
    elsewhere = samples("noisy", new_rule, 3, confidence=0.5, wer=0.4, start=10)  # other, harder videos
    decision = decide([base, v1], before + elsewhere, [], AVAILABLE, SETTINGS)
    assert not decision.reason.startswith("rollback")


def test_confidence_decides_a_rollback_within_one_model():
    base, parsed = current()
    old_rule = parsed.classes["noisy"]
    narrower = old_rule.model_copy(update={"beam_size": 2})
    v1 = policy(1, {**base.body, "classes": {**base.body["classes"], "noisy": narrower.model_dump(mode="json")}})
    before = samples("noisy", old_rule, 3, confidence=0.5)
    after = samples("noisy", narrower, 3, confidence=0.42)
    decision = decide([base, v1], before + after, [], AVAILABLE, SETTINGS)
    assert decision.body == base.body and "confidence 0.420 vs 0.500; on the same 3 videos" in decision.reason


def test_videos_in_another_language_do_not_count_toward_the_english_rule():
    base, parsed = current()
    rule = parsed.classes["noisy"]
    german = [replace(s, language="de", model="base") for s in samples("noisy", rule, 3, confidence=0.3)]
    decision = decide([base], german, [], AVAILABLE, SETTINGS)
    assert not decision.changed
    assert any("noisy: 0 of 3 samples under the current rule" in n for n in decision.notes)
    english = [replace(s, language="en", model="tiny.en") for s in samples("noisy", rule, 3, confidence=0.3)]
    assert decide([base], english, [], AVAILABLE, SETTINGS).changed


def test_an_equal_or_better_new_version_is_kept():
    base, parsed = current()
    old_rule = parsed.classes["noisy"]
    v1 = policy(1, decide([base], samples("noisy", old_rule, 3, confidence=0.5), [], AVAILABLE, SETTINGS).body)
    new_rule = v1.parsed().classes["noisy"]
    good = samples("noisy", old_rule, 3, confidence=0.5, wer=0.2) + samples("noisy", new_rule, 3,
        confidence=0.7, wer=0.2)
    assert not decide([base, v1], good, [], AVAILABLE, SETTINGS).changed


def test_batch_size_follows_the_measured_realtime_factor():
    base, parsed = current()
    rule = parsed.classes["clean_single"]
    slowish = samples("clean_single", rule, 3, confidence=0.62, rtf=0.3)
    decision = decide([base], slowish, [], AVAILABLE, SETTINGS)
    assert decision.body["classes"]["clean_single"]["batch_size"] == 16
    assert "trying batch 16" in decision.reason
    doubled = rule.model_copy(update={"batch_size": 16})
    v1 = policy(1, decision.body)
    worse = samples("clean_single", doubled, 3, confidence=0.62, rtf=0.36, start=10)
    back = decide([base, v1], slowish + worse, [], AVAILABLE, SETTINGS)
    assert back.body["classes"]["clean_single"]["batch_size"] == 8
    assert "batch 8 measured rtf 0.300 vs 0.360 at batch 16" in back.reason


def test_samples_join_wer_and_count_each_video_once_per_rule():
    rows = [
        {"asset": "transcript", "video": "a", "started_at": 1, "status": "success", "realtime_factor": 0.1,
         "confidence": 0.5,
         "params": {"class": "clean_single", "rule_sha": "r1", "batch_size": 8}, "policy_sha256": "p1"},
        {"asset": "transcript", "video": "a", "started_at": 2, "status": "success", "realtime_factor": 0.2,
         "confidence": 0.6,
         "params": {"class": "clean_single", "rule_sha": "r1", "batch_size": 8}, "policy_sha256": "p2"},
        {"asset": "transcript_quality", "video": "a", "started_at": 3, "status": "success", "realtime_factor": None,
            "confidence": None, "params": {"reference": True, "wer": 0.12}, "policy_sha256": "p2"},
        {"asset": "transcript_shadow", "video": "a", "started_at": 4, "status": "success", "realtime_factor": 0.3,
         "confidence": 0.8,
         "params": {"class": "clean_single", "rule_sha": "r2", "candidate": {"model": "base"}, "batch_size": 8},
         "policy_sha256": "p2"},
        {"asset": "transcript_shadow", "video": "b", "started_at": 4, "status": "success", "realtime_factor": None,
         "confidence": None,
         "params": {"class": "clean_single", "sampled": False, "candidate": None}, "policy_sha256": "p2"},
    ]
    found, shadow = samples_from_metrics(rows)
    assert found == [Sample("a", "clean_single", "r1", "success", 0.2, 0.6, 0.12, 8)]
    assert shadow == [Sample("a", "clean_single", "r2", "success", 0.3, 0.8, None, 8, model="base")]


def test_sensor_upgrades_from_metrics_in_duckdb_and_requests_observation(layout, instance):
    """The real sensor, evaluated against a real instance and a real metrics.duckdb."""
    rule = default_policy("asr").parsed().classes["noisy"]
    store = MetricsStore(layout.metrics_db, layout.metrics_spool)
    for i in range(4):
        store.record(MetricRow(asset="transcript", video=f"talk-{i}", run_id="r", started_at=time.time(), seconds=6.0,
            model="tiny.en", params={"class": "noisy", "rule_sha": rule_sha(rule), "batch_size": 8},
                               audio_seconds=100.0, realtime_factor=0.06, confidence=0.38, policy_version=0))
    resources = build_resources(layout)
    # A context manager: the storage root nested in the policy resource is opened and closed with it.
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = optimization_sensor(context)
    assert isinstance(result, dg.RunRequest)
    stored = PolicyStore(layout.metrics_db).current("asr")
    assert (stored.version, stored.author) == (1, "sensor")
    assert stored.body["classes"]["noisy"]["model"] == "base"
    assert "confidence 0.380" in stored.reason and "over 4 videos" in stored.reason
    # The version number, never the body's hash: a rollback to an earlier body still gets a run of its own.
    assert result.run_key == "asr-policy-v1"
    [decision] = PolicyStore(layout.metrics_db).decisions("asr")
    assert (decision.changed, decision.version) == (True, 1) and decision.summary == stored.reason
    assert "| noisy | tiny.en beam 5 batch 8 | 4 | 0.380 | – | 0.060 | 0 | – |" in decision.evidence
    # Same metrics, next tick: the new rule has no samples yet, so nothing changes; that is recorded too, once.
    for _ in range(2):
        with dg.build_sensor_context(instance=instance, resources=resources, cursor=context.cursor) as tick:
            again = optimization_sensor(tick)
        assert isinstance(again, dg.SkipReason)
    assert PolicyStore(layout.metrics_db).current("asr").version == 1
    latest = PolicyStore(layout.metrics_db).decisions("asr")
    assert [d.changed for d in latest] == [False, True]
    assert "noisy: 0 of 3 samples under the current rule" in latest[0].summary
    assert "| noisy | base beam 5 batch 8 | 0 |" in latest[0].evidence
