"""The built-in BigGAN-deep plugin: the pytorch-pretrained-BigGAN layout with its config.json,
detection, the layer table and its z columns, spectral normalisation, bad and hostile files."""

from __future__ import annotations

import copy
import functools
import json
import time

import numpy as np
import pytest
import torch
from sefa_zoo_plugins.biggan_deep import (
    BigGANDeep,
    biggan_deep_128_config,
    random_biggan_state,
    save_biggan,
    small_config,
    spectral_normalized,
)
from sefa_zoo_plugins.biggan_deep.fixtures import block_prefixes, shape_from_config
from sefa_zoo_plugins.biggan_deep.layouts import expected_shapes, locate
from typer.testing import CliRunner

import sefa_zoo
from sefa_zoo import (
    Checkpoint,
    LayerSpecError,
    LayoutError,
    SefaZooError,
    factorize_checkpoint,
)
from sefa_zoo.cli.main import app
from sefa_zoo.plugins import get_registry
from support.projections import torch_matrices

CONFIG = small_config()
Z_DIM, CH = CONFIG["z_dim"], CONFIG["channel_width"]
GEN_Z_ROWS = 4 * 4 * 16 * CH


@functools.cache
def _state(seed: int = 0) -> dict[str, torch.Tensor]:
    return random_biggan_state(CONFIG, seed=seed)


def small_state(seed: int = 0) -> dict[str, torch.Tensor]:
    return dict(_state(seed))


def with_config(tensors: dict[str, torch.Tensor], config_path) -> Checkpoint:
    checkpoint = Checkpoint.from_tensors(tensors)
    if config_path is not None:
        checkpoint.companions = {"config.json": config_path}
    return checkpoint


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("biggan")
    save_biggan(small_state(), CONFIG, path)
    return path


@pytest.fixture(scope="module")
def config_file(folder):
    return folder / "config.json"


