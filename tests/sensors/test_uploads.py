"""The upload sensor against a real instance, a real uploads folder and S3 through moto_server."""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from ai_assets.assets import source_video
from ai_assets.definitions import build_resources
from ai_assets.ingest.intake import WatchState, lookup
from ai_assets.partitions import videos
from ai_assets.storage.files import sha256_file
from tests.conftest import free_port
from tests.conftest import upload_sensor_tick as tick


def requested(result):
    return [r.partition_key for r in result.run_requests]


def test_new_file_becomes_a_partition_with_a_run_request(layout, instance, media):
    layout.uploads.mkdir(parents=True)
    shutil.copyfile(media["short"], layout.uploads / "Launch Talk.mp4")
    first = tick(instance, layout)
    assert requested(first) == []  # seen once: not yet known to be complete
    second = tick(instance, layout, first.cursor)
    [key] = requested(second)
    assert key.startswith("launch-talk-")
    assert second.run_requests[0].run_key == key
    assert instance.get_dynamic_partitions(videos.name) == [key]
    assert lookup(layout.intake, key).source == str((layout.uploads / "Launch Talk.mp4").resolve())
    assert (layout.uploads / "Launch Talk.mp4").exists()  # never moved
    assert requested(tick(instance, layout, second.cursor)) == []  # idempotent


def test_same_bytes_again_add_nothing(layout, instance, media):
    layout.uploads.mkdir(parents=True)
    shutil.copyfile(media["short"], layout.uploads / "a.mp4")
    cursor = tick(instance, layout, tick(instance, layout).cursor).cursor
    (layout.uploads / "again").mkdir()
    shutil.copyfile(media["short"], layout.uploads / "again" / "copy of a.mp4")
    result = tick(instance, layout, tick(instance, layout, cursor).cursor)
    assert requested(result) == []
    assert result.dynamic_partitions_requests == []
    assert len(instance.get_dynamic_partitions(videos.name)) == 1


def test_half_written_file_is_not_taken(layout, instance, media):
    layout.uploads.mkdir(parents=True)
    data = media["short"].read_bytes()
    target = layout.uploads / "growing.mp4"
    with open(target, "wb") as fh:
        fh.write(data[:1000])
        fh.flush()
        cursor = tick(instance, layout).cursor
        fh.write(data[1000:5000])
        fh.flush()
        result = tick(instance, layout, cursor)
        assert requested(result) == []  # size changed since the last tick
        fh.write(data[5000:])
    result = tick(instance, layout, result.cursor)
    assert requested(result) == []  # changed again while we looked
    result = tick(instance, layout, result.cursor)
    [key] = requested(result)
    assert lookup(layout.intake, key).sha256 == sha256_file(media["short"])


def test_recent_file_waits_for_settle_time_and_partials_are_ignored(layout, instance, media):
    layout.uploads.mkdir(parents=True)
    shutil.copyfile(media["short"], layout.uploads / "fresh.mp4")
    shutil.copyfile(media["short"], layout.uploads / "other.mp4.part")
    shutil.copyfile(media["short"], layout.uploads / ".hidden.mp4")
    cursor = None
    for _ in range(3):
        result = tick(instance, layout, cursor, settle_seconds=3600)
        assert requested(result) == []
        cursor = result.cursor
    assert list(WatchState.from_cursor(cursor).pending) == [str((layout.uploads / "fresh.mp4").resolve())]


@pytest.fixture(scope="module")
def moto_endpoint():
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.1)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


def test_s3_upload_through_moto_server(layout, instance, media, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AI_ASSETS_S3_ENDPOINT_URL", moto_endpoint)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="talks")
    client.upload_file(str(media["short"]), "talks", "incoming/Panel Q&A.mp4")
    client.upload_file(str(media["short"]), "talks", "elsewhere/ignored.mp4")
    s3 = S3Resource(endpoint_url=moto_endpoint, region_name="us-east-1")

    first = tick(instance, layout, s3=s3, bucket="talks")
    assert requested(first) == []
    second = tick(instance, layout, first.cursor, s3=s3, bucket="talks")
    [key] = requested(second)
    upload = lookup(layout.intake, key)
    assert upload.source == "s3://talks/incoming/Panel Q&A.mp4"
    assert upload.sha256 == sha256_file(media["short"])

    resources = build_resources(layout)
    result = dg.materialize([source_video], partition_key=key, instance=instance, resources=resources)
    assert result.success
    stored = resources["media_store"].folder(upload.sha256) / "original.mp4"
    assert sha256_file(stored) == upload.sha256
    assert client.head_object(Bucket="talks", Key="incoming/Panel Q&A.mp4")["ContentLength"] == upload.size
