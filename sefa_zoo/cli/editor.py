"""``sefa-zoo editor``: the interactive editor in the browser (the optional ``editor`` extra)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import SefaZooError
from .inputs import (
    ArchitectureOptions, ArchOption, CheckpointOption, ConfigOption, LayoutOption, check_model_arguments,
    companion_files, parse_options,
)

DEFAULT_MODEL = "stylegan2-shapes"
INSTALL_HINT = 'the editor needs the editor extra: pip install "sefa-zoo[editor]"'


def check_editor_installed() -> None:
    """A one-line error when Gradio, the editor's page library, is not installed."""
    if importlib.util.find_spec("gradio") is None:
        raise SefaZooError(INSTALL_HINT)


def editor(
    model: Annotated[Optional[str], typer.Argument(
        help=f"Catalogue model name (see `sefa-zoo list`). Default: {DEFAULT_MODEL}, the built-in demo model.")] = None,
    checkpoint: CheckpointOption = None,
    arch: ArchOption = None,
    layout: LayoutOption = None,
    config: ConfigOption = None,
    option: ArchitectureOptions = [],
    bank_files: Annotated[list[Path], typer.Option(
        "--bank", "-b", help="A direction bank to offer in the page (repeatable); the first is shown first.")] = [],
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on. The default serves this machine only.")] = "127.0.0.1",
    port: Annotated[Optional[int], typer.Option(
        "--port", min=1, max=65535, help="Port to listen on. Default: the first free one from 7860.")] = None,
    no_browser: Annotated[bool, typer.Option(
        "--no-browser", help="Do not open a browser (none is opened where there is no display).")] = False,
) -> None:
    """Move SeFa directions by hand in a local web page: a slider per direction, seeds,
    truncation, original and edited side by side; save the picture, the edit and named banks."""
    check_editor_installed()
    if model is not None or checkpoint is not None:
        check_model_arguments(model, checkpoint, arch, layout)
    elif arch is not None or layout is not None:
        raise SefaZooError("--arch and --layout go with --checkpoint; a catalogue model declares its own")
    companions = companion_files(config, checkpoint)
    options = parse_options(option)
    for path in bank_files:
        if not path.is_file():
            raise SefaZooError(f"{path}: no such direction bank file")

    from ..catalogue import get_entry
    from ..editor.server import serve
    from ..editor.session import ModelSource, Workspace

    if checkpoint is None:
        get_entry(model or DEFAULT_MODEL)
        source = ModelSource(name=model or DEFAULT_MODEL, options=options)
    else:
        source = ModelSource(checkpoint=checkpoint, architecture=arch, layout=layout, companions=companions,
                             options=options)
    serve(Workspace(source, bank_files), host=host, port=port, open_browser=not no_browser, announce=typer.echo)
