"""A checkpoint opened for reading: flat dotted tensor names whose data loads on demand.

Loaders (sefa_zoo.loading) turn every container — torch zip, legacy torch, NVIDIA
pickle, safetensors — into this one shape, so architectures only ever see names,
shapes and tensors, and read no more of the file than the tensors they ask for.

``checkpoint.array(name)`` gives a tensor as a numpy array and needs no torch: reading
shapes and projection weights never imports it. ``checkpoint[name]`` gives a torch tensor
(of the same data, without a copy where it can), for code that builds generators.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CheckpointError, LayoutError

if TYPE_CHECKING:
    import numpy as np
    import torch

# name -> the tensor's data: a numpy array, or a torch tensor (Checkpoint.from_tensors)
TensorLoader = Callable[[str], "np.ndarray | torch.Tensor"]

# Model configs are a few kB; anything much larger is not one.
COMPANION_JSON_LIMIT = 1 << 20


class Checkpoint(Mapping[str, "torch.Tensor"]):
    """Read-only mapping from dotted tensor names to tensors.

    ``shapes`` is known up front; ``loader(name)`` fetches one tensor's data, as a numpy
    array or a torch tensor; ``array(name)`` gives it as numpy, ``checkpoint[name]`` as torch.
    ``widened`` names the tensors whose arrays are wider than the file's type (bfloat16 read as
    float32), by that type's torch name: ``checkpoint[name]`` gives them back in it.
    ``objects`` holds the non-tensor leaves by dotted name (a training ``args``
    namespace, an NVIDIA module's ``_init_kwargs``, a ``latent_avg`` that is a
    plain number...).
    """

    def __init__(
        self,
        shapes: Mapping[str, tuple[int, ...]],
        loader: TensorLoader,
        *,
        objects: Mapping[str, Any] | None = None,
        container: str = "memory",
        path: Path | None = None,
        check_values: bool = True,
        widened: Mapping[str, str] | None = None,
        label: str | None = None,
    ):
        self._shapes = dict(shapes)
        self._loader = loader
        self._check_values = check_values
        self._widened = dict(widened or {})
        self._label = label
        self.objects: dict[str, Any] = dict(objects or {})
        self.container = container
        self.path = path
        # files that belong with the weights (a config.json), by name; see ``companion``
        self.companions: dict[str, Path] = {}

    @classmethod
    def from_tensors(
        cls,
        tensors: Mapping[str, np.ndarray | torch.Tensor],
        *,
        objects: Mapping[str, Any] | None = None,
        container: str = "memory",
        path: Path | None = None,
    ) -> Checkpoint:
        tensors = dict(tensors)
        return cls(
            {k: tuple(v.shape) for k, v in tensors.items()},
            tensors.__getitem__,
            objects=objects,
            container=container,
            path=path,
        )

    @property
    def label(self) -> str:
        """How errors name the checkpoint: the label it was given, else its path."""
        if self._label is not None:
            return self._label
        return str(self.path) if self.path is not None else f"<{self.container} checkpoint>"

    def array(self, name: str) -> np.ndarray:
        """The tensor ``name`` as a numpy array (bfloat16 as float32), read now; CheckpointError
        if it holds NaN or infinite values (a broken file would otherwise give black images or
        NaN directions with no word why). Needs no torch unless the loader gives torch tensors."""
        import numpy as np  # here, not at the top: registering a plugin imports this module

        values = self._load(name)
        return values if isinstance(values, np.ndarray) else _torch_to_numpy(values, self.label, name)

    def __getitem__(self, name: str) -> torch.Tensor:
        """The tensor ``name`` as a torch tensor (imports torch), checked as ``array``."""
        import torch

        values = self._load(name)
        if isinstance(values, torch.Tensor):
            return values
        with warnings.catch_warnings():
            # arrays viewing a read-only buffer; nothing writes to a checkpoint's tensors
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            tensor = torch.from_numpy(values)
        return tensor.to(getattr(torch, self._widened[name])) if name in self._widened else tensor

    def _load(self, name: str) -> Any:
        if name not in self._shapes:
            raise CheckpointError(f"{self.label}: no tensor named {name!r}")
        values = self._loader(name)
        if self._check_values and not _all_finite(values):
            raise CheckpointError(f"{self.label}: tensor {name!r} holds NaN or infinite values")
        return values

    def __iter__(self) -> Iterator[str]:
        return iter(self._shapes)

    def __len__(self) -> int:
        return len(self._shapes)

    def __contains__(self, name: object) -> bool:
        return name in self._shapes

    def shape(self, name: str) -> tuple[int, ...]:
        if name not in self._shapes:
            raise CheckpointError(f"{self.label}: no tensor named {name!r}")
        return self._shapes[name]

    def with_prefix(self, prefix: str) -> Checkpoint:
        """The sub-checkpoint under ``prefix`` (e.g. ``"g_ema."``), names relative to it."""
        n = len(prefix)
        shapes = {k[n:]: s for k, s in self._shapes.items() if k.startswith(prefix)}
        objects = {k[n:]: v for k, v in self.objects.items() if k.startswith(prefix)}
        sub = Checkpoint(
            shapes,
            lambda name: self._load(prefix + name),  # checked (and named in errors) by the full name
            objects=objects,
            container=self.container,
            path=self.path,
            check_values=False,
            widened={k[n:]: v for k, v in self._widened.items() if k.startswith(prefix)},
            label=self._label,
        )
        sub.companions = dict(self.companions)
        return sub

    def search_prefixes(self, prefixes: Iterable[str], check: Callable[[str], Any], what: str) -> Any:
        """What ``check(prefix)`` finds under the first of ``prefixes`` (most preferred first)
        where it finds something; ``check`` returns a one-line reason (a str) where it does not.
        Where none does, a LayoutError "<file>: not <what>: <reason>", the reason being the one
        given for the most preferred prefix that holds any entry at all."""
        reason = None
        for prefix in prefixes:
            found = check(prefix)
            if not isinstance(found, str):
                return found
            if reason is None and any(k.startswith(prefix) for k in self._shapes):
                reason = found
        raise LayoutError(f"{self.label}: not {what}: {reason or 'it holds no tensors'}")

    def companion(self, name: str) -> Path | None:
        """A file that belongs with these weights, such as the ``config.json`` beside a
        pytorch-pretrained-BigGAN ``pytorch_model.bin``: the one given when the checkpoint was
        opened, else the regular file of that name in the checkpoint's folder, else None."""
        if name in self.companions:
            return self.companions[name]
        if self.path is None or Path(name).name != name:
            return None
        beside = self.path.parent / name
        return beside if beside.is_file() else None

    def companion_json(self, name: str, *, limit: int = COMPANION_JSON_LIMIT) -> Any:
        """The JSON in ``companion(name)``, or None when there is no such file. A file over
        ``limit`` bytes, unreadable, or not JSON is a one-line CheckpointError naming it."""
        path = self.companion(name)
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
        except OSError as e:
            raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
        if len(data) > limit:
            raise CheckpointError(f"{path}: larger than {limit} bytes; not a model config")
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise CheckpointError(f"{path}: not a JSON file ({reason})") from None

    def prefixes_of(self, suffix: str) -> list[str]:
        """Every prefix under which a tensor named ``suffix`` occurs ("" for top level)."""
        found = []
        for k in self._shapes:
            if k == suffix:
                found.append("")
            elif k.endswith("." + suffix):
                found.append(k[: -len(suffix)])
        return found


