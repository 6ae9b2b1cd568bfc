"""A file with damaged bytes inside (a broken download, a failing memory card) whose index is sound: each decoder
skips what it cannot read, the audio keeps the video's clock, and the user hears what was skipped."""

from __future__ import annotations

import random
import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from ai_assets.ingest import audio as audio_module
from ai_assets.ingest.audio import extract_audio
from ai_assets.ingest.source_video import MediaError, decoded_frames
from ai_assets.render.reframe import track_faces
from ai_assets.vision.keyframes import scan_video
from tests.conftest import child_env


def damaged_copy(source: Path, target: Path, runs: int, seed: int = 1, size: int = 512) -> Path:
    """`source` with `runs` stretches of random bytes written over its media data (10 % to 95 % of the file; the
    index, at the end, stays intact)."""
    data = bytearray(source.read_bytes())
    rng = random.Random(seed)
    for _ in range(runs):
        at = rng.randint(len(data) // 10, len(data) * 95 // 100)
        data[at:at + size] = bytes(rng.getrandbits(8) for _ in range(size))
    target.write_bytes(bytes(data))
    return target


@pytest.fixture(scope="module")
def damaged(media, tmp_path_factory) -> Path:
    return damaged_copy(media["talk"], tmp_path_factory.mktemp("damaged") / "talk.mp4", 400)


def samples(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(int)


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_the_damage_stops_a_plain_decode_and_decoded_frames_goes_past_it(damaged, kind):
    with av.open(str(damaged)) as container, pytest.raises(av.error.InvalidDataError):
        for _ in container.decode(getattr(container.streams, kind)[0]):
            pass
    skipped: list[float] = []
    with av.open(str(damaged)) as container:
        stream = getattr(container.streams, kind)[0]
        last = max(frame.time for frame in decoded_frames(container, stream, skipped))
        end = float(container.duration / 1e6)
    assert skipped and all(0 < t < end for t in skipped)
    assert last > end - 0.5  # decoding went on to the end


def test_damaged_audio_is_skipped_and_the_rest_keeps_its_time(media, damaged, tmp_path, monkeypatch):
    clean = extract_audio(media["talk"], tmp_path / "clean.wav")
    track = extract_audio(damaged, tmp_path / "damaged.wav")
    assert clean.damaged_packets == 0 and clean.filled_seconds == 0 and clean.degraded is None
    assert track.damaged_packets > 10 and 0 < track.filled_seconds < 0.2 * track.seconds
    assert track.seconds == pytest.approx(clean.seconds, abs=0.05)
    assert track.degraded.startswith(f"{track.damaged_packets} damaged audio packets skipped; ")
    good, kept = samples(tmp_path / "clean.wav"), samples(tmp_path / "damaged.wav")
    # Window by window, the damaged file's sound sits where the clean file's does: it is on the same clock.
    found = lags(good, kept)
    assert max(abs(lag) for lag in found) <= 8  # half a millisecond: each gap is filled to the nearest sample
    # Without the silence in its place, everything after the first damaged packet would come early.
    monkeypatch.setattr(audio_module, "GAP_FILL_S", 1e9)
    extract_audio(damaged, tmp_path / "unfilled.wav")
    early = lags(good, samples(tmp_path / "unfilled.wav"))
    assert min(early) < -300  # a skipped AAC packet is 1024 samples at 44.1 kHz: 372 at 16 kHz


def lags(reference: np.ndarray, other: np.ndarray, window: int = 8000, reach: int = 2000) -> list[int]:
    """For each 0.5 s window of `reference` with sound in it, how many samples later the same sound is in `other`."""
    found = []
    for start in range(reach, min(len(reference), len(other)) - window - reach, 2 * window):
        ref = reference[start:start + window].astype(float)
        if np.abs(ref).mean() < 500:
            continue
        scores = np.correlate(other[start - reach:start + window + reach].astype(float), ref, mode="valid")
        found.append(int(np.argmax(scores)) - reach)
    assert len(found) > 10
    return found


def jumped_tone(tmp_path: Path, jump: float, suffix: str = "m4a") -> Path:
    """A 4 s tone in AAC whose timestamps jump `jump` seconds at 2 s (a gap in the recording, or a clock reset)."""
    target = tmp_path / f"jump-{jump:g}.{suffix}"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=4", "-af", f"asetpts='if(gte(T,2),PTS+{jump:g}/TB,PTS)'", "-c:a",
                    "aac", str(target)], check=True)
    return target


