"""Direction banks: the factorizer's output as one safetensors file with validated metadata."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as safetensors_bytes

from ._version import __version__
from .atomic import write_atomically
from .errors import BankError
from .factorizer import Factorization
from .layers import format_layer_spec

FORMAT_VERSION = "1"
NORMALIZATIONS = ("rows", "none")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_META_KEYS = (
    "format_version", "model", "architecture", "layout", "checkpoint_sha256", "checkpoint_source",
    "layer_indices", "layer_names", "latent_space", "normalization", "eigenvalue_total", "method",
    "tool_version", "created",
)
# Optional keys, written only when set; older banks lack them.
LATENT_PARTS_KEY = "latent_parts"  # some layer is factorized on part of its input
NAMES_KEY = "direction_names"  # the user named some directions
REVISION_KEY = "checkpoint_revision"  # the Hub commit the checkpoint was read at
REMOTE_KEY = "read_remotely"  # read by HTTP range requests: the whole file's sha256 was not checked
DIRECTION_LAYERS_KEY = "direction_layers"  # some direction has its own layers (GANSpace's E(i, start-end))
METHOD_INFO_KEY = "method_info"  # how the method ran: sample counts, accuracies, conditions...
MAX_METHOD_INFO_CHARS = 64 * 1024
MAX_METHOD_INFO_DEPTH = 4
_REVISION = re.compile(r"^[0-9a-f]{40}$")
MAX_NAME_CHARS = 80
# (dimensions, safetensors dtypes) of each tensor of a bank; the optional ones may be absent
_TENSORS = {"directions": (2, ("F32",)), "eigenvalues": (1, ("F64", "F32"))}
_OPTIONAL_TENSORS = {"mean": (1, ("F32",)), "offsets": (1, ("F64",))}
_DTYPE_NAMES = {"F32": "float32", "F64": "float64"}
# float32 rows of eigenvectors are orthonormal to about 1e-7
ORTHONORMAL_TOLERANCE = 1e-4
MAX_INDEX_DIGITS = 9
MAX_NUMBER_CHARS = 64
SHOWN_SHARES = 3

Writer = Callable[[Path], object]


@dataclass(frozen=True)
class DirectionBank:
    """Unit directions in a latent space, strongest first, and where they came from."""

    directions: np.ndarray  # (k, latent_dim) float32, unit rows
    eigenvalues: np.ndarray  # (k,) float64, descending
    model: str
    architecture: str
    layout: str
    checkpoint_sha256: str
    checkpoint_source: str
    layer_indices: tuple[int, ...]
    layer_names: tuple[str, ...]
    latent_space: str
    eigenvalue_total: float  # trace(AᵀA): all eigenvalues, including those not kept
    normalization: str = "rows"
    method: str = "sefa"
    tool_version: str = __version__
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    # per layer (as layer_names), the z columns factorized where the layer's input is cat(z, something);
    # () or "" when the whole input is the latent code (see ProjectionLayer.latent_part)
    latent_parts: tuple[str, ...] = ()
    # one per direction ("" for an unnamed one), or () when none is named
    direction_names: tuple[str, ...] = ()
    checkpoint_revision: str = ""
    read_remotely: bool = False
    # one per direction: the layer indices its edits apply to, () for the edit's own choice; or ()
    direction_layers: tuple[tuple[int, ...], ...] = ()
    # sampling methods (GANSpace): the mean code the directions are centred on, (latent_dim,) float32
    mean: np.ndarray | None = None
    # hyperplane methods (InterFaceGAN): per direction the offset b of the boundary n·x + b = 0, (k,) float64
    offsets: np.ndarray | None = None
    # JSON-able facts about how the method ran (sample counts, accuracies, the conditions projected out...)
    method_info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return int(self.directions.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.directions.shape[1])

    def shares(self) -> np.ndarray:
        """Each eigenvalue's share of the total over all directions, kept or not."""
        total = self.eigenvalue_total
        return self.eigenvalues / total if total > 0 else np.zeros_like(self.eigenvalues)

    def layers_of(self, index: int) -> tuple[int, ...]:
        """The layers direction ``index`` has for its own, or () when the edit chooses."""
        return self.direction_layers[index] if index < len(self.direction_layers) else ()

    def name_of(self, index: int) -> str:
        """The name the user gave direction ``index``, or ""."""
        return self.direction_names[index] if index < len(self.direction_names) else ""

    def with_names(self, names: Mapping[int, str]) -> DirectionBank:
        """A copy with directions renamed (index -> name; "" removes a name), others kept."""
        current = [self.name_of(i) for i in range(self.k)]
        for index, name in names.items():
            if type(index) is not int or not 0 <= index < self.k:
                raise BankError(f"direction {index} does not exist (the bank has directions 0-{self.k - 1})")
            current[index] = _checked_name(name, f"direction {index}'s name")
        return replace(self, direction_names=tuple(current) if any(current) else ())

    def with_direction_layers(self, layers: Mapping[int, Sequence[int]]) -> DirectionBank:
        """A copy where each direction in ``layers`` edits its own layer indices (sorted, de-duplicated);
        an empty sequence gives a direction back to the edit's choice; others are kept."""
        current = [self.layers_of(i) for i in range(self.k)]
        for index, chosen in layers.items():
            if type(index) is not int or not 0 <= index < self.k:
                raise BankError(f"direction {index} does not exist (the bank has directions 0-{self.k - 1})")
            chosen = list(chosen)
            if any(type(n) is not int or n < 0 for n in chosen):
                raise BankError(f"direction {index}'s layers must be whole numbers >= 0, got {chosen}")
            current[index] = tuple(sorted(set(chosen)))
        return replace(self, direction_layers=tuple(current) if any(current) else ())

    def digest(self) -> str:
        """sha256 of what an edit with the bank depends on: the directions and eigenvalues, and
        the per-direction layers and boundary offsets when set (banks without them keep the digest
        of their numbers alone); names, provenance and save time never change it."""
        h = hashlib.sha256()
        for array, dtype in ((self.directions, "<f4"), (self.eigenvalues, "<f8")):
            h.update(repr(array.shape).encode())
            h.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
        if any(self.direction_layers):
            h.update(json.dumps([list(layers) for layers in self.direction_layers]).encode())
        if self.offsets is not None:
            h.update(b"offsets" + np.ascontiguousarray(self.offsets, dtype="<f8").tobytes())
        return h.hexdigest()

    def metadata(self) -> dict[str, str]:
        """The safetensors metadata; the optional keys only when set."""
        optional = {}
        if any(self.latent_parts):
            optional[LATENT_PARTS_KEY] = json.dumps(list(self.latent_parts))
        if any(self.direction_names):
            optional[NAMES_KEY] = json.dumps(list(self.direction_names))
        if self.checkpoint_revision:
            optional[REVISION_KEY] = self.checkpoint_revision
        if self.read_remotely:
            optional[REMOTE_KEY] = "true"
        if any(self.direction_layers):
            optional[DIRECTION_LAYERS_KEY] = json.dumps([list(layers) for layers in self.direction_layers])
        if self.method_info:
            optional[METHOD_INFO_KEY] = json.dumps(self.method_info, allow_nan=False, sort_keys=True)
        return {
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "architecture": self.architecture,
            "layout": self.layout,
            "checkpoint_sha256": self.checkpoint_sha256,
            "checkpoint_source": self.checkpoint_source,
            "layer_indices": json.dumps(list(self.layer_indices)),
            "layer_names": json.dumps(list(self.layer_names)),
            "latent_space": self.latent_space,
            "normalization": self.normalization,
            "eigenvalue_total": repr(float(self.eigenvalue_total)),
            "method": self.method,
            "tool_version": self.tool_version,
            "created": self.created,
            **optional,
        }

    def top(self, k: int) -> DirectionBank:
        names, layers = self.direction_names[:k], self.direction_layers[:k]
        return replace(
            self, directions=self.directions[:k], eigenvalues=self.eigenvalues[:k],
            direction_names=names if any(names) else (), direction_layers=layers if any(layers) else (),
            offsets=None if self.offsets is None else self.offsets[:k],
        )

    def __repr__(self) -> str:
        shares = ", ".join(f"{share:.1%}" for share in self.shares()[:SHOWN_SHARES])
        more = ", ..." if self.k > SHOWN_SHARES else ""
        return (
            f"DirectionBank(model={self.model!r}, method={self.method!r}, "
            f"layers={format_layer_spec(list(self.layer_indices))!r}, k={self.k}, "
            f"latent_dim={self.latent_dim}, shares=[{shares}{more}])"
        )


