"""Query every output from a notebook: `connect().sql("from segments").df()`, and search what was said:
`search("pricing objections", k=10)`.

`connect()` returns an in-memory DuckDB connection with one view per asset over the parquet lake,
and a `metrics` table snapshot. It never keeps `metrics.duckdb` open, so a notebook does not block
the pipeline's writers.
"""

from __future__ import annotations

import time
from pathlib import Path

from ai_assets.metrics import CREATE_TABLE, INSERT_NEW, TABLE, MetricsStore, row_values
from ai_assets.settings import Layout
from ai_assets.tables import SCHEMAS


def connect(home: str | Path | None = None, lock_wait_s: float = 2.0):
    """A DuckDB connection with views `source_video`, `audio`, `transcript`, `transcript_embeddings`,
    `segments`, and a `metrics` table (committed rows plus rows still in the spool)."""
    import duckdb
    import pyarrow as pa

    layout = Layout(Path(home).resolve()) if home else Layout.from_env()
    conn = duckdb.connect()
    for asset, schema in SCHEMAS.items():
        folder = layout.lake / asset
        if any(folder.glob("*.parquet")):
            conn.execute(
                f"CREATE VIEW {asset} AS SELECT * FROM read_parquet('{_quote(folder)}/*.parquet', union_by_name = true)"
            )
        else:
            conn.register(f"_{asset}_empty", pa.Table.from_pylist([], schema=schema))
            conn.execute(f"CREATE VIEW {asset} AS SELECT * FROM _{asset}_empty")
    _load_metrics(conn, MetricsStore(layout.metrics_db, layout.metrics_spool), lock_wait_s)
    return conn


def search(query: str, k: int = 10, home: str | Path | None = None):
    """Semantic search over every video's transcript windows: a DataFrame of video, name, start, end, text and
    score (cosine similarity), best first, without overlapping hits from one video. The query is embedded
    with the model that embedded the windows."""
    import numpy as np
    import pandas as pd

    from resources.text_embedder import TextEmbedder

    layout = Layout(Path(home).resolve()) if home else Layout.from_env()
    conn = connect(layout.home)
    try:
        windows = conn.execute(
            "SELECT e.video, s.name, e.start, e.end, e.text, e.model, e.embedding FROM transcript_embeddings e "
            "LEFT JOIN source_video s USING (video)"
        ).df()
    finally:
        conn.close()
    columns = ["video", "name", "start", "end", "text", "score"]
    if windows.empty or not query.strip():
        return pd.DataFrame(columns=columns)
    embedder = TextEmbedder(cache_dir=str(layout.model_cache))
    scored = []
    for model, group in windows.groupby("model"):
        vectors = np.vstack(group["embedding"].to_numpy()).astype(np.float32)
        scored.append(group.assign(score=vectors @ embedder.encode([query], model)[0]))
    picked: list[dict] = []
    for row in pd.concat(scored).sort_values("score", ascending=False).to_dict("records"):
        if len(picked) == k:
            break
        # Windows start at every sentence, so neighbours repeat each other; keep the best of overlapping ones.
        if not any(p["video"] == row["video"] and min(p["end"], row["end"]) - max(p["start"], row["start"]) > 0 for p in picked):
            picked.append(row)
    return pd.DataFrame(picked, columns=columns)


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

    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn.execute(f"ATTACH '{_quote(db_path)}' AS metrics_file (READ_ONLY)")
            return True
        except duckdb.Error:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
