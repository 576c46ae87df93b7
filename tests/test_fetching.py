"""Fetching and verifying checkpoints: the real download code against a loopback Hub."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
from huggingface_hub import constants
from support.hub_server import Payload, hub, no_retry_wait, unused_endpoint  # noqa: F401  (fixtures)

from sefa_zoo import hashing
from sefa_zoo.entry import CatalogueEntry
from sefa_zoo.errors import (
    CatalogueError,
    ChecksumMismatchError,
    FetchError,
    GatedError,
    NetworkError,
    OfflineNotCachedError,
    RemoteNotFoundError,
)
from sefa_zoo.fetching import cached_path, fetch
from sefa_zoo.hookspecs import hookimpl
from sefa_zoo.sources import (
    Companion,
    CustomSource,
    HubSource,
    LocalSource,
    UrlSource,
    source_from_dict,
)

DATA = bytes(range(256)) * 40  # 10 KiB
SHA = hashlib.sha256(DATA).hexdigest()


def entry(source, name="test-model", origin=""):
    return CatalogueEntry(
        name=name, architecture="stylegan2", layout="rosinality", source=source, resolution=256,
        num_layers=14, license="MIT", provenance="tests", description="a test entry", origin=origin,
    )


def hub_entry(repo, repo_id="org/model", filename="G.pt", sha256=SHA, size=None, name="test-model"):
    return entry(HubSource(repo_id=repo_id, filename=filename, revision=repo.commit, sha256=sha256, size=size),
                 name=name)


# --- hashing -----------------------------------------------------------------------------------


@pytest.fixture
def own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SEFA_ZOO_CACHE", str(tmp_path / "cache"))


def test_sha256_file_streams_in_chunks(own_cache, tmp_path, monkeypatch):
    monkeypatch.setattr(hashing, "CHUNK_SIZE", 7)  # many chunks, a short last one
    path = tmp_path / "f.bin"
    path.write_bytes(DATA[:1000])
    assert hashing.compute_sha256(path) == hashlib.sha256(DATA[:1000]).hexdigest()
    assert hashing.sha256_file(path) == hashlib.sha256(DATA[:1000]).hexdigest()


def test_a_hashed_file_is_not_hashed_again_until_it_changes(own_cache, tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    assert hashing.sha256_file(path) == SHA
    st = path.stat()
    # Same size and mtime, other bytes: the remembered digest is used (no second pass over the file).
    path.write_bytes(bytes(len(DATA)))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert hashing.sha256_file(path) == SHA
    # A new mtime means a new hash.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert hashing.sha256_file(path) == hashlib.sha256(bytes(len(DATA))).hexdigest()
    assert hashing.known_sha256(path) == hashlib.sha256(bytes(len(DATA))).hexdigest()


def test_the_hash_memory_is_keyed_by_the_resolved_path(own_cache, tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    link = tmp_path / "link.pt"
    link.symlink_to(path)
    hashing.sha256_file(link)
    assert hashing.known_sha256(path) == SHA


@pytest.mark.parametrize("garbage", [b"{not json", b"[1, 2]", b'{"format": 1, "files": 3}', b"\xff\xfe"])
def test_a_corrupt_hash_memory_is_ignored_and_replaced(own_cache, tmp_path, garbage):
    hashing.hashes_file().parent.mkdir(parents=True, exist_ok=True)
    hashing.hashes_file().write_bytes(garbage)
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    assert hashing.known_sha256(path) is None
    assert hashing.sha256_file(path) == SHA
    stored = json.loads(hashing.hashes_file().read_text())
    assert stored["files"][str(path.resolve())][2] == SHA


def test_the_hash_memory_drops_files_that_are_gone(own_cache, tmp_path):
    gone, kept = tmp_path / "gone.bin", tmp_path / "kept.bin"
    gone.write_bytes(b"a")
    kept.write_bytes(b"b")
    hashing.sha256_file(gone)
    gone.unlink()
    hashing.sha256_file(kept)
    assert list(json.loads(hashing.hashes_file().read_text())["files"]) == [str(kept.resolve())]


# --- hub ---------------------------------------------------------------------------------------


def test_hub_download_goes_into_the_hub_cache_tagged_with_the_library(hub):
    repo = hub.add_repo("org/model", {"G.pt": DATA})
    e = hub_entry(repo, size=len(DATA))
    assert cached_path(e) is None
    path = fetch(e, progress=False)
    assert path.read_bytes() == DATA
    snapshot = Path(constants.HF_HUB_CACHE) / "models--org--model" / "snapshots" / repo.commit / "G.pt"
    assert path == snapshot
    resolve = f"/org/model/resolve/{repo.commit}/G.pt"
    # sefa-zoo's own check (one HEAD, no retries), then huggingface_hub's HEAD and GET.
    assert [(r.method, r.path) for r in hub.requests] == [("HEAD", resolve), ("HEAD", resolve), ("GET", resolve)]
    assert all("sefa-zoo/0.1.0" in r.headers["user-agent"] for r in hub.requests)
    assert cached_path(e) == path
    assert hashing.known_sha256(path) == SHA

    # Cached at a pinned commit: no request at all the second time.
    assert fetch(e, progress=False) == path
    assert len(hub.requests) == 3


def test_a_missing_sha256_is_reported_once_and_remembered(hub, caplog):
    repo = hub.add_repo("org/model", {"G.pt": DATA})
    e = hub_entry(repo, sha256=None)
    with caplog.at_level(logging.WARNING, logger="sefa_zoo"):
        path = fetch(e, progress=False)
        fetch(e, progress=False)
    notes = [r.getMessage() for r in caplog.records if r.name.startswith("sefa_zoo")]
    assert len(notes) == 1
    assert SHA in notes[0] and "'test-model'" in notes[0]
    assert hashing.known_sha256(path) == SHA


def test_a_renamed_repo_is_followed_through_its_redirect(hub):
    repo = hub.add_repo("org/new-name", {"G.pt": DATA})
    hub.renamed["org/old-name"] = "org/new-name"
    path = fetch(hub_entry(repo, repo_id="org/old-name"), progress=False)
    assert path.read_bytes() == DATA
    assert [(r.method, r.path.split("/resolve")[0]) for r in hub.requests] == [
        ("HEAD", "/org/old-name"), ("HEAD", "/org/new-name"),  # sefa-zoo's check
        ("HEAD", "/org/old-name"), ("HEAD", "/org/new-name"), ("GET", "/org/new-name"),
    ]


def test_a_private_repo_needs_the_token_which_never_goes_to_the_cdn(hub, monkeypatch):
    repo = hub.add_repo("org/private", {"G.pt": Payload(DATA, via_cdn=True)}, token="hf_secret")
    e = hub_entry(repo, repo_id="org/private")
    with pytest.raises(RemoteNotFoundError, match=r"model 'test-model': repository org/private was not found.*HF_TOKEN"):
        fetch(e, progress=False)

    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert fetch(e, progress=False).read_bytes() == DATA
    head = hub.seen("HEAD", "hub")[-1]
    assert head.headers["authorization"] == "Bearer hf_secret"
    (get,) = hub.seen("GET")
    assert get.listener == "cdn" and get.path == f"/cdn/{SHA}"
    assert "authorization" not in get.headers


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"repo_id": "org/nothing"}, r"repository org/nothing was not found on http://127\.0\.0\.1"),
        ({"filename": "missing.pt"}, r"file 'missing\.pt' was not found in repository org/model at revision"),
        ({"revision": "f" * 40}, r"revision f{40} was not found in repository org/model"),
    ],
)
def test_not_found_answers_are_told_apart(hub, change, message):
    repo = hub.add_repo("org/model", {"G.pt": DATA})
    source = {"repo_id": "org/model", "filename": "G.pt", "revision": repo.commit, "sha256": SHA, **change}
    with pytest.raises(RemoteNotFoundError, match=r"^model 'test-model': " + message) as info:
        fetch(entry(HubSource(**source)), progress=False)
    assert "\n" not in str(info.value)


def test_a_gated_repo_says_how_to_get_access(hub, monkeypatch):
    repo = hub.add_repo("org/gated", {"G.pt": DATA}, token="hf_accepted", gated=True)
    e = hub_entry(repo, repo_id="org/gated")
    with pytest.raises(GatedError, match=r"org/gated is a gated repository: accept its terms .*HF_TOKEN") as info:
        fetch(e, progress=False)
    assert "\n" not in str(info.value)
    monkeypatch.setenv("HF_TOKEN", "hf_accepted")
    assert fetch(e, progress=False).read_bytes() == DATA


def test_a_corrupted_download_is_deleted_and_fetched_again_next_time(hub):
    payload = Payload(DATA, corrupt=True)
    repo = hub.add_repo("org/model", {"G.pt": payload})
    e = hub_entry(repo, size=len(DATA))
    with pytest.raises(ChecksumMismatchError) as info:
        fetch(e, progress=False)
    message = str(info.value)
    assert message.startswith("model 'test-model': sha256 mismatch")
    assert SHA in message and hashlib.sha256(payload.body()).hexdigest() in message
    storage = Path(constants.HF_HUB_CACHE) / "models--org--model"
    assert not (storage / "snapshots" / repo.commit / "G.pt").exists()
    assert not (storage / "snapshots" / repo.commit / "G.pt").is_symlink()
    assert list((storage / "blobs").iterdir()) == []
    assert cached_path(e) is None

    payload.corrupt = False
    assert fetch(e, progress=False).read_bytes() == DATA
    assert len(hub.seen("GET")) == 2


def test_a_file_of_the_wrong_size_is_refused_before_it_is_downloaded(hub):
    repo = hub.add_repo("org/model", {"G.pt": DATA})
    with pytest.raises(ChecksumMismatchError, match=(
        rf"^model 'test-model': the server announces {len(DATA)} bytes for hf://org/model/G\.pt@\w+, "
        rf"the catalogue says {len(DATA) + 1}; not downloaded$"
    )):
        fetch(hub_entry(repo, size=len(DATA) + 1), progress=False)
    assert hub.seen("GET") == []


def test_a_file_of_the_wrong_size_is_refused(own_cache, tmp_path):
    path = tmp_path / "G.pt"
    path.write_bytes(DATA)
    with pytest.raises(ChecksumMismatchError, match=rf"has {len(DATA)} bytes, the catalogue says {len(DATA) + 1}"):
        fetch(entry(LocalSource(path=str(path), sha256=SHA, size=len(DATA) + 1)))


HUGE = 10**15


def assert_one_line(exc_info, *fragments):
    message = str(exc_info.value)
    assert "\n" not in message and all(fragment in message for fragment in fragments), message


@pytest.mark.parametrize("via_cdn", [False, True])
def test_a_hub_file_announced_too_large_is_refused_before_downloading(hub, via_cdn):
    repo = hub.add_repo("org/model", {"G.pt": Payload(DATA, announced=HUGE, via_cdn=via_cdn)})
    with pytest.raises(FetchError, match=rf"^model 'test-model': the server announces {HUGE} bytes for hf://") as info:
        fetch(hub_entry(repo), progress=False)
    assert_one_line(info, "not downloaded")
    assert "hf_xet" not in str(info.value)
    assert hub.seen("GET") == []


@pytest.mark.parametrize("size", [None, len(DATA)])
def test_a_url_announced_too_large_is_refused_before_downloading(hub, size):
    url = hub.add_url("G.pt", Payload(DATA, announced=HUGE))
    with pytest.raises(FetchError, match=rf"^model 'test-model': the server announces {HUGE} bytes for {url}") as info:
        fetch(entry(UrlSource(url=url, sha256=SHA, size=size)), progress=False)
    assert_one_line(info, "not downloaded")
    assert hub.seen("GET") == []


def test_a_url_whose_download_announces_too_much_is_a_clear_error(hub, no_retry_wait):
    url = hub.add_url("G.pt", Payload(DATA, announced=HUGE, head=False))  # only the GET tells the size
    with pytest.raises(NetworkError, match=rf"^model 'test-model': could not download {url}: ") as info:
        fetch(entry(UrlSource(url=url, sha256=SHA)), progress=False)
    assert_one_line(info)


def test_a_url_that_sends_more_than_the_catalogue_size_is_cut_off(hub, small_chunks):
    url = hub.add_url("G.pt", Payload(DATA + b"more" * 1000, head=False))
    with pytest.raises(ChecksumMismatchError, match=(
        rf"^model 'test-model': {url} sent more than the {len(DATA)} bytes the catalogue gives; not kept$"
    )):
        fetch(entry(UrlSource(url=url, sha256=SHA, size=len(DATA))), progress=False)
    folder = Path(os.environ["SEFA_ZOO_CACHE"]) / "downloads" / SHA
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("kind", ["hub", "url"])
def test_a_download_that_does_not_fit_on_the_disk_is_refused(hub, monkeypatch, kind):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 10**12 - 100, 100))
    if kind == "hub":
        e = hub_entry(hub.add_repo("org/model", {"G.pt": DATA}))
    else:
        e = entry(UrlSource(url=hub.add_url("G.pt", DATA), sha256=SHA))
    with pytest.raises(FetchError, match=rf"^model 'test-model': .* needs {len(DATA)} bytes, but .* has only 100 bytes free$"):
        fetch(e, progress=False)
    assert hub.seen("GET") == []


@pytest.fixture
def small_chunks(monkeypatch):
    """huggingface_hub writes (and can resume from) whole 10 MiB chunks; make them small."""
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 500)


def test_a_dropped_connection_resumes_with_a_range_request(hub, no_retry_wait, small_chunks):
    repo = hub.add_repo("org/model", {"G.pt": Payload(DATA, drops=1, drop_after=3000)})
    assert fetch(hub_entry(repo), progress=False).read_bytes() == DATA
    first, second = hub.seen("GET")
    assert "range" not in first.headers
    assert second.headers["range"] == "bytes=3000-"
    assert no_retry_wait  # huggingface_hub waited before resuming


def test_a_connection_that_keeps_dropping_is_a_network_error(hub, no_retry_wait):
    repo = hub.add_repo("org/model", {"G.pt": Payload(DATA, drops=100, drop_after=0)})
    with pytest.raises(NetworkError, match=r"^model 'test-model': network failure while downloading hf://org/model/G\.pt"):
        fetch(hub_entry(repo), progress=False)
    assert 1 < len(hub.seen("GET")) < 100
    assert cached_path(hub_entry(repo)) is None


def test_a_stalled_download_times_out_as_a_network_error(hub, no_retry_wait, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 0.2)
    repo = hub.add_repo("org/model", {"G.pt": Payload(DATA, drops=100, drop_after=0, stall=1.0)})
    with pytest.raises(NetworkError, match=r"^model 'test-model': network failure while downloading .*timed out"):
        fetch(hub_entry(repo), progress=False)


NOT_CACHED = "it is not in the local cache (with no network, set HF_HUB_OFFLINE=1 to use cached files only)"


def test_an_unreachable_hub_is_a_network_error_at_once(hub, monkeypatch):
    repo = hub.add_repo("org/model", {"G.pt": DATA})
    endpoint = unused_endpoint()
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    started = time.monotonic()
    with pytest.raises(NetworkError, match=rf"^model 'test-model': could not reach {endpoint} to download") as info:
        fetch(hub_entry(repo), progress=False)
    assert time.monotonic() - started < 3  # huggingface_hub alone retries for about 25 s
    assert_one_line(info, NOT_CACHED)


@pytest.mark.parametrize("answering", ["hang", "hang_up"])
def test_a_hub_that_does_not_answer_is_a_network_error_within_the_etag_timeout(hub, monkeypatch, answering):
    repo = hub.add_repo("org/model", {"G.pt": DATA})
    hub.answering = answering
    monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", 0.5)
    started = time.monotonic()
    with pytest.raises(NetworkError, match=rf"^model 'test-model': could not reach {hub.endpoint} to download") as info:
        fetch(hub_entry(repo), progress=False)
    assert time.monotonic() - started < 3
    assert_one_line(info, NOT_CACHED)
    assert len(hub.requests) == 1


def test_a_cached_file_needs_no_hub(hub, monkeypatch):
    repo = hub.add_repo("org/model", {"G.pt": DATA})
    path = fetch(hub_entry(repo), progress=False)
    monkeypatch.setenv("HF_ENDPOINT", unused_endpoint())
    assert fetch(hub_entry(repo), progress=False) == path


def test_offline_uses_the_cache_without_touching_the_network(hub, monkeypatch):
    repo = hub.add_repo("org/model", {"G.pt": DATA})
    e = hub_entry(repo)
    path = fetch(e, progress=False)
    count = len(hub.requests)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert fetch(e, progress=False) == path
    assert len(hub.requests) == count


def test_offline_and_not_cached_says_to_download_while_online(hub, monkeypatch):
    repo = hub.add_repo("org/model", {"G.pt": DATA})
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OfflineNotCachedError, match=(
        r"^model 'test-model': hf://org/model/G\.pt@\w+ is not in the local cache and HF_HUB_OFFLINE is set; "
        r"run `sefa-zoo download test-model` while online$"
    )):
        fetch(hub_entry(repo), progress=False)
    assert hub.requests == []


# --- url ---------------------------------------------------------------------------------------


def test_url_download_is_stored_under_its_sha256(hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    url = hub.add_url("stylegan2 car.pt", DATA)
    e = entry(UrlSource(url=url, sha256=SHA, size=len(DATA)))
    assert cached_path(e) is None
    path = fetch(e, progress=False)
    assert path.read_bytes() == DATA
    assert path.parts[-3:] == ("downloads", SHA, "stylegan2 car.pt")
    assert not path.with_name(path.name + ".part").exists()
    (get,) = hub.seen("GET")
    assert get.headers["user-agent"].startswith("sefa-zoo/")
    assert "authorization" not in get.headers  # a Hub token is never sent to other sites
    assert cached_path(e) == path
    assert fetch(e, progress=False) == path
    assert [r.method for r in hub.requests] == ["HEAD", "GET"]


def test_url_download_continues_a_partial_file(hub):
    url = hub.add_url("G.pt", DATA)
    e = entry(UrlSource(url=url, sha256=SHA))
    target = Path(os.environ["SEFA_ZOO_CACHE"]) / "downloads" / SHA / "G.pt"
    target.parent.mkdir(parents=True)
    target.with_name("G.pt.part").write_bytes(DATA[:4000])
    assert fetch(e, progress=False).read_bytes() == DATA
    (get,) = hub.seen("GET")
    assert get.headers["range"] == "bytes=4000-"


def test_url_download_restarts_a_partial_file_that_is_already_whole(hub):
    url = hub.add_url("G.pt", DATA)
    e = entry(UrlSource(url=url, sha256=SHA))  # no size: the server's 416 says there is nothing left
    target = Path(os.environ["SEFA_ZOO_CACHE"]) / "downloads" / SHA / "G.pt"
    target.parent.mkdir(parents=True)
    target.with_name("G.pt.part").write_bytes(DATA)
    assert fetch(e, progress=False).read_bytes() == DATA
    assert [r.headers.get("range") for r in hub.seen("GET")] == [f"bytes={len(DATA)}-", None]


def test_url_download_resumes_after_a_dropped_connection(hub, no_retry_wait, small_chunks):
    url = hub.add_url("G.pt", Payload(DATA, drops=1, drop_after=2500))
    assert fetch(entry(UrlSource(url=url, sha256=SHA)), progress=False).read_bytes() == DATA
    assert [r.headers.get("range") for r in hub.seen("GET")] == [None, "bytes=2500-"]


def test_a_corrupted_url_download_is_deleted(hub):
    payload = Payload(DATA, corrupt=True)
    url = hub.add_url("G.pt", payload)
    e = entry(UrlSource(url=url, sha256=SHA))
    with pytest.raises(ChecksumMismatchError, match=rf"sha256 mismatch for .*G\.pt: expected {SHA}, got "):
        fetch(e, progress=False)
    folder = Path(os.environ["SEFA_ZOO_CACHE"]) / "downloads" / SHA
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) == []
    payload.corrupt = False
    assert fetch(e, progress=False).read_bytes() == DATA


@pytest.mark.parametrize(("name", "error", "message"), [
    ("missing.pt", RemoteNotFoundError, r"/files/missing\.pt was not found \(HTTP 404\)"),
])
def test_url_not_found(hub, name, error, message):
    url = f"{hub.endpoint}/files/{name}"
    with pytest.raises(error, match=message):
        fetch(entry(UrlSource(url=url, sha256=SHA)), progress=False)


def test_url_offline(hub, monkeypatch):
    url = hub.add_url("G.pt", DATA)
    e = entry(UrlSource(url=url, sha256=SHA))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OfflineNotCachedError, match="is not in the local cache and HF_HUB_OFFLINE is set"):
        fetch(e, progress=False)
    assert hub.requests == []
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    path = fetch(e, progress=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert fetch(e, progress=False) == path
    assert [r.method for r in hub.requests] == ["HEAD", "GET"]


def test_an_unreachable_url_is_a_network_error_at_once(own_cache):
    endpoint = unused_endpoint()
    started = time.monotonic()
    with pytest.raises(NetworkError, match=rf"^model 'test-model': could not reach {endpoint} to download {endpoint}/G\.pt: ") as info:
        fetch(entry(UrlSource(url=f"{endpoint}/G.pt", sha256=SHA)), progress=False)
    assert time.monotonic() - started < 3
    assert_one_line(info, NOT_CACHED)


def test_a_url_that_refuses_head_requests_is_downloaded(hub):
    url = hub.add_url("G.pt", Payload(DATA, head=False))
    assert fetch(entry(UrlSource(url=url, sha256=SHA, size=len(DATA))), progress=False).read_bytes() == DATA


# --- local -------------------------------------------------------------------------------------


def test_a_local_path_is_relative_to_its_catalogue_file(own_cache, tmp_path, monkeypatch):
    from sefa_zoo.catalogue import get_entry

    folder = tmp_path / "catalogues"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "G.pt").write_bytes(DATA)
    catalogue = folder / "mine.yaml"
    catalogue.write_text(
        "models:\n"
        "  - name: my-local\n    architecture: stylegan2\n    layout: rosinality\n"
        "    resolution: 256\n    num_layers: 14\n    license: MIT\n    provenance: mine\n"
        "    description: a local file\n"
        f"    source: {{kind: local, path: weights/G.pt, sha256: {SHA}}}\n"
    )
    monkeypatch.setenv("SEFA_ZOO_CATALOGUE", str(catalogue))
    monkeypatch.chdir(tmp_path)
    e = get_entry("my-local")
    assert fetch(e) == folder / "weights" / "G.pt"
    assert cached_path(e) == folder / "weights" / "G.pt"


def test_a_relative_local_path_without_a_catalogue_file_is_relative_to_the_current_folder(
    own_cache, tmp_path, monkeypatch
):
    (tmp_path / "G.pt").write_bytes(DATA)
    monkeypatch.chdir(tmp_path)
    assert fetch(entry(LocalSource(path="G.pt", sha256=SHA))).resolve() == tmp_path / "G.pt"


def test_a_local_path_may_start_with_home(own_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "G.pt").write_bytes(DATA)
    assert fetch(entry(LocalSource(path="~/G.pt", sha256=SHA))) == tmp_path / "G.pt"


def test_a_missing_local_file_is_a_clear_error(own_cache, tmp_path):
    e = entry(LocalSource(path=str(tmp_path / "nope.pt")))
    with pytest.raises(FetchError, match=rf"^model 'test-model': local checkpoint {tmp_path}/nope\.pt does not exist$"):
        fetch(e)
    assert cached_path(e) is None


def test_a_local_file_with_the_wrong_hash_is_refused_but_kept(own_cache, tmp_path):
    path = tmp_path / "G.pt"
    path.write_bytes(DATA[:-1] + b"\0")
    with pytest.raises(ChecksumMismatchError, match=r"the file is not used$"):
        fetch(entry(LocalSource(path=str(path), sha256=SHA)))
    assert path.exists()


# --- plugin source kinds -----------------------------------------------------------------------


class MirrorSources:
    """A plugin source kind that copies from a folder, as a third party might write one."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.discarded: list[Path] = []

    @hookimpl
    def register_checkpoint_sources(self, register):
        register("mirror", self.fetch, discard=lambda source, path: self.discarded.append(path))

    def fetch(self, source, *, progress):
        return self.folder / source.params["name"]


