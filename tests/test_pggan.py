"""The built-in PGGAN plugin: layouts, detection, the layer table, the release's projection, bad files."""

from __future__ import annotations

import functools
import json
import time

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import sefa_zoo
from sefa_zoo import Checkpoint, CheckpointError, LayerSpecError, LayoutError, SefaZooError, factorize_checkpoint
from sefa_zoo.cli.main import app
from sefa_zoo.plugins import get_registry
from sefa_zoo_plugins.pggan import PGGAN, pggan_widths, random_pggan_state, save_pggan
from sefa_zoo_plugins.pggan.fixtures import random_discriminator_state
from support.projections import torch_matrices

Z_DIM, RESOLUTION = 16, 32
SMALL = {"z_dim": Z_DIM, "channel_base": 256, "channel_max": 32}
WIDTHS = (32, 32, 16, 8)  # min(256 // r, 32) at 4, 8, 16, 32 px
FILE_NAMES = {"genforce": "pggan_celebahq1024.pth", "huggan": "pytorch_model.bin"}


@functools.cache
def _state(resolution: int = RESOLUTION, seed: int = 0, img_channels: int = 3) -> dict[str, torch.Tensor]:
    return random_pggan_state(resolution, seed=seed, img_channels=img_channels, **SMALL)


def small_state(**kwargs) -> dict[str, torch.Tensor]:
    return dict(_state(**kwargs))


def prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in state.items()}


def in_memory(tensors: dict[str, torch.Tensor]) -> Checkpoint:
    return Checkpoint.from_tensors(tensors)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pggan")
    return {layout: save_pggan(small_state(), folder / name, layout) for layout, name in FILE_NAMES.items()}


def release_transposed(weight: torch.Tensor) -> np.ndarray:
    """The release's Aᵀ (utils.factorize_weight for a PGGAN), written out here on its own."""
    return weight.flip(2, 3).permute(1, 0, 2, 3).flatten(1).double().numpy()


# --- the layer table ----------------------------------------------------------------------------


def test_celebahq1024_layer_table_from_the_real_shapes():
    # meta tensors: the true shapes of the released model without allocating any data
    state = random_pggan_state(1024, device="meta")
    checkpoint = in_memory(state)
    shape = PGGAN().locate(checkpoint)
    assert shape.widths == (512, 512, 512, 512, 256, 128, 64, 32, 16)
    assert (shape.resolution, shape.z_dim, shape.img_channels, shape.prefix) == (1024, 512, 3, "")
    (layer,) = PGGAN().layers(checkpoint)
    assert (layer.index, layer.name, layer.shape, layer.level, layer.kind) == (0, "layer0", (8192, 512), 4, "dense")
    # the huggan pytorch_model.bin is this state dict: about 92.3 MB on the Hub page
    data = sum(t.numel() * 4 for t in state.values())
    assert abs(data - 92_300_000) < 100_000


@pytest.mark.parametrize("resolution", [8, 16, 64])
def test_every_resolution_and_width_comes_from_the_shapes(resolution):
    state = random_pggan_state(resolution, **SMALL)
    shape = PGGAN().locate(in_memory(state))
    assert shape.widths == pggan_widths(resolution, 256, 32) and shape.resolution == resolution
    (layer,) = PGGAN().layers(in_memory(state))
    assert layer.shape == (16 * shape.widths[0], Z_DIM)


def test_grey_generators_and_free_widths():
    grey = small_state(img_channels=1)
    shape = PGGAN().locate(in_memory(grey))
    assert (shape.img_channels, shape.widths) == (1, WIDTHS)
    odd = random_pggan_state(16, z_dim=7, channel_base=90, channel_max=20)  # widths 20, 11, 5
    shape = PGGAN().locate(in_memory({"generator." + k: v for k, v in odd.items()}))
    assert (shape.widths, shape.z_dim, shape.prefix) == ((20, 11, 5), 7, "generator.")