def write_config(tmp_path, config, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def sn_reference(weight_orig, u, v):
    """torch's own spectral norm at eval, on a module holding these tensors."""
    layer = torch.nn.Linear(weight_orig[0].numel(), weight_orig.shape[0], bias=False)
    layer = torch.nn.utils.spectral_norm(layer)
    with torch.no_grad():
        layer.weight_orig.copy_(weight_orig.reshape(weight_orig.shape[0], -1))
        layer.weight_u.copy_(u)
        layer.weight_v.copy_(v)
    layer.eval()
    layer(torch.zeros(1, weight_orig[0].numel()))
    return layer.weight.reshape(weight_orig.shape)


# --- the layer table ----------------------------------------------------------------------------


def test_released_128_model_from_its_true_shapes(tmp_path):
    config = biggan_deep_128_config()
    state = random_biggan_state(config, device="meta")
    checkpoint = with_config(state, write_config(tmp_path, config))
    assert BigGANDeep().detect(checkpoint) == "pretrained-biggan"
    shape = locate(checkpoint)
    assert (shape.z_dim, shape.num_classes, shape.channel_width, shape.n_stats) == (128, 1000, 128, 51)
    assert (shape.resolution, shape.attention, len(shape.blocks)) == (128, 8, 10)
    (layer,) = BigGANDeep().layers(checkpoint)
    assert (layer.index, layer.name, layer.shape, layer.level, layer.kind) == (0, "gen_z", (32768, 128), 4, "dense")
    assert layer.latent_part == "z = input columns 0-127 of 256 (128-255: class embedding)"
    table = BigGANDeep().layers(checkpoint, projection="all-conditional")
    assert len(table) == 1 + 10 * 4 * 2 and {row.index for row in table} == {0}
    # osanseviero/BigGAN-deep-128's pytorch_model.bin is this state dict: about 211 MB on the Hub page
    assert abs(sum(t.numel() * 4 for t in state.values()) - 211_000_000) < 1_000_000


def test_names_and_shapes_are_the_packages_for_the_released_config():
    package = pytest.importorskip("pytorch_pretrained_biggan", reason="pytorch-pretrained-biggan is not installed")
    with torch.device("meta"):
        model = package.BigGAN(package.BigGANConfig(**biggan_deep_128_config()))
    theirs = [(name, tuple(t.shape)) for name, t in model.state_dict().items()]
    assert theirs == list(expected_shapes(shape_from_config(biggan_deep_128_config())))


def test_all_conditional_lists_every_conditional_batch_norm(folder):
    checkpoint = sefa_zoo.open_checkpoint(folder)
    table = BigGANDeep().layers(checkpoint, projection="all-conditional")
    assert table[0].name == "gen_z"
    names = [row.name for row in table[1:]]
    modules = [prefix.rsplit(".", 1)[1] for prefix in block_prefixes(CONFIG)]
    assert modules == ["0", "1", "3", "4"]  # self-attention is module 2
    assert names == [f"layers.{m}.bn_{k}.{which}" for m in modules for k in range(4) for which in ("scale", "offset")]
    widths = [row.outputs for row in table[1:9]]
    assert widths == [16 * CH] * 2 + [4 * CH] * 6  # bn_0 on the block's input, the rest on C_in / 4
    levels = [row.level for row in table[1:9]]
    assert levels == [4, 4, 4, 4, 8, 8, 8, 8]  # the first block up-samples between bn_1 and bn_2
    assert all(row.latent_dim == Z_DIM and row.kind == "cond-bn" and row.latent_part for row in table[1:])


def test_layer_specs_and_options(folder):
    checkpoint = sefa_zoo.open_checkpoint(folder)
    assert BigGANDeep().layer_groups(1) == {}
    assert factorize_checkpoint(checkpoint, layers="0", k=2).layer_indices == (0,)
    bank = factorize_checkpoint(checkpoint, options={"projection": "all-conditional"})
    assert bank.layer_indices == (0,) * 33 and bank.latent_dim == Z_DIM
    with pytest.raises(LayerSpecError, match="the only valid index is 0"):
        factorize_checkpoint(checkpoint, layers="1")
    with pytest.raises(LayerSpecError, match="one latent index, 0"):
        torch_matrices(BigGANDeep().projection(checkpoint, [0, 1]))
    with pytest.raises(SefaZooError, match="'biggan-deep' has no option 'torgb'"):
        BigGANDeep().layers(checkpoint, torgb="all")
    with pytest.raises(SefaZooError, match="must be 'gen_z' or 'all-conditional', not 'every'"):
        BigGANDeep().layers(checkpoint, projection="every")
    with pytest.raises(LayoutError, match="has no layout 'genforce'"):
        BigGANDeep().layers(checkpoint, layout="genforce")


# --- the projection -----------------------------------------------------------------------------


def test_projection_is_the_z_columns_of_the_spectrally_normalised_gen_z(folder):
    state = small_state()
    (matrix,) = torch_matrices(BigGANDeep().projection(sefa_zoo.open_checkpoint(folder), [0]))
    weight = sn_reference(state["generator.gen_z.weight_orig"], state["generator.gen_z.weight_u"],
                          state["generator.gen_z.weight_v"])
    assert matrix.shape == (GEN_Z_ROWS, Z_DIM)
    torch.testing.assert_close(matrix, weight[:, :Z_DIM], rtol=1e-6, atol=0)


def test_sigma_comes_from_the_stored_u_and_v_not_from_the_weight(config_file):
    state = small_state()
    u, v = state["generator.gen_z.weight_u"], state["generator.gen_z.weight_v"]
    state["generator.gen_z.weight_u"] = torch.nn.functional.normalize(u + 0.5 * torch.ones_like(u), dim=0)
    (matrix,) = torch_matrices(BigGANDeep().projection(with_config(state, config_file), [0]))
    orig = state["generator.gen_z.weight_orig"]
    sigma = state["generator.gen_z.weight_u"] @ orig @ v
    torch.testing.assert_close(matrix, orig[:, :Z_DIM] / sigma, rtol=1e-6, atol=0)
    assert sigma < torch.linalg.matrix_norm(orig, 2) * 0.99  # not the true spectral norm


def test_all_conditional_stacks_the_z_columns_of_every_scale_and_offset(folder):
    state = small_state()
    checkpoint = sefa_zoo.open_checkpoint(folder)
    (matrix,) = torch_matrices(BigGANDeep().projection(checkpoint, [0], projection="all-conditional"))
    parts = [spectral_normalized(checkpoint, "generator.gen_z")[:, :Z_DIM]]
    for prefix in block_prefixes(CONFIG):
        for k in range(4):
            for which in ("scale", "offset"):
                name = f"{prefix}.bn_{k}.{which}"
                weight = sn_reference(*(state[f"{name}.weight_{part}"] for part in ("orig", "u", "v")))
                parts.append(weight[:, :Z_DIM])
    torch.testing.assert_close(matrix, torch.cat(parts), rtol=1e-6, atol=0)
    assert matrix.shape == (sum(part.shape[0] for part in parts), Z_DIM)


def test_projection_reads_only_the_tensors_it_needs(config_file):
    state = small_state()
    requested = []

    def loader(name):
        requested.append(name)
        return state[name]

    checkpoint = Checkpoint({k: tuple(v.shape) for k, v in state.items()}, loader)
    checkpoint.companions = {"config.json": config_file}
    torch_matrices(BigGANDeep().projection(checkpoint, [0]))
    assert sorted(requested) == ["generator.gen_z.weight_orig", "generator.gen_z.weight_u", "generator.gen_z.weight_v"]


def test_factorize_python_api_on_a_folder_and_with_companions(folder, tmp_path):
    bank = sefa_zoo.factorize_file(folder, k=3)
    assert (bank.architecture, bank.layout, bank.layer_names) == ("biggan-deep", "pretrained-biggan", ("gen_z",))
    alone = tmp_path / "weights.bin"
    alone.write_bytes((folder / "pytorch_model.bin").read_bytes())
    elsewhere = tmp_path / "elsewhere" / "my-config.json"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes((folder / "config.json").read_bytes())
    other = sefa_zoo.factorize_file(alone, companions={"config.json": elsewhere}, k=3)
    np.testing.assert_array_equal(other.directions, bank.directions)


# --- detection ----------------------------------------------------------------------------------


def test_detected_from_the_file_and_its_config(folder):
    arch, layout = sefa_zoo.detect(sefa_zoo.open_checkpoint(folder))
    assert (arch.name, layout) == ("biggan-deep", "pretrained-biggan")


OTHER_ARCHITECTURES = sorted(name for name in get_registry().architectures if name != "biggan-deep")


@pytest.mark.parametrize("name", OTHER_ARCHITECTURES)
def test_no_other_registered_architecture_claims_biggan_files(folder, name):
    arch = get_registry().architectures[name]
    assert arch.detect(sefa_zoo.open_checkpoint(folder)) is None
    assert arch.detect(Checkpoint.from_tensors(small_state())) is None


def other_architectures_files(folder):
    from sefa_zoo_plugins.dcgan import random_dcgan_state
    from sefa_zoo_plugins.pggan import random_pggan_state, save_pggan
    from sefa_zoo_plugins.stylegan import FIXTURE_LAYOUTS as SG1
    from sefa_zoo_plugins.stylegan import random_stylegan_state, save_stylegan
    from sefa_zoo_plugins.stylegan2 import FIXTURE_LAYOUTS as SG2
    from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2
    from sefa_zoo_plugins.stylegan3 import random_stylegan3_state, save_stylegan3

    files = {}
    state = random_stylegan2_state(16, w_dim=8, z_dim=8, channel_base=64, channel_max=8, mapping_layers=1)
    for layout in SG2:
        files[f"stylegan2 {layout}"] = save_stylegan2(state, folder / f"sg2-{layout}.bin", layout)
    state = random_stylegan_state(16, z_dim=8, w_dim=8, mapping_layers=1, fmaps_base=64, fmaps_max=8)
    for layout in SG1:
        files[f"stylegan {layout}"] = save_stylegan(state, folder / f"sg1-{layout}.bin", layout)
    pggan = random_pggan_state(16, z_dim=8, channel_base=64, channel_max=8)
    files["pggan"] = save_pggan(pggan, folder / "pggan.pth", "genforce")
    torch.save({"netG_state_dict": random_dcgan_state(nz=8, ngf=4, image_size=16)}, folder / "dcgan.pth")
    files["dcgan"] = folder / "dcgan.pth"
    for config in ("T", "R"):
        files[f"stylegan3 {config}"] = save_stylegan3(random_stylegan3_state(config), folder / f"sg3-{config}.pkl")
    return files


def test_other_architectures_files_are_not_detected(tmp_path, config_file):
    for name, path in other_architectures_files(tmp_path).items():
        checkpoint = sefa_zoo.open_checkpoint(path)
        checkpoint.companions = {"config.json": config_file}  # a config beside them changes nothing
        assert BigGANDeep().detect(checkpoint) is None, name
        assert sefa_zoo.detect(checkpoint)[0].name != "biggan-deep", name


NOT_BIGGAN = {
    "empty": dict,
    "gen_z only": lambda: {k: v for k, v in small_state().items() if k.startswith("generator.gen_z")},
    "no class embedding": lambda: {k: v for k, v in small_state().items() if k != "embeddings.weight"},
    "no conv_to_rgb": lambda: {k: v for k, v in small_state().items() if "conv_to_rgb" not in k},
}


@pytest.mark.parametrize("case", list(NOT_BIGGAN))
def test_other_networks_are_not_detected(case):
    assert BigGANDeep().detect(Checkpoint.from_tensors(NOT_BIGGAN[case]())) is None


# --- the config: missing, given elsewhere, hostile -----------------------------------------------


def test_without_its_config_the_file_is_recognised_and_the_config_named(tmp_path):
    weights = save_biggan(small_state(), CONFIG, tmp_path, config_name=None)
    checkpoint = sefa_zoo.open_checkpoint(weights)
    assert BigGANDeep().detect(checkpoint) == "pretrained-biggan"
    with pytest.raises(LayoutError, match=r"its config\.json is missing .*--config FILE") as info:
        sefa_zoo.factorize_checkpoint(checkpoint)
    assert len(str(info.value).splitlines()) == 1


def config_edit(**changes):
    def edit(config):
        config.update(changes)
    return edit


def set_layer(index, value):
    def edit(config):
        config["layers"][index] = value
    return edit


HOSTILE_CONFIGS = [
    ("huge channel_width", config_edit(channel_width=10**30), "has channel_width a 31-digit number, the weights have 4"),
    ("huge z_dim", config_edit(z_dim=2**62), "has z_dim a 19-digit number, the weights have 8"),
    ("huge n_stats", config_edit(n_stats=10**12), "has n_stats 1000000000000, the weights have 11"),
    ("huge num_classes", config_edit(num_classes=10**9), "has num_classes 1000000000, the weights have 10"),
    ("huge output_dim", config_edit(output_dim=10**9), "has output_dim 1000000000, its layers make 16 px"),
    ("fifty thousand layers", config_edit(layers=[[True, 16, 16]] * 50_000), "lists 50000 layers, the weights hold 4"),
    ("huge layer multiplier", set_layer(0, [True, 10**20, 8]), r"layers\[0\] takes 400000000000000000000 channels"),
    ("layer not a list", set_layer(1, "up"), r"layers\[1\] is not \[up-sample"),
    ("up-sample not a bool", set_layer(1, [1, 8, 4]), r"layers\[1\] is not \[up-sample"),
    ("negative multiplier", set_layer(1, [False, 8, -4]), r"layers\[1\] is not \[up-sample"),
    ("wrong output channels", set_layer(1, [False, 8, 8]), r"conv_3.weight_orig' is \(16, 8, 1, 1\), but"),
    ("attention elsewhere", config_edit(attention_layer_position=1), "attention_layer_position 1, the weights' "),
    ("no attention", config_edit(attention_layer_position=None), "attention_layer_position null"),
    ("negative eps", config_edit(eps=-1), "has eps -1, expected a positive number"),
    ("no layers", lambda config: config.pop("layers"), "has no 'layers' list"),
]


@pytest.mark.parametrize("case, edit, message", HOSTILE_CONFIGS, ids=[case[0] for case in HOSTILE_CONFIGS])
def test_hostile_configs_are_one_line_errors_bounded_by_the_tensors(tmp_path, case, edit, message):
    config = copy.deepcopy(CONFIG)
    edit(config)
    checkpoint = with_config(small_state(), write_config(tmp_path, config))
    assert BigGANDeep().detect(checkpoint) == "pretrained-biggan"
    start = time.perf_counter()
    with pytest.raises(LayoutError, match=message) as info:
        BigGANDeep().layers(checkpoint)
    assert time.perf_counter() - start < 2
    assert len(str(info.value).splitlines()) == 1 and "config.json" in str(info.value)


def test_a_config_that_is_not_an_object_or_not_json(tmp_path):
    checkpoint = with_config(small_state(), write_config(tmp_path, [1, 2]))
    with pytest.raises(LayoutError, match="config.json is not a JSON object"):
        BigGANDeep().layers(checkpoint)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SefaZooError, match="broken.json: not a JSON file"):
        BigGANDeep().layers(with_config(small_state(), broken))


