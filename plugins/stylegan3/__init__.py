"""Built-in StyleGAN3 architecture (configs T and R): the affine layers of the alias-free synthesis network.

Layout ``nvidia``: the pickles NVIDIA's stylegan3 repository writes (``G_ema``), read with
the restricted unpickler (no NVIDIA code runs). The layer table has one row per synthesis
layer L0..L14 (the last the toRGB) at the W+ index the layer consumes, i + 1 for L{i}:
``ws`` has 16 rows and the Fourier-feature input takes ws[0]. The input's affine (4 outputs,
the rotation and translation of the features) is no style layer: ``input=include`` adds it
at index 0. Each projection is the raw stored affine weight (in_channels x w_dim); the
release's row normalisation cancels its gain (1/sqrt(w_dim), and the toRGB's extra
1/sqrt(C)), so raw tensors give its answer.

``build_generator`` gives the generator NVIDIA's code computes on the same weights with its
reference ops (generator); ``random_stylegan3_state`` / ``save_stylegan3`` write fixtures.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sefa_zoo import (
    Architecture,
    Checkpoint,
    LayerSpecError,
    ProjectionLayer,
    SefaZooError,
    hookimpl,
)

from .layouts import LAYOUT, LAYOUTS, Located, detect, locate

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .generator import StyleGAN3Generator

# The torch-backed parts load on first use: listing the catalogue registers this plugin
# without importing torch.
_LAZY = {
    "StyleGAN3State": ".fixtures", "random_stylegan3_state": ".fixtures", "save_stylegan3": ".fixtures",
    "design_lowpass_filter": ".fixtures",
    "StyleGAN3Generator": ".generator",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "StyleGAN3", "StyleGAN3Generator", "StyleGAN3State", "design_lowpass_filter", "random_stylegan3_state",
    "save_stylegan3",
]

INPUT_CHOICES = ("exclude", "include")
INPUT_INDEX = 0
# W+ groups for 16 ws: at 256 px the layers' cutoff frequencies in each group are those of
# StyleGAN2's 4-8 px (bottom), 16-32 px (middle) and finer (top) resolutions.
GROUP_STARTS = {"bottom": 0, "middle": 4, "top": 8}


class StyleGAN3(Architecture):
    name = "stylegan3"
    description = "StyleGAN3 (alias-free, configs T and R): W+ affine layers of the synthesis network"
    layouts = LAYOUTS
    latent_space = "w"
    options = {
        "input": "the Fourier input's affine (rotation and translation, 4 rows) at W+ index 0: "
        "'exclude' (default; it is no style layer) or 'include'",
    }

    def detect(self, checkpoint: Checkpoint) -> str | None:
        return detect(checkpoint)

    def layers(
        self, checkpoint: Checkpoint, *, layout: str | None = None, **options: Any
    ) -> list[ProjectionLayer]:
        located = self._located(checkpoint, layout)
        table = [
            ProjectionLayer(
                index=layer.w_index,
                name=layer.name,
                outputs=layer.in_channels,
                latent_dim=located.w_dim,
                level=layer.size,
                kind="torgb" if layer.is_torgb else "conv",
            )
            for layer in located.layers
        ]
        if _input_option(options) == "include":
            size = located.layers[0].size
            table.insert(0, ProjectionLayer(INPUT_INDEX, "input", 4, located.w_dim, size, kind="input"))
        return table

    def projection(
        self,
        checkpoint: Checkpoint,
        indices: Sequence[int],
        *,
        layout: str | None = None,
        **options: Any,
    ) -> list[np.ndarray]:
        """The stored affine weight of each index's layer, as numpy; reads only those tensors."""
        located = self._located(checkpoint, layout)
        include_input = _input_option(options) == "include"
        keys = {layer.w_index: f"{layer.module}.affine.weight" for layer in located.layers}
        if include_input:
            keys[INPUT_INDEX] = "synthesis.input.affine.weight"
        for index in indices:
            if index not in keys:
                if index == INPUT_INDEX:
                    raise LayerSpecError(
                        "stylegan3 layer index 0 is the Fourier input's affine, left out by default: "
                        "add the option input=include to use it"
                    )
                first = min(keys)
                raise LayerSpecError(
                    f"stylegan3 layer index {index} is out of range: valid indices are {first}-{located.num_ws - 1}"
                )
        return [checkpoint.array(located.prefix + keys[index]) for index in indices]

    def layer_groups(self, num_layers: int) -> dict[str, tuple[int, ...]]:
        ends = [*list(GROUP_STARTS.values())[1:], num_layers]
        groups = {
            name: tuple(range(start, min(end, num_layers)))
            for (name, start), end in zip(GROUP_STARTS.items(), ends, strict=True)
        }
        return {name: indices for name, indices in groups.items() if indices}

    def build_generator(
        self,
        checkpoint: Checkpoint,
        *,
        layout: str | None = None,
        device: str | torch.device = "cpu",
    ) -> StyleGAN3Generator:
        """The generator (``G_ema``), frozen, float32, on ``device``."""
        from .generator import StyleGAN3Generator
        from .reader import read_stylegan3

        located = self._located(checkpoint, layout)
        generator = StyleGAN3Generator(read_stylegan3(checkpoint, located), label=checkpoint.label)
        return self.prepared_generator(generator, device)

    def resolve_layout(self, checkpoint: Checkpoint, layout: str | None) -> str:
        """As the base class, but a file that is not one says what is wrong with it."""
        if layout is not None:
            return super().resolve_layout(checkpoint, layout)
        locate(checkpoint)
        return LAYOUT

    def _located(self, checkpoint: Checkpoint, layout: str | None) -> Located:
        if layout is not None:
            self.resolve_layout(checkpoint, layout)
        return locate(checkpoint)


def _input_option(options: Mapping[str, Any]) -> str:
    StyleGAN3().check_options(options)
    value = options.get("input")
    text = "exclude" if value is None else str(value).strip().lower()
    if text not in INPUT_CHOICES:
        raise SefaZooError(f"option input={value!r} is not valid for stylegan3: use {' or '.join(INPUT_CHOICES)}")
    return text


@hookimpl
def register_architectures(register):
    register(StyleGAN3())
