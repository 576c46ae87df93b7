"""Per-direction layers (GANSpace's E(i, start-end)): set with `sefa-zoo direction-layers`,
honoured by every edit (edit, the API, combined edits, the editor's edited_codes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from sefa_zoo import factorize_file, load_bank, render_edits, save_bank
from sefa_zoo.cli.direction_layers import direction_layers, parse_direction_layers
from sefa_zoo.cli.main import guarded
from sefa_zoo.editing import edited_codes, plan_combined, plan_edits, render_combined
from sefa_zoo.errors import BankError, SefaZooError

from support.editing_toys import (  # noqa: F401  (fixture)
    NUM_LAYERS, W_DIM, FakeWPlus, FakeWPlusGenerator, command_runner, fake_tensors, fake_wplus,
)


def run(*args: object):
    app = typer.Typer(add_completion=False)
    app.command()(guarded(direction_layers))
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def bank_file(fake_wplus, tmp_path):
    path = tmp_path / "bank.safetensors"
    save_bank(factorize_file(fake_wplus), path)
    return path


def test_assignments_are_parsed_as_layer_lists():
    assert parse_direction_layers(["0=0-2", " 3 = 1,3-4 ", "5="]) == {0: (0, 1, 2), 3: (1, 3, 4), 5: ()}


@pytest.mark.parametrize("assignment, message", [
    ("0", "must look like INDEX=LAYERS"),
    ("x=1", "must look like INDEX=LAYERS"),
    ("0=all", "layer numbers only"),
    ("0=3-1", "runs backwards"),
    ("0=1-99999999999999999999", "too large"),
])
def test_bad_assignments_are_one_line_errors(assignment, message):
    with pytest.raises(SefaZooError, match=message) as caught:
        parse_direction_layers([assignment])
    assert "\n" not in str(caught.value)


def test_a_direction_given_layers_twice_is_refused():
    with pytest.raises(SefaZooError, match="direction 1 is given layers twice"):
        parse_direction_layers(["1=0", "1=2"])


def test_the_command_stores_layers_in_the_bank_and_lists_them(bank_file):
    before = load_bank(bank_file)
    result = run(bank_file, "0=0-1", "2=3")
    assert result.exit_code == 0, result.output
    bank = load_bank(bank_file)
    assert bank.direction_layers == ((0, 1), (), (3,), *[()] * (bank.k - 3))
    assert np.array_equal(bank.directions, before.directions) and bank.direction_names == before.direction_names
    assert bank.digest() != before.digest()  # a recipe pinned to the bank must see the change
    assert "0-1" in result.output and "the edit's" in result.output and f"wrote {bank_file}" in result.output

    result = run(bank_file, "0=", "2=")
    assert result.exit_code == 0, result.output
    assert load_bank(bank_file).direction_layers == () and load_bank(bank_file).digest() == before.digest()


def test_without_assignments_the_bank_is_listed_and_left_alone(bank_file):
    before = bank_file.read_bytes()
    result = run(bank_file)
    assert result.exit_code == 0 and "wrote" not in result.output
    assert bank_file.read_bytes() == before


def test_a_direction_the_bank_lacks_is_refused_and_nothing_written(bank_file):
    before = bank_file.read_bytes()
    result = run(bank_file, "0=1", "99=1")
    assert result.exit_code == 1 and "direction 99 does not exist" in result.output
    assert result.output.count("\n") == 1
    assert bank_file.read_bytes() == before


# ---------------------------------------------------------------- edits honour them


@pytest.fixture
def layered_bank(fake_wplus):
    """Direction 0 on layers 0-1 of its own, direction 1 on the edit's layers."""
    bank = factorize_file(fake_wplus)
    return bank.with_direction_layers({0: (0, 1)})