def test_block_counts_past_the_resolution_limit_are_refused(tmp_path):
    config = small_config()
    config["layers"] = [[True, 16, 16]] * 11 + [[True, 16, 8], [True, 8, 4], [True, 4, 2], [True, 2, 1]]
    config["attention_layer_position"] = 99
    state = random_biggan_state(config, device="meta")
    with pytest.raises(LayoutError, match="up-sample past 4096 px"):
        BigGANDeep().layers(with_config(state, write_config(tmp_path, config)))


# --- bad tensors: one line naming the tensor at fault --------------------------------------------


def drop(name):
    return lambda state: state.pop(name)


def reshape(name, shape):
    def edit(state):
        state[name] = torch.zeros(shape)
    return edit


BAD_FILES = [
    ("missing u", drop("generator.layers.3.conv_1.weight_u"), "missing tensor 'generator.layers.3.conv_1.weight_u'"),
    ("missing statistics", drop("generator.layers.0.bn_2.running_vars"), "missing tensor 'generator.layers.0.bn_2"),
    ("misshapen scale", reshape("generator.layers.1.bn_0.scale.weight_orig", (32, 17)),
     r"'generator.layers.1.bn_0.scale.weight_orig' has shape \(32, 17\), expected \(32, 16\)"),
    ("misshapen gen_z", reshape("generator.gen_z.weight_orig", (GEN_Z_ROWS, 2 * Z_DIM + 1)),
     r"'generator.gen_z.weight_orig' has shape \(1024, 17\), expected \(1024, 16\)"),
    ("misshapen embedding", reshape("embeddings.weight", (Z_DIM, 10, 1)), "'embeddings.weight' has shape"),
    ("extra tensor", reshape("generator.layers.0.extra", (1,)), "unexpected tensor 'generator.layers.0.extra'"),
    ("module gap", lambda state: state.update({"generator.layers.9.gamma": torch.zeros(1)}),
     "no tensors of module 'generator.layers.5' though 'generator.layers.9' follows"),
    ("huge module index", lambda state: state.update({"generator.layers.999999.gamma": torch.zeros(1)}),
     "no tensors of module 'generator.layers.5' though 'generator.layers.999999' follows"),
    ("attention in a block", lambda state: state.update({"generator.layers.1.gamma": torch.zeros(1)}),
     "'generator.layers.1' holds both a block's and self-attention's tensors"),
    ("second attention", lambda state: state.update({"generator.layers.5.gamma": torch.zeros(1)}),
     "'generator.layers.5' is a second self-attention layer"),
    ("neither", lambda state: state.update({"generator.layers.5.conv_0.bias": torch.zeros(1)}),
     "'generator.layers.5' holds neither a block's nor self-attention's tensors"),
    ("a block's tensors gone", lambda state: [state.pop(k) for k in list(state) if k.startswith("generator.layers.4.")],
     "config.json lists 4 layers, the weights hold 3 blocks"),
    ("no final statistics", drop("generator.bn.running_means"), "missing tensor 'generator.bn.running_means'"),
]


