"""Printing rich tables. rich is imported on first use: commands that print JSON or nothing
(and the benchmarked `factorize --json`) do not pay for its import."""

from __future__ import annotations

from typing import Any


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


def print_table(rich_table: Any) -> None:
    """Print on stdout; when that is not a terminal, wide enough that nothing wraps."""
    from rich.console import Console

    out = Console()
    if not out.is_terminal:
        natural = out.measure(rich_table, options=out.options.update_width(10_000)).maximum
        out = Console(width=max(out.width, natural))
    out.print(rich_table)
