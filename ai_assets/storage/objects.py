"""One storage root for the lake, the stored originals, keyframes and clips: a local folder or `s3://bucket/prefix`.

A *location* is what the tables store: an absolute local path under a local root, or an `s3://bucket/key` URL
under an S3 root. Code that needs a real file (ffmpeg, PyAV, model inputs) asks `local(location)`: under S3 the
object is downloaded once into this node's cache and reused while its size and modification time match. Outputs
are written to a local folder or file first and published with `put`/`output_dir`.

Atomicity on S3: every object is written to a temporary key beside its target and moved (a server-side copy,
then a delete) once complete, so a reader of the target sees the old object or the whole new one, never a part;
an interrupted upload leaves only a `.tmp` key, which no reader lists.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ai_assets.storage.files import atomic_path

S3_SCHEME = "s3://"
TMP_SUFFIX = ".tmp"


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
    """How to reach S3 (credentials come from the AWS environment variables or the instance profile, never here)."""

    endpoint_url: str | None = None
    region: str | None = None

    def filesystem(self):
        from pyarrow import fs

        kwargs: dict = {"region": self.region or "us-east-1"}
        if self.endpoint_url:
            parsed = urlparse(self.endpoint_url)
            kwargs["endpoint_override"] = parsed.netloc or parsed.path
            kwargs["scheme"] = parsed.scheme or "https"
            # S3-compatible stores on a plain host name (MinIO, moto, Ceph) are addressed by path, not by
            # virtual host; pyarrow picks path style whenever an endpoint override is given.
        return fs.S3FileSystem(**kwargs)


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
        self.cache_dir = Path(cache_dir or Path(tempfile.gettempdir()) / "ai-assets-cache")

    # -- naming -------------------------------------------------------------------------------------------------
    def location(self, *parts: str) -> str:
        if self.remote:
            return "/".join([self.root, *[p.strip("/") for p in parts if p]])
        return str(Path(self.root, *parts))

    def under(self, *parts: str) -> ObjectStore:
        """The same store rooted at a sub-location (shares the S3 client and the cache)."""
        store = ObjectStore.__new__(ObjectStore)
        store.remote, store._s3, store._fs, store.cache_dir = self.remote, self._s3, self._fs, self.cache_dir
        store.root = self.location(*parts)
        return store

    @property
    def fs(self):
        if self._fs is None:
            self._fs = self._s3.filesystem()
        return self._fs

    @staticmethod
    def _key(location: str) -> str:
        return location[len(S3_SCHEME):]

    def _tmp_key(self, location: str) -> str:
        folder, _, name = self._key(location).rpartition("/")
        return f"{folder}/.{name}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}"

    # -- reading ------------------------------------------------------------------------------------------------
    def exists(self, location: str) -> bool:
        if not self.remote:
            return Path(location).is_file()
        from pyarrow import fs

        return self.fs.get_file_info(self._key(location)).type == fs.FileType.File

    def size(self, location: str) -> int | None:
        if not self.remote:
            path = Path(location)
            return path.stat().st_size if path.is_file() else None
        from pyarrow import fs

        info = self.fs.get_file_info(self._key(location))
        return info.size if info.type == fs.FileType.File else None

    def local(self, location: str) -> Path:
        """A local file with the location's bytes: the file itself under a local root, else a cached download."""
        if not is_remote(location):
            return Path(location)
        from pyarrow import fs

        info = self.fs.get_file_info(self._key(location))
        if info.type != fs.FileType.File:
            raise FileNotFoundError(f"{location} does not exist in object storage")
        cached = self.cache_dir / self._key(location)
        if _fresh(cached, info.size, info.mtime_ns):
            return cached
        with atomic_path(cached) as tmp:
            with self.fs.open_input_stream(self._key(location)) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        _stamp(cached, info.mtime_ns)
        return cached

    def read_bytes(self, location: str) -> bytes:
        if not self.remote:
            return Path(location).read_bytes()
        with self.fs.open_input_stream(self._key(location)) as src:
            return src.read()

    def read_table(self, location: str):
        import pyarrow.parquet as pq

        if not self.remote:
            return pq.read_table(location)
        return pq.read_table(self._key(location), filesystem=self.fs)

    def files(self, folder: str, suffix: str = "") -> list[str]:
        """Locations of the files directly in `folder` whose names end in `suffix` (temporary keys left out)."""
        if not self.remote:
            path = Path(folder)
            if not path.is_dir():
                return []
            return sorted(str(p) for p in path.iterdir()
                if p.is_file() and p.name.endswith(suffix) and not p.name.startswith("."))
        from pyarrow import fs

        selector = fs.FileSelector(self._key(folder), allow_not_found=True)
        return sorted(S3_SCHEME + i.path for i in self.fs.get_file_info(selector)
            if i.type == fs.FileType.File and i.base_name.endswith(suffix) and not i.base_name.startswith("."))

    # -- writing ------------------------------------------------------------------------------------------------
    def put(self, source: Path, location: str) -> str:
        """Publish a local file at `location` atomically; returns the location."""
        if not self.remote:
            target = Path(location)
            if source.resolve() != target.resolve():
                with atomic_path(target) as tmp:
                    shutil.copyfile(source, tmp)
            return location
        tmp_key = self._tmp_key(location)
        try:
            with open(source, "rb") as src, self.fs.open_output_stream(tmp_key) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            self.fs.move(tmp_key, self._key(location))
        finally:
            with contextlib.suppress(OSError):
                self.fs.delete_file(tmp_key)
        self._seed_cache(source, location)
        return location

    def write_bytes(self, location: str, data: bytes) -> str:
        if not self.remote:
            with atomic_path(Path(location)) as tmp:
                tmp.write_bytes(data)
            return location
        with tempfile.NamedTemporaryFile(dir=_scratch(self.cache_dir)) as fh:
            fh.write(data)
            fh.flush()
            return self.put(Path(fh.name), location)

    def write_table(self, location: str, table) -> str:
        import pyarrow.parquet as pq

        if not self.remote:
            with atomic_path(Path(location)) as tmp:
                pq.write_table(table, tmp)
            return location
        tmp_key = self._tmp_key(location)
        try:
            pq.write_table(table, tmp_key, filesystem=self.fs)
            self.fs.move(tmp_key, self._key(location))
        finally:
            with contextlib.suppress(OSError):
                self.fs.delete_file(tmp_key)
        return location

    def staging(self, location: str) -> Path:
        """Where to build the local file that `publish(location)` makes visible: the location itself under a local
        root, this node's cache copy under S3 (so what a node wrote, it can read back without a download)."""
        return Path(location) if not is_remote(location) else self.cache_dir / self._key(location)

    def publish(self, location: str) -> str:
        """Make the file built at `staging(location)` visible at `location` (a no-op under a local root)."""
        if self.remote:
            self.put(self.staging(location), location)
        return location

    @contextlib.contextmanager
    def output_dir(self, folder: str) -> Iterator[Path]:
        """A local folder to write into; under S3 every file in it is published below `folder` on success."""
        local = self.staging(folder)
        if self.remote and local.exists():
            shutil.rmtree(local)  # only a cache: what is published is what this call writes
        local.mkdir(parents=True, exist_ok=True)
        yield local
        if self.remote:
            for path in sorted(local.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    self.put(path, self.location_in(folder, path.relative_to(local).as_posix()))

    @contextlib.contextmanager
    def synced_dir(self, folder: str) -> Iterator[Path]:
        """A local mirror of `folder` to update in place: under S3 its objects are fetched first (unless cached),
        and on success what changed is published and what was removed is deleted, so the folder ends as the
        mirror."""
        local = self.staging(folder)
        local.mkdir(parents=True, exist_ok=True)
        if not self.remote:
            yield local
            return
        before = {}
        for location in self.files(folder):
            name = location.rsplit("/", 1)[1]
            before[name] = self.local(location).stat().st_mtime_ns
        for stray in local.iterdir():
            if stray.is_file() and stray.name not in before:
                stray.unlink()  # cached from an earlier state of the folder
        yield local
        now = {p.name: p.stat().st_mtime_ns for p in local.iterdir() if p.is_file() and not p.name.startswith(".")}
        for name, mtime in sorted(now.items()):
            if before.get(name) != mtime:
                self.put(local / name, self.location_in(folder, name))
        for name in sorted(set(before) - set(now)):
            self.fs.delete_file(self._key(self.location_in(folder, name)))

    @staticmethod
    def location_in(folder: str, name: str) -> str:
        return f"{folder.rstrip('/')}/{name}" if is_remote(folder) else str(Path(folder, name))

    def _seed_cache(self, source: Path, location: str) -> None:
        """Keep what this node just uploaded in its cache, so reading it back costs no download."""
        info = self.fs.get_file_info(self._key(location))
        cached = self.staging(location)
        if source.resolve() != cached.resolve():
            with contextlib.suppress(OSError), atomic_path(cached) as tmp:
                shutil.copyfile(source, tmp)
        if cached.exists():
            _stamp(cached, info.mtime_ns)


def _fresh(cached: Path, size: int, mtime_ns: int | None) -> bool:
    try:
        stat = cached.stat()
    except OSError:
        return False
    return stat.st_size == size and (mtime_ns is None or stat.st_mtime_ns == mtime_ns)


def _stamp(path: Path, mtime_ns: int | None) -> None:
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def _scratch(cache_dir: Path) -> Path:
    folder = cache_dir / ".scratch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def lake_location(store: ObjectStore, asset: str, partition: str) -> str:
    """Where one partition of an asset's table lives: <root>/lake/<asset>/<partition>.parquet."""
    from ai_assets.ingest.partition_keys import checked_key

    return store.location("lake", asset, f"{checked_key(partition)}.parquet")
