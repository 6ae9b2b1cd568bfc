"""Language per stretch of speech: windows, smoothing, runs, and a real file that switches language."""

import subprocess

import pytest

from ai_assets.speech.language_id import Run, filled, id_windows, language_shares, runs_of, smooth
from tests.conftest import require_shared_media


def test_regions_are_cut_into_equal_windows_that_end_where_the_region_ends():
    windows = id_windows([(0.0, 1.0), (2.0, 12.0), (20.0, 25.0), (30.0, 46.0)])
    assert windows[:2] == [(0.0, 1.0), (2.0, pytest.approx(2.0 + 10 / 3))]
    assert windows[3:] == [(pytest.approx(2.0 + 20 / 3), 12.0), (20.0, 25.0), (30.0, 34.0), (34.0, 38.0),
                           (38.0, 42.0), (42.0, 46.0)]


def test_unsure_windows_take_the_language_of_the_nearest_sure_one():
    windows = [(0.0, 4.0), (4.0, 8.0), (9.0, 12.0), (13.0, 17.0), (18.0, 19.0)]
    labels = [("de", 0.99), ("en", 0.7), ("de", 0.95), ("fr", 0.97), ("en", 0.3)]
    assert [lang for lang, _ in smooth(windows, labels)] == ["de", "de", "de", "fr", "fr"]
    # A sure window keeps its own language, even alone between two others; a short one never switches.
    labels = [("de", 0.99), ("en", 0.95), ("de", 0.99)]
    assert [lang for lang, _ in smooth(windows[:3], labels)] == ["de", "en", "de"]
    assert [lang for lang, _ in smooth([(0, 4), (4, 4.7), (5, 9)], labels)] == ["de", "de", "de"]
    # Far-field English the model is unsure of everywhere: no spurious switch to its odd guesses.
    labels = [("en", 0.68), ("en", 0.53), ("cy", 0.34), ("en", 0.41), ("cy", 0.67)]
    assert {lang for lang, _ in smooth(windows, labels)} == {"en"}


def test_unidentified_windows_take_the_nearest_identified_language():
    assert filled([None, ("fr", 0.9), None, ("de", 0.8)], "en") == [("fr", 0.0), ("fr", 0.9), ("fr", 0.9), ("de", 0.8)]
    assert filled([None, None], "en") == [("en", 0.0), ("en", 0.0)]


def test_runs_join_the_windows_of_one_region_and_keep_separate_regions_apart():
    windows = [(0.0, 2.5), (2.5, 5.0), (6.0, 8.0), (9.0, 11.0)]
    runs = runs_of(windows, [("en", 1.0), ("en", 0.5), ("en", 1.0), ("de", 0.9)])
    assert runs == [Run("en", pytest.approx(5.75 / 7), ((0.0, 5.0), (6.0, 8.0))), Run("de", 0.9, ((9.0, 11.0),))]
    assert language_shares(runs) == {"en": 0.7778, "de": 0.2222}
    assert language_shares([]) == {}


def test_touching_regions_stay_apart_in_a_run():
    """VAD cuts long speech into touching regions; joined, a run would hold one region over 30 s."""
    windows = [(0.0, 15.0), (15.0, 29.6), (29.6, 45.0), (45.0, 59.2)]
    [run] = runs_of(windows, [("en", 0.9)] * 4, region_starts={0.0, 29.6})
    assert run.regions == ((0.0, 29.6), (29.6, 59.2))


# Held out: the language-ID thresholds were set on FLEURS clips 000-004; this reads 005-009.
SWITCHING = [("en", "005"), ("de", "006"), ("fr", "007"), ("en", "008"), ("de", "009")]


@pytest.mark.slow
@pytest.mark.shared_media
def test_a_reading_that_switches_language_is_transcribed_in_each_language(tmp_path):
    from ai_assets.ingest.audio import extract_audio, load_wav
    from ai_assets.speech.vad import speech_regions
    from resources import WhisperResource

    parts = [require_shared_media("fleurs-en-de-fr", f"fleurs-{lang}-{i}.ogg") for lang, i in SWITCHING]
    bounds, start = [], 0.0
    for (lang, _), part in zip(SWITCHING, parts, strict=True):
        probe = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(part)]
        seconds = float(subprocess.run(probe, capture_output=True, text=True, check=True).stdout)
        bounds.append((start, start + seconds, lang))
        start += seconds
    mixed = tmp_path / "switching.wav"
    chains = "".join(f"[{i}:a]aresample=16000,aformat=channel_layouts=mono[a{i}];" for i in range(len(parts)))
    joined = "".join(f"[a{i}]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1[out]"
    inputs = [arg for p in parts for arg in ("-i", str(p))]
    subprocess.run(["ffmpeg", "-v", "error", *inputs, "-filter_complex", chains + joined, "-map", "[out]", str(mixed)],
                   check=True)
    wav = tmp_path / "16k.wav"
    extract_audio(mixed, wav)
    audio = load_wav(wav)
    result, _, _ = WhisperResource(cache_dir=str(tmp_path / "models")).transcribe(audio, speech_regions(audio))

    def truth(t):
        return next(lang for s, e, lang in bounds if s <= t < e)

    rows = result.segments
    right = sum(truth((r["start"] + r["end"]) / 2) == r["language"] for r in rows)
    assert right / len(rows) >= 0.8
    assert set(result.languages) >= {"en", "de", "fr"} and result.language == "de"
    assert {r["model"] for r in rows if r["language"] == "en"} == {"tiny.en"}
    assert {r["model"] for r in rows if r["language"] != "en"} == {"base"}
    german = " ".join(r["text"] for r in rows if r["language"] == "de").lower()
    assert "schülerinnen" in german or "blocks" in german


@pytest.mark.slow
@pytest.mark.shared_media
def test_under_a_second_of_speech_is_judged_as_a_whole(tmp_path):
    """0.8 s of "go forward": too short for a window to be sure (base guesses Maori on it alone); the speech as a
    whole, padded as Whisper expects, says English."""
    import numpy as np

    from ai_assets.ingest.audio import extract_audio, load_wav
    from ai_assets.speech.language_id import language_runs
    from resources import WhisperResource

    wav = tmp_path / "command.wav"
    extract_audio(require_shared_media("pocketsphinx-librivox", "goforward.wav"), wav)
    audio = load_wav(wav)
    start = int(np.flatnonzero(np.abs(audio) > 0.02)[0])
    short = audio[start : start + 12800]
    model = WhisperResource(cache_dir=str(tmp_path / "models")).load("base")
    [run] = language_runs(model, short, [(0.0, 0.8)])
    assert run.language == "en" and run.probability > 0.8


def test_sparse_identification_hears_every_switch_of_two_windows():
    from ai_assets.speech.language_id import identify_sparsely

    windows = [(4.0 * i, 4.0 * i + 4.0) for i in range(12)]
    truth = ["en"] * 5 + ["de"] * 2 + ["en"] * 5
    asked = []

    def ask(spans):  # what the model would say, from the script
        asked.extend(spans)
        return [(truth[int(s // 4)], 0.95) for s, _ in spans]

    labels = identify_sparsely(ask, windows)
    assert [lang for lang, _ in labels] == truth
    assert len(asked) == 9  # 6 even windows, the 2 gaps whose neighbours disagree, and the last (no neighbour after)
    # Unsure neighbours never vouch for a gap: everything is asked.
    asked.clear()
    identify_sparsely(lambda spans: [("en", 0.5)] * len(spans) if not asked.extend(spans) else [], windows)
    assert len(asked) == 12
