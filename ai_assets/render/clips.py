"""Which clips to render for which platform, and rendering them: the logic behind the `clips` asset.

Platforms whose specs render the same file (TikTok, Shorts and Reels all take 1080x1920 with the
same caption margin) share one render; the table still has a row per platform.

Rendering is most of a video's processing time, so only the policy's `render_top` clips per platform are
rendered right away; the rest of `top_k` are planned the same way and rendered on demand (`render_one`). Each
render leaves a small signature file beside it (what was cut, framed and encoded how), so a later run keeps an
on-demand render that still matches its job instead of deleting or redoing it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from ai_assets.language.sentences import Sentence
from ai_assets.policy.documents import ASPECTS, ClipPolicy, PlatformSpec
from ai_assets.render.audiogram import AUDIOGRAM_FPS, audiogram_frame
from ai_assets.render.captions import CaptionStyle, clip_words, font_for, group_cues, to_ass, to_srt
from ai_assets.render.encode import (
    ClipCut,
    ClipOutput,
    Encoding,
    RenderError,
    RenderTimeout,
    choose_encoder,
    compose_still,
    one_line,
    render_outputs,
    render_thumbnail,
    video_frames,
)
from ai_assets.render.pauses import keep_path, kept_frames, remap_cues
from ai_assets.render.reframe import (
    CropPath,
    FaceSample,
    crop_size,
    follow_speakers,
    plan_crop,
    speech_regions,
    stack_crops,
    stacked_pair,
    track_faces,
)
from ai_assets.storage.files import write_bytes_atomic
from ai_assets.storage.settings import step_threads

# Below this share of track samples with a face, the clip uses the no-face layout.
MIN_FACE_COVERAGE = 0.3
# Two faces are stacked only if both are at least this share of the source height: a half-frame panel shows about
# 2.5 face heights, so a smaller face would be scaled up more than about 3x on a 1080p source.
MIN_STACKED_FACE = 0.08
CLIP_FILE = re.compile(r"^rank\d{2}_[a-z0-9_-]+\.(mp4|srt|jpg|json)$")


@dataclass
class ClipJob:
    rank: int
    start: float  # source seconds, before snapping to frames
    end: float
    spec: PlatformSpec
    platforms: list[str] = field(default_factory=list)
    trimmed: bool = False
    eager: bool = False  # within render_top for one of its platforms: rendered with the asset
    held: bool = False  # waiting for review (render/review.py): only a render a person asked for is kept
    render_error: str | None = None  # why its eager render failed (the others were rendered): one line from ffmpeg

    @property
    def stem(self) -> str:
        return f"rank{self.rank:02d}_{'-'.join(self.platforms)}"

    def signature(self, policy: ClipPolicy, source: SourceVideo) -> str:
        """What decides this render's bytes: the span, the frame, the source and the policy's render settings."""
        rule = {"span": [round(self.start, 4), round(self.end, 4)], "spec": self.spec.model_dump(),
                "source": source.identity, "reframe": policy.reframe.model_dump(),
                "captions": policy.captions.model_dump(), "pauses": policy.pauses.model_dump(),
                "encoding": [policy.preset, policy.crf]}
        if policy.encoder != "auto":  # under auto, a render by either encoder is the same clip to keep
            rule["encoder"] = policy.encoder
        # Only where they apply, so the signatures of SDR video renders stay as they were before either existed.
        if not source.has_video:
            rule["picture"] = "audiogram"
        if source.hdr:
            rule["tone_map"] = source.hdr
        if source.interlaced:
            rule["deinterlace"] = True
        if source.track:
            rule["track"] = source.track
        if source.channel is not None:
            rule["channel"] = source.channel
        if source.mixed:
            rule["mixed"] = [list(m) for m in source.mixed]
        return hashlib.sha256(json.dumps(rule, sort_keys=True).encode()).hexdigest()


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
    top_k = policy.clips_for(duration)  # more for long videos
    for name, spec in policy.platforms.items():
        taken = 0
        for seg in platform_ranking(segments, name):
            if taken == top_k:
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
            key = (seg["rank"], round(start, 3), round(end, 3), spec.width, spec.height, spec.caption_bottom,
                   policy.captions.style_for(spec))
            job = jobs.setdefault(key, ClipJob(seg["rank"], start, end, spec, trimmed=trimmed))
            job.platforms.append(name)
            job.eager = job.eager or taken < policy.render_top
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


def clip_id(video: str, platform: str, start: float, end: float) -> str:
    """A clip's id: its video, platform and a hash of the ranked span it shows (to the millisecond). It stays the same
    when the video is re-ranked or re-rendered, so ratings and on-demand renders follow the clip, not its rank."""
    digest = hashlib.sha256(f"{video}|{platform}|{start:.3f}|{end:.3f}".encode()).hexdigest()[:8]
    return f"{video}:{platform}:{digest}"


# Platforms play at most 60 frames a second (Instagram takes 23-60): a phone's 120 or 240 fps slow motion, or a 144 fps
# game capture, is cut at a whole fraction of its rate under this, every second or fourth frame kept, so motion stays
# even and the encode does not carry frames no viewer sees.
MAX_CLIP_FPS = 60.0


def clip_rate(fps: float) -> float:
    """The frame rate clips of a `fps` source are cut at: the source's, or its largest whole fraction up to
    MAX_CLIP_FPS (240 -> 60, 100 -> 50, 144 -> 48)."""
    if fps <= MAX_CLIP_FPS + 0.01:  # 60 and 59.94 as they are
        return fps
    return fps / math.ceil(fps / MAX_CLIP_FPS - 1e-6)


@dataclass(frozen=True)
class SourceVideo:
    path: Path  # a local file to read (under S3, this node's cached copy)
    width: int
    height: int
    fps: float
    duration: float
    has_audio: bool
    stored: str = ""  # where the source is stored, the same on every node: what a render's signature names
    has_video: bool = True  # False: a recording without a picture, rendered as audiograms
    cover: bool = False  # it carries cover art (an attached picture), which its audiograms show
    hdr: str | None = None  # "pq" or "hlg" for HDR video, which clips and thumbnails map to SDR
    interlaced: bool = False  # fields, not frames (1080i): clips and thumbnails are deinterlaced
    track: int = 0  # the sound track clips carry: the one transcribed (the `audio` table's `track`)
    channel: int | None = None  # its one channel clips carry where its two cancel out in mono (`audio.channel`)
    # Other tracks (track, channel) mixed in with it, as transcribed: speakers on tracks of their own
    # (`audio.mixed_tracks`).
    mixed: tuple[tuple[int, int | None], ...] = ()

    @property
    def frame(self) -> tuple[int, int] | None:
        """The picture's size as probed, which crops are planned on; None without a picture."""
        return (self.width, self.height) if self.has_video and self.width and self.height else None

    @property
    def identity(self) -> str:
        return self.stored or str(self.path)

    @classmethod
    def from_row(cls, path: Path, row: dict, sound: dict | None = None) -> SourceVideo:
        """The source as the `source_video` table describes it, read from `path` (a local copy), with the sound the
        `audio` table's row (`sound`) says was transcribed: its `track`, its `channel` where it has one, and the
        tracks mixed in with it."""
        from ai_assets.ingest.source_video import has_cover_art

        track, channel = (sound or {}).get("track") or 0, (sound or {}).get("channel")
        mixed = tuple((m["track"], m["channel"]) for m in (sound or {}).get("mixed_tracks") or ())

        if not row["has_video"]:
            return cls(path, 0, 0, AUDIOGRAM_FPS, row["duration"], row["has_audio"], row["media_path"], False,
                       has_cover_art(row["streams"]), track=track, channel=channel, mixed=mixed)
        return cls(path, row["width"], row["height"], clip_rate(row["fps"]), row["duration"], row["has_audio"],
                   row["media_path"], hdr=row.get("hdr"), interlaced=bool(row.get("interlaced")), track=track,
                   channel=channel, mixed=mixed)


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
    caption_style: str = "none"  # cue, word_highlight or word_pop as burned in; none without burned captions
    encoder: str = "libx264"  # the video encoder that made it
    encoder_note: str | None = None  # why it is not the one the policy asked for
    picture_note: str | None = None  # why an audiogram shows no cover art although the file has one


