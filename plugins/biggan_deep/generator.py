"""BigGAN-deep as the pytorch-pretrained-BigGAN package computes it in eval mode.

Every spectrally normalised weight is ``weight_orig / sigma`` with sigma = uᵀ W v from the stored
u and v (no power iteration), computed once when the weights load. The class enters as its
embedding column; cat(z, embedding) feeds ``gen_z`` and every conditional batch norm (gain
1 + scale, bias offset). The truncation t also picks the batch-norm statistics: with
S stored rows for t = 0, 1/(S-1), ..., 1, and t/(1/(S-1)) = i + f (f its fractional part),
the package takes row i when f = 0, else f·row i + (1-f)·row i+1 — the weights as the package
writes them, kept here for equality.

Codes are the truncated z the package samples, ``map`` makes them from standard-normal z
deterministically: z's normal CDF (ndtr), rescaled into the (-2, 2) interval, through the inverse CDF (ndtri),
times t — the truncated normal on [-2, 2] (scipy's ``truncnorm(-2, 2)``) times t.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sefa_zoo import Checkpoint, SefaZooError

from .layouts import (
    EMBEDDINGS,
    FINAL_BN,
    FIRST_CHANNELS,
    FIRST_SIZE,
    GEN_Z,
    IMAGE_CHANNELS,
    LAYERS,
    TO_RGB,
    BigGANShape,
    BlockShape,
    sn_names,
)

TRUNCATION_BOUND = 2.0  # the package samples z from a normal truncated to [-2, 2]
DEFAULT_TRUNCATION = 0.4  # the truncation of the package's examples


def spectral_normalized(checkpoint: Checkpoint, prefix: str) -> torch.Tensor:
    """``prefix``'s weight as the network uses it: weight_orig / (uᵀ W v), W = weight_orig as
    (outputs, inputs), u and v the stored vectors — torch's spectral norm at eval."""
    orig, u, v = (checkpoint[name].to(torch.float32) for name in sn_names(prefix))
    sigma = torch.dot(u, torch.mv(orig.reshape(orig.shape[0], -1), v))
    if not torch.isfinite(sigma) or sigma == 0:
        raise SefaZooError(f"{checkpoint.label}: {prefix!r} has spectral norm {float(sigma)} from its weight_u, weight_v")
    return orig / sigma


def statistics_row(truncation: float, n_stats: int) -> tuple[int, float]:
    """(row i, weight f of row i) of the batch-norm statistics for ``truncation``, as the package
    splits truncation / step into its integer and fractional parts."""
    coef, start = math.modf(truncation / (1.0 / (n_stats - 1)))
    return int(start), coef


def check_truncation(truncation: float) -> float:
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float)) or not 0 < truncation <= 1:
        raise SefaZooError(f"BigGAN's truncation must be a number in (0, 1], got {truncation!r}")
    return float(truncation)


class TruncationStatistics(nn.Module):
    """Running means and variances stored for each of n_stats truncation values."""

    def __init__(self, n_stats: int, channels: int):
        super().__init__()
        self.register_buffer("running_means", torch.zeros(n_stats, channels))
        self.register_buffer("running_vars", torch.ones(n_stats, channels))

    def at(self, truncation: float) -> tuple[torch.Tensor, torch.Tensor]:
        start, coef = statistics_row(truncation, self.running_means.shape[0])
        if coef == 0.0:
            return self.running_means[start], self.running_vars[start]
        mean = self.running_means[start] * coef + self.running_means[start + 1] * (1 - coef)
        var = self.running_vars[start] * coef + self.running_vars[start + 1] * (1 - coef)
        return mean, var


class ConditionalBatchNorm(TruncationStatistics):
    def __init__(self, n_stats: int, channels: int, condition_dim: int, eps: float):
        super().__init__(n_stats, channels)
        self.scale = nn.Parameter(torch.zeros(channels, condition_dim))
        self.offset = nn.Parameter(torch.zeros(channels, condition_dim))
        self.eps = eps

    def forward(self, x: torch.Tensor, truncation: float, condition: torch.Tensor) -> torch.Tensor:
        mean, var = self.at(truncation)
        gain = 1 + F.linear(condition, self.scale)[:, :, None, None]
        bias = F.linear(condition, self.offset)[:, :, None, None]
        return (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + self.eps) * gain + bias


