"""Ray settings from the environment, and the instance they give (without starting Ray; tests/test_ray_cluster.py
runs the real cluster)."""

from __future__ import annotations

import importlib.util
import json
import socket

import dagster as dg
import pytest

from ai_assets.instance import FORWARDED_ENV, Machine, RaySettings, apply_pool_limits, ensure_instance_config, placement

RAY_VARS = ("AI_ASSETS_RAY_ADDRESS", "AI_ASSETS_RAY_RUN_CPUS", "AI_ASSETS_RAY_RUN_GPUS",
            "AI_ASSETS_RAY_RUN_RESOURCES", "AI_ASSETS_RAY_MAX_RUNS", "AI_ASSETS_RUN_START_TIMEOUT_S")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in RAY_VARS:
        monkeypatch.delenv(name, raising=False)


def test_without_an_address_nothing_changes(tmp_path):
    assert RaySettings.from_env() is None
    text = ensure_instance_config(tmp_path, Machine(2, 24.0)).read_text()
    assert "run_launcher" not in text and "max_concurrent_runs: 2" in text


@pytest.mark.parametrize(("name", "value", "message"), [
    ("AI_ASSETS_RAY_ADDRESS", "ray-head:10001", "must be the Ray dashboard's URL"),
    ("AI_ASSETS_RAY_RUN_RESOURCES", "worker", "must be a JSON object of positive numbers"),
    ("AI_ASSETS_RAY_RUN_RESOURCES", '{"worker": 0}', "must be a JSON object of positive numbers"),
    ("AI_ASSETS_RAY_RUN_CPUS", "two", "must be a number"),
    ("AI_ASSETS_RAY_RUN_GPUS", "-1", "must not be negative"),
])
def test_bad_settings_fail_in_one_line(monkeypatch, name, value, message):
    monkeypatch.setenv("AI_ASSETS_RAY_ADDRESS", "http://127.0.0.1:8265")
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message) as info:
        RaySettings.from_env()
    assert "\n" not in str(info.value)


@pytest.mark.skipif(importlib.util.find_spec("dagster_ray") is None, reason="dagster-ray is not installed")
def test_the_instance_launches_runs_as_ray_jobs(monkeypatch, tmp_path):
    from dagster._core.instance.ref import InstanceRef
    from dagster_ray import RayRunLauncher

    monkeypatch.setenv("AI_ASSETS_RAY_ADDRESS", "http://127.0.0.1:8265/")
    monkeypatch.setenv("AI_ASSETS_RAY_RUN_RESOURCES", json.dumps({"ai_assets_worker": 1}))
    monkeypatch.setenv("AI_ASSETS_RAY_RUN_GPUS", "1")
    monkeypatch.setenv("AI_ASSETS_RAY_MAX_RUNS", "6")
    monkeypatch.setenv("AI_ASSETS_RUN_START_TIMEOUT_S", "90")
    ensure_instance_config(tmp_path, Machine(2, 24.0))
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path)))
    launcher = instance.run_launcher
    assert isinstance(launcher, RayRunLauncher)
    assert launcher.address == "http://127.0.0.1:8265"
    assert launcher.resources == {"ai_assets_worker": 1.0} and launcher.num_gpus == 1 and launcher.num_cpus == 1
    assert set(launcher.env_vars) == set(FORWARDED_ENV)
    assert not any("KEY" in name or "SECRET" in name or "TOKEN" in name or "POSTGRES" in name
                   for name in launcher.env_vars), "secrets must come from each node, not the job's environment"
    assert instance.get_settings("run_monitoring")["start_timeout_seconds"] == 90
    assert instance.get_settings("concurrency")["runs"]["max_concurrent_runs"] == 6
    # Pools stop limiting on a cluster: each node reserves its run's CPUs through Ray.
    pools = apply_pool_limits(instance, Machine(2, 24.0))
    assert pools["llm"] == 4 and {p: n for p, n in pools.items() if p != "llm"} == dict.fromkeys(
        ("asr", "speaker", "embed", "encode"), 6)
    # The variable gone, the next write goes back to the machine's own launcher.
    monkeypatch.delenv("AI_ASSETS_RAY_ADDRESS")
    assert "run_launcher" not in ensure_instance_config(tmp_path, Machine(2, 24.0)).read_text()


def test_outside_ray_placement_is_the_host(monkeypatch):
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    placement.cache_clear()
    assert placement() == {"host": socket.gethostname()}
    placement.cache_clear()
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"metadata": {"job_submission_id": "dagster-run-x"}}))
    where = placement()
    placement.cache_clear()
    assert where["ray_job"] == "dagster-run-x" and "AI_ASSETS_RAY_ADDRESS is not set" in where["ray_node_unknown"]
