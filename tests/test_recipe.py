"""Edit recipes: saved and loaded back, they give exactly the same pixels; a different
checkpoint or bank is a one-line error naming which; a recipe file is hostile input."""

from __future__ import annotations

import copy
import dataclasses
import json
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from sefa_zoo import OutputPathError, factorize_file, factorize_model, save_bank
from sefa_zoo.editing import open_generator, plan_combined, render_combined
from sefa_zoo.errors import RecipeError, SefaZooError
from sefa_zoo.recipe import (
    MAX_RECIPE_BYTES,
    load_recipe,
    make_recipe,
    open_recipe,
    parse_recipe,
    recipe_from_json,
    recipe_to_json,
    render_recipe,
    save_recipe,
)

from support.editing_toys import boundary_bank_of, fake_tensors, fake_wplus  # noqa: F401  (fake_wplus: fixture)

DEMO = "stylegan2-shapes"


def one_line(info) -> str:
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return message


@pytest.fixture(scope="module")
def demo():
    loaded = open_generator(DEMO)
    bank = factorize_model(DEMO, layers="2-5", k=12, progress=False)
    edit = plan_combined(loaded.generator, bank, {0: 2.5, 3: -1.25, 7: 0.0}, [0, 3, 11], truncation_psi=0.6,
                         truncation_cutoff=4, architecture=loaded.architecture)
    return loaded, bank, edit


@pytest.fixture
def demo_recipe(demo):
    loaded, bank, edit = demo
    return make_recipe(loaded, bank, edit)


def test_a_demo_recipe_gives_back_the_same_pixels(demo, demo_recipe, tmp_path):
    loaded, bank, edit = demo
    path = save_recipe(demo_recipe, tmp_path / "edit.recipe.json")
    assert path.stat().st_size < 2048
    loaded_back = load_recipe(path)
    assert loaded_back == demo_recipe
    original, edited = render_combined(loaded.generator, bank, edit)
    again = render_recipe(loaded_back)
    assert torch.equal(again[0], original) and torch.equal(again[1], edited)
    assert not torch.equal(original, edited)


def test_a_recipe_records_everything_the_image_depends_on(demo_recipe, demo):
    loaded, bank, _ = demo
    data = recipe_to_json(demo_recipe)
    assert data["format"] == "sefa-zoo edit recipe" and data["version"] == 1
    assert data["model"] == {"catalogue": DEMO, "checkpoint_sha256": loaded.sha256, "architecture": "stylegan2",
                             "layout": "sefa-zoo", "options": {}}
    assert data["bank"] == {"digest": bank.digest(), "factorized": {"layers": "2-5", "k": 12, "normalization": "rows"}}
    assert data["seeds"] == [0, 3, 11] and data["layers"] == [2, 3, 4, 5]
    assert data["truncation_psi"] == 0.6 and data["truncation_cutoff"] == 4 and data["class_index"] is None
    assert data["distances"] == {"0": 2.5, "3": -1.25, "7": 0.0}  # every slider, zeros too
    assert data["direction_names"] == {}


def test_floats_survive_the_file_bit_for_bit(demo, tmp_path):
    loaded, bank, _ = demo
    awkward = {0: 0.1 + 0.2, 1: -1 / 3, 2: 5e-324, 3: 1e-7}
    edit = plan_combined(loaded.generator, bank, awkward, [1], truncation_psi=2 / 3)
    back = load_recipe(save_recipe(make_recipe(loaded, bank, edit), tmp_path / "r.json"))
    assert back.distance_map == awkward and back.truncation_psi == 2 / 3


