"""Open a checkpoint file as a Checkpoint, never executing code from it.

The container is recognised by its first bytes, never by the file name:

  torch-zip     (``PK\\x03\\x04``)  ``torch.load(mmap=True, weights_only=True)``: tensors view the
                mapped file, so only the pages of the tensors actually read come off the disk
  torch-legacy  (pre-1.6 torch)   ``torch.load(weights_only=True)``, the whole file
  safetensors                     ``safe_open``: shapes from the header, a tensor read when asked for
  pickle        (protocol >= 2)   NVIDIA persistence pickles and plain pickles, through the
                                  restricted unpickler of ``sefa_zoo.nvidia_pickle``

Names in the Checkpoint:

* nested dicts are joined with ``"."`` (``g_ema.conv1.conv.modulation.weight``); lists and
  tuples that hold tensors contribute their indices;
* an NVIDIA network object is walked through ``_parameters``, ``_buffers`` (the persistent
  ones) and ``_modules``, so ``G_ema.<name>`` runs over exactly ``G_ema.state_dict()``'s keys;
  None entries are skipped;
* ``objects`` holds every non-tensor leaf under the same dotted name (``args``, ``epoch``);
  a dict, list or tuple holding no tensor is one leaf (``training_set_kwargs``);
* for an NVIDIA network object at name ``P``: ``P._class_name`` (``"Generator"``),
  ``P._init_kwargs`` (a dict), ``P._init_args`` (a tuple), and ``P.<attr>`` for each of its
  other public attributes (``G_ema.synthesis.img_resolution``);
* a safetensors header's metadata is ``objects["__metadata__"]``;
* a file holding a single tensor (not a dict) names it ``""``.

Every tensor is on the CPU and detached.
"""

from __future__ import annotations

import argparse
import os
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .checkpoint import Checkpoint
from .errors import CheckpointError
from .nvidia_pickle import PersistentObject, load_error, load_nvidia_pickle, plain

# Non-tensor types torch's weights-only loader may rebuild, beyond its own defaults. Only
# plain-data classes belong here: rosinality's training snapshots carry an argparse `args`.
TORCH_SAFE_GLOBALS: list[Any] = [argparse.Namespace]

CONTAINERS = ("torch-zip", "torch-legacy", "safetensors", "pickle")

_ZIP_MAGIC = b"PK\x03\x04"
# A legacy torch.save starts with its magic number pickled with protocol 2.
_LEGACY_TORCH_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
_MAX_SAFETENSORS_HEADER = 100_000_000  # safetensors' own limit


