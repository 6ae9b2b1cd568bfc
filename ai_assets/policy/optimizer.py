"""The optimization rules: measured metrics in, a new ASR policy body (or none) and a reason out.

Rules, applied per complexity class to transcripts made under the class's *current rule*. A transcript
counts toward a rule only if that rule decoded it: English speech, decoded by the rule's model (a video in
another language is decoded by the multilingual model and says nothing about the English rule).

1. Rollback, on paired evidence. When the latest version changed a class's rule, the videos of that class
   rerun under the new rule (staleness is per class), so the same videos have a transcript under each.
   Only those pairs are compared, and only when there are `rollback_min_samples` of them. Confidence is
   compared only when both rules use the same model (Whisper's confidence is not comparable across
   models); WER against references, and the failure rate, always. Worse confidence (by more than
   `rollback_confidence_drop`), worse WER (by more than `rollback_wer_rise`) or a higher failure rate
   restores the previous rule, and the rejected rule is remembered so it is not proposed again.
2. Too little evidence. Fewer than `min_samples` videos under the current rule: no change.
3. Upgrade. Quality below target (mean confidence under `target_confidence - confidence_margin`,
   or mean WER above `target_wer + wer_margin` where references exist) and the projected realtime
   factor of the next step fits `budget_rtf`: move to the next larger available model, or to beam
   5 at the largest one. With shadow evaluation on, the step must also have shadow evidence: at
   least `min_shadow_samples` shadow transcripts whose measured cost fits the budget. Shadow runs are
   paired with the current transcripts of the same videos: a candidate with the same model must be more
   confident on them; a candidate with another model must differ from them (agreement WER at least
   `min_shadow_disagreement`), since a bigger model that writes the same words buys nothing.
4. Downgrade. Realtime factor over budget and quality above target by the margin: beam 1 if the
   beam is larger, else the next smaller model.
5. Batch size. Otherwise, when the class runs slower than half the budget, try twice the batch
   size once; keep whichever batch size shows the lower median realtime factor.

The margins are the hysteresis: a class between `target - margin` and `target + margin` is left
alone, so one noisy run never flips a policy back and forth.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field

from ai_assets.policy.documents import AsrPolicy, AsrRule, Policy, rule_sha

# English model ladder, smallest first; only installed (or downloadable) models are used.
MODEL_LADDER = ("tiny.en", "base", "small", "medium", "large-v3")
# Rough relative decoding cost, for projecting a step's realtime factor before it is measured.
MODEL_COST = {"tiny.en": 1.0, "tiny": 1.0, "base.en": 1.9, "base": 1.9, "small": 5.5, "small.en": 5.5, "medium": 14.0,
    "large-v3": 28.0}
UPGRADED_BEAM = 5


@dataclass(frozen=True)
class OptimizerSettings:
    min_samples: int = 3
    target_confidence: float = 0.60
    confidence_margin: float = 0.05
    target_wer: float = 0.15
    wer_margin: float = 0.03
    budget_rtf: float = 0.5
    rollback_min_samples: int = 3
    rollback_confidence_drop: float = 0.03
    rollback_wer_rise: float = 0.02
    max_batch_size: int = 32
    require_shadow_evidence: bool = False
    min_shadow_samples: int = 2
    min_shadow_disagreement: float = 0.01


@dataclass(frozen=True)
class Sample:
    """One transcript run (or shadow run) as the optimizer sees it."""

    video: str
    complexity_class: str
    rule_sha: str
    status: str = "success"
    realtime_factor: float | None = None
    confidence: float | None = None
    wer: float | None = None
    batch_size: int | None = None
    language: str | None = None  # the transcript's dominant language
    model: str | None = None  # the model that decoded it
    agreement_wer: float | None = None  # shadow only: WER of the candidate against the current transcript


@dataclass
class Decision:
    body: dict | None = None
    reason: str = ""
    rejected: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    evidence: str = ""  # a markdown table: per class, the rule and what was measured under it

    @property
    def changed(self) -> bool:
        return self.body is not None


def samples_from_metrics(rows: list[dict]) -> tuple[list[Sample], list[Sample]]:
    """Transcript samples (with WER joined from transcript_quality) and shadow samples.

    Rows are metrics rows with `params` decoded; a video counts once per rule (its latest run).
    """
    wer = {}
    for r in rows:
        if r["asset"] == "transcript_quality" and r["status"] == "success" and r["params"].get("reference"):
            wer[(r["video"], r["policy_sha256"])] = r["params"]["wer"]
    latest: dict[tuple, dict] = {}
    for r in sorted(rows, key=lambda r: r["started_at"]):
        p = r["params"]
        if r["asset"] == "transcript" and "rule_sha" in p:
            latest[("t", r["video"], p["rule_sha"])] = r
        elif r["asset"] == "transcript_shadow" and p.get("candidate"):
            latest[("s", r["video"], p["rule_sha"])] = r
    samples, shadow = [], []
    for (kind, video, sha), r in latest.items():
        p = r["params"]
        sample = Sample(
            video=video, complexity_class=p["class"], rule_sha=sha, status=r["status"],
            realtime_factor=r["realtime_factor"], confidence=r["confidence"],
            wer=wer.get((video, r["policy_sha256"])) if kind == "t" else None, batch_size=p.get("batch_size"),
            language=p.get("language"),
            model=(p["candidate"] or {}).get("model") if kind == "s" else r.get("model"),
            agreement_wer=p.get("agreement_wer") if kind == "s" else None,
        )
        (samples if kind == "t" else shadow).append(sample)
    return samples, shadow



def decoded_by(sample: Sample, rule: AsrRule) -> bool:
    """Whether the class rule decoded this transcript: English (or not known), with the rule's model."""
    return sample.language in (None, "en") and sample.model in (None, rule.model)


