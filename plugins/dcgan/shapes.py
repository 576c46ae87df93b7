"""Recognising a PyTorch-tutorial DCGAN generator from tensor names and shapes alone.

A generator is found wherever ``main.0.weight`` sits (bare, under ``netG_state_dict.``,
``state_dict.module.``...) and the tutorial's chain follows it: a 4x4 ConvTranspose2d
from z, then BatchNorm + 4x4 ConvTranspose2d pairs, the last one with 1, 3 or 4 outputs.
The tutorial's discriminator also has ``main.0.weight``, but a Conv2d(nc, ndf) with no
BatchNorm behind it, so the chain rejects it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sefa_zoo import Checkpoint

IMAGE_CHANNELS = (1, 3, 4)
_BATCHNORM_VECTORS = ("weight", "bias", "running_mean", "running_var")
_BATCH_COUNT = "num_batches_tracked"


@dataclass(frozen=True)
class GeneratorShape:
    """Where a tutorial generator sits in a checkpoint, and its sizes."""

    prefix: str
    nz: int
    widths: tuple[int, ...]  # channels after main.0 and after each hidden upsampling conv
    nc: int

    @property
    def ngf(self) -> int:
        return self.widths[-1]

    @property
    def image_size(self) -> int:
        return 4 * 2 ** len(self.widths)

    @property
    def first_outputs(self) -> int:
        return self.widths[0] * 4 * 4


def _is_conv4x4(shape: tuple[int, ...] | None, inputs: int | None = None) -> bool:
    return (
        shape is not None
        and len(shape) == 4
        and shape[2:] == (4, 4)
        and min(shape) > 0
        and (inputs is None or shape[0] == inputs)
    )


def _is_batchnorm(shape_of, index: int, width: int) -> bool:
    if any(shape_of(f"main.{index}.{name}") != (width,) for name in _BATCHNORM_VECTORS):
        return False
    return shape_of(f"main.{index}.{_BATCH_COUNT}") in (None, ())


def _main_index(name: str) -> int | None:
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == "main" and parts[1].isascii() and parts[1].isdigit() and len(parts[1]) <= 6:
        return int(parts[1])
    return None


def read_generator(checkpoint: Checkpoint, prefix: str) -> GeneratorShape | None:
    """The generator under ``prefix`` if the tutorial's chain is there, else None."""

    def shape_of(name: str) -> tuple[int, ...] | None:
        full = prefix + name
        return tuple(checkpoint.shape(full)) if full in checkpoint else None

    first = shape_of("main.0.weight")
    if not _is_conv4x4(first):
        return None
    nz, width = first[0], first[1]
    widths = [width]
    conv = 0
    while True:
        if not _is_batchnorm(shape_of, conv + 1, width):
            return None
        weight = shape_of(f"main.{conv + 3}.weight")
        if not _is_conv4x4(weight, inputs=width):
            return None
        conv += 3
        width = weight[1]
        if shape_of(f"main.{conv + 1}.weight") is None:
            break
        widths.append(width)
    if width not in IMAGE_CHANNELS:
        return None
    for name in checkpoint:
        if name.startswith(prefix):
            index = _main_index(name[len(prefix):])
            if index is not None and index > conv:
                return None  # more layers after what would be the image conv: another network
    return GeneratorShape(prefix, nz, tuple(widths), width)


def find_generators(checkpoint: Checkpoint) -> list[GeneratorShape]:
    """Every tutorial generator in ``checkpoint``, in the order their names appear."""
    found = (read_generator(checkpoint, prefix) for prefix in checkpoint.prefixes_of("main.0.weight"))
    return [shape for shape in found if shape is not None]

