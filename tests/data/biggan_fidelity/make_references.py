"""Make biggan_fidelity/package.npz: the pytorch-pretrained-biggan package's BigGAN run on the fixture.

Run once, outside the test suite, with the package importable (``pip install pytorch-pretrained-biggan
scipy``), or with the folder holding its source on the command line; see README.md for the run that
made the committed file:

    python make_references.py [/path/to/folder/with/pytorch_pretrained_biggan] [--output package.npz]

It builds the package's ``BigGAN`` from the committed config.json, loads the committed
pytorch_model.bin with ``load_state_dict(strict=True)``, puts it in eval mode (spectral norms
from the stored u and v) and records what it computes: the spectrally normalised weights that
take cat(z, class embedding), images for a few seeds, classes and truncations, the SeFa
directions of gen_z's z columns and images edited along them. Nothing from sefa-zoo is
imported, so the references do not depend on the code they check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "pytorch_model.bin"
CONFIG = HERE / "config.json"

SEEDS = (0, 1, 2, 3)
CLASSES = (207, 0, 980, 207)  # golden retriever, tench, volcano, golden retriever
TRUNCATIONS = (0.4, 0.33, 1.0)  # a stored statistics row, one between two rows, the last row
EDIT_TRUNCATION = 0.4
EDIT_SEEDS = (0, 1)
EDIT_DIRECTIONS = (0, 1)
DISTANCES = (-2.0, 0.0, 2.0)
BOUND = 2.0  # the package samples z from a normal truncated to [-2, 2]


def import_package(folder: Path | None):
    if folder is not None:
        sys.path.insert(0, str(folder))
    import pytorch_pretrained_biggan as package
    from scipy import stats

    return package, stats


def load_model(package) -> torch.nn.Module:
    model = package.BigGAN(package.BigGANConfig.from_json_file(str(CONFIG)))
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    with torch.no_grad():  # at eval, a forward sets every .weight from weight_orig and the stored u, v
        model(torch.zeros(1, model.config.z_dim), torch.zeros(1, model.config.num_classes), 1.0)
    return model


def one_hot(classes, count: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(classes), count).float()


def truncated_codes(stats, z: np.ndarray, truncation: float) -> np.ndarray:
    """The package's noise for standard-normal z: the truncated normal on [-2, 2] at z's quantile,
    times the truncation (truncated_noise_sample draws the same distribution at random)."""
    return (truncation * stats.truncnorm.ppf(stats.norm.cdf(z.astype(np.float64)), -BOUND, BOUND)).astype(np.float32)


def sefa_directions(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The SeFa paper's directions: eigenvectors of AᵀA, rows of A scaled to unit norm, by
    descending eigenvalue, each row's largest component positive."""
    rows = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    values, vectors = np.linalg.eigh(rows.T @ rows)
    order = np.argsort(-values)
    directions = vectors[:, order].T
    signs = np.sign(directions[np.arange(len(directions)), np.argmax(np.abs(directions), axis=1)])
    return directions * signs[:, None], values[order]


@torch.no_grad()
def references(package, stats) -> dict[str, np.ndarray]:
    model = load_model(package)
    z_dim, count = model.config.z_dim, model.config.num_classes
    generator = model.generator
    blocks = [layer for layer in generator.layers if hasattr(layer, "bn_0")]
    conditional = [getattr(getattr(block, f"bn_{k}"), which).weight.numpy()
                   for block in blocks for k in range(4) for which in ("scale", "offset")]
    z = np.concatenate([np.random.RandomState(seed).randn(1, z_dim) for seed in SEEDS]).astype(np.float32)
    codes, images = [], []
    for truncation in TRUNCATIONS:
        code = truncated_codes(stats, z, truncation)
        codes.append(code)
        images.append(model(torch.from_numpy(code), one_hot(CLASSES, count), truncation).numpy())
    gen_z = generator.gen_z.weight.numpy()
    directions, eigenvalues = sefa_directions(gen_z[:, :z_dim].astype(np.float64))
    edited = np.zeros((len(EDIT_SEEDS), len(EDIT_DIRECTIONS), len(DISTANCES), *images[0].shape[1:]), np.float32)
    edit_codes = truncated_codes(stats, z, EDIT_TRUNCATION)
    for i, seed_index in enumerate(EDIT_SEEDS):
        for j, direction in enumerate(EDIT_DIRECTIONS):
            moved = edit_codes[seed_index] + np.array(DISTANCES)[:, None] * directions[direction]
            labels = one_hot([CLASSES[seed_index]] * len(DISTANCES), count)
            edited[i, j] = model(torch.from_numpy(moved.astype(np.float32)), labels, EDIT_TRUNCATION).numpy()
    return {
        "seeds": np.array(SEEDS), "classes": np.array(CLASSES), "truncations": np.array(TRUNCATIONS),
        "z": z, "codes": np.stack(codes), "images": np.stack(images),
        "gen_z_weight": gen_z, "conditional_weights": np.concatenate(conditional),
        "directions": directions, "eigenvalues": eigenvalues,
        "edit_truncation": np.array(EDIT_TRUNCATION), "edit_seeds": np.array(EDIT_SEEDS),
        "edit_directions": np.array(EDIT_DIRECTIONS), "distances": np.array(DISTANCES), "edited_images": edited,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_folder", nargs="?", type=Path, default=None,
                        help="folder holding pytorch_pretrained_biggan/ (default: the installed package)")
    parser.add_argument("--output", type=Path, default=HERE / "package.npz")
    args = parser.parse_args()
    package, stats = import_package(args.package_folder)
    torch.manual_seed(0)
    np.savez_compressed(args.output, **references(package, stats))
    print(f"wrote {args.output} with pytorch_pretrained_biggan from {Path(package.__file__).parent}")


if __name__ == "__main__":
    main()
