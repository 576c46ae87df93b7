"""Class-conditional StyleGAN2-ADA generators (c_dim > 0), NVIDIA layout: the fixture writer, reading
the label embedding, the mapping cat(normalised z, normalised embed(one-hot c)), the class through
the API and the CLI, hostile files; and fidelity against NVIDIA's code on the same weights.

data/stylegan2_conditional_fidelity/nvidia.npz was made by running NVIDIA's stylegan2-ada-pytorch,
outside this project, on the pickle committed beside it (its README says exactly how):
  z (N, z_dim), classes (N,)            np.random.RandomState(seed).randn(1, z_dim) per seed; a class each
  wplus_psi1, image_psi1                mapping(z, one-hot c) at psi 1, synthesis with noise_mode='const'
  wplus_psi07_cutoff4, image_...        psi 0.7 on the first 4 of 8 W+ indices
  wplus_seed0_every_class, image_...    seed 0 in classes 0-4, psi 1
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from sefa_zoo import (
    Checkpoint,
    LayoutError,
    SefaZooError,
    codes_from_seeds,
    factorize_file,
    get_architecture,
    load_bank,
    load_generator,
    open_checkpoint,
    render_edits,
)
from sefa_zoo.cli.main import app
from sefa_zoo_plugins.stylegan2 import (
    FIXTURE_LAYOUTS,
    random_stylegan2_state,
    save_stylegan2,
    stylegan2_state_dict,
)
from sefa_zoo_plugins.stylegan2.reader import estimate_w_avg

DATA = Path(__file__).parent / "data" / "stylegan2_conditional_fidelity"
FIXTURE = DATA / "stylegan2-32px-conditional-nvidia.pkl"
TOLERANCE = 1e-3  # max abs difference, [-1, 1] pixel units
C_DIM, Z_DIM, W_DIM = 4, 10, 12


def tiny_state(**kwargs):
    kwargs = {"w_dim": W_DIM, "z_dim": Z_DIM, "channel_base": 256, "channel_max": 16, "mapping_layers": 2,
              "c_dim": C_DIM, **kwargs}
    return random_stylegan2_state(32, **kwargs)


def nvidia_tensors(state) -> dict[str, torch.Tensor]:
    return {f"G_ema.{name}": tensor for name, tensor in stylegan2_state_dict(state, "nvidia").items()}


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def state():
    return tiny_state()


@pytest.fixture(scope="module")
def pickle_file(state, tmp_path_factory):
    return save_stylegan2(state, tmp_path_factory.mktemp("conditional") / "conditional.pkl", "nvidia")


@pytest.fixture(scope="module")
def generator(pickle_file):
    return load_generator(pickle_file)


@pytest.fixture(scope="module")
def references() -> dict[str, np.ndarray]:
    with np.load(DATA / "nvidia.npz") as data:
        return {key: data[key] for key in data.files}


# ---------------------------------------------------------------- the fixture writer and reading


def test_the_pickle_holds_what_train_py_writes_for_a_conditional_model(pickle_file, state):
    checkpoint = open_checkpoint(pickle_file)
    for network in ("G", "G_ema"):
        assert checkpoint.shape(f"{network}.mapping.embed.weight") == (W_DIM, C_DIM)
        assert checkpoint.shape(f"{network}.mapping.fc0.weight") == (W_DIM, Z_DIM + W_DIM)
        assert checkpoint.objects[f"{network}._init_kwargs"]["c_dim"] == C_DIM
        assert checkpoint.objects[f"{network}.mapping._init_kwargs"]["c_dim"] == C_DIM
    assert checkpoint.objects["D._init_kwargs"]["c_dim"] == C_DIM
    assert checkpoint.shape("D.mapping.embed.weight") == (16, C_DIM)  # cmap_dim: the 4x4 channels
    assert checkpoint.shape("D.b4.out.weight") == (16, 16)
    assert checkpoint.objects["training_set_kwargs"]["use_labels"] is True
    names = list(checkpoint)
    assert names.index("G_ema.mapping.embed.weight") < names.index("G_ema.mapping.fc0.weight")  # NVIDIA's order


def test_the_generator_is_conditional_with_the_true_z(generator):
    assert (generator.num_classes, generator.z_dim, generator.latent_dim, generator.num_layers) == (
        C_DIM, Z_DIM, W_DIM, 8)
    assert not hasattr(generator, "class_names")


def test_a_label_embedding_narrower_than_w_is_read_and_recorded(tmp_path):
    state = tiny_state(embed_features=5)
    path = save_stylegan2(state, tmp_path / "narrow.pkl", "nvidia")
    checkpoint = open_checkpoint(path)
    assert checkpoint.objects["G_ema._init_kwargs"]["mapping_kwargs"]["embed_features"] == 5
    generator = load_generator(path)
    assert (generator.z_dim, generator.mapping.embed.weight.shape) == (Z_DIM, (5, C_DIM))


def test_mapping_is_cat_of_normalised_z_and_normalised_label_embedding(state, generator):
    z = torch.randn(3, Z_DIM, generator=torch.Generator().manual_seed(0))
    classes = torch.tensor([0, 3, 1])

    def normalised(x):
        return x / x.square().mean(dim=1, keepdim=True).add(1e-8).sqrt()

    t = state.tensors
    embedded = torch.eye(C_DIM)[classes] @ (t["mapping.embed.weight"] / math.sqrt(C_DIM)).T + t["mapping.embed.bias"]
    x = torch.cat([normalised(z), normalised(embedded)], dim=1)
    lr = state.mapping_lr_multiplier
    for i in range(state.mapping_layers):
        weight, bias = t[f"mapping.fc{i}.weight"], t[f"mapping.fc{i}.bias"]
        x = x @ (weight * lr / math.sqrt(weight.shape[1])).T + bias * lr
        x = torch.where(x >= 0, x, 0.2 * x) * math.sqrt(2)
    torch.testing.assert_close(generator.map(z, classes=classes), x[:, None].expand(-1, 8, -1), rtol=1e-5, atol=1e-6)


def test_the_class_changes_w_only(generator):
    z = torch.randn(2, Z_DIM, generator=torch.Generator().manual_seed(1))
    codes = [generator.map(z, classes=torch.full((2,), c)) for c in range(C_DIM)]
    assert all(not torch.allclose(codes[0], other) for other in codes[1:])
    same = generator.synthesize(codes[1], classes=torch.tensor([1, 1]), truncation_psi=0.5)
    assert torch.equal(same, generator.synthesize(codes[1], classes=torch.tensor([2, 0])))


def test_classes_are_checked_in_one_line(generator, state):
    z = torch.zeros(2, Z_DIM)
    cases = [
        (lambda: generator.map(z), r"class-conditional \(4 classes\): give classes"),
        (lambda: generator.map(z, classes=torch.tensor([0, 4])), "class out of range: the generator has classes 0-3"),
        (lambda: generator.map(z, classes=torch.tensor([0])), "expects classes as 2 class indices"),
        (lambda: generator.map(z, classes=torch.tensor([0.0, 1.0])), "expects classes as 2 class indices"),
        (lambda: generator.synthesize(torch.zeros(2, 8, W_DIM)), "give classes"),
    ]
    for call, expected in cases:
        with pytest.raises(SefaZooError, match=expected):
            call()
    unconditional = get_architecture("stylegan2").build_generator(
        Checkpoint.from_tensors(nvidia_tensors(tiny_state(c_dim=0))))
    assert unconditional.num_classes == 0
    with pytest.raises(SefaZooError, match="not class-conditional: it takes no classes"):
        unconditional.map(torch.zeros(1, Z_DIM), classes=torch.tensor([0]))


def test_the_average_w_of_a_file_without_one_is_estimated_over_classes(state):
    tensors = {k: v for k, v in nvidia_tensors(state).items() if k != "G_ema.mapping.w_avg"}
    generator = get_architecture("stylegan2").build_generator(Checkpoint.from_tensors(tensors))
    torch.testing.assert_close(generator.w_avg, estimate_w_avg(state))
    assert not torch.allclose(generator.w_avg, state.tensors["w_avg"])


def test_layers_and_projection_are_the_unconditional_ones(state, pickle_file):
    """The class only changes w: the style affines on w are the whole projection."""
    unconditional = save_stylegan2(tiny_state(c_dim=0), pickle_file.parent / "plain.pkl", "nvidia")
    stylegan2 = get_architecture("stylegan2")
    conditional_table = stylegan2.layers(open_checkpoint(pickle_file))
    assert conditional_table == stylegan2.layers(open_checkpoint(unconditional))
    assert all(layer.latent_part == "" for layer in conditional_table)
    bank = factorize_file(pickle_file)
    assert bank.latent_parts == () and bank.latent_dim == W_DIM


@pytest.mark.parametrize("layout", [name for name in FIXTURE_LAYOUTS if name != "nvidia"])
def test_other_layouts_do_not_write_conditional_generators(state, tmp_path, layout):
    with pytest.raises(SefaZooError, match="class-conditional StyleGAN2 generators are written in the nvidia layout"):
        save_stylegan2(state, tmp_path / "x.bin", layout)
    assert not (tmp_path / "x.bin").exists()


def _without(tensors, *names):
    return {k: v for k, v in tensors.items() if k not in names}


@pytest.mark.parametrize("change, expected", [
    (lambda t: _without(t, "G_ema.mapping.embed.bias"), "missing tensor 'G_ema.mapping.embed.bias'"),
    (lambda t: {**t, "G_ema.mapping.embed.weight": torch.zeros(C_DIM)}, "'G_ema.mapping.embed.weight' has shape"),
    (lambda t: {**t, "G_ema.mapping.embed.bias": torch.zeros(3)}, "'G_ema.mapping.embed.weight' has shape"),
    (lambda t: {**t, "G_ema.mapping.embed.weight": torch.zeros(Z_DIM + W_DIM, C_DIM),
                "G_ema.mapping.embed.bias": torch.zeros(Z_DIM + W_DIM)}, "mapping.fc0 takes only 22 inputs"),
])
def test_bad_label_embeddings_are_named_in_one_line(state, change, expected):
    checkpoint = Checkpoint.from_tensors(change(nvidia_tensors(state)))
    with pytest.raises(LayoutError) as excinfo:
        get_architecture("stylegan2").build_generator(checkpoint)
    assert expected in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_a_recorded_c_dim_must_match_the_embedding(state, pickle_file, tmp_path):
    checkpoint = open_checkpoint(pickle_file)
    tensors = {name: checkpoint[name] for name in checkpoint if name.startswith("G_ema.")}
    objects = {"G_ema.mapping._init_kwargs": {"c_dim": 7}}
    with pytest.raises(LayoutError, match=r"records c_dim=7 but 'G_ema.mapping.embed.weight' has 4 columns"):
        get_architecture("stylegan2").build_generator(Checkpoint.from_tensors(tensors, objects=objects))
    wider = {**tensors, "G_ema.mapping.embed.weight": torch.zeros(W_DIM + 1, C_DIM),
             "G_ema.mapping.embed.bias": torch.zeros(W_DIM + 1)}
    recorded = {"G_ema.mapping._init_kwargs": {"c_dim": C_DIM, "z_dim": Z_DIM}}
    with pytest.raises(LayoutError, match=r"records z_dim=10, but mapping.fc0's 22 inputs less .* leave 9"):
        get_architecture("stylegan2").build_generator(Checkpoint.from_tensors(wider, objects=recorded))
    without = _without(tensors, "G_ema.mapping.embed.weight", "G_ema.mapping.embed.bias")
    with pytest.raises(LayoutError, match=r"records c_dim=7 but 'G_ema.mapping.embed.weight' is missing"):
        get_architecture("stylegan2").build_generator(Checkpoint.from_tensors(without, objects=objects))


# ---------------------------------------------------------------- the API and the CLI


def test_codes_from_seeds_and_render_edits_take_the_class(generator, pickle_file):
    bank = factorize_file(pickle_file, layers="0-3")
    codes = codes_from_seeds(generator, [0, 1], truncation_psi=1.0, class_index="2")
    z = torch.from_numpy(np.stack([np.random.RandomState(s).randn(Z_DIM) for s in (0, 1)]).astype(np.float32))
    torch.testing.assert_close(codes, generator.map(z, classes=torch.tensor([2, 2])))
    images = render_edits(generator, bank, [0], [0.0, 2.0], [0, 1], class_index=2, truncation_psi=1.0)
    torch.testing.assert_close(images[0, :, 0], generator.synthesize(codes, classes=torch.tensor([2, 2])))
    other = render_edits(generator, bank, [0], [0.0], [0], class_index=3)
    assert not torch.allclose(images[0, 0, 0], other[0, 0, 0])
    with pytest.raises(SefaZooError, match="class-conditional \\(4 classes\\): give --class"):
        render_edits(generator, bank, [0], [0.0], [0])


def test_cli_edit_a_conditional_stylegan2_pickle(pickle_file, tmp_path):
    out = tmp_path / "edits"
    result = run("edit", "--checkpoint", pickle_file, "--class", "3", "-d", "0", "-s", "0", "--steps", "2",
                 "-o", out, "--layers", "0-1")
    assert result.exit_code == 0, result.output
    assert "SeFa edits: conditional, class 3</title>" in (out / "report.html").read_text()
    assert load_bank(out / "bank.safetensors").latent_parts == ()
    result = run("edit", "--checkpoint", pickle_file, "-o", tmp_path / "none", "--steps", "2", "-s", "0")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: model 'conditional' is class-conditional (4 classes): give --class"
    assert not (tmp_path / "none").exists()


# ---------------------------------------------------------------- fidelity against NVIDIA's code


@pytest.fixture(scope="module")
def fixture_generator():
    return load_generator(FIXTURE)


@pytest.mark.parametrize("case, psi, cutoff", [("psi1", 1.0, None), ("psi07_cutoff4", 0.7, 4)])
def test_mapping_and_synthesis_equal_nvidias(fixture_generator, references, case, psi, cutoff):
    z = torch.from_numpy(references["z"])
    classes = torch.from_numpy(references["classes"]).long()
    wplus = fixture_generator.map(z, truncation_psi=psi, truncation_cutoff=cutoff, classes=classes)
    assert np.abs(wplus.numpy() - references[f"wplus_{case}"]).max() < 1e-4
    image = fixture_generator.synthesize(torch.from_numpy(references[f"wplus_{case}"]), classes=classes)
    assert np.abs(image.numpy() - references[f"image_{case}"]).max() < TOLERANCE


def test_seed_and_class_through_the_api_equal_nvidias_generate(fixture_generator, references):
    """codes_from_seeds draws z as NVIDIA's generate.py does and feeds its one-hot label."""
    for index in range(fixture_generator.num_classes):
        codes = codes_from_seeds(fixture_generator, [int(references["seeds"][0])], truncation_psi=1.0,
                                 class_index=index)
        assert np.abs(codes.numpy()[0] - references["wplus_seed0_every_class"][index]).max() < 1e-4
        image = fixture_generator.synthesize(codes, classes=torch.tensor([index]))
        assert np.abs(image.numpy()[0] - references["image_seed0_every_class"][index]).max() < TOLERANCE
