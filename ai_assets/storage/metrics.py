"""Execution metrics in DuckDB, safe against a locked database file.

DuckDB allows one writing process per file, and a read-only connection (a notebook) blocks every
writer. So a metric is first written as a small JSON fragment in a spool folder (atomic, never
blocked), then moved into `metrics.duckdb` in batches (FLUSH_AT_ROWS, FLUSH_AFTER_S) when the file can be
locked. A fragment that cannot be moved now stays in the spool and is moved by a later writer or `flush()`.
Inserts are keyed by the row id, so a fragment moved twice is stored once.

A fragment that cannot be read, parsed or inserted is moved to `<spool>/bad/` with a warning, never deleted:
the flush runs inside assets, so one bad file must not fail them all.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC
from pathlib import Path

from ai_assets.storage.files import write_bytes_atomic
from ai_assets.storage.locking import retry_while_locked

log = logging.getLogger(__name__)

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
# Moving rows into DuckDB costs a connection, a schema check and a commit: 60-240 ms each, measured, and more under
# load, which after every asset came to seconds per video. So rows wait in the spool until this many are there or
# the oldest is this old. Nothing is lost or hidden meanwhile: readers (catalog.connect, metrics_snapshot) include
# spooled rows, `ai-assets process` flushes when it ends, and the compact_metrics schedule once a day.
FLUSH_AT_ROWS = 24
FLUSH_AFTER_S = 60.0
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
        self.last_quarantined = 0  # files moved to `bad_dir` by the last flush() or spooled_rows()

    @property
    def bad_dir(self) -> Path:
        return self.spool_dir / "bad"

    def record(self, row: MetricRow) -> None:
        """Spool the row (never blocks), then move the spool into DuckDB if that is due (see `flush_due`)."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        name = f"{row.started_at:.6f}-{row.id}.json"
        write_bytes_atomic(self.spool_dir / name, json.dumps(asdict(row), default=str).encode())
        if self.flush_due():
            self.flush(wait_s=0.0)

    def flush_due(self, now: float | None = None) -> bool:
        """Whether the spool should move now: FLUSH_AT_ROWS rows waiting, or the oldest waiting FLUSH_AFTER_S."""
        files = self.pending()
        if len(files) >= FLUSH_AT_ROWS:
            return True
        if not files:
            return False
        try:
            oldest = float(files[0].name.split("-", 1)[0])  # the row's started_at, which names the file
        except ValueError:  # not a name record() writes: let flush() quarantine it
            return True
        return (time.time() if now is None else now) - oldest >= FLUSH_AFTER_S

    def pending(self) -> list[Path]:
        # Not recursive: quarantined files in `bad_dir` are never picked up again.
        return sorted(self.spool_dir.glob("*.json")) if self.spool_dir.exists() else []

    def flush(self, wait_s: float | None = None) -> int:
        """Move spooled rows into DuckDB; returns how many were moved (0 if the file is locked).

        Files that are not valid rows are quarantined instead (counted in `last_quarantined`).
        """
        self.last_quarantined = 0
        files = self.pending()
        if not files:
            return 0
        conn = self._connect(self.lock_wait_s if wait_s is None else wait_s)
        if conn is None:
            return 0
        try:
            moved = self._insert(conn, self._read(files))
        finally:
            conn.close()
        for path in moved:
            path.unlink(missing_ok=True)
        return len(moved)

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
        """Rows still in the spool. Each is first tried in an in-memory table, so a row DuckDB refuses is
        quarantined here rather than failing the reader that inserts these rows (see catalog.py)."""
        import duckdb

        self.last_quarantined = 0
        rows = self._read(self.pending())
        with duckdb.connect() as conn:
            conn.execute(CREATE_TABLE)
            accepted = set(self._insert(conn, rows))
        return [row for path, row in rows if path in accepted]

    def _read(self, files: list[Path]) -> list[tuple[Path, dict]]:
        """The valid rows among `files`; the others are quarantined."""
        rows = []
        for path in files:
            try:
                # Strict UTF-8: read_text() would depend on the locale.
                row = json.loads(path.read_bytes().decode("utf-8"))
                if not isinstance(row, dict):
                    raise ValueError(f"a JSON {type(row).__name__}, not an object")
                row_values(row)
            except FileNotFoundError:  # moved by a concurrent flush
                continue
            except Exception as exc:  # anything at all wrong with the file: it must not fail the flush
                self._quarantine(path, exc)
                continue
            rows.append((path, row))
        return rows

    def _insert(self, conn, rows: list[tuple[Path, dict]]) -> list[Path]:
        """Insert `rows` in one transaction; returns the paths of those now stored."""
        import duckdb

        if not rows:
            return []
        conn.execute("BEGIN")
        try:
            conn.executemany(INSERT_NEW, [row_values(row) for _, row in rows])
        except duckdb.Error:
            conn.execute("ROLLBACK")
        else:
            conn.execute("COMMIT")
            return [path for path, _ in rows]
        # One refused value aborts the whole batch: insert row by row (keyed by id, so a retry never
        # duplicates) and quarantine only the rows refused. Other errors (I/O) still raise.
        refused = (duckdb.DataError, duckdb.IntegrityError, duckdb.InvalidInputException)
        stored = []
        for path, row in rows:
            try:
                conn.execute(INSERT_NEW, row_values(row))
            except refused as exc:
                self._quarantine(path, exc)
            else:
                stored.append(path)
        return stored

    def _quarantine(self, path: Path, exc: Exception) -> None:
        """Rename `path` into `bad_dir` under a name not yet taken, and say why."""
        lines = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {lines[0] if lines else ''}"
        target = self.bad_dir / path.name
        try:
            self.bad_dir.mkdir(parents=True, exist_ok=True)
            n = 0
            while target.exists() or target.is_symlink():  # keep earlier bad files of the same name
                n += 1
                target = self.bad_dir / f"{path.stem}.{n}{path.suffix}"
            path.rename(target)
        except FileNotFoundError:  # moved by a concurrent flush
            return
        except OSError as move_error:  # left in the spool, skipped again next time
            log.warning("bad metrics spool file %s (%s) could not be quarantined: %s", path, reason, move_error)
            return
        self.last_quarantined += 1
        log.warning("quarantined metrics spool file %s as bad/%s: %s", path, target.name, reason)


def row_values(row: dict) -> list:
    """A spooled row as values in COLUMNS order."""
    values = dict(row)
    values["started_at"] = _timestamp(values["started_at"])
    values["params"] = json.dumps(values.get("params") or {}, sort_keys=True)
    return [values.get(k) for k in COLUMNS]


def _timestamp(epoch: float):
    from datetime import datetime

    return datetime.fromtimestamp(float(epoch), tz=UTC)
