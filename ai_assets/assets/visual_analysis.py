"""visual_analysis: local OpenCV signals for every keyframe."""

from collections import Counter

import dagster as dg
import pyarrow as pa

from ai_assets.assets.automation import EAGER
from ai_assets.partitions import videos
from ai_assets.tables import to_table
from ai_assets.visual import analyse_keyframes
from resources import MetricsResource


@dg.asset(partitions_def=videos, group_name="vision", code_version="1", kinds={"opencv"}, automation_condition=EAGER)
def visual_analysis(context: dg.AssetExecutionContext, keyframes: pa.Table, metrics: MetricsResource) -> dg.Output[pa.Table]:
    """Faces (count, boxes, largest-face centre), motion energy, brightness, contrast, sharpness,
    colourfulness, on-screen text likelihood and shot type, per keyframe."""
    with metrics.track(context) as row:
        rows = analyse_keyframes(keyframes.to_pylist())
        row.model, row.params = "opencv-haar", {"keyframes": len(rows)}
        row.policy_version = keyframes.column("policy_version")[0].as_py() if keyframes.num_rows else None
        row.policy_sha256 = keyframes.column("policy_sha256")[0].as_py() if keyframes.num_rows else None
    shots = Counter(r["shot_type"] for r in rows)
    return dg.Output(
        to_table("visual_analysis", [{"video": context.partition_key, **r} for r in rows]),
        metadata={"keyframes": len(rows), "with_faces": sum(r["faces"] > 0 for r in rows), "shot_types": dg.MetadataValue.json(dict(shots))},
    )
