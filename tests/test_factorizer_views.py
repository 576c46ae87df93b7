"""The factorizer takes numpy arrays of any (..., latent_dim) shape, strided views included, and
gives exactly what the 2-D matrix of their rows gives; it never imports torch for them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sefa_zoo import factorizer


def flipped_view(seed: int, channels: int = 7, z_dim: int = 5) -> np.ndarray:
    """PGGAN's (C, 16, z_dim) view of a (C, z_dim, 4, 4) weight: rows that no 2-D view can express."""
    weight = np.random.default_rng(seed).standard_normal((channels, z_dim, 4, 4)).astype(np.float32)
    view = weight[:, :, ::-1, ::-1].transpose(0, 2, 3, 1).reshape(channels, 16, z_dim)
    assert np.shares_memory(view, weight)
    return view


@pytest.mark.parametrize("chunk_rows", [3, 16, 50, 2048])  # chunks that split items, align with them, span them
def test_a_strided_view_gives_the_bank_of_its_rows_bit_for_bit(monkeypatch, chunk_rows):
    monkeypatch.setattr(factorizer, "CHUNK_ROWS", chunk_rows)
    views = [flipped_view(0), np.random.default_rng(1).standard_normal((9, 5)).astype(np.float32), flipped_view(2)]
    rows = [np.ascontiguousarray(view.reshape(-1, 5)) for view in views]
    found, expected = factorizer.factorize(views), factorizer.factorize(rows)
    assert found.rows == expected.rows == 7 * 16 * 2 + 9
    assert np.array_equal(found.directions, expected.directions)
    assert np.array_equal(found.eigenvalues, expected.eigenvalues)


def test_matrices_must_agree_on_their_last_axis():
    with pytest.raises(factorizer.SefaZooError, match=r"disagree on latent_dim: \[4, 5\]"):
        factorizer.factorize([flipped_view(0), np.ones((3, 4))])


def test_numpy_input_needs_no_torch():
    code = ("import sys, numpy as np; from sefa_zoo.factorizer import factorize; "
            "factorize([np.eye(3), np.ones((2, 2, 3))]); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
