"""Audio profile measurements and transcript sanity rules, on controlled inputs."""

import numpy as np
import pytest

from ai_assets.ingest.audio import SAMPLE_RATE, extract_audio, load_wav
from ai_assets.ingest.intake import subtitle_text
from ai_assets.ingest.samples import through_radio
from ai_assets.speech.audio_profile import complexity_class, measure
from ai_assets.speech.transcript_checks import find_loop, no_repetition_loop, speech_covered, timestamps_valid
from ai_assets.speech.vad import speech_regions


@pytest.fixture(scope="module")
def speech(media, tmp_path_factory):
    wav = tmp_path_factory.mktemp("wav") / "talk.wav"
    extract_audio(media["talk"], wav)
    return load_wav(wav)


def test_noise_lowers_snr_and_changes_the_class(speech):
    clean = measure(speech, speech_regions(speech), speakers=1)
    rng = np.random.default_rng(0)
    noisy_audio = speech + rng.normal(0, 0.05, size=speech.shape).astype(np.float32)
    noisy = measure(noisy_audio, speech_regions(speech), speakers=1)
    assert clean["snr_db"] > 40 > noisy["snr_db"]
    assert noisy["snr_db"] < 15
    assert complexity_class(clean, 15.0, 1) == "clean_single"
    assert complexity_class(noisy, 15.0, 1) == "noisy"
    assert complexity_class(clean | {"estimated_speakers": 2}, 15.0, 1) == "multi_speaker"
    assert complexity_class(noisy | {"estimated_speakers": 3}, 15.0, 1) == "noisy"  # noise decides first
    # The noise floor is the hiss, whichever frames VAD called speech.
    assert noisy["noise_floor_dbfs"] == pytest.approx(20 * np.log10(0.05), abs=1.5)


def test_band_limited_radio_is_never_clean(speech):
    regions = speech_regions(speech)
    wide = measure(speech, regions, speakers=1)
    narrow = measure(through_radio(speech, snr_db=30.0), regions, speakers=1)
    # Barely any hiss: by SNR alone the radio copy would pass as clean; the cliff at 4 kHz gives it away.
    assert narrow["snr_db"] >= 15.0
    assert wide["band_drop_db"] < 20.0 <= narrow["band_drop_db"]
    assert narrow["hf_share"] < wide["hf_share"]
    assert complexity_class(wide, 15.0, 1) == "clean_single"
    assert complexity_class(narrow, 15.0, 1) == "noisy"
    assert complexity_class(narrow, 15.0, 1, band_limited_min_drop_db=80.0) == "clean_single"


def test_clipped_peaks_make_audio_noisy(speech):
    regions = speech_regions(speech)
    clean = measure(speech, regions, speakers=1)
    loud = np.clip(speech * 4.0, -0.3, 0.3)
    clipped = measure(loud, regions, speakers=1)
    assert clean["clipped_share"] < 0.001 <= clipped["clipped_share"]
    assert complexity_class(clean, 15.0, 1) == "clean_single"
    assert complexity_class(clipped | {"snr_db": 40.0, "band_drop_db": 5.0}, 15.0, 1) == "noisy"


def test_silence_has_no_speech():
    profile = measure(np.zeros(SAMPLE_RATE * 5, dtype=np.float32), [], speakers=0)
    assert profile == {"speech_ratio": 0.0, "snr_db": None, "noise_floor_dbfs": None, "loudness_dbfs": None,
                       "hf_share": None, "band_drop_db": None, "clipped_share": 0.0, "syllables_per_second": 0.0,
                       "estimated_speakers": 0}
    assert complexity_class(profile, 15.0, 1) == "noisy"


def seg(i, start, end, words):
    return {"segment": i, "start": start, "end": end, "words": [{"word": w, "start": s, "end": e} for w, s, e in words]}


def test_timestamp_rules():
    good = [seg(0, 0.0, 2.0, [("a", 0.0, 0.5), ("b", 0.6, 2.0)]), seg(1, 2.5, 4.0, [("c", 2.5, 4.0)])]
    assert timestamps_valid(good, 4.0)[0]
    passed, text, numbers = timestamps_valid(good, 3.0)
    assert not passed and "segment 1 [2.5, 4.0] is outside 0–3.00 s" in text and numbers["problems"] == 2
    backwards = [seg(0, 0.0, 2.0, [("a", 1.5, 2.0), ("b", 0.2, 0.4)])]
    assert "word 'b' at 0.2–0.4 is out of order" in timestamps_valid(backwards, 4.0)[1]


@pytest.mark.parametrize(
    ("words", "loop"),
    [
        ("thank you thank you thank you thank you".split(), (2, 4, "thank you")),
        ("so so so so so so".split(), (1, 6, "so")),
        ("so so so so so and then".split(), None),
        ("we will we will rock you".split(), None),
        ("I said. I said. I said. I said.".split(), (2, 4, "i said")),
    ],
)
def test_loop_detection(words, loop):
    assert find_loop(words) == loop


def test_repetition_check_names_the_phrase():
    segments = [seg(0, 0.0, 5.0, [(w, i * 0.5, i * 0.5 + 0.4) for i, w in enumerate(["Thank", "you."] * 5)])]
    passed, text, numbers = no_repetition_loop(segments)
    assert not passed and text == "'thank you' repeats 5 times in a row (a decoding loop)" and numbers == {"ngram": 2,
            "repeats": 5}


def test_speech_coverage():
    segments = [seg(0, 0.0, 3.0, [("a", 0.2, 0.8), ("b", 1.0, 2.9)])]
    assert speech_covered(segments, [(0.0, 3.0)]) == (True, "100% of 3.0 s of detected speech has words",
            {"coverage": 1.0})
    passed, text, numbers = speech_covered(segments, [(0.0, 3.0), (10.0, 19.0)])
    assert not passed and numbers["coverage"] == 0.25 and "(minimum 50%)" in text
    assert speech_covered(segments, [(5.0, 5.3)])[0]  # too short to count


def test_subtitles_reduce_to_their_words():
    srt = "1\n00:00:01,000 --> 00:00:02,000\nHello <i>there</i>.\n\n2\n00:00:02,500 --> 00:00:04,000\nGeneral Kenobi!\n"
    assert subtitle_text(srt) == "Hello there. General Kenobi!"
    assert subtitle_text("WEBVTT\n\n00:01.000 --> 00:02.000\nHi\n") == "Hi"


def test_digital_silence_around_hissy_speech_does_not_make_it_clean(speech):
    regions = speech_regions(speech)
    hissy = speech + np.random.default_rng(1).normal(0, 0.05, size=speech.shape).astype(np.float32)
    intro = np.zeros(SAMPLE_RATE * 10, dtype=np.float32)
    shifted = [(s + 10.0, e + 10.0) for s, e in regions]
    with_intro = measure(np.concatenate([intro, hissy, intro]), shifted, speakers=1)
    assert with_intro["snr_db"] < 15 and complexity_class(with_intro, 15.0, 1) == "noisy"


def test_regions_that_cover_no_whole_frame_measure_as_no_speech():
    profile = measure(np.ones(SAMPLE_RATE, dtype=np.float32) * 0.1, [(1.0, 1.01)], speakers=1)
    assert profile["snr_db"] is None and complexity_class(profile, 15.0, 1) == "noisy"
