"""The StyleGAN (v1) generator of genforce's code (the original SeFa release's) as a torch module.

It computes what genforce's StyleGANGenerator computes at level of detail 0 (full
resolution), in float32:

* mapping: z divided by its root mean square (eps 1e-8), then dense layers with equalised
  learning rate (weight · sqrt(2) / sqrt(in) · lr, bias · lr, lr = 0.01) each followed by
  leaky ReLU 0.2; truncation ``w_avg + psi · (w − w_avg)`` on the first ``cutoff`` W+ entries;
* synthesis, per layer i with W+ entry i: layer 0 starts from the learned constant; the
  other layers convolve (3x3, weight · sqrt(2) / sqrt(9·Cin)), where the first layer of
  a resolution first doubles the size: nearest-neighbour up-sampling then the conv below
  128 px, from 128 px on one stride-2 transposed convolution with the kernel summed over
  its four 2x2 shifts (genforce's 'auto' fused scale), followed by the [1, 2, 1] blur;
  then noise (the stored map times a per-channel strength), bias, leaky ReLU 0.2, instance
  normalisation (eps 1e-8) and AdaIN: x · (1 + scale) + shift, (scale, shift) = w ·
  (style weight / sqrt(w_dim))ᵀ + style bias;
* the last resolution's toRGB (1x1 conv, weight / sqrt(C), plus bias), no tanh: images
  about [-1, 1].

Tensors keep genforce's names (the generator's state dict under them), so a file's tensors
are the module's buffers as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from sefa_zoo import Checkpoint, LayoutError, SefaZooError

from .fixtures import MAPPING_LR_MULTIPLIER, blur_kernel
from .layouts import Located

LRELU_SLOPE = 0.2
DENSE_GAIN = math.sqrt(2.0)
FUSED_UPSCALE_MIN_RES = 128  # genforce's 'auto': transposed convolutions from this resolution on
EPS = 1e-8
NOISE_MODES = ("const", "random", "none")
_MAPPING_WEIGHT = "mapping.dense{i}.weight"


# MAPPING_LR_MULTIPLIER: genforce's default, 0.01; its files do not record it.


def read_generator_tensors(checkpoint: Checkpoint, located: Located) -> dict[str, torch.Tensor]:
    """Every tensor the generator computes with, by its genforce name, with its shape checked."""
    label, prefix = checkpoint.label, located.prefix
    if prefix + "mapping.label_weight" in checkpoint:
        raise LayoutError(f"{label}: {prefix + 'mapping.label_weight'!r}: class-conditional StyleGAN is not supported")
    expected = expected_shapes(located, _mapping_features(checkpoint, located))
    tensors = {}
    for name, shape in expected.items():
        key = prefix + name
        if key not in checkpoint:
            raise LayoutError(f"{label}: missing tensor {key!r} of a StyleGAN generator")
        if checkpoint.shape(key) != shape:
            raise LayoutError(f"{label}: {key!r} has shape {checkpoint.shape(key)}, expected {shape}")
        tensors[name] = checkpoint[key]
    return tensors


def _mapping_features(checkpoint: Checkpoint, located: Located) -> list[int]:
    """[z_dim, w_dim, ..., w_dim]: the mapping's input size, then each layer's output size."""
    features: list[int] = []
    i = 0
    while located.prefix + _MAPPING_WEIGHT.format(i=i) in checkpoint:  # bounded by the file's tensors
        key = located.prefix + _MAPPING_WEIGHT.format(i=i)
        shape = checkpoint.shape(key)
        if len(shape) != 2 or (features and shape[1] != features[-1]):
            wanted = f"(out, {features[-1]})" if features else "(out, in)"
            raise LayoutError(f"{checkpoint.label}: {key!r} has shape {shape}, expected {wanted}")
        features += [shape[1], shape[0]] if not features else [shape[0]]
        i += 1
    if not features:
        raise LayoutError(
            f"{checkpoint.label}: missing tensor {located.prefix + _MAPPING_WEIGHT.format(i=0)!r} "
            "(the StyleGAN generator has no mapping network)"
        )
    if features[-1] != located.w_dim:
        raise LayoutError(
            f"{checkpoint.label}: the mapping network gives {features[-1]}-d w, the style layers take {located.w_dim}"
        )
    return features


def expected_shapes(located: Located, mapping_features: list[int]) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(len(mapping_features) - 1):
        shapes[f"mapping.dense{i}.weight"] = (mapping_features[i + 1], mapping_features[i])
        shapes[f"mapping.dense{i}.bias"] = (mapping_features[i + 1],)
    shapes["truncation.w_avg"] = (located.w_dim,)
    in_channels = located.layers[0].channels
    for layer in located.layers:
        name, channels = f"synthesis.layer{layer.index}", layer.channels
        if layer.index == 0:
            shapes[f"{name}.const"] = (1, channels, 4, 4)
        else:
            shapes[f"{name}.weight"] = (channels, in_channels, 3, 3)
        shapes[f"{name}.bias"] = (channels,)
        shapes[f"{name}.apply_noise.weight"] = (channels,)
        shapes[f"{name}.apply_noise.noise"] = (1, 1, layer.level, layer.level)
        shapes[f"{name}.style.weight"] = (2 * channels, located.w_dim)
        shapes[f"{name}.style.bias"] = (2 * channels,)
        in_channels = channels
    output = f"synthesis.output{located.num_layers // 2 - 1}"
    shapes[f"{output}.weight"] = (located.img_channels, in_channels, 1, 1)
    shapes[f"{output}.bias"] = (located.img_channels,)
    return shapes


def _spatial_var_mean(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each (sample, channel)'s variance (biased) and mean over the pixels, (N, C, 1, 1) each; on a
    channels-last map as a reduction over its outer (pixel) axis, which torch does far faster."""
    pixels = x.permute(0, 2, 3, 1).flatten(1, 2)
    variance, mean = torch.var_mean(pixels, dim=1, correction=0)
    return variance[:, :, None, None], mean[:, :, None, None]