def test_a_bank_file_recipe_needs_that_bank_and_keeps_its_names(demo, tmp_path):
    loaded, bank, edit = demo
    named = bank.with_names({0: "position", 3: "hair colour"})
    bank_path = save_bank(named, tmp_path / "named.safetensors")
    recipe = make_recipe(loaded, named, edit, bank_file=bank_path)
    assert recipe_to_json(recipe)["bank"] == {"digest": bank.digest(), "file": "named.safetensors"}
    assert recipe.direction_names == ((0, "position"), (3, "hair colour"))
    with pytest.raises(RecipeError, match="the recipe's directions come from the bank file 'named.safetensors': "
                                          "give it with --bank") as info:
        render_recipe(recipe)
    one_line(info)
    opened = open_recipe(recipe, bank_file=bank_path)
    assert opened.bank.name_of(3) == "hair colour" and opened.edit == edit
    assert torch.equal(render_recipe(recipe, bank_file=bank_path)[1], render_combined(loaded.generator, bank, edit)[1])
    other = save_bank(factorize_model(DEMO, layers="0-1", progress=False), tmp_path / "other.safetensors")
    with pytest.raises(RecipeError, match=r"bank .*other.safetensors is not the recipe's: its digest is [0-9a-f]{12}"
                                          r"\.\.\., the recipe's \(the bank file named.safetensors\) is") as info:
        render_recipe(recipe, bank_file=other)
    one_line(info)


@pytest.mark.parametrize("change, what", [
    (lambda bank: dataclasses.replace(bank, method="ganspace"), "a ganspace bank"),
    (lambda bank: bank.with_direction_layers({0: [2]}), "a bank with per-direction layers"),
])
def test_only_what_factorizing_makes_is_recorded_as_factorized_on_the_fly(demo, tmp_path, change, what):
    loaded, bank, edit = demo
    other = change(bank)
    with pytest.raises(RecipeError, match=f"{what} cannot be made again by factorizing: save it and record its "
                                          "file") as info:
        make_recipe(loaded, other, edit)
    one_line(info)
    recipe = make_recipe(loaded, other, edit, bank_file=tmp_path / "other.safetensors")
    assert recipe.bank.file_name == "other.safetensors" and recipe.bank.digest == other.digest()


def test_names_in_the_recipe_name_the_directions_of_a_factorized_bank(demo):
    loaded, bank, edit = demo
    recipe = make_recipe(loaded, bank.with_names({1: "size"}), edit)
    assert open_recipe(recipe).bank.direction_names[:2] == ("", "size")


def test_a_checkpoint_file_recipe_checks_the_file_by_sha256(fake_wplus, tmp_path):
    loaded = open_generator(fake_wplus)
    bank = factorize_file(fake_wplus, layers="1-2")
    edit = plan_combined(loaded.generator, bank, {1: 1.5}, [2, 4])
    recipe = make_recipe(loaded, bank, edit, options={})
    assert recipe_to_json(recipe)["model"]["checkpoint_file"] == "fake_wplus.safetensors"
    with pytest.raises(RecipeError, match="the recipe's model is the checkpoint file 'fake_wplus.safetensors': "
                                          "give it with --checkpoint"):
        render_recipe(recipe)
    other = tmp_path / "other.safetensors"
    save_file(fake_tensors(seed=1), str(other))
    with pytest.raises(RecipeError, match=r"checkpoint .*other.safetensors is not the recipe's checkpoint: its sha256 "
                                          r"is [0-9a-f]{12}\.\.\., the recipe's fake_wplus.safetensors has") as info:
        render_recipe(recipe, checkpoint=other)
    one_line(info)
    with pytest.raises(RecipeError, match="no such checkpoint file"):
        render_recipe(recipe, checkpoint=tmp_path / "missing.pt")
    original, edited = render_recipe(recipe, checkpoint=fake_wplus)
    expected = render_combined(loaded.generator, bank, edit)
    assert torch.equal(original, expected[0]) and torch.equal(edited, expected[1])


def test_a_catalogue_recipe_takes_no_checkpoint_file(demo_recipe, fake_wplus):
    with pytest.raises(RecipeError, match="the catalogue's 'stylegan2-shapes', which is fetched or taken from the "
                                          "cache; a checkpoint file goes with a recipe of a checkpoint file"):
        render_recipe(demo_recipe, checkpoint=fake_wplus)


