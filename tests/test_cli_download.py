"""`sefa-zoo download` through typer's runner, against the loopback Hub."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time

import pytest
from huggingface_hub import constants
from support.hub_server import HubServer, Payload, hub, no_retry_wait, unused_endpoint  # noqa: F401  (fixtures)
from typer.testing import CliRunner

from sefa_zoo.cli.main import app
from sefa_zoo.hookspecs import hookimpl

DATA = b"generator weights " * 300
SHA = hashlib.sha256(DATA).hexdigest()


def entry(name, source):
    return {
        "name": name, "architecture": "stylegan2", "layout": "rosinality", "resolution": 256,
        "num_layers": 14, "license": "MIT", "provenance": "tests", "description": "a test model",
        "source": source,
    }


class EntriesPlugin:
    def __init__(self, *entries):
        self.entries = entries

    @hookimpl
    def register_catalogue_entries(self, register):
        for item in self.entries:
            register(item)


@pytest.fixture
def zoo(hub: HubServer, register_plugin):
    """Catalogue models served by the loopback Hub: good, unpinned, corrupted, and a plain URL."""
    good = hub.add_repo("org/good", {"G.pt": DATA})
    bad = hub.add_repo("org/bad", {"G.pt": Payload(DATA, corrupt=True)})
    url = hub.add_url("G.pt", DATA)
    register_plugin(EntriesPlugin(
        entry("test-good", {"kind": "hub", "repo_id": "org/good", "filename": "G.pt",
                            "revision": good.commit, "sha256": SHA, "size": len(DATA)}),
        entry("test-unpinned", {"kind": "hub", "repo_id": "org/good", "filename": "G.pt",
                                "revision": good.commit, "sha256": None}),
        entry("test-corrupt", {"kind": "hub", "repo_id": "org/bad", "filename": "G.pt",
                               "revision": bad.commit, "sha256": SHA}),
        entry("test-url", {"kind": "url", "url": url, "sha256": SHA}),
    ), "test-entries")
    return hub


def run(*args):
    return CliRunner().invoke(app, ["download", "--no-progress", *args])


def assert_one_line_error(result, pattern):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert re.search(pattern, lines[0]), lines[0]


def test_download_prints_path_and_verified_sha256(zoo):
    result = run("test-good", "test-url")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[0] == "test-good"
    assert out[1].startswith("  path    ") and out[1].endswith("/snapshots/" + zoo.repos["org/good"].commit + "/G.pt")
    assert out[2] == f"  sha256  {SHA} (matches the catalogue)"
    assert out[3] == "test-url"
    assert out[4].endswith(f"/downloads/{SHA}/G.pt")
    assert out[5] == f"  sha256  {SHA} (matches the catalogue)"
    assert len(zoo.seen("GET")) == 2

    again = run("test-good", "test-url")
    assert again.stdout == result.stdout
    assert len(zoo.seen("GET")) == 2  # cached: nothing downloaded again


def test_a_model_without_sha256_gets_its_hash_shown(zoo, caplog):
    with caplog.at_level(logging.WARNING, logger="sefa_zoo"):
        result = run("test-unpinned")
        run("test-unpinned")
    assert result.exit_code == 0, result.output
    assert f"  sha256  {SHA} (not in the catalogue)" in result.stdout
    # The library's note (on stderr outside pytest) comes once: the second run finds the hash remembered.
    (note,) = [r.getMessage() for r in caplog.records if r.name.startswith("sefa_zoo")]
    assert SHA in note and "the catalogue gives no sha256" in note


def test_an_unknown_model_fails_before_anything_is_downloaded(zoo):
    result = run("test-good", "test-goood-typo")
    assert_one_line_error(result, r"test-goood-typo")
    assert zoo.requests == []


def test_a_checksum_mismatch_is_an_error(zoo):
    result = run("test-corrupt")
    assert_one_line_error(result, rf"^Error: model 'test-corrupt': sha256 mismatch for .*: expected {SHA}, got ")


def test_a_network_failure_is_an_error(zoo, monkeypatch):
    endpoint = unused_endpoint()
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    result = run("test-good")
    assert_one_line_error(result, rf"^Error: model 'test-good': could not reach {re.escape(endpoint)} to download ")


def test_offline_and_not_cached_is_an_error(zoo, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    result = run("test-good")
    assert_one_line_error(result, r"HF_HUB_OFFLINE is set; run `sefa-zoo download test-good` while online$")
    assert zoo.requests == []


# --- the real command in its own process: time bounds and nothing on stderr but our lines ------


def sefa_zoo_process(hub: HubServer, tmp_path, *models, env: dict[str, str] | None = None):
    """`sefa-zoo download --no-progress MODELS` run as a user runs it, with the models in a
    user catalogue file; returns the finished process and how long it took."""
    catalogue = tmp_path / "zoo.yaml"
    if not catalogue.exists():
        catalogue.write_text(json.dumps({"models": [entry(name, source) for name, source in models]}))
    environment = {
        **os.environ, "SEFA_ZOO_CATALOGUE": str(catalogue), "HF_ENDPOINT": hub.endpoint,
        "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "SEFA_ZOO_CACHE": str(tmp_path / "sefa-zoo-cache"),
        **(env or {}),
    }
    for name in ("HF_HUB_VERBOSITY", "HF_DEBUG", "HF_HUB_OFFLINE", "HF_TOKEN"):
        if name not in (env or {}):
            environment.pop(name, None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sefa_zoo", "download", "--no-progress", *[name for name, _ in models]],
        env=environment, capture_output=True, text=True, timeout=120,
    )
    return result, time.monotonic() - started


def pinned(repo, **extra):
    return {"kind": "hub", "repo_id": "org/good", "filename": "G.pt", "revision": repo.commit, **extra}


def assert_one_error_line(result, pattern):
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert re.search(pattern, result.stderr), result.stderr


def test_an_unreachable_hub_fails_within_seconds_with_one_line(hub, tmp_path):
    repo = hub.add_repo("org/good", {"G.pt": DATA})
    endpoint = unused_endpoint()
    result, seconds = sefa_zoo_process(hub, tmp_path, ("test-good", pinned(repo, sha256=SHA)),
                                       env={"HF_ENDPOINT": endpoint})
    assert_one_error_line(result, rf"^Error: model 'test-good': could not reach {re.escape(endpoint)} to download "
                                  r".*not in the local cache .*HF_HUB_OFFLINE=1")
    assert seconds < 12  # huggingface_hub on its own retries for about 25 s


def test_a_hub_that_hangs_fails_within_the_etag_timeout(hub, tmp_path):
    repo = hub.add_repo("org/good", {"G.pt": DATA})
    hub.answering = "hang"
    result, seconds = sefa_zoo_process(hub, tmp_path, ("test-good", pinned(repo, sha256=SHA)),
                                       env={"HF_HUB_ETAG_TIMEOUT": "1"})
    assert_one_error_line(result, r"^Error: model 'test-good': could not reach .*: timed out; .*HF_HUB_OFFLINE=1")
    assert seconds < 12


def test_a_huge_announced_size_is_one_line(hub, tmp_path):
    repo = hub.add_repo("org/good", {"G.pt": Payload(DATA, announced=10**15)})
    result, _ = sefa_zoo_process(hub, tmp_path, ("test-good", pinned(repo, sha256=SHA)))
    assert_one_error_line(result, r"^Error: model 'test-good': the server announces 1000000000000000 bytes for ")


@pytest.mark.parametrize("verbosity", [None, "warning"])
def test_huggingface_hub_logs_stay_off_stderr_unless_asked_for(hub, tmp_path, verbosity):
    # A dropped connection makes huggingface_hub log a warning and resume; an unpinned hash makes
    # sefa-zoo log a note of its own, which shows.
    repo = hub.add_repo("org/good", {"G.pt": Payload(DATA, drops=1, drop_after=100)})
    env = {"HF_HUB_VERBOSITY": verbosity} if verbosity else {}
    result, _ = sefa_zoo_process(hub, tmp_path, ("test-unpinned", pinned(repo, sha256=None)), env=env)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("Note: model 'test-unpinned'")]
    assert len(notes) == 1 and SHA in notes[0]
    if verbosity is None:
        assert result.stderr.splitlines() == notes
    else:
        assert "Trying to resume download" in result.stderr


# --- a model whose config.json comes with its weights --------------------------------------------


@pytest.fixture
def biggan_zoo(hub: HubServer, register_plugin, tmp_path):
    """A small BigGAN-deep served as osanseviero/BigGAN-deep-128 serves the real one: the weights
    and config.json side by side at one revision, the catalogue entry naming the config as a companion."""
    from sefa_zoo_plugins.biggan_deep import (
        random_biggan_state,
        save_biggan,
        small_config,
    )

    config = small_config()
    folder = save_biggan(random_biggan_state(config), config, tmp_path / "made").parent
    weights, config_bytes = (folder / "pytorch_model.bin").read_bytes(), (folder / "config.json").read_bytes()
    repo = hub.add_repo("org/BigGAN-deep-16", {"pytorch_model.bin": Payload(weights, via_cdn=True),
                                               "config.json": config_bytes})
    register_plugin(EntriesPlugin({
        "name": "test-biggan", "architecture": "biggan-deep", "layout": "pretrained-biggan", "resolution": 16,
        "num_layers": 1, "z_dim": 8, "license": "Apache-2.0", "provenance": "tests", "description": "a test model",
        "source": {"kind": "hub", "repo_id": "org/BigGAN-deep-16", "filename": "pytorch_model.bin",
                   "revision": repo.commit, "sha256": hashlib.sha256(weights).hexdigest(), "size": len(weights),
                   "companions": {"config.json": {"size": len(config_bytes),
                                                  "sha256": hashlib.sha256(config_bytes).hexdigest()}}},
    }), "test-biggan")
    return repo


def test_download_fetches_the_config_beside_the_weights(biggan_zoo):
    listed = CliRunner().invoke(app, ["list", "--json"])
    assert [m["cached"] for m in json.loads(listed.stdout) if m["name"] == "test-biggan"] == [False]
    result = run("test-biggan")
    assert result.exit_code == 0, result.output
    snapshot = os.path.join(constants.HF_HUB_CACHE, "models--org--BigGAN-deep-16", "snapshots", biggan_zoo.commit)
    assert sorted(os.listdir(snapshot)) == ["config.json", "pytorch_model.bin"]
    listed = CliRunner().invoke(app, ["list", "--json"])
    model = next(m for m in json.loads(listed.stdout) if m["name"] == "test-biggan")
    assert model["cached"] is True and list(model["source"]["companions"]) == ["config.json"]
    os.remove(os.path.join(snapshot, "config.json"))
    listed = CliRunner().invoke(app, ["list", "--json"])
    assert [m["cached"] for m in json.loads(listed.stdout) if m["name"] == "test-biggan"] == [False]


def test_factorize_and_edit_a_catalogue_model_fetch_its_config(biggan_zoo, tmp_path):
    result = CliRunner().invoke(app, ["factorize", "test-biggan", "-k", "3", "-o", tmp_path / "bank.safetensors",
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["architecture"], report["layout"], report["layers"]) == ("biggan-deep", "pretrained-biggan", [0])
    snapshot = os.path.join(constants.HF_HUB_CACHE, "models--org--BigGAN-deep-16", "snapshots", biggan_zoo.commit)
    os.remove(os.path.join(snapshot, "config.json"))
    result = CliRunner().invoke(app, ["edit", "test-biggan", "--class", "3", "-d", "0", "-s", "0", "--steps", "2",
                                      "-o", tmp_path / "edits"])
    assert result.exit_code == 0, result.output
    assert os.path.isfile(os.path.join(snapshot, "config.json"))


def test_a_companion_that_does_not_match_is_a_one_line_error(biggan_zoo):
    biggan_zoo.files["config.json"] = Payload(biggan_zoo.files["config.json"].data, corrupt=True)
    assert_one_line_error(run("test-biggan"), r"model 'test-biggan': sha256 mismatch for .*config\.json")