def moved_by(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    return (after - before).double()


def test_edited_codes_move_a_direction_on_its_own_layers_and_the_others_on_the_edits(layered_bank):
    codes = torch.randn(2, NUM_LAYERS, W_DIM, generator=torch.Generator().manual_seed(0))
    moved = moved_by(codes, edited_codes(codes, layered_bank, {0: 2.0, 1: -3.0}, layers=[1, 2, 3]))
    first = 2.0 * torch.from_numpy(layered_bank.directions[0]).double()
    second = -3.0 * torch.from_numpy(layered_bank.directions[1]).double()
    expected = [first, first + second, second, second]
    for layer in range(NUM_LAYERS):
        torch.testing.assert_close(moved[:, layer], expected[layer].expand(2, -1), atol=1e-5, rtol=0)


def test_its_own_layers_win_over_the_layers_an_edit_chooses(layered_bank):
    codes = torch.zeros(1, NUM_LAYERS, W_DIM)
    moved = edited_codes(codes, layered_bank, {0: 1.0}, layers=[3])
    assert moved[0, 3].abs().max() == 0 and moved[0, 2].abs().max() == 0
    assert moved[0, 0].abs().max() > 0 and moved[0, 1].abs().max() > 0


def test_render_edits_and_combined_edits_synthesize_those_codes(layered_bank, fake_wplus):
    generator = FakeWPlusGenerator(fake_tensors())
    render_edits(generator, layered_bank, [0], [1.5], [4], layers=[2, 3], truncation_psi=1.0)
    (base,), (moved,) = generator.mapped, generator.synthesized
    change = moved - base
    assert change[0, 2:].abs().max() == 0 and change[0, :2].abs().max() > 0

    generator = FakeWPlusGenerator(fake_tensors())
    edit = plan_combined(generator, layered_bank, {0: 1.5, 1: 1.0}, [4], layers=[2, 3], truncation_psi=1.0)
    render_combined(generator, layered_bank, edit)
    expected = edited_codes(generator.mapped[0], layered_bank, edit.distance_map, edit.layers)
    torch.testing.assert_close(generator.synthesized[1], expected, atol=0, rtol=0)


def test_a_bank_without_own_layers_edits_as_before(fake_wplus):
    """The same bits as adding the weighted sum on the edit's layers, as edits always did."""
    bank = factorize_file(fake_wplus)
    codes = torch.randn(3, NUM_LAYERS, W_DIM, generator=torch.Generator().manual_seed(1))
    total = 2.0 * bank.directions[0].astype(np.float64) - 0.5 * bank.directions[2].astype(np.float64)
    expected = codes.clone()
    expected[:, [1, 3], :] += torch.from_numpy(total).float()
    assert torch.equal(edited_codes(codes, bank, {2: -0.5, 0: 2.0}, layers=[1, 3]), expected)


def test_own_layers_the_model_lacks_are_a_one_line_error_naming_the_direction(fake_wplus):
    bank = factorize_file(fake_wplus).with_direction_layers({2: (1, 7)})
    generator = FakeWPlusGenerator(fake_tensors())
    with pytest.raises(BankError, match="direction 2 has its own layer 7, but the model has layers 0-3"):
        plan_edits(generator, bank, [0], [1.0], [0])
    with pytest.raises(BankError, match="direction 2 has its own layer 7"):
        edited_codes(torch.zeros(1, NUM_LAYERS, W_DIM), bank, {0: 1.0})


def test_the_edit_command_honours_a_banks_own_layers(fake_wplus, bank_file, tmp_path):
    from sefa_zoo.cli.edit import edit

    run_edit = command_runner(edit=edit, layers=direction_layers)
    assert run_edit("layers", bank_file, "0=0").exit_code == 0
    FakeWPlus.built.clear()
    result = run_edit("edit", "--checkpoint", fake_wplus, "--bank", bank_file, "-d", "0", "-s", "0", "--steps", 2,
                      "--trunc", 1, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    (generator,) = FakeWPlus.built
    base, moved = generator.mapped[0], torch.cat(generator.synthesized)
    change = (moved - base).abs().amax(dim=(0, 2))
    assert change[0] > 0 and change[1:].max() == 0
