"""The built-in StyleGAN3 plugin: the nvidia layout, detection, layer table, projection, synthesis and
the CLI, on fixture pickles written by the plugin's own writer (configs T and R)."""

from __future__ import annotations

import json

import pytest
import torch
from sefa_zoo_plugins.pggan import random_pggan_state
from sefa_zoo_plugins.stylegan import random_stylegan_state
from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, stylegan2_state_dict
from sefa_zoo_plugins.stylegan3 import StyleGAN3, random_stylegan3_state, save_stylegan3
from typer.testing import CliRunner

import sefa_zoo
from sefa_zoo import (
    Checkpoint,
    LayerSpecError,
    LayoutError,
    SefaZooError,
    factorize_checkpoint,
    factorize_file,
    get_architecture,
    load_bank,
    open_checkpoint,
    render_edits,
)
from sefa_zoo.catalogue import get_entry
from sefa_zoo.cli.main import app
from support.projections import torch_matrices

CONFIGS = ("T", "R")
NUM_WS = 16
# NVIDIA's released stylegan3-t-ffhqu-256x256.pkl and what its constructor makes for R at 1024.
T256_NAMES = [
    "L0_36_512", "L1_36_512", "L2_36_512", "L3_52_512", "L4_52_512", "L5_84_512", "L6_84_512", "L7_148_512",
    "L8_148_512", "L9_148_362", "L10_276_256", "L11_276_181", "L12_276_128", "L13_256_128", "L14_256_3",
]
R1024_NAMES = [
    "L0_36_1024", "L1_36_1024", "L2_52_1024", "L3_52_1024", "L4_84_1024", "L5_148_1024", "L6_148_1024",
    "L7_276_645", "L8_276_406", "L9_532_256", "L10_1044_161", "L11_1044_102", "L12_1044_64", "L13_1024_64",
    "L14_1024_3",
]


def tiny_state(config: str = "T", resolution: int = 16, **kwargs):
    return random_stylegan3_state(config, resolution, **kwargs)


def settings_of(state) -> dict:
    """``synthesis._init_kwargs`` as NVIDIA's pickle records it."""
    return {"w_dim": state.w_dim, "img_resolution": state.resolution, "img_channels": state.img_channels,
            **state.settings}


def as_checkpoint(state, prefix: str = "G_ema.", tensors=None, settings=None) -> Checkpoint:
    tensors = state.tensors if tensors is None else tensors
    objects = {f"{prefix}synthesis._init_kwargs": settings_of(state) if settings is None else settings}
    return Checkpoint.from_tensors({prefix + k: v for k, v in tensors.items()}, objects=objects)


@pytest.fixture(scope="module")
def states():
    return {config: tiny_state(config) for config in CONFIGS}


