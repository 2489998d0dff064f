import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from dltheory import losses

F64 = torch.float64


def _randn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=g, dtype=F64)


def _scalar(x):
    return torch.tensor(x, dtype=F64)


def _hadamard_columns():
    # (4, 3): the non-constant columns of the 4 x 4 Hadamard matrix. Each has mean 0
    # and biased variance 1, and they are orthogonal: Z^T Z / 4 = I exactly.
    return torch.tensor([[1, 1, 1], [-1, 1, -1], [1, -1, -1], [-1, -1, 1]], dtype=F64)


# --- VICReg, Eqs. (1)-(6), term by term: slow, obvious, independent of the code ---


def _invariance_as_written(z_a, z_b):
    # Eq. (5): (1/n) sum_i ||z_i - z'_i||^2, the norm written out.
    n, d = z_a.shape
    total = 0.0
    for i in range(n):
        total = total + sum((z_a[i, j] - z_b[i, j]) ** 2 for j in range(d))
    return total / n


def _variance_as_written(z, gamma=1.0, eps=1e-4):
    # Eqs. (1)-(2), Var unbiased (divisor n - 1).
    n, d = z.shape
    total = 0.0
    for j in range(d):
        mean = sum(z[i, j] for i in range(n)) / n
        var = sum((z[i, j] - mean) ** 2 for i in range(n)) / (n - 1)
        total = total + max(0.0, gamma - math.sqrt(var + eps))
    return _scalar(total / d)


def _covariance_as_written(z):
    # Eqs. (3)-(4) term by term: slow, obvious, independent of the vectorized code.
    n, d = z.shape
    z_bar = z.mean(dim=0)
    C = sum(torch.outer(z[i] - z_bar, z[i] - z_bar) for i in range(n)) / (n - 1)
    return sum(C[i, j] ** 2 for i in range(d) for j in range(d) if i != j) / d


def _vicreg_as_written(z_a, z_b, lambd=25.0, mu=25.0, nu=1.0):
    # Eq. (6) as printed: the variance and covariance terms of both branches summed.
    return (
        lambd * _invariance_as_written(z_a, z_b)
        + mu * (_variance_as_written(z_a) + _variance_as_written(z_b))
        + nu * (_covariance_as_written(z_a) + _covariance_as_written(z_b))
    )


def _off_diagonal(x):
    # As in the official VICReg and Barlow Twins code.
    n, m = x.shape
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def _vicreg_official_code(x, y, sim_coeff=25.0, std_coeff=25.0, cov_coeff=1.0):
    # Transcription of facebookresearch/vicreg main_vicreg.py, VICReg.forward
    # (commit 4e12602), one process: batch_size = n, num_features = d.
    batch_size, num_features = x.shape
    repr_loss = F.mse_loss(x, y)
    x = x - x.mean(dim=0)
    y = y - y.mean(dim=0)
    std_x = torch.sqrt(x.var(dim=0) + 0.0001)
    std_y = torch.sqrt(y.var(dim=0) + 0.0001)
    std_loss = torch.mean(F.relu(1 - std_x)) / 2 + torch.mean(F.relu(1 - std_y)) / 2
    cov_x = (x.T @ x) / (batch_size - 1)
    cov_y = (y.T @ y) / (batch_size - 1)
    cov_loss = _off_diagonal(cov_x).pow_(2).sum().div(num_features)
    cov_loss = cov_loss + _off_diagonal(cov_y).pow_(2).sum().div(num_features)
    return sim_coeff * repr_loss + std_coeff * std_loss + cov_coeff * cov_loss


def _two_views(seed, n=32, d=6, scale=0.8):
    # Standard deviations near 0.8, so the variance hinge is active for most features.
    z_a = _randn(n, d, seed=seed, scale=scale)
    z_b = z_a + _randn(n, d, seed=seed + 100, scale=0.3)
    return z_a, z_b


