"""The plugin's own tests: the architecture against real files its writer makes, through sefa-zoo."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import sefa_zoo
from sefa_zoo import Checkpoint, LayerSpecError, LayoutError, SefaZooError, open_checkpoint
from sefa_zoo_mlpgan import DEMO_FILE, DEMO_SHA256
from sefa_zoo_mlpgan.architecture import image_shape
from sefa_zoo_mlpgan.checkpoints import random_generator, write_checkpoint


def test_registers_without_problems(mlpgan):
    with warnings.catch_warnings():
        warnings.simplefilter("error", sefa_zoo.PluginWarning)
        registry = sefa_zoo.get_registry()
    info = next(p for p in registry.plugins if p.name == "mlpgan-under-test")
    assert info.architectures == ["mlpgan"] and info.catalogue_entries == ["mlpgan-demo"]
    assert info.problems == []


def test_detects_its_checkpoint_bare_and_wrapped(mlpgan, tmp_path, checkpoint_file):
    wrapped = write_checkpoint(tmp_path / "wrapped.safetensors", prefix="generator.")
    for path in (checkpoint_file, wrapped):
        arch, layout = sefa_zoo.detect(open_checkpoint(path))
        assert (arch.name, layout) == ("mlpgan", "state-dict")


def test_ignores_what_is_not_its_own(mlpgan):
    state = random_generator(z_dim=4, hidden=8, channels=3, resolution=4, seed=0).state_dict()
    odd_output = {**state, "net.4.weight": torch.zeros(50, 8), "net.4.bias": torch.zeros(50)}  # 50 != c * s * s
    extra = {**state, "net.6.weight": torch.zeros(3, 3)}
    for tensors in ({}, odd_output, extra, {"net.0.weight": torch.zeros(8, 4)}):
        assert mlpgan.detect(Checkpoint.from_tensors(tensors)) is None


@pytest.mark.parametrize("name", sorted(sefa_zoo.get_registry().architectures))
def test_no_other_architecture_claims_our_checkpoints(name, checkpoint_file):
    """Parametrised over the registry (the built-ins here): detection must be unambiguous."""
    assert sefa_zoo.get_architecture(name).detect(open_checkpoint(checkpoint_file)) is None


def test_layers_and_projection(mlpgan, checkpoint_file):
    checkpoint = open_checkpoint(checkpoint_file)
    [layer] = mlpgan.layers(checkpoint)
    assert (layer.index, layer.name, layer.shape) == (0, "net.0", (10, 6))
    [matrix] = mlpgan.projection(checkpoint, [0])
    assert torch.equal(torch.from_numpy(matrix), load_file(checkpoint_file)["net.0.weight"])
    with pytest.raises(LayerSpecError, match="index 3"):
        mlpgan.projection(checkpoint, [3])
    with pytest.raises(SefaZooError, match="no option 'torgb'"):
        mlpgan.layers(checkpoint, torgb="all")
    with pytest.raises(LayoutError, match="no layout 'pickle'"):
        mlpgan.layers(checkpoint, layout="pickle")


def test_prefix_option_picks_one_of_two_generators(mlpgan):
    one = random_generator(z_dim=4, hidden=8, channels=1, resolution=2, seed=0).state_dict()
    two = random_generator(z_dim=5, hidden=8, channels=1, resolution=2, seed=1).state_dict()
    both = Checkpoint.from_tensors({**{f"g_a.{k}": v for k, v in one.items()},
                                    **{f"g_b.{k}": v for k, v in two.items()}})
    with pytest.raises(LayoutError, match="--option prefix=PREFIX"):
        mlpgan.layers(both)
    assert mlpgan.layers(both, prefix="g_b")[0].latent_dim == 5


def test_factorize_end_to_end(mlpgan, checkpoint_file):
    bank = sefa_zoo.factorize_file(checkpoint_file)
    assert (bank.architecture, bank.layout, bank.latent_space) == ("mlpgan", "state-dict", "z")
    assert bank.directions.shape == (6, 6)
    assert np.isclose(bank.eigenvalues.sum(), 10)  # normalised rows: the eigenvalues sum to the row count


def test_generator(mlpgan, checkpoint_file):
    generator = mlpgan.build_generator(open_checkpoint(checkpoint_file))
    assert isinstance(generator, sefa_zoo.Generator)
    z = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    codes = generator.map(z)
    images = generator.synthesize(codes)
    assert codes.shape == (5, 1, 6) and images.shape == (5, 3, 4, 4)
    assert images.abs().max() <= 1
    reference = random_generator(z_dim=6, hidden=10, channels=3, resolution=4, seed=1)
    assert torch.allclose(images, reference(z))
    with pytest.raises(SefaZooError, match="truncation"):
        generator.map(z, truncation_psi=0.7)


def test_demo_entry_points_at_the_shipped_file(mlpgan):
    entry = next(e for e in sefa_zoo.get_registry().catalogue_entries if e.name == "mlpgan-demo")
    assert entry.source.kind == "local" and entry.source.path == str(DEMO_FILE)
    assert hashlib.sha256(DEMO_FILE.read_bytes()).hexdigest() == DEMO_SHA256 == entry.source.sha256
    bank = sefa_zoo.factorize_model("mlpgan-demo", progress=False)
    assert bank.model == "mlpgan-demo" and bank.checkpoint_sha256 == DEMO_SHA256


def test_image_shape():
    assert image_shape(3 * 8 * 8) == (3, 8) and image_shape(16) == (1, 4) and image_shape(50) is None
