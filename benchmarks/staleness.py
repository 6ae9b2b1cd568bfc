"""Staleness: six changes, one at a time, on a small catalogue; what reran against what should have.

    .venv/bin/python benchmarks/staleness.py [--videos 6] [--seconds 30] [--via automation|refresh]

A catalogue of real-speech videos (half clean, half through a radio channel, so two complexity classes)
is processed, then these changes are applied in turn:
  1. batch_size of every asr class (execution only: nothing may rerun);
  2. the VAD threshold of the clean_single rule only;
  3. the embed policy's window;
  4. the clip policy (shorter TikToks);
  5. the ranking logic (how the final score is summed), on a temporary copy of the source tree, which then
     stays deployed;
  6. a rollback of change 2.
After each, the reruns are driven to the end, by the automation conditions the `dagster dev` sensor
evaluates (`--via automation`, tick after tick with the sensor's cursor) or by `ai-assets refresh`'s
wave-by-wave logic (`--via refresh`). Change 5 runs in a child process that loads the edited copy.

Expected sets are derived independently of Dagster's records: the videos' classes (from the generation, not
from the pipeline), the stages that read each policy field (ai_assets/policy/views.py) and everything below
them in the graph. Actual sets are the materializations recorded after the change. The JSON gives, per change:
expected and actual counts, precision, recall, the pairs that differ and the seconds taken. A stage below a
rerun whose inputs came out equal legitimately does not rerun; such pairs are listed as missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from ai_assets.ingest.samples import through_radio  # noqa: E402
from ai_assets.storage.settings import HOME_ENV, Layout  # noqa: E402
from benchmarks.common import build_speech, log, make_speech_video  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
# The ranking logic's final score, nudged: every segment's score changes, so every video's ranking does.
RANKING_EDIT = ('row["score"] = round(sum(', 'row["score"] = round(0.001 + sum(')


def single_speaker(seconds: float, seed: int) -> tuple[np.ndarray, str]:
    """`seconds` of one reader: the LibriVox clips of ../shared/media in a seeded order with pauses, else espeak-ng.

    One voice by construction, so a clean copy is `clean_single` and a radio copy `noisy`; mixing the
    shared clips of several speakers would make `multi_speaker`.
    """
    from benchmarks.common import SHARED_MEDIA, decode, level

    folder = SHARED_MEDIA / "pocketsphinx-librivox"
    if not folder.is_dir():
        audio, _, source = build_speech(seconds, seed=seed)  # espeak-ng: one synthetic voice
        return audio[: int(seconds * 16000)], source
    rng = np.random.default_rng(seed)
    clips = [level(decode(p)) for p in sorted(folder.glob("sense_and_sensibility_*.wav"))]
    parts, total = [], 0
    while total < seconds * 16000:
        for i in rng.permutation(len(clips)):
            pause = np.zeros(int(rng.uniform(0.4, 1.2) * 16000), dtype=np.float32)
            parts += [clips[i], pause]
            total += len(clips[i]) + len(pause)
    return np.concatenate(parts)[: int(seconds * 16000)], "librivox (one reader)"


def make_catalogue(count: int, seconds: float, folder: Path) -> dict[Path, str]:
    """{video: the class it was made to be}: even ones clean speech of one reader, odd ones the same through a
    radio channel."""
    videos = {}
    for i in range(count):
        audio, source = single_speaker(seconds, seed=100 + i)
        radio = i % 2 == 1
        if radio:
            audio = np.asarray(through_radio(audio, snr_db=8.0, seed=i), dtype=np.float32)
        target = folder / f"{'radio' if radio else 'talk'}{i:02d}.mp4"
        make_speech_video(audio, target, scenes=3)
        videos[target] = "noisy" if radio else "clean_single"
    log(f"catalogue: {count} videos of {seconds:g} s from {source}")
    return videos


def descendants(graph, names: set[str]) -> set[str]:
    import dagster as dg

    seen: set[str] = set()
    todo = [c for n in names for c in graph.get(dg.AssetKey(n)).child_keys]
    while todo:
        key = todo.pop()
        if key.to_user_string() not in seen:
            seen.add(key.to_user_string())
            todo.extend(graph.get(key).child_keys)
    return seen


def expected(graph, roots: set[str], partitions: list[str]) -> set[tuple[str, str]]:
    stages = roots | descendants(graph, roots)
    return {(s, p) for s in stages for p in partitions}


def pairs_after(instance, mark: int) -> set[tuple[str, str]]:
    import dagster as dg

    found = set()
    for key in instance.get_asset_keys():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(key.path), after_storage_id=mark), limit=10000).records
        found.update((key.to_user_string(), record.partition_key) for record in records)
    return found


def high_water(instance) -> int:
    import dagster as dg

    return max((r.storage_id for key in instance.get_asset_keys()
                for r in instance.fetch_materializations(dg.AssetKey(key.path), limit=1).records), default=0)


def drive(via: str, root: Path, home: Path, cursor_file: Path) -> None:
    """Run the reruns to the end with the code in `root`, in a child process (so a copy's code is what loads)."""
    env = {**os.environ, "PYTHONPATH": str(root), HOME_ENV: str(home), "AI_ASSETS_MODEL_WORKER": "off",
           "DAGSTER_HOME": str(Layout(home).dagster_home)}
    subprocess.run([sys.executable, "-c", f"import benchmarks.staleness as s; s.child({via!r}, {str(cursor_file)!r})"],
        cwd=root, env=env, check=True)


def child(via: str, cursor_file: str) -> None:
    from dagster._serdes import deserialize_value, serialize_value

    from ai_assets.automation_tick import AutomationTicker
    from ai_assets.definitions import build_defs
    from ai_assets.instance import get_instance
    from ai_assets.partitions import videos
    from ai_assets.stale import quiet_runner, refresh

    layout = Layout.from_env()
    instance, defs = get_instance(layout), build_defs(layout)
    defs.resolve_job_def("observe_policies").execute_in_process(instance=instance, run_config=QUIET)
    if via == "refresh":
        refresh(defs, instance, instance.get_dynamic_partitions(videos.name), quiet_runner(defs, instance),
            echo=lambda _: None)
        return
    ticker = AutomationTicker(defs, instance)
    path = Path(cursor_file)
    ticker.cursor = deserialize_value(path.read_text()) if path.exists() else None
    ticker.settle()
    path.write_text(serialize_value(ticker.cursor))


def score(expected_pairs: set, actual: set) -> dict:
    hit = expected_pairs & actual
    precision = len(hit) / len(actual) if actual else 1.0
    recall = len(hit) / len(expected_pairs) if expected_pairs else 1.0
    return {"expected": len(expected_pairs), "actual": len(actual), "precision": round(precision, 4),
            "recall": round(recall, 4), "unexpected": sorted(map(list, actual - expected_pairs)),
            "missed": sorted(map(list, expected_pairs - actual))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--via", choices=("automation", "refresh"), default="automation")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        home = tmp / "home"
        os.environ[HOME_ENV] = str(home)
        os.environ["DAGSTER_HOME"] = str(Layout(home).dagster_home)
        os.environ["AI_ASSETS_MODEL_WORKER"] = "off"
        from ai_assets.definitions import build_defs
        from ai_assets.ingest.intake import ingest_local
        from ai_assets.instance import get_instance
        from ai_assets.partitions import videos
        from ai_assets.policy.documents import PolicyStore
        from ai_assets.policy.views import VIEWS

        layout = Layout(home)
        made = make_catalogue(args.videos, args.seconds, tmp)
        instance, defs = get_instance(layout), build_defs(layout)
        graph = defs.resolve_asset_graph()
        classes: dict[str, str] = {}
        cursor_file = tmp / "cursor"
        drive(args.via, REPO, home, cursor_file)  # the automation's first tick, before any upload, as under dagster dev
        began = time.perf_counter()
        job = defs.resolve_job_def("process_video")
        for path, cls in made.items():
            key = ingest_local(layout.intake, path).key
            instance.add_dynamic_partitions(videos.name, [key])
            classes[key] = cls
            assert job.execute_in_process(instance=instance, partition_key=key, run_config=QUIET).success, key
        drive(args.via, REPO, home, cursor_file)  # the automation's next ticks: shadow runs for the new videos
        log(f"processed {len(classes)} videos in {time.perf_counter() - began:.0f} s")
        keys = sorted(classes)
        clean = [k for k in keys if classes[k] == "clean_single"]
        # What the pipeline itself classed clean: scoring against it too separates staleness from classification.
        classed = defs.resources["policies"].classes(keys)
        classed_clean = [k for k in keys if classed.get(k) == "clean_single"]
        store = PolicyStore(layout.metrics_db)
        consumers = {view.name: set(view.consumers) for view in VIEWS.values()}
        before_change2 = None

        def edit(domain: str, reason: str, change) -> None:
            body = store.current(domain).body
            change(body)
            store.set(domain, body, "user", reason)

        def batch(body):
            for rule in body["classes"].values():
                rule["batch_size"] = 4

        def vad(body):
            body["classes"]["clean_single"].setdefault("vad", {})["threshold"] = 0.35

        changes = [
            ("1 batch size (execution only)", lambda: edit("asr", "batch 4", batch), set(), keys, keys),
            ("2 clean_single rule only", lambda: edit("asr", "looser VAD on clean audio", vad),
             consumers["asr_policy"], clean, classed_clean),
            ("3 embed policy", lambda: edit("embed", "wider windows", lambda b: b.update(window_sentences=3)),
             consumers["embed_policy"], keys, keys),
            ("4 clip policy", lambda: edit("clip", "shorter tiktoks",
                lambda b: b["platforms"]["tiktok"].update(max_seconds=25)), consumers["clip_policy"], keys, keys),
            ("5 ranking code", None, {"segments"}, keys, keys),
            ("6 rollback of 2", lambda: store.set("asr", before_change2, "user", "rollback of the clean rule"),
             consumers["asr_policy"], clean, classed_clean),
        ]
        report = []
        root = REPO  # the code that is deployed: after change 5, the edited copy stays deployed
        for name, apply, roots, partitions, classed_partitions in changes:
            if name.startswith("2"):
                before_change2 = store.current("asr").body
            mark = high_water(instance)
            made = pairs_after(instance, 0)
            started = time.perf_counter()
            if apply is None:  # a code change: an edited copy of the source tree, never the working tree
                copy = tmp / "tree"
                shutil.rmtree(copy, ignore_errors=True)
                for part in ("ai_assets", "resources", "sensors", "schedules", "benchmarks"):
                    shutil.copytree(REPO / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
                ranking = copy / "ai_assets" / "ranking" / "segments.py"
                text = ranking.read_text()
                assert RANKING_EDIT[0] in text, "the ranking constant this benchmark edits has moved"
                ranking.write_text(text.replace(*RANKING_EDIT, 1))
                root = copy
            else:
                apply()
            drive(args.via, root, home, cursor_file)
            seconds = time.perf_counter() - started
            actual = pairs_after(instance, mark)
            # Only pairs that existed can rerun (the shadow stage exists where automation has run it).
            want = (expected(graph, roots, partitions) & made) if roots else set()
            by_pipeline = score((expected(graph, roots, classed_partitions) & made) if roots else set(), actual)
            result = {"change": name, "seconds": round(seconds, 1), **score(want, actual),
                      "by_pipeline_class": {k: by_pipeline[k] for k in ("expected", "precision", "recall")}}
            report.append(result)
            log(f"{name}: expected {result['expected']}, reran {result['actual']}, precision {result['precision']}, "
                f"recall {result['recall']}, {seconds:.0f} s")
        print(json.dumps({
            "via": args.via, "videos": len(keys), "seconds_each": args.seconds,
            "classes": {c: sum(v == c for v in classes.values()) for c in sorted(set(classes.values()))},
            "pipeline_classes_agree": defs.resources["policies"].classes(keys) == classes,
            "changes": report,
            "pipeline_classes": classed,
            "all_precision_and_recall_1": all(r["precision"] == 1.0 and r["recall"] == 1.0 for r in report),
            "all_precision_and_recall_1_by_pipeline_class": all(
                r["by_pipeline_class"]["precision"] == 1.0 and r["by_pipeline_class"]["recall"] == 1.0 for r in report),
            "change_1_reruns": report[0]["actual"],
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
