"""Unit tests of dltheory.tensor (chapter 10, DeepTensor)."""

import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from dltheory import tensor as T


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_psnr_known_answer_and_validation():
    x = torch.tensor([0.0, 1.0, 0.5, 0.25])
    assert T.psnr(x, x + 0.1) == pytest.approx(20.0)  # range 1, MSE 0.01
    assert T.psnr(x, x) == math.inf
    assert T.psnr(2 * x, 2 * x + 0.1) == pytest.approx(10 * math.log10(4 / 0.01))
    with pytest.raises(ValueError, match="xhat"):
        T.psnr(x, x[:2])
    with pytest.raises(TypeError, match="x"):
        T.psnr([0.0, 1.0], x)


def test_poisson_noise_moments_and_validation():
    x = torch.full((200, 200), 0.5)
    y = T.poisson_gaussian_noise(x, 10.0, readout_std=2.0, gen=_g())
    assert y.mean().item() == pytest.approx(0.5, abs=0.01)
    # Var = x / tau + (sigma_r / tau)^2 = 0.05 + 0.04
    assert y.var().item() == pytest.approx(0.09, rel=0.05)
    with pytest.raises(ValueError, match="tau"):
        T.poisson_gaussian_noise(x, 0.0)
    with pytest.raises(ValueError, match="nonnegative"):
        T.poisson_gaussian_noise(-x, 1.0)


def test_salt_and_pepper_fraction():
    x = torch.full((100, 100), 0.5)
    y = T.salt_and_pepper(x, 0.1, gen=_g())
    changed = (y != x).float().mean().item()
    assert changed == pytest.approx(0.1, abs=0.01)
    assert set(y[y != x].unique().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("kind", ["piecewise", "smooth", "gaussian"])
def test_low_rank_matrix_rank_and_range(kind):
    X = T.low_rank_matrix(40, 30, 3, kind, gen=_g())
    assert X.shape == (40, 30)
    assert X.min().item() == pytest.approx(0.0)
    assert X.max().item() == pytest.approx(1.0)
    # min-max normalisation adds a constant: rank at most r + 1
    assert torch.linalg.matrix_rank(X.double(), rtol=1e-5).item() <= 4
    with pytest.raises(ValueError, match="kind"):
        T.low_rank_matrix(4, 4, 1, "wavy")
    with pytest.raises(ValueError, match="r"):
        T.low_rank_matrix(4, 4, 0)


def test_svd_truncate_is_eckart_young_and_matches_sklearn_pca():
    g = _g()
    Y = torch.randn(30, 20, generator=g, dtype=torch.float64)
    s = torch.linalg.svdvals(Y)
    err = torch.linalg.norm(Y - T.svd_truncate(Y, 4))
    assert err.item() == pytest.approx(s[4:].pow(2).sum().sqrt().item(), rel=1e-10)
    # PCA (centred) reconstruction of scikit-learn = truncated SVD of the centred matrix
    Yn = Y.numpy()
    pca = PCA(4).fit(Yn)
    rec = pca.inverse_transform(pca.transform(Yn))
    mu = Y.mean(0, keepdim=True)
    assert np.abs(rec - (T.svd_truncate(Y - mu, 4) + mu).numpy()).max() < 1e-10


def test_svd_soft_threshold_known_answer():
    Y = torch.diag(torch.tensor([3.0, 2.0, 0.5], dtype=torch.float64))
    assert torch.allclose(
        T.svd_soft_threshold(Y, 1.0),
        torch.diag(torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64)),
    )
    with pytest.raises(ValueError, match="lam"):
        T.svd_soft_threshold(Y, -1.0)


def test_gavish_donoho_finds_the_rank():
    g = _g()
    n, r = 200, 3
    X = torch.randn(n, r, generator=g, dtype=torch.float64) @ torch.randn(
        r, n, generator=g, dtype=torch.float64
    )
    Y = X + 0.1 * torch.randn(n, n, generator=g, dtype=torch.float64)
    Xh, rk = T.svd_gavish_donoho(Y)
    assert rk == r
    assert torch.linalg.norm(Xh - X) < torch.linalg.norm(Y - X)
    with pytest.raises(ValueError, match="Y"):
        T.svd_gavish_donoho(torch.zeros(3))


