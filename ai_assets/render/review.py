"""Which planned clips wait for a person instead of being rendered: the ones moderation could not check.

A segment whose `moderation` is "unavailable" was judged by the local lexicon alone, because the configured
moderation endpoint did not answer for it. The clip policy's `safety_mode` decides: "hold" keeps such a clip
unrendered, listed in the clips table with the reason, until someone reviews it (`ai-assets render CLIP_ID`)
or moderation is run again; "publish" renders it as usual, still marked.
"""

from __future__ import annotations

from ai_assets.storage.tables import MODERATION_UNAVAILABLE


def held_reason(segment: dict, safety_mode: str) -> str | None:
    """Why the clip of `segment` (a segments row) is held for review, or None when it may be rendered."""
    if segment.get("moderation") != MODERATION_UNAVAILABLE or safety_mode != "hold":
        return None
    return "moderation unavailable: only the local lexicon checked this clip; held for review (safety_mode hold)"


def hold(jobs: list, segments_of, safety_mode: str) -> dict[str, str]:
    """{job stem: reason} for the jobs to hold, which are made on-demand (not eager) so nothing renders them now.
    `segments_of(job)` gives the segments rows a job shows (one per platform it serves)."""
    held = {}
    for job in jobs:
        reason = next((r for seg in segments_of(job) if (r := held_reason(seg, safety_mode))), None)
        if reason:
            job.eager, job.held = False, True
            held[job.stem] = reason
    return held
