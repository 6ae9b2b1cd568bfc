"""notebooks/explore.ipynb runs top to bottom, on the demo's output and on an empty home: no cell fails, every plot
cell draws, and nothing is written (the feedback cell is off as committed)."""

from __future__ import annotations

import json
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from ai_assets.storage.catalog import connect
from ai_assets.storage.settings import HOME_ENV, STORAGE_ENV
from tests.conftest import REPO

pytestmark = pytest.mark.slow

NOTEBOOK = REPO / "notebooks" / "explore.ipynb"
MIN_PLOTS = 6


def run_notebook(home, tmp_path, monkeypatch) -> nbformat.NotebookNode:
    """Execute the notebook with AI_ASSETS_HOME=home in a kernel on this Python; returns the executed notebook, with
    a first cell added that prints the kernel's sys.prefix."""
    # A python3 kernelspec for this interpreter, found before any other on JUPYTER_PATH, so the kernel imports
    # this checkout's ai_assets whatever kernels the machine has installed.
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tests)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv(HOME_ENV, str(home))
    monkeypatch.delenv(STORAGE_ENV, raising=False)

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"))
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(REPO)}}).execute()
    errors = [(i, o["ename"], o["evalue"]) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o["output_type"] == "error"]
    assert not errors, f"cells failed (index, error, message): {errors}"
    assert nb.cells[0].outputs[0]["text"].strip() == sys.prefix, "the kernel runs another Python"
    return nb


def plot_cells(nb) -> list:
    return [c for c in nb.cells if "plot" in c.metadata.get("tags", [])]


def has_image(cell) -> bool:
    return any("image/png" in o.get("data", {}) for o in cell.outputs)


def feedback_rows(home) -> int:
    conn = connect(home)
    try:
        return conn.sql("SELECT count(*) FROM feedback").fetchall()[0][0]
    finally:
        conn.close()


def test_notebook_on_demo(demo, tmp_path, monkeypatch):
    before = feedback_rows(demo["home"])
    nb = run_notebook(demo["home"], tmp_path, monkeypatch)
    plots = plot_cells(nb)
    assert len(plots) >= MIN_PLOTS
    assert [c.source.splitlines()[0] for c in plots if not has_image(c)] == []
    assert feedback_rows(demo["home"]) == before, "running the notebook wrote feedback"
    # the per-video cells read the demo's video, not an empty selection
    assert any(demo["key"] in o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_notebook_on_empty_home(tmp_path, monkeypatch):
    home = tmp_path / "empty-home"
    nb = run_notebook(home, tmp_path, monkeypatch)
    plots = plot_cells(nb)
    assert len(plots) >= MIN_PLOTS
    assert [c.source.splitlines()[0] for c in plots if not has_image(c)] == []
    assert not (home / "lake" / "feedback").exists()


def test_feedback_cell_is_off_as_committed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    writers = [c for c in nb.cells if c.cell_type == "code" and "record(" in c.source]
    assert len(writers) == 1
    assert writers[0].source.startswith("# WRITES FEEDBACK")
    assert "WRITE_FEEDBACK = False" in writers[0].source
