"""spectral: helpers of 1_vicreg_is_laplacian_eigenmaps (variance spectra, reports)."""

import numpy as np
import pytest
import torch
from spectral_inputs import F64, _gen
from torch.testing import assert_close

from dltheory import spectral


def _ring_with_chords(n, *, seed):
    # Connected weighted graph with distinct Laplacian eigenvalues (almost surely).
    g = _gen(seed)
    w = torch.rand(n, n, generator=g, dtype=F64) * (torch.rand(n, n, generator=g) < 0.2)
    ring = torch.roll(torch.eye(n, dtype=F64), 1, dims=1)
    G = torch.triu(w + ring, diagonal=1)
    return G + G.T


def _rotation(k, *, seed):
    q, _ = torch.linalg.qr(torch.randn(k, k, generator=_gen(seed), dtype=F64))
    return q


# --- variance_spectrum ---------------------------------------------------------------


def test_variance_spectrum_matches_numpy_biased_covariance():
    Z = torch.randn(50, 4, generator=_gen(0), dtype=F64) * torch.tensor(
        [3.0, 1.0, 0.5, 0.1], dtype=F64
    )
    expected = np.linalg.eigvalsh(np.cov(Z.numpy().T, bias=True))[::-1].copy()
    assert_close(spectral.variance_spectrum(Z), torch.from_numpy(expected))


def test_variance_spectrum_of_closed_form_is_t_whatever_rotation_and_offset():
    G = _ring_with_chords(20, seed=1)
    Z, t = spectral.vicreg_closed_form(G, 5, alpha=1.0)
    moved = Z @ _rotation(5, seed=2) + 7.0  # R in O(5), constant offset
    assert_close(spectral.variance_spectrum(moved), t.sort(descending=True).values)


def test_variance_spectrum_float32_input_gives_float64_and_rejects_1d():
    out = spectral.variance_spectrum(torch.randn(10, 3, generator=_gen(0)))
    assert out.dtype == F64
    assert (out[:-1] >= out[1:]).all()
    with pytest.raises(ValueError, match="Z"):
        spectral.variance_spectrum(torch.randn(10))


# --- vicreg_fit_report ---------------------------------------------------------------


@pytest.mark.parametrize("variant", ["frobenius", "hinge"])
def test_report_of_a_rotated_closed_form_is_exact(variant):
    G = _ring_with_chords(24, seed=3)
    alpha = 2.0
    Z, t = spectral.vicreg_closed_form(G, 6, alpha=alpha, variant=variant)
    report = spectral.vicreg_fit_report(
        Z @ _rotation(6, seed=4) - 3.0, G, alpha=alpha, variant=variant
    )
    _, lam = spectral.laplacian_eigenmaps(G, 6)
    expected_rank = int((lam < 2 / alpha).sum()) if variant == "frobenius" else 6
    assert report["rank"] == report["rank_predicted"] == expected_rank
    assert report["max_error"] < 1e-12
    assert_close(report["t_predicted"], t.sort(descending=True).values)
    assert_close(report["cosines"], torch.ones(expected_rank, dtype=F64))


def test_report_rank_counts_eigenvalues_below_two_beta_over_alpha():
    # Independent statement of (S3): rank = #{k <= K : lambda_k < 2 beta / alpha}.
    G = _ring_with_chords(30, seed=5)
    _, lam = spectral.laplacian_eigenmaps(G, 8)
    beta = 0.5
    for alpha in (0.1, 1.0, 3.0, 10.0):
        Z, _ = spectral.vicreg_closed_form(G, 8, alpha=alpha, beta=beta)
        report = spectral.vicreg_fit_report(Z, G, alpha=alpha, beta=beta)
        assert report["rank_predicted"] == int((lam < 2 * beta / alpha).sum())


def test_report_sees_a_wrong_subspace_and_a_wrong_scale():
    G = _ring_with_chords(24, seed=6)
    Z, t = spectral.vicreg_closed_form(G, 4, alpha=0.5)
    L = spectral.graph_laplacian(G)
    _, U = torch.linalg.eigh(L)
    wrong = Z.clone()
    wrong[:, -1] = U[:, 10] * Z[:, -1].norm()  # same variance, another eigenvector
    report = spectral.vicreg_fit_report(wrong, G, alpha=0.5)
    assert report["max_error"] < 1e-12
    assert report["cosines"].min() < 1e-6
    scaled = spectral.vicreg_fit_report(1.1 * Z, G, alpha=0.5)
    assert abs(scaled["max_error"] - 0.21 * t.max().item()) < 1e-12
    assert scaled["cosines"].min() > 1 - 1e-12


def test_report_of_a_fully_collapsed_prediction_has_no_cosines():
    G = _ring_with_chords(16, seed=7)
    _, lam = spectral.laplacian_eigenmaps(G, 3)
    alpha = 2.0 / lam[0].item() * 1.01  # every direction above 2 beta / alpha
    report = spectral.vicreg_fit_report(torch.zeros(16, 3, dtype=F64), G, alpha=alpha)
    assert report["rank"] == report["rank_predicted"] == 0
    assert report["cosines"].numel() == 0


def test_report_errors():
    G = _ring_with_chords(10, seed=8)
    Z = torch.randn(10, 2, generator=_gen(0), dtype=F64)
    with pytest.raises(ValueError, match="G"):
        spectral.vicreg_fit_report(Z[:9], G, alpha=1.0)
    with pytest.raises(ValueError, match="tol"):
        spectral.vicreg_fit_report(Z, G, alpha=1.0, tol=0.0)
    with pytest.raises(ValueError, match="variant"):
        spectral.vicreg_fit_report(Z, G, alpha=1.0, variant="l2")
    with pytest.raises(TypeError, match="Z"):
        spectral.vicreg_fit_report(Z.long(), G, alpha=1.0)
