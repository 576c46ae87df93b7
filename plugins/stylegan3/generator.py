"""The StyleGAN3 generator (configs T and R) as a torch module of plain torch ops.

It computes what NVIDIA's stylegan3 Generator computes in float32 with its reference ops
(``_filtered_lrelu_ref``, ``_upfirdn2d_ref``, ``_bias_act_ref``):

* mapping: z normalised by its second moment, dense layers with equalised learning rate and
  leaky ReLU · sqrt(2); truncation ``w_avg + psi · (w − w_avg)`` on the first ``cutoff`` rows;
* input (ws[0]): its affine gives (cos, sin, tx, ty), normalised by the rotation's length, which
  rotates then translates the stored Fourier features (after the stored user transform);
  sin(2π(grid · freqs + phases)), damped outside the band, mapped by ``weight / sqrt(C)``;
* each layer L{i} (ws[i + 1]): styles = affine(w); the kernel and the styles are normalised by
  their RMS, the kernel modulated, demodulated and scaled by 1/sqrt(magnitude_ema) (the input
  magnitude the layer saw in training); then the filtered leaky ReLU: bias, zero-insertion
  up-sampling with the stored up-filter (gain up²), leaky ReLU (0.2) · sqrt(2), clamp at
  conv_clamp, the stored down-filter (separable, or 2-d for config R's radial filters) and
  decimation. The toRGB has styles · 1/sqrt(C), no demodulation, a linear activation;
* the image is scaled by ``output_scale`` (0.25).

Parameter and buffer names are the pickle's ``G_ema.state_dict()`` names.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sefa_zoo import SefaZooError

from .geometry import LayerPlan
from .reader import StyleGAN3Parts

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


# ----------------------------------------------------------------------------- ops


def fused_modconv_is_faster(batch: int, device: torch.device) -> bool:
    """Which form of modulated convolution ``synthesize`` uses for a batch on ``device``: on a CPU
    the fused one at batch 1 (one ordinary convolution either way; measured on StyleGAN3-T 256,
    0.074 against 0.071 images per CPU-second), the shared-kernel one for batches, where the
    fused form is a grouped convolution over the batch's kernels (docs/benchmarks.md). On a GPU
    the fused form is NVIDIA's choice for inference (not measured here)."""
    return batch == 1 or device.type != "cpu"


def modulated_conv2d(
    x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool, input_gain: torch.Tensor,
    fused: bool = True,
) -> torch.Tensor:
    """Padding k − 1 (the layer's plan crops what is not needed). Fused: one grouped convolution
    of the batch's modulated kernels; not fused: the activations scaled by the styles, one
    convolution with the shared kernel, the outputs scaled by the demodulation (the same function)."""
    batch, in_channels = styles.shape
    kernel = weight.shape[-1]
    if demodulate:
        weight = weight * weight.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    if not fused:
        out = F.conv2d(x * styles[:, :, None, None], weight, padding=kernel - 1)
        if not demodulate:
            return _multiply(out, input_gain)
        # sum over (in, kh, kw) of (weight · style)² without forming the batch's kernels
        power = styles.square() @ weight.square().sum(dim=[2, 3]).t()
        return _multiply(out, ((power + 1e-8).rsqrt() * input_gain)[:, :, None, None])
    w = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    w = w * input_gain
    out = F.conv2d(
        x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, in_channels, kernel, kernel), padding=kernel - 1, groups=batch
    )
    return out.reshape(batch, -1, *out.shape[2:])


# Without autograd the steps after a convolution work in place on its fresh output: on a CPU
# a new up-sampled feature map per step costs more than the arithmetic.


def _multiply(x: torch.Tensor, y: torch.Tensor | float) -> torch.Tensor:
    return x * y if torch.is_grad_enabled() else x.mul_(y)