def test_invariance_matches_the_formula_as_written():
    z_a, z_b = _two_views(0, n=16, d=5)
    assert_close(losses.invariance(z_a, z_b), _invariance_as_written(z_a, z_b))


def test_invariance_of_views_shifted_by_c_is_the_squared_norm_of_c():
    z_a = _randn(8, 4, seed=1)
    c = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=F64)  # |c|^2 = 5.25
    assert_close(losses.invariance(z_a, z_a + c), _scalar(5.25))
    assert_close(losses.invariance(z_a, z_a + c, convention="code"), _scalar(5.25 / 4))


def test_invariance_paper_is_d_times_code():
    z_a, z_b = _two_views(2, n=16, d=7)
    paper = losses.invariance(z_a, z_b, convention="paper")
    code = losses.invariance(z_a, z_b, convention="code")
    assert_close(paper, 7 * code)


def test_variance_matches_the_formula_as_written():
    z = _randn(24, 6, seed=3, scale=0.9)  # some features above gamma, some below
    for gamma, eps in [(1.0, 1e-4), (0.5, 0.0), (2.0, 1e-2)]:
        assert_close(
            losses.variance(z, gamma=gamma, eps=eps),
            _variance_as_written(z, gamma, eps),
        )


def test_variance_of_a_constant_embedding_is_gamma_minus_sqrt_eps():
    z = torch.full((10, 3), 4.0, dtype=F64)  # Var = 0 in every feature
    assert_close(losses.variance(z), _scalar(1.0 - math.sqrt(1e-4)))  # 0.99
    assert_close(losses.variance(z, gamma=2.0, eps=0.25), _scalar(1.5))


def test_variance_uses_the_unbiased_variance():
    t = torch.tensor([-1.0, 0.0, 1.0], dtype=F64)  # unbiased variance 1, biased 2/3
    z = t[:, None]  # (3, 1)
    assert_close(losses.variance(z, gamma=2.0), _scalar(2.0 - math.sqrt(1.0 + 1e-4)))


def test_variance_ignores_a_shift_of_each_feature():
    z = _randn(64, 8, seed=4)
    shift = 10 * _randn(8, seed=5)  # (d,)
    # The variance cancels the shift up to rounding: 1e-10 is about 1e5 ulps.
    assert_close(losses.variance(z + shift), losses.variance(z), rtol=0, atol=1e-10)


def test_covariance_matches_the_formula_as_written():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 5, generator=g, dtype=torch.float64)  # (n, d)
    assert_close(losses.covariance(z), _covariance_as_written(z))


def test_covariance_of_two_identical_features_is_one():
    t = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)  # unbiased variance 1
    z = torch.stack([t, t], dim=1)  # (3, 2): C = [[1, 1], [1, 1]], c = 2 / 2
    assert_close(losses.covariance(z), torch.tensor(1.0, dtype=torch.float64))


def test_covariance_ignores_a_shift_of_each_feature():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(64, 8, generator=g, dtype=torch.float64)  # (n, d)
    shift = 10 * torch.randn(8, generator=g, dtype=torch.float64)  # (d,)
    # Centering cancels the shift up to rounding: 1e-10 is about 1e5 ulps of the sum.
    assert_close(losses.covariance(z + shift), losses.covariance(z), rtol=0, atol=1e-10)


def test_vicreg_paper_matches_eq6_as_written():
    z_a, z_b = _two_views(6, n=12, d=4)
    assert_close(
        losses.vicreg(z_a, z_b, convention="paper"), _vicreg_as_written(z_a, z_b)
    )


def test_vicreg_code_matches_the_official_code():
    z_a, z_b = _two_views(7)
    assert_close(losses.vicreg(z_a, z_b), _vicreg_official_code(z_a, z_b))
    weights = {"inv_weight": 5.0, "var_weight": 3.0, "cov_weight": 0.5}
    assert_close(
        losses.vicreg(z_a, z_b, **weights, convention="code"),
        _vicreg_official_code(z_a, z_b, 5.0, 3.0, 0.5),
    )


