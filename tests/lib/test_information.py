"""information: Gaussian entropy and MI, spline push-forward, mixture entropy."""

import math
from functools import partial

import pytest
import torch
from scipy import stats
from torch import nn
from torch.distributions import MultivariateNormal, kl_divergence
from torch.testing import assert_close

from dltheory import information, losses, models, splines, train

F64 = torch.float64
LOG_2PI_E = math.log(2 * math.pi * math.e)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed):
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


def _relu_mlp(dims, *, seed):
    torch.manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        mods.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods).to(F64)


def _correlated(n, d, rho, *, seed):
    # Pairs (x, y) with corr(x_j, y_j) = rho per dimension, dimensions independent.
    g = _gen(seed)
    x = torch.randn(n, d, generator=g, dtype=F64)
    e = torch.randn(n, d, generator=g, dtype=F64)
    return x, rho * x + math.sqrt(1 - rho**2) * e


# --- (I3) Gaussian entropy and log-dets ---


def test_logdet_cov_matches_torch_cov_as_written():
    z = _randn(50, 6, seed=0) @ _randn(6, 6, seed=1)  # (n, d), correlated
    expected = torch.logdet(torch.cov(z.T) + 1e-3 * torch.eye(6, dtype=F64))
    assert_close(information.logdet_cov(z, eps=1e-3), expected)


def test_logdet_corr_matches_corrcoef_and_the_covariance_identity():
    z = _randn(50, 6, seed=2) @ _randn(6, 6, seed=3)
    expected = torch.logdet(torch.corrcoef(z.T) + 1e-3 * torch.eye(6, dtype=F64))
    assert_close(information.logdet_cov(z, eps=1e-3, correlation=True), expected)
    # At eps = 0: log det R = log det C - sum_j log C_jj.
    cov_part = information.logdet_cov(z, eps=0.0)
    log_var = torch.log(torch.var(z, dim=0)).sum()
    assert_close(
        information.logdet_cov(z, eps=0.0, correlation=True), cov_part - log_var
    )


def test_logdet_corr_is_scale_free_and_at_most_zero():
    z = _randn(200, 5, seed=4) @ _randn(5, 5, seed=5)
    scales = torch.tensor([1e-4, 1.0, 3.0, 1e3, 0.5], dtype=F64)
    value = information.logdet_cov(z, correlation=True)
    assert value < 0  # correlated features: strictly below Hadamard's bound 0
    assert_close(information.logdet_cov(z * scales, correlation=True), value)


def test_gaussian_entropy_of_a_known_gaussian_matches_the_closed_form():
    A = _randn(3, 3, seed=6)  # z = A e, e ~ N(0, I): Sigma = A A^T
    z = _randn(20_000, 3, seed=7) @ A.T
    closed_form = 0.5 * (3 * LOG_2PI_E + torch.logdet(A @ A.T))
    # Sampling error of log det Sigma_hat is about sqrt(2 d / n) = 0.017: 0.05 is 3 sd.
    assert_close(
        information.gaussian_entropy(z, eps=0.0), closed_form, rtol=0, atol=0.05
    )


def test_gaussian_entropy_shifts_by_d_log_s_under_scaling():
    z = _randn(100, 4, seed=8)
    h = information.gaussian_entropy(z, eps=0.0)
    assert_close(information.gaussian_entropy(10 * z, eps=0.0), h + 4 * math.log(10))


def test_logdet_warns_and_gives_minus_inf_without_ridge_when_rank_deficient():
    z = _randn(4, 6, seed=9)  # n - 1 = 3 < d = 6
    with pytest.warns(UserWarning, match="rank <= 3 < d = 6"):
        value = information.logdet_cov(z, eps=0.0)
    assert value == -math.inf
    assert torch.isfinite(information.logdet_cov(z, eps=1e-6))


@pytest.mark.parametrize("correlation", [False, True])
def test_logdet_gradient_matches_finite_differences(correlation):
    z = _randn(12, 3, seed=10).requires_grad_()
    fn = partial(information.logdet_cov, eps=1e-3, correlation=correlation)
    assert torch.autograd.gradcheck(fn, (z,))


def test_entropy_and_mi_gradients_match_finite_differences():
    z_a = _randn(12, 2, seed=11).requires_grad_()
    z_b = (z_a.detach() + _randn(12, 2, seed=12)).requires_grad_()
    assert torch.autograd.gradcheck(information.gaussian_entropy, (z_a,))
    assert torch.autograd.gradcheck(information.gaussian_mi, (z_a, z_b))


# --- (I6) Gaussian MI between views ---