class GenBlock(nn.Module):
    """Four (conditional batch norm, ReLU, convolution) steps on a bottleneck, 2x nearest
    up-sampling before the first 3x3 convolution where the block up-samples, and a residual
    of the input's first C_out channels."""

    def __init__(self, block: BlockShape, n_stats: int, condition_dim: int, eps: float):
        super().__init__()
        self.up_sample = block.up_sample
        self.out_channels = block.out_channels
        widths = (block.in_channels, block.middle, block.middle, block.middle, block.out_channels)
        kernels = (1, 3, 3, 1)
        for k in range(4):
            self.add_module(f"bn_{k}", ConditionalBatchNorm(n_stats, widths[k], condition_dim, eps))
            self.add_module(f"conv_{k}", nn.Conv2d(widths[k], widths[k + 1], kernels[k], padding=kernels[k] // 2))

    def forward(self, x: torch.Tensor, condition: torch.Tensor, truncation: float) -> torch.Tensor:
        residual = x
        for k in range(4):
            x = F.relu(getattr(self, f"bn_{k}")(x, truncation, condition))
            if k == 1 and self.up_sample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = getattr(self, f"conv_{k}")(x)
        residual = residual[:, : self.out_channels]
        if self.up_sample:
            residual = F.interpolate(residual, scale_factor=2, mode="nearest")
        return x + residual


class SelfAttention(nn.Module):
    """SAGAN self-attention: keys and values max-pooled 2x2, output scaled by ``gamma``."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))
        for name, outputs, inputs in (
            ("theta", channels // 8, channels), ("phi", channels // 8, channels),
            ("g", channels // 2, channels), ("o_conv", channels, channels // 2),
        ):
            self.add_module(f"snconv1x1_{name}", nn.Conv2d(inputs, outputs, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        query = self.snconv1x1_theta(x).flatten(2)
        key = F.max_pool2d(self.snconv1x1_phi(x), 2).flatten(2)
        value = F.max_pool2d(self.snconv1x1_g(x), 2).flatten(2)
        attention = torch.softmax(torch.bmm(query.transpose(1, 2), key), dim=-1)
        attended = torch.bmm(value, attention.transpose(1, 2)).reshape(n, -1, h, w)
        return x + self.gamma * self.snconv1x1_o_conv(attended)


class BigGANGenerator(nn.Module):
    """The generator of ``shape``; parameter names follow the package's (``weight_orig`` as
    ``weight``, already divided by sigma), so ``from_checkpoint`` fills it by name.

    It satisfies sefa_zoo's ``Generator`` protocol for class-conditional models: ``num_classes``,
    ``class_names``, ``map(z, truncation_psi=t, classes=...)`` and ``synthesize(codes,
    classes=..., truncation_psi=t)``, t the same in both. ``default_truncation_psi`` is 0.4.
    """

    default_truncation_psi = DEFAULT_TRUNCATION

    def __init__(self, shape: BigGANShape, class_names: Sequence[str] | None = None):
        super().__init__()
        self.shape = shape
        self.z_dim = shape.z_dim
        self.latent_dim = shape.z_dim
        self.num_layers = 1
        self.num_classes = shape.num_classes
        self.class_names = tuple(class_names) if class_names is not None else None
        self.resolution = shape.resolution
        ch, condition_dim = shape.channel_width, 2 * shape.z_dim
        self.embeddings = nn.Parameter(torch.zeros(shape.z_dim, shape.num_classes))
        self.gen_z = nn.Linear(condition_dim, shape.first_outputs)
        modules: list[nn.Module] = []
        for block in shape.blocks:
            if block.module - 1 == shape.attention:
                modules.append(SelfAttention(block.in_channels))
            modules.append(GenBlock(block, shape.n_stats, condition_dim, shape.eps))
        self.layers = nn.ModuleList(modules)
        self.bn = TruncationStatistics(shape.n_stats, ch)
        self.bn_weight = nn.Parameter(torch.ones(ch))
        self.bn_bias = nn.Parameter(torch.zeros(ch))
        self.conv_to_rgb = nn.Conv2d(ch, ch, 3, padding=1)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, shape: BigGANShape,
                        class_names: Sequence[str] | None = None) -> BigGANGenerator:
        net = cls(shape, class_names)
        with torch.no_grad():
            for name, target in net._targets().items():
                stored = spectral_normalized(checkpoint, name[: -len(".weight_orig")]) if name.endswith(
                    ".weight_orig") else checkpoint[name].to(torch.float32)
                target.copy_(stored.reshape(target.shape))
        return net.requires_grad_(False).eval()

    def _targets(self) -> dict[str, torch.Tensor]:
        """The package's tensor name -> where it goes here."""
        targets = {EMBEDDINGS: self.embeddings, FINAL_BN + ".weight": self.bn_weight, FINAL_BN + ".bias": self.bn_bias,
                   FINAL_BN + ".running_means": self.bn.running_means, FINAL_BN + ".running_vars": self.bn.running_vars}
        for prefix, layer in ((GEN_Z, self.gen_z), (TO_RGB, self.conv_to_rgb)):
            targets[prefix + ".weight_orig"] = layer.weight
            targets[prefix + ".bias"] = layer.bias
        for module, layer in enumerate(self.layers):
            for name, tensor in [*layer.named_parameters(), *layer.named_buffers()]:
                stored = name[: -len(".weight")] + ".weight_orig" if name.endswith("weight") else name
                if name.endswith((".scale", ".offset")):
                    stored = name + ".weight_orig"
                targets[f"{LAYERS}{module}.{stored}"] = tensor
        return targets

    @property
    def device(self) -> torch.device:
        return self.embeddings.device

    def check_classes(self, classes: torch.Tensor | Sequence[int] | None, count: int) -> torch.Tensor:
        if classes is None:
            raise SefaZooError(f"BigGAN is class-conditional ({self.num_classes} classes): give a class")
        classes = torch.as_tensor(classes, device=self.device)
        if classes.ndim != 1 or len(classes) != count or classes.is_floating_point() or classes.is_complex():
            raise SefaZooError(f"BigGAN expects {count} class indices (whole numbers), got shape {tuple(classes.shape)}")
        if len(classes) and not bool(((classes >= 0) & (classes < self.num_classes)).all()):
            bad = int(classes[(classes < 0) | (classes >= self.num_classes)][0])
            raise SefaZooError(f"class {bad} is out of range: BigGAN has classes 0-{self.num_classes - 1}")
        return classes.long()

    def map(
        self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
        classes: torch.Tensor | Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Standard-normal z (N, z_dim) -> codes (N, 1, z_dim): the package's truncated noise
        (a normal truncated to [-2, 2]) times the truncation, the same z always giving the same code."""
        truncation = check_truncation(truncation_psi)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise SefaZooError(f"BigGAN expects z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        self.check_classes(classes, len(z))
        z = z.to(self.device, torch.float64)
        low, high = torch.special.ndtr(torch.tensor([-TRUNCATION_BOUND, TRUNCATION_BOUND], dtype=torch.float64))
        inside = low + torch.special.ndtr(z) * (high - low)
        truncated = torch.special.ndtri(inside).clamp(-TRUNCATION_BOUND, TRUNCATION_BOUND)
        return (truncation * truncated).to(self.device, torch.float32)[:, None, :]

    def synthesize(
        self, codes: torch.Tensor, *, classes: torch.Tensor | Sequence[int] | None = None,
        truncation_psi: float = 1.0,
    ) -> torch.Tensor:
        """codes (N, 1, z_dim) and N classes -> images (N, 3, resolution, resolution) in [-1, 1]."""
        truncation = check_truncation(truncation_psi)
        if codes.ndim != 3 or codes.shape[1:] != (1, self.z_dim):
            raise SefaZooError(f"BigGAN expects codes of shape (N, 1, {self.z_dim}), got {tuple(codes.shape)}")
        classes = self.check_classes(classes, len(codes))
        z = codes[:, 0].to(self.device, torch.float32)
        condition = torch.cat((z, self.embeddings.T[classes]), dim=1)
        x = self.gen_z(condition).view(-1, FIRST_SIZE, FIRST_SIZE, FIRST_CHANNELS * self.shape.channel_width)
        x = x.permute(0, 3, 1, 2).contiguous()
        for layer in self.layers:
            x = layer(x, condition, truncation) if isinstance(layer, GenBlock) else layer(x)
        mean, var = self.bn.at(truncation)
        x = F.batch_norm(x, mean, var, self.bn_weight, self.bn_bias, training=False, momentum=0.0, eps=self.shape.eps)
        x = self.conv_to_rgb(F.relu(x))
        return torch.tanh(x[:, :IMAGE_CHANNELS])

    def forward(self, z: torch.Tensor, classes: torch.Tensor, truncation_psi: float = DEFAULT_TRUNCATION
                ) -> torch.Tensor:
        return self.synthesize(self.map(z, truncation_psi=truncation_psi, classes=classes), classes=classes,
                               truncation_psi=truncation_psi)