def test_vicreg_paper_and_code_terms_differ_by_d_and_by_two():
    z_a, z_b = _two_views(8, d=6)
    paper = losses.vicreg_terms(z_a, z_b, convention="paper")
    code = losses.vicreg_terms(z_a, z_b, convention="code")
    assert_close(paper["invariance"], 6 * code["invariance"])
    assert_close(paper["variance"], 2 * code["variance"])
    assert_close(paper["covariance"], code["covariance"])


def test_vicreg_paper_minus_code_is_as_predicted():
    # paper - code = lambda (d - 1) s_code + mu v_code, with v_code the halved sum.
    z_a, z_b = _two_views(9, d=6)
    code = losses.vicreg_terms(z_a, z_b, convention="code")
    predicted = 25.0 * 5 * code["invariance"] + 25.0 * code["variance"]
    difference = losses.vicreg(z_a, z_b, convention="paper") - losses.vicreg(z_a, z_b)
    assert_close(difference, predicted)


def test_vicreg_is_the_weighted_sum_of_its_terms_as_written():
    z_a, z_b = _two_views(10, n=10, d=3)
    terms = losses.vicreg_terms(z_a, z_b, gamma=1.0, eps=1e-4, convention="code")
    assert_close(terms["invariance"], _invariance_as_written(z_a, z_b) / 3)
    half_sum = (_variance_as_written(z_a) + _variance_as_written(z_b)) / 2
    assert_close(terms["variance"], half_sum)
    both = _covariance_as_written(z_a) + _covariance_as_written(z_b)
    assert_close(terms["covariance"], both)


def test_vcreg_matches_the_formulas_as_written():
    z = _randn(20, 5, seed=11, scale=0.9)
    v, c = _variance_as_written(z, 1.5, 1e-3), _covariance_as_written(z)
    expected = 3.0 * v + 0.7 * c
    actual = losses.vcreg(z, var_weight=3.0, cov_weight=0.7, gamma=1.5, eps=1e-3)
    assert_close(actual, expected)


# --- Barlow Twins, Eqs. (1)-(2) ---


def _barlow_twins_as_written(z_a, z_b, lambd=5e-3):
    # Eq. (2) as printed: cosine of the mean-centred columns; then Eq. (1).
    n, d = z_a.shape
    a = z_a - z_a.mean(dim=0)
    b = z_b - z_b.mean(dim=0)
    C = torch.empty(d, d, dtype=F64)
    for i in range(d):
        for j in range(d):
            num = sum(a[k, i] * b[k, j] for k in range(n))
            norm_a = math.sqrt(sum(a[k, i] ** 2 for k in range(n)))
            norm_b = math.sqrt(sum(b[k, j] ** 2 for k in range(n)))
            C[i, j] = num / (norm_a * norm_b)
    invariance = sum((1 - C[i, i]) ** 2 for i in range(d))
    redundancy = sum(C[i, j] ** 2 for i in range(d) for j in range(d) if j != i)
    return invariance + lambd * redundancy


def _barlow_twins_official_code(z1, z2, lambd=0.0051):
    # Transcription of facebookresearch/barlowtwins main.py, BarlowTwins.forward
    # (commit 8e8d284), one process.
    batch_size, d = z1.shape
    bn = torch.nn.BatchNorm1d(d, affine=False, dtype=z1.dtype)  # training mode
    c = bn(z1).T @ bn(z2)
    c.div_(batch_size)
    on_diag = torch.diagonal(c).add_(-1).pow_(2).sum()
    off_diag = _off_diagonal(c).pow_(2).sum()
    return on_diag + lambd * off_diag


def test_barlow_twins_with_eps_zero_is_eq2_as_written():
    z_a, z_b = _two_views(12, n=16, d=5)
    assert_close(
        losses.barlow_twins(z_a, z_b, eps=0.0), _barlow_twins_as_written(z_a, z_b)
    )


