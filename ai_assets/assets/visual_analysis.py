"""visual_analysis: local OpenCV signals for every keyframe, plus VLM descriptions when an endpoint is configured."""

from collections import Counter

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import ON_CHANGE, TRANSIENT
from ai_assets.assets.outputs import table_output
from ai_assets.assets.policies import vision_vlm
from ai_assets.code_version import code_version
from ai_assets.partitions import videos
from ai_assets.policy.views import view_version
from ai_assets.storage.tables import to_table
from ai_assets.vision.visual_analysis import analyse_keyframes
from ai_assets.vision.vlm import PROMPT_VERSION, describe
from resources import MediaStore, MetricsResource
from resources.policies import PolicyResource
from resources.vlm import VlmResource


@dg.asset(
    partitions_def=videos, group_name="vision", code_version=code_version(__name__), kinds={"opencv"},
    deps=[vision_vlm], automation_condition=ON_CHANGE, pool="llm", retry_policy=TRANSIENT,
)
def visual_analysis(
    context: dg.AssetExecutionContext, keyframes: pa.Table, vlm: VlmResource, policies: PolicyResource,
    media_store: MediaStore, metrics: MetricsResource
) -> dg.Output[pa.Table]:
    """Faces (count, boxes, largest-face centre), motion energy, brightness, contrast, sharpness,
    colourfulness, on-screen text likelihood and shot type per keyframe; with a VLM, also a
    description, objects, on-screen text and visual interest. A failing VLM degrades, never fails, the run."""
    stored = keyframes.to_pylist()
    policy = policies.current("vision")
    with metrics.track(context) as row:
        # The images as local files (downloaded once per node under S3); the table keeps their stored locations.
        frames = [f | {"path": str(media_store.local(f["path"]))} for f in stored]
        location_of = {f["path"]: s["path"] for f, s in zip(frames, stored, strict=True)}
        rows = analyse_keyframes(frames)
        row.policy_version, row.policy_sha256 = policy.version, policy.sha256
        row.model, row.params = "opencv-haar", {"keyframes": len(rows)}
        answers, degraded = {}, "no VLM endpoint configured"
        if vlm.configured and frames:
            settings = vlm.settings(policy.parsed().max_images_per_call)
            result = describe(vlm.client(), frames, settings, vlm.cache())
            answers, degraded = result.by_phash, result.degraded
            row.model = f"opencv-haar+{vlm.model}"
            row.params |= {"vlm_calls": result.calls, "vlm_cached": result.cached, "input_tokens": result.input_tokens,
                           "output_tokens": result.output_tokens, "cost_usd": result.cost_usd(settings),
                           "prompt_version": PROMPT_VERSION}
        row.params["degraded"] = degraded
    for out, frame in zip(rows, sorted(frames, key=lambda f: f["time"]), strict=False):
        answer = answers.get(frame["phash"], {})
        out |= {"path": location_of[out["path"]], "vlm_description": answer.get("description"),
                "vlm_objects": answer.get("objects"), "vlm_text": answer.get("on_screen_text"),
                "vlm_interest": answer.get("visual_interest")}
    shots = Counter(r["shot_type"] for r in rows)
    return table_output(
        to_table("visual_analysis", [{"video": context.partition_key, **r} for r in rows]),
        metadata={"keyframes": len(rows), "with_faces": sum(r["faces"] > 0 for r in rows),
                  "shot_types": dg.MetadataValue.json(dict(shots)),
                  "degraded": degraded or False, "described": sum(r["vlm_description"] is not None for r in rows),
                  **{k: v for k, v in row.params.items() if k in ("vlm_calls", "vlm_cached", "cost_usd")}},
        used=view_version("vision_vlm", policy.body),
        row=row,
    )
