"""Diarization: the DER metric on constructed turns, RTTM, word labels, and the real encoder on real and synthetic
voices."""

import numpy as np
import pytest

from ai_assets.ingest.audio import extract_audio, load_wav
from ai_assets.ingest.samples import speak
from ai_assets.speakers.diarization import (
    SpeakerEncoder,
    Turn,
    assign_speakers,
    der,
    diarize,
    read_rttm,
    speaker_stats,
    to_rttm,
)
from ai_assets.speakers.segmentation import FRAME_STEP_S, SegmentationModel, decide, frames_per_window, powerset_classes
from ai_assets.speech.vad import speech_regions
from tests.conftest import require_shared_media


def test_der_on_a_constructed_pair_counts_miss_false_alarm_and_confusion():
    # Reference: A 0–10, B 8–14 (2 s of overlap), silence after. Total reference speech: 10 + 6 = 16 s.
    reference = [Turn(0.0, 10.0, "A"), Turn(8.0, 14.0, "B")]
    # Hypothesis with other names: "x" covers A but runs to 9 s only, "y" 9–16 (B plus 2 s of nothing).
    hypothesis = [Turn(0.0, 9.0, "x"), Turn(9.0, 16.0, "y")]
    result = der(reference, hypothesis, uem=(0.0, 16.0))
    assert result["mapping"] == {"x": "A", "y": "B"}
    # 8–9: two reference speakers, one hypothesis (x=A correct): 1 s missed.
    # 9–10: A and B in the reference, only y(=B): 1 s missed. 14–16: y with no reference: 2 s false alarm.
    assert result["missed"] == pytest.approx(2.0, abs=0.02)
    assert result["false_alarm"] == pytest.approx(2.0, abs=0.02)
    assert result["confusion"] == pytest.approx(0.0, abs=0.02)
    assert result["total"] == pytest.approx(16.0, abs=0.02)
    assert result["der"] == pytest.approx(4.0 / 16.0, abs=0.002)


def test_der_confusion_and_collar():
    reference = [Turn(0.0, 10.0, "A"), Turn(10.0, 20.0, "B")]
    swapped = [Turn(0.0, 12.0, "1"), Turn(12.0, 20.0, "2")]  # 2 s of B given to A's speaker
    strict = der(reference, swapped)
    assert strict["confusion"] == pytest.approx(2.0, abs=0.02) and strict["der"] == pytest.approx(0.1, abs=0.002)
    # A 0.25 s collar around every reference edge removes 0.5 s at 0, 10 and 20 (one side at the ends).
    collared = der(reference, swapped, collar=0.25)
    assert collared["total"] == pytest.approx(20.0 - 1.0, abs=0.02)
    assert collared["confusion"] == pytest.approx(1.75, abs=0.02)
    assert der(reference, reference)["der"] == 0.0
    assert der(reference, [])["missed"] == pytest.approx(20.0, abs=0.02)


def test_rttm_round_trip():
    turns = [Turn(1.44, 13.312, "MEE009"), Turn(13.152, 16.922, "MEE012")]
    text = to_rttm(turns, "dev00")
    assert text.splitlines()[0] == "SPEAKER dev00 1 1.440 11.872 <NA> <NA> MEE009 <NA> <NA>"
    assert read_rttm(text) == turns


def test_words_get_the_speaker_they_overlap_most_or_the_nearest_turn():
    turns = [Turn(0.0, 5.0, "S1"), Turn(5.2, 9.0, "S2")]
    words = [{"start": 1.0, "end": 1.4}, {"start": 4.8, "end": 5.6}, {"start": 5.05, "end": 5.15},
             {"start": 9.3, "end": 9.6}, {"start": 9.8, "end": 10.2}]
    assert assign_speakers(words, turns) == ["S1", "S2", "S1", "S2", None]


@pytest.fixture(scope="module")
def encoder():
    return SpeakerEncoder()


@pytest.fixture(scope="module")
def segmentation():
    return SegmentationModel()


