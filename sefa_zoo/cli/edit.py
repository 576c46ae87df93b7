"""``sefa-zoo edit``: render what each direction does as grids, an HTML report and animations."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import math
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..catalogue import get_entry
from ..conventions import DEFAULT_TRUNCATION_CUTOFF, MAX_SEED
from ..errors import SefaZooError
from ..hashing import sha256_file

if TYPE_CHECKING:
    from ..bank import DirectionBank
    from ..editing import LoadedGenerator
from ..ranges import parse_index_list
from .inputs import (
    ArchOption, CheckpointOption, ConfigOption, LayoutOption, check_model_arguments, companion_files,
    parse_options, protected_inputs,
)

DEFAULT_DIRECTIONS = 5
BANK_FILE = "bank.safetensors"


def check_device(device: str) -> str:
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise SefaZooError(f"--device {device!r} is not a device torch knows (cpu, cuda, cuda:1, mps...)") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise SefaZooError(f"--device {device!r}: this torch build sees no CUDA device")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise SefaZooError(f"--device {device!r}: MPS is not available here")
    return device


def _direction_bank(
    model: str | None, checkpoint: Path | None, bank_file: Path | None, layers: str | None,
    arch: str | None, layout: str | None, companions: dict[str, Path], options: dict[str, str],
) -> DirectionBank:
    """The bank given, or one factorized now."""
    from ..api import factorize_file, factorize_model
    from ..bank import load_bank

    if bank_file is not None:
        return load_bank(bank_file)
    if checkpoint is not None:
        return factorize_file(checkpoint, layers=layers or "all", architecture=arch, layout=layout,
                              companions=companions, options=options)
    return factorize_model(model, layers=layers or "all", options=options)


def _written_by_edit(name: str) -> bool:
    from ..outputs.folder import is_edit_output

    return name == BANK_FILE or is_edit_output(name)


def _check_bank_place(checkpoint: Path, folder: Path) -> None:
    """Refuse a checkpoint that is where this run will save the bank it factorizes."""
    with contextlib.suppress(OSError):
        if os.path.samefile(checkpoint, folder / BANK_FILE):
            raise SefaZooError(
                f"--checkpoint {checkpoint}: this run would save its bank over it; choose another --output, "
                "or give a bank with --bank (then none is saved)"
            )


def _same_checkpoint_note(bank: DirectionBank, loaded: LoadedGenerator) -> str | None:
    """A note when the bank names a checkpoint hash and the model's file has another."""
    if not bank.checkpoint_sha256:
        return None
    actual = loaded.sha256 or (sha256_file(loaded.path) if loaded.path is not None else None)
    if actual is None or actual == bank.checkpoint_sha256:
        return None
    return (
        f"the bank was computed from another checkpoint (sha256 {bank.checkpoint_sha256[:12]}..., "
        f"this model's is {actual[:12]}...); its directions may mean something else here"
    )


