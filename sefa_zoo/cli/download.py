"""``sefa-zoo download``: fetch catalogue checkpoints into the local caches and verify them."""

from __future__ import annotations

from typing import Annotated

import typer

from ..catalogue import get_entry
from ..fetching import fetch
from ..hashing import sha256_file


def download(
    models: Annotated[list[str], typer.Argument(help="Catalogue model names (see `sefa-zoo list`).")],
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show download progress bars.")
    ] = True,
) -> None:
    """Download checkpoints (if not cached yet), check their sha256, and print where they are."""
    entries = [get_entry(name) for name in dict.fromkeys(models)]  # every name checked before any download
    for entry in entries:
        path = fetch(entry, progress=progress)
        digest = sha256_file(path)  # remembered by fetch's check: no second pass over the file
        checked = "matches the catalogue" if entry.source.sha256 else "not in the catalogue"
        typer.echo(entry.name)
        typer.echo(f"  path    {path}")
        typer.echo(f"  sha256  {digest} ({checked})")
