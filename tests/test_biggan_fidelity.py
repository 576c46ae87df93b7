"""Fidelity of the BigGAN-deep plugin against the pytorch-pretrained-biggan package.

data/biggan_fidelity/package.npz was made by make_references.py beside it, which runs the
package's own BigGAN (eval mode) on the fixture committed there; that folder's README says
exactly how. The live comparisons in test_biggan_synthesis.py run the installed package itself.

  z (N, z_dim)                    np.random.RandomState(seed).randn(1, z_dim) per seed
  codes (T, N, z_dim)             truncation t times scipy's truncnorm(-2, 2) at z's normal quantile
  images (T, N, 3, H, W)          BigGAN(codes, one-hot classes, t) for each truncation t
  gen_z_weight                    the package's spectrally normalised gen_z weight (eval)
  conditional_weights             every conditional batch norm's scale and offset weight, stacked
  directions, eigenvalues         the SeFa paper's eigenvectors of gen_z's z columns
  edited_images (seed, direction, distance, ...)   BigGAN(code + distance * direction) at 0.4
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sefa_zoo_plugins.biggan_deep import random_biggan_state, small_config

import sefa_zoo
from sefa_zoo import get_architecture, open_checkpoint
from support.projections import torch_matrices

DATA = Path(__file__).parent / "data" / "biggan_fidelity"
TOLERANCE = 1e-3  # max abs difference, [-1, 1] pixel units


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(DATA / "package.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def generator():
    return get_architecture("biggan-deep").build_generator(open_checkpoint(DATA))


def max_difference(actual: torch.Tensor, expected: np.ndarray, what: str) -> float:
    actual_np = actual.detach().cpu().float().numpy()
    assert actual_np.shape == expected.shape, f"{what}: shape {actual_np.shape} != {expected.shape}"
    worst = float(np.abs(actual_np - expected).max())
    print(f"{what}: max abs difference {worst:.3g}")
    return worst


def test_fixture_is_the_fixture_writers_generator():
    state = random_biggan_state(small_config(num_classes=1000), seed=0)
    checkpoint = open_checkpoint(DATA)
    assert list(checkpoint) == list(state)
    assert all(torch.equal(checkpoint[name], tensor) for name, tensor in state.items())


def test_seeds_give_the_reference_latents(reference):
    z = sefa_zoo.latents_from_seeds([int(s) for s in reference["seeds"]], 8)
    np.testing.assert_array_equal(z.numpy(), reference["z"])


def test_map_gives_the_packages_truncated_noise(generator, reference):
    classes = torch.from_numpy(reference["classes"])
    for t, truncation in enumerate(reference["truncations"]):
        codes = generator.map(torch.from_numpy(reference["z"]), truncation_psi=float(truncation), classes=classes)
        assert max_difference(codes[:, 0], reference["codes"][t], f"codes at {truncation}") < 1e-6


def test_synthesis_equals_the_package(generator, reference):
    classes = torch.from_numpy(reference["classes"])
    for t, truncation in enumerate(reference["truncations"]):
        codes = torch.from_numpy(reference["codes"][t])[:, None]
        images = generator.synthesize(codes, classes=classes, truncation_psi=float(truncation))
        assert max_difference(images, reference["images"][t], f"images at {truncation}") <= TOLERANCE


def test_the_projection_is_the_packages_spectrally_normalised_z_columns(reference):
    checkpoint = open_checkpoint(DATA)
    architecture = get_architecture("biggan-deep")
    (gen_z,) = torch_matrices(architecture.projection(checkpoint, [0]))
    assert max_difference(gen_z, reference["gen_z_weight"][:, :8], "gen_z") < 1e-6
    (every,) = torch_matrices(architecture.projection(checkpoint, [0], projection="all-conditional"))
    expected = np.concatenate([reference["gen_z_weight"], reference["conditional_weights"]])[:, :8]
    assert max_difference(every, expected, "gen_z and conditional batch norms") < 1e-6


def test_factorize_gives_the_sefa_directions_of_gen_z(reference):
    bank = sefa_zoo.factorize_file(DATA)
    np.testing.assert_allclose(bank.eigenvalues, reference["eigenvalues"], rtol=1e-5)
    cosines = np.abs(np.sum(bank.directions.astype(np.float64) * reference["directions"], axis=1))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-5)


def test_edits_along_our_directions_render_as_the_package_renders_them(generator, reference):
    bank = sefa_zoo.factorize_file(DATA)
    truncation = float(reference["edit_truncation"])
    distances = torch.from_numpy(reference["distances"]).float()
    for j, index in enumerate(reference["edit_directions"]):
        release = reference["directions"][index]
        direction = torch.from_numpy(bank.directions[index] * np.sign(bank.directions[index] @ release)).float()
        for i, seed_index in enumerate(reference["edit_seeds"]):
            classes = torch.full((len(distances),), int(reference["classes"][seed_index]))
            code = generator.map(torch.from_numpy(reference["z"][seed_index:seed_index + 1]),
                                 truncation_psi=truncation, classes=classes[:1])
            edited = code + distances[:, None, None] * direction
            images = generator.synthesize(edited, classes=classes, truncation_psi=truncation)
            assert max_difference(images, reference["edited_images"][i, j], f"edit {i},{j}") <= TOLERANCE
