"""torch's own file formats, read with sefa-zoo's safe unpickler and numpy, never torch.

torch zip (torch.save since 1.6): a zip of uncompressed members. ``<archive>/data.pkl`` is the
  object tree; its persistent ids ``('storage', type, key, location, numel)`` name the members
  ``<archive>/data/<key>`` that hold the raw bytes. The zip is read through a ByteSource
  (sefa_zoo.byte_sources): the central directory and data.pkl when it is opened, a member only
  when a tensor on it is read, so a memory-mapped file costs only the pages read and a remote
  one only those ranges.
legacy torch (before 1.6): pickles one after another (magic number, protocol, system info, the
  object tree, the list of storage keys), then each storage as an 8-byte element count and its
  bytes. The tree is read twice: once to learn the storages, once to build tensors on them.

Tensors become TensorRecords: (dtype, shape, stride, storage, offset), the dtype named by its
torch name (``"float32"``), the storage saying where its bytes are. Every record is checked as it
is made: dense, on a storage from the file, and covering no more elements than that storage
holds (no stride-0 or overlapping views claiming rows the file does not have), each dimension
at most the file's size. ``TensorRecord.array()`` reads it with numpy, a view of the source's
bytes where the layout allows; bfloat16 is widened to float32 (its bits shifted into place).
"""

from __future__ import annotations

import argparse
import io
import pickle
import zipfile
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .byte_sources import Buffer, ByteSource, BytesSource, SourceReader
from .errors import CheckpointError
from .safe_unpickler import AllowList, Budget, RefusedPickleError, latin1_encode, numpy_globals, unpickle

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
MAX_DIMS = 64
ZIP_MAGIC = b"PK\x03\x04"  # a zip member's local header; a torch zip starts with one


@dataclass(frozen=True)
class TorchDtype:
    """A pickled ``torch.float32`` (etc.): its name and item size; ``numpy`` is the numpy type its
    bytes are read as ("" where numpy has none: sefa-zoo then cannot read such a tensor)."""

    name: str
    itemsize: int
    numpy: str = ""


_DTYPES = [
    TorchDtype("float32", 4, "<f4"), TorchDtype("float64", 8, "<f8"), TorchDtype("float16", 2, "<f2"),
    TorchDtype("bfloat16", 2, "<u2"), TorchDtype("int64", 8, "<i8"), TorchDtype("int32", 4, "<i4"),
    TorchDtype("int16", 2, "<i2"), TorchDtype("int8", 1, "i1"), TorchDtype("uint8", 1, "u1"),
    TorchDtype("uint16", 2, "<u2"), TorchDtype("uint32", 4, "<u4"), TorchDtype("uint64", 8, "<u8"),
    TorchDtype("bool", 1, "?"), TorchDtype("complex64", 8, "<c8"), TorchDtype("complex128", 16, "<c16"),
    TorchDtype("complex32", 4), TorchDtype("float8_e4m3fn", 1), TorchDtype("float8_e4m3fnuz", 1),
    TorchDtype("float8_e5m2", 1), TorchDtype("float8_e5m2fnuz", 1), TorchDtype("float8_e8m0fnu", 1),
    TorchDtype("qint8", 1), TorchDtype("quint8", 1), TorchDtype("qint32", 4), TorchDtype("quint4x2", 1),
    TorchDtype("quint2x4", 1),
]
DTYPES = {dtype.name: dtype for dtype in _DTYPES}
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
            "short": "int16", "cfloat": "complex64", "cdouble": "complex128", "chalf": "complex32"}
_QUANTIZED = frozenset(["qint8", "quint8", "qint32", "quint4x2", "quint2x4"])
# torch's storage classes (``torch.FloatStorage``...) by the dtype they hold
STORAGE_TYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128", "QInt8Storage": "qint8", "QUInt8Storage": "quint8",
    "QInt32Storage": "qint32", "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
    "UntypedStorage": "uint8",
}


class StorageType:
    """What a pickled ``torch.FloatStorage`` (etc.) global becomes: its dtype, nothing callable."""

    def __init__(self, dtype: TorchDtype):
        self.dtype = dtype


