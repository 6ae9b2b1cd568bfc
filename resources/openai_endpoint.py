"""Settings every OpenAI-compatible endpoint shares: where, the key, limits and prices."""

import dagster as dg
from pydantic import Field


class OpenAIEndpoint(dg.ConfigurableResource):
    base_url: str | None = Field(default=None,
        description="e.g. https://api.openai.com/v1; unset means local fallbacks only.")
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
        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "unused", timeout=self.timeout_s,
            max_retries=0)
