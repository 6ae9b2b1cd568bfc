"""Intake: turn uploaded files into registered videos, one JSON record per partition key.

The record tells `source_video` where the bytes came from; the key is derived from those bytes,
so a re-run or a backfill of a partition always reads the same content.
"""

from __future__ import annotations

import contextlib
import hashlib
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
    duration: float | None = None  # the container's declared seconds, read when taken (None for S3 objects)


# A run may take this long plus RUNTIME_PER_S per second of video before run monitoring stops it: rendering
# under load runs at about 1.4x real time per run (benchmarks/pipeline.py), and two runs share the cores.
RUNTIME_BASE_S = 900
RUNTIME_PER_S = 12
# Without a readable duration (S3 objects are not opened by the sensor), assume 1 Mbit/s, a low bitrate for video.
ASSUMED_BYTES_PER_S = 125_000


def readable(name: str) -> str:
    """A file name or path as people read it. One whose bytes are not UTF-8 (copied from an old Windows disk, a zip
    archive or a network share, in Windows-1252 or Latin-1) reaches Python with lone surrogates for those bytes,
    which no table, JSON reader or terminal takes: its bytes are read in Windows-1252, else Latin-1. The file itself
    is still opened by its own name (`Upload.source`)."""
    raw = name.encode("utf-8", "surrogateescape")
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


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


