"""sefa-zoo: closed-form semantic directions (SeFa) for pretrained GAN generators.

Everything a user or a plugin author needs is importable from here.
"""

from ._version import __version__
from .errors import (
    BankError,
    CatalogueError,
    CheckpointError,
    FetchError,
    LayerSpecError,
    LayoutError,
    OutputPathError,
    PluginError,
    RecipeError,
    ScorerError,
    SefaZooError,
    SynthesisUnavailableError,
    UnknownArchitectureError,
    UnknownModelError,
    UnsafeCheckpointError,
)

# Each name loads its module on first use: `sefa-zoo --help` and `list` never import torch,
# and a plugin that imports only what it registers stays as light.
_LAZY = {
    "Architecture": ".architecture", "Generator": ".architecture", "ProjectionLayer": ".architecture",
    "atomic_path": ".atomic",
    "DirectionBank": ".bank", "export_npy": ".bank", "export_rosinality": ".bank", "load_bank": ".bank",
    "save_bank": ".bank",
    "Checkpoint": ".checkpoint",
    "CatalogueEntry": ".entry",
    "CatalogueWarning": ".catalogue",
    "Factorization": ".factorizer", "factorize": ".factorizer",
    "cached_path": ".fetching", "fetch": ".fetching",
    "hookimpl": ".hookspecs",
    "parse_layer_spec": ".layers",
    "open_checkpoint": ".loading",
    "detect": ".lookup", "get_architecture": ".lookup",
    "PluginWarning": ".plugins", "get_registry": ".plugins", "register_plugin": ".plugins",
    "unregister_plugin": ".plugins",
    "HubSource": ".sources", "LocalSource": ".sources", "UrlSource": ".sources",
    "factorize_checkpoint": ".api", "factorize_file": ".api", "factorize_model": ".api", "layer_table": ".api",
    "EditPlan": ".editing", "codes_from_seeds": ".editing", "latents_from_seeds": ".editing",
    "load_generator": ".editing", "plan_edits": ".editing", "render_edits": ".editing", "truncate": ".editing",
    "RenderedEdits": ".outputs.rendered", "render_for_display": ".outputs.rendered",
    "write_edit_outputs": ".outputs.folder",
    "CombinedEdit": ".editing", "distance_units": ".editing", "edited_codes": ".editing",
    "edited_latents": ".editing", "layer_offsets": ".editing", "map_latents": ".editing",
    "plan_combined": ".editing", "render_combined": ".editing", "synthesize_codes": ".editing",
    "Recipe": ".recipe", "load_recipe": ".recipe", "make_recipe": ".recipe", "render_recipe": ".recipe",
    "save_recipe": ".recipe",
    "Scorer": ".scoring", "get_scorer": ".scoring", "score_images": ".scoring", "scorers": ".scoring",
    "ganspace": ".ganspace",
    "find_boundary": ".boundary",
    "DirectionRef": ".conditioning", "project_direction": ".conditioning",
    "EvaluationSettings": ".evaluation", "evaluate_banks": ".evaluation",
    "ModelBank": ".api", "factorize_catalogue_model": ".api",
}


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):  # submodules too, as `sefa_zoo.loading` worked when all loaded eagerly
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CombinedEdit", "DirectionRef", "EvaluationSettings", "ModelBank", "Recipe", "RecipeError", "Scorer",
    "ScorerError", "distance_units", "edited_codes", "edited_latents", "evaluate_banks", "factorize_catalogue_model",
    "find_boundary", "ganspace", "get_scorer", "layer_offsets", "load_recipe", "make_recipe", "map_latents",
    "plan_combined", "project_direction", "render_combined", "render_recipe", "save_recipe", "score_images",
    "scorers", "synthesize_codes",
    "Architecture", "BankError", "CatalogueEntry", "CatalogueError", "CatalogueWarning", "Checkpoint", "CheckpointError",
    "DirectionBank", "EditPlan", "Factorization", "FetchError", "Generator", "HubSource", "LayerSpecError",
    "LayoutError", "LocalSource", "OutputPathError", "PluginError", "PluginWarning", "ProjectionLayer",
    "RenderedEdits", "SefaZooError",
    "SynthesisUnavailableError", "UnknownArchitectureError", "UnknownModelError",
    "UnsafeCheckpointError", "UrlSource", "__version__", "atomic_path", "cached_path", "codes_from_seeds",
    "detect", "export_npy", "export_rosinality", "factorize", "factorize_checkpoint", "factorize_file",
    "factorize_model",
    "get_architecture", "get_registry", "hookimpl", "latents_from_seeds", "layer_table", "load_bank",
    "load_generator", "open_checkpoint", "parse_layer_spec", "plan_edits", "register_plugin", "render_edits",
    "render_for_display", "save_bank", "truncate", "unregister_plugin",
    "write_edit_outputs",
]
