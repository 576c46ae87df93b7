import json
import os

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
    neither = run("factorize")
    assert neither.exit_code == 1
    assert neither.output == "Error: give a catalogue MODEL (see `sefa-zoo list`) or --checkpoint FILE\n"
    both = run("factorize", "x", "--checkpoint", str(path))
    assert both.exit_code == 1
    assert both.output == "Error: give a catalogue MODEL or --checkpoint FILE, not both\n"


def test_missing_and_unrecognised_checkpoints(toy, tmp_path):
    result = run("factorize", "--checkpoint", str(tmp_path / "nope.pt"))
    assert result.exit_code == 1 and "no such checkpoint file" in result.output
    other = tmp_path / "other.safetensors"
    save_file({"something.else": torch.zeros(2, 2)}, str(other))
    result = run("factorize", "--checkpoint", str(other))
    assert result.exit_code == 1 and "no registered architecture recognises" in result.output


def test_a_folder_without_one_checkpoint_or_a_pipe_is_named_so(toy, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    result = run("factorize", "--checkpoint", str(folder))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {folder}: no checkpoint file in this folder (")
    (folder / "a.pt").write_bytes(b"")
    (folder / "b.safetensors").write_bytes(b"")
    result = run("factorize", "--checkpoint", str(folder))
    assert result.exit_code == 1
    assert result.output == f"Error: {folder}: holds several checkpoint files (a.pt, b.safetensors); name one\n"
    os.mkfifo(tmp_path / "pipe")
    result = run("factorize", "--checkpoint", str(tmp_path / "pipe"))
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path / 'pipe'}: is a named pipe, not a checkpoint file\n"


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


# where the bank goes


def test_output_at_a_named_pipe_is_refused_before_the_work(toy, tmp_path):
    path, _ = toy
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    result = run("factorize", "--checkpoint", str(path), "-o", str(pipe))
    assert result.exit_code == 1
    assert result.output == f"Error: {pipe}: is a named pipe, not a regular file; refusing to replace it\n"
    assert pipe.is_fifo()


def test_output_through_a_link_to_a_device_is_refused(toy, tmp_path):
    path, _ = toy
    link = tmp_path / "out.safetensors"
    link.symlink_to(os.devnull)
    result = run("factorize", "--checkpoint", str(path), "-o", str(link))
    assert result.exit_code == 1 and "is a character device" in result.output
    assert link.is_symlink()


def test_output_may_not_be_the_checkpoint(toy, tmp_path):
    path, _ = toy
    before = path.read_bytes()
    os.link(path, tmp_path / "b_factor.pt")
    for args in (["-o", str(path)], ["-o", str(tmp_path / "b.safetensors"), "--export", "rosinality"]):
        result = run("factorize", "--checkpoint", str(path), *args)
        assert result.exit_code == 1, result.output
        assert "is the input file" in result.output and result.output.count("\n") == 1
    assert path.read_bytes() == before
    assert not (tmp_path / "b.safetensors").exists()


def test_output_may_not_be_the_cached_catalogue_model(register_plugin, toy, tmp_path):
    path, _ = toy

    class Entries:
        @hookimpl
        def register_catalogue_entries(self, register):
            register({
                "name": "toy-local", "architecture": "toyarch", "layout": "plain",
                "source": {"kind": "local", "path": str(path)},
                "resolution": 32, "num_layers": 4, "license": "test", "provenance": "test",
                "description": "a local file",
            })

    register_plugin(Entries(), "toy-entries")
    before = path.read_bytes()
    result = run("factorize", "toy-local", "-o", str(path))
    assert result.exit_code == 1 and "is the input file" in result.output
    assert path.read_bytes() == before


def test_trailing_slash_or_existing_folder_gets_the_default_name(toy, tmp_path):
    path, _ = toy
    result = run("factorize", "--checkpoint", str(path), "-o", f"{tmp_path}/new/", "--export", "npy")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [
        "toy_layers0-3.safetensors", "toy_layers0-3_directions.npy", "toy_layers0-3_eigenvalues.npy"]
    result = run("factorize", "--checkpoint", str(path), "-o", str(tmp_path / "new"), "--layers", "1")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / "toy_layers1.safetensors").is_file()


def test_a_file_where_the_output_folder_should_be_is_named(toy, tmp_path):
    path, _ = toy
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for output in (f"{notes}/bank.safetensors", f"{notes}/"):
        result = run("factorize", "--checkpoint", str(path), "-o", output)
        assert result.exit_code == 1
        assert result.output.startswith(f"Error: {notes}/") and result.output.endswith(f"{notes} is not a folder\n")
    assert notes.read_text() == "mine"


