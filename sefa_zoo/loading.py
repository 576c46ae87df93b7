"""Open a checkpoint file as a Checkpoint, never executing code from it.

The container is recognised by its first bytes, never by the file name:

  torch-zip     (``PK\\x03\\x04``)  sefa_zoo.torch_files over the memory-mapped file: tensors view
                it, so only the pages of the tensors actually read come off the disk
  torch-legacy  (pre-1.6 torch)   sefa_zoo.torch_files, tensors viewing the memory-mapped file too
  safetensors                     sefa_zoo.safetensors_files: shapes from the header, a tensor read
                                  (a view of the mapped file) when asked for
  tf-pickle     (protocol >= 2)   NVIDIA's TensorFlow network pickles (G, D, Gs), told by the first
                                  global they name, ``dnnlib.tflib.network.Network`` (sefa_zoo.tf_pickle)
  pickle        (protocol >= 2)   NVIDIA persistence pickles and plain pickles (sefa_zoo.nvidia_pickle)

All but safetensors go through sefa-zoo's safe unpickler (sefa_zoo.safe_unpickler): torch.load
is never called, and nothing here imports torch: tensors are read as numpy arrays. What it
returns is surveyed before it is walked: a tree deeper than
``MAX_DEPTH``, cyclic, or whose expansion (shared references counted each time they are
reached) exceeds the file's size in nodes is refused, so no later step can be made to do
more work than the file has bytes.

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
* a TensorFlow pickle's networks are ``G``, ``D`` and ``Gs``, its tuple's order; a TensorFlow
  network at name ``P`` holds its variables under their own names and its components under
  their roles, joined with ``"."`` (``Gs.synthesis.4x4/Conv/mod_weight``, ``Gs.dlatent_avg``,
  ``Gs.mapping.Dense0/weight``): legacy.py's names in stylegan2-ada-pytorch with ``"."`` for the
  ``"/"`` after a component; objects ``P._name``, ``P._version``, ``P._static_kwargs`` (a dict)
  and ``P._build_func_name`` (the module source is never exposed);
* a safetensors header's metadata is ``objects["__metadata__"]``;
* a file holding a single tensor (not a dict) names it ``""``.

Every tensor is on the CPU and detached.

torch zips and safetensors files are read through a ByteSource (sefa_zoo.byte_sources):
``open_source`` opens one that is not a local file, reading only what it needs of it.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .byte_sources import ByteSource, MappedFile
from .checkpoint import Checkpoint
from .errors import CheckpointError, SefaZooError
from .file_kinds import checkpoint_in_folder
from .nvidia_pickle import PersistentObject, load_error, load_nvidia_pickle, plain
from .safetensors_files import entry_reader, read_safetensors
from .tf_pickle import TFNetwork, is_tf_pickle, load_tf_pickle, network_parts, tensor_of
from .torch_files import LEGACY_MAGIC, ZIP_MAGIC, TensorRecord, read_legacy, read_torch_zip

CONTAINERS = ("torch-zip", "torch-legacy", "safetensors", "tf-pickle", "pickle")

# A legacy torch.save starts with its magic number pickled with protocol 2.
_LEGACY_TORCH_MAGIC = pickle.dumps(LEGACY_MAGIC, protocol=2)
_MAX_SAFETENSORS_HEADER = 100_000_000  # safetensors' own limit
MAX_DEPTH = 100  # NVIDIA's deepest networks nest about 15 levels
MAX_NODES_FLOOR = 100_000


def container_of(path: str | os.PathLike[str]) -> str:
    """Which container ``path`` is, from its first bytes; CheckpointError when it is none of them."""
    path = Path(path)
    label = str(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise CheckpointError(f"{label}: is a directory, not a checkpoint file")
        with open(path, "rb") as f:
            head = f.read(128)
    except FileNotFoundError:
        raise CheckpointError(f"{label}: no such file") from None
    except OSError as e:
        raise CheckpointError(f"{label}: cannot read ({e.strerror or e})") from None
    return container_of_head(head, size, label)


def container_of_head(head: bytes, size: int, label: str) -> str:
    """Which container a file of ``size`` bytes is, from its first 128 bytes ``head``."""
    if size == 0:
        raise CheckpointError(f"{label}: is empty (an interrupted download?)")
    if head.startswith(ZIP_MAGIC):
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
        return "tf-pickle" if is_tf_pickle(head) else "pickle"
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


def open_checkpoint(
    path: str | os.PathLike[str], *, companions: Mapping[str, str | os.PathLike[str]] | None = None
) -> Checkpoint:
    """Open any supported container as a Checkpoint, never executing code from it.

    torch zip and safetensors files are read lazily (only the tensors asked for come off the
    disk); legacy torch files and pickles are loaded whole. Raises CheckpointError (or its
    subclass UnsafeCheckpointError) with a one-line message naming the file.

    ``path`` may be a folder holding one checkpoint (a Hub snapshot: ``pytorch_model.bin``
    beside its ``config.json``). ``companions`` names files that belong with the weights but
    lie elsewhere, e.g. ``{"config.json": "my-config.json"}`` (see ``Checkpoint.companion``).
    """
    path = Path(path)
    if path.is_dir():
        path = checkpoint_in_folder(path)
    container = container_of(path)
    checkpoint = _OPENERS[container](path)
    for name, companion in (companions or {}).items():
        companion = Path(companion)
        if not companion.is_file():
            raise CheckpointError(f"{companion}: no such file (given as the checkpoint's {name})")
        checkpoint.companions[name] = companion
    return checkpoint


def open_source(source: ByteSource, label: str, *, path: Path | None = None) -> Checkpoint:
    """Open a torch zip or safetensors file held by ``source`` (a file read remotely, say),
    reading only what it needs: the zip's central directory and data.pkl, or the safetensors
    header, now; a tensor's bytes when it is read. ``label`` names the file in errors; ``path``,
    when given, is the file's local path. Other containers need every byte of the file: a
    CheckpointError says so."""
    head = bytes(source.read(0, min(128, len(source))))
    container = container_of_head(head, len(source), label)
    if container == "torch-zip":
        return _read_torch(source, label, container, path)
    if container == "safetensors":
        return _read_safetensors(source, label, path)
    raise CheckpointError(f"{label}: is a {_KIND.get(container, container)} file, which is read only whole")


def _open_torch(path: Path, container: str) -> Checkpoint:
    try:
        source = MappedFile(path)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    return _read_torch(source, str(path), container, path)


def _read_torch(source: ByteSource, label: str, container: str, path: Path | None) -> Checkpoint:
    read = read_torch_zip if container == "torch-zip" else read_legacy
    try:
        tree = read(source, label)
    except SefaZooError:  # a CheckpointError, or a remote source's own error, as it is
        raise
    except OSError as e:
        raise CheckpointError(f"{label}: cannot read ({e.strerror or e})") from None
    except Exception as e:  # anything the unpickler or a rebuild helper throws means a bad file
        raise load_error(label, e, _KIND[container]) from None
    return flatten(tree, path, container=container, size=len(source), label=label)


def _open_safetensors(path: Path) -> Checkpoint:
    try:
        source = MappedFile(path)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    return _read_safetensors(source, str(path), path)


def _read_safetensors(source: ByteSource, label: str, path: Path | None) -> Checkpoint:
    entries, metadata = read_safetensors(source, label)
    readers = {name: _reading_errors(entry_reader(source, entry), label, "safetensors")
               for name, entry in entries.items()}
    objects = {"__metadata__": metadata} if metadata else {}
    widened = {name: "bfloat16" for name, entry in entries.items() if entry.dtype == "BF16"}
    return Checkpoint({name: entry.shape for name, entry in entries.items()}, lambda name: readers[name](),
                      objects=objects, container="safetensors", path=path, widened=widened, label=label)


def _reading_errors(read: Callable[[], np.ndarray], label: str, what: str) -> Callable[[], np.ndarray]:
    """``read``, with a failed read of the source a one-line CheckpointError naming the file."""

    def checked() -> np.ndarray:
        try:
            return read()
        except CheckpointError as e:
            if str(e).startswith(f"{label}: "):
                raise
            raise CheckpointError(f"{label}: holds {e}") from None
        except SefaZooError:  # a remote source's own error, as it is
            raise
        except (OSError, EOFError) as e:
            raise load_error(label, e, what) from None

    return checked


def _open_pickle(path: Path) -> Checkpoint:
    return flatten(load_nvidia_pickle(path), path, container="pickle", size=path.stat().st_size)


def _open_tf_pickle(path: Path) -> Checkpoint:
    return flatten(load_tf_pickle(path), path, container="tf-pickle", size=path.stat().st_size)


_KIND = {"torch-zip": "torch zip", "torch-legacy": "legacy torch", "tf-pickle": "TensorFlow pickle"}

_OPENERS = {
    "torch-zip": lambda path: _open_torch(path, "torch-zip"),
    "torch-legacy": lambda path: _open_torch(path, "torch-legacy"),
    "safetensors": _open_safetensors,
    "tf-pickle": _open_tf_pickle,
    "pickle": _open_pickle,
}


def flatten(
    obj: Any, path: str | os.PathLike[str] | None = None, *, container: str = "memory", size: int | None = None,
    label: str | None = None,
) -> Checkpoint:
    """Turn a loaded object tree into a Checkpoint, naming entries as this module's docstring says.

    Its tensors are TensorRecords (or torch tensors, from a tree torch itself loaded).
    ``size`` is the file's size in bytes: the tree's expansion may not exceed it (plus a floor).
    ``label`` names the file in errors (default: ``path``).
    """
    label = label or (str(path) if path is not None else f"<{container} checkpoint>")
    holds = survey(obj, label, MAX_NODES_FLOOR + (size if size is not None else MAX_NODES_FLOOR))
    tensors: dict[str, tuple[tuple[int, ...], Callable[[], Any]]] = {}  # name -> (shape, what reads it)
    objects: dict[str, Any] = {}
    widened: dict[str, str] = {}

    def put(table: dict[str, Any], name: str, value: Any) -> None:
        if name in tensors or name in objects:
            raise CheckpointError(f"{label}: two entries flatten to the same name {name!r}")
        table[name] = value

    def walk(value: Any, name: str) -> None:
        if isinstance(value, TensorRecord):
            put(tensors, name, (value.shape, _reading_errors(value.array, label, _KIND.get(container, container))))
            if value.dtype == "bfloat16":
                widened[name] = value.dtype
        elif _is_torch_tensor(value):
            put(tensors, name, (tuple(value.shape), _returning(value.detach())))
        elif isinstance(value, PersistentObject):
            walk_module(value, name)
        elif type(value) is TFNetwork:
            walk_tf_network(value, name)
        elif isinstance(value, Mapping) and holds.get(id(value)):
            for key, item in value.items():
                walk(item, _join(name, str(key)))
        elif isinstance(value, (list, tuple)) and holds.get(id(value)):
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
                if item is None or (table == "_buffers" and _is_member(key, non_persistent)):
                    continue
                walk(item, _join(name, str(key)))
        for key in ("_init_kwargs", "_init_args"):
            if key in state:
                put(objects, _join(name, key), plain(state[key]))
        for key, item in state.items():
            if isinstance(key, str) and not key.startswith("_") and key != "training":
                put(objects, _join(name, key), plain(item))

    def walk_tf_network(network: TFNetwork, name: str) -> None:
        parts = network_parts(network, label, name)
        for key in ("name", "version", "static_kwargs", "build_func_name"):
            put(objects, _join(name, f"_{key}"), getattr(parts, key))
        for key, array in parts.variables:
            put(tensors, _join(name, key), (array.shape, _returning(tensor_of(array))))
        for key, component in parts.components:
            walk(component, _join(name, key))

    walk(obj, "")
    return Checkpoint(
        {name: shape for name, (shape, _) in tensors.items()},
        lambda name: tensors[name][1](),
        objects=objects,
        container=container,
        path=Path(path) if path is not None else None,
        widened=widened,
        label=label,
    )


def _returning(values: Any) -> Callable[[], Any]:
    return lambda: values


def _is_torch_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")  # a torch tensor can only come from code that imported torch
    return torch is not None and isinstance(value, torch.Tensor)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _is_member(key: Any, collection: Any) -> bool:
    try:
        return key in collection
    except TypeError:
        return False


def _children(value: Any) -> list[Any] | None:
    """The values inside a container (keys too: they can nest), None for a leaf."""
    if isinstance(value, Mapping):
        return [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    if isinstance(value, PersistentObject):
        return [value.class_name, value.state]
    if type(value) is TFNetwork:
        return [vars(value)]
    if isinstance(value, argparse.Namespace):
        return [vars(value)]
    return None


def survey(root: Any, label: str, max_nodes: int) -> dict[int, bool]:
    """Check a loaded tree before anything walks it; return, for each container, whether it holds tensors.

    CheckpointError when it is cyclic, deeper than MAX_DEPTH, or would expand to more than
    ``max_nodes`` nodes when shared references are followed each time (a walk's real cost).
    Runs in time proportional to the distinct objects, not to the expansion.
    """
    done: dict[int, tuple[int, int, bool]] = {}  # id -> (expanded size, height, holds tensors)
    on_path: set[int] = set()
    pending: list[tuple[Any, list[Any] | None]] = [(root, None)]
    while pending:
        value, children = pending.pop()
        key = id(value)
        if children is None:
            if key in done:
                continue
            children = _children(value)
            if children is None:
                continue
            if key in on_path:
                raise CheckpointError(f"{label}: the checkpoint refers to itself (a cyclic structure)")
            on_path.add(key)
            pending.append((value, children))
            pending.extend((child, None) for child in children if id(child) not in done)
            continue
        on_path.discard(key)
        size, height, has_tensors = 1, 0, False
        for child in children:
            if isinstance(child, TensorRecord) or _is_torch_tensor(child):
                size, has_tensors = size + 1, True
            elif id(child) in done:
                child_size, child_height, child_holds = done[id(child)]
                size, height = size + child_size, max(height, child_height + 1)
                has_tensors = has_tensors or child_holds
            else:
                size += 1
        if height > MAX_DEPTH:
            raise CheckpointError(f"{label}: the checkpoint is nested more than {MAX_DEPTH} levels deep")
        if size > max_nodes:
            raise CheckpointError(
                f"{label}: the checkpoint's shared references expand to more than {max_nodes} entries "
                "(more than its size can hold)"
            )
        done[key] = (size, height, has_tensors or isinstance(value, (PersistentObject, TFNetwork)))
    return {key: entry[2] for key, entry in done.items()}
