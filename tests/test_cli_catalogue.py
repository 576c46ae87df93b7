"""`sefa-zoo list` and `sefa-zoo info`, through typer's runner."""

import hashlib
import json
import os
import re

import pytest
import torch
import yaml
from typer.testing import CliRunner

from sefa_zoo import CatalogueEntry
from sefa_zoo.catalogue import find_entries, load_catalogue
from sefa_zoo.fetching import cached_path
from sefa_zoo.cli.catalogue import entry_size, human_size, short_license
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
    rows = {row["name"]: row for row in table_rows(result.stdout)}
    catalogue = load_catalogue()
    assert list(rows) == list(catalogue.entries)
    for name, entry in catalogue.entries.items():
        cached = "yes" if cached_path(entry) is not None else "no"  # only the shipped demo model is local
        assert rows[name] == {"name": name, "architecture": entry.architecture, "resolution": str(entry.resolution),
                              "layers": str(entry.num_layers), "size": entry_size(entry),
                              "cached": cached, "license": entry.license}
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
    assert names(run("list", "stylegan2-c*-tf", "--json")) == ["stylegan2-car-tf", "stylegan2-cat-tf", "stylegan2-church-tf"]
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
    assert table_rows(run("list", "tiny").stdout)[0]["cached"] == "yes"


def table_rows(output):
    """The cells of each table row of `list` output, by the names of its columns."""
    lines = output.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"})
    headers = lines[rule - 1].split()
    # cells hold single spaces at most ("123.9 MB"); columns are two or more apart
    return [dict(zip(headers, re.split(r"\s{2,}", line.strip()))) for line in lines[rule + 1:] if line.strip()]


