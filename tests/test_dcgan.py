"""The built-in DCGAN plugin: detection in real-world checkpoint shapes, projection, synthesis."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from sefa_zoo import (
    Checkpoint,
    Generator,
    LayerSpecError,
    LayoutError,
    SefaZooError,
    detect,
    factorize_checkpoint,
    factorize_file,
    load_bank,
    open_checkpoint,
)
from sefa_zoo_plugins.dcgan import DCGAN, DCGANGenerator, random_dcgan_state
from support.projections import torch_matrices

NZ, NGF, NC, NDF = 16, 8, 3, 8


@functools.cache
def _state(nz=NZ, ngf=NGF, nc=NC, image_size=64, seed=0):
    return random_dcgan_state(nz=nz, ngf=ngf, nc=nc, image_size=image_size, seed=seed)


def small_state(**kwargs) -> dict[str, torch.Tensor]:
    return dict(_state(**kwargs))


def tutorial_sequential(nz: int, ngf: int, nc: int) -> nn.Sequential:
    """The generator of the PyTorch DCGAN tutorial, written out as it is there."""
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * 8),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
        nn.Tanh(),
    )


def tutorial_discriminator(nc: int = NC, ndf: int = NDF) -> nn.Module:
    """The tutorial's discriminator: its ``main.0`` is a Conv2d(nc, ndf, 4, 2, 1)."""
    net = nn.Module()
    net.main = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 8),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
        nn.Sigmoid(),
    )
    return net


@functools.cache
def training_checkpoint() -> tuple[dict, dict[str, torch.Tensor]]:
    """What the tutorial's training loop saves after one step: both nets, both Adams, the epoch."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return _train_one_step()


def _train_one_step() -> tuple[dict, dict[str, torch.Tensor]]:
    net_g = nn.Module()
    net_g.main = tutorial_sequential(NZ, NGF, NC)
    net_g.load_state_dict(small_state())
    net_d = tutorial_discriminator()
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loss = nn.BCELoss()
    fake = net_g.main(torch.randn(2, NZ, 1, 1))
    loss(net_d.main(fake.detach()).view(-1), torch.zeros(2)).backward()
    opt_d.step()
    loss(net_d.main(fake).view(-1), torch.ones(2)).backward()
    opt_g.step()
    generator_state = {k: v.detach().clone() for k, v in net_g.state_dict().items()}
    saved = {
        "epoch": 3,
        "netG_state_dict": net_g.state_dict(),
        "netD_state_dict": net_d.state_dict(),
        "optimizerG_state_dict": opt_g.state_dict(),
        "optimizerD_state_dict": opt_d.state_dict(),
        "loss_G": 0.75,
    }
    return saved, generator_state


def prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in state.items()}


# Each real-world way of saving a generator: (how the saved object wraps it, the prefix found).
WRAPPERS = {
    "bare": (lambda sd: sd, ""),
    "netG_state_dict": (lambda sd: {"netG_state_dict": sd}, "netG_state_dict."),
    "state_dict": (lambda sd: {"state_dict": sd, "epoch": 7}, "state_dict."),
    "generator": (lambda sd: {"generator": sd}, "generator."),
    "netG": (lambda sd: {"netG": sd, "netD": tutorial_discriminator().state_dict()}, "netG."),
    "module": (lambda sd: prefixed(sd, "module."), "module."),
    "state_dict.module": (lambda sd: {"state_dict": prefixed(sd, "module.")}, "state_dict.module."),
    "netG.module": (lambda sd: {"netG": prefixed(sd, "module."), "epoch": 1}, "netG.module."),
}


def flatten(obj, prefix: str = "", tensors=None, objects=None):
    """Nested dicts -> dotted names, as sefa_zoo's loaders present any container."""
    tensors = {} if tensors is None else tensors
    objects = {} if objects is None else objects
    if isinstance(obj, torch.Tensor):
        tensors[prefix[:-1]] = obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            flatten(value, f"{prefix}{key}.", tensors, objects)
    else:
        objects[prefix[:-1]] = obj
    return tensors, objects


def in_memory(saved, path: Path | None = None) -> Checkpoint:
    tensors, objects = flatten(saved)
    return Checkpoint.from_tensors(tensors, objects=objects, path=path)


