"""torch's own file formats, read with sefa-zoo's safe unpickler instead of ``torch.load``.

torch zip (torch.save since 1.6): a zip of uncompressed members. ``<archive>/data.pkl`` is the
  object tree; its persistent ids ``('storage', type, key, location, numel)`` name the members
  ``<archive>/data/<key>`` that hold the raw bytes. The file is memory-mapped and each storage
  views its member, so only the tensors actually read come off the disk.
legacy torch (before 1.6): pickles one after another (magic number, protocol, system info, the
  object tree, the list of storage keys), then each storage as an 8-byte element count and its
  bytes. The tree is read twice: once to learn the storages, once to build tensors viewing them.

Every tensor is checked as it is rebuilt: dense, on a storage from the file, and covering no
more elements than that storage holds (no stride-0 or overlapping views claiming rows the file
does not have), each dimension at most the file's size.
"""

from __future__ import annotations

import argparse
import io
import mmap
import os
import pickle
import warnings
import zipfile
from collections import Counter, OrderedDict
from functools import cache
from typing import Any

import torch

from .errors import CheckpointError
from .safe_unpickler import AllowList, Budget, RefusedPickleError, latin1_encode, numpy_globals, unpickle

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
MAX_DIMS = 64
ZIP_MAGIC = b"PK\x03\x04"  # a zip member's local header; a torch zip starts with one


