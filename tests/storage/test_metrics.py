"""Metrics survive a locked DuckDB file: nothing fails, nothing is lost."""

import subprocess
import sys
import time

import dagster as dg
import duckdb

from ai_assets.assets import audio, source_video
from ai_assets.definitions import build_resources
from ai_assets.storage.catalog import connect
from ai_assets.storage.metrics import MetricRow, MetricsStore
from tests.conftest import add_video

HOLD_READ_ONLY = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
print("locked", flush=True)
sys.stdin.readline()
"""


def hold_read_only(db_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD_READ_ONLY, str(db_path)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def release(proc):
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait(timeout=30)


def test_store_spools_while_locked_and_flushes_once_released(tmp_path):
    store = MetricsStore(tmp_path / "metrics.duckdb", tmp_path / "spool", lock_wait_s=0.2)
    store.record(MetricRow(asset="a", video="v", run_id="r", started_at=time.time()))
    assert store.flush() == 1 and store.pending() == []
    holder = hold_read_only(store.db_path)
    try:
        for i in range(3):
            store.record(MetricRow(asset="b", video=f"v{i}", run_id="r", started_at=time.time()))
        assert len(store.pending()) == 3
        assert store.flush() == 0
    finally:
        release(holder)
    assert store.flush() == 3
    assert store.flush() == 0
    with duckdb.connect(str(store.db_path), read_only=True) as conn:
        assert conn.execute("select asset, count(*) from metrics group by 1 order by 1").fetchall() == [("a", 1),
                ("b", 3)]


def test_a_row_moved_twice_is_stored_once(tmp_path):
    store = MetricsStore(tmp_path / "metrics.duckdb", tmp_path / "spool")
    row = MetricRow(asset="a", video="v", run_id="r", started_at=time.time())
    store.record(row)
    store.record(row)  # same id, as after a crash between insert and spool cleanup
    store.flush()
    with duckdb.connect(str(store.db_path), read_only=True) as conn:
        assert conn.execute("select count(*) from metrics").fetchone() == (1,)


def test_runs_succeed_under_a_read_only_notebook_lock_and_no_metric_is_lost(layout, instance, media):
    keys = [add_video(layout, instance, media["talk"]), add_video(layout, instance, media["odd_name"])]
    store = MetricsStore(layout.metrics_db, layout.metrics_spool)
    store.record(MetricRow(asset="bootstrap", video=None, run_id=None, started_at=time.time()))
    store.flush()
    holder = hold_read_only(layout.metrics_db)
    try:
        for key in keys:
            result = dg.materialize([source_video, audio], partition_key=key, instance=instance,
                resources=build_resources(layout))
            assert result.success
        assert len(store.pending()) == 4
        # A notebook opened meanwhile still sees every row, committed or spooled.
        with connect(layout.home, lock_wait_s=0.2) as conn:
            assert conn.execute("select count(*) from metrics where asset in ('source_video', 'audio')").fetchone() == (
                4,
            )
    finally:
        release(holder)
    assert store.flush() == 4
    with duckdb.connect(str(layout.metrics_db), read_only=True) as conn:
        rows = conn.execute(
            "select asset, video, status from metrics where asset != 'bootstrap' order by video, asset"
        ).fetchall()
    assert rows == sorted([(asset, key, "success") for key in keys for asset in ("audio", "source_video")],
            key=lambda r: (r[1], r[0]))


def test_rows_wait_in_the_spool_until_enough_are_there_or_the_oldest_is_old_enough(tmp_path):
    from ai_assets.storage.metrics import FLUSH_AFTER_S, FLUSH_AT_ROWS

    store = MetricsStore(tmp_path / "metrics.duckdb", tmp_path / "spool")
    now = time.time()
    for i in range(FLUSH_AT_ROWS - 1):
        store.record(MetricRow(asset="a", video=f"v{i}", run_id="r", started_at=now + i * 1e-3))
    assert len(store.pending()) == FLUSH_AT_ROWS - 1 and not store.db_path.exists()  # no DuckDB work yet
    oldest = now
    assert not store.flush_due(now=oldest + FLUSH_AFTER_S - 0.5)
    assert store.flush_due(now=oldest + FLUSH_AFTER_S + 1e-3)  # the file name keeps microseconds
    store.record(MetricRow(asset="a", video="last", run_id="r", started_at=now + 1.0))  # the FLUSH_AT_ROWS-th
    assert store.pending() == []
    with duckdb.connect(str(store.db_path), read_only=True) as conn:
        assert conn.execute("select count(*) from metrics").fetchone() == (FLUSH_AT_ROWS,)
    # One row alone moves once it has waited FLUSH_AFTER_S (a long step's row, started long ago).
    store.record(MetricRow(asset="slow", video="v", run_id="r", started_at=time.time() - FLUSH_AFTER_S - 1))
    assert store.pending() == []
