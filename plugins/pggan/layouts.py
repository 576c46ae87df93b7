"""Where a PGGAN generator lives in a genforce / huggan checkpoint, read from names and shapes only.

genforce's PGGANGenerator state dict, for a generator of resolution 4·2^top:
  lod                      the level-of-detail buffer, a scalar (0 for a fully grown generator)
  layer0.weight            (C_0, z_dim, 4, 4): the 4x4 "dense" layer, a convolution with padding 3
                           applied to z as a 1x1 map
  layer{2b}.weight, b >= 1 (C_b, C_{b-1}, 3, 3): the first convolution at 4·2^b px, after upsampling
  layer{2b+1}.weight       (C_b, C_b, 3, 3): the second one
  output{b}.weight         (image channels, C_b, 1, 1): toRGB at 4·2^b px
and a bias of one value per output channel beside every weight. The channel widths C_b, z_dim
and the image channels come from these shapes; nothing else in the file says them.

A genforce ``.pth`` holds ``generator``, ``discriminator`` and ``generator_smooth`` (the EMA copy);
like the original release, the generator is ``generator_smooth`` when the file has one, else
``generator``; a huggan ``pytorch_model.bin`` is the bare state dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sefa_zoo import Checkpoint, LayoutError

LAYOUT = "genforce"
DESCRIPTION = "genforce .pth ('generator_smooth', else 'generator') or huggan pytorch_model.bin state dict"
PREFIXES = ("generator_smooth.", "generator.", "")
IMAGE_CHANNELS = (1, 3)
FIRST_KERNEL = 4
LOD = "lod"

_BLOCK_TENSOR = re.compile(r"^(layer|output)([0-9]{1,6})\.(weight|bias)$")


@dataclass(frozen=True)
class PGGANShape:
    """A PGGAN generator found in a checkpoint: where it sits and its sizes."""

    prefix: str
    z_dim: int
    widths: tuple[int, ...]  # C_b at 4, 8, 16, ... px
    img_channels: int
    has_lod: bool

    @property
    def resolution(self) -> int:
        return FIRST_KERNEL << (len(self.widths) - 1)

    @property
    def first_outputs(self) -> int:
        return self.widths[0] * FIRST_KERNEL * FIRST_KERNEL

    def tensor_names(self) -> list[str]:
        """Every tensor name of the generator, relative to ``prefix``, in genforce's order."""
        return [LOD] * self.has_lod + [name for name, _ in expected_shapes(self.z_dim, self.widths, self.img_channels)]


