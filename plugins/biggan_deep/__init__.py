"""Built-in BigGAN-deep architecture: the pytorch-pretrained-BigGAN package's state dict and config.

Layout ``pretrained-biggan``: ``pytorch_model.bin`` with its ``config.json`` beside it (or given
with ``--config``). The generator takes cat(z, class embedding); SeFa factorizes the z columns
only (``ProjectionLayer.latent_part`` says which). By default the one projection is ``gen_z``,
the SeFa paper's first projection; ``projection=all-conditional`` adds the scale and offset of
every conditional batch norm, which take the same cat(z, embedding). All of them act on the one
z, so every layer has latent index 0. Weights are spectrally normalised as the network uses
them (weight_orig / sigma, sigma from the stored u and v).

``build_generator`` gives the class-conditional generator the package computes (generator);
``random_biggan_state`` / ``save_biggan`` write fixture folders (fixtures).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from sefa_zoo import (
    Architecture,
    Checkpoint,
    LayerSpecError,
    ProjectionLayer,
    SefaZooError,
    hookimpl,
)

from .layouts import (
    BN_COUNT,
    DESCRIPTION,
    GEN_Z,
    LAYERS,
    LAYOUT,
    BigGANShape,
    locate,
    looks_like_biggan,
    spectral_normalized_array,
)

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .generator import BigGANGenerator

# The torch-backed parts load on first use: listing the catalogue registers this plugin
# without importing torch.
_LAZY = {
    "BigGANGenerator": ".generator", "spectral_normalized": ".generator",
    "biggan_deep_128_config": ".fixtures", "random_biggan_state": ".fixtures", "save_biggan": ".fixtures",
    "small_config": ".fixtures",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "BigGANDeep", "BigGANGenerator", "biggan_deep_128_config", "imagenet_class_names", "random_biggan_state",
    "save_biggan", "small_config", "spectral_normalized",
]

PROJECTION_OPTION = "projection"
PROJECTIONS = ("gen_z", "all-conditional")
CLASS_NAMES_FILE = "imagenet_classes.txt"


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names in BigGAN's class order (the package's data file)."""
    try:
        text = resources.files(__package__).joinpath(CLASS_NAMES_FILE).read_text(encoding="utf-8")
    except OSError as exc:
        raise SefaZooError(
            f"the ImageNet class names ({CLASS_NAMES_FILE}) are missing from {__package__}: reinstall sefa-zoo "
            f"({exc.strerror or exc})"
        ) from None
    return tuple(line for line in text.splitlines() if line and not line.startswith("#"))


class BigGANDeep(Architecture):
    """BigGAN-deep: the z columns of ``gen_z`` (and optionally of every conditional batch norm),
    one latent index (0) since every such layer takes the same z."""

    name = "biggan-deep"
    description = "BigGAN-deep (pytorch-pretrained-BigGAN files): z columns of gen_z; class-conditional; z space"
    layouts = {LAYOUT: DESCRIPTION}
    latent_space = "z"
    options = {
        PROJECTION_OPTION: "'gen_z' (default: the first projection, as the SeFa paper) or 'all-conditional' "
                           "(gen_z and every conditional batch norm's scale and offset)",
    }

    def detect(self, checkpoint: Checkpoint) -> str | None:
        return LAYOUT if looks_like_biggan(checkpoint) else None

    def layers(
        self, checkpoint: Checkpoint, *, layout: str | None = None, **options: Any
    ) -> list[ProjectionLayer]:
        shape, projection = self._located(checkpoint, layout, options)
        part = latent_part(shape.z_dim)
        table = [ProjectionLayer(0, "gen_z", shape.first_outputs, shape.z_dim, level=4, kind="dense", latent_part=part)]
        if projection == "all-conditional":
            for block in shape.blocks:
                for k in range(BN_COUNT):
                    channels = block.in_channels if k == 0 else block.middle
                    level = block.level if k < 2 else block.out_level
                    for which in ("scale", "offset"):
                        table.append(ProjectionLayer(
                            0, f"layers.{block.module}.bn_{k}.{which}", channels, shape.z_dim, level=level,
                            kind="cond-bn", latent_part=part,
                        ))
        return table

    def projection(
        self,
        checkpoint: Checkpoint,
        indices: Sequence[int],
        *,
        layout: str | None = None,
        **options: Any,
    ) -> list[np.ndarray]:
        """For index 0: the z columns of each selected layer's spectrally normalised weight, stacked."""
        import numpy as np

        shape, projection = self._located(checkpoint, layout, options)
        for index in indices:
            if index != 0:
                raise LayerSpecError(f"BigGAN has one latent index, 0 (every layer takes the same z); got {index}")
        if not indices:
            return []
        prefixes = [GEN_Z]
        if projection == "all-conditional":
            prefixes += [f"{LAYERS}{block.module}.bn_{k}.{which}"
                         for block in shape.blocks for k in range(BN_COUNT) for which in ("scale", "offset")]
        matrix = np.concatenate([spectral_normalized_array(checkpoint, prefix)[:, : shape.z_dim] for prefix in prefixes])
        return [matrix for _ in indices]

    def layer_groups(self, num_layers: int) -> dict[str, tuple[int, ...]]:
        return {}

    def build_generator(
        self,
        checkpoint: Checkpoint,
        *,
        layout: str | None = None,
        device: str | torch.device = "cpu",
    ) -> BigGANGenerator:
        """The generator, frozen, float32, on ``device``, with the ImageNet class names when it has
        1000 classes."""
        from .generator import BigGANGenerator

        shape, _ = self._located(checkpoint, layout, {})
        names = imagenet_class_names() if shape.num_classes == len(imagenet_class_names()) else None
        generator = BigGANGenerator.from_checkpoint(checkpoint, shape, names)
        return self.prepared_generator(generator, device)

    def resolve_layout(self, checkpoint: Checkpoint, layout: str | None) -> str:
        """As the base class, but a file that is not one says what is wrong with it."""
        if layout is not None:
            return super().resolve_layout(checkpoint, layout)
        locate(checkpoint)
        return LAYOUT

    def _located(self, checkpoint: Checkpoint, layout: str | None, options: dict[str, Any]
                 ) -> tuple[BigGANShape, str]:
        self.check_options(options)
        projection = options.get(PROJECTION_OPTION, PROJECTIONS[0])
        if projection not in PROJECTIONS:
            raise SefaZooError(
                f"option {PROJECTION_OPTION!r} of 'biggan-deep' must be {' or '.join(map(repr, PROJECTIONS))}, "
                f"not {str(projection)[:40]!r}"
            )
        if layout is not None:
            self.resolve_layout(checkpoint, layout)
        return locate(checkpoint), projection


def latent_part(z_dim: int) -> str:
    """Which input columns of a cat(z, class embedding) layer are z."""
    return f"z = input columns 0-{z_dim - 1} of {2 * z_dim} ({z_dim}-{2 * z_dim - 1}: class embedding)"


@hookimpl
def register_architectures(register):
    register(BigGANDeep())