@pytest.fixture(scope="module")
def files(states, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stylegan3")
    return {config: save_stylegan3(state, folder / f"stylegan3-{config}.pkl") for config, state in states.items()}


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# ---------------------------------------------------------------- layer tables


@pytest.mark.parametrize("config,resolution,names", [("T", 256, T256_NAMES), ("R", 1024, R1024_NAMES)])
def test_release_layer_table_read_from_shapes(config, resolution, names):
    # meta tensors: the true shapes of NVIDIA's default networks, no data
    state = random_stylegan3_state(config, resolution, z_dim=512, w_dim=512, channel_base=32768, channel_max=512,
                                   device="meta")
    table = StyleGAN3().layers(as_checkpoint(state))
    assert [layer.index for layer in table] == list(range(1, NUM_WS))  # L{i} consumes ws[i + 1]
    assert [layer.name for layer in table] == names
    in_channels = [int(names[0].split("_")[2])] + [int(name.split("_")[2]) for name in names[:-1]]
    assert [layer.outputs for layer in table] == in_channels  # one style per input channel
    assert {layer.latent_dim for layer in table} == {512}
    assert [layer.level for layer in table] == [int(name.split("_")[1]) for name in names]
    assert [layer.kind for layer in table] == ["conv"] * 14 + ["torgb"]


def test_the_input_affine_is_an_option(states):
    checkpoint = as_checkpoint(states["T"])
    table = StyleGAN3().layers(checkpoint, input="include")
    assert (table[0].index, table[0].name, table[0].shape, table[0].kind) == (0, "input", (4, 16), "input")
    assert table[1:] == StyleGAN3().layers(checkpoint) == StyleGAN3().layers(checkpoint, input="exclude")
    assert [layer.index for layer in table] == list(range(NUM_WS))


@pytest.mark.parametrize("config", CONFIGS)
def test_projection_is_the_stored_affine_weight_and_reads_only_it(states, config):
    state = states[config]
    read = []
    tensors = {"G_ema." + k: v for k, v in state.tensors.items()}
    checkpoint = Checkpoint({k: tuple(v.shape) for k, v in tensors.items()}, lambda n: read.append(n) or tensors[n])
    table = StyleGAN3().layers(checkpoint)
    matrices = torch_matrices(StyleGAN3().projection(checkpoint, [1, 15]))
    assert read == [f"G_ema.synthesis.{table[0].name}.affine.weight", f"G_ema.synthesis.{table[-1].name}.affine.weight"]
    assert torch.equal(matrices[0], state.tensors[f"synthesis.{table[0].name}.affine.weight"])
    input_matrix = torch_matrices(StyleGAN3().projection(checkpoint, [0], input="include"))[0]
    assert torch.equal(input_matrix, state.tensors["synthesis.input.affine.weight"])


def test_index_zero_needs_the_input_option_and_other_indices_are_bounded(states):
    checkpoint = as_checkpoint(states["T"])
    with pytest.raises(LayerSpecError, match="index 0 is the Fourier input's affine.*input=include"):
        torch_matrices(StyleGAN3().projection(checkpoint, [0]))
    with pytest.raises(LayerSpecError, match="index 16 is out of range: valid indices are 1-15"):
        torch_matrices(StyleGAN3().projection(checkpoint, [16]))
    with pytest.raises(LayerSpecError, match="valid indices are 0-15"):
        torch_matrices(StyleGAN3().projection(checkpoint, [16], input="include"))


def test_options_are_checked(states):
    checkpoint = as_checkpoint(states["T"])
    with pytest.raises(SefaZooError, match=r"no option 'torgb' \(known: input\)"):
        StyleGAN3().layers(checkpoint, torgb="all")
    with pytest.raises(SefaZooError, match=r"option input='maybe' is not valid for stylegan3: use exclude or include"):
        StyleGAN3().layers(checkpoint, input="maybe")
    assert StyleGAN3().layers(checkpoint, input=" Include ")[0].name == "input"


def test_groups_split_the_16_ws_by_frequency(states):
    assert StyleGAN3().layer_groups(NUM_WS) == {
        "bottom": (0, 1, 2, 3), "middle": (4, 5, 6, 7), "top": tuple(range(8, 16))}
    assert StyleGAN3().layer_groups(6) == {"bottom": (0, 1, 2, 3), "middle": (4, 5)}
    checkpoint = as_checkpoint(states["T"])
    assert factorize_checkpoint(checkpoint, layers="bottom").layer_indices == (1, 2, 3)
    included = factorize_checkpoint(checkpoint, layers="bottom", options={"input": "include"})
    assert included.layer_indices == (0, 1, 2, 3) and included.layer_names[0] == "input"


def test_directions_are_those_of_the_stacked_normalised_affines(states):
    checkpoint = as_checkpoint(states["R"])
    bank = factorize_checkpoint(checkpoint, layers="all")
    stacked = torch.cat([torch_matrices(StyleGAN3().projection(checkpoint, [i]))[0] for i in range(1, NUM_WS)])
    stacked = stacked / stacked.norm(dim=1, keepdim=True)
    _, vectors = torch.linalg.eigh(stacked.t().double() @ stacked.double())
    top = vectors[:, -1].float().numpy()
    assert abs(float(bank.directions[0] @ top)) == pytest.approx(1, abs=1e-4)
    assert bank.layer_indices == tuple(range(1, NUM_WS))


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("prefix", ["G_ema.", ""])
def test_each_config_is_detected_by_the_registry_alone(states, config, prefix):
    checkpoint = as_checkpoint(states[config], prefix)
    arch, layout = sefa_zoo.detect(checkpoint)
    assert (arch.name, layout) == ("stylegan3", "nvidia")


def test_stylegan3_files_are_claimed_by_no_other_registered_architecture(states, files):
    checkpoints = [as_checkpoint(s, p) for s in states.values() for p in ("G_ema.", "")]
    checkpoints += [open_checkpoint(f) for f in files.values()]
    for checkpoint in checkpoints:
        claims = [a.name for a in sefa_zoo.get_registry().architectures.values() if a.detect(checkpoint)]
        assert claims == ["stylegan3"]


def other_architectures_checkpoints() -> dict[str, Checkpoint]:
    s2 = random_stylegan2_state(32, w_dim=12, z_dim=12, channel_base=256, channel_max=16, mapping_layers=2)
    cases = {}
    for layout, prefix in [("nvidia", "G_ema."), ("nvidia", ""), ("rosinality", "g_ema."), ("genforce", ""),
                           ("sefa-zoo", ""), ("nvidia-tf", "Gs.")]:
        cases[f"stylegan2-{layout}-{prefix or 'bare'}"] = Checkpoint.from_tensors(
            {prefix + k: v for k, v in stylegan2_state_dict(s2, layout).items()})
    cases["stylegan"] = Checkpoint.from_tensors(random_stylegan_state(32, z_dim=12, w_dim=12, mapping_layers=2,
                                                                      fmaps_base=128, fmaps_max=8))
    cases["pggan"] = Checkpoint.from_tensors(random_pggan_state(32))
    return cases


@pytest.mark.parametrize("name", list(other_architectures_checkpoints()))
def test_other_architectures_files_are_not_claimed(name):
    checkpoint = other_architectures_checkpoints()[name]
    assert StyleGAN3().detect(checkpoint) is None
    assert sefa_zoo.detect(checkpoint)[0].name != "stylegan3"


def test_a_stylegan2_pickle_is_refused_with_the_reason(tmp_path):
    checkpoint = other_architectures_checkpoints()["stylegan2-nvidia-G_ema."]
    with pytest.raises(LayoutError, match=r"not an NVIDIA StyleGAN3 pickle: no StyleGAN3 synthesis layers "
                                          r"\(tensors named like 'G_ema\.synthesis\.L0_36_512\.weight'\)"):
        StyleGAN3().layers(checkpoint)


def test_the_ema_generator_is_read(files):
    checkpoint = open_checkpoint(files["T"])
    assert any(k.startswith("G.synthesis.") for k in checkpoint)
    name = StyleGAN3().layers(checkpoint)[0].name
    assert torch.equal(torch_matrices(StyleGAN3().projection(checkpoint, [1]))[0], checkpoint[f"G_ema.synthesis.{name}.affine.weight"])


# ---------------------------------------------------------------- bad files


def edited(state, changes, settings=None) -> Checkpoint:
    """``state`` with tensors replaced (name -> tensor), removed (name -> None) or renamed (name -> str)."""
    tensors = dict(state.tensors)
    for name, value in changes.items():
        if value is None:
            del tensors[name]
        elif isinstance(value, str):
            tensors[value] = tensors.pop(name)
        else:
            tensors[name] = value
    return as_checkpoint(state, tensors=tensors, settings=settings)


S = "synthesis."  # keeps the tables below readable


@pytest.mark.parametrize(
    "changes,message",
    [
        ({f"{S}input.freqs": None}, r"missing tensor 'G_ema\.synthesis\.input\.freqs' \(the Fourier-feature input\)"),
        ({f"{S}input.affine.weight": torch.zeros(5, 16)},
         r"'G_ema\.synthesis\.input\.affine\.weight' has shape \(5, 16\), expected \(4, w_dim\)"),
        ({f"{S}input.freqs": torch.zeros(16, 3)}, r"input\.freqs' has shape \(16, 3\), expected \(16, 2\)"),
        ({f"{S}input.transform": torch.zeros(2, 3)}, r"input\.transform' has shape \(2, 3\), expected \(3, 3\)"),
        ({f"{S}L3_36_16.affine.weight": None}, r"missing tensor 'G_ema\.synthesis\.L3_36_16\.affine\.weight'"),
        ({f"{S}L3_36_16.magnitude_ema": None}, r"missing tensor 'G_ema\.synthesis\.L3_36_16\.magnitude_ema'"),
        ({f"{S}L3_36_16.affine.weight": torch.zeros(16, 15)},
         r"L3_36_16\.affine\.weight' has shape \(16, 15\), expected \(16, 16\)"),
        ({f"{S}L3_36_16.weight": torch.zeros(16, 8, 3, 3)},
         r"L3_36_16\.weight' has shape \(16, 8, 3, 3\), expected \(16, 16, k, k\)"),
        ({f"{S}L14_16_3.weight": torch.zeros(3, 16, 3, 3)}, r"the final toRGB is a 1x1 convolution"),
        ({f"{S}L5_36_16.weight": None}, r"no layer L5 \(tensors named like 'G_ema\.synthesis\.L5_<size>_<channels>"),
        ({f"{S}L5_36_16.weight": f"{S}L5_37_16.weight", f"{S}L4_36_16.weight": f"{S}L5_36_16.weight"},
         r"two layers L5"),
    ],
)
def test_inconsistent_files_are_one_line_errors_naming_the_tensor(states, changes, message):
    checkpoint = edited(states["T"], changes)
    assert StyleGAN3().detect(checkpoint) is None
    with pytest.raises(LayoutError, match=message) as error:
        StyleGAN3().layers(checkpoint, layout="nvidia")
    assert len(str(error.value).splitlines()) == 1


def test_a_huge_layer_index_in_a_name_costs_nothing(states):
    checkpoint = edited(states["T"], {f"{S}L14_16_3.weight": f"{S}L999999_16_3.weight"})
    with pytest.raises(LayoutError, match="layer L999999 but only"):
        StyleGAN3().layers(checkpoint)


@pytest.mark.parametrize(
    "changes,settings,message",
    [
        # sizes in the names are checked against the plan the settings give, so none is trusted alone
        ({}, {"num_layers": 10}, r"num_layers=10 but the file has 14 layers"),
        ({}, {"margin_size": 12}, r"'G_ema\.synthesis\.L0_36_16' is 36 px but the settings .* make L0 40 px"),
        ({}, {"conv_kernel": 1}, r"L0_36_16' has a 3x3 kernel but the settings .* ask for 1x1"),
        ({}, {"first_cutoff": "two"}, r"synthesis\._init_kwargs: setting first_cutoff='two' is not a number"),
        ({}, {"use_radial_filters": "yes"}, r"use_radial_filters='yes' is not true or false"),
        ({}, {"img_resolution": 32}, r"img_resolution=32 but the file's toRGB 'G_ema\.synthesis\.L14_16_3' is 16 px"),
        ({}, {"margin_size": 4000}, r"setting margin_size=4000 is outside 0\.\.64"),
        ({f"{S}L2_36_16.magnitude_ema": torch.tensor(0.0)}, None,
         r"'G_ema\.synthesis\.L2_36_16\.magnitude_ema' is 0, not a positive mean square"),
        ({f"{S}L0_36_16.up_filter": torch.zeros(11)}, None,
         r"'G_ema\.synthesis\.L0_36_16\.up_filter' has shape \(11,\), expected \(12,\)"),
        ({f"{S}L0_36_16.down_filter": None}, None, r"missing tensor 'G_ema\.synthesis\.L0_36_16\.down_filter'"),
        ({f"{S}L14_16_3.up_filter": torch.zeros(12)}, None, r"L14_16_3\.up_filter' is a filter where the layer's plan"),
        ({"mapping.w_avg": None}, None, r"missing tensor 'G_ema\.mapping\.w_avg'"),
        ({"mapping.fc0.weight": None}, None, r"missing tensor 'G_ema\.mapping\.fc0\.weight'"),
        ({"mapping.fc1.weight": torch.zeros(16, 5)}, None, r"mapping\.fc1\.weight' has shape \(16, 5\)"),
        ({"mapping.fc1.weight": torch.zeros(7, 16), "mapping.fc1.bias": torch.zeros(7)}, None,
         r"fc1\.weight gives 7 features, the affines take 16"),
        ({"mapping.embed.weight": torch.zeros(16, 10)}, None, r"class-conditional StyleGAN3"),
    ],
)
def test_generator_tensors_and_settings_are_checked_before_use(states, changes, settings, message):
    state = states["T"]
    checkpoint = edited(state, changes, None if settings is None else {**settings_of(state), **settings})
    with pytest.raises(LayoutError, match=message) as error:
        StyleGAN3().build_generator(checkpoint)
    assert len(str(error.value).splitlines()) == 1


def renamed(state, old: str, new: str) -> dict[str, str]:
    """Changes for ``edited`` that rename every tensor of module ``old`` to ``new``."""
    return {k: k.replace(old, new, 1) for k in state.tensors if k.startswith(old + ".")}


def test_a_channel_count_in_a_name_is_checked_against_the_weights(states):
    checkpoint = edited(states["T"], renamed(states["T"], f"{S}L3_36_16", f"{S}L3_36_17"))
    with pytest.raises(LayoutError, match=r"L3_36_17\.weight' has shape \(16, 16, 3, 3\), expected \(17, 16, k, k\)"):
        StyleGAN3().layers(checkpoint)


def test_a_claimed_resolution_beyond_any_stylegan3_is_refused_before_any_work(states):
    # a tiny file naming 99999 px layers would otherwise render enormous frames
    state = states["T"]
    changes = {**renamed(state, f"{S}L13_16_16", f"{S}L13_99999_16"),
               **renamed(state, f"{S}L14_16_3", f"{S}L14_99999_3")}
    checkpoint = edited(state, changes)
    assert [layer.level for layer in StyleGAN3().layers(checkpoint)][-2:] == [99999, 99999]  # the table costs nothing
    with pytest.raises(LayoutError, match=r"resolution 99999 is outside 1\.\.4096") as error:
        StyleGAN3().build_generator(checkpoint)
    assert len(str(error.value).splitlines()) == 1


# ---------------------------------------------------------------- synthesis


@pytest.fixture(scope="module")
def generators(states):
    return {config: StyleGAN3().build_generator(as_checkpoint(state)) for config, state in states.items()}


@pytest.mark.parametrize("config", CONFIGS)
def test_generator_shapes_and_determinism(generators, config):
    generator = generators[config]
    assert (generator.z_dim, generator.latent_dim, generator.num_layers, generator.config) == (16, 16, NUM_WS, config)
    assert isinstance(generator, sefa_zoo.Generator)
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
    codes = generator.map(z)
    assert codes.shape == (3, NUM_WS, 16)
    images = generator.synthesize(codes)
    assert images.shape == (3, 3, 16, 16) and images.dtype == torch.float32
    assert torch.equal(images, generator.synthesize(codes))
    assert images.std() > 1e-3


def test_truncation_pulls_the_first_rows_toward_the_average(generators, states):
    generator = generators["T"]
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    full, truncated = generator.map(z), generator.map(z, truncation_psi=0.5, truncation_cutoff=8)
    w_avg = states["T"].tensors["mapping.w_avg"]
    assert torch.allclose(truncated[:, :8], w_avg + 0.5 * (full[:, :8] - w_avg), atol=1e-6)
    assert torch.equal(truncated[:, 8:], full[:, 8:])
    assert torch.allclose(generator.map(z, truncation_psi=0.0), w_avg.expand(2, NUM_WS, 16))


@pytest.mark.parametrize("config", CONFIGS)
def test_every_wplus_row_is_read_by_its_own_layer(generators, config):
    generator = generators[config]
    codes = generator.map(torch.randn(1, 16, generator=torch.Generator().manual_seed(2)))
    moved = codes.repeat(NUM_WS + 1, 1, 1)
    for row in range(NUM_WS):
        moved[row + 1, row] += 0.5  # sample 0 unmoved, sample r + 1 with only row r moved
    images = generator.synthesize(moved)
    changes = (images[1:] - images[:1]).flatten(1).abs().max(dim=1).values
    assert (changes > 1e-5).all(), changes


def test_the_input_affine_turns_and_shifts_the_fourier_features(states):
    # (cos, sin, tx, ty) from the input's affine: (0, 1) turns the features by 90 degrees, tx of one
    # sample spacing (1 / sampling rate) shifts them by one pixel
    own = {k: v.clone() for k, v in states["T"].tensors.items()}  # the generator uses float32 tensors in place
    generator = StyleGAN3().build_generator(as_checkpoint(states["T"], tensors=own))
    features = generator.synthesis.input
    features.affine.weight.zero_()
    w = torch.zeros(1, 16)

    def render(*t):
        features.affine.bias.copy_(torch.tensor(t))
        return features(w)

    upright = render(1.0, 0.0, 0.0, 0.0)
    turned = render(0.0, 1.0, 0.0, 0.0)
    assert min((turned - upright.rot90(k, dims=(2, 3))).abs().max() for k in (1, 3)) <= 1e-5
    shifted = render(1.0, 0.0, 1 / features.sampling_rate, 0.0)
    assert (shifted[..., 1:] - upright[..., :-1]).abs().max() <= 1e-5
    assert (shifted - upright).abs().max() > 0.1


def test_bad_generator_inputs_are_clear_errors(generators):
    generator = generators["T"]
    with pytest.raises(SefaZooError, match=r"expects z of shape \(N, 16\), got \(2, 5\)"):
        generator.map(torch.zeros(2, 5))
    with pytest.raises(SefaZooError, match=r"expects codes of shape \(N, 16, 16\), got \(2, 15, 16\)"):
        generator.synthesize(torch.zeros(2, 15, 16))
    with pytest.raises(SefaZooError, match="truncation cutoff must be a layer count"):
        generator.map(torch.zeros(2, 16), truncation_psi=0.5, truncation_cutoff=-1)


def test_unknown_device_is_a_clear_error(states):
    with pytest.raises(SefaZooError, match="cannot put the stylegan3 generator on device 'nonsense"):
        StyleGAN3().build_generator(as_checkpoint(states["T"]), device="nonsense")


def test_float16_files_render_in_float32(states):
    state = states["R"]
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.tensors.items()}
    generator = StyleGAN3().build_generator(as_checkpoint(state, tensors=half))
    codes = generator.map(torch.randn(1, 16, generator=torch.Generator().manual_seed(4)))
    assert generator.synthesize(codes).dtype == torch.float32