def validate(bank: DirectionBank, where: str = "direction bank") -> None:
    """Raise BankError (naming ``where`` and the field) unless ``bank`` is self-consistent."""
    d, e = bank.directions, bank.eigenvalues
    if d.ndim != 2 or d.shape[0] < 1 or d.shape[1] < 1:
        raise BankError(f"{where}: 'directions' must be a non-empty (k, latent_dim) matrix, got {d.shape}")
    if d.shape[0] > d.shape[1]:
        raise BankError(f"{where}: 'directions' has {d.shape[0]} rows, more than its {d.shape[1]} dimensions")
    if e.shape != (d.shape[0],):
        raise BankError(f"{where}: 'eigenvalues' must have shape ({d.shape[0]},), got {e.shape}")
    if not (np.isfinite(d).all() and np.isfinite(e).all()):
        raise BankError(f"{where}: 'directions' or 'eigenvalues' contain NaN or infinite values")
    _check_orthonormal(d, where)
    if np.any(np.diff(e) > 1e-9 * max(1.0, float(np.abs(e).max()))):
        raise BankError(f"{where}: 'eigenvalues' must be sorted in descending order")
    if not np.isfinite(bank.eigenvalue_total):
        raise BankError(f"{where}: metadata 'eigenvalue_total' must be a finite number")
    if bank.eigenvalue_total < float(e.sum()) * (1 - 1e-6) - 1e-9:
        raise BankError(f"{where}: metadata 'eigenvalue_total' must be at least the sum of the eigenvalues")
    if bank.normalization not in NORMALIZATIONS:
        raise BankError(f"{where}: metadata 'normalization' must be one of {', '.join(NORMALIZATIONS)}")
    if bank.checkpoint_sha256 and not _SHA256.match(bank.checkpoint_sha256):
        raise BankError(f"{where}: metadata 'checkpoint_sha256' must be 64 hex digits or empty")
    if len(bank.layer_indices) != len(bank.layer_names):
        raise BankError(f"{where}: metadata 'layer_indices' and 'layer_names' differ in length")
    if bank.latent_parts and len(bank.latent_parts) != len(bank.layer_names):
        raise BankError(f"{where}: metadata {LATENT_PARTS_KEY!r} and 'layer_names' differ in length")
    if any(not isinstance(part, str) or not part.isprintable() for part in bank.latent_parts):
        raise BankError(f"{where}: metadata {LATENT_PARTS_KEY!r} must hold one-line descriptions")
    if bank.direction_names and len(bank.direction_names) != d.shape[0]:
        raise BankError(f"{where}: metadata {NAMES_KEY!r} must name each of the {d.shape[0]} directions (\"\" for none)")
    for i, name in enumerate(bank.direction_names):
        _checked_name(name, f"{where}: metadata {NAMES_KEY!r} item {i}")
    if bank.checkpoint_revision and not _REVISION.match(bank.checkpoint_revision):
        raise BankError(f"{where}: metadata {REVISION_KEY!r} must be a 40-hex-digit commit or empty")
    if bank.read_remotely and not bank.checkpoint_revision:
        raise BankError(f"{where}: a bank read remotely must record its {REVISION_KEY!r}")
    _check_direction_layers(bank, where)
    _check_optional_arrays(bank, where)
    _check_method_info(bank.method_info, where)
    if not bank.layer_indices or any(type(i) is not int or i < 0 for i in bank.layer_indices):
        raise BankError(f"{where}: metadata 'layer_indices' must be a non-empty list of indices")
    for name in ("model", "architecture", "latent_space", "method"):
        if not getattr(bank, name):
            raise BankError(f"{where}: metadata {name!r} must not be empty")


