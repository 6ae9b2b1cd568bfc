"""Arrow schemas of the lake tables, so every partition file has the same column types."""

from __future__ import annotations

import pyarrow as pa

# The named signals a segment's score is built from; each lies in [0, 1] (see ai_assets/ranking/segments.py).
# Each is a column of `segments`, with its weighted contribution beside it, and of `feedback`.
SIGNALS = ("hook", "emotion", "speech_rate", "speaker_dynamics", "visual", "completeness", "speech_density")
# The `moderation` of a segment, and of its clips, that the configured moderation endpoint did not check (null where
# it did, or where none is configured): the lexicon alone judged it.
MODERATION_UNAVAILABLE = "unavailable"

WORD = pa.struct([("start", pa.float64()), ("end", pa.float64()), ("word", pa.string()), ("probability", pa.float64())])
REGION = pa.struct([("start", pa.float64()), ("end", pa.float64())])


def clock(seconds: float) -> str:
    """A time column as people read it: 83.25 -> '1:23.2'."""
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"

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
            ("rotation", pa.int32()),
            ("hdr", pa.string()),
            ("interlaced", pa.bool_()),
        ]
    ),
    "audio": pa.schema(
        [
            ("video", pa.string()),
            ("audio_path", pa.string()),
            ("track", pa.int32()),  # the sound track transcribed, among the file's audio streams (0: the first)
            ("channel", pa.int32()),  # its one channel transcribed where its two cancel out in mono; null: the mix
            # Other tracks mixed in with it: speakers each recorded on a track of their own. Empty for most files.
            ("mixed_tracks", pa.list_(pa.struct([("track", pa.int32()), ("channel", pa.int32())]))),
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
            ("noise_floor_dbfs", pa.float64()),
            ("loudness_dbfs", pa.float64()),
            ("hf_share", pa.float64()),
            ("band_drop_db", pa.float64()),
            ("clipped_share", pa.float64()),
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
    "diarization": pa.schema(
        [
            ("video", pa.string()),
            ("turn", pa.int32()),
            ("speaker", pa.string()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("duration", pa.float64()),
        ]
    ),
    "transcript_speakers": pa.schema(
        [
            ("video", pa.string()),
            ("segment", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("speaker", pa.string()),
            ("speaker_share", pa.float64()),
            ("word_speakers", pa.list_(pa.string())),
        ]
    ),
    "emotion": pa.schema(
        [
            ("video", pa.string()),
            ("segment", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            # prosody
            ("energy_db", pa.float64()),
            ("energy_var_db", pa.float64()),
            ("pitch_mean_hz", pa.float64()),
            ("pitch_range_st", pa.float64()),
            ("speech_rate_wps", pa.float64()),
            ("pause_share", pa.float64()),
            ("longest_pause_s", pa.float64()),
            ("laughter", pa.float64()),
            ("applause", pa.float64()),
            ("arousal_prosody", pa.float64()),
            # words
            ("valence", pa.float64()),
            ("arousal", pa.float64()),
            ("emotion", pa.string()),
            ("emotion_score", pa.float64()),
            ("intensity", pa.float64()),
        ]
    ),
    "safety": pa.schema(
        [
            ("video", pa.string()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("category", pa.string()),
            ("score", pa.float64()),
            ("text", pa.string()),
            ("source", pa.string()),
        ]
    ),
    "topics": pa.schema(
        [
            ("video", pa.string()),
            ("chapter", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("first_sentence", pa.int32()),
            ("last_sentence", pa.int32()),
            ("title", pa.string()),
            ("keywords", pa.list_(pa.string())),
            ("youtube", pa.string()),
            ("text", pa.string()),
        ]
    ),
    "segments": pa.schema(
        [
            ("video", pa.string()),
            ("platform", pa.string()),
            ("rank", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("duration", pa.float64()),
            ("score", pa.float64()),
            *((name, pa.float64()) for signal in SIGNALS for name in (signal, f"{signal}_contrib")),
            ("safety", pa.float64()),
            ("safety_contrib", pa.float64()),
            ("coherence", pa.float64()),
            ("face_share", pa.float64()),
            ("motion_level", pa.float64()),
            ("cut_rate", pa.float64()),
            ("vlm_interest", pa.float64()),
            ("hook_kind", pa.string()),
            ("speakers", pa.int32()),
            ("chapter", pa.int32()),
            ("starts_on_boundary", pa.bool_()),
            ("ends_on_boundary", pa.bool_()),
            ("first_sentence", pa.int32()),
            ("last_sentence", pa.int32()),
            ("reason", pa.string()),
            ("blocked_reason", pa.string()),
            ("moderation", pa.string()),  # MODERATION_UNAVAILABLE or null
            ("text", pa.string()),
            ("policy_version", pa.int32()),
            ("policy_sha256", pa.string()),
        ]
    ),
    "clip_copy": pa.schema(
        [
            ("video", pa.string()),
            ("platform", pa.string()),
            ("rank", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("title", pa.string()),
            ("description", pa.string()),
            ("hashtags", pa.list_(pa.string())),
            ("source", pa.string()),
            ("model", pa.string()),
            ("prompt_version", pa.string()),
            ("text_sha256", pa.string()),
        ]
    ),
    # Written by `ai-assets feedback` or ai_assets.feedback.record, one file per entry; the clip's signal
    # values are copied in so a refit does not depend on later reruns.
    "feedback": pa.schema(
        [
            ("feedback_id", pa.string()),
            ("created_at", pa.timestamp("us", tz="UTC")),
            ("clip_id", pa.string()),
            ("video", pa.string()),
            ("platform", pa.string()),
            ("rank", pa.int32()),
            ("rating", pa.int32()),
            ("selected", pa.bool_()),
            ("views", pa.int64()),
            ("retention", pa.float64()),
            ("note", pa.string()),
            ("segment_policy_version", pa.int32()),
            *((signal, pa.float64()) for signal in SIGNALS),
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
            ("rendered", pa.bool_()),
            ("layout", pa.string()),
            ("jitter", pa.float64()),
            ("face_coverage", pa.float64()),
            ("trimmed", pa.bool_()),
            ("captions_burned", pa.bool_()),
            ("caption_style", pa.string()),  # cue, word_highlight or word_pop as burned in; none without captions
            ("caption_cues", pa.int32()),
            ("path", pa.string()),
            ("srt_path", pa.string()),
            ("thumbnail_path", pa.string()),
            ("score", pa.float64()),
            ("text", pa.string()),
            ("moderation", pa.string()),  # MODERATION_UNAVAILABLE or null, from the segment
            ("held_reason", pa.string()),  # why the clip waits for review instead of rendering (safety_mode hold)
            ("render_error", pa.string()),  # why its render failed while the video's other clips were rendered
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
    return pa.Table.from_pylist([_clean(row, schema) for row in rows], schema=schema)


def _clean(row: dict, schema: pa.Schema) -> dict:
    """pandas round trips turn missing values into NaN and integers into floats; undo both."""
    out = {}
    for key, value in row.items():
        if isinstance(value, float) and value != value:
            value = None
        elif isinstance(value, float) and pa.types.is_integer(schema.field(key).type):
            value = int(value)
        out[key] = value
    return out


# Which policy document version made a row: provenance, not content. A stage rerun under a newer document whose
# relevant fields are unchanged makes the same data, so these columns stay out of its data version.
LINEAGE_COLUMNS = ("policy_version", "policy_sha256")


def content_version(table: pa.Table, used: str = "") -> str:
    """A hash of the table's content (lineage columns left out) and of `used`, the version of the policy view that
    made it: the stage's data version. Equal output means an equal version, so nothing downstream reruns."""
    import hashlib

    kept = table.drop_columns([c for c in LINEAGE_COLUMNS if c in table.column_names]).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, kept.schema) as writer:
        writer.write_table(kept)
    digest = hashlib.sha256(used.encode())
    digest.update(sink.getvalue())
    return digest.hexdigest()[:16]
