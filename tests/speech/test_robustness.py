"""A small robustness battery through the speech stages, as an upload: no crash, always a transcript.

The full battery is benchmarks/robustness.py.
"""

import subprocess

import dagster as dg
import pytest

from ai_assets.assets import audio, audio_profile, diarization, source_video, transcript
from ai_assets.definitions import build_resources
from ai_assets.ingest.audio import SAMPLE_RATE, extract_audio, load_wav
from ai_assets.ingest.samples import SAMPLE_TEXT, through_radio
from ai_assets.speech.wer import word_errors
from tests.conftest import add_video, require_shared_media

pytestmark = pytest.mark.slow
SPEECH_STAGES = [source_video, audio, diarization, audio_profile, transcript]
JFK = "and so my fellow americans ask not what your country can do for you ask what you can do for your country"


def speech_side(layout, instance, path):
    key = add_video(layout, instance, path)
    result = dg.materialize(SPEECH_STAGES, partition_key=key, instance=instance, resources=build_resources(layout))
    assert result.success
    return result


def test_odd_sample_rate_and_six_channels_read_like_any_file(layout, instance, media, tmp_path):
    odd = tmp_path / "odd.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(media["talk"]), "-vn", "-ar", "11025", "-ac", "6",
                    "-c:a", "pcm_u8", str(odd)], check=True)
    result = speech_side(layout, instance, odd)
    assert result.output_for_node("source_video").to_pylist()[0]["audio_channels"] == 6
    text = " ".join(r["text"] for r in result.output_for_node("transcript").to_pylist())
    assert word_errors(SAMPLE_TEXT, text)["wer"] <= 0.2  # 8-bit samples at 11 kHz: a word or two goes


def test_music_without_speech_gets_an_empty_transcript_not_a_failure(layout, instance):
    bunny = require_shared_media("bbb-30s-moviepy", "big_buck_bunny_0_30.webm")
    result = speech_side(layout, instance, bunny)
    rows = result.output_for_node("transcript").to_pylist()
    assert len(" ".join(r["text"] for r in rows).split()) <= 3  # a stray word at most, never a loop
    assert result.output_for_node("audio_profile").to_pylist()[0]["complexity_class"] == "noisy"


def test_band_limited_noisy_radio_is_routed_to_the_noisy_rule(layout, instance, tmp_path):
    jfk = tmp_path / "jfk.wav"
    extract_audio(require_shared_media("jfk", "jfk.flac"), jfk)
    # Through an 8 kHz channel, hiss 10 dB under the speech, then the peaks clipped.
    noisy = through_radio(load_wav(jfk), snr_db=10.0, gain=2.0, clip=0.3)
    radio = tmp_path / "radio.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "-", str(radio)],
                   input=(noisy * 32767).astype("<i2").tobytes(), check=True)
    result = speech_side(layout, instance, radio)
    profile = result.output_for_node("audio_profile").to_pylist()[0]
    # Hiss (SNR), the 8 kHz cliff and clipping each say noisy; clipping blurs the cliff, so the class is what counts.
    assert profile["complexity_class"] == "noisy" and profile["clipped_share"] >= 0.001
    rows = result.output_for_node("transcript").to_pylist()
    meta = result.asset_materializations_for_node("transcript")[0].metadata
    assert meta["params"].value["class"] == "noisy" and meta["params"].value["beam_size"] == 5
    assert word_errors(JFK, " ".join(r["text"] for r in rows))["wer"] <= 0.35
