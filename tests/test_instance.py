"""The shipped instance configuration: sized from the machine, loaded by a real Dagster instance, pools set on
it, the user's own dagster.yaml left alone, and CLI runs whose process died reaped."""

import os
import subprocess
import sys

import dagster as dg
import pytest
import yaml
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.dagster_run import DagsterRunStatus

from ai_assets.assets import source_video
from ai_assets.definitions import build_defs
from ai_assets.ingest.intake import RUNTIME_BASE_S, run_budget_s
from ai_assets.instance import (
    HEAVY_POOLS,
    HOST_TAG,
    MARKER,
    PID_TAG,
    Machine,
    apply_pool_limits,
    cli_run_tags,
    ensure_instance_config,
    get_instance,
    reap_dead_cli_runs,
)


@pytest.mark.parametrize(
    ("cores", "memory_gb", "runs", "heavy"),
    [
        (2, 24.0, 2, 1),  # this machine: two runs, one heavy step of each kind at a time
        (1, 2.0, 1, 1),  # never zero
        (16, 8.0, 3, 8),  # memory-bound: 8 GB x 0.6 / 1.5 GB per run
        (64, 512.0, 64, 32),  # core-bound
    ],
)
def test_limits_follow_cores_and_memory(cores, memory_gb, runs, heavy):
    machine = Machine(cores, memory_gb)
    assert machine.max_concurrent_runs == runs
    assert machine.pool_limits == {**dict.fromkeys(HEAVY_POOLS, heavy), "llm": 4}


def test_template_is_a_valid_instance_with_queue_retries_and_monitoring(tmp_path):
    config = ensure_instance_config(tmp_path, Machine(2, 24.0))
    text = config.read_text()
    assert text.startswith(MARKER)
    settings = yaml.safe_load(text)
    assert settings["concurrency"]["runs"]["max_concurrent_runs"] == 2
    assert settings["run_retries"] == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}
    assert settings["run_monitoring"]["enabled"] is True
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 2  # what the daemon reads
        assert instance.run_coordinator.dequeue_interval_seconds == 1  # queued runs start within a second
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 300
        # What lets a dead run's retry out of the queue (tests/test_dagster_dev.py kills one).
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 10
        pools = apply_pool_limits(instance, Machine(2, 24.0))
        assert pools == {"asr": 1, "speaker": 1, "embed": 1, "encode": 1, "llm": 4}
        # A limit someone set by hand is kept.
        instance.event_log_storage.set_concurrency_slots("asr", 3)
        assert apply_pool_limits(instance, Machine(2, 24.0))["asr"] == 3


def test_the_users_own_config_is_left_alone_and_the_old_minimal_one_is_replaced(tmp_path):
    own = "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 7\n"
    (tmp_path / "dagster.yaml").write_text(own)
    ensure_instance_config(tmp_path, Machine(2, 24.0))
    assert (tmp_path / "dagster.yaml").read_text() == own
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    ensure_instance_config(tmp_path, Machine(2, 24.0))
    assert (tmp_path / "dagster.yaml").read_text().startswith(MARKER)
    # Rewritten when the machine changes, since the template line is still there.
    ensure_instance_config(tmp_path, Machine(8, 64.0))
    assert "max_concurrent_runs: 8" in (tmp_path / "dagster.yaml").read_text()


def test_heavy_steps_declare_their_pools():
    with dg.instance_for_test():  # a live instance for the definitions' load context
        graph = build_defs().resolve_asset_graph()
    pools = {key.to_user_string(): sorted(graph.get(key).pools) for key in graph.get_all_asset_keys()
        if graph.get(key).pools}
    assert pools == {"transcript": ["asr"], "transcript_shadow": ["asr"], "diarization": ["speaker"],
        "transcript_embeddings": ["embed"], "clips": ["encode"], "keyframes": ["encode"], "clip_copy": ["llm"],
        "visual_analysis": ["llm"], "safety": ["llm"]}


def test_run_budget_grows_with_duration_and_falls_back_to_size():
    assert run_budget_s(10_000_000, 60.0) == RUNTIME_BASE_S + 720
    assert run_budget_s(10_000_000, 3600.0) > run_budget_s(10_000_000, 600.0) > run_budget_s(10_000_000, 60.0)
    # Without a duration, 1 Mbit/s: 125 MB is taken as 1000 s.
    assert run_budget_s(125_000_000, None) == run_budget_s(0, 1000.0)
    assert run_budget_s(0, None) == RUNTIME_BASE_S


def test_a_cli_run_whose_process_died_is_failed_and_frees_its_slots(layout, media, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # Entered, so the definitions' load context reads this instance's state storage.
    with get_instance(layout) as instance:
        job = build_defs().resolve_implicit_global_asset_job_def()
        run = instance.create_run_for_job(job, asset_selection={source_video.key},
            tags={PID_TAG: str(dead.pid), HOST_TAG: cli_run_tags()[HOST_TAG]}, status=DagsterRunStatus.STARTED)
        alive = instance.create_run_for_job(job, asset_selection={source_video.key}, tags=cli_run_tags(),
            status=DagsterRunStatus.STARTED)
        storage = instance.event_log_storage
        storage.claim_concurrency_slot("encode", run.run_id, "clips")
        assert storage.get_concurrency_info("encode").active_slot_count == 1
        assert reap_dead_cli_runs(instance) == [run.run_id]
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == DagsterRunStatus.STARTED  # this process: going on
        assert storage.get_concurrency_info("encode").active_slot_count == 0
        assert reap_dead_cli_runs(instance) == []
    assert os.getpid() == int(cli_run_tags()[PID_TAG])