def test_barlow_twins_matches_eq2_up_to_the_batchnorm_eps():
    z_a = _randn(16, 5, seed=13, scale=2.0)  # variances near 4
    z_b = z_a + _randn(16, 5, seed=113, scale=2.0)  # correlation near 0.7
    # Eq. (2) has no eps. eps = 1e-5 on variances near 4 to 8 shrinks each C_ij by
    # a relative 2e-6 or so, which moves the loss by about 1e-5 relative (measured
    # 5e-6 to 2e-5 over seeds 13-22): 1e-4 leaves room, 1e-6 would not.
    assert_close(
        losses.barlow_twins(z_a, z_b),
        _barlow_twins_as_written(z_a, z_b),
        rtol=1e-4,
        atol=0,
    )


def test_barlow_twins_matches_the_official_code():
    z_a, z_b = _two_views(14)
    assert_close(
        losses.barlow_twins(z_a, z_b, lambd=0.0051),
        _barlow_twins_official_code(z_a, z_b),
    )


def test_barlow_twins_is_zero_when_the_cross_correlation_is_identity():
    z = _hadamard_columns()  # C = Z^T Z / 4 = I exactly
    assert losses.barlow_twins(z, z, eps=0.0).item() == 0.0
    # With the BatchNorm eps, C = I / (1 + eps): loss d (eps / (1 + eps))^2.
    eps = 1e-5
    assert_close(losses.barlow_twins(z, z), _scalar(3 * (eps / (1 + eps)) ** 2))


def test_barlow_twins_ignores_a_positive_rescaling_and_shift_of_features():
    z_a, z_b = _two_views(15, n=16, d=4)
    scale = torch.tensor([0.5, 2.0, 3.0, 10.0], dtype=F64)  # (d,), > 0
    shift = _randn(4, seed=16, scale=5.0)  # (d,)
    # Exact with eps = 0, up to rounding of the standardisation.
    assert_close(
        losses.barlow_twins(scale * z_a + shift, z_b, eps=0.0),
        losses.barlow_twins(z_a, z_b, eps=0.0),
    )


# --- SimCLR NT-Xent, Eq. (1) ---


