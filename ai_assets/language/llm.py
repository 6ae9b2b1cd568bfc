"""One JSON chat completion against any OpenAI-compatible endpoint, retried inside a time budget.

Shared by the keyframe describer, the clip copywriter and moderation (`with_retries`), so all degrade
the same way: timeouts, connection errors, 429 and 5xx are retried with exponential backoff and jitter
until the shared deadline; other 4xx and unusable responses give up at once. Errors are returned, never raised,
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
# How an error given up on for time ends: the endpoint kept failing for the whole budget.
BUDGET_SPENT = "retry budget spent"


def with_retries(call, deadline: float, backoff_s: float):
    """(call()'s value or None, attempts, error or None): `call` is retried on timeouts, connection errors, 429
    and 5xx with exponential backoff and jitter until `deadline` (a time.monotonic() value); other errors give up
    at once. The first attempt is always made. The error names only the exception type and status code."""
    import openai

    attempts = 0
    while True:
        attempts += 1
        try:
            return call(), attempts, None
        except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
            openai.InternalServerError) as exc:
            reason = f"{type(exc).__name__}" + (f" {exc.status_code}" if getattr(exc, "status_code", None) else "")
        except openai.APIStatusError as exc:  # 4xx other than 429: retrying will not help
            return None, attempts, f"endpoint refused the request ({exc.status_code})"
        except openai.APIError as exc:  # e.g. a 200 whose body is not what was asked for
            return None, attempts, f"unusable response ({type(exc).__name__})"
        wait = backoff_s * 2 ** (attempts - 1) * (0.5 + random.random() / 2)
        if time.monotonic() + wait > deadline:
            return None, attempts, f"{reason} after {attempts} attempts; {BUDGET_SPENT}"
        time.sleep(wait)


def json_response_format(mode: str, schema: dict | None, name: str = "answer") -> dict:
    """The `response_format` for `mode`: "json_object" (OpenAI's JSON mode, which every compatible server takes),
    "json_schema" (OpenAI structured outputs, also vLLM, Ollama and llama.cpp's llama-server) or
    "json_object_schema" (llama-cpp-python's server and llama-server: JSON mode constrained by a schema). The
    schema turns into a decoding grammar on local servers, which is what makes a small model answer valid JSON."""
    if schema is None or mode == "json_object":
        return {"type": "json_object"}
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    raise ValueError(f"unknown response format {mode!r}")


def chat_json(client, model: str, messages: list[dict], deadline: float, backoff_s: float,
        response_format: dict | None = None, max_tokens: int | None = None):
    """(content or None, usage, error or None) for one chat completion that must answer a JSON object.

    `deadline` is a time.monotonic() value shared by every call of a run, so one slow endpoint cannot
    stretch a run past its retry budget however many calls it makes. The first attempt is always made.
    `max_tokens` is sent only when set: some OpenAI models refuse it.
    """
    usage = {"calls": 0, "input": 0, "output": 0}
    extra = {"max_tokens": max_tokens} if max_tokens else {}

    def call():
        usage["calls"] += 1
        response = client.chat.completions.create(model=model, messages=messages,
            response_format=response_format or {"type": "json_object"}, **extra)
        if response.usage:  # tokens are spent even when the answer is unusable
            usage["input"] += response.usage.prompt_tokens or 0
            usage["output"] += response.usage.completion_tokens or 0
        return response

    response, _, error = with_retries(call, deadline, backoff_s)
    if error:
        return None, usage, error
    if not response.choices:
        return None, usage, "unusable response (no choices)"
    choice = response.choices[0]
    refusal = getattr(choice.message, "refusal", None)
    if refusal and not choice.message.content:
        return None, usage, f"model refused: {str(refusal)[:REFUSAL_CHARS]}"
    if getattr(choice, "finish_reason", None) == "length":  # a JSON object cut off mid-way is not worth parsing
        return None, usage, "answer cut off at the token limit"
    return choice.message.content, usage, None


@dataclass(frozen=True)
class CallSettings:
    """Which model, how many calls at once, how long to keep retrying, and what tokens cost."""

    model: str
    max_concurrency: int = 4
    retry_budget_s: float = 30.0
    backoff_s: float = 1.0
    input_cost_per_mtok: float = 0.15
    output_cost_per_mtok: float = 0.60
    response_format: str = "json_object"  # see json_response_format()
    max_output_tokens: int | None = None  # None: the endpoint's own limit


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
