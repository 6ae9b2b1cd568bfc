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
import hashlib
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ai_assets.files import write_bytes_atomic

PROMPT_VERSION = "frames-v1"
PROMPT = (
    "You are given {n} video keyframes, in order, numbered from 0. For each one return an object with "
    '"index" (int), "description" (one sentence), "objects" (list of short nouns), "on_screen_text" '
    '(text visible in the frame, or ""), and "visual_interest" (0 to 1: how likely this frame is to '
    'hold a viewer\'s attention in a short clip). Answer with JSON only: {{"frames": [...]}}.'
)
FIELDS = ("description", "objects", "on_screen_text", "visual_interest")


@dataclass(frozen=True)
class VlmSettings:
    model: str
    max_images_per_call: int = 50
    max_concurrency: int = 4
    retry_budget_s: float = 30.0
    backoff_s: float = 1.0
    input_cost_per_mtok: float = 0.15
    output_cost_per_mtok: float = 0.60


@dataclass
class VlmResult:
    by_phash: dict[str, dict] = field(default_factory=dict)
    calls: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    degraded: str | None = None

    def cost_usd(self, settings: VlmSettings) -> float:
        return round(self.input_tokens / 1e6 * settings.input_cost_per_mtok + self.output_tokens / 1e6 * settings.output_cost_per_mtok, 6)


class VlmCache:
    def __init__(self, folder: Path, model: str):
        self.folder = folder / hashlib.sha256(f"{model}|{PROMPT_VERSION}".encode()).hexdigest()[:16]

    def get(self, phash: str) -> dict | None:
        path = self.folder / f"{phash}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def put(self, phash: str, answer: dict) -> None:
        write_bytes_atomic(self.folder / f"{phash}.json", json.dumps(answer).encode())


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
    for batch, (answers, usage, error) in zip(batches, outcomes):
        result.calls += usage["calls"]
        result.input_tokens += usage["input"]
        result.output_tokens += usage["output"]
        if error:
            result.degraded = error
            continue
        for (phash, _), answer in zip(batch, answers):
            cache.put(phash, answer)
            result.by_phash[phash] = answer
    return result


def _ask(client, batch: list[tuple[str, str]], settings: VlmSettings, deadline: float):
    import openai

    content = [{"type": "text", "text": PROMPT.format(n=len(batch))}]
    for _, path in batch:
        data = base64.b64encode(Path(path).read_bytes()).decode()
        content.append({"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}})
    usage = {"calls": 0, "input": 0, "output": 0}
    attempt = 0
    while True:
        usage["calls"] += 1
        try:
            response = client.chat.completions.create(
                model=settings.model, messages=[{"role": "user", "content": content}], response_format={"type": "json_object"}
            )
            if response.usage:
                usage["input"] += response.usage.prompt_tokens or 0
                usage["output"] += response.usage.completion_tokens or 0
            return _parse(response.choices[0].message.content, len(batch)), usage, None
        except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
            reason = f"{type(exc).__name__}" + (f" {exc.status_code}" if getattr(exc, "status_code", None) else "")
        except openai.APIStatusError as exc:  # 4xx other than 429: retrying will not help
            return None, usage, f"endpoint refused the request ({exc.status_code})"
        except ValueError as exc:
            return None, usage, f"unusable answer: {exc}"
        wait = settings.backoff_s * 2**attempt * (0.5 + random.random() / 2)
        if time.monotonic() + wait > deadline:
            return None, usage, f"{reason} after {usage['calls']} attempts; retry budget spent"
        time.sleep(wait)
        attempt += 1


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
