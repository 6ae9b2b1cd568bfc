"""Which videos were made under a policy other than the current one."""

from __future__ import annotations

from ai_assets.storage.catalog import metrics_snapshot
from ai_assets.storage.metrics import MetricsStore

# Each video's latest successful run of an asset, and the policy hash it recorded.
_LATEST_POLICY_SQL = (
    "SELECT video, arg_max(policy_sha256, started_at) FROM metrics WHERE asset = ? AND status = 'success' GROUP BY "
    "video"
)


def recorded_policies(store: MetricsStore, asset: str) -> dict[str, str | None]:
    """{video: the policy sha256 its latest successful `asset` run used}, from committed and spooled metrics."""
    conn = metrics_snapshot(store)
    try:
        return dict(conn.execute(_LATEST_POLICY_SQL, [asset]).fetchall())
    finally:
        conn.close()


def stale_videos(partitions: list[str], recorded_sha: dict[str, str | None], current_sha: str) -> list[str]:
    """Partitions with a transcript whose recorded policy hash is not `current_sha`, sorted.

    Videos never transcribed are left to their own runs; they are missing, not stale.
    """
    return sorted(k for k in partitions if k in recorded_sha and recorded_sha[k] != current_sha)
