"""An OpenAI-compatible vision endpoint for keyframe descriptions; optional."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from ai_assets.vlm import VlmCache, VlmSettings


class VlmResource(dg.ConfigurableResource):
    base_url: str | None = Field(default=None, description="e.g. https://api.openai.com/v1; unset means local signals only.")
    api_key: str | None = Field(default=None, description="Give it through EnvVar; never logged.")
    model: str = "gpt-4o-mini"
    cache_dir: str
    timeout_s: float = 30.0
    max_concurrency: int = 4
    retry_budget_s: float = 30.0
    backoff_s: float = 1.0
    input_cost_per_mtok: float = Field(0.15, description="USD per million input tokens, for the cost estimate.")
    output_cost_per_mtok: float = 0.60

    @property
    def configured(self) -> bool:
        return bool(self.base_url)

    def client(self):
        import openai

        # Retries are ours (bounded by a budget), so the client's own are off.
        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "unused", timeout=self.timeout_s, max_retries=0)

    def settings(self, max_images_per_call: int) -> VlmSettings:
        return VlmSettings(
            model=self.model, max_images_per_call=max_images_per_call, max_concurrency=self.max_concurrency,
            retry_budget_s=self.retry_budget_s, backoff_s=self.backoff_s,
            input_cost_per_mtok=self.input_cost_per_mtok, output_cost_per_mtok=self.output_cost_per_mtok,
        )

    def cache(self) -> VlmCache:
        return VlmCache(Path(self.cache_dir), self.model)
