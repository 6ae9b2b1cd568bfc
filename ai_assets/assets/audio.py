"""audio: 16 kHz mono speech track plus VAD speech regions."""

from dataclasses import asdict

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.failures import media_failures
from ai_assets.assets.outputs import table_output
from ai_assets.code_version import code_version
from ai_assets.ingest.audio import SAMPLE_RATE, extract_audio, load_wav
from ai_assets.partitions import videos
from ai_assets.speech.vad import VadParams, speech_regions
from ai_assets.storage.tables import to_table
from resources import MediaStore, MetricsResource


@dg.asset(
    partitions_def=videos, group_name="ingest", code_version=code_version(__name__), kinds={"audio"},
    automation_condition=ON_CHANGE,
)
def audio(
    context: dg.AssetExecutionContext, source_video: pa.Table, media_store: MediaStore, metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """The first audio stream at 16 kHz mono (WAV in media storage) and its Silero VAD speech regions."""
    video = source_video.to_pylist()[0]
    vad = VadParams()
    with metrics.track(context) as row, media_failures(context.partition_key):
        wav = media_store.audio_location(video["sha256"])
        objects = media_store.objects
        track = extract_audio(objects.local(video["media_path"]), objects.staging(wav))
        duration = track.seconds
        regions = speech_regions(load_wav(objects.local(objects.publish(wav))), vad)
        row.model, row.params, row.audio_seconds = "silero-vad", asdict(vad), duration
        if track.degraded:
            context.log.warning(f"audio: {track.degraded}")
            row.params = {**row.params, "degraded": track.degraded}
    speech = sum(end - start for start, end in regions)
    table = to_table(
        "audio",
        [
            {
                "video": context.partition_key,
                "audio_path": wav,
                "sample_rate": SAMPLE_RATE,
                "duration": duration,
                "speech_seconds": round(speech, 3),
                "speech_ratio": round(speech / duration, 4),
                "speech_regions": [{"start": round(s, 3), "end": round(e, 3)} for s, e in regions],
            }
        ],
    )
    return table_output(
        table, metadata={"duration_s": round(duration, 2), "speech_ratio": round(speech / duration, 3),
            "speech_regions": len(regions), "damaged": track.degraded or "",
            "damaged_packets": track.damaged_packets, "filled_silence_s": track.filled_seconds},
        row=row,
    )