def test_gaussian_mi_matches_the_block_formula_as_written():
    z_a, z_b = _correlated(300, 3, 0.6, seed=13)
    C = torch.cov(torch.cat([z_a, z_b], dim=1).T)  # (6, 6)
    expected = 0.5 * (
        torch.logdet(C[:3, :3]) + torch.logdet(C[3:, 3:]) - torch.logdet(C)
    )
    for correlation in (False, True):
        got = information.gaussian_mi(z_a, z_b, eps=0.0, correlation=correlation)
        assert_close(got, expected)


@pytest.mark.parametrize("rho", [0.3, 0.8, 0.95])
def test_gaussian_mi_of_correlated_gaussians_is_minus_half_log_one_minus_rho2(rho):
    z_a, z_b = _correlated(20_000, 4, rho, seed=14)
    expected = -0.5 * 4 * math.log(1 - rho**2)
    # Sampling error about 0.02 nats at n = 20000 (bias d^2 / 2n = 4e-4): 0.06 is 3 sd.
    assert_close(
        information.gaussian_mi(z_a, z_b),
        torch.tensor(expected, dtype=F64),
        rtol=0,
        atol=0.06,
    )


def test_gaussian_mi_is_invariant_to_invertible_linear_maps_of_each_view():
    z_a, z_b = _correlated(500, 3, 0.7, seed=15)
    M_a = _randn(3, 3, seed=16) + 3 * torch.eye(3, dtype=F64)  # invertible
    M_b = _randn(3, 3, seed=17) + 3 * torch.eye(3, dtype=F64)
    shift = _randn(3, seed=18)
    before = information.gaussian_mi(z_a, z_b, eps=0.0)
    after = information.gaussian_mi(z_a @ M_a.T + shift, z_b @ M_b.T, eps=0.0)
    assert_close(after, before)
    # The correlation form with a ridge keeps invariance to rescaling each feature.
    scales = torch.tensor([1e-5, 1.0, 1e4], dtype=F64)
    assert_close(
        information.gaussian_mi(z_a * scales, z_b),
        information.gaussian_mi(z_a, z_b),
    )


def test_gaussian_mi_of_independent_views_is_its_small_bias():
    z_a, z_b = _randn(20_000, 2, seed=19), _randn(20_000, 2, seed=20)
    value = information.gaussian_mi(z_a, z_b).item()
    assert 0 <= value < 0.005  # bias about d^2 / (2 n) = 1e-4 nats


# --- (I1)-(I2) push-forward of the input mixture ---


def test_entropy_minus_invariance_bound_as_written_and_scale_free():
    z_a = _randn(3000, 4, seed=70) * torch.tensor([2.0, 1.0, 0.5, 0.1], dtype=F64)
    z_b = z_a + 0.3 * _randn(3000, 4, seed=71)
    got = information.entropy_minus_invariance_bound(z_a, z_b)
    distance = (z_a - z_b).pow(2).sum(1).mean()
    expected = information.gaussian_entropy(z_a, eps=0.0) - 2 * torch.log(
        2 * math.pi * math.e * distance / 4
    )
    assert_close(got, expected)
    assert_close(information.entropy_minus_invariance_bound(7 * z_a, 7 * z_b), got)
    # Gaussian Z with isotropic view noise sigma: 1/2 log det Sigma_Z - d log sigma.
    closed = 0.5 * math.log(4.0 * 1.0 * 0.25 * 0.01) - 4 * math.log(0.3)
    assert got.item() == pytest.approx(closed, abs=0.15)
    with pytest.raises(ValueError, match="differ"):
        information.entropy_minus_invariance_bound(z_a, z_a)


def test_pushforward_jacobian_is_the_spline_affine_map():
    net = _relu_mlp([2, 16, 16, 2], seed=0)
    x_n = _randn(8, 2, seed=21)
    push = information.spline_pushforward(net, x_n, 0.05)
    A, b = splines.local_affine_map(net, x_n)  # (8, 2, 2), (8, 2)
    assert_close(push.jacobian, A)
    assert_close(push.mean, (A @ x_n[..., None])[..., 0] + b)  # f(x_n) = A x_n + b


def test_pushforward_covariance_is_J_sigma_JT_for_an_anisotropic_sigma():
    net = _relu_mlp([3, 8, 4], seed=1)
    x_n = _randn(5, 3, seed=22)
    B = _randn(3, 3, seed=23)
    sigma = B @ B.T  # (3, 3)
    push = information.spline_pushforward(net, x_n, sigma)
    A, _ = splines.local_affine_map(net, x_n)  # (5, 4, 3)
    expected = torch.einsum("nij,jk,nlk->nil", A, sigma, A)  # (5, 4, 4)
    assert_close(push.cov, expected)
    # A number s means s^2 I.
    iso = information.spline_pushforward(net, x_n, 0.3)
    assert_close(iso.cov, 0.09 * A @ A.transpose(1, 2))


