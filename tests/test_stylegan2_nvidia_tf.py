"""The stylegan2 nvidia-tf layout: NVIDIA's TensorFlow pickles (G, D, Gs) read as the project's generator.

What every layout shares (layer tables, banks, synthesis of the same logical generator) runs
over FIXTURE_LAYOUTS in test_stylegan2.py / test_stylegan2_synthesis.py; here is what is
particular to the TensorFlow files: the transposed weights, the settings in Gs's
static_kwargs, detection against the other layouts, and the CLI on a .pkl.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import sefa_zoo
from sefa_zoo import LayoutError, load_bank, open_checkpoint
from sefa_zoo.cli.main import app
from sefa_zoo.testing import TFNetworkSpec, save_tf_pickle
from sefa_zoo_plugins.stylegan2 import (
    StyleGAN2,
    random_stylegan2_state,
    read_stylegan2_state,
    save_stylegan2,
    stylegan2_state_dict,
)
from sefa_zoo_plugins.stylegan2.nvidia_tf import discriminator, generator
from sefa_zoo_plugins.stylegan2.reader import read_conv_clamp
from support.projections import torch_matrices


def tiny_state(**kwargs):
    kwargs = {"w_dim": 12, "z_dim": 12, "channel_base": 256, "channel_max": 16, "mapping_layers": 2, **kwargs}
    return random_stylegan2_state(32, **kwargs)


@pytest.fixture(scope="module")
def state():
    return tiny_state()


@pytest.fixture(scope="module")
def tf_file(state, tmp_path_factory):
    return save_stylegan2(state, tmp_path_factory.mktemp("tf") / "stylegan2-config-f.pkl", "nvidia-tf")


def with_gs(state, tmp_path, *, static_kwargs=None, drop=(), add=None, version=4):
    """The state's TensorFlow pickle with Gs changed: its static kwargs, variables removed or added."""
    gs = generator(state, "Gs")
    gs.version = version
    gs.static_kwargs.update(static_kwargs or {})
    for name in drop:
        component, _, local = name.partition(".")
        del gs.components[component].variables[local]
    for name, value in (add or {}).items():
        component, _, local = name.partition(".")
        gs.components[component].variables[local] = value
    return save_tf_pickle(tmp_path / "changed.pkl", (gs, discriminator(state), gs))


# ---------------------------------------------------------------- layer table and projection


def test_style_layers_are_the_mod_weights_transposed(state, tf_file):
    checkpoint = open_checkpoint(tf_file)
    table = StyleGAN2().layers(checkpoint)
    assert [layer.name for layer in table] == [
        "4x4.conv", "8x8.conv0", "8x8.conv1", "16x16.conv0", "16x16.conv1", "32x32.conv0", "32x32.conv1",
        "32x32.torgb"]
    assert [layer.index for layer in table] == list(range(8))
    assert checkpoint.shape("Gs.synthesis.8x8/Conv0_up/mod_weight") == (12, 16)  # (w_dim, C), as TensorFlow stores it
    matrices = torch_matrices(StyleGAN2().projection(checkpoint, [layer.index for layer in table]))
    for layer, matrix in zip(table, matrices):
        assert torch.equal(matrix, state.tensors[f"{layer.name}.affine.weight"]), layer.name
        assert (layer.outputs, layer.latent_dim) == tuple(matrix.shape)
    every = StyleGAN2().layers(checkpoint, torgb="all")
    assert [(layer.name, layer.index) for layer in every if layer.kind == "torgb"] == [
        ("4x4.torgb", 1), ("8x8.torgb", 3), ("16x16.torgb", 5), ("32x32.torgb", 7)]


def test_projection_equals_the_other_layouts(state, tf_file, tmp_path):
    other = save_stylegan2(state, tmp_path / "g.pt", "rosinality")
    for layers in ("all", "0-3"):
        tf_bank = sefa_zoo.factorize_file(tf_file, layers=layers)
        pt_bank = sefa_zoo.factorize_file(other, layers=layers)
        assert tf_bank.layout == "nvidia-tf" and tf_bank.layer_names == pt_bank.layer_names
        np.testing.assert_array_equal(tf_bank.directions, pt_bank.directions)


# ---------------------------------------------------------------- detection


def test_only_gs_is_read(state, tmp_path):
    # G (the training copy) differs from Gs; the layout reads Gs.
    checkpoint = open_checkpoint(save_stylegan2(state, tmp_path / "tf.pkl", "nvidia-tf"))
    assert not torch.equal(checkpoint["G.synthesis.4x4/Conv/mod_weight"], checkpoint["Gs.synthesis.4x4/Conv/mod_weight"])
    assert torch.equal(torch_matrices(StyleGAN2().projection(checkpoint, [0]))[0], state.tensors["4x4.conv.affine.weight"])


