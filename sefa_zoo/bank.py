"""Direction banks: the factorizer's output as one safetensors file with validated metadata."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ._version import __version__
from .atomic import atomic_path
from .errors import BankError
from .factorizer import Factorization

FORMAT_VERSION = "1"
NORMALIZATIONS = ("rows", "none")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_META_KEYS = (
    "format_version", "model", "architecture", "layout", "checkpoint_sha256", "checkpoint_source",
    "layer_indices", "layer_names", "latent_space", "normalization", "eigenvalue_total", "method",
    "tool_version", "created",
)


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

    def metadata(self) -> dict[str, str]:
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
        }

    def top(self, k: int) -> DirectionBank:
        return replace(self, directions=self.directions[:k], eigenvalues=self.eigenvalues[:k])


def validate(bank: DirectionBank, where: str = "direction bank") -> None:
    """Raise BankError (naming ``where`` and the field) unless ``bank`` is self-consistent."""
    d, e = bank.directions, bank.eigenvalues
    if d.ndim != 2 or d.shape[0] < 1:
        raise BankError(f"{where}: 'directions' must be a non-empty (k, latent_dim) matrix, got {d.shape}")
    if e.shape != (d.shape[0],):
        raise BankError(f"{where}: 'eigenvalues' must have shape ({d.shape[0]},), got {e.shape}")
    if not (np.isfinite(d).all() and np.isfinite(e).all()):
        raise BankError(f"{where}: 'directions' or 'eigenvalues' contain NaN or infinite values")
    norms = np.linalg.norm(d.astype(np.float64), axis=1)
    if np.abs(norms - 1).max() > 1e-4:
        raise BankError(f"{where}: 'directions' rows must be unit vectors (a norm is {norms[np.abs(norms - 1).argmax()]:.6f})")
    if np.any(np.diff(e) > 1e-9 * max(1.0, float(np.abs(e).max()))):
        raise BankError(f"{where}: 'eigenvalues' must be sorted in descending order")
    if not np.isfinite(bank.eigenvalue_total) or bank.eigenvalue_total < float(e.sum()) * (1 - 1e-6) - 1e-9:
        raise BankError(f"{where}: metadata 'eigenvalue_total' must be at least the sum of the eigenvalues")
    if bank.normalization not in NORMALIZATIONS:
        raise BankError(f"{where}: metadata 'normalization' must be one of {', '.join(NORMALIZATIONS)}")
    if bank.checkpoint_sha256 and not _SHA256.match(bank.checkpoint_sha256):
        raise BankError(f"{where}: metadata 'checkpoint_sha256' must be 64 hex digits or empty")
    if len(bank.layer_indices) != len(bank.layer_names):
        raise BankError(f"{where}: metadata 'layer_indices' and 'layer_names' differ in length")
    if any(not isinstance(i, int) or i < 0 for i in bank.layer_indices) or not bank.layer_indices:
        raise BankError(f"{where}: metadata 'layer_indices' must be a non-empty list of indices")
    for name in ("model", "architecture", "latent_space", "method"):
        if not getattr(bank, name):
            raise BankError(f"{where}: metadata {name!r} must not be empty")


def save_bank(bank: DirectionBank, path: str | Path) -> Path:
    """Validate and write ``bank`` atomically; returns the path written."""
    path = Path(path)
    validate(bank, str(path))
    tensors = {
        "directions": torch.from_numpy(np.ascontiguousarray(bank.directions, dtype=np.float32)),
        "eigenvalues": torch.from_numpy(np.ascontiguousarray(bank.eigenvalues, dtype=np.float64)),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=bank.metadata())
    return path


def load_bank(path: str | Path) -> DirectionBank:
    """Read and validate a bank; every problem is a BankError naming the file and the field."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise BankError(f"{where}: no such direction bank file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            keys = set(f.keys())
            missing = {"directions", "eigenvalues"} - keys
            if missing:
                raise BankError(f"{where}: tensor {sorted(missing)[0]!r} is missing")
            directions = f.get_tensor("directions").numpy()
            eigenvalues = f.get_tensor("eigenvalues").to(torch.float64).numpy()
    except SafetensorError as exc:
        raise BankError(f"{where}: not a readable safetensors file ({exc})") from None
    if directions.dtype != np.float32:
        raise BankError(f"{where}: tensor 'directions' must be float32, got {directions.dtype}")
    for key in _META_KEYS:
        if key not in meta:
            raise BankError(f"{where}: metadata {key!r} is missing (is this a sefa-zoo direction bank?)")
    if meta["format_version"] != FORMAT_VERSION:
        raise BankError(
            f"{where}: metadata 'format_version' is {meta['format_version']!r}; this sefa-zoo reads {FORMAT_VERSION!r}"
        )
    try:
        indices = json.loads(meta["layer_indices"])
        names = json.loads(meta["layer_names"])
    except json.JSONDecodeError:
        raise BankError(f"{where}: metadata 'layer_indices' / 'layer_names' are not JSON lists") from None
    if not isinstance(indices, list) or not isinstance(names, list):
        raise BankError(f"{where}: metadata 'layer_indices' / 'layer_names' are not JSON lists")
    try:
        total = float(meta["eigenvalue_total"])
    except ValueError:
        raise BankError(f"{where}: metadata 'eigenvalue_total' is not a number") from None
    bank = DirectionBank(
        directions=directions,
        eigenvalues=eigenvalues,
        model=meta["model"],
        architecture=meta["architecture"],
        layout=meta["layout"],
        checkpoint_sha256=meta["checkpoint_sha256"],
        checkpoint_source=meta["checkpoint_source"],
        layer_indices=tuple(indices),
        layer_names=tuple(str(n) for n in names),
        latent_space=meta["latent_space"],
        eigenvalue_total=total,
        normalization=meta["normalization"],
        method=meta["method"],
        tool_version=meta["tool_version"],
        created=meta["created"],
    )
    validate(bank, where)
    return bank


def export_npy(bank: DirectionBank, stem: str | Path) -> list[Path]:
    """The original release's arrays: ``<stem>_directions.npy`` (k x latent_dim, rows as its
    ``boundaries``) and ``<stem>_eigenvalues.npy``."""
    stem = Path(stem)
    written = []
    for suffix, array in (("directions", bank.directions), ("eigenvalues", bank.eigenvalues)):
        target = stem.with_name(f"{stem.name}_{suffix}.npy")
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, array)
        written.append(target)
    return written


def export_rosinality(bank: DirectionBank, stem: str | Path) -> list[Path]:
    """rosinality's ``factor.pt``: ``{"ckpt": source, "eigvec": (latent_dim x k)}``, columns = directions."""
    stem = Path(stem)
    target = stem.with_name(f"{stem.name}_factor.pt")
    payload = {
        "ckpt": bank.checkpoint_source,
        "eigvec": torch.from_numpy(np.ascontiguousarray(bank.directions.T, dtype=np.float32)),
    }
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    return [target]


EXPORTERS = {"npy": export_npy, "rosinality": export_rosinality}


def bank_from_factorization(
    result: Factorization, *, layer_indices: Sequence[int], layer_names: Sequence[str], **meta: str,
) -> DirectionBank:
    return DirectionBank(
        directions=np.ascontiguousarray(result.directions, dtype=np.float32),
        eigenvalues=np.asarray(result.eigenvalues, dtype=np.float64),
        eigenvalue_total=result.total,
        normalization="rows" if result.normalized else "none",
        layer_indices=tuple(int(i) for i in layer_indices),
        layer_names=tuple(layer_names),
        **meta,
    )
