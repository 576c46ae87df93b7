"""Write MLP-generator checkpoints with random weights: test fixtures and the shipped demo.

    python -m sefa_zoo_mlpgan.checkpoints OUT.safetensors   # the demo's settings
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_bytes

from sefa_zoo import atomic_path

from . import DEMO
from .network import MLPGenerator


def random_generator(*, z_dim: int, hidden: int, channels: int, resolution: int, seed: int) -> MLPGenerator:
    """An MLPGenerator whose weights depend only on ``seed`` (not on torch's global RNG)."""
    network = MLPGenerator(z_dim, hidden, channels, resolution)
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in network.named_parameters():
            fan_in = tensor.shape[-1] if name.endswith("weight") else 1
            tensor.copy_(torch.randn(tensor.shape, generator=rng) / fan_in**0.5)
    return network


def write_checkpoint(
    path: str | Path,
    *,
    z_dim: int = 8,
    hidden: int = 32,
    channels: int = 3,
    resolution: int = 4,
    seed: int = 0,
    prefix: str = "",
) -> Path:
    """Save a random generator's state dict as safetensors (under ``prefix``, e.g. "generator.")."""
    network = random_generator(z_dim=z_dim, hidden=hidden, channels=channels, resolution=resolution, seed=seed)
    tensors = {prefix + name: tensor.contiguous() for name, tensor in network.state_dict().items()}
    path = Path(path)
    data = safetensors_bytes(tensors, metadata={"format": "pt"})  # save_file adds a temporary file of its own
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m sefa_zoo_mlpgan.checkpoints OUT.safetensors")
    print(write_checkpoint(sys.argv[1], **DEMO))
