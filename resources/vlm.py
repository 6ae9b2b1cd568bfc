"""An OpenAI-compatible vision endpoint for keyframe descriptions; optional."""

from pathlib import Path

from ai_assets.vision.vlm import VlmCache, VlmSettings
from resources.openai_endpoint import OpenAIEndpoint


class VlmResource(OpenAIEndpoint):
    def settings(self, max_images_per_call: int) -> VlmSettings:
        return VlmSettings(
            model=self.model, max_images_per_call=max_images_per_call, max_concurrency=self.max_concurrency,
            retry_budget_s=self.retry_budget_s, backoff_s=self.backoff_s,
            input_cost_per_mtok=self.input_cost_per_mtok, output_cost_per_mtok=self.output_cost_per_mtok,
        )

    def cache(self) -> VlmCache:
        return VlmCache(Path(self.cache_dir), self.model)
