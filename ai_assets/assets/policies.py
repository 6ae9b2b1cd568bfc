"""asr_policy, vision_policy, embed_policy, clip_policy, segment_policy: observable sources whose data version is
the policy hash.

A new policy body changes the data version, which makes the assets that depend on that domain
stale, and their eager automation condition reruns exactly those.
"""

import warnings

import dagster as dg

from ai_assets.policy.history import history_markdown
from resources.policies import PolicyResource


def policy_source(domain: str) -> dg.SourceAsset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # observable sources are the documented way
        return _define(domain)


def _define(domain: str) -> dg.SourceAsset:
    @dg.observable_source_asset(
        name=f"{domain}_policy",
        group_name="policies",
        description=f"The current {domain} policy; data version = sha256 of its canonical JSON body.",
    )
    def observe(policies: PolicyResource) -> dg.ObserveResult:
        history = policies.store().history(domain)
        current = history[-1]
        return dg.ObserveResult(
            data_version=dg.DataVersion(current.sha256),
            metadata={
                "version": current.version,
                "author": current.author,
                "reason": current.reason,
                "sha256": current.sha256,
                "body": dg.MetadataValue.json(current.body),
                "history": dg.MetadataValue.md(history_markdown(history)),
            },
        )

    return observe


asr_policy = policy_source("asr")
vision_policy = policy_source("vision")
embed_policy = policy_source("embed")
clip_policy = policy_source("clip")
segment_policy = policy_source("segment")
POLICY_ASSETS = [asr_policy, vision_policy, embed_policy, clip_policy, segment_policy]
