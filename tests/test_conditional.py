"""Class-conditional generators, one way for all: the class by index or name through the
editing API, the CLI and every output; banks that record the z part of cat(z, label) layers;
DCGAN's conditional variant (option classes=N) end to end."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from typer.testing import CliRunner

from sefa_zoo import (
    BankError,
    SefaZooError,
    codes_from_seeds,
    factorize_file,
    latents_from_seeds,
    load_bank,
    load_generator,
    plan_edits,
    render_edits,
    save_bank,
)
from sefa_zoo.classes import ChosenClass, resolve_class
from sefa_zoo.cli.main import app
from sefa_zoo.editing import default_truncation_psi, iter_edit_batches
from sefa_zoo.outputs.animation import sweep_captions
from sefa_zoo.outputs.grids import label_font, overview_grid
from sefa_zoo.outputs.rendered import RenderedEdits
from sefa_zoo.outputs.report import html_report
from support.projections import torch_matrices

from support.editing_toys import (  # noqa: F401  (fixtures)
    CLASS_NAMES,
    FakeConditionalGenerator,
    FakeWPlusGenerator,
    conditional_dcgan_file,
    dcgan_file,
    fake_tensors,
    fake_wplus,
)

Z_PART = "z = input channels 0-5 of 10 (6-9: one-hot label of 4 classes)"


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


@pytest.fixture
def conditional():
    return FakeConditionalGenerator(fake_tensors())


@pytest.fixture
def fake_bank(fake_wplus):
    return factorize_file(fake_wplus, layers="1-2")


# choosing the class


@pytest.mark.parametrize("wanted, index", [
    (1, 1), ("1", 1), (" 3 ", 3), ("golden retriever", 1), ("Golden  Retriever", 1), ("TABBY CAT", 0),
    ("tinca tinca", 3), ("tench, Tinca tinca", 3), (np.int64(2), 2),
])
def test_a_class_by_index_or_by_name(conditional, wanted, index):
    chosen = resolve_class(conditional, wanted)
    assert chosen == ChosenClass(index, CLASS_NAMES[index])
    assert chosen.label() == f"class {index} ({CLASS_NAMES[index]})"


@pytest.mark.parametrize("wanted, expected", [
    (4, "class 4 is out of range: model 'toy' has classes 0-3"),
    (-1, "class -1 is out of range"),
    ("golden retreiver", "model 'toy' has no class named 'golden retreiver'; close: 'golden retriever' (1)"),
    ("zebra", "model 'toy' has no class named 'zebra'"),
    ("x" * 500, "no class named 'xxx"),
    ("9" * 5000, "class 99999"),  # more digits than int() converts: still the out-of-range line
    (True, "a class is an index or a name, not bool"),
    (1.0, "a class is an index or a name, not float"),
])
def test_a_class_the_model_does_not_have_is_one_line_naming_it(conditional, wanted, expected):
    with pytest.raises(SefaZooError) as excinfo:
        resolve_class(conditional, wanted, "toy")
    message = one_line_error(excinfo)
    assert expected in message and len(message) < 300


def test_a_name_of_several_classes_asks_for_the_index():
    generator = SimpleNamespace(num_classes=3, class_names=("crane", "maillot", "Crane"))
    with pytest.raises(SefaZooError, match=r"class name 'crane' names several classes \(0, 2\): give the index"):
        resolve_class(generator, "crane")


def test_a_model_without_class_names_takes_indices_only(conditional):
    generator = FakeConditionalGenerator(fake_tensors(), class_names=None)
    assert resolve_class(generator, "2") == ChosenClass(2, None)
    assert ChosenClass(2).label() == "class 2"
    with pytest.raises(SefaZooError, match="has no class names: give the class as an index, not 'cat'"):
        resolve_class(generator, "cat")


def test_a_conditional_model_needs_a_class_and_an_unconditional_one_takes_none(conditional, fake_bank):
    with pytest.raises(SefaZooError) as excinfo:
        plan_edits(conditional, fake_bank, [0], [1.0], [0], model="biggan-toy")
    assert one_line_error(excinfo) == "model 'biggan-toy' is class-conditional (4 classes): give --class"
    with pytest.raises(SefaZooError) as excinfo:
        plan_edits(FakeWPlusGenerator(fake_tensors()), fake_bank, [0], [1.0], [0], class_index=2, model="plain")
    assert one_line_error(excinfo) == "model 'plain' is not class-conditional: it takes no class (got 2)"
    with pytest.raises(SefaZooError, match="is class-conditional"):
        codes_from_seeds(conditional, [0])
    with pytest.raises(SefaZooError, match="not class-conditional"):
        codes_from_seeds(FakeWPlusGenerator(fake_tensors()), [0], class_index=0)


@pytest.mark.parametrize("attributes, expected", [
    ({"num_classes": 2, "class_names": ("a",)}, "class_names must be 2 strings"),
    ({"num_classes": 2, "class_names": ("a", 3)}, "class_names must be 2 strings"),
    ({"num_classes": -1}, "num_classes must be a whole number >= 0"),
    ({"num_classes": 2.0}, "num_classes must be a whole number >= 0"),
])
def test_a_generator_with_bad_class_attributes_is_named(attributes, expected):
    with pytest.raises(SefaZooError, match=expected):
        resolve_class(SimpleNamespace(**attributes), 0)


# the class through mapping and synthesis


def test_map_and_synthesize_get_the_class_for_every_image(conditional, fake_bank):
    plan = plan_edits(conditional, fake_bank, [0, 1], [-1.0, 2.0], [0, 5, 9], class_index="crane",
                      truncation_psi=0.6)
    assert plan.chosen_class == ChosenClass(2, "crane") and plan.class_index == 2
    images = [images for _, images in iter_edit_batches(conditional, fake_bank, plan, batch_size=5)]
    assert sum(len(batch) for batch in images) == plan.count
    assert [c.tolist() for c in conditional.map_classes] == [[2, 2, 2]]
    assert [(c.tolist(), psi) for c, psi in conditional.synthesize_calls] == [
        ([2] * 5, 0.6), ([2] * 5, 0.6), ([2] * 2, 0.6)]
    assert all(c.dtype == torch.long for c, _ in conditional.synthesize_calls)


def test_the_class_changes_the_codes_and_the_images(conditional, fake_bank):
    z = latents_from_seeds([0, 1], conditional.z_dim)
    for index in range(conditional.num_classes):
        codes = codes_from_seeds(conditional, [0, 1], truncation_psi=1.0, class_index=index)
        expected = z @ conditional.tensors["mapping"].T + conditional.embedding[index]
        torch.testing.assert_close(codes[:, 0], expected)
    cat = render_edits(conditional, fake_bank, [0], [0.0, 1.0], [0], class_index=0)
    dog = render_edits(conditional, fake_bank, [0], [0.0, 1.0], [0], class_index="golden retriever")
    assert cat.shape == dog.shape and not torch.allclose(cat, dog)


def test_unconditional_generators_are_called_as_before(fake_bank):
    """Third-party generators whose map and synthesize take no class keywords keep working."""
    generator = FakeWPlusGenerator(fake_tensors())
    images = render_edits(generator, fake_bank, [0, 1], [-1.0, 1.0], [0, 1])
    assert images.shape[:3] == (2, 2, 2) and generator.synthesized


def test_a_generator_may_set_its_own_default_truncation(conditional, fake_bank):
    assert default_truncation_psi(conditional) == 0.7
    conditional.default_truncation_psi = 0.4
    assert default_truncation_psi(conditional) == 0.4
    assert plan_edits(conditional, fake_bank, [0], [1.0], [0], class_index=0).truncation_psi == 0.4
    assert plan_edits(conditional, fake_bank, [0], [1.0], [0], class_index=0, truncation_psi=1).truncation_psi == 1
    for bad in (float("nan"), "0.4", True):
        conditional.default_truncation_psi = bad
        with pytest.raises(SefaZooError, match="default_truncation_psi must be a finite number"):
            default_truncation_psi(conditional)


# outputs say which class


@pytest.fixture
def rendered(conditional, fake_bank):
    plan = plan_edits(conditional, fake_bank, [0, 1], [-1.0, 0.0, 1.0], [0, 1], class_index=1)
    pixels = np.zeros((*plan.shape, 8, 8, 3), dtype=np.uint8)
    return RenderedEdits(pixels, fake_bank, plan, "toy")


def test_grids_report_and_animations_name_the_class(rendered, fake_bank, conditional):
    label = "class 1 (golden retriever)"
    assert rendered.class_text() == label
    html = html_report(rendered)
    assert f"<title>SeFa edits: toy, {label}</title>" in html
    assert "<th scope=\"row\">class</th><td>1 (golden retriever)</td>" in html
    wide = sweep_captions(rendered, 0, 2000, label_font())
    assert all(caption.startswith(label) for caption in wide)
    narrow = sweep_captions(rendered, 0, 60, label_font())
    assert label not in "".join(narrow)  # too narrow for the class: the bare distances
    from sefa_zoo.outputs.grids import grid_title

    assert grid_title(rendered, "rows").startswith(f"toy, {label}: rows;")
    unconditional = plan_edits(FakeWPlusGenerator(fake_tensors()), fake_bank, [0], [0.0], [0])
    plain = RenderedEdits(np.zeros((1, 1, 1, 8, 8, 3), np.uint8), fake_bank, unconditional, "toy")
    assert plain.class_text() is None and "class" not in grid_title(plain, "rows")
    assert "<th scope=\"row\">class</th>" not in html_report(plain)
    with_class = overview_grid(rendered)
    assert with_class.height >= overview_grid(RenderedEdits(rendered.pixels, fake_bank, rendered.plan, "t")).height


# banks record the z part


def test_a_bank_records_the_z_part_of_cat_z_label_layers(conditional_dcgan_file, tmp_path):
    bank = factorize_file(conditional_dcgan_file, options={"classes": "4"})
    assert bank.latent_parts == (Z_PART,) and bank.latent_dim == 6
    path = save_bank(bank, tmp_path / "bank.safetensors")
    with safe_open(str(path), framework="pt") as f:
        assert json.loads(f.metadata()["latent_parts"]) == [Z_PART]
    assert load_bank(path).latent_parts == (Z_PART,)


def test_banks_of_whole_inputs_and_older_banks_have_no_latent_parts(dcgan_file, tmp_path):
    bank = factorize_file(dcgan_file)
    assert bank.latent_parts == ()
    path = save_bank(bank, tmp_path / "bank.safetensors")
    with safe_open(str(path), framework="pt") as f:
        assert "latent_parts" not in f.metadata()  # as banks were written before the field existed
    assert load_bank(path).latent_parts == ()


@pytest.mark.parametrize("value, expected", [
    ('["a", "b"]', "'latent_parts' and 'layer_names' differ in length"),
    ("[1]", "'latent_parts' is not a JSON list of strings"),
    ('"z"', "'latent_parts' is not a JSON list of strings"),
    ('["line\\nbreak"]', "'latent_parts' must hold one-line descriptions"),
    ("[" * 100000, "'latent_parts'"),
])
def test_hostile_latent_parts_are_refused_in_one_line(conditional_dcgan_file, tmp_path, value, expected):
    bank = factorize_file(conditional_dcgan_file, options={"classes": "4"})
    tensors = {"directions": torch.from_numpy(bank.directions), "eigenvalues": torch.from_numpy(bank.eigenvalues)}
    from safetensors.torch import save_file

    path = tmp_path / "hostile.safetensors"
    save_file(tensors, str(path), metadata={**bank.metadata(), "latent_parts": value})
    with pytest.raises(BankError) as excinfo:
        load_bank(path)
    assert expected in one_line_error(excinfo) and str(path) in str(excinfo.value)


def test_a_bank_of_the_z_part_says_so_when_the_model_is_opened_whole(conditional_dcgan_file):
    bank = factorize_file(conditional_dcgan_file, options={"classes": "4"})
    whole = load_generator(conditional_dcgan_file)
    with pytest.raises(BankError) as excinfo:
        plan_edits(whole, bank, [0], [1.0], [0])
    assert f"factorized on part of a layer's input: {Z_PART}" in one_line_error(excinfo)


# DCGAN fed cat(z, one-hot label)


def test_dcgan_classes_option_factorizes_the_z_columns_only(conditional_dcgan_file):
    from sefa_zoo import open_checkpoint
    from sefa_zoo.lookup import get_architecture

    dcgan = get_architecture("dcgan")
    checkpoint = open_checkpoint(conditional_dcgan_file)
    (layer,) = dcgan.layers(checkpoint, classes="4")
    assert (layer.latent_dim, layer.outputs, layer.latent_part) == (6, 8 * 4 * 4, Z_PART)
    (whole,) = dcgan.layers(checkpoint)
    assert (whole.latent_dim, whole.latent_part) == (10, "")
    (matrix,) = torch_matrices(dcgan.projection(checkpoint, [0], classes=4))
    weight = checkpoint["main.0.weight"]
    torch.testing.assert_close(matrix, weight[:6].reshape(6, -1).T)
    for bad in ("0", "10", "-1", "four", "1.5", True, "9" * 5000):
        with pytest.raises(SefaZooError, match=r"option classes=.* is not valid for dcgan: .* 1 to 9"):
            dcgan.layers(checkpoint, classes=bad)


def test_conditional_dcgan_synthesizes_cat_z_one_hot(conditional_dcgan_file):
    generator = load_generator(conditional_dcgan_file, options={"classes": "4"})
    assert (generator.num_classes, generator.z_dim, generator.latent_dim) == (4, 6, 6)
    assert not hasattr(generator, "class_names")
    z = latents_from_seeds([0, 1, 2], 6)
    classes = torch.tensor([0, 3, 1])
    codes = generator.map(z, classes=classes)
    images = generator.synthesize(codes, classes=classes)
    label = torch.nn.functional.one_hot(classes, 4).float()
    expected = generator.main(torch.cat([z, label], 1)[:, :, None, None])
    torch.testing.assert_close(images, expected)
    for call in (lambda: generator.map(z), lambda: generator.synthesize(codes),
                 lambda: generator.synthesize(codes, classes=torch.tensor([0, 4, 1])),
                 lambda: generator.synthesize(codes, classes=torch.tensor([0.0, 1.0, 1.0]))):
        with pytest.raises(SefaZooError):
            call()
    with pytest.raises(SefaZooError, match="not class-conditional"):
        load_generator(conditional_dcgan_file).map(torch.zeros(1, 10), classes=torch.tensor([0]))


def test_options_reach_the_generator_only_when_its_architecture_knows_them(conditional_dcgan_file, fake_bank):
    with pytest.raises(SefaZooError, match="architecture 'dcgan' has no option 'torgb'"):
        load_generator(conditional_dcgan_file, options={"torgb": "all"})
    with pytest.raises(SefaZooError, match="architecture options go with a model name or a checkpoint path"):
        render_edits(FakeWPlusGenerator(fake_tensors()), fake_bank, options={"classes": "4"})


def test_cli_factorize_and_edit_a_conditional_dcgan(conditional_dcgan_file, tmp_path):
    bank_file = tmp_path / "bank.safetensors"
    result = run("factorize", "--checkpoint", conditional_dcgan_file, "--option", "classes=4", "-o", bank_file)
    assert result.exit_code == 0, result.output
    assert f"factorized on part of main.0's input: {Z_PART}" in result.stdout
    result = run("factorize", "--checkpoint", conditional_dcgan_file, "--option", "classes=4", "--json",
                 "-o", tmp_path / "again.safetensors")
    assert json.loads(result.stdout)["latent_parts"] == [Z_PART]

    out = tmp_path / "edits"
    result = run("edit", "--checkpoint", conditional_dcgan_file, "--option", "classes=4", "--class", "3",
                 "-d", "0-1", "-s", "0,1", "--steps", "3", "-o", out)
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert "SeFa edits: cdcgan, class 3</title>" in html and "<td>3</td>" in html and Z_PART in html
    assert load_bank(out / "bank.safetensors").latent_parts == (Z_PART,)

    generator = load_generator(conditional_dcgan_file, options={"classes": "4"})
    expected = render_edits(generator, load_bank(out / "bank.safetensors"), [0], [-3.0], [0], class_index=3)
    other = render_edits(generator, load_bank(out / "bank.safetensors"), [0], [-3.0], [0], class_index=2)
    assert not torch.allclose(expected, other)
    with Image.open(out / "overview.png") as grid:
        assert grid.width > 3 * 128


@pytest.mark.parametrize("args, expected", [
    (["--option", "classes=4"], "model 'cdcgan' is class-conditional (4 classes): give --class"),
    (["--option", "classes=4", "--class", "7"], "class 7 is out of range: model 'cdcgan' has classes 0-3"),
    (["--option", "classes=4", "--class", "cat"], "model 'cdcgan' has no class names"),
    (["--class", "1"], "model 'cdcgan' is not class-conditional: it takes no class (got '1')"),
    (["--option", "classes=11", "--class", "1"], "option classes='11' is not valid for dcgan"),
    (["--option", "oops"], "--option 'oops' must look like KEY=VALUE"),
])
def test_cli_edit_class_errors_are_one_line(conditional_dcgan_file, tmp_path, args, expected):
    out = tmp_path / "edits"
    result = run("edit", "--checkpoint", conditional_dcgan_file, "-o", out, "--steps", "2", "-s", "0", *args)
    assert result.exit_code == 1, result.output
    assert result.output.strip() == f"Error: {expected}" or (
        expected in result.output and len(result.output.strip().splitlines()) == 1), result.output
    assert not out.exists()


def test_truncation_of_a_single_code_model_names_no_layers(conditional_dcgan_file):
    """BigGAN-like models truncate their one z code (default 0.4): 'on layers below 8' would mean nothing."""
    generator = load_generator(conditional_dcgan_file, options={"classes": "4"})
    bank = factorize_file(conditional_dcgan_file, options={"classes": "4"})
    generator.default_truncation_psi = 0.4
    plan = plan_edits(generator, bank, [0], [0.0], [0], class_index=1)
    rendered = RenderedEdits(np.zeros((1, 1, 1, 8, 8, 3), np.uint8), bank, plan, "toy")
    assert rendered.truncation_text() == "psi 0.4"
    assert "<td>psi 0.4</td>" in html_report(rendered)
