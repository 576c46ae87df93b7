"""Printing rich tables. rich is imported on first use: commands that print JSON or nothing
(and the benchmarked `factorize --json`) do not pay for its import."""

from __future__ import annotations

import os
from typing import Any

_UNLIMITED = 10_000


def table(*args: Any, **kwargs: Any):
    from rich.table import Table

    return Table(*args, **kwargs)


def text(value: str, **kwargs: Any):
    """Plain text, never parsed as rich markup (names and messages come from users and plugins)."""
    from rich.text import Text

    return Text(value, **kwargs)


def console():
    from rich.console import Console

    return Console()


def fit_width() -> int | None:
    """The width to fit on stdout: the terminal's, or COLUMNS when set; None for a pipe or a
    file, where nothing should wrap."""
    out = console()
    return out.width if out.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit() else None


def natural_width(renderable: Any) -> int:
    """How wide ``renderable`` is when nothing wraps."""
    out = console()
    return out.measure(renderable, options=out.options.update_width(_UNLIMITED)).maximum


def print_table(rich_table: Any, width: int | None = None) -> None:
    """Print on stdout ``width`` columns wide; by default fitted to ``fit_width()`` but never
    narrower than the table's minimum, and to a pipe or a file as wide as the table is."""
    from rich.console import Console

    if width is None:
        out = Console()
        measured = out.measure(rich_table, options=out.options.update_width(_UNLIMITED))
        fit = fit_width()
        width = measured.maximum if fit is None else max(fit, measured.minimum)
    Console(width=width).print(rich_table)
