"""Built-in plugin: DCGAN generators in the PyTorch-tutorial layout.

The one projection layer is ``main.0``, a ConvTranspose2d(nz, C, 4, 1, 0) applied to z
as a 1x1 map: its output is the linear map A z with A = weight.reshape(nz, -1).T, of
shape (C * 4 * 4) x nz, exactly as PGGAN's ``layer0``. The generator is found wherever
it sits in the checkpoint (bare, wrapped, ``module.``-prefixed); nz, the widths and nc
come from the shapes. Synthesis is the tutorial network itself, in eval mode.

Conditional DCGANs that feed cat(z, one-hot label) to ``main.0`` are read with the option
``classes=N`` (the last N input channels are the label; nothing in the file says so): the
projection is then the z columns of A only (the layer's ``latent_part`` says which), and
the generator is class-conditional with N classes.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sefa_zoo import (
    Architecture,
    Checkpoint,
    LayerSpecError,
    LayoutError,
    ProjectionLayer,
    SefaZooError,
    hookimpl,
)

from .shapes import GeneratorShape, find_generators, read_generator

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .model import DCGANGenerator


def __getattr__(name: str) -> Any:
    # The torch network loads on first use, so that registering this plugin needs no torch.
    if name in ("DCGANGenerator", "random_dcgan_state", "tutorial_widths"):
        return getattr(importlib.import_module(".model", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["DCGAN", "DCGANGenerator", "random_dcgan_state", "tutorial_widths"]

LAYOUT = "tutorial"
PREFIX_OPTION = "prefix"
CLASSES_OPTION = "classes"
MAX_CLASS_DIGITS = 9


class DCGAN(Architecture):
    """DCGAN, PyTorch-tutorial layout: one dense projection from z (index 0, ``main.0``).

    ``layer_groups`` is empty: the SeFa paper's bottom/middle/top groups are StyleGAN
    W+ ranges and mean nothing for a single layer, so the layer specs are ``all`` and ``0``.
    Truncation does not exist for DCGAN: ``map`` with ``truncation_psi != 1`` is an error.
    """

    name = "dcgan"
    description = "DCGAN generator, PyTorch-tutorial layout (nn.Sequential 'main'); z space"
    layouts = {
        LAYOUT: "PyTorch DCGAN tutorial generator state dict (main.0 = ConvTranspose2d from z), "
        "bare or wrapped (netG_state_dict / state_dict / generator / netG / module.)",
    }
    latent_space = "z"
    options = {
        PREFIX_OPTION: "where the generator's state dict sits in the checkpoint, e.g. 'netG_state_dict.' "
        "(found automatically unless the file holds several generators)",
        CLASSES_OPTION: "N for a class-conditional DCGAN fed cat(z, one-hot label): the last N input "
        "channels of main.0 are the label; only the z columns are factorized",
    }

    def detect(self, checkpoint: Checkpoint) -> str | None:
        return LAYOUT if find_generators(checkpoint) else None

    def locate(self, checkpoint: Checkpoint, prefix: str | None = None) -> GeneratorShape:
        """The generator in ``checkpoint``: the one under ``prefix``, or the only one there is."""
        if prefix is not None:
            prefix = prefix.rstrip(".")
            prefix = prefix + "." if prefix else ""
            shape = read_generator(checkpoint, prefix)
            if shape is None:
                raise LayoutError(f"{checkpoint.label}: no DCGAN tutorial generator under prefix {prefix!r}")
            return shape
        found = find_generators(checkpoint)
        if not found:
            raise LayoutError(
                f"{checkpoint.label}: no DCGAN tutorial generator (main.0 ... ConvTranspose2d chain)"
            )
        if len(found) > 1:
            where = ", ".join(repr(shape.prefix) for shape in found)
            raise LayoutError(
                f"{checkpoint.label}: several DCGAN generators (under {where}); "
                f"choose one with the option {PREFIX_OPTION} (CLI: --option {PREFIX_OPTION}=PREFIX)"
            )
        return found[0]

    def _generator_shape(
        self, checkpoint: Checkpoint, layout: str | None, options: dict[str, Any]
    ) -> GeneratorShape:
        self.check_options(options)
        self.resolve_layout(checkpoint, layout)
        return self.locate(checkpoint, options.get(PREFIX_OPTION))

    def layers(
        self, checkpoint: Checkpoint, *, layout: str | None = None, **options: Any
    ) -> list[ProjectionLayer]:
        shape = self._generator_shape(checkpoint, layout, options)
        classes = _num_classes(options.get(CLASSES_OPTION), shape)
        z_dim = shape.nz - classes
        latent_part = (
            f"z = input channels 0-{z_dim - 1} of {shape.nz} ({z_dim}-{shape.nz - 1}: one-hot label of {classes} classes)"
            if classes else ""
        )
        return [ProjectionLayer(0, "main.0", shape.first_outputs, z_dim, level=4, kind="dense", latent_part=latent_part)]

    def projection(
        self,
        checkpoint: Checkpoint,
        indices: Sequence[int],
        *,
        layout: str | None = None,
        **options: Any,
    ) -> list[np.ndarray]:
        shape = self._generator_shape(checkpoint, layout, options)
        for index in indices:
            if index != 0:
                raise LayerSpecError(f"DCGAN has one projection layer, index 0; got index {index}")
        if not indices:
            return []
        z_dim = shape.nz - _num_classes(options.get(CLASSES_OPTION), shape)
        weight = checkpoint.array(shape.prefix + "main.0.weight")
        matrix = weight.reshape(shape.nz, -1)[:z_dim].T
        return [matrix for _ in indices]

    def layer_groups(self, num_layers: int) -> dict[str, tuple[int, ...]]:
        return {}

    def build_generator(
        self,
        checkpoint: Checkpoint,
        *,
        layout: str | None = None,
        device: str | torch.device = "cpu",
        prefix: str | None = None,
        classes: int | str | None = None,
    ) -> DCGANGenerator:
        """The tutorial network with the checkpoint's weights: eval mode, float32, frozen, on ``device``.

        Keys must match the tutorial exactly. ``locate`` has already checked that every
        tutorial tensor is there with its shape, except ``num_batches_tracked``, which may be
        absent (PyTorch < 0.4.1 did not save it; eval mode does not use it); any other
        tensor under the generator's prefix is a LayoutError naming it. ``classes`` as the
        option of that name: the generator is then class-conditional.
        """
        from .model import DCGANGenerator

        shape = self._generator_shape(checkpoint, layout, {} if prefix is None else {PREFIX_OPTION: prefix})
        net = DCGANGenerator(shape.nz, shape.widths, shape.nc, num_classes=_num_classes(classes, shape))
        expected = net.state_dict()
        present = [name for name in checkpoint if name.startswith(shape.prefix)]
        unexpected = [name for name in present if name[len(shape.prefix):] not in expected]
        if unexpected:
            raise LayoutError(
                f"{checkpoint.label}: the DCGAN generator under {shape.prefix!r} does not match the "
                f"tutorial layout: unexpected key {unexpected[0]!r}"
            )
        net.load_state_dict({name[len(shape.prefix):]: checkpoint[name] for name in present}, strict=False)
        return self.prepared_generator(net, device)


def _num_classes(value: int | str | None, shape: GeneratorShape) -> int:
    """The option ``classes``: 0 when not given, else a whole number from 1 to nz - 1."""
    if value is None:
        return 0
    text = str(value).strip()
    whole = text.isascii() and text.isdecimal() and len(text) <= MAX_CLASS_DIGITS
    if isinstance(value, bool) or not whole or not 0 < int(text) < shape.nz:
        shown = text if len(text) <= MAX_CLASS_DIGITS else text[:MAX_CLASS_DIGITS] + "..."
        raise SefaZooError(
            f"option {CLASSES_OPTION}={shown!r} is not valid for dcgan: give the number of one-hot label "
            f"channels, 1 to {shape.nz - 1} (main.0 takes {shape.nz} inputs)"
        )
    return int(text)


@hookimpl
def register_architectures(register):
    register(DCGAN())
