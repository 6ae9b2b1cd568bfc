"""Quality on real recordings from ../shared/media; skipped when that folder is absent."""

import re
import subprocess

import dagster as dg
import jiwer
import pytest

from ai_assets.assets import audio, audio_profile, diarization, source_video, transcript
from ai_assets.definitions import build_resources
from ai_assets.ingest.audio import extract_audio, load_wav
from ai_assets.speech.transcript_checks import timestamps_valid
from ai_assets.speech.vad import speech_regions
from ai_assets.speech.wer import normalize
from resources import WhisperResource
from tests.conftest import add_video, require_shared_media

pytestmark = [pytest.mark.slow, pytest.mark.shared_media]

JFK = "and so my fellow americans ask not what your country can do for you ask what you can do for your country"


def test_jfk_through_the_graph(layout, instance):
    flac = require_shared_media("jfk", "jfk.flac")
    key = add_video(layout, instance, flac)
    result = dg.materialize([source_video, audio, diarization, audio_profile, transcript], partition_key=key,
        instance=instance, resources=build_resources(layout))
    assert result.success
    assert {t["speaker"]
            for t in result.output_for_node("diarization").to_pylist()} == {"S1"}  # one speaker, never split
    assert result.output_for_node("audio_profile").to_pylist()[0]["estimated_speakers"] == 1
    rows = result.output_for_node("transcript").to_pylist()
    assert jiwer.wer(JFK, normalize(" ".join(r["text"] for r in rows))) <= 0.05
    words = [w for r in rows for w in r["words"]]
    assert words[0]["start"] < 1.5 and 9.0 < words[-1]["end"] <= 11.0
    probe = result.output_for_node("source_video").to_pylist()[0]
    assert probe["has_video"] is False and probe["audio_channels"] == 2 and probe["duration"] == pytest.approx(11.0,
            abs=0.05)


def _transcribe(whisper, path, tmp_path):
    wav = tmp_path / (path.stem + ".wav")
    extract_audio(path, wav)
    samples = load_wav(wav)
    result, model, _ = whisper.transcribe(samples, speech_regions(samples))
    return result, model, " ".join(s["text"] for s in result.segments)


def test_librivox_read_speech_wer(tmp_path):
    folder = require_shared_media("pocketsphinx-librivox")
    references = dict(
        (m.group(2), m.group(1).strip())
        for m in re.finditer(r"<s>(.*?)</s> \((.*?)\)", (folder / "transcription").read_text())
    )
    whisper = WhisperResource(cache_dir=str(tmp_path / "models"))
    refs, hyps = [], []
    for clip_id, reference in sorted(references.items()):
        _, model, text = _transcribe(whisper, folder / f"{clip_id}.wav", tmp_path)
        assert model == "tiny.en"
        refs.append(normalize(reference))
        hyps.append(normalize(text))
    assert jiwer.wer(refs, hyps) <= 0.15


@pytest.mark.parametrize("language", ["de", "fr"])
def test_fleurs_non_english_is_detected_and_uses_base(tmp_path, language):
    folder = require_shared_media("fleurs-en-de-fr")
    whisper = WhisperResource(cache_dir=str(tmp_path / "models"))
    clips = sorted(folder.glob(f"fleurs-{language}-*.ogg"))[:2]
    for clip in clips:
        result, model, text = _transcribe(whisper, clip, tmp_path)
        assert (result.language, model) == (language, "base"), clip.name
        assert result.language_probability > 0.5
        reference = clip.with_suffix(".txt").read_text().strip()
        assert jiwer.cer(reference, text.lower()) < 0.5, (clip.name, text)


BACK_TO_BACK = (
    ("jfk", "jfk.flac", JFK),
    ("pocketsphinx-librivox", "sense_and_sensibility_01_austen_64kb-0870.wav",
     "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do "
     "for them"),
    ("fleurs-en-de-fr", "fleurs-en-001.ogg", "fleurs-en-001.txt"),
    ("pocketsphinx-librivox", "sense_and_sensibility_01_austen_64kb-0880.wav", "he was not an ill disposed young man"),
)


def test_real_clips_back_to_back_with_hard_cuts_get_a_whole_transcript(layout, instance, tmp_path):
    """Three kinds of real recordings (44.1 kHz stereo FLAC, 16 kHz WAV, 48 kHz Opus) cut together with no gap,
    speech right at the file's start and end: the case that once crashed the engine."""
    parts = [require_shared_media(folder, name) for folder, name, _ in BACK_TO_BACK]
    talk = tmp_path / "back-to-back.m4a"
    inputs = [arg for p in parts for arg in ("-i", str(p))]
    chains = "".join(f"[{i}:a]aresample=48000,aformat=channel_layouts=stereo[a{i}];" for i in range(len(parts)))
    joined = "".join(f"[a{i}]" for i in range(len(parts)))
    subprocess.run(["ffmpeg", "-v", "error", *inputs, "-filter_complex",
                    f"{chains}{joined}concat=n={len(parts)}:v=0:a=1[out]", "-map", "[out]", "-c:a", "aac", str(talk)],
                   check=True)
    key = add_video(layout, instance, talk)
    result = dg.materialize([source_video, audio, diarization, audio_profile, transcript], partition_key=key,
        instance=instance, resources=build_resources(layout))
    assert result.success
    rows = result.output_for_node("transcript").to_pylist()
    duration = result.output_for_node("source_video").to_pylist()[0]["duration"]
    assert timestamps_valid([{**r, "segment": i} for i, r in enumerate(rows)], duration)[0]
    text = normalize(" ".join(r["text"] for r in rows))
    references = [require_shared_media(folder, ref).read_text() if ref.endswith(".txt") else ref
                  for folder, _, ref in BACK_TO_BACK]
    # Every clip is transcribed, from the first word of the file to the last (tiny.en: about 10% on these).
    error = jiwer.wer(normalize(" ".join(references)), text)
    print(f"back-to-back WER {error:.3f}")
    assert error <= 0.2
    assert text.startswith("and so my fellow") and text.endswith("young man")
    meta = result.asset_materializations_for_node("transcript")[0].metadata
    assert meta["degraded"].value is False
