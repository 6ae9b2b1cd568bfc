"""Query every output from a notebook: `connect().sql("from segments").df()`.

`connect()` returns an in-memory DuckDB connection with one view per asset over the parquet lake (a local
folder, or S3 when $AI_ASSETS_STORAGE is an s3:// URL), and a `metrics` table snapshot. It never keeps
`metrics.duckdb` open, so a notebook does not block the pipeline's writers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ai_assets.storage.locking import retry_while_locked
from ai_assets.storage.metrics import CREATE_TABLE, INSERT_NEW, TABLE, MetricsStore, row_values
from ai_assets.storage.settings import STORAGE_ENV, Layout
from ai_assets.storage.tables import SCHEMAS


def connect(home: str | Path | None = None, lock_wait_s: float = 2.0, tables: Iterable[str] | None = None,
            metrics: bool = True):
    """A DuckDB connection with a view per lake table (`source_video`, `transcript`, `segments`, `clips`, ...) and a
    `metrics` table (committed rows plus rows still in the spool). `tables` limits the views to those named, and
    `metrics=False` leaves the metrics out: a page answering many small requests opens only what it reads."""
    import duckdb
    import pyarrow as pa

    layout = Layout(Path(home).resolve(), os.environ.get(STORAGE_ENV) or None) if home else Layout.from_env()
    conn = duckdb.connect()
    objects = layout.objects()
    for asset, schema in SCHEMAS.items():
        if tables is not None and asset not in tables:
            continue
        # feedback is written on the control host by `ai-assets feedback`, always under the home folder
        if objects.remote and asset != "feedback":
            _register_remote(conn, objects, asset, schema)
            continue
        folder = layout.lake / asset
        if any(folder.glob("*.parquet")):
            conn.execute(
                f"CREATE VIEW {asset} AS SELECT * FROM read_parquet('{_quote(folder)}/*.parquet', union_by_name = true)"
            )
        else:
            conn.register(f"_{asset}_empty", pa.Table.from_pylist([], schema=schema))
            conn.execute(f"CREATE VIEW {asset} AS SELECT * FROM _{asset}_empty")
    if metrics:
        _load_metrics(conn, MetricsStore(layout.metrics_db, layout.metrics_spool), lock_wait_s)
    return conn


def _register_remote(conn, objects, asset: str, schema) -> None:
    """A lazy view over the asset's parquet objects on S3, read through pyarrow's S3 filesystem.

    DuckDB's own httpfs extension would need a download at run time (no build of it for DuckDB 2.0 ships on PyPI);
    pyarrow's dataset scanner streams the same files and DuckDB pushes projections and filters into it.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    keys = [loc[len("s3://"):] for loc in objects.files(objects.location("lake", asset), ".parquet")]
    source = (ds.dataset(keys, schema=schema, format="parquet", filesystem=objects.fs) if keys
              else pa.Table.from_pylist([], schema=schema))
    conn.register(f"_{asset}_source", source)
    conn.execute(f"CREATE VIEW {asset} AS SELECT * FROM _{asset}_source")


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def metrics_snapshot(store: MetricsStore, lock_wait_s: float = 2.0):
    """An in-memory DuckDB connection holding only the `metrics` table (committed plus spooled rows)."""
    import duckdb

    conn = duckdb.connect()
    _load_metrics(conn, store, lock_wait_s)
    return conn


def _load_metrics(conn, store: MetricsStore, lock_wait_s: float) -> None:
    conn.execute(CREATE_TABLE)
    if store.db_path.exists() and _attach_read_only(conn, store.db_path, lock_wait_s):
        tables = conn.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'metrics_file'").fetchall()
        if (TABLE,) in tables:  # the file may hold only policies so far
            conn.execute(f"INSERT INTO {TABLE} BY NAME SELECT * FROM metrics_file.{TABLE}")
        conn.execute("DETACH metrics_file")
    spooled = [row_values(r) for r in store.spooled_rows()]
    if spooled:
        conn.executemany(INSERT_NEW, spooled)


def _attach_read_only(conn, db_path: Path, wait_s: float) -> bool:
    """Attach briefly for a snapshot; False if a writer keeps it locked (then only spooled rows show)."""
    import duckdb

    try:
        retry_while_locked(lambda: conn.execute(f"ATTACH '{_quote(db_path)}' AS metrics_file (READ_ONLY)"), wait_s)
        return True
    except duckdb.Error:
        return False
