"""The upload sensor against a real instance, a real uploads folder and S3 through moto_server."""

import shutil
from pathlib import Path

import boto3
import dagster as dg
import pytest

from ai_assets.assets import source_video
from ai_assets.definitions import build_resources
from ai_assets.ingest import intake
from ai_assets.ingest.intake import WatchState, lookup, read_batch
from ai_assets.jobs import INTAKE_BATCH_TAG, intake_uploads, process_video
from ai_assets.partitions import videos
from ai_assets.storage.files import sha256_file
from resources.s3 import LazyS3Resource
from tests.conftest import upload_sensor_tick as tick


def requested(result):
    """The partitions of the video runs a tick asks for."""
    return [r.partition_key for r in result.run_requests if r.job_name == process_video.name]


def intakes(result):
    return [r for r in result.run_requests if r.job_name == intake_uploads.name]


def handed_items(layout, result):
    """The uploads a tick handed to intake runs."""
    return [item for r in intakes(result) for item, _ in read_batch(layout.intake, r.tags[INTAKE_BATCH_TAG])]


def test_new_file_becomes_a_partition_with_a_run_request(layout, instance, media):
    layout.uploads.mkdir(parents=True)
    shutil.copyfile(media["short"], layout.uploads / "Launch Talk.mp4")
    first = tick(instance, layout)
    assert first.run_requests == []  # seen once: not yet known to be complete
    second = tick(instance, layout, first.cursor)
    # Settled and small: taken in the tick itself (no intake run to wait for), its partition and run in the same tick.
    assert intakes(second) == []
    [key] = requested(second)
    assert key.startswith("launch-talk-")
    assert second.run_requests[0].run_key == key
    assert int(second.run_requests[0].tags["dagster/max_runtime"]) > 900
    assert instance.get_dynamic_partitions(videos.name) == [key]
    assert lookup(layout.intake, key).source == str((layout.uploads / "Launch Talk.mp4").resolve())
    assert (layout.uploads / "Launch Talk.mp4").exists()  # never moved
    third = tick(instance, layout, second.cursor)
    assert third.run_requests == [] and third.dynamic_partitions_requests == []  # idempotent
    # The cursor forgets taken uploads: it holds only what is in flight.
    assert WatchState.from_cursor(third.cursor).requested == {}


def test_same_bytes_again_add_nothing(layout, instance, media):
    layout.uploads.mkdir(parents=True)
    shutil.copyfile(media["short"], layout.uploads / "a.mp4")
    cursor = None
    for _ in range(3):
        cursor = tick(instance, layout, cursor).cursor
    (layout.uploads / "again").mkdir()
    shutil.copyfile(media["short"], layout.uploads / "again" / "copy of a.mp4")
    results = []
    for _ in range(4):
        results.append(tick(instance, layout, cursor))
        cursor = results[-1].cursor
    assert [r for result in results for r in result.run_requests] == []  # the copy is taken, and runs no model
    assert all(result.dynamic_partitions_requests == [] for result in results)
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
    assert result.run_requests == []  # changed again while we looked
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
        assert result.run_requests == []
        cursor = result.cursor
    assert list(WatchState.from_cursor(cursor).pending) == [str((layout.uploads / "fresh.mp4").resolve())]


