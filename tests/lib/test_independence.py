"""independence: HSIC, Amari distance, whitening, separable projector, VCReg ICA."""

import itertools
import math

import pytest
import torch
from torch.testing import assert_close

from dltheory import independence, kernels, losses

F64 = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed):
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


# --- HSIC (V2), as written ---------------------------------------------------------


def _gram(t, gamma):
    return torch.exp(-gamma * (t[:, None] - t[None, :]) ** 2)  # (n, n)


def _hsic_biased_as_written(K, L):
    # (V2): tr(K H L H) / n^2 with H = I - 11^T / n as a matrix.
    n = K.shape[0]
    H = torch.eye(n, dtype=F64) - torch.ones(n, n, dtype=F64) / n
    return torch.trace(K @ H @ L @ H) / n**2


def _hsic_unbiased_as_u_statistic(K, L):
    # The U-statistic of the population HSIC E k l + E k E l - 2 E_x[E_y k l]
    # (Gretton et al. 2005, Lemma 1), averaged over all ordered tuples of distinct
    # indices; Song et al. (2012) show their closed form equals it.
    n = K.shape[0]
    total, count = 0.0, 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += K[i, j] * L[i, j] + K[i, j] * L[q, r] - 2 * K[i, j] * L[i, q]
        count += 1
    return total / count


def test_hsic_matches_the_trace_formula_as_written():
    x, y = _randn(9, seed=0), _randn(9, seed=1)
    out = independence.hsic(x, y, gamma_x=0.7, gamma_y=1.3)
    assert_close(out, _hsic_biased_as_written(_gram(x, 0.7), _gram(y, 1.3)))


def test_unbiased_hsic_is_the_u_statistic():
    x, y = _randn(6, seed=2), _randn(6, seed=3)
    y = y + x**2  # dependent, so the value is not near 0
    out = independence.hsic(x, y, gamma_x=0.5, gamma_y=0.2, unbiased=True)
    assert_close(out, _hsic_unbiased_as_u_statistic(_gram(x, 0.5), _gram(y, 0.2)))


def test_hsic_default_bandwidth_is_the_nonzero_median():
    x = torch.tensor([0.0, 0.0, 1.0, 3.0], dtype=F64)  # one tie: a zero distance
    # Nonzero squared distances 1, 9, 1, 9, 4: lower median 4.
    assert_close(independence.median_gamma(x[:, None]), torch.tensor([0.25], dtype=F64))
    y = _randn(4, seed=4)
    gamma_y = independence.median_gamma(y[:, None]).item()
    assert_close(
        independence.hsic(x, y), independence.hsic(x, y, gamma_x=0.25, gamma_y=gamma_y)
    )


def test_hsic_detects_a_dependence_with_zero_correlation():
    x = _randn(400, seed=5)
    y_dep = x**2 - 1  # uncorrelated with x, but a function of it
    y_ind = _randn(400, seed=6) ** 2 - 1
    assert abs(torch.corrcoef(torch.stack([x, y_dep]))[0, 1].item()) < 0.15
    dep, ind = independence.hsic(x, y_dep), independence.hsic(x, y_ind)
    # Measured: 0.041 vs 0.0006 (a factor 70); require a factor 5.
    assert dep > 5 * ind, (dep.item(), ind.item())


def test_hsic_of_a_constant_is_zero():
    y = _randn(20, seed=7)
    const = torch.full((20,), 3.0, dtype=F64)
    assert independence.hsic(const, y).item() == 0.0  # H 1 = 0 exactly
    # Unbiased: the three terms cancel algebraically; rounding only.
    assert_close(
        independence.hsic(const, y, unbiased=True),
        torch.tensor(0.0, dtype=F64),
        rtol=0,
        atol=1e-14,
    )


@pytest.mark.parametrize("unbiased", [False, True])
def test_hsic_is_symmetric_and_takes_multivariate_samples(unbiased):
    x, y = _randn(30, 2, seed=8), _randn(30, 3, seed=9)
    assert_close(
        independence.hsic(x, y, unbiased=unbiased),
        independence.hsic(y, x, unbiased=unbiased),
    )
    # A multivariate sample uses the multivariate RBF kernel of dltheory.kernels.
    K = kernels.rbf_kernel(x, x, gamma=0.3)
    L = kernels.rbf_kernel(y, y, gamma=0.2)
    if not unbiased:
        assert_close(
            independence.hsic(x, y, gamma_x=0.3, gamma_y=0.2),
            _hsic_biased_as_written(K, L),
        )


