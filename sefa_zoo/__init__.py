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

__all__ = [
    "Architecture", "BankError", "CatalogueEntry", "CatalogueError", "Checkpoint", "CheckpointError",
    "DirectionBank", "Factorization", "FetchError", "Generator", "HubSource", "LayerSpecError",
    "LayoutError", "LocalSource", "PersistentModule", "PluginError", "PluginWarning", "ProjectionLayer",
    "SefaZooError",
    "SynthesisUnavailableError", "UnknownArchitectureError", "UnknownModelError",
    "UnsafeCheckpointError", "UrlSource", "__version__", "atomic_path", "cached_path", "detect", "export_npy",
    "export_rosinality", "factorize", "factorize_checkpoint", "factorize_file", "factorize_model",
    "get_architecture", "get_registry", "hookimpl", "layer_table", "load_bank", "open_checkpoint",
    "parse_layer_spec", "register_plugin", "save_bank", "save_nvidia_pickle", "unregister_plugin",
]
