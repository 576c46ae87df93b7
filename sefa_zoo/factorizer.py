"""The SeFa factorizer: top eigenvectors of AᵀA for stacked projection weights A.

It knows nothing of architectures: it receives matrices of shape (outputs, latent_dim), numpy
arrays or torch tensors, and imports no torch itself. A matrix may also be an array of shape
(..., latent_dim) standing for its rows with the leading axes flattened in C order: a plugin can
hand over a strided view of a file's weight that no 2-D reshape could express without a copy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from .errors import SefaZooError

if TYPE_CHECKING:
    import torch

Matrix = Union[np.ndarray, "torch.Tensor"]


@dataclass(frozen=True)
class Factorization:
    directions: np.ndarray  # (k, latent_dim), float64, unit rows
    eigenvalues: np.ndarray  # (k,), float64, descending
    rows: int  # rows of the stacked A
    normalized: bool
    total: float  # trace(AᵀA): the sum of ALL eigenvalues, kept or not


def _as_numpy(matrix: Matrix) -> np.ndarray:
    """A view where possible (no copy): the float64 buffer it is written into does the cast."""
    torch = sys.modules.get("torch")  # a torch tensor can only come from code that imported torch
    if torch is not None and isinstance(matrix, torch.Tensor):
        if matrix.is_meta or matrix.layout != torch.strided or matrix.is_quantized:
            kind = "meta-device" if matrix.is_meta else "quantized" if matrix.is_quantized else "sparse"
            raise SefaZooError(f"a projection matrix is a {kind} tensor; factorizing needs dense weights")
        matrix = matrix.detach().cpu()
        if matrix.dtype not in (torch.float32, torch.float64, torch.float16):
            matrix = matrix.to(torch.float64)
        return matrix.numpy()
    array = np.asarray(matrix)
    if array.dtype.kind not in "fiub":
        raise SefaZooError(f"a projection matrix of dtype {array.dtype} is not numeric")
    return array


CHUNK_ROWS = 2048  # rows of A held in float64 at once: 8 MiB at latent_dim 512


def _check_shapes(matrices: Sequence[Matrix]) -> int:
    if not matrices:
        raise SefaZooError("no projection layers selected")
    shapes = [tuple(m.shape) for m in matrices]
    bad = [shape for shape in shapes if len(shape) < 2]
    if bad:
        raise SefaZooError(f"a projection matrix must be 2-D (outputs x latent_dim), got {bad[0]}")
    latent_dims = sorted({shape[-1] for shape in shapes})
    if len(latent_dims) > 1:
        raise SefaZooError(f"projection matrices disagree on latent_dim: {latent_dims}")
    return latent_dims[0]


def gram(matrices: Sequence[Matrix], normalize: bool = True) -> tuple[np.ndarray, int]:
    """AᵀA in float64 for A = the matrices stacked along the output axis, and A's row count.

    With ``normalize`` every row of A is first scaled to unit norm (all-zero rows stay zero),
    as the original release does: every output unit counts equally, and per-layer gains
    (equalised learning rate, lr multipliers) cancel.

    A is never built whole: rows are packed CHUNK_ROWS at a time into one float64 buffer and
    each full buffer is added as ``buf.T @ buf``, which numpy runs as a symmetric rank-k update.
    """
    latent_dim = _check_shapes(matrices)
    product = np.zeros((latent_dim, latent_dim))
    buf = np.empty((CHUNK_ROWS, latent_dim))
    filled = rows = 0

    def flush() -> None:
        nonlocal filled
        if filled:
            part = buf[:filled]
            product[...] += part.T @ part
            filled = 0

    for matrix in matrices:
        source = _as_numpy(matrix)
        count = _row_count(source)
        start = 0
        while start < count:
            take = min(CHUNK_ROWS - filled, count - start)
            block = buf[filled:filled + take]
            _copy_rows(source, start, block)  # the float64 cast happens here
            if not np.isfinite(block).all():
                raise SefaZooError("projection weights contain NaN or infinite values")
            if normalize:
                norms = np.sqrt(np.einsum("ij,ij->i", block, block))[:, None]
                np.divide(block, norms, out=block, where=norms > 0)
            filled += take
            start += take
            rows += take
            if filled == CHUNK_ROWS:
                flush()
    flush()
    return product, rows


def _row_count(source: np.ndarray) -> int:
    return int(np.prod(source.shape[:-1], dtype=np.int64))


def _copy_rows(source: np.ndarray, start: int, out: np.ndarray) -> None:
    """Rows ``start`` to ``start + len(out)`` of ``source`` (its leading axes flattened) into ``out``."""
    if source.ndim == 2:
        out[...] = source[start:start + len(out)]
        return
    per_item = _row_count(source[0]) if len(source) else 0
    done = 0
    while done < len(out):
        item, row = divmod(start + done, per_item)
        whole = (len(out) - done) // per_item if row == 0 else 0
        if whole:  # whole items at once: a block of the same layout
            out[done:done + whole * per_item].reshape(whole, *source.shape[1:])[...] = source[item:item + whole]
            done += whole * per_item
        else:
            take = min(per_item - row, len(out) - done)
            _copy_rows(source[item], row, out[done:done + take])
            done += take


def canonical_signs(vectors: np.ndarray) -> np.ndarray:
    """Flip each row so its largest-magnitude component is positive (first one on ties)."""
    idx = np.argmax(np.abs(vectors), axis=1)
    signs = np.sign(vectors[np.arange(len(vectors)), idx])
    signs[signs == 0] = 1.0
    return vectors * signs[:, None]


def factorize(
    matrices: Sequence[Matrix], *, k: int | None = None, normalize: bool = True
) -> Factorization:
    """Eigen-decompose AᵀA (float64, symmetric solver), sorted by descending eigenvalue.

    Returns the top ``k`` (default: min(latent_dim, rows)) unit directions, signs canonical.
    """
    product, rows = gram(matrices, normalize)
    latent_dim = product.shape[0]
    if k is None:
        k = min(latent_dim, rows)
    if not 1 <= k <= latent_dim:
        raise SefaZooError(f"k must be between 1 and {latent_dim}, got {k}")
    values, vectors = np.linalg.eigh(product)
    order = np.arange(latent_dim)[::-1][:k]  # eigh returns ascending eigenvalues
    values = np.clip(values[order], 0.0, None)
    directions = canonical_signs(vectors[:, order].T.copy())
    return Factorization(directions, values, rows, normalize, float(np.trace(product)))
