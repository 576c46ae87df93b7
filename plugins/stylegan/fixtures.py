"""StyleGAN (v1) generators with random weights, written as genforce and huggan files.

``random_stylegan_state`` makes the state dict genforce's StyleGANGenerator has (every
parameter and buffer, under its names, with its shapes; ``synthesis.lod`` 0); the file
writers put it in the two containers the real files use. Test fixtures and nothing else.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from sefa_zoo import SefaZooError, atomic_path

from .layouts import level_of

FIXTURE_LAYOUTS = ("genforce", "huggan")
MAPPING_LR_MULTIPLIER = 0.01


def channels_at(level: int, fmaps_base: int, fmaps_max: int) -> int:
    """genforce's feature-map rule: min(fmaps_base // resolution, fmaps_max)."""
    return min(fmaps_base // level, fmaps_max)


def blur_kernel(channels: int) -> torch.Tensor:
    """The [1, 2, 1] x [1, 2, 1] / 16 binomial filter, one copy per channel (C, 1, 3, 3)."""
    row = torch.tensor([1.0, 2.0, 1.0])
    kernel = torch.outer(row, row) / 16
    return kernel[None, None].repeat(channels, 1, 1, 1)


def random_stylegan_state(
    resolution: int,
    *,
    z_dim: int = 512,
    w_dim: int = 512,
    mapping_layers: int = 8,
    fmaps_base: int = 16 << 10,
    fmaps_max: int = 512,
    img_channels: int = 3,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict[str, torch.Tensor]:
    """A genforce StyleGANGenerator state dict with seeded random weights.

    Weights are standard normal (genforce's initialisation under equalised learning rate; the
    mapping's are 1 / lr_multiplier times that, as genforce stores them); biases, style biases
    and noise strengths are small random values rather than genforce's zeros, so that every
    tensor changes the image. ``device="meta"`` gives the true shapes
    without data.
    """
    if resolution < 8 or resolution & (resolution - 1):
        raise SefaZooError(f"a StyleGAN resolution is a power of two >= 8, not {resolution}")
    gen = torch.Generator().manual_seed(seed)
    meta = device is not None and torch.device(device).type == "meta"

    def normal(*shape: int, std: float = 1.0) -> torch.Tensor:
        if meta:
            return torch.empty(shape, device="meta")
        return torch.randn(shape, generator=gen) * std

    state: dict[str, torch.Tensor] = {}
    for i in range(mapping_layers):
        in_features = z_dim if i == 0 else w_dim
        # stored as 1 / lr (genforce's and NVIDIA's initialisation), scaled back by lr at run time
        state[f"mapping.dense{i}.weight"] = normal(w_dim, in_features, std=1 / MAPPING_LR_MULTIPLIER)
        state[f"mapping.dense{i}.bias"] = normal(w_dim, std=0.1 / MAPPING_LR_MULTIPLIER)
    state["truncation.w_avg"] = normal(w_dim, std=0.3)
    state["synthesis.lod"] = torch.zeros((), device="meta" if meta else None)
    num_layers = 2 * int(math.log2(resolution)) - 2
    in_channels = channels_at(4, fmaps_base, fmaps_max)
    for index in range(num_layers):
        level = level_of(index)
        channels = channels_at(level, fmaps_base, fmaps_max)
        layer = f"synthesis.layer{index}"
        state[f"{layer}.bias"] = normal(channels, std=0.1)
        if index == 0:
            state[f"{layer}.const"] = normal(1, channels, 4, 4)
        else:
            state[f"{layer}.weight"] = normal(channels, in_channels, 3, 3)
        state[f"{layer}.apply_noise.weight"] = normal(channels, std=0.2)
        state[f"{layer}.apply_noise.noise"] = normal(1, 1, level, level)
        state[f"{layer}.style.weight"] = normal(2 * channels, w_dim)
        state[f"{layer}.style.bias"] = normal(2 * channels, std=0.1)
        if index > 0 and index % 2 == 0:
            kernel = blur_kernel(channels)
            state[f"{layer}.blur.kernel"] = kernel.to("meta") if meta else kernel
        in_channels = channels
        if index % 2 == 1:
            output = f"synthesis.output{index // 2}"
            state[f"{output}.bias"] = normal(img_channels, std=0.1)
            state[f"{output}.weight"] = normal(img_channels, channels, 1, 1, std=0.15)  # images about [-1, 1]
    return state


BUFFER_SUFFIXES = (".noise", ".kernel", "lod", "w_avg")


def perturbed(state: dict[str, torch.Tensor], *, seed: int = 1) -> dict[str, torch.Tensor]:
    """The same generator, every parameter nudged: the training copy beside the EMA one."""
    gen = torch.Generator().manual_seed(seed)
    return {
        k: v.clone() if k.endswith(BUFFER_SUFFIXES) else v + 0.05 * torch.randn(v.shape, generator=gen)
        for k, v in state.items()
    }


def save_stylegan(state: dict[str, torch.Tensor], path: str | Path, layout: str) -> Path:
    """Write ``state`` as genforce (``{"generator", "generator_smooth"}``, the training copy
    perturbed) or huggan (the plain ``generator_smooth`` state dict of a pytorch_model.bin)."""
    if layout not in FIXTURE_LAYOUTS:
        raise SefaZooError(f"no StyleGAN fixture layout {layout!r} (known: {', '.join(FIXTURE_LAYOUTS)})")
    if layout == "genforce":
        contents: object = {"generator": perturbed(state), "generator_smooth": dict(state)}
    else:
        contents = dict(state)
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(contents, tmp)
    return path
