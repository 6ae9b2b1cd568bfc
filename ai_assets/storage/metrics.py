"""Execution metrics in DuckDB, safe against a locked database file.

DuckDB allows one writing process per file, and a read-only connection (a notebook) blocks every
writer. So a metric is first written as a small JSON fragment in a spool folder (atomic, never
blocked), then moved into `metrics.duckdb` when the file can be locked. A fragment that cannot be
moved now stays in the spool and is moved by the next writer or `flush()`. Inserts are keyed by the
row id, so a fragment moved twice is stored once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC
from pathlib import Path

from ai_assets.storage.files import write_bytes_atomic
from ai_assets.storage.locking import retry_while_locked

COLUMNS = {
    "id": "VARCHAR PRIMARY KEY",
    "asset": "VARCHAR",
    "video": "VARCHAR",
    "run_id": "VARCHAR",
    "started_at": "TIMESTAMPTZ",
    "seconds": "DOUBLE",
    "model": "VARCHAR",
    "params": "JSON",
    "audio_seconds": "DOUBLE",
    "realtime_factor": "DOUBLE",
    "confidence": "DOUBLE",
    "status": "VARCHAR",
    "error": "VARCHAR",
    "policy_version": "INTEGER",
    "policy_sha256": "VARCHAR",
}
TABLE = "metrics"
CREATE_TABLE = f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(f'{k} {v}' for k, v in COLUMNS.items())})"
# Files made by an older version gain the newer columns.
MIGRATE = [f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {k} {v}" for k, v in COLUMNS.items() if "PRIMARY" not in v]
INSERT_NEW = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join(['?'] * len(COLUMNS))}) ON CONFLICT (id) DO NOTHING"
)


@dataclass
class MetricRow:
    asset: str
    video: str | None
    run_id: str | None
    started_at: float
    seconds: float = 0.0
    model: str | None = None
    params: dict = field(default_factory=dict)
    audio_seconds: float | None = None
    realtime_factor: float | None = None
    confidence: float | None = None
    status: str = "success"
    error: str | None = None
    policy_version: int | None = None
    policy_sha256: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


class MetricsStore:
    def __init__(self, db_path: Path, spool_dir: Path, lock_wait_s: float = 1.0):
        self.db_path = Path(db_path)
        self.spool_dir = Path(spool_dir)
        self.lock_wait_s = lock_wait_s

    def record(self, row: MetricRow) -> None:
        """Spool the row (never blocks), then try to move the spool into DuckDB."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        name = f"{row.started_at:.6f}-{row.id}.json"
        write_bytes_atomic(self.spool_dir / name, json.dumps(asdict(row), default=str).encode())
        self.flush(wait_s=0.0)

    def pending(self) -> list[Path]:
        return sorted(self.spool_dir.glob("*.json")) if self.spool_dir.exists() else []

    def flush(self, wait_s: float | None = None) -> int:
        """Move spooled rows into DuckDB; returns how many were moved (0 if the file is locked)."""
        files = self.pending()
        if not files:
            return 0
        conn = self._connect(self.lock_wait_s if wait_s is None else wait_s)
        if conn is None:
            return 0
        rows = []
        for path in files:
            try:
                rows.append(json.loads(path.read_text()))
            except FileNotFoundError:  # moved by a concurrent flush
                continue
        try:
            conn.execute("BEGIN")
            conn.executemany(INSERT_NEW, [row_values(r) for r in rows])
            conn.execute("COMMIT")
        finally:
            conn.close()
        for path in files:
            path.unlink(missing_ok=True)
        return len(rows)

    def _connect(self, wait_s: float):
        import duckdb

        def attempt():
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = duckdb.connect(str(self.db_path))
            conn.execute(CREATE_TABLE)
            for statement in MIGRATE:
                conn.execute(statement)
            return conn

        try:
            return retry_while_locked(attempt, wait_s)
        except duckdb.Error:  # locked by another process, or opened read-only in this one
            return None

    def spooled_rows(self) -> list[dict]:
        rows = []
        for path in self.pending():
            try:
                rows.append(json.loads(path.read_text()))
            except FileNotFoundError:
                continue
        return rows


def row_values(row: dict) -> list:
    """A spooled row as values in COLUMNS order."""
    values = dict(row)
    values["started_at"] = _timestamp(values["started_at"])
    values["params"] = json.dumps(values.get("params") or {}, sort_keys=True)
    return [values.get(k) for k in COLUMNS]


def _timestamp(epoch: float):
    from datetime import datetime

    return datetime.fromtimestamp(float(epoch), tz=UTC)