def expected_shapes(
    z_dim: int, widths: tuple[int, ...], img_channels: int
) -> Iterator[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every weight and bias of the generator, in genforce's module order."""
    for block, width in enumerate(widths):
        if block == 0:
            first = (width, z_dim, FIRST_KERNEL, FIRST_KERNEL)
        else:
            first = (width, widths[block - 1], 3, 3)
        for name, shape in (
            (f"layer{2 * block}", first),
            (f"layer{2 * block + 1}", (width, width, 3, 3)),
            (f"output{block}", (img_channels, width, 1, 1)),
        ):
            yield f"{name}.weight", shape
            yield f"{name}.bias", shape[:1]


def generator_prefix(checkpoint: Checkpoint) -> str:
    """The release's choice: ``generator_smooth`` if the file has it, else ``generator``, else the top level."""
    for prefix in PREFIXES[:-1]:
        if any(name.startswith(prefix) for name in checkpoint):
            return prefix
    return ""


def looks_like_pggan(checkpoint: Checkpoint) -> bool:
    """Whether the generator's place holds PGGAN's signature: a 4x4 ``layer0`` from z and a ``output0`` toRGB.

    Detection claims such a file, so that what else is wrong with it is reported by name
    (``locate``) instead of as an unrecognised checkpoint.
    """
    prefix = generator_prefix(checkpoint)
    first, torgb = prefix + "layer0.weight", prefix + "output0.weight"
    if first not in checkpoint or torgb not in checkpoint:
        return False
    shape = checkpoint.shape(first)
    return len(shape) == 4 and shape[2:] == (FIRST_KERNEL, FIRST_KERNEL) and min(shape) > 0


def locate(checkpoint: Checkpoint) -> PGGANShape:
    """The PGGAN generator in ``checkpoint``, every tensor's shape checked; LayoutError naming the
    first tensor at fault otherwise."""
    prefix = generator_prefix(checkpoint)
    reason = _check(checkpoint, prefix)
    if isinstance(reason, str):
        raise LayoutError(f"{checkpoint.label}: not a {LAYOUT} PGGAN checkpoint: {reason}")
    return reason


def _block_indices(names: list[str]) -> tuple[int, int] | None:
    """(highest layer index, highest output index) among the block tensors named."""
    top = {"layer": -1, "output": -1}
    for match in filter(None, map(_BLOCK_TENSOR.match, names)):
        top[match.group(1)] = max(top[match.group(1)], int(match.group(2)))
    return top["layer"], top["output"]


def _check(checkpoint: Checkpoint, prefix: str) -> PGGANShape | str:
    names = [name[len(prefix):] for name in checkpoint if name.startswith(prefix)]
    top_layer, top_output = _block_indices(names)
    first = prefix + "layer0.weight"
    if first not in checkpoint:
        return f"no tensor {first!r} (the 4x4 layer from z)"
    if top_output < 1:
        return f"no toRGB tensors beyond 4x4 ({prefix + 'output1.weight'!r}): a PGGAN generator is 8 px or more"
    # An index beyond what the file's tensors could fill names no real generator (and a huge one would
    # make every table built from it as huge).
    if top_output > len(names):
        return f"{prefix + f'output{top_output}.weight'!r} names a block the file holds no tensors for"
    if top_layer > 2 * top_output + 1:
        beyond = prefix + f"layer{top_layer}.weight"
        return f"{beyond!r} is beyond the last block of a {FIRST_KERNEL << top_output}px generator"
    sizes = _sizes(checkpoint, prefix, top_output)
    if isinstance(sizes, str):
        return sizes
    widths, z_dim, img_channels = sizes
    present = set(names)
    for name, shape in expected_shapes(z_dim, widths, img_channels):
        if name not in present:
            return f"missing tensor {prefix + name!r} of a {FIRST_KERNEL << top_output}px PGGAN generator"
        found = tuple(checkpoint.shape(prefix + name))
        if found != shape:
            return f"{prefix + name!r} has shape {found}, expected {shape}"
    has_lod = LOD in present
    if has_lod and tuple(checkpoint.shape(prefix + LOD)) != ():
        return f"{prefix + LOD!r} has shape {tuple(checkpoint.shape(prefix + LOD))}, expected a scalar"
    known = {name for name, _ in expected_shapes(z_dim, widths, img_channels)} | {LOD}
    extra = [name for name in names if name not in known]
    if extra:
        return f"unexpected tensor {prefix + extra[0]!r} beside the generator's"
    return PGGANShape(prefix, z_dim, widths, img_channels, has_lod)


def _sizes(checkpoint: Checkpoint, prefix: str, top: int) -> tuple[tuple[int, ...], int, int] | str:
    """(widths, z_dim, image channels) from the first layer and the toRGB weights, or a reason."""
    first = tuple(checkpoint.shape(prefix + "layer0.weight"))
    if len(first) != 4 or first[2:] != (FIRST_KERNEL, FIRST_KERNEL) or min(first) <= 0:
        return f"{prefix + 'layer0.weight'!r} has shape {first}, expected (channels, z_dim, 4, 4)"
    widths = []
    img_channels = None
    for block in range(top + 1):
        name = f"{prefix}output{block}.weight"
        if name not in checkpoint:
            return f"missing tensor {name!r} of a {FIRST_KERNEL << top}px PGGAN generator"
        shape = tuple(checkpoint.shape(name))
        if len(shape) != 4 or shape[2:] != (1, 1) or shape[0] not in IMAGE_CHANNELS or shape[1] <= 0:
            return f"{name!r} has shape {shape}, expected (1 or 3 image channels, channels, 1, 1)"
        if img_channels is None:
            img_channels = shape[0]
        elif shape[0] != img_channels:
            return f"{name!r} makes {shape[0]} image channels, output0 makes {img_channels}"
        widths.append(shape[1])
    assert img_channels is not None
    return tuple(widths), first[1], img_channels