def _sampled_errors(net, x_n, s, *, seed, samples=4000):
    xs = information.sample_input_mixture(x_n, s, samples=samples, generator=_gen(seed))
    with torch.no_grad():
        zs = net(xs.reshape(-1, x_n.shape[1])).reshape(x_n.shape[0], samples, -1)
    push = information.spline_pushforward(net, x_n, s)
    error = information.relative_covariance_error(zs, push.cov)
    return error, information.fraction_in_anchor_region(net, x_n, xs)


def test_pushforward_matches_samples_for_small_noise_and_not_for_large():
    net = _relu_mlp([2, 16, 16, 2], seed=0)
    x_n = _randn(8, 2, seed=21)
    small_error, small_inside = _sampled_errors(net, x_n, 1e-3, seed=24)
    # sigma = 1e-3: every sample in its anchor's region, error only sampling noise
    # (about sqrt(2 / 4000) = 0.02; measured max 0.05).
    assert bool((small_inside == 1).all())
    assert small_error.max() < 0.1, small_error
    large_error, large_inside = _sampled_errors(net, x_n, 1.0, seed=25)
    # sigma = 1: the noise balls cross boundaries (measured: at most 14 % of the
    # samples stay in the region) and the median error is 0.57.
    assert large_inside.max() < 0.5, large_inside
    assert large_error.median() > 0.3, large_error


def test_sample_input_mixture_has_the_anchor_means_and_covariance():
    x_n = torch.tensor([[0.0, 0.0], [5.0, -1.0]], dtype=F64)
    B = torch.tensor([[1.0, 0.0], [0.5, 0.2]], dtype=F64)
    xs = information.sample_input_mixture(
        x_n, B @ B.T, samples=20_000, generator=_gen(0)
    )
    assert xs.shape == (2, 20_000, 2)
    # Sampling error about 1 / sqrt(20000) = 0.007 per entry: 0.03 is 4 sd.
    assert_close(xs.mean(dim=1), x_n, rtol=0, atol=0.03)
    assert_close(torch.cov(xs[1].T), B @ B.T, rtol=0, atol=0.03)


def test_fraction_in_anchor_region_counts_samples_on_the_anchors_side():
    # One hidden unit, on for x_1 > 0: the anchor (1, 0) is on; 3 of 4 samples too.
    net = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1)).to(F64)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0]]))
        net[0].bias.zero_()
    x_n = torch.tensor([[1.0, 0.0]], dtype=F64)
    xs = torch.tensor([[[0.5, 3.0], [2.0, -1.0], [-0.1, 0.0], [0.01, 9.0]]], dtype=F64)
    assert_close(
        information.fraction_in_anchor_region(net, x_n, xs),
        torch.tensor([0.75], dtype=F64),
    )


def test_pushforward_runs_batch_norm_in_eval_mode_and_restores_the_mode():
    torch.manual_seed(2)
    model = models.MLP([3, 8, 2], batch_norm=True).to(F64)
    model(_randn(64, 3, seed=26))  # running statistics move off their init
    model.train()
    x_n = _randn(4, 3, seed=27)
    push = information.spline_pushforward(model, x_n, 0.1)
    assert model.training
    model.eval()
    expected = torch.stack(
        [
            torch.autograd.functional.jacobian(lambda x: model(x[None])[0], x)
            for x in x_n
        ]
    )  # (4, 2, 3), one point at a time
    assert_close(push.jacobian, expected)
    assert_close(push.mean, model(x_n).detach())


def test_relative_covariance_error_is_zero_for_the_sample_covariance():
    z = _randn(2, 50, 3, seed=28)
    centered = z - z.mean(dim=1, keepdim=True)
    cov = centered.transpose(1, 2) @ centered / 49
    assert_close(
        information.relative_covariance_error(z, cov), torch.zeros(2, dtype=F64)
    )
    assert_close(
        information.relative_covariance_error(z, 2 * cov),
        torch.full((2,), 0.5, dtype=F64),
    )


