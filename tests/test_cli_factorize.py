import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from sefa_zoo import Architecture, LayoutError, ProjectionLayer, factorize, hookimpl, load_bank
from sefa_zoo.cli.main import app

LATENT = 12
SIZES = (16, 8, 8, 4)


class ToyArchitecture(Architecture):
    """Four 'style' layers named toy.proj{i}.weight, each (outputs x latent)."""

    name = "toyarch"
    layouts = {"plain": "toy.proj{i}.weight tensors"}
    latent_space = "w"

    def detect(self, checkpoint):
        return "plain" if "toy.proj0.weight" in checkpoint else None

    def layers(self, checkpoint, *, layout=None, **options):
        self.resolve_layout(checkpoint, layout)
        out = []
        i = 0
        while f"toy.proj{i}.weight" in checkpoint:
            rows, latent = checkpoint.shape(f"toy.proj{i}.weight")
            out.append(ProjectionLayer(i, f"proj{i}", rows, latent, 4 * 2**i))
            i += 1
        return out

    def projection(self, checkpoint, indices, *, layout=None, **options):
        return [checkpoint[f"toy.proj{i}.weight"] for i in indices]


class ToyPlugin:
    @hookimpl
    def register_architectures(self, register):
        register(ToyArchitecture())


@pytest.fixture
def toy(register_plugin, tmp_path):
    register_plugin(ToyPlugin(), "toy-plugin")
    gen = torch.Generator().manual_seed(0)
    tensors = {f"toy.proj{i}.weight": torch.randn(n, LATENT, generator=gen) for i, n in enumerate(SIZES)}
    path = tmp_path / "toy.safetensors"
    save_file(tensors, str(path))
    return path, tensors


def run(*args):
    result = CliRunner().invoke(app, list(args))
    return result


def test_factorize_local_checkpoint_detects_and_writes_bank(toy, tmp_path, monkeypatch):
    path, tensors = toy
    monkeypatch.chdir(tmp_path)
    result = run("factorize", "--checkpoint", str(path), "--layers", "1-2")
    assert result.exit_code == 0, result.output
    bank_path = tmp_path / "toy_layers1-2.safetensors"
    assert "eigenvalue" in result.output and str(bank_path.name) in result.output
    bank = load_bank(bank_path)
    expected = factorize([tensors["toy.proj1.weight"], tensors["toy.proj2.weight"]])
    np.testing.assert_allclose(bank.directions, expected.directions, atol=1e-6)
    assert bank.architecture == "toyarch" and bank.layout == "plain"
    assert bank.layer_indices == (1, 2) and bank.layer_names == ("proj1", "proj2")
    assert len(bank.checkpoint_sha256) == 64


def test_json_output_and_exports(toy, tmp_path):
    path, _ = toy
    out = tmp_path / "out" / "bank.safetensors"
    result = run("factorize", "--checkpoint", str(path), "-k", "5", "-o", str(out), "--json",
                 "--export", "npy", "--export", "rosinality", "--no-normalize")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["bank"] == str(out) and data["k"] == 5
    assert data["normalization"] == "none"
    assert sorted(data["exports"]) == sorted(
        str(out.parent / n) for n in ("bank_directions.npy", "bank_eigenvalues.npy", "bank_factor.pt"))
    assert data["eigenvalues"] == sorted(data["eigenvalues"], reverse=True)
    assert load_bank(out).normalization == "none"
    assert np.load(out.parent / "bank_directions.npy").shape == (5, LATENT)


def test_normalized_eigenvalues_sum_to_rows(toy, tmp_path):
    path, _ = toy
    result = run("factorize", "--checkpoint", str(path), "-o", str(tmp_path / "b.safetensors"), "--json")
    data = json.loads(result.output)
    assert sum(data["eigenvalues"]) == pytest.approx(sum(SIZES), rel=1e-5)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--layers", "9"], "layer 9 in '9' is out of range: valid indices are 0-3"),
        (["--layers", "3-1"], "runs backwards"),
        (["--arch", "toyarhc"], "unknown architecture 'toyarhc' (did you mean toyarch"),
        (["--option", "oops"], "--option 'oops' must look like KEY=VALUE"),
        (["--layout", "fancy", "--arch", "toyarch"], "has no layout 'fancy'"),
    ],
)
def test_bad_input_is_one_line_error(toy, tmp_path, args, message):
    path, _ = toy
    result = run("factorize", "--checkpoint", str(path), "-o", str(tmp_path / "b.safetensors"), *args)
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.strip().count("\n") == 0
    assert not (tmp_path / "b.safetensors").exists()


def test_model_and_checkpoint_are_exclusive(toy, tmp_path):
    path, _ = toy
    assert "either a catalogue MODEL or --checkpoint" in run("factorize").output
    assert "either a catalogue MODEL or --checkpoint" in run("factorize", "x", "--checkpoint", str(path)).output


def test_missing_and_unrecognised_checkpoints(toy, tmp_path):
    result = run("factorize", "--checkpoint", str(tmp_path / "nope.pt"))
    assert result.exit_code == 1 and "no such checkpoint file" in result.output
    other = tmp_path / "other.safetensors"
    save_file({"something.else": torch.zeros(2, 2)}, str(other))
    result = run("factorize", "--checkpoint", str(other))
    assert result.exit_code == 1 and "no registered architecture recognises" in result.output


def test_layout_error_from_architecture_is_reported(toy, tmp_path):
    other = tmp_path / "other.safetensors"
    save_file({"something.else": torch.zeros(2, 2)}, str(other))
    result = run("factorize", "--checkpoint", str(other), "--arch", "toyarch")
    assert result.exit_code == 1 and "not a toyarch checkpoint" in result.output
    assert issubclass(LayoutError, Exception)


def test_catalogue_model_layer_spec_checked_before_download(register_plugin, tmp_path):
    class Entries:
        @hookimpl
        def register_catalogue_entries(self, register):
            register({
                "name": "toy-remote", "architecture": "toyarch", "layout": "plain",
                "source": {"kind": "url", "url": "http://127.0.0.1:9/never-fetched.safetensors",
                           "sha256": "0" * 64},
                "resolution": 32, "num_layers": 4, "license": "test", "provenance": "test",
                "description": "never downloaded",
            })

    register_plugin(ToyPlugin(), "toy-plugin")
    register_plugin(Entries(), "toy-entries")
    result = run("factorize", "toy-remote", "--layers", "2-9", "-o", str(tmp_path / "b.safetensors"))
    assert result.exit_code == 1
    assert "layer 9 in '2-9' is out of range: valid indices are 0-3" in result.output
