"""One JSON chat completion against any OpenAI-compatible endpoint, retried inside a time budget.

Shared by the keyframe describer and the clip copywriter so both degrade the same way: timeouts,
connection errors, 429 and 5xx are retried with exponential backoff and jitter until the shared
deadline; other 4xx and unusable responses give up at once. Errors are returned, never raised,
and name only the exception type and status code, so no request detail (the API key above all)
can reach a log or an asset's metadata.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from ai_assets.storage.files import write_bytes_atomic

# How much of a model's refusal to keep in the reason; it is only there to explain the fallback.
REFUSAL_CHARS = 200


def chat_json(client, model: str, messages: list[dict], deadline: float, backoff_s: float):
    """(content or None, usage, error or None) for one chat completion that must answer a JSON object.

    `deadline` is a time.monotonic() value shared by every call of a run, so one slow endpoint cannot
    stretch a run past its retry budget however many calls it makes. The first attempt is always made.
    """
    import openai

    usage = {"calls": 0, "input": 0, "output": 0}
    attempt = 0
    while True:
        usage["calls"] += 1
        try:
            response = client.chat.completions.create(model=model, messages=messages,
                response_format={"type": "json_object"})
            if response.usage:
                usage["input"] += response.usage.prompt_tokens or 0
                usage["output"] += response.usage.completion_tokens or 0
            if not response.choices:
                return None, usage, "unusable response (no choices)"
            message = response.choices[0].message
            refusal = getattr(message, "refusal", None)
            if refusal and not message.content:
                return None, usage, f"model refused: {str(refusal)[:REFUSAL_CHARS]}"
            return message.content, usage, None
        except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
            openai.InternalServerError) as exc:
            reason = f"{type(exc).__name__}" + (f" {exc.status_code}" if getattr(exc, "status_code", None) else "")
        except openai.APIStatusError as exc:  # 4xx other than 429: retrying will not help
            return None, usage, f"endpoint refused the request ({exc.status_code})"
        except openai.APIError as exc:  # e.g. a 200 whose body is not a chat completion
            return None, usage, f"unusable response ({type(exc).__name__})"
        wait = backoff_s * 2**attempt * (0.5 + random.random() / 2)
        if time.monotonic() + wait > deadline:
            return None, usage, f"{reason} after {usage['calls']} attempts; retry budget spent"
        time.sleep(wait)
        attempt += 1


@dataclass(frozen=True)
class CallSettings:
    """Which model, how many calls at once, how long to keep retrying, and what tokens cost."""

    model: str
    max_concurrency: int = 4
    retry_budget_s: float = 30.0
    backoff_s: float = 1.0
    input_cost_per_mtok: float = 0.15
    output_cost_per_mtok: float = 0.60


@dataclass
class CallTally:
    """What a run's calls cost, and why it fell back, if it did."""

    calls: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    degraded: str | None = None

    def cost_usd(self, settings: CallSettings) -> float:
        """USD at the settings' `input_cost_per_mtok` and `output_cost_per_mtok`."""
        return round(
            self.input_tokens / 1e6 * settings.input_cost_per_mtok
            + self.output_tokens / 1e6 * settings.output_cost_per_mtok, 6,
        )


class JsonCache:
    """One JSON file per key, in a folder per (model, prompt version), written atomically."""

    def __init__(self, folder: Path, model: str, prompt_version: str):
        self.folder = folder / hashlib.sha256(f"{model}|{prompt_version}".encode()).hexdigest()[:16]

    def get(self, key: str) -> dict | None:
        path = self.folder / f"{key}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def put(self, key: str, answer: dict) -> None:
        write_bytes_atomic(self.folder / f"{key}.json", json.dumps(answer).encode())
