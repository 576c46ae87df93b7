"""Batched synthesis: whichever form of modulated convolution computes a batch (fused: one grouped
convolution of per-sample kernels; not fused: scaled activations, one shared kernel), every image
is the one the generator makes for its code alone, in every layout StyleGAN2 and StyleGAN3 read;
and StyleGAN (v1), whose layers work in place on channels-last maps, likewise.
"""

from __future__ import annotations

import pytest
import torch

from sefa_zoo import Checkpoint, open_checkpoint
from sefa_zoo_plugins.stylegan import StyleGAN, random_stylegan_state
from sefa_zoo_plugins.stylegan2 import FIXTURE_LAYOUTS, StyleGAN2, random_stylegan2_state, save_stylegan2
from sefa_zoo_plugins.stylegan2 import generator as stylegan2_generator
from sefa_zoo_plugins.stylegan3 import StyleGAN3, random_stylegan3_state, save_stylegan3
from sefa_zoo_plugins.stylegan3 import generator as stylegan3_generator

BATCH_SIZES = (1, 2, 5)
TOLERANCE = 1e-4  # max abs difference; the images reach several units with random weights
FORMS = {"fused": True, "not fused": False, "chosen": None}


def codes_for(generator, count: int, *, seed: int = 0, **mapping) -> torch.Tensor:
    z = torch.randn(count, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    return generator.map(z, truncation_psi=0.7, truncation_cutoff=4, **mapping)


def one_at_a_time(synthesize, codes: torch.Tensor, **kwargs) -> torch.Tensor:
    """The reference: each code synthesized alone, in the fused form."""
    with torch.no_grad():
        return torch.cat([synthesize(codes[i : i + 1], fused_modconv=True, **kwargs) for i in range(len(codes))])


def assert_batches_match_single_images(synthesize, codes: torch.Tensor, **kwargs) -> None:
    expected = one_at_a_time(synthesize, codes, **kwargs)
    assert expected.abs().max() > 0.1  # a picture, not a blank (StyleGAN3 scales its images by 0.25)
    for batch in BATCH_SIZES:
        for form, fused in FORMS.items():
            with torch.no_grad():
                images = synthesize(codes[:batch], fused_modconv=fused, **kwargs)
            difference = (images - expected[:batch]).abs().max().item()
            assert difference < TOLERANCE, (batch, form, difference)
            assert images.is_contiguous(), (batch, form)  # channels-last stays inside


# ---------------------------------------------------------------- StyleGAN2


def tiny_stylegan2(**kwargs):
    kwargs = {"w_dim": 12, "z_dim": 12, "channel_base": 256, "channel_max": 16, "mapping_layers": 2, **kwargs}
    return random_stylegan2_state(32, **kwargs)


@pytest.fixture(scope="module")
def stylegan2_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batched-stylegan2")
    state = tiny_stylegan2()
    files = {layout: save_stylegan2(state, folder / f"{layout}.bin", layout) for layout in FIXTURE_LAYOUTS}
    files["nvidia, conditional"] = save_stylegan2(tiny_stylegan2(c_dim=3), folder / "conditional.pkl", "nvidia")
    return files


@pytest.mark.parametrize("layout", [*FIXTURE_LAYOUTS, "nvidia, conditional"])
def test_stylegan2_batches_are_the_single_images_in_both_forms(stylegan2_files, layout):
    generator = StyleGAN2().build_generator(open_checkpoint(stylegan2_files[layout]))
    classes = {"classes": torch.tensor([0, 2, 1, 1, 0])} if generator.num_classes else {}
    codes = codes_for(generator, max(BATCH_SIZES), **classes)
    for noise_mode in ("const", "none"):
        assert_batches_match_single_images(generator.forward_synthesis, codes, noise_mode=noise_mode)


def test_stylegan2_clamped_layers_agree_in_both_forms():
    """A clamp of 0.5 clamps much of every layer's output (the files' 256 clamps nothing at these scales)."""
    clamped = stylegan2_generator.StyleGAN2Generator(tiny_stylegan2(), conv_clamp=0.5)
    assert_batches_match_single_images(clamped.forward_synthesis, codes_for(clamped, max(BATCH_SIZES), seed=1))


def test_the_training_path_keeps_autograd_in_both_forms():
    g = stylegan2_generator.StyleGAN2Generator(tiny_stylegan2())
    for fused in (True, False):
        g.zero_grad()
        images = g.forward_synthesis(g.forward_mapping(torch.randn(3, g.z_dim)), fused_modconv=fused)
        images.square().mean().backward()
        assert g.const.grad is not None and g.get_submodule("32x32.conv1").weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- StyleGAN3


@pytest.fixture(scope="module", params=["T", "R"])
def stylegan3_generator_of_config(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("batched-stylegan3") / f"{request.param}.pkl"
    save_stylegan3(random_stylegan3_state(request.param, 16), path)
    return StyleGAN3().build_generator(open_checkpoint(path))


def test_stylegan3_batches_are_the_single_images_in_both_forms(stylegan3_generator_of_config):
    generator = stylegan3_generator_of_config
    codes = codes_for(generator, max(BATCH_SIZES))
    assert_batches_match_single_images(generator.forward_synthesis, codes)


# ---------------------------------------------------------------- StyleGAN (v1)


def test_stylegan_v1_batches_are_the_single_images():
    """128 px: the nearest-neighbour up-sampling layers and the transposed-convolution ones."""
    state = random_stylegan_state(128, z_dim=12, w_dim=12, mapping_layers=2, fmaps_base=128, fmaps_max=8)
    generator = StyleGAN().build_generator(Checkpoint.from_tensors({f"generator.{k}": v for k, v in state.items()}))
    codes = codes_for(generator, max(BATCH_SIZES))
    for noise_mode in ("const", "none"):
        expected = torch.cat([generator.synthesize(code[None], noise_mode=noise_mode) for code in codes])
        assert expected.abs().max() > 0.1
        for batch in BATCH_SIZES:
            images = generator.synthesize(codes[:batch], noise_mode=noise_mode)
            assert (images - expected[:batch]).abs().max().item() < TOLERANCE, (batch, noise_mode)
            assert images.is_contiguous()


# ---------------------------------------------------------------- which form a call takes


def test_stylegan2_takes_the_shared_kernel_form_on_a_cpu():
    assert not stylegan2_generator.fused_modconv_is_faster(torch.device("cpu"))
    assert stylegan2_generator.fused_modconv_is_faster(torch.device("cuda"))


def test_stylegan3_takes_the_shared_kernel_form_for_batches_on_a_cpu():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert stylegan3_generator.fused_modconv_is_faster(1, cpu)
    assert not any(stylegan3_generator.fused_modconv_is_faster(batch, cpu) for batch in (2, 8, 64))
    assert stylegan3_generator.fused_modconv_is_faster(8, gpu)


def test_synthesize_uses_the_chosen_form(stylegan2_files, stylegan3_generator_of_config, monkeypatch):
    """``synthesize`` (no form given) asks fused_modconv_is_faster; forcing the rule either way shows
    the form follows it."""
    g2 = StyleGAN2().build_generator(open_checkpoint(stylegan2_files["nvidia"]))
    g3 = stylegan3_generator_of_config
    for module, generator in ((stylegan2_generator, g2), (stylegan3_generator, g3)):
        forms = []
        original = module.modulated_conv2d

        def spy(*args, original=original, forms=forms, **kwargs):
            forms.append(kwargs["fused"])
            return original(*args, **kwargs)

        monkeypatch.setattr(module, "modulated_conv2d", spy)
        codes = codes_for(generator, 3)
        generator.synthesize(codes)
        assert set(forms) == {False}
        forms.clear()
        monkeypatch.setattr(module, "fused_modconv_is_faster", lambda *batch_and_device: True)
        generator.synthesize(codes)
        assert set(forms) == {True}