def test_a_plugin_source_kind_is_fetched_and_verified(own_cache, tmp_path, register_plugin):
    plugin = MirrorSources(tmp_path)
    register_plugin(plugin, "mirror-sources")
    (tmp_path / "good.pt").write_bytes(DATA)
    (tmp_path / "bad.pt").write_bytes(b"not it")
    good = entry(CustomSource(kind_name="mirror", params={"name": "good.pt"}, sha256=SHA))
    assert fetch(good) == tmp_path / "good.pt"
    assert cached_path(good) is None  # the kind registered no `cached`
    bad = entry(CustomSource(kind_name="mirror", params={"name": "bad.pt"}, sha256=SHA))
    with pytest.raises(ChecksumMismatchError, match="the copy was deleted"):
        fetch(bad)
    assert plugin.discarded == [tmp_path / "bad.pt"]


def test_an_unregistered_source_kind_is_a_clear_error(own_cache):
    e = entry(CustomSource(kind_name="nowhere", params={}))
    with pytest.raises(FetchError, match=r"^model 'test-model': no plugin provides the source kind 'nowhere'$"):
        fetch(e)
    assert cached_path(e) is None


class BadSources:
    @hookimpl
    def register_checkpoint_sources(self, register):
        register("broken", lambda source, *, progress: source, cached="not callable")
        register("too-many", lambda source, *, progress: source, None, None, "one too many")
        register("positional", lambda source, *, progress: source, lambda source: None)