def test_layer_specs_options_and_groups():
    checkpoint = in_memory(small_state())
    assert PGGAN().layer_groups(1) == {}
    assert factorize_checkpoint(checkpoint, layers="0", k=2).layer_indices == (0,)
    with pytest.raises(LayerSpecError, match="the only valid index is 0"):
        factorize_checkpoint(checkpoint, layers="1")
    with pytest.raises(LayerSpecError, match="group"):
        factorize_checkpoint(checkpoint, layers="top")
    with pytest.raises(LayerSpecError, match="index 0; got index 1"):
        torch_matrices(PGGAN().projection(checkpoint, [0, 1]))
    with pytest.raises(SefaZooError, match="architecture 'pggan' has no option 'torgb'"):
        PGGAN().layers(checkpoint, torgb="all")
    with pytest.raises(LayoutError, match="has no layout 'rosinality'"):
        PGGAN().layers(checkpoint, layout="rosinality")
    assert PGGAN().layers(checkpoint, layout="genforce")[0].outputs == 16 * 32


# --- the projection -----------------------------------------------------------------------------


def test_projection_is_the_release_reshape_and_reads_only_layer0():
    state = prefixed(small_state(), "generator_smooth.")
    requested = []

    def loader(name):
        requested.append(name)
        return state[name]

    checkpoint = Checkpoint({k: tuple(v.shape) for k, v in state.items()}, loader)
    (matrix,) = torch_matrices(PGGAN().projection(checkpoint, [0]))
    weight = state["generator_smooth.layer0.weight"]
    assert matrix.shape == (16 * 32, Z_DIM)
    np.testing.assert_array_equal(matrix.double().numpy(), release_transposed(weight).T)
    # row (c, y, x) of A is channel c at position (y, x): the stored kernel read back to front
    assert torch.equal(matrix[5 * 16 + 1 * 4 + 2], weight[5, :, 2, 1])
    assert requested == ["generator_smooth.layer0.weight"]


def test_projection_is_the_linear_map_layer0_applies_to_the_code():
    checkpoint = in_memory(small_state(seed=3))
    (matrix,) = torch_matrices(PGGAN().projection(checkpoint, [0]))
    generator = PGGAN().build_generator(checkpoint)
    codes = generator.map(torch.randn(5, Z_DIM, generator=torch.Generator().manual_seed(4)))
    layer0 = generator.layer0
    with torch.no_grad():
        features = torch.nn.functional.conv2d(codes[:, 0, :, None, None], layer0.weight, padding=3)
    torch.testing.assert_close(features.flatten(1), codes[:, 0] @ matrix.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", list(FILE_NAMES))
def test_factorize_file_gives_the_release_directions(files, layout):
    bank = sefa_zoo.factorize_file(files[layout])
    assert (bank.architecture, bank.layout, bank.latent_space) == ("pggan", "genforce", "z")
    assert bank.layer_indices == (0,) and bank.layer_names == ("layer0",)
    # the release: columns of Aᵀ normalised, np.linalg.eig of Aᵀ A, eigenvectors as rows (unsorted)
    weight = release_transposed(small_state()["layer0.weight"])
    weight = weight / np.linalg.norm(weight, axis=0, keepdims=True)
    values, vectors = np.linalg.eig(weight @ weight.T)
    order = np.argsort(-values.real)
    values, directions = values.real[order], vectors.T.real[order]
    np.testing.assert_allclose(bank.eigenvalues, values, rtol=1e-6)
    cosines = np.abs(np.sum(bank.directions.astype(np.float64) * directions, axis=1))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-5)
    assert bank.eigenvalues.sum() == pytest.approx(16 * 32)  # one per row of A, normalised


def test_the_ema_generator_is_the_one_factorized(files):
    checkpoint = sefa_zoo.open_checkpoint(files["genforce"])
    assert not torch.equal(checkpoint["generator.layer0.weight"], checkpoint["generator_smooth.layer0.weight"])
    (matrix,) = torch_matrices(PGGAN().projection(checkpoint, [0]))
    assert torch.equal(matrix.T, torch.from_numpy(release_transposed(small_state()["layer0.weight"])).float())


# --- layouts and detection ----------------------------------------------------------------------


WRAPPERS = {
    "huggan (bare)": (lambda sd: sd, ""),
    "genforce": (lambda sd: {"generator": sd, "generator_smooth": sd}, "generator_smooth."),
    "genforce without smooth": (lambda sd: {"generator": sd}, "generator."),
    "smooth only": (lambda sd: {"generator_smooth": sd}, "generator_smooth."),
}


