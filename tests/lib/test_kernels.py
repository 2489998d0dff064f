"""kernels: base kernels, augmentation adjacency, kernel PCA, InducedKernel."""

import math

import pytest
import torch
from torch.testing import assert_close

from dltheory import kernels, spectral

F64 = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _views(n_src=6, views=3, d=4, *, seed=0, noise=0.1):
    g = _gen(seed)
    src = torch.randn(n_src, d, generator=g, dtype=F64)
    x = src.repeat_interleave(views, 0) + noise * torch.randn(
        n_src * views, d, generator=g, dtype=F64
    )
    ids = torch.arange(n_src).repeat_interleave(views)
    return x, ids


# --- base kernels ------------------------------------------------------------------


def test_rbf_matches_definition_and_median_heuristic():
    x = torch.randn(7, 3, generator=_gen(0), dtype=F64)
    y = torch.randn(5, 3, generator=_gen(1), dtype=F64)
    d2 = ((x[:, None] - y[None]) ** 2).sum(-1)
    assert_close(kernels.rbf_kernel(x, y, gamma=0.3), torch.exp(-0.3 * d2))
    dxx = ((x[:, None] - x[None]) ** 2).sum(-1)
    iu = torch.triu_indices(7, 7, 1)
    gamma = 1 / dxx[iu[0], iu[1]].median()
    assert_close(kernels.rbf_kernel(x, y), torch.exp(-gamma * d2))


def test_polynomial_matches_definition():
    x = torch.randn(4, 3, generator=_gen(0), dtype=torch.float32)
    y = torch.randn(6, 3, generator=_gen(1), dtype=torch.float32)
    out = kernels.polynomial_kernel(x, y, degree=3, c=0.5)
    assert out.dtype == F64
    assert_close(out, (x.double() @ y.double().T + 0.5) ** 3)


def test_rff_error_shrinks_with_features():
    x = torch.randn(30, 5, generator=_gen(0), dtype=F64)
    K = kernels.rbf_kernel(x, x, gamma=0.2)
    errs = []
    for D in (100, 10000):
        phi = kernels.random_fourier_features(x, D, gamma=0.2, generator=_gen(1))
        errs.append((phi @ phi.T - K).abs().max().item())
    # Error ~ D^{-1/2}: 100x more features, about 10x smaller; require 4x.
    assert errs[1] < errs[0] / 4, errs
    assert errs[1] < 0.05, errs


def test_rff_seeded_is_reproducible():
    x = torch.randn(3, 2, generator=_gen(0), dtype=F64)
    a = kernels.random_fourier_features(x, 8, gamma=1.0, generator=_gen(5))
    b = kernels.random_fourier_features(x, 8, gamma=1.0, generator=_gen(5))
    assert_close(a, b)


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda x: kernels.rbf_kernel(x.numpy(), x), TypeError, "x: expected"),
        (lambda x: kernels.rbf_kernel(x, x[:, :2]), ValueError, "same number"),
        (lambda x: kernels.rbf_kernel(x, x, gamma=0.0), ValueError, "gamma"),
        (lambda x: kernels.rbf_kernel(x, x, gamma="a"), TypeError, "gamma"),
        (lambda x: kernels.rbf_kernel(x.long(), x), TypeError, "floating"),
        (lambda x: kernels.median_heuristic(x[:1]), ValueError, "n >= 2"),
        (lambda x: kernels.median_heuristic(x * 0), ValueError, "distinct"),
        (lambda x: kernels.polynomial_kernel(x, x, degree=0), ValueError, "degree"),
        (lambda x: kernels.polynomial_kernel(x, x, degree=2.0), TypeError, "int"),
        (lambda x: kernels.polynomial_kernel(x, x, c=-1.0), ValueError, "c:"),
        (
            lambda x: kernels.random_fourier_features(x, 0, gamma=1.0),
            ValueError,
            "n_features",
        ),
        (
            lambda x: kernels.random_fourier_features(x, 4, gamma=1.0, generator=1),
            TypeError,
            "generator",
        ),
    ],
)
def test_base_kernel_errors(call, err, match):
    x = torch.randn(4, 3, generator=_gen(0), dtype=F64)
    with pytest.raises(err, match=match):
        call(x)


# --- graph and kernel PCA -------------------------------------------------------------