def test_the_pickle_holds_what_nvidias_code_writes(states, files):
    checkpoint = open_checkpoint(files["R"])
    assert checkpoint.objects["G_ema._class_name"] == "Generator"
    kwargs = checkpoint.objects["G_ema._init_kwargs"]
    assert (kwargs["conv_kernel"], kwargs["use_radial_filters"]) == (1, True)
    assert kwargs["mapping_kwargs"] == {"num_layers": 2}
    for name, tensor in states["R"].tensors.items():
        assert torch.equal(checkpoint[f"G_ema.{name}"], tensor), name
    radial = [k for k in checkpoint if k.startswith("G_ema.") and k.endswith("down_filter")
              and len(checkpoint.shape(k)) == 2]
    assert radial  # config R's non-critically-sampled layers


def test_the_file_and_the_state_give_the_same_images(states, files, generators):
    from_file = sefa_zoo.load_generator(files["T"])
    codes = generators["T"].map(torch.randn(2, 16, generator=torch.Generator().manual_seed(5)))
    assert torch.equal(from_file.synthesize(codes), generators["T"].synthesize(codes))


# ---------------------------------------------------------------- API and CLI


def test_factorize_file_and_render_edits(files, tmp_path):
    bank = factorize_file(files["R"], layers="middle", k=4)
    assert (bank.architecture, bank.layout, bank.layer_indices, bank.k) == ("stylegan3", "nvidia", (4, 5, 6, 7), 4)
    generator = sefa_zoo.load_generator(files["R"])
    images = sefa_zoo.render_edits(generator, bank, seeds=[0], directions=[0], distances=[-2.0, 0.0, 2.0])
    assert images.shape[-2:] == (16, 16)


