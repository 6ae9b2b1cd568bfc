"""`ai-assets policy ...` and `ai-assets refresh`."""

from __future__ import annotations

import json
import sys

from ai_assets.policy.documents import DOMAINS, PolicyError, PolicyLocked, PolicyStore, validate
from ai_assets.policy.history import decisions_markdown, history_markdown
from ai_assets.storage.settings import Layout


def policy_command(args) -> int:
    layout = Layout.from_env()
    store = PolicyStore(layout.metrics_db)
    try:
        if args.action == "show":
            for domain in [args.domain] if args.domain else DOMAINS:
                policy = store.current(domain)
                print(f"{domain} v{policy.version} ({policy.author}, {policy.created_at:%Y-%m-%d %H:%M} UTC) sha256 "
                    f"{policy.sha256[:12]}: {policy.reason}")
                print(json.dumps(policy.body, indent=2, sort_keys=True))
            return 0
        if args.action == "history":
            print(history_markdown(store.history(args.domain), limit=1000))
            decisions = store.decisions(args.domain, limit=10)
            if decisions:
                print("\nThe optimizer's latest decisions, newest first:\n")
                print(decisions_markdown(decisions))
            return 0
        body = _new_body(store, args)
        before = store.current(args.domain)
        policy = store.set(args.domain, body, author="user", reason=args.reason, available_models=_available(layout))
    except (PolicyError, PolicyLocked) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if policy.sha256 == before.sha256:
        print(f"{args.domain} policy unchanged (v{policy.version}); nothing stored")
        return 0
    print(f"{args.domain} policy v{policy.version} stored (sha256 {policy.sha256[:12]})")
    if args.apply:
        return refresh()
    defs, instance = _observe(layout)
    stale = _stale(defs, instance)
    if stale:
        pairs = sum(len(v) for v in stale.values())
        print(f"{pairs} (stage, video) pairs in {len(stale)} videos are now stale; `dagster dev` reruns them "
            "automatically, or run `ai-assets refresh` (`--dry-run` lists them)")
    else:
        print("no video's outputs depend on what changed; nothing to rerun")
    return 0


def _new_body(store: PolicyStore, args) -> dict:
    if args.file and args.edits:
        raise PolicyError("give either --file or --set, not both")
    if args.file:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text()
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"{args.file}: not valid JSON ({exc})") from None
    if not args.edits:
        raise PolicyError("nothing to set: give --file or at least one --set PATH=VALUE")
    # The current body as it validates today (an older stored document may be in an older shape).
    body = validate(args.domain, store.current(args.domain).body)
    for edit in args.edits:
        path, sep, raw = edit.partition("=")
        if not sep:
            raise PolicyError(f"--set {edit}: expected PATH=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = body
        *parents, leaf = path.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise PolicyError(f"--set {edit}: '{part}' is not a section of the {args.domain} policy")
            node = node[part]
        node[leaf] = value
    return body


def _available(layout: Layout) -> dict[str, list[str]] | None:
    from ai_assets.storage.models import ModelRegistry, allow_download_from_env

    if allow_download_from_env():
        return None  # any hub name may be fetched
    registry = ModelRegistry(layout.model_cache)
    return {"whisper": registry.available("whisper"), "embedding": registry.available("embedding")}


def _observe(layout: Layout):
    """Record the policy views' data versions now, so staleness shows in the UI without waiting for a tick; returns
    the definitions and the instance for what follows."""
    from ai_assets.definitions import build_defs
    from ai_assets.instance import get_instance

    defs, instance = build_defs(layout), get_instance(layout)
    defs.resolve_job_def("observe_policies").execute_in_process(instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
    return defs, instance


def _stale(defs, instance) -> dict[str, list[str]]:
    from ai_assets.partitions import videos
    from ai_assets.stale import stale_pairs

    return stale_pairs(defs, instance, instance.get_dynamic_partitions(videos.name))


def refresh(dry_run: bool = False) -> int:
    """Observe the policies, then rerun the stale (stage, video) pairs in this process, wave by wave."""
    from ai_assets.cli.process import run_partition
    from ai_assets.partitions import videos
    from ai_assets.stale import downstream, stale_pairs
    from ai_assets.stale import refresh as run_waves
    from ai_assets.storage.metrics import MetricsStore

    layout = Layout.from_env()
    defs, instance = _observe(layout)
    partitions = instance.get_dynamic_partitions(videos.name)
    if dry_run:
        stale = stale_pairs(defs, instance, partitions)
        for partition, stages in stale.items():
            for stage in stages:
                print(f"{stage}\t{partition}")
            below = [s for s in downstream(defs, stages) if s not in stages]
            if below:
                print(f"# {partition}: then, where their inputs change: {', '.join(below)}")
        print(f"# {sum(len(v) for v in stale.values())} stale (stage, video) pairs in {len(stale)} videos"
              if stale else "nothing is stale")
        return 0
    from dagster import AssetKey

    job = defs.resolve_implicit_global_asset_job_def()
    result = run_waves(defs, instance, partitions,
        lambda partition, stages: run_partition(job, instance, partition, partition, [AssetKey(s) for s in stages]))
    for partition, reason in result["failed"].items():
        print(f"error: {partition}: {reason}", file=sys.stderr)
    if not result["ran"]:
        print("nothing is stale")
    else:
        print(f"reran {len(result['ran'])} (stage, video) pairs")
    MetricsStore(layout.metrics_db, layout.metrics_spool).flush(wait_s=5.0)
    return 1 if result["failed"] else 0
