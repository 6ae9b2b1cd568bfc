"""Robustness battery: real and made-up hard audio through the speech side of the graph, as a user's upload.

    .venv/bin/python benchmarks/robustness.py [--quick]

Each case is a file that is registered as a partition and materialized through source_video, audio,
diarization, audio_profile and transcript, in one process against a fresh AI_ASSETS_HOME. Cases:

- back_to_back: JFK (44.1 kHz stereo FLAC), a LibriVox line (16 kHz WAV) and a FLEURS clip (48 kHz Opus) cut
  together with no gap, speech at the very start and end.
- languages: FLEURS en, de, fr, en, de (clips 005-009, held out from the language-ID thresholds) concatenated.
- radio / radio_babble: FLEURS English clips 005-007 resampled to 8 kHz, hiss or babble (clips 008-009,
  reversed) added at 10 dB below the speech, peaks clipped.
- music: the Big Buck Bunny soundtrack (no speech).
- short: 0.8 s of speech.
- near_silence (skipped with --quick): 20 minutes of faint noise with three sentences in it.
- odd_format: the JFK speech as 11.025 kHz six-channel audio, and as 8 kHz mono u8 PCM.

Per case the JSON has: crash (an exception escaped, must be 0), no_transcript (must be 0), wer where a
reference exists, language accuracy per transcript row against the truth, the complexity class, VAD recall
against the speech of the clean source, and seconds. The last stdout line is the JSON summary; progress goes
to stderr. Cases whose recordings are missing from ../shared/media are reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ai_assets.ingest.audio import SAMPLE_RATE, extract_audio, load_wav  # noqa: E402
from ai_assets.ingest.samples import through_radio  # noqa: E402
from ai_assets.storage.settings import HOME_ENV, Layout  # noqa: E402
from benchmarks.common import SHARED_MEDIA, level, log, write_wav  # noqa: E402

FLEURS = SHARED_MEDIA / "fleurs-en-de-fr"
LIBRIVOX = SHARED_MEDIA / "pocketsphinx-librivox"
JFK = SHARED_MEDIA / "jfk" / "jfk.flac"
JFK_TEXT = "and so my fellow americans ask not what your country can do for you ask what you can do for your country"


def librivox_lines() -> dict[str, str]:
    lines = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        text, _, name = line.rpartition("(")
        lines[name.strip(") ")] = text.replace("<s>", "").replace("</s>", "").strip()
    return lines


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-v", "error", *args], check=True)


def concat(parts: list[Path], target: Path, rate: int = 48000) -> list[tuple[float, float]]:
    """The parts back to back with no gap; returns each part's (start, end) in the result."""
    chains = "".join(f"[{i}:a]aresample={rate},aformat=channel_layouts=stereo[a{i}];" for i in range(len(parts)))
    joined = "".join(f"[a{i}]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1[out]"
    inputs = [arg for part in parts for arg in ("-i", str(part))]
    ffmpeg(*inputs, "-filter_complex", chains + joined, "-map", "[out]", str(target))
    spans, start = [], 0.0
    for part in parts:
        probe = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(part)]
        seconds = float(subprocess.run(probe, capture_output=True, text=True, check=True).stdout)
        spans.append((start, start + seconds))
        start += seconds
    return spans


def samples_of(path: Path, work: Path) -> np.ndarray:
    wav = work / f"{path.stem}.16k.wav"
    extract_audio(path, wav)
    return load_wav(wav)


def build_cases(work: Path, quick: bool) -> list[dict]:
    """Every case: name, path, reference text (or None), language truth [(start, end, lang)], clean speech."""
    cases: list[dict] = []
    have = SHARED_MEDIA.is_dir()
    lines = librivox_lines() if have else {}
    names = sorted(lines)
    if have:
        parts = [JFK, LIBRIVOX / f"{names[0]}.wav", FLEURS / "fleurs-en-001.ogg", LIBRIVOX / f"{names[1]}.wav"]
        target = work / "back_to_back.m4a"
        concat(parts, target)
        reference = " ".join([JFK_TEXT, lines[names[0]], (FLEURS / "fleurs-en-001.txt").read_text(), lines[names[1]]])
        cases.append({"name": "back_to_back", "path": target, "reference": reference})

        order = [("en", "005"), ("de", "006"), ("fr", "007"), ("en", "008"), ("de", "009")]
        target = work / "languages.m4a"
        spans = concat([FLEURS / f"fleurs-{lang}-{i}.ogg" for lang, i in order], target)
        truth = [(s, e, lang) for (s, e), (lang, _) in zip(spans, order, strict=True)]
        cases.append({"name": "languages", "path": target, "truth": truth})

        # Held out from the audio-profile thresholds (set on JFK, LibriVox and AMI trn): FLEURS English.
        # Each clip at one level first, so the noise is 10 dB under every one of them, not just the loudest.
        speech = np.concatenate([level(samples_of(FLEURS / f"fleurs-en-00{i}.ogg", work)) for i in (5, 6, 7)])
        babble = np.concatenate([level(samples_of(FLEURS / f"fleurs-en-00{i}.ogg", work))[::-1] for i in (8, 9)])
        reference = " ".join((FLEURS / f"fleurs-en-00{i}.txt").read_text() for i in (5, 6, 7))
        for name, noise in (("radio", None), ("radio_babble", babble)):
            target = write_wav(through_radio(speech, noise, gain=2.0, clip=0.3), work / f"{name}.wav")
            cases.append({"name": name, "path": target, "reference": reference, "clean": speech})

        for bunny in sorted((SHARED_MEDIA / "bbb-30s-moviepy").glob("*.webm"))[:1]:
            cases.append({"name": "music", "path": bunny, "reference": ""})

        command = samples_of(LIBRIVOX / "goforward.wav", work)
        voiced = np.flatnonzero(np.abs(command) > 0.02)
        short = command[voiced[0] : voiced[0] + int(0.8 * SAMPLE_RATE)]
        cases.append({"name": "short", "path": write_wav(short, work / "short.wav"), "reference": None})

        jfk = samples_of(JFK, work)
        target = work / "odd_6ch_11k.wav"
        ffmpeg("-i", str(JFK), "-ar", "11025", "-ac", "6", str(target))
        cases.append({"name": "odd_6ch_11k", "path": target, "reference": JFK_TEXT})
        target = work / "odd_u8_8k.wav"
        ffmpeg("-i", str(JFK), "-ar", "8000", "-ac", "1", "-c:a", "pcm_u8", str(target))
        cases.append({"name": "odd_u8_8k", "path": target, "reference": JFK_TEXT})

        if not quick:
            rng = np.random.default_rng(1)
            quiet = (rng.normal(0, 10 ** (-60 / 20), 20 * 60 * SAMPLE_RATE)).astype(np.float32)
            for at, clip in ((60, jfk), (600, samples_of(LIBRIVOX / f"{names[2]}.wav", work)), (1150, jfk)):
                quiet[at * SAMPLE_RATE : at * SAMPLE_RATE + len(clip)] += clip
            reference = " ".join([JFK_TEXT, lines[names[2]], JFK_TEXT])
            cases.append({"name": "near_silence", "path": write_wav(quiet, work / "near_silence.wav"),
                          "reference": reference})
    return cases


