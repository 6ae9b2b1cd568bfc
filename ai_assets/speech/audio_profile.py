"""Audio profile: cheap signal measurements that decide a video's ASR complexity class.

The speaker count comes from the diarization asset; this module measures the signal itself.
"""

from __future__ import annotations

import numpy as np

from ai_assets.ingest.audio import SAMPLE_RATE

FRAME_S = 0.032
# The noise floor is this percentile of the frame powers.
NOISE_PERCENTILE = 10
PITCH_MIN_HZ, PITCH_MAX_HZ = 70.0, 400.0


def frame_rows(samples: np.ndarray, frame: int) -> np.ndarray:
    usable = len(samples) // frame * frame
    return samples[:usable].reshape(-1, frame)


def _speech_mask(n_frames: int, frame_s: float, regions: list[tuple[float, float]]) -> np.ndarray:
    mask = np.zeros(n_frames, dtype=bool)
    for start, end in regions:
        mask[int(start / frame_s) : int(np.ceil(end / frame_s))] = True
    return mask


def _db(power: float) -> float:
    return float(10 * np.log10(max(power, 1e-12)))


def measure(samples: np.ndarray, regions: list[tuple[float, float]], speakers: int) -> dict:
    """speech_ratio, snr_db, noise_floor_dbfs, loudness_dbfs, hf_share, band_drop_db, clipped_share,
    syllables_per_second, and `speakers` (from diarization) as estimated_speakers."""
    frame = int(FRAME_S * SAMPLE_RATE)
    frames = frame_rows(samples, frame)
    duration = len(samples) / SAMPLE_RATE
    speech_s = sum(e - s for s, e in regions)
    power = np.mean(frames.astype(np.float64) ** 2, axis=1) if len(frames) else np.zeros(0)
    mask = _speech_mask(len(frames), FRAME_S, regions)[: len(frames)]
    if len(frames) == 0 or not regions or not mask.any():
        return {"speech_ratio": 0.0, "snr_db": None, "noise_floor_dbfs": None, "loudness_dbfs": None,
            "hf_share": None, "band_drop_db": None, "clipped_share": 0.0, "syllables_per_second": 0.0,
            "estimated_speakers": 0}
    speech_power = power[mask]
    # Noise floor: a low percentile of every frame from the first speech to the last, speech or pause. Steady
    # hiss sets a floor that no frame goes below, so it counts as noise even where VAD mistook it for speech or
    # found no pause at all; a silent intro or end card around the speech does not hide it.
    first, last = int(min(s for s, _ in regions) / FRAME_S), int(np.ceil(max(e for _, e in regions) / FRAME_S))
    floor = _db(float(np.percentile(power[first : max(last, first + 1)], NOISE_PERCENTILE)))
    level = _db(float(np.mean(speech_power)))
    hf_share, band_drop = _spectrum(frames[mask])
    return {
        "speech_ratio": round(min(1.0, speech_s / duration), 4),
        "snr_db": round(float(np.clip(level - floor, -10.0, 90.0)), 2),
        "noise_floor_dbfs": round(floor, 2),
        "loudness_dbfs": round(level, 2),
        "hf_share": round(hf_share, 5),
        "band_drop_db": round(band_drop, 2),
        "clipped_share": round(clipped_share(samples), 6),
        "syllables_per_second": round(_syllable_rate(power[mask], speech_s), 3),
        "estimated_speakers": speakers,
    }


def clipped_share(samples: np.ndarray) -> float:
    """Share of the samples at the file's peak: a few in natural audio (at most 2e-5 on the tuning files), far
    more where the peaks were clipped, which also spreads harmonics over the 4 kHz cliff of radio audio."""
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    return float(np.mean(np.abs(samples) >= 0.995 * peak)) if peak > 0 else 0.0


def _spectrum(speech_frames: np.ndarray) -> tuple[float, float]:
    """Share of the speech energy above 4 kHz, and how far the spectrum drops just above 4 kHz (the difference in
    dB of the mean power per frequency bin, 3.0-3.8 kHz against 4.4-7.0 kHz): audio that went through 8 kHz
    sampling (telephone, radio) has a cliff there, wideband speech a gentle slope."""
    window = np.hanning(speech_frames.shape[1])
    spectrum = np.mean(np.abs(np.fft.rfft(speech_frames * window, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(speech_frames.shape[1], 1 / SAMPLE_RATE)
    total = float(spectrum.sum()) or 1e-12
    below = float(spectrum[(freqs >= 3000) & (freqs < 3800)].mean())
    above = float(spectrum[(freqs >= 4400) & (freqs < 7000)].mean())
    return float(spectrum[freqs >= 4000].sum()) / total, _db(below) - _db(above)


def _syllable_rate(speech_power: np.ndarray, speech_s: float) -> float:
    """Peaks of the smoothed speech envelope per second of speech: a speaking-rate proxy."""
    if speech_s <= 0 or len(speech_power) < 3:
        return 0.0
    envelope = np.convolve(10 * np.log10(speech_power + 1e-12), np.ones(3) / 3, mode="same")
    floor = np.median(envelope)
    peaks = (envelope[1:-1] > envelope[:-2]) & (envelope[1:-1] >= envelope[2:]) & (envelope[1:-1] > floor)
    return float(peaks.sum() / speech_s)


def pitch_hz(frames: np.ndarray) -> np.ndarray:
    """Autocorrelation F0 per frame in Hz; NaN where unvoiced."""
    centred = frames - frames.mean(axis=1, keepdims=True)
    n = centred.shape[1]
    spectrum = np.fft.rfft(centred, n=2 * n, axis=1)
    ac = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :n]
    lo, hi = int(SAMPLE_RATE / PITCH_MAX_HZ), int(SAMPLE_RATE / PITCH_MIN_HZ)
    lags = np.argmax(ac[:, lo:hi], axis=1) + lo
    strength = ac[np.arange(len(ac)), lags] / np.maximum(ac[:, 0], 1e-12)
    f0 = SAMPLE_RATE / lags.astype(float)
    return np.where(strength > 0.5, f0, np.nan)


def complexity_class(profile: dict, clean_min_snr_db: float, clean_max_speakers: int,
        band_limited_min_drop_db: float = 20.0, distorted_min_clipped_share: float = 0.001) -> str:
    """`noisy` for noise, band-limited audio (telephone, radio), clipped peaks or no measurable speech; else
    `multi_speaker` for more voices than `clean_max_speakers`; else `clean_single`."""
    snr, drop = profile["snr_db"], profile.get("band_drop_db")
    band_limited = drop is not None and drop >= band_limited_min_drop_db
    clipped = profile.get("clipped_share", 0.0) >= distorted_min_clipped_share
    if snr is None or snr < clean_min_snr_db or band_limited or clipped:
        return "noisy"
    if profile["estimated_speakers"] > clean_max_speakers:
        return "multi_speaker"
    return "clean_single"
