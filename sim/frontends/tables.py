"""Text tables for the terminal and Markdown: columns of str(cell), each left-justified to its widest cell."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], markdown: bool = True) -> str:
    """A Markdown table with padded columns (readable as plain text too), or with `markdown=False` plain columns
    two spaces apart (trailing spaces stripped)."""
    text = [[str(cell) for cell in headers]] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in text) for i in range(len(headers))]
    padded = [[cell.ljust(width) for cell, width in zip(row, widths)] for row in text]
    if not markdown:
        return "\n".join("  ".join(row).rstrip() for row in padded)
    lines = ["| " + " | ".join(row) + " |" for row in padded]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)