# --- dHSIC: mutual independence of d variables -------------------------------------


def _dhsic_as_written(grams):
    # Pfister et al. (2018)'s V-statistic term by term, with explicit index loops: the
    # plug-in of the empirical joint law and the product of its empirical marginals.
    K = [g.tolist() for g in grams]  # d nested lists (n, n)
    n, d = len(K[0]), len(K)
    joint = sum(
        math.prod(K[j][a][b] for j in range(d)) for a in range(n) for b in range(n)
    )
    marginals = math.prod(sum(map(sum, K[j])) / n**2 for j in range(d))
    cross = sum(math.prod(sum(K[j][a]) / n for j in range(d)) for a in range(n))
    return joint / n**2 + marginals - 2 * cross / n


def _xor_signs(n, seed):
    # x, y independent fair signs and z = x y: pairwise independent, jointly not.
    g = _gen(seed)
    xy = 2.0 * torch.randint(0, 2, (n, 2), generator=g).to(F64) - 1  # (n, 2)
    return torch.cat([xy, xy.prod(1, keepdim=True)], dim=1)  # (n, 3)


def test_dhsic_matches_the_v_statistic_as_written():
    x = _randn(7, 3, seed=40)  # three scalar variables
    x[:, 2] = x[:, 0] * x[:, 1] + 0.1 * x[:, 2]
    gammas = [0.4, 0.9, 1.7]
    grams = [_gram(x[:, j], g) for j, g in enumerate(gammas)]
    assert_close(
        independence.dhsic(x, gamma=gammas),
        torch.tensor(_dhsic_as_written(grams), dtype=F64),
    )


@pytest.mark.parametrize("gamma", [None, 0.6])
def test_dhsic_of_two_variables_is_the_biased_hsic(gamma):
    x, y = _randn(25, seed=41), _randn(25, 2, seed=42)  # scalar and multivariate
    y[:, 0] = y[:, 0] + x**2
    kwargs = {} if gamma is None else {"gamma_x": gamma, "gamma_y": gamma}
    assert_close(
        independence.dhsic([x, y], gamma=gamma), independence.hsic(x, y, **kwargs)
    )
    h = torch.stack([x, y[:, 0]], dim=1)  # (n, 2): the columns as the two variables
    assert_close(independence.dhsic(h), independence.hsic(x, y[:, 0]))


def test_dhsic_default_bandwidths_are_the_median_heuristic_per_variable():
    h = _randn(30, 3, seed=43)
    gammas = independence.median_gamma(h)  # (3,)
    assert_close(independence.dhsic(h), independence.dhsic(h, gamma=gammas))
    assert_close(independence.dhsic(h), independence.dhsic(h, gamma=gammas.tolist()))
    assert not torch.allclose(independence.dhsic(h), independence.dhsic(h, gamma=5.0))


def test_dhsic_is_zero_when_the_empirical_joint_factorises():
    # Every combination of three marginal values, once: the empirical joint law is
    # the product of the empirical marginals, so the embeddings coincide.
    a = torch.tensor([-1.0, 0.3, 2.0], dtype=F64)
    b = torch.tensor([0.0, 5.0], dtype=F64)
    c = torch.tensor([1.0, 1.5, -2.0, 4.0], dtype=F64)
    grid = torch.cartesian_prod(a, b, c)  # (24, 3)
    zero = torch.tensor(0.0, dtype=F64)
    # Rounding only: the three terms are of order 0.1 and cancel to about 1e-17.
    assert_close(independence.dhsic(grid), zero, rtol=0, atol=1e-14)
    # The control: drop one grid point and the joint no longer factorises (5.1e-4).
    assert independence.dhsic(grid[1:]) > 1e-4


def test_dhsic_sees_a_triple_that_is_pairwise_independent():
    # The four sign patterns (x, y, xy), each once: every pair is an exact product
    # grid, so each pairwise HSIC is 0 to rounding; the triple is not.
    h = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=F64)
    M = independence.pairwise_hsic(h)  # (3, 3)
    off = ~torch.eye(3, dtype=torch.bool)
    assert_close(M[off], torch.zeros(6, dtype=F64), rtol=0, atol=1e-15)
    # Known answer: median heuristic gamma = 1/4 (every nonzero squared distance is
    # 4), c = exp(-4 gamma) = 1/e. Two distinct points differ in exactly two of the
    # three signs, so the three terms are (1 + 3c^2)/4, ((1 + c)/2)^3 and twice it.
    c = math.exp(-1.0)
    expected = (1 + 3 * c**2) / 4 - ((1 + c) / 2) ** 3  # 0.0315
    assert_close(independence.dhsic(h), torch.tensor(expected, dtype=F64))
    # The control: three independent signs on the full grid give 0.
    grid = torch.cartesian_prod(*[torch.tensor([-1.0, 1.0], dtype=F64)] * 3)
    assert_close(
        independence.dhsic(grid), torch.tensor(0.0, dtype=F64), rtol=0, atol=1e-15
    )


