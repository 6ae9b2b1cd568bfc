"""Fixtures: synthetic media made with espeak-ng and ffmpeg, a fresh ai-assets home per test."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from ai_assets.ingest.intake import ingest_local
from ai_assets.ingest.samples import SAMPLE_TEXT, make_silent_video, make_video
from ai_assets.jobs import intake_uploads
from ai_assets.partitions import videos
from ai_assets.policy.documents import PolicyStore
from ai_assets.storage.settings import HOME_ENV, Layout
from resources import UploadSource
from resources.s3 import LazyS3Resource
from sensors.uploads import upload_sensor
from tests.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
# Tests load models in their own process (and the child processes they start); the shared model worker is tested
# on its own (tests/test_model_worker.py) and under `dagster dev` (tests/test_dagster_dev.py).
os.environ.setdefault("AI_ASSETS_MODEL_WORKER", "off")
SHARED_MEDIA = REPO.parent / "shared" / "media"


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Good and bad inputs, generated once per session."""
    folder = tmp_path_factory.mktemp("media")
    talk = make_video(folder / "talk.mp4", SAMPLE_TEXT, scenes=4)
    faststart = make_video(folder / "faststart.mp4", "A short clip. It has a few words.", scenes=2, faststart=True)
    files = {"talk": talk, "silent": make_silent_video(folder / "silent.mp4")}
    files["empty"] = folder / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["text"] = folder / "notes.mp4"
    files["text"].write_text("These are meeting notes, not a video.\n" * 50)
    data = talk.read_bytes()
    files["truncated"] = folder / "truncated.mp4"
    files["truncated"].write_bytes(data[: len(data) // 2])
    fs = faststart.read_bytes()
    files["truncated_faststart"] = folder / "truncated_faststart.mp4"
    files["truncated_faststart"].write_bytes(fs[: len(fs) // 3])
    files["odd_name"] = folder / "Día 2, Q&A [final] | ß.mp4"
    shutil.copyfile(faststart, files["odd_name"])
    files["short"] = faststart
    return files


# One small vertical render per video: tests about other stages should not spend minutes encoding.
# tests/test_pipeline.py and tests/render/test_clips.py render at the real platform sizes.
QUICK_CLIPS = {"top_k": 1, "preset": "ultrafast",
               "platforms": {"tiktok": {"aspect": "9:16", "width": 360, "height": 640, "max_seconds": 60,
                   "caption_bottom": 0.2}}}


@pytest.fixture
def layout(tmp_path, monkeypatch) -> Layout:
    home = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    layout = Layout(home)
    PolicyStore(layout.metrics_db).set("clip", QUICK_CLIPS, "user", "tests: one small render per video")
    return layout


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as inst:
        yield inst


def add_video(layout: Layout, instance: dg.DagsterInstance, path: Path) -> str:
    """Register a file as the sensor would, and add its partition."""
    upload = ingest_local(layout.intake, path)
    instance.add_dynamic_partitions(videos.name, [upload.key])
    return upload.key


def failure_description(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures, "expected a step failure"
    data = failures[0].step_failure_data
    return data.user_failure_data.description if data.user_failure_data else data.error.message


def require_shared_media(*parts: str) -> Path:
    path = SHARED_MEDIA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real media not present at {path} (it ships beside the repo as ../shared/media)")
    return path


def child_env(layout: Layout) -> dict[str, str]:
    env = dict(os.environ)
    env[HOME_ENV] = str(layout.home)
    env.pop("DAGSTER_HOME", None)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dagster_graphql(port: int, query: str) -> dict:
    """The `data` of a GraphQL query to a Dagster webserver on loopback."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def wait_for(predicate, seconds: float, what: str, log: Path | None = None):
    """Poll `predicate` every second until it returns something true, which is returned; fail after `seconds`,
    with the tail of `log` when given."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}" + (f":\n{log.read_text()[-4000:]}" if log else ""))


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"{what} did not start")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real S3 API (moto_server) on 127.0.0.1 for the whole session."""
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, "moto_server")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_storage(moto_endpoint, monkeypatch, tmp_path) -> str:
    """A fresh bucket on moto and the environment that points ai-assets' storage at it; returns the storage URL."""
    import uuid

    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1"), ("AI_ASSETS_S3_ENDPOINT_URL", moto_endpoint)):
        monkeypatch.setenv(name, value)
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/ai-assets"
    monkeypatch.setenv("AI_ASSETS_STORAGE", url)
    return url


def upload_sensor_tick(instance, layout, cursor=None, s3=None, bucket=None, settle_seconds=0.0):
    """Evaluate the sensor once and do what the daemon does with the result: add the partitions, and carry out
    the intake runs it asks for (video runs are left to the test)."""
    resources = {
        "uploads": UploadSource(local_dir=str(layout.uploads), intake_dir=str(layout.intake), s3_bucket=bucket,
                                s3_prefix="incoming/", settle_seconds=settle_seconds),
        "s3": s3 or LazyS3Resource(),
    }
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = upload_sensor(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    for request in result.run_requests:
        if request.job_name == intake_uploads.name:
            intake_uploads.execute_in_process(instance=instance, resources=resources, tags=request.tags)
    return result


@pytest.fixture
def server():
    """A loopback OpenAI-compatible server (tests/fake_openai.py); test files may override it with their own."""
    with FakeOpenAI() as fake:
        yield fake
