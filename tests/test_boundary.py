"""InterFaceGAN boundaries: the SVM protocol on known codes, per-layer W+ boundaries, hostile
.npy files, sampling and scoring on every architecture, and the `boundary` command."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

from sefa_zoo import render_edits
from sefa_zoo.bank import load_bank, save_bank, validate
from sefa_zoo.boundary import (
    BoundaryError, Sampling, codes_and_scores_from_files, find_boundary, fit_boundary, fit_per_layer, read_npy,
    sample_scores,
)
from sefa_zoo.cli.boundary import boundary as boundary_command
from sefa_zoo.errors import SefaZooError
from sefa_zoo.scoring import get_scorer

from support.container_fixtures import CASES, write_container_fixtures
from support.editing_toys import (  # noqa: F401  (fixtures)
    NUM_LAYERS, W_DIM, Z_DIM, FakeWPlusGenerator, command_runner, dcgan_file, fake_tensors, fake_wplus,
    folder_contents,
)
from support.scoring_toys import ScorerPlugin, brightness_scorer

run = command_runner(boundary=boundary_command)

ARCHITECTURE_CASES = {
    "pggan": "pggan-genforce-zip", "stylegan": "stylegan-genforce-zip", "stylegan2": "stylegan2-rosinality-zip",
    "stylegan3": "stylegan3-t-nvidia-pickle", "biggan-deep": "biggan-deep-zip", "dcgan": "dcgan-zip",
    "dcgan-conditional": "dcgan-conditional-legacy",
}


@pytest.fixture
def light(register_plugin):
    """The toy scorer 'toy-light' (brightness, redness) registered."""
    register_plugin(ScorerPlugin(brightness_scorer()), "light-plugin")
    return get_scorer("toy-light")


def linear_data(count=2000, dim=6, seed=0, noise=0.05):
    """Codes and scores = codes · a + 0.3 + noise: the boundary's normal is a / |a|."""
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((count, dim))
    a = rng.standard_normal(dim)
    return codes, codes @ a + 0.3 + noise * rng.standard_normal(count), a / np.linalg.norm(a)


# ---------------------------------------------------------------- the SVM protocol


def test_the_boundary_of_linear_scores_is_their_direction():
    codes, scores, truth = linear_data()
    fitted = fit_boundary(codes, scores, ratio=0.1, split=0.7, seed=0)
    assert float(fitted.normal @ truth) > 0.98
    assert np.isclose(np.linalg.norm(fitted.normal), 1.0)
    assert (fitted.train, fitted.validation, fitted.remaining) == (140, 60, 1600)
    assert fitted.validation_accuracy == 1.0 and fitted.remaining_accuracy > 0.95
    high, low = np.argmax(scores), np.argmin(scores)
    assert fitted.distances(codes[high : high + 1])[0] > 0 > fitted.distances(codes[low : low + 1])[0]


def test_the_offset_makes_n_x_plus_b_the_signed_distance():
    """Codes shifted by t·normal, with scores unchanged, have a boundary shifted by t."""
    codes, scores, _ = linear_data()
    fitted = fit_boundary(codes, scores, ratio=0.1)
    shifted = fit_boundary(codes + 2.5 * fitted.normal, scores, ratio=0.1)
    np.testing.assert_allclose(shifted.normal, fitted.normal, atol=1e-3)
    assert shifted.offset == pytest.approx(fitted.offset - 2.5, abs=1e-2)


def test_the_remaining_codes_are_labelled_by_the_median():
    codes, scores, _ = linear_data(count=1000)
    fitted = fit_boundary(codes, scores, ratio=0.05)
    order = np.argsort(-scores, kind="stable")
    remaining = order[50:950]
    expected = np.mean((fitted.distances(codes[remaining]) > 0) == (scores[remaining] > np.median(scores)))
    assert fitted.remaining_accuracy == pytest.approx(expected)


def test_the_same_seed_gives_the_same_boundary_and_another_seed_another_split():
    codes, scores, _ = linear_data(noise=2.0)
    first, again = (fit_boundary(codes, scores, ratio=0.2, seed=3) for _ in range(2))
    assert np.array_equal(first.normal, again.normal) and first.offset == again.offset
    other = fit_boundary(codes, scores, ratio=0.2, seed=4)
    assert not np.array_equal(first.normal, other.normal)


