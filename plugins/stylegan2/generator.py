"""The StyleGAN2 generator ('skip' synthesis, config-e/f and StyleGAN2-ADA) as a torch module.

It computes what NVIDIA's stylegan2-ada-pytorch Generator computes in float32 with its
reference ops (rosinality's and genforce's generators compute the same function):

* mapping: z normalised by its second moment, then dense layers with equalised learning
  rate (weight · lr / sqrt(in), bias · lr) and leaky ReLU (slope 0.2) times sqrt(2); a
  class-conditional generator (StyleGAN2-ADA, c_dim > 0) feeds the first layer
  cat(normalised z, normalised embed(one-hot label)), ``embed`` a linear dense layer at learning rate 1;
  truncation ``w_avg + psi · (w − w_avg)`` on the first ``cutoff`` W+ entries;
* synthesis: per layer the style ``affine(w)`` modulates the raw 3x3 kernel, which is then
  demodulated; the up-sampling conv0 is a stride-2 transposed convolution followed by the
  [1, 3, 3, 1] FIR filter (padding 1, gain 4); noise is added, then bias, leaky ReLU ·
  sqrt(2) and, where the checkpoint asks for it, the clamp (NVIDIA's ``conv_clamp``);
* every resolution's toRGB (style scaled by 1/sqrt(C), no demodulation) is added to the
  image so far, up-sampled with the same FIR filter (zeros between pixels, padding 2/1, gain 4).

The module's state-dict keys are exactly a StyleGAN2State's logical names, so a state
loads as it is (its tensors are used in place, not copied, when they are float32), and a
trained module's ``state_dict()`` is a StyleGAN2State's tensors. Sizes come from the
tensors: a const of 4x2 gives a rectangular generator (StyleGAN-Human's 1024x512).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sefa_zoo import LayoutError, SefaZooError

from .fixtures import StyleGAN2State, fir_kernel

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
NOISE_MODES = ("const", "random", "none")


# ----------------------------------------------------------------------------- ops


def _filter2d(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Zero-pad (left, right, top, bottom), then convolve each channel with ``kernel``."""
    channels = x.shape[1]
    weight = kernel.flip(0, 1).to(x.dtype)[None, None].repeat(channels, 1, 1, 1)
    return F.conv2d(F.pad(x, pad), weight, groups=channels)


