"""An OpenAI-compatible text endpoint for clip copy and content moderation; optional."""

from pathlib import Path
from typing import Literal

from pydantic import Field

from resources.openai_endpoint import OpenAIEndpoint


class LlmResource(OpenAIEndpoint):
    moderation_model: str | None = Field(
        default="omni-moderation-latest",
        description="The moderation endpoint's model; None skips moderation (the lexicon still runs)."
    )
    response_format: Literal["json_object", "json_schema", "json_object_schema"] = Field(
        default="json_object",
        description="How clip copy asks for JSON: OpenAI's JSON mode (any server); json_schema (OpenAI structured "
        "outputs, vLLM, Ollama, llama-server); json_object_schema (llama-cpp-python's server, llama-server)."
    )
    max_output_tokens: int | None = Field(default=None, gt=0,
        description="Most tokens per answer; unset leaves it to the endpoint.")

    def copy_settings(self):
        from ai_assets.language.clip_copy import CopySettings

        return CopySettings(
            model=self.model, max_concurrency=self.max_concurrency, retry_budget_s=self.retry_budget_s,
            backoff_s=self.backoff_s, response_format=self.response_format, max_output_tokens=self.max_output_tokens,
            input_cost_per_mtok=self.input_cost_per_mtok, output_cost_per_mtok=self.output_cost_per_mtok,
        )

    def copy_cache(self):
        from ai_assets.language.clip_copy import CopyCache

        return CopyCache(Path(self.cache_dir), self.model)
