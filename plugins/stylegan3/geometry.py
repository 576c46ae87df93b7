"""The sampling plan of a StyleGAN3 synthesis network: what NVIDIA's constructor derives from its settings.

A StyleGAN3 file stores each layer's weights and filters but not the numbers its forward pass
uses (the Fourier input's sampling rate and bandwidth, each layer's up/down factors and
padding). They follow from the synthesis network's constructor arguments (its
``_init_kwargs`` in an NVIDIA pickle, the constructor's defaults where absent) by the paper's
geometric progression of cutoffs and stopbands; computed here in float64 as NVIDIA does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# SynthesisNetwork / SynthesisLayer defaults of NVIDIA's stylegan3 code.
DEFAULTS: Mapping[str, Any] = {
    "num_layers": 14, "num_critical": 2, "first_cutoff": 2, "first_stopband": 2**2.1,
    "last_stopband_rel": 2**0.3, "margin_size": 10, "output_scale": 0.25,
    "conv_kernel": 3, "filter_size": 6, "lrelu_upsampling": 2, "use_radial_filters": False, "conv_clamp": 256,
}
MAX_RESOLUTION = 4096  # larger than any released StyleGAN3; a file's claim beyond it is refused
MAX_MARGIN = 64  # samples around the picture (NVIDIA uses 10); bounds the feature maps with the resolution


class PlanError(ValueError):
    """Settings that describe no StyleGAN3 synthesis network (the message names the setting)."""


@dataclass(frozen=True)
class LayerPlan:
    """One synthesis layer L{index}: sizes, sampling rates and the resampling it does."""

    index: int
    size: int
    in_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    is_torgb: bool
    is_critically_sampled: bool
    conv_kernel: int
    up_factor: int
    down_factor: int
    up_taps: int
    down_taps: int
    down_radial: bool
    padding: tuple[int, int, int, int]  # x low, x high, y low, y high (NVIDIA's order)
    tmp_sampling_rate: int


@dataclass(frozen=True)
class SynthesisPlan:
    resolution: int
    input_size: int
    input_sampling_rate: float
    input_bandwidth: float
    output_scale: float
    conv_clamp: float | None
    layers: tuple[LayerPlan, ...]


def _number(settings: Mapping[str, Any], name: str, low: float, high: float) -> float:
    value = settings.get(name, DEFAULTS.get(name))
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PlanError(f"setting {name}={value!r} is not a number")
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        raise PlanError(f"setting {name}={value:g} is outside {low:g}..{high:g}")
    return value


def _whole(settings: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = _number(settings, name, low, high)
    if value != int(value):
        raise PlanError(f"setting {name}={value:g} is not a whole number")
    return int(value)


def plan_synthesis(settings: Mapping[str, Any], resolution: int, num_layers: int) -> SynthesisPlan:
    """The plan for ``settings`` (constructor arguments) of a network with ``num_layers`` layers
    before its toRGB, rendering ``resolution`` pixels; PlanError names a setting that is impossible."""
    if not 1 <= resolution <= MAX_RESOLUTION:
        raise PlanError(f"resolution {resolution} is outside 1..{MAX_RESOLUTION}")
    claimed = settings.get("num_layers", num_layers)
    if claimed != num_layers:
        raise PlanError(f"setting num_layers={claimed!r} but the file has {num_layers} layers before its toRGB")
    num_critical = _whole(settings, "num_critical", 0, num_layers - 1)
    first_cutoff = _number(settings, "first_cutoff", 1e-3, resolution)
    first_stopband = _number(settings, "first_stopband", 1e-3, 4 * resolution)
    last_stopband_rel = _number(settings, "last_stopband_rel", 1, 16)
    margin_size = _whole(settings, "margin_size", 0, MAX_MARGIN)
    conv_kernel = _whole(settings, "conv_kernel", 1, 15)
    filter_size = _whole(settings, "filter_size", 1, 64)
    lrelu_upsampling = _whole(settings, "lrelu_upsampling", 1, 16)
    output_scale = _number(settings, "output_scale", -1e6, 1e6)
    radial = settings.get("use_radial_filters", DEFAULTS["use_radial_filters"])
    if not isinstance(radial, bool):
        raise PlanError(f"setting use_radial_filters={radial!r} is not true or false")
    clamp = settings.get("conv_clamp", DEFAULTS["conv_clamp"])
    conv_clamp = None if clamp is None else _number(settings, "conv_clamp", 0, 1e9)

    last_cutoff = resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / max(num_layers - num_critical, 1), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + margin_size * 2
    sizes[-2:] = resolution

    layers = []
    for index in range(num_layers + 1):
        prev = max(index - 1, 0)
        is_torgb = index == num_layers
        layers.append(
            _layer_plan(
                index, int(sizes[prev]), int(sizes[index]), int(sampling_rates[prev]), int(sampling_rates[index]),
                float(cutoffs[prev]), float(cutoffs[index]), float(half_widths[prev]), float(half_widths[index]),
                is_torgb=is_torgb, is_critically_sampled=index >= num_layers - num_critical,
                conv_kernel=1 if is_torgb else conv_kernel, filter_size=filter_size,
                lrelu_upsampling=1 if is_torgb else lrelu_upsampling, radial=radial,
            )
        )
    return SynthesisPlan(
        resolution, int(sizes[0]), float(sampling_rates[0]), float(cutoffs[0]), output_scale, conv_clamp, tuple(layers)
    )


def _layer_plan(
    index: int, in_size: int, size: int, in_rate: int, out_rate: int, in_cutoff: float, out_cutoff: float,
    in_half_width: float, out_half_width: float, *, is_torgb: bool, is_critically_sampled: bool, conv_kernel: int,
    filter_size: int, lrelu_upsampling: int, radial: bool,
) -> LayerPlan:
    tmp_rate = max(in_rate, out_rate) * lrelu_upsampling
    up_factor, down_factor = tmp_rate // in_rate, tmp_rate // out_rate
    if up_factor * in_rate != tmp_rate or down_factor * out_rate != tmp_rate:
        raise PlanError(f"layer L{index}'s sampling rates {in_rate} and {out_rate} do not divide {tmp_rate}")
    up_taps = filter_size * up_factor if up_factor > 1 and not is_torgb else 1
    down_taps = filter_size * down_factor if down_factor > 1 and not is_torgb else 1
    # Output size before down-sampling, less the up-sampled input, plus what the filters take away;
    # the low side gets the extra up_factor of the symmetric sample positions.
    total = (size - 1) * down_factor + 1 - (in_size + conv_kernel - 1) * up_factor + up_taps + down_taps - 2
    low = (total + up_factor) // 2
    return LayerPlan(
        index, size, in_size, in_rate, out_rate, in_cutoff, out_cutoff, in_half_width, out_half_width, is_torgb,
        is_critically_sampled, conv_kernel, up_factor, down_factor, up_taps, down_taps,
        radial and not is_critically_sampled, (low, total - low, low, total - low), tmp_rate,
    )