def _check_direction_layers(bank: DirectionBank, where: str) -> None:
    if not bank.direction_layers:
        return
    what = f"{where}: metadata {DIRECTION_LAYERS_KEY!r}"
    if len(bank.direction_layers) != bank.k:
        raise BankError(f"{what} must give each of the {bank.k} directions its layers ([] for none)")
    for i, layers in enumerate(bank.direction_layers):
        if (not isinstance(layers, tuple) or any(type(n) is not int or n < 0 for n in layers)
                or list(layers) != sorted(set(layers))):
            raise BankError(f"{what} item {i} must be increasing layer indices")


def _check_optional_arrays(bank: DirectionBank, where: str) -> None:
    for name, expected in (("mean", (bank.latent_dim,)), ("offsets", (bank.k,))):
        array = getattr(bank, name)
        if array is None:
            continue
        if not isinstance(array, np.ndarray) or array.shape != expected:
            shape = getattr(array, "shape", None)
            raise BankError(f"{where}: tensor {name!r} must have shape {expected}, got {shape}")
        if not np.isfinite(array).all():
            raise BankError(f"{where}: tensor {name!r} contains NaN or infinite values")


def _check_method_info(info: Any, where: str) -> None:
    what = f"{where}: metadata {METHOD_INFO_KEY!r}"
    if not isinstance(info, Mapping):
        raise BankError(f"{what} must be a JSON object")

    def check(value: Any, depth: int) -> None:
        if depth > MAX_METHOD_INFO_DEPTH:
            raise BankError(f"{what} is nested more than {MAX_METHOD_INFO_DEPTH} levels")
        if isinstance(value, Mapping):
            if any(not isinstance(key, str) for key in value):
                raise BankError(f"{what} has a key that is not text")
            for item in value.values():
                check(item, depth + 1)
        elif isinstance(value, (list, tuple)):
            for item in value:
                check(item, depth + 1)
        elif isinstance(value, float):
            if not np.isfinite(value):
                raise BankError(f"{what} holds a number that is not finite")
        elif value is not None and not isinstance(value, (str, int, bool)):
            raise BankError(f"{what} holds a {type(value).__name__}, not a JSON value")

    check(info, 1)
    if len(json.dumps(info)) > MAX_METHOD_INFO_CHARS:
        raise BankError(f"{what} is longer than {MAX_METHOD_INFO_CHARS} characters")


