"""BigGAN-deep checkpoints with random weights of the true names and shapes, in the
pytorch-pretrained-BigGAN layout: a ``pytorch_model.bin`` state dict and its ``config.json``.

Test fixtures and benchmark inputs. ``small_config`` is a tiny generator of the real structure
(GenBlocks with the self-attention layer between them, up-sampling blocks, channel halving);
``biggan_deep_128_config`` is the released 128 px model's config. ``random_biggan_state`` fills
every tensor: spectral-norm u and v are the result of a few power iterations, as training
leaves them, so sigma is near the weight's largest singular value.
"""

from __future__ import annotations

import collections
import json
import math
from pathlib import Path
from typing import Any

import torch

from sefa_zoo import atomic_path

from .layouts import (
    CONFIG_NAME,
    FIRST_SIZE,
    LAYERS,
    BigGANShape,
    BlockShape,
    expected_shapes,
)

WEIGHTS_NAME = "pytorch_model.bin"
POWER_ITERATIONS = 3


def biggan_deep_128_config() -> dict[str, Any]:
    """The config.json of the released BigGAN-deep 128 (the package's defaults)."""
    up_down = [(False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8),
               (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1)]
    return {"output_dim": 128, "z_dim": 128, "class_embed_dim": 128, "channel_width": 128, "num_classes": 1000,
            "layers": [list(layer) for layer in up_down], "attention_layer_position": 8, "eps": 1e-4,
            "n_stats": 51}


def small_config(*, z_dim: int = 8, channel_width: int = 4, num_classes: int = 10, n_stats: int = 11
                 ) -> dict[str, Any]:
    """A 16 px generator of the real structure: four blocks from 16·ch channels down to ch (two
    up-sampling, each halving the channels) and self-attention before the third."""
    return {"output_dim": 16, "z_dim": z_dim, "class_embed_dim": z_dim, "channel_width": channel_width,
            "num_classes": num_classes, "layers": [[True, 16, 8], [False, 8, 4], [False, 4, 2], [True, 2, 1]],
            "attention_layer_position": 2, "eps": 1e-4, "n_stats": n_stats}


def shape_from_config(config: dict[str, Any]) -> BigGANShape:
    """The generator ``config`` describes, as the package builds it."""
    ch = config["channel_width"]
    blocks, level = [], FIRST_SIZE
    position = config["attention_layer_position"]
    for i, (up_sample, inputs, outputs) in enumerate(config["layers"]):
        module = i + (position < i + 1)
        blocks.append(BlockShape(module, inputs * ch, outputs * ch, up_sample, level))
        level = blocks[-1].out_level
    attention = position if position < len(blocks) else None
    return BigGANShape(config["z_dim"], config["num_classes"], ch, tuple(blocks), attention, config["n_stats"],
                       config["eps"])


def random_biggan_state(config: dict[str, Any] | None = None, *, seed: int = 0, device: str = "cpu"
                        ) -> dict[str, torch.Tensor]:
    """A state dict of the package's BigGAN for ``config`` (default ``small_config()``), seeded.
    On the meta device the shapes come without any data."""
    config = small_config() if config is None else config
    shapes = expected_shapes(shape_from_config(config))
    if torch.device(device).type == "meta":
        return {name: torch.empty(shape, device="meta") for name, shape in shapes}
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, shape in shapes:
        if name.endswith((".weight_u", ".weight_v")):
            continue
        values = torch.randn(shape, generator=generator)
        if name.endswith(".running_vars"):
            values = 0.5 + values.abs()
        elif name.endswith((".running_means", ".bias", ".gamma")):
            values = 0.3 * values
        elif name.endswith(".weight") and "bn" in name:
            values = 0.3 + 0.05 * values  # a small final gain keeps most pixels off tanh's flat ends
        state[name] = values
        if name.endswith(".weight_orig"):
            state[name[: -len("orig")] + "u"], state[name[: -len("orig")] + "v"] = _power_iteration(values, generator)
    return state


def _power_iteration(weight: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    matrix = weight.reshape(weight.shape[0], -1)
    u = torch.nn.functional.normalize(torch.randn(matrix.shape[0], generator=generator), dim=0)
    v = torch.zeros(matrix.shape[1])
    for _ in range(POWER_ITERATIONS):
        v = torch.nn.functional.normalize(matrix.T @ u, dim=0)
        u = torch.nn.functional.normalize(matrix @ v, dim=0)
    return u, v


def _as_saved(state: dict[str, torch.Tensor]) -> collections.OrderedDict[str, torch.Tensor]:
    """The state dict as ``model.state_dict()`` returns it: an OrderedDict whose ``_metadata``
    carries each module's version and the spectral-norm version."""
    saved = collections.OrderedDict(state)
    metadata: dict[str, dict[str, Any]] = {"": {"version": 1}}
    for name in state:
        if name.endswith(".weight_orig"):
            metadata[name[: -len(".weight_orig")]] = {"version": 1, "spectral_norm": {"weight.version": 1}}
    saved._metadata = metadata  # type: ignore[attr-defined]
    return saved


def save_biggan(state: dict[str, torch.Tensor], config: dict[str, Any], folder: str | Path, *,
                config_name: str | None = CONFIG_NAME) -> Path:
    """Write ``state`` as ``folder``/pytorch_model.bin and ``config`` as its config.json beside it
    (under ``config_name``; None writes no config). Returns the weights' path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS_NAME
    with atomic_path(weights) as tmp:
        torch.save(_as_saved(state), tmp)
    if config_name is not None:
        with atomic_path(folder / config_name) as tmp:
            tmp.write_text(json.dumps(config, indent=2) + "\n")
    return weights


def module_count(config: dict[str, Any]) -> int:
    return len(config["layers"]) + (config["attention_layer_position"] < len(config["layers"]))


def block_prefixes(config: dict[str, Any]) -> list[str]:
    """``generator.layers.{i}`` of every GenBlock of ``config``, in order."""
    position = config["attention_layer_position"]
    return [f"{LAYERS}{m}" for m in range(module_count(config)) if m != position]


def resolution_of(config: dict[str, Any]) -> int:
    return FIRST_SIZE * int(math.prod(2 if up else 1 for up, _, _ in config["layers"]))
