"""Make pggan_fidelity/genforce.npz: genforce's own PGGANGenerator and factorization run on the fixture.

Run once, outside the test suite, with a checkout of the original SeFa release (github
genforce/sefa) on the command line; see README.md for the run that made the committed file:

    python make_references.py /path/to/sefa [--output genforce.npz]

It imports the release's ``models.PGGANGenerator`` and ``utils.factorize_weight`` from that
checkout, loads the committed fixture as the release's ``load_generator`` does
(``generator_smooth`` if present, else ``generator``) and records, for a few seeds, what the
release computes: the codes it samples, the images, its directions and edited images. Nothing
from sefa-zoo is imported, so the references do not depend on the code they check.
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
GENFORCE_FILE = HERE / "pggan-32px-genforce.pth"
HUGGAN_FILE = HERE / "pggan-32px-huggan.bin"

# The fixture generator's settings (README.md): genforce's constructor arguments for it.
RESOLUTION = 32
Z_DIM = 32
FMAPS_BASE = 256
FMAPS_MAX = 32

SEEDS = (0, 1, 2, 3)
EDIT_SEEDS = (0, 1)
EDIT_SEMANTICS = (0, 1)  # rows of the release's (unsorted) direction array, as its sefa.py indexes them
DISTANCES = (-3.0, 0.0, 3.0)


def import_release(checkout: Path):
    """The release's generator class and factorization, imported from ``checkout``.

    utils.py imports cv2 for its HTML visualiser only; when OpenCV is not installed an empty
    stand-in module takes its place, since factorize_weight does not use it.
    """
    sys.path.insert(0, str(checkout))
    if "cv2" not in sys.modules:
        try:
            import cv2  # noqa: F401
        except ImportError:
            sys.modules["cv2"] = types.ModuleType("cv2")
    from models import PGGANGenerator
    from utils import factorize_weight

    return PGGANGenerator, factorize_weight


def load_release_generator(generator_class, path: Path) -> torch.nn.Module:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if "generator_smooth" in checkpoint:
        state = checkpoint["generator_smooth"]
    elif "generator" in checkpoint:
        state = checkpoint["generator"]
    else:  # the huggan pytorch_model.bin: the state dict itself
        state = checkpoint
    generator = generator_class(RESOLUTION, z_space_dim=Z_DIM, fmaps_base=FMAPS_BASE, fmaps_max=FMAPS_MAX)
    generator.load_state_dict(state, strict=True)
    return generator.eval()


def seed_latent(seed: int) -> np.ndarray:
    return np.random.RandomState(seed).randn(1, Z_DIM).astype(np.float32)


@torch.no_grad()
def references(generator, factorize_weight) -> dict[str, np.ndarray]:
    z = np.concatenate([seed_latent(seed) for seed in SEEDS])
    # the release's sample(): a PGGAN code is z after layer0's pixel norm
    codes = generator.layer0.pixel_norm(torch.from_numpy(z)).numpy()
    images = np.concatenate([generator(torch.from_numpy(z[i:i + 1]))["image"].numpy() for i in range(len(SEEDS))])
    batch = generator(torch.from_numpy(z))["image"].numpy()
    print(f"seed by seed vs one batch: max abs difference {np.abs(images - batch).max():.3g}")

    layers, directions, eigenvalues = factorize_weight(generator, "all")
    assert list(layers) == [0]
    if np.iscomplexobj(directions) or np.iscomplexobj(eigenvalues):
        print(f"largest imaginary parts: {np.abs(np.imag(directions)).max():.3g}, "
              f"{np.abs(np.imag(eigenvalues)).max():.3g} (dropped)")
    directions, eigenvalues = np.real(directions), np.real(eigenvalues)

    # sefa.py's editing loop for a PGGAN: temp_code = code.copy(); temp_code += boundary * d
    edited_codes = np.zeros((len(EDIT_SEEDS), len(EDIT_SEMANTICS), len(DISTANCES), Z_DIM), np.float32)
    edited_images = []
    for i, seed_index in enumerate(EDIT_SEEDS):
        code = codes[seed_index:seed_index + 1]
        for j, semantic in enumerate(EDIT_SEMANTICS):
            boundary = directions[semantic:semantic + 1]
            for k, distance in enumerate(DISTANCES):
                temp_code = code.copy()
                temp_code += boundary * distance
                edited_codes[i, j, k] = temp_code[0]
                image = generator(torch.from_numpy(temp_code).float())["image"].numpy()
                edited_images.append(image[0])
    shape = (len(EDIT_SEEDS), len(EDIT_SEMANTICS), len(DISTANCES), *images.shape[1:])
    return {
        "seeds": np.array(SEEDS),
        "z": z,
        "codes": codes,
        "images": images,
        "directions": directions.astype(np.float32),
        "eigenvalues": eigenvalues.astype(np.float64),
        "edit_seeds": np.array(EDIT_SEEDS),
        "edit_semantics": np.array(EDIT_SEMANTICS),
        "distances": np.array(DISTANCES),
        "edited_codes": edited_codes,
        "edited_images": np.stack(edited_images).reshape(shape).astype(np.float32),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a checkout of github.com/genforce/sefa")
    parser.add_argument("--output", type=Path, default=HERE / "genforce.npz")
    args = parser.parse_args(argv)

    generator_class, factorize_weight = import_release(args.checkout)
    generator = load_release_generator(generator_class, GENFORCE_FILE)
    huggan = load_release_generator(generator_class, HUGGAN_FILE)
    pairs = zip(generator.state_dict().values(), huggan.state_dict().values(), strict=True)
    same = all(torch.equal(a, b) for a, b in pairs)
    print(f"the huggan file holds the .pth's generator_smooth: {same}")
    print(f"lod buffer: {float(generator.lod)}")

    arrays = references(generator, factorize_weight)
    np.savez_compressed(args.output, **arrays)
    print(f"image range: {arrays['images'].min():.3f} .. {arrays['images'].max():.3f}")
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes)")
    print(f"torch {torch.__version__}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