def test_adjacency_matches_spectral_graph_plus_identity():
    ids = torch.arange(4).repeat_interleave(3)
    A = kernels.augmentation_adjacency(ids)
    assert_close(A, spectral.augmentation_graph(4, 3) + torch.eye(12, dtype=F64))
    # Any order, unequal sizes.
    A2 = kernels.augmentation_adjacency(torch.tensor([2, 0, 2, 1, 0, 2]))
    assert A2[0, 2] == A2[0, 5] == A2[1, 4] == 1
    assert A2[0, 1] == 0
    assert A2.diagonal().eq(1).all()


def test_laplacian_zero_eigenvalues_count_sources():
    ids = torch.tensor([0, 1, 2, 3, 4] * 3)
    L = kernels.laplacian(kernels.augmentation_adjacency(ids))
    assert_close(L.sum(1), torch.zeros(15, dtype=F64))
    assert (torch.linalg.eigvalsh(L).abs() < 1e-9).sum().item() == 5


def test_kernel_pca_is_the_centred_eigendecomposition():
    # Independent restatement: eigh of H K H, scores U_k Lambda_k^{1/2}.
    x = torch.randn(40, 3, generator=_gen(0), dtype=F64)
    K = kernels.rbf_kernel(x, x, gamma=0.5)
    train, new = kernels.kernel_pca(K, 4, K_new=K[:7])
    H = torch.eye(40, dtype=F64) - 1 / 40
    lam, U = torch.linalg.eigh(H @ K @ H)
    ref = U[:, -4:].flip(1) * lam[-4:].flip(0).sqrt()  # (40, 4)
    signs = torch.sign((train * ref).sum(0))
    assert_close(train, ref * signs, rtol=1e-7, atol=1e-9)
    assert_close(new, train[:7])  # training points seen as new: same scores
    assert (train.gather(0, train.abs().argmax(0, keepdim=True)) > 0).all()
    assert kernels.kernel_pca(K, 4)[1] is None


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda: kernels.augmentation_adjacency(torch.zeros(3)), TypeError, "integer"),
        (
            lambda: kernels.augmentation_adjacency(torch.zeros(2, 2).long()),
            ValueError,
            "shape",
        ),
        (lambda: kernels.kernel_pca(torch.eye(3), 3), ValueError, "k:"),
        (
            lambda: kernels.kernel_pca(torch.eye(3), 1, K_new=torch.ones(2, 4)),
            ValueError,
            "K_new",
        ),
        (lambda: kernels.kernel_pca(torch.ones(3, 2), 1), ValueError, "square"),
        (
            lambda: kernels.kernel_pca(torch.triu(torch.ones(3, 3)), 1),
            ValueError,
            "sym",
        ),
        (lambda: kernels.laplacian(torch.eye(3).long()), TypeError, "floating"),
    ],
)
def test_graph_and_kpca_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()


# --- InducedKernel: contrastive (K4) --------------------------------------------


def test_contrastive_reproduces_adjacency_on_training_views():
    x, ids = _views()
    model = kernels.InducedKernel("contrastive", ridge=1e-12, gamma=0.5).fit(x, ids)
    A = kernels.augmentation_adjacency(ids)
    # k*_c(x_i, x_j) = A_ij at ridge 0 (K4); cond(K) ~ 1e3 loses ~3 digits.
    assert_close(model.kernel(x, x), A, rtol=0, atol=1e-8)
    assert_close(model.transform(x), model.embedding_, rtol=0, atol=1e-8)
    assert model.coef_.shape == (6, 18)


def test_contrastive_matches_explicit_formula_and_new_points():
    x, ids = _views(seed=1)
    x_new = torch.randn(5, 4, generator=_gen(9), dtype=F64)
    model = kernels.InducedKernel("contrastive", ridge=0.1, gamma=0.5).fit(x, ids)
    K = kernels.rbf_kernel(x, x, gamma=0.5)
    Kn = kernels.rbf_kernel(x, x_new, gamma=0.5)
    Kinv = torch.linalg.inv(K + 0.1 * torch.eye(18, dtype=F64))
    M = Kinv @ kernels.augmentation_adjacency(ids) @ Kinv
    assert_close(model.kernel(x_new, x_new), Kn.T @ M @ Kn)