@pytest.mark.parametrize("case, edit, message", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_inconsistent_generators_are_one_line_errors_naming_the_tensor(config_file, case, edit, message):
    state = small_state()
    edit(state)
    with pytest.raises(LayoutError, match=message) as info:
        BigGANDeep().layers(with_config(state, config_file), layout="pretrained-biggan")
    assert len(str(info.value).splitlines()) == 1


def test_nan_in_gen_z_names_the_tensor(config_file):
    state = small_state()
    state["generator.gen_z.weight_orig"] = state["generator.gen_z.weight_orig"].clone()
    state["generator.gen_z.weight_orig"][0, 0] = float("nan")
    with pytest.raises(sefa_zoo.CheckpointError, match="'generator.gen_z.weight_orig' holds NaN"):
        torch_matrices(BigGANDeep().projection(with_config(state, config_file), [0]))


def test_a_zero_sigma_is_named(config_file):
    state = small_state()
    state["generator.gen_z.weight_u"] = torch.zeros(GEN_Z_ROWS)
    with pytest.raises(SefaZooError, match="'generator.gen_z' has spectral norm 0.0"):
        torch_matrices(BigGANDeep().projection(with_config(state, config_file), [0]))


# --- the command line ---------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_factorize_and_info_on_a_folder(folder, tmp_path):
    out = tmp_path / "bank.safetensors"
    result = run("factorize", "--checkpoint", folder, "-k", "5", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["architecture"], report["layout"], report["layers"], report["k"]) == (
        "biggan-deep", "pretrained-biggan", [0], 5)
    bank = sefa_zoo.load_bank(out)
    np.testing.assert_array_equal(bank.directions, factorize_checkpoint(sefa_zoo.open_checkpoint(folder), k=5).directions)
    assert bank.latent_space == "z"

    result = run("info", "--checkpoint", folder, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["architecture"], payload["layout"]) == ("biggan-deep", "pretrained-biggan")
    assert [(row["index"], row["name"], row["shape"], row["kind"]) for row in payload["layers"]] == [
        (0, "gen_z", [GEN_Z_ROWS, Z_DIM], "dense")]
    result = run("info", "-c", folder, "--option", "projection=all-conditional")
    assert result.exit_code == 0, result.output
    assert "biggan-deep (pretrained-biggan layout)" in result.stdout and "layers.4.bn_3.offset" in result.stdout


def test_cli_with_config_given_apart(folder, tmp_path):
    weights = tmp_path / "biggan.bin"
    weights.write_bytes((folder / "pytorch_model.bin").read_bytes())
    result = run("factorize", "--checkpoint", weights, "-k", "3", "-o", tmp_path / "bank.safetensors")
    assert result.exit_code == 1
    assert "config.json is missing" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    result = run("factorize", "--checkpoint", weights, "--config", folder / "config.json", "-k", "3",
                 "-o", tmp_path / "bank.safetensors", "--option", "projection=all-conditional", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["layers"] == [0]
    result = run("info", "--checkpoint", weights, "--config", folder / "config.json")
    assert result.exit_code == 0, result.output


def test_cli_reports_a_hostile_config_in_one_line(tmp_path):
    config = copy.deepcopy(CONFIG)
    config["channel_width"] = 10**30
    save_biggan(small_state(), config, tmp_path)
    result = run("factorize", "--checkpoint", tmp_path, "-o", tmp_path / "bank.safetensors")
    assert result.exit_code == 1
    assert "channel_width" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --- the docs -----------------------------------------------------------------------------------


def test_the_architecture_page_says_the_layers_options_and_layout():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs" / "architectures"
    page = (docs / "biggan-deep.md").read_text(encoding="utf-8")
    for fact in ("`gen_z` (default)", "`all-conditional`", "projection=all-conditional", "## Layout `pretrained-biggan`",
                 "--config FILE", "default_truncation_psi` is **0.4**", "z = input columns 0-127 of 256"):
        assert fact in page, fact
    assert BigGANDeep().options.keys() == {"projection"} and "pretrained-biggan" in BigGANDeep().layouts
    assert "[biggan-deep.md](biggan-deep.md)" in (docs / "README.md").read_text(encoding="utf-8")
