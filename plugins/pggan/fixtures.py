"""PGGAN checkpoints with random weights of the true shapes, in the layouts real files use.

Test fixtures and benchmark inputs. ``random_pggan_state`` makes a generator state dict with
genforce's names (``lod``, ``layer{i}``, ``output{b}``); its channel rule is genforce's,
min(channel_base // resolution, channel_max), which with the defaults (16384, 512) gives the
widths of the released 1024 px CelebA-HQ model. ``save_pggan`` writes it as genforce's
converter does (``generator``, ``discriminator``, ``generator_smooth``) or as the huggan
``pytorch_model.bin`` (the bare smooth state dict).
"""

from __future__ import annotations

from pathlib import Path

import torch

from sefa_zoo import SefaZooError, atomic_path

from .layouts import FIRST_KERNEL, LOD, expected_shapes

FIXTURE_LAYOUTS = ("genforce", "huggan")
DEFAULT_CHANNEL_BASE = 16 << 10
DEFAULT_CHANNEL_MAX = 512


def pggan_widths(
    resolution: int, channel_base: int = DEFAULT_CHANNEL_BASE, channel_max: int = DEFAULT_CHANNEL_MAX
) -> tuple[int, ...]:
    """Channels at 4, 8, ..., ``resolution`` px, by genforce's rule."""
    if resolution < 8 or resolution & (resolution - 1):
        raise SefaZooError(f"a PGGAN resolution is a power of two from 8, got {resolution}")
    levels = [FIRST_KERNEL << k for k in range(resolution.bit_length() - 2)]
    widths = tuple(min(channel_base // level, channel_max) for level in levels)
    if min(widths) < 1:
        raise SefaZooError(f"channel_base {channel_base} leaves no channels at {resolution} px")
    return widths


def random_pggan_state(
    resolution: int = 1024,
    *,
    z_dim: int = 512,
    channel_base: int = DEFAULT_CHANNEL_BASE,
    channel_max: int = DEFAULT_CHANNEL_MAX,
    img_channels: int = 3,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """A genforce PGGAN generator state dict with seeded random weights (lod 0).

    Weights are standard normal, as genforce stores them under its equalised learning rate;
    biases are small random values rather than genforce's zero init, so that a bias read
    into the wrong place shows. On the meta device the shapes come without any data.
    """
    generator = torch.Generator().manual_seed(seed)
    widths = pggan_widths(resolution, channel_base, channel_max)
    state = {LOD: torch.zeros((), device=device)}
    for name, shape in expected_shapes(z_dim, widths, img_channels):
        if torch.device(device).type == "meta":
            state[name] = torch.empty(shape, device="meta")
            continue
        values = torch.randn(shape, generator=generator)
        state[name] = (values if name.endswith(".weight") else 0.1 * values).to(device)
    return state


def perturbed(state: dict[str, torch.Tensor], *, seed: int = 1, scale: float = 0.05) -> dict[str, torch.Tensor]:
    """A copy with every weight moved slightly: the training generator beside its EMA copy."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, tensor in state.items():
        noise = torch.randn(tensor.shape, generator=generator) if tensor.ndim else torch.zeros(())
        out[name] = tensor + scale * noise.to(tensor.dtype)
    return out


def random_discriminator_state(
    widths: tuple[int, ...], *, img_channels: int = 3, seed: int = 2
) -> dict[str, torch.Tensor]:
    """genforce's PGGANDiscriminator state dict for a generator of ``widths``: fromRGB ``input{b}``,
    ``layer{i}`` from the top resolution down, the minibatch-std channel at 4x4 and two dense layers,
    random values of the true shapes."""
    generator = torch.Generator().manual_seed(seed)
    state = {LOD: torch.zeros(())}

    def add(name: str, *shape: int) -> None:
        state[f"{name}.weight"] = torch.randn(shape, generator=generator)
        state[f"{name}.bias"] = torch.zeros(shape[0])

    last = len(widths) - 1
    for block, width in enumerate(reversed(widths)):
        add(f"input{block}", width, img_channels, 1, 1)
        if block < last:
            add(f"layer{2 * block}", width, width, 3, 3)
            add(f"layer{2 * block + 1}", widths[last - block - 1], width, 3, 3)
        else:
            add(f"layer{2 * block}", width, width + 1, 3, 3)
            add(f"layer{2 * block + 1}", width, width * FIRST_KERNEL * FIRST_KERNEL)
    add(f"layer{2 * last + 2}", 1, widths[0])
    return state


def save_pggan(state: dict[str, torch.Tensor], path: str | Path, layout: str) -> Path:
    """Write ``state`` as a real checkpoint file of ``layout`` (one of FIXTURE_LAYOUTS).

    genforce: ``{"generator", "discriminator", "generator_smooth"}``, as genforce's
    pggan_converter.py writes it; ``generator`` is a slightly perturbed copy of ``state`` and the
    discriminator has random weights. huggan: the plain state dict of a huggan ``pytorch_model.bin``.
    """
    path = Path(path)
    if layout == "genforce":
        blocks = sum(name.startswith("output") and name.endswith(".weight") for name in state)
        widths = tuple(state[f"output{b}.weight"].shape[1] for b in range(blocks))
        discriminator = random_discriminator_state(widths, img_channels=state["output0.weight"].shape[0])
        saved: object = {"generator": perturbed(state), "discriminator": discriminator, "generator_smooth": state}
    elif layout == "huggan":
        saved = state
    else:
        raise SefaZooError(f"no PGGAN fixture layout {layout!r} (known: {', '.join(FIXTURE_LAYOUTS)})")
    with atomic_path(path) as tmp:
        torch.save(saved, tmp)
    return path
