"""The sampling and editing API: seeds, truncation, where the edit goes, batching, loading."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sefa_zoo import (
    BankError,
    CheckpointError,
    SefaZooError,
    SynthesisUnavailableError,
    codes_from_seeds,
    factorize_file,
    factorize_model,
    latents_from_seeds,
    load_generator,
    plan_edits,
    render_edits,
    save_bank,
    truncate,
)
from sefa_zoo.editing import iter_edit_batches, open_generator
from sefa_zoo.outputs.imaging import display_size, for_display, resize, to_uint8
from sefa_zoo.ranges import parse_index_list

from support.editing_toys import (  # noqa: F401  (dcgan_file and fake_wplus are fixtures)
    Z_DIM,
    FakeWPlus,
    FakeWPlusGenerator,
    dcgan_file,
    fake_tensors,
    fake_wplus,
)
from support.plugin_toys import ArchitecturePlugin, ToyArchitecture

# numpy.random.RandomState(0).randn(4): pinned so that a change in numpy's legacy stream is caught.
SEED0_FIRST_Z = [1.7640523, 0.4001572, 0.978738, 2.2408931]


@pytest.fixture
def fake_generator():
    return FakeWPlusGenerator(fake_tensors())


@pytest.fixture
def fake_bank(fake_wplus):
    return factorize_file(fake_wplus, layers="1-2")


@pytest.fixture
def dcgan(dcgan_file):
    return load_generator(dcgan_file), factorize_file(dcgan_file)


# seeds


def test_latents_from_seeds_are_numpy_randomstate_normals_and_reproducible():
    first = latents_from_seeds([0, 7, 123456], 512)
    again = latents_from_seeds([0, 7, 123456], 512)
    assert first.dtype == torch.float32 and first.shape == (3, 512)
    assert torch.equal(first, again)
    np.testing.assert_allclose(first[0, :4].numpy(), SEED0_FIRST_Z, rtol=1e-6)
    # a seed's z does not depend on the other seeds in the list or on its position
    assert torch.equal(latents_from_seeds([7], 512)[0], first[1])
    np.testing.assert_array_equal(first[2].numpy(), np.random.RandomState(123456).randn(512).astype(np.float32))


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "3"])
def test_bad_seeds_are_errors(seed):
    with pytest.raises(SefaZooError, match="seed"):
        latents_from_seeds([seed], 4)


def test_index_lists():
    assert parse_index_list("0-3", what="seed") == (0, 1, 2, 3)
    assert parse_index_list("5, 0,2-3,2", what="seed") == (0, 2, 3, 5)
    assert parse_index_list("all", what="direction", limit=3) == (0, 1, 2)
    for spec, message in [("3-1", "runs backwards"), ("x", "not an index"), ("", "empty"), ("-1", "not an index"),
                          ("0-20000", "more than"), ("all", "not an index")]:
        with pytest.raises(SefaZooError, match=message):
            parse_index_list(spec, what="seed")
    with pytest.raises(SefaZooError, match="direction 5 in '2-5' is out of range: valid directions are 0-4"):
        parse_index_list("2-5", what="direction", limit=5)


# truncation


def test_truncate_moves_the_first_cutoff_layers_towards_the_average_only():
    codes = torch.randn(3, 6, 4)
    average = torch.randn(4)
    at_average = truncate(codes, average, 0.0, 2)
    assert torch.equal(at_average[:, :2], average.expand(3, 2, 4))
    assert torch.equal(at_average[:, 2:], codes[:, 2:])
    half = truncate(codes, average, 0.5, None)
    torch.testing.assert_close(half, (codes + average) / 2)
    assert torch.equal(truncate(codes, average, 1.0, 3), codes)
    assert torch.equal(truncate(codes, average, 0.0, 0), codes)
    assert torch.equal(truncate(codes, average, 0.0, 100), average.expand_as(codes))


def test_default_truncation_is_psi_07_on_first_8_layers_for_wplus_and_none_for_z_models(fake_generator, dcgan):
    codes = codes_from_seeds(fake_generator, [1, 2])
    untruncated = codes_from_seeds(fake_generator, [1, 2], truncation_psi=1.0)
    w_avg = fake_generator.tensors["w_avg"]
    torch.testing.assert_close(codes, w_avg + 0.7 * (untruncated - w_avg))  # all 4 layers are below 8
    generator, _ = dcgan
    z_codes = codes_from_seeds(generator, [1, 2])
    assert torch.equal(z_codes[:, 0].cpu(), latents_from_seeds([1, 2], generator.z_dim))


# where the edit goes


def test_edit_is_added_after_truncation_on_the_bank_layers_only(fake_generator, fake_bank):
    assert sorted(set(fake_bank.layer_indices)) == [1, 2]
    distances = [-2.0, 0.0, 3.0]
    render_edits(fake_generator, fake_bank, directions=[0, 2], distances=distances, seeds=[5],
                 truncation_psi=0.0, truncation_cutoff=2, batch_size=100)
    (codes,) = fake_generator.synthesized
    w_avg = fake_generator.tensors["w_avg"]
    w = latents_from_seeds([5], Z_DIM)[0] @ fake_generator.tensors["mapping"].T
    for i, (d, a) in enumerate((d, a) for d in (0, 2) for a in distances):
        step = a * torch.from_numpy(fake_bank.directions[d])
        torch.testing.assert_close(codes[i, 0], w_avg)  # truncated, not edited
        torch.testing.assert_close(codes[i, 1], w_avg + step)  # truncated, then edited: the step survives psi 0
        torch.testing.assert_close(codes[i, 2], w + step)  # beyond the cutoff, edited
        torch.testing.assert_close(codes[i, 3], w)  # neither


def test_layers_argument_overrides_the_bank_layers(fake_generator, fake_bank):
    render_edits(fake_generator, fake_bank, distances=[1.0], seeds=[0], layers=[3], truncation_psi=1.0)
    (codes,) = fake_generator.synthesized
    (unedited,) = fake_generator.mapped
    torch.testing.assert_close(codes[:, :3], unedited[:, :3])
    torch.testing.assert_close(codes[0, 3], unedited[0, 3] + torch.from_numpy(fake_bank.directions[0]))


def test_distance_zero_column_is_the_unedited_image(fake_generator, fake_bank, dcgan):
    for generator, bank in ((fake_generator, fake_bank), dcgan):
        images = render_edits(generator, bank, directions=[0, 1], distances=[-3, 0, 3], seeds=[0, 4])
        plain = generator.synthesize(codes_from_seeds(generator, [0, 4])).cpu()
        assert images.shape[:3] == (2, 2, 3)
        for d in range(2):
            # equal up to the rounding of kernels that depend on the batch size
            torch.testing.assert_close(images[d, :, 1], plain, rtol=1e-5, atol=1e-6)
            assert not torch.allclose(images[d, :, 0], plain, atol=1e-3)
    # the codes themselves are exactly the unedited ones
    edited = torch.cat(fake_generator.synthesized[:2])  # two batches of the default 8
    unedited = fake_generator.mapped[0]
    assert torch.equal(edited[[1, 4, 7, 10]], unedited[[0, 1, 0, 1]])


def test_batching_gives_the_same_images_and_bounds_the_batch(dcgan, fake_generator, fake_bank):
    generator, bank = dcgan
    args = dict(directions=[0, 3], distances=[-2, -1, 0, 1, 2], seeds=[0, 1, 9])
    whole = render_edits(generator, bank, batch_size=64, **args)
    for batch_size in (1, 4, 7):
        torch.testing.assert_close(render_edits(generator, bank, batch_size=batch_size, **args), whole,
                                   rtol=1e-5, atol=1e-6)
    render_edits(fake_generator, fake_bank, batch_size=4, **args)
    sizes = [len(codes) for codes in fake_generator.synthesized]
    assert sizes == [4, 4, 4, 4, 4, 4, 4, 2] and sum(sizes) == 2 * 3 * 5


def test_postprocess_is_applied_per_batch(dcgan):
    generator, bank = dcgan
    pictures = render_edits(generator, bank, directions=[0], distances=[0.0, 1.0], seeds=[2, 3], batch_size=3,
                            postprocess=for_display())
    assert pictures.dtype == torch.uint8 and pictures.shape == (1, 2, 2, 128, 128, 3)
    raw = render_edits(generator, bank, directions=[0], distances=[0.0, 1.0], seeds=[2, 3])
    assert torch.equal(pictures[0, 0, 0], to_uint8(resize(raw[0, 0, :1], 128, 128))[0])


def test_progress_bar(dcgan, capsys):
    generator, bank = dcgan
    render_edits(generator, bank, distances=[0.0, 1.0], seeds=[0], progress=True)
    assert "2/2" in capsys.readouterr().err


# checks


def test_bank_must_fit_the_generator(fake_generator, fake_bank, dcgan, dcgan_file, fake_wplus):
    generator, dcgan_bank = dcgan
    with pytest.raises(BankError, match="8-dimensional directions, but the model's latent codes have 6"):
        render_edits(fake_generator, dcgan_bank)
    with pytest.raises(BankError, match="computed for architecture 'fakewplus', but the model is 'dcgan'"):
        render_edits(str(dcgan_file), fake_bank)
    small = FakeWPlusGenerator(fake_tensors())
    small.num_layers = 2
    with pytest.raises(BankError, match="computed on layer 2, but the model has only 2 layers"):
        plan_edits(small, fake_bank, [0], [1.0], [0])
    z_bank = dataclasses.replace(fake_bank, latent_space="z")
    with pytest.raises(BankError, match="z-space directions, but the model has 4 per-layer codes"):
        plan_edits(fake_generator, z_bank, [0], [1.0], [0])


def test_a_bank_made_in_memory_is_validated_before_rendering(fake_generator, fake_bank):
    skewed = fake_bank.directions.copy()
    skewed[1] = (skewed[0] + skewed[1]) / np.linalg.norm(skewed[0] + skewed[1])  # unit, not orthogonal
    with pytest.raises(BankError, match="rows must be orthogonal"):
        render_edits(fake_generator, dataclasses.replace(fake_bank, directions=skewed))


def test_a_banks_checkpoint_source_names_the_file_not_its_folders(fake_wplus, fake_bank):
    assert fake_bank.checkpoint_source == fake_wplus.name
    assert str(fake_wplus.parent) not in fake_bank.checkpoint_source
    shipped = factorize_model("stylegan2-shapes", progress=False)  # a local catalogue source
    assert shipped.checkpoint_source == "stylegan2-shapes.safetensors"


@pytest.mark.parametrize("kwargs, message", [
    (dict(directions=[6]), "direction 6 is out of range: the bank has directions 0-5"),
    (dict(directions=[]), "no directions"),
    (dict(distances=[float("nan")]), "finite"),
    (dict(seeds=[-4]), "seed -4"),
    (dict(layers=[4]), "layer 4 is out of range: the model has layers 0-3"),
    (dict(truncation_cutoff=-1), "cutoff"),
    (dict(batch_size=0), "batch size"),
])
def test_bad_arguments_are_one_line_errors(fake_generator, fake_bank, kwargs, message):
    with pytest.raises(SefaZooError, match=message) as info:
        render_edits(fake_generator, fake_bank, **kwargs)
    assert "\n" not in str(info.value)


def test_dcgan_cannot_truncate(dcgan):
    generator, bank = dcgan
    with pytest.raises(SefaZooError, match="cannot truncate"):
        render_edits(generator, bank, truncation_psi=0.7)


# loading


def test_load_generator_by_catalogue_name_and_by_path(fake_wplus, fake_bank, tmp_path):
    by_name = open_generator("fake-wplus")
    assert by_name.architecture == "fakewplus" and by_name.name == "fake-wplus"
    by_path = open_generator(fake_wplus)
    assert by_path.architecture == "fakewplus" and by_path.name == "fake_wplus"
    images = render_edits("fake-wplus", fake_bank, seeds=[3])
    assert torch.equal(images, render_edits(str(fake_wplus), fake_bank, seeds=[3]))
    bank_file = save_bank(fake_bank, tmp_path / "bank.safetensors")
    assert torch.equal(images, render_edits(FakeWPlus.built[0], bank_file, seeds=[3]))
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_generator(tmp_path / "missing.pt")
    with pytest.raises(SefaZooError, match="unknown model"):
        load_generator("no-such-model")
    with pytest.raises(SefaZooError, match="go with a checkpoint file"):
        load_generator("fake-wplus", architecture="fakewplus")


def test_architecture_without_synthesis(register_plugin, tmp_path):
    from safetensors.torch import save_file

    register_plugin(ArchitecturePlugin(ToyArchitecture("nosynth")), "nosynth-plugin")
    path = tmp_path / "toy.safetensors"
    save_file({"nosynth.weight": torch.randn(6, 4)}, str(path))
    with pytest.raises(SynthesisUnavailableError, match="cannot synthesize"):
        load_generator(path)


def test_iter_edit_batches_order(fake_generator, fake_bank):
    plan = plan_edits(fake_generator, fake_bank, [0, 1], [0.0, 1.0, 2.0], [0, 1], truncation_psi=1.0)
    starts = [start for start, _ in iter_edit_batches(fake_generator, fake_bank, plan, batch_size=5)]
    assert starts == [0, 5, 10]
    codes = torch.cat(fake_generator.synthesized)
    base = fake_generator.mapped[0]
    # flat index 7 = direction 1, seed 0, distance 1
    torch.testing.assert_close(codes[7, 1], base[0, 1] + torch.from_numpy(fake_bank.directions[1]))


# display sizes


@pytest.mark.parametrize("shape, size, expected", [
    ((16, 16), None, (128, 128)), ((32, 24), None, (128, 96)), ((200, 200), None, (200, 200)),
    ((1024, 1024), None, (256, 256)), ((384, 512), None, (192, 256)), ((64, 64), 100, (100, 100)),
])
def test_display_size(shape, size, expected):
    assert display_size(*shape, size) == expected


def test_resize_repeats_pixels_for_whole_factors_and_to_uint8_maps_the_range():
    images = torch.tensor([[[[-1.0, 1.0], [0.0, 2.0]]]])
    big = resize(images, 4, 4)
    assert torch.equal(big[0, 0, :2, :2], torch.full((2, 2), -1.0))
    pixels = to_uint8(images)
    assert pixels.shape == (1, 2, 2, 1) and pixels.flatten().tolist() == [0, 255, 128, 255]
    with pytest.raises(SefaZooError):
        to_uint8(torch.zeros(1, 2, 4, 4))