def _voices(tmp_path, parts: list[tuple[str, str]]) -> tuple[np.ndarray, list[Turn]]:
    """Concatenated espeak-ng utterances in the given voices with 0.6 s pauses, and the true turns."""
    pieces, turns, t = [], [], 0.0
    for i, (voice, text) in enumerate(parts):
        raw, wav = tmp_path / f"{i}.wav", tmp_path / f"{i}_16k.wav"
        speak(text, raw, voice=voice)
        extract_audio(raw, wav)
        audio = load_wav(wav)
        pieces += [audio, np.zeros(int(0.6 * 16000), dtype=np.float32)]
        turns.append(Turn(t, t + len(audio) / 16000, voice))
        t += len(audio) / 16000 + 0.6
    return np.concatenate(pieces), turns


LINES = [
    "The quarterly numbers came in this morning and they look better than we expected.",
    "That is good news, but what happened to the costs in the second month?",
    "Shipping went up because two suppliers changed their prices at the same time.",
    "Then we should talk to both of them before the next order goes out.",
]


@pytest.mark.slow
def test_two_espeak_voices_are_two_speakers(tmp_path, encoder):
    samples, truth = _voices(tmp_path, [("en-us+m3", LINES[0]), ("en-us+f4", LINES[1]), ("en-us+m3", LINES[2]),
        ("en-us+f4", LINES[3])])
    turns = diarize(samples, speech_regions(samples), encoder)
    assert len({t.speaker for t in turns}) == 2
    assert der(truth, turns)["der"] < 0.15


@pytest.mark.slow
def test_one_voice_is_one_speaker(tmp_path, encoder):
    samples, _ = _voices(tmp_path, [("en-us+m3", line) for line in LINES])
    turns = diarize(samples, speech_regions(samples), encoder)
    assert {t.speaker for t in turns} == {"S1"}


@pytest.mark.shared_media
def test_der_on_the_ami_meeting_is_reported_and_bounded(tmp_path, encoder):
    folder = require_shared_media("ami-dev00")
    wav = tmp_path / "dev00.wav"
    extract_audio(folder / "dev00.wav", wav)
    samples = load_wav(wav)
    turns = diarize(samples, speech_regions(samples), encoder)
    reference = read_rttm(folder / "dev00.rttm")
    assert len({t.speaker for t in turns}) == 2
    # Measured 0.193 without a collar and 0.148 with the usual 0.25 s collar; the VAD regions alone cost 0.185.
    assert der(reference, turns, uem=(0.0, 30.0))["der"] <= 0.21
    assert der(reference, turns, collar=0.25, uem=(0.0, 30.0))["der"] <= 0.17


def _fresh(folder):
    folder.mkdir()
    return folder


@pytest.mark.slow
def test_segmented_path_finds_two_voices_one_voice_and_both_voices_at_once(tmp_path, encoder, segmentation):
    samples, truth = _voices(tmp_path, [("en-us+m3", LINES[0]), ("en-us+f4", LINES[1]), ("en-us+m3", LINES[2]),
        ("en-us+f4", LINES[3])])
    turns = diarize(samples, [], encoder, segmentation=segmentation)
    assert len({t.speaker for t in turns}) == 2
    assert der(truth, turns)["der"] < 0.15
    alone, _ = _voices(_fresh(tmp_path / "one"), [("en-us+m3", line) for line in LINES])
    assert {t.speaker for t in diarize(alone, [], encoder, segmentation=segmentation)} == {"S1"}

    # The second voice starts talking over the first, 2 s before the first one stops.
    a, _ = _voices(_fresh(tmp_path / "a"), [("en-us+m3", LINES[0] + " " + LINES[2])])
    b, _ = _voices(_fresh(tmp_path / "b"), [("en-us+f4", LINES[1])])
    start = len(a) - 2 * 16000 - int(0.6 * 16000)
    mix = np.zeros(max(len(a), start + len(b)), dtype=np.float32)
    mix[: len(a)] += a
    mix[start : start + len(b)] += b
    turns = diarize(mix, [], encoder, segmentation=segmentation)
    assert len({t.speaker for t in turns}) == 2
    assert speaker_stats(turns)["overlap_s"] >= 0.5  # measured 1.4 s of the true 2 s


