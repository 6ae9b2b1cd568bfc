from ai_assets.assets.audio import audio
from ai_assets.assets.segments import segments
from ai_assets.assets.source_video import source_video
from ai_assets.assets.transcript import transcript
from ai_assets.assets.transcript_embeddings import transcript_embeddings

ALL_ASSETS = [source_video, audio, transcript, transcript_embeddings, segments]
