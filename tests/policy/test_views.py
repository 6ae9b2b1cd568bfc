"""Policy views: each stage's version changes exactly when a field it uses changes."""

import copy

import pytest

from ai_assets.policy.documents import COMPLEXITY_CLASSES, DOMAINS, PolicyError, default_policy, validate
from ai_assets.policy.views import VIEW_OF, VIEWS, view_version


def versions(domain: str, body: dict) -> dict[tuple[str, str | None], str]:
    out = {}
    for view in VIEWS.values():
        if view.domain == domain:
            for cls in COMPLEXITY_CLASSES if view.per_video else (None,):
                out[(view.name, cls)] = view_version(view.name, body, cls)
    return out


def changed_views(domain: str, edit) -> set[tuple[str, str | None]]:
    body = copy.deepcopy(default_policy(domain).body)
    before = versions(domain, body)
    edit(body)
    after = versions(domain, body)
    return {k for k in before if before[k] != after[k]}


def test_batch_size_changes_no_view():
    assert changed_views("asr", lambda b: b["classes"]["clean_single"].update(batch_size=32)) == set()


def test_a_class_rule_changes_only_that_class_version():
    assert changed_views("asr", lambda b: b["classes"]["noisy"].update(beam_size=3)) == {("asr_policy", "noisy")}
    assert changed_views("asr", lambda b: b["classes"]["clean_single"]["vad"].update(threshold=0.4)) == {
        ("asr_policy", "clean_single")}


def test_the_multilingual_model_and_healing_reach_every_class_and_thresholds_only_the_profile():
    every_class = {("asr_policy", c) for c in COMPLEXITY_CLASSES}
    assert changed_views("asr", lambda b: b.update(multilingual_model="small")) == every_class
    assert changed_views("asr", lambda b: b["healing"].update(beam_size=3)) == every_class
    assert changed_views("asr", lambda b: b["thresholds"].update(clean_min_snr_db=20.0)) == {
        ("asr_thresholds", None)}


def test_copy_count_and_vlm_batch_reach_only_their_stage():
    assert changed_views("segment", lambda b: b.update(copy_top_k=1)) == {("segment_copy", None)}
    assert changed_views("segment", lambda b: b["weights"].update(hook=0.5)) == {("segment_policy", None)}
    assert changed_views("vision", lambda b: b.update(max_images_per_call=5)) == {("vision_vlm", None)}
    assert changed_views("vision", lambda b: b.update(sample_fps=2.0)) == {("vision_policy", None)}


def _leaves(body: dict, prefix: tuple = ()):
    for key, value in body.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, prefix + (key,))
        else:
            yield prefix + (key,)


def _candidates(value):
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if isinstance(value, float):
        return [value * 0.9, value * 1.1, value + 1, value - 1]
    if isinstance(value, list):
        return [value[:-1], value + value[:1]]
    if isinstance(value, str):
        return ["veryfast", "centre", "small", "float32", "publish", "#123456", "word_pop", "haar", "two_speaker",
                "libx264", value + "x"]
    if value is None:
        return ["word_pop"]
    return []


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_field_but_the_declared_neutral_ones_reaches_some_view(domain):
    """A field no view covers would never make anything stale: it must be declared neutral, with a test."""
    neutral = {("classes", c, "batch_size") for c in COMPLEXITY_CLASSES}
    for path in _leaves(default_policy(domain).body):
        if path[-1] in ("aspect", "width", "height"):  # tied together: each alone never validates
            continue
        reached = _reached_by_a_valid_edit(domain, path)
        assert bool(reached) != (path in neutral), f"{domain}.{'.'.join(path)} reaches {reached}"


def _reached_by_a_valid_edit(domain: str, path: tuple) -> set:
    body = default_policy(domain).body
    node = body
    for part in path[:-1]:
        node = node[part]
    for candidate in _candidates(node[path[-1]]):
        def edit(body, value=candidate):
            node = body
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value

        edited = copy.deepcopy(body)
        edit(edited)
        try:
            validate(domain, edited)
        except PolicyError:
            continue
        return changed_views(domain, edit)
    raise AssertionError(f"no valid edit of {domain}.{'.'.join(path)} to try")


def test_each_policy_reading_stage_has_one_view():
    assert VIEW_OF == {"transcript": "asr_policy", "transcript_shadow": "asr_policy", "audio_profile": "asr_thresholds",
                       "keyframes": "vision_policy", "visual_analysis": "vision_vlm",
                       "transcript_embeddings": "embed_policy", "segments": "segment_policy",
                       "clip_copy": "segment_copy", "clips": "clip_policy"}


def test_the_encoder_at_auto_leaves_the_clip_view_of_earlier_policies_as_it_was():
    # The default clip policy's view version from before the policy had an `encoder`: upgrading re-renders nothing.
    assert view_version("clip_policy", default_policy("clip").body) == "f953042bb5eaf202"
    assert changed_views("clip", lambda b: b.update(encoder="auto")) == set()
    assert changed_views("clip", lambda b: b.update(encoder="libx264")) == {("clip_policy", None)}
    assert changed_views("clip", lambda b: b.update(encoder="h264_nvenc")) == {("clip_policy", None)}


def test_per_hour_and_max_repeat_at_their_first_values_leave_the_views_of_earlier_policies_as_they_were():
    # The default policies' view versions from before these fields: upgrading reruns no ranking and no render.
    assert view_version("clip_policy", default_policy("clip").body) == "f953042bb5eaf202"
    assert view_version("segment_policy", default_policy("segment").body) == "d7eb311beb80fc29"
    for domain, view, first in (("clip", "clip_policy", 10), ("segment", "segment_policy", 30)):
        assert changed_views(domain, lambda b, v=first: b.update(per_hour=v)) == set()
        assert changed_views(domain, lambda b, v=first: b.update(per_hour=v + 1)) == {(view, None)}
    assert changed_views("segment", lambda b: b.update(max_repeat=0.3)) == set()
    assert changed_views("segment", lambda b: b.update(max_repeat=0.5)) == {("segment_policy", None)}
