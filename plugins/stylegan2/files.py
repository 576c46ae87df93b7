"""Whole StyleGAN2 checkpoint files, as the real tools write them, from a logical state.

Test fixtures and benchmark inputs: the containers, names, shapes and non-tensor
entries follow rosinality's convert_weight.py / train.py, genforce's converter and
stylegan2-ada-pytorch's training loop. Discriminators and optimiser states carry the
real names and shapes but random values (nothing here reads them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sefa_zoo import SefaZooError, atomic_path

from .fixtures import StyleGAN2State, fir_kernel, perturbed, stylegan2_state_dict
from .nvidia import write_training_pickle
from .nvidia_tf import write_tf_pickle
from .native import write_sefa_zoo

FIXTURE_LAYOUTS = ("rosinality", "rosinality-snapshot", "nvidia", "nvidia-tf", "genforce", "huggan", "sefa-zoo")


def save_stylegan2(state: StyleGAN2State, path: str | Path, layout: str, *, float16: bool = False) -> Path:
    """Write ``state`` as a real checkpoint file of ``layout`` (one of FIXTURE_LAYOUTS).

    rosinality: ``{"g_ema", "latent_avg"}``, as rosinality's convert_weight.py writes it.
    rosinality-snapshot: rosinality's train.py snapshot (g, d, g_ema, optimisers, args, ada_aug_p).
    nvidia: a stylegan2-ada-pytorch training pickle (training_set_kwargs, G, D, G_ema, augment_pipe).
    nvidia-tf: NVIDIA's TensorFlow StyleGAN2 pickle, the tuple (G, D, Gs) of dnnlib.tflib networks.
    genforce: ``{"generator", "generator_smooth"}``, as genforce's converter writes it.
    huggan: the plain ``generator_smooth`` state dict of a huggan ``pytorch_model.bin``.
    sefa-zoo: the project's own safetensors file (logical names, config in the metadata);
    ``float16`` stores its tensors in half precision (the other layouts keep the state's dtype).
    The training copies (g / G / generator) are slightly perturbed EMA weights (Gs is the EMA one).
    """
    writers = {
        "rosinality": _rosinality,
        "rosinality-snapshot": _rosinality_snapshot,
        "nvidia": _nvidia,
        "nvidia-tf": write_tf_pickle,
        "genforce": _genforce,
        "huggan": _huggan,
    }
    if layout not in writers and layout != "sefa-zoo":
        raise SefaZooError(f"no StyleGAN2 fixture layout {layout!r} (known: {', '.join(FIXTURE_LAYOUTS)})")
    path = Path(path)
    if layout == "sefa-zoo":
        return write_sefa_zoo(state, path, float16=float16)
    writers[layout](state, path)
    return path


def _torch_save(obj: object, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _rosinality(state: StyleGAN2State, path: Path) -> None:
    g_ema = stylegan2_state_dict(state, "rosinality")
    _torch_save({"g_ema": g_ema, "latent_avg": state.tensors["w_avg"].clone()}, path)


def _rosinality_snapshot(state: StyleGAN2State, path: Path) -> None:
    g = stylegan2_state_dict(perturbed(state), "rosinality")
    g_ema = stylegan2_state_dict(state, "rosinality")
    d = rosinality_discriminator(state)
    g_params = [k for k in g if not (k.startswith("noises.") or k.endswith(".kernel"))]
    d_params = [k for k in d if not k.endswith(".kernel")]
    args = argparse.Namespace(
        path="dataset.lmdb", arch="stylegan2", iter=800000, batch=16, n_sample=64, size=state.resolution,
        r1=10.0, path_regularize=2.0, path_batch_shrink=2, d_reg_every=16, g_reg_every=4, mixing=0.9,
        ckpt=None, lr=0.002, channel_multiplier=max(1, state.channel_base // 16384), wandb=False,
        local_rank=0, augment=False, augment_p=0.0, ada_target=0.6, ada_length=500000, ada_every=256,
        latent=state.w_dim, n_mlp=state.mapping_layers, start_iter=0, distributed=False,
    )
    snapshot = {
        "g": g,
        "d": d,
        "g_ema": g_ema,
        "g_optim": _adam_state(len(g_params), args.lr, args.g_reg_every),
        "d_optim": _adam_state(len(d_params), args.lr, args.d_reg_every),
        "args": args,
        "ada_aug_p": 0.0,
    }
    _torch_save(snapshot, path)


def _adam_state(num_params: int, lr: float, reg_every: int) -> dict:
    """An Adam state dict as rosinality's train.py configures it (per-parameter moments left out)."""
    ratio = reg_every / (reg_every + 1)
    group = {
        "lr": lr * ratio, "betas": (0.0 ** ratio, 0.99 ** ratio), "eps": 1e-8, "weight_decay": 0,
        "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
        "differentiable": False, "fused": None, "params": list(range(num_params)),
    }
    return {"state": {}, "param_groups": [group]}


def rosinality_discriminator(state: StyleGAN2State, *, seed: int = 2) -> dict[str, torch.Tensor]:
    """A random rosinality Discriminator state dict for ``state``'s resolution and channels."""
    gen = torch.Generator().manual_seed(seed)
    dtype = state.tensors["const"].dtype

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=gen).to(dtype)

    def zeros(*shape: int) -> torch.Tensor:
        return torch.zeros(shape, dtype=dtype)

    channels = state.channels
    sd: dict[str, torch.Tensor] = {}
    in_channels = channels(state.resolution)
    sd["convs.0.0.weight"] = normal(in_channels, state.img_channels, 1, 1)
    sd["convs.0.1.bias"] = zeros(in_channels)
    for n, level in enumerate(reversed(state.levels[1:]), start=1):
        out_channels = channels(level // 2)
        block = f"convs.{n}"
        sd[f"{block}.conv1.0.weight"] = normal(in_channels, in_channels, 3, 3)
        sd[f"{block}.conv1.1.bias"] = zeros(in_channels)
        sd[f"{block}.conv2.0.kernel"] = fir_kernel(1.0)
        sd[f"{block}.conv2.1.weight"] = normal(out_channels, in_channels, 3, 3)
        sd[f"{block}.conv2.2.bias"] = zeros(out_channels)
        sd[f"{block}.skip.0.kernel"] = fir_kernel(1.0)
        sd[f"{block}.skip.1.weight"] = normal(out_channels, in_channels, 1, 1)
        in_channels = out_channels
    top = channels(4)
    sd["final_conv.0.weight"] = normal(top, in_channels + 1, 3, 3)
    sd["final_conv.1.bias"] = zeros(top)
    sd["final_linear.0.weight"] = normal(top, top * 16)
    sd["final_linear.0.bias"] = zeros(top)
    sd["final_linear.1.weight"] = normal(1, top)
    sd["final_linear.1.bias"] = zeros(1)
    return sd


def _genforce(state: StyleGAN2State, path: Path) -> None:
    generator = stylegan2_state_dict(perturbed(state), "genforce")
    smooth = stylegan2_state_dict(state, "genforce")
    _torch_save({"generator": generator, "generator_smooth": smooth}, path)


def _huggan(state: StyleGAN2State, path: Path) -> None:
    _torch_save(stylegan2_state_dict(state, "genforce"), path)


def _nvidia(state: StyleGAN2State, path: Path) -> None:
    write_training_pickle(state, path)