def flatten(saved) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in saved.items():
        if isinstance(value, dict):
            out.update({f"{key}.{name}": tensor for name, tensor in value.items()})
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("wrapper", list(WRAPPERS))
def test_each_wrapping_is_detected_and_located(wrapper):
    wrap, prefix = WRAPPERS[wrapper]
    checkpoint = in_memory(flatten(wrap(small_state())))
    assert PGGAN().detect(checkpoint) == "genforce"
    assert PGGAN().locate(checkpoint).prefix == prefix
    arch, layout = sefa_zoo.detect(checkpoint)  # through the registry: no other architecture claims it
    assert (arch.name, layout) == ("pggan", "genforce")


def test_saved_files_hold_what_genforce_and_huggan_write(files):
    genforce = sefa_zoo.open_checkpoint(files["genforce"])
    assert {name.split(".")[0] for name in genforce} == {"generator", "discriminator", "generator_smooth"}
    smooth = [name.removeprefix("generator_smooth.") for name in genforce if name.startswith("generator_smooth.")]
    assert smooth == list(small_state())  # genforce's state_dict order: lod, then layer/output by block
    assert genforce.shape("generator_smooth.lod") == () and genforce.shape("discriminator.lod") == ()
    assert genforce.shape("discriminator.layer6.weight") == (32, 33, 3, 3)  # minibatch-std channel at 4x4
    huggan = sefa_zoo.open_checkpoint(files["huggan"])
    assert list(huggan) == smooth
    for layout, path in files.items():
        arch, found = sefa_zoo.detect(sefa_zoo.open_checkpoint(path))
        assert (arch.name, found) == ("pggan", "genforce"), layout


OTHER_ARCHITECTURES = sorted(name for name in get_registry().architectures if name != "pggan")


@pytest.mark.parametrize("name", OTHER_ARCHITECTURES)
def test_no_other_registered_architecture_claims_pggan_files(files, name):
    arch = get_registry().architectures[name]
    for path in files.values():
        assert arch.detect(sefa_zoo.open_checkpoint(path)) is None, path.name


def stylegan2_files(folder):
    from sefa_zoo_plugins.stylegan2 import FIXTURE_LAYOUTS, random_stylegan2_state, save_stylegan2

    state = random_stylegan2_state(16, w_dim=8, z_dim=8, channel_base=64, channel_max=8, mapping_layers=1)
    return {f"stylegan2 {layout}": save_stylegan2(state, folder / f"{layout}.bin", layout) for layout in FIXTURE_LAYOUTS}


def stylegan1_genforce_like() -> dict[str, torch.Tensor]:
    """genforce's StyleGANGenerator names: everything sits under mapping / truncation / synthesis."""
    tensors = {"synthesis.lod": torch.zeros(()), "truncation.w_avg": torch.zeros(8),
               "mapping.dense0.weight": torch.zeros(8, 8), "synthesis.layer0.const": torch.zeros(1, 8, 4, 4)}
    for i in range(4):
        tensors[f"synthesis.layer{i}.weight"] = torch.zeros(8, 8, 3, 3)
        tensors[f"synthesis.layer{i}.style.weight"] = torch.zeros(16, 8)
    for k in range(2):
        tensors[f"synthesis.output{k}.weight"] = torch.zeros(3, 8, 1, 1)
    return tensors


def dcgan_state() -> dict[str, torch.Tensor]:
    from sefa_zoo_plugins.dcgan import random_dcgan_state

    return random_dcgan_state(nz=8, ngf=4, image_size=16)


NOT_PGGAN = {
    "discriminator": lambda: random_discriminator_state(WIDTHS),
    "wrapped discriminator": lambda: prefixed(random_discriminator_state(WIDTHS), "discriminator."),
    "stylegan1 genforce": stylegan1_genforce_like,
    "stylegan1 genforce .pth": lambda: prefixed(stylegan1_genforce_like(), "generator_smooth."),
    "dcgan": dcgan_state,
    "dcgan as genforce's 'generator'": lambda: prefixed(dcgan_state(), "generator."),
    "layer0 without toRGB": lambda: {"layer0.weight": torch.zeros(8, 8, 4, 4)},
    "3x3 layer0": lambda: {**small_state(), "layer0.weight": torch.zeros(32, Z_DIM, 3, 3)},
    "empty": dict,
}


@pytest.mark.parametrize("case", list(NOT_PGGAN))
def test_other_networks_are_not_detected(case):
    assert PGGAN().detect(in_memory(NOT_PGGAN[case]())) is None


