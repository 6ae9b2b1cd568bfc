"""The Dagster code location: `dagster dev -w workspace.yaml` loads `defs` from here."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dagster as dg

from ai_assets.assets import ALL_ASSETS
from ai_assets.assets.checks import TRANSCRIPT_CHECKS
from ai_assets.jobs import (
    compact_metrics,
    intake_uploads,
    observe_policies,
    process_video,
)
from ai_assets.ranking.feedback import feedback_folder
from ai_assets.storage.models import allow_download_from_env
from ai_assets.storage.settings import S3_ENDPOINT_ENV, Layout
from resources import ClipStore, LakeIOManager, MediaStore, MetricsResource, TextEmbedder, UploadSource, WhisperResource
from resources.llm import LlmResource
from resources.optimizer import OptimizerConfig
from resources.policies import PolicyResource
from resources.s3 import LazyS3Resource
from resources.speakers import SpeakerEncoderResource
from resources.storage import StorageRoot
from resources.vlm import VlmResource
from schedules import SCHEDULES
from sensors.optimization import optimization_sensor
from sensors.retries import missed_retry_sensor
from sensors.uploads import upload_sensor

# Dagster 1.13 copies every sensor through its own beta `owners` parameter when it resolves jobs; nothing of ours.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition",
    category=dg.BetaWarning)
# Runs what the automation conditions request: policy and code changes and their downstream reruns. A tick costs the
# daemon ~1.7 s of CPU with a dozen videos (more with more partitions): every 30 s that was 6 % of a core taken from
# the runs; a policy change waiting up to a minute for its reruns is no loss.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60
)


def s3_resource() -> LazyS3Resource:
    """S3 client settings from the environment; credentials only through EnvVar."""
    secrets = {}
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        secrets = {
            "aws_access_key_id": dg.EnvVar("AWS_ACCESS_KEY_ID"),
            "aws_secret_access_key": dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        }
    return LazyS3Resource(
        endpoint_url=os.environ.get(S3_ENDPOINT_ENV),
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        **secrets,
    )


def endpoint_settings(prefix: str, cache_dir: Path) -> dict:
    """An OpenAI-compatible endpoint from `<prefix>_BASE_URL`, `_API_KEY` and `_MODEL`; the key only through EnvVar."""
    settings = {"cache_dir": str(cache_dir), "model": os.environ.get(f"{prefix}_MODEL", "gpt-4o-mini")}
    for field, suffix in (("base_url", "BASE_URL"), ("api_key", "API_KEY")):
        if os.environ.get(f"{prefix}_{suffix}"):
            settings[field] = dg.EnvVar(f"{prefix}_{suffix}")
    return settings


def with_endpoint_kinds(assets: list, llm: LlmResource, vlm: VlmResource) -> list:
    """The `openai` kind only on the steps that will call an endpoint, by the same test the steps make: copy and
    moderation (unless its model is off) with an LLM endpoint, visual analysis with a VLM endpoint."""
    calls = {"clip_copy": llm.configured, "safety": llm.configured and bool(llm.moderation_model),
             "visual_analysis": vlm.configured}
    return [
        dg.map_asset_specs(lambda spec: spec.merge_attributes(kinds={"openai"}), [a])[0]
        if calls.get(a.key.to_user_string()) else a
        for a in assets
    ]


def vlm_resource(layout: Layout) -> VlmResource:
    return VlmResource(**endpoint_settings("AI_ASSETS_VLM", layout.home / "vlm_cache"))


def llm_resource(layout: Layout) -> LlmResource:
    """Clip copy and moderation; AI_ASSETS_MODERATION_MODEL set empty turns moderation off."""
    settings = endpoint_settings("AI_ASSETS_LLM", layout.home / "llm_cache")
    if "AI_ASSETS_MODERATION_MODEL" in os.environ:
        settings["moderation_model"] = os.environ["AI_ASSETS_MODERATION_MODEL"] or None
    if os.environ.get("AI_ASSETS_LLM_RESPONSE_FORMAT"):
        settings["response_format"] = os.environ["AI_ASSETS_LLM_RESPONSE_FORMAT"]
    if os.environ.get("AI_ASSETS_LLM_MAX_TOKENS"):
        settings["max_output_tokens"] = int(os.environ["AI_ASSETS_LLM_MAX_TOKENS"])
    return LlmResource(**settings)


def storage_root(layout: Layout) -> StorageRoot:
    """The lake, originals, keyframes and clips: $AI_ASSETS_STORAGE (s3://bucket/prefix) or the home folder."""
    return StorageRoot(url=layout.storage_url, s3_endpoint_url=os.environ.get(S3_ENDPOINT_ENV) or None,
        region=os.environ.get("AWS_DEFAULT_REGION") or None, cache_dir=str(layout.object_cache))


def build_resources(layout: Layout) -> dict:
    allow_download = allow_download_from_env()
    storage = storage_root(layout)
    return {
        "io_manager": LakeIOManager(storage=storage),
        "media_store": MediaStore(storage=storage),
        "clip_store": ClipStore(storage=storage, caption_font=os.environ.get("AI_ASSETS_CAPTION_FONT") or None),
        "metrics": MetricsResource(db_path=str(layout.metrics_db), spool_dir=str(layout.metrics_spool)),
        "policies": PolicyResource(db_path=str(layout.metrics_db), storage=storage),
        "optimizer": OptimizerConfig(feedback_dir=str(feedback_folder(layout))),
        "uploads": UploadSource(
            local_dir=str(layout.uploads),
            intake_dir=str(layout.intake),
            s3_bucket=os.environ.get("AI_ASSETS_S3_BUCKET") or None,
            s3_prefix=os.environ.get("AI_ASSETS_S3_PREFIX", ""),
        ),
        "s3": s3_resource(),
        # cuda on GPU nodes (with the policy's compute_type float16); the rule's model may then be a larger one
        "whisper": WhisperResource(cache_dir=str(layout.model_cache), allow_download=allow_download,
            device=os.environ.get("AI_ASSETS_WHISPER_DEVICE") or "cpu"),
        "embedder": TextEmbedder(cache_dir=str(layout.model_cache), allow_download=allow_download),
        "vlm": vlm_resource(layout),
        "llm": llm_resource(layout),
        "speakers": SpeakerEncoderResource(),
    }


def build_defs(layout: Layout | None = None) -> dg.Definitions:
    layout = layout or Layout.from_env()
    resources = build_resources(layout)
    return dg.Definitions(
        assets=with_endpoint_kinds(ALL_ASSETS, resources["llm"], resources["vlm"]),
        asset_checks=TRANSCRIPT_CHECKS,
        jobs=[process_video, observe_policies,
            compact_metrics, intake_uploads], sensors=[upload_sensor, optimization_sensor, automation_sensor,
                                                        missed_retry_sensor],
        schedules=SCHEDULES,
        resources=resources,
        executor=dg.in_process_executor,
    )


defs = build_defs()
