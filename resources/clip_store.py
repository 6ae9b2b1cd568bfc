"""Where rendered clips go, and the font their captions are drawn with."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from ai_assets.ingest.partition_keys import checked_key
from ai_assets.render.captions import find_font


class ClipStore(dg.ConfigurableResource):
    root: str = Field(description="Clips land in <root>/<video partition>/.")
    caption_font: str | None = Field(None,
        description="A TrueType font file; by default DejaVu Sans Bold, else fontconfig's bold sans.")

    def folder(self, video: str) -> Path:
        return Path(self.root) / checked_key(video)

    def font(self) -> Path | None:
        """None when no font is installed: clips then get SRT files but no burned-in captions."""
        if self.caption_font:
            if not Path(self.caption_font).is_file():
                raise FileNotFoundError(f"caption_font {self.caption_font} does not exist")
            return Path(self.caption_font)
        return find_font()