def test_a_gap_in_the_recording_is_silence_on_the_clock(tmp_path):
    track = extract_audio(jumped_tone(tmp_path, 1.0), tmp_path / "gapped.wav")
    assert (track.damaged_packets, track.degraded) == (0, None)
    assert track.filled_seconds == pytest.approx(1.0, abs=0.03)
    assert track.seconds == pytest.approx(5.0, abs=0.05)
    pcm = samples(tmp_path / "gapped.wav")
    assert np.abs(pcm[int(2.1 * 16000):int(2.9 * 16000)]).max() == 0  # the gap is silent
    assert np.abs(pcm[int(3.1 * 16000):int(3.9 * 16000)]).mean() > 1000  # the tone resumes at 3 s


@pytest.mark.parametrize("offset", [1.0, 20.0])
def test_sound_that_starts_after_the_picture_keeps_the_files_clock(tmp_path, offset):
    """A microphone that joined `offset` s in. Before, past 10 s, the sound (and every word) came that much early."""
    late = tmp_path / "late.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"color=c=gray:s=160x90:r=25:d={offset + 3:g}", "-itsoffset", f"{offset:g}", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=3", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                    str(late)], check=True)
    track = extract_audio(late, tmp_path / "late.wav")
    assert track.filled_seconds == pytest.approx(offset, abs=0.05) and track.degraded is None
    pcm = samples(tmp_path / "late.wav")
    assert np.abs(pcm[: int((offset - 0.1) * 16000)]).max() == 0  # silence until the sound starts on the file's clock
    assert np.abs(pcm[int((offset + 0.2) * 16000):int((offset + 2.8) * 16000)]).mean() > 1000


def test_a_jump_in_a_broadcast_clock_is_not_filled(tmp_path):
    # MPEG-TS from a broadcast or a stream: a splice or a reset moves the clock, and the sound goes on.
    track = extract_audio(jumped_tone(tmp_path, 3600.0, "ts"), tmp_path / "jumped.wav")
    assert track.filled_seconds == 0 and track.seconds == pytest.approx(4.0, abs=0.05)


@pytest.mark.parametrize(("suffix", "jump"), [("m4a", 20.0), ("mkv", 20.0), ("ts", 8.0)])
def test_a_microphone_that_drops_out_leaves_silence_however_long(tmp_path, suffix, jump):
    """Before, a gap over 10 s was taken for a clock reset in every format: every later word came `jump` s early."""
    track = extract_audio(jumped_tone(tmp_path, jump, suffix), tmp_path / "gapped.wav")
    assert track.filled_seconds == pytest.approx(jump, abs=0.05)
    pcm = samples(tmp_path / "gapped.wav")
    assert np.abs(pcm[int(2.2 * 16000):int((1.8 + jump) * 16000)]).max() == 0
    assert np.abs(pcm[int((2.2 + jump) * 16000):int((3.8 + jump) * 16000)]).mean() > 1000  # the tone resumes on time


def test_audio_mostly_damaged_fails_with_the_reason(media, tmp_path):
    wrecked = damaged_copy(media["talk"], tmp_path / "wrecked.mp4", 3000)
    with pytest.raises(MediaError, match=r"^the audio is too damaged to use: [\d.]+ of [\d.]+ s could not be decoded"):
        extract_audio(wrecked, tmp_path / "wrecked.wav")


def test_keyframes_and_face_tracking_skip_damaged_video(damaged, tmp_path):
    scan = scan_video(damaged, tmp_path / "frames", 1.0, 4)
    assert scan.damaged_packets > 0 and len(scan.keyframes) >= 10
    assert scan.keyframes[-1].time > 20.0  # keyframes after the damage too
    samples_seen = track_faces(damaged, 0.0, 20.0, 5.0)
    assert len(samples_seen) >= 90  # ~5 a second over 20 s: a few damaged frames cost only themselves


@pytest.mark.slow
def test_a_damaged_upload_is_processed_and_the_user_is_told(layout, damaged):
    proc = subprocess.run([sys.executable, "-m", "ai_assets.cli", "process", str(damaged)], env=child_env(layout),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[talk.mp4] ! audio: " in proc.stdout and " damaged audio packets skipped; " in proc.stdout
    assert "[talk.mp4] ! keyframes: " in proc.stdout and " damaged video packets skipped" in proc.stdout
    assert "clips: 1 file for 1 platform" in proc.stdout
