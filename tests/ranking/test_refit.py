"""Refitting the segment weights from feedback: direction, evidence, refusal, and rollback."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ai_assets.policy.documents import DEFAULTS, Policy, PolicyStore
from ai_assets.ranking.refit import (
    REFIT_REASON,
    RefitSettings,
    auc,
    label,
    propose,
    rejected_refits,
    repeats_a_rejected_refit,
    rollback_target,
)
from ai_assets.storage.tables import SIGNALS

CURRENT = DEFAULTS["segment"]["weights"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def feedback(n: int, driver: str, seed: int = 0, start: datetime = T0, flip: bool = False) -> list[dict]:
    """Clips users select when `driver` is high (or low, with flip), whatever the other signals say."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        values = {s: float(rng.uniform()) for s in SIGNALS}
        liked = values[driver] > 0.5
        rows.append({"feedback_id": f"{seed}-{i:04d}", "created_at": start + timedelta(minutes=i),
                     "selected": liked != flip, "rating": None, **values})
    return rows


def test_labels_come_from_selection_then_rating():
    assert label({"selected": True, "rating": 1}) == 1
    assert label({"selected": False, "rating": 5}) == 0
    assert [label({"selected": None, "rating": r}) for r in (1, 2, 3, 4, 5)] == [0, 0, None, 1, 1]
    assert label({"selected": None, "rating": None, "views": 100}) is None


def test_auc_counts_ordered_pairs():
    assert auc(np.array([0.9, 0.8, 0.1]), np.array([1, 1, 0])) == 1.0
    assert auc(np.array([0.1, 0.9]), np.array([1, 0])) == 0.0
    assert auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    assert auc(np.array([0.5]), np.array([1])) is None


def test_feedback_driven_by_the_hook_raises_the_hook_weight():
    proposal, reason = propose(feedback(200, "hook"), CURRENT)
    assert proposal is not None, reason
    weights = proposal.weights
    assert weights["hook"] > CURRENT["hook"] + 0.2
    assert all(weights[s] < CURRENT[s] for s in SIGNALS if s != "hook")
    assert proposal.evidence["auc_refit"] > proposal.evidence["auc_current"] + 0.1
    assert proposal.evidence["held_out"] + proposal.evidence["train"] == 200
    assert reason.startswith(REFIT_REASON) and "hook 0.20→" in reason
    assert sum(weights.values()) == pytest.approx(sum(CURRENT.values()), abs=0.01)


def test_little_evidence_moves_the_weights_little():
    small, _ = propose(feedback(40, "hook", seed=1), CURRENT, RefitSettings(min_rows=30, min_held_out=5))
    large, _ = propose(feedback(400, "hook", seed=1), CURRENT)
    assert small is not None and large is not None
    assert CURRENT["hook"] < small.weights["hook"] < large.weights["hook"]


def test_too_few_rows_or_no_gain_proposes_nothing():
    proposal, reason = propose(feedback(20, "hook"), CURRENT)
    assert proposal is None and reason == "20 labelled feedback rows; a refit needs 30"
    # Selection that follows the current score already cannot be improved by the margin.
    rng = np.random.default_rng(3)
    rows = []
    for i in range(200):
        values = {s: float(rng.uniform()) for s in SIGNALS}
        score = sum(CURRENT[s] * values[s] for s in SIGNALS)
        rows.append({"feedback_id": f"x{i}", "created_at": T0, "selected": score > 0.5, "rating": None, **values})
    proposal, reason = propose(rows, CURRENT)
    assert proposal is None and reason.startswith("a refit would not help")


def test_a_refit_that_newer_feedback_disagrees_with_is_rolled_back(tmp_path):
    store = PolicyStore(tmp_path / "metrics.duckdb")
    base = store.set("segment", DEFAULTS["segment"], author="user", reason="start")
    proposal, reason = propose(feedback(200, "hook"), CURRENT)
    refit = store.set("segment", {**base.body, "weights": proposal.weights}, author="sensor", reason=reason)
    history = store.history("segment")
    later = refit.created_at + timedelta(seconds=1)
    # After the refit, users select on completeness and reject strong hooks.
    target, note = rollback_target(history, feedback(60, "hook", seed=5, start=later, flip=True))
    assert target is not None and target.version == base.version
    assert note.startswith(f"rollback to v{base.version}")
    # Feedback from before the refit is not evidence against it.
    target, note = rollback_target(history, feedback(60, "hook", seed=5, start=T0, flip=True))
    assert target is None and "0 labelled rows since the refit" in note
    # Feedback that agrees keeps it.
    target, note = rollback_target(history, feedback(60, "hook", seed=6, start=later))
    assert target is None and note.startswith(f"refit v{refit.version} holds")


def test_a_user_version_is_never_rolled_back():
    user = Policy("segment", 1, T0, "user", "tuned by hand", DEFAULTS["segment"])
    target, note = rollback_target([user, user], feedback(60, "hook", flip=True, start=T0 + timedelta(days=1)))
    assert target is None and note == "the current segment policy is not a refit"


def test_a_rolled_back_refit_is_not_proposed_again(tmp_path):
    """The sensor's full loop: refit, rollback, then the same old feedback would propose the same refit again."""
    from sensors.optimization import refit_segment_policy

    store = PolicyStore(tmp_path / "metrics.duckdb")
    base = store.set("segment", DEFAULTS["segment"], author="user", reason="start")
    old = feedback(200, "hook")
    refit, _ = refit_segment_policy(store, old, RefitSettings())
    assert refit is not None and refit.reason.startswith(REFIT_REASON)
    later = refit.created_at + timedelta(seconds=1)
    rolled, note = refit_segment_policy(store, old + feedback(60, "hook", seed=5, start=later, flip=True),
        RefitSettings())
    assert rolled is not None and rolled.body == base.body and note.startswith(f"rollback to v{base.version}")
    assert [p.version for p in rejected_refits(store.history("segment"))] == [refit.version]
    # The old feedback alone still favours the hook, but that refit was judged and undone: no flip-flop.
    again, note = refit_segment_policy(store, old, RefitSettings())
    assert again is None and note == f"the refit matches v{refit.version}, which was rolled back; not proposed again"
    assert store.current("segment").version == rolled.version
    # A clearly different refit (driven by another signal) is still proposed.
    other, _ = refit_segment_policy(store, feedback(200, "completeness", seed=9), RefitSettings())
    assert other is not None and repeats_a_rejected_refit(other.body["weights"], store.history("segment")) is None