class Storage:
    """A storage of the file: its dtype, its size in bytes, and how to read bytes of it.

    ``read(offset, length)`` reads within the storage; nothing is read until a tensor is.
    """

    def __init__(self, dtype: TorchDtype, nbytes: int, read: Callable[[int, int], Buffer]):
        self.dtype = dtype
        self.nbytes = nbytes
        self.read = read

    def size(self) -> int:
        """Its length in elements of its dtype."""
        return self.nbytes // self.dtype.itemsize

    def retyped(self, dtype: TorchDtype) -> Storage:
        return Storage(dtype, self.nbytes, self.read)

    def part(self, offset: int, length: int) -> Storage:
        """``length`` elements from element ``offset`` (a legacy file's storage view)."""
        itemsize = self.dtype.itemsize
        start = offset * itemsize
        return Storage(self.dtype, length * itemsize, lambda at, n: self.read(start + at, n))


@dataclass(frozen=True, eq=False)
class TensorRecord:
    """A tensor of the file, not yet read: (dtype, shape, stride, storage, offset), all checked."""

    storage: Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def dtype(self) -> str:
        return self.storage.dtype.name

    def array(self) -> np.ndarray:
        """The tensor as a numpy array: a view of the source's bytes where the layout allows;
        bfloat16 as float32. CheckpointError for a dtype numpy cannot hold."""
        dtype = self.storage.dtype
        if not dtype.numpy:
            raise CheckpointError(f"a {dtype.name} tensor, which sefa-zoo cannot read")
        if 0 in self.shape:  # no bytes to read; the strides still say the layout
            flat = np.zeros(1, dtype.numpy)
        else:
            extent = 1 + sum((n - 1) * s for n, s in zip(self.shape, self.stride))
            flat = np.frombuffer(self.storage.read(self.offset * dtype.itemsize, extent * dtype.itemsize),
                                 dtype=dtype.numpy)
        strides = tuple(s * dtype.itemsize for s in self.stride)
        values = np.lib.stride_tricks.as_strided(flat, self.shape, strides, writeable=flat.flags.writeable)
        if dtype.name == "bfloat16":  # the top half of a float32's bits
            return np.asarray(np.left_shift(values.astype(np.uint32), 16)).view(np.float32)
        return values


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
        return _tensor_record(storage, offset, size, stride, label, limit)

    def rebuild_v1(storage: Any, offset: Any, size: Any, stride: Any) -> Any:
        return view(storage, offset, size, stride)

    def rebuild_v2(storage: Any, offset: Any, size: Any, stride: Any, _grad: Any = False,
                   hooks: Any = None, metadata: Any = None) -> Any:
        return view(storage, offset, size, stride, hooks, metadata)

    def rebuild_v3(storage: Any, offset: Any, size: Any, stride: Any, _grad: Any, hooks: Any,
                   dtype: Any, metadata: Any = None) -> Any:
        if storage is not _DRY:
            if not isinstance(storage, Storage) or not isinstance(dtype, TorchDtype):
                raise RefusedPickleError("_rebuild_tensor_v3 without a storage and a dtype")
            storage = storage.retyped(dtype)
        return view(storage, offset, size, stride, hooks, metadata)

    def parameter(data: Any, _grad: Any = False, hooks: Any = None, state: Any = None) -> Any:
        if data is not _DRY and not isinstance(data, TensorRecord):
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
        ("torch", "Size"): _size,
        ("torch", "device"): _device,
        ("collections", "OrderedDict"): OrderedDict,
        ("collections", "Counter"): Counter,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "complex"): complex,
        ("builtins", "bytearray"): _bytearray,
        ("_codecs", "encode"): latin1_encode,
        ("argparse", "Namespace"): argparse.Namespace,
    }
    for name, dtype in DTYPES.items():
        table["torch", name] = dtype
    for alias, name in _ALIASES.items():
        table["torch", alias] = DTYPES[name]
    for name, dtype_name in STORAGE_TYPES.items():
        table["torch", name] = StorageType(DTYPES[dtype_name])
    table["torch.storage", "UntypedStorage"] = table["torch", "UntypedStorage"]
    table.update(numpy_globals(limit))
    return table


