"""A small StyleGAN2 residual discriminator (equalised learning rate, minibatch standard deviation).

fromRGB (1x1) at the image resolution, then one residual block per halving down to 4x4
(two 3x3 convs, the second down-sampling; a 1x1 down-sampling skip; the sum times
1/sqrt(2)), then the epilogue: minibatch std (groups of up to 4, one feature), a 3x3 conv,
a dense layer and the one-logit output. Down-sampling low-passes with the [1, 3, 3, 1]
filter before a stride-2 convolution, as in StyleGAN2. Channels follow the generator's rule
min(channel_base // r, channel_max).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..fixtures import fir_kernel

_LRELU_SLOPE = 0.2
_LRELU_GAIN = math.sqrt(2.0)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, _LRELU_SLOPE) * _LRELU_GAIN


class _Conv(nn.Module):
    """Equalised-learning-rate conv; ``down`` blurs, then convolves with stride 2."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, *, bias: bool = True, down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.gain = 1 / math.sqrt(in_channels * kernel * kernel)
        self.down = down
        self.register_buffer("blur", fir_kernel(1.0)[None, None].repeat(in_channels, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.weight.shape[-1] // 2
        if self.down:
            x = F.conv2d(F.pad(x, (1, 2, 1, 2)), self.blur, groups=x.shape[1])
            return F.conv2d(x, self.weight * self.gain, self.bias, stride=2, padding=pad)
        return F.conv2d(x, self.weight * self.gain, self.bias, padding=pad)


class _Dense(nn.Module):
    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.gain = 1 / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.gain, self.bias)


class _Block(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = _Conv(in_channels, in_channels, 3)
        self.conv1 = _Conv(in_channels, out_channels, 3, down=True)
        self.skip = _Conv(in_channels, out_channels, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(x)
        x = _lrelu(self.conv1(_lrelu(self.conv0(x))))
        return (x + y) * (1 / math.sqrt(2.0))


def minibatch_std(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one feature map: the std over each group of samples, averaged over features and pixels."""
    n, c, h, w = x.shape
    group = min(group_size, n)
    if n % group:
        group = 1 if n < group_size else math.gcd(n, group_size)
    y = x.reshape(group, -1, c, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()
    y = y.mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1).repeat(group, 1, h, w)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, resolution: int = 32, *, img_channels: int = 3, channel_base: int = 1024, channel_max: int = 128):
        super().__init__()

        def channels(level: int) -> int:
            return min(channel_base // level, channel_max)

        self.from_rgb = _Conv(img_channels, channels(resolution), 1)
        blocks = []
        level = resolution
        while level > 4:
            blocks.append(_Block(channels(level), channels(level // 2)))
            level //= 2
        self.blocks = nn.Sequential(*blocks)
        top = channels(4)
        self.conv = _Conv(top + 1, top, 3)
        self.dense = _Dense(top * 16, top)
        self.out = _Dense(top, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.blocks(_lrelu(self.from_rgb(images)))
        x = _lrelu(self.conv(minibatch_std(x)))
        x = _lrelu(self.dense(x.flatten(1)))
        return self.out(x).squeeze(1)
