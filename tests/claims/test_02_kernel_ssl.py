"""Claims of chapter 02 (book/02_kernel_ssl), arXiv:2209.14884.

Claim 1 is shown in notebook 1 (the closed form against a trained head), claim 2 in
notebook 2 (what the induced kernel correlates), claims 3 and 4 in notebook 3 (the
downstream probe and the degeneracy of the augmentation-only graph). The losses and
closed forms (K3)-(K6) they check are the book's own formulation (the paper's loss
definitions and theorems were not available), consistent with the paper's abstract
and introduction. Each test uses its notebook's setting, at a reduced pool (300
digits x 3 views; 500 for claim 3) where the notebook's would be slow, and runs
the same assertion on a negative control where the claim is false (shuffled group
ids, A = I, the unregularised optimum, the wrong formula), which must fail it.

Margins were chosen from seeds 0-4 (torch 2.13, one thread of the 2-core CPU,
December 2026); the per-seed values are in the comments.
"""

import functools
import math
from functools import partial

import pytest
import torch

from dltheory import data, kernels, probes, runtime

# --- notebook 1: the closed form against a trained head ------------------------

# The notebook's small-budget setting: 20 training digits x 2 views (digit_views
# defaults), 60 unseen test digits, RFF with D = 4000 and gamma = 3 / (64 Var(views)),
# W_0 ~ 1e-3 N(0, 1), k = 20 outputs (= rank A), L-BFGS (fit_explicit_encoder,
# max_iter 500). The generator draws in the notebook's order: views, RFF, W_0.
N_SOURCES, N_NEW, N_FEATURES, INIT_SCALE = 20, 60, 4000, 1e-3


def _relative_error(approx, exact):
    return (torch.linalg.norm(approx - exact) / torch.linalg.norm(exact)).item()


def _training_check(seed):
    gen = runtime.seed_everything(seed)
    split = data.digits(train_size=800, test_size=997, seed=0)
    views, ids = kernels.digit_views(
        split.x_train[:N_SOURCES].double(), 2, generator=gen
    )  # (N, 64), (N,)
    x_new = split.x_test[:N_NEW].double()  # (m, 64)
    gamma = 3 / (64 * views.var().item())
    phi = kernels.random_fourier_features(
        torch.cat([views, x_new]), N_FEATURES, gamma=gamma, generator=gen
    )
    phi_views, phi_new = phi[: len(views)], phi[len(views) :]  # (N, D), (m, D)
    encoder = kernels.ExplicitKernelEncoder(
        N_FEATURES, N_SOURCES, init_scale=INIT_SCALE, generator=gen
    )
    w0 = encoder.weight.detach().clone()  # (k, D)
    history = kernels.fit_explicit_encoder(encoder, phi_views, ids)
    closed = kernels.InducedKernel(
        "contrastive", ridge=0.0, base_kernel=lambda a, b: a @ b.T
    ).fit(phi_views, ids)
    K_closed = closed.kernel(phi_new, phi_new)  # (m, m), (K4)
    w = encoder.weight.detach()
    basis, _ = torch.linalg.qr(phi_views.T)  # (D, N) orthonormal basis of span Phi
    w0_perp = w0 - (w0 @ basis) @ basis.T  # the part training cannot move
    f_new = phi_new @ w.T  # (m, k)
    f_span = phi_new @ (w - w0_perp).T  # (m, k)
    # Negative controls: the wrong formula (A = I, M = K^-1) and the untrained head.
    wrong = kernels.InducedKernel(
        "contrastive", ridge=0.0, base_kernel=lambda a, b: a @ b.T
    ).fit(phi_views, torch.arange(len(ids)))
    f_w0 = phi_new @ w0.T  # (m, k)
    return {
        "rel_err": _relative_error(f_new @ f_new.T, K_closed),
        "rel_err_span": _relative_error(f_span @ f_span.T, K_closed),
        "rel_err_wrong_formula": _relative_error(
            f_new @ f_new.T, wrong.kernel(phi_new, phi_new)
        ),
        "rel_err_untrained": _relative_error(f_w0 @ f_w0.T, K_closed),
        "initial_loss": history[0],
        "final_loss": history[-1],
    }


