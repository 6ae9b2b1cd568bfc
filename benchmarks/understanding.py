"""Understanding and ranking quality: diarization error, its speed, and whether ranked clips stand alone.

    .venv/bin/python benchmarks/understanding.py [--minutes 10] [--seed 0]

- ami: the diarization paths (segmented: local segmentation + Resemblyzer d-vector clustering, the default;
  segmented_campplus: the same with CAM++ embeddings; clustering only: d-vectors over Silero VAD regions, the
  fallback) on the twelve 30 s AMI excerpts of ../shared/media
  (ami-dev00, ami-debug-set): DER per file with no collar and with 0.25 s (overlap counted, UEM 0–30 s),
  speakers found against true, seconds per minute; means over all twelve, over the held-out dev00 and dev01,
  and over the trn* files the segmented path was tuned on.
- diarization_s_per_min: seconds of the `diarization` asset per minute of audio, on a
  ~10-minute video of real speech from many speakers (the same one benchmarks/pipeline.py builds).
- boundaries: of the top-10 TikTok segments of that video, the share that start on a sentence start
  (the first word, or one after a word ending in . ? !) and end on a sentence end, from the transcript's
  own punctuation; side by side with the naive baseline of fixed 30 s windows snapped to words, which is
  what one-shot clippers do.
- stages_s: each new stage's own time in that run; `unsafe_ranked` counts ranked segments overlapping a
  safety flag at or above the threshold (must be 0); `search_hit` says whether searching a sentence's
  own words finds it first.

Clips are rendered at 360x640, one per video: rendering is measured by benchmarks/vision.py. The last
stdout line is a JSON summary; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ai_assets.language.sentences import SENTENCE_END  # noqa: E402
from ai_assets.storage.settings import HOME_ENV, Layout  # noqa: E402
from benchmarks.common import SHARED_MEDIA, build_speech, log, make_speech_video  # noqa: E402

UNDERSTANDING_STAGES = ("diarization", "transcript_speakers", "emotion", "safety", "topics", "segments", "clip_copy")
SMALL_CLIPS = {"top_k": 1, "preset": "ultrafast", "platforms": {"tiktok": {"aspect": "9:16", "width": 360,
    "height": 640}}}


AMI_FILES = ["dev00", "dev01"] + [f"trn{i:02d}" for i in range(10)]
HELD_OUT = ("dev00", "dev01")


def ami_der() -> dict | None:
    """Both diarization paths on the twelve AMI excerpts: DER without a collar (overlap counted) and with 0.25 s,
    speakers found against true, seconds per minute of audio. The segmented path was tuned on trn* only."""
    from ai_assets.ingest.audio import extract_audio, load_wav
    from ai_assets.speakers.campplus import CampPlusEncoder
    from ai_assets.speakers.diarization import DiarizeParams, SpeakerEncoder, der, diarize, read_rttm
    from ai_assets.speakers.segmentation import SegmentationModel
    from ai_assets.speech.vad import speech_regions

    debug, dev00 = SHARED_MEDIA / "ami-debug-set", SHARED_MEDIA / "ami-dev00"
    if not (debug.is_dir() and dev00.is_dir()):
        return None
    reference = (debug / "reference.rttm").read_text() + (dev00 / "dev00.rttm").read_text()
    encoder, campplus, segmentation = SpeakerEncoder(), CampPlusEncoder(), SegmentationModel()
    paths = {"segmented": lambda s: diarize(s, [], encoder, segmentation=segmentation),
             "segmented_campplus": lambda s: diarize(s, [], campplus, DiarizeParams.for_embedding("campplus"),
                                                     segmentation=segmentation),
             "clustering_only": lambda s: diarize(s, speech_regions(s), encoder)}
    out = {name: {"files": {}} for name in paths}
    with tempfile.TemporaryDirectory() as tmp:
        for file in AMI_FILES:
            wav = Path(tmp) / f"{file}.wav"
            extract_audio((dev00 if file == "dev00" else debug) / f"{file}.wav", wav)
            samples = load_wav(wav)
            truth = read_rttm("".join(line + "\n" for line in reference.splitlines() if line.split()[1] == file))
            for name, run in paths.items():
                run(samples[: 16000])  # models loaded before timing
                began = time.perf_counter()
                turns = run(samples)
                seconds = time.perf_counter() - began
                strict = der(truth, turns, uem=(0.0, 30.0))
                out[name]["files"][file] = {
                    "der": round(strict["der"], 4),
                    "der_collar_0.25": round(der(truth, turns, collar=0.25, uem=(0.0, 30.0))["der"], 4),
                    "missed": round(strict["missed"], 2), "false_alarm": round(strict["false_alarm"], 2),
                    "confusion": round(strict["confusion"], 2),
                    "speakers_found": len({t.speaker for t in turns}), "speakers_true": len({t.speaker for t in truth}),
                    "s_per_min": round(seconds / (len(samples) / 16000 / 60), 3),
                }
    for result in out.values():
        files = result["files"]
        result["mean_der_all12"] = round(sum(f["der"] for f in files.values()) / len(files), 4)
        result["mean_der_held_out"] = round(sum(files[f]["der"] for f in HELD_OUT) / len(HELD_OUT), 4)
        result["mean_der_trn"] = round(sum(f["der"] for k, f in files.items() if k.startswith("trn")) / 10, 4)
        result["count_within_1"] = sum(abs(f["speakers_found"] - f["speakers_true"]) <= 1 for f in files.values())
        result["s_per_min"] = round(sum(f["s_per_min"] for f in files.values()) / len(files), 3)
    return out


def sentence_edges(words: list[dict]) -> tuple[set[float], set[float]]:
    """Start times of words that open a sentence and end times of words that close one, by punctuation."""
    starts, ends = set(), set()
    for i, word in enumerate(words):
        if i == 0 or words[i - 1]["word"].strip().endswith(SENTENCE_END):
            starts.add(round(word["start"], 3))
        if word["word"].strip().endswith(SENTENCE_END):
            ends.add(round(word["end"], 3))
    return starts, ends


def boundary_share(spans: list[tuple[float, float]], words: list[dict]) -> dict:
    starts, ends = sentence_edges(words)
    on_start = [round(s, 3) in starts for s, _ in spans]
    on_end = [round(e, 3) in ends for _, e in spans]
    n = max(len(spans), 1)
    return {"n": len(spans), "start": round(sum(on_start) / n, 3), "end": round(sum(on_end) / n, 3),
            "both": round(sum(a and b for a, b in zip(on_start, on_end, strict=True)) / n, 3)}


def fixed_windows(words: list[dict], seconds: float = 30.0, count: int = 10) -> list[tuple[float, float]]:
    """The naive baseline: back-to-back windows, each snapped out to the nearest word start and end."""
    spans, t = [], words[0]["start"]
    while len(spans) < count and t < words[-1]["end"]:
        inside = [w for w in words if t <= w["start"] < t + seconds]
        if inside:
            spans.append((inside[0]["start"], inside[-1]["end"]))
        t += seconds
    return spans


def stage_seconds(layout: Layout) -> dict[str, float]:
    from ai_assets.catalog import connect

    with connect(layout.home) as conn:  # committed and spooled rows
        rows = conn.execute("SELECT asset, seconds, audio_seconds FROM metrics").fetchall()
    return {asset: (seconds, audio) for asset, seconds, audio in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    log("diarizing the AMI excerpt")
    ami = ami_der()
    with tempfile.TemporaryDirectory() as inputs, tempfile.TemporaryDirectory() as home:
        os.environ[HOME_ENV] = home
        layout = Layout.from_env()
        from ai_assets.cli.process import process_files
        from ai_assets.language.search import search
        from ai_assets.policy.documents import PolicyStore
        from ai_assets.storage.catalog import connect

        PolicyStore(layout.metrics_db).set("clip", SMALL_CLIPS, author="user", reason="benchmark: one small render")
        audio, _, source = build_speech(args.minutes * 60, seed=args.seed)
        video = make_speech_video(audio, Path(inputs) / "talk.mp4")
        log(f"video: {len(audio) / 16000:.0f} s of speech from {source}")
        began = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            failed = process_files([video], 5)
        if failed:
            raise SystemExit("the pipeline failed; see stderr")
        log(f"pipeline: {time.perf_counter() - began:.1f} s")
        stages = stage_seconds(layout)
        conn = connect(layout.home)
        try:
            words = (
                conn.execute("SELECT unnest(words, recursive := true) FROM transcript ORDER BY start")
                .df()
                .to_dict("records")
            )
            top = conn.execute(
                "SELECT start, \"end\", text FROM segments WHERE platform = 'tiktok' AND rank IS NOT NULL ORDER BY "
                "rank LIMIT 10"
            ).fetchall()
            unsafe = conn.execute(
                "SELECT count(*) FROM segments s JOIN safety f ON f.start < s.\"end\" AND f.\"end\" > s.start "
                "WHERE s.rank IS NOT NULL AND f.score >= 0.5"
            ).fetchall()[0][0]
            speakers = conn.execute("SELECT count(DISTINCT speaker) FROM diarization").fetchall()[0][0]
            chapters = conn.execute("SELECT count(*) FROM topics").fetchall()[0][0]
            probe = conn.execute(
                'SELECT text FROM transcript_embeddings ORDER BY "window" LIMIT 1 OFFSET 7'
            ).fetchall()[0][0]
        finally:
            conn.close()
        words = sorted(words, key=lambda w: w["start"])
        hit = search(probe, k=3, home=layout.home)
        diar_s, diar_audio = stages["diarization"]
        summary = {
            "ami_mean_der_all12": ami["segmented"]["mean_der_all12"] if ami else None,
            "ami_mean_der_held_out": ami["segmented"]["mean_der_held_out"] if ami else None,
            "ami_count_within_1": ami["segmented"]["count_within_1"] if ami else None,
            "ami": ami,
            "diarization_s_per_min": round(diar_s / (diar_audio / 60), 3),
            "top10_sentence_boundaries": boundary_share([(s, e) for s, e, _ in top], words)["both"],
            "boundaries": {"ranked_top10": boundary_share([(s, e) for s, e, _ in top], words),
                           "baseline_fixed_30s": boundary_share(fixed_windows(words), words)},
            "speakers_found": speakers,
            "chapters": chapters,
            "unsafe_ranked": unsafe,
            "search_hit": bool(len(hit)) and hit.iloc[0]["text"] == probe,
            "stages_s": {a: round(stages[a][0], 2) for a in UNDERSTANDING_STAGES if a in stages},
            "transcript_s": round(stages["transcript"][0], 2),
            "audio_s": round(diar_audio, 1),
            "speech_source": source,
            "seed": args.seed,
        }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
