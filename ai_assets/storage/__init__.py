"""Storage: folders and atomic files, asset table schemas, metrics, the catalog, DuckDB locking and models on disk.

Plain functions: nothing here imports Dagster or `resources`."""