def test_dhsic_on_a_sample_of_the_xor_triple():
    h = _xor_signs(400, seed=44)  # (400, 3)
    off = ~torch.eye(3, dtype=torch.bool)
    pairwise = independence.pairwise_hsic(h)[off].abs().max().item()
    mutual = independence.dhsic(h).item()
    # Measured: pairwise at most 5.6e-4 (sampling noise), dHSIC 0.032 (the balanced
    # sample's 0.0315 up to noise), a factor 57; require 20. Control, z shuffled
    # against (x, y): 6.6e-4.
    assert mutual > 20 * pairwise, (mutual, pairwise)
    g = _gen(45)
    independent = torch.cat([h[:, :2], h[torch.randperm(400, generator=g), 2:]], dim=1)
    assert independence.dhsic(independent).item() < mutual / 20  # the control


def test_dhsic_ignores_the_order_of_the_variables_and_accepts_tuples():
    h = _randn(20, 4, seed=46)
    h[:, 3] = h[:, 0] * h[:, 1]
    out = independence.dhsic(h)
    assert_close(independence.dhsic(h[:, [2, 0, 3, 1]]), out)
    assert_close(independence.dhsic(tuple(h.T)), out)  # d variables of shape (n,)


# --- all pairs -------------------------------------------------------------------


def _dependent_features(n=60, seed=10):
    h = _randn(n, 5, seed=seed)  # (n, 5)
    h[:, 1] = h[:, 0] ** 2 + 0.1 * h[:, 1]  # dependent on feature 0
    h[:, 3] = torch.sign(h[:, 2])  # ties: a two-valued feature
    return h


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("chunk_size", [None, 2])
def test_pairwise_hsic_equals_the_loop_of_hsic(unbiased, chunk_size):
    h = _dependent_features()
    d = h.shape[1]
    M = independence.pairwise_hsic(h, unbiased=unbiased, chunk_size=chunk_size)
    loop = torch.tensor(
        [
            [independence.hsic(h[:, i], h[:, j], unbiased=unbiased) for j in range(d)]
            for i in range(d)
        ],
        dtype=F64,
    )
    assert_close(M, loop)
    assert_close(M, M.T)


def test_normalized_pairwise_hsic_has_unit_diagonal_and_zero_for_a_constant():
    h = _dependent_features()
    h[:, 4] = 2.0  # a constant feature: 0 in its row and column, not NaN
    M = independence.pairwise_hsic(h)
    N = independence.pairwise_hsic(h, normalized=True)
    assert_close(N[:4, :4], M[:4, :4] / torch.outer(M.diag()[:4], M.diag()[:4]).sqrt())
    assert_close(N.diag()[:4], torch.ones(4, dtype=F64))
    assert (N[4] == 0).all()
    assert (N[:, 4] == 0).all()
    mean = independence.mean_pairwise_hsic(h)
    assert_close(mean, (N.sum() - N.diag().sum()) / 20)


def test_unbiased_pairwise_hsic_has_mean_zero_under_independence():
    h = _randn(40, 60, seed=11)  # 60 independent features: 1770 independent pairs
    off = ~torch.eye(60, dtype=torch.bool)
    unbiased = independence.pairwise_hsic(h, unbiased=True)[off]
    biased = independence.pairwise_hsic(h)[off]
    # Measured (seeds 11-15): biased mean 0.0077-0.0080; unbiased mean |.| <= 1.8e-4,
    # its standard error about 9e-5. Bound 0.05 * biased (about 4e-4): twice the
    # worst measured value, while the biased estimator is 40x above it.
    assert biased.mean() > 0.005
    assert abs(unbiased.mean()) < 0.05 * biased.mean(), (unbiased.mean(), biased.mean())


