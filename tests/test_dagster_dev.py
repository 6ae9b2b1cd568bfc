"""`dagster dev` end to end: the daemon's upload sensor turns a dropped file into a successful run, and a run
worker killed in the middle of transcription is noticed, retried and completed once."""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ai_assets.catalog import connect as metrics_view
from ai_assets.instance import ensure_instance_config
from resources import model_worker
from resources.lake import lake_file
from tests.conftest import REPO, child_env, dagster_graphql, free_port, wait_for
from tests.processes import stop_group

pytestmark = pytest.mark.slow

RUNS = "{ runsOrError { ... on Runs { results { runId jobName status tags { key value } } } } }"


RUN_EVENTS = """{ logsForRun(runId: "%s") { ... on EventConnection { events { __typename
    ... on MessageEvent { message } ... on StepEvent { stepKey } } } } }"""


@contextlib.contextmanager
def dagster_dev(layout, tmp_path):
    """`dagster dev` on a free loopback port, with the shipped instance template and the shared model worker, as
    ./dev.sh ui starts it; yields (port, server process, log path). Stopped by process group; the model worker,
    in its own session, outlives it and is the caller's to stop."""
    port = free_port()
    env = child_env(layout)
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    env["AI_ASSETS_MODEL_WORKER"] = "on"  # as shipped: runs send their model calls to one shared worker
    # The shipped instance template, as ./dev.sh ui writes it: run queue, pools, retries, run monitoring.
    ensure_instance_config(Path(env["DAGSTER_HOME"]))
    log_path = tmp_path / "dagster-dev.log"
    log = open(log_path, "w")
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
                assert server.poll() is None, log_path.read_text()[-3000:]
                return None

        wait_for(up, 180, "the webserver")
        yield port, server, log_path
    finally:
        stop_group(server)
        log.close()


def sensor_runs(port: int) -> list[dict]:
    """The upload sensor's process_video runs, newest first, with their tags as a dict."""
    runs = [r for r in dagster_graphql(port, RUNS)["runsOrError"]["results"]
            if {"key": "dagster/sensor_name", "value": "upload_sensor"} in r["tags"]
            and r["jobName"] == "process_video"]
    return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]}} for r in runs]


def test_upload_sensor_runs_a_dropped_file_under_dagster_dev(layout, media, tmp_path):
    try:
        with dagster_dev(layout, tmp_path) as (port, server, log_path):
            layout.uploads.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(media["short"], layout.uploads / "Drop, test.mp4")

            def finished():
                # The sensor's intake run hashes the upload; its video run comes a tick later.
                runs = sensor_runs(port)
                return runs if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

            [run] = wait_for(finished, 300, "the upload sensor's run")
            tags = run["tags"]
            assert run["status"] == "SUCCESS", log_path.read_text()[-3000:]
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
        # Its own session: stopping dagster dev leaves it running (it exits when idle), so it is stopped here.
        outlived = model_worker.ping(layout.home)
        model_worker.stop(layout.home)
    assert outlived is not None and model_worker.ping(layout.home) is None


def test_a_run_worker_killed_mid_transcription_is_retried_and_completes_once(layout, media, tmp_path):
    """kill -9 of the run's process while `transcript` runs: the code server sees its run worker gone and fails
    the run, the run-retry daemon launches it again from the failed step, and the video completes with one
    successful transcript, nothing half written, and the killed run's pool slots given back."""
    try:
        with dagster_dev(layout, tmp_path) as (port, _, log_path):
            layout.uploads.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(media["talk"], layout.uploads / "talk.mp4")

            def transcribing():
                runs = [r for r in sensor_runs(port) if "dagster/parent_run_id" not in r["tags"]]
                if not runs or runs[0]["status"] != "STARTED":
                    return None
                events = dagster_graphql(port, RUN_EVENTS % runs[0]["runId"])["logsForRun"]["events"]
                started = {e.get("stepKey") for e in events if e["__typename"] == "ExecutionStepStartEvent"}
                pids = [m.group(1) for e in events
                        if (m := re.search(r"Started process for run \(pid: (\d+)\)", e.get("message", "")))]
                return (runs[0], int(pids[0])) if "transcript" in started and pids else None

            first, pid = wait_for(transcribing, 300, "the sensor's run to start transcribing", log_path)
            os.kill(pid, signal.SIGKILL)
            key = first["tags"]["dagster/partition"]

            def retried():
                runs = sensor_runs(port)
                retry = [r for r in runs if r["tags"].get("dagster/parent_run_id") == first["runId"]]
                done = retry and retry[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED")
                return (runs, retry[0]) if done else None

            runs, retry = wait_for(retried, 420, "the retry of the killed run", log_path)
            statuses = {r["runId"]: r["status"] for r in runs}
            assert statuses[first["runId"]] == "FAILURE"
            assert retry["status"] == "SUCCESS", log_path.read_text()[-3000:]
            assert retry["tags"]["dagster/retry_number"] == "1"
            assert len(runs) == 2  # the sensor asked once; the only other run is the retry
            events = dagster_graphql(port, RUN_EVENTS % first["runId"])["logsForRun"]["events"]
            assert any("Run execution process" in e.get("message", "") for e in events)  # why it failed

            with metrics_view(layout.home) as conn:  # spooled rows included
                rows = dict(conn.execute("select status, count(*) from metrics where asset = 'transcript' and "
                    "video = ? group by status", [key]).fetchall())
            assert rows.get("success") == 1
            assert lake_file(layout.lake, "segments", key).exists()
            assert not list(layout.home.rglob("*.tmp"))
            # The dead run held a slot of the asr pool (one on two cores): the retry transcribed, so it was freed.
    finally:
        model_worker.stop(layout.home)