def _layout(spec: PlatformSpec, source: SourceVideo, samples: list[FaceSample],
            policy: ClipPolicy) -> tuple[str, tuple | None]:
    """The clip's layout from its own face samples, and for the two-speaker layout the two faces to stack."""
    crop = crop_size(source.width, source.height, *ASPECTS[spec.aspect])
    if crop == (source.width - source.width % 2, source.height - source.height % 2):
        return "full", None
    coverage = sum(s.cx is not None for s in samples) / len(samples) if samples else 0.0
    if coverage < MIN_FACE_COVERAGE:
        return policy.reframe.no_face_layout, None
    rule = policy.reframe
    pair = stacked_pair(samples, rule.layout, rule.quick_turn_seconds, rule.overlap_share,
                        MIN_STACKED_FACE * source.height)
    if pair is not None:
        return "two-speaker", pair
    return ("active-speaker" if any(s.switch_at is not None for s in samples) else "face-track"), None


@dataclass(frozen=True)
class _Planned:
    """One job ready to encode: its cut, layout, crop path and captions; its SRT already written."""

    job: ClipJob
    cut: ClipCut
    layout: str
    path: CropPath | None
    cues: int
    burned: bool
    output: ClipOutput
    caption_style: str = "none"
    picture_note: str | None = None


