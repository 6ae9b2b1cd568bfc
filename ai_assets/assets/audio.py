"""audio: 16 kHz mono speech track plus VAD speech regions."""

from dataclasses import asdict

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.failures import media_failures
from ai_assets.assets.outputs import table_output
from ai_assets.code_version import code_version
from ai_assets.ingest.audio import SAMPLE_RATE, audio_tracks
from ai_assets.partitions import videos
from ai_assets.speech.vad import VadParams, speech_track
from ai_assets.storage.tables import to_table
from resources import MediaStore, MetricsResource


@dg.asset(
    partitions_def=videos, group_name="ingest", code_version=code_version(__name__), kinds={"audio"},
    automation_condition=ON_CHANGE,
)
def audio(
    context: dg.AssetExecutionContext, source_video: pa.Table, media_store: MediaStore, metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """The sound track at 16 kHz mono (WAV in media storage) and its Silero VAD speech regions: the first track,
    unless the file has several and another carries the speech (a recording that keeps the microphone apart), mixed
    with any track that talks where it is silent (a host and a guest each on a track of their own)."""
    video = source_video.to_pylist()[0]
    vad = VadParams()
    with metrics.track(context) as row, media_failures(context.partition_key):
        wav = media_store.audio_location(video["sha256"])
        objects = media_store.objects
        chosen = speech_track(objects.local(video["media_path"]), objects.staging(wav),
                              audio_tracks(video["streams"]), vad)
        objects.publish(wav)
        track, regions = chosen.audio, chosen.regions
        duration = track.seconds
        row.model, row.params, row.audio_seconds = "silero-vad", asdict(vad), duration
        if len(chosen.speech_seconds) > 1:
            row.params = {**row.params, "track": chosen.index, "track_speech_s": chosen.speech_seconds}
        if chosen.mixed:
            row.params = {**row.params, "mixed_tracks": [k for k, _ in chosen.mixed]}
        for note in filter(None, [chosen.note, *chosen.failures]):
            context.log.info(f"audio: {note}")
        for number, channel in [(chosen.index, track.from_channel), *chosen.mixed]:
            if channel is not None:
                side = ("left", "right")[channel]
                context.log.warning(f"audio: the two channels of sound track {number + 1} cancel out when mixed to "
                                    f"mono (one is phase-inverted); its {side} channel is transcribed, clips carry it")
        if track.from_channel is not None:
            row.params = {**row.params, "channel": track.from_channel}
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
                "track": chosen.index,
                "channel": track.from_channel,
                "mixed_tracks": [{"track": k, "channel": c} for k, c in chosen.mixed],
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
            # Which sound track is transcribed (0: the first), each track's seconds of speech, and why.
            "track": chosen.index, "track_speech_s": dg.MetadataValue.json(chosen.speech_seconds),
            "track_note": chosen.note or "", "track_failures": dg.MetadataValue.json(chosen.failures),
            "mixed_tracks": dg.MetadataValue.json([k for k, _ in chosen.mixed]),
            # Set where the stereo mix cancelled out: the one channel transcribed (0 left, 1 right), -1 otherwise.
            "channel": -1 if track.from_channel is None else track.from_channel,
            "damaged_packets": track.damaged_packets, "filled_silence_s": track.filled_seconds},
        row=row,
    )
