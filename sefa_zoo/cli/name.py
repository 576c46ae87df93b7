"""``sefa-zoo name``: name a bank's directions ("pose", "hair colour"), stored in the bank
itself, so that every later edit, report and editor session shows them; or list them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import SefaZooError
from ..layers import format_layer_spec
from . import display

if TYPE_CHECKING:
    from ..bank import DirectionBank

_ASSIGNMENT = re.compile(r"\s*([0-9]+)\s*=(.*)", re.DOTALL)
MAX_INDEX_DIGITS = 9


def name(
    bank: Annotated[Path, typer.Argument(metavar="BANK", help="A direction bank file (written in place).")],
    names: Annotated[list[str], typer.Argument(
        metavar="[INDEX=NAME]...",
        help='Names to give: 0=pose 3="hair colour"; an empty name (3=) removes one. None: list the directions.',
        show_default=False)] = [],
) -> None:
    """Name directions of a bank (stored in its metadata and shown by edit, its report and the
    editor), or list its directions with their names."""
    from ..bank import load_bank, rewrite_bank

    wanted = parse_names(names)
    directions = rewrite_bank(bank, lambda found: found.with_names(wanted)) if wanted else load_bank(bank)
    _print_directions(directions)
    if wanted:
        typer.echo(f"wrote {bank}")


def parse_names(assignments: list[str]) -> dict[int, str]:
    """``INDEX=NAME`` arguments as {index: name} (names stripped; "" removes a name)."""
    names: dict[int, str] = {}
    for text in assignments:
        match = _ASSIGNMENT.fullmatch(text)
        if match is None or len(match[1]) > MAX_INDEX_DIGITS:
            raise SefaZooError(f"{text!r} must look like INDEX=NAME, e.g. 3=\"hair colour\"")
        index = int(match[1])
        if index in names:
            raise SefaZooError(f"direction {index} is named twice")
        names[index] = match[2].strip()
    return names


def _print_directions(bank: DirectionBank) -> None:
    layers = format_layer_spec(sorted(set(bank.layer_indices)))
    table = display.table(title=display.text(f"{bank.model}: layers {layers}"))
    for column in ("direction", "eigenvalue", "share"):
        table.add_column(column, justify="right")
    table.add_column("name")
    shares = bank.shares()
    for i in range(bank.k):
        table.add_row(str(i), f"{bank.eigenvalues[i]:.4g}", f"{shares[i]:.1%}", display.text(bank.name_of(i)))
    display.print_table(table)
