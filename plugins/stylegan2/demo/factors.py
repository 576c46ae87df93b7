"""Estimating the demo data set's factors from images (batched, any image in about [-1, 1]).

They invert shapes.render: on a grey background a pixel's chroma (max − min channel)
is coverage · CHROMA, so coverage = chroma / CHROMA gives the disc's area (hence radius)
and centroid; the hue is the coverage-weighted circular mean of the pixels' HSV hues;
the background is the mean grey of the image's border, which no disc reaches. On
generated images they measure the same quantities, whatever the picture holds.
"""

from __future__ import annotations

import math

import torch

from .shapes import CHROMA, FACTORS

_MIN_CHROMA = 1e-3  # below this a pixel's hue is noise


def pixel_hue(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """HSV hue in [0, 1) and chroma of images (N, 3, H, W) in [0, 1]."""
    r, g, b = rgb.unbind(dim=1)
    high, which = rgb.max(dim=1)
    chroma = high - rgb.min(dim=1).values
    safe = chroma.clamp_min(1e-12)
    sector = torch.where(
        which == 0, ((g - b) / safe) % 6.0, torch.where(which == 1, (b - r) / safe + 2.0, (r - g) / safe + 4.0)
    )
    return sector / 6.0, chroma


def estimate_factors(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each factor of shapes.FACTORS, one value per image (float32 tensors of shape (N,))."""
    rgb = ((images.float() + 1.0) / 2.0).clamp(0.0, 1.0)
    hue, chroma = pixel_hue(rgb)
    coverage = (chroma / CHROMA).clamp(0.0, 1.0)
    height, width = coverage.shape[1:]
    area = coverage.sum(dim=(1, 2))
    mass = area.clamp_min(1e-6)
    columns = torch.arange(width, device=images.device, dtype=torch.float32) + 0.5
    rows = torch.arange(height, device=images.device, dtype=torch.float32) + 0.5
    x = (coverage * columns[None, None, :]).sum(dim=(1, 2)) / mass
    y = (coverage * rows[:, None][None]).sum(dim=(1, 2)) / mass
    weight = coverage * (chroma > _MIN_CHROMA)
    angle = hue * (2 * math.pi)
    mean_cos = (weight * angle.cos()).sum(dim=(1, 2))
    mean_sin = (weight * angle.sin()).sum(dim=(1, 2))
    mean_hue = (torch.atan2(mean_sin, mean_cos) / (2 * math.pi)) % 1.0
    border = torch.ones(height, width, dtype=torch.bool, device=images.device)
    border[1:-1, 1:-1] = False
    background = rgb.mean(dim=1)[:, border].mean(dim=1)
    estimates = {"x": x, "y": y, "radius": (area / math.pi).sqrt(), "hue": mean_hue, "background": background}
    assert tuple(estimates) == FACTORS
    return estimates


def factor_difference(name: str, after: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
    """after − before; for the circular hue, the shorter way round (in [-0.5, 0.5))."""
    difference = after - before
    if name == "hue":
        difference = (difference + 0.5) % 1.0 - 0.5
    return difference
