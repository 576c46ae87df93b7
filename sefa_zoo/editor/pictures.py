"""Generator images as the page shows and saves them: one picture (a grid for several seeds)
at the model's own resolution, as PNG bytes or a data URL."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import torch

from ..outputs.imaging import to_pil, to_uint8

GAP = 2  # pixels between the pictures of a grid


def grid(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> one uint8 (H', W', C) picture: the images in rows of up to
    ceil(sqrt(N)), white between them."""
    pixels = to_uint8(images.cpu()).numpy()
    count, height, width, channels = pixels.shape
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    out = np.full((rows * height + (rows - 1) * GAP, columns * width + (columns - 1) * GAP, channels), 255, np.uint8)
    for i, picture in enumerate(pixels):
        top, left = (i // columns) * (height + GAP), (i % columns) * (width + GAP)
        out[top:top + height, left:left + width] = picture
    return out


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    to_pil(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def data_url(data: bytes, kind: str) -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