@pytest.mark.parametrize("config", CONFIGS)
def test_cli_factorize_detects_the_file(files, config, tmp_path):
    out = tmp_path / "bank.safetensors"
    result = run("factorize", "--checkpoint", files[config], "-k", "5", "--layers", "top", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["architecture"], report["layout"], report["layers"]) == ("stylegan3", "nvidia", list(range(8, 16)))
    assert report["layer_names"][-1] == "L14_16_3"
    assert load_bank(out).k == 5


def test_cli_factorize_with_the_input_option(files, tmp_path):
    out = tmp_path / "bank.safetensors"
    result = run("factorize", "--checkpoint", files["T"], "--layers", "0-2", "--option", "input=include", "-o", out,
                 "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["layer_names"] == ["input", "L0_36_16", "L1_36_16"]
    bad = run("factorize", "--checkpoint", files["T"], "--option", "input=perhaps", "-o", out)
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: option input='perhaps'")
    assert len(bad.stderr.splitlines()) == 1
    # without the option index 0 is not in the table: the error says which indices are
    without = run("factorize", "--checkpoint", files["T"], "--layers", "0", "-o", out)
    assert without.exit_code == 1, without.output
    assert without.stderr == "Error: layers '0' select no projection layer of this stylegan3 table: it has indices 1-15\n"


@pytest.mark.parametrize("config", CONFIGS)
def test_cli_info_shows_the_layer_table(files, config):
    result = run("info", "--checkpoint", files[config], "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["architecture"], payload["layout"]) == ("stylegan3", "nvidia")
    layers = payload["layers"]
    assert [layer["index"] for layer in layers] == list(range(1, NUM_WS))
    assert layers[-1]["kind"] == "torgb"
    text = run("info", "--checkpoint", files[config])
    assert text.exit_code == 0 and "L14_16_3" in text.stdout and "torgb" in text.stdout


def test_cli_edit_renders_the_file(files, tmp_path):
    out = tmp_path / "edits"
    result = run("edit", "--checkpoint", files["R"], "-d", "0", "-s", "0,1", "--steps", "3", "--layers", "1-3",
                 "-o", out)
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"bank.safetensors", "overview.png", "direction_00.png", "report.html"} <= names
    assert load_bank(out / "bank.safetensors").layer_indices == (1, 2, 3)


def test_files_that_are_not_stylegan3(tmp_path):
    junk = tmp_path / "junk.pkl"
    from sefa_zoo.testing import PersistentModule, save_nvidia_pickle

    save_nvidia_pickle(junk, {"G_ema": PersistentModule("Generator", parameters={"x": torch.zeros(3)})})
    with pytest.raises(LayoutError, match=r"not an NVIDIA StyleGAN3 pickle: no StyleGAN3 synthesis layers"):
        factorize_file(junk, architecture="stylegan3")
    result = run("factorize", "--checkpoint", junk, "--arch", "stylegan3")
    assert result.exit_code == 1 and result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    assert get_architecture("stylegan3").detect(open_checkpoint(junk)) is None


# ---------------------------------------------------------------- the catalogue


def test_the_lhq_model_is_catalogued(config_dir):
    entry = get_entry("stylegan3t-lhq256")
    assert (entry.architecture, entry.layout, entry.resolution, entry.z_dim, entry.w_dim) == (
        "stylegan3", "nvidia", 256, 512, 512)
    # the entry's W+ length is what the generator of NVIDIA's T-256 shapes consumes
    state = random_stylegan3_state("T", 256, z_dim=512, w_dim=512, channel_base=32768, channel_max=512, device="meta")
    assert max(layer.index for layer in StyleGAN3().layers(as_checkpoint(state))) + 1 == entry.num_layers == NUM_WS
    assert entry.source.filename.endswith(".pkl") and "uploaded by the model's author" in entry.provenance
    result = run("info", "stylegan3t-lhq256")
    assert result.exit_code == 0, result.output
    assert entry.source.revision in result.stdout


def test_a_catalogue_entry_of_a_local_file_factorizes_and_renders(config_dir, files):
    import yaml

    entry = {
        "name": "tiny-stylegan3", "architecture": "stylegan3", "layout": "nvidia",
        "source": {"kind": "local", "path": str(files["T"])}, "resolution": 16,
        "z_dim": 16, "w_dim": 16, "num_layers": NUM_WS, "license": "cc0-1.0",
        "provenance": "random weights made by the test", "description": "a tiny StyleGAN3",
    }
    (config_dir / "zoo.yaml").write_text(yaml.safe_dump({"models": [entry]}, sort_keys=False))
    bank = sefa_zoo.factorize_model("tiny-stylegan3", layers="top", k=2, progress=False)
    assert bank.layer_indices == tuple(range(8, NUM_WS))
    images = render_edits("tiny-stylegan3", bank, directions=(0,), distances=(0.0, 1.0), seeds=(0,))
    assert images.shape == (1, 1, 2, 3, 16, 16)