def test_whitened_covariance_error_as_written_and_sees_every_direction():
    z = _randn(3, 400, 3, seed=60)  # (N, S, d)
    cov = torch.diag_embed(torch.tensor([[100.0, 1.0, 0.01]] * 3, dtype=F64))
    got = information.whitened_covariance_error(z, cov)
    centered = z - z.mean(dim=1, keepdim=True)
    emp = centered.transpose(1, 2) @ centered / 399  # (N, d, d)
    inv_sqrt = torch.diag(torch.tensor([0.1, 1.0, 10.0], dtype=F64))
    expected = (
        torch.linalg.matrix_norm(inv_sqrt @ emp @ inv_sqrt - torch.eye(3)) / 3**0.5
    )
    assert_close(got, expected)
    # Exact prediction (the sample covariance): 0; invariant to a linear map.
    assert_close(
        information.whitened_covariance_error(z, emp), torch.zeros(3, dtype=F64)
    )
    M = _randn(3, 3, seed=61) + 3 * torch.eye(3, dtype=F64)
    assert_close(information.whitened_covariance_error(z @ M.T, M @ cov @ M.T), got)
    # A 20 % error in the smallest of three very unequal directions: the
    # Frobenius error does not see it, the whitened one does.
    truth = torch.diag(torch.tensor([100.0, 1.0, 0.01], dtype=F64))[None]
    draws = (
        _randn(1, 20_000, 3, seed=62)
        @ truth.sqrt()
        * torch.tensor([1.0, 1.0, 1.2**0.5], dtype=F64)
    )
    assert information.relative_covariance_error(draws, truth).item() < 0.03
    assert information.whitened_covariance_error(draws, truth).item() > 0.1


def test_whitened_covariance_error_floor_is_the_isotropic_sampling_error():
    repeats, samples, d = 400, 200, 4
    cov = torch.diag(torch.tensor([9.0, 1.0, 0.1, 0.01], dtype=F64))
    draws = _randn(repeats, samples, d, seed=63) @ cov.sqrt()
    rms = information.whitened_covariance_error(draws, cov.expand(repeats, d, d))
    floor = information.covariance_sampling_error(torch.eye(d)[None].double(), samples)
    assert rms.pow(2).mean().sqrt().item() == pytest.approx(floor.item(), rel=0.05)


def test_whitened_covariance_error_rejects_a_singular_prediction():
    z = _randn(1, 10, 2, seed=64)
    cov = torch.tensor([[[1.0, 1.0], [1.0, 1.0]]], dtype=F64)
    with pytest.raises(ValueError, match="positive definite"):
        information.whitened_covariance_error(z, cov)
    with pytest.raises(ValueError, match="expected shapes"):
        information.whitened_covariance_error(z, cov[:, :1, :1])


# --- (I4) mixture entropy ---


def _mixture(N, d, *, spread, scale, seed):
    mean = spread * _randn(N, d, seed=seed)
    B = scale * _randn(N, d, d, seed=seed + 1)
    return mean, B @ B.transpose(1, 2) + 0.1 * scale**2 * torch.eye(d, dtype=F64)


@pytest.mark.parametrize(("spread", "scale"), [(0.3, 1.0), (2.0, 1.0), (10.0, 0.5)])
def test_bounds_bracket_the_monte_carlo_entropy(spread, scale):
    mean, cov = _mixture(6, 2, spread=spread, scale=scale, seed=30)
    mc = information.mixture_entropy_mc(mean, cov, samples=20_000, generator=_gen(1))
    lo, hi = information.mixture_entropy_bounds(mean, cov)
    plo, phi = information.mixture_entropy_bounds(mean, cov, kind="pairwise")
    margin = 4 * mc.stderr  # the MC value is within 4 standard errors of H(Z)
    assert lo - margin <= plo <= mc.value + margin
    assert mc.value - margin <= phi <= hi + margin
    assert_close(hi - lo, torch.tensor(math.log(6), dtype=F64))


def test_mc_entropy_of_one_gaussian_is_the_closed_form():
    mean, cov = _mixture(1, 3, spread=1.0, scale=1.0, seed=31)
    mc = information.mixture_entropy_mc(mean, cov, samples=20_000, generator=_gen(2))
    exact = 0.5 * (3 * LOG_2PI_E + torch.logdet(cov[0]))
    assert abs(mc.value - exact) < 4 * mc.stderr, (mc, exact)


