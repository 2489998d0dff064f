import math
from functools import partial

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.cross_decomposition import CCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from spectral_inputs import F64, _gen, _randn, _random_graph
from torch.testing import assert_close

from dltheory import losses, spectral


def _blobs(per_class, n_classes, dim, *, seed):
    g = _gen(seed)
    means = 3 * torch.randn(n_classes, dim, generator=g, dtype=F64)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    mix = torch.randn(dim, dim, generator=g, dtype=F64)  # anisotropic within-class
    x = means[y] + torch.randn(len(y), dim, generator=g, dtype=F64) @ mix
    return x, y


def _columns_equal_up_to_sign(a, b, **tol):
    signs = torch.sign((a * b).sum(dim=0))
    assert_close(a, b * signs, **tol)


# --- graphs and (S1) ---------------------------------------------------------------


def test_invariance_equals_the_laplacian_quadratic_form_s1():
    G = _random_graph(8, seed=0)
    Z = _randn(8, 3, seed=1)
    as_written = sum(
        G[i, j] * (Z[i] - Z[j]).pow(2).sum() for i in range(8) for j in range(8)
    )
    L = spectral.graph_laplacian(G)
    assert_close(as_written, 2 * torch.trace(Z.T @ L @ Z))


def test_laplacian_kills_constants_is_psd_and_equals_hlh():
    G = _random_graph(15, seed=2)
    L = spectral.graph_laplacian(G)
    H = torch.eye(15, dtype=F64) - 1 / 15
    assert_close(L @ torch.ones(15, dtype=F64), torch.zeros(15, dtype=F64))
    assert_close(H @ L @ H, L)
    assert torch.linalg.eigvalsh(L).min() > -1e-12  # PSD up to rounding
    assert_close(L.diagonal(), G.sum(dim=1))


def test_normalized_laplacian_and_degree_scale():
    G = _random_graph(10, seed=3)
    d = G.sum(dim=1)
    G_hat = G / torch.sqrt(d[:, None] * d[None, :])
    L_norm = spectral.graph_laplacian(G, normalized=True)
    assert_close(L_norm, torch.eye(10, dtype=F64) - G_hat)
    L_scaled = spectral.graph_laplacian(G, degree_scale=True)
    assert_close(L_scaled, (torch.diag(d) - G) / d.mean())


def test_augmentation_graph_blocks_and_zero_eigenvalues():
    n, views = 4, 3
    G = spectral.augmentation_graph(n, views)
    for a in range(n * views):
        for b in range(n * views):
            same = a // views == b // views and a != b
            assert G[a, b] == float(same)
    eigvals = torch.linalg.eigvalsh(spectral.graph_laplacian(G))
    assert int((eigvals.abs() < 1e-10).sum()) == n  # one per block
    assert eigvals[n] > 1  # the next one, views = 3, is well away from 0


