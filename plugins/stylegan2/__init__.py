"""Built-in StyleGAN2 architecture: style-layer projections in three real checkpoint layouts.

Layouts: rosinality ``.pt`` (``g_ema``), NVIDIA stylegan2-ada-pytorch / stylegan3-repo
pickles (``G_ema``), NVIDIA's TensorFlow pickles (``Gs``), genforce ``.pth``
(``generator_smooth``) and huggan ``pytorch_model.bin`` state dicts, and sefa-zoo's own files. Whatever the layout, the layer table uses the W+
convention of the original release: 2·log2(res) − 2 indices, index 0 the 4x4 conv, then
conv0 / conv1 per resolution, the last index the final toRGB's style layer.

The projection matrices are the raw stored affine weights (outputs x w_dim; TensorFlow's
``mod_weight`` is stored as its transpose and is transposed back). The
release's row normalisation cancels every per-layer gain (equalised learning rate,
toRGB's extra 1/sqrt(C)), so raw tensors give its exact answer. With normalisation
turned off the directions are the right singular vectors of the raw stacked weights,
which is what rosinality's closed_form_factorization.py computes (it too uses the raw
stored tensors, gains left out); layers then weigh by their stored scale.

``build_generator`` reads the whole generator of any of these layouts into one torch
module (reader, generator). Class-conditional StyleGAN2-ADA generators (c_dim > 0, NVIDIA's
PyTorch pickles: ``mapping.embed``) are read with their label embedding: the generator takes
a class, which changes w only, so the projection is the same style affines on w. This module also offers fixture writers
(``random_stylegan2_state``, ``save_stylegan2``) that write one logical generator in each
real layout.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sefa_zoo import Architecture, Checkpoint, LayerSpecError, ProjectionLayer, SefaZooError, hookimpl

from .demo import shipped
from .demo.scorers import register_scorers  # noqa: F401  (the demo model's exact scorers)
from .layouts import LAYOUTS, Located, StyleSlot, affine_weight, detect, locate

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .generator import StyleGAN2Generator

# The torch-backed parts load on first use: listing the catalogue registers this plugin
# without importing torch.
_LAZY = {
    "FIXTURE_LAYOUTS": ".files", "save_stylegan2": ".files",
    "StyleGAN2State": ".fixtures", "random_stylegan2_state": ".fixtures",
    "stylegan2_state_dict": ".fixtures",
    "StyleGAN2Generator": ".generator",
    "read_conv_clamp": ".reader", "read_stylegan2_state": ".reader",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "FIXTURE_LAYOUTS", "StyleGAN2", "StyleGAN2Generator", "StyleGAN2State", "random_stylegan2_state",
    "read_stylegan2_state", "save_stylegan2", "stylegan2_state_dict",
]

TORGB_CHOICES = ("final", "all")


class StyleGAN2(Architecture):
    name = "stylegan2"
    description = "StyleGAN2 (config-e/f, StyleGAN2-ADA): W+ style layers of the synthesis network"
    layouts = LAYOUTS
    latent_space = "w"
    options = {
        "torgb": "toRGB style layers in the table: 'final' (default; the original release's table) "
        "or 'all' (every intermediate toRGB too, at the W+ index it consumes)",
    }

    def detect(self, checkpoint: Checkpoint) -> str | None:
        return detect(checkpoint)

    def layers(
        self, checkpoint: Checkpoint, *, layout: str | None = None, **options: Any
    ) -> list[ProjectionLayer]:
        located, slots = self._selected(checkpoint, layout, options)
        return [
            ProjectionLayer(
                index=slot.index,
                name=slot.name,
                outputs=located.outputs[slot.name],
                latent_dim=located.w_dim,
                level=slot.level,
                kind=slot.kind,
            )
            for slot in slots
        ]

    def projection(
        self,
        checkpoint: Checkpoint,
        indices: Sequence[int],
        *,
        layout: str | None = None,
        **options: Any,
    ) -> list[np.ndarray]:
        """One matrix per index, as numpy; where several style layers share an index (``torgb=all``),
        their rows are stacked in execution order. Reads only the selected tensors."""
        located, slots = self._selected(checkpoint, layout, options)
        by_index: dict[int, list[StyleSlot]] = {}
        for slot in slots:
            by_index.setdefault(slot.index, []).append(slot)
        for index in indices:
            if index not in by_index:
                raise LayerSpecError(
                    f"stylegan2 layer index {index} is out of range: valid indices are 0-{located.num_ws - 1}"
                )
        import numpy as np

        matrices = []
        for index in indices:
            parts = [affine_weight(checkpoint, located, slot) for slot in by_index[index]]
            matrices.append(parts[0] if len(parts) == 1 else np.concatenate(parts, 0))
        return matrices

    def build_generator(
        self,
        checkpoint: Checkpoint,
        *,
        layout: str | None = None,
        device: str | torch.device = "cpu",
        image_size: tuple[int, int] | None = None,
    ) -> StyleGAN2Generator:
        """The generator (EMA weights where the file has both), frozen, float32, on ``device``.

        ``image_size`` = (width, height) crops the middle of each frame, as a catalogue
        entry's ``image_size`` asks (the car model: 512x384 out of 512x512).
        """
        from .generator import StyleGAN2Generator
        from .reader import read_conv_clamp, read_stylegan2_state

        layout = self.resolve_layout(checkpoint, layout)
        generator = StyleGAN2Generator(
            read_stylegan2_state(checkpoint, layout),
            conv_clamp=read_conv_clamp(checkpoint, layout),
            image_size=image_size,
            label=checkpoint.label,
        )
        return self.prepared_generator(generator, device)

    def _selected(
        self, checkpoint: Checkpoint, layout: str | None, options: Mapping[str, Any]
    ) -> tuple[Located, list[StyleSlot]]:
        include_all = _torgb_option(options) == "all"
        located = locate(checkpoint, self.resolve_layout(checkpoint, layout))
        slots = [s for s in located.slots if s.kind == "conv" or s.final or include_all]
        return located, slots


def _torgb_option(options: Mapping[str, Any]) -> str:
    StyleGAN2().check_options(options)
    value = options.get("torgb")
    text = "final" if value is None else str(value).strip().lower()
    if text not in TORGB_CHOICES:
        raise SefaZooError(
            f"option torgb={value!r} is not valid for stylegan2: use {' or '.join(TORGB_CHOICES)}"
        )
    return text


@hookimpl
def register_architectures(register):
    register(StyleGAN2())


@hookimpl
def register_catalogue_entries(register):
    # The demo model ships inside the package: `sefa-zoo edit stylegan2-shapes` works offline.
    if shipped.weights_path().is_file():
        register(shipped.catalogue_entry())
