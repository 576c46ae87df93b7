"""``sefa-zoo factorize``: SeFa directions of a catalogue model or a local checkpoint, saved as a bank."""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..atomic import check_outputs, write_atomically
from ..catalogue import get_entry
from ..errors import SefaZooError
from ..fetching import cached_path
from ..layers import format_layer_spec
from . import display
from .catalogue import human_size
from .inputs import (
    ArchitectureOptions, ArchOption, CheckpointOption, ConfigOption, LayoutOption, check_model_arguments, companion_files,
    parse_options, protected_inputs,
)

if TYPE_CHECKING:
    from ..api import ModelBank
    from ..bank import DirectionBank

SHOWN = 10


class Export(str, Enum):
    npy = "npy"
    rosinality = "rosinality"


def _input_files(model: str | None, checkpoint: Path | None, companions: dict[str, Path]) -> list[Path | None]:
    """The files the bank is made from, which its outputs must never overwrite."""
    if checkpoint is not None:
        return list(protected_inputs(checkpoint, companions))
    return [cached_path(get_entry(model))]


def _names_folder(output: str) -> bool:
    return output.endswith(tuple(filter(None, (os.sep, os.altsep)))) or Path(output).is_dir()


def _bank_path(output: str | None, bank: DirectionBank, checkpoint: Path | None) -> Path:
    """``output``, or the default name in the folder it names (or in the working folder)."""
    if output is not None and not _names_folder(output):
        return Path(output)
    name = checkpoint.stem if checkpoint is not None else bank.model
    default = Path(f"{name}_layers{format_layer_spec(sorted(set(bank.layer_indices)))}.safetensors")
    return default if output is None else Path(output) / default


def factorize(
    model: Annotated[Optional[str], typer.Argument(help="Catalogue model name (see `sefa-zoo list`); with --all, a pattern as `list` takes (default: every model).")] = None,
    layers: Annotated[str, typer.Option("--layers", "-l", help="Layers: all, 2-5, 0-1,4, bottom, middle, top.")] = "all",
    k: Annotated[Optional[int], typer.Option("-k", "--num", min=1, help="Keep the top K directions (default: all).")] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", metavar="PATH", help="Bank path, or a folder (an existing one, or ending in /) for the default name (default: ./<model>_layers<spec>.safetensors). With --all, the folder for every bank.")] = None,
    remote: Annotated[Optional[bool], typer.Option("--remote/--no-remote", help="Read only what the directions need from the Hub file at the catalogue's pinned commit (HTTP range requests: a torch zip's index and affine weights, a safetensors header and tensors) instead of downloading it all; pickles and legacy torch files are still downloaded. The whole file's sha256 cannot be checked this way: the pinned commit identifies the file, and the bank records that it was read remotely and at which commit. A model already in the cache is read from there. Default: off, on with --all.")] = None,
    all_models: Annotated[bool, typer.Option("--all", help="A bank for every catalogue model matching MODEL, in the -o folder (default: here) under the default name <model>_layers<spec>.safetensors, read remotely where possible; a bank already there for the same model, layers, k, normalization, checkpoint commit and sefa-zoo version is skipped; one model failing does not stop the others (exit 1 if any failed); a table sums up.")] = False,
    checkpoint: CheckpointOption = None,
    arch: ArchOption = None,
    layout: LayoutOption = None,
    config: ConfigOption = None,
    option: ArchitectureOptions = [],
    normalize: Annotated[bool, typer.Option("--normalize/--no-normalize", help="Scale every weight row to unit norm, as the original release does.")] = True,
    export: Annotated[list[Export], typer.Option("--export", help="Also write the original release's (npy) or rosinality's layout.")] = [],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Find the semantic directions of a model in closed form and save them as a direction bank."""
    from ..api import READ_REMOTELY, factorize_catalogue_model, factorize_file  # torch and numpy: loaded for the work, not for --help
    from ..bank import bank_files

    options = parse_options(option)
    if all_models:
        _check_all_arguments(checkpoint, arch, layout, config)
        from .factorize_all import factorize_all

        return factorize_all(model, Path(output or "."), remote=remote is not False, layers=layers, k=k,
                             normalize=normalize, options=options, exports=[kind.value for kind in export],
                             as_json=as_json)
    check_model_arguments(model, checkpoint, arch, layout)
    if remote and checkpoint is not None:
        raise SefaZooError("--remote reads a catalogue model from the Hub; --checkpoint files are read here")
    companions = companion_files(config, checkpoint)
    if output is not None and not _names_folder(output):  # refuse before the work, where the name is known
        check_outputs([output], _input_files(model, checkpoint, companions))
    common = dict(layers=layers, k=k, normalize=normalize, options=options)
    reading = None
    if checkpoint is not None:
        bank = factorize_file(checkpoint, architecture=arch, layout=layout, companions=companions, **common)
    else:
        reading = factorize_catalogue_model(model, progress=not as_json, remote=bool(remote), **common)
        bank = reading.bank

    bank_path = _bank_path(output, bank, checkpoint)
    files = bank_files(bank, bank_path, [kind.value for kind in export])
    check_outputs(files, _input_files(model, checkpoint, companions))
    replaced = [path for path in files if path.is_file()]
    written = write_atomically(files)

    shares = bank.shares()
    shown = min(SHOWN, bank.k)
    if as_json:
        typer.echo(json.dumps({
            "bank": str(bank_path),
            "exports": [str(p) for p in written[1:]],
            "replaced": [str(p) for p in replaced],
            "model": bank.model,
            "architecture": bank.architecture,
            "layout": bank.layout,
            "layers": sorted(set(bank.layer_indices)),
            "layer_names": list(bank.layer_names),
            "latent_parts": list(bank.latent_parts),
            "normalization": bank.normalization,
            "k": bank.k,
            "eigenvalues": [float(v) for v in bank.eigenvalues],
            "shares": [float(s) for s in shares],
            **(_reading_fields(reading) if reading is not None else {}),
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
    for name, part in zip(bank.layer_names, bank.latent_parts):
        if part:
            typer.echo(f"factorized on part of {name}'s input: {part}")
    if reading is not None and reading.read == READ_REMOTELY:
        typer.echo(f"read {human_size(reading.fetched)} of {bank.checkpoint_source} remotely, "
                   f"at commit {bank.checkpoint_revision}")
    for path in written:
        typer.echo(f"{'replaced' if path in replaced else 'wrote'} {path}")


def _reading_fields(reading: ModelBank) -> dict[str, object]:
    return {"read": reading.read, "bytes_fetched": reading.fetched,
            "checkpoint_revision": reading.bank.checkpoint_revision, "read_remotely": reading.bank.read_remotely}


def _check_all_arguments(checkpoint: Path | None, arch: str | None, layout: str | None, config: Path | None) -> None:
    given = [name for name, value in (("--checkpoint", checkpoint), ("--arch", arch), ("--layout", layout),
                                      ("--config", config)) if value is not None]
    if given:
        raise SefaZooError(f"--all makes banks of catalogue models; {given[0]} goes with one --checkpoint file")