def stylegan_files(folder):
    from sefa_zoo_plugins.stylegan import FIXTURE_LAYOUTS, random_stylegan_state, save_stylegan

    state = random_stylegan_state(16, z_dim=8, w_dim=8, mapping_layers=1, fmaps_base=64, fmaps_max=8)
    return {f"stylegan {layout}": save_stylegan(state, folder / f"stylegan-{layout}.bin", layout)
            for layout in FIXTURE_LAYOUTS}


def test_other_architectures_files_are_not_detected(tmp_path):
    files = {**stylegan2_files(tmp_path), **stylegan_files(tmp_path)}
    torch.save({"netG_state_dict": dcgan_state()}, tmp_path / "dcgan.pth")
    files["dcgan"] = tmp_path / "dcgan.pth"
    for name, path in files.items():
        checkpoint = sefa_zoo.open_checkpoint(path)
        assert PGGAN().detect(checkpoint) is None, name
        assert sefa_zoo.detect(checkpoint)[0].name != "pggan"


def test_a_generator_smooth_that_is_not_pggan_is_not_passed_over_for_generator():
    # as the release: generator_smooth when the file has it, even if 'generator' would read
    checkpoint = in_memory({**prefixed(small_state(), "generator."), **prefixed(dcgan_state(), "generator_smooth.")})
    assert PGGAN().detect(checkpoint) is None


# --- bad files: one line naming the tensor at fault ---------------------------------------------


def _edited(edit, prefix: str = "generator_smooth."):
    state = small_state()
    edit(state)
    return prefixed(state, prefix)


BAD_FILES = [
    ("missing bias", lambda s: s.pop("layer3.bias"), "missing tensor 'generator_smooth.layer3.bias' of a 32px"),
    ("missing conv", lambda s: s.pop("layer5.weight"), "missing tensor 'generator_smooth.layer5.weight'"),
    ("missing toRGB in the middle", lambda s: (s.pop("output1.weight"), s.pop("output1.bias")),
     "missing tensor 'generator_smooth.output1.weight'"),
    ("odd conv shape", lambda s: s.update({"layer4.weight": torch.zeros(16, 32, 5, 5)}),
     r"'generator_smooth.layer4.weight' has shape \(16, 32, 5, 5\), expected \(16, 32, 3, 3\)"),
    ("widths that do not chain", lambda s: s.update({"layer6.weight": torch.zeros(8, 12, 3, 3)}),
     r"'generator_smooth.layer6.weight' has shape \(8, 12, 3, 3\), expected \(8, 16, 3, 3\)"),
    ("layer0 of another width", lambda s: s.update({"layer0.weight": torch.zeros(24, Z_DIM, 4, 4)}),
     r"'generator_smooth.layer0.weight' has shape \(24, 16, 4, 4\), expected \(32, 16, 4, 4\)"),
    ("bias of the wrong length", lambda s: s.update({"layer2.bias": torch.zeros(5)}),
     r"'generator_smooth.layer2.bias' has shape \(5,\), expected \(32,\)"),
    ("five image channels", lambda s: s.update({"output2.weight": torch.zeros(5, 16, 1, 1)}),
     r"'generator_smooth.output2.weight' has shape \(5, 16, 1, 1\), expected \(1 or 3 image channels"),
    ("image channels differ", lambda s: s.update({"output3.weight": torch.zeros(1, 8, 1, 1)}),
     "'generator_smooth.output3.weight' makes 1 image channels, output0 makes 3"),
    ("no toRGB beyond 4x4", lambda s: [s.pop(k) for k in list(s) if k.startswith("output") and k != "output0.weight"],
     "no toRGB tensors beyond 4x4"),
    ("layer beyond the last block", lambda s: s.update({"layer8.weight": torch.zeros(8, 8, 3, 3)}),
     "'generator_smooth.layer8.weight' is beyond the last block of a 32px generator"),
    ("huge toRGB index", lambda s: s.update({"output999999.weight": torch.zeros(3, 8, 1, 1)}),
     "'generator_smooth.output999999.weight' names a block the file holds no tensors for"),
    ("a name with 5000 digits", lambda s: s.update({f"layer{'9' * 5000}.weight": torch.zeros(1)}),
     "unexpected tensor 'generator_smooth.layer999"),
    ("an extra tensor", lambda s: s.update({"layer1.weight_orig": torch.zeros(1)}),
     "unexpected tensor 'generator_smooth.layer1.weight_orig' beside the generator's"),
    ("lod that is not a scalar", lambda s: s.update({"lod": torch.zeros(3)}),
     r"'generator_smooth.lod' has shape \(3,\), expected a scalar"),
]


