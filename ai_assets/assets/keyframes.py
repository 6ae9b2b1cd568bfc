"""keyframes: scene cuts and deduplicated frames, sampled as the vision policy says."""

from dataclasses import asdict
from pathlib import Path

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE
from ai_assets.assets.outputs import table_output
from ai_assets.assets.policies import vision_policy
from ai_assets.code_version import code_version
from ai_assets.partitions import videos
from ai_assets.policy.views import view_version
from ai_assets.storage.tables import to_table
from ai_assets.vision.keyframes import scan_video
from resources import MediaStore, MetricsResource
from resources.policies import PolicyResource


@dg.asset(
    partitions_def=videos, group_name="vision", code_version=code_version(__name__), kinds={"opencv"},
    deps=[vision_policy], automation_condition=ON_CHANGE, pool="encode",
)
def keyframes(
    context: dg.AssetExecutionContext, source_video: pa.Table, media_store: MediaStore, policies: PolicyResource,
    metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """One JPEG per scene start plus samples at the policy's rate, near-duplicates dropped by perceptual hash."""
    video = source_video.to_pylist()[0]
    policy = policies.current("vision")
    vision = policy.parsed()
    used = view_version("vision_policy", policy.body)
    rows = []
    with metrics.track(context) as row:
        row.policy_version, row.policy_sha256 = policy.version, policy.sha256
        if video["has_video"]:
            objects = media_store.objects
            frames_folder = objects.location_in(media_store.folder(video["sha256"]), f"keyframes/{used[:12]}")
            with objects.output_dir(frames_folder) as frames_dir:
                scan = scan_video(objects.local(video["media_path"]), frames_dir, vision.sample_fps,
                    vision.phash_max_distance, vision.scene_threshold)
            rows = [{"video": context.partition_key, **asdict(k),
                     "path": objects.location_in(frames_folder, Path(k.path).relative_to(frames_dir).as_posix()),
                     "width": scan.width, "height": scan.height,
                     "policy_version": policy.version, "policy_sha256": policy.sha256} for k in scan.keyframes]
            row.params = {"cuts": len(scan.cuts), "frames_decoded": scan.frames_decoded,
                          "duplicates_dropped": scan.duplicates_dropped, "damaged_packets": scan.damaged_packets,
                          "sample_fps": vision.sample_fps, "scene_threshold": vision.scene_threshold}
        row.model, row.audio_seconds = "pyscenedetect-content", video["duration"]
    metadata = {"keyframes": len(rows), "policy_version": policy.version, "policy_sha256": policy.sha256,
        **(row.params or {})}
    if video["has_video"]:
        metadata["cuts_s"] = dg.MetadataValue.json(scan.cuts)
        metadata["damaged"] = (f"{scan.damaged_packets} damaged video packets skipped; keyframes and cuts come from "
                               "the rest" if scan.damaged_packets else "")
    return table_output(to_table("keyframes", rows), metadata=metadata, used=used, row=row)
