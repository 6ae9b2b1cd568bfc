"""Asset checks on transcript: three blocking sanity rules and a warning when the policy moved on."""

import warnings

import dagster as dg
import pyarrow as pa

from ai_assets.assets.transcript import transcript
from ai_assets.partitions import videos
from ai_assets.policy.views import view_version
from ai_assets.speech.transcript_checks import no_repetition_loop, speech_covered, timestamps_valid
from resources.policies import PolicyResource

AUDIO_IN = {"audio": dg.AssetIn("audio")}
# Partitioned checks are a preview feature in Dagster 1.13; they are what per-video checks need.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec",
    category=dg.PreviewWarning)


def _result(passed: bool, text: str, numbers: dict, severity=dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=passed, severity=severity, description=text, metadata=numbers)


@dg.asset_check(asset=transcript, blocking=True, partitions_def=videos, additional_ins=AUDIO_IN)
def timestamps_in_order(transcript: pa.Table, audio: pa.Table) -> dg.AssetCheckResult:
    """Segment and word times are monotonic and lie within the audio's duration."""
    return _result(*timestamps_valid(transcript.to_pylist(), audio.column("duration")[0].as_py()))


@dg.asset_check(asset=transcript, blocking=True, partitions_def=videos)
def no_hallucinated_loop(transcript: pa.Table) -> dg.AssetCheckResult:
    """No phrase repeats back to back, the typical Whisper failure on silence or music."""
    return _result(*no_repetition_loop(transcript.to_pylist()))


@dg.asset_check(asset=transcript, blocking=True, partitions_def=videos, additional_ins=AUDIO_IN)
def speech_is_transcribed(transcript: pa.Table, audio: pa.Table) -> dg.AssetCheckResult:
    """At least half of the detected speech has words."""
    regions = [(r["start"], r["end"]) for r in audio.column("speech_regions")[0].as_py()]
    return _result(*speech_covered(transcript.to_pylist(), regions))


@dg.asset_check(asset=transcript, partitions_def=videos)
def made_with_current_policy(transcript: pa.Table, policies: PolicyResource) -> dg.AssetCheckResult:
    """Warns when the transcript was made with another rule than the one the current asr policy gives its class
    (a newer policy version that leaves this class's rule alone does not count)."""
    history = policies.store().history("asr")
    current = history[-1]
    if not transcript.num_rows:
        return _result(True, "no speech transcribed", {"current_version": current.version}, dg.AssetCheckSeverity.WARN)
    used = {r["policy_version"]: r["policy_sha256"] for r in transcript.select(["policy_version",
        "policy_sha256"]).to_pylist()}
    complexity = policies.classes([transcript.column("video")[0].as_py()])
    made = [p for p in history if (p.version, p.sha256) in used.items()]
    if not complexity or not made:
        return _result(True, "made with the current asr policy" if used == {current.version: current.sha256}
            else "the rule it was made with is no longer on record", {"current_version": current.version},
            dg.AssetCheckSeverity.WARN)
    cls = next(iter(complexity.values()))
    now = view_version("asr_policy", current.body, cls)
    passed = all(view_version("asr_policy", p.body, cls) == now for p in made)
    text = f"made with the current asr rule for {cls}" if passed else (
        f"made with policy v{', v'.join(str(p.version) for p in made)}, whose {cls} rule differs from the current "
        f"v{current.version}")
    return _result(passed, text, {"current_version": current.version}, dg.AssetCheckSeverity.WARN)


TRANSCRIPT_CHECKS = [timestamps_in_order, no_hallucinated_loop, speech_is_transcribed, made_with_current_policy]