def test_bounds_for_identical_and_for_separated_components():
    mean, cov = _mixture(1, 2, spread=1.0, scale=1.0, seed=32)
    h0 = 0.5 * (2 * LOG_2PI_E + torch.logdet(cov[0]))
    same = (mean.expand(4, 2), cov.expand(4, 2, 2))
    plo, phi = information.mixture_entropy_bounds(*same, kind="pairwise")
    assert_close(plo, h0)  # identical components: the mixture is N_0, exactly
    assert_close(phi, h0)
    weights = torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=F64)
    far = (1e3 * _randn(4, 2, seed=33), cov.expand(4, 2, 2))
    h_pi = -(weights * weights.log()).sum()
    lo, hi = information.mixture_entropy_bounds(*far, weights)
    assert_close(hi, h0 + h_pi)
    plo, phi = information.mixture_entropy_bounds(*far, weights, kind="pairwise")
    assert_close(plo, h0 + h_pi)  # far apart: H(Z) = H(Z | n) + H(pi)
    assert_close(phi, h0 + h_pi)


def test_pairwise_bounds_match_kl_and_bhattacharyya_as_written():
    mean, cov = _mixture(3, 2, spread=1.0, scale=1.0, seed=34)
    pi = torch.tensor([0.2, 0.3, 0.5], dtype=F64)
    comps = [MultivariateNormal(mean[i], cov[i]) for i in range(3)]
    H = sum(pi[i] * comps[i].entropy() for i in range(3))

    def bhattacharyya(i, j):
        S = (cov[i] + cov[j]) / 2
        m = mean[i] - mean[j]
        return m @ torch.linalg.solve(S, m) / 8 + 0.5 * torch.log(
            torch.det(S) / torch.sqrt(torch.det(cov[i]) * torch.det(cov[j]))
        )

    def estimate(D):
        return H - sum(
            pi[i] * torch.log(sum(pi[j] * torch.exp(-D(i, j)) for j in range(3)))
            for i in range(3)
        )

    lo, hi = information.mixture_entropy_bounds(mean, cov, pi, kind="pairwise")
    assert_close(lo, estimate(bhattacharyya))
    assert_close(hi, estimate(lambda i, j: kl_divergence(comps[i], comps[j])))


# --- Assumption checks: conditionals, normality, variance ratio ---


@pytest.mark.parametrize("test", ["normaltest", "shapiro"])
def test_normality_pvalues_are_high_for_gaussian_and_low_for_uniform(test):
    gaussian = _randn(500, 3, seed=35)
    uniform = torch.rand(500, 1, generator=_gen(36), dtype=F64)  # a flat 1-D law
    p_gauss = information.gaussianity_tests(gaussian, test=test, generator=_gen(0))
    p_unif = information.gaussianity_tests(uniform, test=test, generator=_gen(0))
    assert p_gauss.shape == (5,)
    assert p_gauss.min() > 0.01, p_gauss  # measured min 0.10 (normaltest)
    assert p_unif.max() < 1e-6, p_unif


def test_gaussianity_tests_are_scipys_on_the_drawn_projections():
    z = _randn(4, 40, 3, seed=37) ** 3  # heavy-tailed, (n, k, d)
    got = information.gaussianity_tests(z, n_dirs=2, generator=_gen(5))  # (4, 2)
    dirs = torch.randn(3, 2, generator=_gen(5), dtype=F64)
    dirs = dirs / dirs.norm(dim=0)
    for i in range(4):
        for j in range(2):
            proj = (z[i] @ dirs[:, j]).numpy()
            assert got[i, j].item() == pytest.approx(stats.normaltest(proj).pvalue)


def test_variance_ratio_known_answers():
    g = _gen(38)
    centres = 10 * torch.randn(5, 1, 3, generator=g, dtype=F64)  # (n, 1, d)
    noise = torch.randn(5, 200, 3, generator=g, dtype=F64)  # (n, k, d)
    cond = centres + noise
    ratio = information.variance_ratio(cond)
    assert bool(((ratio >= 0) & (ratio <= 1)).all())
    # Law of total variance with biased divisors: mean ratio = within / total.
    pooled = cond.reshape(-1, 3)
    total = pooled.var(dim=0, unbiased=False).sum()
    between = cond.mean(dim=1).var(dim=0, unbiased=False).sum()
    assert_close(ratio.mean(), 1 - between / total)
    # No within-input spread: 0. All inputs at one centre: mean ratio 1.
    assert_close(
        information.variance_ratio(centres.expand(5, 4, 3)), torch.zeros(5, dtype=F64)
    )
    assert_close(
        information.variance_ratio(noise - noise.mean(dim=1, keepdim=True)).mean(),
        torch.tensor(1.0, dtype=F64),
    )


