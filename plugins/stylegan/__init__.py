"""Built-in StyleGAN (v1) architecture: the AdaIN style layers of genforce's generator.

Layout ``genforce``: a genforce ``.pth`` (``generator_smooth``, else ``generator``) or a
huggan ``pytorch_model.bin`` (the plain state dict), the files of the original SeFa
release's zoo. Resolution, channel widths, w_dim and the mapping depth come from the shapes.

The layer table has one row per synthesis layer, index i = W+ entry i, 2·log2(res) − 2 in
all; layer i's projection is its stored style weight ``synthesis.layer{i}.style.weight``
(2C x w_dim: the AdaIN scale rows, then the shift rows), every row used, exactly the
matrix the release takes. Its row normalisation cancels the style's wscale, so the raw
tensor gives the release's directions.

``build_generator`` gives the generator genforce's StyleGANGenerator computes on the same
weights (generator); ``random_stylegan_state`` / ``save_stylegan`` write fixture files.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sefa_zoo import Architecture, Checkpoint, LayerSpecError, ProjectionLayer, hookimpl

from .layouts import LAYOUT, LAYOUTS, Located, detect, locate

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .generator import StyleGANGenerator

# The torch-backed parts load on first use: listing the catalogue registers this plugin
# without importing torch.
_LAZY = {
    "FIXTURE_LAYOUTS": ".fixtures", "random_stylegan_state": ".fixtures", "save_stylegan": ".fixtures",
    "StyleGANGenerator": ".generator",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["FIXTURE_LAYOUTS", "StyleGAN", "StyleGANGenerator", "random_stylegan_state", "save_stylegan"]


class StyleGAN(Architecture):
    name = "stylegan"
    description = "StyleGAN (v1): W+ AdaIN style layers of the synthesis network (genforce / huggan files)"
    layouts = LAYOUTS
    latent_space = "w"

    def detect(self, checkpoint: Checkpoint) -> str | None:
        return detect(checkpoint)

    def layers(
        self, checkpoint: Checkpoint, *, layout: str | None = None, **options: Any
    ) -> list[ProjectionLayer]:
        located = self._located(checkpoint, layout, options)
        return [
            ProjectionLayer(
                index=layer.index,
                name=layer.name,
                outputs=2 * layer.channels,
                latent_dim=located.w_dim,
                level=layer.level,
                kind="adain",
            )
            for layer in located.layers
        ]

    def projection(
        self,
        checkpoint: Checkpoint,
        indices: Sequence[int],
        *,
        layout: str | None = None,
        **options: Any,
    ) -> list[np.ndarray]:
        """The stored style weight of each index's layer, as numpy; reads only those tensors."""
        located = self._located(checkpoint, layout, options)
        for index in indices:
            if not 0 <= index < located.num_layers:
                raise LayerSpecError(
                    f"stylegan layer index {index} is out of range: valid indices are 0-{located.num_layers - 1}"
                )
        return [checkpoint.array(located.prefix + located.layers[index].key) for index in indices]

    def build_generator(
        self,
        checkpoint: Checkpoint,
        *,
        layout: str | None = None,
        device: str | torch.device = "cpu",
        image_size: tuple[int, int] | None = None,
    ) -> StyleGANGenerator:
        """The generator (``generator_smooth`` where the file has both), frozen, float32, on ``device``.

        ``image_size`` = (width, height) crops the middle of each frame, as a catalogue
        entry's ``image_size`` asks (the car model: 512x384 out of 512x512).
        """
        from .generator import StyleGANGenerator, read_generator_tensors

        located = self._located(checkpoint, layout, {})
        generator = StyleGANGenerator(
            read_generator_tensors(checkpoint, located), located, image_size=image_size, label=checkpoint.label
        )
        return self.prepared_generator(generator, device)

    def resolve_layout(self, checkpoint: Checkpoint, layout: str | None) -> str:
        """As the base class, but a file that is not one says what is wrong with it."""
        if layout is not None:
            return super().resolve_layout(checkpoint, layout)
        locate(checkpoint)
        return LAYOUT

    def _located(self, checkpoint: Checkpoint, layout: str | None, options: dict[str, Any]) -> Located:
        self.check_options(options)
        if layout is not None:
            self.resolve_layout(checkpoint, layout)
        return locate(checkpoint)


@hookimpl
def register_architectures(register):
    register(StyleGAN())
