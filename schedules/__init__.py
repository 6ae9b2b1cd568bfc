"""Schedules: the nightly stale sweep and the daily metrics compaction."""

from schedules.maintenance import compact_metrics_schedule, stale_sweep_schedule

SCHEDULES = [stale_sweep_schedule, compact_metrics_schedule]
