"""Banks straight from the Hub: `factorize --remote` and `factorize --all` against the loopback Hub,
whose files are written by the plugins' own fixture writers in the real layouts."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import constants
from support.hub_server import HubServer, Payload, hub, no_retry_wait, unused_endpoint  # noqa: F401  (fixtures)
from typer.testing import CliRunner

from sefa_zoo.api import READ_CACHED, READ_DOWNLOADED, READ_REMOTELY, factorize_catalogue_model
from sefa_zoo.bank import load_bank
from sefa_zoo.cli.main import app
from sefa_zoo.errors import CheckpointError, ChecksumMismatchError, NetworkError
from sefa_zoo.hookspecs import hookimpl
from sefa_zoo.sources import HubSource

REMOTE_SHARE = 0.15  # of a 1024 file's bytes, at most, to factorize it remotely


def _stylegan2_file(folder: Path, layout: str, resolution: int, name: str) -> bytes:
    from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2

    if resolution == 1024:
        state = random_stylegan2_state(1024)
    else:
        state = random_stylegan2_state(resolution, w_dim=32, z_dim=32, channel_base=256, channel_max=32,
                                       mapping_layers=2)
    return save_stylegan2(state, folder / name, layout).read_bytes()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    """Checkpoint bytes by name: StyleGAN2 1024 as a rosinality torch zip and as a safetensors file,
    small ones as a safetensors file and an NVIDIA pickle."""
    folder = tmp_path_factory.mktemp("checkpoints")
    return {
        "sg1024.pt": _stylegan2_file(folder, "rosinality", 1024, "a.pt"),
        "sg1024.safetensors": _stylegan2_file(folder, "sefa-zoo", 1024, "a.safetensors"),
        "small.safetensors": _stylegan2_file(folder, "sefa-zoo", 32, "b.safetensors"),
        "small.pt": _stylegan2_file(folder, "rosinality", 32, "d.pt"),
        "small.pkl": _stylegan2_file(folder, "nvidia", 32, "c.pkl"),
    }


LAYOUTS = {"safetensors": "sefa-zoo", "pkl": "nvidia", "pt": "rosinality"}


class EntriesPlugin:
    def __init__(self, entries):
        self.entries = entries

    @hookimpl
    def register_catalogue_entries(self, register):
        for item in self.entries:
            register(item)


def entry(name: str, repo_id: str, commit: str, filename: str, data: bytes) -> dict:
    resolution = 1024 if filename.startswith("sg1024") else 32
    return {
        "name": name, "architecture": "stylegan2", "layout": LAYOUTS[filename.rsplit(".", 1)[1]],
        "resolution": resolution, "num_layers": 2 * resolution.bit_length() - 4, "license": "MIT",
        "provenance": "tests", "description": "a test model",
        "source": {"kind": "hub", "repo_id": repo_id, "filename": filename, "revision": commit,
                   "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)},
    }


@pytest.fixture
def zoo(hub: HubServer, register_plugin, files):
    """Every fixture file in one repository of the loopback Hub, each a catalogue model named after its file."""
    commit = hub.add_repo("org/models", dict(files)).commit
    entries = [entry(name.replace(".", "-"), "org/models", commit, name, data) for name, data in files.items()]
    register_plugin(EntriesPlugin(entries), "test-remote-entries")
    return hub


def served(hub: HubServer, filename: str) -> int:
    return hub.payload("org/models", filename).served


def same_numbers(a, b) -> bool:
    return np.array_equal(a.directions, b.directions) and np.array_equal(a.eigenvalues, b.eigenvalues)


def hub_cache_files() -> list[Path]:
    return [p for p in Path(constants.HF_HUB_CACHE).rglob("*") if p.is_file()]


# --- the API ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sg1024.pt", "sg1024.safetensors"])
def test_a_remote_bank_is_the_downloaded_bank_from_a_fraction_of_the_bytes(zoo, files, name):
    model, size = name.replace(".", "-"), len(files[name])
    remote = factorize_catalogue_model(model, remote=True, progress=False)
    assert remote.read == READ_REMOTELY
    assert served(zoo, name) == remote.fetched <= REMOTE_SHARE * size
    assert hub_cache_files() == []  # nothing was downloaded
    bank = remote.bank
    assert bank.read_remotely and bank.checkpoint_revision == zoo.repos["org/models"].commit
    assert bank.checkpoint_sha256 == hashlib.sha256(files[name]).hexdigest()  # the catalogue's, not checked

    downloaded = factorize_catalogue_model(model, progress=False)
    assert downloaded.read == READ_DOWNLOADED and downloaded.fetched == size
    assert same_numbers(remote.bank, downloaded.bank)
    assert not downloaded.bank.read_remotely
    assert downloaded.bank.checkpoint_revision == bank.checkpoint_revision  # every Hub bank records its commit


def test_a_cached_model_is_read_from_the_cache_even_with_remote(zoo):
    factorize_catalogue_model("small-safetensors", progress=False)
    gets = len(zoo.seen("GET"))
    again = factorize_catalogue_model("small-safetensors", remote=True, progress=False)
    assert again.read == READ_CACHED and again.fetched == 0 and not again.bank.read_remotely
    assert len(zoo.seen("GET")) == gets


def test_a_pickle_must_be_read_whole_and_is_downloaded_with_a_note(zoo, files, caplog):
    with caplog.at_level("INFO", logger="sefa_zoo"):
        result = factorize_catalogue_model("small-pkl", remote=True, progress=False)
    assert result.read == READ_DOWNLOADED and not result.bank.read_remotely
    assert any("is a pickle file, which is read only whole" in r.getMessage() and "small-pkl" in r.getMessage()
               for r in caplog.records)
    size = len(files["small.pkl"])
    assert size < result.fetched == served(zoo, "small.pkl")  # the first block, then the whole file


def test_a_hub_that_ignores_ranges_gets_a_download_instead(zoo, files, caplog):
    zoo.payload("org/models", "small.safetensors").ranges = False
    with caplog.at_level("INFO", logger="sefa_zoo"):
        result = factorize_catalogue_model("small-safetensors", remote=True, progress=False)
    assert result.read == READ_DOWNLOADED
    assert any("sends all of" in r.getMessage() for r in caplog.records)
    reference = factorize_catalogue_model("small-safetensors", progress=False)
    assert same_numbers(result.bank, reference.bank)


# --- the byte source ----------------------------------------------------------------------------


def remote_file(hub: HubServer, data: bytes | Payload, filename: str = "G.safetensors"):
    from sefa_zoo.remote import open_remote

    repo = hub.add_repo("org/raw", {filename: data})
    size = len(data.data if isinstance(data, Payload) else data)
    return open_remote(HubSource(repo_id="org/raw", filename=filename, revision=repo.commit, size=size))


def test_reads_come_in_blocks_fetched_once_and_never_past_the_end(hub):
    from sefa_zoo.remote import BLOCK_SIZE

    data = bytes(range(256)) * (BLOCK_SIZE // 64)  # four blocks
    remote, commit = remote_file(hub, data)
    assert commit == hub.repos["org/raw"].commit and len(remote) == len(data)
    assert remote.read(BLOCK_SIZE - 3, 10) == data[BLOCK_SIZE - 3 : BLOCK_SIZE + 7]
    assert remote.read(BLOCK_SIZE + 100, 5) == data[BLOCK_SIZE + 100 : BLOCK_SIZE + 105]
    assert (remote.requests, remote.fetched) == (1, 2 * BLOCK_SIZE)
    assert remote.read(0, len(data)) == data
    assert (remote.requests, remote.fetched) == (2, len(data))  # the two missing blocks, in one request
    with pytest.raises(CheckpointError, match=r"hf://org/raw/G.safetensors@\w+: a read of 2 bytes at offset .* runs past"):
        remote.read(len(data) - 1, 2)
    assert remote.requests == 2
    assert hub.payload("org/raw", "G.safetensors").served == len(data)


def test_a_connection_lost_midway_is_tried_again_then_an_error_not_a_short_read(hub, no_retry_wait):
    from sefa_zoo.remote import BLOCK_SIZE, READ_ATTEMPTS

    data = bytes(range(256)) * (3 * BLOCK_SIZE // 256)
    remote, _ = remote_file(hub, Payload(data, drops=READ_ATTEMPTS - 1, drop_after=100))
    assert remote.read(10, 20) == data[10:30] and remote.requests == READ_ATTEMPTS

    remote, _ = remote_file(hub, Payload(data, drops=READ_ATTEMPTS, drop_after=100), "H.safetensors")
    with pytest.raises(NetworkError, match=r"^incomplete read of hf://org/raw/H.safetensors@\w+: 100 of 65536 bytes came"):
        remote.read(0, 10)


def test_a_connection_lost_inside_a_torch_zip_is_a_network_error_not_a_corrupt_file(hub, files, no_retry_wait):
    from sefa_zoo.remote import open_remote_checkpoint, remote_container

    payload = Payload(files["small.pt"])
    remote, _ = remote_file(hub, payload, "G.pt")
    assert remote_container(remote) == "torch-zip"
    payload.drops = 100  # every read from now on: the central directory at the end of the file first
    with pytest.raises(NetworkError, match=r"^incomplete read of hf://org/raw/G.pt@"):
        open_remote_checkpoint(remote)

    payload = Payload(files["sg1024.pt"])  # big enough for tensors beyond the blocks read at opening
    remote, _ = remote_file(hub, payload, "H.pt")
    checkpoint = open_remote_checkpoint(remote)
    payload.drops = 100  # and now while a tensor is read
    with pytest.raises(NetworkError, match=r"^incomplete read of hf://org/raw/H.pt@"):
        for name in checkpoint:
            checkpoint.array(name)


def test_a_safetensors_header_claiming_more_than_the_file_holds_fetches_nothing_more(hub):
    from sefa_zoo.remote import open_remote_checkpoint

    header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 40], "data_offsets": [0, 4 << 40]}}).encode()
    data = len(header).to_bytes(8, "little") + header + bytes(64)
    remote, _ = remote_file(hub, data)
    with pytest.raises(CheckpointError, match=r"tensor 'w' claims a size of 1099511627776, more than the file"):
        open_remote_checkpoint(remote)
    assert hub.payload("org/raw", "G.safetensors").served == len(data)


def test_a_torch_zip_claiming_huge_members_fetches_no_more_than_the_file(hub, files):
    from sefa_zoo.remote import open_remote_checkpoint

    data = bytearray(files["small.pt"])
    claimed = 0x7FFFFFF0
    position = data.find(b"PK\x01\x02")  # the central directory: every member's sizes, as the zip claims them
    while position != -1:
        name_length = int.from_bytes(data[position + 28 : position + 30], "little")
        if b"/data/" in data[position + 46 : position + 46 + name_length]:
            data[position + 20 : position + 28] = claimed.to_bytes(4, "little") * 2
        position = data.find(b"PK\x01\x02", position + 4)
    remote, _ = remote_file(hub, bytes(data), "G.pt")
    with pytest.raises(CheckpointError, match=r"hf://org/raw/G.pt@\w+: "):
        checkpoint = open_remote_checkpoint(remote)
        for name in checkpoint:
            checkpoint.array(name)
    assert hub.payload("org/raw", "G.pt").served <= len(data)


# --- the CLI ------------------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(app, ["factorize", *args])


def assert_one_line_error(result, pattern):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_cli_remote_writes_a_bank_that_records_the_reading(zoo, tmp_path):
    result = run("small-safetensors", "--remote", "-o", str(tmp_path) + "/")
    assert result.exit_code == 0, result.output
    commit = zoo.repos["org/models"].commit
    assert re.search(rf"read [\d.]+ kB of hf://org/models/small.safetensors@\w+ remotely, at commit {commit}", result.stdout)
    (path,) = tmp_path.glob("small-safetensors_layers*.safetensors")
    bank = load_bank(path)
    assert bank.read_remotely and bank.checkpoint_revision == commit


def test_cli_remote_offline_is_the_one_line_offline_error(zoo, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    result = run("small-safetensors", "--remote")
    assert_one_line_error(result, r"^Error: model 'small-safetensors': .* is not in the local cache and HF_HUB_OFFLINE is set; "
                                  r"run `sefa-zoo download small-safetensors` while online")
    assert zoo.requests == []


def test_cli_remote_unreachable_hub_is_one_line(zoo, monkeypatch):
    endpoint = unused_endpoint()
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    result = run("small-safetensors", "--remote")
    assert_one_line_error(result, rf"^Error: model 'small-safetensors': could not reach {re.escape(endpoint)} ")


def test_cli_remote_refuses_a_local_checkpoint(zoo, tmp_path):
    path = tmp_path / "G.safetensors"
    path.write_bytes(b"x")
    assert_one_line_error(run("--checkpoint", str(path), "--remote"), r"--remote reads a catalogue model")


def test_cli_all_makes_skips_and_sums_up_and_one_failure_stops_nothing(zoo, tmp_path):
    zoo.repos["org/models"].files.pop("small.pkl")  # that model now fails: its file is gone
    out = tmp_path / "banks"
    result = run("--all", "small", "-o", str(out), "--json")
    assert result.exit_code == 1, result.output
    rows = {row["model"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"small-safetensors", "small-pt", "small-pkl"}
    assert rows["small-pt"]["read"] == READ_REMOTELY
    made = rows["small-safetensors"]
    assert made["read"] == READ_REMOTELY and 0 < made["bytes_fetched"] == served(zoo, "small.safetensors")
    assert Path(made["bank"]) == out / "small-safetensors_layers0-7.safetensors" and Path(made["bank"]).is_file()
    assert rows["small-pkl"]["read"] == "failed"
    assert "small.pkl' was not found in repository org/models" in rows["small-pkl"]["error"]

    gets = len(zoo.seen("GET"))
    again = run("--all", "small-safe*", "-o", str(out))
    assert again.exit_code == 0, again.output
    assert "up to date" in again.stdout and "0 made, 1 up to date, 0 failed" in again.stdout
    assert len(zoo.seen("GET")) == gets  # nothing read for an up-to-date bank

    other_k = run("--all", "small-safe*", "-o", str(out), "-k", "3", "--json")
    (row,) = json.loads(other_k.stdout)
    assert row["read"] == READ_REMOTELY and load_bank(row["bank"]).k == 3


def test_cli_all_matching_nothing_is_one_line(zoo, tmp_path):
    assert_one_line_error(run("--all", "no-such-model*"), r"^Error: no catalogue model matches 'no-such-model\*'")


def test_cli_all_refuses_a_file_as_its_folder_and_checkpoint_options(zoo, tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    assert_one_line_error(run("--all", "small", "-o", str(path)), r"is not a folder \(with --all, -o names the folder")
    assert_one_line_error(run("--all", "--checkpoint", str(path)), r"--all makes banks of catalogue models; --checkpoint")


def test_an_lfs_file_is_read_from_where_the_hub_redirects_and_the_token_stays_with_the_hub(hub, monkeypatch):
    from huggingface_hub.utils import _headers

    monkeypatch.setattr(_headers, "get_token", lambda: "hf_secret")
    data = bytes(range(256)) * 1024
    remote, _ = remote_file(hub, Payload(data, via_cdn=True))
    assert remote.read(1000, 300) == data[1000:1300]
    (get,) = hub.seen("GET")
    assert get.listener == "cdn" and get.headers["range"] == "bytes=0-65535"
    assert "authorization" not in get.headers
    (head,) = hub.seen("HEAD", "hub")
    assert head.headers["authorization"] == "Bearer hf_secret"


def test_a_companion_file_is_fetched_whole_beside_weights_read_remotely(hub, register_plugin):
    from safetensors.numpy import save
    from support.plugin_toys import ArchitecturePlugin
    from test_companions import ConfiguredToy

    weights = save({"cfgtoy.weight": np.arange(30, dtype=np.float32).reshape(6, 5)})
    config = json.dumps({"z_dim": 3}).encode()
    commit = hub.add_repo("org/toy", {"models/model.safetensors": weights, "models/config.json": config}).commit

    def toy_entry(name, config_sha256):
        return {
            "name": name, "architecture": "cfgtoy", "layout": "toy", "resolution": 8, "num_layers": 1,
            "license": "MIT", "provenance": "tests", "description": "a toy with a config",
            "source": {"kind": "hub", "repo_id": "org/toy", "filename": "models/model.safetensors", "revision": commit,
                       "size": len(weights), "companions": {"config.json": {"size": len(config), "sha256": config_sha256}}},
        }

    entries = (toy_entry("cfg-toy", hashlib.sha256(config).hexdigest()), toy_entry("cfg-toy-bad", "0" * 64))
    register_plugin(ArchitecturePlugin(ConfiguredToy("cfgtoy"), entries=entries), "cfgtoy-remote")
    with pytest.raises(ChecksumMismatchError, match=r"^model 'cfg-toy-bad': sha256 mismatch for .*config.json"):
        factorize_catalogue_model("cfg-toy-bad", remote=True, progress=False)

    result = factorize_catalogue_model("cfg-toy", remote=True, progress=False)
    assert result.read == READ_REMOTELY and result.bank.latent_dim == 3  # the config's z_dim
    assert [p.name for p in hub_cache_files() if "snapshots" in str(p)] == ["config.json"]