def test_variance_ratio_against_a_given_marginal():
    cond = _randn(3, 50, 2, seed=39)  # within variance about 2 per input
    z_all = 3 * _randn(1000, 2, seed=40)  # total variance about 18
    ratio = information.variance_ratio(cond, z_all)
    within = cond.var(dim=1, unbiased=False).sum(dim=1)
    assert_close(ratio, within / z_all.var(dim=0, unbiased=False).sum())


def test_within_total_ratios_known_answers():
    # d = 3: input means spread along feature 0 only, augmentation noise of
    # variance 1 in every feature: the ratios are 1/(1 + between) along feature
    # 0 and (k - 1)/k along the other two, as written (pooled marginal).
    g = _gen(65)
    centres = torch.zeros(400, 1, 3, dtype=F64)
    centres[:, 0, 0] = 3 * torch.randn(400, generator=g, dtype=F64)
    cond = centres + torch.randn(400, 50, 3, generator=g, dtype=F64)  # (n, k, d)
    wt = information.within_total_ratios(cond)
    c = cond - cond.mean(dim=1, keepdim=True)
    within = torch.einsum("nki,nkj->ij", c, c) / (400 * 50)
    pooled = cond.reshape(-1, 3)
    total = torch.cov(pooled.T, correction=0)
    expected = torch.linalg.eigvals(torch.linalg.solve(total, within)).real.sort()[0]
    assert_close(wt.ratios, expected)
    assert wt.ratios[0].item() == pytest.approx(1 / 10, rel=0.1)
    # Noise-only features: within (k - 1)/k (biased divisor), total 1.
    assert_close(wt.ratios[1:], torch.full((2,), 49 / 50, dtype=F64), rtol=0, atol=0.02)
    # Each direction solves S_w v = gamma S_t v; feature 0 is the narrow one.
    assert_close(within @ wt.directions, total @ wt.directions * wt.ratios)
    assert abs(wt.directions[0, 0].item()) > 0.99
    assert_close(wt.half_logdet, 0.5 * torch.logdet(within @ torch.inverse(total)))
    # The trace ratio is the mean variance_ratio against the pooled marginal, and
    # it hides the two wide directions behind the one large narrow one.
    assert_close(wt.trace_ratio, information.variance_ratio(cond).mean())
    assert wt.trace_ratio.item() < 0.3 < wt.ratios.median().item()


def test_within_total_ratios_against_a_given_marginal_and_errors():
    cond = _randn(4, 30, 2, seed=66)
    z_all = 2 * _randn(500, 2, seed=67)  # variance 4 per feature
    wt = information.within_total_ratios(cond, z_all)
    assert_close(wt.ratios, torch.full((2,), 0.25, dtype=F64), rtol=0, atol=0.1)
    with pytest.raises(ValueError, match="nonsingular"):
        information.within_total_ratios(cond, z_all * torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="k >= 2"):
        information.within_total_ratios(cond[:, :1])
    with pytest.raises(ValueError, match="features like cond"):
        information.within_total_ratios(cond, z_all[:, :1])


def test_covariance_term_with_k_collapsed_eigenvalues_is_at_least_k_over_d_minus_k():
    # Chapter 04, claim 4: with unit variances the code's covariance term of one
    # branch is (1/d) sum_{i != j} R_ij^2 = (1/d) sum_k (rho_k - 1)^2, and tr R = d.
    # With k eigenvalues of R at 0 the other d - k sum to d, so the term is at
    # least (1/d)(k + (d - k)(k / (d - k))^2) = k / (d - k), reached when the d - k
    # others are equal: finite for k < d, while -log det R is infinite.
    d, k, n = 32, 24, 4096
    h = torch.ones(1, 1, dtype=F64)
    for _ in range(5):  # Sylvester's 32 x 32 Hadamard matrix
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    a = _randn(n, d - k, seed=68)
    x = torch.linalg.qr(a - a.mean(0))[0] * math.sqrt(n - 1)  # (n, d - k), white
    z = x @ h[: d - k] / math.sqrt(d - k)  # (n, d): R = H^T H / (d - k), unit diag
    R = torch.corrcoef(z.T)
    assert_close(R.diagonal(), torch.ones(d, dtype=F64))
    rho = torch.linalg.eigvalsh(R)
    assert int((rho < 1e-10).sum()) == k
    term = losses.covariance(z).item()  # one branch, code convention
    assert term == pytest.approx(k / (d - k))  # 3.0: the bound is reached
    assert term == pytest.approx(3.0)
    assert information.logdet_cov(z, eps=0.0, correlation=True).item() < -100
    # Any other correlation matrix with k null directions costs more.
    for seed in range(3):
        w = _randn(d - k, d, seed=69 + seed)
        zr = x @ w
        zr = zr / zr.std(0)
        assert losses.covariance(zr).item() >= k / (d - k) - 1e-9
    # The bound is not the 1/d per collapsed eigenvalue that the chapter once
    # stated (24 / 32 = 0.75 here): that ignored tr R = d.
    assert term > 3 * k / d


