from ai_assets.assets.audio import audio
from ai_assets.assets.audio_profile import audio_profile
from ai_assets.assets.clips import clips
from ai_assets.assets.keyframes import keyframes
from ai_assets.assets.policies import POLICY_ASSETS, asr_policy, clip_policy, embed_policy, vision_policy
from ai_assets.assets.segments import segments
from ai_assets.assets.source_video import source_video
from ai_assets.assets.transcript import transcript
from ai_assets.assets.transcript_embeddings import transcript_embeddings
from ai_assets.assets.transcript_quality import transcript_quality
from ai_assets.assets.transcript_shadow import transcript_shadow
from ai_assets.assets.visual_analysis import visual_analysis

# Materializable, partitioned by video, in graph order.
VIDEO_ASSETS = [source_video, audio, audio_profile, transcript, transcript_quality, transcript_shadow, transcript_embeddings, keyframes, visual_analysis, segments, clips]
ALL_ASSETS = [*POLICY_ASSETS, *VIDEO_ASSETS]

__all__ = [
    "ALL_ASSETS", "POLICY_ASSETS", "VIDEO_ASSETS", "asr_policy", "audio", "audio_profile", "clip_policy", "clips", "embed_policy", "keyframes",
    "segments", "source_video", "transcript", "transcript_embeddings", "transcript_quality", "transcript_shadow", "vision_policy", "visual_analysis",
]
