"""`ai-assets render CLIP_ID`: render a clip the `clips` asset planned but left for on demand."""

from __future__ import annotations

import sys


def render_command(clip_id: str) -> int:

    from ai_assets.definitions import build_resources
    from ai_assets.ingest.partition_keys import is_video_key, key_problem
    from ai_assets.language.sentences import sentences
    from ai_assets.render.clips import SourceVideo, plan_jobs, render_one
    from ai_assets.render.encode import RenderError
    from ai_assets.storage.settings import Layout
    from resources.lake import lake_location

    video_key, _, rest = clip_id.partition(":")
    if not is_video_key(video_key):
        print(f"error: {key_problem(video_key)}", file=sys.stderr)
        return 2
    if rest.count(":") != 1:
        print(f"error: {clip_id!r} is not a clip id (VIDEO:PLATFORM:HASH, as in the clips table)", file=sys.stderr)
        return 2
    layout = Layout.from_env()
    objects = layout.objects()
    tables = {}
    for asset in ("source_video", "audio", "transcript", "segments", "keyframes", "clips"):
        location = lake_location(objects, asset, video_key)
        if not objects.exists(location):
            print(f"error: {video_key} has no {asset} yet: process the video first", file=sys.stderr)
            return 1
        tables[asset] = objects.read_table(location).to_pylist()
    row = next((r for r in tables["clips"] if r["clip_id"] == clip_id), None)
    if row is None:
        print(f"error: no clip {clip_id} in the clips table (see `ai-assets feedback --list`)", file=sys.stderr)
        return 1
    if row.get("held_reason"):  # rendering a held clip by hand is the review that lets it out
        print(f"note: this clip was held for review ({row['held_reason']}); rendering it as asked", file=sys.stderr)
    resources = build_resources(layout)
    policy = resources["policies"].current("clip")
    if policy.sha256 != row["policy_sha256"]:
        print(f"note: the clip policy changed since the clips were planned (v{row['policy_version']} -> "
              f"v{policy.version}); rendering with v{policy.version}", file=sys.stderr)
    rule = policy.parsed()
    [video] = tables["source_video"]
    jobs, _ = plan_jobs(tables["segments"], sentences(tables["transcript"]), rule, video["duration"])
    job = next((j for j in jobs if j.rank == row["rank"] and row["platform"] in j.platforms), None)
    if job is None:
        print(f"error: the current clip policy plans no clip {clip_id}", file=sys.stderr)
        return 1
    words = [w for seg in tables["transcript"] for w in seg["words"] or []]
    diarized = lake_location(objects, "diarization", video_key)
    turns = [(t["start"], t["end"]) for t in objects.read_table(diarized).to_pylist()] \
        if objects.exists(diarized) else []
    cut_times = sorted({k["time"] for k in tables["keyframes"] if k["reason"] == "scene_start" and k["time"] > 0})
    source = SourceVideo.from_row(objects.local(video["media_path"]), video, tables["audio"][0])
    store = resources["clip_store"]
    folder = store.folder(video_key)
    try:
        with objects.synced_dir(folder) as out_dir:
            clip = render_one(job, jobs, source, words, cut_times, rule, out_dir, store.font(), turns)
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(objects.location_in(folder, clip.video_path.name))
    print(f"  {clip.cut.duration:.2f} s, {clip.layout}, {clip.cues} captions; also {clip.srt_path.name} and "
          f"{clip.thumbnail_path.name}. The clips table says rendered on its next materialization.")
    return 0
