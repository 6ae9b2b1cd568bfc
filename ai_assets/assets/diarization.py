"""diarization: who spoke when, overlaps included, from local speaker segmentation and speaker embeddings."""


import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.outputs import table_output
from ai_assets.code_version import code_version
from ai_assets.ingest.audio import load_wav
from ai_assets.partitions import videos
from ai_assets.speakers.diarization import DiarizeParams, speaker_stats
from ai_assets.storage.tables import to_table
from resources import MediaStore, MetricsResource
from resources.speakers import SpeakerEncoderResource


@dg.asset(
    partitions_def=videos, group_name="speakers", code_version=code_version(__name__), kinds={"torch"},
    automation_condition=ON_CHANGE, pool="speaker",
)
def diarization(
    context: dg.AssetExecutionContext, audio: pa.Table, speakers: SpeakerEncoderResource, media_store: MediaStore,
    metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """Speaker turns (S1, S2, ... by first appearance; two may overlap); the number of speakers is found, not given.

    Without the segmentation weights it degrades to clustering d-vectors over the VAD regions (no overlap), and
    says so in `degraded`."""
    track = audio.to_pylist()[0]
    regions = [(r["start"], r["end"]) for r in track["speech_regions"]]
    params = DiarizeParams.for_embedding(speakers.embedding)
    with metrics.track(context) as row:
        turns, missing = speakers.diarize(load_wav(media_store.local(track["audio_path"])), regions, params)
        stats = speaker_stats(turns)
        row.model = speakers.embedding if missing else f"segmentation-3.0+{speakers.embedding}"
        row.audio_seconds = track["duration"]
        row.params = {"speakers": stats["speakers"], "turns": len(turns), "segment_step_s": params.segment_step_s,
            "link_threshold": params.link_threshold, "degraded": bool(missing)}
    table = to_table(
        "diarization",
        [{"video": context.partition_key, "turn": i, "speaker": t.speaker, "start": round(t.start, 3),
            "end": round(t.end, 3), "duration": round(t.end - t.start, 3)} for i, t in enumerate(turns)],
    )
    metadata = {"speakers": stats["speakers"], "turns": len(turns), "overlap_s": stats["overlap_s"],
        "method": row.model, "seconds_by_speaker": dg.MetadataValue.json(stats.get("seconds", {}))}
    if missing:
        metadata["degraded"] = f"no overlap detection, speech from VAD only: {missing}"
    return table_output(table, metadata=metadata, row=row)
