"""One storage root for the lake, the stored originals, keyframes and clips: a local folder or `s3://bucket/prefix`.

A *location* is what the tables store: an absolute local path under a local root, or an `s3://bucket/key` URL
under an S3 root. Code that needs a real file (ffmpeg, PyAV, model inputs) asks `local(location)`: under S3 the
object is downloaded once into this node's cache and reused while its ETag matches. Outputs are built in a
private staging folder of the process and published with `publish`/`put`/`output_dir`/`synced_dir`; once
published they move into the cache, so what a node wrote it reads back without a download.

Atomicity on S3: an object is uploaded with a single PUT or a multipart upload, and S3 makes it visible only
when the upload completes; a failed upload is aborted, so readers see the old object or the whole new one, never
a part. (A process killed mid-upload leaves invisible parts behind: give the bucket a lifecycle rule that aborts
incomplete multipart uploads after a day.) Under a local root, files are written beside the target and renamed.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from ai_assets.storage.files import atomic_path

S3_SCHEME = "s3://"


def is_remote(location: str) -> bool:
    return location.startswith(S3_SCHEME)


def root_problem(root: str) -> str | None:
    """Why a storage root cannot work, in one line; None when it can."""
    if is_remote(root):
        bucket = root[len(S3_SCHEME):].split("/", 1)[0]
        if not bucket:
            return f"{root} names no bucket: use s3://bucket or s3://bucket/prefix"
        return None
    if "://" in root:
        return f"{root}: only local folders and s3:// URLs are supported"
    return None


@dataclass(frozen=True)
class S3Options:
    """How to reach S3. Credentials come from the AWS environment variables, profile or instance role, never
    from here; the region too when not given."""

    endpoint_url: str | None = None
    region: str | None = None

    def filesystem(self):
        from pyarrow import fs

        kwargs: dict = {}
        if self.region:
            kwargs["region"] = self.region
        if self.endpoint_url:
            # S3-compatible stores (MinIO, moto, Ceph) are addressed by path; pyarrow does so with an override.
            parsed = urlparse(self.endpoint_url)
            kwargs["endpoint_override"] = parsed.netloc or parsed.path
            kwargs["scheme"] = parsed.scheme or "https"
        return fs.S3FileSystem(**kwargs)

    def client(self):
        import boto3

        return boto3.session.Session().client("s3", endpoint_url=self.endpoint_url, region_name=self.region)


class ObjectStore:
    """Reads and writes locations under one root; see the module docstring."""

    def __init__(self, root: str, s3: S3Options | None = None, cache_dir: Path | None = None):
        problem = root_problem(root)
        if problem:
            raise ValueError(problem)
        self.remote = is_remote(root)
        self.root = root.rstrip("/") if self.remote else str(Path(root).resolve())
        self._s3 = s3 or S3Options()
        self._fs = None
        self._client = None
        self._lock = threading.Lock()
        self._staged: dict[str, Path] = {}
        self.cache_dir = Path(cache_dir or Path(tempfile.gettempdir()) / "ai-assets-cache")

    # -- naming -------------------------------------------------------------------------------------------------
    def location(self, *parts: str) -> str:
        if self.remote:
            return "/".join([self.root, *[p.strip("/") for p in parts if p]])
        return str(Path(self.root, *parts))

    @staticmethod
    def location_in(folder: str, name: str) -> str:
        return f"{folder.rstrip('/')}/{name}" if is_remote(folder) else str(Path(folder, name))

    def _made_once(self, attribute: str, make):
        with self._lock:
            if getattr(self, attribute) is None:
                setattr(self, attribute, make())
        return getattr(self, attribute)

    @property
    def fs(self):
        return self._made_once("_fs", self._s3.filesystem)

    @property
    def client(self):
        return self._made_once("_client", self._s3.client)

    @staticmethod
    def _key(location: str) -> str:
        return location[len(S3_SCHEME):]

    @staticmethod
    def _split(location: str) -> tuple[str, str]:
        bucket, _, key = location[len(S3_SCHEME):].partition("/")
        return bucket, key

    def _cached(self, location: str) -> Path:
        return self.cache_dir / self._key(location)

    # -- reading ------------------------------------------------------------------------------------------------
    def _head(self, location: str) -> dict | None:
        from botocore.exceptions import ClientError

        bucket, key = self._split(location)
        try:
            return self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def exists(self, location: str) -> bool:
        return Path(location).is_file() if not self.remote else self._head(location) is not None

    def size(self, location: str) -> int | None:
        if not self.remote:
            path = Path(location)
            return path.stat().st_size if path.is_file() else None
        head = self._head(location)
        return None if head is None else int(head["ContentLength"])

    def local(self, location: str) -> Path:
        """A local file with the location's bytes: the file itself under a local root, else a cached download
        (checked against the object's ETag on every call, so a replaced object is fetched again)."""
        if not is_remote(location):
            return Path(location)
        head = self._head(location)
        if head is None:
            raise FileNotFoundError(f"{location} does not exist in object storage")
        cached = self._cached(location)
        if _etag_of(cached) == head["ETag"] and cached.exists():
            return cached
        bucket, key = self._split(location)
        with atomic_path(cached) as tmp:
            self.client.download_file(bucket, key, str(tmp))
        _set_etag(cached, head["ETag"])
        return cached

    def read_bytes(self, location: str) -> bytes:
        if not self.remote:
            return Path(location).read_bytes()
        bucket, key = self._split(location)
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def read_table(self, location: str, columns: list[str] | None = None):
        import pyarrow.parquet as pq

        if not self.remote:
            return pq.read_table(location, columns=columns)
        return pq.read_table(self._key(location), columns=columns, filesystem=self.fs)

    def files(self, folder: str, suffix: str = "") -> list[str]:
        """Locations of the files directly in `folder` whose names end in `suffix` (hidden names left out)."""
        if not self.remote:
            path = Path(folder)
            if not path.is_dir():
                return []
            return sorted(str(p) for p in path.iterdir()
                if p.is_file() and p.name.endswith(suffix) and not p.name.startswith("."))
        bucket, prefix = self._split(folder.rstrip("/") + "/")
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix,
                                                                          Delimiter="/"):
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix):]
                if name and name.endswith(suffix) and not name.startswith("."):
                    found.append(f"{S3_SCHEME}{bucket}/{item['Key']}")
        return sorted(found)

    # -- writing ------------------------------------------------------------------------------------------------
    def upload(self, source: BinaryIO, location: str) -> str:
        """Publish a stream's bytes at `location`: visible only once complete, aborted on any failure."""
        bucket, key = self._split(location)
        self.client.upload_fileobj(source, bucket, key)
        return location

    def put(self, source: Path, location: str) -> str:
        """Publish a local file at `location` atomically; returns the location. The file is left in place."""
        if not self.remote:
            target = Path(location)
            if source.resolve() != target.resolve():
                with atomic_path(target) as tmp:
                    shutil.copyfile(source, tmp)
            return location
        with open(source, "rb") as fh:
            self.upload(fh, location)
        return location

    def write_bytes(self, location: str, data: bytes) -> str:
        if not self.remote:
            with atomic_path(Path(location)) as tmp:
                tmp.write_bytes(data)
            return location
        import io

        return self.upload(io.BytesIO(data), location)

    def write_table(self, location: str, table) -> str:
        import pyarrow.parquet as pq

        if not self.remote:
            with atomic_path(Path(location)) as tmp:
                pq.write_table(table, tmp)
            return location
        with tempfile.NamedTemporaryFile(dir=self._scratch(), suffix=".parquet") as fh:
            pq.write_table(table, fh.name)
            return self.put(Path(fh.name), location)

    def staging(self, location: str) -> Path:
        """Where to build the local file that `publish(location)` makes visible: the location itself under a local
        root; under S3 a path in this process's own staging folder (never shared with another process)."""
        if not is_remote(location):
            return Path(location)
        with self._lock:
            if location not in self._staged:
                self._staged[location] = Path(tempfile.mkdtemp(dir=self._scratch())) / location.rsplit("/", 1)[1]
            return self._staged[location]

    def publish(self, location: str) -> str:
        """Make the file built at `staging(location)` visible at `location` (a no-op under a local root); under S3
        it then moves into the cache, so `local(location)` costs no download."""
        if self.remote:
            staged = self.staging(location)
            self.put(staged, location)
            self._adopt(staged, location)
            with self._lock:
                self._staged.pop(location, None)
            shutil.rmtree(staged.parent, ignore_errors=True)
        return location

    @contextlib.contextmanager
    def output_dir(self, folder: str) -> Iterator[Path]:
        """A local folder to write into; under S3 every file in it is published below `folder` on success."""
        if not self.remote:
            Path(folder).mkdir(parents=True, exist_ok=True)
            yield Path(folder)
            return
        with tempfile.TemporaryDirectory(dir=self._scratch()) as tmp:
            local = Path(tmp)
            yield local
            for path in sorted(local.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    location = self.location_in(folder, path.relative_to(local).as_posix())
                    self.put(path, location)
                    self._adopt(path, location)

    @contextlib.contextmanager
    def synced_dir(self, folder: str) -> Iterator[Path]:
        """A local copy of `folder` to update in place: under S3 it starts as the folder's objects (from the cache
        where fresh), and on success what changed is published and what was removed is deleted, so the folder
        ends as the copy."""
        if not self.remote:
            Path(folder).mkdir(parents=True, exist_ok=True)
            yield Path(folder)
            return
        with tempfile.TemporaryDirectory(dir=self._scratch()) as tmp:
            local = Path(tmp)
            before = {}
            for location in self.files(folder):
                name = location.rsplit("/", 1)[1]
                shutil.copy2(self.local(location), local / name)
                before[name] = (local / name).stat().st_mtime_ns
            yield local
            now = {p.name: p.stat().st_mtime_ns for p in local.iterdir() if p.is_file() and not p.name.startswith(".")}
            for name, mtime in sorted(now.items()):
                if before.get(name) != mtime:
                    location = self.location_in(folder, name)
                    self.put(local / name, location)
                    self._adopt(local / name, location)
            bucket = self._split(folder)[0]
            for name in sorted(set(before) - set(now)):
                self.client.delete_object(Bucket=bucket, Key=self._split(self.location_in(folder, name))[1])

    # -- the cache ----------------------------------------------------------------------------------------------
    def _adopt(self, source: Path, location: str) -> None:
        """Keep what this process just published in the node's cache, tagged with the object's ETag."""
        head = self._head(location)
        if head is None:
            return
        cached = self._cached(location)
        with contextlib.suppress(OSError), atomic_path(cached) as tmp:
            shutil.copyfile(source, tmp)
        if cached.exists():
            _set_etag(cached, head["ETag"])

    def _scratch(self) -> Path:
        folder = self.cache_dir / ".staging"
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _etag_file(cached: Path) -> Path:
    return cached.with_name(f".{cached.name}.etag")


def _etag_of(cached: Path) -> str | None:
    try:
        return _etag_file(cached).read_text()
    except OSError:
        return None


def _set_etag(cached: Path, etag: str) -> None:
    with atomic_path(_etag_file(cached)) as tmp:
        tmp.write_text(etag)