def _checked_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name.isprintable() or len(name) > MAX_NAME_CHARS or name != name.strip():
        raise BankError(f"{what} must be one line of at most {MAX_NAME_CHARS} characters without surrounding spaces")
    return name


def _check_orthonormal(directions: np.ndarray, where: str) -> None:
    """Edits along directions that are not orthonormal mix several of them; SeFa's never are."""
    rows = directions.astype(np.float64)
    norms = np.linalg.norm(rows, axis=1)
    worst = int(np.abs(norms - 1).argmax())
    if abs(norms[worst] - 1) > ORTHONORMAL_TOLERANCE:
        raise BankError(f"{where}: 'directions' rows must be unit vectors (a norm is {norms[worst]:.6f})")
    products = rows @ rows.T
    np.fill_diagonal(products, 0.0)
    i, j = np.unravel_index(int(np.abs(products).argmax()), products.shape)
    if abs(products[i, j]) > ORTHONORMAL_TOLERANCE:
        raise BankError(
            f"{where}: 'directions' rows must be orthogonal (rows {i} and {j} have dot product {products[i, j]:.6f})"
        )


def bank_files(bank: DirectionBank, path: str | Path, exports: Iterable[str] = ()) -> dict[Path, Writer]:
    """The files of ``bank`` saved at ``path`` with ``exports`` (names in EXPORTS) beside it as
    ``<path without suffix>_...``: each target with the function that writes it."""
    path = Path(path)
    validate(bank, str(path))
    files = {path: _safetensors_writer(bank)}
    stem = path.with_suffix("")
    for kind in dict.fromkeys(exports):
        if kind not in EXPORTS:
            raise BankError(f"unknown export {kind!r} (known: {', '.join(EXPORTS)})")
        files.update(EXPORTS[kind](bank, stem))
    return files


