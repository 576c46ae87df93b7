"""The demo data set: one antialiased disc on a plain grey background, 32x32 RGB, made on the fly.

Factors (all drawn uniformly, independently):
  x, y        the disc's centre in pixels (0 = the left / top edge), in [CENTRE_MIN, CENTRE_MAX]
  radius      in pixels, in [RADIUS_MIN, RADIUS_MAX]
  hue         in [0, 1), circular; the disc's colour has chroma CHROMA on top of FOREGROUND_FLOOR
  background  the grey level of the background, in [BACKGROUND_MIN, BACKGROUND_MAX]

Why these: a feasibility run (2 CPU cores, 126 k images) learned position, size and hue but
neither shape (circle / square / triangle) nor rotation, so the disc is the only shape and
has no orientation; the background grey is a global factor that is learned at once. Every
disc lies at least 2 pixels inside the frame, so the border is pure background.

A pixel is ``coverage · colour + (1 − coverage) · grey``; coverage is the fraction of a 4x4
grid of sub-pixel samples inside the disc. Since the background is grey, a pixel's chroma
(max − min channel) is exactly coverage · CHROMA and its hue is the disc's: the estimators
in ``factors`` invert the rendering from those two facts.
"""

from __future__ import annotations

import torch

SIZE = 32
SUPERSAMPLING = 4
FACTORS = ("x", "y", "radius", "hue", "background")
CENTRE_MIN, CENTRE_MAX = 9.0, 23.0
RADIUS_MIN, RADIUS_MAX = 3.0, 7.0
BACKGROUND_MIN, BACKGROUND_MAX = 0.1, 0.9
CHROMA = 0.7
FOREGROUND_FLOOR = 0.15  # the disc's channels lie in [FLOOR, FLOOR + CHROMA]
FACTOR_RANGES = {
    "x": (CENTRE_MIN, CENTRE_MAX),
    "y": (CENTRE_MIN, CENTRE_MAX),
    "radius": (RADIUS_MIN, RADIUS_MAX),
    "hue": (0.0, 1.0),
    "background": (BACKGROUND_MIN, BACKGROUND_MAX),
}


def sample_factors(count: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``count`` draws of every factor (float32, on the CPU), from ``generator``."""
    uniform = torch.rand(len(FACTORS), count, generator=generator)
    return {name: low + (high - low) * uniform[i] for i, (name, (low, high)) in enumerate(FACTOR_RANGES.items())}


def hue_to_rgb(hue: torch.Tensor) -> torch.Tensor:
    """Fully saturated colours of brightness 1 (HSV with s = v = 1): (..., 3) in [0, 1]."""
    channels = []
    for offset in (5.0, 3.0, 1.0):  # r, g, b
        k = (offset + hue * 6.0) % 6.0
        channels.append(1.0 - torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0))
    return torch.stack(channels, dim=-1)


def render(factors: dict[str, torch.Tensor], *, device: str | torch.device = "cpu") -> torch.Tensor:
    """Images (N, 3, SIZE, SIZE) in [-1, 1] for the given factors."""
    x, y, radius, hue, background = (factors[name].to(device, torch.float32) for name in FACTORS)
    fine = SIZE * SUPERSAMPLING
    centres = (torch.arange(fine, device=device, dtype=torch.float32) + 0.5) / SUPERSAMPLING
    dx = centres[None, None, :] - x[:, None, None]
    dy = centres[None, :, None] - y[:, None, None]
    inside = (dx.square() + dy.square() < radius[:, None, None].square()).float()
    coverage = torch.nn.functional.avg_pool2d(inside[:, None], SUPERSAMPLING)  # (N, 1, SIZE, SIZE)
    colour = FOREGROUND_FLOOR + CHROMA * hue_to_rgb(hue)  # (N, 3)
    grey = background[:, None, None, None]
    image = coverage * colour[:, :, None, None] + (1.0 - coverage) * grey
    return image * 2.0 - 1.0


class ShapesData:
    """An endless, seeded stream of (images, factors) batches; its state can be saved and restored."""

    def __init__(self, seed: int, *, device: str | torch.device = "cpu"):
        self.generator = torch.Generator().manual_seed(seed)
        self.device = torch.device(device)

    def batch(self, count: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        factors = sample_factors(count, self.generator)
        return render(factors, device=self.device), factors

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])