def test_a_catalogue_model_with_another_checkpoint_now_is_refused(demo_recipe):
    moved = dataclasses.replace(demo_recipe, model=dataclasses.replace(demo_recipe.model, checkpoint_sha256="0" * 64))
    with pytest.raises(RecipeError, match=r"the catalogue's stylegan2-shapes is now the checkpoint with sha256 "
                                          r"220ab416dfe0\.\.\., not the recipe's 000000000000\.\.\.") as info:
        render_recipe(moved)
    one_line(info)
    gone = dataclasses.replace(demo_recipe, model=dataclasses.replace(demo_recipe.model, name="no-such-model"))
    with pytest.raises(RecipeError, match="'no-such-model' is not in the catalogue"):
        render_recipe(gone)


def test_directions_factorized_now_must_have_the_recipes_digest(demo_recipe):
    other = dataclasses.replace(demo_recipe, bank=dataclasses.replace(demo_recipe.bank, digest="f" * 64))
    with pytest.raises(RecipeError, match=r"the directions factorized now \(layers 2-5, k 12\) differ from the "
                                          r"recipe's: .*give the bank they came from with --bank") as info:
        render_recipe(other)
    one_line(info)


def test_the_edit_is_checked_against_the_model_and_bank(demo_recipe):
    too_far = dataclasses.replace(demo_recipe, distances=((12, 1.0),))
    with pytest.raises(SefaZooError, match="direction 12 is out of range: the bank has directions 0-11"):
        render_recipe(too_far)
    high = dataclasses.replace(demo_recipe, layers=(0, 99))
    with pytest.raises(SefaZooError, match="layer 99 is out of range: the model has layers 0-7"):
        render_recipe(high)


# saving


def test_save_is_atomic_and_refuses_what_it_could_not_load_back(demo_recipe, tmp_path):
    with pytest.raises(OutputPathError, match="not a regular file"):
        save_recipe(demo_recipe, tmp_path)
    target = tmp_path / "r.json"
    target.write_text("before")
    many = dataclasses.replace(demo_recipe, seeds=tuple(range(65)))
    with pytest.raises(RecipeError, match=r"'seeds' must hold 1 to 64 items, not 65"):
        save_recipe(many, target)
    assert target.read_text() == "before" and sorted(os.listdir(tmp_path)) == ["r.json"]


# hostile files


@pytest.fixture
def valid(demo_recipe):
    data = recipe_to_json(demo_recipe)
    data["direction_names"] = {"0": "position"}
    return data


def test_the_valid_json_loads(valid, demo_recipe):
    assert recipe_from_json(valid, "r.json") == dataclasses.replace(demo_recipe, direction_names=((0, "position"),))


def _set(data, dotted, value):
    *parents, last = dotted.split(".")
    for key in parents:
        data = data[key]
    if value is DELETE:
        del data[last]
    else:
        data[last] = value


DELETE = object()


