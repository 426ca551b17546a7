"""analysis/compare_algorithms.ipynb runs top to bottom in a fresh kernel at small sizes, and is committed without
outputs (as tests/test_notebook.py does for the other notebook)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "analysis" / "compare_algorithms.ipynb"


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_notebook_runs_top_to_bottom_at_small_sizes(monkeypatch):
    monkeypatch.setenv("ASGD_NOTEBOOK_SMALL", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # the compare's curves and times; the what-if
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert all(f"{name}:" in printed for name in ("target", "ranked", "what-if"))
