"""The MLP generator itself, and its adapter to sefa-zoo's Generator protocol."""

from __future__ import annotations

import torch
from torch import nn

from sefa_zoo import SefaZooError

# Each first-layer output is one row of A (outputs x z_dim); the later layers never see z.
FIRST_LAYER = "net.0"


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> image (N, channels, resolution, resolution) in [-1, 1].

    It is a sefa-zoo ``Generator``: ``map`` turns z into per-layer codes (one layer, since
    only the first layer sees z) and ``synthesize`` renders codes, so the core can add a
    direction to the codes between the two.
    """

    def __init__(self, z_dim: int, hidden: int, channels: int, resolution: int):
        super().__init__()
        self.z_dim = z_dim
        self.latent_dim = z_dim
        self.num_layers = 1
        self.channels = channels
        self.resolution = resolution
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden),  # net.0: the projection layer
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),  # net.2
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, channels * resolution * resolution),  # net.4
            nn.Tanh(),
        )

    def map(
        self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None
    ) -> torch.Tensor:
        """(N, z_dim) -> codes (N, 1, z_dim). A z-space model has no truncation trick."""
        if truncation_psi != 1.0:
            raise SefaZooError(f"mlpgan works in z space and has no truncation; truncation_psi must be "
                               f"1.0, got {truncation_psi}")
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise SefaZooError(f"mlpgan expects z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        return z.unsqueeze(1)

    def synthesize(self, codes: torch.Tensor) -> torch.Tensor:
        if codes.ndim != 3 or tuple(codes.shape[1:]) != (1, self.z_dim):
            raise SefaZooError(f"mlpgan expects codes of shape (N, 1, {self.z_dim}), got {tuple(codes.shape)}")
        flat = self.net(codes[:, 0].to(self.net[0].weight.dtype))
        return flat.reshape(len(codes), self.channels, self.resolution, self.resolution)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesize(self.map(z))
