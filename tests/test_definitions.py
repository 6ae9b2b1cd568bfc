"""The asset graph is a deliberate artifact: its shape is snapshot-tested, and Dagster validates it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from ai_assets.code_version import code_version, covered
from ai_assets.definitions import build_defs
from ai_assets.storage.settings import Layout
from tests.conftest import REPO, child_env

SNAPSHOT = Path(__file__).with_name("snapshots") / "asset_graph.json"
HEAVY_MODULES = ("torch", "faster_whisper", "sentence_transformers", "cv2", "ctranslate2", "transformers")


def graph_shape(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    shape = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        shape[key.to_user_string()] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "partitions": getattr(partitions, "name", None) or (type(partitions).__name__ if partitions else None),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            # The modules a code version covers (the hash itself changes with every edit, on purpose).
            "code_version": list(covered(f"ai_assets.assets.{key.to_user_string()}")) if node.code_version else None,
            "automation_condition": node.automation_condition.get_label() if node.automation_condition else None,
            "pools": sorted(node.pools),
        }
    return {
        "assets": shape,
        "jobs": sorted(j.name for j in (defs.jobs or []) if not j.name.startswith("__")),
        "sensors": sorted(s.name for s in (defs.sensors or [])),
        "schedules": sorted(s.name for s in (defs.schedules or [])),
    }


def test_asset_graph_matches_snapshot(tmp_path, instance):
    # With a live instance: Dagster's definitions-state storage otherwise points at a closed one
    # left behind by an earlier test in the same process.
    shape = graph_shape(build_defs(Layout(tmp_path)))
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(shape, indent=2) + "\n")
    assert shape == json.loads(SNAPSHOT.read_text()), "graph changed: review, then rerun with UPDATE_SNAPSHOTS=1"


def test_loading_definitions_imports_no_model_library(layout):
    code = (
        "import sys, ai_assets.definitions; "
        f"print(','.join(m for m in sys.modules if m.split('.')[0] in {HEAVY_MODULES!r}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=child_env(layout), capture_output=True,
        text=True, check=True)
    assert proc.stdout.strip() == ""


def test_dagster_validates_the_workspace(layout):
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env=child_env(layout), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr


def test_every_stage_has_its_derived_code_version(tmp_path, instance):
    graph = build_defs(Layout(tmp_path)).resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        if node.partitions_def is not None:
            assert node.code_version == code_version(f"ai_assets.assets.{key.to_user_string()}"), key


# The domains, as the lineage view groups them.
GROUPS = {"ingest", "speech", "speakers", "language", "vision", "ranking", "render", "policies", "evaluation"}


def test_groups_are_the_domains_and_descriptions_hold_no_markup(tmp_path, instance):
    graph = build_defs(Layout(tmp_path)).resolve_asset_graph()
    nodes = [graph.get(key) for key in graph.get_all_asset_keys()]
    assert {n.group_name for n in nodes} == GROUPS
    for node in nodes:
        # The UI renders descriptions as markdown: `<video>` would be taken for a tag and vanish.
        assert node.description and "<" not in node.description and ">" not in node.description, node.key


def _openai_assets(tmp_path) -> list[str]:
    graph = build_defs(Layout(tmp_path)).resolve_asset_graph()
    return sorted(k.to_user_string() for k in graph.get_all_asset_keys() if "openai" in graph.get(k).kinds)


def test_the_openai_kind_shows_only_where_an_endpoint_is_configured(tmp_path, instance, monkeypatch):
    for name in ("AI_ASSETS_LLM_BASE_URL", "AI_ASSETS_LLM_API_KEY", "AI_ASSETS_VLM_BASE_URL", "AI_ASSETS_VLM_API_KEY",
                 "AI_ASSETS_MODERATION_MODEL"):
        monkeypatch.delenv(name, raising=False)
    assert _openai_assets(tmp_path) == []
    monkeypatch.setenv("AI_ASSETS_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    assert _openai_assets(tmp_path) == ["clip_copy", "safety"]
    monkeypatch.setenv("AI_ASSETS_MODERATION_MODEL", "")  # moderation off: safety is the lexicon alone
    assert _openai_assets(tmp_path) == ["clip_copy"]
    monkeypatch.setenv("AI_ASSETS_VLM_API_KEY", "not-a-real-key")  # a key alone names no endpoint to call
    assert _openai_assets(tmp_path) == ["clip_copy"]
    monkeypatch.setenv("AI_ASSETS_VLM_BASE_URL", "http://127.0.0.1:9/v1")
    assert _openai_assets(tmp_path) == ["clip_copy", "visual_analysis"]
