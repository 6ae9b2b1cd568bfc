"""Intake: turn uploaded files into registered videos, one JSON record per partition key.

The record tells `source_video` where the bytes came from; the key is derived from those bytes,
so a re-run or a backfill of a partition always reads the same content.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from ai_assets.ingest.partition_keys import checked_key, video_key
from ai_assets.storage.files import sha256_file, write_bytes_atomic

# Names that editors, browsers and copy tools use while a file is still being written.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", ".filepart")
# A reference transcript beside an upload (talk.mp4 + talk.txt or talk.srt); never an upload itself.
REFERENCE_SUFFIXES = (".txt", ".srt", ".vtt")


@dataclass(frozen=True)
class Upload:
    key: str
    name: str
    source: str  # a local absolute path or s3://bucket/key
    sha256: str
    size: int
    registered_at: float = field(default_factory=time.time)


# A run may take this long plus RUNTIME_PER_S per second of video before run monitoring stops it: rendering
# under load runs at about 1.4x real time per run (benchmarks/pipeline.py), and two runs share the cores.
RUNTIME_BASE_S = 900
RUNTIME_PER_S = 12
# Without a readable duration (S3 objects are not opened by the sensor), assume 1 Mbit/s, a low bitrate for video.
ASSUMED_BYTES_PER_S = 125_000


def run_budget_s(size: int, duration: float | None) -> int:
    """The `dagster/max_runtime` of a video's run, from its duration, else from its size."""
    seconds = duration if duration and duration > 0 else size / ASSUMED_BYTES_PER_S
    return int(RUNTIME_BASE_S + RUNTIME_PER_S * seconds)


def is_candidate(name: str) -> bool:
    """Hidden files and partial downloads are never taken."""
    return not name.startswith(".") and not name.lower().endswith(PARTIAL_SUFFIXES + REFERENCE_SUFFIXES)


def record_path(intake_dir: Path, key: str) -> Path:
    return intake_dir / f"{checked_key(key)}.json"


def register(intake_dir: Path, upload: Upload) -> Upload:
    """Store the record unless these bytes are registered already; return the record that is kept.

    Content decides identity: the same bytes under another name or path map to the first key.
    The by-hash index is claimed with an exclusive link, so two concurrent registrations agree.
    """
    index = intake_dir / "by_sha256" / upload.sha256
    index.parent.mkdir(parents=True, exist_ok=True)
    if not index.exists():
        write_bytes_atomic(record_path(intake_dir, upload.key), json.dumps(asdict(upload), indent=1).encode())
        claim = index.with_name(f".{upload.sha256}.{upload.key}")
        claim.write_text(upload.key)
        try:
            os.link(claim, index)
        except FileExistsError:  # another registration of the same bytes won
            if index.read_text().strip() != upload.key:
                record_path(intake_dir, upload.key).unlink(missing_ok=True)
        finally:
            claim.unlink(missing_ok=True)
    kept = lookup(intake_dir, index.read_text().strip())
    if kept is None:
        raise FileNotFoundError(f"intake index {index} names a missing record")
    return kept


def lookup(intake_dir: Path, key: str) -> Upload | None:
    path = record_path(intake_dir, key)
    if not path.exists():
        return None
    return Upload(**json.loads(path.read_text()))


def ingest_local(intake_dir: Path, path: Path) -> Upload:
    """Hash a local file and register it, with its sidecar reference if any; the file is left where it is."""
    path = path.resolve()
    sha = sha256_file(path)
    upload = register(
        intake_dir, Upload(key=video_key(path.name, sha), name=path.name, source=str(path), sha256=sha,
            size=path.stat().st_size)
    )
    for suffix in REFERENCE_SUFFIXES:
        sidecar = path.with_suffix(suffix)
        if sidecar.is_file():
            store_reference(intake_dir, upload.key, sidecar.name, sidecar.read_text(errors="replace"))
            break
    return upload


def reference_path(intake_dir: Path, key: str) -> Path:
    return intake_dir / "references" / f"{checked_key(key)}.txt"


def store_reference(intake_dir: Path, key: str, filename: str, content: str) -> None:
    """Keep the reference text (subtitle cues reduced to their words) for transcript_quality."""
    if filename.lower().endswith((".srt", ".vtt")):
        content = subtitle_text(content)
    write_bytes_atomic(reference_path(intake_dir, key), content.strip().encode())