def test_no_remaining_codes_at_ratio_one_half():
    codes, scores, _ = linear_data(count=100)
    fitted = fit_boundary(codes, scores, ratio=0.5)
    assert fitted.remaining == 0 and fitted.remaining_accuracy is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(ratio=0.0), r"ratio must be above 0 and at most 0.5"),
    (dict(ratio=0.6), r"ratio must be above 0 and at most 0.5"),
    (dict(split=1.0), r"split must be between 0 and 1"),
    (dict(seed=-1), r"seed must be a whole number"),
    (dict(ratio=0.0005), r"2000 codes at ratio 0.0005 give 1 per side: too few to train and validate on; use about"),
])
def test_bad_options_are_one_line_errors(kwargs, message):
    codes, scores, _ = linear_data()
    with pytest.raises(BoundaryError, match=message):
        fit_boundary(codes, scores, **kwargs)


def test_without_scikit_learn_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.svm", None)
    codes, scores, _ = linear_data(count=200)
    with pytest.raises(SefaZooError, match=r'^InterFaceGAN boundaries need scikit-learn: pip install "sefa-zoo\[methods\]"$'):
        fit_boundary(codes, scores, ratio=0.1)


def test_scores_that_do_not_vary_have_no_boundary():
    codes, _, _ = linear_data(count=200)
    with pytest.raises(BoundaryError, match=r"the top and bottom 0.1 of the scores of x overlap"):
        fit_boundary(codes, np.ones(200), ratio=0.1, attribute="x")


def test_per_layer_boundaries_find_the_layer_that_matters():
    rng = np.random.default_rng(1)
    codes = rng.standard_normal((1500, 3, 4))
    scores = codes[:, 1] @ np.array([1.0, -2.0, 0.5, 0.0])
    fitted = fit_per_layer(codes, scores, ratio=0.1)
    accuracies = [b.remaining_accuracy for b in fitted]
    assert accuracies[1] > 0.95 and max(accuracies[0], accuracies[2]) < 0.7
    assert float(fitted[1].normal @ np.array([1.0, -2.0, 0.5, 0.0]) / np.sqrt(5.25)) > 0.98


# ---------------------------------------------------------------- hostile .npy files


def save_npy(path, array, **kwargs):
    np.save(path, array, **kwargs)
    return path


def test_a_npy_file_is_read_back_exactly_in_either_order(tmp_path):
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert np.array_equal(read_npy(save_npy(tmp_path / "c.npy", array), "--codes"), array)
    fortran = np.asfortranarray(array)
    assert np.array_equal(read_npy(save_npy(tmp_path / "f.npy", fortran), "--codes"), array)


def header_claiming(shape, dtype="<f4") -> bytes:
    """A .npy 1.0 header claiming ``shape`` (padded as numpy pads it), and no data."""
    from numpy.lib import format as npy

    text = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode("latin1")
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    return npy.magic(1, 0) + len(text).to_bytes(2, "little") + text


@pytest.mark.parametrize("content, message", [
    (header_claiming((10**6, 10**6)), r"its header claims shape \(1000000, 1000000\) of float32 "
                                      r"\(4000000000000 bytes\), but the file holds 0 bytes of data"),
    (header_claiming((3, 2)) + b"\0" * 20, r"its header claims shape \(3, 2\) of float32 \(24 bytes\), but the file holds 20"),
    (header_claiming((3, 0)), r"is empty \(shape \(3, 0\)\)"),
    (header_claiming((2,), "|O"), r"holds object, not numbers"),
    (header_claiming((2,), "<U3"), r"holds <U3, not numbers"),
    (b"PK\3\4 a zip, not a .npy", r"not a .npy file, or its header is damaged"),
    (b"\x93NUMPY\x01\x00\xff\xff{", r"not a .npy file, or its header is damaged"),
    (b"\x93NUMPY\x03\x00\x10\x00\x00\x00" + b" " * 16, r".npy format version 3.0 is not read here"),
    (b"", r"not a .npy file, or its header is damaged"),
])
def test_a_hostile_npy_is_one_line_naming_it(tmp_path, content, message):
    path = tmp_path / "codes.npy"
    path.write_bytes(content)
    with pytest.raises(BoundaryError, match=rf"^--codes {path}: {message}"):
        read_npy(path, "--codes")


