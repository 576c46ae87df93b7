"""Editing with InterFaceGAN boundaries: moving to a signed distance (to_distance), W+ banks
moving each layer by its own slice, per-layer banks, z banks of style models moving z before
the mapping; through the API, the combined edits and `edit --to-distance`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sefa_zoo import SefaZooError, codes_from_seeds, factorize_file, latents_from_seeds, render_edits, save_bank
from sefa_zoo.boundary import Boundary, ModelFacts, boundary_bank, find_boundary
from sefa_zoo.cli.edit import edit
from sefa_zoo.editing import (
    edited_codes, edited_latents, map_latents, plan_combined, plan_edits, render_combined, truncate,
)
from sefa_zoo.scoring import get_scorer, score_images

from support.editing_toys import (  # noqa: F401  (fixtures)
    NAME, NUM_LAYERS, W_DIM, Z_DIM, FakeWPlusGenerator, command_runner, fake_tensors, fake_wplus,
)

run = command_runner(edit=edit)


@pytest.fixture
def generator():
    return FakeWPlusGenerator(fake_tensors())


def unit(seed: int, dim: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim)
    return vector / np.linalg.norm(vector)


def boundary_of(generator, space: str, normals: list[np.ndarray], offsets: list[float]):
    """A boundary bank of ``generator`` in ``space`` with the given normals (per layer when several)."""
    facts = ModelFacts(generator, NAME, "plain", tuple(f"style{i}" for i in range(NUM_LAYERS)),
                       {"model": "fake", "checkpoint_sha256": "", "checkpoint_source": "fake.safetensors"})
    fitted = [Boundary(n, b, 1.0, 1.0, 1, 1, 0, True) for n, b in zip(normals, offsets)]
    return boundary_bank(facts, space, fitted, attribute="test", info={})


def signed(bank, index: int, points: torch.Tensor) -> np.ndarray:
    return points.double().numpy() @ bank.directions[index].astype(np.float64) + bank.offsets[index]


# ---------------------------------------------------------------- w boundaries


def test_to_distance_puts_every_edited_layer_at_that_distance(generator):
    bank = boundary_of(generator, "w", [unit(0, W_DIM)], [0.4])
    codes = codes_from_seeds(generator, [1, 2, 3], truncation_psi=0.7)
    moved = edited_codes(codes, bank, {0: -1.5}, layers=[0, 2], to_distance=True)
    for layer in (0, 2):
        np.testing.assert_allclose(signed(bank, 0, moved[:, layer]), -1.5, atol=1e-5)
    torch.testing.assert_close(moved[:, [1, 3]], codes[:, [1, 3]])
    again = edited_codes(moved, bank, {0: -1.5}, layers=[0, 2], to_distance=True)
    torch.testing.assert_close(again, moved)  # already there: nothing moves


def test_to_distance_is_interfacegans_formula(generator):
    normal, offset = unit(1, W_DIM), -0.2
    bank = boundary_of(generator, "w", [normal], [offset])
    codes = codes_from_seeds(generator, [5], truncation_psi=1.0)
    moved = edited_codes(codes, bank, {0: 2.0}, to_distance=True)
    x = codes[0, 0].double().numpy()
    n = bank.directions[0].astype(np.float64)
    expected = x + (2.0 - (x @ n + offset)) / (n @ n) * n
    np.testing.assert_allclose(moved[0, 0].double().numpy(), expected, atol=1e-5)


def test_adding_a_distance_still_adds(generator):
    bank = boundary_of(generator, "w", [unit(2, W_DIM)], [3.0])
    codes = codes_from_seeds(generator, [1], truncation_psi=1.0)
    moved = edited_codes(codes, bank, {0: 0.5})
    np.testing.assert_allclose(signed(bank, 0, moved[:, 0]) - signed(bank, 0, codes[:, 0]), 0.5, atol=1e-5)


def test_rendered_images_come_from_codes_at_the_target_distances(generator):
    bank = boundary_of(generator, "w", [unit(3, W_DIM)], [0.1])
    render_edits(generator, bank, [0], [-2.0, 0.0, 2.0], [4, 9], truncation_psi=1.0, to_distance=True)
    given = torch.cat(generator.synthesized)
    distances = signed(bank, 0, given[:, 0]).reshape(2, 3)  # (seed, distance)
    np.testing.assert_allclose(distances, [[-2.0, 0.0, 2.0]] * 2, atol=1e-5)


def test_a_combined_edit_moves_to_each_distance(generator):
    normals = [unit(4, W_DIM)]
    bank = boundary_of(generator, "w", normals, [0.0])
    edit = plan_combined(generator, bank, {0: 1.25}, [0, 1], truncation_psi=1.0, to_distance=True)
    original, edited = render_combined(generator, bank, edit)
    moved = generator.synthesized[-1]
    np.testing.assert_allclose(signed(bank, 0, moved[:, 0]), 1.25, atol=1e-5)
    assert not torch.equal(original, edited)


def test_to_distance_needs_a_bank_with_boundaries(generator, fake_wplus):
    sefa = factorize_file(fake_wplus)
    with pytest.raises(SefaZooError, match=r"moving to a distance from a boundary needs a bank with boundary "
                                           r"offsets \(InterFaceGAN's\); the sefa bank of 'fake_wplus.safetensors'"):
        plan_edits(generator, sefa, [0], [1.0], [0], to_distance=True)
    with pytest.raises(SefaZooError, match=r"needs a bank with boundary offsets"):
        edited_codes(codes_from_seeds(generator, [0]), sefa, {0: 1.0}, to_distance=True)


# ---------------------------------------------------------------- W+ boundaries


def test_a_wp_bank_moves_each_layer_by_its_own_slice(generator):
    normal = unit(5, NUM_LAYERS * W_DIM)
    bank = boundary_of(generator, "wp", [normal], [0.0])
    codes = codes_from_seeds(generator, [2], truncation_psi=0.7)
    moved = edited_codes(codes, bank, {0: 3.0})
    expected = codes + 3.0 * torch.from_numpy(normal.reshape(NUM_LAYERS, W_DIM)).float()
    torch.testing.assert_close(moved, expected)
    only = edited_codes(codes, bank, {0: 3.0}, layers=[1])
    torch.testing.assert_close(only[:, [0, 2, 3]], codes[:, [0, 2, 3]])
    torch.testing.assert_close(only[:, 1], expected[:, 1])


def test_a_wp_bank_moves_to_a_distance_over_the_flattened_codes(generator):
    bank = boundary_of(generator, "wp", [unit(6, NUM_LAYERS * W_DIM)], [0.3])
    codes = codes_from_seeds(generator, [2, 7], truncation_psi=0.7)
    for layers in (None, [2, 3]):
        moved = edited_codes(codes, bank, {0: -0.75}, layers=layers, to_distance=True)
        np.testing.assert_allclose(signed(bank, 0, moved.reshape(2, -1)), -0.75, atol=1e-5)
    torch.testing.assert_close(moved[:, [0, 1]], codes[:, [0, 1]])


def test_a_per_layer_bank_edits_one_layer_per_direction(generator):
    normals = [unit(10 + i, W_DIM) for i in range(NUM_LAYERS)]
    bank = boundary_of(generator, "wp", normals, [0.1 * i for i in range(NUM_LAYERS)])
    assert bank.k == NUM_LAYERS and bank.direction_layers == tuple((i,) for i in range(NUM_LAYERS))
    codes = codes_from_seeds(generator, [3], truncation_psi=0.7)
    moved = edited_codes(codes, bank, {2: 1.0}, to_distance=True)
    changed = [i for i in range(NUM_LAYERS) if not torch.equal(moved[:, i], codes[:, i])]
    assert changed == [2]
    assert float(moved[0, 2].double().numpy() @ normals[2] + 0.2) == pytest.approx(1.0, abs=1e-5)


def test_a_wp_bank_must_have_every_layers_dimensions(generator):
    bank = boundary_of(generator, "wp", [unit(7, NUM_LAYERS * W_DIM)], [0.0])
    small = FakeWPlusGenerator(fake_tensors())
    small.num_layers = 2
    from sefa_zoo.bank import BankError

    with pytest.raises(BankError, match=rf"has {NUM_LAYERS * W_DIM}-dimensional directions, but the model's W\+ "
                                        rf"codes \(2 layers together\) have {2 * W_DIM} dimensions"):
        plan_edits(small, bank, [0], [1.0], [0])


# ---------------------------------------------------------------- z boundaries of style models


def test_a_z_bank_of_a_style_model_moves_z_before_the_mapping(generator):
    normal = unit(8, Z_DIM)
    bank = boundary_of(generator, "z", [normal], [0.5])
    assert bank.latent_dim == Z_DIM
    render_edits(generator, bank, [0], [-1.0, 2.0], [6], truncation_psi=0.7)
    z = latents_from_seeds([6], Z_DIM).double().numpy()[0]
    mapping, average = generator.tensors["mapping"], generator.tensors["w_avg"]
    for given, distance in zip(torch.cat(generator.synthesized), (-1.0, 2.0)):
        moved = torch.from_numpy(z + distance * bank.directions[0].astype(np.float64)).float()
        w = (moved @ mapping.T)[None, None, :].repeat(1, NUM_LAYERS, 1)
        torch.testing.assert_close(given, truncate(w, average, 0.7)[0], atol=1e-5, rtol=1e-5)


def test_a_z_bank_moves_z_to_a_distance_and_combined_edits_agree(generator):
    bank = boundary_of(generator, "z", [unit(9, Z_DIM)], [-0.25])
    plan = plan_edits(generator, bank, [0], [1.5], [3, 4], truncation_psi=1.0, to_distance=True)
    assert plan.layers == tuple(range(NUM_LAYERS))
    render_edits(generator, bank, [0], [1.5], [3, 4], truncation_psi=1.0, to_distance=True)
    by_plan = torch.cat(generator.synthesized)
    # untruncated, every layer's code is M z': z' is back from the least-squares solve
    moved_z = torch.linalg.lstsq(generator.tensors["mapping"].double(), by_plan[:, 0].double().T).solution.T
    np.testing.assert_allclose(signed(bank, 0, moved_z), 1.5, atol=1e-4)
    edit = plan_combined(generator, bank, {0: 1.5}, [3, 4], truncation_psi=1.0, to_distance=True)
    render_combined(generator, bank, edit)
    torch.testing.assert_close(generator.synthesized[-1], by_plan)


def test_code_level_callers_move_latents_then_map_them(generator):
    bank = boundary_of(generator, "z", [unit(9, Z_DIM)], [0.5])
    render_edits(generator, bank, [0], [2.0], [3, 8], truncation_psi=0.6, to_distance=True)
    z = edited_latents(latents_from_seeds([3, 8], Z_DIM), bank, {0: 2.0}, to_distance=True)
    np.testing.assert_allclose(signed(bank, 0, z), 2.0, atol=1e-5)
    torch.testing.assert_close(map_latents(generator, z, truncation_psi=0.6), generator.synthesized[-1])
    with pytest.raises(SefaZooError, match=r"only z-space banks move latents before the mapping"):
        edited_latents(z, boundary_of(generator, "w", [unit(1, W_DIM)], [0.0]), {0: 1.0})


def test_a_z_bank_of_a_style_model_refuses_chosen_layers_and_mapped_codes(generator):
    bank = boundary_of(generator, "z", [unit(9, Z_DIM)], [0.0])
    with pytest.raises(SefaZooError, match=r"moves z before the mapping, so every layer changes: layers cannot "
                                           r"be chosen"):
        plan_edits(generator, bank, [0], [1.0], [0], layers=[1])
    with pytest.raises(SefaZooError, match=r"moves z before the mapping, not the mapped codes"):
        edited_codes(codes_from_seeds(generator, [0]), bank, {0: 1.0})


# ---------------------------------------------------------------- the demo model


@pytest.fixture(scope="module")
def demo_x_boundary():
    return find_boundary("stylegan2-shapes", "x", samples=300, ratio=0.1, seed=0)


def test_moving_to_a_distance_from_the_demos_x_boundary_moves_x(demo_x_boundary):
    images = render_edits("stylegan2-shapes", demo_x_boundary, [0], [-3.0, 3.0], list(range(6)),
                          truncation_psi=1.0, to_distance=True)
    scorer = get_scorer("shapes")
    low = score_images(scorer, images[0, :, 0])["x"]
    high = score_images(scorer, images[0, :, 1])["x"]
    assert (high > low).all() and float(np.mean(high - low)) > 3.0


# ---------------------------------------------------------------- edit --to-distance


def test_edit_to_distance_renders_a_boundary_bank(fake_wplus, tmp_path):
    bank = boundary_of(FakeWPlusGenerator(fake_tensors()), "w", [unit(0, W_DIM)], [0.0])
    bank_path = save_bank(bank, tmp_path / "b.safetensors")
    result = run("edit", "--checkpoint", fake_wplus, "--bank", bank_path, "--to-distance", "--range", "-2", "2",
                 "--steps", "3", "--seeds", "0", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert any(path.suffix == ".png" for path in (tmp_path / "out").iterdir())


@pytest.mark.parametrize("bank_args, message", [
    ([], "Error: --to-distance moves to a distance from a boundary: give the boundary's bank with --bank"),
    (["--bank", "SEFA"], "Error: moving to a distance from a boundary needs a bank with boundary offsets"),
])
def test_edit_to_distance_without_a_boundary_is_one_line(fake_wplus, tmp_path, bank_args, message):
    if bank_args:
        bank_args = ["--bank", save_bank(factorize_file(fake_wplus), tmp_path / "sefa.safetensors")]
    result = run("edit", "--checkpoint", fake_wplus, *bank_args, "--to-distance", "-o", tmp_path / "out")
    assert result.exit_code == 1 and result.output.startswith(message), result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
