"""Scale-out end to end: a Ray head and a worker node (separate `ray start` processes on 127.0.0.1), storage on
S3 (moto_server), and `dagster dev` whose instance launches every run as a Ray job. Uploads dropped in the folder
become runs on the worker node; the worker is killed mid-run and a new one joins, and every video still completes,
with outputs equal to a local run's."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ai_assets.assets import VIDEO_ASSETS
from ai_assets.definitions import build_defs
from ai_assets.ingest.samples import make_video
from ai_assets.instance import ensure_instance_config
from ai_assets.policy.documents import PolicyStore
from ai_assets.storage.catalog import connect
from ai_assets.storage.settings import Layout
from resources.lake import lake_location
from tests.conftest import QUICK_CLIPS, REPO, add_video, child_env, free_port, wait_for
from tests.processes import stop_group
from tests.ray_cluster import WORKER_RESOURCE, RayCluster, RayUnavailable

pytestmark = pytest.mark.slow
PROCESSED = sorted(a.key.to_user_string() for a in VIDEO_ASSETS)
# Timings a table records (transcript_shadow's cost of the candidate rule): measured, so never equal across runs.
MEASURED_COLUMNS = {"seconds", "realtime_factor"}
HEAVY = ("transcript", "diarization", "transcript_embeddings", "keyframes", "clips")
LOCATION_COLUMNS = {"media_path", "audio_path", "path", "srt_path", "thumbnail_path", "source"}


@pytest.fixture
def cluster(layout, s3_storage):
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("dagster_ray") is None:
        pytest.skip("Ray is not installed here (pip install 'ai-assets[ray]')")
    env = child_env(layout)
    # Each run loads its models itself, so killing the node takes every process of the run with it.
    env["AI_ASSETS_MODEL_WORKER"] = "off"
    ray = RayCluster(env=env)
    try:
        ray.start()
        ray.add_worker(cpus=2, slots=2)
    except RayUnavailable as exc:
        ray.stop()
        pytest.skip(f"Ray cannot start here: {str(exc)[:400]}")
    yield ray
    ray.stop()


def test_uploads_run_on_the_ray_worker_and_survive_losing_it(layout, cluster, media, tmp_path, s3_storage):
    from dagster._core.events import DagsterEventType
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

    dagster_home = tmp_path / "dagster_home"
    env = {**cluster.env, "DAGSTER_HOME": str(dagster_home), "AI_ASSETS_RAY_ADDRESS": cluster.address,
           "AI_ASSETS_RAY_RUN_RESOURCES": json.dumps({WORKER_RESOURCE: 1}), "AI_ASSETS_RAY_MAX_RUNS": "2",
           # a run killed before it reported starting is failed, and so retried, after this long
           "AI_ASSETS_RUN_START_TIMEOUT_S": "60"}
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        config = ensure_instance_config(dagster_home)  # as ./dev.sh ui writes it, from the environment
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert "class: RayRunLauncher" in config.read_text() and cluster.address in config.read_text()

    videos = {"Cluster one.mp4": media["short"],
              "Cluster two.mp4": make_video(tmp_path / "two.mp4", "Scaling out. Two nodes share the work.",
                                            scenes=2, faststart=True)}
    port = free_port()
    log_path = tmp_path / "dagster-dev.log"
    log = open(log_path, "w")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p",
         str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home)))
        layout.uploads.mkdir(parents=True, exist_ok=True)
        for name, source in videos.items():
            shutil.copyfile(source, layout.uploads / name)

        def video_runs():
            return instance.get_runs(RunsFilter(job_name="process_video"))

        def a_step_is_running():
            for run in video_runs():
                if run.status == DagsterRunStatus.STARTED and instance.all_logs(
                        run.run_id, of_type=DagsterEventType.STEP_START):
                    return run
            return None

        killed_run = wait_for(a_step_is_running, 420, "a video run to start a step on the worker", log_path)
        first_worker = cluster.nodes[-1]
        first_id = cluster.node_id(first_worker)
        first_worker.kill()  # the machine dies: raylet, workers and the run's process with it
        replacement = cluster.add_worker(cpus=2, slots=2)  # as an autoscaler would
        worker_ids = {first_id, cluster.node_id(replacement)}
        head_id = cluster.node_id(cluster.nodes[0])

        def all_done():
            latest = {}
            for run in sorted(video_runs(), key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp):
                latest[run.tags.get("dagster/partition")] = run
            for run in latest.values():  # a failure with retries left is followed by its retry
                assert not (run.status == DagsterRunStatus.FAILURE and run.tags.get("dagster/retry_number") == "2"), \
                    f"run {run.run_id} failed after every retry:\n{log_path.read_text()[-4000:]}"
            done = len(latest) == len(videos) and all(r.status == DagsterRunStatus.SUCCESS for r in latest.values())
            return latest if done else None

        latest = wait_for(all_done, 900, "every video to succeed", log_path)
        # The killed run failed with its worker and a retry of it completed the video.
        killed = instance.get_run_by_id(killed_run.run_id)
        assert killed.status == DagsterRunStatus.FAILURE
        retried = latest[killed.tags["dagster/partition"]]
        assert retried.run_id != killed.run_id and retried.tags.get("dagster/root_run_id") == killed.run_id

        # Every heavy step ran in a Ray job on a worker node, never on the head.
        for asset in HEAVY:
            for key in latest:
                records = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1).records
                assert records, f"{asset} was not materialized for {key}"
                placement = records[0].asset_materialization.metadata["placement"].value
                assert placement.get("ray_job", "").startswith("dagster-run-"), (asset, placement)
                assert placement.get("ray_node") in worker_ids and placement["ray_node"] != head_id, (asset, placement)
    finally:
        stop_group(server)
        log.close()
    cluster.stop()

    # The outputs are on S3 and a notebook reads them there.
    remote = Layout(layout.home, s3_storage)
    objects = remote.objects()
    conn = connect(layout.home)
    assert sorted(r[0] for r in conn.execute("SELECT video FROM source_video").fetchall()) == sorted(latest)
    assert conn.execute("SELECT count(DISTINCT video) FROM transcript").fetchone()[0] == len(videos)
    assert not (layout.home / "lake" / "transcript").exists()

    # The same videos processed locally, in this process, give the same tables (location columns aside): the
    # killed run's retry left no duplicate or missing rows.
    os.environ.pop("AI_ASSETS_STORAGE")
    local = Layout(tmp_path / "local-home")
    PolicyStore(local.metrics_db).set("clip", QUICK_CLIPS, "user", "tests: as the cluster run")
    local_objects = local.objects()
    (tmp_path / "local-dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "local-dagster")) as local_instance:
        for name, source in videos.items():
            renamed = tmp_path / "local-uploads" / name
            renamed.parent.mkdir(exist_ok=True)
            shutil.copyfile(source, renamed)
            key = add_video(local, local_instance, renamed)
            assert key in latest
            assert build_defs(local).resolve_job_def("process_video").execute_in_process(
                instance=local_instance, partition_key=key).success
            for asset in PROCESSED:
                ours = objects.read_table(lake_location(objects, asset, key)).to_pylist()
                theirs = local_objects.read_table(lake_location(local_objects, asset, key)).to_pylist()
                strip = lambda rows: [{k: v for k, v in r.items() if k not in LOCATION_COLUMNS | MEASURED_COLUMNS}  # noqa: E731
                                      for r in rows]
                assert strip(ours) == strip(theirs), f"{asset} for {key} differs from a local run"