def test_rff_pairwise_hsic_converges_to_the_exact_value():
    h = _dependent_features(n=80)
    exact = independence.pairwise_hsic(h)

    def error(m):  # relative Frobenius error, averaged over three draws
        approx = [
            independence.pairwise_hsic_rff(h, m, generator=_gen(s))
            for s in (12, 13, 14)
        ]
        return sum((a - exact).norm() / exact.norm() for a in approx) / 3

    coarse, fine = error(16), error(512)
    # Error ~ m^{-1/2}: 32x more features, about 5.7x smaller. Measured on four
    # triples of draws: 0.38-0.45 at m = 16, 0.06-0.09 at m = 512 (ratio 4.5-7.4).
    assert fine < coarse / 3, (coarse, fine)
    assert fine < 0.15, fine


def test_rff_pairwise_hsic_is_the_cross_covariance_norm():
    # With a fixed kernel K_j = Phi_j Phi_j^T, ||C_ij||_F^2 = tr(K_i H K_j H) / n^2.
    h = _randn(25, 3, seed=13)
    M = independence.pairwise_hsic_rff(h, 8, gamma=0.5, generator=_gen(14))
    g = _gen(14)
    phis = [
        kernels.random_fourier_features(h[:, [j]], 8, gamma=0.5, generator=g)
        for j in range(3)
    ]
    Ks = [p @ p.T for p in phis]
    expected = torch.tensor(
        [[_hsic_biased_as_written(Ks[i], Ks[j]) for j in range(3)] for i in range(3)],
        dtype=F64,
    )
    assert_close(M, expected)


# --- Amari distance (V5) -----------------------------------------------------------


def test_amari_is_zero_for_a_scaled_permutation():
    A = _randn(4, 4, seed=15)
    perm_scale = torch.diag(torch.tensor([2.0, -0.5, 3.0, 1.0], dtype=F64))[
        [2, 0, 3, 1]
    ]
    W = perm_scale @ torch.linalg.inv(A)
    assert independence.amari_distance(W, A) == pytest.approx(0.0, abs=1e-12)


def test_amari_known_values():
    eye = torch.eye(2, dtype=F64)
    # |W A| = [[1, 1], [0, 1]]: one row and one column off by 1, 2 / (2 * 2 * 1).
    W = torch.tensor([[1.0, -1.0], [0.0, 1.0]], dtype=F64)
    assert independence.amari_distance(W, eye) == pytest.approx(0.5)
    # All entries equal: the maximum, 1.
    ones = torch.ones(3, 3, dtype=F64)
    assert independence.amari_distance(ones, torch.eye(3, dtype=F64)) == pytest.approx(
        1
    )


def test_amari_is_invariant_to_permutations_and_a_common_scale():
    W, A = _randn(5, 5, seed=16), _randn(5, 5, seed=17)
    P = torch.eye(5, dtype=F64)[[4, 2, 0, 1, 3]]
    base = independence.amari_distance(W, A)
    assert 0 < base < 1
    assert independence.amari_distance(P @ W, A) == pytest.approx(base)
    assert independence.amari_distance(W, A @ P) == pytest.approx(base)
    assert independence.amari_distance(-3.0 * W, A) == pytest.approx(base)


def test_amari_is_zero_under_any_row_scaling_but_not_scale_invariant_elsewhere():
    # Scaled permutations stay at 0 under any row scaling of W ...
    A = _randn(3, 3, seed=18)
    D = torch.diag(torch.tensor([0.1, -2.0, 5.0], dtype=F64))
    assert independence.amari_distance(D @ torch.linalg.inv(A), A) == pytest.approx(
        0.0, abs=1e-12
    )
    # ... but (V5) is not invariant to scaling one row of W elsewhere: the column
    # sums change. |W A| = [[10, 10], [0, 1]]: rows 1 + 0, columns 0 + 0.1.
    W = torch.tensor([[10.0, -10.0], [0.0, 1.0]], dtype=F64)
    assert independence.amari_distance(W, torch.eye(2, dtype=F64)) == pytest.approx(
        1.1 / 4
    )


# --- ICA problem, whitening, FastICA ---------------------------------------------


def test_ica_problem_sources_are_standardised_and_mixed():
    S, A, x = independence.ica_problem(20000, 5, generator=_gen(18))
    assert_close(x, S @ A.T)
    # Population mean 0 and variance 1: sampling error about 0.01-0.03 at n = 2e4.
    assert_close(S.mean(0), torch.zeros(5, dtype=F64), rtol=0, atol=0.05)
    assert_close(S.var(0), torch.ones(5, dtype=F64), rtol=0, atol=0.1)
    assert set(S[:, 2].unique().tolist()) == {-1.0, 1.0}  # Rademacher
    assert S[:, 1].abs().max() <= math.sqrt(3)  # uniform
    assert_close(S[:, 4].var(), S[:, 0].var(), rtol=0, atol=0.1)  # cycles: Laplace
    again = independence.ica_problem(20000, 5, generator=_gen(18))
    assert_close(again.mixing, A)