def test_bad_source_registrations_are_refused_with_a_warning(register_plugin):
    from sefa_zoo.plugins import PluginWarning, get_registry

    register_plugin(BadSources(), "bad-sources")
    with pytest.warns(PluginWarning) as record:
        kinds = get_registry().source_kinds
    assert "broken" not in kinds and "too-many" not in kinds
    assert kinds["positional"].cached is not None and kinds["positional"].discard is None
    messages = [str(w.message) for w in record]
    assert any("'bad-sources'" in m and "'cached' and 'discard' must be callables" in m for m in messages)
    assert any("'bad-sources'" in m and "takes at most 4 argument(s), got 5" in m for m in messages)


class FaultySources:
    """A plugin source kind whose every function misbehaves."""

    @hookimpl
    def register_checkpoint_sources(self, register):
        register("faulty", self.fetch, cached=self.cached)
        register("pathless", lambda source, *, progress: None)

    def fetch(self, source, *, progress):
        return self.folder / source.params["name"]  # no such attribute: a bug

    def cached(self, source):
        raise SystemExit("cache gone")


def test_a_plugin_source_kind_that_fails_is_one_line_naming_the_plugin(own_cache, register_plugin):
    from sefa_zoo.errors import PluginError

    register_plugin(FaultySources(), "faulty-sources")
    e = entry(CustomSource(kind_name="faulty", params={"name": "G.pt"}, sha256=SHA))
    line = FaultySources.fetch.__code__.co_firstlineno + 1
    with pytest.raises(PluginError) as info:
        fetch(e)
    assert str(info.value) == (
        "model 'test-model': plugin 'faulty-sources' (registered at run time): source kind 'faulty': fetcher() "
        f"raised AttributeError: 'FaultySources' object has no attribute 'folder' (test_fetching.py:{line})"
    )
    with pytest.raises(PluginError, match=r"^model 'test-model': the fetcher of source kind 'pathless' returned no path$"):
        fetch(entry(CustomSource(kind_name="pathless", params={}, sha256=SHA)))


