"""NVIDIA's TensorFlow-era network pickles (StyleGAN2 and its TF release), read without TensorFlow or dnnlib.

Such a file is ``pickle.dump((G, D, Gs))`` of three ``dnnlib.tflib.network.Network`` objects.
A Network pickles as NEWOBJ of its class followed by BUILD with its state: ``version``,
``name``, ``static_kwargs`` (the keyword arguments of the function that builds its graph),
``components`` (sub-networks by name), ``build_module_src`` (the source of the module that
builds the graph: code, which dnnlib runs when it loads the file), ``build_func_name`` and
``variables``, a list of (name, numpy array) pairs.

Here the file goes through sefa-zoo's safe unpickler with that one class mapped to
``TFNetwork``, a record that holds the state as given and nothing else; ``build_module_src`` is
never read. Only numpy's array and dtype helpers (as the safe stand-ins, each shape checked
against the bytes the array carries) and ``dnnlib``'s EasyDict are allowed besides; every other
global is refused before anything is made. Array bytes are read into buffers the arrays own, so
the checkpoint's arrays (and torch tensors made of them) view them: opening a file costs its
size in memory once. Nothing here imports torch.

The writer, for tests, benchmarks and plugins, is sefa_zoo.testing.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import struct
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy

from .errors import CheckpointError
from .nvidia_pickle import EasyDictStandIn, load_error, plain
from .safe_unpickler import AllowList, Budget, SafeUnpickler, latin1_encode, numpy_globals

NETWORK_GLOBAL = ("dnnlib.tflib.network", "Network")
ROLES = ("G", "D", "Gs")  # the tuple's order, as NVIDIA's training loop pickles it
STATE_KEYS = ("version", "name", "static_kwargs", "components", "variables")
_HEAD_OPCODES = 8  # a TensorFlow pickle names the Network class within its first few opcodes


class TFNetwork:
    """A ``dnnlib.tflib.network.Network`` from a pickle: its pickled state as attributes, no code."""


class TFNetworkParts(NamedTuple):
    """What a TFNetwork holds, checked: its variables by name and its sub-networks by name."""

    name: str
    version: int
    static_kwargs: dict[str, Any]
    build_func_name: Any
    variables: list[tuple[str, numpy.ndarray]]
    components: list[tuple[str, TFNetwork]]


class _TFUnpickler(SafeUnpickler):
    """The safe unpickler, with byte strings read into writable buffers (array data that
    tensors may view without a copy)."""

    dispatch = dict(SafeUnpickler.dispatch)

    def _append_buffer(self, size: int) -> None:
        self.append(bytearray(self.read(size)))  # read() checks the size against the bytes left first

    def load_short_binbytes(self) -> None:
        self._append_buffer(self.read(1)[0])

    def load_binbytes(self) -> None:
        self._append_buffer(struct.unpack("<I", self.read(4))[0])

    def load_binbytes8(self) -> None:
        self._append_buffer(struct.unpack("<Q", self.read(8))[0])

    dispatch[pickle.SHORT_BINBYTES[0]] = load_short_binbytes
    dispatch[pickle.BINBYTES[0]] = load_binbytes
    dispatch[pickle.BINBYTES8[0]] = load_binbytes8


def allowed_globals(limit: int) -> AllowList:
    """Every global a TensorFlow network pickle of ``limit`` bytes may name."""
    return AllowList({
        **numpy_globals(limit),
        NETWORK_GLOBAL: TFNetwork,
        ("dnnlib.util", "EasyDict"): EasyDictStandIn,
        ("dnnlib", "EasyDict"): EasyDictStandIn,
        ("collections", "OrderedDict"): OrderedDict,
        ("_codecs", "encode"): latin1_encode,
    })


def is_tf_pickle(head: bytes) -> bool:
    """Whether a pickle whose first bytes are ``head`` starts with the TensorFlow Network class."""
    strings: list[str] = []
    try:
        for count, (opcode, arg, _pos) in enumerate(pickletools.genops(io.BytesIO(head))):
            if opcode.name == "GLOBAL":
                return tuple(arg.split(" ", 1)) == NETWORK_GLOBAL
            if opcode.name == "STACK_GLOBAL":
                return tuple(strings[-2:]) == NETWORK_GLOBAL
            if isinstance(arg, str) and "UNICODE" in opcode.name:
                strings.append(arg)
            if count >= _HEAD_OPCODES:
                return False
    except Exception:  # the head ends mid-opcode, or is no pickle
        return False
    return False


def load_tf_pickle(path: str | os.PathLike[str]) -> dict[str, TFNetwork]:
    """The networks of a TensorFlow network pickle by role (``G``, ``D``, ``Gs``), nothing run.

    Raises UnsafeCheckpointError for a global or an operation that is not allowed,
    CheckpointError for a truncated or corrupt file or one that is not the (G, D, Gs) tuple.
    """
    label = str(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            unpickler = _TFUnpickler(f, size, allowed_globals(size), label=label, budget=Budget(size),
                                     newobj_classes=(TFNetwork, EasyDictStandIn))
            tree = unpickler.load()
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(f"{label}: cannot read ({e.strerror or e})") from None
    except Exception as e:  # anything the unpickler or a rebuild helper throws means a bad file
        raise load_error(label, e, "TensorFlow pickle") from None
    if not (isinstance(tree, tuple) and len(tree) == len(ROLES) and all(type(n) is TFNetwork for n in tree)):
        raise CheckpointError(
            f"{label}: holds {_describe(tree)}, not the tuple (G, D, Gs) of TensorFlow networks NVIDIA's pickles hold"
        )
    return dict(zip(ROLES, tree))


def network_parts(network: TFNetwork, label: str, where: str) -> TFNetworkParts:
    """``network``'s state, checked; CheckpointError naming the network (``where``) and the field at fault."""
    state = vars(network)
    for key in STATE_KEYS:
        if key not in state:
            raise CheckpointError(f"{label}: TensorFlow network {where!r} has no {key!r}")
    version, name, static_kwargs = state["version"], state["name"], state["static_kwargs"]
    if type(version) is not int or not isinstance(name, str):
        raise CheckpointError(f"{label}: TensorFlow network {where!r} has no integer version and text name")
    if not isinstance(static_kwargs, Mapping) or not all(isinstance(k, str) for k in static_kwargs):
        raise CheckpointError(f"{label}: {where}'s static_kwargs is not a dict of named arguments")
    components = state["components"]
    if not isinstance(components, Mapping) or not all(
        isinstance(k, str) and type(v) is TFNetwork for k, v in components.items()
    ):
        raise CheckpointError(f"{label}: {where}'s components are not TensorFlow networks by name")
    variables = state["variables"]
    if not isinstance(variables, (list, tuple)) or not all(
        isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)
        and isinstance(pair[1], numpy.ndarray)
        for pair in variables
    ):
        raise CheckpointError(f"{label}: {where}'s variables are not (name, numpy array) pairs")
    return TFNetworkParts(
        name, version, plain(dict(static_kwargs)), plain(state.get("build_func_name")),
        [(pair[0], pair[1]) for pair in variables], list(components.items()),
    )


def tensor_of(array: numpy.ndarray) -> numpy.ndarray:
    """A variable's array in native byte order and writable (as torch wants it), viewing its
    buffer where it can."""
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if not array.flags.writeable:  # protocol 2 spells bytes as immutable text
        array = array.copy()
    return array


def _describe(value: Any) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return "a TensorFlow network alone" if type(value) is TFNetwork else f"a {type(value).__name__}"