def model_cost(model: str, beam: int) -> float:
    return MODEL_COST.get(model, 10.0) * (1 + 0.12 * (beam - 1))


def step_up(rule: AsrRule, available: list[str]) -> AsrRule | None:
    ladder = [m for m in MODEL_LADDER if m in available]
    if rule.model in ladder and ladder.index(rule.model) + 1 < len(ladder):
        return rule.model_copy(update={"model": ladder[ladder.index(rule.model) + 1]})
    if rule.beam_size < UPGRADED_BEAM:
        return rule.model_copy(update={"beam_size": UPGRADED_BEAM})
    return None


def step_down(rule: AsrRule, available: list[str]) -> AsrRule | None:
    if rule.beam_size > 1:
        return rule.model_copy(update={"beam_size": 1})
    ladder = [m for m in MODEL_LADDER if m in available]
    if rule.model in ladder and ladder.index(rule.model) > 0:
        return rule.model_copy(update={"model": ladder[ladder.index(rule.model) - 1]})
    return None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class Quality:
    n: int  # successful runs
    total: int
    confidence: float | None
    wer: float | None
    rtf: float | None
    failure_rate: float

    @classmethod
    def of(cls, samples: list[Sample]) -> Quality:
        ok = [s for s in samples if s.status == "success"]
        return cls(
            n=len(ok),
            total=len(samples),
            confidence=_mean(s.confidence for s in ok),
            wer=_mean(s.wer for s in ok),
            rtf=_median(s.realtime_factor for s in ok),
            failure_rate=(len(samples) - len(ok)) / len(samples) if samples else 0.0,
        )

    def text(self) -> str:
        parts = [f"confidence {self.confidence:.3f}" if self.confidence is not None else "confidence n/a"]
        if self.wer is not None:
            parts.append(f"WER {self.wer:.1%}")
        if self.rtf is not None:
            parts.append(f"rtf {self.rtf:.3f}")
        return ", ".join(parts) + f" over {self.n} videos"


def decide(
    history: list[Policy],
    samples: list[Sample],
    shadow: list[Sample],
    available: list[str],
    settings: OptimizerSettings = OptimizerSettings(),
    rejected: dict[str, list[str]] | None = None,
) -> Decision:
    """The next ASR policy body, or no change, with a reason a person can read."""
    current = history[-1]
    policy: AsrPolicy = current.parsed()
    rejected = {k: list(v) for k, v in (rejected or {}).items()}
    decision = Decision(rejected=rejected)

    decision.evidence = evidence_table(policy, samples, shadow)
    rollback = _rollback(history, samples, settings)
    if rollback is not None:
        cls, old_rule, reason = rollback
        rejected.setdefault(cls, []).append(rule_sha(policy.classes[cls]))
        decision.body = _with_rule(current.body, cls, old_rule)
        decision.reason = reason
        return decision

    changes: dict[str, AsrRule] = {}
    reasons: list[str] = []
    for cls, rule in sorted(policy.classes.items()):
        sha = rule_sha(rule)
        mine = [s for s in samples if s.complexity_class == cls and s.rule_sha == sha and decoded_by(s, rule)]
        quality = Quality.of(mine)
        if quality.n < settings.min_samples:
            decision.notes.append(f"{cls}: {quality.n} of {settings.min_samples} samples under the current rule; no "
                "change")
            continue
        below = (quality.confidence is not None
            and quality.confidence < settings.target_confidence - settings.confidence_margin) or (
            quality.wer is not None and quality.wer > settings.target_wer + settings.wer_margin
        )
        above = (quality.confidence is None
            or quality.confidence > settings.target_confidence + settings.confidence_margin) and (
            quality.wer is None or quality.wer < settings.target_wer - settings.wer_margin
        )
        if below:
            change = _upgrade(cls, rule, quality, shadow, available, settings, rejected.get(cls, []), mine)
        elif quality.rtf is not None and quality.rtf > settings.budget_rtf and above:
            candidate = step_down(rule, available)
            change = (candidate,
                      f"{cls}: rtf {quality.rtf:.3f} over budget {settings.budget_rtf} with quality to spare "
                      f"({quality.text()}); {_describe(rule)} -> {_describe(candidate)}") if candidate else (None,
                      f"{cls}: over budget but already smallest")
        else:
            change = _tune_batch(cls, rule, samples, settings)
        candidate, reason = change
        if candidate is not None and rule_sha(candidate) not in rejected.get(cls, []):
            changes[cls] = candidate
            reasons.append(reason)
        elif reason:
            decision.notes.append(reason)
    if changes:
        body = current.body
        for cls, rule in changes.items():
            body = _with_rule(body, cls, rule)
        decision.body = body
        decision.reason = "; ".join(reasons)
    return decision