@pytest.mark.parametrize("method", ["zca", "pca"])
def test_whiten_gives_identity_covariance(method):
    x = _randn(200, 4, seed=19) @ _randn(4, 4, seed=20) + 3.0
    x_w, W_w = independence.whiten(x, method=method)
    assert_close(torch.cov(x_w.T), torch.eye(4, dtype=F64))
    assert_close(x_w, (x - x.mean(0)) @ W_w.T)
    cov = torch.cov(x.T)
    if method == "zca":
        assert_close(W_w, W_w.T)  # the symmetric inverse square root
        assert_close(W_w @ W_w @ cov, torch.eye(4, dtype=F64))
    else:
        assert (x_w.var(0) > 0).all()
        # PCA: rows of W_w are eigenvectors of cov scaled by lambda^{-1/2}, in order.
        lam = torch.linalg.eigvalsh(cov).flip(0)
        assert_close(W_w @ cov @ W_w.T, torch.eye(4, dtype=F64))
        assert_close(1 / W_w.pow(2).sum(1), lam)


def test_fastica_recovers_the_sources():
    S, A, x = independence.ica_problem(2000, 3, generator=_gen(21))
    W = independence.fastica(x, random_state=0)
    assert independence.amari_distance(W, A) < 0.05


# --- separable projector and VCReg terms (V3) --------------------------------------


def test_projector_has_no_parameters_and_is_deterministic():
    p1 = independence.SeparableProjector(3, 8, sigma=2.0, generator=_gen(22))
    p2 = independence.SeparableProjector(3, 8, sigma=2.0, generator=_gen(22))
    assert list(p1.parameters()) == []
    assert {name for name, _ in p1.named_buffers()} == {"omega", "b"}
    h = torch.randn(10, 3, generator=_gen(23))
    assert_close(p1(h), p2(h))
    z = p1(h)
    # z_{j,k} = sqrt(2) cos(omega_jk h_j + b_jk), column j * m + k.
    assert_close(
        z[:, 2 * 8 + 5], math.sqrt(2) * torch.cos(p1.omega[2, 5] * h[:, 2] + p1.b[2, 5])
    )
    p3 = independence.SeparableProjector(3, 8, sigma=2.0, generator=_gen(24))
    assert not torch.allclose(p3(h), z)


def test_projector_kernel_is_gaussian_with_bandwidth_sigma():
    sigma = 2.0
    proj = independence.SeparableProjector(1, 20000, sigma=sigma, generator=_gen(25))
    t = torch.linspace(-4, 4, 9, dtype=F64)[:, None]  # (9, 1)
    z = proj(t)  # (9, m) in float64
    K = z @ z.T / 20000
    expected = torch.exp(-((t - t.T) ** 2) / (2 * sigma**2))
    # Monte Carlo error about m^{-1/2} = 0.007.
    assert_close(K, expected, rtol=0, atol=0.03)


def _cov_blocks_as_written(z, d):
    n, D = z.shape
    m = D // d
    z_c = z - z.mean(0)
    cross = within = 0.0
    for i in range(d):
        for j in range(d):
            C = z_c[:, i * m : (i + 1) * m].T @ z_c[:, j * m : (j + 1) * m] / (n - 1)
            if i != j:
                cross += C.pow(2).sum()
            else:
                within += C.pow(2).sum() - C.diagonal().pow(2).sum()
    return cross / D, within / D


def test_block_covariance_terms_match_the_formula_and_split_losses_covariance():
    z = _randn(30, 12, seed=26)  # d = 3 blocks of m = 4
    cross, within = _cov_blocks_as_written(z, 3)
    assert_close(independence.cross_block_covariance(z, d=3), cross)
    assert_close(independence.within_block_covariance(z, d=3), within)
    assert_close(
        independence.cross_block_covariance(z, d=3)
        + independence.within_block_covariance(z, d=3),
        losses.covariance(z),
    )


