"""optimization_sensor: retunes the asr policy from metrics and the segment weights from feedback, then has the policies
observed."""

import json
from pathlib import Path

import dagster as dg

from ai_assets.jobs import observe_policies
from ai_assets.policy.documents import Policy, PolicyLocked
from ai_assets.policy.optimizer import decide, samples_from_metrics
from ai_assets.ranking.feedback import rows as feedback_rows
from ai_assets.ranking.refit import RefitSettings, propose, repeats_a_rejected_refit, rollback_target
from ai_assets.storage.catalog import metrics_snapshot
from resources import MetricsResource, WhisperResource
from resources.optimizer import OptimizerConfig
from resources.policies import PolicyResource

SAMPLE_ASSETS = ("transcript", "transcript_quality", "transcript_shadow")


def metric_rows(metrics: MetricsResource) -> list[dict]:
    conn = metrics_snapshot(metrics.store())
    try:
        cursor = conn.execute(
            "SELECT asset, video, started_at, status, model, realtime_factor, confidence, params, policy_sha256 "
            "FROM metrics WHERE list_contains(?, asset)", [list(SAMPLE_ASSETS)],
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    finally:
        conn.close()
    for row in rows:
        row["params"] = json.loads(row["params"]) if row["params"] else {}
    return rows


def refit_segment_policy(store, feedback: list[dict], settings: RefitSettings) -> tuple[Policy | None, str]:
    """Roll back a refit that newer feedback disagrees with, else propose a refit; store what is decided."""
    history = store.history("segment")
    target, note = rollback_target(history, feedback, settings)
    if target is not None:
        return store.set("segment", target.body, author="sensor", reason=note), note
    proposal, note = propose(feedback, history[-1].body["weights"], settings)
    if proposal is None:
        return None, note
    rejected = repeats_a_rejected_refit(proposal.weights, history)
    if rejected is not None:
        return None, f"the refit matches v{rejected.version}, which was rolled back; not proposed again"
    return store.set("segment", {**history[-1].body, "weights": proposal.weights}, author="sensor", reason=note), note


@dg.sensor(job=observe_policies, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def optimization_sensor(
    context: dg.SensorEvaluationContext, policies: PolicyResource, metrics: MetricsResource,
    optimizer: OptimizerConfig, whisper: WhisperResource,
):
    """Applies the documented rules in ai_assets/policy/optimizer.py to the asr policy, and refits the segment policy's
    weights from feedback (ai_assets/ranking/refit.py); each new version is stored with its reason."""
    state = json.loads(context.cursor) if context.cursor else {"rejected": {}}
    store = policies.store()
    changed, notes = [], []
    samples, shadow = samples_from_metrics(metric_rows(metrics))
    decision = decide(store.history("asr"), samples, shadow, whisper.registry().available("whisper"),
        optimizer.settings(), state["rejected"])
    stored = None
    try:
        if decision.changed:
            stored = store.set("asr", decision.body, author="sensor", reason=decision.reason)
            changed.append(stored)
            state["rejected"] = decision.rejected
        else:
            notes.append("asr: " + ("; ".join(decision.notes) or "no rule applies"))
        segment, note = refit_segment_policy(
            store, feedback_rows(Path(optimizer.feedback_dir)) if optimizer.feedback_dir else [],
            optimizer.refit_settings())
        if segment is not None:
            changed.append(segment)
        else:
            notes.append(f"segment: {note}")
    except PolicyLocked as exc:
        if not changed:
            return dg.SkipReason(f"could not write a policy this tick: {exc}")
        notes.append(f"could not write the rest this tick: {exc}")  # what was stored still gets its run
    try:  # "No change" is a decision too: kept with its evidence, shown in the UI beside the history
        store.record_decision("asr", stored, decision.reason if stored else (
            "; ".join(decision.notes) or "no rule applies"), decision.evidence)
    except PolicyLocked as exc:  # the record is for people; never lose a stored version or the cursor over it
        context.log.warning(f"optimizer decision not recorded: {exc}")
    if not changed:
        return dg.SkipReason(" | ".join(notes))
    context.update_cursor(json.dumps(state, sort_keys=True))
    for policy in changed:
        context.log.info(f"{policy.domain} policy v{policy.version}: {policy.reason}")
    # The version number, not the body's hash: a rollback restores an earlier body, and a key Dagster has seen
    # before would be skipped, so the videos would keep the rule that was rolled back.
    key = "-".join(f"{p.domain}-policy-v{p.version}" for p in changed)
    return dg.RunRequest(run_key=key, tags={f"ai_assets/{p.domain}_policy_version": str(p.version) for p in changed})