def save_bank(bank: DirectionBank, path: str | Path) -> Path:
    """Validate and write ``bank`` atomically; returns the path written."""
    (written,) = write_atomically(bank_files(bank, path))
    return written


def _safetensors_writer(bank: DirectionBank) -> Writer:
    # safetensors' own save_file writes through a temporary file of its own naming: the bytes
    # are made here and written to the partial file, so an interrupted save leaves only ours
    tensors = {
        "directions": np.ascontiguousarray(bank.directions, dtype=np.float32),
        "eigenvalues": np.ascontiguousarray(bank.eigenvalues, dtype=np.float64),
    }
    if bank.mean is not None:
        tensors["mean"] = np.ascontiguousarray(bank.mean, dtype=np.float32)
    if bank.offsets is not None:
        tensors["offsets"] = np.ascontiguousarray(bank.offsets, dtype=np.float64)
    data = safetensors_bytes(tensors, metadata=bank.metadata())
    return lambda path: path.write_bytes(data)


def rewrite_bank(path: str | Path, change: Callable[[DirectionBank], DirectionBank]) -> DirectionBank:
    """Load the bank at ``path``, apply ``change`` (``with_names``, ``with_direction_layers``...) and
    write the result back atomically; a BankError from ``change`` names the file."""
    bank = load_bank(path)
    try:
        bank = change(bank)
    except BankError as exc:
        raise BankError(f"{path}: {exc}") from None
    save_bank(bank, path)
    return bank


def load_bank(path: str | Path) -> DirectionBank:
    """Read and validate a bank; every problem is a BankError naming the file and the field.

    What a file can make this cost is bounded by its size: tensor shapes and dtypes are
    checked before any tensor is read, and metadata numbers by their length before parsing.
    """
    path = Path(path)
    where = str(path)
    if path.is_dir():
        raise BankError(f"{where}: is a folder, not a direction bank file")
    if not path.is_file():
        raise BankError(f"{where}: no such direction bank file")
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            present = _check_tensor_headers(f, where)
            directions = f.get_tensor("directions")
            eigenvalues = f.get_tensor("eigenvalues").astype(np.float64)
            optional = {name: f.get_tensor(name) for name in _OPTIONAL_TENSORS if name in present}
    except SafetensorError as exc:
        raise BankError(f"{where}: not a readable safetensors file ({exc})") from None
    for key in _META_KEYS:
        if key not in meta:
            raise BankError(f"{where}: metadata {key!r} is missing (is this a sefa-zoo direction bank?)")
    if meta["format_version"] != FORMAT_VERSION:
        raise BankError(
            f"{where}: metadata 'format_version' is {meta['format_version']!r}; this sefa-zoo reads {FORMAT_VERSION!r}"
        )
    bank = DirectionBank(
        directions=directions,
        eigenvalues=eigenvalues,
        model=meta["model"],
        architecture=meta["architecture"],
        layout=meta["layout"],
        checkpoint_sha256=meta["checkpoint_sha256"],
        checkpoint_source=meta["checkpoint_source"],
        layer_indices=tuple(_json_list(meta, "layer_indices", int, where)),
        layer_names=tuple(_json_list(meta, "layer_names", str, where)),
        latent_space=meta["latent_space"],
        eigenvalue_total=_finite_number(meta, "eigenvalue_total", where),
        normalization=meta["normalization"],
        method=meta["method"],
        tool_version=meta["tool_version"],
        created=meta["created"],
        latent_parts=tuple(_json_list(meta, LATENT_PARTS_KEY, str, where)) if LATENT_PARTS_KEY in meta else (),
        direction_names=tuple(_json_list(meta, NAMES_KEY, str, where)) if NAMES_KEY in meta else (),
        checkpoint_revision=meta.get(REVISION_KEY, ""),
        read_remotely=_flag(meta, REMOTE_KEY, where),
        direction_layers=_direction_layers(meta, where),
        mean=optional.get("mean"),
        offsets=optional.get("offsets"),
        method_info=_method_info(meta, where),
    )
    validate(bank, where)
    return bank


