"""A Hub file read where it lies, by HTTP range requests: only the bytes a reader asks for come
over the network (a torch zip's central directory, data.pkl and the tensors read; a safetensors
header and its tensors).

The file is the one a catalogue entry pins: the Hub is asked once for its size and commit (as
before a download), then every read is a ``Range`` GET through huggingface_hub's own HTTP session
(so HF_ENDPOINT, HF_TOKEN and offline mode apply). Bytes are fetched in aligned blocks and kept:
no byte is fetched twice, and nothing past the size the Hub announced is ever asked for, whatever
the file's contents claim. The whole file's sha256 cannot be checked this way; the pinned commit
is what says which file this is.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from huggingface_hub import constants as hf_constants
from huggingface_hub.utils import build_hf_headers, http_stream_backoff, httpx

from ._version import __version__
from .builtin_fetchers import LIBRARY_NAME, hub_endpoint, hub_file_metadata, transfer_error
from .checkpoint import Checkpoint
from .errors import CheckpointError, ChecksumMismatchError, FetchError, NetworkError
from .loading import container_of_head, open_source
from .sources import HubSource

BLOCK_SIZE = 1 << 16  # at most this much read past what a tensor needs, at either end
HEAD_BYTES = 128  # what tells the container
READ_ATTEMPTS = 3
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)$")


class RangesIgnored(FetchError):
    """The server answered a Range request with the whole file: reading remotely makes no sense there."""


class RemoteFile:
    """One file on the Hub as a byte source: ``len()`` and ``read(offset, n)``."""

    def __init__(self, url: str, size: int, label: str, headers: dict[str, str]):
        self.url, self.size, self.label = url, size, label
        self._headers = headers
        self._blocks: dict[int, bytes] = {}
        self.fetched = 0  # body bytes received
        self.requests = 0

    def __len__(self) -> int:
        return self.size

    def read(self, offset: int, n: int) -> bytes:
        """``n`` bytes from ``offset``; a CheckpointError for a read past the end (a file's claim)."""
        if offset < 0 or n < 0 or offset + n > self.size:
            raise CheckpointError(
                f"{self.label}: a read of {n} bytes at offset {offset} runs past the end of the file ({self.size} bytes)"
            )
        if n == 0:
            return b""
        first, last = offset // BLOCK_SIZE, (offset + n - 1) // BLOCK_SIZE
        for start, stop in _missing_runs(self._blocks, first, last):
            self._fetch_blocks(start, stop)
        data = b"".join(self._blocks[i] for i in range(first, last + 1))
        skip = offset - first * BLOCK_SIZE
        return data[skip : skip + n]

    def _fetch_blocks(self, first: int, stop: int) -> None:
        start, end = first * BLOCK_SIZE, min(stop * BLOCK_SIZE, self.size)
        data = self._get(start, end)
        for index in range(first, stop):
            offset = index * BLOCK_SIZE - start
            self._blocks[index] = data[offset : offset + BLOCK_SIZE]

    def _get(self, start: int, end: int) -> bytes:
        """Bytes [start, end) by a Range GET, never more of the body than was asked for; a
        connection lost midway is tried again, READ_ATTEMPTS times in all."""
        for attempt in range(1, READ_ATTEMPTS + 1):
            data, failure = self._attempt(start, end)
            if failure is None:
                return data
            if attempt == READ_ATTEMPTS or not isinstance(failure, (httpx.TransportError, _ShortBody)):
                break
        if isinstance(failure, FetchError):
            raise failure
        mapped = transfer_error(self.label, failure)
        if mapped is None:
            raise failure
        raise mapped from failure

    def _attempt(self, start: int, end: int) -> tuple[bytes, Exception | None]:
        headers = {**self._headers, "Range": f"bytes={start}-{end - 1}"}
        self.requests += 1
        data, failure = b"", None
        try:
            with http_stream_backoff(
                "GET", self.url, headers=headers, timeout=hf_constants.HF_HUB_DOWNLOAD_TIMEOUT, follow_redirects=True
            ) as response:
                # Raised out of the block, a transfer error would make the back-off generator
                # retry while its caller is leaving: it is raised once the block is left.
                try:
                    _check_partial(response, start, end, self.size, self.label)
                    data = self._body(response, end - start)
                except Exception as exc:
                    failure = exc
        except Exception as exc:
            failure = exc
        return data, failure

    def _body(self, response: Any, length: int) -> bytes:
        chunks, received = [], 0
        try:
            for chunk in response.iter_bytes():
                chunk = chunk[: length - received]
                chunks.append(chunk)
                received += len(chunk)
                self.fetched += len(chunk)
                if received == length:
                    break
        except httpx.TransportError:
            pass  # the connection was lost: what came is short, said below
        if received != length:
            raise _ShortBody(f"incomplete read of {self.label}: {received} of {length} bytes came")
        return b"".join(chunks)


class _ShortBody(NetworkError):
    """A body that ended before the bytes asked for: tried again."""


def _missing_runs(blocks: dict[int, bytes], first: int, last: int) -> list[tuple[int, int]]:
    """[start, stop) runs of block indices between ``first`` and ``last`` not fetched yet."""
    runs: list[tuple[int, int]] = []
    for index in range(first, last + 1):
        if index in blocks:
            continue
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


def _check_partial(response: Any, start: int, end: int, size: int, label: str) -> None:
    status = response.status_code
    if status == 200:
        raise RangesIgnored(f"the server sent the whole of {label} for a range request")
    if status != 206:
        raise NetworkError(f"the server answered HTTP {status} to a range request for {label}")
    match = _CONTENT_RANGE.match(response.headers.get("content-range", "").strip())
    if match is None or (int(match.group(1)), int(match.group(2)) + 1) != (start, end) or (
        match.group(3) != "*" and int(match.group(3)) != size
    ):
        raise NetworkError(
            f"the server answered a range request for bytes {start}-{end - 1} of {label} with "
            f"{response.headers.get('content-range', 'no Content-Range')!r}"
        )


def open_remote(source: HubSource) -> tuple[RemoteFile, str]:
    """The weights of ``source`` as a RemoteFile, and the commit the Hub read them at.

    One metadata request without retries, as before a download: an unreachable Hub fails at
    once, and a size other than the catalogue's, or none, is refused before any byte is read.
    """
    endpoint = hub_endpoint()
    shown = endpoint or hf_constants.ENDPOINT
    label = source.describe()
    metadata = hub_file_metadata(source, source.filename, endpoint, shown)
    if metadata.size is None:
        raise NetworkError(f"{shown} announced no size for {label}; it cannot be read remotely")
    if source.size is not None and metadata.size != source.size:
        raise ChecksumMismatchError(
            f"the server announces {metadata.size} bytes for {label}, the catalogue says {source.size}; not read"
        )
    if metadata.commit_hash != source.revision:
        raise NetworkError(f"{shown} answered for commit {metadata.commit_hash} of {label}, not the pinned one")
    headers = _request_headers(metadata.location, shown)
    return RemoteFile(metadata.location, metadata.size, label, headers), metadata.commit_hash


def _request_headers(location: str, endpoint: str) -> dict[str, str]:
    """huggingface_hub's headers (token, user agent), the token kept only for the Hub's own host."""
    headers = build_hf_headers(library_name=LIBRARY_NAME, library_version=__version__)
    headers["Accept-Encoding"] = "identity"  # byte ranges of the file itself, not of a compressed body
    if urlsplit(location).netloc != urlsplit(endpoint).netloc:
        headers.pop("authorization", None)
        headers.pop("Authorization", None)
    return headers


# --- what is in the file -------------------------------------------------------------------------

# the containers read by ranges; the others (pickles, legacy torch) need every byte
READ_BY_RANGES = ("torch-zip", "safetensors")


def remote_container(remote: RemoteFile) -> str:
    """Which container the file is, from its first bytes (a CheckpointError for none)."""
    return container_of_head(remote.read(0, min(HEAD_BYTES, len(remote))), len(remote), remote.label)


def open_remote_checkpoint(remote: RemoteFile) -> Checkpoint:
    """A torch zip or safetensors file read where it lies: its index now, a tensor when it is read."""
    return open_source(remote, remote.label)