def evidence_table(policy: AsrPolicy, samples: list[Sample], shadow: list[Sample]) -> str:
    """Per class: its current rule, the transcripts that rule decoded and what they measured, and the shadow runs
    of the next rule up on the same videos."""
    lines = ["| class | rule | videos | confidence | WER | rtf | shadow on same videos | agreement WER |",
             "|---|---|---|---|---|---|---|---|"]
    for cls, rule in sorted(policy.classes.items()):
        mine = [s for s in samples
                if s.complexity_class == cls and s.rule_sha == rule_sha(rule) and decoded_by(s, rule)]
        q = Quality.of(mine)
        videos = {s.video for s in mine}
        paired = [s for s in shadow if s.complexity_class == cls and s.video in videos and s.status == "success"]
        agreement = _mean(s.agreement_wer for s in paired)

        def fmt(value, pattern):
            return pattern.format(value) if value is not None else "–"

        lines.append(f"| {cls} | {_describe(rule)} | {q.n} | {fmt(q.confidence, '{:.3f}')} | {fmt(q.wer, '{:.1%}')} | "
                     f"{fmt(q.rtf, '{:.3f}')} | {len(paired)} | {fmt(agreement, '{:.1%}')} |")
    return "\n".join(lines)


def _upgrade(cls, rule, quality, shadow, available, settings, rejected_shas, current_samples=()):
    candidate = step_up(rule, available)
    if candidate is None:
        return None, f"{cls}: quality below target ({quality.text()}) but no larger model or beam is available"
    if rule_sha(candidate) in rejected_shas:
        return None, f"{cls}: {_describe(candidate)} was rolled back before; not retried"
    evidence = [s for s in shadow if s.complexity_class == cls and s.rule_sha == rule_sha(candidate)
        and s.status == "success"]
    if evidence:
        projected = _median(s.realtime_factor for s in evidence)
        basis = f"measured in {len(evidence)} shadow runs"
    else:
        cost_ratio = model_cost(candidate.model, candidate.beam_size) / model_cost(rule.model, rule.beam_size)
        projected = (quality.rtf or 0.0) * cost_ratio
        basis = "projected"
    if settings.require_shadow_evidence and len(evidence) < settings.min_shadow_samples:
        return None, (
            f"{cls}: quality below target ({quality.text()}); waiting for shadow evidence on {_describe(candidate)} "
            f"({len(evidence)} of {settings.min_shadow_samples})"
        )
    # Paired: the shadow runs against the current transcripts of the same videos.
    current_by_video = {s.video: s for s in current_samples if s.status == "success"}
    paired = [s for s in evidence if s.video in current_by_video]
    if paired and candidate.model == rule.model:
        shadow_confidence = _mean(s.confidence for s in paired)
        own = _mean(current_by_video[s.video].confidence for s in paired)
        if shadow_confidence is not None and own is not None and shadow_confidence <= own:
            return None, (
                f"{cls}: quality below target, but {_describe(candidate)} was no more confident on the same "
                f"{len(paired)} videos ({shadow_confidence:.3f} vs {own:.3f})"
            )
    elif evidence and not paired:
        return None, (f"{cls}: quality below target; waiting for shadow runs of {_describe(candidate)} on videos "
                      "with a transcript under the current rule")
    elif paired:  # another model: its confidence is on another scale; ask whether it writes other words at all
        disagreement = _mean(s.agreement_wer for s in paired)
        if disagreement is not None and disagreement < settings.min_shadow_disagreement:
            return None, (
                f"{cls}: quality below target, but {_describe(candidate)} wrote the same words on the same "
                f"{len(paired)} videos (agreement WER {disagreement:.1%}); nothing to gain"
            )
    if projected is not None and projected > settings.budget_rtf:
        return None, (
            f"{cls}: quality below target but {_describe(candidate)} would cost rtf {projected:.3f} ({basis}) "
            f"> budget {settings.budget_rtf}"
        )
    wer_target = f", WER {settings.target_wer:.0%}" if quality.wer is not None else ""
    target = f"confidence {settings.target_confidence}{wer_target}"
    return candidate, (f"{cls}: quality below target ({quality.text()}; target {target}); "
                       f"{_describe(rule)} -> {_describe(candidate)}, rtf {projected:.3f} {basis} within budget "
                       f"{settings.budget_rtf}")


