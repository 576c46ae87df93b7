"""``sefa-zoo boundary``: an InterFaceGAN boundary of an attribute, saved as a one-direction bank."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..atomic import check_outputs
from ..catalogue import get_entry
from . import display
from .inputs import (
    ArchitectureOptions, ArchOption, CheckpointOption, ConfigOption, LayoutOption, check_model_arguments, companion_files,
    parse_options, protected_inputs,
)

if TYPE_CHECKING:
    from ..bank import DirectionBank


class Space(str, Enum):
    z = "z"
    w = "w"
    wp = "wp"


def _default_path(model: str | None, checkpoint: Path | None, attribute: str) -> Path:
    name = checkpoint.stem if checkpoint is not None else model
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in attribute)
    return Path(f"{name}_boundary_{safe}.safetensors")


def boundary(
    attribute: Annotated[str, typer.Option(
        "--attribute", "-a", help="The attribute to separate: one the scorer scores (the demo's: x, y, radius, "
        "hue, background), or the name of the --scores given.")],
    model: Annotated[Optional[str], typer.Argument(help="Catalogue model name (see `sefa-zoo list`).")] = None,
    scorer: Annotated[Optional[str], typer.Option(
        "--scorer", help="The scorer of the sampled images (default: the one meant for the model that scores "
        "--attribute).")] = None,
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="Codes to sample and score.")] = 10_000,
    space: Annotated[Optional[Space], typer.Option(
        "--space", help="Latent space of the boundary: z, w, or wp (W+: every layer's code). Default: w for style "
        "models, z for the others; with --codes, wp for (N, layers, D) codes.")] = None,
    ratio: Annotated[float, typer.Option(
        "--ratio", help="Share of the codes kept at each end of the scores (positives and negatives).")] = 0.02,
    split: Annotated[float, typer.Option(
        "--split", help="Share of each end used to train the SVM; the rest validates it.")] = 0.7,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the sampled codes and of the split.")] = 0,
    per_layer: Annotated[bool, typer.Option(
        "--per-layer", help="One W+ boundary per layer, each on that layer's codes: a bank of one direction per "
        "layer, each moving its layer only.")] = False,
    codes_file: Annotated[Optional[Path], typer.Option(
        "--codes", help="Codes instead of sampling: a .npy of (N, D) codes, or (N, layers, D) W+ codes.")] = None,
    scores_file: Annotated[Optional[Path], typer.Option(
        "--scores", help="With --codes: a .npy of one score per code, (N,) or (N, 1).")] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="The bank file (default: ./<model>_boundary_<attribute>.safetensors).")] = None,
    checkpoint: CheckpointOption = None,
    arch: ArchOption = None,
    layout: LayoutOption = None,
    config: ConfigOption = None,
    option: ArchitectureOptions = [],
    class_: Annotated[Optional[str], typer.Option(
        "--class", help="Class of a class-conditional model: an index or a class name.")] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Images synthesized and scored at a time (bounds memory).")] = 64,
    device: Annotated[str, typer.Option("--device", help="Torch device: cpu, cuda, cuda:1, mps.")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fit an InterFaceGAN boundary: sample codes, score their images, fit a linear SVM between the
    highest and lowest scores and save its unit normal (towards higher scores) and offset as a bank;
    `edit` moves along it or to a distance from it."""
    check_model_arguments(model, checkpoint, arch, layout)
    companions = companion_files(config, checkpoint)
    options = parse_options(option)
    if model is not None:
        get_entry(model)
    target = output if output is not None else _default_path(model, checkpoint, attribute)
    inputs = [*(protected_inputs(checkpoint, companions) if checkpoint is not None else []), codes_file, scores_file]
    check_outputs([target], inputs)

    from ..bank import save_bank
    from ..boundary import find_boundary
    from ..scoring import get_scorer
    from .edit import check_device

    check_device(device)
    bank = find_boundary(
        checkpoint if checkpoint is not None else model, attribute,
        scorer=get_scorer(scorer) if scorer is not None else None, space=space.value if space else None,
        samples=samples, ratio=ratio, split=split, seed=seed, per_layer=per_layer, batch_size=batch_size,
        class_index=class_, codes_file=codes_file, scores_file=scores_file, device=device, architecture=arch,
        layout=layout, companions=companions, options=options, progress=not as_json,
    )
    check_outputs([target], inputs)
    replaced = target.is_file()
    save_bank(bank, target)
    if as_json:
        typer.echo(json.dumps({"bank": str(target), "replaced": replaced, "model": bank.model,
                               "offsets": [float(b) for b in bank.offsets], **bank.method_info}, indent=2))
        return
    _show(bank)
    typer.echo(f"{'replaced' if replaced else 'wrote'} {target}")


def _show(bank: DirectionBank) -> None:
    info = bank.method_info
    source = f"scorer {info['scorer']!r}" if "scorer" in info else f"{info['scores_file']}"
    table = display.table(title=f"{bank.model}: boundary of {info['attribute']!r} in {info['space']} "
                                f"({info['samples']} codes, {source})")
    for column in ("direction", "offset b", "validation accuracy", "remaining accuracy"):
        table.add_column(column, justify="right")
    per_layer = info["per_layer"]
    for i in range(bank.k):
        validation = info["validation_accuracy"][i] if per_layer else info["validation_accuracy"]
        remaining = info["remaining_accuracy"][i] if per_layer else info["remaining_accuracy"]
        table.add_row(f"{i} {bank.name_of(i)}", f"{bank.offsets[i]:+.4f}", f"{validation:.1%}",
                      "-" if remaining is None else f"{remaining:.1%}")
    display.print_table(table)
    typer.echo(f"trained on {2 * info['train']} codes (top and bottom {info['ratio']:g}), validated on "
               f"{2 * info['validation']}; the {info['remaining']} others labelled by {info['remaining_labels']}")
    if not all(info["converged"] if per_layer else [info["converged"]]):
        typer.echo("Note: the SVM did not converge in its iteration limit; the boundary may be rough", err=True)
