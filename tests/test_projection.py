"""Conditional manipulation (sefa_zoo.conditioning, `sefa-zoo project`): a direction with any
number of other directions projected out, written as a one-direction bank that records them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from sefa_zoo import BankError, SefaZooError, factorize_file, factorize_model, load_bank, save_bank
from sefa_zoo.cli.project import project
from sefa_zoo.conditioning import MAX_CONDITIONS, DirectionRef, project_direction
from sefa_zoo.editing import codes_from_seeds, edited_codes, open_generator, plan_combined, render_combined

from support.editing_toys import command_runner, fake_wplus, folder_contents  # noqa: F401  (fixtures)
from support.direction_toys import ARCHITECTURE_CASES, architecture_fixtures, random_bank  # noqa: F401

run = command_runner(project=project)
DEMO = "stylegan2-shapes"


@pytest.fixture(scope="module")
def demo_banks():
    return factorize_model(DEMO, layers="all", k=8, progress=False), factorize_model(DEMO, layers="0-1", k=8,
                                                                                       progress=False)


def test_the_result_is_unit_and_orthogonal_to_every_condition_in_the_span_of_the_inputs():
    source, other = random_bank(k=3, dim=16, seed=1), random_bank(k=5, dim=16, seed=2)
    conditions = [DirectionRef(other, j, "other") for j in range(5)] + [DirectionRef(source, 2, "source")]
    projected = project_direction(DirectionRef(source, 0, "source"), conditions)
    result = projected.directions[0].astype(np.float64)
    assert projected.k == 1
    assert abs(np.linalg.norm(result) - 1) < 1e-6
    for condition in conditions:  # six conditions: no limit at two
        assert abs(condition.vector @ result) < 1e-6
    span = np.stack([source.directions[0], *(c.vector for c in conditions)]).astype(np.float64)
    coefficients, *_ = np.linalg.lstsq(span.T, result, rcond=None)
    np.testing.assert_allclose(span.T @ coefficients, result, atol=1e-6)
    assert result @ source.directions[0] > 0  # the same sense as the direction


def test_the_result_is_what_removing_the_orthonormalized_conditions_one_by_one_gives():
    source, other = random_bank(k=1, dim=12, seed=3), random_bank(k=4, dim=12, seed=4)
    # conditions that are not orthogonal to each other: two banks' directions mixed
    mixed = np.stack([other.directions[0], (other.directions[0] + other.directions[1]) / np.sqrt(2)])
    conditions = [DirectionRef(replace(other, directions=mixed[i:i + 1].astype(np.float32),
                                       eigenvalues=other.eigenvalues[:1]), 0, f"c{i}") for i in range(2)]
    gram_schmidt = [other.directions[0].astype(np.float64), other.directions[1].astype(np.float64)]
    expected = source.directions[0].astype(np.float64)
    for vector in gram_schmidt:
        expected = expected - (expected @ vector) * vector
    expected /= np.linalg.norm(expected)
    projected = project_direction(DirectionRef(source, 0), conditions)
    np.testing.assert_allclose(projected.directions[0], expected, atol=1e-6)
    assert projected.method_info["kept_norm"] == pytest.approx(
        np.linalg.norm(source.directions[0] - gram_schmidt[0] * (source.directions[0] @ gram_schmidt[0])
                       - gram_schmidt[1] * (source.directions[0] @ gram_schmidt[1])), rel=1e-5)


def test_a_condition_given_twice_or_dependent_conditions_change_nothing():
    source, other = random_bank(k=1, dim=10, seed=5), random_bank(k=3, dim=10, seed=6)
    once = project_direction(DirectionRef(source, 0), [DirectionRef(other, 0), DirectionRef(other, 1)])
    twice = project_direction(DirectionRef(source, 0), [DirectionRef(other, 1), DirectionRef(other, 0),
                                                       DirectionRef(other, 1), DirectionRef(other, 0)])
    np.testing.assert_allclose(once.directions, twice.directions, atol=1e-6)


def test_a_direction_nearly_in_the_conditions_span_is_refused_naming_it():
    other = random_bank(k=2, dim=8, seed=7)
    almost = other.directions[0] * 0.6 + other.directions[1] * 0.8 + 0.01 * random_bank(k=1, dim=8, seed=8).directions[0]
    source = replace(other, directions=(almost / np.linalg.norm(almost))[None].astype(np.float32),
                     eigenvalues=other.eigenvalues[:1])
    with pytest.raises(SefaZooError) as error:
        project_direction(DirectionRef(source, 0, "smile.safetensors"),
                          [DirectionRef(other, 0, "age.safetensors"), DirectionRef(other, 1, "age.safetensors")])
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("direction 0 of smile.safetensors lies almost entirely in the span of the conditions")
    assert "direction 1 of age.safetensors alone has cosine +0.8" in message
    with pytest.raises(SefaZooError, match="of smile.safetensors lies almost entirely"):
        project_direction(DirectionRef(other, 1, "smile.safetensors"), [DirectionRef(other, 1, "smile.safetensors")])


@pytest.mark.parametrize("change, message", [
    (dict(model="another"), "condition direction 0 of age.safetensors is for model 'another', but the "
                            "direction is for 'toy'"),
    (dict(latent_space="z"), "condition direction 0 of age.safetensors holds 'z'-space directions, but the "
                             "direction is in 'w'"),
    (dict(checkpoint_sha256="b" * 64), "was computed from another checkpoint of 'toy' (sha256 bbbbbbbbbbbb..., "
                                       "the direction's is aaaaaaaaaaaa...)"),
])
def test_conditions_must_be_of_the_same_model_checkpoint_and_latent_space(change, message):
    source = random_bank(k=1, dim=8, seed=9)
    condition = replace(random_bank(k=1, dim=8, seed=10), **change)
    with pytest.raises(BankError) as error:
        project_direction(DirectionRef(source, 0, "smile.safetensors"), [DirectionRef(condition, 0, "age.safetensors")])
    assert message in str(error.value)


def test_conditions_of_another_dimension_and_indices_out_of_range_are_refused():
    source = random_bank(k=2, dim=8, seed=11)
    with pytest.raises(BankError, match="^condition direction 0 of age.safetensors holds 9-dimensional directions, but the direction has 8"):
        project_direction(DirectionRef(source, 0), [DirectionRef(random_bank(k=1, dim=9, seed=12), 0,
                                                                 "age.safetensors")])
    with pytest.raises(SefaZooError, match=r"^direction 2 of s.safetensors does not exist \(it has directions 0-1\)$"):
        project_direction(DirectionRef(source, 2, "s.safetensors"), [DirectionRef(source, 0)])
    with pytest.raises(SefaZooError, match="no conditions given"):
        project_direction(DirectionRef(source, 0), [])
    with pytest.raises(SefaZooError, match=f"at most {MAX_CONDITIONS}"):
        project_direction(DirectionRef(source, 0), [DirectionRef(source, 1)] * (MAX_CONDITIONS + 1))


def test_the_bank_keeps_the_source_and_records_the_conditions(tmp_path):
    source = random_bank(k=3, dim=8, seed=13).with_names({1: "smile"})
    source = replace(source, method="interfacegan", offsets=np.array([0.5, -2.0, 1.0]),
                     direction_layers=((0, 1), (2, 3), ()), mean=np.full(8, 0.25, dtype=np.float32))
    age = random_bank(k=2, dim=8, seed=14).with_names({0: "age"})
    projected = project_direction(DirectionRef(source, 1, "smile.safetensors"), [DirectionRef(age, 0, "age.safetensors")])
    loaded = load_bank(save_bank(projected, tmp_path / "smile-without-age.safetensors"))
    kept = loaded.method_info["kept_norm"]
    assert 0.05 < kept < 1
    assert (loaded.method, loaded.model, loaded.layer_indices) == ("interfacegan", "toy", source.layer_indices)
    assert loaded.direction_names == ("smile",) and loaded.direction_layers == ((2, 3),)
    np.testing.assert_array_equal(loaded.mean, source.mean)
    assert loaded.eigenvalues.tolist() == [source.eigenvalues[1]]
    assert loaded.method_info["projected_from"] == {
        "file": "smile.safetensors", "digest": source.digest(), "direction": 1, "name": "smile", "method": "interfacegan"}
    assert loaded.method_info["conditions"] == [
        {"file": "age.safetensors", "digest": age.digest(), "direction": 0, "name": "age", "method": "sefa"}]
    # the offset: the new boundary passes through the old one's point nearest the origin, -b n
    assert loaded.offsets.tolist() == pytest.approx([-2.0 * kept])
    nearest = 2.0 * source.directions[1].astype(np.float64)
    assert loaded.directions[0].astype(np.float64) @ nearest + loaded.offsets[0] == pytest.approx(0, abs=1e-6)


def test_editing_along_the_result_leaves_the_conditions_coordinates_unchanged(demo_banks):
    everything, bottom = demo_banks
    generator = open_generator(DEMO).generator
    conditions = [DirectionRef(bottom, j, "bottom") for j in (0, 1, 2)]
    projected = project_direction(DirectionRef(everything, 0, "all"), conditions)
    codes = codes_from_seeds(generator, [0, 1, 2])
    moved = edited_codes(codes, projected, {0: 3.0}) - codes
    assert moved[:, 0].norm(dim=1).tolist() == pytest.approx([3.0] * 3, rel=1e-5)
    for condition in conditions:
        assert (moved.double() @ torch.from_numpy(condition.vector)).abs().max() < 1e-4
    before = (edited_codes(codes, everything, {0: 3.0}) - codes).double() @ torch.from_numpy(conditions[0].vector)
    assert before.abs().max() > 0.05  # the unprojected direction did move them


@pytest.mark.parametrize("case", ARCHITECTURE_CASES)
def test_projected_directions_edit_every_built_in_architecture(architecture_fixtures, case):
    path, options, class_index = architecture_fixtures[case]
    loaded = open_generator(path, options=options)
    everything = factorize_file(path, options=options)
    lowest = str(min(everything.layer_indices))
    low = factorize_file(path, layers=lowest, options=options) if loaded.generator.num_layers > 1 else everything
    conditions = [DirectionRef(low, j, "low") for j in (1, 2)]
    projected = project_direction(DirectionRef(everything, 0, "all"), conditions)
    for condition in conditions:
        assert abs(condition.vector @ projected.directions[0]) < 1e-6
    edit = plan_combined(loaded.generator, projected, {0: 2.0}, [0, 1], class_index=class_index)
    original, edited = render_combined(loaded.generator, projected, edit)
    again = render_combined(loaded.generator, projected, edit)[1]
    assert torch.isfinite(edited).all() and not torch.equal(original, edited)
    assert torch.equal(edited, again)


def test_the_command_writes_the_bank_and_prints_the_cosines(fake_wplus, tmp_path):
    everything = save_bank(factorize_file(fake_wplus), tmp_path / "all.safetensors")
    low = save_bank(factorize_file(fake_wplus, layers="0-1"), tmp_path / "low.safetensors")
    out = tmp_path / "out" / "projected.safetensors"
    result = run("project", everything, "--direction", 1, "--condition", f"{low}:0-1", "--condition", f"{everything}:3",
                 "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"wrote {out}"
    assert "direction 0 of low.safetensors" in result.stdout and "cosine after" in result.stdout
    bank = load_bank(out)
    assert [c["file"] for c in bank.method_info["conditions"]] == ["low.safetensors"] * 2 + ["all.safetensors"]
    assert [c["direction"] for c in bank.method_info["conditions"]] == [0, 1, 3]
    expected = project_direction(DirectionRef(load_bank(everything), 1, "all.safetensors"), [
        DirectionRef(load_bank(low), 0, "low.safetensors"), DirectionRef(load_bank(low), 1, "low.safetensors"),
        DirectionRef(load_bank(everything), 3, "all.safetensors")])
    np.testing.assert_array_equal(bank.directions, expected.directions)


@pytest.mark.parametrize("arguments, message", [
    (["--condition", "{low}"], "--condition '{low}' must look like BANK:J, e.g. smile.safetensors:0"),
    (["--condition", "{low}:9"], "--condition '{low}:9': direction 9 in '9' is out of range: valid directions are 0-5"),
    (["--condition", "{low}:x"], "--condition '{low}:x': direction list item 'x' is not an index N or a range A-B"),
    (["--condition", "{tmp}/missing.safetensors:0"], "{tmp}/missing.safetensors: no such direction bank file"),
    (["--condition", "{low}:0", "-d", "7"], "direction 7 of all.safetensors does not exist (it has directions 0-5)"),
    (["--condition", "{low}:0", "-o", "{low}"], "{low}: is the input file {low}; refusing to overwrite it"),
    (["--condition", "{all}:1"], "direction 1 of all.safetensors lies almost entirely in the span of the conditions"),
])
def test_bad_arguments_are_one_line_errors_and_nothing_is_written(fake_wplus, tmp_path, arguments, message):
    everything = save_bank(factorize_file(fake_wplus), tmp_path / "all.safetensors")
    low = save_bank(factorize_file(fake_wplus, layers="0-1"), tmp_path / "low.safetensors")
    names = dict(low=low, tmp=tmp_path, all=everything)
    before = folder_contents(tmp_path)
    arguments = [argument.format(**names) for argument in arguments]
    if "-o" not in arguments:
        arguments += ["-o", str(tmp_path / "out.safetensors")]
    if "-d" not in arguments:
        arguments += ["-d", "1"]
    result = run("project", everything, *arguments)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert message.format(**names) in result.stderr
    assert folder_contents(tmp_path) == before


def test_a_bank_of_another_model_is_named(fake_wplus, demo_banks, tmp_path):
    everything = save_bank(factorize_file(fake_wplus), tmp_path / "all.safetensors")
    demo = save_bank(demo_banks[0], tmp_path / "demo.safetensors")
    result = run("project", everything, "-d", "0", "--condition", f"{demo}:0", "-o", tmp_path / "out.safetensors")
    assert result.exit_code == 1
    assert result.stderr == ("Error: condition direction 0 of demo.safetensors is for model "
                             "'stylegan2-shapes', but the direction is for 'fake_wplus.safetensors'\n")