def _add_index_noise(x, generator=None):
    # An augmentation: each row gets its own N(0, 0.01) noise.
    return x + 0.1 * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def test_conditional_embeddings_groups_the_k_views_of_each_input():
    torch.manual_seed(3)
    encoder = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)).to(F64)
    encoder(_randn(32, 4, seed=41))  # running statistics move off their init
    x = 5 * _randn(3, 4, seed=42)
    cond = information.conditional_embeddings(
        encoder, x, _add_index_noise, k=400, batch_size=100, generator=_gen(6)
    )
    assert cond.shape == (3, 400, 2)
    assert encoder.training  # mode restored
    encoder.eval()
    with torch.no_grad():
        centre = encoder(x)  # (3, 2): input i's views average to f(x_i), f affine
    # The noise is 0.1 / sqrt(400) per input coordinate on average; 0.1 is loose.
    assert_close(cond.mean(dim=1), centre, rtol=0, atol=0.1)
    views = _add_index_noise(x.repeat_interleave(400, dim=0), generator=_gen(6))
    with torch.no_grad():
        assert_close(cond, encoder(views).reshape(3, 400, 2))


def test_vicreg_information_terms_log_during_training():
    torch.manual_seed(4)
    x = torch.rand(64, 64, generator=_gen(43))
    run = train.SSLRun(backbone_widths=(16,), projector_widths=(16, 4), steps=2)
    history = train.train_ssl(
        run.model(64),
        x,
        augmentation=_add_index_noise,
        loss_fn=run.loss_fn(),
        steps=2,
        batch_size=32,
        log_terms=information.vicreg_information_terms,
        log_every=1,
        generator=_gen(44),
        device="cpu",
        progress=False,
    )
    for key in ("invariance", "entropy", "logdet_cov", "logdet_corr", "mi"):
        assert len(history[key]) == 2
    z_a, z_b = _correlated(100, 4, 0.5, seed=45)
    terms = information.vicreg_information_terms(z_a, z_b)
    assert_close(terms["mi"], information.gaussian_mi(z_a, z_b))
    assert_close(terms["invariance"], losses.vicreg_terms(z_a, z_b)["invariance"])
    assert 1 <= terms["effective_rank"] <= 4


# --- Errors ---


def test_errors_name_the_argument_and_the_expectation():
    z = _randn(10, 3, seed=46)
    with pytest.raises(TypeError, match="z: expected a floating-point tensor"):
        information.logdet_cov(torch.ones(10, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"z: expected shape \(n, d\) with n >= 2"):
        information.gaussian_entropy(z[:1])
    with pytest.raises(ValueError, match="eps: expected a number >= 0"):
        information.logdet_cov(z, eps=-1.0)
    with pytest.raises(ValueError, match="constant features, got zero variance"):
        information.logdet_cov(
            torch.cat([z, torch.ones(10, 1, dtype=F64)], 1), correlation=True
        )
    with pytest.raises(ValueError, match="z_a and z_b: expected the same number"):
        information.gaussian_mi(z, z[:5])
    with pytest.raises(ValueError, match=r"sigma_x: expected a number .* \(3, 3\)"):
        information.spline_pushforward(_relu_mlp([3, 4, 2], seed=0), z, torch.eye(2))
    with pytest.raises(ValueError, match="sigma_x: expected a positive semi-definite"):
        information.sample_input_mixture(z, -torch.eye(3, dtype=F64), samples=2)
    with pytest.raises(TypeError, match="for a JointEmbedding pass"):
        information.spline_pushforward(lambda x: (x, x), z, 0.1)
    mean, cov = _mixture(2, 2, spread=1.0, scale=1.0, seed=47)
    with pytest.raises(ValueError, match="cov: expected positive-definite"):
        information.mixture_entropy_bounds(mean, torch.zeros(2, 2, 2, dtype=F64))
    with pytest.raises(ValueError, match="weights: expected nonnegative weights"):
        information.mixture_entropy_mc(mean, cov, torch.tensor([0.5, 0.6], dtype=F64))
    with pytest.raises(ValueError, match="kind: expected 'simple' or 'pairwise'"):
        information.mixture_entropy_bounds(mean, cov, kind="kl")
    with pytest.raises(ValueError, match="test: expected 'normaltest' or 'shapiro'"):
        information.gaussianity_tests(z, test="ks")
    with pytest.raises(ValueError, match=r"k >= 8 for normaltest, got \(5, 3\)"):
        information.gaussianity_tests(z[:5])
    with pytest.raises(
        ValueError, match=r"cond: expected shape \(n, k, d\) with k >= 2"
    ):
        information.variance_ratio(z[:, None, :])
    with pytest.raises(ValueError, match=r"x_samples: expected shape \(2, S, 3\)"):
        information.fraction_in_anchor_region(
            _relu_mlp([3, 4, 2], seed=0), z[:2], _randn(3, 5, 3, seed=0)
        )
    with pytest.raises(TypeError, match="augmentation: expected a callable"):
        information.conditional_embeddings(nn.Identity(), z, "flip")


def test_relative_covariance_error_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"expected shapes \(N, S, d\) with S >= 2"):
        information.relative_covariance_error(
            _randn(2, 5, 3, seed=0), _randn(2, 2, 2, seed=1)
        )