@pytest.mark.parametrize(("width", "columns"), [
    # several architectures: the column stays, and at 80 the license goes first (`info` shows it)
    (80, ["name", "arch", "res", "size", "cached"]),
    (100, ["name", "architecture", "resolution", "size", "cached", "license"]),
])
def test_list_fits_the_terminal_and_never_cuts_a_name(config_dir, width, columns):
    result = runner.invoke(app, ["list"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= width
    assert "…" not in result.stdout
    rows = table_rows(result.stdout)
    catalogue = load_catalogue()
    assert [row["name"] for row in rows] == list(catalogue.entries)
    for row in rows:
        entry = catalogue.get(row["name"])
        assert row["size"] == entry_size(entry)
        assert row.get("license", short_license(entry)) == short_license(entry)
    assert list(rows[0]) == columns
    assert "models)" not in result.stdout


def test_list_of_one_architecture_names_it_once_in_the_title(config_dir):
    result = runner.invoke(app, ["list", "--arch", "stylegan2"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert "(stylegan2 models)" in result.stdout and "arch" not in rows[0] and "license" in rows[0]
    assert [row["name"] for row in rows] == [e.name for e in find_entries(architecture="stylegan2")]


def test_list_at_a_wide_terminal_shows_every_column(config_dir):
    result = runner.invoke(app, ["list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert list(rows[0]) == ["name", "architecture", "resolution", "layers", "size", "cached", "license"]
    assert {row["license"] for row in rows} == {entry.license for entry in load_catalogue().entries.values()}


def test_list_keeps_the_architecture_when_models_differ(config_dir, tmp_path):
    write_user_catalogue(config_dir, local_entry("a-much-longer-model-name-than-any-shipped-one", tmp_path / "g.pt",
                                                  architecture="dcgan"))
    result = runner.invoke(app, ["list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows[-1]["name"] == "a-much-longer-model-name-than-any-shipped-one"
    assert {row["arch"] for row in rows} == {entry.architecture for entry in load_catalogue().entries.values()}
    assert "dcgan" in {row["arch"] for row in rows}
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert list(rows[0]) == ["name", "arch", "res", "cached"]  # the leanest layout: info shows the rest


def test_list_on_a_terminal_too_narrow_for_any_layout_wraps_rather_than_cuts(config_dir):
    result = runner.invoke(app, ["list"], env={"COLUMNS": "30"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert [row["name"] for row in table_rows(result.stdout)] == list(load_catalogue().entries)


@pytest.mark.parametrize(("license", "short", "label"), [
    ("upstream terms (NVIDIA non-commercial)", None, "upstream terms"),
    ("upstream terms (NVIDIA non-commercial)", "NVIDIA NC", "NVIDIA NC"),
    ("MIT (sefa-zoo's own model, trained on procedurally generated images)", None, "MIT"),
    ("cc-by-4.0, with attribution to the authors", None, "cc-by-4.0"),
    ("a licence with a very long name and no parenthesis at all", None, "a licence with a very lo…"),
])
def test_short_license(license, short, label):
    entry = CatalogueEntry.from_dict(local_entry("m", "/g.pt", license=license, license_short=short))
    assert short_license(entry) == label


def test_a_broken_user_catalogue_is_a_warning_and_commands_still_work(config_dir, tmp_path, monkeypatch):
    (config_dir / "zoo.yaml").write_text("models:\n  - name: x\n    resolution: [\n")
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump([local_entry("fine", tmp_path / "g.pt"),
                                     local_entry("dated", tmp_path / "g.pt", resolution="2001-13-45"),
                                     local_entry("escape", tmp_path / "g.pt", source={
                                         "kind": "hub", "repo_id": "a/b", "filename": "../../g.pt",
                                         "revision": "0" * 40})]).replace("'2001-13-45'", "2001-13-45"))
    monkeypatch.setenv("SEFA_ZOO_CATALOGUE", os.pathsep.join([str(other), str(tmp_path / "missing.yaml")]))
    result = run("list")
    assert result.exit_code == 0, result.output
    warnings = result.stderr.splitlines()
    assert len(warnings) == 4 and all(line.startswith("Warning: ") for line in warnings)
    for expected in (r"zoo\.yaml:\d+: YAML syntax error: .*; file ignored",
                     r"other\.yaml:\d+: entry 'dated': field 'resolution' .*; entry ignored",
                     r"other\.yaml:\d+: entry 'escape': field 'source.filename' .*; entry ignored",
                     r"missing\.yaml, which is not a file; ignored"):
        assert sum(bool(re.search(expected, line)) for line in warnings) == 1, expected
    names = [row["name"] for row in table_rows(result.stdout)]
    assert "fine" in names and "stylegan2-car" in names and "dated" not in names
    assert run("info", "stylegan2-car").exit_code == 0


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


def test_a_rounded_size_is_shown_where_the_exact_one_is_unknown(config_dir, tmp_path):
    exact = local_entry("exact-size", tmp_path / "a.pt")
    exact["source"]["size"] = 123_949_595
    rounded = local_entry("rounded-size", tmp_path / "b.pt", approx_size=364_000_000)
    unknown = local_entry("unknown-size", tmp_path / "c.pt")
    write_user_catalogue(config_dir, exact, rounded, unknown)
    sizes = {row["name"]: row["size"] for row in table_rows(run("list", "size").stdout)}
    assert sizes == {"exact-size": "123.9 MB", "rounded-size": "~364 MB", "unknown-size": "?"}
    info = " ".join(run("info", "rounded-size").stdout.split())
    assert "size ~364 MB (rounded; the exact size is not known)" in info
    assert load_catalogue().get("rounded-size").source.size is None  # never used to check a download


def test_every_shipped_entry_has_an_exact_or_a_rounded_size_but_the_two_the_reference_gives_none_for():
    unsized = {e.name for e in load_catalogue().entries.values() if e.source.size is None and e.approx_size is None}
    assert unsized == {"stylegan-human-v2-1024-public", "stylegan-human-v2-512-public"}


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


def test_info_names_the_files_fetched_with_the_weights(config_dir):
    result = run("info", "biggan-deep-128")
    assert result.exit_code == 0, result.output
    assert [line.split(None, 1)[1].strip() for line in result.stdout.splitlines() if line.startswith("with ")] == [
        "config.json (630 B, sha256 unknown)"]
    assert json.loads(run("info", "biggan-deep-128", "--json").stdout)["source"]["companions"] == {
        "config.json": {"size": 630, "sha256": None}}


@pytest.mark.parametrize(("name", "latent"), [("pggan-celebahq1024", "z 512, 1 layer"),
                                            ("stylegan2-car", "z 512, w 512, 16 layers")])
def test_info_shows_w_only_for_models_that_have_one(config_dir, name, latent):
    result = run("info", name)
    assert result.exit_code == 0, result.output
    assert [line.split(None, 1)[1].strip() for line in result.stdout.splitlines()
            if line.startswith("latent")] == [latent]


def test_info_of_a_local_checkpoint_detects_it_and_shows_its_layers(tmp_path):
    checkpoint = tiny_rosinality_checkpoint(tmp_path / "g.pt")
    result = run("info", "--checkpoint", str(checkpoint), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["architecture"], payload["layout"]) == ("stylegan2", "rosinality")
    assert payload["checkpoint"] == str(checkpoint) and payload["size"] == checkpoint.stat().st_size
    assert [(layer["index"], layer["kind"]) for layer in payload["layers"]] == [
        (0, "conv"), (1, "conv"), (2, "conv"), (3, "torgb")]

    result = run("info", "-c", str(checkpoint), "--option", "torgb=all")
    assert result.exit_code == 0, result.output
    assert "stylegan2 (rosinality layout)" in result.stdout and "g.pt: projection layers" in result.stdout
    assert sum("torgb" in line and "8×16" in line for line in result.stdout.splitlines()) == 2


@pytest.mark.parametrize(("args", "message"), [
    (["tiny", "--checkpoint", "{file}"], "not both"),
    (["--checkpoint", "{missing}"], "no such checkpoint file"),
    (["--checkpoint", "{file}", "--arch", "dcgan"], "g.pt"),
    (["--checkpoint", "{file}", "--option", "torgb"], "KEY=VALUE"),
    (["--checkpoint", "{file}", "--option", "torgb=some"], "torgb"),
    (["tiny", "--arch", "stylegan2"], "--arch and --layout go with --checkpoint"),
    ([], "give a catalogue MODEL"),
])
def test_info_argument_errors_are_one_line(tmp_path, args, message):
    checkpoint = tiny_rosinality_checkpoint(tmp_path / "g.pt")
    args = [a.format(file=checkpoint, missing=tmp_path / "none.pt") for a in args]
    result = run("info", *args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


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
