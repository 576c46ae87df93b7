"""`sefa-zoo download` through typer's runner, against the loopback Hub."""

from __future__ import annotations

import hashlib
import logging
import re

import pytest
from hub_server import HubServer, Payload, hub, no_retry_wait, unused_endpoint  # noqa: F401  (fixtures)
from huggingface_hub import constants
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


def test_a_network_failure_is_an_error(zoo, monkeypatch, no_retry_wait):
    endpoint = unused_endpoint()
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    result = run("test-good")
    assert_one_line_error(result, rf"^Error: model 'test-good': could not reach {re.escape(endpoint)} to download ")


def test_offline_and_not_cached_is_an_error(zoo, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    result = run("test-good")
    assert_one_line_error(result, r"HF_HUB_OFFLINE is set; run `sefa-zoo download test-good` while online$")
    assert zoo.requests == []
