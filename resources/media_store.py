"""Content-addressed media storage: media/<sha256[:2]>/<sha256>/..."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class MediaStore(dg.ConfigurableResource):
    root: str

    def folder(self, sha256: str) -> Path:
        return Path(self.root) / sha256[:2] / sha256

    def audio_path(self, sha256: str) -> Path:
        return self.folder(sha256) / "audio_16k.wav"
