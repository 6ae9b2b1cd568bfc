"""User feedback on rendered clips, one parquet file per entry under lake/feedback/.

One file per entry means nothing ever holds a lock: the CLI, a notebook and the pipeline can all
write at once, and the `feedback` view in `catalog.connect()` reads them together. Each entry copies
in the signal values of the clip's segment, so a later rerun cannot change what the rating was about.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from ai_assets.storage.files import atomic_path
from ai_assets.storage.settings import Layout
from ai_assets.storage.tables import SIGNALS, to_table


def feedback_folder(layout: Layout) -> Path:
    return layout.lake / "feedback"


class FeedbackError(ValueError):
    """Feedback that cannot be stored; the message says what to fix."""


def record(
    clip_id: str, *, rating: int | None = None, selected: bool | None = None, views: int | None = None,
    retention: float | None = None, note: str | None = None, home: str | Path | None = None,
) -> dict:
    """Store one feedback entry for a clip (as named in the `clips` table) and return it."""
    if rating is None and selected is None and views is None and retention is None:
        raise FeedbackError("give at least one of rating, selected/rejected, views or retention")
    if rating is not None and not 1 <= rating <= 5:
        raise FeedbackError(f"rating must be 1–5 (got {rating})")
    if retention is not None and not 0.0 <= retention <= 1.0:
        raise FeedbackError(f"retention is the share of the clip watched, 0–1 (got {retention})")
    if views is not None and views < 0:
        raise FeedbackError(f"views cannot be negative (got {views})")
    layout = Layout(Path(home).resolve()) if home else Layout.from_env()
    clip, segment = _clip_and_segment(layout, clip_id)
    entry = {
        "feedback_id": uuid.uuid4().hex, "created_at": datetime.now(UTC), "clip_id": clip_id,
        "video": clip["video"], "platform": clip["platform"], "rank": clip["rank"], "rating": rating,
        "selected": selected,
        "views": views, "retention": retention, "note": note, "segment_policy_version": segment["policy_version"],
        **{s: segment[s] for s in SIGNALS},
    }
    path = feedback_folder(layout) / f"{entry['created_at']:%Y%m%dT%H%M%S%f}-{entry['feedback_id'][:8]}.parquet"
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(to_table("feedback", [entry]), tmp)
    return entry


def _clip_and_segment(layout: Layout, clip_id: str) -> tuple[dict, dict]:
    from ai_assets.storage.catalog import connect

    conn = connect(layout.home)
    try:
        clip = _one(conn, "SELECT video, platform, rank, text FROM clips WHERE clip_id = ?", [clip_id])
        if clip is None:
            raise FeedbackError(f"unknown clip id {clip_id!r}: pick one from `ai-assets feedback --list` or the clips "
                "table")
        columns = ", ".join(SIGNALS)
        segment = _one(
            conn,
            f"SELECT {columns}, policy_version FROM segments WHERE video = ? AND text = ? ORDER BY platform = ? DESC, "
            "rank LIMIT 1", [clip["video"], clip["text"], clip["platform"]],
        )
    finally:
        conn.close()
    if segment is None:
        raise FeedbackError(f"clip {clip_id!r} has no segment any more (its video was re-ranked); rate a current clip")
    return clip, segment


def _one(conn, sql: str, params: list) -> dict | None:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    return dict(zip(names, row, strict=True)) if row else None


def rows(folder: Path) -> list[dict]:
    """Every feedback entry in the folder, oldest first."""
    import duckdb

    if not any(Path(folder).glob("*.parquet")):
        return []
    conn = duckdb.connect()
    try:
        path = str(Path(folder) / "*.parquet").replace("'", "''")
        cursor = conn.execute(f"SELECT * FROM read_parquet('{path}', union_by_name = true) ORDER BY created_at")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    finally:
        conn.close()
