"""The trained demo model that ships inside the package, and its catalogue entry.

The weights were trained by ``train`` on the ``shapes`` data set; SHA256 and SIZE are those of
the shipped file (a test checks them), so fetching it verifies it like any download.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

WEIGHTS = "stylegan2-shapes.safetensors"
SHA256 = "220ab416dfe0fee29dcf5839b0f976f928ec4cf010b71322d97508a0d9cbee28"
SIZE = 1346606
KIMG = 250  # thousands of training images seen by the shipped weights


def weights_path() -> Path:
    return Path(str(resources.files(__package__) / WEIGHTS))


def catalogue_entry() -> dict[str, Any]:
    return {
        "name": "stylegan2-shapes",
        "architecture": "stylegan2",
        "layout": "sefa-zoo",
        "source": {"kind": "local", "path": str(weights_path()), "sha256": SHA256, "size": SIZE},
        "resolution": 32,
        "z_dim": 64,
        "w_dim": 64,
        "num_layers": 8,
        "license": "MIT (sefa-zoo's own model, trained on procedurally generated images)",
        "provenance": f"trained by sefa-zoo (plugins/stylegan2/demo/train.py, seed 0, {KIMG} kimg) on "
        "32x32 images of one disc with known position, radius, hue and background grey",
        "description": "sefa-zoo's built-in demo: a small StyleGAN2 that works offline, anywhere",
    }
