"""Safe checkpoint loading (placeholder: being written)."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import Checkpoint


def open_checkpoint(path: str | Path) -> Checkpoint:
    """Open any supported container as a lazily-loaded Checkpoint, never executing code from it."""
    raise NotImplementedError
