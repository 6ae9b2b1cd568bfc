"""optimization_sensor: retunes the asr policy from measured metrics, then has the policies observed."""

import json

import dagster as dg

from ai_assets.catalog import metrics_snapshot
from ai_assets.jobs import observe_policies
from ai_assets.optimizer import decide, samples_from_metrics
from ai_assets.policies import PolicyLocked
from resources import MetricsResource, WhisperResource
from resources.optimizer import OptimizerConfig
from resources.policies import PolicyResource

SAMPLE_ASSETS = ("transcript", "transcript_quality", "transcript_shadow")


def metric_rows(metrics: MetricsResource) -> list[dict]:
    conn = metrics_snapshot(metrics.store())
    try:
        cursor = conn.execute(
            "SELECT asset, video, started_at, status, realtime_factor, confidence, params, policy_sha256 FROM metrics WHERE list_contains(?, asset)",
            [list(SAMPLE_ASSETS)],
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values)) for values in cursor.fetchall()]
    finally:
        conn.close()
    for row in rows:
        row["params"] = json.loads(row["params"]) if row["params"] else {}
    return rows


@dg.sensor(job=observe_policies, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def optimization_sensor(
    context: dg.SensorEvaluationContext, policies: PolicyResource, metrics: MetricsResource,
    optimizer: OptimizerConfig, whisper: WhisperResource,
):
    """Applies the documented rules in ai_assets/optimizer.py; writes a new asr policy version with its reason."""
    state = json.loads(context.cursor) if context.cursor else {"rejected": {}}
    store = policies.store()
    samples, shadow = samples_from_metrics(metric_rows(metrics))
    decision = decide(store.history("asr"), samples, shadow, whisper.registry().available("whisper"), optimizer.settings(), state["rejected"])
    if not decision.changed:
        return dg.SkipReason("; ".join(decision.notes) or "no rule applies")
    try:
        policy = store.set("asr", decision.body, author="sensor", reason=decision.reason)
    except PolicyLocked as exc:
        return dg.SkipReason(f"could not write the policy this tick: {exc}")
    context.update_cursor(json.dumps({"rejected": decision.rejected}, sort_keys=True))
    context.log.info(f"asr policy v{policy.version}: {policy.reason}")
    return dg.RunRequest(run_key=f"asr-policy-{policy.sha256[:16]}", tags={"ai_assets/policy_version": str(policy.version)})
