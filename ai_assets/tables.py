"""Arrow schemas of the lake tables, so every partition file has the same column types."""

from __future__ import annotations

import pyarrow as pa

WORD = pa.struct([("start", pa.float64()), ("end", pa.float64()), ("word", pa.string()), ("probability", pa.float64())])
REGION = pa.struct([("start", pa.float64()), ("end", pa.float64())])

SCHEMAS: dict[str, pa.Schema] = {
    "source_video": pa.schema(
        [
            ("video", pa.string()),
            ("name", pa.string()),
            ("source", pa.string()),
            ("sha256", pa.string()),
            ("media_path", pa.string()),
            ("container", pa.string()),
            ("duration", pa.float64()),
            ("size_bytes", pa.int64()),
            ("has_audio", pa.bool_()),
            ("has_video", pa.bool_()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("fps", pa.float64()),
            ("video_codec", pa.string()),
            ("audio_codec", pa.string()),
            ("audio_sample_rate", pa.int32()),
            ("audio_channels", pa.int32()),
            ("streams", pa.string()),
        ]
    ),
    "audio": pa.schema(
        [
            ("video", pa.string()),
            ("audio_path", pa.string()),
            ("sample_rate", pa.int32()),
            ("duration", pa.float64()),
            ("speech_seconds", pa.float64()),
            ("speech_ratio", pa.float64()),
            ("speech_regions", pa.list_(REGION)),
        ]
    ),
    "audio_profile": pa.schema(
        [
            ("video", pa.string()),
            ("speech_ratio", pa.float64()),
            ("snr_db", pa.float64()),
            ("loudness_dbfs", pa.float64()),
            ("syllables_per_second", pa.float64()),
            ("estimated_speakers", pa.int32()),
            ("complexity_class", pa.string()),
            ("policy_version", pa.int32()),
            ("policy_sha256", pa.string()),
        ]
    ),
    "transcript": pa.schema(
        [
            ("video", pa.string()),
            ("segment", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("text", pa.string()),
            ("language", pa.string()),
            ("language_probability", pa.float64()),
            ("avg_logprob", pa.float64()),
            ("no_speech_prob", pa.float64()),
            ("compression_ratio", pa.float64()),
            ("words", pa.list_(WORD)),
            ("model", pa.string()),
            ("policy_version", pa.int32()),
            ("policy_sha256", pa.string()),
        ]
    ),
    "transcript_quality": pa.schema(
        [
            ("video", pa.string()),
            ("wer", pa.float64()),
            ("reference_words", pa.int32()),
            ("substitutions", pa.int32()),
            ("deletions", pa.int32()),
            ("insertions", pa.int32()),
            ("model", pa.string()),
            ("policy_version", pa.int32()),
            ("policy_sha256", pa.string()),
        ]
    ),
    "transcript_shadow": pa.schema(
        [
            ("video", pa.string()),
            ("complexity_class", pa.string()),
            ("model", pa.string()),
            ("beam_size", pa.int32()),
            ("batch_size", pa.int32()),
            ("rule_sha", pa.string()),
            ("agreement_wer", pa.float64()),
            ("confidence", pa.float64()),
            ("seconds", pa.float64()),
            ("realtime_factor", pa.float64()),
            ("policy_version", pa.int32()),
            ("policy_sha256", pa.string()),
        ]
    ),
    "keyframes": pa.schema(
        [
            ("video", pa.string()),
            ("time", pa.float64()),
            ("scene", pa.int32()),
            ("reason", pa.string()),
            ("phash", pa.string()),
            ("path", pa.string()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("policy_version", pa.int32()),
            ("policy_sha256", pa.string()),
        ]
    ),
    "visual_analysis": pa.schema(
        [
            ("video", pa.string()),
            ("time", pa.float64()),
            ("scene", pa.int32()),
            ("path", pa.string()),
            ("faces", pa.int32()),
            ("face_boxes", pa.list_(pa.list_(pa.float64()))),
            ("face_cx", pa.float64()),
            ("face_cy", pa.float64()),
            ("motion", pa.float64()),
            ("brightness", pa.float64()),
            ("contrast", pa.float64()),
            ("sharpness", pa.float64()),
            ("colourfulness", pa.float64()),
            ("text_likelihood", pa.float64()),
            ("shot_type", pa.string()),
            ("vlm_description", pa.string()),
            ("vlm_objects", pa.list_(pa.string())),
            ("vlm_text", pa.string()),
            ("vlm_interest", pa.float64()),
        ]
    ),
    "transcript_embeddings": pa.schema(
        [
            ("video", pa.string()),
            ("window", pa.int32()),
            ("sentence_index", pa.int32()),
            ("sentence_count", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("text", pa.string()),
            ("model", pa.string()),
            ("policy_version", pa.int32()),
            ("policy_sha256", pa.string()),
            ("embedding", pa.list_(pa.float32())),
        ]
    ),
    "segments": pa.schema(
        [
            ("video", pa.string()),
            ("rank", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("duration", pa.float64()),
            ("score", pa.float64()),
            ("speech_density", pa.float64()),
            ("hook", pa.float64()),
            ("coherence", pa.float64()),
            ("visual", pa.float64()),
            ("face_share", pa.float64()),
            ("motion_level", pa.float64()),
            ("cut_rate", pa.float64()),
            ("vlm_interest", pa.float64()),
            ("hook_kind", pa.string()),
            ("first_sentence", pa.int32()),
            ("last_sentence", pa.int32()),
            ("text", pa.string()),
        ]
    ),
    "clips": pa.schema(
        [
            ("video", pa.string()),
            ("clip_id", pa.string()),
            ("platform", pa.string()),
            ("rank", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("duration", pa.float64()),
            ("frames", pa.int32()),
            ("fps", pa.float64()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("aspect", pa.string()),
            ("layout", pa.string()),
            ("jitter", pa.float64()),
            ("face_coverage", pa.float64()),
            ("trimmed", pa.bool_()),
            ("captions_burned", pa.bool_()),
            ("caption_cues", pa.int32()),
            ("path", pa.string()),
            ("srt_path", pa.string()),
            ("thumbnail_path", pa.string()),
            ("score", pa.float64()),
            ("text", pa.string()),
            ("policy_version", pa.int32()),
            ("policy_sha256", pa.string()),
        ]
    ),
}


def to_table(asset: str, rows: list[dict]) -> pa.Table:
    """Rows to an Arrow table with the asset's schema; extra keys are an error, not silently dropped."""
    schema = SCHEMAS[asset]
    for row in rows:
        extra = set(row) - set(schema.names)
        if extra:
            raise KeyError(f"{asset}: columns not in schema: {sorted(extra)}")
    return pa.Table.from_pylist(rows, schema=schema)