@pytest.mark.parametrize("field, value, message", [
    ("format", "something else", "'format' must be 'sefa-zoo edit recipe'"),
    ("version", 2, "recipe version 2 is not one this sefa-zoo reads"),
    ("version", "1", "'version' must be a whole number"),
    ("seeds", DELETE, "the recipe lacks 'seeds'"),
    ("extra", 1, 'the recipe has an unknown key "extra"'),
    ("seeds", [], "'seeds' must hold 1 to 64 items, not 0"),
    ("seeds", [2**32], "'seeds\\[0\\]' must be a whole number from 0 to 4294967295, not 4294967296"),
    ("seeds", [True], "'seeds\\[0\\]' must be a whole number"),
    ("seeds", [1.0], "'seeds\\[0\\]' must be a whole number"),
    ("seeds", {"0": 1}, "'seeds' must be a JSON list"),
    ("truncation_psi", "0.7", "'truncation_psi' must be a number"),
    ("truncation_psi", 1e300, "'truncation_psi' must be a number from -1000 to 1000"),
    ("truncation_cutoff", -1, "'truncation_cutoff' must be a whole number from 0"),
    ("class_index", 1.5, "'class_index' must be a whole number"),
    ("layers", [1, 1], "'layers' names a layer twice"),
    ("layers", list(range(1025)), "'layers' must hold 1 to 1024 items"),
    ("distances", {"00": 1.0}, "'distances' has the key \"00\", not a direction index"),
    ("distances", {"-1": 1.0}, "not a direction index"),
    ("distances", {"1": None}, "'distances.1' must be a number"),
    ("distances", {"1": 2e6}, "'distances.1' must be a number from -1e\\+06 to 1e\\+06"),
    ("distances", {str(i): 0.0 for i in range(4097)}, "'distances' has 4097 entries; at most 4096"),
    ("direction_names", {"0": "two\nlines"}, "'direction_names.0' must be one line of 1 to 80 characters"),
    ("direction_names", {"0": " padded"}, "'direction_names.0' must not start or end with spaces"),
    ("direction_names", {"0": "x" * 81}, "'direction_names.0' must be one line"),
    ("model", [], "'model' must be a JSON object"),
    ("model.catalogue", DELETE, "'model' must have exactly one of 'catalogue' and 'checkpoint_file'"),
    ("model.checkpoint_file", "x.pt", "'model' must have exactly one of"),
    ("model.checkpoint_sha256", "ABC", "'model.checkpoint_sha256' must be 64 lower-case hex digits"),
    ("model.architecture", "", "'model.architecture' must be one line of 1 to 256"),
    ("model.options", {"k": 1}, "'model.options.k' must be one line"),
    ("model.options", {str(i): "" for i in range(33)}, "'model.options' has 33 entries; at most 32"),
    ("bank.digest", 7, "'bank.digest' must be 64 lower-case hex digits"),
    ("bank.file", "../../etc/passwd", "'bank' must have exactly one of 'file' and 'factorized'"),
    ("bank.factorized.k", 0, "'bank.factorized.k' must be a whole number from 1"),
    ("bank.factorized.normalization", "columns", "'bank.factorized.normalization' must be one of rows, none"),
    ("bank.factorized.extra", 1, "'bank.factorized' has an unknown key"),
])
def test_every_bad_field_is_a_one_line_error_naming_it(valid, field, value, message):
    data = copy.deepcopy(valid)
    _set(data, field, value)
    with pytest.raises(RecipeError, match=f"^r.json: .*{message}") as info:
        parse_recipe(json.dumps(data), "r.json")
    one_line(info)


@pytest.mark.parametrize("name", ["../bank.safetensors", "a/b.safetensors", "c:\\b.safetensors", ".."])
def test_file_names_in_a_recipe_have_no_folders(valid, name):
    data = copy.deepcopy(valid)
    data["bank"] = {"digest": valid["bank"]["digest"], "file": name}
    with pytest.raises(RecipeError, match="'bank.file' must be a file name without folders"):
        parse_recipe(json.dumps(data), "r.json")


@pytest.mark.parametrize("text, message", [
    ("", "not valid JSON: Expecting value \\(line 1\\)"),
    ("{\"format\": 1,}", "not valid JSON"),
    ("[" * 100_000, "larger than a recipe can be"),
    ("[" * 30_000 + "]" * 30_000, "nested too deeply"),
    ("{\"seeds\": [" + "9" * 5000 + "]}", "holds a number of 5000 characters"),
    ("{\"truncation_psi\": 0." + "1" * 100 + "}", "holds a number of 102 characters"),
    ("{\"truncation_psi\": NaN}", "not valid JSON: NaN is not a JSON number"),
    ("{\"truncation_psi\": -Infinity}", "not valid JSON"),
    ("{\"seeds\": [1], \"seeds\": [2]}", "the key \"seeds\" appears twice in one object"),
    ("[]", "the recipe must be a JSON object"),
    ("null", "the recipe must be a JSON object"),
])
def test_broken_json_is_a_one_line_error(text, message):
    with pytest.raises(RecipeError, match=f"^r.json: {message}") as info:
        parse_recipe(text, "r.json")
    one_line(info)


