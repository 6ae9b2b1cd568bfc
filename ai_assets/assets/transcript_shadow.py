"""transcript_shadow: for a sample of videos, the candidate rule's transcript, kept as evidence only."""

import math
import time

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.outputs import table_output
from ai_assets.assets.policies import asr_policy
from ai_assets.code_version import code_version
from ai_assets.ingest.audio import load_wav
from ai_assets.partitions import videos
from ai_assets.policy.documents import rule_sha
from ai_assets.policy.optimizer import step_up
from ai_assets.policy.views import view_version
from ai_assets.speech.transcript import dominant_language
from ai_assets.speech.wer import word_errors
from ai_assets.storage.tables import to_table
from resources import MediaStore, MetricsResource, WhisperResource
from resources.optimizer import OptimizerConfig
from resources.policies import PolicyResource


@dg.asset(
    partitions_def=videos, group_name="evaluation", code_version=code_version(__name__), kinds={"whisper"},
    deps=[asr_policy], automation_condition=ON_CHANGE, pool="asr",
)
def transcript_shadow(
    context: dg.AssetExecutionContext, audio: pa.Table, audio_profile: pa.Table, transcript: pa.Table,
    whisper: WhisperResource, policies: PolicyResource, optimizer: OptimizerConfig, media_store: MediaStore,
    metrics: MetricsResource,
) -> dg.Output[pa.Table]:
    """The next rule up (bigger model, or beam 5) on sampled videos: its agreement with the real transcript and
    its cost.

    Nothing downstream reads it; the optimization sensor uses it as evidence before switching.
    """
    key = context.partition_key
    policy = policies.current("asr")
    asr = policy.parsed()
    complexity = audio_profile.column("complexity_class")[0].as_py()
    candidate = step_up(asr.rule_for(complexity), whisper.registry().available("whisper"))
    rows = []
    with metrics.track(context) as row:
        row.policy_version, row.policy_sha256 = policy.version, policy.sha256
        row.params = {"class": complexity, "sampled": optimizer.in_shadow_sample(key), "candidate": None}
        track = audio.to_pylist()[0]
        primary = transcript.to_pylist()
        if row.params["sampled"] and candidate is not None and primary and dominant_language(primary) == "en":
            samples = load_wav(media_store.local(track["audio_path"]))
            regions = [(r["start"], r["end"]) for r in track["speech_regions"]]
            began = time.perf_counter()
            result, model_name, decode = whisper.transcribe(samples, regions, candidate, asr.multilingual_model)
            seconds = time.perf_counter() - began
            agreement = word_errors(" ".join(r["text"] for r in primary),
                " ".join(s["text"] for s in result.segments))["wer"]
            confidence = round(math.exp(result.mean_logprob), 4) if result.mean_logprob is not None else None
            row.model, row.audio_seconds, row.confidence = model_name, track["duration"], confidence
            row.params |= {"candidate": candidate.model_dump(mode="json"), "rule_sha": rule_sha(candidate),
                           "batch_size": decode.batch_size, "agreement_wer": agreement}
            rows.append({"video": key, "complexity_class": complexity, "model": model_name,
                         "beam_size": decode.beam_size,
                         "batch_size": decode.batch_size, "rule_sha": rule_sha(candidate), "agreement_wer": agreement,
                         "confidence": confidence, "seconds": round(seconds, 3),
                         "realtime_factor": round(seconds / track["duration"], 5),
                         "policy_version": policy.version, "policy_sha256": policy.sha256})
    return table_output(to_table("transcript_shadow", rows),
        # The agreement as a number, so the asset's Plots tab follows it across videos.
        metadata={"sampled": row.params["sampled"], "evaluated": bool(rows),
                  **({"agreement_wer": float(rows[0]["agreement_wer"])} if rows else {})},
        used=view_version("asr_policy", policy.body, complexity), row=row)

