"""Plugins' projection matrices as torch tensors, for tests that compare them with torch weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def torch_matrices(arrays: Sequence[np.ndarray]) -> list[torch.Tensor]:
    """Each (..., latent_dim) numpy array a projection gives as the 2-D tensor of its rows;
    asserts that the plugin gave numpy (projection needs no torch)."""
    assert all(isinstance(array, np.ndarray) for array in arrays), [type(array) for array in arrays]
    return [torch.from_numpy(np.ascontiguousarray(array.reshape(-1, array.shape[-1]))) for array in arrays]
