"""ai-assets: long videos to transcripts, embeddings and ranked clips, as a Dagster asset graph."""
