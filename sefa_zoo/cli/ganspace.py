"""``sefa-zoo ganspace``: GANSpace directions (principal components of sampled codes), saved as a bank."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..atomic import check_outputs, write_atomically
from ..layers import format_layer_spec
from . import display
from .edit import check_device
from .factorize import _input_files, _names_folder
from .inputs import (
    ArchitectureOptions, ArchOption, CheckpointOption, ConfigOption, LayoutOption, check_model_arguments,
    companion_files, parse_options,
)

if TYPE_CHECKING:
    from ..bank import DirectionBank

SHOWN = 10
DEFAULT_SAMPLES = 100_000  # as sefa_zoo.ganspace (not imported here: it loads torch)
DEFAULT_BATCH_SIZE = 1024


def _bank_path(output: str | None, bank: DirectionBank, checkpoint: Path | None) -> Path:
    """``output``, or the default name in the folder it names (or in the working folder)."""
    if output is not None and not _names_folder(output):
        return Path(output)
    name = checkpoint.stem if checkpoint is not None else bank.model
    default = Path(f"{name}_ganspace_layers{format_layer_spec(sorted(set(bank.layer_indices)))}.safetensors")
    return default if output is None else Path(output) / default


def ganspace(
    model: Annotated[Optional[str], typer.Argument(help="Catalogue model name (see `sefa-zoo list`).")] = None,
    samples: Annotated[int, typer.Option(
        "--samples", "-n", min=2, help="Codes to sample; memory does not grow with it.")] = DEFAULT_SAMPLES,
    k: Annotated[Optional[int], typer.Option(
        "-k", "--num", min=1, help="Keep the top K components (default: all).")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the sampled z (numpy PCG64).")] = 0,
    layers: Annotated[str, typer.Option(
        "--layers", "-l",
        help="Style models: the W+ layers the bank's edits apply to (all, 2-5, 0-1,4, bottom...); z-space models: "
             "the projection layers whose output is analysed (their only index, 0).")] = "all",
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Codes mapped at a time (bounds memory).")] = DEFAULT_BATCH_SIZE,
    class_: Annotated[Optional[str], typer.Option(
        "--class", help="Class of a class-conditional style model the codes are sampled for: an index or a name. "
                        "z-space models need none (the class does not enter z).")] = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="PATH",
        help="Bank path, or a folder (an existing one, or ending in /) for the default name "
             "(default: ./<model>_ganspace_layers<spec>.safetensors).")] = None,
    checkpoint: CheckpointOption = None,
    arch: ArchOption = None,
    layout: LayoutOption = None,
    config: ConfigOption = None,
    option: ArchitectureOptions = [],
    device: Annotated[str, typer.Option("--device", help="Torch device to sample on: cpu, cuda, cuda:1, mps.")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Find directions by sampling (GANSpace): the principal components of w for style models,
    of the first layer's output mapped back to z for z-space models; saved as a direction bank
    whose edits are in standard deviations (sigmas) of the sampled codes."""
    check_model_arguments(model, checkpoint, arch, layout)
    options = parse_options(option)
    companions = companion_files(config, checkpoint)
    check_device(device)
    if output is not None and not _names_folder(output):
        check_outputs([output], _input_files(model, checkpoint, companions))

    from ..bank import bank_files
    from ..ganspace import ganspace as run_ganspace  # torch: loaded for the work, not for --help

    bank = run_ganspace(
        checkpoint if checkpoint is not None else model, samples=samples, k=k, seed=seed, layers=layers,
        batch_size=batch_size, class_index=class_, device=device, architecture=arch, layout=layout,
        companions=companions, options=options, progress=not as_json,
    )
    bank_path = _bank_path(output, bank, checkpoint)
    files = bank_files(bank, bank_path)
    check_outputs(files, _input_files(model, checkpoint, companions))
    replaced = [path for path in files if path.is_file()]
    write_atomically(files)
    if as_json:
        typer.echo(json.dumps({
            "bank": str(bank_path), "replaced": [str(p) for p in replaced], "model": bank.model,
            "architecture": bank.architecture, "layers": sorted(set(bank.layer_indices)), "k": bank.k,
            "variances": [float(v) for v in bank.eigenvalues], "shares": [float(s) for s in bank.shares()],
            "method_info": dict(bank.method_info),
        }, indent=2))
        return
    _print_components(bank)
    typer.echo(f"{'replaced' if bank_path in replaced else 'wrote'} {bank_path}")


def _print_components(bank: DirectionBank) -> None:
    space = "w" if bank.latent_space != "z" else "the first layer's output"
    table = display.table(title=f"{bank.model}: GANSpace of {space}, {bank.method_info['samples']} samples "
                                f"({bank.architecture}/{bank.layout})")
    for column in ("direction", "variance", "std", "share", "cumulative"):
        table.add_column(column, justify="right")
    shares = bank.shares()
    cumulative = 0.0
    for i in range(min(SHOWN, bank.k)):
        cumulative += float(shares[i])
        table.add_row(str(i), f"{bank.eigenvalues[i]:.4g}", f"{bank.eigenvalues[i] ** 0.5:.4g}", f"{shares[i]:.1%}",
                      f"{cumulative:.1%}")
    display.print_table(table)
    moved = bank.method_info.get("largest_angle_moved_degrees")
    if moved is not None:
        typer.echo(f"directions mapped back to z by least squares, made orthonormal (moved by at most {moved:.3g} degrees)")
