"""What sefa-zoo needs to know about the MLP generator: how to recognise its checkpoints,
its projection layer, that layer's weight matrix, and how to build the network."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sefa_zoo import (
    Architecture,
    Checkpoint,
    LayerSpecError,
    LayoutError,
    ProjectionLayer,
    SefaZooError,
)

from .network import FIRST_LAYER, MLPGenerator

LAYOUT = "state-dict"
PREFIX_OPTION = "prefix"
# The network's state dict, exactly: anything more or less under the prefix is another model.
TENSOR_NAMES = ("net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "net.4.weight", "net.4.bias")


@dataclass(frozen=True)
class FoundGenerator:
    """An MLP generator in a checkpoint: where its tensors sit and the sizes read from their shapes."""

    prefix: str
    z_dim: int
    hidden: int
    channels: int
    resolution: int


def image_shape(outputs: int) -> tuple[int, int] | None:
    """(channels, side) with channels * side**2 == outputs, RGB first, then greyscale."""
    for channels in (3, 1):
        side = math.isqrt(outputs // channels)
        if outputs % channels == 0 and channels * side * side == outputs:
            return channels, side
    return None


def read_generator(checkpoint: Checkpoint, prefix: str) -> FoundGenerator | None:
    """The generator under ``prefix`` judged from names and shapes alone (no tensor is loaded)."""
    names = {name[len(prefix):] for name in checkpoint if name.startswith(prefix)}
    if names != set(TENSOR_NAMES):
        return None
    w0, b0, w2, b2, w4, b4 = (checkpoint.shape(prefix + name) for name in TENSOR_NAMES)
    if len(w0) != 2 or len(w4) != 2:
        return None
    hidden, z_dim = w0
    outputs = w4[0]
    if b0 != (hidden,) or w2 != (hidden, hidden) or b2 != (hidden,) or w4[1] != hidden or b4 != (outputs,):
        return None
    image = image_shape(outputs)
    if image is None:
        return None
    return FoundGenerator(prefix, z_dim, hidden, *image)


def find_generators(checkpoint: Checkpoint) -> list[FoundGenerator]:
    """Every MLP generator in the checkpoint: bare, or wrapped under one prefix ("generator.")."""
    found = (read_generator(checkpoint, prefix) for prefix in checkpoint.prefixes_of("net.0.weight"))
    return [generator for generator in found if generator is not None]


class MLPGAN(Architecture):
    """A three-layer MLP generator; the first layer, ``net.0``, is the only one that sees z.

    A is that layer's weight, hidden x z_dim, so SeFa finds at most z_dim directions in z space.
    """

    name = "mlpgan"
    description = "three-layer MLP generator (Linear on z first), from the sefa-zoo-mlpgan example plugin"
    layouts = {LAYOUT: "the MLPGenerator state dict (net.0 / net.2 / net.4), bare or under one prefix"}
    latent_space = "z"
    options = {
        PREFIX_OPTION: "where the generator's tensors sit, e.g. 'generator.' "
        "(found automatically unless the file holds several generators)",
    }

    def detect(self, checkpoint: Checkpoint) -> str | None:
        # Called on every checkpoint sefa-zoo opens without --arch: look at names and
        # shapes only, never raise, and say None for anything that is not certainly ours.
        return LAYOUT if find_generators(checkpoint) else None

    def locate(self, checkpoint: Checkpoint, layout: str | None, options: dict[str, Any]) -> FoundGenerator:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise SefaZooError(f"architecture 'mlpgan' has no option {unknown[0]!r} "
                               f"(known: {', '.join(self.options)})")
        self.resolve_layout(checkpoint, layout)
        prefix = options.get(PREFIX_OPTION)
        if prefix is not None:  # options arrive as strings, from --option prefix=generator
            prefix = prefix.rstrip(".") + "." if prefix.strip(".") else ""
            found = read_generator(checkpoint, prefix)
            if found is None:
                raise LayoutError(f"{checkpoint.label}: no mlpgan generator under prefix {prefix!r}")
            return found
        generators = find_generators(checkpoint)
        if len(generators) != 1:
            where = ", ".join(repr(g.prefix) for g in generators) or "nowhere"
            raise LayoutError(f"{checkpoint.label}: expected one mlpgan generator, found them under {where}; "
                              f"choose one with --option {PREFIX_OPTION}=PREFIX")
        return generators[0]

    def layers(self, checkpoint: Checkpoint, *, layout: str | None = None, **options: Any) -> list[ProjectionLayer]:
        found = self.locate(checkpoint, layout, options)
        # level: the first layer makes a flat vector, a 1 x 1 "resolution".
        return [ProjectionLayer(0, FIRST_LAYER, found.hidden, found.z_dim, level=1, kind="linear")]

    def projection(
        self,
        checkpoint: Checkpoint,
        indices: Sequence[int],
        *,
        layout: str | None = None,
        **options: Any,
    ) -> list[np.ndarray]:
        found = self.locate(checkpoint, layout, options)
        for index in indices:
            if index != 0:
                raise LayerSpecError(f"mlpgan has one projection layer, index 0; got index {index}")
        if not indices:
            return []
        # nn.Linear stores its weight as (out_features, in_features): already outputs x z_dim.
        # Only this one tensor is read from the file, as numpy: factorizing needs no torch.
        weight = checkpoint.array(found.prefix + FIRST_LAYER + ".weight")
        return [weight for _ in indices]

    def layer_groups(self, num_layers: int) -> dict[str, tuple[int, ...]]:
        return {}  # one layer: bottom / middle / top mean nothing here; "all" and "0" do

    def build_generator(
        self,
        checkpoint: Checkpoint,
        *,
        layout: str | None = None,
        device: str | torch.device = "cpu",
    ) -> MLPGenerator:
        found = self.locate(checkpoint, layout, {})
        network = MLPGenerator(found.z_dim, found.hidden, found.channels, found.resolution)
        network.load_state_dict({name: checkpoint[found.prefix + name] for name in TENSOR_NAMES})
        network.requires_grad_(False)
        return network.to(device=device, dtype=torch.float32).eval()