def test_a_pickled_npy_is_refused_without_unpickling(tmp_path):
    path = save_npy(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(BoundaryError, match=r"holds object, not numbers"):
        read_npy(path, "--scores")


def test_nan_a_folder_a_pipe_and_a_missing_file_are_one_line(tmp_path):
    with pytest.raises(BoundaryError, match=r"holds NaN or infinite values"):
        read_npy(save_npy(tmp_path / "nan.npy", np.array([1.0, np.nan])), "--scores")
    with pytest.raises(BoundaryError, match=rf"^--scores {tmp_path / 'none.npy'}: no such file$"):
        read_npy(tmp_path / "none.npy", "--scores")
    with pytest.raises(BoundaryError, match=r"is a folder, not a .npy file"):
        read_npy(tmp_path, "--scores")
    os.mkfifo(tmp_path / "pipe.npy")
    with pytest.raises(BoundaryError, match=r"is a named pipe, not a .npy file"):
        read_npy(tmp_path / "pipe.npy", "--scores")


def test_codes_and_scores_must_fit_the_model_and_each_other(tmp_path):
    generator = FakeWPlusGenerator(fake_tensors())
    rng = np.random.default_rng(0)
    scores = save_npy(tmp_path / "s.npy", rng.standard_normal((10, 1)))
    w = save_npy(tmp_path / "w.npy", rng.standard_normal((10, W_DIM)).astype(np.float32))
    wp = save_npy(tmp_path / "wp.npy", rng.standard_normal((10, NUM_LAYERS, W_DIM)))
    codes, read_scores, space = codes_and_scores_from_files(w, scores, generator, None)
    assert (codes.shape, read_scores.shape, space) == ((10, W_DIM), (10,), "w")
    assert codes_and_scores_from_files(wp, scores, generator, None)[2] == "wp"
    with pytest.raises(BoundaryError, match=rf"--codes {w}: z codes of this model have shape \(N, {Z_DIM}\); "
                                            rf"got \(10, {W_DIM}\)"):
        codes_and_scores_from_files(w, scores, generator, "z")
    short = save_npy(tmp_path / "short.npy", np.zeros(9))
    with pytest.raises(BoundaryError, match=rf"holds 10 codes but --scores {short} 9 scores"):
        codes_and_scores_from_files(w, short, generator, None)
    two = save_npy(tmp_path / "two.npy", np.zeros((10, 2)))
    with pytest.raises(BoundaryError, match=r"one score per code, shape \(N,\) or \(N, 1\); got \(10, 2\)"):
        codes_and_scores_from_files(w, two, generator, None)


# ---------------------------------------------------------------- sampling and scoring


def test_sampling_does_not_depend_on_the_batch_size(light):
    generator = FakeWPlusGenerator(fake_tensors())
    codes, scores = sample_scores(generator, light, "wp", Sampling(samples=23, seed=5, batch_size=23))
    batched, batched_scores = sample_scores(generator, light, "wp", Sampling(samples=23, seed=5, batch_size=4))
    assert codes.shape == (23, NUM_LAYERS, W_DIM)
    np.testing.assert_array_equal(codes, batched)
    np.testing.assert_allclose(scores["brightness"], batched_scores["brightness"], atol=1e-6)


def test_progress_advances_by_every_batch(light):
    seen: list[int] = []
    sample_scores(FakeWPlusGenerator(fake_tensors()), light, "w", Sampling(samples=11, batch_size=4), seen.append)
    assert seen == [4, 4, 3]


def test_each_space_keeps_its_codes(light):
    generator = FakeWPlusGenerator(fake_tensors())
    sampling = Sampling(samples=5, seed=2)
    z, _ = sample_scores(generator, light, "z", sampling)
    w, _ = sample_scores(generator, light, "w", sampling)
    wp, _ = sample_scores(generator, light, "wp", sampling)
    np.testing.assert_allclose(w, z @ generator.tensors["mapping"].T.numpy(), atol=1e-5)
    np.testing.assert_array_equal(wp[:, 2], w)


def test_boundary_banks_in_each_space(fake_wplus, light, tmp_path):
    for space, dim in (("z", Z_DIM), ("w", W_DIM), ("wp", NUM_LAYERS * W_DIM)):
        bank = find_boundary("fake-wplus", "brightness", scorer=light, space=space, samples=200, ratio=0.1, seed=1)
        validate(bank)
        assert (bank.method, bank.latent_space, bank.k, bank.latent_dim) == ("interfacegan", space, 1, dim)
        assert bank.layer_indices == tuple(range(NUM_LAYERS)) and bank.direction_names == ("brightness",)
        assert bank.eigenvalues.tolist() == [1.0] and bank.offsets.shape == (1,)
        info = bank.method_info
        assert {k: info[k] for k in ("attribute", "scorer", "space", "samples", "ratio", "split", "seed")} == {
            "attribute": "brightness", "scorer": "toy-light", "space": space, "samples": 200, "ratio": 0.1,
            "split": 0.7, "seed": 1}
        assert 0.5 <= info["validation_accuracy"] <= 1.0 and 0.0 <= info["remaining_accuracy"] <= 1.0
        save_bank(bank, tmp_path / f"{space}.safetensors")
        loaded = load_bank(tmp_path / f"{space}.safetensors")
        assert loaded.method_info == bank.method_info and loaded.offsets.tolist() == bank.offsets.tolist()


def test_the_same_arguments_give_the_same_bank(fake_wplus, light):
    first, again = (find_boundary("fake-wplus", "redness", scorer=light, samples=120, ratio=0.1, seed=2) for _ in range(2))
    assert first.digest() == again.digest() and first.offsets.tolist() == again.offsets.tolist()


def test_a_per_layer_bank_has_one_orthonormal_direction_per_layer(fake_wplus, light):
    bank = find_boundary("fake-wplus", "brightness", scorer=light, per_layer=True, samples=200, ratio=0.1)
    validate(bank)
    assert (bank.latent_space, bank.k, bank.latent_dim) == ("wp", NUM_LAYERS, NUM_LAYERS * W_DIM)
    assert bank.direction_layers == tuple((i,) for i in range(NUM_LAYERS))
    assert bank.direction_names == tuple(f"brightness (layer {i})" for i in range(NUM_LAYERS))
    slices = bank.directions.reshape(NUM_LAYERS, NUM_LAYERS, W_DIM)
    for i in range(NUM_LAYERS):
        assert np.count_nonzero(np.delete(slices[i], i, axis=0)) == 0
    assert len(bank.method_info["validation_accuracy"]) == NUM_LAYERS


def test_codes_and_scores_from_files_make_a_bank(fake_wplus, tmp_path):
    codes, scores, truth = linear_data(count=300, dim=W_DIM)
    codes_file = save_npy(tmp_path / "codes.npy", codes.astype(np.float32))
    scores_file = save_npy(tmp_path / "scores.npy", scores[:, None])
    bank = find_boundary(fake_wplus, "smile", codes_file=codes_file, scores_file=scores_file, ratio=0.2)
    assert bank.latent_space == "w" and float(bank.directions[0] @ truth) > 0.95
    assert bank.method_info["codes_file"] == "codes.npy" and "scorer" not in bank.method_info
    assert bank.model == fake_wplus.name


@pytest.mark.parametrize("kwargs, message", [
    (dict(codes_file="c.npy"), r"--codes and --scores go together"),
    (dict(space="q"), r"space must be one of z, w, wp, got 'q'"),
    (dict(space="w", per_layer=True), r"per-layer boundaries are fitted on W\+ codes \(space wp\), not w"),
    (dict(samples=20), r"20 codes at ratio 0.02 give 0 per side"),
    (dict(attribute="smile"), r"scorer 'toy-light' does not score attribute 'smile' \(it scores brightness, redness\)"),
])
def test_bad_arguments_are_one_line_errors(fake_wplus, light, kwargs, message):
    kwargs = {"attribute": "brightness", "scorer": light, **kwargs}
    with pytest.raises(SefaZooError, match=message):
        find_boundary("fake-wplus", kwargs.pop("attribute"), **kwargs)


def test_a_single_code_model_has_only_z(dcgan_file, light):
    with pytest.raises(BoundaryError, match=r"space 'w' needs a model with per-layer \(style\) codes"):
        find_boundary(dcgan_file, "brightness", scorer=light, space="w", samples=100, ratio=0.1)


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory):
    return write_container_fixtures(tmp_path_factory.mktemp("architectures"))


