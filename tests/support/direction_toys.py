"""Banks and checkpoints for the tests of what is done with directions (projection, evaluation):
random orthonormal banks in memory, and one small checkpoint of every built-in architecture."""

from __future__ import annotations

import numpy as np
import pytest

from sefa_zoo.bank import DirectionBank

# container_fixtures case -> (architecture options, the class a conditional model draws)
ARCHITECTURES = {
    "pggan-genforce-zip": ({}, None),
    "stylegan-genforce-zip": ({}, None),
    "stylegan2-rosinality-zip": ({}, None),
    "stylegan3-t-nvidia-pickle": ({}, None),
    "biggan-deep-zip": ({}, 3),
    "dcgan-zip": ({}, None),
}
ARCHITECTURE_CASES = tuple(ARCHITECTURES)


def random_bank(*, k: int, dim: int, seed: int, model: str = "toy", layers: tuple[int, ...] = (0, 1)) -> DirectionBank:
    """``k`` seeded random orthonormal directions in ``dim`` dimensions, eigenvalues k, k-1, ..., 1."""
    gaussian = np.random.default_rng(seed).standard_normal((dim, k))
    directions = np.linalg.qr(gaussian)[0].T
    return DirectionBank(
        directions=np.ascontiguousarray(directions, dtype=np.float32),
        eigenvalues=np.arange(k, 0, -1, dtype=np.float64), model=model, architecture="toy", layout="plain",
        checkpoint_sha256="a" * 64, checkpoint_source="toy.safetensors", layer_indices=layers,
        layer_names=tuple(f"layer{i}" for i in layers), latent_space="w", eigenvalue_total=float(k * (k + 1)),
    )


@pytest.fixture(scope="session")
def architecture_fixtures(tmp_path_factory):
    """case -> (checkpoint path, options, class index) for one small checkpoint per built-in architecture."""
    from support.container_fixtures import write_container_fixtures

    paths = write_container_fixtures(tmp_path_factory.mktemp("architectures"))
    return {case: (paths[case], options, class_index) for case, (options, class_index) in ARCHITECTURES.items()}