def test_a_plugin_cache_lookup_that_fails_is_one_warning(own_cache, register_plugin):
    from sefa_zoo.plugins import PluginWarning

    register_plugin(FaultySources(), "faulty-sources")
    e = entry(CustomSource(kind_name="faulty", params={"name": "G.pt"}, sha256=SHA))
    with pytest.warns(PluginWarning) as record:
        assert cached_path(e) is None
    assert [str(w.message) for w in record] == [
        "plugin 'faulty-sources' (registered at run time): source kind 'faulty': cached() raised SystemExit: "
        f"cache gone (test_fetching.py:{FaultySources.cached.__code__.co_firstlineno + 1}); ignored"
    ]


# --- companion files (a config.json fetched with the weights) ------------------------------------

CONFIG = b'{"z_dim": 128, "layers": []}\n'
CONFIG_SHA = hashlib.sha256(CONFIG).hexdigest()
CONFIG_SIZE = len(CONFIG)


def companion_entry(repo, filename="pytorch_model.bin", config_size=CONFIG_SIZE, config_sha=CONFIG_SHA,
                    name="config.json"):
    source = HubSource(repo_id="org/biggan", filename=filename, revision=repo.commit, sha256=SHA, size=len(DATA),
                       companions=(Companion(name, config_sha, config_size),))
    return entry(source)


