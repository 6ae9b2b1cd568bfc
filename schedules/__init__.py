"""Schedules. None yet: the policy issue adds the nightly stale sweep and metrics compaction."""
