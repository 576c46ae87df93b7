"""Make the StyleGAN (v1) fidelity references by running genforce's own StyleGANGenerator.

Usage (see README.md beside this file for the run that made the committed files):

    python tests/data/stylegan_fidelity/make_references.py /path/to/genforce-sefa-checkout [--write-fixture]

``--write-fixture`` first writes the fixture checkpoint with the project's fixture writer;
without it the committed fixture is used. The original's generator is imported from the
checkout given (its ``models`` package), built with the fixture's settings, loaded with the
fixture's ``generator_smooth`` exactly as the original release's ``load_generator`` does
(``load_state_dict``, strict), and run on CPU in float32. Nothing of the original's code is
copied here; it is only imported from the checkout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "stylegan-128px-genforce.pth"
REFERENCES = HERE / "genforce.npz"

# The fixture generator: 128 px so that the 128x128 layer uses genforce's fused up-scaling.
RESOLUTION = 128
Z_DIM = W_DIM = 32
MAPPING_LAYERS = 8
FMAPS_BASE, FMAPS_MAX = 512, 16
FIXTURE_SEED = 0
NUM_LAYERS = 12

SEEDS = (0, 1)
MIXED_SEED_BASE = 1000  # W+ entry i of the mixed code: the psi-1 mapping of z from seed 1000 + i
PSI, CUTOFF = 0.7, 8


def write_fixture() -> None:
    from sefa_zoo_plugins.stylegan import random_stylegan_state, save_stylegan

    state = random_stylegan_state(
        RESOLUTION, z_dim=Z_DIM, w_dim=W_DIM, mapping_layers=MAPPING_LAYERS, fmaps_base=FMAPS_BASE,
        fmaps_max=FMAPS_MAX, seed=FIXTURE_SEED,
    )
    save_stylegan(state, FIXTURE, "genforce")


def latent(seed: int) -> np.ndarray:
    return np.random.RandomState(seed).randn(1, Z_DIM).astype(np.float32)


def build_original(checkout: Path) -> torch.nn.Module:
    sys.path.insert(0, str(checkout))
    from models.stylegan_generator import StyleGANGenerator  # the original's module, from the checkout

    generator = StyleGANGenerator(
        RESOLUTION, z_space_dim=Z_DIM, w_space_dim=W_DIM, mapping_layers=MAPPING_LAYERS, mapping_fmaps=W_DIM,
        fmaps_base=FMAPS_BASE, fmaps_max=FMAPS_MAX,
    )
    checkpoint = torch.load(FIXTURE, map_location="cpu", weights_only=True)
    generator.load_state_dict(checkpoint["generator_smooth"], strict=True)
    return generator.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a checkout of github.com/genforce/sefa")
    parser.add_argument("--write-fixture", action="store_true", help="write the fixture checkpoint first")
    args = parser.parse_args()
    if args.write_fixture:
        write_fixture()
    generator = build_original(args.checkout)
    assert generator.num_layers == NUM_LAYERS

    out: dict[str, np.ndarray] = {"seeds": np.array(SEEDS)}
    with torch.no_grad():
        z = np.concatenate([latent(seed) for seed in SEEDS])
        out["z"] = z
        w = generator.mapping(torch.from_numpy(z))["w"]
        for case, psi, cutoff in (("psi1", None, None), ("psi07_cutoff8", PSI, CUTOFF)):
            # one sample at a time, as the release's sefa.py renders
            wplus = generator.truncation(w, trunc_psi=psi, trunc_layers=cutoff)
            images = [generator.synthesis(code[None], randomize_noise=False)["image"] for code in wplus]
            out[f"wplus_{case}"] = wplus.numpy()
            out[f"image_{case}"] = torch.cat(images).numpy()
        whole = generator(torch.from_numpy(z), trunc_psi=PSI, trunc_layers=CUTOFF, randomize_noise=False)["image"]
        print("whole forward vs per-sample synthesis, psi 0.7 cutoff 8: max abs difference",
              float(np.abs(whole.numpy() - out["image_psi07_cutoff8"]).max()))

        mixed_seeds = np.array([[MIXED_SEED_BASE + i for i in range(NUM_LAYERS)]])
        z_mixed = np.stack([np.concatenate([latent(int(s)) for s in row]) for row in mixed_seeds])
        mapped = generator.mapping(torch.from_numpy(z_mixed.reshape(-1, Z_DIM)))["w"]
        wplus_mixed = mapped.reshape(len(mixed_seeds), NUM_LAYERS, W_DIM)
        out["mixed_seeds"] = mixed_seeds
        out["z_mixed"] = z_mixed
        out["wplus_mixed"] = wplus_mixed.numpy()
        out["image_mixed"] = generator.synthesis(wplus_mixed, randomize_noise=False)["image"].numpy()
    np.savez(REFERENCES, **out)
    for key, value in out.items():
        print(f"{key}: {value.shape} {value.dtype}")


if __name__ == "__main__":
    main()
