"""sefa-zoo: closed-form semantic directions (SeFa) for pretrained GAN generators.

Everything a user or a plugin author needs is importable from here.
"""

from ._version import __version__
from .architecture import Architecture, Generator, ProjectionLayer
from .atomic import atomic_path
from .bank import DirectionBank, export_npy, export_rosinality, load_bank, save_bank
from .checkpoint import Checkpoint
from .entry import CatalogueEntry
from .errors import (
    BankError,
    CatalogueError,
    CheckpointError,
    FetchError,
    LayerSpecError,
    LayoutError,
    PluginError,
    SefaZooError,
    SynthesisUnavailableError,
    UnknownArchitectureError,
    UnknownModelError,
    UnsafeCheckpointError,
)
from .factorizer import Factorization, factorize
from .fetching import cached_path, fetch
from .hookspecs import hookimpl
from .layers import parse_layer_spec
from .loading import open_checkpoint
from .nvidia_pickle_writer import PersistentModule, save_nvidia_pickle
from .lookup import detect, get_architecture
from .plugins import PluginWarning, get_registry, register_plugin, unregister_plugin
from .sources import HubSource, LocalSource, UrlSource

from .api import factorize_checkpoint, factorize_file, factorize_model, layer_table  # noqa: E402
from .editing import (  # noqa: E402
    EditPlan,
    codes_from_seeds,
    latents_from_seeds,
    load_generator,
    plan_edits,
    render_edits,
    truncate,
)

# Writers of pictures import Pillow; they load on first use, not with every command.
_LAZY = {
    "RenderedEdits": ".outputs.rendered",
    "render_for_display": ".outputs.rendered",
    "write_edit_outputs": ".outputs.folder",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Architecture", "BankError", "CatalogueEntry", "CatalogueError", "Checkpoint", "CheckpointError",
    "DirectionBank", "EditPlan", "Factorization", "FetchError", "Generator", "HubSource", "LayerSpecError",
    "LayoutError", "LocalSource", "PersistentModule", "PluginError", "PluginWarning", "ProjectionLayer",
    "RenderedEdits", "SefaZooError",
    "SynthesisUnavailableError", "UnknownArchitectureError", "UnknownModelError",
    "UnsafeCheckpointError", "UrlSource", "__version__", "atomic_path", "cached_path", "codes_from_seeds",
    "detect", "export_npy", "export_rosinality", "factorize", "factorize_checkpoint", "factorize_file",
    "factorize_model",
    "get_architecture", "get_registry", "hookimpl", "latents_from_seeds", "layer_table", "load_bank",
    "load_generator", "open_checkpoint", "parse_layer_spec", "plan_edits", "register_plugin", "render_edits",
    "render_for_display", "save_bank", "save_nvidia_pickle", "truncate", "unregister_plugin",
    "write_edit_outputs",
]
