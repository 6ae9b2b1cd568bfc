"""Keyframe descriptions from any OpenAI-compatible vision endpoint, cached, batched, bounded, degradable.

- Cache: one JSON file per (phash, model, prompt version), so a rerun or a duplicate frame costs no call.
- Batches: up to `max_images_per_call` images in one chat completion that must answer strict JSON.
- Concurrency: at most `max_concurrency` calls in flight.
- Failures: timeouts, connection errors, 429 and 5xx are retried with exponential backoff and
  jitter while the retry budget lasts; what still fails is left to the local signals, and the
  result says why (`degraded`).
"""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ai_assets.language.llm import CallSettings, CallTally, JsonCache, chat_json

PROMPT_VERSION = "frames-v1"
PROMPT = (
    "You are given {n} video keyframes, in order, numbered from 0. For each one return an object with "
    '"index" (int), "description" (one sentence), "objects" (list of short nouns), "on_screen_text" '
    '(text visible in the frame, or ""), and "visual_interest" (0 to 1: how likely this frame is to '
    'hold a viewer\'s attention in a short clip). Answer with JSON only: {{"frames": [...]}}.'
)
FIELDS = ("description", "objects", "on_screen_text", "visual_interest")


@dataclass(frozen=True)
class VlmSettings(CallSettings):
    max_images_per_call: int = 50


@dataclass
class VlmResult(CallTally):
    by_phash: dict[str, dict] = field(default_factory=dict)


class VlmCache(JsonCache):
    """Answers by frame phash."""

    def __init__(self, folder: Path, model: str):
        super().__init__(folder, model, PROMPT_VERSION)


def describe(client, frames: list[dict], settings: VlmSettings, cache: VlmCache) -> VlmResult:
    """Descriptions for frames ({phash, path}); cached answers are reused, duplicates asked once."""
    result = VlmResult()
    todo: dict[str, str] = {}
    for frame in frames:
        if frame["phash"] in result.by_phash or frame["phash"] in todo:
            continue
        hit = cache.get(frame["phash"])
        if hit is not None:
            result.by_phash[frame["phash"]] = hit
            result.cached += 1
        else:
            todo[frame["phash"]] = frame["path"]
    items = list(todo.items())
    batches = [items[i : i + settings.max_images_per_call] for i in range(0, len(items), settings.max_images_per_call)]
    deadline = time.monotonic() + settings.retry_budget_s
    with ThreadPoolExecutor(max_workers=settings.max_concurrency) as pool:
        outcomes = list(pool.map(lambda batch: _ask(client, batch, settings, deadline), batches))
    for batch, (answers, usage, error) in zip(batches, outcomes, strict=True):
        result.calls += usage["calls"]
        result.input_tokens += usage["input"]
        result.output_tokens += usage["output"]
        if error:
            result.degraded = error
            continue
        for (phash, _), answer in zip(batch, answers, strict=False):
            cache.put(phash, answer)
            result.by_phash[phash] = answer
    return result


def _ask(client, batch: list[tuple[str, str]], settings: VlmSettings, deadline: float):
    content = [{"type": "text", "text": PROMPT.format(n=len(batch))}]
    for _, path in batch:
        data = base64.b64encode(Path(path).read_bytes()).decode()
        content.append({"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}})
    messages = [{"role": "user", "content": content}]
    text, usage, error = chat_json(client, settings.model, messages, deadline, settings.backoff_s)
    if error:
        return None, usage, error
    try:
        return _parse(text, len(batch)), usage, None
    except ValueError as exc:
        return None, usage, f"unusable answer: {exc}"


def _parse(text: str | None, expected: int) -> list[dict]:
    try:
        frames = json.loads(text or "")["frames"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError("not the requested JSON object") from None
    by_index = {f.get("index"): f for f in frames if isinstance(f, dict)}
    if sorted(by_index) != list(range(expected)):
        raise ValueError(f"expected frames 0..{expected - 1}, got {sorted(k for k in by_index if k is not None)}")
    answers = []
    for i in range(expected):
        frame = by_index[i]
        interest = float(frame.get("visual_interest", 0.0))
        answers.append({
            "description": str(frame.get("description", "")),
            "objects": [str(o) for o in frame.get("objects", [])][:20],
            "on_screen_text": str(frame.get("on_screen_text", "")),
            "visual_interest": min(1.0, max(0.0, interest)),
        })
    return answers
