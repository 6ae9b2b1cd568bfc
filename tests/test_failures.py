"""A run killed in the middle of transcription: the next command marks it failed and frees what it held,
`ai-assets failures` lists it as retryable, `ai-assets retry` completes it, and nothing is duplicated or left half
written. Bad input is listed as such and not retried."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ai_assets.catalog import connect as metrics_view
from tests.conftest import child_env

pytestmark = pytest.mark.slow


def cli(layout, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "ai_assets.cli", *args], env=child_env(layout), capture_output=True,
        text=True, timeout=timeout)


def test_a_killed_run_is_listed_retried_and_completed_once(layout, media):
    proc = subprocess.Popen([sys.executable, "-m", "ai_assets.cli", "process", str(media["short"])],
        env=child_env(layout), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        if "… transcript" in line:
            break
        assert time.monotonic() < deadline, "transcription never started"
    time.sleep(1.0)  # in the middle of decoding
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    listed = cli(layout, "failures")
    assert listed.returncode == 0, listed.stderr
    [line] = [row for row in listed.stdout.splitlines() if row.startswith("faststart-")]
    key = line.split()[0]
    assert "can retry" in line and f"(pid {proc.pid}) is gone" in line

    retried = cli(layout, "retry")
    assert retried.returncode == 0, retried.stderr[-2000:]
    assert "1 of 1 succeeded" in retried.stdout
    assert cli(layout, "failures").stdout.strip() == "no failed videos"

    # One successful transcript row for the video, no half-written file anywhere under the home folder.
    with metrics_view(layout.home) as conn:  # rows still spooled included
        rows = conn.execute("select status, count(*) from metrics where asset = 'transcript' and video = ? "
            "group by status", [key]).fetchall()
    assert dict(rows).get("success") == 1
    assert not [p for p in layout.home.rglob("*.tmp")]
    assert (layout.lake / "segments" / f"{key}.parquet").exists()


def test_bad_input_is_listed_as_such_and_not_retried(layout, media):
    assert cli(layout, "process", str(media["empty"])).returncode == 1
    listed = cli(layout, "failures").stdout
    [line] = [row for row in listed.splitlines() if row.startswith("empty-")]
    assert "bad input" in line and "source_video: empty file (0 bytes)" in line
    assert cli(layout, "retry").stdout.strip() == "nothing to retry"
    named = cli(layout, "retry", "../x")
    assert named.returncode == 2 and "is not a video key" in named.stderr