def test_cp_als_recovers_an_exact_cp_tensor():
    g = _g()
    U, V, W = (torch.randn(n, 3, generator=g, dtype=torch.float64) for n in (8, 9, 10))
    Y = torch.einsum("ir,jr,kr->ijk", U, V, W)
    Xh = T.cp_als(Y, 3, iters=500, gen=_g(1))
    assert (torch.linalg.norm(Xh - Y) / torch.linalg.norm(Y)).item() < 1e-6
    with pytest.raises(ValueError, match="Y"):
        T.cp_als(Y[0], 3)


def test_decoders_shapes_and_validation():
    assert T.Decoder1d(50, 4, channels=8, gen=_g())().shape == (50, 4)
    assert T.Decoder1d(25, 2, channels=8, kernel=1)(0.1, _g()).shape == (25, 2)
    assert T.Decoder3d(12, channels=4, levels=2)().shape == (12, 12, 12)
    assert T.DeepTensorMatrix(20, 30, 3, channels=8)().shape == (20, 30)
    assert T.DeepTensorCP((16, 17, 20), 2, channels=8)().shape == (16, 17, 20)
    nn_out = T.DeepTensorMatrix(10, 12, 2, channels=8, nonneg="softplus").factors()
    assert all((f >= 0).all() for f in nn_out)
    with pytest.raises(ValueError, match="nonneg"):
        T.DeepTensorMatrix(10, 10, 2, nonneg="exp")
    with pytest.raises(TypeError, match="r"):
        T.Decoder1d(10, 2.0)
    with pytest.raises(ValueError, match="shape"):
        T.DeepTensorCP((8, 9), 2)
    with pytest.raises(ValueError, match="n:"):
        T.Decoder1d(8, 2)  # one input position for reflect padding


def test_cp_forward_is_the_einsum_of_the_factors():
    m = T.DeepTensorCP((16, 17, 18), 3, channels=8, gen=_g())
    U, V, W = (g() for g in m.g)
    ref = (U[:, None, None, :] * V[None, :, None, :] * W[None, None, :, :]).sum(-1)
    assert torch.allclose(m(), ref, atol=1e-6)


def test_fit_free_factors_recovers_a_low_rank_matrix_and_holds_out():
    g = _g()
    X = torch.randn(20, 2, generator=g) @ torch.randn(2, 15, generator=g)
    mask = T.holdout_mask(X.shape, 0.2, gen=g)
    Xh, hist, t = T.fit(
        T.FreeFactors(20, 15, 2, gen=g), X, iters=1500, lr=2e-2, holdout=mask, clean=X
    )
    assert set(hist) == {"train", "heldout", "psnr"}
    assert len(hist["train"]) == 1500
    assert 1 <= t <= 1500
    # held-out entries are predicted from the low-rank model (matrix completion)
    assert ((Xh - X)[mask].abs().max() < 0.05).item()
    with pytest.raises(ValueError, match="loss"):
        T.fit(T.FreeFactors(20, 15, 2), X, loss="huber")
    with pytest.raises(ValueError, match="holdout"):
        T.fit(T.FreeFactors(20, 15, 2), X, holdout=torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="ema"):
        T.fit(T.FreeFactors(20, 15, 2), X, ema=1.0)


def test_fit_chooses_the_smallest_heldout_loss():
    g = _g()
    X = T.low_rank_matrix(32, 32, 2, gen=g)
    Y = T.poisson_gaussian_noise(X, 5.0, gen=g)
    _, hist, t = T.fit(
        T.DeepTensorMatrix(32, 32, 2, channels=8, gen=g), Y, iters=60, gen=g
    )
    assert t - 1 == int(np.argmin(hist["heldout"]))


