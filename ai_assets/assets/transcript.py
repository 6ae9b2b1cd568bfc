"""transcript: faster-whisper over the VAD speech regions, batched, as the asr policy says."""

import math

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.failures import media_failures
from ai_assets.assets.outputs import excerpt, markdown_table, table_output
from ai_assets.assets.policies import asr_policy
from ai_assets.code_version import code_version
from ai_assets.ingest.audio import load_wav
from ai_assets.partitions import videos
from ai_assets.policy.documents import rule_sha
from ai_assets.policy.views import view_version
from ai_assets.speech.vad import VadParams, speech_regions
from ai_assets.storage.tables import clock, to_table
from resources import MediaStore, MetricsResource, WhisperResource
from resources.policies import PolicyResource


@dg.asset(
    partitions_def=videos, group_name="speech", code_version=code_version(__name__), kinds={"whisper"},
    deps=[asr_policy], automation_condition=ON_CHANGE, pool="asr",
)
def transcript(
    context: dg.AssetExecutionContext, audio: pa.Table, audio_profile: pa.Table, whisper: WhisperResource,
    policies: PolicyResource, media_store: MediaStore, metrics: MetricsResource,
) -> dg.Output[pa.Table]:
    """Segments with word timestamps and confidences, decoded with the rule for the video's complexity class."""
    track = audio.to_pylist()[0]
    complexity = audio_profile.column("complexity_class")[0].as_py()
    policy = policies.current("asr")
    asr = policy.parsed()
    rule = asr.rule_for(complexity)
    used = view_version("asr_policy", policy.body, complexity)
    samples = load_wav(media_store.local(track["audio_path"]))
    vad = rule.vad.params()
    # The audio asset's regions use the default VAD; a class with other VAD settings re-runs it.
    stored = [(r["start"], r["end"]) for r in track["speech_regions"]]
    regions = stored if vad == VadParams() else speech_regions(samples, vad)
    with metrics.track(context) as row, media_failures(context.partition_key):
        # Known before decoding, so a failed run is still attributed to its class and rule.
        row.params = {"class": complexity, "rule_sha": rule_sha(rule), "batch_size": rule.batch_size}
        row.policy_version, row.policy_sha256 = policy.version, policy.sha256
        speech_s = sum(e - s for s, e in regions)

        def progress(share: float) -> None:  # every tenth of the speech: an hour of audio is a long step
            context.log.info(f"transcript: {int(share * 100)}% of {speech_s:.0f} s of speech decoded")

        result, model_name, decode = whisper.transcribe(samples, regions, rule, asr.multilingual_model,
            asr.healing.params(), progress=progress)
        params = {
            **row.params,
            **decode.as_dict(),
            "compute_type": rule.compute_type,
            "vad": rule.vad.model_dump(),
            "language": result.language,
            "language_probability": round(result.language_probability, 4),
            "languages": result.languages,
            "language_model": asr.multilingual_model if not whisper.language else None,
            "device": whisper.device,
            "mean_avg_logprob": result.mean_logprob,
            "mean_no_speech_prob": result.mean_no_speech,
            "degraded": result.degraded,
            "suspect_chunks": result.suspect_chunks,
            "healed_chunks": result.healed_chunks,
            "untranscribed_s": round(sum(e - s for s, e in result.untranscribed), 2),
        }
        row.model, row.params, row.audio_seconds = model_name, params, track["duration"]
        row.confidence = round(math.exp(result.mean_logprob), 4) if result.mean_logprob is not None else None
    table = to_table(
        "transcript",
        [
            {"video": context.partition_key, "segment": i, "language": result.language,
             "language_probability": result.language_probability, "model": model_name, **seg,
             "policy_version": policy.version, "policy_sha256": policy.sha256}
            for i, seg in enumerate(result.segments)
        ],
    )
    return table_output(
        table,
        metadata={
            "model": model_name,
            "model_path": dg.MetadataValue.path(str(whisper.model_path(model_name))),
            "params": dg.MetadataValue.json(params),
            # What a reviewer reads first: the opening lines, with their time and language.
            "excerpt": markdown_table(
                [{**seg, "at": clock(seg["start"]), "text": excerpt(seg["text"])} for seg in result.segments[:8]],
                {"at": "at", "language": "language", "text": "text"},
            ),
            "language": result.language,
            "language_probability": round(result.language_probability, 4),
            # Every language heard, with its share of the speech; each row says its own.
            "languages": dg.MetadataValue.json(result.languages),
            "segments": len(result.segments),
            "words": sum(len(s["words"]) for s in result.segments),
            # A partial transcript says which speech is missing and why; the video still goes on.
            "degraded": result.degraded or False,
            "healed_chunks": result.healed_chunks,
            "untranscribed": dg.MetadataValue.json([[round(s, 2), round(e, 2)] for s, e in result.untranscribed]),
            "policy_version": policy.version,
            "policy_sha256": policy.sha256,
            "rule_version": used,
        },
        used=used,
        row=row,
    )
