"""Generator images to pictures: [-1, 1] float tensors to uint8, sized for viewing."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import SefaZooError

SMALLEST_SIDE = 128  # default display: tiny images are enlarged by a whole factor to at least this...
LARGEST_SIDE = 256  # ...and large ones reduced to this (the original release's viz_size)


def display_size(height: int, width: int, size: int | None = None) -> tuple[int, int]:
    """(height, width) to show an image at. ``size`` sets the longer side; by default an
    image whose longer side is under 128 px is enlarged by a whole factor to reach at least
    128, one over 256 px is reduced to 256, anything between is kept."""
    longest = max(height, width)
    if size is not None:
        if size < 1:
            raise SefaZooError(f"image size must be at least 1 pixel, got {size}")
        scale = size / longest
    elif longest < SMALLEST_SIDE:
        scale = math.ceil(SMALLEST_SIDE / longest)
    elif longest > LARGEST_SIDE:
        scale = LARGEST_SIDE / longest
    else:
        scale = 1
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize (N, C, H, W): whole-factor enlargements repeat pixels (crisp), anything else
    is antialiased bilinear."""
    h, w = images.shape[-2:]
    if (h, w) == (height, width):
        return images
    if height % h == 0 and width % w == 0 and height // h == width // w:
        return images.repeat_interleave(height // h, dim=-2).repeat_interleave(width // w, dim=-1)
    return F.interpolate(images.float(), size=(height, width), mode="bilinear", antialias=True, align_corners=False)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, H, W, C) uint8, C 1 (grey) or 3 (RGB); values outside are clipped."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise SefaZooError(f"images must be (N, 1 or 3, H, W), got shape {tuple(images.shape)}")
    pixels = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).contiguous()


def for_display(size: int | None = None):
    """A batch transform for ``render_edits(postprocess=...)``: images resized for viewing, as uint8."""

    def transform(images: torch.Tensor) -> torch.Tensor:
        height, width = display_size(images.shape[-2], images.shape[-1], size)
        return to_uint8(resize(images, height, width))

    return transform


def to_pil(pixels: np.ndarray) -> Image.Image:
    """(H, W, C) uint8 -> an RGB picture (grey images are expanded)."""
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")


def side_by_side(pixels: np.ndarray) -> Image.Image:
    """(N, H, W, C) uint8 images in one row, left to right, at full size and without gaps."""
    return to_pil(np.concatenate(list(pixels), axis=1))
