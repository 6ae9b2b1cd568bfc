"""Policies: the versioned documents and their store, the platform table, the optimizer, history and staleness.

Plain functions: nothing here imports Dagster or `resources`."""
