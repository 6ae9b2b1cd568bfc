"""Intake of uploads: partition keys, watching folders and buckets, storing originals, probing, decoding audio,
and the synthetic samples.

Plain functions: nothing here imports Dagster or `resources`."""
