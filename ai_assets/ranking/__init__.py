"""Ranking: candidate segments scored per platform, feedback on clips, and refitting the weights from it.

Plain functions: nothing here imports Dagster or `resources`."""