def gets(hub, filename):
    return [r for r in hub.seen("GET") if r.path.endswith("/" + filename)]


def test_companions_are_fetched_into_the_same_snapshot_folder(hub):
    repo = hub.add_repo("org/biggan", {"pytorch_model.bin": DATA, "config.json": CONFIG, "README.md": b"hi"})
    e = companion_entry(repo)
    assert cached_path(e) is None
    path = fetch(e, progress=False)
    snapshot = Path(constants.HF_HUB_CACHE) / "models--org--biggan" / "snapshots" / repo.commit
    assert path == snapshot / "pytorch_model.bin" and path.read_bytes() == DATA
    assert (snapshot / "config.json").read_bytes() == CONFIG
    assert not (snapshot / "README.md").exists()
    assert cached_path(e) == path
    # the config alone gone: not cached, and only the config is fetched again
    (snapshot / "config.json").unlink()
    assert cached_path(e) is None
    before = len(gets(hub, "pytorch_model.bin"))
    assert fetch(e, progress=False) == path
    assert (snapshot / "config.json").read_bytes() == CONFIG
    assert len(gets(hub, "pytorch_model.bin")) == before


def test_a_companion_beside_weights_in_a_folder_comes_from_that_folder(hub):
    repo = hub.add_repo("org/biggan", {"deep/128/pytorch_model.bin": DATA, "deep/128/config.json": CONFIG,
                                       "config.json": b"not this one"})
    path = fetch(companion_entry(repo, filename="deep/128/pytorch_model.bin"), progress=False)
    assert (path.parent / "config.json").read_bytes() == CONFIG
    assert path.parent.name == "128"


