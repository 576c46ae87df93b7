"""sefa-zoo-mlpgan: an example sefa-zoo plugin for a small MLP generator.

sefa-zoo imports this module through the ``sefa_zoo`` entry point (see pyproject.toml)
and calls the two hooks below. Everything it uses comes from ``sefa_zoo``'s public API.
"""

from __future__ import annotations

from pathlib import Path

from sefa_zoo import hookimpl

from .architecture import MLPGAN

# The shipped demo: written by `python -m sefa_zoo_mlpgan.checkpoints` with these settings.
DEMO = dict(z_dim=8, hidden=32, channels=3, resolution=4, seed=0)
DEMO_FILE = Path(__file__).resolve().with_name("demo.safetensors")
DEMO_SHA256 = "3a0a896833fe533baecb43d413fd802922d0c22ca7f3cf8602f82ed1e15746df"


@hookimpl
def register_architectures(register):
    register(MLPGAN())


@hookimpl
def register_catalogue_entries(register):
    # A "local" source is a path on this machine. The demo weights ship inside the package,
    # so the path is absolute and computed here; sefa-zoo checks size and sha256 before use.
    register({
        "name": "mlpgan-demo",
        "architecture": "mlpgan",
        "layout": "state-dict",
        "source": {
            "kind": "local",
            "path": str(DEMO_FILE),
            "sha256": DEMO_SHA256,
            "size": DEMO_FILE.stat().st_size,
        },
        "resolution": DEMO["resolution"],
        "num_layers": 1,
        "z_dim": DEMO["z_dim"],
        "license": "MIT",
        "provenance": "random weights from sefa_zoo_mlpgan.checkpoints (seed 0); a demo, not a trained model",
        "description": "tiny untrained MLP generator (4x4 RGB) for trying the plugin end to end",
    })