def test_knn_graph_matches_brute_force_neighbours():
    x = _randn(30, 3, seed=4)
    k = 4
    d = np.linalg.norm(x.numpy()[:, None] - x.numpy()[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    A = np.zeros((30, 30))
    for i in range(30):
        A[i, np.argsort(d[i])[:k]] = 1
    directed = spectral.knn_graph(x, k, symmetric=False)
    assert_close(directed, torch.tensor(A))
    assert torch.equal(directed.sum(dim=1), torch.full((30,), float(k), dtype=F64))
    G = spectral.knn_graph(x, k)
    assert_close(G, torch.tensor(np.maximum(A, A.T)))
    assert torch.equal(G, G.T)
    assert G.sum(dim=1).min() >= k
    assert G.diagonal().abs().sum() == 0


def test_label_graph_all_pairs_and_random_partners():
    y = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    same = (y[:, None] == y[None, :]).to(F64) - torch.eye(10, dtype=F64)
    assert_close(spectral.label_graph(y), same)
    G = spectral.label_graph(y, partners=2, generator=_gen(0))
    assert torch.equal(G, G.T)
    assert G.diagonal().abs().sum() == 0
    assert (G[same == 0] == 0).all()  # only same-class pairs
    assert G.sum(dim=1).min() >= 2  # every sample has its 2 partners
    assert G.sum() <= 2 * 10 * 2  # at most N * partners undirected edges
    assert G.sum() < same.sum()  # a proper subset of the class 1 block
    again = spectral.label_graph(y, partners=2, generator=_gen(0))
    assert torch.equal(G, again)


def test_misaligned_graph_never_links_a_class_to_itself():
    y = torch.arange(5).repeat_interleave(6)  # 5 classes of 6
    G = spectral.misaligned_graph(y, partners=3, generator=_gen(1))
    i, j = G.nonzero().T
    assert len(i) > 0
    assert (y[i] != y[j]).all()
    assert torch.equal(G, G.T)
    assert G.sum(dim=1).min() >= 3
    # each sample's own draw comes from one class: with 2 classes it is the other
    y2 = torch.tensor([0, 0, 0, 1, 1, 1])
    G2 = spectral.misaligned_graph(y2, partners=3, generator=_gen(2))
    assert_close(G2, (y2[:, None] != y2[None, :]).to(F64))


# --- local side ---------------------------------------------------------------------


def test_laplacian_eigenmaps_equals_scipy_eigh_up_to_sign():
    G = spectral.knn_graph(_randn(40, 2, seed=5), 5)
    K = 4
    Z, eigvals = spectral.laplacian_eigenmaps(G, K)
    lam, U = scipy.linalg.eigh(spectral.graph_laplacian(G).numpy())
    assert lam[1] > 1e-8  # connected: one zero eigenvalue
    assert_close(eigvals, torch.tensor(lam[1 : K + 1]))
    _columns_equal_up_to_sign(Z / math.sqrt(40), torch.tensor(U[:, 1 : K + 1]))
    # (S2): centred, C(Z) = I, and the largest-|entry| of each column is > 0
    assert_close(Z.T @ Z / 40, torch.eye(K, dtype=F64))
    assert_close(Z.mean(dim=0), torch.zeros(K, dtype=F64))
    assert (Z[Z.abs().argmax(dim=0), torch.arange(K)] > 0).all()


def test_laplacian_eigenmaps_on_an_augmentation_graph_is_block_constant():
    n, views = 5, 3
    G = spectral.augmentation_graph(n, views)
    Z, eigvals = spectral.laplacian_eigenmaps(G, n - 1)
    assert_close(eigvals, torch.zeros(n - 1, dtype=F64))
    assert_close(Z.mean(dim=0), torch.zeros(n - 1, dtype=F64))
    # the optimum is the centred block-constant subspace, in some basis
    blocks = torch.eye(n, dtype=F64).repeat_interleave(views, dim=0)  # (15, 5)
    centred_blocks = blocks - blocks.mean(dim=0)
    cosines = spectral.principal_angles(Z, centred_blocks)
    assert_close(cosines, torch.ones(n - 1, dtype=F64))


def _s3_s4_value(lam, t, *, alpha, beta=1.0, mu=1.0, variant):
    # The loss in L's eigenbasis: alpha lambda t + beta (t - 1)^2, or the hinge.
    if variant == "frobenius":
        return (alpha * lam * t + beta * (t - 1) ** 2).sum()
    return (alpha * lam * t + mu * torch.relu(1 - t.sqrt())).sum()


@pytest.mark.parametrize(
    ("variant", "alpha", "beta"), [("frobenius", 3.0, 1.0), ("hinge", 0.7, 1.0)]
)
def test_vicreg_closed_form_is_the_loss_minimum(variant, alpha, beta):
    G = spectral.knn_graph(_randn(40, 2, seed=6), 5)
    K = 5
    Z, t = spectral.vicreg_closed_form(G, K, alpha=alpha, beta=beta, variant=variant)
    _, lam = spectral.laplacian_eigenmaps(G, K)
    if variant == "frobenius":
        expected_t = (1 - alpha * lam / (2 * beta)).clamp(min=0)
        assert (t == 0).any()  # some directions collapse
        assert (t > 0).any()
        assert_close(Z[:, t == 0], torch.zeros(40, int((t == 0).sum()), dtype=F64))
    else:
        expected_t = (1 / (2 * alpha * lam)).pow(2).clamp(max=1)
        assert (t < 1).any()
        assert (t > 0).all()
        # (S4) needs decorrelation: 4 nu (sqrt t_k + sqrt t_l) sqrt(t_k t_l) > mu
        r = t.sqrt()
        assert (4 * 25.0 * (r[:, None] + r) * r[:, None] * r).min() > 1
    assert_close(t, expected_t)
    centred = Z - Z.mean(dim=0)
    assert_close(centred.T @ centred / 40, torch.diag(t))
    loss = partial(
        spectral.vicreg_graph_loss, G=G, alpha=alpha, beta=beta, variant=variant
    )
    value = loss(Z)
    assert_close(value, _s3_s4_value(lam, t, alpha=alpha, beta=beta, variant=variant))
    g = _gen(7)
    for scale in (1e-3, 1e-2, 1e-1):
        for _ in range(10):
            noise = scale * torch.randn(40, K, generator=g, dtype=F64)
            assert loss(Z + noise) > value


def test_vicreg_closed_form_with_degree_scale_matches_the_scaled_loss():
    G = spectral.knn_graph(_randn(30, 2, seed=8), 6)
    Z, t = spectral.vicreg_closed_form(G, 4, alpha=0.5, degree_scale=True)
    _, lam = spectral.laplacian_eigenmaps(G, 4)
    assert_close(t, (1 - 0.5 * lam / G.sum(dim=1).mean() / 2).clamp(min=0))
    value = spectral.vicreg_graph_loss(
        Z, G, alpha=0.5, variant="frobenius", degree_scale=True
    )
    assert_close(
        value, _s3_s4_value(lam / G.sum(1).mean(), t, alpha=0.5, variant="frobenius")
    )


def test_vicreg_graph_loss_matches_the_formula_as_written():
    G = _random_graph(8, seed=9)
    Z = _randn(8, 3, seed=10)
    n = 8
    inv = sum(G[i, j] * (Z[i] - Z[j]).pow(2).sum() for i in range(n) for j in range(n))
    inv = inv / (2 * n)  # Tr(Z^T L Z) / N by (S1)
    z_bar = Z.mean(dim=0)
    C = sum(torch.outer(Z[i] - z_bar, Z[i] - z_bar) for i in range(n)) / n
    frob = sum((C[k, m] - float(k == m)) ** 2 for k in range(3) for m in range(3))
    hinge = sum(max(0.0, 1 - C[k, k].sqrt()) for k in range(3))
    cov = sum(C[k, m] ** 2 for k in range(3) for m in range(3) if k != m)
    got = spectral.vicreg_graph_loss(Z, G, alpha=0.3, beta=2.0, variant="frobenius")
    assert_close(got, 0.3 * inv + 2.0 * frob)
    got = spectral.vicreg_graph_loss(Z, G, alpha=0.3, mu=1.5, nu=4.0)
    assert_close(got, 0.3 * inv + 1.5 * hinge + 4.0 * cov)


def test_gradient_descent_on_a_free_z_lands_on_s3():
    G = spectral.knn_graph(_randn(40, 2, seed=11), 5)
    alpha = 2.0
    Z_star, t = spectral.vicreg_closed_form(G, 3, alpha=alpha)
    assert (t == 0).sum() == 1  # t = (0.62, 0.43, 0): one direction collapses
    loss = partial(spectral.vicreg_graph_loss, G=G, alpha=alpha, variant="frobenius")
    Z = spectral.fit_free_embedding(loss, 40, 3, steps=800, lr=5e-2, generator=_gen(0))
    learned = torch.linalg.eigvalsh(torch.cov(Z.T, correction=0)).flip(0)
    # measured max error 3e-6 after 800 Adam steps; Adam's jitter sets the floor
    assert_close(learned, t, rtol=0, atol=1e-4)
    cosines = spectral.principal_angles(Z - Z.mean(dim=0), Z_star[:, t > 0])
    assert cosines.min() > 0.999


# --- linear regime ----------------------------------------------------------------


def test_vicreg_linear_hard_constraints_solve_the_generalised_eigenproblem():
    x = _randn(60, 5, seed=12)
    G = spectral.knn_graph(x, 4)
    W, t = spectral.vicreg_linear_closed_form(x, G, 3)
    xc = x - x.mean(dim=0)
    Sigma = xc.T @ xc / 60
    M = x.T @ spectral.graph_laplacian(G) @ x / 60
    lam, V = scipy.linalg.eigh(M.numpy(), Sigma.numpy())  # V^T Sigma V = I
    assert_close(t, torch.ones(3, dtype=F64))
    assert_close(W.T @ Sigma @ W, torch.eye(3, dtype=F64))
    _columns_equal_up_to_sign(W, torch.tensor(V[:, :3]))
    assert_close(M @ W, Sigma @ W @ torch.diag(torch.tensor(lam[:3])))


def test_vicreg_linear_frobenius_is_the_loss_minimum():
    x = _randn(60, 5, seed=13)
    G = spectral.knn_graph(x, 4)
    alpha, beta = 0.5, 0.5  # generalised eigenvalues 1.05 ... 3.08: t_4 = 0
    W, t = spectral.vicreg_linear_closed_form(x, G, 4, alpha=alpha, beta=beta)
    xc = x - x.mean(dim=0)
    Sigma = xc.T @ xc / 60
    M = x.T @ spectral.graph_laplacian(G) @ x / 60
    lam = torch.tensor(scipy.linalg.eigh(M.numpy(), Sigma.numpy(), eigvals_only=True))
    assert_close(t, (1 - alpha * lam[:4] / (2 * beta)).clamp(min=0))
    assert (t == 0).any()
    assert (t > 0).any()
    assert_close(W.T @ Sigma @ W, torch.diag(t))

    def loss(w):  # the free loss at Z = X W
        return spectral.vicreg_graph_loss(
            x @ w, G, alpha=alpha, beta=beta, variant="frobenius"
        )

    value = loss(W)
    g = _gen(14)
    for scale in (1e-3, 1e-2, 1e-1):
        for _ in range(10):
            assert loss(W + scale * torch.randn(5, 4, generator=g, dtype=F64)) > value


def test_linear_vicreg_with_the_label_graph_is_lda():
    x, y = _blobs(30, 4, 6, seed=15)  # balanced: M is proportional to S_within
    W, _ = spectral.vicreg_linear_closed_form(x, spectral.label_graph(y), 3)
    lda = LinearDiscriminantAnalysis(solver="eigen").fit(x.numpy(), y.numpy())
    cosines = spectral.principal_angles(W, torch.tensor(lda.scalings_[:, :3]))
    assert cosines.min() > 0.999


def test_singular_covariance_raises_and_ridge_fixes_it():
    x = _randn(40, 4, seed=16)
    x = torch.cat([x, torch.zeros(40, 1, dtype=F64)], dim=1)  # a constant "pixel"
    G = spectral.knn_graph(x, 3)
    with pytest.raises(ValueError, match="non-singular covariance"):
        spectral.vicreg_linear_closed_form(x, G, 2)
    with pytest.raises(ValueError, match="non-singular covariance"):
        spectral.spectral_contrastive_linear_closed_form(x, G, 2)
    W, _ = spectral.vicreg_linear_closed_form(x, G, 2, ridge=1e-3)
    assert torch.isfinite(W).all()
    nearly = x.clone()
    nearly[0, 4] = 1e-5  # condition number about 1e12
    with pytest.warns(UserWarning, match="ill-conditioned"):
        spectral.vicreg_linear_closed_form(nearly, G, 2)


def test_spectral_contrastive_linear_closed_form_is_the_loss_minimum():
    x = _randn(50, 6, seed=17) + 0.5
    G = spectral.knn_graph(x, 4)
    K = 3
    W, mu = spectral.spectral_contrastive_linear_closed_form(x, G, K)
    A = x.T @ G @ x / G.sum()
    S = x.T @ x / 50

    def loss(w):
        return -2 * torch.trace(w.T @ A @ w) + torch.trace(
            (w.T @ S @ w) @ (w.T @ S @ w)
        )

    assert (mu[:-1] >= mu[1:]).all()
    assert_close(W.T @ S @ W, torch.diag(mu.clamp(min=0)))
    assert_close(loss(W), -mu.clamp(min=0).pow(2).sum())
    g = _gen(18)
    for scale in (1e-3, 1e-2, 1e-1):
        for _ in range(10):
            assert loss(W + scale * torch.randn(6, K, generator=g, dtype=F64)) > loss(W)


def test_barlow_twins_linear_whitens_and_diagonalises_the_cross_covariance():
    x = _randn(50, 6, seed=19)
    G = spectral.knn_graph(x, 4)
    W = spectral.barlow_twins_linear_closed_form(x, G, 4)
    xc = x - x.mean(dim=0)
    Sigma = xc.T @ xc / 50
    A = xc.T @ G @ xc / G.sum()
    rho = torch.tensor(
        scipy.linalg.eigh(A.numpy(), Sigma.numpy(), eigvals_only=True)[::-1].copy()
    )
    assert_close(W.T @ Sigma @ W, torch.eye(4, dtype=F64))
    assert_close(W.T @ A @ W, torch.diag(rho[:4]))


def test_cca_matches_scikit_learn_and_its_invariants():
    g = _gen(20)
    a = torch.randn(200, 4, generator=g, dtype=F64)
    b = a[:, :3] @ torch.randn(3, 5, generator=g, dtype=F64)
    b = b + torch.randn(200, 5, generator=g, dtype=F64)
    W_a, W_b, corr = spectral.cca(a, b, 3)
    ac, bc = a - a.mean(dim=0), b - b.mean(dim=0)
    assert_close(W_a.T @ ac.T @ ac @ W_a / 200, torch.eye(3, dtype=F64))
    assert_close(W_b.T @ bc.T @ bc @ W_b / 200, torch.eye(3, dtype=F64))
    assert_close(W_a.T @ ac.T @ bc @ W_b / 200, torch.diag(corr))
    ref = CCA(n_components=3, max_iter=5000, tol=1e-12).fit(a.numpy(), b.numpy())
    xs, ys = ref.transform(a.numpy(), b.numpy())
    ref_corr = [np.corrcoef(xs[:, k], ys[:, k])[0, 1] for k in range(3)]
    # NIPALS iterates to tol 1e-12 on the weights: 1e-6 on the correlations
    assert_close(corr, torch.tensor(ref_corr), rtol=0, atol=1e-6)


# --- global side ------------------------------------------------------------------


def test_simclr_graph_loss_is_nt_xent_for_one_positive():
    z_a, z_b = _randn(8, 3, seed=21), _randn(8, 3, seed=22)
    Z = torch.stack([z_a, z_b], dim=1).reshape(16, 3)  # row 2i + v: view v of i
    G = spectral.augmentation_graph(8, 2)
    got = spectral.simclr_graph_loss(Z, G, tau=0.3)
    assert_close(got, losses.info_nce(z_a, z_b, temperature=0.3, convention="paper"))


def test_simclr_graph_loss_matches_s6_as_written():
    G = _random_graph(7, seed=23)
    Z = _randn(7, 3, seed=24)
    u = Z / Z.norm(dim=1, keepdim=True)
    s = u @ u.T / 0.5
    total = 0.0
    for i in range(7):
        pos = sum(G[i, j] * torch.exp(s[i, j]) for j in range(7) if j != i)
        den = sum(torch.exp(s[i, k]) for k in range(7) if k != i)
        total = total - torch.log(pos / G[i].sum() / den)
    assert_close(spectral.simclr_graph_loss(Z, G, tau=0.5, form="book"), total / 7)


def test_simclr_graph_loss_matches_the_papers_cross_entropy_as_written():
    # -1/N sum_ij G_ij log G_hat(Z)_ij, G_hat row-softmax of cos / tau over k != i.
    G = _random_graph(7, seed=23)
    Z = _randn(7, 3, seed=24)
    u = Z / Z.norm(dim=1, keepdim=True)
    s = u @ u.T / 0.5
    total = 0.0
    for i in range(7):
        den = sum(torch.exp(s[i, k]) for k in range(7) if k != i)
        for j in range(7):
            if j != i:
                total = total - G[i, j] * torch.log(torch.exp(s[i, j]) / den)
    assert_close(spectral.simclr_graph_loss(Z, G, tau=0.5), total / 7)
    # Jensen: (S6), the paper's form, is never below the book's earlier variant
    # (form="book") on a 0/1 graph.
    binary = (G > 0).to(G)
    paper = spectral.simclr_graph_loss(Z, binary, tau=0.5)
    assert paper >= spectral.simclr_graph_loss(Z, binary, tau=0.5, form="book")


def test_spectral_contrastive_loss_is_frobenius_distance_to_normalised_affinity():
    G = _random_graph(12, seed=25)
    Z = _randn(12, 4, seed=26)
    d = G.sum(dim=1)
    G_hat = G / torch.sqrt(d[:, None] * d[None, :])
    expected = (G_hat - Z @ Z.T).pow(2).sum() - G_hat.pow(2).sum()
    assert_close(spectral.spectral_contrastive_loss(Z, G), expected)


def test_spectral_contrastive_loss_is_minimised_by_mds_of_g_hat():
    G = _random_graph(12, seed=27)
    G_hat = torch.eye(12, dtype=F64) - spectral.graph_laplacian(G, normalized=True)
    K = 3
    Z = spectral.classical_mds(gram=G_hat, K=K)
    top = torch.linalg.eigvalsh(G_hat).flip(0)[:K]
    value = spectral.spectral_contrastive_loss(Z, G)
    assert_close(value, -top.clamp(min=0).pow(2).sum())  # -sum of top mu^2
    g = _gen(28)
    for scale in (1e-3, 1e-2, 1e-1):
        noise = scale * torch.randn(12, K, generator=g, dtype=F64)
        assert spectral.spectral_contrastive_loss(Z + noise, G) > value


def test_classical_mds_recovers_pairwise_distances():
    y = _randn(20, 3, seed=29)
    d2 = torch.cdist(y, y).pow(2)
    Y = spectral.classical_mds(d2=d2, K=3)
    assert_close(torch.cdist(Y, Y).pow(2), d2)
    assert_close(Y.mean(dim=0), torch.zeros(3, dtype=F64))
    yc = y - y.mean(dim=0)
    from_gram = spectral.classical_mds(gram=yc @ yc.T, K=3)
    assert_close(from_gram, Y)


# --- comparing and fitting ----------------------------------------------------------


def test_principal_angles_known_answers():
    e = torch.eye(4, dtype=F64)
    a = e[:, :2]
    mixed = a @ torch.tensor([[2.0, 1.0], [-1.0, 3.0]], dtype=F64)  # same span
    assert_close(spectral.principal_angles(a, mixed), torch.ones(2, dtype=F64))
    assert_close(spectral.principal_angles(a, e[:, 2:]), torch.zeros(2, dtype=F64))
    diagonal = (e[:, :1] + e[:, 2:3]) / 2  # 45 degrees from e1, orthogonal to e2
    assert_close(
        spectral.principal_angles(a, diagonal),
        torch.tensor([math.cos(math.pi / 4)], dtype=F64),
    )
    both = torch.stack([e[:, 0] + e[:, 2], e[:, 1]], dim=1)
    assert_close(
        spectral.principal_angles(a, both),
        torch.tensor([1.0, math.cos(math.pi / 4)], dtype=F64),
    )
    collapsed = torch.cat([a[:, :1], torch.zeros(4, 1, dtype=F64)], dim=1)
    assert_close(
        spectral.principal_angles(a, collapsed), torch.tensor([1.0, 0.0], dtype=F64)
    )


def test_fit_free_embedding_starts_at_randn_and_is_reproducible():
    def loss(Z):
        return (Z - 1).pow(2).sum()

    Z0 = spectral.fit_free_embedding(loss, 5, 2, steps=0, generator=_gen(3))
    assert_close(Z0, torch.randn(5, 2, generator=_gen(3)).to(F64))
    Z1 = spectral.fit_free_embedding(loss, 5, 2, steps=500, lr=0.05, generator=_gen(3))
    Z2 = spectral.fit_free_embedding(loss, 5, 2, steps=500, lr=0.05, generator=_gen(3))
    assert torch.equal(Z1, Z2)
    assert not Z1.requires_grad
    assert_close(Z1, torch.ones(5, 2, dtype=F64), rtol=0, atol=1e-3)  # Adam's jitter


# --- gradients ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss",
    [
        partial(spectral.vicreg_graph_loss, alpha=0.7, variant="hinge"),
        partial(spectral.vicreg_graph_loss, alpha=0.7, variant="frobenius"),
        partial(spectral.simclr_graph_loss, tau=0.5),
        spectral.spectral_contrastive_loss,
    ],
    ids=["vicreg_hinge", "vicreg_frobenius", "simclr", "spectral_contrastive"],
)
def test_graph_loss_gradients_match_finite_differences(loss):
    G = _random_graph(8, seed=30)
    Z = _randn(8, 3, seed=31).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: loss(z, G), (Z,))