def test_cross_block_term_of_the_projector_is_pairwise_hsic():
    # Book's (V3): c_x = (m^2 / D) (n / (n-1))^2 sum_{i != j} HSIC_b(h_i, h_j),
    # with the random-feature kernels K_i = z_i z_i^T / m.
    n, d, m = 20, 3, 5
    h = _randn(n, d, seed=27)
    z = independence.SeparableProjector(d, m, generator=_gen(28)).double()(h)
    Ks = [z[:, i * m : (i + 1) * m] @ z[:, i * m : (i + 1) * m].T / m for i in range(d)]
    total = sum(
        _hsic_biased_as_written(Ks[i], Ks[j])
        for i in range(d)
        for j in range(d)
        if i != j
    )
    expected = m**2 / (d * m) * (n / (n - 1)) ** 2 * total
    assert_close(independence.cross_block_covariance(z, d=d), expected)


def test_cross_block_covariance_gradient_matches_finite_differences():
    z = _randn(8, 6, seed=29).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: independence.cross_block_covariance(t, d=2), (z,)
    )


# --- VCReg ICA (Claim 1, small) ----------------------------------------------------


@pytest.mark.parametrize("whitening", ["pca", "zca"])
def test_vcreg_ica_beats_whitening_on_a_small_problem(whitening):
    prob = independence.ica_problem(1500, 3, generator=_gen(30))
    _, W_w = independence.whiten(prob.x, method=whitening)
    res = independence.vcreg_ica(
        prob.x,
        steps=100,
        batch_size=500,
        whitening=whitening,
        mixing=prob.mixing,
        generator=_gen(31),
        device="cpu",
    )
    whitened = independence.amari_distance(W_w, prob.mixing)
    learned = independence.amari_distance(res.unmixing, prob.mixing)
    # Measured: whitening 0.48 (pca) / 0.46 (zca), VCReg 0.030 / 0.039; require
    # half of whitening.
    assert learned < 0.5 * whitened, (learned, whitened)
    assert res.amari[0].item() == pytest.approx(whitened)
    assert res.amari[-1].item() == pytest.approx(learned)
    assert res.loss.shape == (100,)
    # The rotation stays orthogonal after 100 Adam steps (the parametrization);
    # atol 1e-6: R is trained in float32 (eps 1.2e-7), then cast to float64.
    assert_close(
        res.rotation @ res.rotation.T, torch.eye(3, dtype=F64), atol=1e-6, rtol=0
    )
    assert_close(res.unmixing, res.rotation @ res.whitening)
    assert_close(res.sources, (prob.x - prob.x.mean(0)) @ res.unmixing.T)


def test_vcreg_ica_is_seeded_and_records_no_amari_without_mixing():
    prob = independence.ica_problem(300, 2, generator=_gen(32))
    res = independence.vcreg_ica(
        prob.x,
        penalty="full",
        steps=5,
        batch_size=100,
        generator=_gen(33),
        device="cpu",
    )
    assert res.amari is None
    assert res.sources.shape == (300, 2)
    again = independence.vcreg_ica(
        prob.x,
        penalty="full",
        steps=5,
        batch_size=100,
        generator=_gen(33),
        device="cpu",
    )
    assert_close(res.unmixing, again.unmixing)  # seeded: same projector and batches