def _plan_render(job: ClipJob, source: SourceVideo, words: list[dict], cut_times: list[float], policy: ClipPolicy,
                 out_dir: Path, font: Path | None, samples: list[FaceSample], scratch: Path) -> _Planned:
    spec, rule = job.spec, policy.reframe
    cut = ClipCut.snap(job.start, job.end, source.fps)
    here = clip_words(words, cut.start, cut.start + cut.duration)
    if policy.pauses.remove:  # the crop path and the words stay on the span's clock; the output drops the pauses
        cut = replace(cut, kept=kept_frames(here, cut.frames, cut.fps, policy.pauses.min_seconds,
                                            policy.pauses.keep_seconds))
    own = [s for s in samples if s.time < cut.duration]
    layout, pair = _layout(spec, source, own, policy) if source.has_video else ("audiogram", None)
    path: CropPath | None = None
    if layout not in ("blur", "audiogram"):
        clip_samples = [] if layout == "centre" else own
        local_cuts = [t - cut.start for t in cut_times if cut.start < t < cut.start + cut.duration]
        # A change of speaker is a cut, not a pan.
        local_cuts += [s.switch_at for s in clip_samples if s.switch_at is not None and s.switch_at > 0]
        path = plan_crop(clip_samples, source.width, source.height, ASPECTS[spec.aspect], spec.width, cut.fps,
            cut.frames, local_cuts, rule.dead_zone, rule.ease_seconds, rule.max_speed)

    captions = policy.captions
    mode = captions.style_for(spec)
    stack = ()
    bottom = spec.caption_bottom
    if pair is not None:
        stack = stack_crops(pair, source.width, source.height, spec.width, spec.height)
        # Captions on the seam between the two faces: the block's middle at half height (lines ~1.25 em apart).
        block = 1.25 * spec.width * captions.font_scale * captions.max_lines
        bottom = max(0.0, 0.5 - block / 2 / spec.height)
    if font:  # a font with glyphs for what is said: Chinese or Hindi captions drawn with DejaVu would be boxes
        font = font_for(" ".join(w.text for w in here), font)
    style = CaptionStyle.for_frame(font, spec.width, spec.height, captions.font_scale, bottom,
        captions.outline_share, mode=mode, text_colour=captions.text_colour, highlight_colour=captions.highlight_colour,
        outline_colour=captions.outline_colour, pop_scale=captions.pop_scale, pop_words=captions.pop_words,
    ) if font else None
    fits = style.fits() if style else (lambda text: len(text) <= 42)
    # Cues are grouped on the span's clock, so a cut pause still ends a cue, then follow the cut.
    cues = remap_cues(group_cues(here, fits, captions.max_lines, captions.max_cue_seconds,
                                 captions.pause_break_seconds), cut.kept, cut.fps)
    burn = bool(captions.burn_in and style and cues)
    write_bytes_atomic(out_dir / f"{job.stem}.srt", to_srt(cues).encode())
    output = ClipOutput(out_dir / f"{job.stem}.mp4", spec.width, spec.height, keep_path(path, cut.kept),
                        to_ass(cues, spec.width, spec.height, style) if burn else None,
                        _font_dir(font, scratch) if burn else None,
                        stack)
    note = None
    if layout == "audiogram":
        # The picture stays clear of the captions' block (lines ~1.25 em apart), wherever the platform puts it.
        block = 1.25 * spec.width * captions.font_scale * captions.max_lines
        frame = audiogram_frame(spec.width, spec.height, spec.height * (1 - bottom) - block, source.cover)
        still = None
        if frame.cover is not None:
            still = scratch / f"{job.stem}.png"
            try:
                compose_still(source.path, still, frame)
            except RenderError as exc:  # a damaged cover costs the picture, not the clip
                note, still = f"cover art unreadable, plain background ({one_line(exc, 200)})", None
                frame = audiogram_frame(spec.width, spec.height, spec.height * (1 - bottom) - block, False)
        output = replace(output, audiogram=frame, still=still, wave_colour=captions.text_colour)
    return _Planned(job, cut, layout, path, len(cues), burn, output, mode if burn else "none", note)


