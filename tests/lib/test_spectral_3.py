"""Unit tests of the additions of notebook 3 (contrastive is global) to spectral."""

import pytest
import torch
import torch.nn.functional as F
from spectral_inputs import F64, _gen, _randn, _random_graph
from torch.testing import assert_close

from dltheory import spectral

# --- cosine_gram ---------------------------------------------------------------------


def test_cosine_gram_equals_pairwise_cosine_similarity():
    Z = _randn(7, 4, seed=0)
    expected = F.cosine_similarity(Z[:, None, :], Z[None, :, :], dim=-1)  # (7, 7)
    assert_close(spectral.cosine_gram(Z), expected)


def test_cosine_gram_ignores_row_norms_and_rotations():
    Z = _randn(6, 3, seed=1)
    Q, _ = torch.linalg.qr(_randn(3, 3, seed=2))
    scales = torch.rand(6, 1, generator=_gen(3), dtype=F64) + 0.1
    assert_close(spectral.cosine_gram(scales * Z @ Q), spectral.cosine_gram(Z))


def test_cosine_gram_of_a_regular_simplex_is_minus_one_over_n_minus_one():
    n = 5
    simplex = torch.eye(n, dtype=F64) - 1 / n  # rows sum to zero, equal norms
    gram = spectral.cosine_gram(simplex)
    expected = torch.full((n, n), -1 / (n - 1), dtype=F64).fill_diagonal_(1.0)
    assert_close(gram, expected)


def test_cosine_gram_is_float64_for_float32_input():
    gram = spectral.cosine_gram(_randn(4, 2, seed=4).float())
    assert gram.dtype == F64
    assert_close(gram.diagonal(), torch.ones(4, dtype=F64))


def test_cosine_gram_rejects_bad_input():
    with pytest.raises(TypeError, match="Z"):
        spectral.cosine_gram(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="Z"):
        spectral.cosine_gram(torch.ones(3, dtype=F64))


# --- whitened_invariance -------------------------------------------------------------


def test_whitened_invariance_is_attained_by_laplacian_eigenmaps():
    G = _random_graph(12, seed=0)
    Z, eigvals = spectral.laplacian_eigenmaps(G, 3)
    value, bound, r = spectral.whitened_invariance(Z, G)
    assert r == 3
    assert_close(bound, eigvals.sum())
    assert_close(value, bound)


def test_whitened_invariance_matches_s1_by_hand():
    # Whiten by hand (Cholesky instead of eigh) and use the sum over pairs of (S1).
    G = _random_graph(10, seed=1)
    Z = _randn(10, 3, seed=2)
    zc = Z - Z.mean(dim=0)
    C = zc.T @ zc / 10
    W = zc @ torch.linalg.inv(torch.linalg.cholesky(C)).T  # C(W) = I
    pairs = (G * torch.cdist(W, W).pow(2)).sum() / 2  # = Tr(W^T L W)
    value, _, _ = spectral.whitened_invariance(Z, G)
    assert_close(value, pairs / 10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_whitened_invariance_of_any_representation_is_above_the_bound(seed):
    G = _random_graph(15, seed=seed)
    Z = _randn(15, 4, seed=seed + 10)
    value, bound, _ = spectral.whitened_invariance(Z, G)
    assert value > bound, f"value {value:.4f}, bound {bound:.4f}"


def test_whitened_invariance_is_invariant_to_invertible_maps_and_shifts():
    G = _random_graph(11, seed=3)
    Z = _randn(11, 3, seed=4)
    A = _randn(3, 3, seed=5) + 3 * torch.eye(3, dtype=F64)
    value, _, _ = spectral.whitened_invariance(Z, G)
    moved, _, _ = spectral.whitened_invariance(Z @ A + 5.0, G)
    assert_close(moved, value)


def test_whitened_invariance_drops_collapsed_directions():
    G = _random_graph(9, seed=6)
    Z = _randn(9, 2, seed=7)
    Z = torch.cat([Z, Z[:, :1] * 2.0], dim=1)  # third column copies the first
    value, bound, r = spectral.whitened_invariance(Z, G)
    full, full_bound, _ = spectral.whitened_invariance(Z[:, :2], G)
    assert r == 2
    assert_close(value, full)
    assert_close(bound, full_bound)


def test_whitened_invariance_rejects_bad_input():
    G = _random_graph(5, seed=8)
    Z = _randn(5, 2, seed=9)
    with pytest.raises(ValueError, match="collapsed"):
        spectral.whitened_invariance(torch.ones(5, 2, dtype=F64), G)
    with pytest.raises(ValueError, match="rtol"):
        spectral.whitened_invariance(Z, G, rtol=1.0)
    with pytest.raises(TypeError, match="rtol"):
        spectral.whitened_invariance(Z, G, rtol="small")
    with pytest.raises(ValueError, match="G"):
        spectral.whitened_invariance(Z, _random_graph(6, seed=8))
    with pytest.raises(TypeError, match="Z"):
        spectral.whitened_invariance(Z.long(), G)
