"""The storage root on a local folder and on S3 (moto_server on 127.0.0.1): the same operations, the same results."""

from __future__ import annotations

import io
import os
from pathlib import Path

import boto3
import pyarrow as pa
import pytest

from ai_assets.storage.objects import ObjectStore, S3Options, root_problem
from resources.lake import lake_location


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ObjectStore:
    if request.param == "local":
        return ObjectStore(str(tmp_path / "root"), cache_dir=tmp_path / "cache")
    url = request.getfixturevalue("s3_storage")
    return ObjectStore(url, S3Options(os.environ["AI_ASSETS_S3_ENDPOINT_URL"]), tmp_path / "cache")


def s3_keys(store: ObjectStore) -> list[str]:
    bucket, _, prefix = store.root[len("s3://"):].partition("/")
    client = boto3.client("s3", endpoint_url=os.environ["AI_ASSETS_S3_ENDPOINT_URL"], region_name="us-east-1")
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def test_tables_round_trip_and_are_listed(store):
    location = lake_location(store, "segments", "talk-0123456789")
    assert location.endswith("/lake/segments/talk-0123456789.parquet")
    assert not store.exists(location) and store.size(location) is None
    store.write_table(location, pa.table({"a": [1, 2, 3]}))
    assert store.read_table(location).column("a").to_pylist() == [1, 2, 3]
    store.write_table(location, pa.table({"a": [4]}))  # replaced whole
    assert store.read_table(location).num_rows == 1
    assert store.files(store.location("lake", "segments"), ".parquet") == [location]
    assert store.files(store.location("lake", "nothing"), ".parquet") == []


def test_a_file_is_published_whole_and_read_back_locally(store, tmp_path):
    source = tmp_path / "clip.mp4"
    source.write_bytes(os.urandom(9 * (1 << 20) + 17))  # above boto3's 8 MiB threshold: a multipart upload
    location = store.put(source, store.location("clips", "v", "clip.mp4"))
    assert store.size(location) == source.stat().st_size
    assert store.local(location).read_bytes() == source.read_bytes()
    assert store.read_bytes(location) == source.read_bytes()
    if store.remote:
        assert s3_keys(store) == [store._split(location)[1]], "only the object itself, no partial or marker key"


class FailsHalfway(io.RawIOBase):
    """A stream that breaks after some bytes, as a dying disk or a dropped connection would."""

    def __init__(self, size: int, fail_at: int):
        self.size, self.fail_at, self.sent = size, fail_at, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.sent >= self.fail_at:
            raise OSError("the source broke off")
        n = min(len(buffer), self.fail_at - self.sent, self.size - self.sent)
        buffer[:n] = b"x" * n
        self.sent += n
        return n


@pytest.mark.parametrize("size", [1 << 20, 12 << 20], ids=["single-put", "multipart"])
def test_a_broken_upload_leaves_the_old_object_and_no_part(s3_storage, tmp_path, size):
    store = ObjectStore(s3_storage, S3Options(os.environ["AI_ASSETS_S3_ENDPOINT_URL"]), tmp_path / "cache")
    location = store.write_bytes(store.location("media", "x.bin"), b"old, complete")
    with pytest.raises(OSError, match="broke off"):
        store.upload(io.BufferedReader(FailsHalfway(size, size // 2 + 5)), location)
    assert store.read_bytes(location) == b"old, complete"
    assert store.local(location).read_bytes() == b"old, complete"
    assert s3_keys(store) == [store._split(location)[1]]
    if size > 8 << 20:
        bucket = s3_storage[len("s3://"):].split("/", 1)[0]
        client = boto3.client("s3", endpoint_url=os.environ["AI_ASSETS_S3_ENDPOINT_URL"], region_name="us-east-1")
        assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], "the upload was not aborted"


def test_a_failed_local_write_leaves_the_old_file(tmp_path):
    store = ObjectStore(str(tmp_path / "root"), cache_dir=tmp_path / "cache")
    location = store.write_bytes(store.location("media", "x.json"), b'{"v": 1}')
    with pytest.raises(OSError):
        store.put(tmp_path / "does-not-exist", location)
    assert store.read_bytes(location) == b'{"v": 1}'


def test_the_cache_is_refreshed_when_the_object_changes(s3_storage, tmp_path):
    endpoint = os.environ["AI_ASSETS_S3_ENDPOINT_URL"]
    writer = ObjectStore(s3_storage, S3Options(endpoint), tmp_path / "writer")
    reader = ObjectStore(s3_storage, S3Options(endpoint), tmp_path / "reader")
    location = writer.write_bytes(writer.location("media", "a.txt"), b"first")
    assert reader.local(location).read_bytes() == b"first"
    writer.write_bytes(location, b"other")  # same size, same second: only the ETag tells them apart
    assert reader.local(location).read_bytes() == b"other"
    with pytest.raises(FileNotFoundError, match="does not exist in object storage"):
        reader.local(writer.location("media", "missing.wav"))


def test_staging_is_private_to_the_process_and_published_into_the_cache(s3_storage, tmp_path):
    store = ObjectStore(s3_storage, S3Options(os.environ["AI_ASSETS_S3_ENDPOINT_URL"]), tmp_path / "cache")
    location = store.location("media", "ab", "audio_16k.wav")
    staged = store.staging(location)
    assert staged == store.staging(location) and staged.name == "audio_16k.wav"
    assert tmp_path / "cache" / "ai-assets" not in staged.parents  # not where other processes read the cache
    staged.write_bytes(b"RIFF....")
    store.publish(location)
    assert not staged.exists()
    cached = store.local(location)
    assert cached.read_bytes() == b"RIFF...." and cached != staged


def test_output_dir_publishes_every_file_it_holds(store):
    folder = store.location("media", "ab", "keyframes")
    with store.output_dir(folder) as local:
        (local / "0001.jpg").write_bytes(b"one")
        (local / "0002.jpg").write_bytes(b"two")
    assert [Path(p).name for p in store.files(folder, ".jpg")] == ["0001.jpg", "0002.jpg"]
    assert store.read_bytes(store.location_in(folder, "0002.jpg")) == b"two"


def test_synced_dir_mirrors_additions_changes_and_removals(store):
    folder = store.location("clips", "v")
    with store.synced_dir(folder) as local:
        (local / "a.mp4").write_bytes(b"a")
        (local / "b.mp4").write_bytes(b"b")
    with store.synced_dir(folder) as local:
        assert sorted(p.name for p in local.iterdir()) == ["a.mp4", "b.mp4"]
        (local / "a.mp4").unlink()
        (local / "b.mp4").write_bytes(b"b2")
        (local / "c.mp4").write_bytes(b"c")
    assert [Path(p).name for p in store.files(folder)] == ["b.mp4", "c.mp4"]
    assert store.read_bytes(store.location_in(folder, "b.mp4")) == b"b2"


@pytest.mark.parametrize(("root", "problem"), [
    ("s3://", "names no bucket"),
    ("gs://bucket/x", "only local folders and s3:// URLs"),
    ("s3://bucket/prefix", None),
    ("/srv/ai-assets", None),
])
def test_root_problems_are_named(root, problem):
    found = root_problem(root)
    assert (found is None) if problem is None else (problem in found)
    if problem:
        with pytest.raises(ValueError, match=problem):
            ObjectStore(root)