def vad_recall(found: list[tuple[float, float]], clean: np.ndarray) -> float:
    """Share of the clean source's speech (Silero VAD on it) that the case's regions cover."""
    from ai_assets.speech.vad import speech_regions

    truth = speech_regions(clean)
    total = sum(e - s for s, e in truth) or 1.0
    return sum(max(0.0, min(e, fe) - max(s, fs)) for s, e in truth for fs, fe in found) / total


def run_case(case: dict, home: Path) -> dict:
    import dagster as dg
    import jiwer

    from ai_assets.assets import audio, audio_profile, diarization, source_video, transcript
    from ai_assets.definitions import build_resources
    from ai_assets.ingest.intake import ingest_local
    from ai_assets.instance import get_instance
    from ai_assets.partitions import videos
    from ai_assets.speech.wer import normalize

    layout = Layout(home)
    out = {"crash": 0, "no_transcript": 0}
    began = time.perf_counter()
    try:
        instance = get_instance(layout)
        upload = ingest_local(layout.intake, case["path"])
        instance.add_dynamic_partitions(videos.name, [upload.key])
        stages = [source_video, audio, diarization, audio_profile, transcript]
        result = dg.materialize(stages, partition_key=upload.key, instance=instance, resources=build_resources(layout),
                                raise_on_error=False)
    except Exception:
        out |= {"crash": 1, "error": traceback.format_exc(limit=3).strip().splitlines()[-1]}
        out["seconds"] = round(time.perf_counter() - began, 2)
        return out
    out["seconds"] = round(time.perf_counter() - began, 2)
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        data = failures[0].step_failure_data if failures else None
        reason = (data.user_failure_data.description if data and data.user_failure_data else None) or (
            data.error.message.strip().splitlines()[0] if data and data.error else "failed")
        out["failed"] = reason
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    if "transcript" not in materialized:
        out["no_transcript"] = 1
        return out
    rows = result.output_for_node("transcript").to_pylist()
    profile = result.output_for_node("audio_profile").to_pylist()[0]
    meta = result.asset_materializations_for_node("transcript")[0].metadata
    out |= {"class": profile["complexity_class"], "snr_db": profile["snr_db"], "band_drop_db": profile["band_drop_db"],
            "rows": len(rows), "languages": meta["languages"].value, "healed_chunks": meta["healed_chunks"].value,
            "degraded": meta["degraded"].value}
    text = normalize(" ".join(r["text"] for r in rows))
    if case.get("reference"):
        out["wer"] = round(jiwer.wer(normalize(case["reference"]), text or "<empty>"), 4)
    elif case.get("reference") == "":
        out["words"] = len(text.split())
    if case.get("truth"):
        right = sum(next((lang for s, e, lang in case["truth"] if s <= (r["start"] + r["end"]) / 2 < e), None)
                    == r["language"] for r in rows)
        out["language_accuracy"] = round(right / max(len(rows), 1), 4)
    if case.get("clean") is not None:
        regions = [(r["start"], r["end"]) for r in result.output_for_node("audio").to_pylist()[0]["speech_regions"]]
        out["vad_recall"] = round(vad_recall(regions, case["clean"]), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="leave out the 20-minute near-silence case")
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    report: dict = {"cases": {}}
    with tempfile.TemporaryDirectory(prefix="robustness-") as tmp:
        work = Path(tmp)
        (work / "media").mkdir()
        cases = build_cases(work / "media", args.quick)
        if not cases:
            report["skipped"] = f"{SHARED_MEDIA} is missing"
        for case in cases:
            log(f"{case['name']}: {case['path'].name}")
            home = work / "home" / case["name"]
            os.environ[HOME_ENV] = str(home)
            report["cases"][case["name"]] = run_case(case, home)
            log(f"  {report['cases'][case['name']]}")
    results = report["cases"].values()
    report["crashes"] = sum(r["crash"] for r in results)
    report["no_transcript"] = sum(r["no_transcript"] for r in results)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
