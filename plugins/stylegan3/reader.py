"""Reading a whole StyleGAN3 generator out of an NVIDIA pickle, checked against its sampling plan.

The plan (geometry) comes from ``synthesis._init_kwargs``; the file's layer names, kernel
sizes and filter lengths must agree with it, so a forward pass never meets a shape the
file did not declare. Only the generator's own tensors are read, each once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch

from sefa_zoo import Checkpoint, LayoutError

from .geometry import LayerPlan, PlanError, SynthesisPlan, plan_synthesis
from .layouts import INPUT, INPUT_TENSORS, Located

DEFAULT_MAPPING_LR_MULTIPLIER = 0.01  # MappingNetwork's default
LAYER_TENSORS = ("weight", "bias", "magnitude_ema", "affine.weight", "affine.bias")
_FC_PATTERN = re.compile(r"^mapping\.fc([0-9]{1,6})\.weight$")


@dataclass(frozen=True)
class StyleGAN3Parts:
    """What the generator module is built from: tensors by stored name (no prefix), the plan, mapping."""

    tensors: dict[str, torch.Tensor]
    plan: SynthesisPlan
    located: Located
    mapping_features: tuple[int, ...]
    mapping_lr_multiplier: float


def read_stylegan3(checkpoint: Checkpoint, located: Located) -> StyleGAN3Parts:
    label = checkpoint.label
    plan = _plan(checkpoint, located)
    names = [f"{INPUT}.{name}" for name in INPUT_TENSORS]
    for layer, step in zip(located.layers, plan.layers, strict=True):
        names += [f"{layer.module}.{part}" for part in LAYER_TENSORS]
        names += _filter_names(checkpoint, located.prefix, layer.module, step)
    features = _mapping_features(checkpoint, located)
    for i in range(len(features) - 1):
        names += [f"mapping.fc{i}.weight", f"mapping.fc{i}.bias"]
    names.append("mapping.w_avg")
    if f"{located.prefix}mapping.w_avg" not in checkpoint:
        raise LayoutError(f"{label}: missing tensor {located.prefix + 'mapping.w_avg'!r} (the average w)")
    if (shape := checkpoint.shape(f"{located.prefix}mapping.w_avg")) != (located.w_dim,):
        raise LayoutError(
            f"{label}: {located.prefix + 'mapping.w_avg'!r} has shape {shape}, expected ({located.w_dim},)"
        )
    tensors = {name: checkpoint[located.prefix + name] for name in names}
    for layer in located.layers:
        magnitude = float(tensors[f"{layer.module}.magnitude_ema"])
        if not magnitude > 0:  # its inverse square root scales the layer's input
            name = f"{located.prefix}{layer.module}.magnitude_ema"
            raise LayoutError(f"{label}: {name!r} is {magnitude:g}, not a positive mean square")
    return StyleGAN3Parts(tensors, plan, located, features, _mapping_lr_multiplier(checkpoint, located))


def _settings(checkpoint: Checkpoint, key: str) -> dict:
    settings = checkpoint.objects.get(key, {})
    if not isinstance(settings, dict):
        raise LayoutError(f"{checkpoint.label}: {key} is not a dict")
    return settings


def _plan(checkpoint: Checkpoint, located: Located) -> SynthesisPlan:
    key = f"{located.prefix}synthesis._init_kwargs"
    settings = _settings(checkpoint, key)
    try:
        plan = plan_synthesis(settings, located.resolution, len(located.layers) - 1)
    except PlanError as exc:
        raise LayoutError(f"{checkpoint.label}: {key}: {exc}") from None
    claimed = settings.get("img_resolution", located.resolution)
    if claimed != located.resolution:
        torgb = located.prefix + located.layers[-1].module
        raise LayoutError(
            f"{checkpoint.label}: {key}: img_resolution={claimed!r} but the file's toRGB {torgb!r} "
            f"is {located.resolution} px"
        )
    for layer, step in zip(located.layers, plan.layers, strict=True):
        where = f"{checkpoint.label}: {located.prefix + layer.module!r}"
        if layer.size != step.size:
            raise LayoutError(
                f"{where} is {layer.size} px but the settings in {key} make L{layer.index} {step.size} px"
            )
        if layer.kernel != step.conv_kernel:
            raise LayoutError(
                f"{where} has a {layer.kernel}x{layer.kernel} kernel but the settings in {key} ask for "
                f"{step.conv_kernel}x{step.conv_kernel}"
            )
    return plan


def _filter_names(checkpoint: Checkpoint, prefix: str, module: str, step: LayerPlan) -> list[str]:
    radial = step.down_radial
    expected = {
        "up_filter": (step.up_taps,) if step.up_taps > 1 else None,
        "down_filter": ((step.down_taps,) * (2 if radial else 1)) if step.down_taps > 1 else None,
    }
    names = []
    for part, shape in expected.items():
        name = f"{prefix}{module}.{part}"
        if shape is None:
            if name in checkpoint:
                raise LayoutError(f"{checkpoint.label}: {name!r} is a filter where the layer's plan has none")
            continue
        if name not in checkpoint:
            raise LayoutError(f"{checkpoint.label}: missing tensor {name!r} (a {shape} low-pass filter)")
        if checkpoint.shape(name) != shape:
            raise LayoutError(f"{checkpoint.label}: {name!r} has shape {checkpoint.shape(name)}, expected {shape}")
        names.append(f"{module}.{part}")
    return names


def _mapping_features(checkpoint: Checkpoint, located: Located) -> tuple[int, ...]:
    prefix, label = located.prefix, checkpoint.label
    if f"{prefix}mapping.embed.weight" in checkpoint:
        raise LayoutError(
            f"{label}: {prefix + 'mapping.embed.weight'!r}: class-conditional StyleGAN3 generators (c_dim > 0) "
            "are not supported"
        )
    names = (k[len(prefix):] for k in checkpoint if k.startswith(prefix))
    found = {int(m.group(1)) for m in map(_FC_PATTERN.match, names) if m}
    if 0 not in found:
        raise LayoutError(f"{label}: missing tensor {prefix + 'mapping.fc0.weight'!r} (the mapping network)")
    count = 0
    while count in found:
        count += 1
    features: list[int] = []
    for i in range(count):
        weight, bias = f"{prefix}mapping.fc{i}.weight", f"{prefix}mapping.fc{i}.bias"
        shape = checkpoint.shape(weight)
        if len(shape) != 2 or (features and shape[1] != features[-1]):
            expected = f"(features, {features[-1]})" if features else "(features, z_dim)"
            raise LayoutError(f"{label}: {weight!r} has shape {shape}, expected {expected}")
        if bias not in checkpoint or checkpoint.shape(bias) != shape[:1]:
            raise LayoutError(f"{label}: {bias!r} is missing or not of shape {shape[:1]}")
        if not features:
            features.append(shape[1])
        features.append(shape[0])
    if features[-1] != located.w_dim:
        raise LayoutError(
            f"{label}: {prefix}mapping.fc{count - 1}.weight gives {features[-1]} features, "
            f"the affines take {located.w_dim}"
        )
    return tuple(features)


def _mapping_lr_multiplier(checkpoint: Checkpoint, located: Located) -> float:
    key = f"{located.prefix}mapping._init_kwargs"
    value = _settings(checkpoint, key).get("lr_multiplier", DEFAULT_MAPPING_LR_MULTIPLIER)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise LayoutError(f"{checkpoint.label}: {key}: lr_multiplier={value!r} is not a positive number")
    return float(value)
