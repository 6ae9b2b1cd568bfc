"""Language: sentences, embeddings and search, topics, emotion, safety, the LLM client and clip copy.

Plain functions: nothing here imports Dagster or `resources`."""
