"""Checks of the arguments that say which model a command works on: a catalogue MODEL or
``--checkpoint FILE`` (with ``--arch`` and ``--layout``), shared by the commands."""

from __future__ import annotations

from pathlib import Path

from ..errors import SefaZooError
from ..file_kinds import kind_of


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
    kind = kind_of(checkpoint)
    if kind is None:
        raise SefaZooError(f"{checkpoint}: no such checkpoint file")
    if kind != "a regular file":
        raise SefaZooError(f"{checkpoint}: is {kind}, not a checkpoint file")


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``--option KEY=VALUE`` pairs as a dict; a pair without ``=`` or key is a one-line error."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SefaZooError(f"--option {pair!r} must look like KEY=VALUE")
        options[key.strip()] = value.strip()
    return options
