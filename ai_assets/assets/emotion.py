"""emotion: per transcript segment, how it is said (prosody) and what it says (valence, arousal, label)."""

from collections import Counter

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.outputs import table_output
from ai_assets.code_version import code_version
from ai_assets.ingest.audio import load_wav
from ai_assets.language.emotion import segment_emotions
from ai_assets.partitions import videos
from ai_assets.storage.tables import to_table
from resources import MediaStore, MetricsResource


@dg.asset(partitions_def=videos, group_name="language", code_version=code_version(__name__), kinds={"numpy"},
    automation_condition=ON_CHANGE)
def emotion(context: dg.AssetExecutionContext, audio: pa.Table, transcript: pa.Table,
        media_store: MediaStore, metrics: MetricsResource) -> dg.Output[pa.Table]:
    """Prosody (energy and its variance, pitch range, speaking rate, pauses, laughter, applause) and text affect
    (valence, arousal, emotion label) in separate columns; `intensity` joins both, relative to the whole video."""
    track = audio.to_pylist()[0]
    with metrics.track(context) as row:
        rows = segment_emotions(load_wav(media_store.local(track["audio_path"])), transcript.to_pylist())
        row.model, row.audio_seconds, row.params = "prosody+lexicon", track["duration"], {"segments": len(rows)}
    return table_output(
        to_table("emotion", [{"video": context.partition_key, **r} for r in rows]),
        metadata={"segments": len(rows), "labels": dg.MetadataValue.json(dict(Counter(r["emotion"] for r in rows))),
                  "laughter_or_applause": sum(bool(r["laughter"]) or r["applause"] >= 0.5 for r in rows)},
        row=row,
    )
