"""The notebooks in analysis/ run top to bottom in a fresh kernel at small sizes, and are committed without
outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"
# notebook -> (its PNG figures, the names it prints as "name:", seconds a cell may take)
NOTEBOOKS = {
    "staleness_vs_rate.ipynb": (4, ("bound", "rate", "speedup", "worker limit"), 60),  # staleness, rate, speedup, limit
    "compare_algorithms.ipynb": (2, ("target", "ranked", "what-if"), 120),  # the compare's curves and times; what-if
}


def test_every_notebook_is_tested():
    assert {path.name for path in ANALYSIS.glob("*.ipynb")} == set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name):
    notebook = nbformat.read(ANALYSIS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_at_small_sizes(monkeypatch, name):
    figures, printed_names, timeout = NOTEBOOKS[name]
    monkeypatch.setenv("ASGD_NOTEBOOK_SMALL", "1")
    notebook = nbformat.read(ANALYSIS / name, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(ANALYSIS)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == figures
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert all(f"{label}:" in printed for label in printed_names)
