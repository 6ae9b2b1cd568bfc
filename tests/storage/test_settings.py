"""Settings read from the environment."""

import os

import pytest

from ai_assets.storage.settings import THREADS_ENV, step_threads

CORES = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("value", "expected"), [
    (None, CORES), ("0", CORES), ("", CORES), ("1", 1), (str(CORES + 7), CORES), ("two", CORES), ("-1", CORES),
])
def test_step_threads_is_the_variable_within_the_cores_and_every_core_otherwise(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv(THREADS_ENV, raising=False)
    else:
        monkeypatch.setenv(THREADS_ENV, value)
    assert step_threads() == expected
