"""Vision: scene cuts and keyframes, per-frame signals and faces, and VLM descriptions.

Plain functions: nothing here imports Dagster or `resources`."""
