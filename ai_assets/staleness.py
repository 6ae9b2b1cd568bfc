"""Which videos were transcribed under a policy other than the current one."""


def stale_videos(partitions: list[str], recorded_sha: dict[str, str | None], current_sha: str) -> list[str]:
    """Partitions with a transcript whose recorded policy hash is not `current_sha`, sorted.

    Videos never transcribed are left to their own runs; they are missing, not stale.
    """
    return sorted(k for k in partitions if k in recorded_sha and recorded_sha[k] != current_sha)