def upsample_image(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """NVIDIA's ``upsample2d``: zeros after every pixel, pad 2 before and 1 after, filter · 4."""
    n, c, h, w = img.shape
    x = F.pad(img.reshape(n, c, h, 1, w, 1), [0, 1, 0, 0, 0, 1]).reshape(n, c, 2 * h, 2 * w)
    return _filter2d(x, kernel * 4, (2, 1, 2, 1))


def fused_modconv_is_faster(device: torch.device) -> bool:
    """Which form of modulated convolution ``synthesize`` uses on ``device``.

    Measured on CPU (docs/benchmarks.md): the shared-kernel form on channels-last feature maps
    is faster at every batch size, by 5-15% at batch 1 (both forms are then one ordinary
    convolution; channels-last makes the transposed and depthwise ones several times faster)
    and by 1.4-3x from batch 8 on, where the fused form is a grouped convolution over the
    batch's kernels. On a GPU the fused form is NVIDIA's choice for inference (not measured here)."""
    return device.type != "cpu"


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    *,
    demodulate: bool = True,
    up_kernel: torch.Tensor | None = None,
    fused: bool = True,
) -> torch.Tensor:
    """Per-sample kernels weight · style (demodulated), as one grouped convolution.

    With ``up_kernel`` the convolution is NVIDIA's up-sampling one: a stride-2 transposed
    convolution with the kernel as stored, then the FIR filter with padding 1 and gain 4.
    ``fused=False`` computes the same by scaling the activations instead of the kernels
    (input by the style, output by the demodulation), with one shared kernel for the whole
    batch: NVIDIA's training path, and the faster one on a CPU (fused_modconv_is_faster).
    """
    n, in_channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    if not fused:
        return _modulated_conv2d_unfused(x, weight, styles, demodulate=demodulate, up_kernel=up_kernel)
    w = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    x = x.reshape(1, n * in_channels, height, width)
    if up_kernel is None:
        x = F.conv2d(x, w.reshape(n * out_channels, in_channels, kh, kw), padding=kh // 2, groups=n)
    else:
        w = w.transpose(1, 2).reshape(n * in_channels, out_channels, kh, kw)
        x = F.conv_transpose2d(x, w, stride=2, groups=n)
        x = _filter2d(x, up_kernel * 4, (1, 1, 1, 1))
    return x.reshape(n, out_channels, *x.shape[2:])


def _modulated_conv2d_unfused(
    x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool, up_kernel: torch.Tensor | None
) -> torch.Tensor:
    kh = weight.shape[2]
    x = x * styles[:, :, None, None]
    if up_kernel is None:
        x = F.conv2d(x, weight, padding=kh // 2)
    else:
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        x = _filter2d(x, up_kernel * 4, (1, 1, 1, 1))
    if demodulate:
        # sum over (in, kh, kw) of (weight · style)² without forming the batch's kernels
        power = styles.square() @ weight.square().sum(dim=[2, 3]).t()
        x = _multiply(x, (power + 1e-8).rsqrt()[:, :, None, None])
    return x


# Without autograd the steps after a convolution work in place on its fresh output: on a CPU
# a new feature map per step (8 x 128 x 256 x 256 floats) costs more than the arithmetic.


def _multiply(x: torch.Tensor, y: torch.Tensor | float) -> torch.Tensor:
    return x * y if torch.is_grad_enabled() else x.mul_(y)


def _add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x + y if torch.is_grad_enabled() else x.add_(y)


def _bias_act(x: torch.Tensor, bias: torch.Tensor, *, lrelu: bool, clamp: float | None) -> torch.Tensor:
    x = _add(x, bias.reshape(1, -1, 1, 1))
    if lrelu:
        x = _multiply(F.leaky_relu(x, LRELU_SLOPE, inplace=not torch.is_grad_enabled()), LRELU_GAIN)
    if clamp is not None:
        x = x.clamp(-clamp, clamp) if torch.is_grad_enabled() else x.clamp_(-clamp, clamp)
    return x


# ----------------------------------------------------------------------------- layers


class _Dense(nn.Module):
    """Equalised-learning-rate dense layer: stored weight (out, in) and bias (out,)."""

    def __init__(self, in_features: int, out_features: int, *, lr_multiplier: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias[None] * self.bias_gain, x, (self.weight * self.weight_gain).t())


def _normalize_2nd_moment(x: torch.Tensor) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()


class MappingNetwork(nn.Module):
    """z -> w: second-moment normalisation, then ``fc0`` .. ``fc{n-1}`` with leaky ReLU.

    With ``c_dim`` > 0, ``embed`` maps the label (N, c_dim) to ``embed_features``, and fc0
    takes cat(normalised z, normalised embedding): ``features[0]`` counts both."""

    def __init__(self, features: Sequence[int], lr_multiplier: float, *, c_dim: int = 0, embed_features: int = 0):
        super().__init__()
        self.num_layers = len(features) - 1
        self.c_dim = c_dim
        if c_dim:
            self.embed = _Dense(c_dim, embed_features)
        for i in range(self.num_layers):
            self.add_module(f"fc{i}", _Dense(features[i], features[i + 1], lr_multiplier=lr_multiplier))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = _normalize_2nd_moment(z)
        if self.c_dim:
            x = torch.cat([x, _normalize_2nd_moment(self.embed(labels))], dim=1)
        for i in range(self.num_layers):
            x = F.leaky_relu(getattr(self, f"fc{i}")(x), LRELU_SLOPE) * LRELU_GAIN
        return x


class StyledConv(nn.Module):
    """One modulated, demodulated 3x3 convolution with noise, bias and leaky ReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, noise_size: tuple[int, int], *,
        up: bool, conv_clamp: float | None,
    ):
        super().__init__()
        self.affine = _Dense(w_dim, in_channels)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.noise_strength = nn.Parameter(torch.empty(()))
        self.register_buffer("noise_const", torch.empty(noise_size))
        self.up = up
        self.conv_clamp = conv_clamp

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, noise_mode: str, up_kernel: torch.Tensor, fused: bool = True
    ) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w), up_kernel=up_kernel if self.up else None, fused=fused)
        if noise_mode == "const":
            x = _add(x, self.noise_const * self.noise_strength)
        elif noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, *x.shape[2:]], device=x.device, dtype=x.dtype)
            x = _add(x, noise * self.noise_strength)
        return _bias_act(x, self.bias, lrelu=True, clamp=self.conv_clamp)


class ToRGB(nn.Module):
    """The 1x1 modulated convolution to image channels: style / sqrt(C), no demodulation."""

    def __init__(self, in_channels: int, img_channels: int, w_dim: int, *, conv_clamp: float | None):
        super().__init__()
        self.affine = _Dense(w_dim, in_channels)
        self.weight = nn.Parameter(torch.empty(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.empty(img_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)
        self.conv_clamp = conv_clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = True) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False, fused=fused)
        return _bias_act(x, self.bias, lrelu=False, clamp=self.conv_clamp)


# ----------------------------------------------------------------------------- generator


class StyleGAN2Generator(nn.Module):
    """A StyleGAN2 generator built from a StyleGAN2State; implements sefa_zoo's ``Generator``.

    ``map`` and ``synthesize`` are the inference API (no autograd; noise ``const`` by
    default); ``forward_mapping`` / ``forward_synthesis`` are the same computations with
    autograd, for training. ``conv_clamp`` clamps every layer's output (NVIDIA's
    StyleGAN2-ADA uses 256, config-f none). ``image_size`` = (width, height) crops the
    middle of the generated frame, as the originals do for the car model (512x384 from a
    512x512 frame: rows 64-447).
    """

    def __init__(
        self,
        state: StyleGAN2State,
        *,
        conv_clamp: float | None = None,
        image_size: tuple[int, int] | None = None,
        label: str = "StyleGAN2 state",
    ):
        super().__init__()
        t = state.tensors
        mapping_features = _mapping_features(state, label)
        self.num_classes = state.c_dim
        self.z_dim = mapping_features[0] - state.embed_features
        self.latent_dim = mapping_features[-1]
        self.resolution = state.resolution
        self.num_layers = 2 * (state.resolution.bit_length() - 1) - 2
        self.conv_clamp = conv_clamp
        const_shape = _shape_of(t, "const", 3, label)
        base_height, base_width = const_shape[1:]
        scale = state.resolution // 4
        self.frame_size = (base_height * scale, base_width * scale)  # (height, width)
        img_channels = _shape_of(t, f"{state.levels[-1]}x{state.levels[-1]}.torgb.weight", 4, label)[0]

        with torch.device("meta"):
            self.mapping = MappingNetwork(
                mapping_features, state.mapping_lr_multiplier, c_dim=state.c_dim, embed_features=state.embed_features
            )
            self.register_buffer("w_avg", torch.empty(self.latent_dim))
            self.const = nn.Parameter(torch.empty(const_shape))
            in_channels = const_shape[0]
            self.blocks: list[tuple[str, list[str]]] = []  # (module name, its convs in order)
            for level in state.levels:
                block = nn.Module()
                noise_size = (base_height * level // 4, base_width * level // 4)
                for name in state.conv_names(level):
                    out_channels = _shape_of(t, f"{name}.weight", 4, label)[0]
                    role = name.split(".")[1]
                    layer = StyledConv(
                        in_channels, out_channels, self.latent_dim, noise_size,
                        up=role == "conv0", conv_clamp=conv_clamp,
                    )
                    block.add_module(role, layer)
                    in_channels = out_channels
                block.add_module("torgb", ToRGB(in_channels, img_channels, self.latent_dim, conv_clamp=conv_clamp))
                self.add_module(f"{level}x{level}", block)
                self.blocks.append((f"{level}x{level}", [name.split(".")[1] for name in state.conv_names(level)]))
        self.register_buffer("fir", fir_kernel(1.0), persistent=False)
        _load(self, t, label)
        self.image_size = None
        if image_size is not None:
            self.set_image_size(image_size)

    # -------------------------------------------------------------- configuration

    @property
    def device(self) -> torch.device:
        return self.const.device

    def set_image_size(self, image_size: tuple[int, int] | None) -> None:
        """Crop the middle (width, height) of every frame; None shows the whole frame."""
        if image_size is not None:
            width, height = image_size
            frame_height, frame_width = self.frame_size
            if not (0 < width <= frame_width and 0 < height <= frame_height):
                raise SefaZooError(
                    f"image size {width}x{height} does not fit in the generator's "
                    f"{frame_width}x{frame_height} frame"
                )
            image_size = (int(width), int(height))
        self.image_size = image_size

    # -------------------------------------------------------------- the computation

    def forward_mapping(
        self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
        classes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise SefaZooError(f"StyleGAN2 expects z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        if truncation_cutoff is not None and truncation_cutoff < 0:
            raise SefaZooError(f"truncation cutoff must be a layer count >= 0, got {truncation_cutoff}")
        w = self.mapping(z.to(self.device, torch.float32), self._labels(classes, len(z)))
        codes = w[:, None, :].repeat(1, self.num_layers, 1)
        if truncation_psi != 1:
            cut = self.num_layers if truncation_cutoff is None else truncation_cutoff
            truncated = self.w_avg.lerp(codes[:, :cut], truncation_psi)
            codes = torch.cat([truncated, codes[:, cut:]], dim=1)
        return codes

    def forward_synthesis(
        self, codes: torch.Tensor, *, noise_mode: str = "const", fused_modconv: bool | None = None
    ) -> torch.Tensor:
        """``fused_modconv``: which form of modulated convolution computes the layers (the same
        function either way, see modulated_conv2d); None picks the faster on this device
        (fused_modconv_is_faster)."""
        if codes.ndim != 3 or codes.shape[1:] != (self.num_layers, self.latent_dim):
            raise SefaZooError(
                f"StyleGAN2 expects codes of shape (N, {self.num_layers}, {self.latent_dim}), "
                f"got {tuple(codes.shape)}"
            )
        if noise_mode not in NOISE_MODES:
            raise SefaZooError(f"noise mode {noise_mode!r} is not one of {', '.join(NOISE_MODES)}")
        ws = codes.to(self.device, torch.float32).unbind(dim=1)
        if fused_modconv is None:
            fused_modconv = fused_modconv_is_faster(self.device)
        x = self.const[None].repeat(len(codes), 1, 1, 1)
        if not fused_modconv:  # the grouped convolution needs (1, N * C, H, W) views; this form does not
            x = x.contiguous(memory_format=torch.channels_last)
        img = None
        index = 0  # the W+ entry the next conv takes; a toRGB takes the one after its block's last conv
        for block_name, roles in self.blocks:
            block = getattr(self, block_name)
            for role in roles:
                x = getattr(block, role)(x, ws[index], noise_mode, self.fir, fused_modconv)
                index += 1
            y = block.torgb(x, ws[index], fused_modconv)
            img = y if img is None else upsample_image(img, self.fir) + y
        assert img is not None
        return self._crop(img).contiguous()

    def forward(
        self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
        noise_mode: str = "const", classes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        codes = self.forward_mapping(
            z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, classes=classes
        )
        return self.forward_synthesis(codes, noise_mode=noise_mode)

    def _labels(self, classes: torch.Tensor | None, count: int) -> torch.Tensor | None:
        """NVIDIA's c: the one-hot labels (count, num_classes) of ``classes``; None when unconditional."""
        if not self.num_classes:
            if classes is not None:
                raise SefaZooError("this StyleGAN2 generator is not class-conditional: it takes no classes")
            return None
        if classes is None:
            raise SefaZooError(f"this StyleGAN2 generator is class-conditional ({self.num_classes} classes): give classes")
        if classes.shape != (count,) or classes.dtype != torch.long:
            raise SefaZooError(f"StyleGAN2 expects classes as {count} class indices (long), got {tuple(classes.shape)}")
        if count and not 0 <= int(classes.min()) <= int(classes.max()) < self.num_classes:
            raise SefaZooError(f"StyleGAN2 class out of range: the generator has classes 0-{self.num_classes - 1}")
        return F.one_hot(classes.to(self.device), self.num_classes).float()

    def _crop(self, img: torch.Tensor) -> torch.Tensor:
        if self.image_size is None:
            return img
        width, height = self.image_size
        top = (img.shape[2] - height) // 2
        left = (img.shape[3] - width) // 2
        return img[:, :, top : top + height, left : left + width]

    # -------------------------------------------------------------- Generator protocol

    @torch.no_grad()
    def map(
        self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
        classes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """z (N, z_dim) -> W+ codes (N, num_layers, latent_dim), truncated on the first
        ``truncation_cutoff`` entries (None: all). A class-conditional generator takes
        ``classes`` (N class indices), as NVIDIA's one-hot c; w_avg is the one average of all."""
        return self.forward_mapping(
            z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, classes=classes
        )

    @torch.no_grad()
    def synthesize(
        self, codes: torch.Tensor, *, noise_mode: str = "const", classes: torch.Tensor | None = None,
        truncation_psi: float | None = None,
    ) -> torch.Tensor:
        """W+ codes -> images (N, C, H, W), about [-1, 1] (not clamped). Noise: 'const' (the
        stored maps), 'random' (torch's global generator) or 'none'. The class has already
        made the codes (it enters the mapping only): ``classes`` is checked, then unused, and
        so is ``truncation_psi``."""
        if classes is not None or self.num_classes:
            self._labels(classes, len(codes))
        return self.forward_synthesis(codes, noise_mode=noise_mode)


# ----------------------------------------------------------------------------- loading


def _mapping_features(state: StyleGAN2State, label: str) -> list[int]:
    if state.mapping_layers < 1:
        raise LayoutError(f"{label}: the StyleGAN2 mapping network has no layers")
    features = [_shape_of(state.tensors, "mapping.fc0.weight", 2, label)[1]]
    for i in range(state.mapping_layers):
        out_features, in_features = _shape_of(state.tensors, f"mapping.fc{i}.weight", 2, label)
        if in_features != features[-1]:
            raise LayoutError(f"{label}: mapping.fc{i} takes {in_features} features, fc{i - 1} gives {features[-1]}")
        features.append(out_features)
    return features


def _shape_of(tensors: Mapping[str, torch.Tensor], name: str, ndim: int, label: str) -> tuple[int, ...]:
    if name not in tensors:
        raise LayoutError(f"{label}: StyleGAN2 tensor {name!r} is missing")
    shape = tuple(tensors[name].shape)
    if len(shape) != ndim:
        raise LayoutError(f"{label}: StyleGAN2 tensor {name!r} has shape {shape}, expected {ndim} dimensions")
    return shape


def _load(module: nn.Module, tensors: Mapping[str, torch.Tensor], label: str) -> None:
    """Put ``tensors`` into the meta-built ``module`` in place (float32, no copy when already so)."""
    expected = module.state_dict()
    for name, slot in expected.items():
        if name not in tensors:
            raise LayoutError(f"{label}: StyleGAN2 tensor {name!r} is missing")
        if tuple(tensors[name].shape) != tuple(slot.shape):
            raise LayoutError(
                f"{label}: StyleGAN2 tensor {name!r} has shape {tuple(tensors[name].shape)}, "
                f"expected {tuple(slot.shape)} from the other tensors"
            )
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise LayoutError(f"{label}: unexpected StyleGAN2 tensor {extra[0]!r}")
    module.load_state_dict({name: tensors[name].float() for name in expected}, strict=True, assign=True)
