"""Speakers: diarization (who spoke when) and the speaker of every transcript word and segment.

Plain functions: nothing here imports Dagster or `resources`."""