def upfirdn2d(
    x: torch.Tensor, taps: torch.Tensor | None, *, up: int = 1, down: int = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0,
) -> torch.Tensor:
    """Zero-insertion up-sampling, padding (negative: cropping; x low, x high, y low, y high), FIR
    filtering (a 1-d filter along x then y, or a 2-d one) and decimation."""
    if taps is not None and taps.ndim == 1:
        return _separable_upfirdn2d(x, taps, up=up, down=down, padding=padding, gain=gain)
    batch, channels, height, width = x.shape
    if up > 1:
        x = F.pad(x.reshape(batch, channels, height, 1, width, 1), [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    x0, x1, y0, y1 = padding
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    if taps is None:
        return (x * gain)[:, :, ::down, ::down] if gain != 1 else x[:, :, ::down, ::down]
    taps = (taps * gain).flip(0, 1).to(x.dtype)
    return F.conv2d(x, taps[None, None].expand(channels, 1, *taps.shape), stride=down, groups=channels)


def _separable_upfirdn2d(
    x: torch.Tensor, taps: torch.Tensor, *, up: int, down: int, padding: tuple[int, int, int, int], gain: float
) -> torch.Tensor:
    """upfirdn2d with a 1-d filter as two matrix products, one per axis: on a CPU several times
    faster than depthwise convolutions over the zero-inserted map (the matrices skip the zeros)."""
    x0, x1, y0, y1 = padding
    taps = taps.to(x.dtype) * math.sqrt(gain)
    along_x = _resampling_matrix(x.shape[3], taps, up=up, down=down, padding=(x0, x1))
    along_y = _resampling_matrix(x.shape[2], taps, up=up, down=down, padding=(y0, y1))
    return along_y @ (x @ along_x.t())


def _resampling_matrix(
    size: int, taps: torch.Tensor, *, up: int, down: int, padding: tuple[int, int]
) -> torch.Tensor:
    """(output length, ``size``): up-sampling, padding, filtering and decimation of a signal of
    ``size`` samples as a matrix, column i the response to a unit impulse at sample i."""
    impulses = torch.eye(size, dtype=taps.dtype, device=taps.device)
    if up > 1:
        impulses = F.pad(impulses[:, :, None], [0, up - 1]).reshape(size, size * up)
    low, high = padding
    impulses = F.pad(impulses, [max(low, 0), max(high, 0)])
    impulses = impulses[:, max(-low, 0) : impulses.shape[1] - max(-high, 0)]
    responses = F.conv1d(impulses[:, None], taps.flip(0)[None, None])[:, 0]
    return responses[:, ::down].t()


def filtered_lrelu(
    x: torch.Tensor, bias: torch.Tensor, up_taps: torch.Tensor | None, down_taps: torch.Tensor | None,
    plan: LayerPlan, *, clamp: float | None,
) -> torch.Tensor:
    in_place = not torch.is_grad_enabled()  # x is the layer's fresh convolution output
    x = x.add_(bias[None, :, None, None]) if in_place else x + bias[None, :, None, None]
    x = upfirdn2d(x, up_taps, up=plan.up_factor, padding=plan.padding, gain=plan.up_factor**2)
    if not plan.is_torgb:
        x = _multiply(F.leaky_relu(x, LRELU_SLOPE, inplace=in_place), LRELU_GAIN)
    if clamp is not None:
        x = x.clamp_(-clamp, clamp) if in_place else x.clamp(-clamp, clamp)
    return upfirdn2d(x, down_taps, down=plan.down_factor)


class _Dense(nn.Module):
    """Equalised-learning-rate dense layer: stored weight (out, in) and bias (out,)."""

    def __init__(self, in_features: int, out_features: int, *, lr_multiplier: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.weight_gain
        bias = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        return torch.addmm(bias[None], x, weight.t())


# ----------------------------------------------------------------------------- modules


class MappingNetwork(nn.Module):
    def __init__(self, features: tuple[int, ...], lr_multiplier: float):
        super().__init__()
        self.num_layers = len(features) - 1
        for i in range(self.num_layers):
            self.add_module(f"fc{i}", _Dense(features[i], features[i + 1], lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.empty(features[-1]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.num_layers):
            x = F.leaky_relu(getattr(self, f"fc{i}")(x), LRELU_SLOPE) * LRELU_GAIN
        return x


class SynthesisInput(nn.Module):
    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.size, self.sampling_rate, self.bandwidth = size, sampling_rate, bandwidth
        self.weight = nn.Parameter(torch.empty(channels, channels))
        self.affine = _Dense(w_dim, 4)
        self.register_buffer("transform", torch.empty(3, 3))
        self.register_buffer("freqs", torch.empty(channels, 2))
        self.register_buffer("phases", torch.empty(channels))

    def _transforms(self, w: torch.Tensor) -> torch.Tensor:
        """The inverse image transform per sample: the learned rotation, then translation, then the user's."""
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        batch = len(w)
        rotation = torch.eye(3, device=w.device).repeat(batch, 1, 1)
        rotation[:, 0, 0], rotation[:, 0, 1] = t[:, 0], -t[:, 1]
        rotation[:, 1, 0], rotation[:, 1, 1] = t[:, 1], t[:, 0]
        translation = torch.eye(3, device=w.device).repeat(batch, 1, 1)
        translation[:, 0, 2], translation[:, 1, 2] = -t[:, 2], -t[:, 3]
        return rotation @ translation @ self.transform[None]

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        transforms = self._transforms(w)
        freqs = self.freqs[None]
        phases = self.phases[None] + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # Frequencies the user transform pushes out of band fade out before the Nyquist rate.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grid = F.affine_grid(theta[None], [1, 1, self.size, self.size], align_corners=False)
        x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1)[:, None, None]).squeeze(3)
        x = torch.sin((x + phases[:, None, None]) * (np.pi * 2)) * amplitudes[:, None, None]
        x = x @ (self.weight / np.sqrt(self.weight.shape[0])).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    def __init__(self, plan: LayerPlan, w_dim: int, in_channels: int, out_channels: int, conv_clamp: float | None):
        super().__init__()
        self.plan = plan
        self.conv_clamp = conv_clamp
        kernel = plan.conv_kernel
        self.affine = _Dense(w_dim, in_channels)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.register_buffer("magnitude_ema", torch.empty(()))
        self.up_filter: torch.Tensor | None
        self.down_filter: torch.Tensor | None
        self.register_buffer("up_filter", torch.empty(plan.up_taps) if plan.up_taps > 1 else None)
        down_shape = (plan.down_taps,) * (2 if plan.down_radial else 1)
        self.register_buffer("down_filter", torch.empty(down_shape) if plan.down_taps > 1 else None)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w)
        if self.plan.is_torgb:
            styles = styles * (1 / np.sqrt(self.weight.shape[1] * self.weight.shape[2] ** 2))
        x = modulated_conv2d(
            x, self.weight, styles, demodulate=not self.plan.is_torgb, input_gain=self.magnitude_ema.rsqrt(),
            fused=fused_modconv,
        )
        return filtered_lrelu(x, self.bias, self.up_filter, self.down_filter, self.plan, clamp=self.conv_clamp)


class SynthesisNetwork(nn.Module):
    def __init__(self, parts: StyleGAN3Parts):
        super().__init__()
        plan, located = parts.plan, parts.located
        self.output_scale = plan.output_scale
        self.input = SynthesisInput(
            located.w_dim, located.input_channels, plan.input_size, plan.input_sampling_rate, plan.input_bandwidth
        )
        self.layer_names = []
        for layer, step in zip(located.layers, plan.layers, strict=True):
            name = layer.name
            self.add_module(
                name, SynthesisLayer(step, located.w_dim, layer.in_channels, layer.out_channels, plan.conv_clamp)
            )
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        rows = ws.unbind(dim=1)
        x = self.input(rows[0])
        for name, w in zip(self.layer_names, rows[1:], strict=True):
            x = getattr(self, name)(x, w, fused_modconv)
        return x * self.output_scale if self.output_scale != 1 else x


class StyleGAN3Generator(nn.Module):
    """A StyleGAN3 generator; implements sefa_zoo's ``Generator`` (no autograd in ``map`` / ``synthesize``)."""

    def __init__(self, parts: StyleGAN3Parts, *, label: str = "StyleGAN3 generator"):
        super().__init__()
        self.label = label
        self.z_dim = parts.mapping_features[0]
        self.latent_dim = parts.located.w_dim
        self.num_layers = parts.located.num_ws
        self.resolution = parts.located.resolution
        self.config = parts.located.config
        with torch.device("meta"):
            self.mapping = MappingNetwork(parts.mapping_features, parts.mapping_lr_multiplier)
            self.synthesis = SynthesisNetwork(parts)
        expected = self.state_dict()
        assert set(expected) == set(parts.tensors), sorted(set(expected) ^ set(parts.tensors))
        self.load_state_dict({name: parts.tensors[name].float() for name in expected}, strict=True, assign=True)

    @property
    def device(self) -> torch.device:
        return self.synthesis.input.weight.device

    def forward_mapping(
        self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None
    ) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise SefaZooError(f"StyleGAN3 expects z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        if truncation_cutoff is not None and truncation_cutoff < 0:
            raise SefaZooError(f"truncation cutoff must be a layer count >= 0, got {truncation_cutoff}")
        w = self.mapping(z.to(self.device, torch.float32))
        codes = w[:, None, :].repeat(1, self.num_layers, 1)
        if truncation_psi != 1:
            cut = self.num_layers if truncation_cutoff is None else truncation_cutoff
            truncated = self.mapping.w_avg.lerp(codes[:, :cut], truncation_psi)
            codes = torch.cat([truncated, codes[:, cut:]], dim=1)
        return codes

    def forward_synthesis(self, codes: torch.Tensor, *, fused_modconv: bool | None = None) -> torch.Tensor:
        """``fused_modconv``: which form of modulated convolution computes the layers (the same
        function either way); None picks the faster for this batch and device."""
        if codes.ndim != 3 or codes.shape[1:] != (self.num_layers, self.latent_dim):
            raise SefaZooError(
                f"StyleGAN3 expects codes of shape (N, {self.num_layers}, {self.latent_dim}), got {tuple(codes.shape)}"
            )
        if fused_modconv is None:
            fused_modconv = fused_modconv_is_faster(len(codes), self.device)
        return self.synthesis(codes.to(self.device, torch.float32), fused_modconv)

    @torch.no_grad()
    def map(
        self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None
    ) -> torch.Tensor:
        """z (N, z_dim) -> W+ codes (N, num_layers, latent_dim), truncated on the first
        ``truncation_cutoff`` rows (None: all)."""
        return self.forward_mapping(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    @torch.no_grad()
    def synthesize(self, codes: torch.Tensor) -> torch.Tensor:
        """W+ codes -> images (N, C, H, W), about [-1, 1] (not clamped)."""
        return self.forward_synthesis(codes)
