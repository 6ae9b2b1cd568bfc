"""Bad input fails only its own partition, with the specific reason as the failure description."""

import contextlib
from collections.abc import Iterator

import dagster as dg

from ai_assets.ingest.source_video import MediaError


@contextlib.contextmanager
def media_failures(name: str) -> Iterator[None]:
    try:
        yield
    except MediaError as exc:
        raise dg.Failure(description=f"{name}: {exc}", metadata={"reason": str(exc)}, allow_retries=False) from None
