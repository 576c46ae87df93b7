"""`sefa-zoo list` and `sefa-zoo info`, through typer's runner."""

import hashlib
import json

import pytest
import torch
import yaml
from typer.testing import CliRunner

from sefa_zoo.catalogue import load_catalogue
from sefa_zoo.fetching import cached_path
from sefa_zoo.cli.catalogue import human_size
from sefa_zoo.cli.main import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def write_user_catalogue(config_dir, *entries):
    path = config_dir / "zoo.yaml"
    path.write_text(yaml.safe_dump({"models": list(entries)}, sort_keys=False))
    return path


def local_entry(name, path, **fields):
    entry = {
        "name": name,
        "architecture": "stylegan2",
        "layout": "rosinality",
        "source": {"kind": "local", "path": str(path)},
        "resolution": 8,
        "z_dim": 16,
        "w_dim": 16,
        "num_layers": 4,
        "license": "cc0-1.0",
        "provenance": "random weights made by the test",
        "description": "a tiny StyleGAN2 in rosinality's layout",
    }
    entry.update(fields)
    return entry


def tiny_rosinality_checkpoint(path, channels=8, w_dim=16):
    """A rosinality-style `{'g_ema': state_dict}` of an 8x8 StyleGAN2 generator (random weights)."""
    g = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    state = {"input.input": rand(1, channels, 4, 4)}
    for i in range(1, 3):
        state[f"style.{i}.weight"] = rand(w_dim, w_dim)
        state[f"style.{i}.bias"] = torch.zeros(w_dim)
    for module in ("conv1", "convs.0", "convs.1"):
        state[f"{module}.conv.weight"] = rand(1, channels, channels, 3, 3)
        state[f"{module}.conv.modulation.weight"] = rand(channels, w_dim)
        state[f"{module}.conv.modulation.bias"] = torch.ones(channels)
        state[f"{module}.noise.weight"] = torch.zeros(1)
        state[f"{module}.activate.bias"] = torch.zeros(channels)
    for module in ("to_rgb1", "to_rgbs.0"):
        state[f"{module}.conv.weight"] = rand(1, 3, channels, 1, 1)
        state[f"{module}.conv.modulation.weight"] = rand(channels, w_dim)
        state[f"{module}.conv.modulation.bias"] = torch.ones(channels)
        state[f"{module}.bias"] = torch.zeros(1, 3, 1, 1)
    for i, size in enumerate((4, 8, 8)):
        state[f"noises.noise_{i}"] = rand(1, 1, size, size)
    torch.save({"g_ema": state, "latent_avg": rand(w_dim)}, path)
    return path


# --- list ----------------------------------------------------------------------------------


def test_list_shows_every_model(config_dir):
    result = run("list")
    assert result.exit_code == 0, result.output
    for name, entry in load_catalogue().entries.items():
        line = next(line for line in result.stdout.splitlines() if f" {name} " in line)
        assert entry.architecture in line and entry.license in line
        assert f" {entry.resolution} " in line and f" {entry.num_layers} " in line
        assert human_size(entry.source.size) in line
        cached = "yes" if cached_path(entry) is not None else "no"  # only the shipped demo model is local
        assert line.rstrip().split()[-1 - len(entry.license.split())] == cached, name
    assert result.stderr == ""


def test_list_json_is_only_json(config_dir):
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    catalogue = load_catalogue()
    assert [item["name"] for item in payload] == list(catalogue.entries)
    for item in payload:
        entry = catalogue.get(item["name"])
        assert item.pop("cached") is (cached_path(entry) is not None)
        assert item == entry.to_dict()


def test_list_pattern_and_arch(config_dir, tmp_path):
    write_user_catalogue(config_dir, local_entry("tiny", tmp_path / "g.pt", architecture="dcgan"))
    names = lambda result: [item["name"] for item in json.loads(result.stdout)]  # noqa: E731
    assert names(run("list", "stylegan2-c*", "--json")) == ["stylegan2-car", "stylegan2-cat", "stylegan2-church"]
    assert names(run("list", "--arch", "dcgan", "--json")) == ["tiny"]
    assert set(names(run("list", "human", "--json"))) >= {"stylegan-human-v2-512", "stylegan-human-v2-1024-pkl"}
    result = run("list", "stylegan2-c*")
    assert "stylegan2-church" in result.stdout and "stylegan2-ffhq" not in result.stdout
    result = run("list", "nothing-like-this", "--arch", "dcgan")
    assert result.exit_code == 0
    assert "No models matching 'nothing-like-this' and of architecture 'dcgan'" in result.stderr


