"""Refitting the segment policy's weights from user feedback, and rolling a refit back.

- Labels: a clip selected, or rated 4–5, is a positive; rejected, or rated 1–2, a negative. Entries
  with neither (a 3, or only views) do not label.
- Split: a stable quarter of the entries (by feedback id) is held out; the rest trains.
- Model: L2-regularised logistic regression on the signal values. Its positive coefficients,
  rescaled to the current weights' total, are the fitted weights; they are shrunk towards the current
  weights by `prior_rows / (rows + prior_rows)`, so little evidence moves them little.
- Evidence: held-out agreement is the AUC of the score (the share of positive/negative pairs the score
  orders correctly). A refit is proposed only when it beats the current weights by `min_gain`.
- Rollback: a refit version is judged on feedback that arrived after it was stored; when its
  agreement there falls `rollback_drop` below the version before it, that version comes back.
- No flip-flop: a refit that was rolled back stays on record in the policy history, and a proposal
  within `REJECTED_TOLERANCE` of it (every weight) is not made again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ai_assets.policy.documents import Policy
from ai_assets.storage.tables import SIGNALS

REFIT_REASON = "refit from feedback"
ROLLBACK_REASON = "rollback"
REJECTED_TOLERANCE = 0.02


@dataclass(frozen=True)
class RefitSettings:
    min_rows: int = 30
    min_held_out: int = 8
    l2: float = 1.0
    prior_rows: float = 20.0
    min_gain: float = 0.02
    rollback_min_rows: int = 10
    rollback_drop: float = 0.03


@dataclass(frozen=True)
class Proposal:
    weights: dict[str, float]
    reason: str
    evidence: dict


def label(row: dict) -> int | None:
    if row.get("selected") is not None:
        return int(bool(row["selected"]))
    rating = row.get("rating")
    if rating is not None and rating != 3:
        return int(rating >= 4)
    return None


def held_out(feedback_id: str) -> bool:
    return int(hashlib.sha256(feedback_id.encode()).hexdigest()[:8], 16) % 4 == 0


def labelled(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signal matrix, labels and the held-out mask of the rows that carry a label."""
    kept = [(r, label(r)) for r in rows]
    kept = [(r, y) for r, y in kept if y is not None and all(r.get(s) is not None for s in SIGNALS)]
    x = np.array([[r[s] for s in SIGNALS] for r, _ in kept], dtype=float).reshape(-1, len(SIGNALS))
    y = np.array([y for _, y in kept], dtype=float)
    mask = np.array([held_out(r["feedback_id"]) for r, _ in kept], dtype=bool)
    return x, y, mask


def auc(scores: np.ndarray, y: np.ndarray) -> float | None:
    """Share of (positive, negative) pairs ordered correctly, ties counting half; None without both classes."""
    pos, neg = scores[y == 1], scores[y == 0]
    if not len(pos) or not len(neg):
        return None
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def logistic_fit(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 50) -> np.ndarray:
    """Coefficients (intercept last) by Newton's method; the intercept is not penalised."""
    design = np.hstack([x, np.ones((len(x), 1))])
    beta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-design @ beta))
        gradient = design.T @ (p - y) + penalty * beta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def _vector(weights: dict[str, float]) -> np.ndarray:
    return np.array([weights[s] for s in SIGNALS])


def propose(rows: list[dict], current: dict[str, float],
        settings: RefitSettings = RefitSettings()) -> tuple[Proposal | None, str]:
    """New weights with their evidence, or None and why not."""
    x, y, mask = labelled(rows)
    if len(y) < settings.min_rows:
        return None, f"{len(y)} labelled feedback rows; a refit needs {settings.min_rows}"
    train_x, train_y, test_x, test_y = x[~mask], y[~mask], x[mask], y[mask]
    if len(test_y) < settings.min_held_out or len(set(train_y)) < 2 or len(set(test_y)) < 2:
        return None, "feedback needs both selected and rejected clips in the training and held-out parts"
    beta = logistic_fit(train_x, train_y, settings.l2)[:-1]
    total = sum(current.values())
    if beta.max() <= 0:
        return None, "no signal predicts selection positively"
    fitted = np.clip(beta, 0, None)
    fitted *= total / fitted.sum()
    trust = len(train_y) / (len(train_y) + settings.prior_rows)
    blended = trust * fitted + (1 - trust) * _vector(current)
    weights = {s: round(float(w), 4) for s, w in zip(SIGNALS, np.clip(blended, 0.0, 1.0), strict=True)}
    before, after = auc(test_x @ _vector(current), test_y), auc(test_x @ _vector(weights), test_y)
    evidence = {
        "rows": len(y), "train": len(train_y), "held_out": len(test_y), "positives": int(y.sum()),
        "auc_current": round(before, 4), "auc_refit": round(after, 4), "trust": round(trust, 3),
        "coefficients": {s: round(float(b), 4) for s, b in zip(SIGNALS, beta, strict=True)},
    }
    if after < before + settings.min_gain:
        return None, f"a refit would not help: held-out agreement {after:.3f} vs {before:.3f} now"
    changes = ", ".join(f"{s} {current[s]:.2f}→{weights[s]:.2f}" for s in SIGNALS
        if abs(weights[s] - current[s]) >= 0.01)
    reason = f"{REFIT_REASON}: held-out agreement {before:.3f}→{after:.3f} on {len(test_y)} of {len(y)} rows; {changes}"
    return Proposal(weights, reason, evidence), reason


def rejected_refits(history: list[Policy]) -> list[Policy]:
    """The refit versions a rollback undid, oldest first, from the policy history itself."""
    return [history[i - 1] for i in range(1, len(history))
            if history[i].reason.startswith(ROLLBACK_REASON) and history[i - 1].reason.startswith(REFIT_REASON)]


def repeats_a_rejected_refit(weights: dict[str, float], history: list[Policy]) -> Policy | None:
    """The rolled-back refit these weights would bring back, if any."""
    return next((p for p in rejected_refits(history) if all(
        abs(weights[s] - p.body["weights"].get(s, 0.0)) <= REJECTED_TOLERANCE for s in SIGNALS)), None)


def rollback_target(history: list[Policy], rows: list[dict],
        settings: RefitSettings = RefitSettings()) -> tuple[Policy | None, str]:
    """The version to restore when the current refit does worse than its predecessor on newer feedback."""
    current = history[-1]
    if current.author != "sensor" or not current.reason.startswith(REFIT_REASON) or len(history) < 2:
        return None, "the current segment policy is not a refit"
    previous = history[-2]
    newer = [r for r in rows if r["created_at"] > current.created_at]
    x, y, _ = labelled(newer)
    if len(y) < settings.rollback_min_rows:
        return None, f"{len(y)} labelled rows since the refit; judging it needs {settings.rollback_min_rows}"
    now, before = auc(x @ _vector(current.body["weights"]), y), auc(x @ _vector(previous.body["weights"]), y)
    if now is None or before is None:
        return None, "newer feedback lacks selected or rejected clips"
    if now < before - settings.rollback_drop:
        return previous, (f"{ROLLBACK_REASON} to v{previous.version}: agreement on {len(y)} newer rows fell to "
                          f"{now:.3f} "
                          f"under v{current.version}, v{previous.version} scores {before:.3f}")
    return None, f"refit v{current.version} holds: {now:.3f} vs {before:.3f} for v{previous.version}"
