"""missed_retry_sensor: a failed video run that Dagster marked for retry and then passed over is run again, once;
every other failed run is left alone."""

import time

import dagster as dg
import pytest
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.test_utils import create_run_for_test

from sensors.retries import GRACE_S, missed_retries, missed_retry_sensor, retry_request

RETRIES = {"run_retries": {"enabled": True, "max_retries": 2}}
# Where a run launched by the daemon or the UI comes from (an in-process `ai-assets` run has none).
ORIGIN = RemoteJobOrigin(RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("ai_assets.definitions"),
                                                "__repository__"), "process_video")


@pytest.fixture
def instance():
    with dg.instance_for_test(overrides=RETRIES) as instance:
        yield instance


def failed_run(instance, key: str = "talk-0123456789", origin=ORIGIN, **tags) -> dg.DagsterRun:
    """A process_video run of `key` that failed as a killed worker's does: Dagster tags it `will_retry`."""
    run = create_run_for_test(instance, job_name="process_video", status=DagsterRunStatus.STARTED,
                              remote_job_origin=origin,
                              tags={"dagster/partition": key, "dagster/max_runtime": "1620",
                                    "ai_assets/whole_video": "true", "dagster/sensor_name": "upload_sensor", **tags})
    instance.report_run_failed(run, "the run worker died")
    return instance.get_run_by_id(run.run_id)


def later() -> float:
    return time.time() + GRACE_S + 1


def test_a_passed_over_run_is_retried_as_the_next_attempt_of_its_group(instance):
    run = failed_run(instance)
    assert run.status == DagsterRunStatus.FAILURE and run.tags["dagster/will_retry"] == "true"
    assert [r.run_id for r in missed_retries(instance, later())] == [run.run_id]
    request = retry_request(run, 2)
    assert request.partition_key == "talk-0123456789" and request.run_key == f"retry-{run.run_id}"
    assert request.tags == {
        "dagster/max_runtime": "1620", "ai_assets/whole_video": "true",  # the work's tags, kept
        "dagster/parent_run_id": run.run_id, "dagster/root_run_id": run.run_id, "dagster/retry_number": "1",
        "dagster/max_retries": "1", "ai_assets/retry_of": run.run_id,
    }


def test_a_retry_of_a_retry_keeps_the_root_and_spends_the_budget(instance):
    first = failed_run(instance)
    second = failed_run(instance, **{"dagster/root_run_id": first.run_id, "dagster/parent_run_id": first.run_id,
                                     "dagster/retry_number": "1", "dagster/max_retries": "1"})
    request = retry_request(second, 2)
    assert request.tags["dagster/root_run_id"] == first.run_id
    assert request.tags["dagster/parent_run_id"] == second.run_id
    assert (request.tags["dagster/retry_number"], request.tags["dagster/max_retries"]) == ("2", "0")


def test_runs_that_are_retried_or_must_not_be_are_left_alone(instance):
    retried = failed_run(instance, key="a-0000000001")
    instance.add_run_tags(retried.run_id, {"dagster/auto_retry_run_id": "some-run"})  # the daemon did its job
    failed_run(instance, key="b-0000000002", **{"dagster/max_retries": "0"})  # no retries allowed: will_retry false
    superseded = failed_run(instance, key="c-0000000003")
    create_run_for_test(instance, job_name="process_video", tags={"dagster/partition": "c-0000000003"})  # run again
    cli = failed_run(instance, key="e-0000000005", origin=None)  # an `ai-assets process` run killed with its process
    assert cli.tags["dagster/will_retry"] == "true"
    assert not missed_retries(instance, later())
    assert superseded.tags["dagster/will_retry"] == "true"
    # Within the grace period the daemon may still be about to retry it.
    fresh = failed_run(instance, key="d-0000000004")
    assert not missed_retries(instance, time.time() + GRACE_S - 5)
    assert [r.run_id for r in missed_retries(instance, later())] == [fresh.run_id]


def test_the_sensor_requests_a_passed_over_run_after_the_grace_period(instance, monkeypatch):
    assert isinstance(missed_retry_sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)
    run = failed_run(instance)
    # Just failed: the daemon's turn first.
    assert isinstance(missed_retry_sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)
    monkeypatch.setattr("sensors.retries.clock", later)
    result = missed_retry_sensor(dg.build_sensor_context(instance=instance))
    assert [(r.run_key, r.partition_key) for r in result.run_requests] == [(f"retry-{run.run_id}", "talk-0123456789")]
    assert result.run_requests[0].tags["dagster/max_retries"] == "1"  # the instance allows 2; this is the first