def _check_tensor_headers(f: safe_open, where: str) -> set[str]:
    """Dtypes and shapes from the header, before any tensor is read: a zero-sized dimension
    beside a huge one would cost memory for the huge one without a byte in the file.
    Returns the names of the optional tensors present."""
    keys = set(f.keys())
    shapes = {}
    for name, (dimensions, dtypes) in {**_TENSORS, **_OPTIONAL_TENSORS}.items():
        if name not in keys:
            if name in _TENSORS:
                raise BankError(f"{where}: tensor {name!r} is missing")
            continue
        view = f.get_slice(name)
        dtype, shape = view.get_dtype(), list(view.get_shape())
        if dtype not in dtypes:
            wanted = " or ".join(_DTYPE_NAMES[d] for d in dtypes)
            raise BankError(f"{where}: tensor {name!r} must be {wanted}, got {_DTYPE_NAMES.get(dtype, dtype)}")
        if len(shape) != dimensions or min(shape) < 1:
            raise BankError(f"{where}: tensor {name!r} must have {dimensions} non-empty dimensions, got shape {shape}")
        shapes[name] = shape
    k, latent_dim = shapes["directions"]
    for name, expected in (("eigenvalues", [k]), ("offsets", [k]), ("mean", [latent_dim])):
        if name in shapes and shapes[name] != expected:
            raise BankError(f"{where}: tensor {name!r} must have shape {expected}, got {shapes[name]}")
    return keys & set(_OPTIONAL_TENSORS)


def _direction_layers(meta: dict[str, str], where: str) -> tuple[tuple[int, ...], ...]:
    if DIRECTION_LAYERS_KEY not in meta:
        return ()
    value = _json_value(meta, DIRECTION_LAYERS_KEY, where)
    if not isinstance(value, list) or any(
        not isinstance(item, list) or any(type(n) is not int for n in item) for item in value
    ):
        raise BankError(f"{where}: metadata {DIRECTION_LAYERS_KEY!r} is not a JSON list of lists of indices")
    return tuple(tuple(item) for item in value)


def _method_info(meta: dict[str, str], where: str) -> dict[str, Any]:
    if METHOD_INFO_KEY not in meta:
        return {}
    if len(meta[METHOD_INFO_KEY]) > MAX_METHOD_INFO_CHARS:
        raise BankError(f"{where}: metadata {METHOD_INFO_KEY!r} is longer than {MAX_METHOD_INFO_CHARS} characters")
    value = _json_value(meta, METHOD_INFO_KEY, where)
    if not isinstance(value, dict):
        raise BankError(f"{where}: metadata {METHOD_INFO_KEY!r} must be a JSON object")
    return value


def _json_value(meta: dict[str, str], key: str, where: str) -> Any:
    try:
        return json.loads(meta[key], parse_int=_bounded_int(key, where), parse_float=_bounded_float(key, where),
                          parse_constant=_no_constant)
    except RecursionError:
        raise BankError(f"{where}: metadata {key!r} is nested too deeply") from None
    except ValueError:
        raise BankError(f"{where}: metadata {key!r} is not valid JSON") from None


