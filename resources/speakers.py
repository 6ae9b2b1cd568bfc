"""The Resemblyzer speaker encoder, loaded once per process."""

import threading

import dagster as dg

_ENCODERS: dict[str, object] = {}
_LOCK = threading.Lock()


class SpeakerEncoderResource(dg.ConfigurableResource):
    device: str = "cpu"

    def encoder(self):
        from ai_assets.diarize import SpeakerEncoder

        with _LOCK:
            if self.device not in _ENCODERS:
                _ENCODERS[self.device] = SpeakerEncoder(self.device)
            return _ENCODERS[self.device]
