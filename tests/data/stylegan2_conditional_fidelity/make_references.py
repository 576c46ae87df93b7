"""Reference outputs of NVIDIA's class-conditional StyleGAN2-ADA generator, for the conditional fidelity test.

Runs NVlabs/stylegan2-ada-pytorch's ``training.networks.Generator`` on the committed pickle's
``G_ema`` (c_dim 5) and stores what its mapping and synthesis compute, for several classes, in
``nvidia.npz``. NVIDIA's code is imported from the checkout given, never copied; everything runs
on CPU in float32. README.md says how the committed file was made:

    python make_references.py PATH/TO/stylegan2-ada-pytorch

The network is built from the constructor arguments the pickle records (``G_ema``'s
``_init_kwargs``, read with sefa-zoo's own safe loader) and filled with the pickle's tensors by
``load_state_dict(strict=True)``, as for the unconditional references in ../stylegan2_fidelity.
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
FIXTURE = HERE / "stylegan2-32px-conditional-nvidia.pkl"

SEEDS = (0, 1, 2, 3)
CLASSES = (0, 2, 4, 2)  # the class of each seed; seed 0 is also drawn in every class
TRUNCATION = [("psi1", 1.0, None), ("psi07_cutoff4", 0.7, 4)]


def without_requests() -> None:
    # dnnlib/util.py imports requests, which it uses only for downloads.
    sys.modules.setdefault("requests", types.ModuleType("requests"))


def nvidia_generator(repository: Path) -> torch.nn.Module:
    without_requests()
    sys.path.insert(0, str(repository))
    from training.networks import Generator

    checkpoint = open_checkpoint(FIXTURE)
    generator = Generator(**checkpoint.objects["G_ema._init_kwargs"])
    prefix = "G_ema."
    state = {name[len(prefix):]: checkpoint[name] for name in checkpoint if name.startswith(prefix)}
    generator.load_state_dict(state, strict=True)
    return generator.eval().requires_grad_(False)


def latent(seed: int, z_dim: int) -> np.ndarray:
    return np.random.RandomState(seed).randn(1, z_dim).astype(np.float32)[0]  # generate.py's convention


def one_hot(index: int, c_dim: int) -> torch.Tensor:
    label = torch.zeros([1, c_dim])
    label[:, index] = 1  # generate.py's label for --class
    return label


def references(generator: torch.nn.Module) -> dict[str, np.ndarray]:
    z_dim, c_dim = generator.z_dim, generator.c_dim

    def mapping(z: np.ndarray, index: int, psi: float, cutoff: int | None) -> torch.Tensor:
        return generator.mapping(torch.from_numpy(z[None]), one_hot(index, c_dim), truncation_psi=psi,
                                 truncation_cutoff=cutoff)

    def synthesis(wplus: torch.Tensor) -> np.ndarray:  # one sample at a time, as generate.py runs
        return torch.cat([generator.synthesis(w[None], noise_mode="const", force_fp32=True) for w in wplus]).numpy()

    out: dict[str, np.ndarray] = {"seeds": np.array(SEEDS), "classes": np.array(CLASSES)}
    out["z"] = np.stack([latent(seed, z_dim) for seed in SEEDS])
    for name, psi, cutoff in TRUNCATION:
        wplus = torch.cat([mapping(row, index, psi, cutoff) for row, index in zip(out["z"], CLASSES, strict=True)])
        out[f"wplus_{name}"], out[f"image_{name}"] = wplus.numpy(), synthesis(wplus)
    every_class = torch.cat([mapping(out["z"][0], index, 1.0, None) for index in range(c_dim)])
    out["wplus_seed0_every_class"] = every_class.numpy()
    out["image_seed0_every_class"] = synthesis(every_class)
    return out


def report(generator: torch.nn.Module, out: dict[str, np.ndarray]) -> None:
    """The check README.md reports: the whole G(z, c) call on every seed as one batch vs seed by seed."""
    labels = torch.cat([one_hot(index, generator.c_dim) for index in CLASSES])
    whole = generator(torch.from_numpy(out["z"]), labels, truncation_psi=1.0, noise_mode="const", force_fp32=True)
    print(f"G(z, c) as one batch vs seed by seed, psi 1: {np.abs(whole.numpy() - out['image_psi1']).max():.2g}")
    spread = np.abs(out["image_seed0_every_class"] - out["image_seed0_every_class"][:1]).max()
    print(f"seed 0 across the classes: images differ by up to {spread:.2g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stylegan2_ada_pytorch", type=Path, help="a checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--output-dir", type=Path, default=HERE)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    generator = nvidia_generator(args.stylegan2_ada_pytorch.resolve())
    out = references(generator)
    np.savez_compressed(args.output_dir / "nvidia.npz", **out)
    report(generator, out)


if __name__ == "__main__":
    main()
