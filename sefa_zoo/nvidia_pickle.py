"""NVIDIA persistence pickles (stylegan2-ada-pytorch, stylegan3) read without NVIDIA code.

NVIDIA's network objects pickle as a call to
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` whose ``meta`` carries the
whole source of the defining module; NVIDIA's loader executes that source. Reading here
uses a restricted unpickler: that call becomes a ``PersistentObject`` holding only the
class name and the pickled ``__dict__`` (``module_src`` is dropped unread), and any global
not on a short allow-list is refused before anything from the file runs.

Tensors in these files pickle as ``torch.storage._load_from_bytes(blob)``, where ``blob``
is a legacy ``torch.save`` of one storage. The stand-in parses that blob and returns a
storage that views the blob's bytes, so the whole file costs its size in memory once,
not twice; an unexpected blob falls back to ``torch.load(weights_only=True)``.

The writer, for tests, benchmarks and plugins, is sefa_zoo.nvidia_pickle_writer.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import importlib
import io
import os
import pickle
import re
import sys
import types
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy
import torch

from .errors import CheckpointError, UnsafeCheckpointError

PERSISTENCE_VERSION = 6  # torch_utils.persistence._version in stylegan2-ada-pytorch and stylegan3
PICKLE_PROTOCOL = 4  # pickle.dump's default in the Python versions NVIDIA's code ran on
_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C

@dataclass(eq=False)
class PersistentObject:
    """A network object from an NVIDIA pickle: its class name and pickled ``__dict__``, no code."""

    class_name: str
    state: dict[str, Any]


class _EasyDict(dict):
    """Stands in for ``dnnlib.util.EasyDict``; a dict subclass so that a pickled BUILD of an
    (empty) instance ``__dict__``, as older Pythons wrote it, still applies."""


def _persistent_object(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict) or not isinstance(meta.get("class_name"), str):
        raise pickle.UnpicklingError("persistent object without a class name")
    state = meta.get("state")
    if not isinstance(state, dict):
        raise pickle.UnpicklingError(f"persistent object {meta['class_name']!r} has no state dict")
    return PersistentObject(meta["class_name"], dict(state))


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Protocol-2 pickles spell bytes as _codecs.encode(text, "latin1"); no other codec is allowed.
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(text, "latin1")


def _numpy_module(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(f"numpy._core.{name}")
    except ImportError:  # numpy < 2
        return importlib.import_module(f"numpy.core.{name}")


@cache
def allowed_globals() -> dict[tuple[str, str], Any]:
    """Every global a pickle may name, as (module, name) -> the object it becomes."""
    allowed: dict[tuple[str, str], Any] = {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_object,
        ("dnnlib.util", "EasyDict"): _EasyDict,
        ("dnnlib", "EasyDict"): _EasyDict,
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("_codecs", "encode"): _latin1_encode,
        ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): torch._utils._rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
        ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
    }
    for name in dir(torch):
        if isinstance(getattr(torch, name), torch.dtype):
            allowed["torch", name] = getattr(torch, name)
    multiarray, numeric = _numpy_module("multiarray"), _numpy_module("numeric")
    for package in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2 spell them differently
        allowed[f"{package}.multiarray", "_reconstruct"] = multiarray._reconstruct
        allowed[f"{package}.multiarray", "scalar"] = multiarray.scalar
        allowed[f"{package}.numeric", "_frombuffer"] = numeric._frombuffer
    allowed["numpy", "ndarray"] = numpy.ndarray
    allowed["numpy", "dtype"] = numpy.dtype
    return allowed


def python3_global(module: str, name: str) -> tuple[str, str]:
    """Protocol-2 pickles name some globals the Python 2 way (``__builtin__.set``); Python 3's names."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[module, name]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, label: str):
        super().__init__(file)
        self._label = label

    def find_class(self, module: str, name: str) -> Any:
        module, name = python3_global(module, name)
        try:
            return allowed_globals()[module, name]
        except KeyError:
            raise UnsafeCheckpointError(
                f"{self._label}: refuses to load global '{module}.{name}' (not on the allow-list); "
                "nothing from the file was run"
            ) from None


