"""Pictures of the demo model for the docs: the training data beside the model's samples.

    python -m sefa_zoo_plugins.stylegan2.demo.figures WEIGHTS OUTDIR

writes OUTDIR/data.png (64 training images) and OUTDIR/samples.png (seeds 0-63, psi 1), each
an 8x8 grid at 3x size. Traversals come from `sefa-zoo edit stylegan2-shapes`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sefa_zoo import atomic_path, codes_from_seeds, get_architecture, open_checkpoint

from .shapes import ShapesData

SCALE = 3
GAP = 2


def tile(images: torch.Tensor, columns: int = 8) -> Image.Image:
    """(N, 3, H, W) in [-1, 1] -> one grid picture, nearest-neighbour upscaled."""
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    pixels = pixels.repeat(SCALE, axis=1).repeat(SCALE, axis=2)
    count, height, width, _ = pixels.shape
    rows = -(-count // columns)
    sheet = np.full((rows * (height + GAP) + GAP, columns * (width + GAP) + GAP, 3), 255, np.uint8)
    for i, picture in enumerate(pixels):
        top, left = GAP + (i // columns) * (height + GAP), GAP + (i % columns) * (width + GAP)
        sheet[top:top + height, left:left + width] = picture
    return Image.fromarray(sheet)


def save(picture: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    images, _ = ShapesData(seed=0).batch(64)
    save(tile(images), args.out / "data.png")
    generator = get_architecture("stylegan2").build_generator(open_checkpoint(args.weights))
    codes = codes_from_seeds(generator, list(range(64)), truncation_psi=1.0, truncation_cutoff=None)
    save(tile(generator.synthesize(codes)), args.out / "samples.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
