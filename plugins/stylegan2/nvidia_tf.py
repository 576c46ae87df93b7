"""An NVIDIA TensorFlow StyleGAN2 pickle for a logical StyleGAN2 state, without TensorFlow or dnnlib.

The networks mirror what NVIDIA's StyleGAN2 release (training/networks_stylegan2.py,
dnnlib/tflib/network.py) pickles: G and Gs are ``G_main`` networks with the components
``synthesis`` (``G_synthesis_stylegan2``) and ``mapping`` (``G_mapping``); D is a 'resnet'
``D_stylegan2``. Static kwargs hold what the training run passed (the dataset's shape and the
settings that differ from the build functions' defaults). D has the real names and shapes and
placeholder values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sefa_zoo.testing import TFNetworkSpec, save_tf_pickle

from .fixtures import StyleGAN2State, perturbed, stylegan2_state_dict

# The build functions' defaults: a setting equal to its default is not among the static kwargs.
_DEFAULTS = {"fmap_base": 16 << 10, "fmap_max": 512, "latent_size": 512, "dlatent_size": 512,
             "mapping_layers": 8, "mapping_lrmul": 0.01}


def write_tf_pickle(state: StyleGAN2State, path: Path, *, protocol: int = 3) -> None:
    """(G, D, Gs) with ``state`` as Gs and a slightly perturbed copy as G."""
    networks = (generator(perturbed(state), "G"), discriminator(state), generator(state, "Gs"))
    save_tf_pickle(path, networks, protocol=protocol)


def _static_kwargs(state: StyleGAN2State) -> dict:
    settings = {"latent_size": state.z_dim, "dlatent_size": state.w_dim, "mapping_layers": state.mapping_layers,
                "mapping_lrmul": state.mapping_lr_multiplier, "fmap_max": state.channel_max}
    if state.channel_base % 2 == 0:
        settings["fmap_base"] = state.channel_base // 2  # TensorFlow halves the base: nf(stage) = base / 2**stage
    kwargs = {"num_channels": state.img_channels, "resolution": state.resolution, "label_size": 0}
    kwargs.update({key: value for key, value in settings.items() if value != _DEFAULTS[key]})
    return kwargs


def _arrays(tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {name: tensor.detach().cpu().numpy() for name, tensor in tensors.items()}


def generator(state: StyleGAN2State, name: str) -> TFNetworkSpec:
    """A ``G_main`` network (G or Gs) holding ``state``'s weights."""
    variables = stylegan2_state_dict(state, "nvidia-tf")
    parts: dict[str, dict[str, torch.Tensor]] = {"": {"lod": torch.zeros([])}, "synthesis": {}, "mapping": {}}
    for key, tensor in variables.items():
        component, _, local = key.partition(".") if key.startswith(("synthesis.", "mapping.")) else ("", "", key)
        parts[component][local] = tensor
    kwargs = _static_kwargs(state)
    num_layers = 2 * (state.resolution.bit_length() - 1) - 2
    synthesis = TFNetworkSpec("G_synthesis", "G_synthesis_stylegan2", _arrays(parts["synthesis"]),
                              static_kwargs=dict(kwargs))
    mapping = TFNetworkSpec("G_mapping", "G_mapping", _arrays(parts["mapping"]),
                            static_kwargs={"dlatent_broadcast": num_layers, **kwargs})
    return TFNetworkSpec(name, "G_main", _arrays(parts[""]), {"synthesis": synthesis, "mapping": mapping},
                         static_kwargs=kwargs)


def discriminator(state: StyleGAN2State, *, seed: int = 3) -> TFNetworkSpec:
    """A 'resnet' ``D_stylegan2`` network matching ``state``'s resolution and channels (random weights)."""
    rng = np.random.default_rng(seed)

    def normal(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32)

    channels = state.channels
    variables: dict[str, np.ndarray] = {}
    top = state.resolution
    variables[f"{top}x{top}/FromRGB/weight"] = normal(1, 1, state.img_channels, channels(top))
    variables[f"{top}x{top}/FromRGB/bias"] = np.zeros(channels(top), np.float32)
    for level in reversed(state.levels[1:]):
        scope, tmp, out = f"{level}x{level}", channels(level), channels(level // 2)
        variables[f"{scope}/Conv0/weight"] = normal(3, 3, tmp, tmp)
        variables[f"{scope}/Conv0/bias"] = np.zeros(tmp, np.float32)
        variables[f"{scope}/Conv1_down/weight"] = normal(3, 3, tmp, out)
        variables[f"{scope}/Conv1_down/bias"] = np.zeros(out, np.float32)
        variables[f"{scope}/Skip/weight"] = normal(1, 1, tmp, out)
    base = channels(4)
    variables["4x4/Conv/weight"] = normal(3, 3, base + 1, base)
    variables["4x4/Conv/bias"] = np.zeros(base, np.float32)
    variables["4x4/Dense0/weight"] = normal(base * 16, base)
    variables["4x4/Dense0/bias"] = np.zeros(base, np.float32)
    variables["Output/weight"] = normal(base, 1)
    variables["Output/bias"] = np.zeros(1, np.float32)
    kwargs = {key: value for key, value in _static_kwargs(state).items()
              if key in ("num_channels", "resolution", "label_size", "fmap_base", "fmap_max")}
    return TFNetworkSpec("D", "D_stylegan2", variables, static_kwargs=kwargs)
