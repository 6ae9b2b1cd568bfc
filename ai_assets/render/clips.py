"""Which clips to render for which platform, and rendering them: the logic behind the `clips` asset.

Platforms whose specs render the same file (TikTok, Shorts and Reels all take 1080x1920 with the
same caption margin) share one render; the table still has a row per platform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ai_assets.language.sentences import Sentence
from ai_assets.policy.documents import ASPECTS, ClipPolicy, PlatformSpec
from ai_assets.render.captions import CaptionStyle, clip_words, group_cues, to_ass, to_srt
from ai_assets.render.encode import ClipCut, Encoding, render_clip, render_thumbnail
from ai_assets.render.reframe import CropPath, FaceSample, crop_size, plan_crop, track_faces
from ai_assets.storage.files import write_bytes_atomic

# Below this share of track samples with a face, the clip uses the no-face layout.
MIN_FACE_COVERAGE = 0.3
CLIP_FILE = re.compile(r"^rank\d{2}_[a-z0-9_-]+\.(mp4|srt|jpg)$")


@dataclass
class ClipJob:
    rank: int
    start: float  # source seconds, before snapping to frames
    end: float
    spec: PlatformSpec
    platforms: list[str] = field(default_factory=list)
    trimmed: bool = False

    @property
    def stem(self) -> str:
        return f"rank{self.rank:02d}_{'-'.join(self.platforms)}"


def clip_span(seg_start: float, seg_end: float, sentence_ends: list[float], pad_before: float, pad_after: float,
              max_seconds: float, duration: float) -> tuple[float, float, bool] | None:
    """Padded [start, end) for a segment within the platform's length; a segment that is too long ends at
    the last sentence end that fits. None when not even its first sentence fits."""
    start = max(0.0, seg_start - pad_before)
    limit = start + max_seconds
    end, trimmed = seg_end, False
    if seg_end + min(pad_after, 0.05) > limit:
        fitting = [e for e in sentence_ends if seg_start < e <= limit - 0.05 and e <= seg_end]
        if not fitting:
            return None
        end, trimmed = max(fitting), True
    return start, min(duration, end + pad_after, limit), trimmed


def plan_jobs(segments: list[dict], items: list[Sentence], policy: ClipPolicy,
        duration: float) -> tuple[list[ClipJob], list[str]]:
    """Top-K segments per platform as render jobs, identical renders merged; also what was skipped and why."""
    jobs: dict[tuple, ClipJob] = {}
    skipped: list[str] = []
    for name, spec in policy.platforms.items():
        taken = 0
        for seg in platform_ranking(segments, name):
            if taken == policy.top_k:
                break
            ends = [s.end for s in items[seg["first_sentence"] : seg["last_sentence"] + 1]]
            span = clip_span(seg["start"], seg["end"], ends, policy.pad_before, policy.pad_after, spec.max_seconds,
                duration)
            if span is None:
                skipped.append(
                    f"rank {seg['rank']} on {name}: its first sentence is longer than {spec.max_seconds:g} s"
                )
                continue
            start, end, trimmed = span
            key = (seg["rank"], round(start, 3), round(end, 3), spec.width, spec.height, spec.caption_bottom)
            job = jobs.setdefault(key, ClipJob(seg["rank"], start, end, spec, trimmed=trimmed))
            job.platforms.append(name)
            taken += 1
    return sorted(jobs.values(), key=lambda j: (j.rank, j.stem)), skipped


def platform_ranking(segments: list[dict], platform: str) -> list[dict]:
    """The ranked segments for a platform, best first; a platform the segment policy does not rank
    borrows the first ranking in the table. Unranked (blocked) rows are never rendered."""
    ranked = [s for s in segments if s["rank"] is not None]
    own = [s for s in ranked if s["platform"] == platform]
    if not own and ranked:
        own = [s for s in ranked if s["platform"] == ranked[0]["platform"]]
    return sorted(own, key=lambda s: s["rank"])


@dataclass(frozen=True)
class SourceVideo:
    path: Path
    width: int
    height: int
    fps: float
    duration: float
    has_audio: bool


@dataclass(frozen=True)
class RenderedClip:
    job: ClipJob
    cut: ClipCut
    layout: str
    jitter: float
    face_coverage: float
    video_path: Path
    srt_path: Path
    thumbnail_path: Path
    cues: int
    captions_burned: bool


def _layout(spec: PlatformSpec, source: SourceVideo, samples: list[FaceSample], policy: ClipPolicy) -> str:
    crop = crop_size(source.width, source.height, *ASPECTS[spec.aspect])
    if crop == (source.width - source.width % 2, source.height - source.height % 2):
        return "full"
    coverage = sum(s.cx is not None for s in samples) / len(samples) if samples else 0.0
    if coverage >= MIN_FACE_COVERAGE:
        return "face-track"
    return policy.reframe.no_face_layout


def render_job(
    job: ClipJob, source: SourceVideo, words: list[dict], cut_times: list[float], policy: ClipPolicy, out_dir: Path,
    font: Path | None, samples: list[FaceSample],
) -> RenderedClip:
    spec, rule = job.spec, policy.reframe
    cut = ClipCut.snap(job.start, job.end, source.fps)
    layout = _layout(spec, source, samples, policy)
    path: CropPath | None = None
    if layout != "blur":
        clip_samples = [] if layout == "centre" else [s for s in samples if s.time < cut.duration]
        local_cuts = [t - cut.start for t in cut_times if cut.start < t < cut.start + cut.duration]
        path = plan_crop(clip_samples, source.width, source.height, ASPECTS[spec.aspect], spec.width, cut.fps,
            cut.frames, local_cuts, rule.dead_zone, rule.ease_seconds, rule.max_speed)

    style = CaptionStyle.for_frame(font, spec.width, spec.height, policy.captions.font_scale,
        spec.caption_bottom) if font else None
    fits = style.fits() if style else (lambda text: len(text) <= 42)
    cues = group_cues(clip_words(words, cut.start, cut.start + cut.duration), fits, policy.captions.max_lines,
                      policy.captions.max_cue_seconds, policy.captions.pause_break_seconds)
    burn = bool(policy.captions.burn_in and style and cues)
    video_path, srt_path, thumb_path = (out_dir / f"{job.stem}.{ext}" for ext in ("mp4", "srt", "jpg"))
    write_bytes_atomic(srt_path, to_srt(cues).encode())
    render_clip(source.path, video_path, cut, spec.width, spec.height, path,
                ass=to_ass(cues, spec.width, spec.height, style) if burn else None, fonts_dir=font.parent if burn
                else None, encoding=Encoding(policy.preset, policy.crf), has_audio=source.has_audio)
    at = thumbnail_time(samples, cut.duration)
    frame = min(cut.frames - 1, round(at * cut.fps))
    crop = (int(path.xs[frame]), int(path.ys[frame]), path.width, path.height) if path is not None else None
    render_thumbnail(source.path, thumb_path, cut.start + at, spec.width, spec.height, crop)
    return RenderedClip(job, cut, layout, path.jitter if path is not None else 0.0,
                        path.face_coverage if path is not None else 0.0, video_path, srt_path, thumb_path, len(cues),
                        burn)


def thumbnail_time(samples: list[FaceSample], duration: float) -> float:
    """The biggest face in the clip's first half, else a third of the way in."""
    faces = [s for s in samples if s.cx is not None and s.time < duration / 2]
    return max(faces, key=lambda s: s.size).time if faces else duration / 3


def render_clips(
    jobs: list[ClipJob], source: SourceVideo, words: list[dict], cut_times: list[float], policy: ClipPolicy,
    out_dir: Path, font: Path | None,
) -> list[RenderedClip]:
    """Render every job; faces are tracked once per segment and shared by its platforms."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tracks: dict[float, list[FaceSample]] = {}
    rendered = []
    for job in jobs:
        if job.start not in tracks:
            longest = max(j.end for j in jobs if j.start == job.start)
            first = ClipCut.snap(job.start, longest, source.fps)
            tracks[job.start] = track_faces(source.path, first.start, first.start + first.duration,
                policy.reframe.track_fps)
        rendered.append(render_job(job, source, words, cut_times, policy, out_dir, font, tracks[job.start]))
    keep = {p.name for r in rendered for p in (r.video_path, r.srt_path, r.thumbnail_path)}
    for old in out_dir.iterdir():
        if CLIP_FILE.match(old.name) and old.name not in keep:
            old.unlink()
    return rendered
