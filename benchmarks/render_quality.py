"""x264 presets against quality, and our clip render against a bare ffmpeg encode of the same span.

    .venv/bin/python benchmarks/render_quality.py [--seconds 20]

(a) presets: the same 9:16 1080x1920 crop of a real video (Big Buck Bunny from ../shared/media, 1280x720; a
    generated talk without it) encoded at crf 21 with each x264 preset, timed, and scored by ffmpeg's `ssim`
    filter against a reference encode (preset slow, crf 16). The fastest preset with SSIM >= 0.98 is the pick.
(b) render_vs_ffmpeg_ratio: `render_clips` on one planned clip at the default policy's preset and crf (face
    tracking, crop path, captions, thumbnail, signature) against `ffmpeg -ss -i SRC -vf crop,scale -c:v libx264
    -c:a aac` of the same span and size: the physical floor for the render. Both with libx264, whatever the
    policy's `encoder` would pick on this machine.
(c) nvenc: where this machine's ffmpeg can encode with NVENC (`ai_assets.render.encode.nvenc_problem`), the same
    crop by h264_nvenc as clips encode it (presets ultrafast and faster, i.e. p1 and p4; constant quality 19-28),
    timed and scored like (a); `nvenc_cq_for_crf` is the largest cq at p1 whose SSIM reaches x264 ultrafast's at
    crf 21. Elsewhere, the reason it was skipped.
The last stdout line is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import SHARED_MEDIA, log  # noqa: E402

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
WIDTH, HEIGHT = 1080, 1920
INVISIBLE_SSIM = 0.98


def _ffmpeg(*args: str) -> str:
    done = subprocess.run(["ffmpeg", "-nostdin", "-y", "-hide_banner", *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-500:])
    return done.stderr


def source_video(tmp: Path) -> tuple[Path, str]:
    bbb = SHARED_MEDIA / "bbb-30s-moviepy"
    found = sorted(p for p in bbb.glob("*") if p.suffix in (".webm", ".mp4", ".mkv")) if bbb.is_dir() else []
    if found:
        return found[0], "shared-media"
    from ai_assets.ingest.samples import make_video

    return make_video(tmp / "talk.mp4", scenes=6, size="1280x720"), "generated"


def crop_chain(width: int, height: int) -> str:
    crop_w = (height * 9 // 16) // 2 * 2
    return f"crop={crop_w}:{height}:(iw-{crop_w})/2:0,scale={WIDTH}:{HEIGHT}:flags=lanczos,setsar=1,format=yuv420p"


def encode(source: Path, target: Path, start: float, seconds: float, chain: str, preset: str, crf: int) -> float:
    began = time.perf_counter()
    _ffmpeg("-ss", f"{start}", "-i", str(source), "-t", f"{seconds}", "-vf", chain, "-c:v", "libx264", "-preset",
            preset, "-crf", str(crf), "-an", str(target))
    return time.perf_counter() - began


def encode_nvenc(source: Path, target: Path, start: float, seconds: float, chain: str, preset: str, cq: int) -> float:
    """As the clips would encode it: `Encoding.video_args` with `preset` (x264's name) mapped to NVENC's."""
    from ai_assets.render.encode import Encoding

    began = time.perf_counter()
    _ffmpeg("-ss", f"{start}", "-i", str(source), "-t", f"{seconds}", "-vf", chain,
            *Encoding(preset, cq, codec="h264_nvenc").video_args(), "-an", str(target))
    return time.perf_counter() - began


def ssim(test: Path, reference: Path) -> float:
    out = _ffmpeg("-i", str(test), "-i", str(reference), "-lavfi", "ssim", "-f", "null", "-")
    return float(re.search(r"All:([0-9.]+)", out).group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)

    import av

    from ai_assets.policy.documents import ClipPolicy, default_policy
    from ai_assets.render.captions import find_font
    from ai_assets.render.clips import ClipJob, SourceVideo, render_clips
    from ai_assets.render.encode import nvenc_problem

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source, kind = source_video(tmp)
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            fps = float(stream.average_rate)
            duration = float(container.duration / 1_000_000)
            has_audio = bool(container.streams.audio)
        start = min(2.0, max(0.0, duration - args.seconds))
        seconds = min(args.seconds, duration - start)
        out.update(source=kind, seconds=round(seconds, 2), source_size=f"{width}x{height}")
        chain = crop_chain(width, height)
        reference = tmp / "reference.mp4"
        encode(source, reference, start, seconds, chain, "slow", 16)
        presets = {}
        for preset in PRESETS:
            target = tmp / f"{preset}.mp4"
            took = encode(source, target, start, seconds, chain, preset, 21)
            presets[preset] = {"s": round(took, 2), "x_realtime": round(seconds / took, 2),
                               "ssim": round(ssim(target, reference), 4), "kb": target.stat().st_size // 1024}
            log(f"{preset}: {presets[preset]}")
        out["presets"] = presets
        out["pick"] = next((p for p in PRESETS if presets[p]["ssim"] >= INVISIBLE_SSIM), None)

        why = nvenc_problem()
        if why is None:
            nvenc = {}
            for preset in ("ultrafast", "faster"):  # NVENC's p1 and p4
                for cq in (19, 21, 23, 25, 28):
                    target = tmp / f"nvenc-{preset}-{cq}.mp4"
                    took = encode_nvenc(source, target, start, seconds, chain, preset, cq)
                    nvenc[f"{preset}_cq{cq}"] = {"s": round(took, 2), "x_realtime": round(seconds / took, 2),
                        "ssim": round(ssim(target, reference), 4), "kb": target.stat().st_size // 1024}
                    log(f"nvenc {preset} cq {cq}: {nvenc[f'{preset}_cq{cq}']}")
            out["nvenc"] = nvenc
            out["nvenc_cq_for_crf"] = max((cq for cq in (19, 21, 23, 25, 28)
                if nvenc[f"ultrafast_cq{cq}"]["ssim"] >= presets["ultrafast"]["ssim"]), default=None)
        else:
            out["nvenc"] = {"skipped": why}

        # The floor is a libx264 encode, so our render is held to libx264 too.
        policy = ClipPolicy.model_validate({**default_policy("clip").body, "encoder": "libx264"})
        spec = policy.platforms["tiktok"]
        job = ClipJob(1, start, start + seconds, spec, ["tiktok"], eager=True)
        clip_source = SourceVideo(source, width, height, fps, duration, has_audio)
        began = time.perf_counter()
        render_clips([job], clip_source, [], [], policy, tmp / "clips", find_font())
        ours = time.perf_counter() - began
        began = time.perf_counter()
        audio = ["-c:a", "aac", "-b:a", "128k"] if has_audio else ["-an"]
        _ffmpeg("-ss", f"{start}", "-i", str(source), "-t", f"{seconds}", "-vf", chain, "-c:v", "libx264", "-preset",
                policy.preset, "-crf", str(policy.crf), *audio, str(tmp / "bare.mp4"))
        bare = time.perf_counter() - began
        out.update(preset=policy.preset, crf=policy.crf, render_s=round(ours, 2), bare_ffmpeg_s=round(bare, 2),
                   render_vs_ffmpeg_ratio=round(ours / bare, 3))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
