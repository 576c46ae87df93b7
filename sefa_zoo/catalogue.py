"""The model catalogue (placeholder: being written)."""

from __future__ import annotations

from .entry import CatalogueEntry


def get_entry(name: str) -> CatalogueEntry:
    raise NotImplementedError
