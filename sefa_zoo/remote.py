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

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from huggingface_hub import constants as hf_constants
from huggingface_hub.utils import build_hf_headers, http_stream_backoff, httpx

from ._version import __version__
from .builtin_fetchers import LIBRARY_NAME, hub_endpoint, hub_file_metadata, transfer_error
from .checkpoint import Checkpoint
from .errors import ChecksumMismatchError, CheckpointError, FetchError, NetworkError
from .sources import HubSource

BLOCK_SIZE = 1 << 16  # a torch zip aligns members to 64 bytes: a block wastes at most this much per tensor
ZIP_MAGIC = b"PK\x03\x04"
MAX_SAFETENSORS_HEADER = 100_000_000  # safetensors' own limit
HEAD_BYTES = 128
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)$")
# safetensors dtype -> numpy dtype (little-endian); BF16 is read as its bits and widened
_SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
    "I8": "i1", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "?",
}


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
        """Bytes [start, end) by one Range GET; never more of the body than was asked for."""
        headers = {**self._headers, "Range": f"bytes={start}-{end - 1}"}
        self.requests += 1
        failure: Exception | None = None
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
        if failure is None:
            return data
        if isinstance(failure, FetchError):
            raise failure
        mapped = transfer_error(self.label, failure)
        if mapped is None:
            raise failure
        raise mapped from failure

    def _body(self, response: Any, length: int) -> bytes:
        chunks, received = [], 0
        for chunk in response.iter_bytes():
            chunk = chunk[: length - received]
            chunks.append(chunk)
            received += len(chunk)
            self.fetched += len(chunk)
            if received == length:
                break
        if received != length:
            raise NetworkError(f"incomplete read of {self.label}: {received} of {length} bytes came")
        return b"".join(chunks)


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


def remote_container(remote: RemoteFile) -> str | None:
    """"torch-zip" or "safetensors" when the file is one (read by ranges), None for a file that
    must be read whole (pickles, legacy torch)."""
    head = remote.read(0, min(HEAD_BYTES, remote.size))
    if head.startswith(ZIP_MAGIC):
        return "torch-zip"
    if len(head) > 8 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= MAX_SAFETENSORS_HEADER:
        return "safetensors"
    return None


def open_remote_safetensors(remote: RemoteFile) -> Checkpoint:
    """A safetensors file's Checkpoint from its header; each tensor's bytes fetched when it is read."""
    label = remote.label
    header_size = int.from_bytes(remote.read(0, 8), "little")
    if not 0 < header_size <= min(MAX_SAFETENSORS_HEADER, remote.size - 8):
        raise CheckpointError(f"{label}: a safetensors header of {header_size} bytes does not fit in the file")
    header = _safetensors_header(remote.read(8, header_size), label)
    data_start = 8 + header_size
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{label}: the safetensors metadata is not a table of strings")
    entries = {name: _tensor_entry(name, entry, remote.size - data_start, label) for name, entry in header.items()}

    def load(name: str) -> Any:
        dtype, shape, (begin, end) = entries[name]
        array = np.frombuffer(remote.read(data_start + begin, end - begin), dtype=dtype).reshape(shape)
        return _as_tensor(_widen_bfloat16(array) if header[name]["dtype"] == "BF16" else array)

    return Checkpoint(
        {name: entry[1] for name, entry in entries.items()},
        load,
        objects={"__metadata__": dict(metadata)} if metadata else {},
        container="safetensors",
    )


def _safetensors_header(data: bytes, label: str) -> dict[str, Any]:
    try:
        header = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError(f"{label}: the safetensors header is not JSON") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{label}: the safetensors header is not a table")
    return header


def _tensor_entry(name: str, entry: Any, data_size: int, label: str) -> tuple[np.dtype, tuple[int, ...], tuple[int, int]]:
    """(numpy dtype, shape, byte span in the data section) of one header entry, checked against the file."""
    bad = CheckpointError(f"{label}: tensor {name!r} has a malformed safetensors header entry")
    if not isinstance(entry, dict) or entry.get("dtype") not in _SAFETENSORS_DTYPES:
        raise bad
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(shape, list) or not isinstance(offsets, list) or len(offsets) != 2:
        raise bad
    if any(type(n) is not int or n < 0 for n in (*shape, *offsets)):
        raise bad
    if any(n > data_size + 8 for n in shape):  # only zero-element tensors can claim such sizes
        raise CheckpointError(f"{label}: tensor {name!r} claims a size of {max(shape)}, more than the file's bytes")
    dtype = np.dtype(_SAFETENSORS_DTYPES[entry["dtype"]])
    begin, end = offsets
    if not begin <= end <= data_size or end - begin != int(np.prod(shape, dtype=object)) * dtype.itemsize:
        raise CheckpointError(f"{label}: tensor {name!r} claims bytes {begin}-{end}, which its shape and the file do not hold")
    return dtype, tuple(shape), (begin, end)


def _widen_bfloat16(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _as_tensor(array: np.ndarray) -> Any:
    import torch  # the Checkpoint's loaders give torch tensors

    return torch.from_numpy(array.copy())


RemoteOpener = Callable[[RemoteFile], Checkpoint]
OPENERS: dict[str, RemoteOpener] = {"safetensors": open_remote_safetensors}