@pytest.mark.parametrize("architecture", list(ARCHITECTURE_CASES))
def test_every_architecture_gets_a_boundary(fixture_files, architecture, light, tmp_path):
    case = ARCHITECTURE_CASES[architecture]
    path, options = fixture_files[case], CASES[case][1]
    from sefa_zoo.editing import open_generator

    generator = open_generator(path, options=options).generator
    class_index = 1 if getattr(generator, "num_classes", 0) else None
    kwargs = dict(scorer=light, samples=40, ratio=0.25, split=0.5, seed=3, options=options, class_index=class_index)
    bank = find_boundary(path, "brightness", **kwargs)
    validate(bank)
    expected_space = "w" if generator.num_layers > 1 else "z"
    assert (bank.latent_space, bank.latent_dim) == (expected_space, generator.latent_dim)
    assert bank.checkpoint_source == path.name and len(bank.checkpoint_sha256) == 64
    assert find_boundary(path, "brightness", **kwargs).digest() == bank.digest()
    if class_index is not None:
        assert bank.method_info["class"] == 1
    save_bank(bank, tmp_path / "b.safetensors")
    assert load_bank(tmp_path / "b.safetensors").digest() == bank.digest()
    images = render_edits(generator, load_bank(tmp_path / "b.safetensors"), [0], [-1.0, 1.0], [0],
                          class_index=class_index, to_distance=True)
    assert torch.isfinite(images).all() and not torch.equal(images[0, 0, 0], images[0, 0, 1])


