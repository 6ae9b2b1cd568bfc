from ai_assets.assets.audio import audio
from ai_assets.assets.audio_profile import audio_profile
from ai_assets.assets.clip_copy import clip_copy
from ai_assets.assets.clips import clips
from ai_assets.assets.diarization import diarization
from ai_assets.assets.emotion import emotion
from ai_assets.assets.keyframes import keyframes
from ai_assets.assets.policies import (
    POLICY_ASSETS,
    asr_policy,
    clip_policy,
    embed_policy,
    segment_policy,
    vision_policy,
)
from ai_assets.assets.safety import safety
from ai_assets.assets.segments import segments
from ai_assets.assets.source_video import source_video
from ai_assets.assets.topics import topics
from ai_assets.assets.transcript import transcript
from ai_assets.assets.transcript_embeddings import transcript_embeddings
from ai_assets.assets.transcript_quality import transcript_quality
from ai_assets.assets.transcript_shadow import transcript_shadow
from ai_assets.assets.transcript_speakers import transcript_speakers
from ai_assets.assets.visual_analysis import visual_analysis

# Materializable, partitioned by video, in graph order.
VIDEO_ASSETS = [
    source_video, audio, diarization, audio_profile, transcript, transcript_quality, transcript_shadow,
    transcript_embeddings, transcript_speakers, emotion, safety, topics, keyframes, visual_analysis, segments,
    clip_copy, clips,
]
ALL_ASSETS = [*POLICY_ASSETS, *VIDEO_ASSETS]

__all__ = [
    "ALL_ASSETS", "POLICY_ASSETS", "VIDEO_ASSETS", "asr_policy", "audio", "audio_profile", "clip_copy", "clip_policy",
    "clips", "diarization", "embed_policy", "emotion", "keyframes", "safety", "segment_policy", "segments",
    "source_video", "topics", "transcript", "transcript_embeddings", "transcript_quality", "transcript_shadow",
    "transcript_speakers", "vision_policy", "visual_analysis",
]
