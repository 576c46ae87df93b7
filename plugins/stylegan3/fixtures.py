"""StyleGAN3 fixtures: random generators of the true shapes, written as NVIDIA stylegan3-repo pickles.

``random_stylegan3_state`` draws a config T or R generator (``G_ema.state_dict()``'s names)
as NVIDIA's constructor lays it out for the given settings, with its low-pass filters
designed as the constructor designs them (Kaiser-windowed sinc; for R's non-critically
sampled down-sampling the radially symmetric jinc); ``save_stylegan3`` writes the training
snapshot NVIDIA's train.py writes (``G``, ``D``, ``G_ema``, ``augment_pipe``,
``training_set_kwargs``), each network object with NVIDIA's class name, constructor arguments
and attributes. ``D`` and ``augment_pipe`` are None: nothing reads them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sefa_zoo.testing import PersistentModule, save_nvidia_pickle

from .geometry import DEFAULTS, LayerPlan, SynthesisPlan, plan_synthesis

MAPPING_LR_MULTIPLIER = 0.01  # MappingNetwork's default
CONFIGS = ("T", "R")
INPUT_AFFINE_KWARGS = {"weight_init": 0, "bias_init": [1, 0, 0, 0]}  # starts as the identity transform


@dataclass
class StyleGAN3State:
    """A generator's tensors by ``G_ema.state_dict()`` name, and the settings that shaped it."""

    tensors: dict[str, torch.Tensor]
    z_dim: int
    w_dim: int
    resolution: int
    img_channels: int
    mapping_layers: int
    settings: dict[str, Any] = field(default_factory=dict)  # SynthesisNetwork's constructor arguments

    @property
    def plan(self) -> SynthesisPlan:
        return plan_synthesis(self.settings, self.resolution, self.settings.get("num_layers", DEFAULTS["num_layers"]))


def config_settings(config: str, *, channel_base: int, channel_max: int, **extra: Any) -> dict[str, Any]:
    """The synthesis settings NVIDIA's train.py passes for ``config`` (R doubles the channels)."""
    if config not in CONFIGS:
        raise ValueError(f"config {config!r} is not one of {', '.join(CONFIGS)}")
    settings: dict[str, Any] = {"channel_base": channel_base, "channel_max": channel_max, "magnitude_ema_beta": 0.999}
    if config == "R":
        settings.update(
            conv_kernel=1, channel_base=2 * channel_base, channel_max=2 * channel_max, use_radial_filters=True
        )
    settings.update(extra)
    return settings


def layer_channels(plan: SynthesisPlan, settings: dict[str, Any], img_channels: int) -> list[int]:
    """Output channels of L0..LN: (channel_base / 2) / cutoff, at most channel_max; the toRGB's image channels."""
    cutoffs = np.array([layer.out_cutoff for layer in plan.layers])
    channels = np.rint(np.minimum((settings["channel_base"] / 2) / cutoffs, settings["channel_max"]))
    return [int(c) for c in channels[:-1]] + [img_channels]


def input_channels(plan: SynthesisPlan, settings: dict[str, Any]) -> int:
    return int(np.rint(min((settings["channel_base"] / 2) / plan.input_bandwidth, settings["channel_max"])))


# ----------------------------------------------------------------------------- filters


def _kaiser_beta(numtaps: int, width: float) -> float:
    """Kaiser's beta for a transition band of ``width`` (as a fraction of Nyquist): his attenuation formula."""
    attenuation = 2.285 * (numtaps - 1) * math.pi * width + 7.95
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def design_lowpass_filter(
    numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False
) -> torch.Tensor | None:
    """The low-pass filter NVIDIA's SynthesisLayer designs: None for one tap; else a Kaiser-windowed
    sinc of unit DC gain (separable, 1-d) or, ``radial``, a Kaiser-windowed jinc (2-d, unit sum)."""
    if numtaps == 1:
        return None
    nyquist = fs / 2
    window = np.kaiser(numtaps, _kaiser_beta(numtaps, width / nyquist))
    if not radial:
        band = cutoff / nyquist
        taps = band * np.sinc(band * (np.arange(numtaps) - (numtaps - 1) / 2)) * window
        return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    bessel = torch.special.bessel_j1(torch.as_tensor(2 * cutoff * np.pi * r, dtype=torch.float64)).numpy()
    taps = bessel / (np.pi * r) * np.outer(window, window)
    return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)


