"""The built-in StyleGAN (v1) plugin: genforce / huggan layouts, detection, layer table, projection,
synthesis and the CLI, on fixture files written by the plugin's own writer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import sefa_zoo
from sefa_zoo import (
    Checkpoint,
    CheckpointError,
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
from sefa_zoo_plugins.stylegan import StyleGAN, random_stylegan_state, save_stylegan
from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, stylegan2_state_dict
from support.projections import torch_matrices

PREFIXES = ("generator_smooth.", "generator.", "")
FILE_NAMES = {"genforce": "stylegan_tiny.pth", "huggan": "pytorch_model.bin"}


def tiny_state(resolution: int = 32, **kwargs) -> dict[str, torch.Tensor]:
    kwargs = {"z_dim": 12, "w_dim": 12, "mapping_layers": 3, "fmaps_base": 128, "fmaps_max": 8, **kwargs}
    return random_stylegan_state(resolution, **kwargs)


def as_checkpoint(state, prefix: str = "generator_smooth.") -> Checkpoint:
    return Checkpoint.from_tensors({prefix + k: v for k, v in state.items()})


@pytest.fixture(scope="module")
def state():
    return tiny_state()


@pytest.fixture(scope="module")
def files(state, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stylegan")
    return {layout: save_stylegan(state, folder / name, layout) for layout, name in FILE_NAMES.items()}


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# ---------------------------------------------------------------- layer tables


def release_names(resolution: int) -> list[str]:
    names = ["4x4.const", "4x4.conv"]
    level = 8
    while level <= resolution:
        names += [f"{level}x{level}.conv0_up", f"{level}x{level}.conv1"]
        level *= 2
    return names


@pytest.mark.parametrize("resolution,num_layers", [(256, 14), (512, 16), (1024, 18)])
def test_release_layer_table_read_from_shapes(resolution, num_layers):
    # meta tensors: the true shapes of genforce's default generator, no data
    table = StyleGAN().layers(as_checkpoint(random_stylegan_state(resolution, device="meta"), ""))
    channels = [min(16384 // (4 << (i // 2)), 512) for i in range(num_layers)]
    assert [layer.index for layer in table] == list(range(num_layers))
    assert [layer.name for layer in table] == release_names(resolution)
    assert [layer.outputs for layer in table] == [2 * c for c in channels]  # AdaIN scale and shift rows
    assert {layer.latent_dim for layer in table} == {512}
    assert [layer.level for layer in table] == [4 << (i // 2) for i in range(num_layers)]
    assert {layer.kind for layer in table} == {"adain"}


@pytest.mark.parametrize("resolution,approx_size", [(256, 105_000_000), (512, 108_000_000)])
def test_release_sized_fixture_has_the_hub_files_bytes(resolution, approx_size):
    # huggan/stylegan_cat256 is ~105 MB, stylegan_animeface512 and stylegan_car512 ~108 MB
    state = random_stylegan_state(resolution, device="meta")
    data = sum(t.numel() * t.element_size() for t in state.values())
    assert abs(data - approx_size) < 1_000_000


def test_tiny_model_channels_and_w_dim_come_from_shapes(state):
    table = StyleGAN().layers(as_checkpoint(state))
    assert [layer.outputs for layer in table] == [16] * 6 + [8, 8]
    assert {layer.latent_dim for layer in table} == {12}
    assert StyleGAN().layer_groups(len(table)) == {"bottom": (0, 1), "middle": (2, 3, 4, 5), "top": (6, 7)}


@pytest.mark.parametrize("resolution", [8, 16, 128])
def test_every_power_of_two_resolution(resolution):
    table = StyleGAN().layers(as_checkpoint(tiny_state(resolution, fmaps_base=64, fmaps_max=4), ""))
    assert len(table) == 2 * (resolution.bit_length() - 1) - 2
    assert table[-1].name == f"{resolution}x{resolution}.conv1"


# ---------------------------------------------------------------- projections


def release_directions(state, indices):
    """The original release's factorize_weight: style weights transposed, concatenated, each column
    normalised, np.linalg.eig of W Wᵀ; sorted here by eigenvalue (eig leaves them unsorted)."""
    weight = np.concatenate([state[f"synthesis.layer{i}.style.weight"].numpy().T for i in indices], axis=1)
    weight = weight / np.linalg.norm(weight, axis=0, keepdims=True)
    values, vectors = np.linalg.eig(weight.dot(weight.T))
    order = np.argsort(-values.real)
    return values.real[order], vectors.T.real[order]


@pytest.mark.parametrize("spec,indices", [("all", range(8)), ("2-5", range(2, 6)), ("0-1,7", (0, 1, 7))])
@pytest.mark.parametrize("prefix", PREFIXES)
def test_directions_are_the_releases(state, spec, indices, prefix):
    bank = factorize_checkpoint(as_checkpoint(state, prefix), layers=spec, k=5)
    assert (bank.architecture, bank.layout, bank.latent_space) == ("stylegan", "genforce", "w")
    assert bank.layer_indices == tuple(indices)
    values, vectors = release_directions(state, indices)
    np.testing.assert_allclose(bank.eigenvalues[:5], values[:5], rtol=1e-4)
    for ours, theirs in zip(bank.directions, vectors[:5], strict=True):
        assert abs(float(np.dot(ours, theirs))) > 1 - 1e-4  # the same axis; signs are our own rule


def test_projection_is_the_stored_style_weight_and_reads_only_it(state):
    tensors = {"generator_smooth." + k: v for k, v in state.items()}
    read = []

    def loader(name):
        read.append(name)
        return tensors[name]

    checkpoint = Checkpoint({k: tuple(v.shape) for k, v in tensors.items()}, loader)
    StyleGAN().layers(checkpoint)
    assert read == []
    matrices = torch_matrices(StyleGAN().projection(checkpoint, [0, 5]))
    assert read == ["generator_smooth.synthesis.layer0.style.weight", "generator_smooth.synthesis.layer5.style.weight"]
    assert torch.equal(matrices[1], state["synthesis.layer5.style.weight"])


def test_layer_spec_out_of_range_names_the_valid_range(state):
    with pytest.raises(LayerSpecError, match="0-7"):
        factorize_checkpoint(as_checkpoint(state), layers="8")
    with pytest.raises(LayerSpecError, match="0-7"):
        torch_matrices(StyleGAN().projection(as_checkpoint(state), [8]))


def test_options_are_refused(state):
    with pytest.raises(SefaZooError, match="no option 'torgb'"):
        StyleGAN().layers(as_checkpoint(state), torgb="all")


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize("prefix", PREFIXES)
def test_each_container_is_detected_by_the_registry_alone(state, prefix):
    arch, layout = sefa_zoo.detect(as_checkpoint(state, prefix))  # ambiguity would be an error
    assert (arch.name, layout) == ("stylegan", "genforce")


def test_the_smoothed_generator_is_preferred(state):
    training = tiny_state(seed=3)
    tensors = {"generator." + k: v for k, v in training.items()}
    tensors.update({"generator_smooth." + k: v for k, v in state.items()})
    (matrix,) = torch_matrices(StyleGAN().projection(Checkpoint.from_tensors(tensors), [2]))
    assert torch.equal(matrix, state["synthesis.layer2.style.weight"])


def stylegan2_checkpoints():
    s2 = random_stylegan2_state(32, w_dim=12, z_dim=12, channel_base=256, channel_max=16, mapping_layers=2)
    cases = {}
    for layout, prefix in [("genforce", "generator_smooth."), ("genforce", ""), ("rosinality", "g_ema."),
                           ("nvidia", "G_ema."), ("sefa-zoo", "")]:
        cases[f"stylegan2-{layout}-{prefix or 'bare'}"] = Checkpoint.from_tensors(
            {prefix + k: v for k, v in stylegan2_state_dict(s2, layout).items()}
        )
    # StyleGAN2's genforce layer-i style has as many rows as twice the layer's output channels where the
    # channels halve: the 4x4 layer still tells the two apart
    s2_halving = random_stylegan2_state(32, w_dim=12, z_dim=12, channel_base=64, channel_max=16, mapping_layers=2)
    cases["stylegan2-genforce-halving"] = Checkpoint.from_tensors(stylegan2_state_dict(s2_halving, "genforce"))
    return cases


@pytest.mark.parametrize("name,checkpoint", stylegan2_checkpoints().items(), ids=list(stylegan2_checkpoints()))
def test_stylegan2_files_are_not_claimed(name, checkpoint):
    assert StyleGAN().detect(checkpoint) is None
    assert sefa_zoo.detect(checkpoint)[0].name == "stylegan2"


def test_stylegan_files_are_not_claimed_by_stylegan2_and_the_reason_is_given(state):
    assert get_architecture("stylegan2").detect(as_checkpoint(state)) is None
    with pytest.raises(LayoutError, match="not a genforce StyleGAN checkpoint") as error:
        StyleGAN().layers(stylegan2_checkpoints()["stylegan2-genforce-bare"])
    assert "7 style layers" in str(error.value)  # StyleGAN2 has 2·log2(res) − 3 (its last style is a toRGB)


def test_stylegan_fixtures_are_claimed_by_no_other_registered_architecture(state, files):
    for checkpoint in [as_checkpoint(state, p) for p in PREFIXES] + [open_checkpoint(f) for f in files.values()]:
        claims = [a.name for a in sefa_zoo.get_registry().architectures.values() if a.detect(checkpoint)]
        assert claims == ["stylegan"]


# ---------------------------------------------------------------- bad files


def edited(state, changes) -> Checkpoint:
    """``state`` with tensors replaced (name -> tensor) or removed (name -> None)."""
    tensors = dict(state)
    for name, value in changes.items():
        if value is None:
            del tensors[name]
        else:
            tensors[name] = value
    return Checkpoint.from_tensors(tensors)


L = "synthesis.layer"  # keeps the tables below readable


@pytest.mark.parametrize(
    "changes,message",
    [
        ({f"{L}3.style.weight": None}, r"missing tensor 'synthesis\.layer3\.style\.weight'"),
        ({f"{L}0.const": None}, r"missing tensor 'synthesis\.layer0\.const'"),
        ({f"{L}2.weight": None}, r"missing tensor 'synthesis\.layer2\.weight'"),
        ({"synthesis.output3.weight": None}, r"'synthesis\.output3\.weight' \(the final toRGB\)"),
        ({f"{L}4.style.weight": torch.zeros(8, 12)},
         r"layer4\.style\.weight' has shape \(8, 12\), expected \(16, w_dim\)"),
        ({f"{L}4.style.weight": torch.zeros(16, 11)}, r"has 11 columns, the other style layers 12"),
        ({f"{L}5.weight": torch.zeros(8, 4, 3, 3)}, r"'synthesis\.layer5\.weight' has shape \(8, 4, 3, 3\)"),
        ({f"{L}0.const": torch.zeros(16, 4, 4)}, r"'synthesis\.layer0\.const' has shape \(16, 4, 4\)"),
        ({f"{L}7.style.weight": None, f"{L}6.style.weight": None},
         r"missing tensor '\S+layer6\.style\.weight' \(the style of '\S+layer6\.weight'\)"),
        ({f"{L}7.style.weight": None}, r"7 style layers"),
    ],
)
def test_inconsistent_files_are_one_line_errors_naming_the_tensor(state, changes, message):
    checkpoint = edited(state, changes)
    assert StyleGAN().detect(checkpoint) is None
    with pytest.raises(LayoutError, match=message) as error:
        StyleGAN().layers(checkpoint, layout="genforce")
    assert len(str(error.value).splitlines()) == 1


def test_a_huge_layer_index_in_a_name_costs_nothing(state):
    # the index is bounded by the file's tensor count, not trusted
    checkpoint = edited(state, {f"{L}999999.style.weight": torch.zeros(2, 12)})
    with pytest.raises(LayoutError, match="style layer index 999999 but only"):
        StyleGAN().layers(checkpoint)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"mapping.dense1.weight": torch.zeros(12, 5)}, r"dense1\.weight' has shape \(12, 5\), expected \(out, 12\)"),
        ({"mapping.dense0.weight": None}, r"missing tensor 'mapping\.dense0\.weight'"),
        ({"mapping.dense2.weight": torch.zeros(7, 12)}, r"mapping network gives 7-d w, the style layers take 12"),
        ({"truncation.w_avg": None}, r"missing tensor 'truncation\.w_avg'"),
        ({f"{L}3.apply_noise.noise": torch.zeros(1, 1, 9, 9)},
         r"layer3\.apply_noise\.noise' has shape \(1, 1, 9, 9\), expected \(1, 1, 8, 8\)"),
        ({f"{L}2.bias": torch.zeros(3)}, r"'synthesis\.layer2\.bias' has shape \(3,\)"),
        ({"mapping.label_weight": torch.zeros(2, 12)}, r"class-conditional"),
    ],
)
def test_generator_tensors_are_checked_before_use(state, changes, message):
    checkpoint = edited(state, changes)
    with pytest.raises(LayoutError, match=message) as error:
        StyleGAN().build_generator(checkpoint)
    assert len(str(error.value).splitlines()) == 1


def test_files_that_are_not_stylegan(tmp_path):
    junk = tmp_path / "junk.pth"
    torch.save({"generator": {"something": torch.zeros(3)}}, junk)
    with pytest.raises(CheckpointError, match="no registered architecture recognises"):
        factorize_file(junk)
    with pytest.raises(LayoutError, match=r"not a genforce StyleGAN checkpoint: no StyleGAN style layers"):
        factorize_file(junk, architecture="stylegan")
    result = run("factorize", "--checkpoint", junk, "--arch", "stylegan")
    assert result.exit_code == 1 and result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1


# ---------------------------------------------------------------- synthesis


@pytest.fixture(scope="module")
def generator(state):
    return StyleGAN().build_generator(as_checkpoint(state))


def test_generator_shapes_and_determinism(generator):
    assert (generator.z_dim, generator.latent_dim, generator.num_layers) == (12, 12, 8)
    assert isinstance(generator, sefa_zoo.Generator)
    z = torch.randn(3, 12, generator=torch.Generator().manual_seed(0))
    codes = generator.map(z)
    assert codes.shape == (3, 8, 12)
    images = generator.synthesize(codes)
    assert images.shape == (3, 3, 32, 32) and images.dtype == torch.float32
    assert torch.equal(images, generator.synthesize(codes))  # the stored noise: deterministic
    assert not torch.equal(images, generator.synthesize(codes, noise_mode="none"))
    assert not torch.equal(images[:1], images[1:2])


def test_truncation_pulls_the_first_layers_toward_the_average(generator, state):
    z = torch.randn(2, 12, generator=torch.Generator().manual_seed(1))
    w = generator.map(z)
    w_avg = state["truncation.w_avg"]
    truncated = generator.map(z, truncation_psi=0.7, truncation_cutoff=5)
    torch.testing.assert_close(truncated[:, :5], w_avg + 0.7 * (w[:, :5] - w_avg))
    assert torch.equal(truncated[:, 5:], w[:, 5:])
    everywhere = generator.map(z, truncation_psi=0.5, truncation_cutoff=None)
    torch.testing.assert_close(everywhere, w_avg + 0.5 * (w - w_avg))
    assert torch.equal(generator.map(z, truncation_psi=0.7, truncation_cutoff=0), w)


def test_each_layer_reads_its_own_wplus_entry(generator):
    codes = generator.map(torch.randn(1, 12, generator=torch.Generator().manual_seed(2)))
    base = generator.synthesize(codes)
    for index in range(generator.num_layers):
        moved = codes.clone()
        moved[:, index] += 0.5
        assert not torch.equal(generator.synthesize(moved), base), index


def test_bad_generator_inputs_are_clear_errors(generator):
    with pytest.raises(SefaZooError, match=r"z of shape \(N, 12\)"):
        generator.map(torch.zeros(2, 5))
    with pytest.raises(SefaZooError, match=r"codes of shape \(N, 8, 12\)"):
        generator.synthesize(torch.zeros(2, 7, 12))
    with pytest.raises(SefaZooError, match="noise mode 'loud'"):
        generator.synthesize(torch.zeros(1, 8, 12), noise_mode="loud")
    with pytest.raises(SefaZooError, match="cutoff"):
        generator.map(torch.zeros(1, 12), truncation_psi=0.5, truncation_cutoff=-1)


def test_image_size_crops_the_middle_of_the_frame(state):
    checkpoint = as_checkpoint(state)
    full = StyleGAN().build_generator(checkpoint)
    cropped = StyleGAN().build_generator(checkpoint, image_size=(32, 24))
    codes = full.map(torch.randn(1, 12, generator=torch.Generator().manual_seed(4)))
    assert torch.equal(cropped.synthesize(codes), full.synthesize(codes)[:, :, 4:28, :])
    with pytest.raises(SefaZooError, match="does not fit"):
        StyleGAN().build_generator(checkpoint, image_size=(40, 24))


def test_unknown_device_is_a_clear_error(state):
    with pytest.raises(SefaZooError, match="cannot put the stylegan generator on device"):
        StyleGAN().build_generator(as_checkpoint(state), device="nonsense")


def test_float16_files_render_in_float32(state):
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    generator = StyleGAN().build_generator(as_checkpoint(half))
    images = generator.synthesize(generator.map(torch.randn(1, 12)))
    assert images.dtype == torch.float32 and torch.isfinite(images).all()


# ---------------------------------------------------------------- real files, API and CLI


def test_files_hold_what_genforce_and_huggan_write(state, files):
    genforce = open_checkpoint(files["genforce"])
    assert {k.split(".")[0] for k in genforce} == {"generator", "generator_smooth"}
    layer = "synthesis.layer3.style.weight"
    assert not torch.equal(genforce[f"generator.{layer}"], genforce[f"generator_smooth.{layer}"])
    huggan = open_checkpoint(files["huggan"])
    assert list(huggan) == list(state)
    assert torch.equal(huggan["synthesis.layer0.const"], state["synthesis.layer0.const"])


def test_both_files_give_the_same_bank_and_images(state, files):
    banks = {layout: factorize_file(path) for layout, path in files.items()}
    expected = factorize_checkpoint(as_checkpoint(state))
    for bank in banks.values():
        assert (bank.architecture, bank.layout) == ("stylegan", "genforce")
        np.testing.assert_array_equal(bank.directions, expected.directions)
    images = [
        render_edits(path, banks["genforce"], directions=(0, 1), distances=(-2.0, 0.0, 2.0), seeds=(0, 1))
        for path in files.values()
    ]
    assert images[0].shape == (2, 2, 3, 3, 32, 32)
    assert torch.equal(images[0], images[1])
    assert not torch.equal(images[0][:, :, 0], images[0][:, :, 1])  # the edits move the picture


def test_load_generator_of_a_file(files):
    generator = sefa_zoo.load_generator(files["huggan"])
    assert generator.num_layers == 8 and generator.resolution == 32


@pytest.mark.parametrize("layout", list(FILE_NAMES))
def test_cli_factorize_detects_the_file(files, layout, tmp_path):
    out = tmp_path / "bank.safetensors"
    result = run("factorize", "--checkpoint", files[layout], "-k", "6", "--layers", "middle", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["architecture"], report["layout"], report["layers"]) == ("stylegan", "genforce", [2, 3, 4, 5])
    assert report["layer_names"] == ["8x8.conv0_up", "8x8.conv1", "16x16.conv0_up", "16x16.conv1"]
    assert load_bank(out).k == 6


@pytest.mark.parametrize("layout", list(FILE_NAMES))
def test_cli_info_shows_the_layer_table(files, layout):
    result = run("info", "--checkpoint", files[layout], "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["architecture"], payload["layout"]) == ("stylegan", "genforce")
    layers = payload["layers"]
    assert [layer["name"] for layer in layers] == release_names(32)
    assert [layer["shape"] for layer in layers] == [[16, 12]] * 6 + [[8, 12]] * 2
    text = run("info", "--checkpoint", files[layout])
    assert text.exit_code == 0 and "4x4.const" in text.stdout and "adain" in text.stdout


@pytest.mark.parametrize("layout", list(FILE_NAMES))
def test_cli_edit_renders_the_file(files, layout, tmp_path):
    out = tmp_path / "edits"
    result = run("edit", "--checkpoint", files[layout], "-d", "0", "-s", "0,1", "--steps", "3",
                 "--layers", "0-3", "-o", out)
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"bank.safetensors", "overview.png", "direction_00.png", "report.html"} <= names
    assert load_bank(out / "bank.safetensors").layer_indices == (0, 1, 2, 3)


# ---------------------------------------------------------------- the catalogue


RELEASE_MODELS = {"stylegan-animeface512": (512, 16, None), "stylegan-car512": (512, 16, (512, 384)),
                  "stylegan-cat256": (256, 14, None)}


@pytest.mark.parametrize("name", list(RELEASE_MODELS))
def test_the_release_models_are_catalogued(config_dir, name):
    entry = get_entry(name)
    assert (entry.architecture, entry.layout) == ("stylegan", "genforce")
    assert (entry.resolution, entry.num_layers, entry.image_size) == RELEASE_MODELS[name]
    assert entry.source.repo_id == "huggan/" + name.replace("-", "_", 1)
    assert entry.source.filename == "pytorch_model.bin"
    result = run("info", name)
    assert result.exit_code == 0, result.output
    assert entry.source.revision in result.stdout


def test_a_catalogue_image_size_crops_the_rendered_frames(config_dir, files):
    import yaml

    entry = {
        "name": "tiny-stylegan", "architecture": "stylegan", "layout": "genforce",
        "source": {"kind": "local", "path": str(files["huggan"])}, "resolution": 32, "image_size": [32, 24],
        "z_dim": 12, "w_dim": 12, "num_layers": 8, "license": "cc0-1.0",
        "provenance": "random weights made by the test", "description": "a tiny StyleGAN",
    }
    (config_dir / "zoo.yaml").write_text(yaml.safe_dump({"models": [entry]}, sort_keys=False))
    bank = factorize_file(files["huggan"], k=2)
    images = render_edits("tiny-stylegan", bank, directions=(0,), distances=(0.0,), seeds=(0,))
    assert images.shape == (1, 1, 1, 3, 24, 32)
    whole = render_edits(files["huggan"], bank, directions=(0,), distances=(0.0,), seeds=(0,))
    assert torch.equal(images, whole[..., 4:28, :])
