"""Built-in PGGAN architecture: genforce's PGGANGenerator, the original SeFa release's PGGAN.

The one projection layer is ``layer0``, weight (C, z_dim, 4, 4): a convolution with padding 3
applied to the pixel-normalised z as a 1x1 map. Its 4x4xC output is a linear map of z, and the
release takes it as ``weight.flip(2, 3).permute(1, 0, 2, 3).flatten(1)`` = Aᵀ, so A has 16·C rows
(channel-major, then the 4x4 positions) of width z_dim. ``projection`` gives A as a numpy view of
the file's weight, shape (C, 16, z_dim) (rows in that order; the factorizer flattens the leading
axes), so no copy of the layer is made. Layouts: the genforce ``.pth`` and the
huggan ``pytorch_model.bin`` (layouts); synthesis at full resolution (generator).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sefa_zoo import (
    Architecture,
    Checkpoint,
    CheckpointError,
    LayerSpecError,
    ProjectionLayer,
    hookimpl,
)

from .layouts import DESCRIPTION, FIRST_KERNEL, LAYOUT, LOD, PGGANShape, locate, looks_like_pggan

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .generator import PGGANGenerator

# The torch-backed parts load on first use: listing the catalogue registers this plugin
# without importing torch.
_LAZY = {
    "PGGANGenerator": ".generator",
    "FIXTURE_LAYOUTS": ".fixtures", "pggan_widths": ".fixtures", "random_pggan_state": ".fixtures",
    "save_pggan": ".fixtures",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "FIXTURE_LAYOUTS", "PGGAN", "PGGANGenerator", "PGGANShape", "pggan_widths", "random_pggan_state", "save_pggan",
]


class PGGAN(Architecture):
    """PGGAN (genforce layout): one projection from z (index 0, ``layer0``).

    ``layer_groups`` is empty: the SeFa paper's bottom/middle/top groups are StyleGAN W+ ranges
    and mean nothing for a single layer, so the layer specs are ``all`` and ``0``. There is no
    truncation: ``map`` with ``truncation_psi != 1`` is an error.
    """

    name = "pggan"
    description = "PGGAN generator (genforce / the original SeFa release): the 4x4 layer from z; z space"
    layouts = {LAYOUT: DESCRIPTION}
    latent_space = "z"

    def detect(self, checkpoint: Checkpoint) -> str | None:
        return LAYOUT if looks_like_pggan(checkpoint) else None

    def locate(self, checkpoint: Checkpoint, layout: str | None = None, options: dict[str, Any] | None = None
               ) -> PGGANShape:
        """The generator, every tensor's shape checked; a LayoutError naming the tensor at fault."""
        self.check_options(options or {})
        if layout is not None:
            self.resolve_layout(checkpoint, layout)
        return locate(checkpoint)

    def layers(
        self, checkpoint: Checkpoint, *, layout: str | None = None, **options: Any
    ) -> list[ProjectionLayer]:
        shape = self.locate(checkpoint, layout, options)
        return [ProjectionLayer(0, "layer0", shape.first_outputs, shape.z_dim, level=4, kind="dense")]

    def projection(
        self,
        checkpoint: Checkpoint,
        indices: Sequence[int],
        *,
        layout: str | None = None,
        **options: Any,
    ) -> list[np.ndarray]:
        """A = (the release's Aᵀ)ᵀ = ``layer0.weight.flip(2, 3).permute(1, 0, 2, 3).flatten(1).T``,
        as a (C, 16, z_dim) view of the weight: rows (channel, then the flipped 4x4 positions)."""
        shape = self.locate(checkpoint, layout, options)
        for index in indices:
            if index != 0:
                raise LayerSpecError(f"PGGAN has one projection layer, index 0; got index {index}")
        if not indices:
            return []
        weight = checkpoint.array(shape.prefix + "layer0.weight")  # (C, z_dim, 4, 4)
        flipped = weight[:, :, ::-1, ::-1].transpose(0, 2, 3, 1)  # (C, 4, 4, z_dim), a view
        matrix = flipped.reshape(shape.widths[0], FIRST_KERNEL * FIRST_KERNEL, shape.z_dim)  # (4, 4) merge: a view
        return [matrix for _ in indices]

    def layer_groups(self, num_layers: int) -> dict[str, tuple[int, ...]]:
        return {}

    def build_generator(
        self,
        checkpoint: Checkpoint,
        *,
        layout: str | None = None,
        device: str | torch.device = "cpu",
    ) -> PGGANGenerator:
        """The generator at full resolution: eval mode, float32, frozen, on ``device``.

        A file whose ``lod`` is not 0 holds a generator still growing (genforce would blend in a
        lower resolution's image); it is refused rather than drawn at a resolution it was not
        trained for.
        """
        from .generator import PGGANGenerator

        shape = self.locate(checkpoint, layout)
        if shape.has_lod:
            lod = checkpoint[shape.prefix + LOD]
            if float(lod) != 0.0:
                raise CheckpointError(
                    f"{checkpoint.label}: {shape.prefix + LOD!r} is {float(lod):g}: a PGGAN still growing "
                    "(lod > 0) is not supported; sefa-zoo draws fully grown generators (lod 0)"
                )
        net = PGGANGenerator(shape)
        tensors = {name: checkpoint[shape.prefix + name] for name in shape.tensor_names() if name != LOD}
        net.load_state_dict(tensors, strict=False)
        return self.prepared_generator(net, device)


@hookimpl
def register_architectures(register):
    register(PGGAN())