def run_tutorial(state: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    net = tutorial_sequential(NZ, NGF, NC)
    net.load_state_dict({k.removeprefix("main."): v for k, v in state.items()})
    with torch.no_grad():
        return net.eval()(z[:, :, None, None])


# --- detection -------------------------------------------------------------------------------


@pytest.mark.parametrize("wrapper", list(WRAPPERS))
def test_detects_the_generator_in_every_wrapper(wrapper):
    wrap, prefix = WRAPPERS[wrapper]
    checkpoint = in_memory(wrap(small_state()))
    arch = DCGAN()
    assert arch.detect(checkpoint) == "tutorial"
    shape = arch.locate(checkpoint)
    assert (shape.prefix, shape.nz, shape.widths, shape.nc) == (prefix, NZ, (64, 32, 16, 8), NC)
    assert (shape.ngf, shape.image_size) == (NGF, 64)
    found, layout = detect(checkpoint)  # through the registry: the built-in plugin, unambiguous
    assert (found.name, layout) == ("dcgan", "tutorial")


def test_training_checkpoint_picks_the_generator_not_the_discriminator():
    saved, generator_state = training_checkpoint()
    checkpoint = in_memory(saved)
    assert checkpoint.objects["epoch"] == 3
    assert checkpoint.shape("netD_state_dict.main.0.weight") == (NDF, NC, 4, 4)
    assert DCGAN().locate(checkpoint).prefix == "netG_state_dict."
    (matrix,) = torch_matrices(DCGAN().projection(checkpoint, [0]))
    assert torch.equal(matrix, generator_state["main.0.weight"].reshape(NZ, -1).T)


def _stylegan2_like() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    names = {
        "g_ema.style.1.weight": (32, 32),
        "g_ema.input.input": (1, 32, 4, 4),
        "g_ema.conv1.conv.weight": (1, 32, 32, 3, 3),
        "g_ema.conv1.conv.modulation.weight": (32, 32),
        "g_ema.to_rgb1.conv.modulation.weight": (32, 32),
        "g_ema.convs.0.conv.modulation.weight": (32, 32),
        "d.convs.0.0.weight": (32, 3, 1, 1),
        "latent_avg": (32,),
    }
    return {name: torch.randn(shape, generator=g) for name, shape in names.items()}


def _broken(edit):
    state = small_state()
    edit(state)
    return state


NOT_DCGAN_GENERATORS = {
    "discriminator alone": lambda: tutorial_discriminator().state_dict(),
    "wrapped discriminator": lambda: {"netD_state_dict": tutorial_discriminator().state_dict()},
    "stylegan2-like": _stylegan2_like,
    "no batchnorm stats": lambda: _broken(lambda s: s.pop("main.4.running_var")),
    "batchnorm of the wrong width": lambda: _broken(lambda s: s.update({"main.7.bias": torch.zeros(5)})),
    "five output channels": lambda: _broken(lambda s: s.update({"main.12.weight": torch.zeros(NGF, 5, 4, 4)})),
    "3x3 kernels": lambda: _broken(lambda s: s.update({"main.6.weight": torch.zeros(32, 16, 3, 3)})),
    "a layer after the image conv": lambda: _broken(lambda s: s.update({"main.14.weight": torch.zeros(3, 3)})),
    "linear first layer": lambda: _broken(lambda s: s.update({"main.0.weight": torch.zeros(NZ, 64)})),
}


@pytest.mark.parametrize("case", list(NOT_DCGAN_GENERATORS))
def test_other_networks_are_not_detected(case):
    checkpoint = in_memory(NOT_DCGAN_GENERATORS[case]())
    assert DCGAN().detect(checkpoint) is None
    with pytest.raises(LayoutError, match="not a dcgan checkpoint"):
        DCGAN().layers(checkpoint)


def test_32px_variant_and_free_widths_are_read_from_the_shapes():
    state = small_state(image_size=32)
    assert "main.12.weight" not in state and state["main.9.weight"].shape == (NGF, NC, 4, 4)
    shape = DCGAN().locate(in_memory(state))
    assert (shape.widths, shape.image_size) == ((32, 16, 8), 32)
    (layer,) = DCGAN().layers(in_memory(state))
    assert (layer.outputs, layer.latent_dim) == (32 * 16, NZ)

    odd = DCGANGenerator(10, [24, 20], 1).state_dict()  # not halving, grey images, 16 px
    shape = DCGAN().locate(in_memory({"generator": odd}))
    assert (shape.nz, shape.widths, shape.nc, shape.image_size) == (10, (24, 20), 1, 16)
    generator = DCGAN().build_generator(in_memory({"generator": odd}))
    assert generator.synthesize(generator.map(torch.zeros(2, 10))).shape == (2, 1, 16, 16)


def test_several_generators_need_the_prefix_option():
    first, second = small_state(seed=1), small_state(seed=2)
    checkpoint = in_memory({"netG": first, "netG_ema": prefixed(second, "module.")})
    assert DCGAN().detect(checkpoint) == "tutorial"
    with pytest.raises(LayoutError, match=r"several DCGAN generators \(under 'netG\.', 'netG_ema\.module\.'\)"):
        DCGAN().layers(checkpoint)
    (matrix,) = torch_matrices(DCGAN().projection(checkpoint, [0], prefix="netG_ema.module"))
    assert torch.equal(matrix, second["main.0.weight"].reshape(NZ, -1).T)
    bank = factorize_checkpoint(checkpoint, options={"prefix": "netG."}, k=3)
    assert bank.architecture == "dcgan"
    with pytest.raises(LayoutError, match="no DCGAN tutorial generator under prefix 'netD.'"):
        DCGAN().layers(checkpoint, prefix="netD")
    with pytest.raises(SefaZooError, match="no option 'torgb'"):
        DCGAN().layers(checkpoint, prefix="netG", torgb="all")


# --- projection and factorization ------------------------------------------------------------


def test_projection_is_main0_reshaped_and_reads_only_that_tensor():
    state = prefixed(small_state(), "state_dict.module.")
    requested = []

    def loader(name):
        requested.append(name)
        return state[name]

    checkpoint = Checkpoint({k: tuple(v.shape) for k, v in state.items()}, loader)
    arch = DCGAN()
    (layer,) = arch.layers(checkpoint)
    assert (layer.index, layer.name, layer.shape, layer.level, layer.kind) == (0, "main.0", (64 * 16, NZ), 4, "dense")
    (matrix,) = torch_matrices(arch.projection(checkpoint, [0]))
    weight = state["state_dict.module.main.0.weight"]
    assert matrix.shape == (64 * 16, NZ)
    assert torch.equal(matrix, weight.reshape(NZ, -1).T)
    assert requested == ["state_dict.module.main.0.weight"]
    assert arch.layer_groups(1) == {}
    with pytest.raises(LayerSpecError, match="index 0; got index 1"):
        torch_matrices(arch.projection(checkpoint, [0, 1]))


def test_projection_is_the_linear_map_the_first_layer_applies_to_z():
    checkpoint = in_memory(small_state())
    (matrix,) = torch_matrices(DCGAN().projection(checkpoint, [0]))
    generator = DCGAN().build_generator(checkpoint)
    z = torch.randn(5, NZ, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        features = generator.main[0](z[:, :, None, None]).flatten(1)
    torch.testing.assert_close(features, z @ matrix.T, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("normalize", [True, False])
def test_factorization_matches_brute_force_eigendecomposition(normalize):
    state = small_state(seed=4)
    bank = factorize_checkpoint(in_memory({"netG_state_dict": state}), normalize=normalize)
    a = state["main.0.weight"].double().numpy().reshape(NZ, -1).T
    if normalize:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
    values, vectors = np.linalg.eigh(a.T @ a)
    values, vectors = values[::-1], vectors[:, ::-1].T
    assert bank.layer_indices == (0,) and bank.layer_names == ("main.0",) and bank.latent_space == "z"
    np.testing.assert_allclose(bank.eigenvalues, values, rtol=1e-9)
    cosines = np.abs(np.sum(bank.directions.astype(np.float64) * vectors, axis=1))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-5)
    if normalize:
        assert bank.eigenvalues.sum() == pytest.approx(64 * 16)


def test_layer_specs_for_one_layer():
    checkpoint = in_memory(small_state())
    assert factorize_checkpoint(checkpoint, layers="0", k=2).layer_indices == (0,)
    with pytest.raises(LayerSpecError, match="the only valid index is 0"):
        factorize_checkpoint(checkpoint, layers="1")
    with pytest.raises(LayerSpecError, match="group"):
        factorize_checkpoint(checkpoint, layers="bottom")


# --- synthesis -------------------------------------------------------------------------------


def test_generator_matches_the_tutorial_network_and_is_deterministic():
    state = small_state(seed=5)
    generator = DCGAN().build_generator(in_memory({"generator": prefixed(state, "module.")}), device="cpu")
    assert isinstance(generator, Generator)
    assert (generator.z_dim, generator.latent_dim, generator.num_layers) == (NZ, NZ, 1)
    assert not generator.training and generator.device == torch.device("cpu")
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in generator.parameters())
    z = torch.randn(6, NZ, generator=torch.Generator().manual_seed(6))
    codes = generator.map(z)
    assert codes.shape == (6, 1, NZ) and torch.equal(codes[:, 0], z)
    images = generator.synthesize(codes)
    assert images.shape == (6, NC, 64, 64) and images.dtype == torch.float32
    assert images.abs().max() <= 1.0 and images.std() > 0.01
    assert torch.equal(images, generator.synthesize(generator.map(z)))
    assert torch.equal(images[2:3], generator.synthesize(codes[2:3]))  # running stats, not batch stats
    torch.testing.assert_close(images, run_tutorial(state, z), rtol=0, atol=1e-6)


def test_truncation_and_bad_shapes_are_clear_errors():
    generator = DCGAN().build_generator(in_memory(small_state()))
    z = torch.zeros(2, NZ)
    assert torch.equal(generator.map(z, truncation_psi=1.0, truncation_cutoff=8), z[:, None])
    with pytest.raises(SefaZooError, match="cannot truncate: truncation_psi must be 1.0, got 0.7"):
        generator.map(z, truncation_psi=0.7)
    with pytest.raises(SefaZooError, match=rf"z of shape \(N, {NZ}\), got \(2, 3\)"):
        generator.map(torch.zeros(2, 3))
    with pytest.raises(SefaZooError, match=rf"codes of shape \(N, 1, {NZ}\), got \(2, {NZ}\)"):
        generator.synthesize(z)


def test_editing_along_a_bank_direction_changes_the_image():
    checkpoint = in_memory(small_state(seed=7))
    bank = factorize_checkpoint(checkpoint, normalize=False)
    generator = DCGAN().build_generator(checkpoint)
    codes = generator.map(torch.randn(3, NZ, generator=torch.Generator().manual_seed(8)))
    direction = torch.from_numpy(bank.directions[0]).float()
    edited = codes + 3.0 * direction
    before, after = generator.synthesize(codes), generator.synthesize(edited)
    assert (after - before).abs().mean() > 1e-3
    # The first layer moves by exactly |A d| = sqrt(eigenvalue) per unit step: the strongest direction.
    with torch.no_grad():
        shift = generator.main[0](3.0 * direction.reshape(1, NZ, 1, 1)).flatten()
    assert shift.double().norm().item() == pytest.approx(3.0 * np.sqrt(bank.eigenvalues[0]), rel=1e-5)


def test_half_precision_and_old_checkpoints_load_as_float32():
    state = {k: v.half() if v.is_floating_point() else v for k, v in small_state().items()}
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # PyTorch < 0.4.1
    generator = DCGAN().build_generator(in_memory(old))
    assert generator.main[0].weight.dtype == torch.float32
    assert torch.equal(generator.main[0].weight, state["main.0.weight"].float())


def test_unexpected_tensor_under_the_prefix_names_file_and_key():
    state = small_state()
    state["main.0.bias"] = torch.zeros(64)
    checkpoint = in_memory({"netG": state}, path=Path("/models/G.pth"))
    assert DCGAN().detect(checkpoint) == "tutorial"  # the projection does not need the bias
    torch_matrices(DCGAN().projection(checkpoint, [0]))
    with pytest.raises(LayoutError, match=r"^/models/G\.pth: .*unexpected key 'netG\.main\.0\.bias'$"):
        DCGAN().build_generator(checkpoint)


def test_unknown_device_is_a_clear_error():
    with pytest.raises(SefaZooError, match="cannot put the dcgan generator on device 'nonsense'"):
        DCGAN().build_generator(in_memory(small_state()), device="nonsense")


def test_fixture_writer_is_seeded_and_tutorial_sized():
    assert all(torch.equal(a, b) for a, b in zip(_state(seed=9).values(), random_dcgan_state(NZ, NGF, NC, 64, 9).values()))
    assert not torch.equal(_state(seed=9)["main.0.weight"], _state(seed=10)["main.0.weight"])
    full = random_dcgan_state()
    reference = tutorial_sequential(100, 64, 3).state_dict()
    assert [(k, v.shape) for k, v in full.items()] == [("main." + k, v.shape) for k, v in reference.items()]
    with pytest.raises(ValueError, match="image_size must be 4"):
        random_dcgan_state(image_size=48)


# --- files as people save them ---------------------------------------------------------------

_tag_storages_as_cuda = False


def _cuda_tagger(storage):
    return "cuda:0" if _tag_storages_as_cuda else None


# Highest priority, inactive except inside save_as_if_from_cuda; never restores anything itself.
torch.serialization.register_package(-7, _cuda_tagger, lambda storage, location: None)


def save_as_if_from_cuda(obj, path: Path, *, legacy: bool = False) -> None:
    """torch.save, with every storage recorded as living on cuda:0 (as a GPU training run writes it).

    torch writes the file itself; only the location tag its registry would give differs,
    so loading it needs map_location exactly like a file written on a GPU machine.
    """
    global _tag_storages_as_cuda
    _tag_storages_as_cuda = True
    try:
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    finally:
        _tag_storages_as_cuda = False


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("wrapper", list(WRAPPERS))
def test_saved_files_in_every_wrapper_load_detect_and_render(wrapper, legacy, tmp_path):
    wrap, prefix = WRAPPERS[wrapper]
    state = small_state(seed=11)
    path = tmp_path / "G.pth"
    torch.save(wrap(state), path, _use_new_zipfile_serialization=not legacy)
    checkpoint = open_checkpoint(path)
    found, layout = detect(checkpoint)
    assert (found.name, layout) == ("dcgan", "tutorial")
    assert DCGAN().locate(checkpoint).prefix == prefix
    (matrix,) = torch_matrices(DCGAN().projection(checkpoint, [0]))
    assert torch.equal(matrix, state["main.0.weight"].reshape(NZ, -1).T)
    generator = DCGAN().build_generator(checkpoint)
    z = torch.randn(2, NZ, generator=torch.Generator().manual_seed(12))
    torch.testing.assert_close(generator.synthesize(generator.map(z)), run_tutorial(state, z), rtol=0, atol=1e-6)


def test_saved_training_checkpoint_with_optimizers(tmp_path):
    saved, generator_state = training_checkpoint()
    path = tmp_path / "checkpoint_epoch3.pth"
    torch.save(saved, path)
    checkpoint = open_checkpoint(path)
    assert checkpoint.objects["epoch"] == 3
    generator = DCGAN().build_generator(checkpoint)
    z = torch.randn(2, NZ, generator=torch.Generator().manual_seed(13))
    torch.testing.assert_close(generator.synthesize(generator.map(z)), run_tutorial(generator_state, z), rtol=0, atol=1e-6)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_files_saved_from_cuda_load_on_cpu(legacy, tmp_path):
    state = small_state(seed=14)
    path = tmp_path / "G_cuda.pth"
    save_as_if_from_cuda({"netG_state_dict": prefixed(state, "module."), "epoch": 2}, path, legacy=legacy)
    with pytest.raises(RuntimeError, match="CUDA"):  # the fixture really is tagged cuda
        torch.load(path, weights_only=True)
    checkpoint = open_checkpoint(path)
    generator = DCGAN().build_generator(checkpoint, device="cpu")
    assert generator.device == torch.device("cpu")
    assert all(torch.equal(generator.state_dict()[k], v) for k, v in state.items())


def test_factorize_file_records_the_checkpoint(tmp_path):
    import hashlib

    state = small_state(seed=15)
    path = tmp_path / "netG.pth"
    torch.save({"state_dict": prefixed(state, "module.")}, path)
    bank = factorize_file(path, k=4)
    assert (bank.architecture, bank.layout, bank.k) == ("dcgan", "tutorial", 4)
    assert bank.checkpoint_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    expected = factorize_checkpoint(in_memory(state), k=4)
    np.testing.assert_array_equal(bank.directions, expected.directions)


def test_cli_factorize_detects_dcgan_without_arch(tmp_path):
    from sefa_zoo.cli.main import app

    state = small_state(seed=16)
    path = tmp_path / "G.pth"
    save_as_if_from_cuda({"netG_state_dict": state, "netD_state_dict": tutorial_discriminator().state_dict()}, path)
    out = tmp_path / "bank.safetensors"
    result = CliRunner().invoke(app, ["factorize", "--checkpoint", str(path), "-k", "5", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["architecture"], report["layout"], report["layers"]) == ("dcgan", "tutorial", [0])
    assert report["layer_names"] == ["main.0"] and report["k"] == 5
    bank = load_bank(out)
    np.testing.assert_array_equal(bank.directions, factorize_checkpoint(in_memory(state), k=5).directions)

    result = CliRunner().invoke(app, ["factorize", "--checkpoint", str(path), "--layers", "middle", "-o", str(out)])
    assert result.exit_code == 1 and "Error: " in result.output and "middle" in result.output
