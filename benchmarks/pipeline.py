"""The full asset graph vs transcription alone on one ~10-minute video: what the graph adds.

    .venv/bin/python benchmarks/pipeline.py [--minutes 10] [--seed 0] [--repeats 3]

(a) pipeline: `ai_assets.cli.process.process_files([video])` with AI_ASSETS_HOME set to a fresh folder: intake
    hashing, then every step of the `process_video` job (assets, checks, evaluation), lake writes,
    metrics and Dagster's own bookkeeping.
(b) transcription alone: decode the video's audio to 16 kHz WAV, the rule's VAD, and the graph's own
    WhisperResource with the asr rule the pipeline chose for this video (its complexity class, read
    from the pipeline's metrics) and language detection, in-process.

What counts where: both run in this one process, and the Whisper models are process-wide caches, so
whichever run came first would pay their loading for the other. Every model the asr policy can pick is
therefore loaded (and run once on 30 s) before either is timed, and so are the Dagster imports:
start-up cost that both paths share is in neither number and is reported apart (`setup_s`). Everything
only the graph needs, the embedding model's load included, is timed in the pipeline. The pipeline runs
once (a second run would find the embedder loaded); transcription alone runs `--repeats` times and its
median is the reference, since a small shared VM's timings drift. Progress and the CLI's per-stage
lines go to stderr; the last stdout line is a JSON summary.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ai_assets.cli.process import process_files  # noqa: E402
from ai_assets.ingest.audio import extract_audio, load_wav  # noqa: E402
from ai_assets.ingest.samples import media_duration  # noqa: E402
from ai_assets.policy.documents import AsrPolicy, AsrRule, default_policy  # noqa: E402
from ai_assets.storage.settings import HOME_ENV, Layout  # noqa: E402
from benchmarks.common import build_speech, log, make_speech_video, run_engine, warm_up  # noqa: E402

TOP_SEGMENTS = 5


def transcribe_alone(whisper, video: Path, wav: Path, rule: AsrRule, multilingual_model: str) -> tuple[float, float]:
    """Seconds in all, and of those the audio extraction's."""
    began = time.perf_counter()
    extract_audio(video, wav)
    extract_s = time.perf_counter() - began
    run_engine(whisper, load_wav(wav), rule, multilingual_model)
    return time.perf_counter() - began, extract_s


def run_pipeline(video: Path) -> float:
    began = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        failed = process_files([video], TOP_SEGMENTS)
    seconds = time.perf_counter() - began
    if failed:
        raise SystemExit(f"the pipeline failed on {video}; see stderr")
    return seconds


PICTURE_STAGES = ("keyframes", "visual_analysis", "clips")


def run_metrics(layout: Layout) -> tuple[dict[str, float], str]:
    """Each asset's own timed body, and the complexity class the transcript used, from the run's metrics table."""
    from ai_assets.catalog import connect

    with connect(layout.home) as conn:  # committed and spooled rows
        rows = conn.execute("SELECT asset, seconds, params FROM metrics ORDER BY started_at").fetchall()
    complexity = next(json.loads(params)["class"] for asset, _, params in rows if asset == "transcript")
    return {asset: round(seconds, 2) for asset, seconds, _ in rows}, complexity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0, help="clip order and pause lengths")
    parser.add_argument("--repeats", type=int, default=3, help="runs of transcription alone; the median is reported")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    with tempfile.TemporaryDirectory() as inputs, tempfile.TemporaryDirectory() as home:
        os.environ[HOME_ENV] = home  # before anything resolves the layout
        layout = Layout.from_env()
        audio, _, source = build_speech(args.minutes * 60, seed=args.seed)
        began = time.perf_counter()
        video = make_speech_video(audio, Path(inputs) / "talk.mp4")
        video_s = media_duration(video)
        log(f"video: {video_s:.1f} s of speech from {source}, {video.stat().st_size / 1e6:.1f} MB, made in "
            f"{time.perf_counter() - began:.1f} s")

        began = time.perf_counter()
        from ai_assets.definitions import build_resources  # Dagster and every asset module

        import_s = time.perf_counter() - began
        whisper = build_resources(layout)["whisper"]  # exactly the graph's resource
        asr: AsrPolicy = default_policy("asr").parsed()  # what a fresh home runs with
        warm_up_s = warm_up(whisper, audio, asr.classes.values(), asr.multilingual_model)
        log(f"setup: imports {import_s:.1f} s, Whisper load and warm-up {warm_up_s:.1f} s")

        pipeline_s = run_pipeline(video)
        log(f"pipeline: {pipeline_s:.1f} s")
        stages, complexity = run_metrics(layout)
        rule = asr.classes[complexity]
        transcribe_runs = []
        for run in range(1, args.repeats + 1):
            seconds, extract_s = transcribe_alone(whisper, video, Path(inputs) / "audio.wav", rule,
                asr.multilingual_model)
            transcribe_runs.append(seconds)
            log(f"run {run} transcription alone ({complexity}: {rule.model}, beam {rule.beam_size}, batch "
                f"{rule.batch_size}): "
                f"{seconds:.1f} s, of which audio extraction {extract_s:.1f} s")
        transcribe_s = statistics.median(transcribe_runs)

    print(
        json.dumps(
            {
                "pipeline_s": round(pipeline_s, 2),
                "transcribe_s": round(transcribe_s, 2),
                "overhead_ratio": round(pipeline_s / transcribe_s, 3),
                # The audio/text graph alone: the vision branch and clip rendering are work of their own.
                "overhead_ratio_audio_text": round((pipeline_s - sum(stages.get(a, 0.0)
                    for a in PICTURE_STAGES)) / transcribe_s, 3), "video_s": round(video_s, 1),
                "transcribe_runs_s": [round(s, 2) for s in transcribe_runs],
                "stages_s": stages,
                "outside_stages_s": round(pipeline_s - sum(stages.values()), 2),
                "complexity_class": complexity,
                "asr_rule": rule.model_dump(),
                "setup_s": {"imports": round(import_s, 2), "whisper_warm_up": round(warm_up_s, 2)},
                "speech_source": source,
                "seed": args.seed,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