@pytest.mark.shared_media
def test_segmented_path_on_twelve_ami_meetings_it_was_not_all_tuned_on(tmp_path, encoder, segmentation):
    """Tuned on trn00–trn09 only; dev00 and dev01 are held out. Measured: mean DER 0.345 (the clustering-only path:
    0.461), speaker count within one on 10 of 12 (clustering-only: 5)."""
    debug = require_shared_media("ami-debug-set")
    dev00 = require_shared_media("ami-dev00")
    reference = (debug / "reference.rttm").read_text() + (dev00 / "dev00.rttm").read_text()
    ders, close = {}, 0
    for name in ["dev00", "dev01"] + [f"trn{i:02d}" for i in range(10)]:
        wav = tmp_path / f"{name}.wav"
        extract_audio((dev00 if name == "dev00" else debug) / f"{name}.wav", wav)
        truth = read_rttm("".join(line + "\n" for line in reference.splitlines() if line.split()[1] == name))
        turns = diarize(load_wav(wav), [], encoder, segmentation=segmentation)
        ders[name] = der(truth, turns, uem=(0.0, 30.0))["der"]
        close += abs(len({t.speaker for t in turns}) - len({t.speaker for t in truth})) <= 1
    assert close >= 10, ders
    assert np.mean(list(ders.values())) <= 0.37, ders
    assert ders["trn03"] <= 0.05  # one dominant talker, a second one briefly: almost nothing to get wrong


def test_overlap_is_counted_once_per_pair_of_different_speakers():
    turns = [Turn(0.0, 10.0, "S1"), Turn(8.0, 12.0, "S2"), Turn(9.0, 9.5, "S1"), Turn(11.0, 15.0, "S3"),
             Turn(20.0, 21.0, "S2")]
    # S1/S2 8–10 (2 s), S2/S1 9–9.5 (0.5 s), S2/S3 11–12 (1 s); S1 with itself does not count.
    assert speaker_stats(turns)["overlap_s"] == 3.5
    assert speaker_stats([Turn(0.0, 1.0, "S1"), Turn(1.0, 2.0, "S2")])["overlap_s"] == 0.0


def test_powerset_classes_are_nobody_each_alone_and_each_pair():
    table = powerset_classes()
    assert table.tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]]


def test_decide_turns_powerset_chances_into_who_speaks():
    table = powerset_classes()
    probs = np.array([
        [0.8, 0.1, 0.05, 0.05, 0, 0, 0],  # silence
        [0.6, 0.35, 0.05, 0, 0, 0, 0],  # faint speaker 0: speech at a 0.3 threshold (0.4 of speech)
        [0.1, 0.1, 0.45, 0.0, 0.0, 0.0, 0.35],  # speaker 1, with speaker 2 over them
        [0.0, 0.0, 0.0, 0.9, 0.0, 0.1, 0.0],  # speaker 2 alone
    ], dtype=np.float32)
    assert decide(probs, table, 0.3, 0.3).tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 1], [0, 0, 1]]
    # Stricter thresholds: the faint frame is silence and the overlap a single speaker.
    assert decide(probs, table, 0.5, 0.5).tolist() == [[0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1]]


@pytest.mark.slow
def test_segmentation_network_frames_and_silence(segmentation):
    quiet = np.zeros(25 * 16000, dtype=np.float32)
    local = segmentation.local_activity(quiet, step_s=5.0)
    assert local.starts.tolist() == [0.0, 5.0, 10.0, 15.0]  # the last window ends where the audio does
    assert local.activity.shape == (4, frames_per_window(), 3) and frames_per_window() == 589
    assert local.speaker_count().shape == (int(np.ceil(25 / FRAME_STEP_S)),)
    assert local.activity.sum() == 0