FINITE_CHUNK = 1 << 20  # elements checked at once: a bounded temporary, whatever the tensor's size


def _all_finite(values: Any) -> bool:
    np = sys.modules.get("numpy")  # an array can only come from code that imported numpy
    if np is not None and isinstance(values, np.ndarray):
        if values.dtype.kind not in "fc":
            return True
        flat = values.reshape(-1) if values.flags.c_contiguous else None
        if flat is None:
            return bool(np.isfinite(values).all())
        return all(np.isfinite(flat[i:i + FINITE_CHUNK]).all() for i in range(0, len(flat), FINITE_CHUNK))
    torch = sys.modules.get("torch")  # a torch tensor can only come from code that imported torch
    if torch is not None and isinstance(values, torch.Tensor):
        if not (values.is_floating_point() or values.is_complex()) or values.is_meta:
            return True
        return bool(torch.isfinite(values).all())
    return True


def _torch_to_numpy(tensor: Any, label: str, name: str) -> np.ndarray:
    """A torch tensor's data as numpy (bfloat16 as float32); CheckpointError for one without dense data."""
    import torch

    if tensor.is_meta or tensor.layout != torch.strided or tensor.is_quantized:
        kind = "meta-device" if tensor.is_meta else "quantized" if tensor.is_quantized else "sparse"
        raise CheckpointError(f"{label}: tensor {name!r} is a {kind} tensor; sefa-zoo reads dense tensors only")
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    try:
        return tensor.numpy()
    except TypeError:
        raise CheckpointError(f"{label}: tensor {name!r} has dtype {tensor.dtype}, which numpy cannot hold") from None