def _finish(planned: _Planned, source: SourceVideo, policy: ClipPolicy, out_dir: Path,
            samples: list[FaceSample], encoder: str, encoder_note: str | None) -> RenderedClip:
    """Thumbnail and signature for an encoded job."""
    job, cut, path = planned.job, planned.cut, planned.path
    thumb_path = out_dir / f"{job.stem}.jpg"
    spec = job.spec
    if planned.output.audiogram is not None:  # nothing in the source to show: a frame of the audiogram itself
        render_thumbnail(planned.output.target, thumb_path, cut.out_duration / 3, spec.width, spec.height,
                         (0, 0, spec.width, spec.height))
    else:
        at = thumbnail_time(samples, cut.duration)
        frame = min(cut.frames - 1, round(at * cut.fps))
        crop = (int(path.xs[frame]), int(path.ys[frame]), path.width, path.height) if path is not None else None
        render_thumbnail(source.path, thumb_path, cut.start + at, spec.width, spec.height, crop,
                         planned.output.stack, source.hdr, source.interlaced, source.frame)
    jitter, coverage = (path.jitter, path.face_coverage) if path is not None else (0.0, 0.0)
    write_bytes_atomic(out_dir / f"{job.stem}.json", json.dumps({
        "signature": job.signature(policy, source), "layout": planned.layout,
        "cues": planned.cues, "burned": planned.burned, "jitter": jitter, "face_coverage": coverage,
        "caption_style": planned.caption_style, "kept": cut.kept, "encoder": encoder,
        "picture_note": planned.picture_note, "fps": cut.fps}).encode())
    return RenderedClip(job, cut, planned.layout, jitter, coverage, planned.output.target,
                        out_dir / f"{job.stem}.srt", thumb_path, planned.cues, planned.burned, planned.caption_style,
                        encoder, encoder_note, planned.picture_note)


def _font_dir(font: Path, scratch: Path) -> Path:
    """A folder holding only the caption font, for libass: it reads every file of the folder it is given, and Noto's
    is 268 files (42 MB, 0.05-0.08 s and 44 MB more per render). The font's own folder if a link cannot be made."""
    folder = scratch / f"font-{font.stem}"
    try:
        folder.mkdir(exist_ok=True)
        link = folder / font.name
        if not link.exists():
            link.symlink_to(font.resolve())
        return folder
    except OSError:
        return font.parent


def render_jobs(
    jobs: list[ClipJob], source: SourceVideo, words: list[dict], cut_times: list[float], policy: ClipPolicy,
    out_dir: Path, font: Path | None, samples: list[FaceSample],
) -> list[RenderedClip]:
    """Jobs over the same frames (a 9:16 and a 1:1 version of one segment) encoded from one decode."""
    # Audiograms' composed stills and the caption font's folder, until encoded.
    with tempfile.TemporaryDirectory(prefix="stills-") as scratch:
        return _render_jobs(jobs, source, words, cut_times, policy, out_dir, font, samples, Path(scratch))


def _render_jobs(
    jobs: list[ClipJob], source: SourceVideo, words: list[dict], cut_times: list[float], policy: ClipPolicy,
    out_dir: Path, font: Path | None, samples: list[FaceSample], scratch: Path,
) -> list[RenderedClip]:
    planned = [_plan_render(job, source, words, cut_times, policy, out_dir, font, samples, scratch) for job in jobs]
    groups: dict[ClipCut, list[_Planned]] = {}
    for item in planned:
        groups.setdefault(item.cut, []).append(item)
    encoder, note = choose_encoder(policy.encoder)
    made_by: dict[ClipCut, tuple[str, str | None]] = {}
    for cut, group in groups.items():
        outputs = [item.output for item in group]
        encoding = Encoding(policy.preset, policy.crf, threads=step_threads(), codec=encoder)
        try:
            render_outputs(source.path, cut, outputs, encoding, source.has_audio, source.hdr, source.interlaced,
                           source.frame, source.track, source.channel, source.mixed)
            made_by[cut] = encoder, note
        except RenderError as exc:
            if encoder == "libx264":
                raise
            # The GPU's encoder refused this one (its sessions all taken, a driver fault): the CPU encodes it.
            render_outputs(source.path, cut, outputs, replace(encoding, codec="libx264"), source.has_audio,
                           source.hdr, source.interlaced, source.frame, source.track, source.channel, source.mixed)
            made_by[cut] = "libx264", f"h264_nvenc failed on this clip ({one_line(exc, 200)})"
    return [_finish(item, source, policy, out_dir, samples, *made_by[item.cut]) for item in planned]


