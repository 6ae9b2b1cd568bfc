"""Per-execution metrics rows, written through the lock-tolerant MetricsStore."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from ai_assets.storage.metrics import MetricRow, MetricsStore


class MetricsResource(dg.ConfigurableResource):
    db_path: str
    spool_dir: str

    def store(self) -> MetricsStore:
        return MetricsStore(Path(self.db_path), Path(self.spool_dir))

    @contextlib.contextmanager
    def track(self, context: dg.AssetExecutionContext) -> Iterator[MetricRow]:
        """Time the body and record one row, with status 'failed' and the reason if it raises."""
        row = MetricRow(
            asset=context.asset_key.to_user_string(),
            video=context.partition_key if context.has_partition_key else None,
            run_id=context.run.run_id,
            started_at=time.time(),
        )
        began = time.perf_counter()
        try:
            yield row
        except BaseException as exc:
            row.status = "failed"
            row.error = getattr(exc, "description", None) or str(exc) or type(exc).__name__
            raise
        finally:
            row.seconds = round(time.perf_counter() - began, 4)
            if row.audio_seconds and row.seconds and row.realtime_factor is None:
                row.realtime_factor = round(row.seconds / row.audio_seconds, 5)
            self.store().record(row)
