"""Scale-out: the same N videos through the local daemon, then through a local Ray cluster with one and with two
worker nodes (storage on S3 through moto_server for the Ray paths).

    .venv/bin/python benchmarks/ray_scale.py [--videos 4] [--seconds 30] [--timeout 1800]

Each path is benchmarks/load.py's daemon path (`dagster dev` with the shipped instance template, the N files
dropped into its uploads folder at once, followed until every video run has ended). The Ray paths add
AI_ASSETS_RAY_ADDRESS, so the template's run launcher submits each run as a Ray job that needs one
`ai_assets_worker` slot, which only worker nodes have: the head never runs a video.

    local           the daemon's machine, local storage, the shared model worker (the default)
    ray_1_worker    a head and one worker node (2 CPUs, 2 run slots); each run loads its own models
    ray_1_worker_model_worker
                    the same with AI_ASSETS_MODEL_WORKER=on: one long-lived model process per node keeps the
                    models loaded across runs, as long-lived Ray actors would
    ray_2_workers   a head and two worker nodes (1 CPU and 1 slot each)

Printed per path: wall time from the drop to the last run's end, throughput (audio seconds per wall second),
where every stage ran (materializations per node), and Ray's overhead per run: the mean time from a run's launch
to its process reporting start (Ray job submission, placement and process start), beside the local launcher's.
Also the cost a per-step executor (dagster-ray's ray_executor: every step its own Ray job and process) would add:
the measured time for a fresh process to load the code location, times the steps in a video run.

All paths share this machine's cores: on 2 cores, two worker nodes cannot be faster than one; the point measured
here is overhead and placement. The last stdout line is the JSON summary; ratios are against `local`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import log, start_moto  # noqa: E402
from benchmarks.load import make_videos, run_daemon  # noqa: E402
from tests.ray_cluster import WORKER_RESOURCE, RayCluster  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def run_facts(dagster_home: Path, node_names: dict[str, str]) -> dict:
    """Launch-to-start seconds per run and materializations per node, from the instance's own records."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.storage.dagster_run import RunsFilter

    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home)))
    records = instance.get_run_records(RunsFilter(job_name="process_video"))
    launch = [r.start_time - r.create_timestamp.timestamp() for r in records if r.start_time]
    placed: dict[str, int] = {}
    for asset in ("source_video", "audio", "transcript", "diarization", "transcript_embeddings", "keyframes",
                  "clips"):
        for record in instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records:
            where = record.asset_materialization.metadata.get("placement")
            value = where.value if where is not None else {}
            node = node_names.get(value.get("ray_node", ""), value.get("ray_node") or "daemon host")
            placed[node] = placed.get(node, 0) + 1
    return {"launch_to_start_mean_s": round(statistics.mean(launch), 2) if launch else None,
            "runs_recorded": len(records), "materializations_by_node": placed}


def code_location_load_s(trials: int = 3) -> float:
    """What every step would pay under a per-step executor before its work: a fresh process loading the code."""
    times = []
    for _ in range(trials):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import ai_assets.definitions"], cwd=REPO, check=True,
                       env={**os.environ, "AI_ASSETS_HOME": tempfile.mkdtemp()})
        times.append(time.perf_counter() - began)
    return round(statistics.median(times), 2)


def ray_path(videos, home: Path, timeout_s: float, workers: list[tuple[int, int]], endpoint: str, bucket: str,
             model_worker: bool) -> dict:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                 aws_secret_access_key="bench").create_bucket(Bucket=bucket)
    storage = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
               "AI_ASSETS_S3_ENDPOINT_URL": endpoint, "AI_ASSETS_STORAGE": f"s3://{bucket}/ai-assets",
               "AI_ASSETS_HOME": str(home), "AI_ASSETS_MODEL_WORKER": "on" if model_worker else "off"}
    cluster = RayCluster(env={**os.environ, **storage})
    try:
        cluster.start()
        nodes = [cluster.add_worker(cpus=cpus, slots=slots) for cpus, slots in workers]
        names = {cluster.node_id(n): n.name for n in nodes} | {cluster.node_id(cluster.nodes[0]): "head"}
        slots = sum(s for _, s in workers)
        env = {**storage, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": cluster.env["RAY_AUTH_TOKEN"],
               "PATH": cluster.env["PATH"], "AI_ASSETS_RAY_ADDRESS": cluster.address,
               "AI_ASSETS_RAY_RUN_RESOURCES": json.dumps({WORKER_RESOURCE: 1}), "AI_ASSETS_RAY_MAX_RUNS": str(slots)}
        result = run_daemon(videos, home, timeout_s, extra_env=env)
        result.update(run_facts(home / "dagster_home", names))
        return result
    finally:
        if model_worker:
            from resources import model_worker as worker

            worker.stop(home)
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args(argv)
    cache = Path(tempfile.gettempdir()) / "ai-assets-bench" / f"load-{args.videos}x{args.seconds:g}"
    cache.mkdir(parents=True, exist_ok=True)
    videos = make_videos(cache, args.videos, args.seconds)
    audio_s = args.videos * args.seconds
    paths: dict[str, dict] = {}
    moto, endpoint = start_moto()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            log("local daemon")
            paths["local"] = run_daemon(videos, Path(tmp) / "local", args.timeout)
            paths["local"].update(run_facts(Path(tmp) / "local" / "dagster_home", {}))
            for name, workers, model_worker in (("ray_1_worker", [(2, 2)], False),
                                                ("ray_1_worker_model_worker", [(2, 2)], True),
                                                ("ray_2_workers", [(1, 1), (1, 1)], False)):
                log(name)
                paths[name] = ray_path(videos, Path(tmp) / name, args.timeout, workers, endpoint,
                                       name.replace("_", "-"), model_worker)
                log(f"{name}: {paths[name]}")
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    from ai_assets.assets import VIDEO_ASSETS

    steps = sum(a.key.to_user_string() != "transcript_shadow" for a in VIDEO_ASSETS)  # process_video's steps
    load_s = code_location_load_s()
    base = paths["local"]["wall_s"]
    summary = {
        "videos": args.videos, "seconds_each": args.seconds, "cores": os.cpu_count(),
        "paths": {name: {"wall_s": p["wall_s"], "x_realtime": round(audio_s / p["wall_s"], 2) if p["wall_s"] else None,
                         "wall_ratio_vs_local": round(p["wall_s"] / base, 3) if p["wall_s"] and base else None,
                         "failures": p["failures"], "retries": p["retries"], "run_mean_s": p["run_mean_s"],
                         "launch_to_start_mean_s": p["launch_to_start_mean_s"],
                         "materializations_by_node": p["materializations_by_node"]}
                  for name, p in paths.items()},
        "per_step_executor": {"code_location_load_s": load_s, "steps_per_run": steps,
                              "added_s_per_run": round(load_s * steps, 1)},
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