def ingest_local(intake_dir: Path, path: Path, probe: bool = True) -> Upload:
    """Hash a local file and register it, with its sidecar reference if any; the file is left where it is.
    `probe` reads the container's declared duration (for the run's time limit); without it the size stands in."""
    from ai_assets.ingest.source_video import declared_duration

    path = path.resolve()
    sha = sha256_file(path)
    name = readable(path.name)
    upload = register(
        intake_dir, Upload(key=video_key(name, sha), name=name, source=str(path), sha256=sha,
            size=path.stat().st_size, duration=declared_duration(path) if probe else None)
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


# Work one sensor tick may hand on, so a tick takes at most a few seconds whatever lands at once; the rest waits
# for the next tick.
MAX_INTAKE_PER_TICK = 200
MAX_READY_PER_TICK = 200
S3_KEYS_PER_TICK = 1000
# An upload handed to an intake run is not handed on again for this long, unless the run took it sooner.
REQUEST_TTL_S = 600.0
# Small local uploads are taken in the tick itself, within these bounds: hashing a few megabytes takes milliseconds,
# while an intake run adds a run launch and another tick (about 20 s) before the first video can start. Larger
# files, S3 objects and whatever is left when the time is spent go to the intake run as before.
INLINE_TAKE_MAX_BYTES = 64_000_000
INLINE_TAKE_BUDGET_S = 2.0


def _digest(value) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()


def taken_marker(intake_dir: Path, item: str, fingerprint: list) -> Path:
    """Exists once this version of the upload (path or s3 URL, plus size and mtime or ETag) has been hashed and
    registered: the record of what was taken lives on disk, not in the sensor's cursor."""
    return intake_dir / "taken" / _digest([item, fingerprint])


def is_taken(intake_dir: Path, item: str, fingerprint: list) -> bool:
    return taken_marker(intake_dir, item, fingerprint).exists()


def queue_batch(intake_dir: Path, items: list[tuple[str, list]]) -> str:
    """Write the uploads one intake run is to take; returns the batch id (the same items give the same id)."""
    batch = [[item, fingerprint] for item, fingerprint in items]
    batch_id = _digest(batch)[:16]
    write_bytes_atomic(intake_dir / "batches" / f"{batch_id}.json", json.dumps(batch).encode())
    return batch_id


def read_batch(intake_dir: Path, batch_id: str) -> list[tuple[str, list]]:
    if not re.fullmatch(r"[0-9a-f]{16}", batch_id):
        raise ValueError(f"{batch_id!r} is not an intake batch id")
    return [(item, fingerprint) for item, fingerprint in json.loads((intake_dir / "batches" / f"{batch_id}.json")
        .read_text())]


def take(intake_dir: Path, item: str, fingerprint: list, s3_client_factory, probe: bool = True) -> Upload:
    """Hash and register one upload (the intake run's work, out of the sensor tick), then mark its key ready for
    the sensor to add as a partition and this version of the upload as taken."""
    if item.startswith("s3://"):
        bucket, _, key = item.removeprefix("s3://").partition("/")
        upload = ingest_s3(intake_dir, s3_client_factory(), bucket, key)
    else:
        upload = ingest_local(intake_dir, Path(item), probe)
    write_bytes_atomic(intake_dir / "ready" / upload.key, b"")
    write_bytes_atomic(taken_marker(intake_dir, item, fingerprint), upload.key.encode())
    return upload


def take_inline(intake_dir: Path, items: list[tuple[str, list]], budget_s: float,
                max_bytes: int) -> tuple[list[str], list[str]]:
    """Take the small local uploads among `items` now, until `budget_s` is spent: (taken, the rest). An upload that
    cannot be taken here is left to the intake run, which tries again and says why."""
    began = time.monotonic()
    taken, rest = [], []
    for item, fingerprint in items:
        if item.startswith("s3://") or fingerprint[0] > max_bytes or time.monotonic() - began >= budget_s:
            rest.append(item)
            continue
        try:
            # Hashing only: the sensor's process never parses an upload's media (a crafted file could crash or
            # hang the decoder there); the run's time limit then follows the size.
            take(intake_dir, item, fingerprint, None, probe=False)
        except Exception:
            rest.append(item)
            continue
        taken.append(item)
    return taken, rest


def ready_keys(intake_dir: Path) -> list[str]:
    """Keys registered by intake runs whose markers are not cleared yet, oldest first: at most the last two ticks'
    worth, since a marker is cleared on the tick after its partition was added."""
    folder = intake_dir / "ready"
    if not folder.is_dir():
        return []
    entries = sorted((entry.stat().st_mtime_ns, entry.name) for entry in os.scandir(folder)
                     if entry.is_file() and not entry.name.startswith("."))
    return [name for _, name in entries]


def clear_ready(intake_dir: Path, key: str) -> None:
    (intake_dir / "ready" / checked_key(key)).unlink(missing_ok=True)


@dataclass
class WatchState:
    """What the upload watcher carries between ticks: local files waiting to settle, uploads handed to intake
    runs and not yet taken, and where the S3 listing goes on. Taken uploads are not kept (see `taken_marker`),
    so the cursor holds only what is in flight.

    A local file is ready once the same fingerprint is seen on two consecutive ticks and it is at least
    `settle_seconds` old, so a file still being written is never hashed. An S3 object is complete once listed.
    """

    pending: dict[str, list] = field(default_factory=dict)
    requested: dict[str, float] = field(default_factory=dict)
    s3_after: str = ""

    @classmethod
    def from_cursor(cls, cursor: str | None) -> WatchState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        data.pop("done", None)  # cursors of the first versions recorded every upload ever taken
        return cls(**data)

    def to_cursor(self) -> str:
        return json.dumps({"pending": self.pending, "requested": self.requested, "s3_after": self.s3_after},
                          sort_keys=True)

    def advance(self, observed: dict[str, tuple[list, float]], now: float, settle_seconds: float,
                is_taken) -> list[str]:
        """Update with this tick's local observations {id: (fingerprint, mtime)}; return the ids now ready."""
        ready, pending = [], {}
        for item, (fingerprint, mtime) in sorted(observed.items()):
            if is_taken(item, fingerprint):
                continue
            if self.pending.get(item) == fingerprint and now - mtime >= settle_seconds:
                ready.append(item)
            pending[item] = fingerprint
        self.pending = pending
        return ready

    def to_request(self, candidates: list[str], now: float, limit: int = MAX_INTAKE_PER_TICK) -> list[str]:
        """The candidates not handed to an intake run in the last REQUEST_TTL_S, at most `limit`; marks them."""
        alive = set(candidates)
        self.requested = {k: t for k, t in self.requested.items() if k in alive and now - t < REQUEST_TTL_S}
        chosen = [item for item in candidates if item not in self.requested][:limit]
        self.requested.update(dict.fromkeys(chosen, now))
        return chosen


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


def scan_s3(client, bucket: str, prefix: str, start_after: str = "",
            max_keys: int = S3_KEYS_PER_TICK) -> tuple[dict[str, tuple[list, float]], str]:
    """One listing call: candidate objects after `start_after` under the prefix,
    {s3://bucket/key: ([size, etag], last_modified)}, and where the next call goes on ("" once the listing has
    reached the end, so the next tick sweeps from the start and sees keys that sort before the last one)."""
    args = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
    if start_after:
        args["StartAfter"] = start_after
    page = client.list_objects_v2(**args)
    found = {}
    contents = page.get("Contents", [])
    for obj in contents:
        key = obj["Key"]
        if key.endswith("/") or not is_candidate(key.rsplit("/", 1)[-1]):
            continue
        found[f"s3://{bucket}/{key}"] = ([obj["Size"], obj["ETag"]], obj["LastModified"].timestamp())
    return found, (contents[-1]["Key"] if page.get("IsTruncated") and contents else "")
