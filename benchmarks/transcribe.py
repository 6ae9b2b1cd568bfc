"""Engine vs plain faster-whisper on the same ~10 minutes of English speech: wall time and WER.

    .venv/bin/python benchmarks/transcribe.py [--minutes 10] [--model tiny.en] [--beam-size N] [--batch-size N]
        [--seed 0] [--repeats 3]

(a) engine: Silero VAD regions, laid end to end with pauses cut to COMPACT_GAP_S, packed into ≤30 s chunks,
    decoded by BatchedInferencePipeline through WhisperResource with the default asr policy's `clean_single`
    rule (flags override its model, beam and batch); VAD time is counted, since the baseline needs none.
(b) baseline: sequential `WhisperModel.transcribe(audio, beam_size=5, language="en")`, defaults otherwise.
Both use the same loaded model object (same threads, same weights and compute type), warmed up before
timing, and the language is forced to English in both, so neither pays for language detection. Runs
alternate engine/baseline `--repeats` times and the medians are reported, since a small shared VM's
timings drift. Decoding is deterministic, so WER comes from the last run. `--seed` picks clip order and
pauses. Progress goes to stderr; the last stdout line is a JSON summary (WER in percent).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ai_assets.ingest.audio import SAMPLE_RATE  # noqa: E402
from ai_assets.policy.documents import AsrRule, default_policy  # noqa: E402
from ai_assets.speech.transcript import COMPACT_GAP_S  # noqa: E402
from benchmarks.common import WARM_UP_SECONDS, build_speech, log, run_engine, warm_up  # noqa: E402
from resources.whisper import WhisperResource  # noqa: E402

BASELINE_BEAM_SIZE = 5
ENGINE_CLASS = "clean_single"


def normaliser():
    """Whisper's own English normaliser (lower case, no punctuation, numbers and spellings unified)."""
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer({})


def wer_percent(reference: str, hypothesis: str) -> float:
    import jiwer

    return round(100 * jiwer.wer(reference, hypothesis), 2)


def baseline(model, audio) -> tuple[str, float]:
    began = time.perf_counter()
    segments, _ = model.transcribe(audio, beam_size=BASELINE_BEAM_SIZE, language="en")
    text = " ".join(s.text.strip() for s in segments)  # the generator does the decoding
    return text, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    policy = default_policy("asr").parsed()
    default_rule = policy.classes[ENGINE_CLASS]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--model", default=default_rule.model)
    parser.add_argument("--beam-size", type=int, default=default_rule.beam_size, help="engine beam size")
    parser.add_argument("--batch-size", type=int, default=default_rule.batch_size, help="engine batch size")
    parser.add_argument("--seed", type=int, default=0, help="clip order and pause lengths")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; medians are reported")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    rule = AsrRule(**{**default_rule.model_dump(), "model": args.model, "beam_size": args.beam_size,
        "batch_size": args.batch_size})

    audio, texts, source = build_speech(args.minutes * 60, seed=args.seed)
    audio_s = len(audio) / SAMPLE_RATE
    normalise = normaliser()
    # Clip by clip, so numbers at the end of one clip and the start of the next are not merged ("3:2" + "twentieth").
    reference = " ".join(normalise(t) for t in texts)
    log(f"speech: {audio_s:.1f} s from {source}, {len(texts)} clips, {len(reference.split())} reference words")

    with tempfile.TemporaryDirectory() as cache:
        whisper = WhisperResource(language="en", cache_dir=cache)
        model = whisper.load(rule.model, rule.compute_type)
        warm_engine_s = warm_up(whisper, audio, [rule], policy.multilingual_model)
        warm_baseline_s = baseline(model, audio[: int(WARM_UP_SECONDS * SAMPLE_RATE)])[1]
        log(f"warm-up: engine {warm_engine_s:.1f} s, baseline {warm_baseline_s:.1f} s")

        engine_runs, baseline_runs = [], []
        for run in range(1, args.repeats + 1):
            result, decode, seconds = run_engine(whisper, audio, rule, policy.multilingual_model)
            engine_runs.append(seconds)
            log(f"run {run} engine:   {seconds:.1f} s ({audio_s / seconds:.1f}x real time)")
            baseline_text, seconds = baseline(model, audio)
            baseline_runs.append(seconds)
            log(f"run {run} baseline: {seconds:.1f} s ({audio_s / seconds:.1f}x real time)")
    engine_s, baseline_s = statistics.median(engine_runs), statistics.median(baseline_runs)
    engine_text = " ".join(s["text"] for s in result.segments)

    engine_wer = wer_percent(reference, normalise(engine_text))
    baseline_wer = wer_percent(reference, normalise(baseline_text))
    print(
        json.dumps(
            {
                "engine_s": round(engine_s, 2),
                "baseline_s": round(baseline_s, 2),
                "speedup": round(baseline_s / engine_s, 2),
                "engine_wer": engine_wer,
                "baseline_wer": baseline_wer,
                "wer_unit": "percent",
                "wer_delta_pts": round(engine_wer - baseline_wer, 2),
                "engine_runs_s": [round(s, 2) for s in engine_runs],
                "baseline_runs_s": [round(s, 2) for s in baseline_runs],
                "audio_s": round(audio_s, 1),
                "speech_source": source,
                "seed": args.seed,
                "model": rule.model,
                "compute_type": rule.compute_type,
                "engine_params": {**decode.as_dict(), "vad": rule.vad.model_dump(), "chunks": "vad-compacted-30s",
                    "compact_gap_s": COMPACT_GAP_S},
                "baseline_params": {"beam_size": BASELINE_BEAM_SIZE, "language": "en",
                    "other": "faster-whisper defaults"},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
