"""Conditional manipulation: a direction with its components along other directions removed.

InterFaceGAN's conditional editing (smile without age) generalised to any number of
conditions, from any banks of the same model: the direction is projected onto the
orthogonal complement of the conditions' span and made unit again, so moving along it
leaves every condition's coordinate (n_j · x) as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ._version import __version__
from .bank import DirectionBank, validate
from .errors import BankError, SefaZooError

# A direction that keeps less than this fraction of its length once the conditions are
# removed lies (within about 3 degrees) in their span: what is left is mostly rounding.
MIN_KEPT_NORM = 0.05
# Singular values of the conditions below this fraction of the largest are linear dependence.
RANK_TOLERANCE = 1e-6
MAX_CONDITIONS = 64  # each is recorded in the bank's method_info, whose size is bounded


@dataclass(frozen=True)
class DirectionRef:
    """Direction ``index`` of ``bank``; ``file`` names it (the bank file's name) in errors and records."""

    bank: DirectionBank
    index: int
    file: str = ""

    @property
    def label(self) -> str:
        return f"direction {self.index} of {self.file or 'the bank'}"

    @property
    def vector(self) -> np.ndarray:
        return self.bank.directions[self.index].astype(np.float64)

    def record(self) -> dict[str, Any]:
        """What the projected bank keeps about this direction."""
        return {
            "file": self.file, "digest": self.bank.digest(), "direction": self.index,
            "name": self.bank.name_of(self.index), "method": self.bank.method,
        }


def project_direction(source: DirectionRef, conditions: Sequence[DirectionRef]) -> DirectionBank:
    """A one-direction bank: ``source`` without its components along ``conditions``, unit length.

    Everything else comes from the source bank (model, layers, name, method, mean); a boundary's
    offset b becomes b · r, r the length kept, so the new boundary passes through the point of
    the old one nearest the origin (-b n). ``method_info`` records the source and the conditions
    (file, digest, direction, name, method) and r. One-line errors for conditions of another
    model or latent space, for a direction out of range and for a direction (nearly) in the
    conditions' span.
    """
    if not conditions:
        raise SefaZooError("no conditions given: name at least one direction to remove")
    if len(conditions) > MAX_CONDITIONS:
        raise SefaZooError(f"{len(conditions)} conditions given; at most {MAX_CONDITIONS} are supported")
    for ref in (source, *conditions):
        _check_index(ref)
    for condition in conditions:
        _check_same_space(source, condition)
    direction = source.vector
    basis = _orthonormal_basis(np.stack([condition.vector for condition in conditions]))
    kept = direction - basis.T @ (basis @ direction)
    kept_norm = float(np.linalg.norm(kept))
    if kept_norm < MIN_KEPT_NORM:
        closest = max(conditions, key=lambda condition: abs(float(condition.vector @ direction)))
        raise SefaZooError(
            f"{source.label} lies almost entirely in the span of the conditions (only {kept_norm:.1%} of it is left "
            f"once they are removed; {closest.label} alone has cosine {float(closest.vector @ direction):+.3f} "
            "with it): there is nothing left to edit"
        )
    return _projected_bank(source, conditions, kept / kept_norm, kept_norm)


def _check_index(ref: DirectionRef) -> None:
    index = ref.index
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise SefaZooError(f"a direction is an index into {ref.file or 'the bank'}, not {index!r}")
    if not 0 <= index < ref.bank.k:
        raise SefaZooError(
            f"direction {index} of {ref.file or 'the bank'} does not exist (it has directions 0-{ref.bank.k - 1})"
        )


def _check_same_space(source: DirectionRef, condition: DirectionRef) -> None:
    """The condition's bank must hold directions of the same model's same latent space."""
    a, b = source.bank, condition.bank
    what = f"condition {condition.label}"
    if a.model != b.model:
        raise BankError(f"{what} is for model {b.model!r}, but the direction is for {a.model!r}")
    if a.checkpoint_sha256 and b.checkpoint_sha256 and a.checkpoint_sha256 != b.checkpoint_sha256:
        raise BankError(
            f"{what} was computed from another checkpoint of {a.model!r} (sha256 {b.checkpoint_sha256[:12]}..., "
            f"the direction's is {a.checkpoint_sha256[:12]}...)"
        )
    if a.latent_space != b.latent_space:
        raise BankError(f"{what} holds {b.latent_space!r}-space directions, but the direction is in {a.latent_space!r}")
    if a.latent_dim != b.latent_dim:
        raise BankError(
            f"{what} holds {b.latent_dim}-dimensional directions, but the direction has {a.latent_dim} dimensions"
        )


def _orthonormal_basis(rows: np.ndarray) -> np.ndarray:
    """Orthonormal rows spanning ``rows``' span; dependent rows (a condition given twice) add nothing."""
    _, singular, right = np.linalg.svd(rows, full_matrices=False)
    return right[singular > RANK_TOLERANCE * singular[0]]


def _projected_bank(
    source: DirectionRef, conditions: Sequence[DirectionRef], direction: np.ndarray, kept_norm: float
) -> DirectionBank:
    bank, index = source.bank, source.index
    layers = bank.layers_of(index)
    name = bank.name_of(index)
    projected = replace(
        bank,
        directions=direction[None, :].astype(np.float32),
        eigenvalues=bank.eigenvalues[index:index + 1].copy(),
        direction_names=(name,) if name else (),
        direction_layers=(layers,) if layers else (),
        offsets=None if bank.offsets is None else bank.offsets[index:index + 1] * kept_norm,
        tool_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        method_info={
            "projected_from": source.record(),
            "conditions": [condition.record() for condition in conditions],
            "kept_norm": kept_norm,
        },
    )
    validate(projected, "projected bank")
    return projected
