"""Fidelity of the PGGAN plugin against what the original SeFa release computes.

data/pggan_fidelity/genforce.npz was made by make_references.py beside it, which runs the
release's own PGGANGenerator and factorize_weight (github genforce/sefa) on the fixture
checkpoints committed there; that folder's README says exactly how.

  z (N, z_dim)                 np.random.RandomState(seed).randn(1, z_dim) per seed
  codes                        the release's sampled codes: z after layer0's pixel norm
  images                       generator(z)['image'], one seed at a time, lod 0
  directions, eigenvalues      utils.factorize_weight(generator): rows, in np.linalg.eig's order
  edited_codes, edited_images  (seed, semantic, distance): code + distance * directions[semantic]
                               and the image the release renders from it
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import sefa_zoo
from sefa_zoo import get_architecture, open_checkpoint
from sefa_zoo_plugins.pggan import random_pggan_state

DATA = Path(__file__).parent / "data" / "pggan_fidelity"
CHECKPOINTS = {"genforce": "pggan-32px-genforce.pth", "huggan": "pggan-32px-huggan.bin"}
TOLERANCE = 1e-3  # max abs difference, [-1, 1] pixel units (as for StyleGAN2)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(DATA / "genforce.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module", params=list(CHECKPOINTS))
def generator(request):
    return get_architecture("pggan").build_generator(open_checkpoint(DATA / CHECKPOINTS[request.param]))


def max_difference(actual: torch.Tensor, expected: np.ndarray, what: str) -> float:
    actual_np = actual.detach().cpu().float().numpy()
    assert actual_np.shape == expected.shape, f"{what}: shape {actual_np.shape} != {expected.shape}"
    worst = float(np.abs(actual_np - expected).max())
    print(f"{what}: max abs difference {worst:.3g}")
    return worst


def test_fixture_is_the_fixture_writers_generator():
    state = random_pggan_state(32, z_dim=32, channel_base=256, channel_max=32, seed=0)
    for filename, prefix in ((CHECKPOINTS["genforce"], "generator_smooth."), (CHECKPOINTS["huggan"], "")):
        checkpoint = open_checkpoint(DATA / filename)
        assert all(torch.equal(checkpoint[prefix + name], tensor) for name, tensor in state.items()), filename


def test_seeds_give_the_release_latents(reference):
    z = sefa_zoo.latents_from_seeds([int(s) for s in reference["seeds"]], 32)
    np.testing.assert_array_equal(z.numpy(), reference["z"])


def test_map_is_the_releases_pixel_normalised_code(generator, reference):
    codes = generator.map(torch.from_numpy(reference["z"]))
    assert codes.shape == (len(reference["z"]), 1, 32)
    assert max_difference(codes[:, 0], reference["codes"], "codes") < 1e-6


def test_synthesis_equals_the_release(generator, reference):
    images = generator.synthesize(generator.map(torch.from_numpy(reference["z"])))
    assert max_difference(images, reference["images"], "images") <= TOLERANCE


def test_edited_codes_render_as_the_release_renders_them(generator, reference):
    codes = torch.from_numpy(reference["edited_codes"]).reshape(-1, 1, 32)
    images = generator.synthesize(codes)
    expected = reference["edited_images"].reshape(-1, *reference["edited_images"].shape[3:])
    assert max_difference(images, expected, "edited images") <= TOLERANCE


@pytest.mark.parametrize("layout", list(CHECKPOINTS))
def test_factorize_file_gives_the_release_directions(reference, layout):
    bank = sefa_zoo.factorize_file(DATA / CHECKPOINTS[layout])
    order = np.argsort(-reference["eigenvalues"])  # the release leaves np.linalg.eig's order
    np.testing.assert_allclose(bank.eigenvalues, reference["eigenvalues"][order], rtol=1e-5)
    cosines = np.abs(np.sum(bank.directions.astype(np.float64) * reference["directions"][order], axis=1))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-5)


def test_editing_with_our_bank_renders_the_release_edits(generator, reference):
    bank = sefa_zoo.factorize_file(DATA / CHECKPOINTS["genforce"])
    for j, semantic in enumerate(reference["edit_semantics"]):
        release = reference["directions"][semantic]
        ours = bank.directions[np.argmax(np.abs(bank.directions @ release))]
        direction = torch.from_numpy(ours * np.sign(ours @ release)).float()
        for i, seed_index in enumerate(reference["edit_seeds"]):
            code = generator.map(torch.from_numpy(reference["z"][seed_index:seed_index + 1]))
            distances = torch.from_numpy(reference["distances"]).float()
            edited = code + distances[:, None, None] * direction
            images = generator.synthesize(edited)
            assert max_difference(images, reference["edited_images"][i, j], f"edit {i},{j}") <= TOLERANCE
