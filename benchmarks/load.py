"""Load: N distinct videos through `ai-assets process` in one process, then dropped at once on `dagster dev`.

    .venv/bin/python benchmarks/load.py [N] [SECONDS] [--timeout 3600]

Makes N videos of SECONDS each from real speech (../shared/media, else espeak-ng), each a different mix of
clips, over test-pattern scenes. Then:
(a) cli: `python -m ai_assets.cli process` over all N in one child process, with a fresh AI_ASSETS_HOME.
(b) daemon: another fresh AI_ASSETS_HOME whose DAGSTER_HOME gets the shipped instance template
    (`python -m ai_assets.instance`); `dagster dev` started in its own process group; the N files copied into
    its uploads folder at once; the runs followed through GraphQL until every video's process_video run has
    ended (and any retry of it); then `dagster dev` is stopped by process group.
Peak memory is the machine's (MemTotal - MemAvailable, sampled every 0.5 s) during each path. Progress goes to
stderr; the last stdout line is a JSON summary: the wall time of both paths, the throughput ratio (cli wall /
daemon wall, above 1 when the daemon is faster), runs, failures, duplicate runs (more than one run for a video
that were not retries), partitions, peak memory, and the time from the drop to the first video run starting.
Runs other than the video runs are counted by job, what started them (a sensor, automation) and their assets
(`other_run_kinds`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import build_speech, log, make_speech_video  # noqa: E402
from tests.processes import stop_group  # noqa: E402

RUNS = ("{ runsOrError(limit: 1000) { ... on Runs { results { runId jobName status startTime endTime "
        "tags { key value } assetSelection { path } } } } }")
ENDED = {"SUCCESS", "FAILURE", "CANCELED"}


def other_run_kinds(runs: list[dict]) -> dict[str, int]:
    """Runs besides the video runs, counted by what started them and what they made: "job <- creator: assets"."""
    kinds: dict[str, int] = {}
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        creator = (tags.get("dagster/sensor_name") or ("automation" if "dagster/from_automation_condition" in tags
                   else tags.get("dagster/backfill") and "backfill") or "other")
        assets = ",".join(sorted("/".join(a["path"]) for a in run.get("assetSelection") or []))
        key = f"{run['jobName']} <- {creator}: {assets or '-'}"
        kinds[key] = kinds.get(key, 0) + 1
    return kinds


class MemoryPeak:
    """The machine's used memory, sampled in a thread, highest value kept."""

    def __init__(self):
        self.peak, self.total = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        info = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, value = line.split(":", 1)
            info[name] = int(value.split()[0]) * 1024
        self.total = info["MemTotal"]
        return info["MemTotal"] - info["MemAvailable"]

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(0.5)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        return {"peak_memory_gb": round(self.peak / 1e9, 2), "peak_memory_share": round(self.peak / self.total, 3)}


