"""Where a StyleGAN3 generator's layers live in an NVIDIA stylegan3-repo pickle (names and shapes only).

NVIDIA's SynthesisNetwork has a Fourier-feature input ``synthesis.input`` (its affine gives
4 numbers: the rotation and translation of the features) and layers
``synthesis.L{i}_{size}_{channels}`` for i = 0..N, the last one the toRGB (N = 14 in
every released config). ``ws`` has N + 2 rows: the input takes ws[0] and L{i} takes
ws[i + 1], so the W+ index of L{i} is i + 1. Each layer's affine has one row per input
channel of its modulated convolution (3x3 for config T, 1x1 for config R; the toRGB 1x1).

What tells this file from a StyleGAN2 pickle under the same ``G_ema``: StyleGAN2's synthesis
has blocks ``synthesis.b{res}``, StyleGAN3's has ``synthesis.input.freqs`` and L-layers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sefa_zoo import Checkpoint

LAYOUT = "nvidia"
LAYOUTS: Mapping[str, str] = {
    LAYOUT: "NVIDIA stylegan3-repo pickle of a StyleGAN3 (config T or R) generator (uses 'G_ema')",
}
PREFIXES = ("G_ema.", "")

_LAYER_PATTERN = re.compile(r"^synthesis\.L([0-9]{1,6})_([0-9]{1,6})_([0-9]{1,6})\.weight$")
INPUT = "synthesis.input"
# The Fourier input's tensors and the shapes they must have (C: its channels, W: w_dim).
INPUT_TENSORS = ("weight", "affine.weight", "affine.bias", "transform", "freqs", "phases")
MIN_LAYERS = 2  # at least one layer before the toRGB


@dataclass(frozen=True)
class SynthesisLayer:
    """Layer L{index}: module path, output size and channels, input channels, kernel size."""

    index: int
    module: str  # "synthesis.L3_52_512"
    size: int
    in_channels: int
    out_channels: int
    kernel: int
    is_torgb: bool

    @property
    def name(self) -> str:
        return self.module.split(".", 1)[1]

    @property
    def w_index(self) -> int:
        return self.index + 1


@dataclass(frozen=True)
class Located:
    """A StyleGAN3 generator found in a checkpoint."""

    prefix: str
    w_dim: int
    input_channels: int
    layers: tuple[SynthesisLayer, ...]

    @property
    def num_ws(self) -> int:
        return len(self.layers) + 1

    @property
    def resolution(self) -> int:
        return self.layers[-1].size

    @property
    def img_channels(self) -> int:
        return self.layers[-1].out_channels

    @property
    def config(self) -> str:
        """'R' (1x1 convolutions) or 'T' (3x3 or larger)."""
        return "R" if all(layer.kernel == 1 for layer in self.layers) else "T"


def _layer_names(keys: list[str], prefix: str) -> dict[int, tuple[str, int, int]] | str:
    found: dict[int, tuple[str, int, int]] = {}
    for match in map(_LAYER_PATTERN.match, keys):
        if not match:
            continue
        index, size, channels = (int(g) for g in match.groups())
        module = match.group(0)[: -len(".weight")]
        if index in found:
            return f"two layers L{index}: {prefix + found[index][0]!r} and {prefix + module!r}"
        found[index] = (module, size, channels)
    if not found:
        return f"no StyleGAN3 synthesis layers (tensors named like {prefix + 'synthesis.L0_36_512.weight'!r})"
    count = max(found) + 1
    # An index beyond what the file's tensors could fill names no real generator.
    if count > len(keys):
        return f"layer L{count - 1} but only {len(keys)} tensors"
    missing = [i for i in range(count) if i not in found]
    if missing:
        return f"no layer L{missing[0]} (tensors named like '{prefix}synthesis.L{missing[0]}_<size>_<channels>.weight')"
    if count < MIN_LAYERS:
        return f"only {count} synthesis layer (a StyleGAN3 has layers and a final toRGB)"
    return found


def _check_input(checkpoint: Checkpoint, prefix: str, present: set[str]) -> tuple[int, int] | str:
    for name in INPUT_TENSORS:
        if f"{INPUT}.{name}" not in present:
            return f"missing tensor {prefix + INPUT + '.' + name!r} (the Fourier-feature input)"
    shapes = {name: checkpoint.shape(f"{prefix}{INPUT}.{name}") for name in INPUT_TENSORS}
    weight = shapes["weight"]
    if len(weight) != 2 or weight[0] != weight[1]:
        return f"{prefix + INPUT + '.weight'!r} has shape {weight}, expected (channels, channels)"
    channels = weight[0]
    affine = shapes["affine.weight"]
    if len(affine) != 2 or affine[0] != 4:
        return f"{prefix + INPUT + '.affine.weight'!r} has shape {affine}, expected (4, w_dim)"
    expected = {"affine.bias": (4,), "transform": (3, 3), "freqs": (channels, 2), "phases": (channels,)}
    for name, shape in expected.items():
        if shapes[name] != shape:
            return f"{prefix + INPUT + '.' + name!r} has shape {shapes[name]}, expected {shape}"
    return channels, affine[1]


def _check(checkpoint: Checkpoint, prefix: str) -> Located | str:
    """The generator under ``prefix``, or a one-line reason why there is none."""
    keys = [k[len(prefix):] for k in checkpoint if k.startswith(prefix)]
    names = _layer_names(keys, prefix)
    if isinstance(names, str):
        return names
    present = set(keys)
    found = _check_input(checkpoint, prefix, present)
    if isinstance(found, str):
        return found
    channels, w_dim = found
    layers = []
    for index in range(len(names)):
        module, size, out_channels = names[index]
        is_torgb = index == len(names) - 1
        for part in ("affine.weight", "affine.bias", "bias", "magnitude_ema"):
            if f"{module}.{part}" not in present:
                return f"missing tensor {prefix + module + '.' + part!r}"
        weight = checkpoint.shape(f"{prefix}{module}.weight")
        if len(weight) != 4 or weight[:2] != (out_channels, channels) or weight[2] != weight[3]:
            return (
                f"{prefix + module + '.weight'!r} has shape {weight}, expected ({out_channels}, {channels}, k, k): "
                f"its name's channels, the input's"
            )
        if is_torgb and weight[2] != 1:
            return f"{prefix + module + '.weight'!r} has shape {weight}: the final toRGB is a 1x1 convolution"
        expected = {
            "affine.weight": (channels, w_dim), "affine.bias": (channels,), "bias": (out_channels,),
            "magnitude_ema": (),
        }
        for part, shape in expected.items():
            actual = checkpoint.shape(f"{prefix}{module}.{part}")
            if actual != shape:
                return f"{prefix + module + '.' + part!r} has shape {actual}, expected {shape}"
        layers.append(SynthesisLayer(index, module, size, channels, out_channels, weight[2], is_torgb))
        channels = out_channels
    return Located(prefix, w_dim, layers[0].in_channels, tuple(layers))


def locate(checkpoint: Checkpoint) -> Located:
    """The StyleGAN3 generator in ``checkpoint``; a LayoutError naming what is wrong otherwise."""
    return checkpoint.search_prefixes(
        PREFIXES, lambda prefix: _check(checkpoint, prefix), "an NVIDIA StyleGAN3 pickle"
    )


def detect(checkpoint: Checkpoint) -> str | None:
    return LAYOUT if any(isinstance(_check(checkpoint, p), Located) for p in PREFIXES) else None
