"""What an asr policy change costs: materializations per asset and seconds, on N processed videos.

    .venv/bin/python benchmarks/policy_change.py [--videos 3]

Each video is processed once (the `process_video` job, in-process). Then the asr policy changes
(beam 2 for both classes), the policies are observed, the eager automation conditions are
evaluated, and what they request is run. The last stdout line is JSON: materializations per
asset caused by the change (expected: only audio_profile, transcript and what is below it, once
per video; zero for source_video and audio), the seconds the rerun took, and the seconds a full
processing of the same videos took, for scale. With ../shared/media present the videos are real
FLEURS English speech over the Big Buck Bunny picture; otherwise synthetic espeak-ng talks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")

SHARED_MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
from ai_assets.assets import VIDEO_ASSETS  # noqa: E402

ASSETS = [a.key.to_user_string() for a in VIDEO_ASSETS]
# What an asr policy change makes stale: audio_profile (it applies the thresholds) and all below it.
DEPENDENT_ON_ASR = {"audio_profile", "transcript", "transcript_quality", "transcript_shadow", "transcript_embeddings",
                    "transcript_speakers", "emotion", "safety", "topics", "segments", "clip_copy", "clips"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_videos(folder: Path, count: int) -> tuple[list[Path], str]:
    from ai_assets.ingest.samples import SAMPLE_TEXT, make_video

    clips = sorted((SHARED_MEDIA / "fleurs-en-de-fr").glob("fleurs-en-*.ogg"))
    picture = SHARED_MEDIA / "bbb-30s-moviepy" / "big_buck_bunny_0_30.webm"
    videos = []
    if len(clips) >= count and picture.exists():
        for i, clip in enumerate(clips[:count]):
            target = folder / f"fleurs-talk-{i}.mp4"
            subprocess.run(
                ["ffmpeg", "-y", "-loglevel", "error", "-stream_loop", "-1", "-i", str(picture), "-i", str(clip),
                 "-map", "0:v", "-map", "1:a", "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                 str(target)], check=True,
            )
            reference = clip.with_suffix(".txt")
            if reference.exists():  # uploaded beside the video, so transcript_quality measures WER
                target.with_suffix(".txt").write_text(reference.read_text())
            videos.append(target)
        return videos, "fleurs-en over big buck bunny"
    sentences = SAMPLE_TEXT.split(". ")
    for i in range(count):
        text = ". ".join(sentences[i::count])
        videos.append(make_video(folder / f"synthetic-talk-{i}.mp4", text, scenes=2))
    return videos, "synthetic espeak-ng"


def materializations(instance) -> Counter:
    import dagster as dg

    return Counter({a: len(instance.fetch_materializations(dg.AssetKey(a), limit=10_000).records) for a in ASSETS})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ["AI_ASSETS_HOME"] = str(home)
        os.environ.setdefault("TQDM_DISABLE", "1")
        import dagster as dg

        from ai_assets.automation_tick import QUIET, AutomationTicker
        from ai_assets.definitions import build_defs
        from ai_assets.ingest.intake import ingest_local
        from ai_assets.partitions import videos as videos_partitions
        from ai_assets.policy.documents import PolicyStore
        from ai_assets.storage.settings import Layout

        layout = Layout(home)
        files, source = make_videos(Path(tmp), args.videos)
        defs = build_defs(layout)
        (Path(tmp) / "dagster").mkdir()
        with dg.instance_for_test(temp_dir=str(Path(tmp) / "dagster")) as instance:
            process = defs.resolve_job_def("process_video")
            ticker = AutomationTicker(defs, instance)
            ticker.tick()  # the automation sensor's first tick, before any upload
            began = time.perf_counter()
            for path in files:
                key = ingest_local(layout.intake, path).key
                instance.add_dynamic_partitions(videos_partitions.name, [key])
                assert process.execute_in_process(instance=instance, partition_key=key, run_config=QUIET).success
                log(f"processed {path.name} as {key}")
            process_s = time.perf_counter() - began
            ticker.run(ticker.tick())  # the shadow evaluations automation adds after processing
            assert ticker.tick() == {}, "nothing should be stale before the change"
            before = materializations(instance)

            began = time.perf_counter()
            store = PolicyStore(layout.metrics_db)
            body = store.current("asr").body
            for rule in body["classes"].values():
                rule["beam_size"] = 2
            policy = store.set("asr", body, "user", "benchmark: beam 2")
            defs.resolve_job_def("observe_policies").execute_in_process(instance=instance, run_config=QUIET)
            requested = ticker.tick()
            ticker.run(requested)
            rerun_s = time.perf_counter() - began
            after = materializations(instance) - before
            ticker_after = ticker.tick()
    print(json.dumps({
        "videos": args.videos,
        "media": source,
        "policy_version": policy.version,
        "materializations_after_change": {a: after.get(a, 0) for a in ASSETS},
        "only_dependent_assets": all(after.get(a, 0) == (args.videos if a in DEPENDENT_ON_ASR else 0) for a in ASSETS),
        "requested_again_after_rerun": sum(len(v) for v in ticker_after.values()),
        "rerun_s": round(rerun_s, 2),
        "full_processing_s": round(process_s, 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