def edit(
    model: Annotated[Optional[str], typer.Argument(help="Catalogue model name (see `sefa-zoo list`).")] = None,
    checkpoint: CheckpointOption = None,
    arch: ArchOption = None,
    layout: LayoutOption = None,
    config: ConfigOption = None,
    option: Annotated[list[str], typer.Option(
        "--option", help="Architecture option KEY=VALUE (repeatable), as for factorize, e.g. classes=10 (DCGAN).")] = [],
    class_: Annotated[Optional[str], typer.Option(
        "--class", help="Class of a class-conditional model: an index (207) or a class name (\"golden retriever\").",
    )] = None,
    bank_file: Annotated[Optional[Path], typer.Option(
        "--bank", "-b", help="A direction bank from `sefa-zoo factorize` (default: factorize now).")] = None,
    layers: Annotated[Optional[str], typer.Option(
        "--layers", "-l",
        help="Without --bank: layers to factorize and edit (all, 2-5, 0-1,4, bottom...). Default: all.")] = None,
    directions: Annotated[Optional[str], typer.Option(
        "--directions", "-d",
        help="Directions to show: 0-4, 0,2,5 or all. Default: 0-4 (fewer if the bank has fewer).")] = None,
    seeds: Annotated[str, typer.Option("--seeds", "-s", help="Seeds of the samples: 0-3, 0,7,42.")] = "0-3",
    distance_range: Annotated[tuple[float, float], typer.Option(
        "--range", help="First and last distance along each direction.")] = (-3.0, 3.0),
    steps: Annotated[int, typer.Option(
        "--steps", min=2, help="Distances from the first to the last, evenly spaced (odd counts include 0).")] = 7,
    to_distance: Annotated[bool, typer.Option(
        "--to-distance",
        help="With a boundary bank (sefa-zoo boundary): the --range distances are signed distances from the "
        "boundary to move each sample to, instead of distances to move it by.")] = False,
    trunc: Annotated[Optional[float], typer.Option(
        "--trunc",
        help="Truncation psi. Default: the model's own (BigGAN: 0.4), else 0.7 for per-layer (W+) models and "
        "1 (none) for z-space models such as DCGAN.",
    )] = None,
    trunc_cutoff: Annotated[int, typer.Option(
        "--trunc-cutoff", min=0, help="Truncate the layers below this index only.")] = DEFAULT_TRUNCATION_CUTOFF,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Output folder (default: ./<model>_edits/).")] = None,
    size: Annotated[Optional[int], typer.Option(
        "--size", min=1,
        help="Longer side of each picture in pixels. Default: native, enlarged to at least 128 or reduced to 256.",
    )] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Images synthesized at a time (bounds memory).")] = 8,
    device: Annotated[str, typer.Option(
        "--device", help="Torch device to render on: cpu, cuda, cuda:1, mps.")] = "cpu",
) -> None:
    """Render what each direction does: labelled PNG grids, one self-contained HTML report,
    and an animated GIF per direction (MP4 too when imageio-ffmpeg is installed)."""
    check_model_arguments(model, checkpoint, arch, layout)
    options = parse_options(option)
    companions = companion_files(config, checkpoint)
    if to_distance and bank_file is None:
        raise SefaZooError("--to-distance moves to a distance from a boundary: give the boundary's bank with --bank")
    if bank_file is not None and layers is not None:
        raise SefaZooError("--layers chooses what to factorize; with --bank the bank's own layers are edited")
    if model is not None:
        get_entry(model)
    seed_list = parse_index_list(seeds, what="seed", limit=MAX_SEED + 1)
    start, stop = distance_range
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise SefaZooError("--range needs two finite numbers")
    check_device(device)
    folder = output if output is not None else Path(f"{model if model is not None else checkpoint.stem}_edits")
    factorized = bank_file is None
    if factorized and checkpoint is not None:
        for path in protected_inputs(checkpoint, companions):
            _check_bank_place(path, folder)

    import numpy as np

    from ..bank import save_bank
    from ..editing import open_generator, plan_edits
    from ..outputs.folder import write_edit_files  # torch and Pillow: imported to render, not on every command
    from ..outputs.rendered import render_for_display
    from ..outputs.staging import staged_folder

    inputs = [*(protected_inputs(checkpoint, companions) if checkpoint is not None else []),
              *([bank_file] if bank_file is not None else [])]
    with staged_folder(folder, owns=_written_by_edit, keep=inputs) as staging:
        bank = _direction_bank(model, checkpoint, bank_file, layers, arch, layout, companions, options)
        direction_list = (
            parse_index_list(directions, what="direction", limit=bank.k)
            if directions is not None
            else tuple(range(min(DEFAULT_DIRECTIONS, bank.k)))
        )

        loaded = open_generator(checkpoint if checkpoint is not None else model, device=device,
                                architecture=arch, layout=layout, companions=companions, options=options)
        plan = plan_edits(
            loaded.generator, bank, direction_list, np.linspace(start, stop, steps).tolist(), seed_list,
            truncation_psi=trunc, truncation_cutoff=trunc_cutoff, architecture=loaded.architecture,
            class_index=class_, model=loaded.name, to_distance=to_distance,
        )
        note = None if factorized else _same_checkpoint_note(bank, loaded)
        if note:
            typer.echo(f"Note: {note}", err=True)

        rendered = render_for_display(
            loaded.generator, bank, plan, model=loaded.name, size=size, batch_size=batch_size, progress=True
        )
        outputs = write_edit_files(rendered, staging.path)
        if factorized:
            outputs.written.insert(0, save_bank(bank, staging.path / BANK_FILE))
    for line in outputs.notes:
        typer.echo(f"Note: {line}", err=True)
    for path in outputs.written:
        typer.echo(f"wrote {staging.final_path(path)}")
