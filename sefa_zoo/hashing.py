"""sha256 of files (placeholder: being written)."""

from __future__ import annotations

from pathlib import Path


def sha256_file(path: str | Path) -> str:
    raise NotImplementedError
