"""BigGAN-deep synthesis: the class-conditional Generator protocol, the truncated noise, the
batch-norm statistics chosen by the truncation, equality with the pytorch-pretrained-biggan
package on the same weights, class names, and edits from the command line."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from sefa_zoo_plugins.biggan_deep import (
    BigGANDeep,
    imagenet_class_names,
    random_biggan_state,
    save_biggan,
    small_config,
)
from sefa_zoo_plugins.biggan_deep.generator import TruncationStatistics, statistics_row
from support.projections import torch_matrices
from typer.testing import CliRunner

import sefa_zoo
from sefa_zoo import Generator, SefaZooError
from sefa_zoo.classes import resolve_class
from sefa_zoo.cli.main import app
from sefa_zoo.editing import default_truncation_psi

CONFIG = small_config()
IMAGENET_CONFIG = small_config(num_classes=1000)


@functools.cache
def folder_of(classes: int, seed: int, root) -> object:
    config = small_config(num_classes=classes)
    save_biggan(random_biggan_state(config, seed=seed), config, root / f"biggan-{classes}-{seed}")
    return root / f"biggan-{classes}-{seed}"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("biggan-synthesis")


@pytest.fixture(scope="module")
def generator(root):
    return BigGANDeep().build_generator(sefa_zoo.open_checkpoint(folder_of(10, 0, root)))


@pytest.fixture(scope="module")
def imagenet_generator(root):
    return BigGANDeep().build_generator(sefa_zoo.open_checkpoint(folder_of(1000, 0, root)))


def normal_z(count: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(count, CONFIG["z_dim"], generator=torch.Generator().manual_seed(seed))


# --- the protocol -------------------------------------------------------------------------------


def test_the_generator_protocol_for_a_conditional_model(generator, imagenet_generator):
    assert isinstance(generator, Generator)
    assert (generator.z_dim, generator.latent_dim, generator.num_layers) == (8, 8, 1)
    assert (generator.num_classes, generator.class_names, generator.resolution) == (10, None, 16)
    assert imagenet_generator.num_classes == 1000 and imagenet_generator.class_names == imagenet_class_names()
    assert default_truncation_psi(generator) == 0.4  # the package's examples sample at 0.4
    images = generator.synthesize(generator.map(normal_z(3), truncation_psi=0.4, classes=[1, 2, 3]),
                                  classes=torch.tensor([1, 2, 3]), truncation_psi=0.4)
    assert images.shape == (3, 3, 16, 16) and images.dtype == torch.float32
    assert float(images.abs().max()) <= 1 and float(images.std()) > 0.05


def test_the_class_changes_the_picture_and_the_code_does_not_depend_on_it(generator):
    z = normal_z(2)
    codes = generator.map(z, truncation_psi=0.5, classes=[0, 0])
    torch.testing.assert_close(codes, generator.map(z, truncation_psi=0.5, classes=[7, 7]), rtol=0, atol=0)
    first = generator.synthesize(codes, classes=[0, 0], truncation_psi=0.5)
    other = generator.synthesize(codes, classes=[7, 7], truncation_psi=0.5)
    assert float((first - other).abs().max()) > 1e-3


# --- the truncated noise ------------------------------------------------------------------------


def test_codes_are_the_packages_truncated_normal_times_the_truncation(generator):
    stats = pytest.importorskip("scipy.stats", reason="scipy is not installed")
    z = normal_z(64)
    for truncation in (1.0, 0.4, 0.05):
        codes = generator.map(z, truncation_psi=truncation, classes=[0] * 64)
        expected = truncation * stats.truncnorm.ppf(stats.norm.cdf(z.double().numpy()), -2, 2)
        np.testing.assert_allclose(codes[:, 0].numpy(), expected, rtol=1e-6, atol=1e-6)


def test_codes_stay_within_two_times_the_truncation_and_keep_their_order(generator):
    z = torch.linspace(-40, 40, 801)[:, None].expand(-1, CONFIG["z_dim"]).contiguous()
    codes = generator.map(z, truncation_psi=0.7, classes=[0] * 801)[:, 0, 0]
    assert float(codes.abs().max()) <= 1.4 + 1e-6 and torch.isfinite(codes).all()
    assert bool((codes[1:] >= codes[:-1]).all())
    assert abs(float(codes[400])) < 1e-6  # z = 0: the middle of the distribution


def test_a_seed_gives_the_same_picture_every_time(root):
    generator = BigGANDeep().build_generator(sefa_zoo.open_checkpoint(folder_of(10, 0, root)))
    again = BigGANDeep().build_generator(sefa_zoo.open_checkpoint(folder_of(10, 0, root)))
    z = normal_z(2, seed=5)
    one = generator.synthesize(generator.map(z, truncation_psi=0.4, classes=[3, 4]), classes=[3, 4], truncation_psi=0.4)
    two = again.synthesize(again.map(z, truncation_psi=0.4, classes=[3, 4]), classes=[3, 4], truncation_psi=0.4)
    torch.testing.assert_close(one, two, rtol=0, atol=0)


# --- the batch-norm statistics ------------------------------------------------------------------


def test_statistics_rows_are_split_as_the_package_splits_them():
    assert statistics_row(1.0, 51) == (50, 0.0)
    assert statistics_row(0.4, 51) == (20, 0.0)
    start, coef = statistics_row(0.33, 11)
    assert start == 3 and coef == pytest.approx(0.3)


def test_between_two_rows_the_fraction_weights_the_lower_row():
    # The package's own weighting (f on row i, 1 - f on row i + 1), kept for equality with it.
    statistics = TruncationStatistics(11, 2)
    statistics.running_means.copy_(torch.arange(11.0)[:, None].expand(11, 2))
    statistics.running_vars.copy_(1 + torch.arange(11.0)[:, None].expand(11, 2))
    mean, var = statistics.at(0.33)
    torch.testing.assert_close(mean, torch.full((2,), 0.3 * 3 + 0.7 * 4))
    torch.testing.assert_close(var, torch.full((2,), 0.3 * 4 + 0.7 * 5))
    mean, _ = statistics.at(0.4)
    torch.testing.assert_close(mean, torch.full((2,), 4.0))


def test_the_truncation_changes_the_statistics_not_only_the_code(generator):
    codes = generator.map(normal_z(2), truncation_psi=0.5, classes=[1, 1])
    at_half = generator.synthesize(codes, classes=[1, 1], truncation_psi=0.5)
    at_one = generator.synthesize(codes, classes=[1, 1], truncation_psi=1.0)
    assert float((at_half - at_one).abs().max()) > 1e-3


# --- bad arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize("truncation", [0.0, -0.5, 1.5, float("nan"), True])
def test_truncation_outside_zero_to_one_is_refused(generator, truncation):
    with pytest.raises(SefaZooError, match=r"truncation must be a number in \(0, 1\]"):
        generator.map(normal_z(1), truncation_psi=truncation, classes=[0])
    codes = generator.map(normal_z(1), truncation_psi=0.5, classes=[0])
    with pytest.raises(SefaZooError, match=r"truncation must be a number in \(0, 1\]"):
        generator.synthesize(codes, classes=[0], truncation_psi=truncation)


def test_classes_missing_out_of_range_or_misshapen_are_one_line_errors(generator):
    codes = generator.map(normal_z(2), truncation_psi=0.5, classes=[0, 1])
    for classes, message in (
        (None, r"class-conditional \(10 classes\): give a class"),
        ([0, 10], "class 10 is out of range: BigGAN has classes 0-9"),
        ([-1, 0], "class -1 is out of range"),
        ([0], "expects 2 class indices"),
        (torch.zeros(2), "expects 2 class indices"),
    ):
        with pytest.raises(SefaZooError, match=message):
            generator.synthesize(codes, classes=classes, truncation_psi=0.5)
    with pytest.raises(SefaZooError, match="give a class"):
        generator.map(normal_z(2), truncation_psi=0.5)
    with pytest.raises(SefaZooError, match=r"codes of shape \(N, 1, 8\)"):
        generator.synthesize(codes[:, :, :4], classes=[0, 1], truncation_psi=0.5)


# --- class names --------------------------------------------------------------------------------


def test_the_imagenet_class_names_ship_with_the_plugin():
    names = imagenet_class_names()
    assert len(names) == len(set(names)) == 1000
    assert (names[0], names[1], names[207], names[980], names[999]) == (
        "tench", "goldfish", "golden retriever", "volcano", "toilet tissue")


def test_missing_class_names_are_a_one_line_error(monkeypatch, tmp_path):
    import sefa_zoo_plugins.biggan_deep as plugin

    class Elsewhere:
        def joinpath(self, name):
            return tmp_path / name

    imagenet_class_names.cache_clear()
    monkeypatch.setattr(plugin.resources, "files", lambda package: Elsewhere())
    try:
        with pytest.raises(SefaZooError, match=r"imagenet_classes.txt\) are missing from sefa_zoo_plugins.biggan_deep"):
            imagenet_class_names()
    finally:
        imagenet_class_names.cache_clear()


def test_classes_by_index_or_name(imagenet_generator, generator):
    assert resolve_class(imagenet_generator, 207).label() == "class 207 (golden retriever)"
    assert resolve_class(imagenet_generator, "Golden  RETRIEVER").index == 207
    assert resolve_class(imagenet_generator, "crane bird").index == 134
    assert resolve_class(imagenet_generator, "crane").index == 517
    with pytest.raises(SefaZooError, match=r"no class named 'golden retrievr'; close: 'golden retriever' \(207\)"):
        resolve_class(imagenet_generator, "golden retrievr")
    with pytest.raises(SefaZooError, match="has no class names: give the class as an index"):
        resolve_class(generator, "tench")


# --- the package itself -------------------------------------------------------------------------


def package_biggan(folder):
    package = pytest.importorskip(
        "pytorch_pretrained_biggan",
        reason="pytorch-pretrained-biggan is not installed (pip install pytorch-pretrained-biggan scipy)",
    )
    model = package.BigGAN(package.BigGANConfig.from_json_file(folder / "config.json"))
    model.load_state_dict(torch.load(folder / "pytorch_model.bin", weights_only=True), strict=True)
    return model.eval()


@pytest.mark.parametrize("truncation", [0.4, 1.0, 0.33, 0.05, 0.77])
def test_equal_to_the_package_on_the_same_weights(root, truncation):
    folder = folder_of(10, 3, root)
    theirs = package_biggan(folder)
    ours = BigGANDeep().build_generator(sefa_zoo.open_checkpoint(folder))
    classes = torch.tensor([0, 4, 9, 4])
    codes = ours.map(normal_z(4, seed=2), truncation_psi=truncation, classes=classes)
    with torch.no_grad():
        expected = theirs(codes[:, 0], torch.nn.functional.one_hot(classes, 10).float(), truncation)
    got = ours.synthesize(codes, classes=classes, truncation_psi=truncation)
    assert float((got - expected).abs().max()) < 1e-5


def test_projection_equals_the_packages_spectrally_normalised_weights(root):
    folder = folder_of(10, 3, root)
    theirs = package_biggan(folder)
    with torch.no_grad():  # a forward pass at eval sets .weight from the stored u and v
        theirs(torch.zeros(1, 8), torch.zeros(1, 10), 1.0)
    checkpoint = sefa_zoo.open_checkpoint(folder)
    (ours,) = torch_matrices(BigGANDeep().projection(checkpoint, [0], projection="all-conditional"))
    blocks = [layer for layer in theirs.generator.layers if hasattr(layer, "bn_0")]
    parts = [theirs.generator.gen_z.weight[:, :8]] + [
        getattr(getattr(block, f"bn_{k}"), which).weight[:, :8]
        for block in blocks for k in range(4) for which in ("scale", "offset")
    ]
    torch.testing.assert_close(ours, torch.cat(parts), rtol=1e-6, atol=1e-7)


# --- the command line ---------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_edit_with_a_class_by_name(root, tmp_path):
    out = tmp_path / "edits"
    result = run("edit", "--checkpoint", folder_of(1000, 0, root), "--class", "Golden Retriever", "-d", "0-1",
                 "-s", "0,1", "--steps", "3", "-o", out)
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"bank.safetensors", "overview.png", "direction_00.png", "report.html"} <= names
    report = (out / "report.html").read_text()
    assert "class 207 (golden retriever)" in report
    assert "psi 0.4" in report  # the generator's default truncation, without --trunc
    bank = sefa_zoo.load_bank(out / "bank.safetensors")
    assert (bank.architecture, bank.layer_indices, bank.layer_names) == ("biggan-deep", (0,), ("gen_z",))
    assert bank.latent_parts == ("z = input columns 0-7 of 16 (8-15: class embedding)",)


def test_cli_edit_with_a_class_by_index_and_a_truncation(root, tmp_path):
    folder = folder_of(10, 0, root)
    result = run("edit", "--checkpoint", folder, "--class", "3", "-d", "0", "-s", "5", "--steps", "2",
                 "--range", "-2", "2", "--trunc", "0.6", "--option", "projection=all-conditional",
                 "-o", tmp_path / "edits")
    assert result.exit_code == 0, result.output
    assert "class 3" in (tmp_path / "edits" / "report.html").read_text()


def test_cli_edit_refuses_a_missing_class_and_a_bad_truncation(root, tmp_path):
    folder = folder_of(10, 0, root)
    result = run("edit", "--checkpoint", folder, "-d", "0", "-s", "0", "--steps", "2", "-o", tmp_path / "a")
    assert result.exit_code == 1 and "class-conditional (10 classes): give --class" in result.stderr
    result = run("edit", "--checkpoint", folder, "--class", "1", "--trunc", "1.5", "-d", "0", "-s", "0",
                 "--steps", "2", "-o", tmp_path / "b")
    assert result.exit_code == 1 and "truncation must be a number in (0, 1]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
