"""Combined edits, as the editor's sliders make them: several directions at once on a batch of
seeds, through the same codes, edit and synthesis code as ``render_edits``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sefa_zoo import BankError, SefaZooError, codes_from_seeds, factorize_file, factorize_model, render_edits
from sefa_zoo.editing import (
    direction_sum,
    edited_codes,
    load_generator,
    plan_combined,
    render_combined,
    synthesize_codes,
)

from support.editing_toys import (  # noqa: F401  (fixtures)
    FakeConditionalGenerator,
    FakeWPlusGenerator,
    dcgan_file,
    fake_tensors,
    fake_wplus,
)


@pytest.fixture
def fake_generator():
    return FakeWPlusGenerator(fake_tensors())


@pytest.fixture
def fake_bank(fake_wplus):
    return factorize_file(fake_wplus, layers="1-2")


def test_edited_codes_add_the_weighted_sum_on_the_chosen_layers_only(fake_generator, fake_bank):
    codes = codes_from_seeds(fake_generator, [3, 4], truncation_psi=0.5)
    moved = edited_codes(codes, fake_bank, {0: 1.5, 2: -2.0})
    step = 1.5 * torch.from_numpy(fake_bank.directions[0]) - 2.0 * torch.from_numpy(fake_bank.directions[2])
    torch.testing.assert_close(moved[:, [1, 2]], codes[:, [1, 2]] + step)  # the bank's layers by default
    assert torch.equal(moved[:, [0, 3]], codes[:, [0, 3]])
    on_three = edited_codes(codes, fake_bank, {0: 1.5, 2: -2.0}, layers=[3])
    assert torch.equal(on_three[:, :3], codes[:, :3])
    torch.testing.assert_close(on_three[:, 3], codes[:, 3] + step)
    assert torch.equal(edited_codes(codes, fake_bank, {}), codes)


def test_the_sum_does_not_depend_on_the_order_the_sliders_came_in(fake_bank):
    values = {5: 0.3, 0: -2.5, 3: 1e-3, 1: 7.25}
    reordered = dict(reversed(list(values.items())))
    assert direction_sum(fake_bank, values).tobytes() == direction_sum(fake_bank, reordered).tobytes()


def test_render_combined_maps_each_seed_once_and_renders_original_and_edited(fake_generator, fake_bank):
    edit = plan_combined(fake_generator, fake_bank, {1: 2.0, 0: -1.0}, [0, 5, 9], truncation_psi=0.7)
    original, edited = render_combined(fake_generator, fake_bank, edit)
    assert len(fake_generator.mapped) == 1
    codes = fake_generator.mapped[0]
    assert original.dtype == torch.float32 and original.shape == edited.shape == (3, 3, 8, 8)
    assert torch.equal(original, fake_generator.synthesize(codes))
    assert torch.equal(edited, fake_generator.synthesize(edited_codes(codes, fake_bank, {0: -1.0, 1: 2.0})))
    assert not torch.allclose(original, edited, atol=1e-3)


def test_one_slider_gives_the_image_render_edits_gives(fake_generator, fake_bank):
    """One code path: a combined edit along one direction is the edit command's image, bit for bit."""
    seeds = [0, 1, 2]
    grid = render_edits(fake_generator, fake_bank, directions=[2], distances=[-1.75], seeds=seeds, batch_size=3)
    edit = plan_combined(fake_generator, fake_bank, {2: -1.75}, seeds)
    _, edited = render_combined(fake_generator, fake_bank, edit, batch_size=3)
    assert torch.equal(grid[0, :, 0], edited)


def test_sliders_at_zero_give_the_original(fake_generator, fake_bank):
    edit = plan_combined(fake_generator, fake_bank, {0: 0.0, 3: 0.0}, [4])
    original, edited = render_combined(fake_generator, fake_bank, edit)
    assert torch.equal(original, edited)


def test_batches_bound_the_synthesis(fake_generator, fake_bank):
    edit = plan_combined(fake_generator, fake_bank, {0: 1.0}, list(range(7)))
    render_combined(fake_generator, fake_bank, edit, batch_size=3)
    assert [len(codes) for codes in fake_generator.synthesized] == [3, 3, 1, 3, 3, 1]
    with pytest.raises(SefaZooError, match="batch size"):
        synthesize_codes(fake_generator, fake_generator.mapped[0], batch_size=0)