def test_errors_about_the_output_name_it_not_the_partial_file(toy, tmp_path):
    path, _ = toy
    output = tmp_path / ("b" * 240)
    result = run("factorize", "--checkpoint", str(path), "-o", str(output))
    assert result.exit_code == 1
    assert result.output == f"Error: {output}: File name too long\n"


def test_replacing_a_bank_says_so(toy, tmp_path):
    path, _ = toy
    out = tmp_path / "b.safetensors"
    first = run("factorize", "--checkpoint", str(path), "-o", str(out), "--export", "rosinality")
    assert f"wrote {out}\n" in first.output and "replaced" not in first.output
    second = run("factorize", "--checkpoint", str(path), "-o", str(out), "--export", "rosinality", "--export", "npy")
    assert f"replaced {out}\n" in second.output
    assert f"replaced {tmp_path / 'b_factor.pt'}\n" in second.output
    assert f"wrote {tmp_path / 'b_directions.npy'}\n" in second.output
    data = json.loads(run("factorize", "--checkpoint", str(path), "-o", str(out), "--json").output)
    assert data["replaced"] == [str(out)]


def test_bank_and_exports_appear_together_or_not_at_all(toy, tmp_path, monkeypatch):
    path, _ = toy
    out = tmp_path / "b.safetensors"
    out.write_bytes(b"an earlier bank")

    def interrupted(obj, f, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    result = run("factorize", "--checkpoint", str(path), "-o", str(out), "--export", "npy", "--export", "rosinality")
    assert result.exit_code == 130 and result.output == "Error: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.safetensors", "toy.safetensors"]
    assert out.read_bytes() == b"an earlier bank"


# which architecture a --layout means


class TwoLayoutToy(Architecture):
    """One 'style' layer stored either as (outputs x latent) or transposed; detection sees only names."""

    name = "twolayout"
    layouts = {"rows": "two.proj0.weight is (outputs x latent)", "columns": "two.proj0.weight is transposed"}
    latent_space = "w"

    def detect(self, checkpoint):
        return "rows" if "two.proj0.weight" in checkpoint else None

    def layers(self, checkpoint, *, layout=None, **options):
        layout = self.resolve_layout(checkpoint, layout)
        rows, latent = checkpoint.shape("two.proj0.weight")
        if layout == "columns":
            rows, latent = latent, rows
        return [ProjectionLayer(0, "proj0", rows, latent, 4)]

    def projection(self, checkpoint, indices, *, layout=None, **options):
        weight = checkpoint["two.proj0.weight"]
        return [weight.T if self.resolve_layout(checkpoint, layout) == "columns" else weight]


class SecondPlainToy(ToyArchitecture):
    name = "toyarch2"

    def detect(self, checkpoint):
        return None


class ToyArchitecturesPlugin:
    @hookimpl
    def register_architectures(self, register):
        register(TwoLayoutToy())
        register(SecondPlainToy())


@pytest.fixture
def two_layout_file(register_plugin, tmp_path):
    register_plugin(ToyArchitecturesPlugin(), "two-layout-plugin")
    path = tmp_path / "two.safetensors"
    save_file({"two.proj0.weight": torch.randn(6, 12, generator=torch.Generator().manual_seed(1))}, str(path))
    return path


def test_layout_without_arch_means_the_architecture_that_declares_it(two_layout_file, tmp_path):
    out = tmp_path / "b.safetensors"
    result = run("factorize", "--checkpoint", str(two_layout_file), "--layout", "columns", "-o", str(out))
    assert result.exit_code == 0, result.output
    bank = load_bank(out)
    assert (bank.architecture, bank.layout, bank.latent_dim) == ("twolayout", "columns", 6)


def test_layout_of_several_architectures_asks_for_arch(toy, two_layout_file, tmp_path):
    path, _ = toy
    result = run("factorize", "--checkpoint", str(path), "--layout", "plain", "-o", str(tmp_path / "b.safetensors"))
    assert result.exit_code == 1
    assert result.output == (
        "Error: layout 'plain' is a layout of several architectures (toyarch, toyarch2); pass --arch\n")
    result = run("factorize", "--checkpoint", str(path), "--layout", "plain", "--arch", "toyarch",
                 "-o", str(tmp_path / "b.safetensors"))
    assert result.exit_code == 0, result.output


def test_unknown_layout_lists_the_known_ones(toy, tmp_path):
    path, _ = toy
    result = run("factorize", "--checkpoint", str(path), "--layout", "fancy", "-o", str(tmp_path / "b.safetensors"))
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("Error: no registered architecture has a layout 'fancy' (known: ")
    assert "plain" in result.output and "rosinality" in result.output
    assert not (tmp_path / "b.safetensors").exists()
