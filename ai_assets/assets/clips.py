"""clips: the top segments rendered for each platform, reframed, captioned, with a thumbnail each."""

from pathlib import Path

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import EAGER, TRANSIENT
from ai_assets.assets.policies import clip_policy
from ai_assets.language.sentences import sentences
from ai_assets.partitions import videos
from ai_assets.render.clips import SourceVideo, plan_jobs, platform_ranking, render_clips
from ai_assets.storage.tables import to_table
from resources import ClipStore, MetricsResource
from resources.policies import PolicyResource


@dg.asset(
    partitions_def=videos, group_name="clips", code_version="2", kinds={"ffmpeg"},
    deps=[clip_policy], automation_condition=EAGER, pool="encode", retry_policy=TRANSIENT,
)
def clips(
    context: dg.AssetExecutionContext, source_video: pa.Table, transcript: pa.Table, segments: pa.Table,
    keyframes: pa.Table, clip_store: ClipStore, policies: PolicyResource, metrics: MetricsResource,
) -> dg.Output[pa.Table]:
    """MP4 (H.264/AAC), SRT and JPEG thumbnail per clip under clips/<video>/: cut on exact frames, reframed to
    each platform's aspect following the face (or a blurred layout without one), captions burned in."""
    video = source_video.to_pylist()[0]
    policy = policies.current("clip")
    rule = policy.parsed()
    rows, rendered, skipped = [], [], []
    segment_rows = segments.to_pylist()
    with metrics.track(context) as row:
        row.policy_version, row.policy_sha256, row.model = policy.version, policy.sha256, "ffmpeg-libx264"
        if video["has_video"] and segment_rows:
            transcript_rows = transcript.to_pylist()
            words = [w for seg in transcript_rows for w in seg["words"] or []]
            jobs, skipped = plan_jobs(segment_rows, sentences(transcript_rows), rule, video["duration"])
            source = SourceVideo(Path(video["media_path"]), video["width"], video["height"], video["fps"],
                video["duration"], video["has_audio"])
            cut_times = sorted({k["time"] for k in keyframes.to_pylist() if k["reason"] == "scene_start"
                and k["time"] > 0})
            rendered = render_clips(jobs, source, words, cut_times, rule, clip_store.folder(context.partition_key),
                clip_store.font())
        for clip in rendered:
            for platform in clip.job.platforms:
                segment = platform_ranking(segment_rows, platform)[clip.job.rank - 1]
                rows.append({
                    "video": context.partition_key, "clip_id": f"{context.partition_key}:{clip.job.rank}:{platform}",
                    "platform": platform, "rank": clip.job.rank, "start": round(clip.cut.start, 4),
                    "end": round(clip.cut.start + clip.cut.duration, 4),
                    "duration": round(clip.cut.duration, 4), "frames": clip.cut.frames, "fps": clip.cut.fps,
                    "width": clip.job.spec.width, "height": clip.job.spec.height, "aspect": clip.job.spec.aspect,
                    "layout": clip.layout,
                    "jitter": clip.jitter, "face_coverage": clip.face_coverage, "trimmed": clip.job.trimmed,
                    "captions_burned": clip.captions_burned, "caption_cues": clip.cues, "path": str(clip.video_path),
                    "srt_path": str(clip.srt_path), "thumbnail_path": str(clip.thumbnail_path),
                    "score": segment["score"], "text": segment["text"],
                    "policy_version": policy.version, "policy_sha256": policy.sha256,
                })
        row.audio_seconds = sum(c.cut.duration for c in rendered)
        row.params = {"renders": len(rendered), "rows": len(rows), "skipped": len(skipped), "preset": rule.preset,
            "crf": rule.crf}
    jitters = [c.jitter for c in rendered if c.layout == "face-track"]
    return dg.Output(
        to_table("clips", rows),
        metadata={
            "clips": len(rows), "renders": len(rendered), "folder": str(clip_store.folder(context.partition_key)),
            "max_jitter_px_s": max(jitters, default=0.0),
            "layouts": dg.MetadataValue.json(sorted({c.layout for c in rendered})),
            "skipped": dg.MetadataValue.json(skipped), "policy_version": policy.version, "policy_sha256": policy.sha256,
            "files": dg.MetadataValue.md("\n".join(f"- `{c.video_path.name}` {c.cut.duration:.2f} s, {c.layout}"
                for c in rendered))
            if rendered else "nothing rendered",
        },
    )
