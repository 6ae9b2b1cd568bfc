"""clips: the top segments rendered for each platform, reframed, captioned, with a thumbnail each."""

import os

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE, TRANSIENT
from ai_assets.assets.outputs import markdown_table, table_output
from ai_assets.assets.policies import clip_policy
from ai_assets.code_version import code_version
from ai_assets.language.sentences import sentences
from ai_assets.partitions import videos
from ai_assets.policy.views import view_version
from ai_assets.render.audiogram import AUDIOGRAM_FPS
from ai_assets.render.clips import SourceVideo, clip_id, plan_jobs, platform_ranking, render_clips
from ai_assets.render.encode import ClipCut, preview_data_uri
from ai_assets.render.review import hold
from ai_assets.review import DEFAULT_REVIEW_URL, REVIEW_URL_ENV
from ai_assets.storage.tables import to_table
from resources import ClipStore, MetricsResource
from resources.policies import PolicyResource

MAX_PREVIEWS = 8  # inline thumbnails kept in the event log with every materialization: a few KB each


@dg.asset(
    partitions_def=videos, group_name="render", code_version=code_version(__name__), kinds={"ffmpeg"},
    deps=[clip_policy], automation_condition=ON_CHANGE, pool="encode", retry_policy=TRANSIENT,
)
def clips(
    context: dg.AssetExecutionContext, source_video: pa.Table, audio: pa.Table, transcript: pa.Table,
    diarization: pa.Table, segments: pa.Table, keyframes: pa.Table, clip_store: ClipStore, policies: PolicyResource,
    metrics: MetricsResource,
) -> dg.Output[pa.Table]:
    """MP4 (H.264/AAC), SRT and JPEG thumbnail per clip under clips/(video)/: cut on exact frames, reframed to
    each platform's aspect following the face (or a blurred layout without one), captions burned in. The policy's
    `render_top` per platform are rendered now; the other rows say `rendered` false until `ai-assets render`."""
    video = source_video.to_pylist()[0]
    policy = policies.current("clip")
    rule = policy.parsed()
    rows, rendered, deferred, skipped, held, previews = [], [], [], [], {}, {}
    folder = clip_store.folder(context.partition_key)
    stored = lambda path: clip_store.objects.location_in(folder, path.name)  # noqa: E731
    segment_rows = segments.to_pylist()
    with metrics.track(context) as row:
        row.policy_version, row.policy_sha256, row.model = policy.version, policy.sha256, "ffmpeg-libx264"
        # A recording without a picture (a podcast) gets audiograms: its cover art, a waveform and the captions.
        if segment_rows:
            transcript_rows = transcript.to_pylist()
            words = [w for seg in transcript_rows for w in seg["words"] or []]
            jobs, skipped = plan_jobs(segment_rows, sentences(transcript_rows), rule, video["duration"])
            # Clips moderation could not check wait for review under safety_mode "hold": planned, not rendered.
            held = hold(jobs, lambda job: [platform_ranking(segment_rows, p)[job.rank - 1] for p in job.platforms],
                rule.safety_mode)
            # Sound from the track that was transcribed, so the captions match what is heard.
            source = SourceVideo.from_row(clip_store.objects.local(video["media_path"]), video, audio.to_pylist()[0])
            cut_times = sorted({k["time"] for k in keyframes.to_pylist() if k["reason"] == "scene_start"
                and k["time"] > 0})
            with clip_store.objects.synced_dir(folder) as out_dir:
                # Diarization turns tell the crop when the voice changes, so a change of speaker cuts on time.
                turns = [(t["start"], t["end"]) for t in diarization.to_pylist()]

                def progress(done: int, total: int, made: list) -> None:  # rendering is the longest step
                    context.log.info(f"clips: segment {done} of {total} rendered: "
                                     + ", ".join(f"{c.video_path.name} ({c.cut.out_duration:.1f} s)" for c in made))

                rendered, deferred = render_clips(jobs, source, words, cut_times, rule, out_dir, clip_store.font(),
                                                  turns, progress)
                # Read while the files are still here: under S3 the folder is uploaded and dropped on exit.
                previews = {c.video_path.name: preview_data_uri(c.thumbnail_path) for c in rendered[:MAX_PREVIEWS]}
        for job, clip in [(c.job, c) for c in rendered] + [(j, None) for j in deferred]:
            cut = clip.cut if clip else ClipCut.snap(job.start, job.end, video["fps"] or AUDIOGRAM_FPS)
            for platform in job.platforms:
                segment = platform_ranking(segment_rows, platform)[job.rank - 1]
                rows.append({
                    "video": context.partition_key,
                    "clip_id": clip_id(context.partition_key, platform, segment["start"], segment["end"]),
                    "platform": platform, "rank": job.rank, "start": round(cut.start, 4),
                    # duration and frames are the clip's own: less any pauses cut out (the policy's `pauses`).
                    "end": round(cut.start + cut.duration, 4), "duration": round(cut.out_duration, 4),
                    "frames": cut.out_frames, "fps": cut.fps, "width": job.spec.width, "height": job.spec.height,
                    "aspect": job.spec.aspect, "rendered": clip is not None,
                    "layout": clip.layout if clip else "not rendered", "jitter": clip.jitter if clip else None,
                    "face_coverage": clip.face_coverage if clip else None, "trimmed": job.trimmed,
                    "captions_burned": clip.captions_burned if clip else False,
                    "caption_style": clip.caption_style if clip else None,
                    "caption_cues": clip.cues if clip else None, "path": stored(clip.video_path) if clip else None,
                    "srt_path": stored(clip.srt_path) if clip else None,
                    "thumbnail_path": stored(clip.thumbnail_path) if clip else None,
                    "score": segment["score"], "text": segment["text"],
                    "moderation": segment.get("moderation"), "held_reason": None if clip else held.get(job.stem),
                    "render_error": None if clip else job.render_error,
                    "policy_version": policy.version, "policy_sha256": policy.sha256,
                })
        rows.sort(key=lambda r: (r["rank"], r["platform"]))
        encoders = sorted({c.encoder for c in rendered})
        encoder_notes = sorted({c.encoder_note for c in rendered if c.encoder_note})
        picture_notes = sorted({c.picture_note for c in rendered if c.picture_note})
        if encoders:
            row.model = "+".join(f"ffmpeg-{name}" for name in encoders)
        row.audio_seconds = sum(c.cut.duration for c in rendered)
        failed = sorted({f"{j.stem}: {j.render_error}" for j in deferred if j.render_error})
        row.params = {"renders": len(rendered), "rows": len(rows), "not_rendered": len(deferred), "failed": failed,
            "skipped": len(skipped), "preset": rule.preset, "crf": rule.crf, "render_top": rule.render_top,
            "encoder": rule.encoder, "encoders_used": encoders, "encoder_notes": encoder_notes}
    jitters = [c.jitter for c in rendered if c.layout == "face-track"]
    review = f"{os.environ.get(REVIEW_URL_ENV, DEFAULT_REVIEW_URL).rstrip('/')}/videos/{context.partition_key}"
    shown = [{"thumbnail": f"![rank {c.job.rank}]({previews[c.video_path.name]})" if previews.get(c.video_path.name)
              else f"[review page]({review})", "rank": c.job.rank, "platforms": ", ".join(c.job.platforms),
              "seconds": c.cut.out_duration, "layout": c.layout, "file": c.video_path.name} for c in rendered]
    return table_output(
        to_table("clips", rows),
        metadata={
            "clips": len(rows), "renders": len(rendered), "not_rendered": len(deferred),
            "held_for_review": sum(r["held_reason"] is not None for r in rows),
            # Renders ffmpeg refused while the others were made: each clip's stem and ffmpeg's last line.
            **({"render_errors": dg.MetadataValue.json(failed)} if failed else {}),
            "folder": folder,
            "max_jitter_px_s": max(jitters, default=0.0),
            # Which encoder made the clips (the policy's `encoder`), and why it is not the one asked for.
            "encoders": dg.MetadataValue.json(encoders),
            "encoder_notes": dg.MetadataValue.json(encoder_notes),
            # Audiograms whose cover art could not be read, and so show a plain background.
            **({"picture_notes": dg.MetadataValue.json(picture_notes)} if picture_notes else {}),
            "layouts": dg.MetadataValue.json(sorted({c.layout for c in rendered})),
            "skipped": dg.MetadataValue.json(skipped), "policy_version": policy.version, "policy_sha256": policy.sha256,
            # Thumbnails inline (the UI's markdown shows data: images); the review page plays and rates them.
            "rendered": markdown_table(shown, {"thumbnail": "thumbnail", "rank": "#", "platforms": "platforms",
                "seconds": "seconds", "layout": "layout", "file": "file"}, markdown=("thumbnail",))
            if rendered else "nothing rendered",
            "review": dg.MetadataValue.url(review),
        },
        used=view_version("clip_policy", policy.body),
        row=row,
    )
