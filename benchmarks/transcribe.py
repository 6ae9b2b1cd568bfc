"""Engine vs plain faster-whisper on the same ~10 minutes of English speech: wall time and WER.

    .venv/bin/python benchmarks/transcribe.py [--minutes 10] [--model tiny.en] [--beam-size N] [--batch-size N]

(a) engine: Silero VAD regions, packed into ≤30 s chunks, decoded by BatchedInferencePipeline
    through WhisperResource; VAD time is counted, since the baseline needs none.
(b) baseline: sequential `WhisperModel.transcribe(audio, beam_size=5, language="en")`, defaults otherwise.
Both use the same loaded model object (same threads, same int8 weights), warmed up before timing, and the
language is forced to English in both, so neither pays for language detection.
Progress goes to stderr; the last stdout line is a JSON summary (WER in percent).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ai_assets.media import SAMPLE_RATE  # noqa: E402
from benchmarks.common import build_speech, log, run_engine, warm_up  # noqa: E402
from resources.whisper import WhisperResource  # noqa: E402

BASELINE_BEAM_SIZE = 5


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
    defaults = WhisperResource()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--beam-size", type=int, default=defaults.beam_size, help="engine beam size")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="engine batch size")
    args = parser.parse_args(argv)

    audio, texts, source = build_speech(args.minutes * 60)
    audio_s = len(audio) / SAMPLE_RATE
    normalise = normaliser()
    # Clip by clip, so numbers at the end of one clip and the start of the next are not merged ("3:2" + "twentieth").
    reference = " ".join(normalise(t) for t in texts)
    log(f"speech: {audio_s:.1f} s from {source}, {len(texts)} clips, {len(reference.split())} reference words")

    with tempfile.TemporaryDirectory() as cache:
        whisper = WhisperResource(
            english_model=args.model, language="en", cache_dir=cache, beam_size=args.beam_size, batch_size=args.batch_size
        )
        model = whisper.load(args.model)
        log(f"warm-up: {warm_up(whisper, audio):.1f} s (engine); {baseline(model, audio[: 30 * SAMPLE_RATE])[1]:.1f} s (baseline)")

        result, engine_s = run_engine(whisper, audio)
        engine_text = " ".join(s["text"] for s in result.segments)
        log(f"engine:   {engine_s:.1f} s ({audio_s / engine_s:.1f}x real time)")
        baseline_text, baseline_s = baseline(model, audio)
        log(f"baseline: {baseline_s:.1f} s ({audio_s / baseline_s:.1f}x real time)")

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
                "audio_s": round(audio_s, 1),
                "speech_source": source,
                "model": args.model,
                "compute_type": whisper.compute_type,
                "engine_params": {**whisper.decode_params.as_dict(), "vad": "silero", "chunks": "vad-packed-30s"},
                "baseline_params": {"beam_size": BASELINE_BEAM_SIZE, "language": "en", "other": "faster-whisper defaults"},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