def test_contrastive_low_rank_warns_on_ties():
    x, ids = _views()
    with pytest.warns(UserWarning, match="degenerate"):
        model = kernels.InducedKernel("contrastive", k=2, gamma=0.5).fit(x, ids)
    assert model.transform(x).shape == (18, 2)


def test_contrastive_closed_form_matches_lbfgs_on_rff_head():
    # Claim 1 in miniature: train W (k, D) on explicit RFF features with
    # ||Z^T Z - A||_F^2 (K3); W starts in span(Phi) so the min-norm optimum is hit.
    x, ids = _views(n_src=4, views=3, d=3, seed=2, noise=0.3)
    phi = kernels.random_fourier_features(x, 200, gamma=1.0, generator=_gen(3))
    model = kernels.InducedKernel(
        "contrastive", ridge=0.0, base_kernel=lambda a, b: a @ b.T
    ).fit(phi, ids)
    A = kernels.augmentation_adjacency(ids)
    W = (1e-2 * torch.randn(4, 12, generator=_gen(4), dtype=F64) @ phi).requires_grad_()
    opt = torch.optim.LBFGS(
        [W],
        max_iter=500,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        Z = W @ phi.T  # (k, N)
        loss = ((Z.T @ Z - A) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert closure().item() < 1e-12
    phi_new = kernels.random_fourier_features(
        torch.cat([x, torch.randn(6, 3, generator=_gen(5), dtype=F64)]),
        200,
        gamma=1.0,
        generator=_gen(3),
    )[12:]
    f = phi_new @ W.detach().T
    trained = f @ f.T
    closed = model.kernel(phi_new, phi_new)
    rel = (trained - closed).norm() / closed.norm()
    assert rel < 1e-5, rel.item()  # exact up to optimiser tolerance


# --- InducedKernel: non-contrastive (K6) ----------------------------------------


def _nc_objective(Zt, L, Kinv, mu):
    return torch.trace(Zt.T @ L @ Zt) + mu * torch.trace(Zt.T @ Kinv @ Zt)


def test_non_contrastive_whitened_and_optimal():
    x, ids = _views(seed=3)
    n, k, mu, ridge = 18, 3, 0.1, 1e-3
    model = kernels.InducedKernel(
        "non_contrastive", k=k, mu=mu, ridge=ridge, gamma=0.5
    ).fit(x, ids)
    Zt = model.embedding_
    assert_close(Zt.T @ Zt, n * torch.eye(k, dtype=F64))  # Z Z^T = N I (K5)
    L = kernels.laplacian(kernels.augmentation_adjacency(ids))
    K = kernels.rbf_kernel(x, x, gamma=0.5)
    Kinv = torch.linalg.inv(K + ridge * torch.eye(n, dtype=F64))
    best = _nc_objective(Zt, L, Kinv, mu)
    assert_close(best, n * model.eigvals_.sum())  # Ky Fan value
    g = _gen(7)
    for _ in range(20):
        Q, _ = torch.linalg.qr(Zt + 0.3 * torch.randn(n, k, generator=g, dtype=F64))
        other = _nc_objective(math.sqrt(n) * Q, L, Kinv, mu)  # feasible
        assert other > best + 1e-9


def test_non_contrastive_transform_reproduces_embedding():
    x, ids = _views(seed=4)
    model = kernels.InducedKernel(
        "non_contrastive", k=4, mu=0.1, ridge=1e-10, gamma=0.5
    ).fit(x, ids)
    assert_close(model.transform(x), model.embedding_, rtol=0, atol=1e-5)
    assert_close(model.kernel(x[:5], x), model.transform(x[:5]) @ model.transform(x).T)


# --- InducedKernel: contrastive with an RKHS penalty; the chapter's proposition ------


def _pc_objective(Zt, A, Kinv, eta):
    return ((Zt @ Zt.T - A) ** 2).sum() + eta * torch.trace(Zt.T @ Kinv @ Zt)


def test_penalised_contrastive_optimal():
    # (K3) + eta ||W||^2 = ||Z^T Z - (A - eta/2 K^-1)||^2 + const, minimised by
    # the top-k eigenpairs of B = A - eta/2 K^-1 (Eckart-Young): compare with
    # random perturbations of the optimum (any Z is feasible here).
    x, ids = _views(seed=5)
    n, k, eta, ridge = 18, 4, 0.2, 1e-3
    model = kernels.InducedKernel(
        "contrastive", k=k, penalty=eta, ridge=ridge, gamma=0.5
    ).fit(x, ids)
    A = kernels.augmentation_adjacency(ids)
    K = kernels.rbf_kernel(x, x, gamma=0.5)
    Kinv = torch.linalg.inv(K + ridge * torch.eye(n, dtype=F64))
    Zt = model.embedding_  # (N, k)
    best = _pc_objective(Zt, A, Kinv, eta)
    B = A - eta / 2 * Kinv
    beta = torch.linalg.eigvalsh(B).flip(0)
    # Eckart-Young value: ||B||_F^2 - sum of the top-k beta^2, plus the constant
    const = (A**2).sum() - (B**2).sum()
    assert_close(best, const + (B**2).sum() - (beta[:k] ** 2).sum())
    assert_close(model.eigvals_, beta[:k])
    g = _gen(8)
    for _ in range(20):
        other = _pc_objective(
            Zt + 0.05 * torch.randn(n, k, generator=g, dtype=F64), A, Kinv, eta
        )
        assert other > best + 1e-9
    assert_close(
        model.transform(x[:3]), kernels.rbf_kernel(x[:3], x, gamma=0.5) @ Kinv @ Zt
    )


@pytest.mark.parametrize("mu", [1e-2, 0.1])
def test_proposition_same_optimum_at_eta_two_mu(mu):
    # The chapter's proposition: with equal groups (L = V I - A) and the same RKHS
    # penalty, (K5) = const - tr(Z (A - mu K^-1) Z^T) under Z Z^T = N I, and
    # (K3) + eta ||W||^2 = ||Z^T Z - (A - eta/2 K^-1)||^2 + const, so the two
    # optima share their eigenvectors at eta = 2 mu: cosines 1 to 1e-12.
    x, ids = _views(n_src=8, views=3, seed=6)
    n, k, ridge = 24, 5, 1e-3
    nc = kernels.InducedKernel(
        "non_contrastive", k=k, mu=mu, ridge=ridge, gamma=0.5
    ).fit(x, ids)
    pc = kernels.InducedKernel(
        "contrastive", k=k, penalty=2 * mu, ridge=ridge, gamma=0.5
    ).fit(x, ids)
    u = nc.embedding_ / nc.embedding_.norm(dim=0)
    b = pc.embedding_ / pc.embedding_.norm(dim=0)
    cosines = (u * b).sum(0).abs()  # (k,)
    assert (1 - cosines).abs().max() < 1e-12, cosines
    assert_close(pc.eigvals_, 3 - nc.eigvals_)  # beta_j = V - nu_j
    # the two objectives, term by term, on a random feasible Z (Z Z^T = N I)
    A = kernels.augmentation_adjacency(ids)
    L = kernels.laplacian(A)
    K = kernels.rbf_kernel(x, x, gamma=0.5)
    Kinv = torch.linalg.inv(K + ridge * torch.eye(n, dtype=F64))
    Q, _ = torch.linalg.qr(torch.randn(n, k, generator=_gen(9), dtype=F64))
    Zt = math.sqrt(n) * Q
    assert_close(
        _nc_objective(Zt, L, Kinv, mu),
        3 * n * k - torch.trace(Zt.T @ (A - mu * Kinv) @ Zt),
    )
    B = A - mu * Kinv  # A - (eta / 2) K^-1 at eta = 2 mu
    assert_close(
        _pc_objective(Zt, A, Kinv, 2 * mu),
        ((Zt @ Zt.T - B) ** 2).sum() + (A**2).sum() - (B**2).sum(),
    )
    # negative control: at eta = mu (not 2 mu) the eigenvectors differ
    off = kernels.InducedKernel(
        "contrastive", k=k, penalty=mu, ridge=ridge, gamma=0.5
    ).fit(x, ids)
    b_off = off.embedding_ / off.embedding_.norm(dim=0)
    assert (1 - (u * b_off).sum(0).abs()).abs().max() > 1e-6


def test_penalised_contrastive_errors():
    x, ids = _views(seed=5)
    with pytest.raises(ValueError, match="k: expected an int >= 1 with penalty"):
        kernels.InducedKernel("contrastive", penalty=0.1)
    with pytest.raises(ValueError, match="penalty"):
        kernels.InducedKernel("contrastive", k=2, penalty=-1.0)
    with pytest.raises(ValueError, match="positive"):  # huge penalty: B < 0
        kernels.InducedKernel("contrastive", k=3, penalty=1e6, gamma=0.5).fit(x, ids)


@pytest.mark.parametrize(
    ("make", "err", "match"),
    [
        (lambda: kernels.InducedKernel("simclr"), ValueError, "loss: expected"),
        (lambda: kernels.InducedKernel("non_contrastive"), ValueError, "k:"),
        (lambda: kernels.InducedKernel(k=0), ValueError, "k:"),
        (lambda: kernels.InducedKernel(k=2.0), TypeError, "k:"),
        (lambda: kernels.InducedKernel(ridge=-1.0), ValueError, "ridge"),
        (lambda: kernels.InducedKernel(mu=0.0), ValueError, "mu"),
        (lambda: kernels.InducedKernel(base_kernel=3), TypeError, "base_kernel"),
    ],
)
def test_induced_kernel_constructor_errors(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_induced_kernel_fit_transform_errors():
    x, ids = _views()
    model = kernels.InducedKernel(gamma=0.5)
    with pytest.raises(ValueError, match="not fitted"):
        model.transform(x)
    with pytest.raises(ValueError, match="group_ids"):
        model.fit(x, ids[:-1])
    with pytest.raises(TypeError, match="group_ids"):
        model.fit(x, ids.double())
    with pytest.raises(ValueError, match="k: expected an int <= 6"):
        kernels.InducedKernel(k=7, gamma=0.5).fit(x, ids)
    model.fit(x, ids)
    with pytest.raises(ValueError, match=r"x: expected shape \(m, 4\)"):
        model.transform(x[:, :3])
    with pytest.raises(ValueError, match="singular"):
        kernels.InducedKernel(ridge=0.0, base_kernel=lambda a, b: a @ b.T).fit(x, ids)


# --- digit views, pair separation ------------------------------------------------


def test_digit_views_shapes_ids_and_range():
    x = torch.rand(5, 64, generator=_gen(0), dtype=F64)
    views, ids = kernels.digit_views(x, 3, generator=_gen(1))
    assert views.shape == (15, 64)
    assert ids.tolist() == [0, 1, 2, 3, 4] * 3
    assert views.min() >= 0
    assert views.max() <= 1
    same, _ = kernels.digit_views(x, 3, generator=_gen(1))
    assert_close(views, same)
    identity, _ = kernels.digit_views(
        x, 2, max_degrees=0.0, max_shift=0.0, noise=0.0, generator=_gen(1)
    )
    assert_close(identity, x.repeat(2, 1))
    with pytest.raises(ValueError, match="n_views"):
        kernels.digit_views(x, 0)


def test_pair_separation_known_answers():
    g = _gen(0)
    a = torch.randn(200, 8, generator=g, dtype=F64)
    # Identical views: every positive scores 1, above every negative: AUC 1.
    perfect = kernels.pair_separation(a, a, generator=_gen(1))
    assert perfect["pos"] == pytest.approx(1.0)
    assert perfect["auc"] == 1.0
    # Unrelated views: AUC near 1/2, both means near 0.
    b = torch.randn(200, 8, generator=g, dtype=F64)
    chance = kernels.pair_separation(a, b, generator=_gen(1))
    assert abs(chance["auc"] - 0.5) < 0.1
    assert abs(chance["pos"]) < 0.1
    assert abs(chance["neg"]) < 0.1
    # A kernel is normalised: the RBF scores are k(a, b) since k(x, x) = 1.
    rbf = kernels.pair_separation(
        a, a + 0.1 * b, kernel=lambda u, v: kernels.rbf_kernel(u, v, gamma=0.1)
    )
    pos = kernels.rbf_kernel(a, a + 0.1 * b, gamma=0.1).diagonal().mean()
    assert rbf["pos"] == pytest.approx(pos.item())
    # Scale invariance of the cosine score.
    scaled = kernels.pair_separation(3 * a, a + b, generator=_gen(1))
    assert scaled == pytest.approx(kernels.pair_separation(a, a + b, generator=_gen(1)))


def test_pair_scores_are_the_pairs_behind_pair_separation():
    g = _gen(0)
    a = torch.nn.functional.normalize(torch.randn(30, 4, generator=g, dtype=F64), dim=1)
    b = torch.nn.functional.normalize(torch.randn(30, 4, generator=g, dtype=F64), dim=1)
    pos, neg = kernels.pair_scores(a, b, generator=_gen(1))
    assert_close(pos, (a * b).sum(1))
    summary = kernels.pair_separation(a, b, generator=_gen(1))
    assert summary["pos"] == pytest.approx(pos.mean().item())
    assert summary["neg"] == pytest.approx(neg.mean().item())
    perm = torch.randperm(30, generator=_gen(1))
    fixed = (perm == torch.arange(30)).sum().item()
    assert neg.shape == (30 - fixed,)  # fixed points of the permutation dropped
    kept = perm != torch.arange(30)
    assert_close(neg, (a[kept] * b[perm[kept]]).sum(1))


def test_pair_separation_errors():
    a = torch.randn(5, 3, dtype=F64)
    with pytest.raises(ValueError, match="same shape"):
        kernels.pair_separation(a, a[:4])
    with pytest.raises(TypeError, match="callable"):
        kernels.pair_separation(a, a, kernel=3)
    with pytest.raises(ValueError, match="shape"):
        kernels.pair_separation(a[:1], a[:1])


# --- explicit-feature encoder ------------------------------------------------------


def test_contrastive_kernel_loss_gradient_is_the_derived_one():
    # dL/dW = 4 W Phi^T (Z^T Z - A) Phi for Z = W Phi^T (the chapter's exercise).
    x, ids = _views(n_src=3, views=2, d=3)
    phi = kernels.random_fourier_features(x, 20, gamma=1.0, generator=_gen(1))
    A = kernels.augmentation_adjacency(ids)
    W = torch.randn(3, 20, generator=_gen(2), dtype=F64, requires_grad=True)
    torch.autograd.gradcheck(
        lambda w: kernels.contrastive_kernel_loss(phi @ w.T, A), (W,)
    )
    kernels.contrastive_kernel_loss(phi @ W.T, A).backward()
    Z = W.detach() @ phi.T  # (k, N)
    assert_close(W.grad, 4 * Z @ (Z.T @ Z - A) @ phi)
    with pytest.raises(ValueError, match="A:"):
        kernels.contrastive_kernel_loss(phi @ W.T, A[:3, :3])


def test_explicit_encoder_training_matches_closed_form_and_zero_is_a_saddle():
    x, ids = _views(n_src=4, views=2, d=3, seed=1, noise=0.3)
    x_new = torch.randn(5, 3, generator=_gen(9), dtype=F64)
    phi_all = kernels.random_fourier_features(
        torch.cat([x, x_new]), 300, gamma=1.0, generator=_gen(3)
    )
    phi, phi_new = phi_all[:8], phi_all[8:]
    encoder = kernels.ExplicitKernelEncoder(300, 4, init_scale=1e-3, generator=_gen(4))
    history = kernels.fit_explicit_encoder(encoder, phi, ids)
    assert history[-1] < 1e-10 < history[0]
    closed = kernels.InducedKernel(
        "contrastive", ridge=0.0, base_kernel=lambda a, b: a @ b.T
    ).fit(phi, ids)
    f = encoder(phi_new).detach()
    rel = ((f @ f.T - closed.kernel(phi_new, phi_new)).norm() / f.norm() ** 2).item()
    assert rel < 0.05, rel  # the initial W outside span(Phi) is never trained away
    zero = kernels.ExplicitKernelEncoder(300, 4, init_scale=0.0)
    stuck = kernels.fit_explicit_encoder(zero, phi, ids, max_iter=20)
    assert stuck[-1] == pytest.approx(8.0 * 2)  # ||A||_F^2: 4 blocks of 2 x 2 ones
    assert zero.weight.abs().max().item() == 0.0


def test_explicit_encoder_errors():
    with pytest.raises(ValueError, match="init_scale"):
        kernels.ExplicitKernelEncoder(4, 2, init_scale=-1.0)
    encoder = kernels.ExplicitKernelEncoder(4, 2)
    with pytest.raises(ValueError, match="phi"):
        encoder(torch.zeros(3, 5, dtype=F64))
    with pytest.raises(TypeError, match="ExplicitKernelEncoder"):
        kernels.fit_explicit_encoder(torch.nn.Linear(4, 2), torch.zeros(3, 4), None)
