"""Benchmark inputs: minutes of English speech with its reference text, a video of it, and timing helpers.

Real recordings come from `../shared/media` beside the repository; a fresh clone has no such folder,
so the same shape of input is then synthesised with espeak-ng from the sample text.
"""

from __future__ import annotations

import os
import random
import re
import sys
import tempfile
import time
import wave
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# A benchmark times the models in its own process, side by side with its baseline; a shared model worker
# (resources/model_worker.py) would put one side in another process with its own threads and leave it
# running afterwards. load.py turns it back on for the daemon it measures.
os.environ.setdefault("AI_ASSETS_MODEL_WORKER", "off")

from ai_assets.ingest.audio import SAMPLE_RATE
from ai_assets.ingest.samples import SAMPLE_TEXT, mux_over_scenes, speak
from ai_assets.policy.documents import AsrRule
from ai_assets.speech.transcript import DecodeParams, Transcription
from ai_assets.speech.vad import speech_regions

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDIA = REPO.parent / "shared" / "media"
# The words actually spoken in jfk/jfk.wav, as given in jfk/SOURCE.txt.
JFK_TEXT = (
    "And so, my fellow Americans: ask not what your country can do for you - ask what you can do for your country."
)
# Silence between clips, seconds: long enough for VAD to split there, short enough to stay talk-like.
GAP_RANGE = (0.5, 1.5)
# Synthetic fallback: each sentence spoken by several voices and rates, so repeats are not identical.
SYNTH_VARIANTS = (("en-us", 165), ("en-gb", 145), ("en-us", 185))
WARM_UP_SECONDS = 30.0
# Every clip is brought to this RMS level (about -26 dBFS). The FLEURS clips differ by up to 40 dB, and a
# 30 s Whisper window that holds a loud and a near-silent clip loses the quiet one (log-mel features keep
# only 80 dB below the window's peak); one recording of a talk has no such jumps.
CLIP_RMS = 0.05


@dataclass(frozen=True)
class Clip:
    audio: np.ndarray  # 16 kHz mono float32
    text: str


def level(audio: np.ndarray, rms: float = CLIP_RMS) -> np.ndarray:
    """Scale to the given RMS, or less where that would clip."""
    gain = rms / max(float(np.sqrt(np.mean(audio**2))), 1e-9)
    gain = min(gain, 0.99 / max(float(np.abs(audio).max()), 1e-9))
    return (audio * gain).astype(np.float32)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def decode(path: Path) -> np.ndarray:
    from faster_whisper import decode_audio

    return decode_audio(str(path), sampling_rate=SAMPLE_RATE)


def real_clips(media: Path = SHARED_MEDIA) -> list[Clip]:
    """Every English clip with a reference: FLEURS en, LibriVox (Sense and Sensibility), JFK."""
    clips = [Clip(decode(ogg), ogg.with_suffix(".txt").read_text().strip())
        for ogg in sorted(media.glob("fleurs-en-de-fr/fleurs-en-*.ogg"))]
    librivox = media / "pocketsphinx-librivox"
    for line in (librivox / "transcription").read_text().splitlines():
        # "<s> words </s> (file-id)"
        match = re.fullmatch(r"\s*<s>(.*)</s>\s*\((\S+)\)\s*", line)
        if match:
            clips.append(Clip(decode(librivox / f"{match.group(2)}.wav"), match.group(1).strip()))
    clips.append(Clip(decode(media / "jfk" / "jfk.wav"), JFK_TEXT))
    return clips


def synthetic_clips() -> list[Clip]:
    """SAMPLE_TEXT sentence by sentence, in each of SYNTH_VARIANTS, via espeak-ng."""
    sentences = re.split(r"(?<=[.!?])\s+", SAMPLE_TEXT.strip())
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "sentence.wav"
        for voice, rate in SYNTH_VARIANTS:
            for sentence in sentences:
                speak(sentence, wav, voice=voice, words_per_minute=rate)
                clips.append(Clip(decode(wav), sentence))
    return clips


def _shuffled_passes(clips: list[Clip], rng: random.Random) -> Iterator[Clip]:
    while True:
        yield from rng.sample(clips, len(clips))


def build_speech(min_seconds: float, seed: int = 0) -> tuple[np.ndarray, list[str], str]:
    """At least `min_seconds` of clips with random silences between them, each clip's reference in order, and
    the source.

    The set is repeated in a fresh (seeded) order each pass until long enough.
    """
    if SHARED_MEDIA.is_dir():
        clips, source = real_clips(), "shared-media"
    else:
        clips, source = synthetic_clips(), "espeak-ng"
    rng = random.Random(seed)
    pieces, texts, samples = [], [], 0

    def gap() -> np.ndarray:
        return np.zeros(int(rng.uniform(*GAP_RANGE) * SAMPLE_RATE), dtype=np.float32)

    for clip in _shuffled_passes(clips, rng):
        if samples >= min_seconds * SAMPLE_RATE:
            break
        pieces += [gap(), level(clip.audio)]
        texts.append(clip.text)
        samples += len(pieces[-2]) + len(pieces[-1])
    pieces.append(gap())
    return np.concatenate(pieces), texts, source


def write_wav(audio: np.ndarray, target: Path) -> Path:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return target


def make_speech_video(audio: np.ndarray, target: Path, scenes: int = 12) -> Path:
    """An H.264/AAC MP4 of `audio` over `scenes` test patterns, made like the demo sample."""
    with tempfile.TemporaryDirectory() as tmp:
        return mux_over_scenes(write_wav(audio, Path(tmp) / "speech.wav"), target, scenes=scenes)


def run_engine(whisper, audio: np.ndarray, rule: AsrRule, multilingual_model: str) -> tuple[Transcription,
        DecodeParams, float]:
    """The rule's VAD plus the batched transcription, as the graph runs them; returns the result, its decode params and
    seconds."""
    began = time.perf_counter()
    result, _, params = whisper.transcribe(audio, speech_regions(audio, rule.vad.params()), rule, multilingual_model)
    return result, params, time.perf_counter() - began


def warm_up(whisper, audio: np.ndarray, rules: Iterable[AsrRule], multilingual_model: str) -> float:
    """Load every model these rules use (VAD, language ID, transcription) by running each once on a short piece."""
    began = time.perf_counter()
    for rule in rules:
        run_engine(whisper, audio[: int(WARM_UP_SECONDS * SAMPLE_RATE)], rule, multilingual_model)
    return time.perf_counter() - began


def start_moto() -> tuple:
    """moto_server (a real S3 API) on a free loopback port, in its own session; returns (process, endpoint URL)."""
    import socket
    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
