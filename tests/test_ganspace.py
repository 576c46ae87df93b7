"""GANSpace: principal components of sampled codes (w) or of the first layer's output mapped
back to z, on every built-in architecture that synthesizes; seeded, bounded memory."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from sefa_zoo import load_bank, render_edits
from sefa_zoo.bank import validate
from sefa_zoo.cli.ganspace import ganspace as ganspace_command
from sefa_zoo.cli.main import guarded
from sefa_zoo.errors import SefaZooError
from sefa_zoo.ganspace import (
    CodeMoments, Sampling, code_components, first_layer_components, ganspace, open_for_ganspace, sample_codes,
)

from support.container_fixtures import CASES, write_container_fixtures
from support.editing_toys import FakeWPlusGenerator, fake_tensors, fake_wplus  # noqa: F401  (fixture)

DEMO = "stylegan2-shapes"
# one file of each built-in architecture that synthesizes, with the options it needs
ARCHITECTURE_CASES = {
    "pggan": "pggan-genforce-zip", "stylegan": "stylegan-genforce-zip", "stylegan2": "stylegan2-rosinality-zip",
    "stylegan3": "stylegan3-t-nvidia-pickle", "biggan-deep": "biggan-deep-zip", "dcgan": "dcgan-zip",
    "dcgan-conditional": "dcgan-conditional-legacy",
}


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory):
    return write_container_fixtures(tmp_path_factory.mktemp("architectures"))


def run(*args: object):
    app = typer.Typer(add_completion=False)
    app.command()(guarded(ganspace_command))
    return CliRunner().invoke(app, [str(a) for a in args])


def explicit_pca(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Variances (descending) and components (rows) of ``rows``, straight from numpy."""
    values, vectors = np.linalg.eigh(np.cov(rows, rowvar=False))
    return values[::-1], vectors[:, ::-1].T


