"""Banks are bit-identical to those the code made before checkpoints were read without torch.

tests/data/reference_banks.npz holds, per case of tests/support/container_fixtures.py (every
built-in architecture in every container and float type), the directions and eigenvalues of
the bank that code made from the same seeded files.

One exception: BigGAN-deep's spectral norm σ = uᵀWv is now a float32 dot product in numpy, which
rounds differently from torch's; each layer is then divided by σ, so across all-conditional's 50
layers a few directions move by a float32 rounding step (the normalised rows cancel σ otherwise).
"""

from __future__ import annotations

import numpy as np
import pytest

from support.container_fixtures import CASES, REFERENCE_BANKS, factorized, write_container_fixtures


@pytest.fixture(scope="module")
def banks(tmp_path_factory):
    return factorized(write_container_fixtures(tmp_path_factory.mktemp("containers")))


ROUNDED_SIGMA = {"biggan-deep-legacy-all-conditional": 1e-6}  # case -> largest difference allowed


@pytest.mark.parametrize("case", list(CASES))
def test_bank_equals_the_reference_bit_for_bit(banks, case):
    tolerance = ROUNDED_SIGMA.get(case, 0.0)
    with np.load(REFERENCE_BANKS) as reference:
        for part in ("directions", "eigenvalues"):
            expected, found = reference[f"{case}/{part}"], banks[f"{case}/{part}"]
            assert found.dtype == expected.dtype and found.shape == expected.shape, (case, part)
            scale = 1.0 if part == "directions" else float(expected.max())
            assert np.abs(found - expected).max() <= tolerance * scale, (case, part, np.abs(found - expected).max())
