"""Which (stage, video) pairs are stale, from Dagster's own data-version records; and a refresh that reruns them.

A stage's materialization records the data version of each input it read (upstream tables by content hash,
policy views by the hash of the fields it uses) and its code version. It is stale when one of those is
no longer current. Staleness is not transitive: a stage below a stale one becomes stale only once that one
has rerun with a different output. So a refresh runs in waves: the stale pairs, then the pairs their new
outputs made stale, until nothing is.

The automation sensor under `dagster dev` reaches the same pairs tick by tick (assets/automation.py);
`ai-assets refresh` does it in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import dagster as dg

# Enough for the graph's depth many times over; a loop past it is a bug, and stops rather than spins.
MAX_WAVES = 30


def _graph(defs):
    """The asset graph of Definitions, of a repository (what a schedule's context has), or the graph itself."""
    if hasattr(defs, "resolve_asset_graph"):
        return defs.resolve_asset_graph()
    return getattr(defs, "asset_graph", defs)


def _resolver(defs, instance: dg.DagsterInstance):
    # Dagster's stale-status resolver, as its UI uses it; not part of the public API in 1.13.
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._time import get_current_datetime

    graph = _graph(defs)
    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance, asset_graph=graph)
    return CachingStaleStatusResolver(instance, graph, view)


def stage_keys(defs) -> list[dg.AssetKey]:
    """Every materializable, partitioned stage (policy sources are observed, not run)."""
    graph = _graph(defs)
    return sorted((k for k in graph.materializable_asset_keys if graph.get(k).partitions_def is not None),
        key=lambda k: k.to_user_string())


def stale_pairs(defs, instance: dg.DagsterInstance, partitions: Iterable[str],
                stages: Iterable[dg.AssetKey] | None = None) -> dict[str, list[str]]:
    """{partition: sorted stage names} that are stale now. A stage never made for a video is missing, not stale:
    its video's own run makes it."""
    from dagster._core.definitions.data_version import StaleStatus

    resolver = _resolver(defs, instance)
    keys = list(stages) if stages is not None else stage_keys(defs)
    found: dict[str, list[str]] = {}
    for partition in partitions:
        for key in keys:
            if resolver.get_status(key, partition) == StaleStatus.STALE:
                found.setdefault(partition, []).append(key.to_user_string())
    return {p: sorted(v) for p, v in sorted(found.items())}


def stale_reasons(defs, instance: dg.DagsterInstance, partition: str, stage: str) -> list[str]:
    """Why one pair is stale, in Dagster's words ("has a new dependency data version: asr_policy")."""
    causes = _resolver(defs, instance).get_stale_causes(dg.AssetKey(stage), partition)
    return [f"{c.reason}: {c.dependency.asset_key.to_user_string()}" if c.dependency else c.reason for c in causes]


def children(defs, stages: Iterable[str]) -> set[dg.AssetKey]:
    graph = _graph(defs)
    return {child for s in stages for child in graph.get(dg.AssetKey(s)).child_keys}


def downstream(defs, stages: Iterable[str]) -> list[str]:
    """The stages below `stages` in the graph (not including them): what may rerun after them."""
    graph = _graph(defs)
    seen: set[dg.AssetKey] = set()
    todo = list(children(defs, stages))
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo.extend(graph.get(key).child_keys)
    return sorted(k.to_user_string() for k in seen - {dg.AssetKey(s) for s in stages})


def quiet_runner(defs, instance: dg.DagsterInstance) -> Callable[[str, list[str]], str | None]:
    """`run` for `refresh`: the stages of one partition in this process, without console logs (the CLI prints its
    own progress lines instead)."""
    from ai_assets.automation_tick import QUIET

    job = defs.resolve_implicit_global_asset_job_def()

    def run(partition: str, stages: list[str]) -> str | None:
        result = job.execute_in_process(instance=instance, partition_key=partition, run_config=QUIET,
            asset_selection=[dg.AssetKey(s) for s in stages], raise_on_error=False)
        return None if result.success else f"{', '.join(stages)} failed"

    return run


def refresh(defs, instance: dg.DagsterInstance, partitions: list[str],
            run: Callable[[str, list[str]], str | None], echo: Callable[[str], None] = print) -> dict:
    """Rerun stale pairs wave by wave with `run(partition, stages) -> failure reason or None`.

    Returns {"ran": [(stage, partition)], "failed": {partition: reason}, "waves": n}.
    """
    ran: list[tuple[str, str]] = []
    failed: dict[str, str] = {}
    todo: dict[str, set[dg.AssetKey] | None] = {p: None for p in partitions}  # None: check every stage
    waves = 0
    while todo:
        if waves == MAX_WAVES:
            raise RuntimeError(f"still stale after {MAX_WAVES} waves: {sorted(todo)}")
        waves += 1
        now: dict[str, set[dg.AssetKey] | None] = {}
        for partition, stages in sorted(todo.items()):
            stale = stale_pairs(defs, instance, [partition], stages).get(partition, [])
            if not stale:
                continue
            echo(f"[{partition}] stale: {', '.join(stale)}")
            reason = run(partition, stale)
            ran.extend((stage, partition) for stage in stale)
            if reason:
                failed[partition] = reason
                continue
            now[partition] = children(defs, stale)
        todo = {p: s for p, s in now.items() if s}
    return {"ran": ran, "failed": failed, "waves": waves}
