"""A bad spool file is quarantined in `<spool>/bad/`: it never fails a flush, and no good row is lost."""

import json
import logging
import os
import tempfile
import time
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ai_assets.storage.metrics import COLUMNS, FLUSH_AFTER_S, MetricRow, MetricsStore

GOOD = {"id": "good", "asset": "a", "video": "v", "run_id": "r", "started_at": 1_700_000_000.0}

# Files that cannot become a row, before or at the insert; each must end in bad/ unchanged.
BAD_FILES = {
    "truncated.json": b'{"id": "t", "asset": "a", "started_at": 17',
    "garbage.json": bytes(range(256)),
    "latin1.json": b'{"id": "l", "asset": "caf\xe9", "started_at": 1}',
    "utf16.json": json.dumps({**GOOD, "id": "u"}).encode("utf-16"),
    "empty.json": b"",
    "list.json": b'[["id", "x"], ["started_at", 1]]',
    "number.json": b"42",
    "no_started_at.json": json.dumps({"id": "n", "asset": "a"}).encode(),
    "started_at_word.json": json.dumps({**GOOD, "id": "s", "started_at": "yesterday"}).encode(),
    # These pass row_values; DuckDB refuses them, which aborts the batch and exercises the row-by-row retry.
    "audio_seconds_word.json": json.dumps({**GOOD, "id": "w", "audio_seconds": "abc"}).encode(),
    "policy_version_too_big.json": json.dumps({**GOOD, "id": "p", "policy_version": 2**31}).encode(),
    "params_lone_surrogate.json": b'{"id": "j", "asset": "a", "started_at": 1, "params": {"x": "\\ud800"}}',
    "no_id.json": json.dumps({**GOOD, "id": None}).encode(),
}


def make_store(tmp_path: Path) -> MetricsStore:
    return MetricsStore(tmp_path / "metrics.duckdb", tmp_path / "spool")


def spool(store: MetricsStore, name: str, data: bytes) -> Path:
    store.spool_dir.mkdir(parents=True, exist_ok=True)
    path = store.spool_dir / name
    path.write_bytes(data)
    return path


def stored_ids(store: MetricsStore) -> list[str]:
    with duckdb.connect(str(store.db_path), read_only=True) as conn:
        return [r[0] for r in conn.execute("select id from metrics order by id").fetchall()]


def test_bad_files_are_quarantined_unchanged_and_good_rows_land(tmp_path, caplog):
    store = make_store(tmp_path)
    spool(store, "0-good.json", json.dumps(GOOD).encode())
    spool(store, "9-good2.json", json.dumps({**GOOD, "id": "good2", "audio_seconds": "1.5"}).encode())
    for name, data in BAD_FILES.items():
        spool(store, name, data)
    (store.spool_dir / "directory.json").mkdir()  # cannot be read as a file

    with caplog.at_level(logging.WARNING, logger="ai_assets.storage.metrics"):
        assert store.flush() == 2
    assert store.last_quarantined == len(BAD_FILES) + 1
    assert stored_ids(store) == ["good", "good2"]
    assert store.pending() == []
    for name, data in BAD_FILES.items():
        assert (store.bad_dir / name).read_bytes() == data
    assert (store.bad_dir / "directory.json").is_dir()
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for name in [*BAD_FILES, "directory.json"]:
        assert name in warned
    assert "Could not convert string 'abc' to DOUBLE" in warned  # the reason, on one line

    caplog.clear()
    assert store.flush() == 0
    assert store.last_quarantined == 0
    assert stored_ids(store) == ["good", "good2"]
    assert sorted(p.name for p in store.bad_dir.iterdir()) == sorted([*BAD_FILES, "directory.json"])


def test_record_and_spooled_rows_survive_a_bad_file(tmp_path, caplog):
    store = make_store(tmp_path)
    spool(store, "bad.json", b"\xff\xfe not json")
    spool(store, "refused.json", json.dumps({**GOOD, "id": "refused", "confidence": "high"}).encode())
    spool(store, "waiting.json", json.dumps({**GOOD, "id": "waiting"}).encode())

    # spooled_rows() hands back only rows a reader can insert (catalog.py inserts them as they are).
    with caplog.at_level(logging.WARNING):
        assert [r["id"] for r in store.spooled_rows()] == ["waiting"]
    assert store.last_quarantined == 2
    assert sorted(p.name for p in store.bad_dir.iterdir()) == ["bad.json", "refused.json"]

    spool(store, "bad2.json", b"{")
    # A row that has waited long enough makes record() move the spool, and quarantine what it cannot move.
    store.record(MetricRow(asset="a", video="v", run_id="r", started_at=time.time() - FLUSH_AFTER_S, id="recorded"))
    assert store.last_quarantined == 1
    assert stored_ids(store) == ["recorded", "waiting"]
    assert store.pending() == []


def test_a_name_taken_in_bad_is_never_overwritten(tmp_path):
    store = make_store(tmp_path)
    for generation in range(3):
        spool(store, "same.json", f"not json {generation}".encode())
        assert store.flush() == 0
        assert store.last_quarantined == 1
    assert {p.name: p.read_bytes() for p in store.bad_dir.iterdir()} == {
        "same.json": b"not json 0",
        "same.1.json": b"not json 1",
        "same.2.json": b"not json 2",
    }


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_quarantined(tmp_path):
    store = make_store(tmp_path)
    path = spool(store, "locked.json", json.dumps({**GOOD, "id": "locked"}).encode())
    path.chmod(0)
    spool(store, "good.json", json.dumps(GOOD).encode())
    assert store.flush() == 1
    assert store.last_quarantined == 1
    assert (store.bad_dir / "locked.json").exists()


def test_duplicate_ids_in_a_retried_batch_are_stored_once(tmp_path):
    store = make_store(tmp_path)
    store.record(MetricRow(asset="a", video="v", run_id="r", started_at=1.0, id="dup"))
    # The same row spooled again (a crash before its spool file was removed), next to one DuckDB refuses.
    spool(store, "again.json", json.dumps({**GOOD, "id": "dup"}).encode())
    spool(store, "other.json", json.dumps({**GOOD, "id": "other"}).encode())
    spool(store, "refused.json", json.dumps({**GOOD, "id": "x", "seconds": [1]}).encode())
    assert store.flush() == 2
    assert store.last_quarantined == 1
    assert stored_ids(store) == ["dup", "other"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
row_like = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=8), "started_at": st.floats(0, 4e9) | json_values},
    optional={k: json_values for k in COLUMNS if k not in ("id", "started_at")},
)
spool_bytes = st.binary(max_size=200) | row_like.map(lambda row: json.dumps(row).encode())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contents=st.lists(spool_bytes, min_size=1, max_size=4))
def test_any_spool_file_lands_or_is_quarantined_unchanged(contents):
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp))
        files = {f"{i}.json": data for i, data in enumerate(contents)}
        for name, data in files.items():
            spool(store, name, data)
        readable = store.spooled_rows()
        # What a reader was shown is exactly what lands; everything else is in bad/, byte for byte.
        assert store.flush() == len(readable)
        assert store.last_quarantined == 0
        assert store.pending() == []
        quarantined = {p.name: p.read_bytes() for p in store.bad_dir.iterdir()} if store.bad_dir.exists() else {}
        assert len(readable) + len(quarantined) == len(files)
        assert all(files[name] == data for name, data in quarantined.items())
