"""Reference outputs of NVIDIA's and rosinality's StyleGAN2 code, for the stylegan2 fidelity test.

Runs NVlabs/stylegan2-ada-pytorch's ``training.networks.Generator`` on the committed pickle's
``G_ema`` and rosinality/stylegan2-pytorch's ``model.Generator`` on the committed ``.pt``'s
``g_ema``, and stores what they compute in ``nvidia.npz`` and ``rosinality.npz``. Both originals
are imported from the checkouts given, never copied; everything runs on CPU in float32. README.md
says how the committed files were made:

    python make_references.py PATH/TO/stylegan2-ada-pytorch PATH/TO/stylegan2-pytorch

NVIDIA's network is built from the constructor arguments the pickle records (``G_ema``'s
``_init_kwargs``, read with sefa-zoo's own safe loader: the project's pickle writer stores a
placeholder for NVIDIA's module source, so ``legacy.load_network_pkl`` cannot rebuild it) and
filled with the pickle's tensors by ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import numpy as np
import torch

from sefa_zoo import open_checkpoint

HERE = Path(__file__).resolve().parent
NVIDIA_FIXTURE = HERE / "stylegan2-64px-nvidia.pkl"
ROSINALITY_FIXTURE = HERE / "stylegan2-64px-rosinality.pt"

# The fixture generator (README.md): rosinality's constructor arguments and channel table for it.
RESOLUTION = 64
STYLE_DIM = 64
MAPPING_LAYERS = 4
CHANNEL_BASE, CHANNEL_MAX = 256, 32
FIXTURE_CHANNELS = {2**i: min(CHANNEL_BASE // 2**i, CHANNEL_MAX) for i in range(2, 7)}

SEEDS = (0, 1)
MIXED_SEED_BASE = 1000  # W+ index i of sample n: the psi-1 mapping of z from seed 1000 + 100·n + i
TRUNCATION = [("psi1", 1.0, None), ("psi07_cutoff8", 0.7, 8)]
ROSINALITY_PSI = 0.7


def without_requests() -> None:
    # dnnlib/util.py imports requests, which it uses only for downloads.
    sys.modules.setdefault("requests", types.ModuleType("requests"))


def without_cuda_extensions() -> None:
    """rosinality's op/ compiles its CUDA kernels at import; on CPU its code never calls them."""

    class Unbuilt:
        def __init__(self, name: str) -> None:
            self.name = name

        def __getattr__(self, attribute: str):
            raise RuntimeError(f"the CUDA extension {self.name!r} was not built; {attribute} is unavailable")

    import torch.utils.cpp_extension

    torch.utils.cpp_extension.load = lambda name, *args, **kwargs: Unbuilt(name)


def nvidia_generator(repository: Path, fixture: Path) -> torch.nn.Module:
    without_requests()
    sys.path.insert(0, str(repository))
    from training.networks import Generator

    checkpoint = open_checkpoint(fixture)
    generator = Generator(**checkpoint.objects["G_ema._init_kwargs"])
    prefix = "G_ema."
    state = {name[len(prefix):]: checkpoint[name] for name in checkpoint if name.startswith(prefix)}
    generator.load_state_dict(state, strict=True)
    return generator.eval().requires_grad_(False)


def rosinality_generator(repository: Path, fixture: Path) -> tuple[torch.nn.Module, torch.Tensor]:
    """Its ``Generator``, the fixture's channel table swapped in, and the file's ``latent_avg``."""
    without_cuda_extensions()
    sys.path.insert(0, str(repository))
    from model import Generator

    class FixtureGenerator(Generator):
        # The constructor fixes its channel table (512 up to 32 px); take the fixture's instead.
        def __setattr__(self, name, value):
            super().__setattr__(name, dict(FIXTURE_CHANNELS) if name == "channels" else value)

    generator = FixtureGenerator(RESOLUTION, STYLE_DIM, MAPPING_LAYERS, channel_multiplier=2)
    checkpoint = torch.load(fixture, map_location="cpu", weights_only=True)
    generator.load_state_dict(checkpoint["g_ema"], strict=True)
    return generator.eval().requires_grad_(False), checkpoint["latent_avg"]


def latent(seed: int, z_dim: int) -> np.ndarray:
    return np.random.RandomState(seed).randn(1, z_dim).astype(np.float32)[0]  # generate.py's convention