# --- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (
            lambda h: independence.hsic(h[:, 0].numpy(), h[:, 1]),
            TypeError,
            "x: expected",
        ),
        (lambda h: independence.hsic(h[:, 0], h[:5, 1]), ValueError, "same number"),
        (
            lambda h: independence.hsic(h[:3, 0], h[:3, 1], unbiased=True),
            ValueError,
            "n >= 4",
        ),
        (
            lambda h: independence.hsic(h[:, 0], h[:, 1], gamma_x=0.0),
            ValueError,
            "gamma_x",
        ),
        (lambda h: independence.hsic(h.long()[:, 0], h[:, 1]), TypeError, "floating"),
        (
            lambda h: independence.pairwise_hsic(h[:, 0]),
            ValueError,
            r"h: expected shape \(n, d\)",
        ),
        (
            lambda h: independence.pairwise_hsic(h, gamma=torch.ones(2)),
            ValueError,
            "gamma",
        ),
        (
            lambda h: independence.pairwise_hsic(h, chunk_size=0),
            ValueError,
            "chunk_size",
        ),
        (lambda h: independence.mean_pairwise_hsic(h[:, :1]), ValueError, "d >= 2"),
        (lambda h: independence.pairwise_hsic_rff(h, 0), ValueError, "n_features"),
        (lambda h: independence.dhsic(h[:, :1]), ValueError, "d >= 2"),
        (lambda h: independence.dhsic(h[:, 0]), ValueError, r"x: expected shape"),
        (lambda h: independence.dhsic(h.numpy()), TypeError, "list of tensors"),
        (lambda h: independence.dhsic([h[:, 0], h[:5, 1]]), ValueError, "same number"),
        (lambda h: independence.dhsic([h[:, 0], h.long()]), TypeError, "floating"),
        (lambda h: independence.dhsic(h, gamma=[1.0, 1.0]), ValueError, "3 values"),
        (
            lambda h: independence.dhsic(h, gamma=[1.0, 0.0, 1.0]),
            ValueError,
            r"gamma\[1\]",
        ),
        (lambda h: independence.dhsic(h, gamma="median"), TypeError, "gamma"),
        (
            lambda h: independence.pairwise_hsic_rff(h, generator=3),
            TypeError,
            "generator",
        ),
        (
            lambda h: independence.amari_distance(h[:3, :3], h[:2, :2]),
            ValueError,
            "same shape",
        ),
        (lambda h: independence.amari_distance(h[:2], h[:2, :2]), ValueError, "square"),
        (
            lambda h: independence.amari_distance(
                torch.zeros(2, 2, dtype=F64), h[:2, :2]
            ),
            ValueError,
            "singular",
        ),
        (lambda h: independence.whiten(h, method="svd"), ValueError, "'pca' or 'zca'"),
        (lambda h: independence.whiten(h[:, [0, 0]]), ValueError, "full rank"),
        (
            lambda _: independence.ica_problem(10, 1),
            ValueError,
            "d: expected an int >= 2",
        ),
        (lambda _: independence.ica_problem(10, kinds=("gauss",)), ValueError, "kinds"),
        (lambda _: independence.ica_problem(10, kinds="laplace"), TypeError, "tuple"),
        (lambda _: independence.SeparableProjector(2, sigma=0.0), ValueError, "sigma"),
        (
            lambda _: independence.SeparableProjector(2, m=2.0),
            TypeError,
            "m: expected an int",
        ),
        (lambda h: independence.SeparableProjector(2)(h), ValueError, r"\(n, 2\)"),
        (lambda h: independence.cross_block_covariance(h, d=4), ValueError, "d = 4"),
        (
            lambda h: independence.vcreg_ica(h, penalty="l2"),
            ValueError,
            "'cross_block'",
        ),
        (lambda h: independence.vcreg_ica(h, batch_size=100), ValueError, "batch_size"),
        (
            lambda h: independence.vcreg_ica(h, batch_size=6, mixing=h[:2, :2]),
            ValueError,
            "mixing",
        ),
        (
            lambda h: independence.vcreg_ica(h, batch_size=6, device=0),
            TypeError,
            "device",
        ),
    ],
)
def test_errors(call, err, match):
    h = _randn(12, 3, seed=34)
    with pytest.raises(err, match=match):
        call(h)


# --- feature_dependence --------------------------------------------------------------


def test_feature_dependence_known_answers():
    g = _gen(0)
    u = torch.rand(400, 2, generator=g, dtype=F64)
    h = torch.cat([u, u[:, :1], torch.zeros(400, 1, dtype=F64)], 1)  # copy + constant
    out = independence.feature_dependence(h, n_features=3, seed=0)
    assert sorted(out["features"].tolist()) == [0, 1, 2]  # the constant is excluded
    f = out["features"]
    M = independence.pairwise_hsic(h[:, f], normalized=True)
    off = ~torch.eye(3, dtype=torch.bool)
    assert out["hsic"] == pytest.approx(M[off].mean().item())
    copied = [(i, j) for i in range(3) for j in range(3) if {f[i], f[j]} == {0, 2}]
    assert all(out["matrix"][i, j] == pytest.approx(1.0) for i, j in copied)
    R = torch.corrcoef(h[:, f].T)
    assert out["abs_corr"] == pytest.approx(R[off].abs().mean().item())
    again = independence.feature_dependence(h, n_features=3, seed=0)
    assert torch.equal(again["features"], out["features"])


def test_feature_dependence_sees_what_correlation_misses():
    x = torch.randn(500, generator=_gen(1), dtype=F64)
    out = independence.feature_dependence(torch.stack([x, x**2 - 1], 1), n_features=2)
    assert out["abs_corr"] < 0.1, out["abs_corr"]
    assert out["hsic"] > 0.1, out["hsic"]


