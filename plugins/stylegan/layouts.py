"""Where a StyleGAN (v1) generator's AdaIN style layers live in a genforce / huggan state dict.

genforce's StyleGAN generator (the original SeFa release's) runs 2·log2(res) − 2 synthesis
layers, two per resolution from 4x4: ``synthesis.layer0`` styles the learned constant,
``layer1`` is the 4x4 conv, then per resolution r = 8..res ``layer{2k}`` (upsampling conv)
and ``layer{2k+1}``. Layer i takes W+ entry i through its style layer
``synthesis.layer{i}.style.weight`` of shape (2C, w_dim): AdaIN scale rows then shift
rows for the layer's C output channels. Only names and shapes are read here.

The rule that tells this generator from a StyleGAN2 one under the same names: a StyleGAN
style layer has twice as many rows as its layer has output channels (the constant's
channels for layer0, which has no convolution), where a StyleGAN2 modulation has one row
per input channel, and StyleGAN2 keeps its constant in ``early_layer``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sefa_zoo import Checkpoint

LAYOUT = "genforce"
LAYOUTS: Mapping[str, str] = {
    LAYOUT: "genforce .pth ('generator_smooth', else 'generator') or huggan pytorch_model.bin state dict",
}
# Sub-dictionaries to look in, most preferred first ("" = a huggan file's top level).
PREFIXES = ("generator_smooth.", "generator.", "")

STYLE_KEY = "synthesis.layer{i}.style.weight"
_STYLE_PATTERN = re.compile(r"^synthesis\.layer([0-9]{1,6})\.style\.weight$")
CONST_KEY = "synthesis.layer0.const"
MIN_LAYERS = 4  # 8x8, the smallest resolution genforce builds


@dataclass(frozen=True)
class StyleLayer:
    """One synthesis layer: its W+ index, logical name, resolution and stored style weight."""

    index: int
    name: str
    level: int
    key: str
    channels: int  # output channels of the layer; its style has 2·channels rows


@dataclass(frozen=True)
class Located:
    """A StyleGAN generator found in a checkpoint."""

    prefix: str
    resolution: int
    w_dim: int
    img_channels: int
    layers: tuple[StyleLayer, ...]

    @property
    def num_layers(self) -> int:
        return len(self.layers)


def level_of(index: int) -> int:
    """The resolution synthesis layer ``index`` works at: two layers per resolution from 4x4."""
    return 4 << (index // 2)


def layer_name(index: int) -> str:
    level = level_of(index)
    if index == 0:
        role = "const"
    elif index == 1:
        role = "conv"
    else:
        role = "conv0_up" if index % 2 == 0 else "conv1"
    return f"{level}x{level}.{role}"


def output_key(num_layers: int) -> str:
    """The final toRGB's weight: ``output{b}`` for the last resolution block b."""
    return f"synthesis.output{num_layers // 2 - 1}.weight"


def _num_layers(keys: list[str]) -> int | str:
    found = [int(m.group(1)) for m in map(_STYLE_PATTERN.match, keys) if m]
    if not found:
        return "no StyleGAN style layers"
    count = max(found) + 1
    # An index beyond what the file's tensors could fill names no real generator (and a huge
    # one would make the layer table as huge).
    if count > len(keys):
        return f"style layer index {count - 1} but only {len(keys)} tensors"
    if count < MIN_LAYERS or count % 2:
        return f"{count} style layers, not 2·log2(resolution) − 2 for a resolution of 8 or more"
    return count


def _check(checkpoint: Checkpoint, prefix: str) -> Located | str:
    """The generator under ``prefix``, or a one-line reason why there is none."""
    keys = [k[len(prefix):] for k in checkpoint if k.startswith(prefix)]
    count = _num_layers(keys)
    if isinstance(count, str):
        return f"{count} (tensors named like {prefix + STYLE_KEY!r})"
    present = set(keys)
    following = f"synthesis.layer{count}.weight"
    if following in present:  # a next layer's convolution without its style layer
        return f"missing tensor {prefix + STYLE_KEY.format(i=count)!r} (the style of {prefix + following!r})"
    if CONST_KEY not in present:
        return f"missing tensor {prefix + CONST_KEY!r} (the learned constant input)"
    const_shape = checkpoint.shape(prefix + CONST_KEY)
    if len(const_shape) != 4 or const_shape[0] != 1 or const_shape[2:] != (4, 4):
        return f"{prefix + CONST_KEY!r} has shape {const_shape}, expected (1, channels, 4, 4)"
    channels = const_shape[1]
    w_dim = None
    layers = []
    for index in range(count):
        key = STYLE_KEY.format(i=index)
        if key not in present:
            return f"missing tensor {prefix + key!r}"
        if index > 0:
            conv = f"synthesis.layer{index}.weight"
            if conv not in present:
                return f"missing tensor {prefix + conv!r}"
            conv_shape = checkpoint.shape(prefix + conv)
            if len(conv_shape) != 4 or conv_shape[1] != channels or conv_shape[2:] != (3, 3):
                return f"{prefix + conv!r} has shape {conv_shape}, expected (channels, {channels}, 3, 3)"
            channels = conv_shape[0]
        shape = checkpoint.shape(prefix + key)
        if len(shape) != 2 or shape[0] != 2 * channels:
            return (
                f"{prefix + key!r} has shape {shape}, expected ({2 * channels}, w_dim): AdaIN scale and "
                f"shift for the layer's {channels} channels"
            )
        if w_dim is None:
            w_dim = shape[1]
        elif shape[1] != w_dim:
            return f"{prefix + key!r} has {shape[1]} columns, the other style layers {w_dim}"
        layers.append(StyleLayer(index, layer_name(index), level_of(index), key, channels))
    rgb = output_key(count)
    if rgb not in present:
        return f"missing tensor {prefix + rgb!r} (the final toRGB)"
    rgb_shape = checkpoint.shape(prefix + rgb)
    if len(rgb_shape) != 4 or rgb_shape[1] != channels or rgb_shape[2:] != (1, 1):
        return f"{prefix + rgb!r} has shape {rgb_shape}, expected (image channels, {channels}, 1, 1)"
    assert w_dim is not None
    return Located(prefix, level_of(count - 1), w_dim, rgb_shape[0], tuple(layers))


def locate(checkpoint: Checkpoint) -> Located:
    """The StyleGAN generator in ``checkpoint``; a LayoutError naming what is wrong otherwise."""
    return checkpoint.search_prefixes(
        PREFIXES, lambda prefix: _check(checkpoint, prefix), "a genforce StyleGAN checkpoint"
    )


def detect(checkpoint: Checkpoint) -> str | None:
    return LAYOUT if any(isinstance(_check(checkpoint, p), Located) for p in PREFIXES) else None
