"""``sefa-zoo direction-layers``: give directions of a bank their own layers (GANSpace's named
edits E(i, start-end)), stored in the bank itself, so that every later edit moves each direction
on its own layers; or list the directions with their layers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import SefaZooError
from ..layers import format_layer_spec
from ..ranges import parse_index_list, shorten
from . import display

if TYPE_CHECKING:
    from ..bank import DirectionBank

_ASSIGNMENT = re.compile(r"\s*([0-9]+)\s*=(.*)", re.DOTALL)
MAX_INDEX_DIGITS = 9


def direction_layers(
    bank: Annotated[Path, typer.Argument(metavar="BANK", help="A direction bank file (written in place).")],
    assignments: Annotated[list[str], typer.Argument(
        metavar="[INDEX=LAYERS]...",
        help="Layers to give: 0=0-3 1=4-7 \"2=0-1,6\"; nothing after = (3=) gives a direction back to the edit's "
             "layers. None: list the directions.",
        show_default=False)] = [],
) -> None:
    """Give directions of a bank their own layers (GANSpace's E(i, start-end)): edit, the API and
    the editor then move each on its own layers and the others on the edit's; or list them."""
    from ..bank import load_bank, rewrite_bank

    wanted = parse_direction_layers(assignments)
    directions = rewrite_bank(bank, lambda found: found.with_direction_layers(wanted)) if wanted else load_bank(bank)
    _print_directions(directions)
    if wanted:
        typer.echo(f"wrote {bank}")


def parse_direction_layers(assignments: list[str]) -> dict[int, tuple[int, ...]]:
    """``INDEX=LAYERS`` arguments as {index: layer indices}; ``INDEX=`` gives ()."""
    layers: dict[int, tuple[int, ...]] = {}
    for text in assignments:
        match = _ASSIGNMENT.fullmatch(text)
        if match is None or len(match[1]) > MAX_INDEX_DIGITS:
            raise SefaZooError(f"{shorten(text)!r} must look like INDEX=LAYERS, e.g. 3=0-5 (or 3= for the edit's layers)")
        index = int(match[1])
        if index in layers:
            raise SefaZooError(f"direction {index} is given layers twice")
        spec = match[2].strip()
        try:
            layers[index] = parse_index_list(spec, what="layer") if spec else ()
        except SefaZooError as exc:
            raise SefaZooError(f"direction {index}: {exc} (layer numbers only: the bank does not know the "
                               "model's layer count)") from None
    return layers


def _print_directions(bank: DirectionBank) -> None:
    default = format_layer_spec(sorted(set(bank.layer_indices)))
    table = display.table(title=display.text(f"{bank.model}: {bank.method} directions (edits' default layers {default})"))
    for column in ("direction", "eigenvalue", "share"):
        table.add_column(column, justify="right")
    table.add_column("name")
    table.add_column("layers")
    shares = bank.shares()
    for i in range(bank.k):
        own = bank.layers_of(i)
        table.add_row(str(i), f"{bank.eigenvalues[i]:.4g}", f"{shares[i]:.1%}", display.text(bank.name_of(i)),
                      format_layer_spec(list(own)) if own else "the edit's")
    display.print_table(table)