# --- errors -------------------------------------------------------------------------


def test_graph_errors():
    G = _random_graph(6, seed=32)
    asymmetric = G.clone()
    asymmetric[0, 1] += 1
    with pytest.raises(ValueError, match="G: expected a symmetric"):
        spectral.graph_laplacian(asymmetric)
    with pytest.raises(ValueError, match="G: expected non-negative"):
        spectral.graph_laplacian(-G)
    with pytest.raises(ValueError, match="G: expected a zero diagonal"):
        spectral.graph_laplacian(G + torch.eye(6, dtype=F64))
    with pytest.raises(ValueError, match=r"G: expected a square matrix"):
        spectral.graph_laplacian(G[:, :5])
    with pytest.raises(TypeError, match="G: expected a floating-point tensor"):
        spectral.graph_laplacian(G.long())
    with pytest.raises(ValueError, match="degree_scale: expected False"):
        spectral.graph_laplacian(G, normalized=True, degree_scale=True)
    with pytest.raises(ValueError, match=r"G: expected shape \(5, 5\)"):
        spectral.vicreg_graph_loss(_randn(5, 2, seed=0), G, alpha=1.0)


def test_argument_errors():
    G = _random_graph(6, seed=33)
    y = torch.tensor([0, 0, 1, 1, 1, 2])
    with pytest.raises(ValueError, match=r"K: expected an int <= 5"):
        spectral.laplacian_eigenmaps(G, 6)
    with pytest.raises(ValueError, match="variant: expected 'frobenius' or 'hinge'"):
        spectral.vicreg_closed_form(G, 2, alpha=1.0, variant="hard")
    with pytest.raises(ValueError, match="alpha: expected a number >= 0"):
        spectral.vicreg_closed_form(G, 2, alpha=-1.0)
    with pytest.raises(ValueError, match=r"partners: expected an int <= 0"):
        spectral.label_graph(y, partners=1)
    with pytest.raises(ValueError, match="y: expected at least 2 classes"):
        spectral.misaligned_graph(torch.zeros(4, dtype=torch.long), partners=1)
    with pytest.raises(TypeError, match="y: expected an integer tensor"):
        spectral.label_graph(y.double())
    with pytest.raises(ValueError, match=r"k: expected an int <= N - 1 = 5"):
        spectral.knn_graph(_randn(6, 2, seed=0), 6)
    with pytest.raises(ValueError, match="d2, gram: expected exactly one"):
        spectral.classical_mds(K=2)
    with pytest.raises(ValueError, match="d2, gram: expected exactly one"):
        spectral.classical_mds(d2=G, gram=G, K=2)
    with pytest.raises(ValueError, match="tau: expected a number > 0"):
        spectral.simclr_graph_loss(_randn(6, 2, seed=0), G, tau=0.0)
    isolated = G.clone()
    isolated[0], isolated[:, 0] = 0, 0
    with pytest.raises(ValueError, match="G: expected every sample to have a positive"):
        spectral.simclr_graph_loss(_randn(6, 2, seed=0), isolated, tau=0.5)
    with pytest.raises(ValueError, match=r"x and G: expected x of shape \(N, D\)"):
        spectral.vicreg_linear_closed_form(_randn(5, 2, seed=0), G, 1)
    with pytest.raises(ValueError, match="a and b: expected the same number of rows"):
        spectral.principal_angles(_randn(5, 2, seed=0), _randn(6, 2, seed=0))
    with pytest.raises(TypeError, match="loss_fn: expected a scalar tensor"):
        spectral.fit_free_embedding(lambda z: z.sum(dim=0), 4, 2, steps=1)
    with pytest.raises(ValueError, match="non-finite entries"):
        spectral.fit_free_embedding(lambda z: z.sum() * math.nan, 4, 2, steps=1)