@pytest.mark.parametrize("layout", ["rosinality", "nvidia", "genforce", "sefa-zoo"])
def test_the_layouts_do_not_claim_each_others_generators(state, layout):
    prefix = {"rosinality": "g_ema.", "nvidia": "G_ema.", "genforce": "generator_smooth.", "sefa-zoo": ""}[layout]
    other = sefa_zoo.Checkpoint.from_tensors({prefix + k: v for k, v in stylegan2_state_dict(state, layout).items()})
    with pytest.raises(LayoutError, match="not a nvidia-tf StyleGAN2 checkpoint"):
        StyleGAN2().layers(other, layout="nvidia-tf")
    tf = sefa_zoo.Checkpoint.from_tensors({"Gs." + k: v for k, v in stylegan2_state_dict(state, "nvidia-tf").items()})
    with pytest.raises(LayoutError, match=f"not a {layout} StyleGAN2 checkpoint"):
        StyleGAN2().layers(tf, layout=layout)


def test_a_stylegan1_tensorflow_pickle_is_not_a_stylegan2_one(tmp_path):
    # StyleGAN (v1)'s TensorFlow synthesis: AdaIN StyleMod layers, no mod_weight.
    variables = {}
    for level in (4, 8, 16):
        for scope in (("Const", "Conv") if level == 4 else ("Conv0_up", "Conv1")):
            variables[f"{level}x{level}/{scope}/StyleMod/weight"] = np.zeros((12, 16), np.float32)
            variables[f"{level}x{level}/{scope}/weight"] = np.zeros((3, 3, 8, 8), np.float32)
    synthesis = TFNetworkSpec("G_synthesis", "G_synthesis", variables)
    gs = TFNetworkSpec("Gs", "G_style", {"dlatent_avg": np.zeros(12, np.float32)}, {"synthesis": synthesis})
    checkpoint = open_checkpoint(save_tf_pickle(tmp_path / "stylegan1.pkl", (gs, gs, gs)))
    assert StyleGAN2().detect(checkpoint) is None
    with pytest.raises(LayoutError, match=r"no nvidia-tf StyleGAN2 style layers .*'Gs\.synthesis\.\{r\}x\{r\}/Conv1/mod_weight'"):
        StyleGAN2().layers(checkpoint, layout="nvidia-tf")


def test_a_missing_variable_is_named(state, tmp_path):
    path = with_gs(state, tmp_path, drop=["synthesis.16x16/Conv0_up/weight"])
    assert StyleGAN2().detect(open_checkpoint(path)) is None
    with pytest.raises(LayoutError, match=r"missing tensor 'Gs\.synthesis\.16x16/Conv0_up/weight'"):
        StyleGAN2().layers(open_checkpoint(path), layout="nvidia-tf")
    path = with_gs(state, tmp_path, drop=["synthesis.noise3"])
    with pytest.raises(LayoutError, match=r"missing tensor 'Gs\.synthesis\.noise3'"):
        StyleGAN2().build_generator(open_checkpoint(path))


# ---------------------------------------------------------------- Gs's static_kwargs


def test_settings_come_from_static_kwargs(state, tmp_path):
    path = with_gs(state, tmp_path, static_kwargs={"mapping_lrmul": 0.05, "conv_clamp": 256, "fmap_base": 4096,
                                                    "fmap_max": 64})
    checkpoint = open_checkpoint(path)
    read = read_stylegan2_state(checkpoint, "nvidia-tf")
    assert read.mapping_lr_multiplier == 0.05
    assert (read.channel_base, read.channel_max) == (8192, 64)  # legacy.py: channel_base = 2 * fmap_base
    assert read_conv_clamp(checkpoint, "nvidia-tf") == 256.0
    assert StyleGAN2().build_generator(checkpoint).conv_clamp == 256.0


def test_legacy_defaults_apply_where_static_kwargs_are_silent(state, tmp_path):
    gs = generator(state, "Gs")
    gs.static_kwargs = {}
    checkpoint = open_checkpoint(save_tf_pickle(tmp_path / "silent.pkl", (gs, gs, gs)))
    read = read_stylegan2_state(checkpoint, "nvidia-tf")
    assert read.mapping_lr_multiplier == 0.01 and read_conv_clamp(checkpoint, "nvidia-tf") is None
    assert (read.channel_base, read.channel_max) == (256, 16)  # the smallest consistent with the shapes


