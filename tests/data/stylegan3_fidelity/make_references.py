"""Reference outputs of NVIDIA's StyleGAN3 code, for the stylegan3 fidelity test.

Runs NVlabs/stylegan3's ``training.networks_stylegan3.Generator`` on the committed config T and
config R pickles' ``G_ema`` and stores what it computes in ``nvidia-t.npz`` and ``nvidia-r.npz``,
with the low-pass filters NVIDIA's constructor designs (scipy) for the same settings. The
original is imported from the checkout given, never copied; everything runs on CPU in float32,
through its reference (non-CUDA) ops. README.md says how the committed files were made:

    python make_references.py PATH/TO/stylegan3

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
FIXTURES = {"t": HERE / "stylegan3-t-32px-nvidia.pkl", "r": HERE / "stylegan3-r-32px-nvidia.pkl"}
SEEDS = (0, 1)
MIXED_SEED_BASE = 1000  # W+ index i of sample n: the psi-1 mapping of z from seed 1000 + 100·n + i
TRUNCATION = [("psi1", 1.0, None), ("psi07_cutoff8", 0.7, 8)]


def without_requests() -> None:
    # dnnlib/util.py imports requests, which it uses only for downloads.
    sys.modules.setdefault("requests", types.ModuleType("requests"))


def nvidia_generator(repository: Path, fixture: Path) -> tuple[torch.nn.Module, dict[str, np.ndarray]]:
    """NVIDIA's generator holding the fixture's weights, and the filters its constructor designed."""
    without_requests()
    if str(repository) not in sys.path:
        sys.path.insert(0, str(repository))
    from training.networks_stylegan3 import Generator, SynthesisLayer

    checkpoint = open_checkpoint(fixture)
    generator = Generator(**checkpoint.objects["G_ema._init_kwargs"])
    designed = {}
    for name, layer in generator.synthesis.named_children():
        if isinstance(layer, SynthesisLayer):
            for kind in ("up_filter", "down_filter"):
                taps = getattr(layer, kind)
                if taps is not None:
                    designed[f"{kind}_{name}"] = taps.numpy().copy()
    prefix = "G_ema."
    state = {name[len(prefix):]: checkpoint[name] for name in checkpoint if name.startswith(prefix)}
    generator.load_state_dict(state, strict=True)
    return generator.eval().requires_grad_(False), designed


def latent(seed: int, z_dim: int) -> np.ndarray:
    return np.random.RandomState(seed).randn(1, z_dim).astype(np.float32)[0]  # gen_images.py's convention


def references(generator: torch.nn.Module) -> dict[str, np.ndarray]:
    z_dim, num_ws = generator.z_dim, generator.num_ws

    def mapping(z: np.ndarray, psi: float, cutoff: int | None) -> torch.Tensor:
        return generator.mapping(torch.from_numpy(z), None, truncation_psi=psi, truncation_cutoff=cutoff)

    def synthesis(wplus: torch.Tensor) -> np.ndarray:  # one sample at a time, as gen_images.py runs
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


def report(generator: torch.nn.Module, out: dict[str, np.ndarray], designed: dict[str, np.ndarray],
           stored: dict[str, np.ndarray]) -> None:
    """The checks README.md reports: batched vs seed by seed, NVIDIA's filters vs the fixture's."""
    z = torch.from_numpy(out["z"])
    for name, psi, cutoff in TRUNCATION:
        whole = generator(z, None, truncation_psi=psi, truncation_cutoff=cutoff, force_fp32=True).numpy()
        print(f"  G(z) on both seeds as one batch vs seed by seed, {name}: "
              f"max abs difference {float(np.abs(whole - out[f'image_{name}']).max()):.2g}")
    worst = max(float(np.abs(designed[key] - stored[key]).max()) for key in designed)
    print(f"  {len(designed)} filters designed by NVIDIA's constructor vs the fixture's: "
          f"max abs difference {worst:.2g}")
    print(f"  largest image value {float(np.abs(out['image_mixed']).max()):.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stylegan3", type=Path, help="a checkout of NVlabs/stylegan3")
    parser.add_argument("--output-dir", type=Path, default=HERE, help="where nvidia-t.npz and nvidia-r.npz go")
    args = parser.parse_args()
    for config, fixture in FIXTURES.items():
        with torch.no_grad():
            generator, designed = nvidia_generator(args.stylegan3, fixture)
            out = references(generator)
            stored = {
                f"{kind}_{name}": getattr(layer, kind).numpy()
                for name, layer in generator.synthesis.named_children()
                for kind in ("up_filter", "down_filter")
                if getattr(layer, kind, None) is not None
            }
            print(f"config {config.upper()}:")
            report(generator, out, designed, stored)
        arrays = {**out, **{f"designed_{key}": value for key, value in designed.items()}}
        name = f"nvidia-{config}.npz"
        np.savez(args.output_dir / name, **arrays)
        for key, value in arrays.items():
            print(f"{name:13s} {key:40s} {value.shape} {value.dtype}")


if __name__ == "__main__":
    main()