def render_job(
    job: ClipJob, source: SourceVideo, words: list[dict], cut_times: list[float], policy: ClipPolicy, out_dir: Path,
    font: Path | None, samples: list[FaceSample],
) -> RenderedClip:
    [clip] = render_jobs([job], source, words, cut_times, policy, out_dir, font, samples)
    return clip


def thumbnail_time(samples: list[FaceSample], duration: float) -> float:
    """The biggest face in the clip's first half, else a third of the way in."""
    faces = [s for s in samples if s.cx is not None and s.time < duration / 2]
    return max(faces, key=lambda s: s.size).time if faces else duration / 3


def _tracks(starts: list[float], jobs: list[ClipJob], source: SourceVideo, policy: ClipPolicy,
            words: list[dict] = (), cut_times: list[float] = (),
            turns: list[tuple[float, float]] = ()) -> dict[float, list[FaceSample]]:
    """Face samples for each start in `starts`, on its own clock, over the longest job from it. Spans that overlap
    are tracked once as their union (a platform's rank 1 often overlaps another's), and each start gets its part.
    Where two or more faces are seen, each clip follows the speaking one (speech from `words`, diarization
    `turns`, all in source seconds). A source without a picture has no faces to track."""
    if not source.has_video:
        return {start: [] for start in starts}
    spans = sorted(((ClipCut.snap(start, max(j.end for j in jobs if j.start == start), source.fps), start)
                    for start in starts), key=lambda span: span[0].start)
    merged: list[tuple[float, float, list[tuple[ClipCut, float]]]] = []
    for cut, start in spans:
        end = cut.start + cut.duration
        if merged and cut.start < merged[-1][1]:
            lo, hi, members = merged[-1]
            merged[-1] = (lo, max(hi, end), [*members, (cut, start)])
        else:
            merged.append((cut.start, end, [(cut, start)]))
    rule = policy.reframe
    speech = speech_regions(words) if words else None
    out: dict[float, list[FaceSample]] = {}
    for lo, hi, members in merged:
        samples = track_faces(source.path, lo, hi, rule.track_fps, rule.detector,
                              [t - lo for t in cut_times if lo < t < hi], source.frame)
        for cut, start in members:
            offset, clip_end = cut.start - lo, cut.start + cut.duration

            def clock(spans, at=cut.start, until=clip_end):
                return [(a - at, b - at) for a, b in spans if b > at and a < until]

            mine = [replace(s, time=round(s.time - offset, 3)) for s in samples
                    if offset - 1e-6 <= s.time < offset + cut.duration]
            out[start], _ = follow_speakers(mine, clock(speech) if speech is not None else None, clock(turns),
                                            [t - cut.start for t in cut_times if cut.start < t < clip_end])
    return out


def existing_render(job: ClipJob, source: SourceVideo, policy: ClipPolicy, out_dir: Path) -> RenderedClip | None:
    """An earlier render of exactly this job (made on demand), or None."""
    try:
        made = json.loads((out_dir / f"{job.stem}.json").read_text())
    except (OSError, ValueError):
        return None
    files = [out_dir / f"{job.stem}.{ext}" for ext in ("mp4", "srt", "jpg")]
    if made.get("signature") != job.signature(policy, source) or not all(f.is_file() for f in files):
        return None
    cut = replace(ClipCut.snap(job.start, job.end, source.fps), kept=tuple(map(tuple, made.get("kept", []))))
    # Made at another frame rate (before a variable-rate source was probed at its camera's rate): its kept frames
    # count in other frames. A render from before the rate was recorded is checked by its frame count.
    if "fps" in made:
        if abs(float(made["fps"]) - source.fps) > 1e-6:
            return None
    elif source.has_video and _frames_or_none(files[0]) != cut.out_frames:
        return None
    return RenderedClip(job, cut, made["layout"], made["jitter"], made["face_coverage"], *files, made["cues"],
                        made["burned"], made.get("caption_style", "none"), made.get("encoder", "libx264"),
                        picture_note=made.get("picture_note"))


