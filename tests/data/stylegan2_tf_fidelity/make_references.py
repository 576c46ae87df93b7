"""Reference outputs of NVIDIA's TensorFlow-pickle converter and generator, for the nvidia-tf fidelity test.

Runs stylegan2-ada-pytorch's ``legacy.load_network_pkl`` (its own unpickler stubs
``dnnlib.tflib.network.Network``, then ``convert_tf_generator`` builds NVIDIA's PyTorch
``Generator`` from Gs) on the committed TensorFlow fixture, and stores what that generator
computes in ``nvidia_tf.npz`` under the same keys and settings as ../stylegan2_fidelity/nvidia.npz.
No TensorFlow is needed. README.md says how it was run.

    python make_references.py PATH/TO/stylegan2-ada-pytorch
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "stylegan2-64px-nvidia-tf.pkl"
OUTPUT = HERE / "nvidia_tf.npz"
SEEDS = (0, 1)
TRUNCATION = [("psi1", 1.0, None), ("psi07_cutoff8", 0.7, 8)]


def nvidia_generator(repository: Path, fixture: Path) -> torch.nn.Module:
    # dnnlib/util.py imports requests, which it uses only for downloads.
    sys.modules.setdefault("requests", types.ModuleType("requests"))
    sys.path.insert(0, str(repository))
    import legacy

    with open(fixture, "rb") as f:
        networks = legacy.load_network_pkl(f)
    return networks["G_ema"].eval().requires_grad_(False)


def latent(seed: int, z_dim: int) -> np.ndarray:
    return np.random.RandomState(seed).randn(z_dim).astype(np.float32)  # generate.py's convention


def references(generator: torch.nn.Module) -> dict[str, np.ndarray]:
    z_dim, num_ws = generator.z_dim, generator.num_ws

    def mapping(z: np.ndarray, psi: float, cutoff: int | None) -> torch.Tensor:
        rows = [generator.mapping(torch.from_numpy(row[None]), None, truncation_psi=psi, truncation_cutoff=cutoff)
                for row in z]
        return torch.cat(rows)

    def synthesis(wplus: torch.Tensor) -> np.ndarray:  # one sample at a time, as generate.py runs
        return torch.cat([generator.synthesis(w[None], noise_mode="const", force_fp32=True) for w in wplus]).numpy()

    out: dict[str, np.ndarray] = {"seeds": np.array(SEEDS)}
    out["z"] = np.stack([latent(seed, z_dim) for seed in SEEDS])
    for name, psi, cutoff in TRUNCATION:
        wplus = mapping(out["z"], psi, cutoff)
        out[f"wplus_{name}"], out[f"image_{name}"] = wplus.numpy(), synthesis(wplus)
    out["mixed_seeds"] = np.array([[1000 + 100 * n + i for i in range(num_ws)] for n in range(len(SEEDS))])
    out["z_mixed"] = np.stack([[latent(int(seed), z_dim) for seed in row] for row in out["mixed_seeds"]])
    wplus = torch.stack([mapping(codes, 1.0, None)[:, 0] for codes in out["z_mixed"]])
    out["wplus_mixed"], out["image_mixed"] = wplus.numpy(), synthesis(wplus)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repository", type=Path, help="a checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    with torch.no_grad():
        arrays = references(nvidia_generator(args.repository, args.fixture))
    np.savez(args.output, **arrays)
    for key, value in arrays.items():
        print(f"{key:24s} {value.shape} {value.dtype}")


if __name__ == "__main__":
    main()