def test_s3_upload_through_moto_server(layout, instance, media, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AI_ASSETS_S3_ENDPOINT_URL", moto_endpoint)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="talks")
    client.upload_file(str(media["short"]), "talks", "incoming/Panel Q&A.mp4")
    client.upload_file(str(media["short"]), "talks", "elsewhere/ignored.mp4")
    s3 = LazyS3Resource(endpoint_url=moto_endpoint, region_name="us-east-1")

    # An object is complete once listed: the first tick hands it to an intake run, the second adds its video.
    first = tick(instance, layout, s3=s3, bucket="talks")
    assert requested(first) == [] and len(intakes(first)) == 1
    second = tick(instance, layout, first.cursor, s3=s3, bucket="talks")
    [key] = requested(second)
    upload = lookup(layout.intake, key)
    assert upload.source == "s3://talks/incoming/Panel Q&A.mp4"
    assert upload.sha256 == sha256_file(media["short"])

    resources = build_resources(layout)
    result = dg.materialize([source_video], partition_key=key, instance=instance, resources=resources)
    assert result.success
    stored = Path(resources["media_store"].folder(upload.sha256)) / "original.mp4"
    assert sha256_file(stored) == upload.sha256
    assert client.head_object(Bucket="talks", Key="incoming/Panel Q&A.mp4")["ContentLength"] == upload.size


@pytest.fixture
def small_limits(monkeypatch):
    """The per-tick limits at a tenth, so the tests need a tenth of the uploads (benchmarks/sensor.py uses 1,000)."""
    monkeypatch.setattr(intake, "MAX_INTAKE_PER_TICK", 20)
    monkeypatch.setattr(intake, "MAX_READY_PER_TICK", 20)
    monkeypatch.setattr(intake, "S3_KEYS_PER_TICK", 100)
    monkeypatch.setattr(intake, "INLINE_TAKE_MAX_BYTES", 0)  # every upload goes through intake runs here


def test_small_uploads_are_taken_in_the_tick_and_the_rest_go_to_an_intake_run(layout, instance, media, monkeypatch):
    layout.uploads.mkdir(parents=True)
    shutil.copyfile(media["short"], layout.uploads / "small.mp4")
    shutil.copyfile(media["talk"], layout.uploads / "large.mp4")
    small, large = media["short"].stat().st_size, media["talk"].stat().st_size
    assert small < large
    monkeypatch.setattr(intake, "INLINE_TAKE_MAX_BYTES", small)
    first = tick(instance, layout)
    second = tick(instance, layout, first.cursor)
    [key] = requested(second)
    # Hashed in the tick, never parsed there: its run's time limit follows the size instead of the duration.
    assert lookup(layout.intake, key).name == "small.mp4" and lookup(layout.intake, key).duration is None
    assert handed_items(layout, second) == [str((layout.uploads / "large.mp4").resolve())]
    third = tick(instance, layout, second.cursor)  # the intake run (carried out by tick()) registered it
    [later] = requested(third)
    assert lookup(layout.intake, later).name == "large.mp4" and lookup(layout.intake, later).duration > 0
    # With no time left in the tick, small uploads are handed on as well.
    monkeypatch.setattr(intake, "INLINE_TAKE_BUDGET_S", 0.0)
    shutil.copyfile(media["odd_name"], layout.uploads / "another.mp4")
    (layout.uploads / "another.mp4").write_bytes((layout.uploads / "another.mp4").read_bytes() + b"\0")
    fourth = tick(instance, layout, third.cursor)
    fifth = tick(instance, layout, fourth.cursor)
    assert requested(fifth) == [] and handed_items(layout, fifth) == [str((layout.uploads / "another.mp4").resolve())]


def test_a_hundred_uploads_are_handed_on_in_bounded_ticks_and_the_cursor_forgets_them(layout, instance, small_limits):
    layout.uploads.mkdir(parents=True)
    for i in range(100):
        (layout.uploads / f"talk {i:04d}.mp4").write_bytes(f"not really a video {i}".encode())
    cursor, handed, keys = tick(instance, layout).cursor, [], []
    for _ in range(8):
        result = tick(instance, layout, cursor)
        cursor = result.cursor
        batches = intakes(result)
        assert len(batches) <= 1
        handed += handed_items(layout, result)
        keys += requested(result)
        assert len(requested(result)) <= intake.MAX_READY_PER_TICK
        assert len(handed_items(layout, result)) <= intake.MAX_INTAKE_PER_TICK
    assert len(handed) == len(set(handed)) == 100  # each upload hashed once, MAX_INTAKE_PER_TICK at a time
    assert len(keys) == len(set(keys)) == 100
    assert sorted(instance.get_dynamic_partitions(videos.name)) == sorted(keys)
    state = WatchState.from_cursor(cursor)
    assert state.requested == {}
    # What stays is one fingerprint per file still in the folder, not a record of every upload ever taken.
    assert len(cursor) < 20_000


def test_s3_is_listed_a_page_per_tick_and_the_sweep_starts_over(layout, instance, moto_endpoint, monkeypatch,
                                                                 small_limits):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="many")
    for i in range(1, 251):
        client.put_object(Bucket="many", Key=f"incoming/talk-{i:05d}.mp4", Body=f"talk {i}".encode())
    s3 = LazyS3Resource(endpoint_url=moto_endpoint, region_name="us-east-1")
    cursor, afters, handed = None, [], []
    for _ in range(3):
        result = tick(instance, layout, cursor, s3=s3, bucket="many")
        cursor = result.cursor
        afters.append(WatchState.from_cursor(cursor).s3_after)
        handed += handed_items(layout, result)
    # Each tick lists one page after the last key it saw; the third reached the end and wraps round.
    assert afters == ["incoming/talk-00100.mp4", "incoming/talk-00200.mp4", ""]
    assert len(set(handed)) == 3 * intake.MAX_INTAKE_PER_TICK  # the rest waits for later ticks, never lost
    # A key that sorts before where the listing stood is found by the next sweep.
    client.put_object(Bucket="many", Key="incoming/talk-00000.mp4", Body=b"late but first")
    seen = []
    for _ in range(20):
        result = tick(instance, layout, cursor, s3=s3, bucket="many")
        cursor = result.cursor
        seen += [lookup(layout.intake, k).source for k in requested(result)]
    assert "s3://many/incoming/talk-00000.mp4" in seen
    assert len(instance.get_dynamic_partitions(videos.name)) == 251


def test_the_s3_resource_makes_no_client_until_one_is_asked_for(moto_endpoint, monkeypatch):
    """dagster-aws's S3Resource sets a boto3 client on the context at setup (~0.3 s of CPU on every sensor tick and
    run, S3 configured or not); ours hands over itself, and its client still reaches the bucket."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from dagster_aws.s3 import S3Resource

    with dg.build_resources({"stock": S3Resource(region_name="us-east-1"),
                             "ours": LazyS3Resource(endpoint_url=moto_endpoint, region_name="us-east-1")}) as built:
        assert not isinstance(built.stock, S3Resource)  # what the stock resource sets up: a client
        assert isinstance(built.ours, LazyS3Resource)
        client = built.ours.get_client()
        client.create_bucket(Bucket="lazy-client")  # the moto server is shared by the session's tests
        assert "lazy-client" in [b["Name"] for b in client.list_buckets()["Buckets"]]