def _size(sizes: Any = ()) -> tuple[int, ...]:
    """``torch.Size(sizes)``: the tuple of whole numbers it is."""
    if not isinstance(sizes, (tuple, list)) or not all(type(n) is int for n in sizes):
        raise RefusedPickleError("torch.Size of something other than whole numbers")
    return tuple(sizes)


def _device(kind: Any, index: Any = None) -> str:
    """``torch.device(kind[, index])`` as the text that names it (``"cuda:0"``)."""
    if not isinstance(kind, str) or not (index is None or type(index) is int):
        raise RefusedPickleError("torch.device of something other than a name and an index")
    return kind if index is None else f"{kind}:{index}"


def _bytearray(source: Any = b"", encoding: str = "latin1") -> bytearray:
    # Protocols 2-4 pickle a bytearray as bytearray(text, "latin-1"); a bare size would allocate it.
    if isinstance(source, str):
        return bytearray(source.encode("latin1"))
    if isinstance(source, (bytes, bytearray)):
        return bytearray(source)
    raise RefusedPickleError("bytearray of something other than bytes or text")


def _tensor_record(storage: Any, offset: Any, size: Any, stride: Any, label: str, limit: int) -> TensorRecord:
    if not isinstance(storage, Storage):
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
    return TensorRecord(storage, offset, size, stride)


def _storage_id(pid: Any, length: int) -> tuple[StorageType, str, int, Any]:
    if not (isinstance(pid, tuple) and len(pid) == length and pid[0] in ("storage", b"storage")):
        raise pickle.UnpicklingError("a persistent id that is not a torch storage")
    _, storage_type, key, _location, numel, *view = pid
    if not isinstance(storage_type, StorageType) or type(numel) is not int or numel < 0:
        raise pickle.UnpicklingError("a torch storage id without a storage type and an element count")
    if not isinstance(key, str):
        raise pickle.UnpicklingError("a torch storage key is not text")
    if storage_type.dtype.name in _QUANTIZED:
        raise RefusedPickleError("quantized storages are refused")
    return storage_type, key, numel, view[0] if view else None


# torch zip


def read_torch_zip(source: ByteSource, label: str, budget: Budget | None = None,
                   allowed: AllowList | None = None) -> Any:
    """The object tree of the torch zip in ``source``, tensors as TensorRecords on its members.

    Reads the central directory and data.pkl now, a storage's member only when a tensor on it is
    read. ``budget`` and ``allowed`` are those of an enclosing file, for a storage blob inside one.
    """
    size = len(source)
    budget = budget or Budget(size)
    allowed = allowed or AllowList(torch_globals(label, size))
    try:
        archive = zipfile.ZipFile(SourceReader(source))
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
    if order is not None and bytes(_member(source, order, label)) != b"little":
        raise CheckpointError(f"{label}: is a big-endian torch file; sefa-zoo reads little-endian ones only")
    storages: dict[str, Storage] = {}

    def persistent_load(pid: Any) -> Storage:
        storage_type, key, numel, _ = _storage_id(pid, 5)
        if key not in storages:
            info = members.get(f"{prefix}data/{key}")
            if info is None:
                raise pickle.UnpicklingError(f"storage {key!r} has no member in the archive")
            _check_stored(info, size, label)
            nbytes = numel * storage_type.dtype.itemsize
            if nbytes > info.file_size:
                raise pickle.UnpicklingError(f"storage {key!r} claims {nbytes} bytes, its member has {info.file_size}")
            storages[key] = Storage(storage_type.dtype, nbytes, _member_reader(source, info, label))
        found = storages[key]
        if found.dtype != storage_type.dtype:
            raise pickle.UnpicklingError(f"storage {key!r} is read as two different types")
        return found

    data = _member(source, members[pickles[0]], label)
    return unpickle(io.BytesIO(data), len(data), allowed, label=label, budget=budget,
                    persistent_load=persistent_load)