def _frames_or_none(video: Path) -> int | None:
    try:
        return video_frames(video)
    except (RenderError, OSError):
        return None


def render_clips(
    jobs: list[ClipJob], source: SourceVideo, words: list[dict], cut_times: list[float], policy: ClipPolicy,
    out_dir: Path, font: Path | None, turns: list[tuple[float, float]] = (), progress=None,
) -> tuple[list[RenderedClip], list[ClipJob]]:
    """Render the eager jobs (faces tracked once per segment, shared by its platforms) and keep on-demand renders
    that still match their job; returns those and the jobs left unrendered (an eager one that failed says why in
    `render_error`; only when every eager render fails does this raise). Files of clips no longer planned, or
    rendered under other settings, are removed. `progress(done, total, clips)` hears each segment's renders as
    they are written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered, deferred = [], []
    by_start: dict[float, list[ClipJob]] = {}
    for job in jobs:
        if job.eager:
            by_start.setdefault(job.start, []).append(job)
            continue
        kept = existing_render(job, source, policy, out_dir)
        if kept is not None and job.held and not _made_on_demand(out_dir, job):
            kept = None  # rendered before its clip was held (under safety_mode publish): not published now
        if kept is None:
            deferred.append(job)
        else:
            rendered.append(kept)
    tracks = _tracks(list(by_start), jobs, source, policy, words, cut_times, turns)
    first_error: RenderError | None = None
    for done, (start, same_start) in enumerate(by_start.items(), 1):
        # A clip ffmpeg refuses costs that clip, not the others: the span's jobs are tried again one by one, and one
        # that still fails is left unrendered with its reason (`ai-assets render` can try it again later).
        try:
            made = render_jobs(same_start, source, words, cut_times, policy, out_dir, font, tracks[start])
        except RenderError as exc:
            first_error, made = first_error or exc, []
            # Alone, each may go through; not a single job (the same render again) or a hung one (twice the wait).
            retry = len(same_start) > 1 and not isinstance(exc, RenderTimeout)
            for job in same_start:
                try:
                    if not retry:
                        raise exc
                    made += render_jobs([job], source, words, cut_times, policy, out_dir, font, tracks[start])
                except RenderError as alone:
                    job.render_error = one_line(alone)
                    deferred.append(job)
        rendered += made
        if progress:
            progress(done, len(by_start), made)
    if first_error is not None and not any(clip.job.eager for clip in rendered):
        # Nothing could be rendered: the asset fails (and is retried) as before, saying in one line what refused.
        # ffmpeg's own last lines are often a decoder's complaints about the source, not the cause.
        raise _in_one_line(first_error) from first_error
    rendered.sort(key=lambda clip: (clip.job.rank, clip.job.stem))
    keep = {f"{r.job.stem}.{ext}" for r in rendered for ext in ("mp4", "srt", "jpg", "json")}
    for old in out_dir.iterdir():
        if CLIP_FILE.match(old.name) and old.name not in keep:
            old.unlink()
    return rendered, deferred


def _in_one_line(exc: RenderError) -> RenderError:
    """The same failure in one line: "ffmpeg failed rendering clip x.mp4: crop@reframe0: Invalid ..." (`one_line`)."""
    if isinstance(exc, RenderTimeout):
        return exc  # already one line
    doing, cause = str(exc).split(": ", 1)[0], one_line(exc)
    return RenderError(cause if cause.startswith(doing) else f"{doing}: {cause}")


def _made_on_demand(out_dir: Path, job: ClipJob) -> bool:
    try:
        return bool(json.loads((out_dir / f"{job.stem}.json").read_text()).get("on_demand"))
    except (OSError, ValueError):
        return False


def render_one(job: ClipJob, jobs: list[ClipJob], source: SourceVideo, words: list[dict], cut_times: list[float],
               policy: ClipPolicy, out_dir: Path, font: Path | None,
               turns: list[tuple[float, float]] = ()) -> RenderedClip:
    """Render one planned job now (on demand), unless an identical render is already there."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = existing_render(job, source, policy, out_dir)
    if clip is None:
        samples = _tracks([job.start], jobs, source, policy, words, cut_times, turns)[job.start]
        clip = render_job(job, source, words, cut_times, policy, out_dir, font, samples)
    # Asked for by a person: for a clip held for review, this render is the review that lets it out.
    made = json.loads((out_dir / f"{job.stem}.json").read_text())
    write_bytes_atomic(out_dir / f"{job.stem}.json", json.dumps({**made, "on_demand": True}).encode())
    return clip
