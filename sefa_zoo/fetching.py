"""Fetching checkpoints (placeholder: being written)."""

from __future__ import annotations

from pathlib import Path

from .entry import CatalogueEntry


def fetch(entry: CatalogueEntry, *, progress: bool = True) -> Path:
    raise NotImplementedError


def cached_path(entry: CatalogueEntry) -> Path | None:
    raise NotImplementedError