@pytest.mark.parametrize("case, edit, message", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_inconsistent_generators_are_one_line_errors_naming_the_tensor(case, edit, message):
    checkpoint = in_memory(_edited(edit))
    start = time.perf_counter()
    with pytest.raises(LayoutError, match=message) as error:
        PGGAN().layers(checkpoint)
    assert time.perf_counter() - start < 1
    assert "\n" not in str(error.value)
    assert str(error.value).startswith("<memory checkpoint>: not a genforce PGGAN checkpoint: ")


@pytest.mark.parametrize("case, edit, message", BAD_FILES[:4], ids=[case[0] for case in BAD_FILES[:4]])
def test_cli_reports_a_bad_file_in_one_line(tmp_path, case, edit, message):
    state = small_state()
    edit(state)
    path = tmp_path / "pggan.pth"
    torch.save({"generator_smooth": state, "generator": small_state()}, path)
    result = CliRunner().invoke(app, ["factorize", "--checkpoint", str(path), "-o", str(tmp_path / "bank.safetensors")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {path}: not a genforce PGGAN checkpoint: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bank.safetensors").exists()


def test_a_3x3_layer0_is_named_when_the_architecture_is_given():
    checkpoint = in_memory(NOT_PGGAN["3x3 layer0"]())
    expected = r"'layer0.weight' has shape \(32, 16, 3, 3\), expected \(channels, z_dim, 4, 4\)"
    with pytest.raises(LayoutError, match=expected):
        PGGAN().layers(checkpoint)
    with pytest.raises(LayoutError, match="no tensor 'generator_smooth.layer0.weight'"):
        PGGAN().layers(in_memory(prefixed(dcgan_state(), "generator_smooth.")))


def test_nan_in_layer0_names_file_and_tensor(tmp_path):
    state = small_state()
    state["layer0.weight"] = state["layer0.weight"].clone()
    state["layer0.weight"][0, 0, 0, 0] = float("nan")
    path = save_pggan(state, tmp_path / "pytorch_model.bin", "huggan")
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin: tensor 'layer0\.weight' holds NaN"):
        sefa_zoo.factorize_file(path)


# --- the command line, end to end on both layouts -----------------------------------------------


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("layout", list(FILE_NAMES))
def test_cli_factorize_and_info_detect_pggan(files, layout, tmp_path):
    out = tmp_path / "bank.safetensors"
    result = run("factorize", "--checkpoint", files[layout], "-k", "5", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["architecture"], report["layout"], report["layers"], report["k"]) == ("pggan", "genforce", [0], 5)
    assert report["layer_names"] == ["layer0"]
    bank = sefa_zoo.load_bank(out)
    np.testing.assert_array_equal(bank.directions, factorize_checkpoint(in_memory(small_state()), k=5).directions)

    result = run("info", "--checkpoint", files[layout], "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["architecture"], payload["layout"]) == ("pggan", "genforce")
    assert [(layer["index"], layer["name"], layer["shape"], layer["level"], layer["kind"])
            for layer in payload["layers"]] == [(0, "layer0", [512, Z_DIM], 4, "dense")]
    result = run("info", "-c", files[layout])
    assert result.exit_code == 0, result.output
    assert "pggan (genforce layout)" in result.stdout and "512×16" in result.stdout


@pytest.mark.parametrize("layout", list(FILE_NAMES))
def test_cli_edit_renders_pggan_edits(files, layout, tmp_path):
    out = tmp_path / "edits"
    result = run("edit", "--checkpoint", files[layout], "-d", "0-1", "-s", "0,1", "--steps", "3", "-o", out)
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"bank.safetensors", "overview.png", "direction_00.png", "direction_01.gif", "report.html"} <= names
    bank = sefa_zoo.load_bank(out / "bank.safetensors")
    assert (bank.architecture, bank.layer_indices) == ("pggan", (0,))


def test_cli_refuses_truncation_for_pggan(files, tmp_path):
    result = run("edit", "--checkpoint", files["huggan"], "--trunc", "0.7", "-s", "0", "--steps", "2",
                 "-o", tmp_path / "edits")
    assert result.exit_code == 1
    assert "cannot truncate" in result.stderr and len(result.stderr.strip().splitlines()) == 1
