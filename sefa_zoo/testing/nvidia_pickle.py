"""Writing NVIDIA persistence pickles without NVIDIA code, for tests, benchmarks and plugins.

Files come out in the format stylegan2-ada-pytorch and stylegan3 write: network objects pickle
as ``torch_utils.persistence._reconstruct_persistent_obj(meta)``. Throwaway
``torch_utils.persistence`` and ``dnnlib.util`` modules are lent to the pickler only while it runs.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import types
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy
import torch

from ..atomic import atomic_path
from ..nvidia_pickle import PERSISTENCE_VERSION, PICKLE_PROTOCOL

DEFAULT_MODULE_SRC = "# module source omitted: written by sefa-zoo's NVIDIA pickle writer\n"


@dataclass
class PersistentModule:
    """One network object, described the way NVIDIA's ``torch_utils.persistence`` pickles it.

    ``parameters`` / ``buffers`` are the module's own tensors (not its children's);
    ``modules`` its children by attribute name; ``init_kwargs`` / ``init_args`` what the
    constructor received (nested dicts are pickled as ``dnnlib.EasyDict``, as NVIDIA's
    training scripts pass them); ``attributes`` its other plain attributes (``z_dim``,
    ``img_resolution``...). ``module_src`` is stored in the file and never run by sefa-zoo.
    """

    class_name: str
    parameters: dict[str, torch.Tensor | None] = field(default_factory=dict)
    buffers: dict[str, torch.Tensor | None] = field(default_factory=dict)
    modules: dict[str, PersistentModule | None] = field(default_factory=dict)
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    init_args: tuple[Any, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    non_persistent_buffers: frozenset[str] = frozenset()
    module_src: str = DEFAULT_MODULE_SRC
    training: bool = False

    @classmethod
    def from_torch(cls, module: torch.nn.Module, *, module_src: str = DEFAULT_MODULE_SRC) -> PersistentModule:
        """Describe a torch module tree. Class names are the Python class names; ``_init_args`` /
        ``_init_kwargs`` attributes (as NVIDIA's classes have) become ``init_args`` / ``init_kwargs``;
        public attributes holding plain data (numbers, strings, numpy values, lists, dicts) are kept;
        every object gets ``module_src``."""
        return cls(
            class_name=type(module).__name__,
            parameters=dict(module._parameters),
            buffers=dict(module._buffers),
            modules={
                name: None if child is None else cls.from_torch(child, module_src=module_src)
                for name, child in module._modules.items()
            },
            init_kwargs=dict(getattr(module, "_init_kwargs", None) or {}),
            init_args=tuple(getattr(module, "_init_args", None) or ()),
            attributes={
                k: v
                for k, v in vars(module).items()
                if not k.startswith("_") and k != "training" and _is_plain(v)
            },
            non_persistent_buffers=frozenset(module._non_persistent_buffers_set),
            module_src=module_src,
            training=module.training,
        )

    @classmethod
    def from_state_dict(
        cls,
        state_dict: Mapping[str, torch.Tensor],
        *,
        class_names: Mapping[str, str] | None = None,
        buffers: Collection[str] = (),
        init_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
        attributes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> PersistentModule:
        """Build the module tree from flat dotted names.

        ``class_names``, ``init_kwargs`` and ``attributes`` are keyed by module path
        (``""`` is the root, ``"synthesis.b4"`` a child); ``buffers`` lists the full names
        that are buffers rather than parameters. Unnamed classes are ``"Module"``.
        """
        class_names = dict(class_names or {})
        init_kwargs = dict(init_kwargs or {})
        attributes = dict(attributes or {})

        def make(path: str) -> PersistentModule:
            return cls(
                class_name=class_names.get(path, "Module"),
                init_kwargs=dict(init_kwargs.get(path, {})),
                attributes=dict(attributes.get(path, {})),
            )

        root = make("")
        paths = {""}
        for name, tensor in state_dict.items():
            *parents, leaf = name.split(".")
            module, path = root, ""
            for part in parents:
                path = f"{path}.{part}" if path else part
                if path not in paths:
                    module.modules[part] = make(path)
                    paths.add(path)
                child = module.modules[part]
                assert child is not None
                module = child
            (module.buffers if name in buffers else module.parameters)[leaf] = tensor
        unknown = sorted((set(class_names) | set(init_kwargs) | set(attributes)) - paths)
        if unknown:
            raise ValueError(f"module paths with no tensors under them: {', '.join(map(repr, unknown))}")
        return root


def _is_plain(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str, bytes, type(None), numpy.ndarray, numpy.generic)):
        return value.dtype != object if isinstance(value, numpy.ndarray) else True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _never_called(meta: Any) -> Any:
    raise RuntimeError("sefa-zoo's stand-in for torch_utils.persistence only writes pickles")


# Marker objects the pickler writes by name while the throwaway modules are lent (see _lend_nvidia_modules).
_never_called.__module__ = "torch_utils.persistence"
_never_called.__name__ = _never_called.__qualname__ = "_reconstruct_persistent_obj"
_WRITER_EASYDICT = type("EasyDict", (dict,), {"__module__": "dnnlib.util", "__qualname__": "EasyDict"})


class _PersistentPickle:
    def __init__(self, meta: dict[str, Any]):
        self.meta = meta

    def __reduce__(self) -> tuple[Any, ...]:
        return (_never_called, (self.meta,))


# nn.Module.__init__'s attributes, in its order, as the torch versions NVIDIA's releases ran on set them.
def _torch_module_fields(module: PersistentModule, children: OrderedDict[str, Any]) -> dict[str, Any]:
    return {
        "training": module.training,
        "_parameters": OrderedDict(
            (name, None if t is None else torch.nn.Parameter(t.detach().cpu(), requires_grad=False))
            for name, t in module.parameters.items()
        ),
        "_buffers": OrderedDict(
            (name, None if t is None else t.detach().cpu()) for name, t in module.buffers.items()
        ),
        "_non_persistent_buffers_set": set(module.non_persistent_buffers),
        "_backward_hooks": OrderedDict(),
        "_is_full_backward_hook": None,
        "_forward_hooks": OrderedDict(),
        "_forward_pre_hooks": OrderedDict(),
        "_state_dict_hooks": OrderedDict(),
        "_load_state_dict_pre_hooks": OrderedDict(),
        "_modules": children,
    }


def _easydicts(value: Any) -> Any:
    if type(value) is dict:
        return _WRITER_EASYDICT((k, _easydicts(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_easydicts(v) for v in value]
    if type(value) is tuple:
        return tuple(_easydicts(v) for v in value)
    return value


def _picklable(value: Any, version: int) -> Any:
    if isinstance(value, PersistentModule):
        children = OrderedDict(
            (name, None if child is None else _picklable(child, version))
            for name, child in value.modules.items()
        )
        state = _torch_module_fields(value, children)
        state.update(value.attributes)
        state["_init_args"] = tuple(value.init_args)
        state["_init_kwargs"] = {k: _easydicts(v) for k, v in value.init_kwargs.items()}
        meta = dict(type="class", version=version, module_src=value.module_src, class_name=value.class_name)
        meta["state"] = state
        return _PersistentPickle(meta)
    if type(value) in (dict, OrderedDict, list, tuple):
        if isinstance(value, dict):
            return type(value)((k, _picklable(v, version)) for k, v in value.items())
        return type(value)(_picklable(v, version) for v in value)
    return value


@contextlib.contextmanager
def _lend_nvidia_modules() -> Iterator[None]:
    """Register throwaway ``torch_utils.persistence`` and ``dnnlib.util`` while pickling; restore after."""
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    saved = {name: sys.modules[name] for name in names if name in sys.modules}
    lent = {name: types.ModuleType(name) for name in names}
    lent["torch_utils"].persistence = lent["torch_utils.persistence"]  # type: ignore[attr-defined]
    lent["torch_utils.persistence"]._reconstruct_persistent_obj = _never_called  # type: ignore[attr-defined]
    lent["dnnlib"].util = lent["dnnlib.util"]  # type: ignore[attr-defined]
    lent["dnnlib"].EasyDict = lent["dnnlib.util"].EasyDict = _WRITER_EASYDICT  # type: ignore[attr-defined]
    sys.modules.update(lent)
    try:
        yield
    finally:
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def save_nvidia_pickle(
    path: str | os.PathLike[str],
    snapshot: Mapping[str, Any],
    *,
    version: int = PERSISTENCE_VERSION,
    protocol: int = PICKLE_PROTOCOL,
) -> Path:
    """Write ``snapshot`` as NVIDIA's training loop pickles a network snapshot, atomically.

    ``snapshot`` is typically ``{"G": PersistentModule, "D": ..., "G_ema": ..., "augment_pipe": None,
    "training_set_kwargs": {...}}``; every ``PersistentModule`` in it (at any depth of dicts,
    lists and tuples) pickles as ``torch_utils.persistence._reconstruct_persistent_obj(meta)``,
    tensors as torch pickles them (parameters as ``nn.Parameter``, requires_grad False).
    Not thread-safe: the throwaway modules are in ``sys.modules`` while it runs.
    """
    target = Path(path)
    data = _picklable(dict(snapshot), version)
    with atomic_path(target) as tmp, _lend_nvidia_modules(), open(tmp, "wb") as f:
        pickle.dump(data, f, protocol=protocol)
    return target