def _check_stored(info: zipfile.ZipInfo, size: int, label: str) -> None:
    """What the central directory says of a member: torch stores every member uncompressed."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise CheckpointError(f"{label}: member {info.filename!r} is compressed; torch files store members as they are")
    if info.compress_size != info.file_size or info.header_offset + 30 + info.file_size > size:
        raise CheckpointError(f"{label}: truncated or corrupt torch zip file ({info.filename!r} runs past the end)")


def _member_span(source: ByteSource, info: zipfile.ZipInfo, label: str) -> tuple[int, int]:
    """Where a member's bytes are, from its local header, which must agree with the directory."""
    _check_stored(info, len(source), label)
    header = bytes(source.read(info.header_offset, 30))
    if not header.startswith(ZIP_MAGIC):
        raise CheckpointError(f"{label}: truncated or corrupt torch zip file (bad header of {info.filename!r})")
    if int.from_bytes(header[8:10], "little") != zipfile.ZIP_STORED:
        raise CheckpointError(f"{label}: member {info.filename!r} is compressed; torch files store members as they are")
    start = info.header_offset + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
    if start + info.file_size > len(source):
        raise CheckpointError(f"{label}: truncated or corrupt torch zip file ({info.filename!r} runs past the end)")
    return start, info.file_size


def _member(source: ByteSource, info: zipfile.ZipInfo, label: str) -> bytes:
    start, length = _member_span(source, info, label)
    return bytes(source.read(start, length))


def _member_reader(source: ByteSource, info: zipfile.ZipInfo, label: str) -> Callable[[int, int], Buffer]:
    """read(offset, length) within a member, its local header read on the first call."""
    found: list[int] = []

    def read(offset: int, length: int) -> Buffer:
        if not found:
            found.append(_member_span(source, info, label)[0])
        return source.read(found[0] + offset, length)

    return read


# legacy torch


def read_legacy(source: ByteSource, label: str, budget: Budget | None = None,
                allowed: AllowList | None = None) -> Any:
    """The object tree of the legacy torch file in ``source``, tensors as TensorRecords on it
    (``budget`` and ``allowed`` as for read_torch_zip). Every pickle in it is read."""
    size = len(source)
    budget = budget or Budget(size)
    allowed = allowed or AllowList(torch_globals(label, size))
    stream = io.BufferedReader(SourceReader(source))

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
    storages = _legacy_storages(source, stream.tell(), keys, claimed, label)

    def load_storage(pid: Any) -> Storage:
        storage_type, key, _numel, view = _storage_id(pid, 6)
        root = storages[key]
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3 and all(type(v) is int and v >= 0 for v in view[1:])):
            raise pickle.UnpicklingError("a storage view that is not (key, offset, size)")
        _, offset, length = view
        if offset + length > root.size():
            raise pickle.UnpicklingError(f"a view of storage {key!r} reaches past its end")
        return root.part(offset, length)

    stream.seek(tree_start)
    return next_pickle(allowed, persistent_load=load_storage)


def _legacy_storages(
    source: ByteSource, position: int, keys: list[str], claimed: dict[str, tuple[StorageType, int]], label: str
) -> dict[str, Storage]:
    storages = {}
    for key in keys:
        if key not in claimed or key in storages:
            raise CheckpointError(f"{label}: truncated or corrupt legacy torch file (storage key {key!r})")
        storage_type, numel = claimed[key]
        nbytes = numel * storage_type.dtype.itemsize
        if position + 8 + nbytes > len(source):
            raise CheckpointError(f"{label}: truncated or corrupt legacy torch file (storage {key!r} is cut short)")
        if int.from_bytes(bytes(source.read(position, 8)), "little") != numel:
            raise CheckpointError(f"{label}: truncated or corrupt legacy torch file (storage {key!r} is cut short)")
        storages[key] = Storage(storage_type.dtype, nbytes, _reader_at(source, position + 8))
        position += 8 + nbytes
    if set(storages) != set(claimed):
        raise CheckpointError(f"{label}: truncated or corrupt legacy torch file (a storage has no data)")
    return storages


def _reader_at(source: ByteSource, start: int) -> Callable[[int, int], Buffer]:
    return lambda offset, length: source.read(start + offset, length)


def read_torch_bytes(blob: Buffer, label: str, budget: Budget, allowed: AllowList) -> Any:
    """The object tree of a torch file held in memory (a storage inside an NVIDIA pickle)."""
    source = BytesSource(blob)
    read = read_torch_zip if bytes(source.read(0, min(4, len(source)))) == ZIP_MAGIC else read_legacy
    return read(source, label, budget, allowed)
