"""The PGGAN generator: building it from each layout, the Generator protocol, codes and edits.

Agreement with the release's own PGGANGenerator on stored reference outputs is
tests/test_pggan_fidelity.py; here the module is checked for what it promises.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sefa_zoo
from sefa_zoo import Checkpoint, CheckpointError, Generator, SefaZooError, factorize_checkpoint
from sefa_zoo_plugins.pggan import PGGAN, PGGANGenerator, random_pggan_state, save_pggan
from support.projections import torch_matrices

Z_DIM = 16


@pytest.fixture(scope="module")
def state():
    return random_pggan_state(32, z_dim=Z_DIM, channel_base=256, channel_max=32, seed=5)


@pytest.fixture(scope="module")
def generator(state):
    return PGGAN().build_generator(Checkpoint.from_tensors(state))


def latents(n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, Z_DIM, generator=torch.Generator().manual_seed(seed))


def test_the_generator_is_a_frozen_float32_sefa_zoo_generator(generator):
    assert isinstance(generator, Generator) and isinstance(generator, PGGANGenerator)
    assert (generator.z_dim, generator.latent_dim, generator.num_layers) == (Z_DIM, Z_DIM, 1)
    assert (generator.resolution, generator.img_channels) == (32, 3)
    assert not generator.training and generator.device == torch.device("cpu")
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in generator.parameters())
    images = generator.synthesize(generator.map(latents()))
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32
    assert images.std() > 0.1


def test_map_pixel_normalises_z_and_synthesis_normalises_again(generator):
    z = latents()
    codes = generator.map(z)
    assert codes.shape == (4, 1, Z_DIM)
    torch.testing.assert_close(codes[:, 0].square().mean(dim=1), torch.ones(4))
    torch.testing.assert_close(codes[:, 0], z / z.square().mean(dim=1, keepdim=True).sqrt())
    # the forward normalises the (edited) code again: its length does not matter, only its direction
    torch.testing.assert_close(generator.synthesize(5 * codes), generator.synthesize(codes), rtol=0, atol=1e-5)
    torch.testing.assert_close(generator(z), generator.synthesize(codes))


def test_synthesis_is_deterministic_and_per_sample(generator):
    codes = generator.map(latents(6, seed=1))
    images = generator.synthesize(codes)
    assert torch.equal(images, generator.synthesize(codes))
    torch.testing.assert_close(images[2:3], generator.synthesize(codes[2:3]), rtol=0, atol=1e-5)


def test_an_edit_along_a_direction_changes_the_image(state, generator):
    bank = factorize_checkpoint(Checkpoint.from_tensors(state))
    codes = generator.map(latents(3, seed=2))
    edited = codes + 3.0 * torch.from_numpy(bank.directions[0]).float()
    assert (generator.synthesize(edited) - generator.synthesize(codes)).abs().mean() > 1e-2


def test_truncation_and_bad_shapes_are_clear_errors(generator):
    z = latents(2)
    torch.testing.assert_close(generator.map(z, truncation_psi=1.0, truncation_cutoff=8), generator.map(z))
    with pytest.raises(SefaZooError, match="cannot truncate: truncation_psi must be 1.0, got 0.7"):
        generator.map(z, truncation_psi=0.7)
    with pytest.raises(SefaZooError, match=rf"z of shape \(N, {Z_DIM}\), got \(2, 3\)"):
        generator.map(torch.zeros(2, 3))
    with pytest.raises(SefaZooError, match=rf"codes of shape \(N, 1, {Z_DIM}\), got \(2, {Z_DIM}\)"):
        generator.synthesize(z)


def test_both_layouts_draw_the_ema_generator(state, tmp_path):
    genforce = sefa_zoo.open_checkpoint(save_pggan(state, tmp_path / "g.pth", "genforce"))
    huggan = sefa_zoo.open_checkpoint(save_pggan(state, tmp_path / "pytorch_model.bin", "huggan"))
    codes = PGGAN().build_generator(huggan).map(latents())
    images = PGGAN().build_generator(huggan).synthesize(codes)
    assert torch.equal(PGGAN().build_generator(genforce).synthesize(codes), images)
    training = {k.removeprefix("generator."): genforce[k] for k in genforce if k.startswith("generator.")}
    other = PGGAN().build_generator(Checkpoint.from_tensors(training)).synthesize(codes)
    assert not torch.allclose(other, images)


def test_building_reads_only_the_generator_each_tensor_once(state, tmp_path):
    checkpoint = sefa_zoo.open_checkpoint(save_pggan(state, tmp_path / "g.pth", "genforce"))
    requested = []
    spy = Checkpoint({k: checkpoint.shape(k) for k in checkpoint},
                     lambda name: requested.append(name) or checkpoint[name])
    PGGAN().build_generator(spy)
    assert sorted(requested) == sorted(f"generator_smooth.{name}" for name in state)


def test_float16_files_load_as_float32(state):
    half = {k: v.half() for k, v in state.items()}
    generator = PGGAN().build_generator(Checkpoint.from_tensors(half))
    assert generator.layer0.weight.dtype == torch.float32
    assert torch.equal(generator.layer0.weight, half["layer0.weight"].float())


def test_a_generator_still_growing_is_refused_but_still_factorizes(state):
    growing = {**state, "lod": torch.tensor(1.5)}
    checkpoint = Checkpoint.from_tensors({"generator_smooth." + k: v for k, v in growing.items()})
    with pytest.raises(CheckpointError, match=r"'generator_smooth.lod' is 1.5: a PGGAN still growing") as error:
        PGGAN().build_generator(checkpoint)
    assert "\n" not in str(error.value)
    assert torch_matrices(PGGAN().projection(checkpoint, [0]))[0].shape == (512, Z_DIM)
    without_lod = {k: v for k, v in state.items() if k != "lod"}
    assert PGGAN().build_generator(Checkpoint.from_tensors(without_lod)).resolution == 32


def test_unknown_device_is_a_clear_error(state):
    with pytest.raises(SefaZooError, match="cannot put the pggan generator on device 'nonsense'"):
        PGGAN().build_generator(Checkpoint.from_tensors(state), device="nonsense")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu(state, generator):
    gpu = PGGAN().build_generator(Checkpoint.from_tensors(state), device="cuda")
    z = latents()
    on_gpu = gpu.synthesize(gpu.map(z.cuda())).cpu()
    on_cpu = generator.synthesize(generator.map(z))
    assert on_gpu.device.type == "cpu" and gpu.device.type == "cuda"
    np.testing.assert_allclose(on_gpu.numpy(), on_cpu.numpy(), rtol=0, atol=1e-3)
