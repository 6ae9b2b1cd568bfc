"""Content-addressed media storage: media/<sha256[:2]>/<sha256>/... under the storage root."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ai_assets.storage.objects import ObjectStore
from resources.storage import StorageRoot


class MediaStore(dg.ConfigurableResource):
    storage: StorageRoot

    @property
    def objects(self) -> ObjectStore:
        return self.storage.store()

    def folder(self, sha256: str) -> str:
        return self.objects.location("media", sha256[:2], sha256)

    def audio_location(self, sha256: str) -> str:
        return ObjectStore.location_in(self.folder(sha256), "audio_16k.wav")

    def local(self, location: str) -> Path:
        """A local file for a stored location (downloaded to this node's cache under S3)."""
        return self.objects.local(location)
