"""The Resemblyzer speaker encoder, loaded once per process."""

import dagster as dg

from ai_assets.storage.models import LOADED


class SpeakerEncoderResource(dg.ConfigurableResource):
    device: str = "cpu"

    def encoder(self):
        from ai_assets.speakers.diarization import SpeakerEncoder

        return LOADED.get(("speaker", self.device), lambda: SpeakerEncoder(self.device))