def nvidia_references(generator: torch.nn.Module) -> dict[str, np.ndarray]:
    z_dim, num_ws = generator.z_dim, generator.num_ws

    def mapping(z: np.ndarray, psi: float, cutoff: int | None) -> torch.Tensor:
        return generator.mapping(torch.from_numpy(z), None, truncation_psi=psi, truncation_cutoff=cutoff)

    def synthesis(wplus: torch.Tensor) -> np.ndarray:  # one sample at a time, as generate.py runs
        return torch.cat([generator.synthesis(w[None], noise_mode="const", force_fp32=True) for w in wplus]).numpy()

    out: dict[str, np.ndarray] = {"seeds": np.array(SEEDS)}
    out["z"] = np.stack([latent(seed, z_dim) for seed in SEEDS])
    for name, psi, cutoff in TRUNCATION:
        wplus = torch.cat([mapping(row[None], psi, cutoff) for row in out["z"]])
        out[f"wplus_{name}"], out[f"image_{name}"] = wplus.numpy(), synthesis(wplus)
    out["mixed_seeds"] = np.array([[MIXED_SEED_BASE + 100 * n + i for i in range(num_ws)] for n in range(len(SEEDS))])
    out["z_mixed"] = np.stack([[latent(int(seed), z_dim) for seed in row] for row in out["mixed_seeds"]])
    wplus = torch.stack([mapping(codes, 1.0, None)[:, 0] for codes in out["z_mixed"]])  # a sample's codes: one batch
    out["wplus_mixed"], out["image_mixed"] = wplus.numpy(), synthesis(wplus)
    return out


def rosinality_references(generator: torch.nn.Module, latent_avg: torch.Tensor,
                          nvidia: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {"seeds": nvidia["seeds"], "z": nvidia["z"]}
    z = [torch.from_numpy(row[None]) for row in nvidia["z"]]
    out["w_psi1"] = generator.get_latent(torch.from_numpy(nvidia["z"])).numpy()  # both seeds as one batch
    mixed = [generator([torch.from_numpy(w[None])], input_is_latent=True, randomize_noise=False)[0]
             for w in nvidia["wplus_mixed"]]
    out["image_mixed"] = torch.cat(mixed).numpy()
    # Its own z -> image path; its truncation applies to every W+ index.
    whole = [generator([row], truncation=ROSINALITY_PSI, truncation_latent=latent_avg, randomize_noise=False,
                       return_latents=True) for row in z]
    out["wplus_psi07_all"] = torch.cat([wplus for _, wplus in whole]).numpy()
    out["image_psi07_all"] = torch.cat([image for image, _ in whole]).numpy()
    return out


def report_agreement(nvidia_net: torch.nn.Module, rosinality_net: torch.nn.Module, nvidia: dict[str, np.ndarray],
                     rosinality: dict[str, np.ndarray]) -> None:
    """The checks README.md reports: the two originals against each other, NVIDIA batched vs seed by seed."""
    z = torch.from_numpy(nvidia["z"])

    def nvidia_whole(psi: float, cutoff: int | None) -> np.ndarray:
        return nvidia_net(z, None, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const",
                          force_fp32=True).numpy()

    def rosinality_synthesis(wplus: np.ndarray) -> np.ndarray:  # one sample at a time, as for rosinality.npz
        return np.concatenate([rosinality_net([torch.from_numpy(w[None])], input_is_latent=True,
                                              randomize_noise=False)[0].numpy() for w in wplus])

    rows = [(f"NVIDIA's G(z) on both seeds as one batch vs seed by seed, {name}", nvidia_whole(psi, cutoff),
             nvidia[f"image_{name}"]) for name, psi, cutoff in TRUNCATION]
    rows += [
        ("w from z, psi 1", rosinality["w_psi1"], nvidia["wplus_psi1"][:, 0]),
        ("image from NVIDIA's psi-1 W+", rosinality_synthesis(nvidia["wplus_psi1"]), nvidia["image_psi1"]),
        ("image from NVIDIA's mixed W+", rosinality["image_mixed"], nvidia["image_mixed"]),
        ("psi 0.7 on all indices: rosinality's own path vs NVIDIA's G(z, truncation_cutoff=None)",
         rosinality["image_psi07_all"], nvidia_whole(ROSINALITY_PSI, None)),
    ]
    for what, actual, expected in rows:
        print(f"{what}: max abs difference {float(np.abs(actual - expected).max()):.2g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nvidia", type=Path, help="a checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("rosinality", type=Path, help="a checkout of rosinality/stylegan2-pytorch")
    parser.add_argument("--output-dir", type=Path, default=HERE, help="where nvidia.npz and rosinality.npz go")
    args = parser.parse_args()
    with torch.no_grad():
        nvidia_net = nvidia_generator(args.nvidia, NVIDIA_FIXTURE)
        nvidia = nvidia_references(nvidia_net)
        rosinality_net, latent_avg = rosinality_generator(args.rosinality, ROSINALITY_FIXTURE)
        rosinality = rosinality_references(rosinality_net, latent_avg, nvidia)
        report_agreement(nvidia_net, rosinality_net, nvidia, rosinality)
    for name, arrays in (("nvidia.npz", nvidia), ("rosinality.npz", rosinality)):
        np.savez(args.output_dir / name, **arrays)
        for key, value in arrays.items():
            print(f"{name:15s} {key:20s} {value.shape} {value.dtype}")


if __name__ == "__main__":
    main()