def _tune_batch(cls, rule, samples, settings):
    same = [s for s in samples if s.complexity_class == cls and s.status == "success" and s.batch_size is not None]
    by_batch: dict[int, list[float]] = {}
    for s in same:
        if s.realtime_factor is not None:
            by_batch.setdefault(s.batch_size, []).append(s.realtime_factor)
    measured = {b: statistics.median(v) for b, v in by_batch.items() if len(v) >= settings.min_samples}
    if rule.batch_size not in measured:
        return None, ""
    best = min(measured, key=measured.get)
    if best != rule.batch_size and measured[best] < 0.9 * measured[rule.batch_size]:
        return rule.model_copy(update={"batch_size": best}), (
            f"{cls}: batch {best} measured rtf {measured[best]:.3f} vs {measured[rule.batch_size]:.3f} at batch "
            f"{rule.batch_size}")
    doubled = rule.batch_size * 2
    if (
        measured[rule.batch_size] > settings.budget_rtf / 2
        and doubled <= settings.max_batch_size
        and doubled not in by_batch
    ):
        return rule.model_copy(update={"batch_size": doubled}), (
            f"{cls}: rtf {measured[rule.batch_size]:.3f} is over half the budget; trying batch {doubled}")
    return None, ""


def _previous_rule(history: list[Policy], cls: str) -> tuple[Policy, AsrRule] | None:
    """The latest earlier version whose rule for `cls` differs from the current one (a batch size aside), when
    the current rule came in with the latest version that changed it."""
    current = history[-1].parsed().classes[cls]
    for policy in reversed(history[:-1]):
        rule = policy.parsed().classes.get(cls)
        if rule is not None and rule_sha(rule) != rule_sha(current):
            return policy, rule
    return None


def _rollback(history: list[Policy], samples: list[Sample], settings: OptimizerSettings):
    if len(history) < 2:
        return None
    after = history[-1].parsed()
    for cls in sorted(after.classes):
        previous = _previous_rule(history, cls)
        if previous is None:
            continue
        old, new = previous[1], after.classes[cls]
        under_new = {s.video: s for s in samples
                     if s.complexity_class == cls and s.rule_sha == rule_sha(new) and decoded_by(s, new)}
        under_old = {s.video: s for s in samples
                     if s.complexity_class == cls and s.rule_sha == rule_sha(old) and decoded_by(s, old)}
        paired = sorted(set(under_new) & set(under_old))  # the same videos under both rules, nothing else
        if len(paired) < settings.rollback_min_samples:
            continue
        new_q = Quality.of([under_new[v] for v in paired])
        old_q = Quality.of([under_old[v] for v in paired])
        if old_q.n == 0:
            continue
        worse = []
        if (
            old.model == new.model  # confidence is comparable within one model only
            and new_q.confidence is not None
            and old_q.confidence is not None
            and new_q.confidence < old_q.confidence - settings.rollback_confidence_drop
        ):
            worse.append(f"confidence {new_q.confidence:.3f} vs {old_q.confidence:.3f}")
        if new_q.wer is not None and old_q.wer is not None and new_q.wer > old_q.wer + settings.rollback_wer_rise:
            worse.append(f"WER {new_q.wer:.1%} vs {old_q.wer:.1%}")
        if new_q.failure_rate > old_q.failure_rate + 0.2:
            worse.append(f"failure rate {new_q.failure_rate:.0%} vs {old_q.failure_rate:.0%}")
        if worse:
            reason = (f"rollback of v{history[-1].version} for {cls}: {_describe(new)} did worse than {_describe(old)} "
                      f"({'; '.join(worse)}; on the same {len(paired)} videos)")
            return cls, old, reason
    return None


def _with_rule(body: dict, cls: str, rule: AsrRule) -> dict:
    updated = json.loads(json.dumps(body))
    updated["classes"][cls] = rule.model_dump(mode="json")
    return updated


def _describe(rule: AsrRule | None) -> str:
    return f"{rule.model} beam {rule.beam_size} batch {rule.batch_size}" if rule else "none"
