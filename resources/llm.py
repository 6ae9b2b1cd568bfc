"""An OpenAI-compatible text endpoint for clip copy and content moderation; optional."""

from pathlib import Path

from pydantic import Field

from resources.openai_endpoint import OpenAIEndpoint


class LlmResource(OpenAIEndpoint):
    moderation_model: str | None = Field(
        default="omni-moderation-latest",
        description="The moderation endpoint's model; None skips moderation (the lexicon still runs)."
    )

    def copy_settings(self):
        from ai_assets.language.clip_copy import CopySettings

        return CopySettings(
            model=self.model, max_concurrency=self.max_concurrency, retry_budget_s=self.retry_budget_s,
            backoff_s=self.backoff_s,
            input_cost_per_mtok=self.input_cost_per_mtok, output_cost_per_mtok=self.output_cost_per_mtok,
        )

    def copy_cache(self):
        from ai_assets.language.clip_copy import CopyCache

        return CopyCache(Path(self.cache_dir), self.model)
