"""audio_profile: signal measurements and the ASR complexity class they imply."""


import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.outputs import table_output
from ai_assets.assets.policies import asr_thresholds, class_observation
from ai_assets.code_version import code_version
from ai_assets.ingest.audio import load_wav
from ai_assets.partitions import videos
from ai_assets.speech.audio_profile import complexity_class, measure
from ai_assets.storage.tables import to_table
from resources import MediaStore, MetricsResource
from resources.policies import PolicyResource


@dg.asset(
    partitions_def=videos, group_name="speech", code_version=code_version(__name__), kinds={"numpy"},
    deps=[asr_thresholds], automation_condition=ON_CHANGE,
)
def audio_profile(
    context: dg.AssetExecutionContext, audio: pa.Table, diarization: pa.Table, policies: PolicyResource,
    media_store: MediaStore, metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """Speech ratio, SNR over a percentile noise floor, loudness, band limitation (energy above 4 kHz and the
    cliff there), speaking rate and the diarization's speaker count; the class uses the asr policy's thresholds."""
    track = audio.to_pylist()[0]
    policy = policies.current("asr")
    thresholds = policy.parsed().thresholds
    with metrics.track(context) as row:
        speakers = len(set(diarization.column("speaker").to_pylist()))
        profile = measure(load_wav(media_store.local(track["audio_path"])),
            [(r["start"], r["end"]) for r in track["speech_regions"]], speakers)
        label = complexity_class(profile, thresholds.clean_min_snr_db, thresholds.clean_max_speakers,
            thresholds.band_limited_min_drop_db, thresholds.distorted_min_clipped_share)
        row.model, row.params, row.audio_seconds = "signal", {**profile, "class": label}, track["duration"]
        row.policy_version, row.policy_sha256 = policy.version, policy.sha256
    # The class picks the asr rule: record that rule's version for this video now, so transcript, which runs
    # after this step, records the rule it is decoded with and is stale exactly when that rule changes.
    context.log_event(class_observation(context.partition_key, policy.body, label))
    table = to_table(
        "audio_profile",
        [{"video": context.partition_key, **profile, "complexity_class": label, "policy_version": policy.version,
            "policy_sha256": policy.sha256}],
    )
    metadata = {**{k: v for k, v in profile.items() if v is not None}, "complexity_class": label,
                "policy_version": policy.version, "policy_sha256": policy.sha256}
    # No view version in the data version: the thresholds reach the output only through the class, which is in
    # the table, so a threshold edit that moves no video reruns nothing below.
    return table_output(table, metadata=metadata, row=row)
