"""The built-in StyleGAN2 plugin: layer tables, projections and detection in three real layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import sefa_zoo
from sefa_zoo import Checkpoint, LayerSpecError, LayoutError, SefaZooError, factorize, factorize_checkpoint
from sefa_zoo_plugins.stylegan2 import StyleGAN2, random_stylegan2_state, stylegan2_state_dict
from support.projections import torch_matrices

# Where each layout's loader puts the generator (open_checkpoint flattens containers this way).
PREFIXES = {"rosinality": "g_ema.", "nvidia": "G_ema.", "nvidia-tf": "Gs.", "genforce": "generator_smooth.",
            "sefa-zoo": ""}
LAYOUTS = tuple(PREFIXES)


def tiny_state(resolution: int = 32, **kwargs):
    kwargs = {"w_dim": 12, "z_dim": 12, "channel_base": 256, "channel_max": 16, "mapping_layers": 2, **kwargs}
    return random_stylegan2_state(resolution, **kwargs)


def as_checkpoint(state, layout: str, prefix: str | None = None) -> Checkpoint:
    prefix = PREFIXES[layout] if prefix is None else prefix
    return Checkpoint.from_tensors({prefix + k: v for k, v in stylegan2_state_dict(state, layout).items()})


@pytest.fixture(scope="module")
def state():
    return tiny_state()


# ---------------------------------------------------------------- layer tables


CONFIG_F_OUTPUTS = {
    256: [512] * 10 + [256, 256, 128, 128],
    512: [512] * 10 + [256, 256, 128, 128, 64, 64],
    1024: [512] * 10 + [256, 256, 128, 128, 64, 64, 32, 32],
}


def config_f_names(resolution: int) -> list[str]:
    names = ["4x4.conv"]
    level = 8
    while level <= resolution:
        names += [f"{level}x{level}.conv0", f"{level}x{level}.conv1"]
        level *= 2
    return names + [f"{resolution}x{resolution}.torgb"]


@pytest.mark.parametrize("resolution,num_ws", [(256, 14), (512, 16), (1024, 18)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_config_f_layer_table_read_from_shapes(resolution, num_ws, layout):
    # meta tensors: the true config-f shapes without allocating any data
    checkpoint = as_checkpoint(random_stylegan2_state(resolution, device="meta"), layout)
    table = StyleGAN2().layers(checkpoint)
    assert [layer.index for layer in table] == list(range(num_ws))
    assert [layer.name for layer in table] == config_f_names(resolution)
    assert [layer.outputs for layer in table] == CONFIG_F_OUTPUTS[resolution]
    assert {layer.latent_dim for layer in table} == {512}
    assert [layer.level for layer in table] == [4] + [4 << (i // 2 + 1) for i in range(num_ws - 2)] + [resolution]
    assert [layer.kind for layer in table] == ["conv"] * (num_ws - 1) + ["torgb"]


@pytest.mark.parametrize(
    "resolution,hub_bytes",
    # sizes of real rosinality config-f files on the Hub (g_ema + latent_avg): cat 256, car 512, ffhq 1024
    [(256, 120878283), (512, 123949595), (1024, 132717355)],
)
def test_config_f_fixture_has_the_real_files_tensor_bytes(resolution, hub_bytes):
    state = random_stylegan2_state(resolution, device="meta")
    tensors = [*stylegan2_state_dict(state, "rosinality").values(), state.tensors["w_avg"]]
    data = sum(t.numel() * t.element_size() for t in tensors)
    # what is left is the zip archive's per-member headers and the pickled index: tens of kB
    assert 0 < hub_bytes - data < 100_000


def test_tiny_model_channels_and_w_dim_come_from_shapes(state):
    table = StyleGAN2().layers(as_checkpoint(state, "nvidia"))
    assert [layer.outputs for layer in table] == [16, 16, 16, 16, 16, 16, 8, 8]
    assert {layer.latent_dim for layer in table} == {12}
    assert table[-1].name == "32x32.torgb"


@pytest.mark.parametrize("resolution", [8, 16, 64])
def test_every_power_of_two_resolution(resolution):
    checkpoint = as_checkpoint(tiny_state(resolution, channel_base=64, channel_max=4), "rosinality")
    table = StyleGAN2().layers(checkpoint)
    num_ws = 2 * (resolution.bit_length() - 1) - 2
    assert [layer.index for layer in table] == list(range(num_ws))
    assert table[-1].name == f"{resolution}x{resolution}.torgb"


def test_all_torgb_layers_sit_at_the_index_they_consume(state):
    table = StyleGAN2().layers(as_checkpoint(state, "genforce"), torgb="all")
    assert [(layer.index, layer.name) for layer in table] == [
        (0, "4x4.conv"), (1, "4x4.torgb"), (1, "8x8.conv0"), (2, "8x8.conv1"), (3, "8x8.torgb"),
        (3, "16x16.conv0"), (4, "16x16.conv1"), (5, "16x16.torgb"), (5, "32x32.conv0"),
        (6, "32x32.conv1"), (7, "32x32.torgb"),
    ]
    assert [layer.kind for layer in table if layer.name.endswith("torgb")] == ["torgb"] * 4


def test_torgb_option_accepts_cli_strings(state):
    checkpoint = as_checkpoint(state, "rosinality")
    assert len(StyleGAN2().layers(checkpoint, torgb=" ALL ")) == 11
    assert len(StyleGAN2().layers(checkpoint, torgb="final")) == 8
    assert len(StyleGAN2().layers(checkpoint, torgb=None)) == 8


# ---------------------------------------------------------------- projections and banks


def logical_affine(state, names):
    return [state.tensors[f"{name}.affine.weight"] for name in names]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_projection_is_the_stored_affine_weight(state, layout):
    arch = StyleGAN2()
    checkpoint = as_checkpoint(state, layout)
    names = [layer.name for layer in arch.layers(checkpoint)]
    matrices = torch_matrices(arch.projection(checkpoint, [0, 3, 7]))
    for matrix, expected in zip(matrices, logical_affine(state, [names[0], names[3], names[7]]), strict=True):
        assert torch.equal(matrix, expected)
    shared = torch_matrices(arch.projection(checkpoint, [1, 7], torgb="all"))
    assert torch.equal(shared[0], torch.cat(logical_affine(state, ["4x4.torgb", "8x8.conv0"])))
    assert torch.equal(shared[1], state.tensors["32x32.torgb.affine.weight"])


def test_projection_reads_only_the_selected_tensors(state):
    tensors = {PREFIXES["nvidia"] + k: v for k, v in stylegan2_state_dict(state, "nvidia").items()}
    read = []

    def loader(name):
        read.append(name)
        return tensors[name]

    checkpoint = Checkpoint({k: tuple(v.shape) for k, v in tensors.items()}, loader)
    arch = StyleGAN2()
    arch.layers(checkpoint)
    assert read == []
    torch_matrices(arch.projection(checkpoint, [2, 5]))
    assert read == ["G_ema.synthesis.b8.conv1.affine.weight", "G_ema.synthesis.b32.conv0.affine.weight"]


@pytest.mark.parametrize("spec", ["all", "2-5", "0-1,7", "top"])
@pytest.mark.parametrize("torgb", ["final", "all"])
@pytest.mark.parametrize("normalize", [True, False])
def test_three_layouts_give_identical_banks(state, spec, torgb, normalize):
    banks = {
        layout: factorize_checkpoint(
            as_checkpoint(state, layout), layers=spec, normalize=normalize, options={"torgb": torgb}
        )
        for layout in LAYOUTS
    }
    first = banks["rosinality"]
    for layout, bank in banks.items():
        assert bank.architecture == "stylegan2" and bank.layout == layout
        assert bank.layer_indices == first.layer_indices and bank.layer_names == first.layer_names
        assert np.array_equal(bank.directions, first.directions)
        assert np.array_equal(bank.eigenvalues, first.eigenvalues)
    # and they are the SeFa directions of exactly the logical affine weights named in the bank
    expected = factorize(logical_affine(state, first.layer_names), normalize=normalize)
    assert np.array_equal(first.directions, expected.directions.astype(np.float32))


def test_normalised_bank_ignores_per_layer_gains(state):
    scaled = {k: (v * 7.0 if k.endswith("affine.weight") and "32x32" in k else v) for k, v in state.tensors.items()}
    other = type(state)(**{**state.__dict__, "tensors": scaled})
    a = factorize_checkpoint(as_checkpoint(state, "nvidia"))
    b = factorize_checkpoint(as_checkpoint(other, "nvidia"))
    np.testing.assert_allclose(a.directions, b.directions, atol=1e-5)


def test_layer_spec_out_of_range_names_the_valid_range(state):
    checkpoint = as_checkpoint(state, "rosinality")
    with pytest.raises(LayerSpecError, match="0-7"):
        factorize_checkpoint(checkpoint, layers="8")
    with pytest.raises(LayerSpecError, match="0-7"):
        torch_matrices(StyleGAN2().projection(checkpoint, [8]))


# ---------------------------------------------------------------- options and layouts


def test_bad_option_values_are_refused_naming_the_option(state):
    arch = StyleGAN2()
    checkpoint = as_checkpoint(state, "rosinality")
    with pytest.raises(SefaZooError, match="torgb='some'.*final or all"):
        arch.layers(checkpoint, torgb="some")
    with pytest.raises(SefaZooError, match="no option 'rgb'.*torgb"):
        torch_matrices(arch.projection(checkpoint, [0], rgb="all"))
    assert set(StyleGAN2.options) == {"torgb"}


def test_explicit_layout_is_checked(state):
    arch = StyleGAN2()
    checkpoint = as_checkpoint(state, "rosinality")
    with pytest.raises(LayoutError, match="no layout 'pkl'"):
        arch.layers(checkpoint, layout="pkl")
    with pytest.raises(LayoutError, match="not a nvidia StyleGAN2 checkpoint"):
        arch.layers(checkpoint, layout="nvidia")
    assert len(arch.layers(checkpoint, layout="rosinality")) == 8


def test_missing_style_tensor_is_named(state):
    tensors = dict(as_checkpoint(state, "rosinality").items())
    del tensors["g_ema.convs.3.conv.modulation.weight"]
    checkpoint = Checkpoint.from_tensors(tensors)
    assert StyleGAN2().detect(checkpoint) is None
    with pytest.raises(LayoutError, match=r"missing tensor 'g_ema\.convs\.3\.conv\.modulation\.weight'"):
        StyleGAN2().layers(checkpoint, layout="rosinality")


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize(
    "layout,prefix",
    [
        ("rosinality", "g_ema."),
        ("rosinality", ""),  # a bare generator state dict
        ("nvidia", "G_ema."),
        ("nvidia", ""),
        ("nvidia-tf", "Gs."),
        ("genforce", "generator_smooth."),
        ("genforce", "generator."),
        ("genforce", ""),  # huggan pytorch_model.bin
        ("sefa-zoo", ""),
    ],
)
def test_each_layout_is_detected(state, layout, prefix):
    checkpoint = as_checkpoint(state, layout, prefix)
    assert StyleGAN2().detect(checkpoint) == layout
    arch, found = sefa_zoo.detect(checkpoint)  # and no other registered architecture claims it
    assert (arch.name, found) == ("stylegan2", layout)


def test_ema_weights_are_preferred(state):
    training = tiny_state(seed=5)
    tensors = {"g." + k: v for k, v in stylegan2_state_dict(training, "rosinality").items()}
    tensors.update({"g_ema." + k: v for k, v in stylegan2_state_dict(state, "rosinality").items()})
    matrices = torch_matrices(StyleGAN2().projection(Checkpoint.from_tensors(tensors), [0]))
    assert torch.equal(matrices[0], state.tensors["4x4.conv.affine.weight"])
    tensors = {"generator." + k: v for k, v in stylegan2_state_dict(training, "genforce").items()}
    tensors.update({"generator_smooth." + k: v for k, v in stylegan2_state_dict(state, "genforce").items()})
    matrices = torch_matrices(StyleGAN2().projection(Checkpoint.from_tensors(tensors), [0]))
    assert torch.equal(matrices[0], state.tensors["4x4.conv.affine.weight"])


def dcgan_like() -> dict[str, torch.Tensor]:
    return {
        "main.0.weight": torch.zeros(16, 32, 4, 4), "main.1.weight": torch.zeros(32), "main.1.bias": torch.zeros(32),
        "main.3.weight": torch.zeros(32, 3, 4, 4),
    }


def stylegan1_genforce_like(resolution: int = 32, w_dim: int = 12, channels: int = 8) -> dict[str, torch.Tensor]:
    # StyleGAN (v1) genforce: AdaIN style layers with 2C rows, layer0 on the const input, plain ToRGB outputs
    tensors = {"synthesis.lod": torch.zeros(())}
    num_layers = 2 * (resolution.bit_length() - 1) - 2
    for i in range(num_layers):
        if i == 0:
            tensors["synthesis.layer0.const"] = torch.zeros(1, channels, 4, 4)
        else:
            tensors[f"synthesis.layer{i}.weight"] = torch.zeros(channels, channels, 3, 3)
        tensors[f"synthesis.layer{i}.bias"] = torch.zeros(channels)
        tensors[f"synthesis.layer{i}.apply_noise.weight"] = torch.zeros(channels)
        tensors[f"synthesis.layer{i}.style.weight"] = torch.zeros(2 * channels, w_dim)
        tensors[f"synthesis.layer{i}.style.bias"] = torch.zeros(2 * channels)
    for b in range(num_layers // 2):
        tensors[f"synthesis.output{b}.weight"] = torch.zeros(3, channels, 1, 1)
        tensors[f"synthesis.output{b}.bias"] = torch.zeros(3)
    return tensors


def stylegan3_like(w_dim: int = 12) -> dict[str, torch.Tensor]:
    tensors = {"G_ema.synthesis.input.affine.weight": torch.zeros(4, w_dim)}
    for i in range(15):
        tensors[f"G_ema.synthesis.L{i}_36_16.affine.weight"] = torch.zeros(16, w_dim)
        tensors[f"G_ema.synthesis.L{i}_36_16.weight"] = torch.zeros(16, 16, 3, 3)
    for i in range(2):
        tensors[f"G_ema.mapping.fc{i}.weight"] = torch.zeros(w_dim, w_dim)
    return tensors


@pytest.mark.parametrize(
    "tensors",
    [
        dcgan_like(),
        stylegan1_genforce_like(),
        {"generator_smooth." + k: v for k, v in stylegan1_genforce_like().items()},
        stylegan3_like(),
        {},
    ],
    ids=["dcgan", "stylegan1-genforce", "stylegan1-genforce-pth", "stylegan3", "empty"],
)
def test_other_generators_are_not_detected(tensors):
    assert StyleGAN2().detect(Checkpoint.from_tensors(tensors)) is None


def test_stylegan1_style_rows_are_refused_with_a_reason():
    tensors = stylegan1_genforce_like(resolution=16)
    del tensors["synthesis.layer5.style.weight"]  # make the layer count fit StyleGAN2's
    tensors["synthesis.layer0.weight"] = torch.zeros(8, 8, 3, 3)  # and the 4x4 layer a convolution
    with pytest.raises(LayoutError, match="not a modulated convolution"):
        StyleGAN2().layers(Checkpoint.from_tensors(tensors), layout="genforce")


# ---------------------------------------------------------------- the layouts' conventions


def modulated_up_conv(x, weight_oikk, style, flip: bool):
    """A demodulated stride-2 transposed convolution, as the three runtimes execute conv0."""
    w = weight_oikk * style[None, :, None, None]
    w = w * (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
    if flip:  # genforce flips the stored kernel at run time; NVIDIA and rosinality do not
        w = w.flip(2, 3)
    return F.conv_transpose2d(x, w.transpose(0, 1), stride=2)


def test_the_same_generator_in_three_layouts_computes_the_same_conv0(state):
    torch.manual_seed(0)
    w = torch.randn(1, state.w_dim)
    x = torch.randn(1, 16, 8, 8)
    rosinality = stylegan2_state_dict(state, "rosinality")
    nvidia = stylegan2_state_dict(state, "nvidia")
    genforce = stylegan2_state_dict(state, "genforce")
    gain = 1 / state.w_dim ** 0.5

    def style(weight, bias, extra=0.0):
        return (w @ (weight * gain).T)[0] + bias + extra

    out_nvidia = modulated_up_conv(
        x, nvidia["synthesis.b16.conv0.weight"],
        style(nvidia["synthesis.b16.conv0.affine.weight"], nvidia["synthesis.b16.conv0.affine.bias"]), flip=False,
    )
    out_rosinality = modulated_up_conv(
        x, rosinality["convs.2.conv.weight"][0],
        style(rosinality["convs.2.conv.modulation.weight"], rosinality["convs.2.conv.modulation.bias"]), flip=False,
    )
    out_genforce = modulated_up_conv(
        x, genforce["synthesis.layer3.weight"],
        style(genforce["synthesis.layer3.style.weight"], genforce["synthesis.layer3.style.bias"], extra=1.0),
        flip=True,
    )
    torch.testing.assert_close(out_rosinality, out_nvidia, rtol=0, atol=0)
    torch.testing.assert_close(out_genforce, out_nvidia, rtol=1e-6, atol=1e-6)
    # the stored kernels are not symmetric, so the orientation really matters
    assert not torch.allclose(nvidia["synthesis.b16.conv0.weight"], genforce["synthesis.layer3.weight"])


# ---------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def files(state, tmp_path_factory):
    from sefa_zoo_plugins.stylegan2 import FIXTURE_LAYOUTS, save_stylegan2

    folder = tmp_path_factory.mktemp("stylegan2")
    names = {"rosinality": "g.pt", "rosinality-snapshot": "000100.pt", "nvidia": "network-snapshot.pkl",
             "nvidia-tf": "stylegan2-config-f.pkl", "genforce": "stylegan2.pth", "huggan": "pytorch_model.bin", "sefa-zoo": "stylegan2.safetensors"}
    return {layout: save_stylegan2(state, folder / names[layout], layout) for layout in FIXTURE_LAYOUTS}


EXPECTED_LAYOUT = {"rosinality": "rosinality", "rosinality-snapshot": "rosinality", "nvidia": "nvidia",
                   "nvidia-tf": "nvidia-tf", "genforce": "genforce", "huggan": "genforce", "sefa-zoo": "sefa-zoo"}


def test_files_in_every_real_layout_are_detected(files):
    for file_layout, path in files.items():
        arch, layout = sefa_zoo.detect(sefa_zoo.open_checkpoint(path))
        assert (arch.name, layout) == ("stylegan2", EXPECTED_LAYOUT[file_layout])


def test_files_in_every_real_layout_give_identical_banks(state, files):
    for spec in ("all", "2-5"):
        banks = {layout: sefa_zoo.factorize_file(path, layers=spec) for layout, path in files.items()}
        # the EMA generator's weights, although every training file also holds a different G
        expected = factorize(logical_affine(state, banks["nvidia"].layer_names))
        for layout, bank in banks.items():
            assert bank.layout == EXPECTED_LAYOUT[layout]
            assert bank.layer_names == banks["nvidia"].layer_names
            assert np.array_equal(bank.directions, expected.directions.astype(np.float32)), layout
            assert np.array_equal(bank.eigenvalues, expected.eigenvalues), layout


def test_files_hold_what_the_real_tools_write(state, files):
    open_checkpoint = sefa_zoo.open_checkpoint
    rosinality = open_checkpoint(files["rosinality"])
    assert {k.split(".")[0] for k in rosinality} == {"g_ema", "latent_avg"}
    assert torch.equal(rosinality["latent_avg"], state.tensors["w_avg"])

    snapshot = open_checkpoint(files["rosinality-snapshot"])
    assert {k.split(".")[0] for k in snapshot} == {"g", "d", "g_ema"}
    assert snapshot.objects["args"].size == 32 and snapshot.objects["args"].latent == 12
    assert set(snapshot.objects) == {"g_optim", "d_optim", "args", "ada_aug_p"}

    nvidia = open_checkpoint(files["nvidia"])
    assert {k.split(".")[0] for k in nvidia} == {"G", "D", "G_ema", "augment_pipe"}
    g_ema = [k[len("G_ema."):] for k in nvidia if k.startswith("G_ema.")]
    assert g_ema == list(stylegan2_state_dict(state, "nvidia"))  # G_ema.state_dict()'s keys, in order
    kwargs = nvidia.objects["G_ema._init_kwargs"]
    assert (kwargs["z_dim"], kwargs["w_dim"], kwargs["img_resolution"], kwargs["img_channels"]) == (12, 12, 32, 3)
    assert kwargs["mapping_kwargs"] == {"num_layers": 2}
    assert nvidia.objects["G_ema._class_name"] == "Generator"
    assert nvidia.objects["training_set_kwargs"]["resolution"] == 32
    affine = "synthesis.b4.conv1.affine.weight"
    assert not torch.equal(nvidia[f"G.{affine}"], nvidia[f"G_ema.{affine}"])  # the training copy differs

    tf = open_checkpoint(files["nvidia-tf"])
    assert tf.container == "tf-pickle"
    assert {k.split(".")[0] for k in tf} == {"G", "D", "Gs"}
    gs = [k[len("Gs."):] for k in tf if k.startswith("Gs.")]
    assert gs == ["lod", *stylegan2_state_dict(state, "nvidia-tf")]  # G_main's own variables, then its components'
    assert tf.objects["Gs._name"] == "Gs" and tf.objects["Gs._build_func_name"] == "G_main"
    assert tf.objects["Gs._static_kwargs"] == {
        "num_channels": 3, "resolution": 32, "label_size": 0, "latent_size": 12, "dlatent_size": 12,
        "mapping_layers": 2, "fmap_max": 16, "fmap_base": 128,
    }
    assert tf.objects["Gs.synthesis._build_func_name"] == "G_synthesis_stylegan2"
    assert "Gs.synthesis.4x4/Conv/mod_weight" in tf and tf["D.Output/weight"].shape == (16, 1)
    assert not torch.equal(tf["G.synthesis.4x4/Conv/mod_weight"], tf["Gs.synthesis.4x4/Conv/mod_weight"])

    genforce = open_checkpoint(files["genforce"])
    assert {k.split(".")[0] for k in genforce} == {"generator", "generator_smooth"}
    huggan = open_checkpoint(files["huggan"])
    assert list(huggan) == [k[len("generator_smooth."):] for k in genforce if k.startswith("generator_smooth.")]
