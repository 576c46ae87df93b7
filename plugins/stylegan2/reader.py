"""Reading a whole StyleGAN2 generator out of a checkpoint as a layout-neutral StyleGAN2State.

The inverse of ``stylegan2_state_dict`` (fixtures): each layout's tensors are
renamed and reshaped back to the logical names, undoing that layout's conventions
(rosinality's leading 1s, genforce's style bias without the +1 and its TensorFlow-oriented
conv0 kernel; NVIDIA's TensorFlow pickles as stylegan2-ada-pytorch's legacy.py converts
them: dense weights transposed, kernels from (k, k, in, out) to (out, in, k, k), ``Conv0_up``
kernels flipped, ``mod_bias`` + 1, noise maps ``noise{n}`` in the order the convs run).
Only the generator's own tensors are read, each once.

sefa-zoo's own files record their config in the safetensors metadata (native), NVIDIA's
TensorFlow pickles in Gs's ``static_kwargs`` (read with legacy.py's defaults).
What the other files do not record is taken from the layout's own defaults: the mapping
network's learning-rate multiplier is 0.01 in rosinality's and genforce's code (NVIDIA
pickles record it), and a file without an average w (rosinality's training snapshots)
gets the mean of the mapping over 4096 seeded z, as rosinality's generate.py estimates it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch

from sefa_zoo import Checkpoint, LayoutError

from .fixtures import StyleGAN2State
from .generator import MappingNetwork
from .layouts import Located, locate, logical_slots
from .native import check_config, read_config

DEFAULT_MAPPING_LR_MULTIPLIER = 0.01
W_AVG_SAMPLES = 4096
W_AVG_SEED = 0

Convert = Callable[[torch.Tensor], torch.Tensor]
Sources = dict[str, tuple[str, Convert]]  # logical name -> (stored name, stored -> logical)


def _same(t: torch.Tensor) -> torch.Tensor:
    return t


def _unit_axes(t: torch.Tensor, count: int) -> torch.Tensor:
    if t.ndim < count or any(size != 1 for size in t.shape[:count]):
        raise ValueError(f"expected {count} leading axes of size 1")
    return t[(0,) * count]


def _first(t: torch.Tensor) -> torch.Tensor:  # (1, ...) -> (...)
    return _unit_axes(t, 1)


def _plane(t: torch.Tensor) -> torch.Tensor:  # (1, 1, H, W) -> (H, W)
    return _unit_axes(t, 2)


def _scalar(t: torch.Tensor) -> torch.Tensor:  # (1,) -> ()
    if t.numel() != 1:
        raise ValueError("expected one value")
    return t.reshape(())


def _channels(t: torch.Tensor) -> torch.Tensor:  # (1, C, 1, 1) -> (C,)
    if t.ndim != 4 or t.shape[0] != 1 or t.shape[2:] != (1, 1):
        raise ValueError("expected shape (1, C, 1, 1)")
    return t.reshape(-1)


def _flip(t: torch.Tensor) -> torch.Tensor:  # TensorFlow's kernel orientation -> NVIDIA's
    if t.ndim != 4:
        raise ValueError("expected a 4-d kernel")
    return t.flip(2, 3)


def _plus_one(t: torch.Tensor) -> torch.Tensor:
    return t + 1


def _transposed(t: torch.Tensor) -> torch.Tensor:  # TensorFlow's (in, out) dense weight -> (out, in)
    if t.ndim != 2:
        raise ValueError("expected a 2-d weight")
    return t.t()


def _kernel(t: torch.Tensor) -> torch.Tensor:  # TensorFlow's (k, k, in, out) -> (out, in, k, k)
    if t.ndim != 4:
        raise ValueError("expected a 4-d kernel")
    return t.permute(3, 2, 0, 1)


def _flipped_kernel(t: torch.Tensor) -> torch.Tensor:  # Conv0_up: TensorFlow's orientation -> NVIDIA's
    return _kernel(t).flip(2, 3)


def _levels(resolution: int) -> list[int]:
    return [4 << k for k in range(resolution.bit_length() - 2)]


def _conv_names(level: int) -> list[str]:
    return [f"{level}x{level}.conv"] if level == 4 else [f"{level}x{level}.conv0", f"{level}x{level}.conv1"]


def _rosinality_sources(resolution: int, mapping_layers: int) -> Sources:
    src: Sources = {}
    for i in range(mapping_layers):
        src[f"mapping.fc{i}.weight"] = (f"style.{i + 1}.weight", _same)
        src[f"mapping.fc{i}.bias"] = (f"style.{i + 1}.bias", _same)
    src["const"] = ("input.input", _first)
    modules = ["conv1"] + [f"convs.{j}" for j in range(2 * (len(_levels(resolution)) - 1))]
    names = [name for level in _levels(resolution) for name in _conv_names(level)]
    for noise_index, (module, name) in enumerate(zip(modules, names, strict=True)):
        src[f"{name}.weight"] = (f"{module}.conv.weight", _first)
        src[f"{name}.bias"] = (f"{module}.activate.bias", _same)
        src[f"{name}.noise_strength"] = (f"{module}.noise.weight", _scalar)
        src[f"{name}.noise_const"] = (f"noises.noise_{noise_index}", _plane)
        src[f"{name}.affine.weight"] = (f"{module}.conv.modulation.weight", _same)
        src[f"{name}.affine.bias"] = (f"{module}.conv.modulation.bias", _same)
    for k, level in enumerate(_levels(resolution)):
        module = "to_rgb1" if k == 0 else f"to_rgbs.{k - 1}"
        rgb = f"{level}x{level}.torgb"
        src[f"{rgb}.weight"] = (f"{module}.conv.weight", _first)
        src[f"{rgb}.bias"] = (f"{module}.bias", _channels)
        src[f"{rgb}.affine.weight"] = (f"{module}.conv.modulation.weight", _same)
        src[f"{rgb}.affine.bias"] = (f"{module}.conv.modulation.bias", _same)
    return src


def _nvidia_sources(resolution: int, mapping_layers: int) -> Sources:
    src: Sources = {}
    for i in range(mapping_layers):
        for part in ("weight", "bias"):
            src[f"mapping.fc{i}.{part}"] = (f"mapping.fc{i}.{part}", _same)
    src["w_avg"] = ("mapping.w_avg", _same)
    src["const"] = ("synthesis.b4.const", _same)
    for level in _levels(resolution):
        for name in [*_conv_names(level), f"{level}x{level}.torgb"]:
            role = name.split(".")[1]
            module = f"synthesis.b{level}.{'conv1' if role == 'conv' else role}"
            parts = ["weight", "bias", "affine.weight", "affine.bias"]
            if role != "torgb":
                parts += ["noise_strength", "noise_const"]
            for part in parts:
                src[f"{name}.{part}"] = (f"{module}.{part}", _same)
    return src


def _nvidia_tf_sources(resolution: int, mapping_layers: int) -> Sources:
    src: Sources = {}
    for i in range(mapping_layers):
        src[f"mapping.fc{i}.weight"] = (f"mapping.Dense{i}/weight", _transposed)
        src[f"mapping.fc{i}.bias"] = (f"mapping.Dense{i}/bias", _same)
    src["w_avg"] = ("dlatent_avg", _same)
    src["const"] = ("synthesis.4x4/Const/const", _first)
    scopes = {"conv": "Conv", "conv0": "Conv0_up", "conv1": "Conv1"}
    names = [name for level in _levels(resolution) for name in _conv_names(level)]
    for noise_index, name in enumerate(names):
        level, role = name.split(".")
        scope = f"synthesis.{level}/{scopes[role]}"
        src[f"{name}.weight"] = (f"{scope}/weight", _flipped_kernel if role == "conv0" else _kernel)
        src[f"{name}.bias"] = (f"{scope}/bias", _same)
        src[f"{name}.noise_strength"] = (f"{scope}/noise_strength", _same)
        src[f"{name}.noise_const"] = (f"synthesis.noise{noise_index}", _plane)
        src[f"{name}.affine.weight"] = (f"{scope}/mod_weight", _transposed)
        src[f"{name}.affine.bias"] = (f"{scope}/mod_bias", _plus_one)
    for level in _levels(resolution):
        rgb, scope = f"{level}x{level}.torgb", f"synthesis.{level}x{level}/ToRGB"
        src[f"{rgb}.weight"] = (f"{scope}/weight", _kernel)
        src[f"{rgb}.bias"] = (f"{scope}/bias", _same)
        src[f"{rgb}.affine.weight"] = (f"{scope}/mod_weight", _transposed)
        src[f"{rgb}.affine.bias"] = (f"{scope}/mod_bias", _plus_one)
    return src


def _genforce_sources(resolution: int, mapping_layers: int) -> Sources:
    src: Sources = {}
    for i in range(mapping_layers):
        src[f"mapping.fc{i}.weight"] = (f"mapping.dense{i}.weight", _same)
        src[f"mapping.fc{i}.bias"] = (f"mapping.dense{i}.bias", _same)
    src["w_avg"] = ("truncation.w_avg", _same)
    src["const"] = ("synthesis.early_layer.const", _first)
    names = [name for level in _levels(resolution) for name in _conv_names(level)]
    for i, name in enumerate(names):
        layer = f"synthesis.layer{i}"
        src[f"{name}.weight"] = (f"{layer}.weight", _flip if name.endswith(".conv0") else _same)
        src[f"{name}.bias"] = (f"{layer}.bias", _same)
        src[f"{name}.noise_strength"] = (f"{layer}.noise_strength", _same)
        src[f"{name}.noise_const"] = (f"{layer}.noise", _plane)
        src[f"{name}.affine.weight"] = (f"{layer}.style.weight", _same)
        src[f"{name}.affine.bias"] = (f"{layer}.style.bias", _plus_one)
    for k, level in enumerate(_levels(resolution)):
        rgb, output = f"{level}x{level}.torgb", f"synthesis.output{k}"
        src[f"{rgb}.weight"] = (f"{output}.weight", _same)
        src[f"{rgb}.bias"] = (f"{output}.bias", _same)
        src[f"{rgb}.affine.weight"] = (f"{output}.style.weight", _same)
        src[f"{rgb}.affine.bias"] = (f"{output}.style.bias", _plus_one)
    return src


def _sefa_zoo_sources(resolution: int, mapping_layers: int) -> Sources:
    names = [f"mapping.fc{i}.{part}" for i in range(mapping_layers) for part in ("weight", "bias")]
    names += ["w_avg", "const"]
    for level in _levels(resolution):
        for name in _conv_names(level):
            names += [f"{name}.{part}" for part in ("weight", "bias", "noise_strength", "noise_const")]
            names += [f"{name}.affine.weight", f"{name}.affine.bias"]
        rgb = f"{level}x{level}.torgb"
        names += [f"{rgb}.{part}" for part in ("weight", "bias", "affine.weight", "affine.bias")]
    return {name: (name, _same) for name in names}


_SOURCES = {
    "rosinality": _rosinality_sources, "nvidia": _nvidia_sources, "nvidia-tf": _nvidia_tf_sources,
    "genforce": _genforce_sources, "sefa-zoo": _sefa_zoo_sources,
}
_MAPPING_WEIGHT = {
    "rosinality": re.compile(r"^style\.([0-9]{1,6})\.weight$"),  # style.0 is the PixelNorm
    "nvidia": re.compile(r"^mapping\.fc([0-9]{1,6})\.weight$"),
    "nvidia-tf": re.compile(r"^mapping\.Dense([0-9]{1,6})/weight$"),
    "genforce": re.compile(r"^mapping\.dense([0-9]{1,6})\.weight$"),
    "sefa-zoo": re.compile(r"^mapping\.fc([0-9]{1,6})\.weight$"),
}
# Class-conditional generators' label embeddings in the layouts that cannot be read conditionally
# (NVIDIA's PyTorch pickles can: mapping.embed).
_LABEL_EMBEDDING = {
    "nvidia-tf": ("mapping.LabelConcat/weight", "mapping.LabelEmbed/weight"),  # StyleGAN2's, StyleGAN2-ADA's
    "genforce": ("mapping.label_weight",),
}


def read_stylegan2_state(checkpoint: Checkpoint, layout: str) -> StyleGAN2State:
    """The whole generator in ``checkpoint`` (read as ``layout``) under its logical names."""
    located = locate(checkpoint, layout)
    label, prefix = checkpoint.label, located.prefix
    for slot in logical_slots(layout, located.resolution):
        if slot.name not in located.outputs:
            raise LayoutError(
                f"{label}: the StyleGAN2 generator has no {slot.name} layer; only the 'skip' "
                "architecture (a toRGB at every resolution) can synthesize images"
            )
    for embedding in _LABEL_EMBEDDING.get(layout, ()):
        if prefix + embedding in checkpoint:
            raise LayoutError(
                f"{label}: {prefix + embedding!r}: class-conditional StyleGAN2 generators are read from "
                "NVIDIA's stylegan2-ada-pytorch pickles only"
            )
    static_kwargs = tf_static_kwargs(checkpoint, located) if layout == "nvidia-tf" else {}
    mapping_layers = _count_mapping_layers(checkpoint, located)
    levels = _levels(located.resolution)
    tensors = {}
    for name, (key, convert) in _SOURCES[layout](located.resolution, mapping_layers).items():
        if prefix + key not in checkpoint:
            if name == "w_avg":
                continue
            raise LayoutError(f"{label}: missing tensor {prefix + key!r} of a StyleGAN2 generator")
        try:
            tensors[name] = convert(checkpoint[prefix + key])
        except ValueError as exc:
            shape = checkpoint.shape(prefix + key)
            raise LayoutError(f"{label}: {prefix + key!r} has shape {shape}: {exc}") from None
    for name, ndim in [("mapping.fc0.weight", 2)] + [(f"{lv}x{lv}.torgb.weight", 4) for lv in levels]:
        if tensors[name].ndim != ndim:
            raise LayoutError(f"{label}: the StyleGAN2 {name} has shape {tuple(tensors[name].shape)}, not {ndim}-d")
    c_dim = _read_label_embedding(checkpoint, located, tensors) if layout == "nvidia" else 0
    if layout == "rosinality" and "latent_avg" in checkpoint and checkpoint.shape("latent_avg") == (located.w_dim,):
        tensors["w_avg"] = checkpoint["latent_avg"]
    channels = {level: tensors[f"{level}x{level}.torgb.weight"].shape[1] for level in levels}
    channel_base, channel_max = _channel_config(checkpoint, located, channels)
    if isinstance(static_kwargs.get("fmap_base"), int) and isinstance(static_kwargs.get("fmap_max"), int):
        channel_base, channel_max = 2 * static_kwargs["fmap_base"], static_kwargs["fmap_max"]  # as legacy.py
    config = read_config(checkpoint) if layout == "sefa-zoo" else None
    if config is not None:
        channel_base, channel_max = config["channel_base"], config["channel_max"]
    state = StyleGAN2State(
        resolution=located.resolution,
        z_dim=tensors["mapping.fc0.weight"].shape[1] - (tensors["mapping.embed.weight"].shape[0] if c_dim else 0),
        w_dim=located.w_dim,
        img_channels=tensors[f"{levels[-1]}x{levels[-1]}.torgb.weight"].shape[0],
        mapping_layers=mapping_layers,
        mapping_lr_multiplier=(
            float(config["mapping_lr_multiplier"]) if config is not None
            else _mapping_lr_multiplier(checkpoint, located, mapping_layers)
        ),
        channel_base=channel_base,
        channel_max=channel_max,
        tensors=tensors,
        c_dim=c_dim,
    )
    if config is not None:
        check_config(config, state, label)
    if layout == "nvidia-tf":
        _check_tf_dimensions(static_kwargs, state, located, label)
    if "w_avg" not in tensors:
        try:
            tensors["w_avg"] = estimate_w_avg(state)  # completes the state's own dict
        except RuntimeError as exc:  # load_state_dict on inconsistent mapping shapes
            reason = str(exc).strip().splitlines()[-1].strip()
            raise LayoutError(f"{label}: the StyleGAN2 mapping network's shapes do not fit: {reason}") from None
    elif tuple(tensors["w_avg"].shape) != (located.w_dim,):
        raise LayoutError(
            f"{label}: the average w has shape {tuple(tensors['w_avg'].shape)}, expected ({located.w_dim},)"
        )
    return state


def estimate_w_avg(state: StyleGAN2State) -> torch.Tensor:
    """The mean of w over W_AVG_SAMPLES standard-normal z drawn from a generator seeded W_AVG_SEED
    (with classes drawn uniformly from it next, for a class-conditional generator)."""
    features = [state.tensors["mapping.fc0.weight"].shape[1]]
    features += [state.tensors[f"mapping.fc{i}.weight"].shape[0] for i in range(state.mapping_layers)]
    mapping = MappingNetwork(features, state.mapping_lr_multiplier, c_dim=state.c_dim,
                             embed_features=state.embed_features)
    mapping.load_state_dict(
        {k[len("mapping."):]: v.float() for k, v in state.tensors.items() if k.startswith("mapping.")}
    )
    generator = torch.Generator().manual_seed(W_AVG_SEED)
    z = torch.randn(W_AVG_SAMPLES, state.z_dim, generator=generator)
    labels = None
    if state.c_dim:
        classes = torch.randint(state.c_dim, (W_AVG_SAMPLES,), generator=generator)
        labels = torch.nn.functional.one_hot(classes, state.c_dim).float()
    with torch.no_grad():
        return mapping(z, labels).mean(dim=0)


def _read_label_embedding(checkpoint: Checkpoint, located: Located, tensors: dict[str, torch.Tensor]) -> int:
    """c_dim of an NVIDIA generator (0 when unconditional), its label ``embed`` read into ``tensors``;
    the shapes must agree with each other, with fc0 and with the mapping's recorded ``c_dim``."""
    label, prefix = checkpoint.label, located.prefix
    weight_key, bias_key = f"{prefix}mapping.embed.weight", f"{prefix}mapping.embed.bias"
    kwargs = checkpoint.objects.get(f"{prefix}mapping._init_kwargs")
    recorded = kwargs.get("c_dim") if isinstance(kwargs, dict) else None
    if weight_key not in checkpoint:
        if isinstance(recorded, int) and not isinstance(recorded, bool) and recorded > 0:
            raise LayoutError(f"{label}: the mapping records c_dim={recorded} but {weight_key!r} is missing")
        return 0
    if bias_key not in checkpoint:
        raise LayoutError(f"{label}: missing tensor {bias_key!r} of a class-conditional StyleGAN2 generator")
    shape, bias_shape = tuple(checkpoint.shape(weight_key)), tuple(checkpoint.shape(bias_key))
    fc0_inputs = tensors["mapping.fc0.weight"].shape[1]
    if len(shape) != 2 or min(shape) < 1 or bias_shape != shape[:1]:
        raise LayoutError(
            f"{label}: {weight_key!r} has shape {shape} and its bias {bias_shape}; expected (features, c_dim) "
            "and (features,)"
        )
    embed_features, c_dim = shape
    if embed_features >= fc0_inputs:
        raise LayoutError(
            f"{label}: {weight_key!r} gives {embed_features} label features, but mapping.fc0 takes only "
            f"{fc0_inputs} inputs (z and the label's embedding)"
        )
    if recorded is not None and recorded != c_dim:
        raise LayoutError(f"{label}: the mapping records c_dim={recorded!r} but {weight_key!r} has {c_dim} columns")
    z_dim = kwargs.get("z_dim") if isinstance(kwargs, dict) else None
    if z_dim is not None and z_dim != fc0_inputs - embed_features:
        raise LayoutError(
            f"{label}: the mapping records z_dim={z_dim!r}, but mapping.fc0's {fc0_inputs} inputs less "
            f"{weight_key!r}'s {embed_features} label features leave {fc0_inputs - embed_features}"
        )
    tensors["mapping.embed.weight"] = checkpoint[weight_key]
    tensors["mapping.embed.bias"] = checkpoint[bias_key]
    return c_dim


