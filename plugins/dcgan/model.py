"""The PyTorch-tutorial DCGAN generator as a torch module, and a seeded fixture writer.

The module's state-dict keys are exactly the tutorial's (``main.0.weight``,
``main.1.running_mean``...), so a tutorial checkpoint loads into it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sefa_zoo import SefaZooError


class DCGANGenerator(nn.Module):
    """``main`` = ConvTranspose2d(nz, widths[0], 4, 1, 0) on z as a 1x1 map, then for each
    further width BatchNorm, ReLU, ConvTranspose2d(4, 2, 1); then BatchNorm, ReLU,
    ConvTranspose2d(widths[-1], nc, 4, 2, 1) and Tanh. Output size: 4 * 2 ** len(widths).

    It also satisfies sefa_zoo's ``Generator`` protocol: codes are z itself, one layer.
    With ``num_classes`` = N > 0 it is class-conditional: main.0's input is cat(z, one-hot
    label), its last N channels the label, and z has nz - N dimensions.
    """

    def __init__(self, nz: int, widths: Sequence[int], nc: int, num_classes: int = 0):
        super().__init__()
        if not widths:
            raise ValueError("a DCGAN generator needs at least one hidden width")
        if not 0 <= num_classes < nz:
            raise ValueError(f"a DCGAN generator with {nz} inputs cannot take {num_classes} classes")
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, widths[0], 4, 1, 0, bias=False)]
        for width_in, width_out in zip(widths, [*widths[1:], nc]):
            layers += [
                nn.BatchNorm2d(width_in),
                nn.ReLU(True),
                nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=False),
            ]
        layers.append(nn.Tanh())
        self.main = nn.Sequential(*layers)
        self.nz = nz
        self.num_classes = num_classes
        self.z_dim = nz - num_classes
        self.latent_dim = self.z_dim
        self.num_layers = 1
        self.nc = nc
        self.image_size = 4 * 2 ** len(widths)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The tutorial's forward: z of shape (N, nz, 1, 1)."""
        return self.main(z)

    @property
    def device(self) -> torch.device:
        return self.main[0].weight.device

    def map(
        self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
        classes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """z (N, z_dim) -> codes (N, 1, z_dim). DCGAN has nothing to truncate towards: psi must be 1.
        ``classes`` (N class indices) is needed by a conditional generator, refused by others."""
        self._labels(classes, len(z))
        if truncation_psi != 1.0:
            raise SefaZooError(
                f"DCGAN has no mapping network or average latent, so it cannot truncate: "
                f"truncation_psi must be 1.0, got {truncation_psi}"
            )
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise SefaZooError(f"DCGAN expects z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        return z.to(self.device, torch.float32)[:, None, :]

    def synthesize(
        self, codes: torch.Tensor, *, classes: torch.Tensor | None = None, truncation_psi: float = 1.0
    ) -> torch.Tensor:
        """codes (N, 1, z_dim) -> images (N, nc, H, W) in [-1, 1]; a conditional generator
        takes ``classes`` (N class indices) and feeds cat(z, one-hot label)."""
        if codes.ndim != 3 or codes.shape[1:] != (1, self.z_dim):
            raise SefaZooError(
                f"DCGAN expects codes of shape (N, 1, {self.z_dim}), got {tuple(codes.shape)}"
            )
        labels = self._labels(classes, len(codes))
        z = codes.to(self.device, torch.float32)[:, 0]
        if labels is not None:
            z = torch.cat([z, labels], dim=1)
        return self.main(z.reshape(len(z), self.nz, 1, 1))

    def _labels(self, classes: torch.Tensor | None, count: int) -> torch.Tensor | None:
        """The one-hot labels (count, num_classes) of ``classes``; None for an unconditional generator."""
        if not self.num_classes:
            if classes is not None:
                raise SefaZooError("this DCGAN generator is not class-conditional: it takes no classes")
            return None
        if classes is None:
            raise SefaZooError(f"this DCGAN generator is class-conditional ({self.num_classes} classes): give classes")
        if classes.shape != (count,) or classes.dtype != torch.long:
            raise SefaZooError(f"DCGAN expects classes as {count} class indices (long), got {tuple(classes.shape)}")
        if len(classes) and not 0 <= int(classes.min()) <= int(classes.max()) < self.num_classes:
            raise SefaZooError(f"DCGAN class out of range: the generator has classes 0-{self.num_classes - 1}")
        return torch.nn.functional.one_hot(classes.to(self.device), self.num_classes).float()


def tutorial_widths(ngf: int, image_size: int) -> list[int]:
    """Hidden widths of the tutorial family: ngf * 8, 4, 2, 1 at 64 px; one block fewer per halving."""
    blocks = image_size.bit_length() - 3
    if blocks < 1 or image_size != 4 * 2**blocks:
        raise ValueError(f"image_size must be 4 * 2**k with k >= 1 (8, 16, 32, 64, ...), got {image_size}")
    return [ngf * 2 ** (blocks - 1 - i) for i in range(blocks)]


def random_dcgan_state(
    nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64, seed: int = 0, num_classes: int = 0
) -> dict[str, torch.Tensor]:
    """The state dict of a tutorial generator with the tutorial's seeded weight init;
    ``num_classes`` > 0 makes the last ``num_classes`` of the ``nz`` inputs a one-hot label.

    Conv weights ~ N(0, 0.02), BatchNorm gains ~ N(1, 0.02), biases 0, as the tutorial's
    ``weights_init``; BatchNorm running statistics are then measured on one seeded batch
    of z, so eval-mode images have a trained model's range instead of collapsing to 0.
    The global RNG is not touched.
    """
    rng = torch.Generator().manual_seed(seed)
    net = DCGANGenerator(nz, tutorial_widths(ngf, image_size), nc)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.ConvTranspose2d):
                module.weight.normal_(0.0, 0.02, generator=rng)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.normal_(1.0, 0.02, generator=rng)
                module.bias.zero_()
                module.momentum = None  # running stats = this batch's stats exactly
        net.train()
        z = torch.randn(16, nz, 1, 1, generator=rng)
        if num_classes:
            labels = torch.randint(num_classes, (16,), generator=rng)
            z[:, nz - num_classes:] = torch.nn.functional.one_hot(labels, num_classes)[:, :, None, None]
        net(z)
    return {name: tensor.detach().clone() for name, tensor in net.state_dict().items()}
