"""Emotion signals on synthetic signals with known answers, constructed word timings, and espeak-ng speech."""

import shutil
import subprocess

import numpy as np
import pytest

from ai_assets.ingest.audio import SAMPLE_RATE, load_wav
from ai_assets.language.emotion import EMOTIONS, prosody, segment_emotions, text_affect, word_forms

RNG = np.random.default_rng(7)


def tone(seconds: float, hz: float = 150.0, amplitude: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def glide(seconds: float, low_hz: float, high_hz: float, amplitude: float = 0.1) -> np.ndarray:
    """A tone whose pitch rises evenly in semitones from low_hz to high_hz."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    hz = low_hz * (high_hz / low_hz) ** (t / seconds)
    return (amplitude * np.sin(2 * np.pi * np.cumsum(hz) / SAMPLE_RATE)).astype(np.float32)


def noise(seconds: float, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * RNG.uniform(-1, 1, int(seconds * SAMPLE_RATE))).astype(np.float32)


def words(*spans, text="word") -> list[dict]:
    return [{"start": s, "end": e, "word": f" {text}", "probability": 0.9} for s, e in spans]


def test_twice_the_amplitude_is_six_decibels_louder():
    for make in (lambda a: tone(2.0, amplitude=a), lambda a: noise(2.0, amplitude=a)):
        quiet, loud = prosody(make(0.1), 0, 2, []), prosody(make(0.2), 0, 2, [])
        assert loud["energy_db"] - quiet["energy_db"] == pytest.approx(20 * np.log10(2), abs=0.05)
    steady = prosody(tone(2.0, amplitude=0.1), 0, 2, [])
    assert steady["energy_db"] == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.05)
    assert steady["energy_var_db"] < 0.1
    varying = prosody(np.concatenate([tone(1.0, amplitude=0.1), tone(1.0, amplitude=0.4)]), 0, 2, [])
    assert varying["energy_var_db"] == pytest.approx(20 * np.log10(4) / 2, abs=0.1)  # two levels 12 dB apart


def test_silence_and_leading_silence():
    silent = prosody(np.zeros(SAMPLE_RATE * 2, np.float32), 0, 2, [])
    assert silent["energy_db"] is None and silent["pitch_mean_hz"] is None and silent["pitch_range_st"] is None
    assert silent["applause"] == 0.0 and silent["laughter"] is None
    # Silence around the sound is not averaged into its level.
    padded = np.concatenate([np.zeros(SAMPLE_RATE, np.float32), tone(1.0), np.zeros(SAMPLE_RATE, np.float32)])
    assert prosody(padded, 0, 3, [])["energy_db"] == pytest.approx(prosody(tone(1.0), 0, 1, [])["energy_db"], abs=0.2)


def test_pitch_of_a_steady_tone_and_a_glide():
    steady = prosody(tone(2.0, hz=150.0), 0, 2, [])
    assert steady["pitch_mean_hz"] == pytest.approx(150.0, rel=0.02)
    assert steady["pitch_range_st"] < 0.3
    # An octave glide spends 80% of its time between its 10th and 90th pitch percentiles: 0.8 * 12 semitones.
    rising = prosody(glide(3.0, 110.0, 220.0), 0, 3, [])
    assert rising["pitch_range_st"] == pytest.approx(9.6, abs=0.5)
    assert rising["pitch_mean_hz"] == pytest.approx(np.mean(110 * 2 ** np.linspace(0, 1, 1000)), rel=0.05)
    # Only the span counts: the second half of the glide is half an octave.
    assert prosody(glide(4.0, 100.0, 200.0), 2, 4, [])["pitch_range_st"] == pytest.approx(0.8 * 6, abs=0.5)


def test_rate_and_pauses_from_word_times():
    spoken = words((0.0, 0.5), (0.6, 1.0), (2.0, 2.5), (2.75, 3.0), (9.0, 10.0))  # gaps 0.1, 1.0, 0.25, 6.0
    p = prosody(np.zeros(SAMPLE_RATE * 10, np.float32), 0, 10, spoken)
    assert p["speech_rate_wps"] == pytest.approx(0.5)
    assert p["pause_share"] == pytest.approx((1.0 + 0.25 + 6.0) / 10)
    assert p["longest_pause_s"] == pytest.approx(6.0)
    # A laughter marker is a reaction, not a spoken word: same rate and pauses, laughter 1.0.
    marked = spoken[:4] + words((3.0, 9.0), text="(Laughter)") + spoken[4:]
    q = prosody(np.zeros(SAMPLE_RATE * 10, np.float32), 0, 10, marked)
    assert (q["speech_rate_wps"], q["pause_share"], q["laughter"]) == (p["speech_rate_wps"], p["pause_share"], 1.0)
    assert prosody(np.zeros(SAMPLE_RATE, np.float32), 0, 1, [])["pause_share"] == 0.0


@pytest.mark.parametrize("text", ["(laughter)", " [Laughter]", "so funny *laughs*", "(audience laughing)"])
def test_laughter_markers(text):
    assert prosody(tone(1.0), 0, 1, [], text)["laughter"] == 1.0


@pytest.mark.parametrize("text", ["(Applause)", "[APPLAUSE]", "thank you [applause]", "(cheering)"])
def test_applause_markers(text):
    assert prosody(tone(1.0), 0, 1, [], text)["applause"] == 1.0


def test_applause_is_sustained_loud_broadband_noise():
    speechless = np.concatenate([tone(1.0), noise(2.0), tone(1.0)])
    assert prosody(speechless, 0, 4, [])["applause"] >= 0.9
    assert prosody(tone(3.0, amplitude=0.5), 0, 3, [])["applause"] == 0.0
    assert prosody(np.concatenate([tone(1.0), noise(0.5), tone(1.0)]), 0, 2.5, [])["applause"] == 0.0  # too short
    assert prosody(noise(3.0, amplitude=0.001), 0, 3, [])["applause"] == 0.0  # a quiet hiss
    assert prosody(speechless, 0, 4, [])["laughter"] is None


def test_text_valence_sign_negation_and_intensifiers():
    assert text_affect("I love this, it's wonderful")["valence"] > 0.5
    assert text_affect("this is terrible and sad")["valence"] < -0.5
    assert text_affect("not good")["valence"] < 0 < text_affect("good")["valence"]
    assert text_affect("this isn't good")["valence"] < 0
    assert text_affect("not bad at all")["valence"] > 0
    assert text_affect("very good")["valence"] > text_affect("good")["valence"]
    assert text_affect("really angry")["arousal"] > text_affect("angry")["arousal"]
    assert text_affect("slightly annoying")["arousal"] < text_affect("annoying")["arousal"]
    # Negation stops at a clause break.
    assert text_affect("not now, this is good")["valence"] > 0
    assert text_affect("The meeting is at three o'clock")["valence"] == 0.0
    assert text_affect("They loved it and laughed")["valence"] > 0  # inflected forms
    # Reaction markers are not the speaker's words; other brackets are.
    assert text_affect("(Laughter) (Applause)") == text_affect("")
    assert text_affect("It was (truly) wonderful")["valence"] > 0.5


def test_exclamations_and_caps_raise_arousal():
    calm = text_affect("this is good")["arousal"]
    assert text_affect("this is good!!!")["arousal"] > calm + 0.2
    assert text_affect("this is good!")["arousal"] < text_affect("this is good!!!")["arousal"]
    assert text_affect("THIS IS GOOD")["arousal"] > calm + 0.2
    assert text_affect("We met at NASA and the rest was normal")["arousal"] < text_affect("WE MET AT NASA")["arousal"]


@pytest.mark.parametrize("text, label", [
    ("I am so happy and excited", "joy"),
    ("I'm furious, this makes me angry", "anger"),
    ("I feel so sad and lonely", "sadness"),
    ("I'm scared and terrified", "fear"),
    ("Wow, what a surprise, I was stunned", "surprise"),
    ("The meeting is at three o'clock", "neutral"),
    ("not happy", "neutral"),
])
def test_emotion_labels(text, label):
    out = text_affect(text)
    assert out["emotion"] == label and out["emotion_score"] > 0.6


def test_text_outputs_are_bounded():
    texts = ["", "!!!!!!!!!!", "VERY VERY VERY EXTREMELY HAPPY!!!", "not not not terrible horrible awful worst",
             "so so so so so furious rage hate!!!", "(Applause)", "a b c", "Don't     ", "I LOVE LOVE LOVE IT"]
    for text in texts:
        out = text_affect(text)
        assert -1 <= out["valence"] <= 1 and 0 <= out["arousal"] <= 1 and 0 <= out["emotion_score"] <= 1
        assert out["emotion"] in EMOTIONS
    assert text_affect("") == {"valence": 0.0, "arousal": 0.2, "emotion": "neutral", "emotion_score": 1.0}


def test_word_forms_cover_common_inflections():
    for word, base in [("loved", "love"), ("loving", "love"), ("stabbing", "stab"), ("happier", "happy"),
                       ("cried", "cry"), ("died", "die"), ("cries", "cry"), ("sadness", "sad"), ("sadly", "sad"),
                       ("hates", "hate"), ("kills", "kill"), ("bitches", "bitch"), ("happily", "happy")]:
        assert base in word_forms(word), word
    assert word_forms("kill")[0] == "kill" and "as" not in word_forms("ass")
    for word, wrong in [("wind", "win"), ("fund", "fun"), ("hats", "hate"), ("wines", "win"), ("rags", "rage")]:
        assert wrong not in word_forms(word), word


def segment(i, start, end, n_words, text="We talk about the plan."):
    step = (end - start) / n_words
    spoken = [{"start": start + k * step, "end": start + (k + 0.8) * step, "word": " w", "probability": 0.9}
        for k in range(n_words)]
    return {"segment": i, "start": start, "end": end, "text": text, "words": spoken}


def test_segment_arousal_is_relative_to_the_video():
    audio = np.concatenate([
        tone(3.0, 120.0, amplitude=0.03),        # quiet, flat, slow
        glide(3.0, 110.0, 150.0, amplitude=0.1),  # medium
        glide(3.0, 100.0, 250.0, amplitude=0.4),  # loud, lively, fast
    ])
    rows = segment_emotions(audio, [segment(0, 0, 3, 4), segment(1, 3, 6, 8),
        segment(2, 6, 9, 14, "This is AMAZING!!!")])
    arousal = [r["arousal_prosody"] for r in rows]
    assert arousal[0] < 0.5 < arousal[2] and arousal[0] < arousal[1] < arousal[2]
    assert rows[2]["intensity"] > rows[1]["intensity"] > rows[0]["intensity"]
    assert rows[2]["arousal"] > rows[0]["arousal"]
    for r in rows:
        assert 0 <= r["arousal_prosody"] <= 1 and 0 <= r["intensity"] <= 1
        assert {"segment", "start", "end", "energy_db", "pitch_range_st", "applause", "laughter", "valence",
                "emotion"} <= set(r)
    # The same segment is unremarkable on its own: nothing to compare it with.
    assert segment_emotions(audio, [segment(2, 6, 9, 14)])[0]["arousal_prosody"] == 0.5
    assert segment_emotions(audio, []) == []


def test_segment_markers_come_from_the_segment_text():
    row = segment(0, 0, 2, 3, "Thank you all. (Applause) [laughter]")
    out = segment_emotions(tone(2.0), [row])[0]
    assert (out["applause"], out["laughter"]) == (1.0, 1.0)


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("ffmpeg")), reason="needs espeak-ng and ffmpeg")
def test_real_speech_loud_fast_versus_quiet_slow(tmp_path):
    text = "Today I will show you three simple habits that make every short video better."

    def speak(name: str, *args: str) -> np.ndarray:
        raw, wav = tmp_path / f"{name}.raw.wav", tmp_path / f"{name}.wav"
        subprocess.run(["espeak-ng", *args, "-w", str(raw), text], check=True, capture_output=True)
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(raw), "-ar", "16000", "-ac", "1", str(wav)],
            check=True)
        return load_wav(wav)

    quiet_slow, loud_fast = speak("quiet", "-a", "50", "-s", "120"), speak("loud", "-a", "200", "-s", "220")
    audio = np.concatenate([quiet_slow, loud_fast])
    first = len(quiet_slow) / SAMPLE_RATE
    total = len(audio) / SAMPLE_RATE
    n = len(text.split())
    rows = segment_emotions(audio, [segment(0, 0.0, first, n, text), segment(1, first, total, n, text)])
    quiet, loud = rows
    assert loud["energy_db"] > quiet["energy_db"] + 6
    assert loud["speech_rate_wps"] > 1.4 * quiet["speech_rate_wps"]
    assert loud["arousal_prosody"] > 0.5 > quiet["arousal_prosody"]
    for r in rows:
        assert 70 <= r["pitch_mean_hz"] <= 300 and 0.5 <= r["pitch_range_st"] <= 24
        assert r["applause"] < 0.5 and r["laughter"] is None
