"""Where sefa-zoo keeps its own files. Each can be moved by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    if os.environ.get("SEFA_ZOO_CONFIG_DIR"):
        return Path(os.environ["SEFA_ZOO_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sefa-zoo"


def cache_dir() -> Path:
    if os.environ.get("SEFA_ZOO_CACHE"):
        return Path(os.environ["SEFA_ZOO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sefa-zoo"
