"""Evaluate the automation conditions and run what they request, in this process.

The automation sensor does this under `dagster dev`; tests and benchmarks use it to check that a
policy change requests exactly the dependent partitions.
"""

from __future__ import annotations

import dagster as dg

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


class AutomationTicker:
    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs, self.instance = defs, instance
        self.cursor = None

    def tick(self) -> dict[str, list[str]]:
        """{partition: sorted asset keys} that the conditions request now."""
        result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        requested: dict[str, list[str]] = {}
        for key in self.defs.resolve_asset_graph().get_all_asset_keys():
            for partition in result.get_requested_partitions(key):
                requested.setdefault(partition, []).append(key.to_user_string())
        return {p: sorted(keys) for p, keys in sorted(requested.items())}

    def run(self, requested: dict[str, list[str]]) -> None:
        """One in-process run per partition, for exactly the requested assets."""
        job = self.defs.resolve_implicit_global_asset_job_def()
        for partition, keys in requested.items():
            result = job.execute_in_process(
                instance=self.instance, partition_key=partition, run_config=QUIET,
                asset_selection=[dg.AssetKey(k) for k in keys]
            )
            if not result.success:
                raise RuntimeError(f"automation run for {partition} failed")

    def settle(self, max_ticks: int = 30) -> set[tuple[str, str]]:
        """Tick and run until nothing is requested, as the sensor would over successive ticks (each wave of
        reruns is seen on the tick after it lands); returns every (asset, partition) that ran."""
        ran: set[tuple[str, str]] = set()
        for _ in range(max_ticks):
            requested = self.tick()
            if not requested:
                return ran
            self.run(requested)
            ran |= {(asset, partition) for partition, assets in requested.items() for asset in assets}
        raise RuntimeError(f"automation still requesting after {max_ticks} ticks")
