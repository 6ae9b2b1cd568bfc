"""`dagster dev` end to end: the daemon's upload sensor turns a dropped file into a successful run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ai_assets.instance import ensure_instance_config
from resources import model_worker
from resources.lake import lake_file
from tests.conftest import REPO, child_env, dagster_graphql, free_port, wait_for
from tests.processes import stop_group

pytestmark = pytest.mark.slow

RUNS = "{ runsOrError { ... on Runs { results { jobName status tags { key value } } } } }"


def test_upload_sensor_runs_a_dropped_file_under_dagster_dev(layout, media, tmp_path):
    port = free_port()
    env = child_env(layout)
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    env["AI_ASSETS_MODEL_WORKER"] = "on"  # as shipped: runs send their model calls to one shared worker
    # The shipped instance template, as ./dev.sh ui writes it: run queue, pools, retries, run monitoring.
    ensure_instance_config(Path(env["DAGSTER_HOME"]))
    log = open(tmp_path / "dagster-dev.log", "w")
    # Started in its own session and stopped by process group: dagster dev ignores signals otherwise.
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p",
            str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        def up():
            try:
                return dagster_graphql(port, "{ version }")
            except OSError:
                assert server.poll() is None, (tmp_path / "dagster-dev.log").read_text()[-3000:]
                return None

        wait_for(up, 180, "the webserver")
        layout.uploads.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(media["short"], layout.uploads / "Drop, test.mp4")

        def finished():
            # The sensor's intake run hashes the upload; its video run comes a tick later.
            runs = [r for r in dagster_graphql(port, RUNS)["runsOrError"]["results"]
                    if {"key": "dagster/sensor_name", "value": "upload_sensor"} in r["tags"]
                    and r["jobName"] == "process_video"]
            return runs if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

        [run] = wait_for(finished, 300, "the upload sensor's run")
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert run["status"] == "SUCCESS", (tmp_path / "dagster-dev.log").read_text()[-3000:]
        assert tags["dagster/sensor_name"] == "upload_sensor"
        key = tags["dagster/partition"]
        assert key.startswith("drop-test-")
        assert lake_file(layout.lake, "segments", key).exists()
        assert (layout.uploads / "Drop, test.mp4").exists()
        # The run's model calls went to the shared worker, which outlives the run.
        worker = model_worker.ping(layout.home)
        assert worker is not None and os.getpgid(worker) != server.pid  # not in dagster dev's process group
        served = (layout.home / "run" / "model-worker.log").read_text()
        assert "ready" in served and "Processing audio" in served  # faster-whisper's own line, from the worker
    finally:
        stop_group(server)
        log.close()
        # Its own session: stopping dagster dev leaves it running (it exits when idle), so it is stopped here.
        outlived = model_worker.ping(layout.home)
        model_worker.stop(layout.home)
    assert outlived is not None and model_worker.ping(layout.home) is None
