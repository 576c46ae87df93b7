"""Small checkpoints of every built-in architecture in every container sefa-zoo reads.

torch zip, legacy torch, safetensors, NVIDIA persistence pickle and TensorFlow pickle, in
float32, float16 and bfloat16, each written by the plugins' own fixture writers from seeded
random weights, so the same call writes the same values on any machine. The reference banks in
tests/data/reference_banks.npz were factorized from these files by the code as it was before
checkpoints were read without torch (tests/test_reference_banks.py); ``make_reference_banks``
rewrites them, which only a deliberate change of the factorization should ever need.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

REFERENCE_BANKS = Path(__file__).resolve().parents[1] / "data" / "reference_banks.npz"

# name -> (file name, the options factorize gets)
CASES: dict[str, tuple[str, dict[str, str]]] = {
    "pggan-genforce-zip": ("pggan-genforce.pth", {}),
    "pggan-huggan-zip": ("pggan-huggan.bin", {}),
    "pggan-huggan-legacy": ("pggan-legacy.bin", {}),
    "pggan-huggan-bfloat16-zip": ("pggan-bf16.bin", {}),
    "pggan-huggan-float16-legacy": ("pggan-f16-legacy.bin", {}),
    "pggan-huggan-safetensors": ("pggan.safetensors", {}),
    "stylegan-genforce-zip": ("stylegan-genforce.pth", {}),
    "stylegan-huggan-legacy": ("stylegan-legacy.bin", {}),
    "stylegan2-rosinality-zip": ("stylegan2-rosinality.pt", {}),
    "stylegan2-rosinality-snapshot-zip": ("stylegan2-snapshot.pt", {}),
    "stylegan2-rosinality-legacy": ("stylegan2-rosinality-legacy.pt", {}),
    "stylegan2-nvidia-pickle": ("stylegan2-nvidia.pkl", {}),
    "stylegan2-nvidia-tf-pickle": ("stylegan2-nvidia-tf.pkl", {}),
    "stylegan2-genforce-zip": ("stylegan2-genforce.pth", {}),
    "stylegan2-huggan-bfloat16-zip": ("stylegan2-huggan-bf16.bin", {}),
    "stylegan2-sefa-zoo-safetensors": ("stylegan2-sefa-zoo.safetensors", {}),
    "stylegan2-sefa-zoo-float16-safetensors": ("stylegan2-sefa-zoo-f16.safetensors", {}),
    "stylegan3-t-nvidia-pickle": ("stylegan3-t.pkl", {}),
    "stylegan3-r-nvidia-pickle": ("stylegan3-r.pkl", {}),
    "biggan-deep-zip": ("biggan-zip/pytorch_model.bin", {}),
    "biggan-deep-legacy-all-conditional": ("biggan-legacy/pytorch_model.bin", {"projection": "all-conditional"}),
    "dcgan-zip": ("dcgan.pth", {}),
    "dcgan-conditional-legacy": ("dcgan-conditional.pth", {"classes": "4"}),
}


def _legacy_save(obj: object, path: Path) -> None:
    torch.save(obj, path, _use_new_zipfile_serialization=False)


def _as(state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {name: t.to(dtype) if t.is_floating_point() else t for name, t in state.items()}


def _pggan(folder: Path) -> None:
    from sefa_zoo_plugins.pggan import random_pggan_state, save_pggan

    state = random_pggan_state(16, z_dim=24, channel_base=256, channel_max=32, seed=3)
    save_pggan(state, folder / "pggan-genforce.pth", "genforce")
    save_pggan(state, folder / "pggan-huggan.bin", "huggan")
    _legacy_save(state, folder / "pggan-legacy.bin")
    torch.save(_as(state, torch.bfloat16), folder / "pggan-bf16.bin")
    _legacy_save(_as(state, torch.float16), folder / "pggan-f16-legacy.bin")
    save_file({name: t.contiguous() for name, t in state.items()}, folder / "pggan.safetensors")


def _stylegan(folder: Path) -> None:
    from sefa_zoo_plugins.stylegan import random_stylegan_state, save_stylegan

    state = random_stylegan_state(16, z_dim=24, w_dim=24, mapping_layers=2, fmaps_base=256, fmaps_max=32, seed=4)
    save_stylegan(state, folder / "stylegan-genforce.pth", "genforce")
    _legacy_save(dict(state), folder / "stylegan-legacy.bin")


def _stylegan2(folder: Path) -> None:
    from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2
    from sefa_zoo_plugins.stylegan2.fixtures import stylegan2_state_dict

    state = random_stylegan2_state(16, w_dim=24, z_dim=24, channel_base=256, channel_max=32, mapping_layers=2, seed=5)
    for layout, name in (("rosinality", "stylegan2-rosinality.pt"), ("rosinality-snapshot", "stylegan2-snapshot.pt"),
                         ("nvidia", "stylegan2-nvidia.pkl"), ("nvidia-tf", "stylegan2-nvidia-tf.pkl"),
                         ("genforce", "stylegan2-genforce.pth"), ("sefa-zoo", "stylegan2-sefa-zoo.safetensors")):
        save_stylegan2(state, folder / name, layout)
    save_stylegan2(state, folder / "stylegan2-sefa-zoo-f16.safetensors", "sefa-zoo", float16=True)
    rosinality = {"g_ema": stylegan2_state_dict(state, "rosinality"), "latent_avg": state.tensors["w_avg"].clone()}
    _legacy_save(rosinality, folder / "stylegan2-rosinality-legacy.pt")
    torch.save(_as(stylegan2_state_dict(state, "genforce"), torch.bfloat16), folder / "stylegan2-huggan-bf16.bin")


def _stylegan3(folder: Path) -> None:
    from sefa_zoo_plugins.stylegan3.fixtures import random_stylegan3_state, save_stylegan3

    save_stylegan3(random_stylegan3_state("T", seed=6), folder / "stylegan3-t.pkl")
    save_stylegan3(random_stylegan3_state("R", seed=7), folder / "stylegan3-r.pkl")


def _biggan(folder: Path) -> None:
    from sefa_zoo_plugins.biggan_deep.fixtures import _as_saved, random_biggan_state, save_biggan, small_config

    config = small_config()
    state = random_biggan_state(config, seed=8)
    save_biggan(state, config, folder / "biggan-zip")
    save_biggan(state, config, folder / "biggan-legacy")
    _legacy_save(_as_saved(state), folder / "biggan-legacy" / "pytorch_model.bin")


def _dcgan(folder: Path) -> None:
    from sefa_zoo_plugins.dcgan import random_dcgan_state

    torch.save(random_dcgan_state(nz=20, ngf=8, nc=3, image_size=16, seed=9), folder / "dcgan.pth")
    conditional = random_dcgan_state(nz=20, ngf=8, nc=1, image_size=16, seed=10, num_classes=4)
    _legacy_save({"netG": conditional, "epoch": 3}, folder / "dcgan-conditional.pth")


WRITERS: tuple[Callable[[Path], None], ...] = (_pggan, _stylegan, _stylegan2, _stylegan3, _biggan, _dcgan)


def write_container_fixtures(folder: Path) -> dict[str, Path]:
    """Every case of CASES written under ``folder``: case name -> the checkpoint's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for write in WRITERS:
        write(folder)
    return {name: folder / file_name for name, (file_name, _) in CASES.items()}


def factorized(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    """Each case's bank as arrays: ``<case>/directions`` and ``<case>/eigenvalues``."""
    from sefa_zoo import factorize_file

    arrays = {}
    for name, path in paths.items():
        bank = factorize_file(path, options=CASES[name][1])
        arrays[f"{name}/directions"] = np.asarray(bank.directions)
        arrays[f"{name}/eigenvalues"] = np.asarray(bank.eigenvalues)
    return arrays


def make_reference_banks(folder: Path) -> None:
    np.savez(REFERENCE_BANKS, **factorized(write_container_fixtures(folder)))