def _bounded_float(key: str, where: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        if len(text) > MAX_NUMBER_CHARS:
            raise BankError(f"{where}: metadata {key!r} holds a number of {len(text)} characters")
        value = float(text)
        if not np.isfinite(value):
            raise BankError(f"{where}: metadata {key!r} holds a number that is not finite")
        return value
    return parse


def _json_list(meta: dict[str, str], key: str, item_type: type, where: str) -> list:
    """A flat JSON list of ``item_type`` items (never booleans for int)."""
    what = {int: "indices", str: "strings"}[item_type]
    try:
        value = json.loads(meta[key], parse_int=_bounded_int(key, where), parse_constant=_no_constant)
    except RecursionError:
        raise BankError(f"{where}: metadata {key!r} is nested too deeply") from None
    except ValueError:
        raise BankError(f"{where}: metadata {key!r} is not a JSON list of {what}") from None
    if not isinstance(value, list) or any(type(item) is not item_type for item in value):
        raise BankError(f"{where}: metadata {key!r} is not a JSON list of {what}")
    return value


def _flag(meta: dict[str, str], key: str, where: str) -> bool:
    value = meta.get(key, "false")
    if value not in ("true", "false"):
        raise BankError(f"{where}: metadata {key!r} must be true or false")
    return value == "true"


def _bounded_int(key: str, where: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if len(text.lstrip("-")) > MAX_INDEX_DIGITS:
            raise BankError(f"{where}: metadata {key!r} holds a number of {len(text)} digits")
        return int(text)
    return parse


def _no_constant(text: str) -> float:
    raise ValueError(f"{text} is not JSON")


def _finite_number(meta: dict[str, str], key: str, where: str) -> float:
    text = meta[key]
    if len(text) > MAX_NUMBER_CHARS:
        raise BankError(f"{where}: metadata {key!r} is not a number ({len(text)} characters)")
    try:
        value = float(text)
    except ValueError:
        raise BankError(f"{where}: metadata {key!r} is not a number") from None
    if not np.isfinite(value):
        raise BankError(f"{where}: metadata {key!r} must be a finite number")
    return value


def export_npy(bank: DirectionBank, stem: str | Path) -> list[Path]:
    """The original release's arrays: ``<stem>_directions.npy`` (k x latent_dim, rows as its
    ``boundaries``) and ``<stem>_eigenvalues.npy``."""
    return write_atomically(_npy_files(bank, Path(stem)))


def export_rosinality(bank: DirectionBank, stem: str | Path) -> list[Path]:
    """rosinality's ``factor.pt``: ``{"ckpt": source, "eigvec": (latent_dim x k)}``, columns = directions."""
    return write_atomically(_rosinality_files(bank, Path(stem)))


def _npy_files(bank: DirectionBank, stem: Path) -> dict[Path, Writer]:
    return {
        stem.with_name(f"{stem.name}_{suffix}.npy"): _npy_writer(array)
        for suffix, array in (("directions", bank.directions), ("eigenvalues", bank.eigenvalues))
    }


def _npy_writer(array: np.ndarray) -> Writer:
    def write(path: Path) -> None:
        with open(path, "wb") as f:
            np.save(f, array)
    return write


def _rosinality_files(bank: DirectionBank, stem: Path) -> dict[Path, Writer]:
    import torch  # rosinality's factor.pt is a torch file

    payload = {
        "ckpt": bank.checkpoint_source,
        "eigvec": torch.from_numpy(np.ascontiguousarray(bank.directions.T, dtype=np.float32)),
    }
    return {stem.with_name(f"{stem.name}_factor.pt"): lambda path: torch.save(payload, path)}


EXPORTS: dict[str, Callable[[DirectionBank, Path], dict[Path, Writer]]] = {
    "npy": _npy_files, "rosinality": _rosinality_files,
}


def bank_from_factorization(
    result: Factorization, *, layer_indices: Sequence[int], layer_names: Sequence[str],
    latent_parts: Sequence[str] = (), **meta: str,
) -> DirectionBank:
    return DirectionBank(
        directions=np.ascontiguousarray(result.directions, dtype=np.float32),
        eigenvalues=np.asarray(result.eigenvalues, dtype=np.float64),
        eigenvalue_total=result.total,
        normalization="rows" if result.normalized else "none",
        layer_indices=tuple(int(i) for i in layer_indices),
        layer_names=tuple(layer_names),
        latent_parts=tuple(latent_parts) if any(latent_parts) else (),
        **meta,
    )
