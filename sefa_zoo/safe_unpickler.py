"""A pickle reader that builds plain data only, runs nothing from the file, and bounds its cost.

It is Python's own pickle machine (the pure-Python ``pickle._Unpickler``) with every opcode
that calls, imports or mutates narrowed:

* a global is only ever what the caller's allow-list maps its name to;
* REDUCE calls only allow-listed callables, NEWOBJ makes only a few plain classes, and both
  charge what they copy to a budget proportional to the file's size;
* BUILD, SETITEM(S), APPEND(S) and ADDITEMS change only containers this reader made itself,
  never a global (a function's ``__defaults__``, a class, a dtype);
* INST, OBJ and extension codes are refused, persistent ids unless the caller reads them;
* every length the file claims is checked against the bytes left before anything is made;
* numpy dtypes are rebuilt from a type code on a fixed list of plain numeric types; dtype
  state from the file (fields, flags, object items) is never applied.

What the reader returns may still be deep, cyclic or widely shared; sefa_zoo.loading walks
it under bounds of its own.
"""

from __future__ import annotations

import _compat_pickle
import argparse
import pickle
import struct
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy

# The numpy types a checkpoint may hold: booleans, integers, floats and complex numbers.
NUMPY_TYPE_CODES = frozenset(
    ["b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"]
)
MAX_INT_BYTES = 16  # wider integers are refused: none of the real formats writes one
BUDGET_FACTOR = 4  # work a file may cause, in units of its own size
BUDGET_FLOOR = 1 << 20


class RefusedPickleError(pickle.UnpicklingError):
    """The pickle asks for something this reader never does (not a corrupt file: a refused one)."""


class BoundedReader:
    """A file's read/readline/readinto that refuse to go past the bytes that are actually left."""

    def __init__(self, file: Any, size: int):
        self._file = file
        self._left = size

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = self._left
        if n > self._left:
            if self._left == 0:
                return b""
            raise pickle.UnpicklingError(f"a value claims {n} bytes but only {self._left} are left")
        data = self._file.read(n)
        self._left -= len(data)
        return data

    def readline(self) -> bytes:
        data = self._file.readline()  # mmap's readline takes no limit; a line never runs past the file
        if len(data) > self._left:
            raise pickle.UnpicklingError("a line runs past the end of the pickle")
        self._left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class AllowList(dict):
    """(module, name) -> what that global becomes; ``callables`` are the ids of those REDUCE may call.

    Made once and shared by the many small pickles of one file (NVIDIA pickles hold one per tensor).
    """

    def __init__(self, table: Mapping[tuple[str, str], Any] = {}):
        super().__init__(table)
        self.callables = frozenset(id(value) for value in self.values() if callable(value))


class Budget:
    """Work charged against a limit proportional to the file's size."""

    def __init__(self, file_size: int):
        self.limit = BUDGET_FACTOR * file_size + BUDGET_FLOOR
        self.spent = 0

    def charge(self, amount: int, what: str) -> None:
        self.spent += amount
        if self.spent > self.limit:
            raise RefusedPickleError(
                f"{what} would cost more than {BUDGET_FACTOR}x the file's size (repeated shared references?)"
            )


class PendingDtype:
    """``numpy.dtype(code, ...)`` until its BUILD gives the byte order; never callable, never data."""

    def __init__(self, code: Any, *_flags: Any):
        if isinstance(code, bytes):
            code = code.decode("latin1")
        if not isinstance(code, str) or code.lstrip("<>=|") not in NUMPY_TYPE_CODES:
            raise RefusedPickleError(f"numpy dtype {code!r} is not a plain numeric type")
        self.code = code.lstrip("<>=|")

    def build(self, state: Any) -> numpy.dtype:
        # numpy writes (version, byteorder, subarray, names, fields, itemsize, alignment, flags).
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "=", "|"):
            raise RefusedPickleError("numpy dtype state is not that of a plain numeric type")
        if any(part is not None for part in state[2:5]):
            raise RefusedPickleError("structured or sub-array numpy dtypes are refused")
        order = state[1] if state[1] in "<>" else "="
        return numpy.dtype(order + self.code)


