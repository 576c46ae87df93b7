"""safetensors files read through a ByteSource with numpy: the header, then each tensor when asked.

A safetensors file is an 8-byte little-endian header length, a JSON header, then the tensors'
bytes. The header maps each name to its dtype, shape and ``data_offsets`` [begin, end) within
the data; ``__metadata__`` is a dict of text. The header is checked as the safetensors library
checks it: every entry well formed, each tensor's bytes exactly its shape's, the tensors
covering the data without gaps or overlaps, so no tensor claims bytes the file does not have.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .byte_sources import ByteSource
from .errors import CheckpointError

MAX_HEADER = 100_000_000  # the safetensors library's own limit
# safetensors dtype -> (item size, the numpy type its bytes are read as; "" where numpy has none)
DTYPES = {
    "BOOL": (1, "?"), "U8": (1, "u1"), "I8": (1, "i1"), "I16": (2, "<i2"), "U16": (2, "<u2"), "I32": (4, "<i4"),
    "U32": (4, "<u4"), "I64": (8, "<i8"), "U64": (8, "<u8"), "F16": (2, "<f2"), "BF16": (2, "<u2"),
    "F32": (4, "<f4"), "F64": (8, "<f8"), "C64": (8, "<c8"), "F8_E4M3": (1, ""), "F8_E5M2": (1, ""),
}


class SafetensorsEntry:
    """One tensor of the header: dtype, shape, and where its bytes are in the file."""

    def __init__(self, dtype: str, shape: tuple[int, ...], start: int, end: int):
        self.dtype, self.shape, self.start, self.end = dtype, shape, start, end


def read_safetensors(source: ByteSource, label: str) -> tuple[dict[str, SafetensorsEntry], dict[str, str]]:
    """The tensors and the metadata of the safetensors file in ``source``, its header checked;
    CheckpointError naming the file and what is wrong otherwise."""
    size = len(source)
    if size < 8:
        raise _corrupt(label, "shorter than its header length")
    header_size = int.from_bytes(bytes(source.read(0, 8)), "little")
    if header_size > MAX_HEADER or 8 + header_size > size:
        raise _corrupt(label, f"its header claims {header_size} bytes, the file has {size}")
    try:
        header = json.loads(bytes(source.read(8, header_size)).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _corrupt(label, f"its header is not JSON: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    if not isinstance(header, dict):
        raise _corrupt(label, "its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _corrupt(label, "its __metadata__ is not a dict of text")
    data_size = size - 8 - header_size
    entries = {name: _entry(name, value, data_size, label) for name, value in header.items()}
    _check_coverage(entries, data_size, label)
    base = 8 + header_size
    for entry in entries.values():
        entry.start, entry.end = entry.start + base, entry.end + base
    return entries, dict(metadata)


def _entry(name: str, value: Any, data_size: int, label: str) -> SafetensorsEntry:
    if not isinstance(value, Mapping):
        raise _corrupt(label, f"tensor {name!r} is not described by a JSON object")
    dtype, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
    if dtype not in DTYPES:
        raise _corrupt(label, f"tensor {name!r} has dtype {str(dtype)[:20]!r}, which is not a safetensors dtype")
    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        raise _corrupt(label, f"tensor {name!r} has a shape that is not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int and n >= 0 for n in offsets)):
        raise _corrupt(label, f"tensor {name!r} has data_offsets that are not [begin, end]")
    if any(n > data_size for n in shape):  # only zero-element tensors can claim such sizes
        raise CheckpointError(f"{label}: tensor {name!r} claims a size of {max(shape)}, more than the file's bytes")
    count = 1
    for n in shape:
        count *= n
    begin, end = offsets
    if end < begin or end - begin != count * DTYPES[dtype][0]:
        raise _corrupt(label, f"tensor {name!r} of shape {shape} does not fill its {max(0, end - begin)} bytes")
    if end > data_size:
        raise _corrupt(label, f"tensor {name!r} runs past the end of the file")
    return SafetensorsEntry(dtype, tuple(shape), begin, end)


def _check_coverage(entries: dict[str, SafetensorsEntry], data_size: int, label: str) -> None:
    """The tensors lie end to end over the whole data: none overlaps another, no bytes are unclaimed."""
    position = 0
    for name, entry in sorted(entries.items(), key=lambda item: (item[1].start, item[1].end)):
        if entry.start != position:
            what = "overlaps another" if entry.start < position else "leaves a gap before it"
            raise _corrupt(label, f"tensor {name!r} {what}")
        position = entry.end
    if position != data_size:
        raise _corrupt(label, "the file holds bytes after its last tensor" if position < data_size
                       else "its last tensor runs past the end")


def entry_reader(source: ByteSource, entry: SafetensorsEntry) -> Callable[[], np.ndarray]:
    """What reads one tensor: a numpy view of its bytes; BF16 widened to float32; CheckpointError
    for a dtype numpy cannot hold."""

    def read() -> np.ndarray:
        numpy_type = DTYPES[entry.dtype][1]
        if not numpy_type:
            raise CheckpointError(f"a {entry.dtype} tensor, which sefa-zoo cannot read")
        values = np.frombuffer(source.read(entry.start, entry.end - entry.start), dtype=numpy_type).reshape(entry.shape)
        if entry.dtype == "BF16":
            return np.asarray(np.left_shift(values.astype(np.uint32), 16)).view(np.float32)
        return values

    return read


def _corrupt(label: str, reason: str) -> CheckpointError:
    return CheckpointError(f"{label}: truncated or corrupt safetensors file ({reason})")