def test_feature_dependence_whiten_keeps_only_nonlinear_dependence():
    # Correlated Gaussians: all their dependence is linear, so whitening removes it
    # (HSIC falls to the independent level); x and x^2 - 1 + x: whitening removes
    # the correlation but not the dependence.
    g = _gen(2)
    x, e = torch.randn(2, 500, generator=g, dtype=F64)
    gauss = torch.stack([x, 0.8 * x + 0.6 * e], 1)  # corr 0.8
    raw = independence.feature_dependence(gauss, n_features=2, unbiased=True)
    white = independence.feature_dependence(
        gauss, n_features=2, unbiased=True, whiten=True
    )
    assert raw["abs_corr"] > 0.7, raw
    assert raw["hsic"] > 0.2, raw
    assert white["abs_corr"] < 1e-10, white
    assert abs(white["hsic"]) < 0.02, white
    nonlinear = torch.stack([x, x**2 - 1 + x], 1)
    white = independence.feature_dependence(
        nonlinear, n_features=2, unbiased=True, whiten=True
    )
    assert white["abs_corr"] < 1e-10, white
    assert white["hsic"] > 0.1, white
    # the whitened features are ZCA-whitened: identity covariance
    h_w = independence._zca_whiten(
        torch.randn(300, 4, generator=g) @ torch.randn(4, 4, generator=g)
    )
    torch.testing.assert_close(torch.cov(h_w.T), torch.eye(4, dtype=F64))
    with pytest.raises(TypeError, match="whiten"):
        independence.feature_dependence(gauss, whiten=1)


def test_feature_dependence_errors():
    with pytest.raises(ValueError, match="non-constant"):
        independence.feature_dependence(torch.zeros(10, 3, dtype=F64))
    with pytest.raises(ValueError, match="n_features"):
        independence.feature_dependence(torch.randn(10, 3, dtype=F64), n_features=1)


# --- vcreg_ica with another projector, dense_projector ------------------------


def test_vcreg_ica_with_an_explicit_separable_projector_is_the_default():
    prob = independence.ica_problem(400, 2, generator=_gen(40))
    default = independence.vcreg_ica(
        prob.x, m=8, steps=20, batch_size=200, generator=_gen(41), device="cpu"
    )
    g = _gen(41)  # replay: the projector draws first, then the batches
    projector = independence.SeparableProjector(2, 8, sigma=2.0, generator=g)
    given = independence.vcreg_ica(
        prob.x, projector=projector, steps=20, batch_size=200, generator=g, device="cpu"
    )
    assert_close(given.rotation, default.rotation)


def test_vcreg_ica_projector_errors():
    x = independence.ica_problem(200, 2, generator=_gen(42)).x
    with pytest.raises(ValueError, match="frozen"):
        independence.vcreg_ica(
            x, projector=torch.nn.Linear(2, 4), steps=1, batch_size=100
        )
    odd = torch.nn.Linear(2, 3).requires_grad_(False)
    with pytest.raises(ValueError, match="multiple of d"):
        independence.vcreg_ica(x, projector=odd, steps=1, batch_size=100)
    with pytest.raises(TypeError, match="nn.Module"):
        independence.vcreg_ica(x, projector=lambda h: h, steps=1, batch_size=100)


def test_dense_projector_is_frozen_seeded_and_linear_one_is_rotation_blind():
    proj = independence.dense_projector(3, 16, generator=_gen(43))
    assert not any(p.requires_grad for p in proj.parameters())
    again = independence.dense_projector(3, 16, generator=_gen(43))
    h = torch.randn(50, 3, generator=_gen(44))
    assert_close(proj(h), again(h))
    # Without the ReLU, z is affine in h: C(z) = M C(h) M^T, so the full VCReg
    # penalty is the same for white h and any rotation of it (the book's (V4)).
    linear = independence.dense_projector(3, 16, relu=False, generator=_gen(45))
    h_w, _ = independence.whiten(torch.randn(2000, 3, generator=_gen(46), dtype=F64))
    R, _ = torch.linalg.qr(torch.randn(3, 3, generator=_gen(47), dtype=F64))
    z, z_rot = linear.double()(h_w), linear.double()(h_w @ R.T)
    assert losses.covariance(z).item() == pytest.approx(
        losses.covariance(z_rot).item(), rel=1e-9
    )
    with pytest.raises(ValueError, match="sigma"):
        independence.dense_projector(3, 16, sigma=0.0)
