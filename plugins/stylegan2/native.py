"""sefa-zoo's own StyleGAN2 file: a safetensors file whose tensors carry the logical names.

The tensors are a StyleGAN2State's, named as it names them (``mapping.fc0.weight``,
``w_avg``, ``const``, ``8x8.conv0.affine.weight`` ...). The safetensors metadata holds
what the tensors cannot say, as strings:

  format            "sefa-zoo-stylegan2"
  format_version    "1"
  config            JSON: resolution, z_dim, w_dim, img_channels, mapping_layers,
                    mapping_lr_multiplier, channel_base, channel_max, conv_clamp (null: none)

This is the layout the built-in demo model ships in.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

from sefa_zoo import Checkpoint, LayoutError, SefaZooError, atomic_path

from .fixtures import StyleGAN2State

FORMAT = "sefa-zoo-stylegan2"
FORMAT_VERSION = "1"
_INT_FIELDS = ("resolution", "z_dim", "w_dim", "img_channels", "mapping_layers", "channel_base", "channel_max")


def write_sefa_zoo(
    state: StyleGAN2State, path: str | Path, *, float16: bool = False, conv_clamp: float | None = None
) -> Path:
    """Write ``state`` as a sefa-zoo StyleGAN2 safetensors file (float16 tensors if asked)."""
    if state.c_dim:
        raise SefaZooError("class-conditional StyleGAN2 generators are written in the nvidia layout only")
    dtype = torch.float16 if float16 else torch.float32
    tensors = {name: t.detach().to("cpu", dtype).contiguous().clone() for name, t in state.tensors.items()}
    config = {field: getattr(state, field) for field in _INT_FIELDS}
    config["mapping_lr_multiplier"] = state.mapping_lr_multiplier
    config["conv_clamp"] = conv_clamp
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": json.dumps(config, sort_keys=True)}
    path = Path(path)
    data = safetensors_bytes(tensors, metadata=metadata)  # save_file would add a temporary file of its own
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def read_config(checkpoint: Checkpoint) -> dict[str, Any] | None:
    """The validated config of a sefa-zoo StyleGAN2 file; None when the file has no metadata."""
    metadata = checkpoint.objects.get("__metadata__")
    if not metadata:
        return None
    where = checkpoint.label
    if metadata.get("format") != FORMAT:
        raise LayoutError(f"{where}: safetensors metadata 'format' is {metadata.get('format')!r}, not {FORMAT!r}")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise LayoutError(
            f"{where}: metadata 'format_version' is {metadata.get('format_version')!r}; "
            f"this sefa-zoo reads {FORMAT_VERSION!r}"
        )
    try:
        config = json.loads(metadata.get("config", ""))
    except json.JSONDecodeError:
        raise LayoutError(f"{where}: metadata 'config' is not JSON") from None
    if not isinstance(config, dict):
        raise LayoutError(f"{where}: metadata 'config' is not a JSON object")
    for field in _INT_FIELDS:
        value = config.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LayoutError(f"{where}: metadata config {field!r} must be a whole number >= 1, got {value!r}")
    for field, allow_none in (("mapping_lr_multiplier", False), ("conv_clamp", True)):
        value = config.get(field)
        if value is None and allow_none:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise LayoutError(f"{where}: metadata config {field!r} must be a positive number, got {value!r}")
    return config


def check_config(config: dict[str, Any], state: StyleGAN2State, label: str) -> None:
    """A LayoutError naming the first config field the tensors contradict."""
    for field in ("resolution", "z_dim", "w_dim", "img_channels", "mapping_layers"):
        if config[field] != getattr(state, field):
            raise LayoutError(
                f"{label}: metadata config {field!r} is {config[field]}, but the tensors say {getattr(state, field)}"
            )