def test_synthetic_hsi_is_a_linear_mixture_in_the_unit_range():
    img = torch.rand(12, 10, 3, generator=_g())
    cube, A, E = T.synthetic_hsi(img, n_bands=16, n_endmembers=4)
    assert cube.shape == (12, 10, 16)
    assert A.shape == (120, 4)
    assert E.shape == (16, 4)
    assert torch.allclose(cube, (A @ E.T).reshape(12, 10, 16))
    assert cube.max().item() == pytest.approx(1.0)
    assert cube.min().item() >= 0
    assert torch.linalg.matrix_rank(cube.reshape(120, 16).double(), rtol=1e-5) <= 4
    # each spectrum is a Gaussian bump peaking at the band nearest its centre
    # (centres 1/8, 3/8, 5/8, 7/8 of the range; band b sits at b / 15)
    assert E.argmax(0).tolist() == [round(15 * c) for c in (1 / 8, 3 / 8, 5 / 8, 7 / 8)]
    _, A3, _ = T.synthetic_hsi(img, n_bands=16, n_endmembers=3)
    assert torch.allclose(A3 / A3.max(), A[:, :3] / A[:, :3].max())
    with pytest.raises(ValueError, match="image"):
        T.synthetic_hsi(torch.rand(4, 4, 4))
    with pytest.raises(ValueError, match="n_endmembers"):
        T.synthetic_hsi(img, n_endmembers=5)


def test_decoder2d_crops_to_any_size_and_columns_are_images():
    d = T.Decoder2d(25, 25, 3, channels=8, gen=_g())  # 25 is not a multiple of 2^3
    U = d()
    assert U.shape == (625, 3)
    full = d.net(d.z)[0]  # (3, 32, 32) before the crop
    assert torch.allclose(U[:, 1].reshape(25, 25), full[1, :25, :25])
    assert T.Decoder2d(16, 24, 2, channels=4, levels=2, kernel=1)().shape == (384, 2)
    with pytest.raises(ValueError, match="h, w"):
        T.Decoder2d(8, 8, 2)  # one input position for reflect padding
    with pytest.raises(TypeError, match="w"):
        T.Decoder2d(8, 8.0, 2)
    m = T.DeepTensorHSI(16, 16, 8, 2, channels=4, levels=2, gen=_g())
    A, E = m.ga(), m.ge()
    assert torch.allclose(m(), (A @ E.T).reshape(16, 16, 8))


class _FreeU(torch.nn.Module):
    def __init__(self, d, r):
        super().__init__()
        self.U = torch.nn.Parameter(0.1 * torch.randn(d, r, generator=_g(3)))

    def forward(self):
        return self.U


def test_fit_pca_with_free_factors_recovers_sklearn_pca():
    # independent restatement: the minimiser of ||C - U U^T||_F spans the top-r
    # principal directions, which scikit-learn's PCA computes by SVD
    g = _g()
    X = torch.randn(300, 3, generator=g) @ torch.randn(3, 12, generator=g)
    X = X * torch.tensor([3.0, 2.0, 1.0] + [1.0] * 9)
    X = X + 0.05 * torch.randn(300, 12, generator=g)
    U, hist = T.fit_pca(_FreeU(12, 3), X, iters=1500, lr=3e-2)
    assert hist[-1] < hist[0]
    Q = T.pca_basis(U)
    assert torch.allclose(Q.T @ Q, torch.eye(3), atol=1e-5)
    P = torch.tensor(PCA(3).fit(X.numpy()).components_.T)  # (12, 3)
    overlap = (P.T @ Q).pow(2).sum().item() / 3  # 1 when the subspaces agree
    assert overlap > 0.999
    assert T.DeepTensorPCA(25, 25, 4, channels=8)().shape == (625, 4)
    with pytest.raises(ValueError, match="rows"):
        T.fit_pca(_FreeU(5, 2), X, iters=1)
    with pytest.raises(ValueError, match="X"):
        T.fit_pca(_FreeU(12, 2), X[0], iters=1)
