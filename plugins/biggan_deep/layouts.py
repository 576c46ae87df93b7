"""Where a BigGAN-deep generator lives in a pytorch-pretrained-BigGAN checkpoint, from names,
shapes and the config.json beside the weights.

The state dict of the package's ``BigGAN`` (``pytorch_model.bin``), for z_dim Z, channel width
ch, K classes and S stored truncation statistics:
  embeddings.weight                          (Z, K): the class embedding, a plain linear map
  generator.gen_z.{weight_orig, bias}        (16·16·ch, 2Z): cat(z, embedding) -> the 4x4 map
  generator.layers.{i}                       GenBlocks and one self-attention module:
    bn_{0..3}.scale / .offset.weight_orig    (C, 2Z): conditional batch norm, also fed cat(z, embedding)
    bn_{0..3}.running_means / running_vars   (S, C): statistics for S truncation values in [0, 1]
    conv_0 (1x1, C_in -> C_in/4), conv_1, conv_2 (3x3), conv_3 (1x1 -> C_out), with biases
    gamma (1,) and snconv1x1_{theta, phi, g, o_conv} (no biases) for self-attention
  generator.bn.{weight, bias, running_means, running_vars}: the last, unconditional batch norm
  generator.conv_to_rgb.{weight_orig, bias}  (ch, ch, 3, 3): only its first 3 outputs are the image
Every ``weight_orig`` is spectrally normalised, with ``weight_u`` (outputs,) and ``weight_v``
(inputs,) beside it.

The file alone cannot say which blocks double the resolution, nor the epsilon: config.json does
(``layers``: [up-sample?, input, output channels / ch] per block, ``eps``). Every number the
config claims is checked against the tensors, so what a file makes us build is bounded by what
it holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sefa_zoo import Checkpoint, LayoutError, SefaZooError

if TYPE_CHECKING:
    import numpy as np

LAYOUT = "pretrained-biggan"
DESCRIPTION = "pytorch-pretrained-BigGAN pytorch_model.bin state dict with its config.json beside it"
CONFIG_NAME = "config.json"
EMBEDDINGS = "embeddings.weight"
GEN_Z = "generator.gen_z"
FINAL_BN = "generator.bn"
TO_RGB = "generator.conv_to_rgb"
LAYERS = "generator.layers."
SIGNATURE = (EMBEDDINGS, GEN_Z + ".weight_orig", TO_RGB + ".weight_orig")
FIRST_SIZE = 4
FIRST_CHANNELS = 16  # gen_z makes 4x4 maps of 16·ch channels
REDUCTION = 4  # a block's middle convolutions have C_in / 4 channels
BN_COUNT = 4
IMAGE_CHANNELS = 3
# Resolutions past this are refused: a file of a few tiny blocks could otherwise claim any size.
MAX_RESOLUTION = 1 << 12

_MODULE = re.compile(r"^generator\.layers\.([0-9]{1,6})\.")


@dataclass(frozen=True)
class BlockShape:
    """One GenBlock: its module index in ``generator.layers``, channels and whether it up-samples."""

    module: int
    in_channels: int
    out_channels: int
    up_sample: bool
    level: int  # the resolution of its input

    @property
    def middle(self) -> int:
        return self.in_channels // REDUCTION

    @property
    def out_level(self) -> int:
        return self.level * 2 if self.up_sample else self.level


@dataclass(frozen=True)
class BigGANShape:
    """A BigGAN-deep generator found in a checkpoint and its config."""

    z_dim: int
    num_classes: int
    channel_width: int
    blocks: tuple[BlockShape, ...]
    attention: int | None  # module index of the self-attention layer, None without one
    n_stats: int
    eps: float

    @property
    def resolution(self) -> int:
        return self.blocks[-1].out_level if self.blocks else FIRST_SIZE

    @property
    def first_outputs(self) -> int:
        return FIRST_SIZE * FIRST_SIZE * FIRST_CHANNELS * self.channel_width

    @property
    def attention_channels(self) -> int:
        following = next(block for block in self.blocks if block.module == self.attention + 1)
        return following.in_channels

    def tensor_names(self) -> list[str]:
        return [name for name, _ in expected_shapes(self)]


def sn_names(prefix: str) -> tuple[str, str, str]:
    """The spectral-norm triple of a layer: weight_orig, weight_u, weight_v."""
    return prefix + ".weight_orig", prefix + ".weight_u", prefix + ".weight_v"


def spectral_normalized_array(checkpoint: Checkpoint, prefix: str) -> np.ndarray:
    """``prefix``'s weight as the network uses it, in numpy (float32, as torch computes it):
    weight_orig / (uᵀ W v), W = weight_orig as (outputs, inputs), u and v the stored vectors."""
    import numpy as np

    orig, u, v = (checkpoint.array(name).astype(np.float32, copy=False) for name in sn_names(prefix))
    sigma = np.dot(u, orig.reshape(orig.shape[0], -1) @ v)
    if not np.isfinite(sigma) or sigma == 0:
        raise SefaZooError(f"{checkpoint.label}: {prefix!r} has spectral norm {float(sigma)} from its weight_u, weight_v")
    return orig / sigma


def _sn_layer(prefix: str, weight: tuple[int, ...], bias: bool = True) -> Iterator[tuple[str, tuple[int, ...]]]:
    if bias:
        yield prefix + ".bias", weight[:1]
    orig, u, v = sn_names(prefix)
    yield orig, weight
    yield u, weight[:1]
    yield v, (math.prod(weight[1:]),)


def _batch_norm(prefix: str, channels: int, shape: BigGANShape) -> Iterator[tuple[str, tuple[int, ...]]]:
    yield prefix + ".running_means", (shape.n_stats, channels)
    yield prefix + ".running_vars", (shape.n_stats, channels)
    for part in ("scale", "offset"):
        yield from _sn_layer(f"{prefix}.{part}", (channels, 2 * shape.z_dim), bias=False)


def expected_shapes(shape: BigGANShape) -> Iterator[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every tensor of the package's BigGAN state dict, in its order."""
    ch = shape.channel_width
    yield EMBEDDINGS, (shape.z_dim, shape.num_classes)
    yield from _sn_layer(GEN_Z, (shape.first_outputs, 2 * shape.z_dim))
    blocks = {block.module: block for block in shape.blocks}
    for module in range(len(shape.blocks) + (shape.attention is not None)):
        prefix = f"{LAYERS}{module}"
        if module == shape.attention:
            channels = shape.attention_channels
            yield prefix + ".gamma", (1,)
            for name, outputs, inputs in (
                ("theta", channels // 8, channels), ("phi", channels // 8, channels),
                ("g", channels // 2, channels), ("o_conv", channels, channels // 2),
            ):
                yield from _sn_layer(f"{prefix}.snconv1x1_{name}", (outputs, inputs, 1, 1), bias=False)
            continue
        block = blocks[module]
        convs = (
            (block.in_channels, block.middle, 1), (block.middle, block.middle, 3),
            (block.middle, block.middle, 3), (block.middle, block.out_channels, 1),
        )
        for k, (inputs, outputs, kernel) in enumerate(convs):
            yield from _batch_norm(f"{prefix}.bn_{k}", inputs, shape)
            yield from _sn_layer(f"{prefix}.conv_{k}", (outputs, inputs, kernel, kernel))
    yield FINAL_BN + ".weight", (ch,)
    yield FINAL_BN + ".bias", (ch,)
    yield FINAL_BN + ".running_means", (shape.n_stats, ch)
    yield FINAL_BN + ".running_vars", (shape.n_stats, ch)
    yield from _sn_layer(TO_RGB, (ch, ch, 3, 3))


def looks_like_biggan(checkpoint: Checkpoint) -> bool:
    """Whether the file holds the package's signature names (class embedding, gen_z, conv_to_rgb),
    config or not: such a file is claimed, so that what is wrong with it (a missing config,
    a misshapen tensor) is reported by name rather than as an unrecognised checkpoint."""
    return all(name in checkpoint for name in SIGNATURE)


def locate(checkpoint: Checkpoint) -> BigGANShape:
    """The generator in ``checkpoint`` with its config, every tensor's shape checked; a
    LayoutError naming the tensor or config field at fault otherwise."""
    reason = _check(checkpoint)
    if isinstance(reason, str):
        raise LayoutError(f"{checkpoint.label}: not a {LAYOUT} BigGAN checkpoint: {reason}")
    return reason


def _check(checkpoint: Checkpoint) -> BigGANShape | str:
    for name in SIGNATURE:
        if name not in checkpoint:
            return f"no tensor {name!r}"
    config = checkpoint.companion_json(CONFIG_NAME)
    if config is None:
        return (f"its {CONFIG_NAME} is missing (put the package's {CONFIG_NAME} beside the weights, "
                "or give it with --config FILE)")
    if not isinstance(config, dict):
        return f"{CONFIG_NAME} is not a JSON object"
    found = _from_tensors(checkpoint)
    if isinstance(found, str):
        return found
    z_dim, num_classes, ch, n_stats, modules = found
    layers = config.get("layers")
    if not isinstance(layers, list):
        return f"{CONFIG_NAME} has no 'layers' list"
    attention = [module for module, kind in enumerate(modules) if kind == "attention"]
    block_modules = [module for module, kind in enumerate(modules) if kind == "block"]
    if len(layers) != len(block_modules):
        return f"{CONFIG_NAME} lists {len(layers)} layers, the weights hold {len(block_modules)} blocks"
    if len(attention) > 1:
        return f"'{LAYERS}{attention[1]}' is a second self-attention layer; BigGAN-deep has one"
    position = config.get("attention_layer_position")
    wanted = position if _whole(position) and position < len(layers) else None
    if (attention[0] if attention else None) != wanted:
        where = f"module {attention[0]}" if attention else "none"
        return f"{CONFIG_NAME} has attention_layer_position {_shown(position)}, the weights' self-attention is {where}"
    for key, value in (("z_dim", z_dim), ("num_classes", num_classes), ("channel_width", ch), ("n_stats", n_stats)):
        if key in config and config[key] != value:
            return f"{CONFIG_NAME} has {key} {_shown(config[key])}, the weights have {value}"
    eps = config.get("eps", 1e-4)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (math.isfinite(eps) and eps > 0):
        return f"{CONFIG_NAME} has eps {_shown(eps)}, expected a positive number"
    blocks = _blocks(checkpoint, layers, block_modules, ch)
    if isinstance(blocks, str):
        return blocks
    shape = BigGANShape(z_dim, num_classes, ch, blocks, attention[0] if attention else None, n_stats, float(eps))
    if "output_dim" in config and config["output_dim"] != shape.resolution:
        return f"{CONFIG_NAME} has output_dim {_shown(config['output_dim'])}, its layers make {shape.resolution} px"
    return _check_tensors(checkpoint, shape)


def _from_tensors(checkpoint: Checkpoint) -> tuple[int, int, int, int, list[str]] | str:
    """(z_dim, classes, channel width, truncation statistics, kind of each module) from the shapes."""
    embeddings = checkpoint.shape(EMBEDDINGS)
    if len(embeddings) != 2 or min(embeddings) <= 0:
        return f"{EMBEDDINGS!r} has shape {embeddings}, expected (z_dim, classes)"
    final = FINAL_BN + ".running_means"
    if final not in checkpoint:
        return f"missing tensor {final!r}"
    stats = checkpoint.shape(final)
    if len(stats) != 2 or stats[0] < 2 or stats[1] < IMAGE_CHANNELS:
        return f"{final!r} has shape {stats}, expected (truncation values >= 2, channel width >= 3)"
    modules: dict[int, set[str]] = {}
    for name in checkpoint:
        match = _MODULE.match(name)
        if match:
            kinds = modules.setdefault(int(match.group(1)), set())
            if name.endswith(".gamma"):
                kinds.add("attention")
            elif name.endswith(".bn_0.running_means"):
                kinds.add("block")
    count = len(modules)
    if count == 0:
        return f"no '{LAYERS}*' tensors: the generator has no blocks"
    if max(modules) >= count:
        missing = min(set(range(count + 1)) - set(modules))
        return f"no tensors of module '{LAYERS}{missing}' though '{LAYERS}{max(modules)}' follows"
    for module in range(count):
        if len(modules[module]) != 1:
            what = "both a block's and self-attention's" if modules[module] else "neither a block's nor self-attention's"
            return f"'{LAYERS}{module}' holds {what} tensors (bn_0.running_means, gamma)"
    return embeddings[0], embeddings[1], stats[1], stats[0], [min(modules[m]) for m in range(count)]


def _blocks(
    checkpoint: Checkpoint, layers: list[Any], block_modules: list[int], ch: int
) -> tuple[BlockShape, ...] | str:
    blocks = []
    level = FIRST_SIZE
    channels = FIRST_CHANNELS * ch
    for i, (layer, module) in enumerate(zip(layers, block_modules, strict=True)):
        if (not isinstance(layer, list) or len(layer) != 3 or not isinstance(layer[0], bool)
                or not all(_whole(value) for value in layer[1:])):
            return f"{CONFIG_NAME} layers[{i}] is not [up-sample (true/false), input, output channels / ch]"
        up_sample, inputs, outputs = layer[0], layer[1] * ch, layer[2] * ch
        if inputs != channels:
            return f"{CONFIG_NAME} layers[{i}] takes {inputs} channels, the block before makes {channels}"
        name = f"{LAYERS}{module}.conv_3.weight_orig"
        if name not in checkpoint or checkpoint.shape(name)[:1] != (outputs,):
            found = checkpoint.shape(name) if name in checkpoint else "missing"
            return f"{name!r} is {found}, but {CONFIG_NAME} layers[{i}] makes {outputs} channels"
        if outputs != inputs and 2 * outputs != inputs:
            return f"{CONFIG_NAME} layers[{i}] goes from {inputs} to {outputs} channels; a block keeps or halves them"
        if inputs < REDUCTION:
            return f"{CONFIG_NAME} layers[{i}] takes {inputs} channels, fewer than {REDUCTION}"
        blocks.append(BlockShape(module, inputs, outputs, up_sample, level))
        level = blocks[-1].out_level
        if level > MAX_RESOLUTION:
            return f"{CONFIG_NAME} layers up-sample past {MAX_RESOLUTION} px"
        channels = outputs
    if channels != ch:
        return f"the last block makes {channels} channels, the final batch norm takes {ch}"
    return tuple(blocks)


def _check_tensors(checkpoint: Checkpoint, shape: BigGANShape) -> BigGANShape | str:
    if shape.attention is not None:
        channels = shape.attention_channels
        if channels < 8:
            return f"self-attention on {channels} channels; it needs 8 or more"
    expected = dict(expected_shapes(shape))
    for name, wanted in expected.items():
        if name not in checkpoint:
            return f"missing tensor {name!r}"
        found = tuple(checkpoint.shape(name))
        if found != wanted:
            return f"{name!r} has shape {found}, expected {wanted}"
    extra = [name for name in checkpoint if name not in expected]
    if extra:
        return f"unexpected tensor {extra[0]!r} beside the generator's"
    return shape


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shown(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 10**15:
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"a {len(str(abs(value)))}-digit number"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "…")
    return "null" if value is None else f"a {type(value).__name__}"
