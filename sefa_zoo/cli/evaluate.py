"""``sefa-zoo evaluate``: how much each direction of some banks changes the images (against
random directions), which attributes it changes (re-scored by a scorer), and how the banks'
directions compare; printed, and written as CSV, JSON and a heat-map in one output folder."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..catalogue import get_entry
from ..conventions import DEFAULT_TRUNCATION_CUTOFF
from ..errors import SefaZooError
from . import display
from .edit import check_device
from .inputs import (
    ArchOption, CheckpointOption, ConfigOption, LayoutOption, check_model_arguments, companion_files,
    parse_options, protected_inputs,
)

if TYPE_CHECKING:
    from ..bank import DirectionBank
    from ..evaluation import Evaluation

DEFAULT_TOP = 10


def evaluate(
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
    bank_files: Annotated[list[Path], typer.Option(
        "--bank", "-b", help="A direction bank to evaluate (repeatable: banks are also compared).")] = [],
    scorer_name: Annotated[Optional[str], typer.Option(
        "--scorer", help="Re-score the edited images with this scorer, one a plugin registers (the demo model's: "
        "shapes).")] = None,
    top: Annotated[int, typer.Option(
        "--top", min=1, help="Evaluate the first (strongest) directions of each bank, this many.")] = DEFAULT_TOP,
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="Seeds to edit: --seed onwards.")] = 64,
    distance: Annotated[float, typer.Option(
        "--distance", help="How far to move along each direction, in latent units (a GANSpace bank's too).")] = 3.0,
    seed: Annotated[int, typer.Option("--seed", min=0, help="The first seed; also seeds the random directions.")] = 0,
    num_random: Annotated[int, typer.Option(
        "--random", min=1, help="Random unit directions for the baseline (per set of layers).")] = 16,
    trunc: Annotated[Optional[float], typer.Option(
        "--trunc", help="Truncation psi. Default: the model's own, as for edit.")] = None,
    trunc_cutoff: Annotated[int, typer.Option(
        "--trunc-cutoff", min=0, help="Truncate the layers below this index only.")] = DEFAULT_TRUNCATION_CUTOFF,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Output folder (default: ./<model>_evaluation/).")] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Images synthesized at a time (bounds memory).")] = 8,
    device: Annotated[str, typer.Option(
        "--device", help="Torch device to render on: cpu, cuda, cuda:1, mps.")] = "cpu",
) -> None:
    """Measure directions: image change per unit of distance against random directions, the
    re-scoring matrix (mean change of each attribute a scorer measures) with a heat-map, and the
    cosine similarity between the directions of every pair of banks. Writes evaluation.json,
    image_change.csv, rescoring.csv, rescoring.png and similarity.csv into the output folder."""
    check_model_arguments(model, checkpoint, arch, layout)
    options = parse_options(option)
    companions = companion_files(config, checkpoint)
    if not bank_files:
        raise SefaZooError("give at least one --bank to evaluate")
    if model is not None:
        get_entry(model)
    check_device(device)

    from ..bank import load_bank
    from ..editing import open_generator
    from ..evaluation import (
        OUTPUT_NAMES, EvaluationSettings, check_evaluation, evaluate_banks, images_to_render, output_files,
    )
    from ..outputs.staging import staged_folder

    settings = EvaluationSettings(samples=samples, distance=distance, seed=seed, num_random=num_random,
                                  truncation_psi=trunc, truncation_cutoff=trunc_cutoff, class_index=class_,
                                  batch_size=batch_size)
    settings.check()
    banks = [(label, load_bank(path).top(top)) for label, path in _labelled(bank_files)]
    scorer = _scorer(scorer_name)
    folder = output if output is not None else Path(f"{model if model is not None else checkpoint.stem}_evaluation")
    inputs = [*(protected_inputs(checkpoint, companions) if checkpoint is not None else []), *bank_files]
    with staged_folder(folder, owns=lambda name: name in OUTPUT_NAMES, keep=inputs) as staging:
        loaded = open_generator(checkpoint if checkpoint is not None else model, device=device, architecture=arch,
                                layout=layout, companions=companions, options=options)
        if scorer is not None and not scorer.fits(loaded.name if loaded.from_catalogue else None):
            typer.echo(f"Note: scorer {scorer.name!r} is meant for {', '.join(scorer.models)}, not this model",
                       err=True)
        check_evaluation(loaded.generator, banks, settings, architecture=loaded.architecture, model=loaded.name)
        with _progress(images_to_render(banks, settings)) as advance:
            evaluation = evaluate_banks(loaded.generator, banks, settings=settings, scorer=scorer,
                                        architecture=loaded.architecture, model=loaded.name, advance=advance)
        written = []
        for name, data in output_files(evaluation).items():
            (staging.path / name).write_bytes(data)
            written.append(staging.path / name)
    _print_evaluation(evaluation)
    for path in written:
        typer.echo(f"wrote {staging.final_path(path)}")


def _labelled(paths: list[Path]) -> list[tuple[str, Path]]:
    """Each bank file with a label: its name, numbered when several files share it."""
    labels = []
    for path in paths:
        label, count = path.name, 2
        while label in (taken for taken, _ in labels):
            label, count = f"{path.name} ({count})", count + 1
        labels.append((label, path))
    return labels


def _scorer(name: str | None):
    if name is None:
        return None
    from ..scoring import get_scorer

    return get_scorer(name)


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr, gone when the rendering is done; yields advance(n)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("rendering", total=total)
        yield lambda n: progress.advance(task, n)


def _print_evaluation(evaluation: Evaluation) -> None:
    settings = evaluation.settings
    _print_image_change(evaluation)
    if evaluation.scorer is not None:
        _print_rescoring(evaluation)
    compared = [similarity for similarity in evaluation.similarities if similarity.cosines is not None]
    if compared:
        _print_similarities(compared)
    for similarity in evaluation.similarities:
        if similarity.cosines is None:
            typer.echo(f"{similarity.first} and {similarity.second} are not compared: {similarity.skipped}")
    typer.echo(f"{settings.samples} samples (seeds {settings.seed}-{settings.seed + settings.samples - 1}), "
               f"distance {settings.distance:g}, truncation psi {evaluation.truncation_psi:g}")


def _direction_cells(label: str, bank: DirectionBank, index: int) -> list:
    return [display.text(label), str(index), display.text(bank.name_of(index))]


def _print_image_change(evaluation: Evaluation) -> None:
    table = display.table(title="image change: mean |ΔI| per unit of distance (images in [-1, 1])")
    for column in ("bank", "direction", "name"):
        table.add_column(column)
    for column in ("change", "random", "ratio"):
        table.add_column(column, justify="right")
    for result in evaluation.banks:
        ratios = result.ratios()
        for i in range(result.bank.k):
            table.add_row(*_direction_cells(result.label, result.bank, i), f"{result.image_change[i]:.4f}",
                          f"{result.baselines[i].mean_image_change:.4f}", f"{ratios[i]:.2f}x")
    display.print_table(table)


def _print_rescoring(evaluation: Evaluation) -> None:
    table = display.table(title=display.text(
        f"re-scoring ({evaluation.scorer}): mean change at distance {evaluation.settings.distance:g} "
        "(in spreads of the attribute over the seeds)"))
    for column in ("bank", "direction", "name"):
        table.add_column(column)
    for attribute in evaluation.attributes:
        table.add_column(display.text(attribute), justify="right")
    for result in evaluation.banks:
        normalized = evaluation.normalized_rescoring(result)
        for i in range(result.bank.k):
            cells = [f"{change:+.3g} ({spreads:+.2f})" for change, spreads in zip(result.rescoring[i], normalized[i])]
            table.add_row(*_direction_cells(result.label, result.bank, i), *cells)
    display.print_table(table)


def _print_similarities(similarities) -> None:
    """For each direction of the first bank of each pair, the closest direction of the second."""
    table = display.table(title="cosine similarity: the closest direction of the other bank")
    for column in ("bank", "direction", "other bank", "closest"):
        table.add_column(column, justify="right" if column in ("direction", "closest") else "left")
    table.add_column("cosine", justify="right")
    for similarity in similarities:
        for i, row in enumerate(similarity.cosines):
            j = int(abs(row).argmax())
            table.add_row(display.text(similarity.first), str(i), display.text(similarity.second), str(j),
                          f"{row[j]:+.3f}")
    display.print_table(table)
