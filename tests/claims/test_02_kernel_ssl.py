"""Claims of chapter 02 (book/02_kernel_ssl), arXiv:2209.14884.

Claim 1 is shown in notebook 1 (the closed form against a trained head), claim 2 in
notebook 2 (what the induced kernel correlates), claims 3 and 4 in notebook 3 (the
downstream probe and the degeneracy of the augmentation-only graph). The losses and
closed forms (K3)-(K6) they check are the book's own formulation (the paper's loss
definitions and theorems were not available), consistent with the paper's abstract
and introduction. Each test uses its notebook's setting, at a reduced number of
views where the notebook's would be slow.
"""

import functools
import warnings
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
    return {
        "rel_err": _relative_error(f_new @ f_new.T, K_closed),
        "rel_err_span": _relative_error(f_span @ f_span.T, K_closed),
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
    # Claim 1 (target claim-02-1). Measured (torch 2.13, CPU, one thread), seeds 0 / 1:
    # relative Frobenius error trained vs (K4) on the 60 unseen digits 0.0181 / 0.0174
    # (seeds 2 / 3: 0.0167 / 0.0187); after subtracting W_0's part outside span Phi
    # 7.9e-9 / 3.7e-9; final loss 1.1e-14 / 2.1e-15 from ||A||_F^2 = 80. Thresholds:
    # rel_err < 0.05 (null: W = 0 gives 1.0, so this sits well inside half the gap),
    # in-span error < 1e-6, final loss < 1e-8. Broken closed forms fail: M = K^{-1}
    # gives rel_err 0.43, the RBF instead of the RFF kernel 0.43, ridge 0.1 0.21;
    # ridge 1e-3 passes rel_err (0.0182) but fails the in-span check (about 2e-3).
    # About 1-2 s per seed.
    r = _training_check(seed)
    assert r["initial_loss"] == pytest.approx(80.0, rel=1e-2), r
    assert r["final_loss"] < 1e-8, f"final loss {r['final_loss']:.2e}"
    assert r["rel_err"] < 0.05, f"trained vs closed form: rel. err. {r['rel_err']:.4f}"
    assert r["rel_err_span"] < 1e-6, (
        f"trained minus W0_perp vs closed form: rel. err. {r['rel_err_span']:.2e}"
    )


# --- notebook 2: augmented pairs against unrelated pairs ---------------------

N_POOL, N_VIEWS = 500, 3  # the notebook's small budget: N = 1500 training views


@functools.cache
def _digits():
    x_train, _, x_test, _ = data.digits(train_size=800, test_size=997, seed=0)
    return x_train.double(), x_test.double()


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

    def separation(f_a, f_b, kernel=None):
        return kernels.pair_separation(
            f_a, f_b, kernel=kernel, generator=torch.Generator().manual_seed(seed)
        )

    out = {"base": separation(a, b, partial(kernels.rbf_kernel, gamma=gamma))}
    for name, model in [
        ("contrastive", kernels.InducedKernel("contrastive", ridge=1.0, gamma=gamma)),
        (
            "non_contrastive",
            kernels.InducedKernel("non_contrastive", k=32, mu=1e-2, gamma=gamma),
        ),
    ]:
        f = model.fit(views, group_ids).transform(torch.cat([a, b]))  # (2m, k)
        out[name] = separation(f[:m], f[m:])
    return out


@pytest.mark.claim(
    chapter="02",
    k=2,
    statement="The induced kernel correlates augmented pairs and decorrelates the "
    "others, on held-out digits: both induced kernels separate positive from "
    "negative pairs far better than the base RBF kernel, with negatives near 0",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim2_induced_kernel_separates_pairs(seed):
    # Claim 2 (target claim-02-2). Digits 500 x 3 views, gamma = 1/(64 Var(views)),
    # 997 held-out test pairs. Measured (torch 2.13, CPU), seed 0 / seed 1:
    #   AUC base RBF 0.729 / 0.741, contrastive (lambda = 1) 0.930 / 0.932,
    #   non-contrastive (k = 32, mu = 1e-2) 0.992 / 0.993;
    #   mean negative score: base 0.313 / 0.308, non-contrastive 0.051 / 0.050.
    # Gaps over the base: non-contrastive +0.263 / +0.252 (margin 0.12), contrastive
    # +0.201 / +0.191 (margin 0.09); the non-contrastive negative mean stays below
    # 0.15 (base: 0.31). About 4 s per seed on one thread.
    res = _separations(seed)
    auc = {name: round(r["auc"], 3) for name, r in res.items()}
    neg = {name: round(r["neg"], 3) for name, r in res.items()}
    message = f"seed {seed}: AUC {auc}, mean negative {neg}"
    assert auc["non_contrastive"] >= auc["base"] + 0.12, message
    assert auc["contrastive"] >= auc["base"] + 0.09, message
    assert neg["non_contrastive"] < 0.15, message


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


def _non_contrastive_probe(seed, n_pool):
    x_train, y_train, x_test, y_test, views, group_ids, gamma = _setting(seed, n_pool)
    model = kernels.InducedKernel("non_contrastive", k=32, mu=1e-2, gamma=gamma)
    model.fit(views, group_ids)
    return _probe(model.transform(x_train), y_train, model.transform(x_test), y_test)


@pytest.mark.claim(
    chapter="02",
    k=3,
    statement="With all labels, a linear probe on the non-contrastive induced "
    "representation (k = 32) beats a kernel-PCA probe of the same dimension",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim3_induced_beats_kernel_pca_with_all_labels(seed):
    # Claim 3 (target claim-02-3), at 500 digits x 3 views (N = 1500), probes on the
    # 500 training digits. Measured (torch 2.13, 2-core CPU, one thread), seeds 0 / 1:
    # non-contrastive 0.975 / 0.984, kernel PCA 0.954 / 0.961, gaps 0.021 / 0.023
    # (seed 2: 0.976 vs 0.943). Margin 0.01, under half the smallest gap (0.0105);
    # threshold 0.95, under the smallest accuracy by 0.025. 1.7 s per seed (5.5 s on
    # a busy machine).
    # Notebook setting (800 x 3), seeds 0 / 1: 0.981 / 0.984 vs 0.956 / 0.962. The
    # 1-label regime, where kernel PCA is ahead, is deliberately not tested.
    x_train, y_train, x_test, y_test, views, group_ids, gamma = _setting(seed, 500)
    acc_nc = _non_contrastive_probe(seed, 500)
    K = kernels.rbf_kernel(views, views, gamma=gamma)  # (N, N)
    K_new = kernels.rbf_kernel(torch.cat([x_train, x_test]), views, gamma=gamma)
    _, scores = kernels.kernel_pca(K, 32, K_new=K_new)  # (500 + 997, 32)
    n = len(x_train)
    acc_kpca = _probe(scores[:n], y_train, scores[n:], y_test)
    message = f"non-contrastive {acc_nc:.3f}, kernel PCA {acc_kpca:.3f}"
    assert acc_nc >= 0.95, message
    assert acc_nc >= acc_kpca + 0.01, message


@pytest.mark.claim(
    chapter="02",
    k=4,
    statement="With an augmentation-only graph, L has one zero eigenvalue per source "
    "image, so the rank-k contrastive optimum is an arbitrary tie-break that probes "
    "poorly; the RKHS-norm term of the non-contrastive loss picks a good solution",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim4_augmentation_graph_is_degenerate(seed):
    # Claim 4 (target claim-02-4), at 300 digits x 3 views (N = 900), probes on the
    # 300 training digits. Measured, seeds 0 / 1: 300 / 300 eigenvalues of L below
    # 1e-9 (exactly the number of sources); linear probe of the rank-32 contrastive
    # tie-break (library: the first 32 sources) 0.537 / 0.543, of the regularised
    # non-contrastive (K6), k = 32, mu = 1e-2: 0.953 / 0.970; gaps 0.416 / 0.427.
    # Margin 0.2, under half the smallest gap (0.208). 0.5 s per seed (1.5 s busy).
    # Notebook setting (800 x 3), seeds 0 / 1: 800 zeros; 0.550 / 0.559 vs 0.981 /
    # 0.984; 20 other tie-breaks 0.51-0.62 / 0.49-0.62; mu = 0 by hand 0.560 / 0.532.
    # Replacing the regularised probe by the mu = 0 one (eigh's basis of ker L) makes
    # the test fail (0.546 / 0.580 against 0.537 / 0.543): checked.
    x_train, y_train, x_test, y_test, views, group_ids, gamma = _setting(seed, 300)
    n_sources = len(x_train)
    L = kernels.laplacian(kernels.augmentation_adjacency(group_ids))  # (N, N)
    n_zero = int((torch.linalg.eigvalsh(L) < 1e-9).sum())
    assert n_zero == n_sources, f"{n_zero} zero eigenvalues for {n_sources} sources"

    top_k = kernels.InducedKernel("contrastive", k=32, gamma=gamma)
    with pytest.warns(UserWarning, match="degenerate"):
        top_k.fit(views, group_ids)
    acc_top_k = _probe(
        top_k.transform(x_train), y_train, top_k.transform(x_test), y_test
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the regularised fit must not warn
        acc_nc = _non_contrastive_probe(seed, 300)
    message = (
        f"rank-32 contrastive tie-break {acc_top_k:.3f}, non-contrastive {acc_nc:.3f}"
    )
    assert acc_nc >= acc_top_k + 0.2, message