def _info_nce_as_written(z_a, z_b, tau=0.5):
    # Eq. (1) with the paper's indexing: views interleaved, (2k, 2k+1) positive.
    n, d = z_a.shape
    u = [z_a[k // 2] if k % 2 == 0 else z_b[k // 2] for k in range(2 * n)]

    def sim(x, y):
        return float(x @ y) / (math.sqrt(float(x @ x)) * math.sqrt(float(y @ y)))

    def ell(i, j):
        denominator = sum(
            math.exp(sim(u[i], u[k]) / tau) for k in range(2 * n) if k != i
        )
        return -math.log(math.exp(sim(u[i], u[j]) / tau) / denominator)

    total = sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(n))
    return _scalar(total / (2 * n))


def _simclr_official_code(hidden1, hidden2, temperature):
    # Transcription of google-research/simclr tf2/objective.py, add_contrastive_loss
    # (commit 383d414), one replica, in torch.
    large_num = 1e9
    hidden1 = F.normalize(hidden1, dim=-1)
    hidden2 = F.normalize(hidden2, dim=-1)
    batch_size = hidden1.shape[0]
    labels = torch.arange(batch_size)
    masks = torch.eye(batch_size, dtype=hidden1.dtype)
    logits_aa = hidden1 @ hidden1.T / temperature - masks * large_num
    logits_bb = hidden2 @ hidden2.T / temperature - masks * large_num
    logits_ab = hidden1 @ hidden2.T / temperature
    logits_ba = hidden2 @ hidden1.T / temperature
    loss_a = F.cross_entropy(
        torch.cat([logits_ab, logits_aa], 1), labels, reduction="none"
    )
    loss_b = F.cross_entropy(
        torch.cat([logits_ba, logits_bb], 1), labels, reduction="none"
    )
    return torch.mean(loss_a + loss_b)


def test_info_nce_matches_the_formula_as_written():
    z_a, z_b = _two_views(17, n=6, d=4)
    for tau in (0.5, 0.1, 2.0):
        assert_close(
            losses.info_nce(z_a, z_b, temperature=tau),
            _info_nce_as_written(z_a, z_b, tau),
        )


def test_info_nce_matches_the_formula_as_written_when_d_exceeds_2n():
    # d > 2n takes the other branch (the Gram matrix divided by the norms).
    z_a, z_b = _two_views(20, n=3, d=16)
    assert_close(losses.info_nce(z_a, z_b), _info_nce_as_written(z_a, z_b, 0.5))
    # With a zero embedding both branches give it cosine 0 with every embedding:
    # Q, an orthonormal basis of the rows' span, keeps every inner product and
    # brings d = 16 down to 2n = 6, the branch of the normalised rows.
    z_a[0] = 0.0
    Q, _ = torch.linalg.qr(torch.cat([z_a, z_b]).T)  # (16, 6)
    assert_close(losses.info_nce(z_a, z_b), losses.info_nce(z_a @ Q, z_b @ Q))


def test_info_nce_code_matches_the_official_code():
    z_a, z_b = _two_views(18, n=10, d=5)
    assert_close(
        losses.info_nce(z_a, z_b, temperature=0.1, convention="code"),
        _simclr_official_code(z_a, z_b, 0.1),
    )


def test_info_nce_of_aligned_orthogonal_embeddings_has_a_closed_form():
    # z_a = z_b = e_1, ..., e_n: the positive has cosine 1, the 2n - 2 negatives 0,
    # so every anchor loses log(1 + (2n - 2) exp(-1 / tau)).
    n, tau = 4, 0.5
    z = torch.eye(n, 6, dtype=F64)  # (n, d), orthonormal rows
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / tau))
    assert_close(losses.info_nce(z, z, temperature=tau), _scalar(expected))


def test_info_nce_ignores_a_positive_rescaling_of_each_embedding():
    z_a, z_b = _two_views(19, n=8, d=5)
    g = torch.Generator().manual_seed(0)
    scale_a = 0.1 + 5 * torch.rand(8, 1, generator=g, dtype=F64)  # (n, 1), > 0
    scale_b = 0.1 + 5 * torch.rand(8, 1, generator=g, dtype=F64)
    assert_close(
        losses.info_nce(scale_a * z_a, scale_b * z_b), losses.info_nce(z_a, z_b)
    )


# --- Spectral contrastive loss, HaoChen et al., Secs. 3.2 and 4 ---


def _spectral_as_written(z_a, z_b):
    # -2/n sum_i <a_i, b_i> + 1/(n(n-1)) sum_{i != j} <a_i, b_j>^2, with loops.
    n, d = z_a.shape

    def inner(x, y):
        return sum(float(x[k]) * float(y[k]) for k in range(d))

    positive = -2 / n * sum(inner(z_a[i], z_b[i]) for i in range(n))
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    negative = sum(inner(z_a[i], z_b[j]) ** 2 for i, j in pairs) / (n * (n - 1))
    return _scalar(positive + negative)


def _spectral_official_code(z1, z2, mu=1.0):
    # Transcription of jhaochenz96/spectral_contrastive_learning models/spectral.py,
    # D (commit ee431bd).
    mask1 = (torch.norm(z1, p=2, dim=1) < math.sqrt(mu)).to(z1.dtype).unsqueeze(1)
    mask2 = (torch.norm(z2, p=2, dim=1) < math.sqrt(mu)).to(z2.dtype).unsqueeze(1)
    z1 = mask1 * z1 + (1 - mask1) * F.normalize(z1, dim=1) * math.sqrt(mu)
    z2 = mask2 * z2 + (1 - mask2) * F.normalize(z2, dim=1) * math.sqrt(mu)
    loss_part1 = -2 * torch.mean(z1 * z2) * z1.shape[1]
    square_term = torch.matmul(z1, z2.T) ** 2
    loss_part2 = (
        torch.mean(
            torch.triu(square_term, diagonal=1) + torch.tril(square_term, diagonal=-1)
        )
        * z1.shape[0]
        / (z1.shape[0] - 1)
    )
    return (loss_part1 + loss_part2) / mu


