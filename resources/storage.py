"""The storage root every node reaches: a local folder (the default) or s3://bucket/prefix."""

from __future__ import annotations

import functools
from pathlib import Path

import dagster as dg
from pydantic import Field

from ai_assets.storage.objects import ObjectStore, S3Options


@functools.lru_cache(maxsize=8)
def _open(url: str, endpoint_url: str | None, region: str | None, cache_dir: str) -> ObjectStore:
    # One client per process and root: pyarrow's S3 client is thread-safe and costly to build.
    return ObjectStore(url, S3Options(endpoint_url, region), Path(cache_dir))


class StorageRoot(dg.ConfigurableResource):
    url: str = Field(description="A local folder, or s3://bucket/prefix; credentials come from the AWS "
        "environment variables or the instance's role.")
    s3_endpoint_url: str | None = Field(None, description="An S3-compatible endpoint; unset for AWS.")
    region: str | None = None
    cache_dir: str = Field(description="This node's cache of downloaded objects.")

    def store(self) -> ObjectStore:
        return _open(self.url, self.s3_endpoint_url, self.region, self.cache_dir)

    @property
    def remote(self) -> bool:
        return self.store().remote