def test_a_companion_missing_from_the_repo_fails_before_the_weights_download(hub):
    repo = hub.add_repo("org/biggan", {"pytorch_model.bin": DATA})
    with pytest.raises(RemoteNotFoundError, match=r"model 'test-model': file 'config.json' was not found in repository"):
        fetch(companion_entry(repo), progress=False)
    assert gets(hub, "pytorch_model.bin") == []


def test_a_companion_of_the_wrong_announced_size_is_refused_before_any_download(hub):
    repo = hub.add_repo("org/biggan", {"pytorch_model.bin": DATA, "config.json": CONFIG})
    with pytest.raises(ChecksumMismatchError, match=r"announces \d+ bytes for hf://org/biggan/config.json@.*says 630"):
        fetch(companion_entry(repo, config_size=630), progress=False)
    assert hub.seen("GET") == []


def test_a_corrupted_companion_is_deleted_and_fetched_again_next_time(hub):
    repo = hub.add_repo("org/biggan", {"pytorch_model.bin": DATA, "config.json": Payload(CONFIG, corrupt=True)})
    e = companion_entry(repo)
    with pytest.raises(ChecksumMismatchError, match=r"sha256 mismatch for .*config\.json.*deleted"):
        fetch(e, progress=False)
    snapshot = Path(constants.HF_HUB_CACHE) / "models--org--biggan" / "snapshots" / repo.commit
    assert not (snapshot / "config.json").exists() and (snapshot / "pytorch_model.bin").exists()
    assert cached_path(e) is None
    repo.files["config.json"] = Payload(CONFIG)
    assert (fetch(e, progress=False).parent / "config.json").read_bytes() == CONFIG