def layer_filters(layer: LayerPlan) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    up = design_lowpass_filter(layer.up_taps, layer.in_cutoff, layer.in_half_width * 2, layer.tmp_sampling_rate)
    down = design_lowpass_filter(
        layer.down_taps, layer.out_cutoff, layer.out_half_width * 2, layer.tmp_sampling_rate, radial=layer.down_radial
    )
    return up, down


# ----------------------------------------------------------------------------- random generators


def random_stylegan3_state(
    config: str = "T",
    resolution: int = 16,
    *,
    z_dim: int = 16,
    w_dim: int = 16,
    channel_base: int = 256,
    channel_max: int = 16,
    mapping_layers: int = 2,
    img_channels: int = 3,
    seed: int = 0,
    device: str = "cpu",
    **settings: Any,
) -> StyleGAN3State:
    """A config ``config`` generator with random weights (real filters); ``device='meta'`` gives
    the true shapes without data (e.g. NVIDIA's defaults: resolution 256, 512, 32768, 512)."""
    synthesis = config_settings(config, channel_base=channel_base, channel_max=channel_max, **settings)
    plan = plan_synthesis(synthesis, resolution, synthesis.get("num_layers", DEFAULTS["num_layers"]))
    channels = layer_channels(plan, synthesis, img_channels)
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        if device == "meta":
            return torch.empty(shape, device="meta")
        return torch.randn(shape, generator=gen) * scale

    t: dict[str, torch.Tensor] = {}
    in_channels = input_channels(plan, synthesis)
    t["synthesis.input.weight"] = randn(in_channels, in_channels)
    t["synthesis.input.affine.weight"] = randn(4, w_dim, scale=0.3)
    t["synthesis.input.affine.bias"] = randn(4, scale=0.05) + torch.tensor([1.0, 0, 0, 0], device=device)
    t["synthesis.input.transform"] = _user_transform(config, device)
    t["synthesis.input.freqs"], t["synthesis.input.phases"] = _fourier_features(in_channels, plan, gen, device)
    for layer, out_channels in zip(plan.layers, channels, strict=True):
        module = f"synthesis.L{layer.index}_{layer.size}_{out_channels}"
        k = layer.conv_kernel
        t[f"{module}.weight"] = randn(out_channels, in_channels, k, k)
        t[f"{module}.bias"] = randn(out_channels, scale=0.1)
        t[f"{module}.magnitude_ema"] = (
            torch.empty((), device="meta") if device == "meta" else 0.5 + 1.5 * torch.rand((), generator=gen)
        )
        up, down = layer_filters(layer)
        for name, taps in (("up_filter", up), ("down_filter", down)):
            if taps is not None:
                t[f"{module}.{name}"] = taps.to(device) if device != "meta" else torch.empty(taps.shape, device="meta")
        t[f"{module}.affine.weight"] = randn(in_channels, w_dim)
        t[f"{module}.affine.bias"] = randn(in_channels, scale=0.1) + 1
        in_channels = out_channels
    features = [z_dim] + [w_dim] * mapping_layers
    for i in range(mapping_layers):
        t[f"mapping.fc{i}.weight"] = randn(features[i + 1], features[i], scale=1 / MAPPING_LR_MULTIPLIER)
        t[f"mapping.fc{i}.bias"] = randn(features[i + 1], scale=0.1 / MAPPING_LR_MULTIPLIER)
    t["mapping.w_avg"] = randn(w_dim, scale=0.5)
    return StyleGAN3State(t, z_dim, w_dim, resolution, img_channels, mapping_layers, synthesis)


def _user_transform(config: str, device: str) -> torch.Tensor:
    """Identity for T, as trained; R's fixture rotates and shifts the image to exercise the transform."""
    if config == "T" or device == "meta":
        return torch.eye(3, device=device)
    angle = 0.3
    return torch.tensor(
        [[math.cos(angle), math.sin(angle), 0.1], [-math.sin(angle), math.cos(angle), -0.05], [0, 0, 1]],
        dtype=torch.float32,
    )


