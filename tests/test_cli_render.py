"""`sefa-zoo render RECIPE -o image.png`: the recipe's pixels, full resolution, written
atomically; the checks of the recipe, its checkpoint and its bank as one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sefa_zoo import factorize_file, factorize_model, save_bank
from sefa_zoo.cli.render import render
from sefa_zoo.editing import open_generator, plan_combined, render_combined
from sefa_zoo.outputs.imaging import to_uint8
from sefa_zoo.recipe import make_recipe, save_recipe

from support.editing_toys import command_runner, fake_wplus, folder_contents  # noqa: F401  (fixtures)

run = command_runner(render=render)
DEMO = "stylegan2-shapes"


def pixels(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def expected_row(images):
    """The seeds' images side by side, as uint8 RGB."""
    return np.concatenate(list(to_uint8(images).numpy()), axis=1)


@pytest.fixture(scope="module")
def demo():
    loaded = open_generator(DEMO)
    bank = factorize_model(DEMO, k=8, progress=False)
    edit = plan_combined(loaded.generator, bank, {0: 3.0, 2: -2.0}, [1, 4], truncation_psi=0.5)
    return loaded, bank, edit


def test_render_writes_the_recipes_pixels_at_full_resolution(demo, tmp_path):
    loaded, bank, edit = demo
    recipe = save_recipe(make_recipe(loaded, bank, edit), tmp_path / "edit.json")
    result = run("render", recipe, "-o", tmp_path / "edited.png", "--original", tmp_path / "original.png")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"wrote {tmp_path / 'edited.png'}", f"wrote {tmp_path / 'original.png'}"]
    original, edited = render_combined(loaded.generator, bank, edit)
    assert pixels(tmp_path / "edited.png").shape == (32, 2 * 32, 3)
    np.testing.assert_array_equal(pixels(tmp_path / "edited.png"), expected_row(edited))
    np.testing.assert_array_equal(pixels(tmp_path / "original.png"), expected_row(original))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edit.json", "edited.png", "original.png"]


def test_a_bank_file_recipe_needs_that_bank(demo, tmp_path):
    loaded, bank, edit = demo
    bank_file = save_bank(bank, tmp_path / "mine.safetensors")
    recipe = save_recipe(make_recipe(loaded, bank, edit, bank_file=bank_file), tmp_path / "edit.json")
    out = tmp_path / "edited.png"
    result = run("render", recipe, "-o", out)
    assert result.exit_code == 1
    assert result.stderr == ("Error: the recipe's directions come from the bank file 'mine.safetensors': "
                             "give it with --bank\n")
    other = save_bank(factorize_model(DEMO, layers="0-1", progress=False), tmp_path / "other.safetensors")
    result = run("render", recipe, "-o", out, "--bank", other)
    assert result.exit_code == 1 and "other.safetensors is not the recipe's: its digest is" in result.stderr
    assert not out.exists()
    result = run("render", recipe, "-o", out, "--bank", bank_file)
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(pixels(out), expected_row(render_combined(loaded.generator, bank, edit)[1]))


def test_a_checkpoint_file_recipe_needs_that_file(fake_wplus, tmp_path):
    loaded = open_generator(fake_wplus)
    bank = factorize_file(fake_wplus)
    edit = plan_combined(loaded.generator, bank, {1: -2.0, 4: 1.0}, [0, 1, 2])
    recipe = save_recipe(make_recipe(loaded, bank, edit), tmp_path / "edit.json")
    out = tmp_path / "out" / "edited.png"
    result = run("render", recipe, "-o", out)
    assert result.exit_code == 1 and "give it with --checkpoint" in result.stderr
    result = run("render", recipe, "-o", out, "--checkpoint", fake_wplus)
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(pixels(out), expected_row(render_combined(loaded.generator, bank, edit)[1]))


def test_outputs_are_checked_before_the_work(demo, tmp_path):
    loaded, bank, edit = demo
    recipe = save_recipe(make_recipe(loaded, bank, edit), tmp_path / "edit.json")
    before = folder_contents(tmp_path)
    for args, message in [
        (["-o", recipe], "is the input file"),
        (["-o", tmp_path], "is a folder, not a regular file"),
        (["-o", tmp_path / "a.png", "--original", tmp_path / "a.png"], "each output needs its own file"),
    ]:
        result = run("render", recipe, *args)
        assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert folder_contents(tmp_path) == before


def test_a_broken_recipe_is_a_one_line_error_and_writes_nothing(tmp_path):
    out = tmp_path / "edited.png"
    out.write_bytes(b"earlier")
    cases = [
        (tmp_path / "missing.json", "no such recipe file"),
        (tmp_path, "is a folder, not a recipe file"),
    ]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": "sefa-zoo edit recipe", "version": 1}))
    cases.append((broken, "the recipe lacks 'model'"))
    for recipe, message in cases:
        result = run("render", recipe, "-o", out)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("Error: ") and message in result.stderr and result.stderr.count("\n") == 1
    assert out.read_bytes() == b"earlier"