def test_the_plan_resolves_defaults_like_plan_edits(fake_generator, fake_bank):
    edit = plan_combined(fake_generator, fake_bank, {3: 1, 1: 2.5}, [7])
    assert edit.distances == ((1, 2.5), (3, 1.0)) and edit.distance_map == {1: 2.5, 3: 1.0}
    assert edit.layers == (1, 2) and edit.truncation_psi == 0.7 and edit.truncation_cutoff == 8
    assert edit.class_index is None and edit.seeds == (7,)


@pytest.mark.parametrize("kwargs, message", [
    (dict(distances={6: 1.0}), "direction 6 is out of range: the bank has directions 0-5"),
    (dict(distances={True: 1.0}), "a direction is an index into the bank, not True"),
    (dict(distances={"1": 1.0}), "a direction is an index into the bank, not '1'"),
    (dict(distances={1: float("inf")}), "the distance along direction 1 must be a finite number, got inf"),
    (dict(distances={1: "2"}), "the distance along direction 1 must be a finite number, got '2'"),
    (dict(distances=[1.0]), "distances must map direction indices to distances, not list"),
    (dict(seeds=[2**32]), "seed 4294967296"),
    (dict(seeds=[]), "no seeds given"),
    (dict(layers=[4]), "layer 4 is out of range: the model has layers 0-3"),
    (dict(layers=[]), "no layers given to edit"),
    (dict(truncation_cutoff=-1), "truncation cutoff must be 0 or more"),
    (dict(truncation_psi=float("nan")), "truncation psi must be a finite number"),
    (dict(class_index=1), "is not class-conditional"),
])
def test_bad_arguments_are_the_edit_commands_one_line_errors(fake_generator, fake_bank, kwargs, message):
    arguments = {"distances": {0: 1.0}, "seeds": [0], **kwargs}
    with pytest.raises(SefaZooError, match=message) as info:
        plan_combined(fake_generator, fake_bank, arguments.pop("distances"), arguments.pop("seeds"), **arguments)
    assert "\n" not in str(info.value)


def test_a_bank_for_another_model_is_refused(fake_generator, fake_bank, dcgan_file):
    dcgan_bank = factorize_file(dcgan_file)
    with pytest.raises(BankError, match="8-dimensional directions, but the model's latent codes have 6"):
        plan_combined(fake_generator, dcgan_bank, {0: 1.0}, [0])
    with pytest.raises(BankError, match="computed for architecture 'fakewplus', but the model is 'dcgan'"):
        plan_combined(load_generator(dcgan_file), fake_bank, {0: 1.0}, [0], architecture="dcgan")
    skewed = fake_bank.directions.copy()
    skewed[1] = (skewed[0] + skewed[1]) / np.linalg.norm(skewed[0] + skewed[1])
    with pytest.raises(BankError, match="rows must be orthogonal"):
        plan_combined(fake_generator, dataclasses.replace(fake_bank, directions=skewed), {0: 1.0}, [0])


def test_edited_codes_refuse_codes_of_another_shape(fake_bank):
    with pytest.raises(SefaZooError, match=r"codes must have shape \(N, layers, 6\) for this bank, got \(2, 4, 5\)"):
        edited_codes(torch.zeros(2, 4, 5), fake_bank, {0: 1.0})
    with pytest.raises(SefaZooError, match="layer 2 is out of range: the model has layers 0-1"):
        edited_codes(torch.zeros(2, 2, 6), fake_bank, {0: 1.0})


def test_a_conditional_model_gets_its_class_in_map_and_synthesize(fake_bank):
    conditional = FakeConditionalGenerator(fake_tensors())
    edit = plan_combined(conditional, fake_bank, {0: 1.0}, [1, 2], class_index="crane", truncation_psi=0.5)
    assert edit.class_index == 2
    render_combined(conditional, fake_bank, edit)
    assert [c.tolist() for c in conditional.map_classes] == [[2, 2]]
    assert [(c.tolist(), psi) for c, psi in conditional.synthesize_calls] == [([2, 2], 0.5)] * 2


def test_the_demo_model_several_sliders_at_once():
    generator = load_generator("stylegan2-shapes")
    bank = factorize_model("stylegan2-shapes", progress=False)
    edit = plan_combined(generator, bank, {0: 3.0, 1: -2.0}, [0, 1], architecture="stylegan2")
    original, edited = render_combined(generator, bank, edit)
    again = render_combined(generator, bank, edit)
    assert torch.equal(original, again[0]) and torch.equal(edited, again[1])
    assert original.shape[:2] == (2, 3) and (original - edited).abs().mean() > 0.01
    single = render_combined(generator, bank, plan_combined(generator, bank, {0: 3.0}, [0, 1]))[1]
    assert not torch.equal(single, edited)