class StyleGANGenerator(nn.Module):
    """A StyleGAN (v1) generator; implements sefa_zoo's ``Generator``.

    ``image_size`` = (width, height) crops the middle of the generated frame (the car
    model's 512x384 pictures sit in a 512x512 frame).
    """

    def __init__(
        self,
        tensors: Mapping[str, torch.Tensor],
        located: Located,
        *,
        image_size: tuple[int, int] | None = None,
        label: str = "StyleGAN generator",
    ):
        super().__init__()
        self.label = label
        self.num_layers = located.num_layers
        self.resolution = located.resolution
        self.latent_dim = located.w_dim
        self.mapping_layers = sum(1 for name in tensors if name.startswith("mapping.") and name.endswith(".weight"))
        self.z_dim = tensors["mapping.dense0.weight"].shape[1]
        self.output = f"synthesis.output{self.num_layers // 2 - 1}"
        self._names: dict[str, str] = {}
        for name, tensor in tensors.items():
            self._names[name] = name.replace(".", "__")
            self.register_buffer(self._names[name], tensor.detach().float(), persistent=False)
        for layer in located.layers:
            if layer.index > 0 and layer.index % 2 == 0:
                kernel_name = f"blur{layer.index}"
                self._names[kernel_name] = kernel_name
                self.register_buffer(kernel_name, blur_kernel(layer.channels), persistent=False)
        self.image_size = None
        if image_size is not None:
            self.set_image_size(image_size)
        self.eval()

    def tensor(self, name: str) -> torch.Tensor:
        return getattr(self, self._names[name])

    @property
    def device(self) -> torch.device:
        return self.tensor("truncation.w_avg").device

    def set_image_size(self, image_size: tuple[int, int] | None) -> None:
        """Crop the middle (width, height) of every frame; None shows the whole frame."""
        if image_size is not None:
            width, height = image_size
            if not (0 < width <= self.resolution and 0 < height <= self.resolution):
                raise SefaZooError(
                    f"image size {width}x{height} does not fit in the generator's "
                    f"{self.resolution}x{self.resolution} frame"
                )
            image_size = (int(width), int(height))
        self.image_size = image_size

    # -------------------------------------------------------------- mapping

    def _dense(self, x: torch.Tensor, i: int) -> torch.Tensor:
        weight = self.tensor(f"mapping.dense{i}.weight")
        gain = DENSE_GAIN / math.sqrt(weight.shape[1]) * MAPPING_LR_MULTIPLIER
        x = F.linear(x, weight * gain, self.tensor(f"mapping.dense{i}.bias") * MAPPING_LR_MULTIPLIER)
        return F.leaky_relu(x, LRELU_SLOPE)

    @torch.no_grad()
    def map(
        self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None
    ) -> torch.Tensor:
        """z (N, z_dim) -> W+ codes (N, num_layers, latent_dim), truncated toward the average w
        on the first ``truncation_cutoff`` entries (None: all)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise SefaZooError(f"StyleGAN expects z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        if truncation_cutoff is not None and truncation_cutoff < 0:
            raise SefaZooError(f"truncation cutoff must be a layer count >= 0, got {truncation_cutoff}")
        x = z.to(self.device, torch.float32)
        x = x / (x.square().mean(dim=1, keepdim=True) + EPS).sqrt()
        for i in range(self.mapping_layers):
            x = self._dense(x, i)
        codes = x[:, None, :].repeat(1, self.num_layers, 1)
        if truncation_psi != 1:
            cut = self.num_layers if truncation_cutoff is None else truncation_cutoff
            w_avg = self.tensor("truncation.w_avg")
            codes[:, :cut] = w_avg + (codes[:, :cut] - w_avg) * truncation_psi
        return codes

    # -------------------------------------------------------------- synthesis

    def _convolve(self, x: torch.Tensor, index: int) -> torch.Tensor:
        weight = self.tensor(f"synthesis.layer{index}.weight")
        weight = weight * (DENSE_GAIN / math.sqrt(weight[0].numel()))
        if index % 2 == 1:
            return F.conv2d(x, weight, padding=1)
        if 2 * x.shape[2] >= FUSED_UPSCALE_MIN_RES:
            # A 3x3 conv after 2x nearest up-sampling is a stride-2 transposed conv whose 4x4
            # kernel is the 3x3 one summed over its four 2x2 shifts.
            padded = F.pad(weight, (1, 1, 1, 1))
            fused = padded[:, :, 1:, 1:] + padded[:, :, :-1, 1:] + padded[:, :, 1:, :-1] + padded[:, :, :-1, :-1]
            x = F.conv_transpose2d(x, fused.transpose(0, 1), stride=2, padding=1)
        else:
            x = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), weight, padding=1)
        return F.conv2d(x, getattr(self, f"blur{index}"), padding=1, groups=x.shape[1])

    def _layer(self, x: torch.Tensor | None, w: torch.Tensor, index: int, noise_mode: str) -> torch.Tensor:
        name = f"synthesis.layer{index}"
        if x is None:
            # channels-last: on a CPU the transposed and the blur convolutions run several times faster
            x = self.tensor(f"{name}.const").repeat(len(w), 1, 1, 1).contiguous(memory_format=torch.channels_last)
        else:
            x = self._convolve(x, index)
        # x is this layer's own (the constant's copy, or the convolution's output): the steps
        # work on it in place, as a new feature map per step costs more than the arithmetic.
        strength = self.tensor(f"{name}.apply_noise.weight").reshape(1, -1, 1, 1)
        if noise_mode == "const":
            x.addcmul_(self.tensor(f"{name}.apply_noise.noise"), strength)
        elif noise_mode == "random":
            x.addcmul_(torch.randn(len(x), 1, *x.shape[2:], device=x.device), strength)
        x = F.leaky_relu(x.add_(self.tensor(f"{name}.bias").reshape(1, -1, 1, 1)), LRELU_SLOPE, inplace=True)
        variance, mean = _spatial_var_mean(x)
        x.sub_(mean).mul_((variance + EPS).rsqrt())
        weight = self.tensor(f"{name}.style.weight")
        style = F.linear(w, weight / math.sqrt(weight.shape[1]), self.tensor(f"{name}.style.bias"))
        scale, shift = style.reshape(len(w), 2, -1, 1, 1).unbind(dim=1)
        return x.mul_(scale + 1).add_(shift)

    def _to_rgb(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.tensor(f"{self.output}.weight")
        weight = weight / math.sqrt(weight.shape[1])
        return F.conv2d(x, weight, self.tensor(f"{self.output}.bias"))

    @torch.no_grad()
    def synthesize(self, codes: torch.Tensor, *, noise_mode: str = "const") -> torch.Tensor:
        """W+ codes (N, num_layers, latent_dim) -> images (N, C, H, W), about [-1, 1] (not
        clamped). Noise: 'const' (the stored maps, as the release renders), 'random' or 'none'."""
        if codes.ndim != 3 or codes.shape[1:] != (self.num_layers, self.latent_dim):
            raise SefaZooError(
                f"StyleGAN expects codes of shape (N, {self.num_layers}, {self.latent_dim}), got {tuple(codes.shape)}"
            )
        if noise_mode not in NOISE_MODES:
            raise SefaZooError(f"noise mode {noise_mode!r} is not one of {', '.join(NOISE_MODES)}")
        ws = codes.to(self.device, torch.float32)
        x = None
        for index in range(self.num_layers):
            x = self._layer(x, ws[:, index], index, noise_mode)
        assert x is not None
        return self._crop(self._to_rgb(x)).contiguous()

    def _crop(self, img: torch.Tensor) -> torch.Tensor:
        if self.image_size is None:
            return img
        width, height = self.image_size
        top = (img.shape[2] - height) // 2
        left = (img.shape[3] - width) // 2
        return img[:, :, top : top + height, left : left + width]
