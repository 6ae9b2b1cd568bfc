"""The Dagster instance shared by the CLI and `dagster dev`, so the UI shows CLI runs too."""

from __future__ import annotations

import os

import dagster as dg

from ai_assets.storage.settings import Layout


def get_instance(layout: Layout) -> dg.DagsterInstance:
    """$DAGSTER_HOME when set, else a persistent instance under $AI_ASSETS_HOME/dagster_home."""
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    from dagster._core.instance.ref import InstanceRef

    layout.dagster_home.mkdir(parents=True, exist_ok=True)
    config = layout.dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(layout.dagster_home)))