# --- the push-forward check of claim 1 -------------------------------------------


def test_in_anchor_region_is_the_per_sample_fraction():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)).double()
    x_n = torch.randn(4, 2, dtype=F64)
    x_s = information.sample_input_mixture(
        x_n, 0.3, samples=50, generator=torch.Generator().manual_seed(1)
    )
    inside = information.in_anchor_region(net, x_n, x_s)
    assert inside.shape == (4, 50)
    assert_close(
        inside.double().mean(1), information.fraction_in_anchor_region(net, x_n, x_s)
    )
    assert information.in_anchor_region(net, x_n, x_n[:, None, :]).all()


def test_covariance_sampling_error_known_answers():
    S = 101
    rank_one = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]], dtype=F64)
    isotropic = 3.0 * torch.eye(4, dtype=F64)[None]
    floor = information.covariance_sampling_error(torch.cat([rank_one]), S)
    assert floor.item() == pytest.approx(math.sqrt(2 / (S - 1)))
    iso = information.covariance_sampling_error(isotropic, S)
    assert iso.item() == pytest.approx(math.sqrt((1 + 4) / (S - 1)))
    with pytest.raises(ValueError, match="nonzero"):
        information.covariance_sampling_error(torch.zeros(1, 2, 2), S)


def test_pushforward_check_on_a_linear_net_is_at_the_sampling_floor():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 2)).double()  # one region: (I2) is exact
    x_n = torch.randn(30, 2, dtype=F64)
    check = information.pushforward_check(
        net, x_n, 0.1, samples=500, generator=torch.Generator().manual_seed(2)
    )
    assert (check.fraction == 1).all()
    rms = check.error.pow(2).mean().sqrt()
    assert rms.item() == pytest.approx(check.floor.mean().item(), rel=0.3)
    assert check.z_samples.shape == (30, 500, 2)


def test_gaussianity_tests_with_a_draw_per_row():
    x = torch.randn(3, 50, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    per_row = information.gaussianity_tests(
        x, shared_directions=False, generator=torch.Generator().manual_seed(1)
    )
    g = torch.Generator().manual_seed(1)
    rows = [information.gaussianity_tests(x[i], generator=g) for i in range(3)]
    assert_close(per_row, torch.stack(rows))
    with pytest.raises(TypeError, match="shared_directions"):
        information.gaussianity_tests(x, shared_directions=1)


def test_conditional_vs_marginal_shapes_and_equal_sample_sizes():
    x = torch.rand(40, 6, generator=torch.Generator().manual_seed(0), dtype=F64)

    def jitter(v, generator=None):
        noise = torch.randn(v.shape, generator=generator, dtype=v.dtype)
        return v + 0.01 * noise

    out = information.conditional_vs_marginal(
        nn.Identity(),
        x[:5],
        x,
        jitter,
        k=20,
        repeats=2,
        generator=torch.Generator().manual_seed(1),
    )
    assert out["cond"].shape == (5, 20, 6)
    assert out["pool"].shape == (80, 6)
    assert out["p_cond"].shape == out["p_marg"].shape == (5, 5)
    assert (out["ratio"] < 0.01).all()  # tiny jitter: narrow conditionals
    by_hand = information.gaussianity_tests(  # fresh directions per row, seed 1
        out["cond"], shared_directions=False, generator=torch.Generator().manual_seed(1)
    )
    assert_close(out["p_cond"], by_hand)
    with pytest.raises(ValueError, match="pool samples"):
        information.conditional_vs_marginal(
            nn.Identity(), x[:5], x[:3], jitter, k=20, repeats=2
        )
