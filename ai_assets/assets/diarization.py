"""diarization: who spoke when, from Resemblyzer d-vectors over the VAD speech regions."""

from pathlib import Path

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import EAGER
from ai_assets.ingest.audio import load_wav
from ai_assets.partitions import videos
from ai_assets.speakers.diarization import DiarizeParams, diarize, speaker_stats
from ai_assets.storage.tables import to_table
from resources import MetricsResource
from resources.speakers import SpeakerEncoderResource


@dg.asset(
    partitions_def=videos, group_name="audio", code_version="1", kinds={"torch"},
    automation_condition=EAGER,
)
def diarization(
    context: dg.AssetExecutionContext, audio: pa.Table, speakers: SpeakerEncoderResource, metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """Speaker turns (S1, S2, ... by first appearance); the number of speakers is found, not given."""
    track = audio.to_pylist()[0]
    regions = [(r["start"], r["end"]) for r in track["speech_regions"]]
    params = DiarizeParams()
    with metrics.track(context) as row:
        turns = diarize(load_wav(Path(track["audio_path"])), regions, speakers.encoder(), params) if regions else []
        stats = speaker_stats(turns)
        row.model, row.audio_seconds = "resemblyzer", track["duration"]
        row.params = {"speakers": stats["speakers"], "turns": len(turns), "window_s": params.window_s,
            "step_s": params.step_s}
    table = to_table(
        "diarization",
        [{"video": context.partition_key, "turn": i, "speaker": t.speaker, "start": round(t.start, 3),
            "end": round(t.end, 3), "duration": round(t.end - t.start, 3)} for i, t in enumerate(turns)],
    )
    return dg.Output(table, metadata={"speakers": stats["speakers"], "turns": len(turns),
                                      "seconds_by_speaker": dg.MetadataValue.json(stats.get("seconds", {}))})
