"""Where rendered clips go, and the font their captions are drawn with."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from ai_assets.ingest.partition_keys import checked_key
from ai_assets.render.captions import find_font
from ai_assets.storage.objects import ObjectStore
from resources.storage import StorageRoot


class ClipStore(dg.ConfigurableResource):
    storage: StorageRoot
    caption_font: str | None = Field(None,
        description="A TrueType font file; by default DejaVu Sans Bold, else fontconfig's bold sans.")

    @property
    def objects(self) -> ObjectStore:
        return self.storage.store()

    def folder(self, video: str) -> str:
        """Clips land in <root>/clips/<video partition>/."""
        return self.objects.location("clips", checked_key(video))

    def font(self) -> Path | None:
        """None when no font is installed: clips then get SRT files but no burned-in captions."""
        if self.caption_font:
            if not Path(self.caption_font).is_file():
                raise FileNotFoundError(f"caption_font {self.caption_font} does not exist")
            return Path(self.caption_font)
        return find_font()
