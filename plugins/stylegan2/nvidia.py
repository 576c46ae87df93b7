"""A stylegan2-ada-pytorch training pickle for a logical StyleGAN2 state, without NVIDIA code.

The object tree mirrors training/networks.py of stylegan2-ada-pytorch as train.py builds
it (config-f style: 'skip' generator, 'resnet' discriminator, 4 FP16 resolutions,
conv_clamp 256): each network object carries NVIDIA's class name, constructor arguments
(``_init_args`` / ``_init_kwargs``), plain attributes, parameters and buffers in
declaration order, so the loader sees exactly ``G_ema.state_dict()``'s keys.
The discriminator and augment pipe have the real names and shapes; their values are
placeholders. A class-conditional state (c_dim > 0) gets what train.py builds with
``--cond=1``: the mapping's label ``embed`` layer, c_dim in every constructor's arguments,
and the discriminator's own mapping network of the label (cmap_dim = its top channels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sefa_zoo.testing import PersistentModule, save_nvidia_pickle

from .fixtures import StyleGAN2State, fir_kernel, perturbed

NUM_FP16_RES = 4
CONV_CLAMP = 256
FILTER = [1, 3, 3, 1]
LRELU_GAIN = np.sqrt(2)  # bias_act.activation_funcs['lrelu'].def_gain


def write_training_pickle(state: StyleGAN2State, path: Path) -> None:
    snapshot = {
        "training_set_kwargs": {
            "class_name": "training.dataset.ImageFolderDataset", "path": "datasets/fixture.zip",
            "use_labels": state.c_dim > 0, "max_size": 70000, "xflip": False, "resolution": state.resolution,
        },
        "G": generator(perturbed(state)),
        "D": discriminator(state),
        "G_ema": generator(state),
        "augment_pipe": augment_pipe(),
    }
    save_nvidia_pickle(path, snapshot)


def _fully_connected(
    weight: torch.Tensor, bias: torch.Tensor, *, activation: str = "linear", lr_multiplier: float = 1,
    bias_init: float = 0,
) -> PersistentModule:
    out_features, in_features = weight.shape
    kwargs: dict = {}
    if activation != "linear":
        kwargs["activation"] = activation
    if lr_multiplier != 1:
        kwargs["lr_multiplier"] = lr_multiplier
    if bias_init != 0:
        kwargs["bias_init"] = bias_init
    return PersistentModule(
        "FullyConnectedLayer",
        parameters={"weight": weight, "bias": bias},
        init_args=(in_features, out_features),
        init_kwargs=kwargs,
        attributes={
            "activation": activation,
            "weight_gain": lr_multiplier / np.sqrt(in_features),
            "bias_gain": lr_multiplier,
        },
    )


def _fp16_resolution(resolution: int) -> int:
    return max(2 ** (resolution.bit_length() - 1 + 1 - NUM_FP16_RES), 8)


def generator(state: StyleGAN2State) -> PersistentModule:
    """The Generator object (mapping + synthesis) holding ``state``'s weights."""
    t = state.tensors
    num_ws = 2 * (state.resolution.bit_length() - 1) - 2
    synthesis_kwargs = {
        "channel_base": state.channel_base, "channel_max": state.channel_max,
        "num_fp16_res": NUM_FP16_RES, "conv_clamp": CONV_CLAMP,
    }
    blocks = {}
    fp16_resolution = _fp16_resolution(state.resolution)
    for level in state.levels:
        in_channels = 0 if level == 4 else state.channels(level // 2)
        out_channels = state.channels(level)
        use_fp16 = level >= fp16_resolution
        layers = {}
        for name in state.conv_names(level):
            role = "conv0" if name.endswith("conv0") else "conv1"
            layer_in = in_channels if role == "conv0" else out_channels
            kwargs = {"w_dim": state.w_dim, "resolution": level}
            if role == "conv0":
                kwargs.update(up=2, resample_filter=FILTER)
            kwargs.update(conv_clamp=CONV_CLAMP, channels_last=False)
            layers[role] = PersistentModule(
                "SynthesisLayer",
                parameters={
                    "weight": t[f"{name}.weight"], "noise_strength": t[f"{name}.noise_strength"],
                    "bias": t[f"{name}.bias"],
                },
                buffers={"resample_filter": fir_kernel(1.0), "noise_const": t[f"{name}.noise_const"]},
                modules={"affine": _fully_connected(t[f"{name}.affine.weight"], t[f"{name}.affine.bias"], bias_init=1)},
                init_args=(layer_in, out_channels),
                init_kwargs=kwargs,
                attributes={
                    "resolution": level, "up": 2 if role == "conv0" else 1, "use_noise": True,
                    "activation": "lrelu", "conv_clamp": CONV_CLAMP, "padding": 1, "act_gain": LRELU_GAIN,
                },
            )
        rgb = f"{level}x{level}.torgb"
        layers["torgb"] = PersistentModule(
            "ToRGBLayer",
            parameters={"weight": t[f"{rgb}.weight"], "bias": t[f"{rgb}.bias"]},
            modules={"affine": _fully_connected(t[f"{rgb}.affine.weight"], t[f"{rgb}.affine.bias"], bias_init=1)},
            init_args=(out_channels, state.img_channels),
            init_kwargs={"w_dim": state.w_dim, "conv_clamp": CONV_CLAMP, "channels_last": False},
            attributes={"conv_clamp": CONV_CLAMP, "weight_gain": 1 / np.sqrt(out_channels)},
        )
        blocks[f"b{level}"] = PersistentModule(
            "SynthesisBlock",
            parameters={"const": t["const"]} if level == 4 else {},
            buffers={"resample_filter": fir_kernel(1.0)},
            modules=layers,
            init_args=(in_channels, out_channels),
            init_kwargs={
                "w_dim": state.w_dim, "resolution": level, "img_channels": state.img_channels,
                "is_last": level == state.resolution, "use_fp16": use_fp16, "conv_clamp": CONV_CLAMP,
            },
            attributes={
                "in_channels": in_channels, "w_dim": state.w_dim, "resolution": level,
                "img_channels": state.img_channels, "is_last": level == state.resolution,
                "architecture": "skip", "use_fp16": use_fp16, "channels_last": False,
                "num_conv": len(state.conv_names(level)), "num_torgb": 1,
            },
        )
    synthesis = PersistentModule(
        "SynthesisNetwork",
        modules=blocks,
        init_kwargs={
            "w_dim": state.w_dim, "img_resolution": state.resolution, "img_channels": state.img_channels,
            **synthesis_kwargs,
        },
        attributes={
            "w_dim": state.w_dim, "img_resolution": state.resolution,
            "img_resolution_log2": state.resolution.bit_length() - 1, "img_channels": state.img_channels,
            "block_resolutions": list(state.levels), "num_ws": num_ws,
        },
    )
    embed = {"embed": _fully_connected(t["mapping.embed.weight"], t["mapping.embed.bias"])} if state.c_dim else {}
    # MappingNetwork's embed_features defaults to w_dim; another width is a constructor argument
    mapping_kwargs = {"num_layers": state.mapping_layers}
    if state.c_dim and state.embed_features != state.w_dim:
        mapping_kwargs["embed_features"] = state.embed_features
    mapping = PersistentModule(
        "MappingNetwork",
        buffers={"w_avg": t["w_avg"]},
        modules={
            **embed,
            **{
                f"fc{i}": _fully_connected(
                    t[f"mapping.fc{i}.weight"], t[f"mapping.fc{i}.bias"], activation="lrelu",
                    lr_multiplier=state.mapping_lr_multiplier,
                )
                for i in range(state.mapping_layers)
            },
        },
        init_kwargs={"z_dim": state.z_dim, "c_dim": state.c_dim, "w_dim": state.w_dim, "num_ws": num_ws,
                     **mapping_kwargs},
        attributes={
            "z_dim": state.z_dim, "c_dim": state.c_dim, "w_dim": state.w_dim, "num_ws": num_ws,
            "num_layers": state.mapping_layers, "w_avg_beta": 0.995,
        },
    )
    return PersistentModule(
        "Generator",
        modules={"synthesis": synthesis, "mapping": mapping},
        init_kwargs={
            "z_dim": state.z_dim, "w_dim": state.w_dim,
            "mapping_kwargs": mapping_kwargs,
            "synthesis_kwargs": synthesis_kwargs,
            "c_dim": state.c_dim, "img_resolution": state.resolution, "img_channels": state.img_channels,
        },
        attributes={
            "z_dim": state.z_dim, "c_dim": state.c_dim, "w_dim": state.w_dim, "img_resolution": state.resolution,
            "img_channels": state.img_channels, "num_ws": num_ws,
        },
    )


def discriminator(state: StyleGAN2State, *, seed: int = 3, mbstd_group_size: int = 4) -> PersistentModule:
    """A 'resnet' Discriminator object matching ``state``'s resolution and channels (random weights)."""
    gen = torch.Generator().manual_seed(seed)

    def conv(in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True, down: int = 1,
             activation: str = "lrelu") -> PersistentModule:
        parameters = {"weight": torch.randn([out_channels, in_channels, kernel_size, kernel_size], generator=gen)}
        if bias:
            parameters["bias"] = torch.zeros([out_channels])
        kwargs: dict = {"kernel_size": kernel_size}
        if not bias:
            kwargs["bias"] = False
        if activation != "linear":
            kwargs["activation"] = activation
        if down != 1:
            kwargs.update(down=down, resample_filter=FILTER)
        kwargs.update(trainable=True, conv_clamp=None if not bias else CONV_CLAMP, channels_last=False)
        return PersistentModule(
            "Conv2dLayer",
            parameters=parameters,
            buffers={"resample_filter": fir_kernel(1.0)},
            init_args=(in_channels, out_channels),
            init_kwargs=kwargs,
            attributes={
                "activation": activation, "up": 1, "down": down, "conv_clamp": kwargs["conv_clamp"],
                "padding": kernel_size // 2, "weight_gain": 1 / np.sqrt(in_channels * kernel_size**2),
                "act_gain": LRELU_GAIN if activation == "lrelu" else 1.0,
            },
        )

    common = {"img_channels": state.img_channels, "architecture": "resnet", "conv_clamp": CONV_CLAMP}
    fp16_resolution = _fp16_resolution(state.resolution)
    blocks = {}
    layer_index = 0
    for level in reversed(state.levels[1:]):
        in_channels = state.channels(level) if level < state.resolution else 0
        tmp_channels, out_channels = state.channels(level), state.channels(level // 2)
        modules = {}
        if in_channels == 0:
            modules["fromrgb"] = conv(state.img_channels, tmp_channels, 1)
        modules["conv0"] = conv(tmp_channels, tmp_channels, 3)
        modules["conv1"] = conv(tmp_channels, out_channels, 3, down=2)
        modules["skip"] = conv(tmp_channels, out_channels, 1, bias=False, down=2, activation="linear")
        blocks[f"b{level}"] = PersistentModule(
            "DiscriminatorBlock",
            buffers={"resample_filter": fir_kernel(1.0)},
            modules=modules,
            init_args=(in_channels, tmp_channels, out_channels),
            init_kwargs={
                "resolution": level, "first_layer_idx": layer_index, "use_fp16": level >= fp16_resolution,
                **common,
            },
            attributes={
                "in_channels": in_channels, "resolution": level, "img_channels": state.img_channels,
                "first_layer_idx": layer_index, "architecture": "resnet",
                "use_fp16": level >= fp16_resolution, "channels_last": False, "num_layers": len(modules),
            },
        )
        layer_index += len(modules)
    top = state.channels(4)
    cmap_dim = top if state.c_dim else 0
    if state.c_dim:
        blocks["mapping"] = _label_mapping(state.c_dim, cmap_dim, gen)
    fc = torch.randn([top, top * 16], generator=gen)
    out = torch.randn([max(cmap_dim, 1), top], generator=gen)
    blocks["b4"] = PersistentModule(
        "DiscriminatorEpilogue",
        modules={
            "mbstd": PersistentModule(
                "MinibatchStdLayer", init_args=(mbstd_group_size,), init_kwargs={"num_channels": 1},
                attributes={"group_size": mbstd_group_size, "num_channels": 1},
            ),
            "conv": conv(top + 1, top, 3),
            "fc": _fully_connected(fc, torch.zeros([top]), activation="lrelu"),
            "out": _fully_connected(out, torch.zeros([max(cmap_dim, 1)])),
        },
        init_args=(top,),
        init_kwargs={"cmap_dim": cmap_dim, "resolution": 4, "mbstd_group_size": mbstd_group_size, **common},
        attributes={
            "in_channels": top, "cmap_dim": cmap_dim, "resolution": 4, "img_channels": state.img_channels,
            "architecture": "resnet",
        },
    )
    return PersistentModule(
        "Discriminator",
        modules=blocks,
        init_kwargs={
            "c_dim": state.c_dim, "img_resolution": state.resolution, "img_channels": state.img_channels,
            "channel_base": state.channel_base, "channel_max": state.channel_max, "num_fp16_res": NUM_FP16_RES,
            "conv_clamp": CONV_CLAMP, "block_kwargs": {}, "mapping_kwargs": {},
            "epilogue_kwargs": {"mbstd_group_size": mbstd_group_size},
        },
        attributes={
            "c_dim": state.c_dim, "img_resolution": state.resolution,
            "img_resolution_log2": state.resolution.bit_length() - 1,
            "img_channels": state.img_channels, "block_resolutions": list(reversed(state.levels[1:])),
        },
    )


D_MAPPING_LAYERS = 8  # MappingNetwork's default, which the discriminator keeps


def _label_mapping(c_dim: int, cmap_dim: int, gen: torch.Generator) -> PersistentModule:
    """The discriminator's MappingNetwork of the label alone (z_dim 0, no w_avg), random weights."""
    layers = {"embed": _fully_connected(torch.randn([cmap_dim, c_dim], generator=gen), torch.zeros([cmap_dim]))}
    for i in range(D_MAPPING_LAYERS):
        layers[f"fc{i}"] = _fully_connected(
            torch.randn([cmap_dim, cmap_dim], generator=gen) * 100, torch.zeros([cmap_dim]), activation="lrelu",
            lr_multiplier=0.01,
        )
    return PersistentModule(
        "MappingNetwork",
        modules=layers,
        init_kwargs={"z_dim": 0, "c_dim": c_dim, "w_dim": cmap_dim, "num_ws": None, "w_avg_beta": None},
        attributes={
            "z_dim": 0, "c_dim": c_dim, "w_dim": cmap_dim, "num_ws": None, "num_layers": D_MAPPING_LAYERS,
            "w_avg_beta": None,
        },
    )


def augment_pipe() -> PersistentModule:
    """ADA's AugmentPipe for the 'bgc' pipeline, at p = 0 (filter banks are placeholders)."""
    probabilities = dict.fromkeys(
        ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness", "contrast",
         "lumaflip", "hue", "saturation"),
        1,
    )
    return PersistentModule(
        "AugmentPipe",
        buffers={"p": torch.zeros([]), "Hz_geom": torch.full([12], 1 / 12), "Hz_fbank": torch.zeros([4, 43])},
        init_kwargs=probabilities,
        attributes={**{k: float(v) for k, v in probabilities.items()}, "xint_max": 0.125, "scale_std": 0.2},
    )
