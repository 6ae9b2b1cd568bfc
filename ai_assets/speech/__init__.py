"""Speech: voice activity, the batched Whisper engine, the audio profile, transcript checks and word error rate.

Plain functions: nothing here imports Dagster or `resources`."""
