"""Writing NVIDIA's TensorFlow-era network pickles without TensorFlow or dnnlib, for tests and plugins.

Files come out as NVIDIA's StyleGAN2 training loop writes them: ``pickle.dump((G, D, Gs))``,
each network a ``dnnlib.tflib.network.Network`` (NEWOBJ of that class, then BUILD with its
state), arrays as numpy 1.x pickled them (``numpy.core.multiarray._reconstruct``). A stand-in
class takes the Network's place; the pickler writes it, and the array helper, under the real
names itself, so nothing is registered in ``sys.modules`` and nothing of dnnlib is needed.
"""

from __future__ import annotations

import io
import os
import pickle
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy

from ..atomic import atomic_path
from ..tf_pickle import NETWORK_GLOBAL

DEFAULT_BUILD_MODULE_SRC = "# module source omitted: written by sefa-zoo's TensorFlow pickle writer\n"
NETWORK_VERSION = 4  # dnnlib.tflib.network's pickle version in NVIDIA's StyleGAN2 release
PICKLE_PROTOCOL = 3  # pickle.dump's default in the Python 3 versions that release ran on
_RECONSTRUCT_GLOBAL = ("numpy.core.multiarray", "_reconstruct")


@dataclass
class TFNetworkSpec:
    """One ``dnnlib.tflib.network.Network`` as it pickles.

    ``variables`` are the network's own variables by local name (``4x4/Conv/weight``), in
    creation order; ``components`` its sub-networks by role (``synthesis``, ``mapping``);
    ``static_kwargs`` the keyword arguments of its build function. ``build_module_src`` is
    stored in the file and never run by sefa-zoo.
    """

    name: str
    build_func_name: str
    variables: dict[str, numpy.ndarray] = field(default_factory=dict)
    components: dict[str, TFNetworkSpec] = field(default_factory=dict)
    static_kwargs: dict[str, Any] = field(default_factory=dict)
    build_module_src: str = DEFAULT_BUILD_MODULE_SRC
    version: int = NETWORK_VERSION


class _Network:
    """Pickles as ``dnnlib.tflib.network.Network`` with the state its ``__getstate__`` returns."""

    def __init__(self, state: dict[str, Any]):
        self._state = state

    def __getstate__(self) -> dict[str, Any]:
        return self._state


def _reconstruct(*_args: Any) -> Any:
    raise RuntimeError("sefa-zoo's stand-in for numpy's _reconstruct only writes pickles")


class _Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """The pure-Python pickler, writing the stand-ins under the names the real files use."""

    _names = {id(_Network): NETWORK_GLOBAL, id(_reconstruct): _RECONSTRUCT_GLOBAL}

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is numpy.ndarray:
            fortran = obj.flags.f_contiguous and not obj.flags.c_contiguous
            data = obj.tobytes(order="F" if fortran else "C")
            return _reconstruct, (numpy.ndarray, (0,), b"b"), (1, obj.shape, obj.dtype, fortran, data)
        return NotImplemented

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if id(obj) not in self._names:
            super().save_global(obj, name)
            return
        module, qualname = self._names[id(obj)]
        if self.proto >= 4:
            self.save(module)
            self.save(qualname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]
    dispatch[types.FunctionType] = save_global  # classes reach it through the base's save_type


def _picklable(spec: TFNetworkSpec) -> _Network:
    return _Network({
        "version": spec.version,
        "name": spec.name,
        "static_kwargs": dict(spec.static_kwargs),
        "components": {role: _picklable(child) for role, child in spec.components.items()},
        "build_module_src": spec.build_module_src,
        "build_func_name": spec.build_func_name,
        "variables": [(name, numpy.asarray(value)) for name, value in spec.variables.items()],
    })


def tf_pickle_bytes(networks: tuple[TFNetworkSpec, TFNetworkSpec, TFNetworkSpec], *,
                    protocol: int = PICKLE_PROTOCOL) -> bytes:
    """The pickle of ``(G, D, Gs)`` as NVIDIA's TensorFlow training loop writes it."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=protocol).dump(tuple(_picklable(spec) for spec in networks))
    return buffer.getvalue()


def save_tf_pickle(
    path: str | os.PathLike[str],
    networks: tuple[TFNetworkSpec, TFNetworkSpec, TFNetworkSpec],
    *,
    protocol: int = PICKLE_PROTOCOL,
) -> Path:
    """Write ``(G, D, Gs)`` as a TensorFlow network pickle, atomically."""
    target = Path(path)
    data = tf_pickle_bytes(networks, protocol=protocol)
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return target