def test_spectral_contrastive_matches_the_formula_as_written():
    z_a, z_b = _two_views(20, n=7, d=4)
    assert_close(losses.spectral_contrastive(z_a, z_b), _spectral_as_written(z_a, z_b))


@pytest.mark.parametrize("mu", [1.0, 10.0])
def test_spectral_contrastive_with_mu_matches_the_official_code(mu):
    # Norms about sqrt(d) * 0.8 to 3 * that: some rows are capped, some not.
    z_a, z_b = _two_views(21, n=16, d=8)
    z_a = z_a * torch.linspace(0.3, 3.0, 16, dtype=F64)[:, None]
    capped = z_a.norm(dim=1) >= math.sqrt(mu)
    assert capped.any()
    assert not capped.all()
    assert_close(
        losses.spectral_contrastive(z_a, z_b, mu=mu),
        _spectral_official_code(z_a, z_b, mu),
    )


def test_spectral_contrastive_of_aligned_orthogonal_embeddings_is_minus_two_s2():
    # z_a = z_b = s e_i: positives s^2 each, negatives 0, so the loss is -2 s^2.
    z = 1.5 * torch.eye(5, dtype=F64)
    assert_close(losses.spectral_contrastive(z, z), _scalar(-2 * 1.5**2))


# --- Gradients, dtypes, errors ---


def _gradcheck_cases():
    return [
        ("invariance paper", losses.invariance, 2, {}),
        ("invariance code", losses.invariance, 2, {"convention": "code"}),
        ("variance", losses.variance, 1, {"gamma": 3.0}),
        ("covariance", losses.covariance, 1, {}),
        ("vicreg code", losses.vicreg, 2, {}),
        ("vicreg paper", losses.vicreg, 2, {"convention": "paper"}),
        ("vcreg", losses.vcreg, 1, {}),
        ("barlow_twins", losses.barlow_twins, 2, {}),
        ("info_nce", losses.info_nce, 2, {}),
        ("spectral_contrastive", losses.spectral_contrastive, 2, {}),
        ("spectral_contrastive mu", losses.spectral_contrastive, 2, {"mu": 1.0}),
    ]


@pytest.mark.parametrize(
    ("fn", "n_inputs", "kwargs"),
    [case[1:] for case in _gradcheck_cases()],
    ids=[case[0] for case in _gradcheck_cases()],
)
def test_gradient_matches_finite_differences(fn, n_inputs, kwargs):
    # Standard deviations near 0.5: every variance hinge is active, away from its kink.
    z_a, z_b = _two_views(22, n=6, d=3, scale=0.5)
    inputs = (z_a, z_b)[:n_inputs]
    inputs = tuple(z.clone().requires_grad_(True) for z in inputs)
    assert torch.autograd.gradcheck(lambda *z: fn(*z, **kwargs), inputs)


@pytest.mark.parametrize(
    ("fn", "n_inputs"),
    [
        (losses.invariance, 2),
        (losses.variance, 1),
        (losses.covariance, 1),
        (losses.vicreg, 2),
        (losses.vcreg, 1),
        (losses.barlow_twins, 2),
        (losses.info_nce, 2),
        (losses.spectral_contrastive, 2),
    ],
)
def test_float32_input_gives_a_float32_scalar_close_to_float64(fn, n_inputs):
    inputs = _two_views(23, n=16, d=4)[:n_inputs]
    result = fn(*(z.float() for z in inputs))
    assert result.dtype == torch.float32
    assert result.shape == ()
    # float32 rounding of sums over n d = 64 entries: 1e-4 relative is ample.
    assert_close(result.double(), fn(*inputs), rtol=1e-4, atol=1e-6)


