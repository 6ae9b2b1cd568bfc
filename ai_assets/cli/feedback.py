"""`ai-assets feedback`: rate a clip, or list clips and the feedback so far."""

from __future__ import annotations

import sys


def feedback_command(args) -> int:
    from ai_assets.ranking.feedback import FeedbackError, record
    from ai_assets.storage.catalog import connect

    if args.list or not args.clip_id:
        conn = connect()
        try:
            print(conn.sql(
                "SELECT c.clip_id, c.duration, count(f.feedback_id) AS feedback, avg(f.rating) AS rating, "
                "bool_or(f.selected) AS selected, left(any_value(c.text), 50) AS text FROM clips c "
                "LEFT JOIN feedback f USING (clip_id) GROUP BY c.clip_id, c.duration ORDER BY c.clip_id"
            ).df().to_string(index=False))
        finally:
            conn.close()
        return 0
    try:
        entry = record(args.clip_id, rating=args.rating, selected=args.selected, views=args.views,
            retention=args.retention, note=args.note)
    except FeedbackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"feedback {entry['feedback_id'][:8]} stored for {args.clip_id}")
    return 0
