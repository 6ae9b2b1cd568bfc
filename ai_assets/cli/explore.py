"""`ai-assets chapters` and `ai-assets search`: read what the pipeline made."""

from __future__ import annotations

from ai_assets.storage.tables import clock


def chapters_command(video: str | None) -> int:
    from ai_assets.storage.catalog import connect

    conn = connect()
    try:
        rows = conn.execute(
            "SELECT t.video, s.name, t.youtube, t.start, t.title FROM topics t LEFT JOIN source_video s USING (video) "
            "WHERE ? IS NULL OR t.video = ? ORDER BY t.video, t.chapter", [video, video]
        ).fetchall()
    finally:
        conn.close()
    if not rows:
        print("no chapters: process a video first" if video is None else f"no chapters for {video}")
        return 1 if video else 0
    current = None
    for key, name, line, start, title in rows:
        if key != current:
            print(f"\n{name or key} ({key})")
            current = key
        print(f"  {line}" if line else f"  {clock(start)} {title}   (too few or too short chapters for YouTube)")
    return 0


def search_command(query: str, k: int) -> int:
    from ai_assets.language.search import search

    found = search(query, k=k)
    if found.empty:
        print("nothing indexed yet: process a video first")
    for r in found.itertuples():
        print(f"{r.score:.3f}  {r.name or r.video}  {clock(r.start)}–{clock(r.end)}  {r.text}")
    return 0
