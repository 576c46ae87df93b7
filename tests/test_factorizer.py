import numpy as np
import pytest
import torch

from sefa_zoo import SefaZooError, factorize
from sefa_zoo.factorizer import CHUNK_ROWS, canonical_signs, gram


def random_layers(seed=0, sizes=(64, 32, 128), latent=24, gains=(1.0, 5.0, 0.1)):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, latent)) * g for n, g in zip(sizes, gains)]


def brute_force(layers, normalize):
    """The original release's computation: eig of AᵀA, then sorted here by hand."""
    a = np.concatenate(layers, 0)
    if normalize:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
    values, vectors = np.linalg.eig(a.T @ a)
    order = np.argsort(values.real)[::-1]
    return values.real[order], vectors.real[:, order].T


@pytest.mark.parametrize("normalize", [True, False])
def test_matches_brute_force_eigendecomposition(normalize):
    layers = random_layers()
    result = factorize(layers, normalize=normalize)
    values, vectors = brute_force(layers, normalize)
    np.testing.assert_allclose(result.eigenvalues, values, rtol=1e-9, atol=1e-9)
    # Directions agree up to sign (eigenvalues of random data are well separated).
    dots = np.abs(np.sum(result.directions * vectors, axis=1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-8)


def test_eigenvalues_descending_and_directions_orthonormal():
    result = factorize(random_layers(1))
    assert np.all(np.diff(result.eigenvalues) <= 0)
    gram = result.directions @ result.directions.T
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-10)


def test_normalized_eigenvalues_sum_to_row_count():
    layers = random_layers(2)
    result = factorize(layers)
    rows = sum(m.shape[0] for m in layers)
    assert result.rows == rows
    assert result.eigenvalues.sum() == pytest.approx(rows, rel=1e-10)


def test_unnormalized_eigenvalues_are_squared_singular_values():
    layers = random_layers(3)
    result = factorize(layers, normalize=False)
    singular = np.linalg.svd(np.concatenate(layers, 0), compute_uv=False)
    np.testing.assert_allclose(result.eigenvalues, singular**2, rtol=1e-9)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_normalized_result_invariant_to_scaling_a_layer(layer):
    layers = random_layers(4)
    scaled = [m * (7.3 if i == layer else 1.0) for i, m in enumerate(layers)]
    a, b = factorize(layers), factorize(scaled)
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-10)
    np.testing.assert_allclose(a.directions, b.directions, atol=1e-10)


def test_unnormalized_result_depends_on_layer_scale():
    layers = random_layers(4)
    scaled = [m * (7.3 if i == 0 else 1.0) for i, m in enumerate(layers)]
    assert not np.allclose(factorize(layers, normalize=False).directions,
                           factorize(scaled, normalize=False).directions, atol=1e-3)


def test_signs_are_canonical_and_input_sign_free():
    layers = random_layers(5)
    a = factorize(layers)
    b = factorize([-m for m in layers])
    np.testing.assert_array_equal(a.directions, b.directions)
    biggest = a.directions[np.arange(len(a.directions)), np.abs(a.directions).argmax(1)]
    assert np.all(biggest > 0)


def test_canonical_signs_flips_rows():
    v = np.array([[0.1, -0.9], [0.8, 0.2], [0.0, 0.0]])
    out = canonical_signs(v)
    np.testing.assert_array_equal(out, [[-0.1, 0.9], [0.8, 0.2], [0.0, 0.0]])


def test_identical_across_runs_and_input_types():
    layers = random_layers(6)
    a = factorize(layers)
    b = factorize([torch.from_numpy(m).float() for m in layers])
    np.testing.assert_array_equal(factorize(layers).directions, a.directions)
    np.testing.assert_allclose(a.directions, b.directions, atol=1e-5)


def test_top_k_and_default_k():
    layers = random_layers(7, sizes=(5, 3), latent=24, gains=(1, 1))
    assert factorize(layers).directions.shape == (8, 24)  # min(latent, rows)
    top = factorize(layers, k=3)
    assert top.directions.shape == (3, 24)
    np.testing.assert_array_equal(top.directions, factorize(layers).directions[:3])


def test_rank_deficient_selection_has_no_negative_eigenvalues():
    base = np.random.default_rng(8).standard_normal((3, 16))
    layers = [np.concatenate([base, base * 2])]
    values = factorize(layers, k=16).eigenvalues
    assert np.all(values >= 0)
    assert np.count_nonzero(values > 1e-9) == 3


def test_zero_rows_stay_zero():
    layer = np.random.default_rng(9).standard_normal((6, 8))
    layer[2] = 0
    result = factorize([layer])
    assert result.eigenvalues.sum() == pytest.approx(5, rel=1e-10)


@pytest.mark.parametrize(
    "layers, k, message",
    [
        ([], None, "no projection layers"),
        ([np.ones((3, 4)), np.ones((3, 5))], None, "latent_dim"),
        ([np.full((3, 4), np.nan)], None, "NaN"),
        ([np.ones(4)], None, "2-D"),
        ([np.eye(4)], 5, "k must be between 1 and 4"),
    ],
)
def test_errors(layers, k, message):
    with pytest.raises(SefaZooError, match=message):
        factorize(layers, k=k)


def test_gram_normalizes_rows_in_float64():
    product, rows = gram([np.array([[3.0, 4.0]]), torch.tensor([[0.0, 2.0]], dtype=torch.float16)])
    a = np.array([[0.6, 0.8], [0.0, 1.0]])
    assert product.dtype == np.float64 and rows == 2
    np.testing.assert_allclose(product, a.T @ a)


@pytest.mark.parametrize("normalize", [True, False])
def test_gram_is_exact_across_chunk_boundaries(normalize):
    rng = np.random.default_rng(10)
    layers = [rng.standard_normal((n, 8)) for n in (CHUNK_ROWS - 3, 5, 2 * CHUNK_ROWS + 1, 1)]
    a = np.concatenate(layers)
    if normalize:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
    product, rows = gram(layers, normalize)
    assert rows == len(a)
    np.testing.assert_allclose(product, a.T @ a, rtol=1e-12, atol=1e-9)