def subtitle_text(content: str) -> str:
    keep = []
    for line in content.splitlines():
        line = line.strip()
        if not line or line.isdigit() or "-->" in line or line.upper().startswith("WEBVTT"):
            continue
        keep.append(re.sub(r"<[^>]+>", "", line))
    return " ".join(keep)


def read_reference(intake_dir: Path, key: str) -> str | None:
    path = reference_path(intake_dir, key)
    return path.read_text() if path.exists() else None


def open_upload(upload: Upload, s3_client_factory) -> BinaryIO:
    """Open the upload's bytes for reading, from the local path or from S3."""
    from ai_assets.ingest.source_video import MediaError

    if upload.source.startswith("s3://"):
        from botocore.exceptions import ClientError

        bucket, _, key = upload.source.removeprefix("s3://").partition("/")
        try:
            return contextlib.closing(s3_client_factory().get_object(Bucket=bucket, Key=key)["Body"])
        except ClientError as exc:
            raise MediaError(f"cannot read {upload.source}: {exc.response['Error'].get('Code', 'error')}") from None
    try:
        return open(upload.source, "rb")
    except FileNotFoundError:
        raise MediaError(f"the upload {upload.source} no longer exists and was never stored") from None


def ingest_s3(intake_dir: Path, client, bucket: str, key: str) -> Upload:
    """Hash an S3 object by streaming it and register it; the object is left in place."""
    from ai_assets.storage.files import copy_hashing

    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    with contextlib.closing(body):
        sha, size = copy_hashing(body)
    name = key.rsplit("/", 1)[-1]
    return register(intake_dir, Upload(key=video_key(name, sha), name=name, source=f"s3://{bucket}/{key}", sha256=sha,
        size=size))


@dataclass
class WatchState:
    """What the upload watcher has seen: items waiting to settle, and items already taken.

    An item is (size, version) plus its modification time; it is taken once the same fingerprint
    is seen on two consecutive ticks and it is at least `settle_seconds` old, so a file that is
    still being written is never hashed or registered.
    """

    pending: dict[str, list] = field(default_factory=dict)
    done: dict[str, list] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> WatchState:
        return cls(**json.loads(cursor)) if cursor else cls()

    def to_cursor(self) -> str:
        return json.dumps({"pending": self.pending, "done": self.done}, sort_keys=True)

    def advance(self, observed: dict[str, tuple[list, float]], now: float, settle_seconds: float) -> list[str]:
        """Update with this tick's observations {id: (fingerprint, mtime)}; return the ids now ready."""
        ready, pending = [], {}
        for item, (fingerprint, mtime) in sorted(observed.items()):
            if self.done.get(item) == fingerprint:
                continue
            if self.pending.get(item) == fingerprint and now - mtime >= settle_seconds:
                ready.append(item)
            else:
                pending[item] = fingerprint
        self.pending = pending
        # Forget taken items that disappeared, so the cursor does not grow without bound.
        self.done = {k: v for k, v in self.done.items() if k in observed}
        return ready

    def mark_done(self, item: str, fingerprint: list) -> None:
        self.done[item] = fingerprint


def scan_local(folder: Path) -> dict[str, tuple[list, float]]:
    """Every candidate file below `folder`: {absolute path: ([size, mtime_ns], mtime)}."""
    found = {}
    if not folder.exists():
        return found
    for path in folder.rglob("*"):
        if not path.is_file() or not is_candidate(path.name) or any(p.startswith(".")
                for p in path.relative_to(folder).parts):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        found[str(path.resolve())] = ([stat.st_size, stat.st_mtime_ns], stat.st_mtime)
    return found


def scan_s3(client, bucket: str, prefix: str) -> dict[str, tuple[list, float]]:
    """Every candidate object under the prefix: {s3://bucket/key: ([size, etag], last_modified)}."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith("/") or not is_candidate(key.rsplit("/", 1)[-1]):
                continue
            found[f"s3://{bucket}/{key}"] = ([obj["Size"], obj["ETag"]], obj["LastModified"].timestamp())
    return found