PAIR_LOSSES = [
    losses.invariance,
    losses.vicreg,
    losses.barlow_twins,
    losses.info_nce,
    losses.spectral_contrastive,
]
SINGLE_LOSSES = [losses.variance, losses.covariance, losses.vcreg]


@pytest.mark.parametrize("fn", PAIR_LOSSES)
def test_pair_losses_reject_bad_inputs(fn):
    z = _randn(8, 3, seed=24)
    with pytest.raises(TypeError, match="z_a: expected a floating-point tensor"):
        fn(z.long(), z)
    with pytest.raises(TypeError, match="z_b: expected a torch.Tensor"):
        fn(z, z.numpy())
    with pytest.raises(ValueError, match=r"z_a: expected shape \(n, d\) with n >= 2"):
        fn(z[:1], z[:1])
    with pytest.raises(ValueError, match=r"z_b: expected shape \(n, d\).*got \(8,\)"):
        fn(z, z[:, 0])
    with pytest.raises(ValueError, match=r"expected the same shape, got \(8, 3\)"):
        fn(z, z[:, :2])


@pytest.mark.parametrize("fn", SINGLE_LOSSES)
def test_single_batch_losses_reject_bad_inputs(fn):
    z = _randn(8, 3, seed=25)
    with pytest.raises(TypeError, match="z: expected a floating-point tensor"):
        fn(z.int())
    with pytest.raises(ValueError, match=r"z: expected shape \(n, d\).*got \(1, 3\)"):
        fn(z[:1])


@pytest.mark.parametrize(
    ("fn", "kwargs", "message"),
    [
        (losses.invariance, {"convention": "official"}, "convention: expected 'code'"),
        (losses.vicreg, {"convention": "Paper"}, "expected 'code' or 'paper', got"),
        (losses.vicreg_terms, {"convention": None}, "convention: expected"),
        (losses.info_nce, {"convention": "tf"}, "convention: expected"),
        (losses.info_nce, {"temperature": 0.0}, "temperature: expected a number > 0"),
        (losses.vicreg, {"gamma": 0.0}, "gamma: expected a number > 0"),
        (losses.vicreg, {"eps": -1e-4}, "eps: expected a number >= 0"),
        (losses.vicreg, {"inv_weight": -1.0}, "inv_weight: expected a number >= 0"),
        (losses.vicreg, {"var_weight": -1.0}, "var_weight: expected a number >= 0"),
        (losses.vicreg, {"cov_weight": -1.0}, "cov_weight: expected a number >= 0"),
        (losses.barlow_twins, {"lambd": -5e-3}, "lambd: expected a number >= 0"),
        (losses.barlow_twins, {"eps": -1.0}, "eps: expected a number >= 0"),
        (losses.spectral_contrastive, {"mu": 0.0}, "mu: expected a number > 0"),
    ],
)
def test_pair_losses_reject_bad_hyperparameters(fn, kwargs, message):
    z = _randn(8, 3, seed=26)
    with pytest.raises(ValueError, match=message):
        fn(z, z, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gamma": -1.0}, "gamma: expected a number > 0"),
        ({"eps": -1.0}, "eps: expected a number >= 0"),
        ({"var_weight": -25.0}, "var_weight: expected a number >= 0"),
        ({"cov_weight": -1.0}, "cov_weight: expected a number >= 0"),
    ],
)
def test_vcreg_rejects_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        losses.vcreg(_randn(8, 3, seed=27), **kwargs)


def test_hyperparameters_must_be_numbers():
    z = _randn(8, 3, seed=28)
    with pytest.raises(TypeError, match="temperature: expected a number, got str"):
        losses.info_nce(z, z, temperature="0.5")
    with pytest.raises(TypeError, match="gamma: expected a number, got Tensor"):
        losses.variance(z, gamma=torch.tensor(1.0))