def test_the_demo_models_x_boundary_separates_x(tmp_path):
    bank = find_boundary("stylegan2-shapes", "x", samples=300, ratio=0.1, seed=0)
    assert bank.method_info["scorer"] == "shapes"
    assert bank.method_info["validation_accuracy"] >= 0.9 and bank.method_info["remaining_accuracy"] >= 0.75


# ---------------------------------------------------------------- the command


def test_the_command_writes_the_bank_and_reports_the_accuracies(fake_wplus, light, tmp_path):
    out = tmp_path / "b.safetensors"
    result = run("boundary", "fake-wplus", "--attribute", "brightness", "--scorer", "toy-light", "--samples", "200",
                 "--ratio", "0.1", "-o", out)
    assert result.exit_code == 0, result.output
    bank = load_bank(out)
    assert bank.method == "interfacegan" and bank.method_info["samples"] == 200
    assert "validation accuracy" in result.stdout and f"wrote {out}" in result.stdout
    assert "trained on 28 codes (top and bottom 0.1), validated on 12; the 160 others labelled by score above " \
           "the median" in " ".join(result.stdout.split())


def test_the_command_names_the_default_file(fake_wplus, light, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("boundary", "fake-wplus", "-a", "redness", "--scorer", "toy-light", "-n", "100", "--ratio", "0.1",
                 "--json")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fake-wplus_boundary_redness.safetensors").is_file()


@pytest.mark.parametrize("args, message", [
    (["-a", "brightness", "--scorer", "nope"], "Error: unknown scorer 'nope'"),
    (["-a", "brightness"], "Error: no scorer for model 'fake-wplus' scores attribute 'brightness'"),
    (["-a", "brightness", "--codes", "x.npy"], "Error: --codes and --scores go together"),
    (["-a", "brightness", "--codes", "x.npy", "--scores", "y.npy"], "Error: --codes x.npy: no such file"),
])
def test_the_command_refuses_bad_input_in_one_line(fake_wplus, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    before = folder_contents(tmp_path)
    result = run("boundary", "fake-wplus", *args, "-n", "100", "--ratio", "0.1")
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert result.exit_code == 1 and len(errors) == 1 and errors[0].startswith(message), result.output
    assert folder_contents(tmp_path) == before


def test_the_command_never_writes_over_its_inputs(fake_wplus, light, tmp_path):
    codes, scores, _ = linear_data(count=100, dim=W_DIM)
    codes_file = save_npy(tmp_path / "codes.npy", codes)
    scores_file = save_npy(tmp_path / "scores.npy", scores)
    before = codes_file.read_bytes()
    result = run("boundary", "-c", fake_wplus, "-a", "s", "--codes", codes_file, "--scores", scores_file,
                 "--ratio", "0.1", "-o", codes_file)
    assert result.exit_code == 1 and "is the input file" in result.output
    assert codes_file.read_bytes() == before
