"""``sefa-zoo factorize``: SeFa directions of a catalogue model or a local checkpoint, saved as a bank."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from ..api import factorize_file, factorize_model
from ..bank import EXPORTERS, save_bank
from ..errors import SefaZooError
from ..layers import format_layer_spec
from . import display

SHOWN = 10


class Export(str, Enum):
    npy = "npy"
    rosinality = "rosinality"


def _parse_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SefaZooError(f"--option {pair!r} must look like KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def factorize(
    model: Annotated[Optional[str], typer.Argument(help="Catalogue model name (see `sefa-zoo list`).")] = None,
    layers: Annotated[str, typer.Option("--layers", "-l", help="Layers: all, 2-5, 0-1,4, bottom, middle, top.")] = "all",
    k: Annotated[Optional[int], typer.Option("-k", "--num", min=1, help="Keep the top K directions (default: all).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Bank path (default: ./<model>_layers<spec>.safetensors).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", "-c", help="A local checkpoint file instead of a catalogue model.")] = None,
    arch: Annotated[Optional[str], typer.Option("--arch", help="Architecture of --checkpoint (detected when omitted).")] = None,
    layout: Annotated[Optional[str], typer.Option("--layout", help="Checkpoint layout of --checkpoint (detected when omitted).")] = None,
    option: Annotated[list[str], typer.Option("--option", help="Architecture option KEY=VALUE (repeatable), e.g. torgb=all.")] = [],
    normalize: Annotated[bool, typer.Option("--normalize/--no-normalize", help="Scale every weight row to unit norm, as the original release does.")] = True,
    export: Annotated[list[Export], typer.Option("--export", help="Also write the original release's (npy) or rosinality's layout.")] = [],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Find the semantic directions of a model in closed form and save them as a direction bank."""
    if (model is None) == (checkpoint is None):
        raise SefaZooError("give either a catalogue MODEL or --checkpoint FILE (not both)")
    options = _parse_options(option)
    common = dict(layers=layers, k=k, normalize=normalize, options=options)
    if checkpoint is not None:
        if not checkpoint.is_file():
            raise SefaZooError(f"{checkpoint}: no such checkpoint file")
        bank = factorize_file(checkpoint, architecture=arch, layout=layout, **common)
    else:
        if arch or layout:
            raise SefaZooError("--arch and --layout go with --checkpoint; a catalogue model declares its own")
        bank = factorize_model(model, progress=not as_json, **common)

    if output is None:
        name = checkpoint.stem if checkpoint is not None else bank.model
        output = Path(f"{name}_layers{format_layer_spec(sorted(set(bank.layer_indices)))}.safetensors")
    written = [save_bank(bank, output)]
    stem = output.with_suffix("")
    for kind in dict.fromkeys(export):
        written += EXPORTERS[kind.value](bank, stem)

    shares = bank.shares()
    shown = min(SHOWN, bank.k)
    if as_json:
        typer.echo(json.dumps({
            "bank": str(output),
            "exports": [str(p) for p in written[1:]],
            "model": bank.model,
            "architecture": bank.architecture,
            "layout": bank.layout,
            "layers": sorted(set(bank.layer_indices)),
            "layer_names": list(bank.layer_names),
            "normalization": bank.normalization,
            "k": bank.k,
            "eigenvalues": [float(v) for v in bank.eigenvalues],
            "shares": [float(s) for s in shares],
        }, indent=2))
        return
    table = display.table(title=f"{bank.model}: layers {format_layer_spec(sorted(set(bank.layer_indices)))} "
                        f"({len(bank.layer_names)} weight matrices, {bank.architecture}/{bank.layout})")
    table.add_column("direction", justify="right")
    table.add_column("eigenvalue", justify="right")
    table.add_column("share", justify="right")
    table.add_column("cumulative", justify="right")
    cumulative = 0.0
    for i in range(shown):
        cumulative += float(shares[i])
        table.add_row(str(i), f"{bank.eigenvalues[i]:.4g}", f"{shares[i]:.1%}", f"{cumulative:.1%}")
    display.print_table(table)
    for path in written:
        typer.echo(f"wrote {path}")
