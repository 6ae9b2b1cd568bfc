"""Where ai-assets keeps its files. Everything lives under one home folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "AI_ASSETS_HOME"
DEFAULT_HOME = "data"
# Where the lake, stored originals, keyframes and clips live: a local folder or s3://bucket/prefix (default: the home).
STORAGE_ENV = "AI_ASSETS_STORAGE"
# An S3-compatible endpoint (MinIO, moto, Ceph, R2); unset for AWS itself.
S3_ENDPOINT_ENV = "AI_ASSETS_S3_ENDPOINT_URL"


@dataclass(frozen=True)
class Layout:
    """The folders and files under an ai-assets home."""

    home: Path
    storage: str | None = None  # None: data lives under `home`

    @classmethod
    def from_env(cls) -> Layout:
        return cls(Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).resolve(), os.environ.get(STORAGE_ENV) or None)

    @property
    def storage_url(self) -> str:
        """The root of the data any node must reach: `storage`, else the home folder."""
        return self.storage or str(self.home)

    def objects(self):
        """The ObjectStore over `storage_url`, with S3 settings from the environment and this machine's cache."""
        from ai_assets.storage.objects import ObjectStore, S3Options

        s3 = S3Options(os.environ.get(S3_ENDPOINT_ENV) or None, os.environ.get("AWS_DEFAULT_REGION") or None)
        return ObjectStore(self.storage_url, s3, self.object_cache)

    @property
    def object_cache(self) -> Path:
        """Downloads from object storage, reused while the object is unchanged."""
        return self.home / "cache"

    @property
    def uploads(self) -> Path:
        return self.home / "uploads"

    @property
    def intake(self) -> Path:
        return self.home / "intake"

    @property
    def media(self) -> Path:
        return self.home / "media"

    @property
    def clips(self) -> Path:
        return self.home / "clips"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def metrics_db(self) -> Path:
        return self.home / "metrics.duckdb"

    @property
    def metrics_spool(self) -> Path:
        return self.home / "metrics_spool"

    @property
    def model_cache(self) -> Path:
        return self.home / "models"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"


THREADS_ENV = "AI_ASSETS_STEP_THREADS"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def step_threads() -> int:
    """Threads one model or encoder call may use: $AI_ASSETS_STEP_THREADS when set, else (0 or unset) every core."""
    cores = available_cores()
    value = os.environ.get(THREADS_ENV, "").strip()
    if value.isdigit() and int(value) > 0:
        return min(cores, int(value))
    return cores