class PendingArray:
    """``numpy.core.multiarray._reconstruct(ndarray, ...)`` until its BUILD supplies shape, dtype, bytes."""

    def __init__(self, limit: int):
        self._limit = limit

    def build(self, state: Any) -> numpy.ndarray:
        if not isinstance(state, tuple) or len(state) != 5:
            raise RefusedPickleError("numpy array state is not (version, shape, dtype, fortran, data)")
        _version, shape, dtype, fortran, data = state
        return plain_array(data, dtype, shape, "F" if fortran else "C", self._limit)


def plain_array(data: Any, dtype: Any, shape: Any, order: str, limit: int) -> numpy.ndarray:
    """An array viewing ``data``: the shape must account for exactly its bytes."""
    if not isinstance(dtype, numpy.dtype) or dtype.str.lstrip("<>=|") not in NUMPY_TYPE_CODES:
        raise RefusedPickleError("numpy array of a dtype that is not a plain numeric type")
    if not isinstance(data, (bytes, bytearray)):
        raise RefusedPickleError("numpy array data is not raw bytes (object arrays are refused)")
    if not isinstance(shape, tuple) or not all(type(n) is int and 0 <= n <= limit for n in shape):
        raise RefusedPickleError(f"numpy array shape {shape!r:.80} is not a list of sizes within the file")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(data):
        raise pickle.UnpicklingError(f"numpy array of shape {shape} does not match its {len(data)} bytes")
    return numpy.frombuffer(data, dtype=dtype).reshape(shape, order=order)


def _copy_cost(value: Any) -> int:
    """What a call copies out of ``value``: its length for Python containers and strings."""
    return len(value) if isinstance(value, (list, tuple, dict, set, frozenset, str, bytes, bytearray)) else 1


# Objects this reader makes with NEWOBJ and may later fill in through BUILD.
_NEWOBJ_CLASSES = (dict, OrderedDict, list, set, frozenset, argparse.Namespace)
_MAPPINGS = (dict, OrderedDict, Counter)


class SafeUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """Unpickles ``size`` bytes of ``file`` with only the globals in ``allowed``.

    ``allowed`` maps (module, name) to what the global becomes. ``newobj_classes`` adds
    classes (dict-like stand-ins) that NEWOBJ may create and BUILD may fill with a plain
    instance ``__dict__``. ``persistent_load``, when given, reads persistent ids.
    """

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(
        self,
        file: Any,
        size: int,
        allowed: Mapping[tuple[str, str], Any],
        *,
        label: str,
        budget: Budget | None = None,
        newobj_classes: tuple[type, ...] = (),
        persistent_load: Callable[[Any], Any] | None = None,
    ):
        super().__init__(BoundedReader(file, size), encoding="latin1")
        self._allowed = allowed if isinstance(allowed, AllowList) else AllowList(allowed)
        self._callables = self._allowed.callables
        self._newobj_classes = _NEWOBJ_CLASSES + newobj_classes
        self._build_classes = (OrderedDict, argparse.Namespace) + newobj_classes
        self._mapping_classes = _MAPPINGS + tuple(c for c in newobj_classes if issubclass(c, dict))
        self.label = label
        self.size = size
        self.budget = budget or Budget(size)
        self._pending_memo: dict[int, list[Any]] = {}
        if persistent_load is not None:
            self.persistent_load = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        module, name = python3_global(module, name)
        try:
            return self._allowed[module, name]
        except KeyError:
            raise RefusedGlobalError(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        raise RefusedPickleError("persistent ids are not allowed in this file")

    # Calls

    def load_reduce(self) -> None:
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        if id(func) not in self._callables:
            raise RefusedPickleError(f"REDUCE on {_describe(func)}, which is not an allowed callable")
        if not isinstance(args, tuple):
            raise pickle.UnpicklingError("REDUCE arguments are not a tuple")
        self.budget.charge(1 + sum(_copy_cost(a) for a in args), f"calling {getattr(func, '__name__', func)}")
        if func is numpy.dtype:
            stack[-1] = PendingDtype(*args)
        elif func is _reconstruct_marker:
            stack[-1] = _reconstruct(args, self.size)
        else:
            stack[-1] = func(*args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self._append_new(cls, args, {})

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self._append_new(cls, args, kwargs)

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def _append_new(self, cls: Any, args: Any, kwargs: Any) -> None:
        if not (isinstance(cls, type) and cls in self._newobj_classes):
            raise RefusedPickleError(f"NEWOBJ of {_describe(cls)} is not allowed")
        if args or kwargs:
            raise RefusedPickleError(f"NEWOBJ of {cls.__name__} with arguments is not allowed")
        self.append(cls.__new__(cls))

    def _refuse(self) -> None:
        raise RefusedPickleError("INST, OBJ and extension-registry opcodes are not allowed")

    for _op in (pickle.INST, pickle.OBJ, pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _refuse
    del _op

    # Mutations: only of what this reader made

    def load_build(self) -> None:
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        if isinstance(inst, (PendingDtype, PendingArray)):
            built = inst.build(state)
            stack[-1] = built
            for key in self._pending_memo.pop(id(inst), ()):
                self.memo[key] = built
            return
        if type(inst) not in self._build_classes:
            raise RefusedPickleError(f"BUILD on {_describe(inst)} is not allowed")
        if isinstance(state, tuple) and len(state) == 2 and not state[1]:
            state = state[0]
        if state is None:
            return
        if not isinstance(state, dict) or not all(type(k) is str for k in state):
            raise RefusedPickleError(f"BUILD of a {type(inst).__name__} with a state that is not a plain dict")
        vars(inst).update(state)

    dispatch[pickle.BUILD[0]] = load_build

    def _target(self, kinds: tuple[type, ...], opcode: str) -> Any:
        target = self.stack[-1]
        if type(target) not in kinds:
            raise RefusedPickleError(f"{opcode} on {_describe(target)} is not allowed")
        return target

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._target(self._mapping_classes, "SETITEM")[key] = value

    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_setitems(self) -> None:
        items = self.pop_mark()
        target = self._target(self._mapping_classes, "SETITEMS")
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]

    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_append(self) -> None:
        value = self.stack.pop()
        self._target((list,), "APPEND").append(value)

    dispatch[pickle.APPEND[0]] = load_append

    def load_appends(self) -> None:
        items = self.pop_mark()
        self._target((list,), "APPENDS").extend(items)

    dispatch[pickle.APPENDS[0]] = load_appends

    def load_additems(self) -> None:
        items = self.pop_mark()
        self._target((set,), "ADDITEMS").update(items)

    dispatch[pickle.ADDITEMS[0]] = load_additems

    # Memo entries of values that BUILD will replace (numpy dtypes and arrays)

    def _remember_pending(self, key: int) -> None:
        value = self.memo.get(key)
        if isinstance(value, (PendingDtype, PendingArray)):
            self._pending_memo.setdefault(id(value), []).append(key)

    def load_binput(self) -> None:
        key = self.read(1)[0]
        self.memo[key] = self.stack[-1]
        self._remember_pending(key)

    dispatch[pickle.BINPUT[0]] = load_binput

    def load_long_binput(self) -> None:
        (key,) = struct.unpack("<I", self.read(4))
        self.memo[key] = self.stack[-1]
        self._remember_pending(key)

    dispatch[pickle.LONG_BINPUT[0]] = load_long_binput

    def load_memoize(self) -> None:
        key = len(self.memo)
        self.memo[key] = self.stack[-1]
        self._remember_pending(key)

    dispatch[pickle.MEMOIZE[0]] = load_memoize

    def load_put(self) -> None:
        text = self.readline()[:-1]
        if len(text) > 20 or not text.isdigit():
            raise pickle.UnpicklingError("PUT with an invalid memo key")
        key = int(text)
        self.memo[key] = self.stack[-1]
        self._remember_pending(key)

    dispatch[pickle.PUT[0]] = load_put

    # Numbers and sizes claimed by the file

    def _load_int_text(self) -> None:
        text = self.readline()
        if len(text) > 3 * MAX_INT_BYTES + 3:
            raise RefusedPickleError("an integer literal is too long")
        body = text.strip().rstrip(b"L")
        if body in (b"00", b"01"):
            self.append(body == b"01")
            return
        try:
            self.append(int(body, 10))
        except ValueError:
            raise pickle.UnpicklingError("invalid integer literal") from None

    dispatch[pickle.INT[0]] = _load_int_text
    dispatch[pickle.LONG[0]] = _load_int_text

    def load_long1(self) -> None:
        n = self.read(1)[0]
        self._append_long(n)

    dispatch[pickle.LONG1[0]] = load_long1

    def load_long4(self) -> None:
        (n,) = struct.unpack("<i", self.read(4))
        if n < 0:
            raise pickle.UnpicklingError("LONG4 with a negative byte count")
        self._append_long(n)

    dispatch[pickle.LONG4[0]] = load_long4

    def _append_long(self, n: int) -> None:
        if n > MAX_INT_BYTES:
            raise RefusedPickleError(f"an integer of {n} bytes is refused (at most {MAX_INT_BYTES})")
        self.append(int.from_bytes(self.read(n), "little", signed=True) if n else 0)

    def load_bytearray8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self.append(bytearray(self.read(n)))  # read() checks n against the bytes left first

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8



def python3_global(module: str, name: str) -> tuple[str, str]:
    """Protocol-2 pickles name some globals the Python 2 way (``__builtin__.set``); Python 3's names."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[module, name]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class RefusedGlobalError(RefusedPickleError):
    def __init__(self, module: str, name: str):
        super().__init__(f"global '{module}.{name}' is not on the allow-list")
        self.global_name = f"{module}.{name}"


def _describe(value: Any) -> str:
    if isinstance(value, type):
        return f"the class {value.__module__}.{value.__qualname__}"
    if callable(value):
        return f"the callable {getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}"
    return f"a {type(value).__name__}"


# numpy's pickling helpers, as stand-ins that build only plain numeric arrays


def _reconstruct_marker(*args: Any) -> Any:  # identity only: load_reduce special-cases it
    raise RefusedPickleError("numpy _reconstruct called outside a pickle")


_ndarray_marker = object()


def _reconstruct(args: tuple, limit: int) -> PendingArray:
    if len(args) != 3 or args[0] is not _ndarray_marker:
        raise RefusedPickleError("numpy _reconstruct of something other than a plain ndarray")
    return PendingArray(limit)


def numpy_globals(limit: int) -> dict[tuple[str, str], Any]:
    """numpy's pickling globals (under both of its package names) as safe stand-ins."""

    def scalar(dtype: Any, data: Any = b"") -> Any:
        return plain_array(data, dtype, (), "C", limit)[()]

    def frombuffer(data: Any, dtype: Any, shape: Any, order: str = "C") -> numpy.ndarray:
        if isinstance(data, pickle.PickleBuffer):
            data = bytes(data)
        return plain_array(data, dtype, tuple(shape) if isinstance(shape, list) else shape,
                           "F" if order == "F" else "C", limit)

    table: dict[tuple[str, str], Any] = {("numpy", "ndarray"): _ndarray_marker, ("numpy", "dtype"): numpy.dtype}
    for package in ("numpy.core", "numpy._core"):
        table[f"{package}.multiarray", "_reconstruct"] = _reconstruct_marker
        table[f"{package}.multiarray", "scalar"] = scalar
        table[f"{package}.numeric", "_frombuffer"] = frombuffer
    return table


def latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode``, as protocol-2 pickles spell bytes: latin-1 only, no other codec."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise RefusedPickleError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode("latin1")


def unpickle(file: Any, size: int, allowed: Mapping[tuple[str, str], Any], **options: Any) -> Any:
    """One object from ``size`` bytes of ``file`` (see SafeUnpickler for the options)."""
    return SafeUnpickler(file, size, allowed, **options).load()
