"""``sefa-zoo render``: the image an edit recipe describes, exactly as it was saved."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..atomic import check_outputs, write_atomically
from .edit import check_device
from .inputs import CheckpointOption, ConfigOption, check_checkpoint_file, companion_files, protected_inputs

if TYPE_CHECKING:
    import torch


def render(
    recipe: Annotated[Path, typer.Argument(metavar="RECIPE", help="An edit recipe (JSON), as the editor saves it.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The edited image (PNG, full resolution; several seeds side by side).")],
    original: Annotated[Optional[Path], typer.Option(
        "--original", help="Also write the unedited image (PNG) here.")] = None,
    bank_file: Annotated[Optional[Path], typer.Option(
        "--bank", "-b", help="The recipe's direction bank file, when it names one (checked by its digest).")] = None,
    checkpoint: CheckpointOption = None,
    config: ConfigOption = None,
    device: Annotated[str, typer.Option("--device", help="Torch device to render on: cpu, cuda, cuda:1, mps.")] = "cpu",
) -> None:
    """Render an edit recipe: the same pixels as when it was saved. The recipe's checkpoint (by
    sha256) and bank (by digest) are checked first."""
    from ..recipe import load_recipe, render_recipe  # torch: imported to render, not for --help

    companions = companion_files(config, checkpoint)
    if checkpoint is not None:
        check_checkpoint_file(checkpoint)
    inputs = [recipe, bank_file, *(protected_inputs(checkpoint, companions) if checkpoint is not None else [])]
    check_outputs([output, *([original] if original is not None else [])], inputs)
    loaded = load_recipe(recipe)
    originals, edited = render_recipe(loaded, bank_file=bank_file, checkpoint=checkpoint, companions=companions,
                                      device=check_device(device), progress=True)
    images = {output: edited, **({original: originals} if original is not None else {})}
    for path in write_atomically({path: _png_writer(pictures) for path, pictures in images.items()}):
        typer.echo(f"wrote {path}")


def _png_writer(images: torch.Tensor) -> Callable[[Path], object]:
    from ..outputs.imaging import side_by_side, to_uint8

    buffer = io.BytesIO()
    side_by_side(to_uint8(images).numpy()).save(buffer, format="PNG")
    data = buffer.getvalue()
    return lambda path: path.write_bytes(data)