def test_a_companion_of_unknown_size_and_hash_is_fetched_unchecked(hub):
    repo = hub.add_repo("org/biggan", {"pytorch_model.bin": DATA, "config.json": CONFIG})
    e = companion_entry(repo, config_size=None, config_sha=None)
    assert (fetch(e, progress=False).parent / "config.json").read_bytes() == CONFIG
    assert cached_path(e) is not None


def test_a_cached_companion_of_the_wrong_size_is_not_cached(hub):
    repo = hub.add_repo("org/biggan", {"pytorch_model.bin": DATA, "config.json": CONFIG})
    fetch(companion_entry(repo, config_size=None), progress=False)
    assert cached_path(companion_entry(repo, config_size=len(CONFIG) + 1)) is None


def test_offline_without_the_companion_names_it(hub, monkeypatch):
    repo = hub.add_repo("org/biggan", {"pytorch_model.bin": DATA, "config.json": CONFIG})
    fetch(hub_entry(repo, repo_id="org/biggan", filename="pytorch_model.bin"), progress=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    requests = len(hub.requests)
    with pytest.raises(OfflineNotCachedError, match=r"hf://org/biggan/config\.json@.* is not in the local cache"):
        fetch(companion_entry(repo), progress=False)
    assert len(hub.requests) == requests
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    fetch(companion_entry(repo), progress=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert fetch(companion_entry(repo), progress=False).name == "pytorch_model.bin"


def source_with(companions):
    data = {"kind": "hub", "repo_id": "org/biggan", "filename": "w/pytorch_model.bin", "revision": "a" * 40,
            "sha256": None, "companions": companions}
    return source_from_dict(data, "entry 'x'")


def test_catalogue_companions_are_read_and_written_back():
    source = source_with({"config.json": {"size": 630, "sha256": None}, "vocab.txt": None})
    assert source.companions == (Companion("config.json", None, 630), Companion("vocab.txt", None, None))
    assert source.companion_path(source.companions[0]) == "w/config.json"
    assert source.to_dict()["companions"] == {"config.json": {"size": 630, "sha256": None},
                                              "vocab.txt": {"size": None, "sha256": None}}
    assert source_from_dict(source.to_dict(), "again") == source
    assert "companions" not in source_with(None).to_dict()


@pytest.mark.parametrize("companions, message", [
    (["config.json"], "field 'source.companions' must be a mapping"),
    ({}, "field 'source.companions' must be a mapping"),
    ({"sub/config.json": None}, "'source.companions.sub/config.json' must be a file name beside the weights"),
    ({"..": None}, "must be a file name beside the weights"),
    ({"pytorch_model.bin": None}, "not the weights themselves"),
    ({"config.json": {"bytes": 3}}, "'source.companions.config.json' must be {size, sha256}"),
    ({"config.json": {"size": -1}}, "'source.companions.config.json.size' must be a positive integer"),
    ({"config.json": {"size": True}}, "'source.companions.config.json.size' must be a positive integer"),
    ({"config.json": {"sha256": "abc"}}, "'source.companions.config.json.sha256' must be 64 lowercase hex"),
    ({f"f{i}.json": None for i in range(17)}, "names more than 16 files"),
])
def test_bad_catalogue_companions_are_named(companions, message):
    with pytest.raises(CatalogueError, match=re.escape(message)):
        source_with(companions)


def test_only_hub_sources_take_companions():
    with pytest.raises(CatalogueError, match="field 'source.companions' is not known for a url source"):
        source_from_dict({"kind": "url", "url": "https://example.org/w.bin", "sha256": SHA,
                          "companions": {"config.json": None}}, "entry 'x'")


def test_the_cache_lookup_agrees_with_huggingface_hub(hub):
    """sefa_zoo.cached_files finds cached files without huggingface_hub's download code: its
    answer must be the library's, for a cached file, a file not cached and a commit not cached."""
    from huggingface_hub import try_to_load_from_cache

    from sefa_zoo.cached_files import cached_hub_file

    repo = hub.add_repo("org/model", {"G.pt": DATA, "sub/config.json": b"{}"})
    entry = hub_entry(repo)
    assert cached_hub_file(entry.source, "G.pt") is None
    path = fetch(entry, progress=False)
    for filename in ("G.pt", "sub/config.json", "other.pt"):
        theirs = try_to_load_from_cache("org/model", filename, revision=repo.commit)
        theirs = Path(theirs) if isinstance(theirs, str) else None
        assert cached_hub_file(entry.source, filename) == theirs
    assert cached_hub_file(entry.source, "G.pt") == path
    other_commit = replace(entry.source, revision="0" * 40)
    assert cached_hub_file(other_commit, "G.pt") is None
    assert try_to_load_from_cache("org/model", "G.pt", revision="0" * 40) is None
