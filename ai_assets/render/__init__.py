"""Render: clip plans, reframing, captions and the ffmpeg encode.

Plain functions: nothing here imports Dagster or `resources`."""
