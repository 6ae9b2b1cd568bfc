"""Code versions are derived from the source the stage runs: logic edits change them, comments and plumbing do not."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from ai_assets.code_version import covered
from tests.conftest import REPO

STAGES = ("segments", "transcript", "clips", "audio")


@pytest.fixture
def tree(tmp_path):
    """A copy of the source tree to edit; the working tree is never touched."""
    for package in ("ai_assets", "resources"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def versions(root, cache=None, before: str = "") -> dict[str, str]:
    """The stages' code versions, computed in a fresh process on the tree at `root` with the summary cache under
    `cache` (default: `root/cache`); `before` runs first in that process."""
    code = (f"import json; {before}\nfrom ai_assets.code_version import code_version; "
            f"print(json.dumps({{s: code_version('ai_assets.assets.' + s) for s in {STAGES!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(root), "XDG_CACHE_HOME": str(cache or root / "cache")})
    return json.loads(out.stdout)


def test_comments_docstrings_and_layout_leave_the_version(tree):
    before = versions(tree)
    ranking = tree / "ai_assets" / "ranking" / "segments.py"
    text = ranking.read_text()
    text = re.sub(r'^(""")', r"# a new comment at the top\n\1", text, count=1)
    text = text.replace('"""', '"""Reworded: ', 1)  # the module docstring
    text = text.replace("\n\n\n", "\n\n\n\n")  # layout
    ranking.write_text(text)
    assert versions(tree) == before


def test_a_logic_edit_changes_the_stage_that_runs_it_and_no_other(tree):
    before = versions(tree)
    ranking = tree / "ai_assets" / "ranking" / "segments.py"
    ranking.write_text(ranking.read_text().replace("EMOTIONAL_PEAK = 0.6\n", "EMOTIONAL_PEAK = 0.65\n", 1))
    after = versions(tree)
    assert after["segments"] != before["segments"]
    assert {s: after[s] for s in STAGES if s != "segments"} == {s: before[s] for s in STAGES if s != "segments"}


def test_plumbing_edits_rerun_nothing(tree):
    before = versions(tree)
    for module in ("storage/metrics.py", "assets/automation.py", "storage/settings.py"):
        path = tree / "ai_assets" / module
        path.write_text(path.read_text() + "\n\nPLUMBING_CHANGED = True\n")
    assert versions(tree) == before


def test_a_stage_covers_its_domain_module_and_what_that_imports():
    assert {"ai_assets.assets.segments", "ai_assets.ranking.segments"} <= set(covered("ai_assets.assets.segments"))
    assert {"ai_assets.speech.transcript", "resources.whisper"} <= set(covered("ai_assets.assets.transcript"))
    assert not {"ai_assets.storage.metrics", "ai_assets.assets.automation", "resources.model_worker"} & set(
        covered("ai_assets.assets.transcript"))


# Makes any parse in the process fail: a run that still succeeds read every module's summary from the cache.
NO_PARSING = ("import ai_assets.code_version as cv\n"
              "def refuse(*a, **k): raise AssertionError('parsed a module')\n"
              "cv.summarize = refuse")


def test_a_warm_cache_gives_the_same_versions_without_parsing_anything(tree):
    cold = versions(tree)
    cache_file = tree / "cache" / "ai-assets" / "code_versions.json"
    entries = json.loads(cache_file.read_text())["entries"]
    assert len(entries) >= 20 and all(set(e) == {"hash", "imports", "exports"} for e in entries.values())
    assert versions(tree, before=NO_PARSING) == cold
    # An edited module is a new key: it is parsed (so the no-parse run fails), and only it.
    ranking = tree / "ai_assets" / "ranking" / "segments.py"
    ranking.write_text(ranking.read_text().replace("EMOTIONAL_PEAK = 0.6\n", "EMOTIONAL_PEAK = 0.65\n", 1))
    with pytest.raises(subprocess.CalledProcessError, match="returned non-zero"):
        versions(tree, before=NO_PARSING)
    edited = versions(tree)
    assert edited["segments"] != cold["segments"] and len(json.loads(cache_file.read_text())["entries"]) == \
        len(entries) + 1


@pytest.mark.parametrize("damage", ["garbage", "old_format", "other_python", "bad_entries", "unwritable"])
def test_a_damaged_or_unwritable_cache_changes_nothing(tree, damage):
    cold = versions(tree)
    cache_dir = tree / "cache"
    cache_file = cache_dir / "ai-assets" / "code_versions.json"
    current = json.loads(cache_file.read_text())
    if damage == "garbage":
        cache_file.write_text('{"format": 1, "entries": [1, 2')
    elif damage == "old_format":
        cache_file.write_text(json.dumps({"format": 0, "entries": {"x": {"hash": "y"}}}))
    elif damage == "other_python":  # ast.dump differs between versions: another interpreter's hashes are not used
        other = {k: {**v, "hash": "0" * 64} for k, v in current["entries"].items()}
        cache_file.write_text(json.dumps({"format": current["format"].replace("/py3", "/py2"), "entries": other}))
    elif damage == "bad_entries":  # valid JSON in the current format, entries of the wrong shape
        cache_file.write_text(json.dumps({"format": current["format"],
                                          "entries": dict.fromkeys(current["entries"], {"hash": "y"})}))
    else:  # the cache's folder cannot be made: its parent is a file
        cache_dir = tree / "a-file"
        cache_dir.write_text("")
    assert versions(tree, cache=cache_dir) == cold
    if damage != "unwritable":  # rewritten whole, in the current format
        assert json.loads(cache_file.read_text()) == current
