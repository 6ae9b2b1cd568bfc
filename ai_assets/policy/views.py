"""What each stage actually uses of a policy: its view, and the version of that view.

A policy document governs several stages, and not every field matters to every stage. The transcript
of a video depends on the rule of that video's complexity class and on the multilingual model, not on
the rules of other classes, nor on execution settings such as the batch size. Each view below names
the fields one stage's output depends on; its version, a hash of exactly those fields, is the data
version of the observable source the stage depends on. So a policy edit makes stale exactly the
(stage, video) pairs whose view changed.

Output-neutral fields are left out of every view; tests show equal outputs across their values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from ai_assets.policy.documents import SCHEMAS, canonical

# Fields that change how a stage runs, never what it makes (tests/speech/test_transcript_engine.py decodes real
# speech at several batch sizes and gets equal segments and word times).
NEUTRAL_FIELDS = {"asr": ("classes.<class>.batch_size",)}


@dataclass(frozen=True)
class View:
    name: str  # the observable source asset that carries its version
    domain: str
    consumers: tuple[str, ...]
    per_video: bool  # depends on the video's complexity class
    fields: Callable[[object, str | None], dict]
    description: str


def _asr_rule(asr, complexity: str | None) -> dict:
    rule = asr.rule_for(complexity).model_dump(mode="json", exclude={"batch_size"})
    return {"rule": rule, "multilingual_model": asr.multilingual_model,
            "healing": asr.healing.model_dump(mode="json")}


def _only(*names: str) -> Callable[[object, str | None], dict]:
    def pick(policy, _complexity: str | None) -> dict:
        dumped = policy.model_dump(mode="json")
        return {name: dumped[name] for name in names}

    return pick


# Fields that came after their policy, with the value that leaves the view of every earlier policy as it was: at that
# value they are left out, so an upgrade changes no view (and re-renders nothing); any other value is in the view.
LATER_FIELDS = {"clip": {"encoder": "auto", "per_hour": 10}, "segment": {"per_hour": 30, "max_repeat": 0.3}}


def _without_later_defaults(domain: str, dumped: dict) -> dict:
    return {k: v for k, v in dumped.items() if k not in LATER_FIELDS[domain] or LATER_FIELDS[domain][k] != v}


def _all_but(*names: str) -> Callable[[object, str | None], dict]:
    def pick(policy, _complexity: str | None) -> dict:
        return policy.model_dump(mode="json", exclude=set(names))

    return pick


def _segment_ranking(policy, _complexity: str | None) -> dict:
    """The whole segment policy but `copy_top_k` (clip_copy's), and its later fields at their first values."""
    return _without_later_defaults("segment", policy.model_dump(mode="json", exclude={"copy_top_k"}))


def _clip_rendering(policy, _complexity: str | None) -> dict:
    """The whole clip policy, its later fields at their first values left out (`encoder` auto: the machine picks)."""
    return _without_later_defaults("clip", policy.model_dump(mode="json"))


VIEWS: dict[str, View] = {view.name: view for view in (
    View("asr_policy", "asr", ("transcript", "transcript_shadow"), True, _asr_rule,
         "The asr rule of each video's complexity class (batch size excluded), the multilingual model and the "
         "healing rule; one data version per video."),
    View("asr_thresholds", "asr", ("audio_profile",), False, _only("thresholds"),
         "The asr policy's thresholds that sort audio into complexity classes."),
    View("vision_policy", "vision", ("keyframes",), False,
         _only("sample_fps", "phash_max_distance", "scene_threshold"),
         "How keyframes are sampled: rate, duplicate distance and scene-cut threshold."),
    View("vision_vlm", "vision", ("visual_analysis",), False, _only("max_images_per_call"),
         "How many keyframes go to the vision-language model per call."),
    View("embed_policy", "embed", ("transcript_embeddings",), False, _all_but(),
         "The sentence-embedding model and window."),
    View("segment_policy", "segment", ("segments",), False, _segment_ranking,
         "Ranking weights, lengths, safety and overlap rules."),
    View("segment_copy", "segment", ("clip_copy",), False, _only("copy_top_k"),
         "How many top segments per platform get a title, description and hashtags."),
    View("clip_policy", "clip", ("clips",), False, _clip_rendering,
         "Rendering: platforms, framing, captions, encoding, how many clips."),
)}

# Which view each stage depends on.
VIEW_OF: dict[str, str] = {asset: view.name for view in VIEWS.values() for asset in view.consumers}


def view_body(name: str, body: dict, complexity: str | None = None) -> dict:
    """The fields of a policy document `body` that view `name` covers (for a video of class `complexity`)."""
    view = VIEWS[name]
    if view.per_video and complexity is None:
        raise ValueError(f"{name} depends on the video's complexity class; none given")
    parsed = SCHEMAS[view.domain].model_validate(body)
    return view.fields(parsed, complexity)


def view_version(name: str, body: dict, complexity: str | None = None) -> str:
    """A short hash of the view: equal exactly when everything the consuming stages use is equal."""
    data = canonical({"view": name, "fields": view_body(name, body, complexity)})
    return hashlib.sha256(data.encode()).hexdigest()[:16]