@pytest.mark.claim(
    chapter="02",
    k=1,
    statement="The closed form (K4) of the contrastive loss is what a linear head on "
    "explicit kernel features finds by training",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim1_closed_form_matches_trained_head(seed):
    # Claim 1 (target claim-02-1). Measured (torch 2.13, CPU, one thread), seeds 0-4:
    # relative Frobenius error trained vs (K4) on the 60 unseen digits 0.0181 /
    # 0.0174 / 0.0167 / 0.0187 / 0.0153; after subtracting W_0's part outside span Phi
    # 7.9e-9 / 3.7e-9 / 5.3e-9 / 5.8e-9 / 6.3e-9; final loss 1e-14 or less from
    # ||A||_F^2 = 80. Thresholds: rel_err < 0.05, in-span error < 1e-6, final loss
    # < 1e-8. Negative controls (asserted to fail the rel_err < 0.05 check): the wrong
    # closed form M = K^-1 (A = I) 0.465 / 0.576 / 0.397 / 0.519 / 0.691, the
    # untrained head W_0 1.00 on every seed. Also checked by hand: the RBF instead of
    # the RFF kernel gives 0.43, ridge 0.1 0.21; ridge 1e-3 passes rel_err (0.0182)
    # but fails the in-span check (about 2e-3). About 1-2 s per seed.
    r = _training_check(seed)
    assert r["initial_loss"] == pytest.approx(80.0, rel=1e-2), r
    assert r["final_loss"] < 1e-8, f"final loss {r['final_loss']:.2e}"
    assert r["rel_err"] < 0.05, f"trained vs closed form: rel. err. {r['rel_err']:.4f}"
    # Negative controls: the same assertion fails for the wrong closed form (A = I,
    # M = K^-1) and for the untrained head W_0.
    assert not r["rel_err_wrong_formula"] < 0.05, r
    assert not r["rel_err_untrained"] < 0.05, r
    assert r["rel_err_span"] < 1e-6, (
        f"trained minus W0_perp vs closed form: rel. err. {r['rel_err_span']:.2e}"
    )


# --- notebook 2: augmented pairs against unrelated pairs ---------------------

N_POOL, N_VIEWS = 300, 3  # N = 900 training views (the notebook: 500 x 3)
MU, K_OUT = 1e-2, 32  # the chapter's RKHS weight and output dimension


@functools.cache
def _digits():
    x_train, _, x_test, _ = data.digits(train_size=800, test_size=997, seed=0)
    return x_train.double(), x_test.double()


def _shuffled(group_ids, seed):
    # Negative control: the same group sizes, views assigned to groups at random.
    perm = torch.randperm(len(group_ids), generator=torch.Generator().manual_seed(seed))
    return group_ids[perm]


def _separations(seed):
    # The notebook's digits_setting and separation(): the seed draws the pool views,
    # then two fresh views a, b of each test digit, then the negatives' permutation.
    x_train, x_test = _digits()
    g = torch.Generator().manual_seed(seed)
    views, group_ids = kernels.digit_views(x_train[:N_POOL], N_VIEWS, generator=g)
    a, _ = kernels.digit_views(x_test, 1, generator=g)
    b, _ = kernels.digit_views(x_test, 1, generator=g)
    gamma = 1.0 / (64 * views.var().item())
    m = len(a)

    def separation(model, ids=group_ids):
        f = model.fit(views, ids).transform(torch.cat([a, b]))  # (2m, k)
        return kernels.pair_separation(
            f[:m], f[m:], generator=torch.Generator().manual_seed(seed)
        )

    base = kernels.pair_separation(
        a,
        b,
        kernel=partial(kernels.rbf_kernel, gamma=gamma),
        generator=torch.Generator().manual_seed(seed),
    )
    nc = partial(kernels.InducedKernel, "non_contrastive", k=K_OUT, mu=MU, gamma=gamma)
    return {
        "base": base,
        "K4": separation(kernels.InducedKernel("contrastive", ridge=0.0, gamma=gamma)),
        "penalised": separation(
            kernels.InducedKernel("contrastive", k=K_OUT, penalty=2 * MU, gamma=gamma)
        ),
        "non_contrastive": separation(nc()),
        "shuffled": separation(nc(), _shuffled(group_ids, 100 + seed)),
    }


@pytest.mark.claim(
    chapter="02",
    k=2,
    statement="The induced kernel correlates augmented pairs and decorrelates the "
    "others, on held-out digits: (K4) separates positive from negative pairs better "
    "than the base RBF kernel, and with the RKHS penalty (contrastive or not, the "
    "same optimum) far better",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim2_induced_kernel_separates_pairs(seed):
    # Claim 2 (target claim-02-2). Digits, pool 300 x 3 views, gamma = 1/(64 Var),
    # 997 held-out test pairs, pair AUC of the cosine score. Measured seeds 0-4:
    #   base RBF               0.7441 / 0.7348 / 0.7402 / 0.7245 / 0.7303
    #   (K4), ridge 0          0.8504 / 0.8405 / 0.8541 / 0.8260 / 0.8418
    #   (K6), k = 32, mu 1e-2  0.9826 / 0.9861 / 0.9850 / 0.9784 / 0.9818
    #   penalised contrastive (k = 32, eta = 2 mu): equal to (K6) within 1e-4
    #   (K6) on shuffled ids   0.6669 / 0.6323 / 0.6481 / 0.6449 / 0.6355
    # Gaps over the base: (K4) +0.106 / +0.106 / +0.114 / +0.102 / +0.112 (margin
    # 0.05), (K6) +0.239 / +0.251 / +0.245 / +0.254 / +0.252 (margin 0.12); the
    # shuffled control is 0.08-0.10 *below* the base. The old assertion "mean
    # negative score < 0.15" could not fail: the shuffled control scores 0.036-0.048,
    # (K6) with A = I 0.023-0.044. At 500 x 3 (the notebook) seeds 0 / 1: base
    # 0.729 / 0.741, (K4) 0.836 / 0.828, (K6) 0.992 / 0.993. About 3 s per seed.
    res = _separations(seed)
    auc = {name: round(r["auc"], 4) for name, r in res.items()}
    message = f"seed {seed}: AUC {auc}"

    def separates(name, margin):
        return auc[name] >= auc["base"] + margin

    assert separates("K4", 0.05), message
    assert separates("non_contrastive", 0.12), message
    assert separates("penalised", 0.12), message
    # The proposition: with the same penalty (eta = 2 mu) the contrastive optimum
    # spans the non-contrastive one, so their AUCs agree (measured |diff| <= 3e-4).
    assert abs(auc["penalised"] - auc["non_contrastive"]) < 0.005, message
    # Negative control: the same fit with the group ids shuffled (A links views of
    # unrelated digits) must fail the assertion that the real graph passes.
    assert not separates("shuffled", 0.12), message
    assert not separates("shuffled", 0.05), message


# --- notebook 3: downstream probes and the degenerate graph -----------------

SEEDS = [0, 1]


@functools.cache
def _setting(seed, n_pool):
    x_train, y_train, x_test, y_test = data.digits(
        train_size=n_pool, test_size=997, seed=seed
    )
    views, group_ids = kernels.digit_views(
        x_train, N_VIEWS, generator=torch.Generator().manual_seed(seed)
    )  # (3 n, 64), (3 n,)
    gamma = 1 / (64 * views.double().var().item())
    return x_train, y_train, x_test, y_test, views, group_ids, gamma


def _probe(f_train, y_train, f_test, y_test):
    return probes.linear_probe(f_train, y_train, f_test, y_test, c=10, solver="sklearn")


def _fit_probe(seed, n_pool, model, group_ids=None):
    x_train, y_train, x_test, y_test, views, ids, _ = _setting(seed, n_pool)
    model.fit(views, ids if group_ids is None else group_ids)
    return _probe(model.transform(x_train), y_train, model.transform(x_test), y_test)


N_POOL_PROBE = 500  # claim 3: at 300 x 3 the gap over kernel PCA is 0.010 (seed 2)


@pytest.mark.claim(
    chapter="02",
    k=3,
    statement="With all labels, a linear probe on the regularised induced "
    "representation (k = 32; non-contrastive, the same probe as the penalised "
    "contrastive) beats a kernel-PCA probe of the same dimension",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim3_induced_beats_kernel_pca_with_all_labels(seed):
    # Claim 3 (target claim-02-3), pool 500 digits x 3 views (N = 1500), probes on
    # the 500 training digits, 997 test digits. Measured seeds 0-4 (torch 2.13, one
    # thread): non-contrastive (K6) 0.9749 / 0.9840 / 0.9759 / 0.9709 / 0.9759,
    # kernel PCA 0.9539 / 0.9609 / 0.9428 / 0.9408 / 0.9418, gaps 0.021 / 0.023 /
    # 0.033 / 0.030 / 0.034: margin 0.01, under half the smallest gap. The penalised
    # contrastive (eta = 2 mu) probes the same to 4 digits on every seed (the
    # proposition; tests/lib/test_kernels.py), so it is not refitted here.
    # Negative control, A = I (L = 0: (K6) becomes whitened, uncentred kernel PCA):
    # 0.9488 / 0.9559 / 0.9358 / 0.9428 / 0.9358, i.e. kernel PCA -0.005 / -0.005 /
    # -0.007 / +0.002 / -0.006, below the margin on every seed. (Shuffled group ids
    # probe 0.70 / 0.67 / 0.72 / 0.64 / 0.66.)
    x_train, y_train, x_test, y_test, views, group_ids, gamma = _setting(
        seed, N_POOL_PROBE
    )
    nc = partial(kernels.InducedKernel, "non_contrastive", k=K_OUT, mu=MU, gamma=gamma)
    acc = {"non_contrastive": _fit_probe(seed, N_POOL_PROBE, nc())}
    K = kernels.rbf_kernel(views, views, gamma=gamma)  # (N, N)
    K_new = kernels.rbf_kernel(torch.cat([x_train, x_test]), views, gamma=gamma)
    _, scores = kernels.kernel_pca(K, K_OUT, K_new=K_new)  # (500 + 997, 32)
    n = len(x_train)
    acc["kpca"] = _probe(scores[:n], y_train, scores[n:], y_test)
    # Negative control: A = I (every view its own group) removes the graph.
    acc["A = I"] = _fit_probe(seed, N_POOL_PROBE, nc(), torch.arange(len(group_ids)))
    message = f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in acc.items())

    def beats_kpca(name):
        return acc[name] >= acc["kpca"] + 0.01

    assert beats_kpca("non_contrastive"), message
    assert not beats_kpca("A = I"), message  # the negative control fails


@pytest.mark.claim(
    chapter="02",
    k=4,
    statement="With an augmentation-only graph the unregularised losses have a "
    "continuum of optima: arbitrary tie-breaks probe poorly, and the RKHS-norm term "
    "(in either loss) selects the smoothest one, which probes well",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim4_augmentation_graph_is_degenerate(seed):
    # Claim 4 (target claim-02-4), pool 300 digits x 3 views (N = 900), probes on
    # the 300 training digits. Measured seeds 0-4 (torch 2.13, one thread):
    #   regularised (K6), mu = 1e-2: 0.9529 / 0.9699 / 0.9649 / 0.9609 / 0.9579
    #   (the penalised contrastive, eta = 2 mu, the same to 4 digits);
    #   best of the 4 tie-breaks below: 0.662 / 0.677 / 0.617 / 0.619 / 0.646
    #   (the library's first 32 sources 0.537 / 0.543 / 0.586 / 0.470 / 0.485);
    #   gaps 0.291 / 0.293 / 0.348 / 0.342 / 0.312: margin 0.14, about half the
    #   smallest. Negative control, (K5) at mu = 0 (eigh's basis of ker L):
    #   0.563 / 0.556 / 0.549 / 0.549 / 0.525, below the best tie-break.
    #   Not every optimum is poor: the smoothest one (R = bottom eigenvectors of
    #   E^T K^-1 E) probes 0.953 / 0.971 / 0.967 / 0.961 / 0.956, like (K6), which
    #   is the optimum the RKHS term selects (notebook 3).
    x_train, y_train, x_test, y_test, views, group_ids, gamma = _setting(seed, N_POOL)
    full = kernels.InducedKernel("contrastive", gamma=gamma).fit(views, group_ids)
    F_train, F_test = full.transform(x_train), full.transform(x_test)  # (n, 300)
    # Rank-32 optima of (K3): F(x) R for any R (300, 32) with orthonormal columns
    # (notebook 3, ex-02-3-3); the library's tie-break is R = the first 32 columns.
    g = torch.Generator().manual_seed(10 + seed)
    tie_breaks = [_probe(F_train[:, :K_OUT], y_train, F_test[:, :K_OUT], y_test)]
    for _ in range(3):
        R = torch.linalg.qr(
            torch.randn(N_POOL, K_OUT, generator=g, dtype=F_train.dtype)
        )
        tie_breaks.append(_probe(F_train @ R[0], y_train, F_test @ R[0], y_test))
    # (K5) with mu = 0: an orthonormal basis of ker L (eigh's), extended by (K1)
    # with the library's ridge, f(x) = Z0 (K + 1e-3 I)^-1 k_x.
    L = kernels.laplacian(kernels.augmentation_adjacency(group_ids))  # (N, N)
    Z0t = math.sqrt(len(views)) * torch.linalg.eigh(L)[1][:, :K_OUT]  # (N, 32)
    K = kernels.rbf_kernel(views, views, gamma=gamma)  # (N, N)
    coef = torch.linalg.solve(K + 1e-3 * torch.eye(len(K), dtype=K.dtype), Z0t)

    def mu0(x):  # (n, 64) -> (n, 32)
        return kernels.rbf_kernel(x, views, gamma=gamma) @ coef

    acc = {
        "non_contrastive": _fit_probe(
            seed,
            N_POOL,
            kernels.InducedKernel("non_contrastive", k=K_OUT, mu=MU, gamma=gamma),
        ),
        "penalised": _fit_probe(
            seed,
            N_POOL,
            kernels.InducedKernel("contrastive", k=K_OUT, penalty=2 * MU, gamma=gamma),
        ),
    }
    acc["mu = 0"] = _probe(mu0(x_train), y_train, mu0(x_test), y_test)
    best_tie = max(tie_breaks)
    message = (
        f"seed {seed}: tie-breaks {[round(t, 4) for t in tie_breaks]}, "
        + ", ".join(f"{k} {v:.4f}" for k, v in acc.items())
    )

    def picks_better(name):
        return acc[name] >= best_tie + 0.14

    assert picks_better("non_contrastive"), message
    assert picks_better("penalised"), message
    # Negative control: the non-contrastive loss without its RKHS term (mu = 0,
    # eigh's arbitrary basis of ker L) is one more tie-break and fails.
    assert not picks_better("mu = 0"), message