def _fourier_features(
    channels: int, plan: SynthesisPlan, gen: torch.Generator, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frequencies drawn from the disc of the input's bandwidth and phases in [-1/2, 1/2), as NVIDIA draws them."""
    if device == "meta":
        return torch.empty(channels, 2, device="meta"), torch.empty(channels, device="meta")
    freqs = torch.randn(channels, 2, generator=gen)
    radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
    freqs = freqs / (radii * radii.square().exp().pow(0.25)) * plan.input_bandwidth
    return freqs, torch.rand(channels, generator=gen) - 0.5


# ----------------------------------------------------------------------------- NVIDIA pickles


def save_stylegan3(state: StyleGAN3State, path: str | Path) -> Path:
    """Write ``state`` as a stylegan3-repo training snapshot (``G_ema`` holds it, ``G`` a perturbed copy)."""
    path = Path(path)
    perturbed = {k: v + 0.01 if v.is_floating_point() and v.ndim >= 2 else v for k, v in state.tensors.items()}
    snapshot = {
        "G": generator_module(StyleGAN3State(perturbed, **_fields(state))),
        "D": None,
        "G_ema": generator_module(state),
        "augment_pipe": None,
        "training_set_kwargs": {
            "class_name": "training.dataset.ImageFolderDataset", "path": "datasets/fixture.zip",
            "use_labels": False, "max_size": 1000, "xflip": False, "resolution": state.resolution,
        },
    }
    save_nvidia_pickle(path, snapshot)
    return path


def _fields(state: StyleGAN3State) -> dict[str, Any]:
    return {
        "z_dim": state.z_dim, "w_dim": state.w_dim, "resolution": state.resolution,
        "img_channels": state.img_channels, "mapping_layers": state.mapping_layers, "settings": state.settings,
    }


def _fully_connected(
    tensors: dict[str, torch.Tensor], name: str, *, activation: str = "linear", lr_multiplier: float = 1,
    kwargs: dict[str, Any] | None = None,
) -> PersistentModule:
    weight = tensors[f"{name}.weight"]
    out_features, in_features = weight.shape
    return PersistentModule(
        "FullyConnectedLayer",
        parameters={"weight": weight, "bias": tensors[f"{name}.bias"]},
        init_args=(in_features, out_features),
        init_kwargs=dict(kwargs or {}),
        attributes={
            "in_features": in_features, "out_features": out_features, "activation": activation,
            "weight_gain": lr_multiplier / np.sqrt(in_features), "bias_gain": lr_multiplier,
        },
    )


def _synthesis_input(state: StyleGAN3State, plan: SynthesisPlan) -> PersistentModule:
    t = state.tensors
    channels = t["synthesis.input.weight"].shape[0]
    kwargs = {
        "w_dim": state.w_dim, "channels": channels, "size": plan.input_size,
        "sampling_rate": plan.input_sampling_rate, "bandwidth": plan.input_bandwidth,
    }
    return PersistentModule(
        "SynthesisInput",
        parameters={"weight": t["synthesis.input.weight"]},
        buffers={k: t[f"synthesis.input.{k}"] for k in ("transform", "freqs", "phases")},
        modules={"affine": _fully_connected(t, "synthesis.input.affine", kwargs=INPUT_AFFINE_KWARGS)},
        init_kwargs=kwargs,
        attributes={**kwargs, "size": np.array([plan.input_size] * 2)},
    )


def _synthesis_layer(state: StyleGAN3State, layer: LayerPlan, module: str, in_channels: int) -> PersistentModule:
    t = state.tensors
    out_channels = t[f"{module}.weight"].shape[0]
    s = state.settings
    layer_kwargs = {k: s[k] for k in ("conv_kernel", "use_radial_filters", "magnitude_ema_beta") if k in s}
    kwargs = {
        "w_dim": state.w_dim, "is_torgb": layer.is_torgb, "is_critically_sampled": layer.is_critically_sampled,
        "use_fp16": False, "in_channels": in_channels, "out_channels": out_channels,
        "in_size": layer.in_size, "out_size": layer.size, "in_sampling_rate": layer.in_sampling_rate,
        "out_sampling_rate": layer.out_sampling_rate, "in_cutoff": layer.in_cutoff, "out_cutoff": layer.out_cutoff,
        "in_half_width": layer.in_half_width, "out_half_width": layer.out_half_width, **layer_kwargs,
    }
    return PersistentModule(
        "SynthesisLayer",
        parameters={"weight": t[f"{module}.weight"], "bias": t[f"{module}.bias"]},
        buffers={
            "magnitude_ema": t[f"{module}.magnitude_ema"],
            "up_filter": t.get(f"{module}.up_filter"),
            "down_filter": t.get(f"{module}.down_filter"),
        },
        modules={"affine": _fully_connected(t, f"{module}.affine", kwargs={"bias_init": 1})},
        init_kwargs=kwargs,
        attributes={
            **kwargs, "in_size": np.array([layer.in_size] * 2), "out_size": np.array([layer.size] * 2),
            "tmp_sampling_rate": layer.tmp_sampling_rate, "conv_kernel": layer.conv_kernel,
            "conv_clamp": s.get("conv_clamp", DEFAULTS["conv_clamp"]), "magnitude_ema_beta": s["magnitude_ema_beta"],
            "up_factor": layer.up_factor, "up_taps": layer.up_taps, "down_factor": layer.down_factor,
            "down_taps": layer.down_taps, "down_radial": layer.down_radial, "padding": list(layer.padding),
        },
    )


def generator_module(state: StyleGAN3State) -> PersistentModule:
    """The Generator object (synthesis + mapping) holding ``state``'s weights."""
    plan = state.plan
    num_ws = len(plan.layers) + 1
    common = {"w_dim": state.w_dim, "img_resolution": state.resolution, "img_channels": state.img_channels}
    layers: dict[str, PersistentModule | None] = {"input": _synthesis_input(state, plan)}
    in_channels = state.tensors["synthesis.input.weight"].shape[0]
    names = []
    for layer in plan.layers:
        module = _layer_module(state, layer)
        layers[module.split(".")[1]] = _synthesis_layer(state, layer, module, in_channels)
        in_channels = state.tensors[f"{module}.weight"].shape[0]
        names.append(module.split(".")[1])
    synthesis = PersistentModule(
        "SynthesisNetwork",
        modules=layers,
        init_kwargs={**common, **state.settings},
        attributes={
            **common, "num_ws": num_ws, "num_layers": len(plan.layers) - 1,
            "num_critical": state.settings.get("num_critical", DEFAULTS["num_critical"]),
            "margin_size": state.settings.get("margin_size", DEFAULTS["margin_size"]),
            "output_scale": plan.output_scale, "num_fp16_res": 4, "layer_names": names,
        },
    )
    mapping_kwargs = {"num_layers": state.mapping_layers}
    mapping = PersistentModule(
        "MappingNetwork",
        buffers={"w_avg": state.tensors["mapping.w_avg"]},
        modules={
            f"fc{i}": _fully_connected(
                state.tensors, f"mapping.fc{i}", activation="lrelu", lr_multiplier=MAPPING_LR_MULTIPLIER,
                kwargs={"activation": "lrelu", "lr_multiplier": MAPPING_LR_MULTIPLIER},
            )
            for i in range(state.mapping_layers)
        },
        init_kwargs={"z_dim": state.z_dim, "c_dim": 0, "w_dim": state.w_dim, "num_ws": num_ws, **mapping_kwargs},
        attributes={
            "z_dim": state.z_dim, "c_dim": 0, "w_dim": state.w_dim, "num_ws": num_ws,
            "num_layers": state.mapping_layers, "w_avg_beta": 0.998, "embed": None,
        },
    )
    return PersistentModule(
        "Generator",
        modules={"synthesis": synthesis, "mapping": mapping},
        init_kwargs={"z_dim": state.z_dim, "c_dim": 0, **common, "mapping_kwargs": mapping_kwargs, **state.settings},
        attributes={"z_dim": state.z_dim, "c_dim": 0, **common, "num_ws": num_ws},
    )


def _layer_module(state: StyleGAN3State, layer: LayerPlan) -> str:
    start = f"synthesis.L{layer.index}_{layer.size}_"
    for name in state.tensors:
        if name.startswith(start) and name.endswith(".weight") and name.count(".") == 2:
            return name[: -len(".weight")]
    raise KeyError(f"no tensors of layer L{layer.index}")