def test_a_file_is_read_only_up_to_the_size_limit(tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(2**40)  # a sparse terabyte: reading it whole would never end
    with pytest.raises(RecipeError, match="big.json: larger than a recipe can be \\(64 KiB\\)"):
        load_recipe(big)
    big.write_bytes(b"\xff\xfe" * 10)
    with pytest.raises(RecipeError, match="not UTF-8 text"):
        load_recipe(big)
    assert MAX_RECIPE_BYTES == 65536


def test_only_regular_files_are_read(tmp_path):
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_recipe(tmp_path / "missing.json")
    with pytest.raises(RecipeError, match="is a folder, not a recipe file"):
        load_recipe(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(RecipeError, match="is a named pipe, not a recipe file"):
        load_recipe(fifo)  # opening it would wait forever for a writer


# fuzzing

FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
              st.text(max_size=90)),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=20,
)
FIELDS = ["format", "version", "model", "bank", "seeds", "truncation_psi", "truncation_cutoff", "class_index",
          "layers", "distances", "direction_names", "model.catalogue", "model.options", "model.checkpoint_sha256",
          "model.layout", "bank.digest", "bank.factorized", "bank.factorized.layers", "bank.factorized.k",
          "distances.0", "distances.3", "direction_names.0", "to_distance", "other"]


def _accepted(text):
    try:
        recipe = parse_recipe(text, "r.json")
    except RecipeError as error:
        assert len(str(error).splitlines()) == 1 and len(str(error)) < 400
        return
    assert recipe_from_json(recipe_to_json(recipe), "again") == recipe
    assert all(0 <= seed < 2**32 for seed in recipe.seeds) and 1 <= len(recipe.seeds) <= 64


@FUZZ
@given(changes=st.lists(st.tuples(st.sampled_from(FIELDS), st.one_of(JSON_VALUES, st.just(DELETE))), max_size=4))
def test_fuzzed_fields(valid, changes):
    data = copy.deepcopy(valid)
    for field, value in changes:
        try:
            _set(data, field, value)
        except (KeyError, TypeError, IndexError):
            continue
    _accepted(json.dumps(data))


@FUZZ
@given(cut=st.integers(0, 4000), junk=st.text(max_size=20))
def test_fuzzed_text(valid, cut, junk):
    text = json.dumps(valid)
    _accepted(text[:cut] + junk + text[cut:])


@FUZZ
@given(value=JSON_VALUES)
def test_fuzzed_documents(value):
    _accepted(json.dumps(value))


# boundaries


def test_a_recipe_that_moves_to_a_distance_from_a_boundary_renders_that(fake_wplus, tmp_path):
    loaded = open_generator(fake_wplus)
    bank = boundary_bank_of(loaded.generator, "w", np.random.default_rng(3).standard_normal(6), 0.5)
    bank_file = save_bank(bank, tmp_path / "boundary.safetensors")
    edit = plan_combined(loaded.generator, bank, {0: -1.5}, [0, 1], to_distance=True)
    recipe = make_recipe(loaded, bank, edit, bank_file=bank_file)
    assert recipe_to_json(recipe)["to_distance"] is True
    back = load_recipe(save_recipe(recipe, tmp_path / "r.json"))
    assert back.to_distance and open_recipe(back, bank_file=bank_file, checkpoint=fake_wplus).edit == edit
    _, edited = render_recipe(back, bank_file=bank_file, checkpoint=fake_wplus)
    assert torch.equal(edited, render_combined(loaded.generator, bank, edit)[1])
    moved_by = plan_combined(loaded.generator, bank, {0: -1.5}, [0, 1])
    assert not torch.equal(edited, render_combined(loaded.generator, bank, moved_by)[1])
    assert "to_distance" not in recipe_to_json(make_recipe(loaded, bank, moved_by, bank_file=bank_file))


@pytest.mark.parametrize("value", [1, "true", None, 0])
def test_to_distance_is_true_or_false(valid, value):
    with pytest.raises(RecipeError, match="'to_distance' must be true or false"):
        parse_recipe(json.dumps({**valid, "to_distance": value}), "r.json")
