"""Where a StyleGAN2 generator's style layers live in each real checkpoint layout.

Every layout is reduced to one logical table: the style (affine) layers in the order
the synthesis network runs them, each with a layout-independent name ("4x4.conv",
"8x8.conv0", "8x8.conv1", "8x8.torgb", ...), the W+ index it consumes and the stored
tensor holding its weight. Only names and shapes are read here, never tensor data.

W+ indices (the same in NVIDIA's SynthesisNetwork, rosinality's Generator.forward and
genforce's skip synthesis): the 4x4 conv takes w[0]; the block at resolution r = 2^(k+2)
(k >= 1) runs conv0 on w[2k-1] and conv1 on w[2k]; every toRGB at resolution 2^(k+2)
takes w[2k+1], the index the next block's conv0 also takes. Only the final toRGB's
index (2·log2(res) − 3) is consumed by no conv, so it is the table's last index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sefa_zoo import Checkpoint

if TYPE_CHECKING:
    import numpy as np

LAYOUTS: Mapping[str, str] = {
    "rosinality": "rosinality/stylegan2-pytorch .pt (a dict with 'g_ema', or a bare generator state dict)",
    "nvidia": "NVIDIA stylegan2-ada-pytorch / stylegan3-repo StyleGAN2 pickle (uses 'G_ema')",
    "nvidia-tf": "NVIDIA's TensorFlow StyleGAN2 pickle, the tuple (G, D, Gs) of dnnlib.tflib networks (uses 'Gs')",
    "genforce": "genforce .pth ('generator_smooth', else 'generator') or huggan pytorch_model.bin state dict",
    "sefa-zoo": "sefa-zoo's own safetensors: the logical tensor names, the config in the metadata",
}

# Sub-dictionaries to look in, most preferred first ("" = the checkpoint's top level).
PREFIXES: Mapping[str, tuple[str, ...]] = {
    "rosinality": ("g_ema.", ""),
    "nvidia": ("G_ema.", ""),
    "nvidia-tf": ("Gs.",),
    "genforce": ("generator_smooth.", "generator.", ""),
    "sefa-zoo": ("",),
}

# The tensors that reveal how many resolutions a layout's generator has.
_DEPTH_NAMES: Mapping[str, str] = {
    "rosinality": "convs.{j}.conv.modulation.weight",
    "nvidia": "synthesis.b{r}.conv1.affine.weight",
    "nvidia-tf": "synthesis.{r}x{r}/Conv1/mod_weight",
    "genforce": "synthesis.layer{i}.style.weight",
    "sefa-zoo": "{r}x{r}.conv1.affine.weight",
}
_DEPTH_PATTERNS: Mapping[str, re.Pattern[str]] = {
    "rosinality": re.compile(r"^convs\.([0-9]{1,6})\.conv\.modulation\.weight$"),
    "nvidia": re.compile(r"^synthesis\.b([0-9]{1,6})\.conv1\.affine\.weight$"),
    "nvidia-tf": re.compile(r"^synthesis\.([0-9]{1,6})x\1/Conv1/mod_weight$"),
    "genforce": re.compile(r"^synthesis\.layer([0-9]{1,6})\.style\.weight$"),
    "sefa-zoo": re.compile(r"^([0-9]{1,6})x\1\.conv1\.affine\.weight$"),
}


@dataclass(frozen=True)
class StyleSlot:
    """One style layer: logical name, role, resolution, W+ index and stored tensor names."""

    name: str
    kind: str  # "conv" or "torgb"
    level: int
    index: int
    key: str  # the affine weight as stored: (outputs x w_dim), its transpose in TRANSPOSED_AFFINE layouts
    conv_key: str  # the convolution it modulates; its input channels equal the outputs
    final: bool = False  # the last toRGB (part of the default table)


@dataclass(frozen=True)
class Located:
    """A StyleGAN2 generator found in a checkpoint."""

    layout: str
    prefix: str
    resolution: int
    w_dim: int
    slots: tuple[StyleSlot, ...]  # every style layer present, in execution order
    outputs: Mapping[str, int]  # slot name -> rows of its affine weight

    @property
    def num_ws(self) -> int:
        return 2 * self.resolution.bit_length() - 4  # 2·log2(res) − 2


def _log2(resolution: int) -> int:
    return resolution.bit_length() - 1


def _rosinality_keys(role: str, level: int) -> tuple[str, str]:
    k = _log2(level) - 2
    if role == "conv":
        module = "conv1.conv"
    elif role == "torgb":
        module = "to_rgb1.conv" if level == 4 else f"to_rgbs.{k - 1}.conv"
    else:
        module = f"convs.{2 * (k - 1) + (role == 'conv1')}.conv"
    return f"{module}.modulation.weight", f"{module}.weight"


def _nvidia_keys(role: str, level: int) -> tuple[str, str]:
    module = f"synthesis.b{level}.{'conv1' if role == 'conv' else role}"
    return f"{module}.affine.weight", f"{module}.weight"


_TF_SCOPES = {"conv": "Conv", "conv0": "Conv0_up", "conv1": "Conv1", "torgb": "ToRGB"}


def _nvidia_tf_keys(role: str, level: int) -> tuple[str, str]:
    scope = f"synthesis.{level}x{level}/{_TF_SCOPES[role]}"
    return f"{scope}/mod_weight", f"{scope}/weight"


def _genforce_keys(role: str, level: int) -> tuple[str, str]:
    k = _log2(level) - 2
    if role == "torgb":
        module = f"synthesis.output{k}"
    elif role == "conv":
        module = "synthesis.layer0"
    else:
        module = f"synthesis.layer{2 * k - 1 + (role == 'conv1')}"
    return f"{module}.style.weight", f"{module}.weight"


def _sefa_zoo_keys(role: str, level: int) -> tuple[str, str]:
    module = f"{level}x{level}.{role}"
    return f"{module}.affine.weight", f"{module}.weight"


_KEYS = {
    "rosinality": _rosinality_keys, "nvidia": _nvidia_keys, "nvidia-tf": _nvidia_tf_keys,
    "genforce": _genforce_keys, "sefa-zoo": _sefa_zoo_keys,
}
# TensorFlow stores dense weights as (inputs, outputs): the affine weight is (w_dim x outputs).
TRANSPOSED_AFFINE = frozenset({"nvidia-tf"})
# (dimensions, input-channel axis) of each layout's modulated conv kernel: (out, in, k, k) unless said.
_CONV_INPUT = {"rosinality": (5, 2), "nvidia-tf": (4, 2)}  # (1, out, in, k, k); TensorFlow's (k, k, in, out)



def style_keys(layout: str, role: str, level: int) -> tuple[str, str]:
    """(affine weight, conv weight) names of one style layer, relative to the generator."""
    return _KEYS[layout](role, level)


def logical_slots(layout: str, resolution: int) -> list[StyleSlot]:
    """Every style layer a StyleGAN2 generator of ``resolution`` has, in execution order."""
    slots = []
    for k in range(0, _log2(resolution) - 1):
        level = 4 << k
        roles = ("conv",) if k == 0 else ("conv0", "conv1")
        for offset, role in enumerate(roles):
            index = 0 if k == 0 else 2 * k - 1 + offset
            name = f"{level}x{level}.{role}"
            slots.append(StyleSlot(name, "conv", level, index, *style_keys(layout, role, level)))
        name = f"{level}x{level}.torgb"
        slots.append(
            StyleSlot(name, "torgb", level, 2 * k + 1, *style_keys(layout, "torgb", level), level == resolution)
        )
    return slots


def _resolution(keys: list[str], layout: str) -> int | None:
    pattern = _DEPTH_PATTERNS[layout]
    found = [int(m.group(1)) for m in map(pattern.match, keys) if m]
    if not found:
        return None
    top = max(found)
    # An index beyond what the file's tensors could fill names no real generator (and a huge one
    # would make the layer table as huge).
    depth = top.bit_length() if layout in ("nvidia", "nvidia-tf", "sefa-zoo") else top
    if depth > len(keys) + 2:
        return None
    if layout == "rosinality":  # convs.0 .. convs.{2(log2 res − 2) − 1}
        return 4 << ((top + 1) // 2) if top % 2 == 1 else None
    if layout in ("nvidia", "nvidia-tf", "sefa-zoo"):  # b4 .. b{res} / 8x8 .. {res}x{res}
        return top if top >= 8 and top & (top - 1) == 0 else None
    # genforce: layer0 .. layer{2·log2(res) − 4}
    return 1 << (top // 2 + 2) if top % 2 == 0 and top >= 2 else None


def _check(checkpoint: Checkpoint, layout: str, prefix: str) -> Located | str:
    """The generator under ``prefix`` in ``layout``, or a one-line reason why it is not one."""
    keys = [k[len(prefix):] for k in checkpoint if k.startswith(prefix)]
    resolution = _resolution(keys, layout)
    if resolution is None:
        return f"no {layout} StyleGAN2 style layers (tensors named like {prefix + _DEPTH_NAMES[layout]!r})"
    present = set(keys)
    w_dim = None
    slots = []
    outputs = {}
    for slot in logical_slots(layout, resolution):
        if slot.key not in present or slot.conv_key not in present:
            if slot.kind == "torgb" and not slot.final:
                continue  # 'orig' / 'resnet' generators have only the final toRGB
            missing = slot.key if slot.key not in present else slot.conv_key
            return f"missing tensor {prefix + missing!r} of a {resolution}px StyleGAN2 generator"
        shape = checkpoint.shape(prefix + slot.key)
        conv_shape = checkpoint.shape(prefix + slot.conv_key)
        transposed = layout in TRANSPOSED_AFFINE
        if len(shape) != 2:
            expected = "(w_dim, channels)" if transposed else "(channels, w_dim)"
            return f"{prefix + slot.key!r} has shape {shape}, expected {expected}"
        rows, columns = (shape[1], shape[0]) if transposed else shape
        if w_dim is None:
            w_dim = columns
        elif columns != w_dim:
            return f"{prefix + slot.key!r} has a w_dim of {columns}, the other style layers {w_dim}"
        # A modulated conv's style has one value per input channel (StyleGAN1's AdaIN has two).
        ndim, in_channels_axis = _CONV_INPUT.get(layout, (4, 1))
        if len(conv_shape) < ndim or conv_shape[in_channels_axis] != rows:
            return (
                f"{prefix + slot.key!r} gives {rows} styles but {prefix + slot.conv_key!r} "
                f"(shape {conv_shape}) is not a modulated convolution with that many input channels"
            )
        slots.append(slot)
        outputs[slot.name] = rows
    assert w_dim is not None
    return Located(layout, prefix, resolution, w_dim, tuple(slots), outputs)


def locate(checkpoint: Checkpoint, layout: str) -> Located:
    """The StyleGAN2 generator in ``checkpoint`` read as ``layout``; LayoutError if there is none."""
    return checkpoint.search_prefixes(
        PREFIXES[layout], lambda prefix: _check(checkpoint, layout, prefix), f"a {layout} StyleGAN2 checkpoint"
    )


def detect(checkpoint: Checkpoint) -> str | None:
    """The first layout ``checkpoint`` reads as, or None."""
    for layout in LAYOUTS:
        for prefix in PREFIXES[layout]:
            if isinstance(_check(checkpoint, layout, prefix), Located):
                return layout
    return None


def affine_weight(checkpoint: Checkpoint, located: Located, slot: StyleSlot) -> np.ndarray:
    """A style layer's affine weight as (outputs x w_dim), whatever the layout stores (a
    transposed one as a view: the factorizer's copy reads it row by row)."""
    weight = checkpoint.array(located.prefix + slot.key)
    return weight.T if located.layout in TRANSPOSED_AFFINE else weight