def read_conv_clamp(checkpoint: Checkpoint, layout: str) -> float | None:
    """NVIDIA's ``conv_clamp`` as the pickle's layers record it, or as a sefa-zoo file's config
    gives it; None (no clamp) otherwise."""
    if layout == "sefa-zoo":
        config = read_config(checkpoint)
        return None if config is None or config["conv_clamp"] is None else float(config["conv_clamp"])
    if layout == "nvidia-tf":
        value = tf_static_kwargs(checkpoint, locate(checkpoint, layout)).get("conv_clamp")
        return None if value is None else _clamp_value(value, checkpoint.label)
    if layout != "nvidia":
        return None
    located = locate(checkpoint, layout)
    found = set()
    for level in _levels(located.resolution):
        for role in ("conv0", "conv1", "torgb"):
            key = f"{located.prefix}synthesis.b{level}.{role}.conv_clamp"
            if key in checkpoint.objects:
                found.add(checkpoint.objects[key])
    if len(found) > 1:
        values = ", ".join(sorted(map(str, found)))
        raise LayoutError(f"{checkpoint.label}: the StyleGAN2 layers use different conv_clamp values ({values})")
    value = found.pop() if found else None
    return None if value is None else _clamp_value(value, checkpoint.label)


def _clamp_value(value: object, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise LayoutError(f"{label}: conv_clamp {value!r} is not a number >= 0")
    return float(value)


def _count_mapping_layers(checkpoint: Checkpoint, located: Located) -> int:
    pattern = _MAPPING_WEIGHT[located.layout]
    found = set()
    for key in checkpoint:
        if key.startswith(located.prefix):
            match = pattern.match(key[len(located.prefix):])
            if match:
                found.add(int(match.group(1)))
    first = 1 if located.layout == "rosinality" else 0
    count = 0
    while first + count in found:
        count += 1
    if count == 0:
        raise LayoutError(
            f"{checkpoint.label}: the StyleGAN2 generator under {located.prefix!r} has no mapping network"
        )
    return count


def _mapping_lr_multiplier(checkpoint: Checkpoint, located: Located, mapping_layers: int) -> float:
    if located.layout == "nvidia-tf":
        value = tf_static_kwargs(checkpoint, located).get("mapping_lrmul", DEFAULT_MAPPING_LR_MULTIPLIER)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise LayoutError(f"{checkpoint.label}: Gs's mapping_lrmul {value!r} is not a positive number")
        return float(value)
    if located.layout != "nvidia":
        return DEFAULT_MAPPING_LR_MULTIPLIER
    # NVIDIA's FullyConnectedLayer keeps bias_gain = lr_multiplier
    gains = [checkpoint.objects.get(f"{located.prefix}mapping.fc{i}.bias_gain") for i in range(mapping_layers)]
    if all(gain is None for gain in gains):
        return DEFAULT_MAPPING_LR_MULTIPLIER
    gain = gains[0]
    if len(set(gains)) != 1 or isinstance(gain, bool) or not isinstance(gain, (int, float)) or gain <= 0:
        raise LayoutError(
            f"{checkpoint.label}: the mapping layers' learning-rate multipliers {gains} are not one positive number"
        )
    return float(gain)


def _channel_config(checkpoint: Checkpoint, located: Located, channels: dict[int, int]) -> tuple[int, int]:
    """(channel_base, channel_max): NVIDIA's recorded values, else the smallest consistent with the shapes."""
    kwargs = checkpoint.objects.get(f"{located.prefix}synthesis._init_kwargs")
    if isinstance(kwargs, dict):
        base, top = kwargs.get("channel_base"), kwargs.get("channel_max")
        if isinstance(base, int) and isinstance(top, int):
            return base, top
    top = max(channels.values())
    base = max(c * level if c < top else top * level for level, c in channels.items())
    return base, top


# What legacy.py's converter reads from a TensorFlow Gs's static_kwargs, with its defaults, where
# sefa-zoo's generator does one thing only: a kwarg set to anything else is refused.
_TF_FIXED_KWARGS = {
    "architecture": "skip", "nonlinearity": "lrelu", "mapping_nonlinearity": "lrelu",
    "resample_kernel": [1, 3, 3, 1], "use_noise": True, "label_size": 0,
}
MIN_TF_NETWORK_VERSION = 4  # legacy.py refuses older TensorFlow networks too


def tf_static_kwargs(checkpoint: Checkpoint, located: Located) -> dict:
    """Gs's ``static_kwargs``, checked against what sefa-zoo's generator implements."""
    label, prefix = checkpoint.label, located.prefix
    version = checkpoint.objects.get(f"{prefix}_version", MIN_TF_NETWORK_VERSION)
    if isinstance(version, int) and version < MIN_TF_NETWORK_VERSION:
        raise LayoutError(
            f"{label}: TensorFlow network {prefix[:-1]!r} has pickle version {version}; "
            f"StyleGAN2's are version {MIN_TF_NETWORK_VERSION} or later"
        )
    kwargs = checkpoint.objects.get(f"{prefix}_static_kwargs", {})
    if not isinstance(kwargs, dict):
        raise LayoutError(f"{label}: {prefix}_static_kwargs is not a dict")
    for key, implemented in _TF_FIXED_KWARGS.items():
        value = kwargs.get(key)
        if value is not None and not _same_setting(value, implemented):
            raise LayoutError(
                f"{label}: Gs's static_kwargs {key}={value!r} is not supported "
                f"(sefa-zoo's StyleGAN2 generator implements {key}={implemented!r})"
            )
    return kwargs


def _same_setting(value: object, implemented: object) -> bool:
    if isinstance(implemented, list):
        return type(value) in (list, tuple) and list(value) == implemented  # type: ignore[arg-type]
    return type(value) is type(implemented) and value == implemented


def _check_tf_dimensions(kwargs: dict, state: StyleGAN2State, located: Located, label: str) -> None:
    """The sizes Gs's static_kwargs state must be the ones its variables have."""
    for key, found in (("resolution", state.resolution), ("num_channels", state.img_channels),
                       ("latent_size", state.z_dim), ("dlatent_size", state.w_dim)):
        value = kwargs.get(key)
        if value is not None and not (type(value) is int and value == found):
            raise LayoutError(f"{label}: Gs's static_kwargs {key}={value!r} but its variables give {found}")
