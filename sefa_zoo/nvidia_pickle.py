"""NVIDIA persistence pickles (stylegan2-ada-pytorch, stylegan3) read without NVIDIA code.

NVIDIA's network objects pickle as a call to
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` whose ``meta`` carries the
whole source of the defining module; NVIDIA's loader executes that source. Here the file goes
through sefa-zoo's safe unpickler: that call becomes a ``PersistentObject`` holding only the
class name and the pickled ``__dict__`` (``module_src`` is dropped unread), and any global
not on a short allow-list is refused before anything from the file runs.

Tensors in these files pickle as ``torch.storage._load_from_bytes(blob)``, where ``blob``
is a ``torch.save`` of one storage (legacy format, or zip); it is read like any torch file
(sefa_zoo.torch_files, no torch imported), the storage on the blob's bytes, so the whole file
costs its size in memory once.

The writer, for tests, benchmarks and plugins, is sefa_zoo.testing.
"""

from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .errors import CheckpointError, UnsafeCheckpointError
from .safe_unpickler import AllowList, Budget, RefusedGlobalError, RefusedPickleError, unpickle
from .torch_files import Storage, read_torch_bytes, torch_globals

PERSISTENCE_VERSION = 6  # torch_utils.persistence._version in stylegan2-ada-pytorch and stylegan3
PICKLE_PROTOCOL = 4  # pickle.dump's default in the Python versions NVIDIA's code ran on


@dataclass(eq=False)
class PersistentObject:
    """A network object from an NVIDIA pickle: its class name and pickled ``__dict__``, no code."""

    class_name: str
    state: dict[str, Any]


class EasyDictStandIn(dict):
    """Stands in for ``dnnlib.util.EasyDict``; a dict subclass so that a pickled BUILD of an
    (empty) instance ``__dict__``, as older Pythons wrote it, still applies."""


def _persistent_object(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict) or not isinstance(meta.get("class_name"), str):
        raise pickle.UnpicklingError("persistent object without a class name")
    state = meta.get("state")
    if not isinstance(state, dict):
        raise pickle.UnpicklingError(f"persistent object {meta['class_name']!r} has no state dict")
    return PersistentObject(meta["class_name"], dict(state))


def allowed_globals(label: str = "<pickle>", limit: int = 0, budget: Budget | None = None) -> AllowList:
    """Every global an NVIDIA pickle of ``limit`` bytes may name, as (module, name) -> what it becomes."""
    budget = budget or Budget(limit)
    in_blobs = AllowList(torch_globals(label, limit))

    def storage_from_bytes(blob: Any) -> Storage:
        if not isinstance(blob, (bytes, bytearray)):
            raise RefusedPickleError("torch.storage._load_from_bytes called without bytes")
        storage = read_torch_bytes(blob, label, budget, in_blobs)
        if not isinstance(storage, Storage):
            raise pickle.UnpicklingError("torch.storage._load_from_bytes did not hold a storage")
        return storage

    return AllowList({
        **in_blobs,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_object,
        ("dnnlib.util", "EasyDict"): EasyDictStandIn,
        ("dnnlib", "EasyDict"): EasyDictStandIn,
        ("torch.storage", "_load_from_bytes"): storage_from_bytes,
    })


def load_nvidia_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle an NVIDIA (or plain) pickle with the safe unpickler.

    Network objects come back as ``PersistentObject``; tensors are on the CPU. Raises
    UnsafeCheckpointError for a global or an operation that is not allowed, CheckpointError
    for a truncated or corrupt file.
    """
    label = str(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            budget = Budget(size)
            return unpickle(f, size, allowed_globals(label, size, budget), label=label, budget=budget,
                            newobj_classes=(EasyDictStandIn,))
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(f"{label}: cannot read ({e.strerror or e})") from None
    except Exception as e:  # anything the unpickler or a rebuild helper throws means a bad file
        raise load_error(label, e, "pickle") from None


# Errors


def load_error(label: str, error: BaseException, what: str) -> CheckpointError:
    """A one-line error for a failed load of a ``what`` file (``"pickle"``, ``"torch zip"``...).

    A refusal by the safe unpickler becomes UnsafeCheckpointError naming what was refused.
    """
    if isinstance(error, RefusedGlobalError):
        return UnsafeCheckpointError(
            f"{label}: refuses to load global '{error.global_name}' (not on the allow-list); "
            "nothing from the file was run"
        )
    if isinstance(error, RefusedPickleError):
        return UnsafeCheckpointError(f"{label}: refused: {error}; nothing from the file was run")
    message = _ENFORCE_PREFIX.sub("", str(error))
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    reason = lines[0].split(". ")[0].rstrip(".") if lines else ""
    if not reason:
        reason = "unexpected end of file" if isinstance(error, EOFError) else type(error).__name__
    if len(reason) > 160:
        reason = reason[:157] + "..."
    return CheckpointError(f"{label}: truncated or corrupt {what} file ({reason})")


_ENFORCE_PREFIX = re.compile(r"^\[enforce fail at [^\]]*\][\s.]*")  # torch's C++ errors


def plain(value: Any) -> Any:
    """``value`` with EasyDict stand-ins turned into dicts, through dicts, lists and tuples."""
    if type(value) in (dict, OrderedDict, EasyDictStandIn):
        items = ((k, plain(v)) for k, v in value.items())
        return dict(items) if type(value) is EasyDictStandIn else type(value)(items)
    if type(value) in (list, tuple):
        return type(value)(plain(v) for v in value)
    return value