def make_videos(folder: Path, count: int, seconds: float) -> list[Path]:
    import numpy as np

    from ai_assets.ingest.audio import SAMPLE_RATE

    videos = []
    for i in range(count):
        target = folder / f"talk{i:02d}.mp4"
        if not target.exists():
            audio, _, _ = build_speech(seconds, seed=1000 + i)
            audio = audio[: int(seconds * SAMPLE_RATE)].astype(np.float32)
            make_speech_video(audio, target, scenes=max(2, int(seconds // 10)))
        videos.append(target)
    return videos


def env_for(home: Path, dagster_home: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env["AI_ASSETS_HOME"] = str(home)
    env.pop("DAGSTER_HOME", None)
    env.pop("AI_ASSETS_MODEL_WORKER", None)  # the product's default (a shared worker), not benchmarks/common's
    if dagster_home is not None:
        env["DAGSTER_HOME"] = str(dagster_home)
    return env


def run_cli(videos: list[Path], home: Path) -> dict:
    with MemoryPeak() as memory:
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "ai_assets.cli", "process", *map(str, videos)],
                              env=env_for(home, None), capture_output=True, text=True)
        wall = time.perf_counter() - began
    failures = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    return {"wall_s": round(wall, 1), "failures": len(failures), "failure_lines": failures[:5], **memory.summary(),
            "stage_mean_s": stage_seconds(home)}


def stage_seconds(home: Path) -> dict[str, float]:
    """Mean seconds per stage from the path's metrics (the spool too, via the catalog), top eight by total."""
    env = env_for(home, None)
    code = ("import json; from ai_assets.catalog import connect; "
            "print(json.dumps(dict(connect().sql('select asset, round(avg(seconds), 2) from metrics "
            "group by asset order by sum(seconds) desc limit 8').fetchall())))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 and done.stdout.strip() else {}


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())["data"]


def _sensor_ticked(port: int) -> bool:
    query = ('{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }')
    try:
        repos = _graphql(port, query)["repositoriesOrError"]["nodes"]
        selector = {"repositoryName": repos[0]["name"], "repositoryLocationName": repos[0]["location"]["name"],
                    "sensorName": "upload_sensor"}
        sensor = _graphql(port, "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor { "
                          "sensorState { ticks(limit: 1) { timestamp } } } } }", {"s": selector})
        return bool(sensor["sensorOrError"]["sensorState"]["ticks"])
    except (OSError, KeyError, IndexError, TypeError):
        return False


def run_daemon(videos: list[Path], home: Path, timeout_s: float, max_runs: int | None = None,
               extra_env: dict[str, str] | None = None) -> dict:
    import socket

    dagster_home = home / "dagster_home"
    env = {**env_for(home, dagster_home), **(extra_env or {})}
    subprocess.run([sys.executable, "-m", "ai_assets.instance", str(dagster_home)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    if max_runs:  # an experiment on the run queue: the template without its first line is left as it is
        config = dagster_home / "dagster.yaml"
        lines = config.read_text().splitlines()[1:]
        config.write_text("\n".join(re.sub(r"max_concurrent_runs: \d+", f"max_concurrent_runs: {max_runs}", line)
                                    for line in lines) + "\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log_file = open(home / "dagster-dev.log", "w")
    server = subprocess.Popen([str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml", "-h",
                               "127.0.0.1", "-p", str(port)], cwd=REPO, env=env, stdout=log_file,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                _graphql(port, "{ version }")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("dagster dev did not start; see " + str(home / "dagster-dev.log")) from None
                time.sleep(1)
        # The drop is timed on a running system: the daemon's first sensor tick has happened.
        while not _sensor_ticked(port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the upload sensor never ticked; see " + str(home / "dagster-dev.log"))
            time.sleep(1)
        log("dagster dev is up and the sensor ticks; dropping the videos")
        uploads = home / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        staging = home / "staging"
        staging.mkdir()
        for video in videos:
            shutil.copyfile(video, staging / video.name)
        with MemoryPeak() as memory:
            dropped = time.time()
            for video in videos:  # a rename is instant: every file lands at once, complete
                os.replace(staging / video.name, uploads / video.name)
            runs: list[dict] = []
            while time.time() - dropped < timeout_s:
                runs = _graphql(port, RUNS)["runsOrError"]["results"]
                video_runs = [r for r in runs if r["jobName"] == "process_video"]
                latest: dict[str, dict] = {}
                for run in sorted(video_runs, key=lambda r: r["startTime"] or float("inf")):
                    tags = {t["key"]: t["value"] for t in run["tags"]}
                    latest[tags.get("dagster/partition")] = run
                if len(latest) >= len(videos) and all(r["status"] in ENDED for r in video_runs):
                    break
                time.sleep(2)
            else:
                log("timed out waiting for the runs")
        video_runs = [r for r in runs if r["jobName"] == "process_video"]
        ended = [r["endTime"] for r in video_runs if r["endTime"]]
        started = [r["startTime"] for r in video_runs if r["startTime"]]
        by_video: dict[str, list[dict]] = {}
        for run in video_runs:
            tags = {t["key"]: t["value"] for t in run["tags"]}
            run["retry"] = "dagster/parent_run_id" in tags
            by_video.setdefault(tags.get("dagster/partition"), []).append(run)
        failures = sum(1 for rs in by_video.values()
                       if max(rs, key=lambda r: r["startTime"] or 0)["status"] != "SUCCESS")
        duplicates = sum(max(0, len([r for r in rs if not r["retry"]]) - 1) for rs in by_video.values())
        return {
            "wall_s": round(max(ended) - dropped, 1) if ended else None,
            "first_run_started_s": round(min(started) - dropped, 1) if started else None,
            "runs": len(video_runs), "other_runs": len(runs) - len(video_runs),
            "other_run_kinds": other_run_kinds([r for r in runs if r["jobName"] != "process_video"]),
            "retries": sum(r["retry"] for r in video_runs), "failures": failures, "duplicates": duplicates,
            "partitions": len(by_video), **memory.summary(),
            "run_mean_s": round(sum(r["endTime"] - r["startTime"] for r in video_runs
                                    if r["endTime"] and r["startTime"]) / max(1, len(video_runs)), 1),
            "stage_mean_s": stage_seconds(home),
        }
    finally:
        from resources import model_worker

        model_worker.stop(home)  # the runs' shared model worker lives in its own session
        stop_group(server, 60)
        log_file.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", nargs="?", type=int, default=12)
    parser.add_argument("seconds", nargs="?", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--daemon-only", type=float, nargs="?", const=0.0, metavar="CLI_WALL_S",
                        help="skip the CLI path (and compare with an earlier CLI wall time, if given)")
    parser.add_argument("--max-runs", type=int, help="override the template's max_concurrent_runs (an experiment)")
    parser.add_argument("--step-threads", type=int, help="AI_ASSETS_STEP_THREADS for the daemon path (an experiment)")
    args = parser.parse_args(argv)
    cache = Path(tempfile.gettempdir()) / "ai-assets-bench" / f"load-{args.count}x{args.seconds:g}"
    cache.mkdir(parents=True, exist_ok=True)
    videos = make_videos(cache, args.count, args.seconds)
    log(f"{len(videos)} videos of {args.seconds:g} s in {cache}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.daemon_only is not None:
            cli = {"wall_s": args.daemon_only or None, "earlier_run": True}
        else:
            cli = run_cli(videos, Path(tmp) / "cli-home")
        log(f"cli: {cli}")
        if args.step_threads:
            os.environ["AI_ASSETS_STEP_THREADS"] = str(args.step_threads)
        daemon = run_daemon(videos, Path(tmp) / "daemon-home", args.timeout, args.max_runs)
        daemon.update(max_runs_override=args.max_runs, step_threads=args.step_threads)
        log(f"daemon: {daemon}")
    minutes = args.count * args.seconds / 60
    out = {
        "videos": args.count, "seconds_each": args.seconds, "cli": cli, "daemon": daemon,
        "throughput_ratio": round(cli["wall_s"] / daemon["wall_s"], 3) if daemon["wall_s"] and cli["wall_s"] else None,
        "daemon_x_realtime": round(minutes * 60 / daemon["wall_s"], 2) if daemon["wall_s"] else None,
        "cli_x_realtime": round(minutes * 60 / cli["wall_s"], 2) if cli["wall_s"] else None,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
