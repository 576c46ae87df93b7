"""Checks of the arguments that say which model a command works on: a catalogue MODEL or
``--checkpoint FILE`` (with ``--arch`` and ``--layout``), shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import SefaZooError
from ..file_kinds import checkpoint_in_folder, kind_of


def check_model_arguments(
    model: str | None, checkpoint: Path | None, arch: str | None = None, layout: str | None = None
) -> None:
    """One-line SefaZooError unless exactly one of ``model`` and ``checkpoint`` is given,
    ``arch`` and ``layout`` only with ``checkpoint``, and ``checkpoint`` is a regular file."""
    if model is None and checkpoint is None:
        raise SefaZooError("give a catalogue MODEL (see `sefa-zoo list`) or --checkpoint FILE")
    if model is not None and checkpoint is not None:
        raise SefaZooError("give a catalogue MODEL or --checkpoint FILE, not both")
    if checkpoint is None:
        if arch is not None or layout is not None:
            raise SefaZooError("--arch and --layout go with --checkpoint; a catalogue model declares its own")
        return
    check_checkpoint_file(checkpoint)


def check_checkpoint_file(checkpoint: Path) -> None:
    """A regular file, or a folder holding one checkpoint (checked when it is opened)."""
    kind = kind_of(checkpoint)
    if kind is None:
        raise SefaZooError(f"{checkpoint}: no such checkpoint file")
    if kind not in ("a regular file", "a folder"):
        raise SefaZooError(f"{checkpoint}: is {kind}, not a checkpoint file")


def companion_files(config: Path | None, checkpoint: Path | None) -> dict[str, Path]:
    """``--config FILE`` as the companions ``open_checkpoint`` takes; only with ``--checkpoint``."""
    if config is None:
        return {}
    if checkpoint is None:
        raise SefaZooError("--config goes with --checkpoint; a catalogue model fetches its own config")
    kind = kind_of(config)
    if kind != "a regular file":
        raise SefaZooError(f"{config}: {'no such config file' if kind is None else f'is {kind}, not a config file'}")
    return {"config.json": config}


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``--option KEY=VALUE`` pairs as a dict; a pair without ``=`` or key is a one-line error."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SefaZooError(f"--option {pair!r} must look like KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


# Files a plugin may read beside the weights (Checkpoint.companion) when none is given.
COMPANION_NAMES = ("config.json",)


def protected_inputs(checkpoint: Path, companions: dict[str, Path]) -> list[Path]:
    """The files a run reads, which its outputs must never replace: the weights (the one in a
    folder) and their companions, given or beside them."""
    weights = checkpoint_in_folder(checkpoint) if checkpoint.is_dir() else checkpoint
    beside = [weights.parent / name for name in COMPANION_NAMES if name not in companions]
    return [weights, *companions.values(), *(path for path in beside if path.is_file())]


CONFIG_HELP = "The model's config.json, for --checkpoint files that need one and have none beside them (BigGAN)."

# The options that name a local checkpoint, the same on every command that takes one.
CheckpointOption = Annotated[Optional[Path], typer.Option(
    "--checkpoint", "-c", help="A local checkpoint file instead of a catalogue model.")]
ArchOption = Annotated[Optional[str], typer.Option("--arch", help="Architecture of --checkpoint (detected when omitted).")]
LayoutOption = Annotated[Optional[str], typer.Option(
    "--layout", help="Checkpoint layout of --checkpoint (detected when omitted).")]
ConfigOption = Annotated[Optional[Path], typer.Option("--config", help=CONFIG_HELP)]
ArchitectureOptions = Annotated[list[str], typer.Option(
    "--option", help="Architecture option KEY=VALUE (repeatable), e.g. torgb=all.")]