class StorageType:
    """What a pickled ``torch.FloatStorage`` (etc.) global becomes: its dtype, nothing callable."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


@cache
def storage_types() -> dict[str, StorageType]:
    """Storage class names (``FloatStorage``, ``UntypedStorage``...) -> their StorageType."""
    found = {"UntypedStorage": StorageType(torch.uint8)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a legacy storage class's .dtype warns that TypedStorage will go
        for storage_class in torch._storage_classes:
            dtype = getattr(storage_class, "dtype", None)
            if storage_class.__name__.endswith("Storage") and isinstance(dtype, torch.dtype):
                found.setdefault(storage_class.__name__, StorageType(dtype))
    return found


@cache
def _torch_dtypes() -> dict[tuple[str, str], torch.dtype]:
    return {("torch", name): getattr(torch, name) for name in dir(torch) if isinstance(getattr(torch, name), torch.dtype)}


_QUANTIZED = frozenset([torch.qint8, torch.quint8, torch.qint32, torch.quint4x2, torch.quint2x4])
_TENSOR_TYPE = object()  # torch.Tensor and torch.nn.Parameter as values, never as callables
_DRY = object()  # stands for every storage and tensor in a legacy file's first reading


def torch_globals(label: str, limit: int) -> dict[tuple[str, str], Any]:
    """The globals torch's formats use, as stand-ins that check every tensor against the file.

    ``limit`` is the file's size: no tensor dimension may exceed it.
    """

    def view(storage: Any, offset: Any, size: Any, stride: Any, hooks: Any = None, extra: Any = None) -> Any:
        if storage is _DRY:
            return _DRY
        if hooks or extra:
            raise RefusedPickleError("tensors with backward hooks, state or metadata are refused")
        return _tensor_view(storage, offset, size, stride, label, limit)

    def rebuild_v1(storage: Any, offset: Any, size: Any, stride: Any) -> Any:
        return view(storage, offset, size, stride)

    def rebuild_v2(storage: Any, offset: Any, size: Any, stride: Any, _grad: Any = False,
                   hooks: Any = None, metadata: Any = None) -> Any:
        return view(storage, offset, size, stride, hooks, metadata)

    def rebuild_v3(storage: Any, offset: Any, size: Any, stride: Any, _grad: Any, hooks: Any,
                   dtype: Any, metadata: Any = None) -> Any:
        if storage is not _DRY:
            if not isinstance(storage, torch.storage.TypedStorage) or not isinstance(dtype, torch.dtype):
                raise RefusedPickleError("_rebuild_tensor_v3 without a storage and a dtype")
            storage = torch.storage.TypedStorage(wrap_storage=storage._untyped_storage, dtype=dtype, _internal=True)
        return view(storage, offset, size, stride, hooks, metadata)

    def parameter(data: Any, _grad: Any = False, hooks: Any = None, state: Any = None) -> Any:
        if data is not _DRY and not isinstance(data, torch.Tensor):
            raise RefusedPickleError("a parameter without a tensor")
        if hooks or state:
            raise RefusedPickleError("parameters with backward hooks or state are refused")
        return data

    def from_type(func: Any, new_type: Any, args: Any, state: Any) -> Any:
        if func not in (rebuild_v1, rebuild_v2, rebuild_v3, parameter) or new_type is not _TENSOR_TYPE:
            raise RefusedPickleError("_rebuild_from_type_v2 of something other than a plain tensor")
        if state or not isinstance(args, tuple):
            raise RefusedPickleError("tensors with extra state are refused")
        return func(*args)

    def unsupported(kind: str) -> Any:
        def refuse(*_args: Any) -> Any:
            raise CheckpointError(f"{label}: holds a {kind} tensor; sefa-zoo reads dense tensors only")
        return refuse

    table: dict[tuple[str, str], Any] = {
        ("torch._utils", "_rebuild_tensor"): rebuild_v1,
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_v2,
        ("torch._utils", "_rebuild_tensor_v3"): rebuild_v3,
        ("torch._utils", "_rebuild_parameter"): parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): from_type,
        ("torch._utils", "_rebuild_sparse_tensor"): unsupported("sparse"),
        ("torch.serialization", "_get_layout"): unsupported("sparse"),
        ("torch._utils", "_rebuild_qtensor"): unsupported("quantized"),
        ("torch._utils", "_rebuild_meta_tensor_no_storage"): unsupported("meta-device (data-less)"),
        ("torch._utils", "_rebuild_nested_tensor"): unsupported("nested"),
        ("torch._utils", "_rebuild_wrapper_subclass"): unsupported("tensor-subclass"),
        ("torch._utils", "_rebuild_device_tensor_from_numpy"): unsupported("numpy-backed device"),
        ("torch", "Tensor"): _TENSOR_TYPE,
        ("torch.nn.parameter", "Parameter"): _TENSOR_TYPE,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("collections", "OrderedDict"): OrderedDict,
        ("collections", "Counter"): Counter,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "complex"): complex,
        ("builtins", "bytearray"): _bytearray,
        ("_codecs", "encode"): latin1_encode,
        ("argparse", "Namespace"): argparse.Namespace,
    }
    table.update(_torch_dtypes())
    for name, storage_type in storage_types().items():
        table["torch", name] = storage_type
    table["torch.storage", "UntypedStorage"] = storage_types()["UntypedStorage"]
    table.update(numpy_globals(limit))
    return table


def _bytearray(source: Any = b"", encoding: str = "latin1") -> bytearray:
    # Protocols 2-4 pickle a bytearray as bytearray(text, "latin-1"); a bare size would allocate it.
    if isinstance(source, str):
        return bytearray(source.encode("latin1"))
    if isinstance(source, (bytes, bytearray)):
        return bytearray(source)
    raise RefusedPickleError("bytearray of something other than bytes or text")


def _tensor_view(storage: Any, offset: Any, size: Any, stride: Any, label: str, limit: int) -> torch.Tensor:
    if not isinstance(storage, torch.storage.TypedStorage):
        raise RefusedPickleError("a tensor without a storage from the file")
    if not (isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list))):
        raise CheckpointError(f"{label}: a tensor's size and stride are not two lists of the same length")
    size, stride = tuple(size), tuple(stride)
    if not len(size) == len(stride) <= MAX_DIMS:
        raise CheckpointError(f"{label}: a tensor's size and stride are not two lists of the same length")
    for n in (offset, *size, *stride):
        if type(n) is not int or n < 0:
            raise CheckpointError(f"{label}: a tensor's size, stride or offset is not a whole number >= 0")
        if n > limit:
            raise CheckpointError(f"{label}: a tensor claims a size of {n}, more than the file's {limit} bytes")
    count = 1
    for n in size:
        count *= n
    available = storage.size()
    if count > available:
        raise CheckpointError(
            f"{label}: a tensor of shape {list(size)} claims {count} elements from a storage of {available} "
            "(an expanded or overlapping view)"
        )
    if count and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= available:
        raise CheckpointError(f"{label}: a tensor of shape {list(size)} reaches past the end of its storage")
    return torch._utils._rebuild_tensor(storage, offset, size, stride)


def view_storage(buffer: Any, offset: int, nbytes: int, dtype: torch.dtype) -> torch.storage.TypedStorage:
    """A storage of ``dtype`` viewing ``nbytes`` of ``buffer`` from ``offset``, without copying."""
    if nbytes == 0:
        untyped = torch.UntypedStorage(0)
    else:
        with warnings.catch_warnings():
            # bytes objects are read-only; nothing writes to these tensors.
            warnings.filterwarnings("ignore", message="The given buffer is not writable")
            untyped = torch.frombuffer(buffer, dtype=torch.uint8, count=nbytes, offset=offset).untyped_storage()
    return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)


def map_file(path: str | os.PathLike[str]) -> mmap.mmap:
    """The whole file, memory-mapped copy-on-write (writable for torch, never written back)."""
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)


def _storage_id(pid: Any, length: int) -> tuple[StorageType, str, int, Any]:
    if not (isinstance(pid, tuple) and len(pid) == length and pid[0] in ("storage", b"storage")):
        raise pickle.UnpicklingError("a persistent id that is not a torch storage")
    _, storage_type, key, _location, numel, *view = pid
    if not isinstance(storage_type, StorageType) or type(numel) is not int or numel < 0:
        raise pickle.UnpicklingError("a torch storage id without a storage type and an element count")
    if not isinstance(key, str):
        raise pickle.UnpicklingError("a torch storage key is not text")
    if storage_type.dtype in _QUANTIZED:
        raise RefusedPickleError("quantized storages are refused")
    return storage_type, key, numel, view[0] if view else None


# torch zip


def read_torch_zip(buffer: Any, label: str, budget: Budget | None = None, allowed: AllowList | None = None) -> Any:
    """The object tree of a torch zip held in ``buffer`` (an mmap or bytes), tensors viewing it.

    ``budget`` and ``allowed`` are those of an enclosing file, for a storage blob inside one.
    """
    size = len(buffer)
    budget = budget or Budget(size)
    allowed = allowed or AllowList(torch_globals(label, size))
    try:
        archive = zipfile.ZipFile(io.BytesIO(buffer) if isinstance(buffer, (bytes, bytearray)) else buffer)
        members = {info.filename: info for info in archive.infolist()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"{label}: truncated or corrupt torch zip file ({e})") from None
    pickles = [name for name in members if name.endswith("/data.pkl") and name.count("/") == 1]
    if any("/code/" in name or name.endswith("/constants.pkl") for name in members):
        raise CheckpointError(f"{label}: is a TorchScript archive (code, not a checkpoint)")
    if len(pickles) != 1:
        raise CheckpointError(f"{label}: is a zip archive but not a torch checkpoint (no single <name>/data.pkl)")
    prefix = pickles[0][: -len("data.pkl")]
    order = members.get(prefix + "byteorder")
    if order is not None and bytes(_member(buffer, order, label)) != b"little":
        raise CheckpointError(f"{label}: is a big-endian torch file; sefa-zoo reads little-endian ones only")
    storages: dict[str, torch.storage.TypedStorage] = {}

    def persistent_load(pid: Any) -> torch.storage.TypedStorage:
        storage_type, key, numel, _ = _storage_id(pid, 5)
        if key not in storages:
            info = members.get(f"{prefix}data/{key}")
            if info is None:
                raise pickle.UnpicklingError(f"storage {key!r} has no member in the archive")
            start, length = _member_span(buffer, info, label)
            nbytes = numel * storage_type.dtype.itemsize
            if nbytes > length:
                raise pickle.UnpicklingError(f"storage {key!r} claims {nbytes} bytes, its member has {length}")
            storages[key] = view_storage(buffer, start, nbytes, storage_type.dtype)
        found = storages[key]
        if found.dtype != storage_type.dtype:
            raise pickle.UnpicklingError(f"storage {key!r} is read as two different types")
        return found

    data = _member(buffer, members[pickles[0]], label)
    return unpickle(io.BytesIO(data), len(data), allowed, label=label, budget=budget,
                    persistent_load=persistent_load)


def _member_span(buffer: Any, info: zipfile.ZipInfo, label: str) -> tuple[int, int]:
    """Where a member's bytes are: torch writes every member uncompressed, so refuse the rest."""
    header = bytes(buffer[info.header_offset : info.header_offset + 30])
    if len(header) < 30 or not header.startswith(ZIP_MAGIC):
        raise CheckpointError(f"{label}: truncated or corrupt torch zip file (bad header of {info.filename!r})")
    method = int.from_bytes(header[8:10], "little")
    if info.compress_type != zipfile.ZIP_STORED or method != zipfile.ZIP_STORED:
        raise CheckpointError(f"{label}: member {info.filename!r} is compressed; torch files store members as they are")
    start = info.header_offset + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
    if info.compress_size != info.file_size or start + info.file_size > len(buffer):
        raise CheckpointError(f"{label}: truncated or corrupt torch zip file ({info.filename!r} runs past the end)")
    return start, info.file_size


