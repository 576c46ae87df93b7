"""Fidelity of the StyleGAN3 generator against outputs of NVIDIA's stylegan3 code.

The reference arrays in data/stylegan3_fidelity/ were made by running NVIDIA's
``training.networks_stylegan3.Generator`` (reference, non-CUDA ops, float32), outside this
project, on the config T and config R fixture pickles committed beside them; that folder's
README says exactly how.

nvidia-{t,r}.npz:
  z (N, z_dim)                          np.random.RandomState(seed).randn(1, z_dim) per seed
  wplus_psi1, image_psi1                mapping at psi 1, synthesis seed by seed
  wplus_psi07_cutoff8, image_...        psi 0.7 on the first 8 of 16 W+ indices
  z_mixed (N, 16, z_dim), wplus_mixed, image_mixed
                                        every W+ index mapped from its own z (psi 1)
  designed_{up,down}_filter_{layer}     the filters NVIDIA's constructor designs (scipy)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sefa_zoo_plugins.stylegan3 import design_lowpass_filter

from sefa_zoo import get_architecture, open_checkpoint

DATA = Path(__file__).parent / "data" / "stylegan3_fidelity"
CONFIGS = ("t", "r")
TOLERANCE = 1e-3  # max abs difference, [-1, 1] pixel units (issue 7)
FILTER_TOLERANCE = 1e-6
NUM_WS = 16
CUTOFF = 8
CASES = ("psi1", "psi07_cutoff8", "mixed")


@pytest.fixture(scope="module")
def references() -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for config in CONFIGS:
        with np.load(DATA / f"nvidia-{config}.npz") as data:
            out[config] = {key: data[key] for key in data.files}
    return out


def checkpoint_of(config: str):
    return open_checkpoint(DATA / f"stylegan3-{config}-32px-nvidia.pkl")


@pytest.fixture(scope="module")
def generators():
    return {config: get_architecture("stylegan3").build_generator(checkpoint_of(config)) for config in CONFIGS}


def max_difference(actual: torch.Tensor, expected: np.ndarray, what: str) -> float:
    actual_np = actual.detach().cpu().float().numpy()
    assert actual_np.shape == expected.shape, f"{what}: shape {actual_np.shape} != {expected.shape}"
    diff = float(np.abs(actual_np - expected).max())
    print(f"{what}: max abs difference {diff:.3g}")
    return diff


def test_the_references_are_what_the_readme_says(references):
    for config in CONFIGS:
        ref = references[config]
        assert ref["z"].shape == (2, 32) and ref["wplus_mixed"].shape == (2, NUM_WS, 32)
        assert ref["image_mixed"].shape == (2, 3, 32, 32)
        # psi 0.7 moved the first 8 indices and left the rest as at psi 1
        assert np.abs(ref["wplus_psi07_cutoff8"][:, CUTOFF:] - ref["wplus_psi1"][:, CUTOFF:]).max() == 0
        assert np.abs(ref["wplus_psi07_cutoff8"][:, :CUTOFF] - ref["wplus_psi1"][:, :CUTOFF]).max() > 1e-2
        # images carry signal well above the tolerance
        assert np.abs(ref["image_mixed"]).max() > 100 * TOLERANCE


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("case", ["psi1", "psi07_cutoff8"])
def test_mapping_matches_nvidia(generators, references, config, case):
    psi, cutoff = (1.0, None) if case == "psi1" else (0.7, CUTOFF)
    z = torch.from_numpy(references[config]["z"])
    codes = generators[config].map(z, truncation_psi=psi, truncation_cutoff=cutoff)
    assert max_difference(codes, references[config][f"wplus_{case}"], f"{config} wplus {case}") <= 1e-5


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("case", CASES)
def test_synthesis_matches_nvidia(generators, references, config, case):
    codes = torch.from_numpy(references[config][f"wplus_{case}"])
    image = generators[config].synthesize(codes)
    assert max_difference(image, references[config][f"image_{case}"], f"{config} image {case}") <= TOLERANCE


@pytest.mark.parametrize("config", CONFIGS)
def test_the_fixture_filters_are_the_ones_nvidia_designs(references, config):
    """The fixture writer's Kaiser sinc / jinc filters (no scipy) equal scipy's through NVIDIA's constructor."""
    checkpoint = checkpoint_of(config)
    designed = {k[len("designed_"):]: v for k, v in references[config].items() if k.startswith("designed_")}
    assert len(designed) == 28
    if config == "r":
        assert any(v.ndim == 2 for v in designed.values())  # the radial down-sampling filters
    for key, expected in designed.items():
        kind, layer = key.split("_filter_")
        stored = checkpoint[f"G_ema.synthesis.{layer}.{kind}_filter"]
        assert np.abs(stored.numpy() - expected).max() <= FILTER_TOLERANCE, key


def test_design_lowpass_filter_matches_scipy_through_nvidia(references):
    # one separable and one radial case recomputed here from the layer's plan numbers
    from sefa_zoo_plugins.stylegan3.fixtures import layer_filters
    from sefa_zoo_plugins.stylegan3.layouts import locate
    from sefa_zoo_plugins.stylegan3.reader import read_stylegan3

    checkpoint = checkpoint_of("r")
    parts = read_stylegan3(checkpoint, locate(checkpoint))
    designed = {k: v for k, v in references["r"].items() if k.startswith("designed_")}
    for layer, step in zip(parts.located.layers, parts.plan.layers, strict=True):
        up, down = layer_filters(step)
        for kind, taps in (("up", up), ("down", down)):
            key = f"designed_{kind}_filter_{layer.name}"
            assert (taps is None) == (key not in designed), key
            if taps is not None:
                assert np.abs(taps.numpy() - designed[key]).max() <= FILTER_TOLERANCE, key
    assert design_lowpass_filter(1, 2.0, 1.0, 16) is None


@pytest.mark.parametrize("config", CONFIGS)
def test_a_batch_renders_as_its_samples_do(generators, references, config):
    codes = torch.from_numpy(references[config]["wplus_mixed"])
    together = generators[config].synthesize(codes)
    apart = torch.cat([generators[config].synthesize(row[None]) for row in codes])
    assert (together - apart).abs().max() <= 1e-5
