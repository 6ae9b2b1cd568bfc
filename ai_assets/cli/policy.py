"""`ai-assets policy ...` and `ai-assets refresh`."""

from __future__ import annotations

import json
import sys

from ai_assets.policy.documents import DOMAINS, PolicyError, PolicyLocked, PolicyStore, validate
from ai_assets.policy.history import history_markdown
from ai_assets.storage.settings import Layout

# Which job reruns what a domain's policy governs, and which asset records the policy hash used.
REFRESH = {
    "asr": ("refresh_transcripts", "transcript"),
    "embed": ("refresh_embeddings", "transcript_embeddings"),
    "segment": ("refresh_segments", "segments"),
}


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
    _observe(layout)
    stale = stale_keys(layout, args.domain)
    if args.apply:
        return refresh()
    if stale:
        print(f"{len(stale)} videos are now stale; `dagster dev` reruns them automatically, or run `ai-assets refresh`")
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


def _observe(layout: Layout) -> None:
    """Record the new data versions now, so staleness shows in the UI without waiting for a tick."""
    from ai_assets.definitions import build_defs
    from ai_assets.instance import get_instance

    job = build_defs(layout).resolve_job_def("observe_policies")
    job.execute_in_process(instance=get_instance(layout),
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})


def stale_keys(layout: Layout, domain: str) -> list[str]:
    """Videos whose latest output for the domain used another policy version than the current one."""
    if domain not in REFRESH:
        return []
    from ai_assets.policy.staleness import recorded_policies, stale_videos
    from ai_assets.storage.metrics import MetricsStore

    recorded = recorded_policies(MetricsStore(layout.metrics_db, layout.metrics_spool), REFRESH[domain][1])
    return stale_videos(sorted(recorded), recorded, PolicyStore(layout.metrics_db).current(domain).sha256)


def refresh() -> int:
    """Rerun the stale part of the graph for each stale video, in this process."""
    from ai_assets.cli.process import run_partition
    from ai_assets.definitions import build_defs
    from ai_assets.instance import get_instance
    from ai_assets.storage.metrics import MetricsStore

    layout = Layout.from_env()
    instance = get_instance(layout)
    defs = build_defs(layout)
    failures = 0
    done: set[str] = set()
    for domain, (job_name, _) in REFRESH.items():
        keys = [k for k in stale_keys(layout, domain) if k not in done]
        if not keys:
            continue
        print(f"{domain} policy changed: refreshing {len(keys)} videos")
        job = defs.resolve_job_def(job_name)
        for key in keys:
            error = run_partition(job, instance, key, key)
            done.add(key)
            if error:
                failures += 1
                print(f"error: {key}: {error}", file=sys.stderr)
    if not done:
        print("nothing is stale")
    MetricsStore(layout.metrics_db, layout.metrics_spool).flush(wait_s=5.0)
    return 1 if failures else 0