def container_of(path: str | os.PathLike[str]) -> str:
    """Which container ``path`` is, from its first bytes; CheckpointError when it is none of them."""
    path = Path(path)
    label = str(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise CheckpointError(f"{label}: is a directory, not a checkpoint file")
        with open(path, "rb") as f:
            head = f.read(32)
    except FileNotFoundError:
        raise CheckpointError(f"{label}: no such file") from None
    except OSError as e:
        raise CheckpointError(f"{label}: cannot read ({e.strerror or e})") from None
    if size == 0:
        raise CheckpointError(f"{label}: is empty (an interrupted download?)")
    if head.startswith(_ZIP_MAGIC):
        return "torch-zip"
    if head.startswith(_LEGACY_TORCH_MAGIC):
        return "torch-legacy"
    if len(head) > 8 and head[8:9] == b"{":
        header_size = int.from_bytes(head[:8], "little")
        if 0 < header_size <= _MAX_SAFETENSORS_HEADER:
            if 8 + header_size > size:
                raise CheckpointError(
                    f"{label}: truncated safetensors file (its header needs {8 + header_size} bytes, "
                    f"the file has {size})"
                )
            return "safetensors"
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    raise CheckpointError(f"{label}: {_describe_unknown(head)}")


def _describe_unknown(head: bytes) -> str:
    start = head.lstrip().lower()
    if start.startswith((b"<!doctype", b"<html")):
        return "is an HTML page, not a checkpoint (a failed download?)"
    if start.startswith(b"version https://git-lfs"):
        return "is a Git LFS pointer, not the checkpoint it points to"
    return (
        f"not a checkpoint sefa-zoo can read (starts with {head[:8]!r}; expected a torch zip, "
        "legacy torch, pickle or safetensors file)"
    )


def open_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Open any supported container as a Checkpoint, never executing code from it.

    torch zip and safetensors files are read lazily (only the tensors asked for come off the
    disk); legacy torch files and pickles are loaded whole. Raises CheckpointError (or its
    subclass UnsafeCheckpointError) with a one-line message naming the file.
    """
    path = Path(path)
    container = container_of(path)
    return _OPENERS[container](path)


def _open_torch(path: Path, container: str) -> Checkpoint:
    # torch.load treats any path ending in ".safetensors" as a safetensors file, and mmap needs a
    # path: a torch file misnamed that way is read through a file object, whole.
    mmap = container == "torch-zip" and not path.name.endswith(".safetensors")
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(TORCH_SAFE_GLOBALS):
            warnings.filterwarnings("ignore", message=".*TorchScript archive")  # refused below instead
            with open(path, "rb") as f:
                obj = torch.load(path if mmap else f, mmap=mmap, weights_only=True, map_location="cpu")
    except Exception as e:  # torch reports bad files with many exception types
        if "TorchScript" in str(e):
            raise CheckpointError(f"{path}: is a TorchScript archive (code, not a checkpoint)") from None
        raise load_error(str(path), e, _KIND[container]) from None
    return flatten(obj, path, container=container)


def _open_safetensors(path: Path) -> Checkpoint:
    from safetensors import safe_open

    label = str(path)
    try:
        handle = safe_open(str(path), framework="pt", device="cpu")
        shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
        metadata = handle.metadata()
    except Exception as e:  # SafetensorError, or an OSError while reading
        raise load_error(label, e, "safetensors") from None

    def load(name: str) -> torch.Tensor:
        try:
            return handle.get_tensor(name)
        except Exception as e:
            raise load_error(label, e, "safetensors") from None

    objects = {"__metadata__": dict(metadata)} if metadata else {}
    return Checkpoint(shapes, load, objects=objects, container="safetensors", path=path)


def _open_pickle(path: Path) -> Checkpoint:
    return flatten(load_nvidia_pickle(path), path, container="pickle")


_KIND = {"torch-zip": "torch zip", "torch-legacy": "legacy torch"}

_OPENERS = {
    "torch-zip": lambda path: _open_torch(path, "torch-zip"),
    "torch-legacy": lambda path: _open_torch(path, "torch-legacy"),
    "safetensors": _open_safetensors,
    "pickle": _open_pickle,
}


def flatten(obj: Any, path: str | os.PathLike[str] | None = None, *, container: str = "memory") -> Checkpoint:
    """Turn a loaded object tree into a Checkpoint, naming entries as this module's docstring says."""
    label = str(path) if path is not None else f"<{container} checkpoint>"
    tensors: dict[str, torch.Tensor] = {}
    objects: dict[str, Any] = {}

    def put(table: dict[str, Any], name: str, value: Any) -> None:
        if name in tensors or name in objects:
            raise CheckpointError(f"{label}: two entries flatten to the same name {name!r}")
        table[name] = value

    def walk(value: Any, name: str) -> None:
        if isinstance(value, torch.Tensor):
            if value.requires_grad or isinstance(value, torch.nn.Parameter):
                value = value.detach()
            put(tensors, name, value)
        elif isinstance(value, PersistentObject):
            walk_module(value, name)
        elif isinstance(value, Mapping) and _holds_tensors(value):
            for key, item in value.items():
                walk(item, _join(name, str(key)))
        elif isinstance(value, (list, tuple)) and _holds_tensors(value):
            for index, item in enumerate(value):
                walk(item, _join(name, str(index)))
        else:
            put(objects, name, plain(value))

    def walk_module(module: PersistentObject, name: str) -> None:
        state = module.state
        put(objects, _join(name, "_class_name"), module.class_name)
        non_persistent = state.get("_non_persistent_buffers_set") or ()
        for table in ("_parameters", "_buffers", "_modules"):
            entries = state.get(table) or {}
            if not isinstance(entries, Mapping):
                raise CheckpointError(f"{label}: {_join(name, table)} of a {module.class_name} is not a dict")
            for key, item in entries.items():
                if item is None or (table == "_buffers" and key in non_persistent):
                    continue
                walk(item, _join(name, str(key)))
        for key in ("_init_kwargs", "_init_args"):
            if key in state:
                put(objects, _join(name, key), plain(state[key]))
        for key, item in state.items():
            if not key.startswith("_") and key != "training":
                put(objects, _join(name, key), plain(item))

    walk(obj, "")
    return Checkpoint(
        {name: tuple(t.shape) for name, t in tensors.items()},
        tensors.__getitem__,
        objects=objects,
        container=container,
        path=Path(path) if path is not None else None,
    )


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _holds_tensors(value: Any) -> bool:
    if isinstance(value, (torch.Tensor, PersistentObject)):
        return True
    if isinstance(value, Mapping):
        return any(_holds_tensors(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_tensors(v) for v in value)
    return False