def test_list_marks_cached_models_and_prints_notices(config_dir, tmp_path):
    present = tiny_rosinality_checkpoint(tmp_path / "g.pt")
    write_user_catalogue(
        config_dir,
        local_entry("tiny", present),
        local_entry("absent", tmp_path / "missing.pt"),
        local_entry("stylegan2-car", present),
    )
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    cached = {item["name"]: item["cached"] for item in json.loads(result.stdout)}
    assert cached["tiny"] is True and cached["absent"] is False and cached["stylegan2-car"] is True
    assert "Note: user catalogue" in result.stderr
    assert "overrides 'stylegan2-car' from the built-in catalogue" in result.stderr
    table = run("list", "tiny").stdout
    assert next(line for line in table.splitlines() if " tiny " in line).split()[-2] == "yes"


def test_list_reports_a_broken_user_catalogue(config_dir):
    (config_dir / "zoo.yaml").write_text("models:\n  - name: x\n    resolution: [\n")
    result = run("list")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "zoo.yaml:" in result.stderr
    assert "YAML syntax error" in result.stderr


# --- info ----------------------------------------------------------------------------------


def test_info_of_an_uncached_hub_model(config_dir):
    result = run("info", "stylegan2-car")
    assert result.exit_code == 0, result.output
    entry = load_catalogue().get("stylegan2-car")
    text = " ".join(result.stdout.split())  # rich may wrap long values
    for value in (entry.source.describe(), entry.source.revision, entry.source.sha256, entry.license,
                  "512 (512×384)", "123.9 MB", "Karras et al.", "black bands"):
        assert value in text
    assert "sefa-zoo download stylegan2-car" in text
    assert "projection layers" not in text


def test_info_json_of_an_uncached_model(config_dir):
    result = run("info", "stylegan2ada-metfaces-pkl", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["cached"] is False and payload["path"] is None and payload["layers"] is None
    assert payload["source"]["revision"] == "7d9a80d433e2a63592e73622d3606d600f1fd46e"
    assert payload["origin"] == "the built-in catalogue"


def test_info_of_an_unknown_model_suggests_names(config_dir):
    result = run("info", "stylegan2-chruch")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unknown model 'stylegan2-chruch' (did you mean stylegan2-church,")
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_info_of_a_cached_model_shows_the_layer_table(config_dir, tmp_path):
    checkpoint = tiny_rosinality_checkpoint(tmp_path / "g.pt")
    write_user_catalogue(config_dir, local_entry("tiny", checkpoint))
    result = run("info", "tiny", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["cached"] is True and payload["path"] == str(checkpoint)
    layers = payload["layers"]
    assert [layer["index"] for layer in layers] == [0, 1, 2, 3]
    assert [layer["level"] for layer in layers] == [4, 8, 8, 8]
    assert all(layer["shape"] == [8, 16] for layer in layers)
    assert layers[-1]["kind"] == "torgb"

    result = run("info", "tiny")
    assert result.exit_code == 0, result.output
    assert "tiny: projection layers" in result.stdout
    assert "not in the catalogue (shown when the file is first fetched)" in result.stdout
    rows = [[cell.strip() for cell in line.split("│") if cell.strip()]
            for line in result.stdout.splitlines() if "8×16" in line]
    assert rows == [[str(layer["index"]), layer["name"], str(layer["level"]), layer["kind"], "8×16"]
                    for layer in layers]


def test_info_of_a_cached_file_that_is_not_the_declared_architecture(config_dir, tmp_path):
    junk = tmp_path / "junk.pt"
    torch.save({"something": torch.zeros(3)}, junk)
    write_user_catalogue(config_dir, local_entry("junk", junk))
    result = run("info", "junk")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "junk.pt" in result.stderr


@pytest.mark.parametrize(("size", "text"), [(None, "?"), (999, "999 B"), (123949595, "123.9 MB"),
                                            (1_500_000_000, "1.5 GB")])
def test_human_size(size, text):
    assert human_size(size) == text


def test_info_shows_the_hash_of_a_fetched_file_the_catalogue_has_none_for(config_dir, tmp_path):
    checkpoint = tiny_rosinality_checkpoint(tmp_path / "g.pt")
    write_user_catalogue(config_dir, local_entry("tiny", checkpoint))
    assert run("download", "tiny").exit_code == 0
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    result = run("info", "tiny")
    assert result.exit_code == 0, result.output
    assert f"not in the catalogue; the cached file's is {digest}" in " ".join(result.stdout.split())
