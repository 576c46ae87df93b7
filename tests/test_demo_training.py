"""The demo model's pieces: the shapes data set, its factor estimators, the training run
(resumable bit-exactly) and the SeFa factor evaluation. Learned behaviour is not asserted
here: that needs the trained weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sefa_zoo_plugins.stylegan2.demo import evaluate as demo_evaluate
from sefa_zoo_plugins.stylegan2.demo import train as demo_train
from sefa_zoo_plugins.stylegan2.demo.discriminator import Discriminator, minibatch_std
from sefa_zoo_plugins.stylegan2.demo.factors import estimate_factors, factor_difference
from sefa_zoo_plugins.stylegan2.demo.shapes import (
    FACTOR_RANGES,
    FACTORS,
    SIZE,
    ShapesData,
    render,
)
from sefa_zoo_plugins.stylegan2.generator import StyleGAN2Generator
from sefa_zoo_plugins.stylegan2 import StyleGAN2, random_stylegan2_state, save_stylegan2

from sefa_zoo import SefaZooError, open_checkpoint


@pytest.fixture(autouse=True)
def one_thread():
    # Training steps are small: with two threads on shared cores they wait on each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- the data set


def test_data_is_deterministic_per_seed_and_within_its_ranges():
    images, factors = ShapesData(3).batch(64)
    again, same = ShapesData(3).batch(64)
    other, _ = ShapesData(4).batch(64)
    assert images.shape == (64, 3, SIZE, SIZE) and images.dtype == torch.float32
    assert torch.equal(images, again) and all(torch.equal(factors[k], same[k]) for k in FACTORS)
    assert not torch.equal(images, other)
    assert images.min() >= -1 and images.max() <= 1
    for name, (low, high) in FACTOR_RANGES.items():
        assert low <= factors[name].min() and factors[name].max() <= high, name
        assert factors[name].max() - factors[name].min() > 0.6 * (high - low), name  # the range is used


def test_a_resumed_stream_continues_where_it_stopped():
    data = ShapesData(5)
    data.batch(8)
    saved = data.state_dict()
    expected, _ = data.batch(8)
    resumed = ShapesData(0)
    resumed.load_state_dict(saved)
    assert torch.equal(resumed.batch(8)[0], expected)


def test_edges_are_antialiased_and_the_border_is_background():
    images, factors = ShapesData(1).batch(16)
    grey = factors["background"] * 2 - 1
    border = torch.cat([images[:, :, 0], images[:, :, -1], images[:, :, :, 0], images[:, :, :, -1]], dim=2)
    assert torch.allclose(border, grey[:, None, None].expand_as(border), atol=1e-6)
    distinct = {round(v, 4) for v in images[:, 0].flatten().tolist()}
    assert len(distinct) > 200  # partial coverage gives intermediate values, not two levels


# ---------------------------------------------------------------- estimators


def test_estimators_recover_the_ground_truth():
    images, truth = ShapesData(11).batch(512)
    estimated = estimate_factors(images)
    tolerance = {"x": 0.06, "y": 0.06, "radius": 0.05, "hue": 1e-4, "background": 1e-5}
    for name in FACTORS:
        error = factor_difference(name, estimated[name], truth[name]).abs().max().item()
        assert error < tolerance[name], (name, error)


def test_hue_is_a_circular_mean_across_the_wrap():
    factors = {"x": torch.tensor([16.0, 16.0]), "y": torch.tensor([16.0, 16.0]), "radius": torch.tensor([6.0, 6.0]),
               "hue": torch.tensor([0.999, 0.001]), "background": torch.tensor([0.5, 0.5])}
    hue = estimate_factors(render(factors))["hue"]
    assert factor_difference("hue", hue, factors["hue"]).abs().max() < 1e-4
    assert factor_difference("hue", torch.tensor([0.95]), torch.tensor([0.05])).item() == pytest.approx(-0.1)


def test_estimators_move_with_one_factor_only():
    base = {name: torch.full((5,), (low + high) / 2) for name, (low, high) in FACTOR_RANGES.items()}
    for name, (low, high) in FACTOR_RANGES.items():
        factors = dict(base)
        factors[name] = torch.linspace(low, high - 1e-3, 5)
        estimated = estimate_factors(render(factors))
        for other in FACTORS:
            spread = factor_difference(other, estimated[other], estimated[other][:1]).abs().max().item()
            if other == name:
                assert spread > 0.5 * (high - low) * 0.8, name
            else:
                assert spread < 0.05, (name, other, spread)


# ---------------------------------------------------------------- discriminator and generator


def test_discriminator_gives_one_logit_per_image_and_sees_batch_statistics():
    D = Discriminator(32, channel_base=256, channel_max=32)
    assert D(torch.randn(6, 3, 32, 32)).shape == (6,)
    x = torch.randn(8, 4, 4, 4)
    y = minibatch_std(x)
    assert y.shape == (8, 5, 4, 4)
    assert torch.allclose(y[0::2, 4], y[0, 4, 0, 0].expand(4, 4, 4))  # groups are strided, as NVIDIA groups them
    assert torch.allclose(minibatch_std(torch.ones(4, 2, 4, 4))[:, 2], torch.full((4, 4, 4), 1e-4), atol=1e-6)


def test_unfused_training_path_computes_the_same_images():
    G = StyleGAN2Generator(random_stylegan2_state(32, z_dim=16, w_dim=16, channel_base=256, channel_max=32,
                                                  mapping_layers=2))
    codes = G.forward_mapping(torch.randn(3, 16))
    fused = G.forward_synthesis(codes)
    unfused = G.forward_synthesis(codes, fused_modconv=False)
    assert (fused - unfused).abs().max() < 1e-4 * fused.abs().max()
    unfused.sum().backward()
    assert G.get_parameter("16x16.conv0.weight").grad is not None


def test_the_recipe_gives_the_issues_generator():
    config = demo_train.Config()
    state = demo_train.initial_state(config)
    assert [state.channels(level) for level in state.levels] == [128, 128, 64, 32]
    G = StyleGAN2Generator(state)
    params = sum(p.numel() for p in G.parameters())
    assert 0.6e6 < params < 0.8e6
    assert (G.z_dim, G.latent_dim, G.mapping.num_layers, G.num_layers) == (64, 64, 4, 8)
    assert torch.all(state.tensors["4x4.conv.affine.bias"] == 1) and torch.all(state.tensors["w_avg"] == 0)


# ---------------------------------------------------------------- training


TINY = {"batch": 4, "channel_base": 128, "channel_max": 32, "z_dim": 16, "w_dim": 16, "mapping_layers": 2,
        "log_every": 1, "snapshot_kimg": 1.0, "r1_every": 2}


def tiny_config(iterations: int, **kwargs) -> demo_train.Config:
    return demo_train.Config(kimg=iterations * TINY["batch"] / 1000, **{**TINY, **kwargs})


def test_resuming_continues_bit_exactly(tmp_path):
    quiet = lambda line: None
    straight = demo_train.train(tmp_path / "straight", tiny_config(4), log=quiet)
    first = demo_train.train(tmp_path / "resumed", tiny_config(2), log=quiet)
    assert (tmp_path / "resumed" / demo_train.SNAPSHOT).is_file()
    second = demo_train.train(tmp_path / "resumed", tiny_config(4), resume=True, log=quiet)
    assert len(straight) == 4 and len(first) == 2 and len(second) == 2
    assert "R1" in straight[0] and "R1" in straight[2] and "R1" not in straight[1]
    assert first + second == straight
    a = torch.load(tmp_path / "straight" / demo_train.SNAPSHOT, weights_only=True)
    b = torch.load(tmp_path / "resumed" / demo_train.SNAPSHOT, weights_only=True)
    assert (a["iteration"], a["nimg"]) == (b["iteration"], b["nimg"]) == (4, 16)
    for part in ("G", "G_ema", "D"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    assert not torch.equal(a["G"]["const"], a["G_ema"]["const"])  # the EMA lags the live weights
    log = (tmp_path / "resumed" / demo_train.LOG).read_text()
    assert "resuming at kimg 0.008" in log and "s/kimg" in log


def test_resuming_refuses_other_settings_and_missing_snapshots(tmp_path):
    quiet = lambda line: None
    with pytest.raises(SefaZooError, match="no snapshot to resume from"):
        demo_train.train(tmp_path, tiny_config(1), resume=True, log=quiet)
    demo_train.train(tmp_path, tiny_config(1), log=quiet)
    with pytest.raises(SefaZooError, match=r"other settings \(lr\)"):
        demo_train.train(tmp_path, tiny_config(2, lr=0.001), resume=True, log=quiet)


def test_the_command_line_writes_weights_the_plugin_loads(tmp_path, capsys):
    assert demo_train.main(["--out", str(tmp_path), "--kimg", "0.004", "--batch", "4", "--threads", "1"]) == 0
    assert "kimg    0.004" in capsys.readouterr().out
    for name in (demo_train.SNAPSHOT, demo_train.WEIGHTS, demo_train.SAMPLES, demo_train.LOG):
        assert (tmp_path / name).is_file(), name
    checkpoint = open_checkpoint(tmp_path / demo_train.WEIGHTS)
    assert StyleGAN2().detect(checkpoint) == "sefa-zoo"
    assert {checkpoint[name].dtype for name in checkpoint} == {torch.float16}
    G = StyleGAN2().build_generator(checkpoint)
    ema = torch.load(tmp_path / demo_train.SNAPSHOT, weights_only=True)["G_ema"]
    assert torch.allclose(G.state_dict()["const"], ema["const"], atol=1e-2)
    assert G.synthesize(G.map(torch.randn(2, 64))).shape == (2, 3, 32, 32)


# ---------------------------------------------------------------- evaluation


def test_evaluation_runs_and_tabulates_every_group(tmp_path):
    state = random_stylegan2_state(32, z_dim=16, w_dim=16, channel_base=128, channel_max=16, mapping_layers=2)
    path = save_stylegan2(state, tmp_path / "tiny.safetensors", "sefa-zoo")
    result = demo_evaluate.evaluate(open_checkpoint(path), k=2, seeds=3, num_random=2, distance=1.0)
    assert set(result.sefa) == set(result.random) == {"bottom", "rest", "all"}
    for group in result.sefa:
        assert result.sefa[group].shape == (2, len(FACTORS))
        assert result.random[group].shape == (2, len(FACTORS))
        assert np.all(np.isfinite(result.sefa[group])) and np.all(result.sefa[group] >= 0)
        assert math.isfinite(result.best_ratio(group))
    table = result.markdown().splitlines()
    assert table[0] == "| group | direction | x | y | radius | hue | background |"
    assert len(table) == 2 + 3 * (2 + 1)


def test_evaluation_command_prints_the_table(tmp_path, capsys):
    state = random_stylegan2_state(32, z_dim=16, w_dim=16, channel_base=128, channel_max=16, mapping_layers=2)
    path = save_stylegan2(state, tmp_path / "tiny.safetensors", "sefa-zoo")
    args = [str(path), "--k", "1", "--seeds", "2", "--random", "1"]
    assert demo_evaluate.main(args) == 0
    assert "| all | random (mean of 1) |" in capsys.readouterr().out