def same_up_to_sign(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    signs = np.sign(np.einsum("ij,ij->i", a, b))
    return np.allclose(a, b * signs[:, None], atol=atol)


# ---------------------------------------------------------------- the statistics


def test_streamed_moments_equal_numpys_whatever_the_batches():
    rng = np.random.default_rng(1)
    rows = rng.standard_normal((1000, 6)) @ rng.standard_normal((6, 6)) + 1e4  # a mean far from 0
    moments = CodeMoments(6)
    start = 0
    for size in (1, 7, 300, 2, 690):
        moments.add(rows[start:start + size])
        start += size
    assert moments.count == 1000
    np.testing.assert_allclose(moments.mean, rows.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments.covariance, np.cov(rows, rowvar=False), rtol=1e-9, atol=1e-9)


def test_w_components_are_the_pca_of_the_sampled_codes():
    generator = FakeWPlusGenerator(fake_tensors())
    sampling = Sampling(samples=500, seed=3, batch_size=64)
    rows = np.concatenate(list(sample_codes(generator, sampling)))
    variances, components = explicit_pca(rows)
    found = code_components(np.cov(rows, rowvar=False), k=4)
    np.testing.assert_allclose(found.variances, variances[:4], rtol=1e-9)
    assert same_up_to_sign(found.directions, components[:4], atol=1e-9)
    assert found.total == pytest.approx(variances.sum())


def test_first_layer_components_are_ganspaces_regression_of_z_on_the_pca_coordinates():
    """GANSpace itself: y = A z + b for sampled z, PCA of y, least squares of z on the
    coordinates, rows normalised; then made orthonormal in order."""
    rng = np.random.default_rng(2)
    projection = rng.standard_normal((40, 6)) * np.array([3.0, 2.0, 1.5, 1.0, 0.5, 0.2])
    z = rng.standard_normal((3000, 6))
    y = z @ projection.T + rng.standard_normal(40)
    variances, components = explicit_pca(y)
    coordinates = (y - y.mean(axis=0)) @ components[:6].T
    regressed = np.linalg.lstsq(coordinates, z - z.mean(axis=0), rcond=None)[0]
    regressed /= np.linalg.norm(regressed, axis=1, keepdims=True)
    expected = np.linalg.qr(regressed.T)[0].T

    found = first_layer_components(np.cov(z, rowvar=False), projection.T @ projection)
    np.testing.assert_allclose(found.variances, variances[:6], rtol=1e-8)
    assert found.total == pytest.approx(variances.sum())
    assert same_up_to_sign(found.directions, expected, atol=1e-8)
    angles = np.degrees(np.arccos(np.clip(np.abs(np.einsum("ij,ij->i", regressed, expected)), 0, 1)))
    assert found.info["largest_angle_moved_degrees"] == pytest.approx(angles.max(), abs=1e-5)
    assert 0 < angles.max() < 5  # sampling noise: z is nearly white
    np.testing.assert_allclose(found.directions @ found.directions.T, np.eye(6), atol=1e-12)


# ---------------------------------------------------------------- sampling


def test_the_same_seed_gives_the_same_bank_and_another_seed_another(fake_wplus):
    first = ganspace(fake_wplus, samples=300, seed=5)
    assert first.digest() == ganspace(fake_wplus, samples=300, seed=5).digest()
    assert first.digest() != ganspace(fake_wplus, samples=300, seed=6).digest()


def test_the_samples_do_not_depend_on_the_batch_size():
    generator = FakeWPlusGenerator(fake_tensors())
    small = np.concatenate(list(sample_codes(generator, Sampling(samples=200, seed=4, batch_size=7))))
    large = np.concatenate(list(sample_codes(generator, Sampling(samples=200, seed=4, batch_size=64))))
    np.testing.assert_allclose(small, large, rtol=1e-6, atol=1e-6)


def test_memory_does_not_grow_with_the_number_of_samples():
    """numpy's allocations (the codes as they are analysed) are traced; torch's (the fake
    generator keeps what it maps) are not."""
    from sefa_zoo.ganspace import code_moments

    def peak(samples: int) -> int:
        tracemalloc.start()
        try:
            code_moments(FakeWPlusGenerator(fake_tensors()), Sampling(samples=samples, batch_size=50))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    few, many = peak(1_000), peak(20_000)
    assert many < few * 1.5 + 64 * 1024, (few, many)


def test_progress_advances_by_every_batch():
    from sefa_zoo.ganspace import code_moments

    seen: list[int] = []
    code_moments(FakeWPlusGenerator(fake_tensors()), Sampling(samples=130, batch_size=50), seen.append)
    assert seen == [50, 50, 30]


# ---------------------------------------------------------------- every architecture


@pytest.mark.parametrize("architecture", list(ARCHITECTURE_CASES))
def test_every_architecture_gets_a_bank_that_edits(fixture_files, architecture, tmp_path):
    case = ARCHITECTURE_CASES[architecture]
    path, options = fixture_files[case], CASES[case][1]
    model = open_for_ganspace(path, options=options)
    generator = model.generator
    bank = ganspace(path, samples=generator.latent_dim + 40, k=3, seed=1, options=options)
    validate(bank)
    assert (bank.method, bank.k, bank.latent_dim) == ("ganspace", 3, generator.latent_dim)
    assert bank.latent_space == model.architecture.latent_space
    assert bank.mean.shape == (generator.latent_dim,)
    assert bank.method_info["samples"] == generator.latent_dim + 40
    assert bank.checkpoint_source == path.name and len(bank.checkpoint_sha256) == 64
    saved = tmp_path / "bank.safetensors"
    from sefa_zoo import save_bank

    save_bank(bank, saved)
    loaded = load_bank(saved)
    assert loaded.digest() == bank.digest() and loaded.method_info == bank.method_info
    np.testing.assert_array_equal(loaded.mean, bank.mean)
    class_index = 1 if getattr(generator, "num_classes", 0) else None
    images = render_edits(generator, loaded, [0], [-1.0, 1.0], [0], class_index=class_index)
    assert images.shape[:3] == (1, 1, 2) and torch.isfinite(images).all()
    assert not torch.equal(images[0, 0, 0], images[0, 0, 1])


def test_z_space_banks_are_the_first_layers_principal_components(fixture_files):
    """PGGAN: a unit step along each direction changes the first layer's output by about the
    standard deviation the bank gives it (z is nearly white), in the bank's order."""
    from sefa_zoo.plugins import call_plugin

    path = fixture_files["pggan-genforce-zip"]
    model = open_for_ganspace(path)
    bank = ganspace(path, samples=3000, seed=2)
    (matrix,) = call_plugin(model.architecture, "projection", model.checkpoint, [0], layout=model.layout)
    projection = np.asarray(matrix, dtype=np.float64).reshape(-1, bank.latent_dim)  # leading axes: rows
    outputs = bank.directions.astype(np.float64) @ projection.T
    gains = np.linalg.norm(outputs, axis=1)
    assert gains[0] > gains[len(gains) // 2] > gains[-1]
    np.testing.assert_allclose(gains**2, bank.eigenvalues, rtol=0.2)
    assert bank.method_info["largest_angle_moved_degrees"] < 10


def test_the_demo_model_w_pca_matches_its_sampled_codes():
    bank = ganspace(DEMO, samples=2000, seed=0, k=5)
    model = open_for_ganspace(DEMO)
    rows = np.concatenate(list(sample_codes(model.generator, Sampling(samples=2000, seed=0))))
    variances, components = explicit_pca(rows)
    np.testing.assert_allclose(bank.eigenvalues, variances[:5], rtol=1e-6)
    assert same_up_to_sign(bank.directions.astype(np.float64), components[:5], atol=1e-5)
    np.testing.assert_allclose(bank.mean, rows.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert bank.eigenvalue_total == pytest.approx(variances.sum())
    assert bank.layer_indices == tuple(sorted(bank.layer_indices)) and bank.model == DEMO


def test_layers_choose_the_style_layers_edited_by_default(fake_wplus):
    bank = ganspace(fake_wplus, samples=100, layers="1-2")
    assert set(bank.layer_indices) == {1, 2}
    assert bank.digest() == ganspace(fake_wplus, samples=100).digest()  # the PCA of w is the same


def test_a_conditional_style_model_needs_a_class_and_records_it(tmp_path):
    from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2

    state = random_stylegan2_state(16, w_dim=12, z_dim=10, channel_base=256, channel_max=16, mapping_layers=2, c_dim=4)
    path = save_stylegan2(state, tmp_path / "conditional.pkl", "nvidia")
    with pytest.raises(SefaZooError, match="class-conditional"):
        ganspace(path, samples=50)
    first, other = ganspace(path, samples=50, class_index=1), ganspace(path, samples=50, class_index=2)
    assert first.method_info["class"] == 1 and first.digest() != other.digest()


@pytest.mark.parametrize("kwargs, message", [
    ({"samples": 6}, "more samples than the 6 latent dimensions"),
    ({"samples": 100, "k": 7}, "k must be between 1 and 6"),
    ({"samples": 100, "batch_size": 0}, "batch size must be"),
    ({"samples": 100, "seed": -1}, "seed must be"),
    ({"samples": 100, "layers": "9"}, "out of range"),
])
def test_bad_arguments_are_one_line_errors(fake_wplus, kwargs, message):
    with pytest.raises(SefaZooError, match=message) as caught:
        ganspace(fake_wplus, **kwargs)
    assert "\n" not in str(caught.value)


def test_a_generator_mapping_to_nan_is_named():
    generator = FakeWPlusGenerator(fake_tensors())
    generator.tensors["mapping"][0, 0] = float("nan")
    from sefa_zoo.ganspace import code_moments

    with pytest.raises(SefaZooError, match="NaN or infinite codes"):
        code_moments(generator, Sampling(samples=20))


# ---------------------------------------------------------------- the command


def test_the_command_writes_a_bank_and_reports_it(fake_wplus, tmp_path):
    out = tmp_path / "gs.safetensors"
    result = run("--checkpoint", fake_wplus, "--samples", 200, "-k", 3, "--seed", 2, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    bank = load_bank(out)
    assert report["bank"] == str(out) and report["k"] == 3 and bank.method == "ganspace"
    assert report["method_info"]["seed"] == 2 and bank.method_info["samples"] == 200
    assert bank.digest() == ganspace(fake_wplus, samples=200, k=3, seed=2).digest()


def test_the_command_prints_the_components_and_names_the_default_file(fake_wplus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("fake-wplus", "--samples", 100, "--layers", "0-1")
    assert result.exit_code == 0, result.output
    assert "GANSpace of w, 100 samples" in result.output
    assert (tmp_path / "fake-wplus_ganspace_layers0-1.safetensors").is_file()
    assert "wrote fake-wplus_ganspace_layers0-1.safetensors" in result.output


@pytest.mark.parametrize("args, message", [
    (["--samples", 3], "more samples than"),
    (["--layers", "zz"], "layer spec item"),
    (["--device", "nonsense"], "--device 'nonsense'"),
])
def test_the_command_refuses_bad_input_in_one_line(fake_wplus, tmp_path, args, message):
    result = run("--checkpoint", fake_wplus, "-o", tmp_path / "b.safetensors", *args)
    assert result.exit_code == 1
    assert message in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "b.safetensors").exists()


def test_the_command_never_writes_over_its_checkpoint(fake_wplus):
    before = fake_wplus.read_bytes()
    result = run("--checkpoint", fake_wplus, "--samples", 50, "-o", fake_wplus)
    assert result.exit_code == 1 and "Error:" in result.output
    assert fake_wplus.read_bytes() == before


# ---------------------------------------------------------------- edits in sigmas


def test_edits_with_a_style_bank_are_in_standard_deviations_of_the_sampled_codes(fake_wplus):
    from sefa_zoo.editing import distance_units, edited_codes

    bank = ganspace(fake_wplus, samples=400, seed=1)
    np.testing.assert_allclose(distance_units(bank), np.sqrt(bank.eigenvalues))
    codes = torch.zeros(1, 4, bank.latent_dim)
    moved = edited_codes(codes, bank, {1: 2.0}, layers=[0])[0, 0].double().numpy()
    np.testing.assert_allclose(moved, 2.0 * np.sqrt(bank.eigenvalues[1]) * bank.directions[1], rtol=1e-5)
    rows = np.concatenate(list(sample_codes(FakeWPlusGenerator(fake_tensors()), Sampling(samples=400, seed=1))))
    assert np.std(rows @ bank.directions[1].astype(np.float64), ddof=1) == pytest.approx(distance_units(bank)[1])


def test_sefa_and_z_space_ganspace_banks_keep_latent_units(fake_wplus, fixture_files):
    from sefa_zoo import factorize_file
    from sefa_zoo.editing import distance_units

    assert np.array_equal(distance_units(factorize_file(fake_wplus)), np.ones(6))
    z_bank = ganspace(fixture_files["dcgan-zip"], samples=100, k=4)
    assert np.array_equal(distance_units(z_bank), np.ones(4))


def test_the_editors_sliders_and_recipes_move_in_sigmas_too(fake_wplus):
    from sefa_zoo.editing import codes_from_seeds, edited_codes, plan_combined, render_combined

    generator = FakeWPlusGenerator(fake_tensors())
    bank = ganspace(fake_wplus, samples=400, seed=1)
    edit = plan_combined(generator, bank, {0: 1.0}, [3], truncation_psi=1.0)
    render_combined(generator, bank, edit)
    codes = codes_from_seeds(generator, [3], truncation_psi=1.0)
    moved = (generator.synthesized[-1] - codes)[0, 0].double().numpy()
    np.testing.assert_allclose(moved, np.sqrt(bank.eigenvalues[0]) * bank.directions[0], rtol=1e-4, atol=1e-6)
    assert torch.equal(generator.synthesized[-1], edited_codes(codes, bank, {0: 1.0}, edit.layers))