def _member(buffer: Any, info: zipfile.ZipInfo, label: str) -> bytes:
    start, length = _member_span(buffer, info, label)
    return bytes(buffer[start : start + length])


# legacy torch


def read_legacy(buffer: Any, label: str, budget: Budget | None = None, allowed: AllowList | None = None) -> Any:
    """The object tree of a legacy torch file held in ``buffer``, tensors viewing it (``budget``
    and ``allowed`` as for read_torch_zip)."""
    size = len(buffer)
    budget = budget or Budget(size)
    allowed = allowed or AllowList(torch_globals(label, size))
    stream = io.BytesIO(buffer) if isinstance(buffer, (bytes, bytearray)) else buffer
    stream.seek(0)

    def next_pickle(allowed: dict, **options: Any) -> Any:
        return unpickle(stream, size - stream.tell(), allowed, label=label, budget=budget, **options)

    if next_pickle({}) != LEGACY_MAGIC or next_pickle({}) != LEGACY_PROTOCOL:
        raise CheckpointError(f"{label}: truncated or corrupt legacy torch file (bad magic number or protocol)")
    sys_info = next_pickle({})
    if not (isinstance(sys_info, dict) and sys_info.get("little_endian") is True):
        raise CheckpointError(f"{label}: is a big-endian torch file; sefa-zoo reads little-endian ones only")
    tree_start = stream.tell()
    claimed: dict[str, tuple[StorageType, int]] = {}

    def note_storage(pid: Any) -> Any:
        storage_type, key, numel, _view = _storage_id(pid, 6)
        if claimed.setdefault(key, (storage_type, numel)) != (storage_type, numel):
            raise pickle.UnpicklingError(f"storage {key!r} is described two ways")
        return _DRY

    next_pickle(allowed, persistent_load=note_storage)
    keys = next_pickle({})
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise CheckpointError(f"{label}: truncated or corrupt legacy torch file (bad storage key list)")
    storages = _legacy_storages(buffer, stream.tell(), keys, claimed, label)

    def load_storage(pid: Any) -> torch.storage.TypedStorage:
        storage_type, key, _numel, view = _storage_id(pid, 6)
        root = storages[key]
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3 and all(type(v) is int and v >= 0 for v in view[1:])):
            raise pickle.UnpicklingError("a storage view that is not (key, offset, size)")
        _, offset, length = view
        if offset + length > root.size():
            raise pickle.UnpicklingError(f"a view of storage {key!r} reaches past its end")
        itemsize = storage_type.dtype.itemsize
        part = root._untyped_storage[offset * itemsize : (offset + length) * itemsize]
        return torch.storage.TypedStorage(wrap_storage=part, dtype=storage_type.dtype, _internal=True)

    stream.seek(tree_start)
    return next_pickle(allowed, persistent_load=load_storage)


def _legacy_storages(
    buffer: Any, position: int, keys: list[str], claimed: dict[str, tuple[StorageType, int]], label: str
) -> dict[str, torch.storage.TypedStorage]:
    storages = {}
    for key in keys:
        if key not in claimed or key in storages:
            raise CheckpointError(f"{label}: truncated or corrupt legacy torch file (storage key {key!r})")
        storage_type, numel = claimed[key]
        count = int.from_bytes(bytes(buffer[position : position + 8]), "little")
        nbytes = numel * storage_type.dtype.itemsize
        if count != numel or position + 8 + nbytes > len(buffer):
            raise CheckpointError(f"{label}: truncated or corrupt legacy torch file (storage {key!r} is cut short)")
        storages[key] = view_storage(buffer, position + 8, nbytes, storage_type.dtype)
        position += 8 + nbytes
    if set(storages) != set(claimed):
        raise CheckpointError(f"{label}: truncated or corrupt legacy torch file (a storage has no data)")
    return storages
