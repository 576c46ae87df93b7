"""The SeFa factorizer: top eigenvectors of AᵀA for stacked projection weights A.

It knows nothing of architectures: it receives matrices of shape (outputs, latent_dim).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import SefaZooError


@dataclass(frozen=True)
class Factorization:
    directions: np.ndarray  # (k, latent_dim), float64, unit rows
    eigenvalues: np.ndarray  # (k,), float64, descending
    rows: int  # rows of the stacked A
    normalized: bool
    total: float  # trace(AᵀA): the sum of ALL eigenvalues, kept or not


def _as_numpy(matrix: torch.Tensor | np.ndarray) -> np.ndarray:
    """A view where possible (no copy): the float64 buffer it is written into does the cast."""
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().cpu()
        if matrix.dtype not in (torch.float32, torch.float64, torch.float16):
            matrix = matrix.to(torch.float64)
        return matrix.numpy()
    return np.asarray(matrix)


def stack(matrices: Sequence[torch.Tensor | np.ndarray], normalize: bool = True) -> np.ndarray:
    """A: the matrices stacked along the output axis in float64, rows scaled to unit norm
    when ``normalize`` (all-zero rows stay zero).

    Row normalisation is what the original release does: every output unit counts
    equally, and per-layer gains (equalised learning rate, lr multipliers) cancel.
    """
    if not matrices:
        raise SefaZooError("no projection layers selected")
    shapes = [tuple(m.shape) for m in matrices]
    if any(len(shape) != 2 for shape in shapes):
        bad = next(shape for shape in shapes if len(shape) != 2)
        raise SefaZooError(f"a projection matrix must be 2-D (outputs x latent_dim), got {bad}")
    latent_dims = {shape[1] for shape in shapes}
    if len(latent_dims) > 1:
        raise SefaZooError(f"projection matrices disagree on latent_dim: {sorted(latent_dims)}")
    a = np.empty((sum(shape[0] for shape in shapes), shapes[0][1]))
    offset = 0
    for matrix in matrices:
        block = _as_numpy(matrix)
        a[offset:offset + len(block)] = block
        offset += len(block)
    if not np.isfinite(a).all():
        raise SefaZooError("projection weights contain NaN or infinite values")
    if normalize:
        norms = np.linalg.norm(a, axis=1, keepdims=True)
        np.divide(a, norms, out=a, where=norms > 0)
    return a


def canonical_signs(vectors: np.ndarray) -> np.ndarray:
    """Flip each row so its largest-magnitude component is positive (first one on ties)."""
    idx = np.argmax(np.abs(vectors), axis=1)
    signs = np.sign(vectors[np.arange(len(vectors)), idx])
    signs[signs == 0] = 1.0
    return vectors * signs[:, None]


def factorize(
    matrices: Sequence[torch.Tensor | np.ndarray], *, k: int | None = None, normalize: bool = True
) -> Factorization:
    """Eigen-decompose AᵀA (float64, symmetric solver), sorted by descending eigenvalue.

    Returns the top ``k`` (default: min(latent_dim, rows)) unit directions, signs canonical.
    """
    a = stack(matrices, normalize)
    rows, latent_dim = a.shape
    product = a.T @ a  # numpy runs this as a symmetric rank-k update: half a general product
    if k is None:
        k = min(latent_dim, rows)
    if not 1 <= k <= latent_dim:
        raise SefaZooError(f"k must be between 1 and {latent_dim}, got {k}")
    values, vectors = np.linalg.eigh(product)
    order = np.arange(latent_dim)[::-1][:k]  # eigh returns ascending eigenvalues
    values = np.clip(values[order], 0.0, None)
    directions = canonical_signs(vectors[:, order].T.copy())
    return Factorization(directions, values, rows, normalize, float(np.trace(product)))