@pytest.mark.parametrize("changes,message", [
    ({"architecture": "resnet"}, r"architecture='resnet' is not supported \(sefa-zoo's StyleGAN2 generator implements architecture='skip'\)"),
    ({"nonlinearity": "relu"}, "nonlinearity='relu' is not supported"),
    ({"mapping_nonlinearity": "tanh"}, "mapping_nonlinearity='tanh'"),
    ({"resample_kernel": [1, 2, 1]}, r"resample_kernel=\[1, 2, 1\]"),
    ({"use_noise": False}, "use_noise=False"),
    ({"label_size": 10}, "label_size=10"),
    ({"mapping_lrmul": 0}, "mapping_lrmul 0 is not a positive number"),
    ({"mapping_lrmul": "fast"}, "mapping_lrmul 'fast' is not a positive number"),
    ({"conv_clamp": -1}, "conv_clamp -1 is not a number >= 0"),
    ({"resolution": 1024}, r"resolution=1024 but its variables give 32"),
    ({"dlatent_size": 512}, r"dlatent_size=512 but its variables give 12"),
    ({"num_channels": 1}, r"num_channels=1 but its variables give 3"),
])
def test_settings_the_generator_does_not_implement_are_refused(state, tmp_path, changes, message):
    checkpoint = open_checkpoint(with_gs(state, tmp_path, static_kwargs=changes))
    with pytest.raises(LayoutError, match=message) as error:
        StyleGAN2().build_generator(checkpoint)
    assert "\n" not in str(error.value) and str(error.value).startswith(str(checkpoint.label))


def test_old_tensorflow_networks_are_refused_as_legacy_py_does(state, tmp_path):
    checkpoint = open_checkpoint(with_gs(state, tmp_path, version=3))
    with pytest.raises(LayoutError, match="'Gs' has pickle version 3; StyleGAN2's are version 4 or later"):
        StyleGAN2().build_generator(checkpoint)


def test_class_conditional_generators_are_refused(state, tmp_path):
    label = {"mapping.LabelConcat/weight": np.zeros((10, 12), np.float32)}
    checkpoint = open_checkpoint(with_gs(state, tmp_path, add=label))
    with pytest.raises(LayoutError, match=r"'Gs\.mapping\.LabelConcat/weight': class-conditional"):
        StyleGAN2().build_generator(checkpoint)


@pytest.mark.parametrize("name,shape,message", [
    ("synthesis.8x8/Conv0_up/weight", (16, 16, 3, 3),
     r"'Gs\.synthesis\.8x8/Conv0_up/mod_weight' gives 16 styles but 'Gs\.synthesis\.8x8/Conv0_up/weight'"),
    ("synthesis.4x4/ToRGB/weight", (3, 16), r"'Gs\.synthesis\.4x4/ToRGB/weight' \(shape \(3, 16\)\) is not a modulated"),
    ("mapping.Dense0/weight", (12, 12, 1), r"'Gs\.mapping\.Dense0/weight' has shape \(12, 12, 1\): expected a 2-d weight"),
    ("synthesis.noise0", (4, 4), r"'Gs\.synthesis\.noise0' has shape \(4, 4\): expected 2 leading axes of size 1"),
])
def test_variables_of_the_wrong_shape_are_named(state, tmp_path, name, shape, message):
    checkpoint = open_checkpoint(with_gs(state, tmp_path, add={name: np.zeros(shape, np.float32)}))
    with pytest.raises(LayoutError, match=message) as error:
        StyleGAN2().build_generator(checkpoint, layout="nvidia-tf")
    assert "\n" not in str(error.value)


# ---------------------------------------------------------------- the CLI on a .pkl


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_factorize_info_and_edit_on_a_tensorflow_pickle(state, tf_file, tmp_path, monkeypatch):
    bank_file = tmp_path / "bank.safetensors"
    result = run("factorize", "--checkpoint", tf_file, "-k", "4", "--layers", "0-3", "-o", bank_file, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["architecture"], report["layout"], report["layers"]) == ("stylegan2", "nvidia-tf", [0, 1, 2, 3])
    bank = load_bank(bank_file)
    expected = sefa_zoo.factorize_checkpoint(
        sefa_zoo.Checkpoint.from_tensors({"g_ema." + k: v for k, v in stylegan2_state_dict(state, "rosinality").items()}),
        layers="0-3", k=4)
    np.testing.assert_array_equal(bank.directions, expected.directions)

    result = run("info", "--checkpoint", tf_file)
    assert result.exit_code == 0, result.output
    assert "nvidia-tf" in result.stdout and "32x32.torgb" in result.stdout

    monkeypatch.chdir(tmp_path)
    result = run("edit", "--checkpoint", tf_file, "--bank", bank_file, "-d", "0", "-s", "0,1", "--steps", "2",
                 "-o", tmp_path / "edits")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "edits" / "overview.png").is_file() and (tmp_path / "edits" / "report.html").is_file()


def test_cli_names_a_hostile_tensorflow_pickle_in_one_line(tmp_path):
    path = tmp_path / "hostile.pkl"
    path.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81}X\x01\x00\x00\x00xcos\nsystem\n")
    result = run("factorize", "--checkpoint", path)
    assert result.exit_code == 1
    assert result.output == (f"Error: {path}: refuses to load global 'os.system' (not on the allow-list); "
                             "nothing from the file was run\n")