def load_nvidia_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle an NVIDIA (or plain) pickle with the restricted unpickler.

    Network objects come back as ``PersistentObject``; tensors are on the CPU. Raises
    UnsafeCheckpointError for a global not on the allow-list, CheckpointError for a
    truncated or corrupt file.
    """
    label = str(path)
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            # Storages view the pickle's own bytes objects, which nothing else holds.
            warnings.filterwarnings("ignore", message="The given buffer is not writable")
            return _RestrictedUnpickler(f, label).load()
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(f"{label}: cannot read ({e.strerror or e})") from None
    except Exception as e:  # anything the unpickler or a rebuild helper throws means a bad file
        raise load_error(label, e, "pickle") from None


# Tensor storages: torch.storage._load_from_bytes(blob) without running torch.load(weights_only=False).


class _StorageHeaderUnpickler(pickle.Unpickler):
    """Reads the small pickles of a legacy ``torch.save(storage)``; only storage types allowed."""

    def find_class(self, module: str, name: str) -> Any:
        dtype = _storage_dtypes().get(name) if module == "torch" else None
        if dtype is None:
            raise pickle.UnpicklingError(f"storage blob names global '{module}.{name}'")
        return dtype

    def persistent_load(self, pid: Any) -> Any:
        return ("persistent", pid)


@cache
def _storage_dtypes() -> dict[str, torch.dtype]:
    """Legacy storage class names (``FloatStorage``...) -> their dtype."""
    dtypes = {"UntypedStorage": torch.uint8}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a legacy storage class's .dtype warns that TypedStorage will go
        for storage_class in torch._storage_classes:
            dtype = getattr(storage_class, "dtype", None)
            if storage_class.__name__.endswith("Storage") and isinstance(dtype, torch.dtype):
                dtypes[storage_class.__name__] = dtype
    return dtypes


def _storage_from_bytes(blob: Any) -> torch.storage.TypedStorage:
    if not isinstance(blob, (bytes, bytearray)):
        raise pickle.UnpicklingError("torch.storage._load_from_bytes called without bytes")
    storage = _view_legacy_storage(blob)
    if storage is None:
        storage = torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
        if not isinstance(storage, (torch.storage.TypedStorage, torch.UntypedStorage)):
            raise pickle.UnpicklingError("torch.storage._load_from_bytes did not hold a storage")
    return storage


def _view_legacy_storage(blob: bytes | bytearray) -> torch.storage.TypedStorage | None:
    """The one storage in a legacy-format blob, viewing ``blob``; None if it is laid out otherwise."""
    stream = io.BytesIO(blob)
    try:
        magic, _protocol, sys_info, root, keys = (_StorageHeaderUnpickler(stream).load() for _ in range(5))
        if magic != _LEGACY_TORCH_MAGIC:
            return None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError):
        return None
    little_endian = isinstance(sys_info, dict) and sys_info.get("little_endian") is True
    if not (little_endian and sys.byteorder == "little"):
        return None
    if not (isinstance(root, tuple) and len(root) == 2 and root[0] == "persistent"):
        return None
    pid = root[1]
    if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and pid[5] is None):
        return None
    _, dtype, key, _location, numel, _ = pid  # the location is ignored: everything loads to the CPU
    if keys != [key] or not isinstance(numel, int) or not isinstance(dtype, torch.dtype):
        return None
    start = stream.tell()
    if int.from_bytes(blob[start : start + 8], "little") != numel:
        raise pickle.UnpicklingError("storage blob's element count does not match its header")
    nbytes = numel * dtype.itemsize
    if start + 8 + nbytes > len(blob):
        raise pickle.UnpicklingError("storage blob is shorter than its header says")
    if nbytes == 0:
        untyped = torch.UntypedStorage(0)
    else:
        untyped = torch.frombuffer(blob, dtype=torch.uint8, count=nbytes, offset=start + 8).untyped_storage()
    return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)


# Errors


# torch names a refused global "module.name", or just "name" for a builtin.
_GLOBAL_IN_TORCH_MESSAGE = re.compile(
    r"GLOBAL ((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*) (?:was not|whose module)"
)


_TORCH_ENFORCE_PREFIX = re.compile(r"^\[enforce fail at [^\]]*\][\s.]*")


def load_error(label: str, error: BaseException, what: str) -> CheckpointError:
    """A one-line error for a failed load of a ``what`` file (``"pickle"``, ``"torch zip"``...).

    torch's weights-only refusal of a global becomes UnsafeCheckpointError naming the global.
    """
    message = str(error)
    weights_only = isinstance(error, pickle.UnpicklingError) and message.startswith("Weights only")
    refused = _GLOBAL_IN_TORCH_MESSAGE.search(message) if weights_only else None
    if refused:
        module, _, name = refused.group(1).rpartition(".")
        name = ".".join(python3_global(module or "builtins", name))
        return UnsafeCheckpointError(
            f"{label}: refuses to load global '{name}' (not on the allow-list); "
            "nothing from the file was run"
        )
    if weights_only and "WeightsUnpickler error:" in message:
        message = message.split("WeightsUnpickler error:", 1)[1]
    message = _TORCH_ENFORCE_PREFIX.sub("", message)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    reason = lines[0].split(". ")[0].rstrip(".") if lines else ""
    if not reason:
        reason = "unexpected end of file" if isinstance(error, EOFError) else type(error).__name__
    if len(reason) > 160:
        reason = reason[:157] + "..."
    return CheckpointError(f"{label}: truncated or corrupt {what} file ({reason})")


def plain(value: Any) -> Any:
    """``value`` with EasyDict stand-ins turned into dicts, through dicts, lists and tuples."""
    if type(value) in (dict, OrderedDict, _EasyDict):
        items = ((k, plain(v)) for k, v in value.items())
        return dict(items) if type(value) is _EasyDict else type(value)(items)
    if type(value) in (list, tuple):
        return type(value)(plain(v) for v in value)
    return value
