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


def stack(matrices: Sequence[torch.Tensor | np.ndarray], normalize: bool = True) -> torch.Tensor:
    """Stack A_i along the output axis in float64; optionally scale every row to unit norm.

    Row normalisation is what the original release does: every output unit counts
    equally, and per-layer gains (equalised learning rate, lr multipliers) cancel.
    All-zero rows stay zero.
    """
    if not matrices:
        raise SefaZooError("no projection layers selected")
    parts = []
    latent_dim = None
    for m in matrices:
        t = torch.as_tensor(m).detach().to("cpu", torch.float64)
        if t.ndim != 2:
            raise SefaZooError(f"a projection matrix must be 2-D (outputs x latent_dim), got {tuple(t.shape)}")
        if latent_dim is None:
            latent_dim = t.shape[1]
        elif t.shape[1] != latent_dim:
            raise SefaZooError(f"projection matrices disagree on latent_dim: {latent_dim} vs {t.shape[1]}")
        parts.append(t)
    a = torch.cat(parts, 0)
    if not torch.isfinite(a).all():
        raise SefaZooError("projection weights contain NaN or infinite values")
    if normalize:
        norms = a.norm(dim=1, keepdim=True)
        a = a / torch.where(norms > 0, norms, torch.ones_like(norms))
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
    limit = min(latent_dim, rows)
    if k is None:
        k = limit
    if not 1 <= k <= latent_dim:
        raise SefaZooError(f"k must be between 1 and {latent_dim}, got {k}")
    gram = (a.T @ a).numpy()
    values, vectors = np.linalg.eigh(gram)
    order = np.arange(latent_dim)[::-1][:k]  # eigh returns ascending eigenvalues
    values = np.clip(values[order], 0.0, None)
    directions = canonical_signs(vectors[:, order].T.copy())
    return Factorization(directions, values, rows, normalize, float(np.trace(gram)))
