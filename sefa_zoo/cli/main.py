"""The ``sefa-zoo`` application: global options, the command families, and the one place
where library exceptions become a short message and exit code 1."""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import SefaZooError
from ..interrupts import INTERRUPTED
from ..plugins import PluginWarning, set_plugins_dir
from . import (
    boundary, catalogue, direction_layers, download, edit, editor, evaluate, factorize, ganspace, name, plugins,
    project, render,
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


class _Commands(TyperGroup):
    """The command group. Ctrl-C at any point of a run, options being parsed included, gives
    "Error: interrupted" (typer alone would exit 130 in silence)."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            raise _fail("interrupted", INTERRUPTED) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _fail("interrupted", INTERRUPTED) from None


app = typer.Typer(
    name="sefa-zoo",
    cls=_Commands,
    help="Closed-form semantic directions (SeFa) for pretrained GAN generators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map every error a user can cause to one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SefaZooError as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise _fail(f"{where}{exc.strerror or exc}") from None

    return wrapper


def _show_plugin_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, PluginWarning):
        typer.echo(f"Warning: {message}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


class _NoteHandler(logging.Handler):
    """Library notes (e.g. the hash of a first download) as 'Note: ...' lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(f"Note: {record.getMessage()}", err=True)


def _show_library_notes() -> None:
    logger = logging.getLogger("sefa_zoo")
    if not any(isinstance(h, _NoteHandler) for h in logger.handlers):
        logger.addHandler(_NoteHandler(logging.INFO))
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _quiet_huggingface_hub() -> None:
    """huggingface_hub logs its retries and resumes on stderr; sefa-zoo reports what fails itself.

    HF_HUB_VERBOSITY or HF_DEBUG, huggingface_hub's own settings, bring its messages back.
    """
    if os.environ.get("HF_HUB_VERBOSITY") or os.environ.get("HF_DEBUG"):
        return
    from huggingface_hub.utils import logging as hf_logging  # sets its level on first import

    hf_logging.set_verbosity(logging.CRITICAL + 1)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sefa-zoo {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    plugins_dir: Annotated[
        Optional[Path],
        typer.Option("--plugins-dir", help="Also load plugin files (*.py) from this folder.",
                     envvar="SEFA_ZOO_PLUGINS_DIR"),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    warnings.showwarning = _show_plugin_warning
    _show_library_notes()
    _quiet_huggingface_hub()
    if plugins_dir is not None:
        set_plugins_dir(plugins_dir)


app.command("list")(guarded(catalogue.list_models))
app.command("info")(guarded(catalogue.info))
app.command("download")(guarded(download.download))
app.command("factorize")(guarded(factorize.factorize))
app.command("ganspace")(guarded(ganspace.ganspace))
app.command("boundary")(guarded(boundary.boundary))
app.command("project")(guarded(project.project))
app.command("edit")(guarded(edit.edit))
app.command("render")(guarded(render.render))
app.command("editor")(guarded(editor.editor))
app.command("name")(guarded(name.name))
app.command("direction-layers")(guarded(direction_layers.direction_layers))
app.command("evaluate")(guarded(evaluate.evaluate))
app.command("plugins")(guarded(plugins.plugins))


def main() -> None:
    """The application as the ``sefa-zoo`` command runs it (through sefa_zoo.__main__)."""
    app()
