"""One dynamic partition per video; its keys come from ai_assets.ingest.partition_keys."""

import dagster as dg

videos = dg.DynamicPartitionsDefinition(name="videos")
