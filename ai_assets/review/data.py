"""What the review page shows, read from the lake; and which files it may serve."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ai_assets.ingest.partition_keys import is_video_key
from ai_assets.storage.objects import is_remote
from ai_assets.storage.settings import Layout

log = logging.getLogger(__name__)


# What the pages read; media and feedback requests need less (a seek in the player is a request too).
PAGE_TABLES = ("source_video", "clips", "clip_copy", "segments", "safety", "feedback")


@contextmanager
def lake(layout: Layout, tables: tuple[str, ...] = PAGE_TABLES) -> Iterator:
    """A fresh connection per request: views over the parquet files as they are now, so new clips show at once.
    Only the named tables, and never the metrics (nothing here shows them, and they may be locked by a writer)."""
    from ai_assets.storage.catalog import connect

    conn = connect(layout.home, tables=tables, metrics=False)
    try:
        yield conn
    finally:
        conn.close()


def _rows(conn, sql: str, params: list | None = None) -> list[dict]:
    cursor = conn.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def videos(conn) -> list[dict]:
    """Every video with clips or a source row: name, duration, clip counts and the feedback given so far."""
    return _rows(conn, """
        WITH keys AS (SELECT video FROM source_video UNION SELECT video FROM clips),
        src AS (SELECT video, any_value(name) AS name, max(duration) AS duration FROM source_video GROUP BY video),
        c AS (SELECT video, count(*) AS clips, count(*) FILTER (WHERE rendered) AS rendered FROM clips GROUP BY video),
        latest AS (SELECT video, clip_id, count(*) AS entries,
                   arg_max(rating, created_at) FILTER (WHERE rating IS NOT NULL) AS rating,
                   arg_max(selected, created_at) FILTER (WHERE selected IS NOT NULL) AS selected
                   FROM feedback GROUP BY video, clip_id),
        -- each clip counted by its latest rating and keep/reject, as its card shows it
        f AS (SELECT video, sum(entries) AS feedback, avg(rating) AS rating, count(*) FILTER (WHERE selected) AS kept,
              count(*) FILTER (WHERE NOT selected) AS rejected FROM latest GROUP BY video)
        SELECT k.video, src.name, src.duration, coalesce(c.clips, 0) AS clips, coalesce(c.rendered, 0) AS rendered,
               coalesce(f.feedback, 0) AS feedback, f.rating, coalesce(f.kept, 0) AS kept,
               coalesce(f.rejected, 0) AS rejected
        FROM keys k LEFT JOIN src USING (video) LEFT JOIN c USING (video) LEFT JOIN f USING (video)
        ORDER BY src.name NULLS LAST, k.video""")


def video(conn, key: str) -> dict | None:
    """The `videos` row of one partition key; None unless it is a well-formed key the lake knows."""
    if not is_video_key(key):  # checked first: nothing else is done with a malformed key
        return None
    return next((v for v in videos(conn) if v["video"] == key), None)


def clips(conn, key: str) -> list[dict]:
    """The video's clips by platform and rank, each with its copy, the segment's reason, safety notes and
    feedback summary."""
    found = _rows(conn, """
        WITH cc AS (SELECT platform, rank, any_value(title) AS title, any_value(description) AS description,
                           any_value(hashtags) AS hashtags FROM clip_copy WHERE video = ? GROUP BY platform, rank),
        s AS (SELECT platform, rank, any_value(reason) AS reason, any_value(blocked_reason) AS blocked_reason
              FROM segments WHERE video = ? AND rank IS NOT NULL GROUP BY platform, rank)
        SELECT c.clip_id, c.video, c.platform, c.rank, c.start, c."end", c.duration, c.width, c.height, c.aspect,
               c.rendered, c.layout, c.score, c.text, c.moderation, c.held_reason, c.path, c.thumbnail_path,
               cc.title, cc.description, cc.hashtags, s.reason, s.blocked_reason
        FROM clips c LEFT JOIN cc USING (platform, rank) LEFT JOIN s USING (platform, rank)
        WHERE c.video = ? ORDER BY c.platform, c.rank, c.clip_id""", [key, key, key])
    flags = _rows(conn, 'SELECT start, "end", category, score, text FROM safety WHERE video = ? ORDER BY start', [key])
    feedback = _feedback_rows(conn, "video = ?", [key])
    for clip in found:
        clip["flags"] = [f for f in flags if f["start"] < clip["end"] and f["end"] > clip["start"]]
        clip["feedback"] = summarise([f for f in feedback if f["clip_id"] == clip["clip_id"]])
    return found


def clip(conn, clip_id: str) -> dict | None:
    """The clips row of a clip id (what media and feedback are keyed by); None when there is none."""
    found = _rows(conn, "SELECT clip_id, video, platform, rank, rendered, path, thumbnail_path FROM clips "
                  "WHERE clip_id = ? LIMIT 1", [clip_id])
    return found[0] if found else None


def feedback_of(conn, clip_id: str) -> dict:
    return summarise(_feedback_rows(conn, "clip_id = ?", [clip_id]))


def _feedback_rows(conn, where: str, params: list) -> list[dict]:
    return _rows(conn, f"SELECT clip_id, rating, selected, created_at FROM feedback WHERE {where} "
                 "ORDER BY created_at, feedback_id", params)


def summarise(entries: list[dict]) -> dict:
    """The latest rating and the latest keep/reject (entries oldest first), and how many entries there are."""
    rating = next((e["rating"] for e in reversed(entries) if e["rating"] is not None), None)
    selected = next((e["selected"] for e in reversed(entries) if e["selected"] is not None), None)
    parts = []
    if rating is not None:
        parts.append(f"rated {rating}/5")
    if selected is not None:
        parts.append("kept" if selected else "rejected")
    if entries:
        parts.append(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    return {"entries": len(entries), "rating": rating, "selected": selected,
            "text": " · ".join(parts) if parts else "no feedback yet"}


def clip_roots(layout: Layout) -> list[Path]:
    """Folders a clip's local file may lie in: the home's clips folder, and a local storage root's."""
    roots = [layout.clips]
    objects = layout.objects()
    if not objects.remote:
        roots.append(Path(objects.location("clips")))
    return [r.resolve() for r in roots]


def media_file(layout: Layout, location: str | None) -> Path | None:
    """The local file of a location from the clips table, when it is an existing file inside the clips folder (or,
    for s3:// storage, a download of an object under its clips/ prefix into the object cache); else None."""
    if not location:
        return None
    objects = layout.objects()
    if is_remote(location):
        prefix = objects.location("clips") + "/" if objects.remote else None
        if prefix is None or not location.startswith(prefix) \
                or any(p in ("", ".", "..") for p in location[len(prefix):].split("/")):
            return None
        try:
            path = objects.local(location)
        except Exception as exc:  # a missing or unreadable object is a 404 to the browser; the log says which
            log.warning("cannot fetch %s: %s", location, exc)
            return None
        roots = [layout.object_cache.resolve()]
    else:
        path, roots = Path(location), clip_roots(layout)
    resolved = path.resolve()  # follows symlinks and "..": the real file must lie inside a root
    if not resolved.is_file() or not any(resolved.is_relative_to(root) for root in roots):
        return None
    return resolved
