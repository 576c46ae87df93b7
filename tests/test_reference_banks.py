"""Banks are bit-identical to those the code made before checkpoints were read without torch.

tests/data/reference_banks.npz holds, per case of tests/support/container_fixtures.py (every
built-in architecture in every container and float type), the directions and eigenvalues of
the bank that code made from the same seeded files.
"""

from __future__ import annotations

import numpy as np
import pytest

from support.container_fixtures import CASES, REFERENCE_BANKS, factorized, write_container_fixtures


@pytest.fixture(scope="module")
def banks(tmp_path_factory):
    return factorized(write_container_fixtures(tmp_path_factory.mktemp("containers")))


@pytest.mark.parametrize("case", list(CASES))
def test_bank_equals_the_reference_bit_for_bit(banks, case):
    with np.load(REFERENCE_BANKS) as reference:
        for part in ("directions", "eigenvalues"):
            expected, found = reference[f"{case}/{part}"], banks[f"{case}/{part}"]
            assert found.dtype == expected.dtype and found.shape == expected.shape, (case, part)
            assert np.array_equal(found, expected), (case, part, np.abs(found - expected).max())
