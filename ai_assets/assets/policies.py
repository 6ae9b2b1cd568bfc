"""The policy views as observable sources: asr_policy (per video), asr_thresholds, vision_policy, vision_vlm,
embed_policy, segment_policy, segment_copy and clip_policy.

Each one's data version is the hash of exactly the policy fields its consuming stages use
(ai_assets/policy/views.py). A policy edit changes the versions of the views it touches, and only
the stages behind those views become stale; an execution-only edit (a batch size) changes none.
asr_policy has one version per video, from the rule of that video's complexity class.
"""

import warnings

import dagster as dg

from ai_assets.partitions import videos
from ai_assets.policy.history import decisions_markdown, history_markdown
from ai_assets.policy.views import VIEWS, View, view_body, view_version
from resources.policies import PolicyResource

# The tag Dagster reads an observation's data version from (an observation logged by a stage has no other way
# to carry one).
DATA_VERSION_TAG = "dagster/data_version"


def policy_source(view: View) -> dg.SourceAsset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # observable sources are the documented way
        return _per_video(view) if view.per_video else _single(view)


def _single(view: View) -> dg.SourceAsset:
    @dg.observable_source_asset(
        name=view.name, group_name="policies",
        description=f"{view.description} Data version: a hash of these {view.domain} policy fields; read by "
        f"{', '.join(view.consumers)}.",
    )
    def observe(policies: PolicyResource) -> dg.ObserveResult:
        history = policies.store().history(view.domain)
        current = history[-1]
        return dg.ObserveResult(
            data_version=dg.DataVersion(view_version(view.name, current.body)),
            metadata={
                "domain": view.domain,
                "version": current.version,
                "author": current.author,
                "reason": current.reason,
                "sha256": current.sha256,
                "fields": dg.MetadataValue.json(view_body(view.name, current.body)),
                "history": dg.MetadataValue.md(history_markdown(history)),
                **({"optimizer_decisions": dg.MetadataValue.md(decisions_markdown(policies.store().decisions(
                    view.domain, limit=5)))} if view.domain == "asr" else {}),
            },
        )

    return observe


def _per_video(view: View) -> dg.SourceAsset:
    @dg.observable_source_asset(
        name=view.name, group_name="policies", partitions_def=videos,
        description=f"{view.description} Data version per video: a hash of the fields for that video's class; "
        f"read by {', '.join(view.consumers)}. audio_profile records it when it classes a video.",
    )
    def observe(context, policies: PolicyResource) -> dg.DataVersionsByPartition:
        body = policies.current(view.domain).body
        keys = [context.partition_key] if context.has_partition_key else context.instance.get_dynamic_partitions(
            videos.name)
        classes = policies.classes(keys)  # videos not classed yet have no version until audio_profile runs
        versions = {}
        for key, cls in classes.items():
            try:
                versions[key] = dg.DataVersion(view_version(view.name, body, cls))
            except KeyError:  # a class this policy has no rule for: that video alone stays unobserved
                context.log.warning(f"{key}: no asr rule for class {cls!r}; its asr_policy version is not updated")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)  # the documented way to version partitions of a source
            return dg.DataVersionsByPartition(versions)

    return observe


def class_observation(partition: str, body: dict, complexity: str) -> dg.AssetObservation:
    """asr_policy's version for a video just classed, logged by audio_profile so that transcript, which starts
    after it, records the rule of the class it is decoded with."""
    return dg.AssetObservation(asset_key="asr_policy", partition=partition,
        tags={DATA_VERSION_TAG: view_version("asr_policy", body, complexity)})


POLICY_ASSETS = [policy_source(view) for view in VIEWS.values()]
_BY_NAME = {source.key.to_user_string(): source for source in POLICY_ASSETS}
asr_policy, asr_thresholds = _BY_NAME["asr_policy"], _BY_NAME["asr_thresholds"]
vision_policy, vision_vlm = _BY_NAME["vision_policy"], _BY_NAME["vision_vlm"]
embed_policy, clip_policy = _BY_NAME["embed_policy"], _BY_NAME["clip_policy"]
segment_policy, segment_copy = _BY_NAME["segment_policy"], _BY_NAME["segment_copy"]
