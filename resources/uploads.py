"""Where uploads arrive: a local folder and, optionally, an S3 bucket and prefix."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class UploadSource(dg.ConfigurableResource):
    local_dir: str
    intake_dir: str
    s3_bucket: str | None = Field(default=None, description="Also watch this bucket when set.")
    s3_prefix: str = ""
    settle_seconds: float = Field(
        default=2.0, description="A file is taken once unchanged across two ticks and this many seconds old."
    )
