"""The PGGAN generator at full resolution, as genforce's PGGANGenerator computes it at lod 0.

Every block normalises its input per pixel (pixel norm), upsamples it by nearest neighbour
where the resolution doubles, convolves with the stored weight times its equalised-learning-
rate gain (gain / sqrt(fan_in): sqrt(2) for the convolutions, 1 for toRGB) plus the bias, and
applies a leaky ReLU of slope 0.2 (none after toRGB). The first block takes z as a 1x1 map
and convolves it with a 4x4 kernel and padding 3. Only the last resolution's toRGB makes the
image: at lod 0 the lower ones take no part. The output is not squashed (no tanh): about [-1, 1].

Codes are the pixel-normalised z (``map``); edits are added to them, and ``synthesize``
normalises again before the first block, as the release's forward does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sefa_zoo import SefaZooError

from .layouts import FIRST_KERNEL, LOD, PGGANShape

PIXEL_NORM_EPSILON = 1e-8
LEAKY_SLOPE = 0.2
CONV_GAIN = math.sqrt(2.0)


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """Each position's feature vector divided by its root mean square (over dim 1)."""
    return x / torch.sqrt(x.square().mean(dim=1, keepdim=True) + PIXEL_NORM_EPSILON)


class EqualizedConv(nn.Module):
    """Pixel norm, optional 2x nearest upsampling, a convolution scaled by gain / sqrt(fan_in), activation."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, *, padding: int, upsample: bool = False,
        gain: float = CONV_GAIN, activate: bool = True,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel * kernel)
        self.padding = padding
        self.upsample = upsample
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.activate else x


class PGGANGenerator(nn.Module):
    """The generator of ``shape``; its state-dict names are genforce's, so a file's tensors load as they are.

    It satisfies sefa_zoo's ``Generator`` protocol: one code per image, the pixel-normalised z.
    """

    def __init__(self, shape: PGGANShape):
        super().__init__()
        self.z_dim = shape.z_dim
        self.latent_dim = shape.z_dim
        self.num_layers = 1
        self.resolution = shape.resolution
        self.img_channels = shape.img_channels
        self.register_buffer(LOD, torch.zeros(()))
        widths = shape.widths
        for block, width in enumerate(widths):
            if block == 0:
                first = EqualizedConv(shape.z_dim, width, FIRST_KERNEL, padding=FIRST_KERNEL - 1)
            else:
                first = EqualizedConv(widths[block - 1], width, 3, padding=1, upsample=True)
            self.add_module(f"layer{2 * block}", first)
            self.add_module(f"layer{2 * block + 1}", EqualizedConv(width, width, 3, padding=1))
            self.add_module(
                f"output{block}",
                EqualizedConv(width, shape.img_channels, 1, padding=0, gain=1.0, activate=False),
            )
        self.convs = [getattr(self, f"layer{i}") for i in range(2 * len(widths))]
        self.to_rgb = getattr(self, f"output{len(widths) - 1}")

    @property
    def device(self) -> torch.device:
        return self.lod.device

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, z_dim) -> images (N, C, H, W), as genforce's forward at lod 0."""
        return self.synthesize(self.map(z))

    def map(
        self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None
    ) -> torch.Tensor:
        """z (N, z_dim) -> codes (N, 1, z_dim): z pixel-normalised. PGGAN has nothing to truncate
        towards, so ``truncation_psi`` must be 1."""
        if truncation_psi != 1.0:
            raise SefaZooError(
                f"PGGAN has no mapping network or average latent, so it cannot truncate: "
                f"truncation_psi must be 1.0, got {truncation_psi}"
            )
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise SefaZooError(f"PGGAN expects z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        return pixel_norm(z.to(self.device, torch.float32))[:, None, :]

    def synthesize(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (N, 1, z_dim) -> images (N, C, resolution, resolution), about [-1, 1] (not clamped)."""
        if codes.ndim != 3 or codes.shape[1:] != (1, self.z_dim):
            raise SefaZooError(f"PGGAN expects codes of shape (N, 1, {self.z_dim}), got {tuple(codes.shape)}")
        x = pixel_norm(codes[:, 0].to(self.device, torch.float32))
        x = x[:, :, None, None]
        for conv in self.convs:
            x = conv(x)
        return self.to_rgb(x)
