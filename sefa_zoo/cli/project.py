"""``sefa-zoo project``: a direction with other directions removed (conditional manipulation),
saved as a new one-direction bank that records the conditions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import SefaZooError
from ..ranges import parse_index_list
from . import display

if TYPE_CHECKING:
    from ..bank import DirectionBank
    from ..conditioning import DirectionRef


def project(
    bank: Annotated[Path, typer.Argument(metavar="BANK", help="The bank holding the direction to edit with.")],
    direction: Annotated[int, typer.Option(
        "--direction", "-d", min=0, help="The direction of BANK to keep (its index).")],
    conditions: Annotated[list[str], typer.Option(
        "--condition", metavar="BANK2:J",
        help="Directions to remove from it: a bank file and direction indices (b.safetensors:3, b.safetensors:0-2); "
        "repeatable.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The new bank file (one direction).")],
) -> None:
    """Remove from a direction its components along other directions (of the same model and latent
    space, from any banks), so that editing along it leaves them unchanged; the result, unit length,
    is written as a new bank that records the conditions."""
    from ..atomic import check_outputs
    from ..bank import load_bank, save_bank
    from ..conditioning import DirectionRef, project_direction

    wanted = [(text, *_parse_condition(text)) for text in conditions]
    check_outputs([output], [bank, *(path for _, path, _ in wanted)])
    banks: dict[Path, DirectionBank] = {bank: load_bank(bank)}
    refs = []
    for text, path, indices in wanted:
        if path not in banks:
            banks[path] = load_bank(path)
        refs += [DirectionRef(banks[path], i, path.name) for i in _condition_indices(text, indices, banks[path])]
    source = DirectionRef(banks[bank], direction, bank.name)
    projected = project_direction(source, refs)
    save_bank(projected, output)
    _print_conditions(source, refs, projected)
    typer.echo(f"wrote {output}")


def _parse_condition(text: str) -> tuple[Path, str]:
    """``BANK:J`` (J an index list) as (path, J); the last colon separates them."""
    file, colon, indices = text.rpartition(":")
    if not colon or not file or not indices.strip():
        raise SefaZooError(f"--condition {text!r} must look like BANK:J, e.g. smile.safetensors:0")
    return Path(file), indices


def _condition_indices(text: str, indices: str, bank: DirectionBank) -> tuple[int, ...]:
    try:
        return parse_index_list(indices, what="direction", limit=bank.k)
    except SefaZooError as exc:
        raise SefaZooError(f"--condition {text!r}: {exc}") from None


def _print_conditions(source: DirectionRef, conditions: list[DirectionRef], projected: DirectionBank) -> None:
    result = projected.directions[0].astype("float64")
    table = display.table(title=display.text(
        f"{source.label}: {projected.method_info['kept_norm']:.1%} of it kept"))
    table.add_column("condition")
    table.add_column("name")
    for column in ("cosine before", "cosine after"):
        table.add_column(column, justify="right")
    for condition in conditions:
        table.add_row(display.text(condition.label), display.text(condition.bank.name_of(condition.index)),
                      f"{float(condition.vector @ source.vector):+.4f}", f"{float(condition.vector @ result):+.4f}")
    display.print_table(table)
