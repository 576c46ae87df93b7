"""Files that belong with the weights (a config.json): folders as checkpoints, ``--config``,
``Checkpoint.companion`` / ``companion_json``, and outputs that must never replace them."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from sefa_zoo import Checkpoint, CheckpointError, LayoutError, ProjectionLayer, factorize_file, open_checkpoint
from sefa_zoo.checkpoint import COMPANION_JSON_LIMIT
from sefa_zoo.cli.main import app
from support.plugin_toys import ArchitecturePlugin, ToyArchitecture


class ConfiguredToy(ToyArchitecture):
    """A toy whose layer table comes from config.json: the first ``latent`` columns are z."""

    def layers(self, checkpoint, *, layout=None, **options):
        config = checkpoint.companion_json("config.json")
        if config is None:
            raise LayoutError(f"{checkpoint.label}: needs its config.json beside it or --config")
        outputs, width = checkpoint.shape(self.key)
        latent = config["z_dim"]
        part = f"z = input columns 0-{latent - 1} of {width}"
        return [ProjectionLayer(0, "first", outputs, latent, level=1, kind="linear", latent_part=part)]

    def projection(self, checkpoint, indices, *, layout=None, **options):
        latent = checkpoint.companion_json("config.json")["z_dim"]
        return [checkpoint[self.key][:, :latent].float() for _ in indices]


@pytest.fixture
def configured(register_plugin, tmp_path):
    register_plugin(ArchitecturePlugin(ConfiguredToy("cfgtoy")), "cfgtoy-plugin")
    folder = tmp_path / "snapshot"
    folder.mkdir()
    weight = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    save_file({"cfgtoy.weight": weight}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"z_dim": 3}))
    (folder / "README.md").write_text("not a checkpoint")
    return folder, weight


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_a_folder_is_read_as_the_one_checkpoint_in_it_with_its_config(configured):
    folder, weight = configured
    checkpoint = open_checkpoint(folder)
    assert checkpoint.path == folder / "model.safetensors"
    assert checkpoint.companion("config.json") == folder / "config.json"
    assert checkpoint.with_prefix("cfgtoy.").companion_json("config.json") == {"z_dim": 3}
    bank = factorize_file(folder)
    assert bank.latent_dim == 3 and bank.checkpoint_source == "model.safetensors"
    expected = torch.linalg.eigh(torch.nn.functional.normalize(weight[:, :3].double(), dim=1).T
                                 @ torch.nn.functional.normalize(weight[:, :3].double(), dim=1)).eigenvalues
    assert torch.allclose(torch.as_tensor(bank.eigenvalues).double().sort().values, expected, atol=1e-6)


def test_an_explicit_config_wins_over_the_one_beside(configured, tmp_path):
    folder, _ = configured
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"z_dim": 2}))
    assert factorize_file(folder / "model.safetensors", companions={"config.json": other}).latent_dim == 2
    result = run("factorize", "--checkpoint", folder / "model.safetensors", "--config", other,
                 "-o", tmp_path / "b.safetensors", "--json")
    assert result.exit_code == 0, result.output
    result = run("info", "--checkpoint", folder, "--config", other, "--json")
    assert result.exit_code == 0, result.output
    layer = json.loads(result.stdout)["layers"][0]
    assert layer["shape"] == [6, 2] and layer["latent_part"] == "z = input columns 0-1 of 5"
    result = CliRunner().invoke(app, ["info", "--checkpoint", str(folder), "--config", str(other)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "factorized input" in result.stdout and "z = input columns 0-1 of 5" in result.stdout


def test_without_its_config_the_plugin_says_so(configured, tmp_path):
    folder, _ = configured
    (folder / "config.json").unlink()
    result = run("factorize", "--checkpoint", folder, "-o", tmp_path / "b.safetensors")
    assert result.exit_code == 1 and "needs its config.json" in result.stderr


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "not a JSON file"),
    (b"\xff\xfe", "not a JSON file"),
    (b"[" * 100_000 + b"]" * 100_000, "not a JSON file"),  # nesting deeper than the parser's stack
    (b" " * (COMPANION_JSON_LIMIT + 1), "larger than"),
])
def test_a_bad_config_is_one_line_naming_it(tmp_path, content, message):
    weights = tmp_path / "w.safetensors"
    save_file({"x": torch.zeros(1)}, str(weights))
    config = tmp_path / "config.json"
    config.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as error:
        open_checkpoint(weights).companion_json("config.json")
    assert str(config) in str(error.value) and "\n" not in str(error.value)


def test_companions_are_plain_names_and_must_exist(tmp_path):
    weights = tmp_path / "w.safetensors"
    save_file({"x": torch.zeros(1)}, str(weights))
    assert open_checkpoint(weights).companion("../w.safetensors") is None
    assert open_checkpoint(weights).companion("config.json") is None
    assert Checkpoint.from_tensors({"x": torch.zeros(1)}).companion("config.json") is None
    with pytest.raises(CheckpointError, match="missing.json: no such file"):
        open_checkpoint(weights, companions={"config.json": tmp_path / "missing.json"})


def test_outputs_never_replace_the_weights_in_a_folder_or_the_config(configured, tmp_path):
    folder, _ = configured
    before = (folder / "model.safetensors").read_bytes(), (folder / "config.json").read_bytes()
    for target in (folder / "model.safetensors", folder / "config.json"):
        result = run("factorize", "--checkpoint", folder, "-o", target)
        assert result.exit_code == 1, result.output
    assert ((folder / "model.safetensors").read_bytes(), (folder / "config.json").read_bytes()) == before
