"""transcript: faster-whisper over the VAD speech regions, batched."""


import math
from pathlib import Path

import dagster as dg
import pyarrow as pa

from ai_assets.media import load_wav
from ai_assets.partitions import videos
from ai_assets.tables import to_table
from resources import MetricsResource, WhisperResource


@dg.asset(partitions_def=videos, group_name="audio", code_version="1", kinds={"whisper"})
def transcript(
    context: dg.AssetExecutionContext, audio: pa.Table, whisper: WhisperResource, metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """Segments with word timestamps and confidences; English uses tiny.en, other languages base."""
    track = audio.to_pylist()[0]
    regions = [(r["start"], r["end"]) for r in track["speech_regions"]]
    samples = load_wav(Path(track["audio_path"]))
    with metrics.track(context) as row:
        result, model_name = whisper.transcribe(samples, regions)
        params = {
            **whisper.decode_params.as_dict(),
            "language": result.language,
            "language_probability": round(result.language_probability, 4),
            "language_model": whisper.multilingual_model if not whisper.language else None,
            "compute_type": whisper.compute_type,
            "device": whisper.device,
            "chunks": "vad-packed-30s",
        }
        row.model, row.params, row.audio_seconds = model_name, params, track["duration"]
        row.confidence = round(math.exp(result.mean_logprob), 4) if result.mean_logprob is not None else None
    table = to_table(
        "transcript",
        [
            {"video": context.partition_key, "segment": i, **seg, "language": result.language,
             "language_probability": result.language_probability, "model": model_name}
            for i, seg in enumerate(result.segments)
        ],
    )
    return dg.Output(
        table,
        metadata={
            "model": model_name,
            "model_path": dg.MetadataValue.path(str(whisper.model_path(model_name))),
            "params": dg.MetadataValue.json(params),
            "language": result.language,
            "language_probability": round(result.language_probability, 4),
            "segments": len(result.segments),
            "words": sum(len(s["words"]) for s in result.segments),
            "confidence": row.confidence,
        },
    )
