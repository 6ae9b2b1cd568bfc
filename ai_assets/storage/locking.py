"""DuckDB files shared between processes: one process may write a file at a time, and a read-only
connection (a notebook) blocks every writer. Every opener here waits for the lock the same way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def retry_while_locked(attempt: Callable[[], T], wait_s: float, poll_s: float = 0.05) -> T:
    """`attempt()` until it stops raising `duckdb.Error` or `wait_s` has passed; then its last error is raised."""
    import duckdb

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return attempt()
        except duckdb.Error:
            if time.monotonic() >= deadline:
                raise
            time.sleep(poll_s)
