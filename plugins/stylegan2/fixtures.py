"""One logical StyleGAN2 generator, written in each real checkpoint layout.

``random_stylegan2_state`` makes a layout-neutral set of weights; ``stylegan2_state_dict``
renames and reshapes it into one layout's generator state dict, following each layout's
own conventions, so that the same logical generator saved three ways is the same
generator. Whole files are written by files.

Per-layout conventions (all three keep raw, equalised-learning-rate weights; the runtime
gains are identical, so raw values carry over unchanged except where noted):
  * affine / style bias: rosinality and NVIDIA store it with the +1 included (initialised
    to 1); genforce stores it without (its DenseBlock adds 1 at run time).
  * the upsampling conv0 weight: rosinality and NVIDIA store it flipped in both spatial
    axes relative to TensorFlow (their transposed convolution uses it as is); genforce
    keeps TensorFlow's orientation and flips at run time. The logical state uses the
    NVIDIA orientation.
  * shapes: rosinality conv weights carry a leading 1 (1, out, in, k, k), toRGB bias
    (1, C, 1, 1), noise strength (1,), noise maps (1, 1, r, r); NVIDIA uses (out, in, k, k),
    (C,), a 0-d strength and (r, r) noise maps; genforce (out, in, k, k), (C,), 0-d, (1, 1, r, r).
  * NVIDIA's TensorFlow release (nvidia-tf: Gs's variables, named as ``Gs.<component>.<variable>``
    in a Checkpoint) stores dense weights (mapping and ``mod_weight``) as (in, out), kernels as
    (k, k, in, out) with ``Conv0_up`` in TensorFlow's orientation, ``mod_bias`` without the +1,
    the const as (1, C, 4, 4) and the noise maps as ``synthesis.noise{n}`` (1, 1, r, r), n
    counting the convs in the order they run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sefa_zoo import SefaZooError

STATE_DICT_LAYOUTS = ("rosinality", "nvidia", "nvidia-tf", "genforce", "sefa-zoo")


@dataclass(frozen=True)
class StyleGAN2State:
    """A whole StyleGAN2 generator (skip architecture), independent of any file layout.

    ``tensors`` by logical name (C = channels at that resolution, Ci = a layer's inputs):
      mapping.fc{i}.weight (out, in), mapping.fc{i}.bias (out,): raw; effective weight is
        weight · lr / sqrt(in), effective bias is bias · lr (lr = mapping_lr_multiplier)
      mapping.embed.weight (E, c_dim), mapping.embed.bias (E,): only when c_dim > 0 (StyleGAN2-ADA's
        class-conditional generators): the label's embedding, learning rate 1; fc0 then takes
        z_dim + E inputs, cat(normalised z, normalised embedding)
      w_avg (w_dim,)                      the tracked average of w
      const (C4, 4, 4)                    the learned input
      {r}x{r}.{conv,conv0,conv1}.weight (C, Ci, 3, 3): raw (effective = weight / sqrt(9·Ci));
        conv0 in the NVIDIA orientation (see the module notes)
      ....bias (C,), ....noise_strength (), ....noise_const (r, r)
      ....affine.weight (Ci, w_dim), ....affine.bias (Ci,): style = w · (weight / sqrt(w_dim))ᵀ + bias
      {r}x{r}.torgb.weight (img_channels, C, 1, 1), .bias (img_channels,), .affine.weight, .affine.bias
    ``4x4.conv`` is the 4x4 block's only conv; every other resolution has conv0 (upsampling) and conv1.
    """

    resolution: int
    z_dim: int
    w_dim: int
    img_channels: int
    mapping_layers: int
    mapping_lr_multiplier: float
    channel_base: int
    channel_max: int
    tensors: dict[str, torch.Tensor] = field(repr=False)
    c_dim: int = 0  # classes of a conditional generator (NVIDIA's label dimension); 0: unconditional

    @property
    def embed_features(self) -> int:
        return self.tensors["mapping.embed.weight"].shape[0] if self.c_dim else 0

    @property
    def levels(self) -> list[int]:
        return [4 << k for k in range(self.resolution.bit_length() - 2)]

    def channels(self, level: int) -> int:
        return min(self.channel_base // level, self.channel_max)

    def conv_names(self, level: int) -> list[str]:
        return [f"{level}x{level}.conv"] if level == 4 else [f"{level}x{level}.conv0", f"{level}x{level}.conv1"]

    def num_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())


def random_stylegan2_state(
    resolution: int,
    *,
    w_dim: int = 512,
    z_dim: int = 512,
    channel_multiplier: int = 2,
    channel_base: int | None = None,
    channel_max: int = 512,
    mapping_layers: int = 8,
    img_channels: int = 3,
    mapping_lr_multiplier: float = 0.01,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    c_dim: int = 0,
    embed_features: int | None = None,
) -> StyleGAN2State:
    """Random weights with the true shapes of a StyleGAN2 generator.

    Channels at resolution r are min(channel_base // r, channel_max), with channel_base
    defaulting to 16384 · channel_multiplier: 2 gives config-f (512 up to 64 px, then
    256 / 128 / 64 / 32 at 128 / 256 / 512 / 1024), 1 config-e. Small channel_base /
    channel_max / w_dim values give tiny models for tests. ``device="meta"`` gives the
    shapes without allocating any data. ``c_dim`` > 0 gives a class-conditional generator
    (StyleGAN2-ADA's): a label embedding of ``embed_features`` (default w_dim) features.
    """
    if resolution < 8 or resolution & (resolution - 1):
        raise SefaZooError(f"StyleGAN2 resolution must be a power of two >= 8, got {resolution}")
    if channel_base is None:
        channel_base = 16384 * channel_multiplier
    if min(channel_base // resolution, channel_max) < 1 or min(w_dim, z_dim, mapping_layers, img_channels) < 1:
        raise SefaZooError("StyleGAN2 fixture: every channel count and dimension must be at least 1")
    embed_features = (w_dim if embed_features is None else embed_features) if c_dim else 0
    if c_dim < 0 or (c_dim and embed_features < 1):
        raise SefaZooError("StyleGAN2 fixture: c_dim must be >= 0 and the embedding at least 1 feature")
    gen = torch.Generator().manual_seed(seed)
    shapes_only = torch.device(device).type == "meta"

    def normal(*shape: int, scale: float = 1.0, offset: float = 0.0) -> torch.Tensor:
        if shapes_only:
            return torch.empty(shape, dtype=dtype, device="meta")
        return (torch.randn(shape, generator=gen) * scale + offset).to(dtype=dtype, device=device)

    state = StyleGAN2State(
        resolution, z_dim, w_dim, img_channels, mapping_layers, mapping_lr_multiplier,
        channel_base, channel_max, {}, c_dim,
    )
    t = state.tensors
    features = [z_dim + embed_features] + [w_dim] * mapping_layers
    for i in range(mapping_layers):
        # Stored weights are N(0, 1) / lr, as the equalised-learning-rate initialisation leaves them.
        t[f"mapping.fc{i}.weight"] = normal(features[i + 1], features[i], scale=1 / mapping_lr_multiplier)
        t[f"mapping.fc{i}.bias"] = normal(features[i + 1], scale=0.1)
    if c_dim:
        t["mapping.embed.weight"] = normal(embed_features, c_dim)
        t["mapping.embed.bias"] = normal(embed_features, scale=0.1)
    t["w_avg"] = normal(w_dim, scale=0.5)
    t["const"] = normal(state.channels(4), 4, 4)
    in_channels = state.channels(4)
    for level in state.levels:
        out_channels = state.channels(level)
        for name in state.conv_names(level):
            t[f"{name}.weight"] = normal(out_channels, in_channels, 3, 3)
            t[f"{name}.bias"] = normal(out_channels, scale=0.1)
            t[f"{name}.noise_strength"] = normal(scale=0.05)
            t[f"{name}.noise_const"] = normal(level, level)
            t[f"{name}.affine.weight"] = normal(in_channels, w_dim)
            t[f"{name}.affine.bias"] = normal(in_channels, scale=0.1, offset=1.0)
            in_channels = out_channels
        rgb = f"{level}x{level}.torgb"
        t[f"{rgb}.weight"] = normal(img_channels, out_channels, 1, 1)
        t[f"{rgb}.bias"] = normal(img_channels, scale=0.1)
        t[f"{rgb}.affine.weight"] = normal(out_channels, w_dim)
        t[f"{rgb}.affine.bias"] = normal(out_channels, scale=0.1, offset=1.0)
    return state


def perturbed(state: StyleGAN2State, *, seed: int = 1, scale: float = 0.01) -> StyleGAN2State:
    """A nearby generator: the training copy (``G`` / ``g`` / ``generator``) saved beside the EMA one."""
    gen = torch.Generator().manual_seed(seed)
    tensors = {
        name: (t.float() + scale * torch.randn(t.shape, generator=gen)).to(t.dtype)
        for name, t in state.tensors.items()
    }
    return StyleGAN2State(
        state.resolution, state.z_dim, state.w_dim, state.img_channels, state.mapping_layers,
        state.mapping_lr_multiplier, state.channel_base, state.channel_max, tensors, state.c_dim,
    )


def fir_kernel(gain: float) -> torch.Tensor:
    """The [1, 3, 3, 1] low-pass filter as a normalised 4x4 kernel, times ``gain``."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = torch.outer(taps, taps)
    return kernel / kernel.sum() * gain


# ----------------------------------------------------------------------------- state dicts


def _rosinality_g(state: StyleGAN2State) -> dict[str, torch.Tensor]:
    t = state.tensors
    sd: dict[str, torch.Tensor] = {}
    for i in range(state.mapping_layers):  # style.0 is PixelNorm, without parameters
        sd[f"style.{i + 1}.weight"] = t[f"mapping.fc{i}.weight"]
        sd[f"style.{i + 1}.bias"] = t[f"mapping.fc{i}.bias"]
    sd["input.input"] = t["const"][None]

    def styled_conv(module: str, name: str, upsample: bool) -> None:
        sd[f"{module}.conv.weight"] = t[f"{name}.weight"][None]
        if upsample:
            sd[f"{module}.conv.blur.kernel"] = fir_kernel(4.0)
        sd[f"{module}.conv.modulation.weight"] = t[f"{name}.affine.weight"]
        sd[f"{module}.conv.modulation.bias"] = t[f"{name}.affine.bias"]
        sd[f"{module}.noise.weight"] = t[f"{name}.noise_strength"].reshape(1)
        sd[f"{module}.activate.bias"] = t[f"{name}.bias"]

    def to_rgb(module: str, level: int) -> None:
        name = f"{level}x{level}.torgb"
        sd[f"{module}.bias"] = t[f"{name}.bias"].reshape(1, -1, 1, 1)
        if level > 4:
            sd[f"{module}.upsample.kernel"] = fir_kernel(4.0)
        sd[f"{module}.conv.weight"] = t[f"{name}.weight"][None]
        sd[f"{module}.conv.modulation.weight"] = t[f"{name}.affine.weight"]
        sd[f"{module}.conv.modulation.bias"] = t[f"{name}.affine.bias"]

    styled_conv("conv1", "4x4.conv", upsample=False)
    to_rgb("to_rgb1", 4)
    upper = state.levels[1:]
    for k, level in enumerate(upper):
        styled_conv(f"convs.{2 * k}", f"{level}x{level}.conv0", upsample=True)
        styled_conv(f"convs.{2 * k + 1}", f"{level}x{level}.conv1", upsample=False)
    for k, level in enumerate(upper):
        to_rgb(f"to_rgbs.{k}", level)
    noise_index = 0
    for level in state.levels:
        for name in state.conv_names(level):
            sd[f"noises.noise_{noise_index}"] = t[f"{name}.noise_const"][None, None]
            noise_index += 1
    return sd


def _nvidia_g(state: StyleGAN2State) -> dict[str, torch.Tensor]:
    t = state.tensors
    sd: dict[str, torch.Tensor] = {}
    for level in state.levels:
        block = f"synthesis.b{level}"
        if level == 4:
            sd[f"{block}.const"] = t["const"]
        sd[f"{block}.resample_filter"] = fir_kernel(1.0)
        for name in state.conv_names(level):
            layer = f"{block}.{'conv1' if name.endswith('.conv') else name.split('.')[1]}"
            sd[f"{layer}.weight"] = t[f"{name}.weight"]
            sd[f"{layer}.noise_strength"] = t[f"{name}.noise_strength"]
            sd[f"{layer}.bias"] = t[f"{name}.bias"]
            sd[f"{layer}.resample_filter"] = fir_kernel(1.0)
            sd[f"{layer}.noise_const"] = t[f"{name}.noise_const"]
            sd[f"{layer}.affine.weight"] = t[f"{name}.affine.weight"]
            sd[f"{layer}.affine.bias"] = t[f"{name}.affine.bias"]
        rgb = f"{level}x{level}.torgb"
        sd[f"{block}.torgb.weight"] = t[f"{rgb}.weight"]
        sd[f"{block}.torgb.bias"] = t[f"{rgb}.bias"]
        sd[f"{block}.torgb.affine.weight"] = t[f"{rgb}.affine.weight"]
        sd[f"{block}.torgb.affine.bias"] = t[f"{rgb}.affine.bias"]
    sd["mapping.w_avg"] = t["w_avg"]
    if state.c_dim:
        sd["mapping.embed.weight"] = t["mapping.embed.weight"]
        sd["mapping.embed.bias"] = t["mapping.embed.bias"]
    for i in range(state.mapping_layers):
        sd[f"mapping.fc{i}.weight"] = t[f"mapping.fc{i}.weight"]
        sd[f"mapping.fc{i}.bias"] = t[f"mapping.fc{i}.bias"]
    return sd


def _genforce_g(state: StyleGAN2State) -> dict[str, torch.Tensor]:
    t = state.tensors
    sd: dict[str, torch.Tensor] = {}
    for i in range(state.mapping_layers):
        sd[f"mapping.dense{i}.weight"] = t[f"mapping.fc{i}.weight"]
        sd[f"mapping.dense{i}.bias"] = t[f"mapping.fc{i}.bias"]
    sd["truncation.w_avg"] = t["w_avg"]
    sd["synthesis.early_layer.const"] = t["const"][None]
    layer_index = 0
    for k, level in enumerate(state.levels):
        for name in state.conv_names(level):
            layer = f"synthesis.layer{layer_index}"
            upsample = name.endswith(".conv0")
            weight = t[f"{name}.weight"]
            sd[f"{layer}.weight"] = weight.flip(2, 3) if upsample else weight
            sd[f"{layer}.bias"] = t[f"{name}.bias"]
            sd[f"{layer}.noise_strength"] = t[f"{name}.noise_strength"]
            sd[f"{layer}.noise"] = t[f"{name}.noise_const"][None, None]
            if upsample:
                sd[f"{layer}.filter.kernel"] = fir_kernel(4.0)[None, None]
            sd[f"{layer}.style.weight"] = t[f"{name}.affine.weight"]
            sd[f"{layer}.style.bias"] = t[f"{name}.affine.bias"] - 1
            layer_index += 1
        rgb = f"{level}x{level}.torgb"
        sd[f"synthesis.output{k}.weight"] = t[f"{rgb}.weight"]
        sd[f"synthesis.output{k}.bias"] = t[f"{rgb}.bias"]
        sd[f"synthesis.output{k}.style.weight"] = t[f"{rgb}.affine.weight"]
        sd[f"synthesis.output{k}.style.bias"] = t[f"{rgb}.affine.bias"] - 1
    sd["synthesis.upsample.kernel"] = fir_kernel(4.0)[None, None]
    return sd


_TF_SCOPES = {"conv": "Conv", "conv0": "Conv0_up", "conv1": "Conv1"}


def _tf_kernel(weight: torch.Tensor, *, flip: bool = False) -> torch.Tensor:  # (out, in, k, k) -> (k, k, in, out)
    return (weight.flip(2, 3) if flip else weight).permute(2, 3, 1, 0)


def _nvidia_tf_g(state: StyleGAN2State) -> dict[str, torch.Tensor]:
    """Gs's variables in the order the TensorFlow graph creates them (own, then synthesis, then mapping)."""
    t = state.tensors
    sd: dict[str, torch.Tensor] = {"dlatent_avg": t["w_avg"]}
    names = [name for level in state.levels for name in state.conv_names(level)]
    for noise_index, name in enumerate(names):
        sd[f"synthesis.noise{noise_index}"] = t[f"{name}.noise_const"][None, None]
    sd["synthesis.4x4/Const/const"] = t["const"][None]
    for level in state.levels:
        for name in state.conv_names(level):
            role = name.split(".")[1]
            scope = f"synthesis.{level}x{level}/{_TF_SCOPES[role]}"
            sd[f"{scope}/weight"] = _tf_kernel(t[f"{name}.weight"], flip=role == "conv0")
            sd[f"{scope}/mod_weight"] = t[f"{name}.affine.weight"].t()
            sd[f"{scope}/mod_bias"] = t[f"{name}.affine.bias"] - 1
            sd[f"{scope}/noise_strength"] = t[f"{name}.noise_strength"]
            sd[f"{scope}/bias"] = t[f"{name}.bias"]
        rgb, scope = f"{level}x{level}.torgb", f"synthesis.{level}x{level}/ToRGB"
        sd[f"{scope}/weight"] = _tf_kernel(t[f"{rgb}.weight"])
        sd[f"{scope}/mod_weight"] = t[f"{rgb}.affine.weight"].t()
        sd[f"{scope}/mod_bias"] = t[f"{rgb}.affine.bias"] - 1
        sd[f"{scope}/bias"] = t[f"{rgb}.bias"]
    for i in range(state.mapping_layers):
        sd[f"mapping.Dense{i}/weight"] = t[f"mapping.fc{i}.weight"].t()
        sd[f"mapping.Dense{i}/bias"] = t[f"mapping.fc{i}.bias"]
    return sd


def _sefa_zoo_g(state: StyleGAN2State) -> dict[str, torch.Tensor]:
    return dict(state.tensors)  # sefa-zoo's own layout stores the logical names as they are


_STATE_DICTS = {
    "rosinality": _rosinality_g, "nvidia": _nvidia_g, "nvidia-tf": _nvidia_tf_g, "genforce": _genforce_g,
    "sefa-zoo": _sefa_zoo_g,
}


def stylegan2_state_dict(state: StyleGAN2State, layout: str) -> dict[str, torch.Tensor]:
    """The generator's state dict as ``layout``'s code names it (``g_ema`` / ``G_ema`` / ``generator``;
    nvidia-tf: Gs's variables as a Checkpoint names them; sefa-zoo's own layout keeps the logical names).

    Every tensor gets its own storage, as in a real saved file.
    """
    if layout not in _STATE_DICTS:
        raise SefaZooError(f"no StyleGAN2 state-dict layout {layout!r} (known: {', '.join(_STATE_DICTS)})")
    if state.c_dim and layout != "nvidia":
        raise SefaZooError(
            f"class-conditional StyleGAN2 generators are written in the nvidia layout only, not {layout!r}"
        )
    if layout == "rosinality" and state.z_dim != state.w_dim:
        raise SefaZooError("the rosinality layout needs z_dim == w_dim (its mapping has one style_dim)")
    return {name: tensor.clone().contiguous() for name, tensor in _STATE_DICTS[layout](state).items()}
