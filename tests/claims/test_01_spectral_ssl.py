"""Claims of chapter 01 (book/01_spectral_ssl), arXiv:2205.11508.

Claims 1, 2 and 7 are shown in notebook 1 (VICReg is Laplacian Eigenmaps), 4, 5 and 6
in notebook 2 (the linear regime and the relation graph), 3 in notebook 3 (contrastive
is global). The closed forms they check are the book's own derivations (the paper's
theorems were not available), consistent with the paper's abstract.
"""

import functools
from functools import partial

import pytest
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from dltheory import data, spectral

# --- notebook 1 ------------------------------------------------------------

# The notebook's small-budget setting: swiss roll, N = 300, noise 0.05, symmetrised
# 10-NN graph, K = 6; free Z fitted by Adam, lr 0.1, 2000 steps (the brief's 4000
# steps at lr 1e-2 leave seed 1, alpha/beta = 2 at max |t - t*| = 0.021 > 0.02;
# lr 0.1 converges by 1500 steps: max |t - t*| <= 4e-4 over seeds 0-3; 2000 steps
# take 1-1.5 s per fit on one core). beta = mu = 1.
N, K, STEPS, LR = 300, 6, 2000, 0.1
SEEDS = [0, 1]


@functools.cache
def _graph(seed):
    roll = data.swiss_roll(N, noise=0.05, seed=seed)
    x = torch.cat([roll.x_train, roll.x_test]).to(torch.float64)
    return spectral.knn_graph(x, 10)


@functools.cache
def _eigenvalues(seed):
    return spectral.laplacian_eigenmaps(_graph(seed), K)[1]  # lambda_2..lambda_{K+1}


@functools.cache
def _fit(seed, alpha, variant="frobenius", nu=25.0):
    loss = functools.partial(
        spectral.vicreg_graph_loss,
        G=_graph(seed),
        alpha=alpha,
        variant=variant,
        nu=nu,
    )
    return spectral.fit_free_embedding(
        loss, N, K, steps=STEPS, lr=LR, generator=torch.Generator().manual_seed(seed)
    )


def _count_below(seed, alpha):
    # #{k = 2..K+1 : lambda_k < 2 beta / alpha}, the rank (S3) predicts.
    return int((_eigenvalues(seed) < 2.0 / alpha).sum())


@pytest.mark.claim(
    chapter="01",
    k=1,
    statement="On the local side, VICReg preserves the leading singular vectors of G: "
    "Laplacian Eigenmaps spans singular vectors 2..K+1 of G once its degrees are "
    "made constant",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim1_le_spans_the_leading_singular_vectors_of_a_regular_g(seed):
    # Claim 1 (target claim-01-1), the book's reading for the local side. Self-loops
    # padding every degree to d_max leave L unchanged (difference 0.0) and make
    # L = d_max I - G_reg. Measured, seeds 0 / 1: min principal-angle cosine between
    # LE (K = 6) and singular vectors 2..7 of G_reg 1 - 3e-16 / 1 - 1e-16 (bound
    # 1 - 1e-9), between the fitted Frobenius VICReg Z (alpha/beta = 0.5, rank 6)
    # and the same vectors 0.999998 / 0.999999 (bound 0.999). Without the padding
    # (degrees 10-18) the cosines fall to 0.267 / 0.150: asserted < 0.9, so the test
    # fails if G's own singular vectors were the right object.
    G = _graph(seed)
    degree = G.sum(dim=1)
    G_reg = G + torch.diag(degree.max() - degree)
    L_reg = torch.diag(G_reg.sum(dim=1)) - G_reg
    assert torch.equal(L_reg, spectral.graph_laplacian(G))
    U_reg = torch.linalg.svd(G_reg).U[:, 1 : K + 1]
    Z_le, _ = spectral.laplacian_eigenmaps(G, K)
    cos_le = spectral.principal_angles(Z_le, U_reg).min().item()
    Z_vic = _fit(seed, 0.5)
    cos_vic = spectral.principal_angles(Z_vic - Z_vic.mean(0), U_reg).min().item()
    cos_raw = spectral.principal_angles(Z_le, torch.linalg.svd(G).U[:, 1 : K + 1])
    message = (
        f"seed {seed}: min cosine LE {cos_le:.6f}, VICReg {cos_vic:.6f}, "
        f"unpadded G {cos_raw.min():.3f}"
    )
    assert cos_le > 1 - 1e-9, message
    assert cos_vic > 0.999, message
    assert cos_raw.min() < 0.9, message


@pytest.mark.claim(
    chapter="01",
    k=2,
    statement="VICReg on a free representation is Laplacian Eigenmaps of G, with the "
    "closed-form variance spectrum t_k = max(0, 1 - alpha lambda_k / (2 beta))",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim2_vicreg_free_z_is_laplacian_eigenmaps_with_closed_form_variances(
    seed,
):
    # Claim 2 (target claim-01-2). Frobenius variant, alpha/beta in {0.5, 1, 2}.
    # Measured, seeds 0 / 1: max |t_learned - t_(S3)| <= 1.7e-4 / 1.9e-4 (bound 0.02,
    # the brief's; (S3) with alpha lambda / beta instead of / (2 beta) misses by 0.24
    # to 0.49); min principal-angle cosine with the predicted eigenvectors 0.999998 /
    # 0.999991 (bound 0.99); rank 6, 6, 5 / 6, 6, 6 = #{lambda_k < 2 beta/alpha}
    # (seed 1 keeps lambda_7 = 0.974 < 1 at t = 0.026, learned 0.0260).
    for alpha in (0.5, 1.0, 2.0):
        report = spectral.vicreg_fit_report(
            _fit(seed, alpha), _graph(seed), alpha=alpha
        )
        message = (
            f"seed {seed}, alpha/beta {alpha}: max |t - t*| {report['max_error']:.4f}, "
            f"min cosine {report['cosines'].min():.5f}, rank {report['rank']} vs "
            f"{_count_below(seed, alpha)}; learned {report['t_learned']}, "
            f"(S3) {report['t_predicted']}"
        )
        assert report["max_error"] < 0.02, message
        assert report["cosines"].min() > 0.99, message
        assert report["rank"] == _count_below(seed, alpha), message


@pytest.mark.claim(
    chapter="01",
    k=7,
    statement="VICReg's rank is set by alpha/beta in the Frobenius variant; the hinge "
    "variant shrinks but never zeroes directions while its covariance term "
    "decorrelates, and loses rank when that weight is too weak",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim7_frobenius_rank_follows_alpha_and_hinge_keeps_full_rank(seed):
    # Claim 7 (target claim-01-7), what we observe (the paper's rank statement was
    # not available). Frobenius, alpha/beta = 1, 2, 3, 4: rank 6, 5, 4, 2 / 6, 6, 4, 3
    # (seeds 0 / 1) = #{lambda_k < 2 beta/alpha} exactly; collapsed variances learned
    # <= 1.1e-6, smallest kept 0.026 (rank threshold 1e-3). Hinge, nu = 25, alpha = 2,
    # 3: rank 6 (K), smallest variance 0.0605, 0.0269 / 0.0659, 0.0293 (bound 0.01),
    # max |t - t_(S4)| 9e-5, 6e-4 / 0.016, 2e-5 (bound 0.04; the 0.016 is the t = 1
    # direction jittering at the hinge's kink).
    ranks = []
    for alpha in (1.0, 2.0, 3.0, 4.0):
        report = spectral.vicreg_fit_report(
            _fit(seed, alpha), _graph(seed), alpha=alpha
        )
        ranks.append(report["rank"])
        assert report["rank"] == _count_below(seed, alpha), (
            f"seed {seed}, Frobenius alpha/beta {alpha}: rank {report['rank']}, "
            f"expected {_count_below(seed, alpha)}; learned {report['t_learned']}"
        )
    assert ranks[-1] <= K - 3, f"seed {seed}: Frobenius ranks {ranks}"
    for alpha in (2.0, 3.0):
        report = spectral.vicreg_fit_report(
            _fit(seed, alpha, "hinge"), _graph(seed), alpha=alpha, variant="hinge"
        )
        message = (
            f"seed {seed}, hinge alpha {alpha}: rank {report['rank']}, learned "
            f"{report['t_learned']}, (S4) {report['t_predicted']}"
        )
        assert report["rank"] == K, message
        assert report["t_learned"].min() > 0.01, message
        assert report["max_error"] < 0.04, message
    _hinge_loses_rank_when_the_covariance_weight_cannot_decorrelate(seed)


def _hinge_loses_rank_when_the_covariance_weight_cannot_decorrelate(seed):
    # Claim 7 (target claim-01-7), a partial non-reproduction: the hinge's full rank
    # needs nu large enough. alpha = 5, nu = 25 (mu = 1): rank 5 / 5 (seeds 0 / 1;
    # 4 / 4 for seeds 2 / 3) and a loss below the decorrelated optimum (S4): 5.3882 vs
    # 5.4034, 5.3167 vs 5.3281 (gaps 0.015 / 0.011; asserted >= 0.005). The same
    # alpha with nu = 1000: rank 6 and max |t - t_(S4)| = 3e-4 / 3e-4 (bound 0.005).
    G = _graph(seed)
    for nu in (25.0, 1000.0):
        Z = _fit(seed, 5.0, "hinge", nu)
        report = spectral.vicreg_fit_report(Z, G, alpha=5.0, variant="hinge")
        loss = functools.partial(
            spectral.vicreg_graph_loss, G=G, alpha=5.0, variant="hinge", nu=nu
        )
        Z_s4, _ = spectral.vicreg_closed_form(G, K, alpha=5.0, variant="hinge")
        gap = (loss(Z_s4) - loss(Z)).item()
        message = (
            f"seed {seed}, nu {nu:g}: rank {report['rank']}, loss below (S4) by "
            f"{gap:.4f}, max |t - t*| {report['max_error']:.4f}, learned "
            f"{report['t_learned']}, (S4) {report['t_predicted']}"
        )
        if nu == 25.0:
            assert report["rank"] < K, message
            assert gap >= 0.005, message
        else:
            assert report["rank"] == K, message
            assert report["max_error"] < 0.005, message


# --- notebook 2 ------------------------------------------------------------


def _pool(seed):
    x_pool, y_pool, x_test, y_test = spectral.digits_pool(seed)
    f_pool, f_test, _ = spectral.pca_coordinates(x_pool, x_test)  # PCA-40
    return f_pool, y_pool, f_test, y_test


@pytest.mark.claim(
    chapter="01",
    k=4,
    statement="In the linear regime the optimal VICReg parameters have a closed "
    "form; with the label graph, linear VICReg is LDA",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim4_linear_vicreg_with_the_label_graph_is_lda(seed):
    # Claim 4 (target claim-01-4). Hard constraints (S5), K = 9, against
    # LinearDiscriminantAnalysis(solver="eigen").scalings_[:, :9], principal angles
    # between the projected pools. Measured, seeds 0 / 1: all same-class pairs
    # (partners=None) min cosine 0.99985 / 0.99981 (not 1: LDA weights classes by
    # size, the label graph by size squared); 5 random partners 0.9862 / 0.9887 (the
    # brief's 0.9996 does not reproduce with 5 partners: M only approximates the
    # within-class scatter; 10 partners 0.995, 20 partners 0.997). Controls: the
    # first 9 principal components 0.03 / 0.12, the misaligned graph 0.02 / 0.02.
    # Adam on the Frobenius loss of Z = XW (alpha 1, L / mean degree, 1000 steps,
    # lr 0.03) vs its closed form: min cosine 0.99998 / 0.99990, max |t - C_kk|
    # 4e-4 / 3e-4. Thresholds: 0.999 (half the gap to 1 is 1e-4, so this only
    # rejects a different subspace), 0.95 for 5 partners (controls <= 0.12),
    # 0.99 and 0.01 for gradient descent. About 3 s a seed (the Adam fit).
    f_pool, y_pool, _, _ = _pool(seed)
    lda = LinearDiscriminantAnalysis(solver="eigen").fit(f_pool.numpy(), y_pool.numpy())
    Z_lda = f_pool @ torch.as_tensor(lda.scalings_[:, :9])  # (N, 9)
    W_full, _ = spectral.vicreg_linear_closed_form(
        f_pool, spectral.label_graph(y_pool), 9
    )
    full = spectral.principal_angles(f_pool @ W_full, Z_lda).min().item()
    gen = torch.Generator().manual_seed(seed)
    G = spectral.label_graph(y_pool, partners=5, generator=gen)
    W, _ = spectral.vicreg_linear_closed_form(f_pool, G, 9)
    partners = spectral.principal_angles(f_pool @ W, Z_lda).min().item()
    assert full > 0.999, f"all same-class pairs: min cosine to LDA {full:.5f}"
    assert partners > 0.95, f"5 partners: min cosine to LDA {partners:.4f}"

    W_cf, t = spectral.vicreg_linear_closed_form(
        f_pool, G, 9, alpha=1.0, degree_scale=True
    )

    def loss(W):
        return spectral.vicreg_graph_loss(
            f_pool @ W, G, alpha=1.0, variant="frobenius", degree_scale=True
        )

    W_gd = spectral.fit_free_embedding(
        loss, 40, 9, steps=1000, lr=0.03, generator=torch.Generator().manual_seed(seed)
    )
    Z_gd = f_pool @ W_gd
    cosine = spectral.principal_angles(Z_gd, f_pool @ W_cf).min().item()
    learned = torch.linalg.eigvalsh(torch.cov(Z_gd.T, correction=0)).flip(0)  # (9,)
    gap = (learned - t).abs().max().item()
    assert cosine > 0.99, f"gradient descent vs closed form: min cosine {cosine:.5f}"
    assert gap < 0.01, f"gradient descent vs closed form: max |C_kk - t_k| {gap:.4f}"


def _graph_probe(seed, standardize):
    # Probe accuracy, 10 labels/class (5 draws), of the representations of Claim 5:
    # the maps notebook 2 shows, from spectral.graph_representations.
    maps, (f_pool, y_pool, f_test, y_test) = spectral.graph_representations(seed)
    features = {k: (f_pool @ W, f_test @ W) for k, W in maps.items()}
    acc = spectral.probe_sweep(
        features,
        y_pool,
        y_test,
        labels_per_class=(10,),
        draws=5,
        standardize=standardize,
        seed=seed,
    )
    return {k: v.item() for k, v in acc.items()}


@pytest.mark.claim(
    chapter="01",
    k=5,
    statement="The relation graph decides downstream performance: aligned with the "
    "labels it beats raw features, misaligned it fails",
)
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_claim5_the_graph_decides_the_probe_accuracy(seed):
    # Claim 5 (target claim-01-5). Linear VICReg closed forms, probe with 10 labels
    # per class. Measured, seeds 0-4:
    # standardised probe: raw PCA-40 0.830 0.825 0.810 0.831 0.850; aligned (hard
    # constraints, K = 32) 0.850 0.845 0.839 0.850 0.876 (+0.019 to +0.029 over
    # raw); misaligned 0.500 0.519 0.509 0.537 0.582 (raw - misaligned >= 0.27).
    # As-is probe: raw 0.891 0.907 0.895 0.907 0.902 beats the whitened aligned
    # representation (0.851 ... 0.877), but not aligned alpha = 3 (rank 8-9):
    # 0.942 0.929 0.936 0.935 0.944 (+0.022 to +0.051); misaligned 0.503 ... 0.585.
    # Thresholds: +0.01 (half the smallest gain, 0.019 / 0.022) and 0.2.
    std = _graph_probe(seed, standardize=True)
    as_is = _graph_probe(seed, standardize=False)
    numbers = f"standardised {std}, as is {as_is}"
    raw = "raw PCA-40"
    assert std["aligned"] > std[raw] + 0.01, numbers
    assert std[raw] > std["misaligned"] + 0.2, numbers
    assert as_is["aligned α=3"] > as_is[raw] + 0.01, numbers
    assert as_is[raw] > as_is["misaligned"] + 0.2, numbers


SWEEP_SEEDS = [0, 1, 2, 3, 4]


@pytest.mark.claim(
    chapter="01",
    k=6,
    statement="Design guidance in the linear regime: with an aligned graph and few "
    "labels a high invariance weight (or SimCLR) wins and with many labels every "
    "method converges; with a misaligned graph Barlow Twins and VICReg with a small "
    "invariance weight win; the few-label advantage of SimCLR needs a probe that "
    "keeps the learned scale",
)
@pytest.mark.parametrize("seed", SWEEP_SEEDS)
def test_claim6_design_guidance_holds_in_the_linear_regime(seed):
    # Claim 6 (target claim-01-6): the three checks below, closed forms only.
    _few_labels_favour_a_high_invariance_weight(seed)
    _a_misaligned_graph_favours_a_small_invariance_weight(seed)
    _the_advantage_of_simclr_needs_a_probe_that_keeps_the_scale(seed)


def _few_labels_favour_a_high_invariance_weight(seed):
    # Claim 6 (a) (target claim-01-6). spectral.design_sweep, aligned graph, closed
    # forms only, probe on the features as is (logistic regression, C = 1), 2 draws.
    # Measured, 1 label/class, seeds 0-4: VICReg alpha 3 - alpha 0.1 = +0.435
    # +0.371 +0.455 +0.414 +0.475; SimCLR spectral - Barlow Twins = +0.442 +0.396
    # +0.427 +0.432 +0.469. 50 labels/class: max - min over VICReg alpha in
    # {0.1, 1, 3}, Barlow Twins, SimCLR spectral = 0.026 0.022 0.019 0.006 0.009.
    # Thresholds: >= 0.2 (about half of the smallest gain 0.371), <= 0.04.
    result = spectral.design_sweep(
        seed,
        graph="aligned",
        alphas=(0.1, 1.0, 3.0),
        hinge_alphas=(),
        others=("Barlow Twins", "SimCLR spectral"),
        labels_per_class=(1, 50),
    )
    acc = {k: v.tolist() for k, v in result["accuracy"].items()}
    one = {k: v[0] for k, v in acc.items()}
    fifty = [v[1] for v in acc.values()]
    assert one["VICReg α=3"] - one["VICReg α=0.1"] >= 0.2, acc
    assert one["SimCLR spectral"] - one["Barlow Twins"] >= 0.2, acc
    assert max(fifty) - min(fifty) <= 0.04, acc


def _a_misaligned_graph_favours_a_small_invariance_weight(seed):
    # Claim 6 (b) (target claim-01-6). As above, misaligned graph, 50 labels/class.
    # Measured, seeds 0-4: VICReg alpha 0.1 - SimCLR spectral = +0.252 +0.233 +0.315
    # +0.257 +0.280; Barlow Twins - SimCLR spectral = +0.154 +0.215 +0.211 +0.195
    # +0.172; VICReg alpha 0.1 - alpha 3 = +0.614 +0.590 +0.625 +0.610 +0.645
    # (alpha 3 collapses to rank 0: chance, 0.099). Thresholds: 0.1, 0.08 (about
    # half of 0.154), 0.3.
    result = spectral.design_sweep(
        seed,
        graph="misaligned",
        alphas=(0.1, 3.0),
        hinge_alphas=(),
        others=("Barlow Twins", "SimCLR spectral"),
        labels_per_class=(50,),
    )
    acc = {k: v.item() for k, v in result["accuracy"].items()}
    assert acc["VICReg α=0.1"] - acc["SimCLR spectral"] >= 0.1, acc
    assert acc["Barlow Twins"] - acc["SimCLR spectral"] >= 0.08, acc
    assert acc["VICReg α=0.1"] - acc["VICReg α=3"] >= 0.3, acc
    assert result["rank"]["VICReg α=3"] == 0, result["rank"]


def _the_advantage_of_simclr_needs_a_probe_that_keeps_the_scale(seed):
    # Claim 6, the probe caveat (target claim-01-6). Aligned graph, 1 label/class.
    # Measured, seeds 0-4, SimCLR spectral - Barlow Twins: features as is +0.442
    # +0.396 +0.427 +0.432 +0.469; standardised +0.081 +0.063 +0.056 +0.086 +0.102,
    # so the gain shrinks by 0.33 to 0.37. VICReg alpha 3 keeps its gain under both
    # probes (rank collapse, +0.40 to +0.49 standardised). Threshold: a shrink of at
    # least 0.15 (under half the smallest, 0.333).
    gains = {}
    for standardize in (False, True):
        result = spectral.design_sweep(
            seed,
            graph="aligned",
            alphas=(),
            hinge_alphas=(),
            others=("Barlow Twins", "SimCLR spectral"),
            labels_per_class=(1,),
            standardize=standardize,
        )
        acc = result["accuracy"]
        gains[standardize] = (acc["SimCLR spectral"] - acc["Barlow Twins"]).item()
    assert gains[False] - gains[True] >= 0.15, (
        f"SimCLR - Barlow Twins: as is {gains[False]:+.3f}, "
        f"standardised {gains[True]:+.3f}"
    )


# --- notebook 3 ------------------------------------------------------------

# The block graph of notebook 3, section 1: n = 6 groups of V = 4 views, K = 8.
N_GROUPS, VIEWS, K = 6, 4, 8


def _block_graph():
    G = spectral.augmentation_graph(N_GROUPS, VIEWS)  # (24, 24)
    same = G + torch.eye(G.shape[0], dtype=G.dtype)  # [same group]
    return G, same


def _rank(gram):
    # Eigenvalues of a cosine Gram are the squared singular values of the normalised
    # Z: rtol 1e-6 on them is 1e-3 on the singular values.
    return int(torch.linalg.matrix_rank(gram, rtol=1e-6, hermitian=True))


@pytest.mark.claim(
    chapter="01",
    k=3,
    statement="SimCLR on a block relation graph is classical MDS of the graph "
    "distance: the groups collapse to the vertices of a regular simplex, rank n - 1; "
    "the spectral contrastive loss is kernel MDS of the normalised graph",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim3_simclr_on_a_block_graph_is_mds_of_the_graph_distance(seed):
    # Claim 3 (target claim-01-3). Free Z (24 x 8), (S6) with tau = 0.3, 3000 Adam steps
    # at lr 1e-2, float64; 1-2 s on one core. Measured (torch 2.13 CPU, the paper's form
    # of (S6)), seeds 0 / 1: max |Gram_SimCLR - Gram_MDS| 1.2e-15 / 1.9e-15 (cosine Gram
    # matrices; MDS of d_ij = 1 - [same group]); within-group cosine 1.000000, across
    # -0.200000; eigenvalues of the cosine Gram 4.8 (x5), then <= 1.1e-15, so rank 5 = n
    # - 1 with a relative tolerance of 1e-6 on them (1e-3 on the singular values of the
    # normalised Z). The bound 1e-3 is the brief's. The test needs a converged fit:
    # after 1000 steps the gap is 3.3e-4 / 1.7e-3 and seed 1 has rank 7 (eigenvalues
    # 1.1e-5, 5.7e-6 left). K = 3 < n - 1 gives gaps 1.8 / 0.8 and rank 3 (checked).
    G, same = _block_graph()
    N = G.shape[0]
    Z = spectral.fit_free_embedding(
        partial(spectral.simclr_graph_loss, G=G, tau=0.3),
        N,
        K,
        steps=3000,
        generator=torch.Generator().manual_seed(seed),
    )
    gram_simclr = spectral.cosine_gram(Z)
    gram_mds = spectral.cosine_gram(spectral.classical_mds(d2=1 - same, K=N_GROUPS - 1))
    gap = (gram_simclr - gram_mds).abs().max().item()
    eigenvalues = torch.linalg.eigvalsh(gram_simclr).flip(0)[:K]
    rank = _rank(gram_simclr)
    assert gap < 1e-3, f"seed {seed}: max |Gram_SimCLR - Gram_MDS| = {gap:.2e}"
    assert rank == N_GROUPS - 1, (
        f"seed {seed}: rank {rank}, expected {N_GROUPS - 1}; eigenvalues of the "
        f"cosine Gram {[f'{v:.1e}' for v in eigenvalues.tolist()]}"
    )
    _spectral_contrastive_is_kernel_mds_and_centres_to_the_simplex(seed)


def _spectral_contrastive_is_kernel_mds_and_centres_to_the_simplex(seed):
    # Claim 3, section 2 of notebook 3. Free Z (24 x 8), (M3), 3000 Adam steps at
    # lr 0.03 (at lr 1e-2 the quartic loss is still 2e-2 away after 3000 steps);
    # under 1 s. Measured, seeds 0 / 1: max |Z Z^T - kernel MDS of G_hat| 1.2e-5 /
    # 5.8e-6; rank 6 = n; after centring, max |cos Gram - Gram_MDS of d_ij| 4.0e-6 /
    # 1.2e-5. Bounds 1e-3: over 80x the measured values. Without the centring the
    # cosines across groups are 0, not -0.2: a gap of 0.200 (checked).
    G, same = _block_graph()
    N = G.shape[0]
    G_hat = torch.eye(N, dtype=G.dtype) - spectral.graph_laplacian(G, normalized=True)
    Z = spectral.fit_free_embedding(
        partial(spectral.spectral_contrastive_loss, G=G),
        N,
        K,
        steps=3000,
        lr=0.03,
        generator=torch.Generator().manual_seed(seed),
    )
    Y = spectral.classical_mds(gram=G_hat, K=K)
    gap = (Z @ Z.T - Y @ Y.T).abs().max().item()
    rank = _rank(spectral.cosine_gram(Z))
    gram_mds = spectral.cosine_gram(spectral.classical_mds(d2=1 - same, K=N_GROUPS - 1))
    centred_gap = (
        (spectral.cosine_gram(Z - Z.mean(dim=0)) - gram_mds).abs().max().item()
    )
    assert gap < 1e-3, f"seed {seed}: max |Z Z^T - kernel MDS| = {gap:.2e}"
    assert rank == N_GROUPS, f"seed {seed}: rank {rank}, expected {N_GROUPS}"
    assert centred_gap < 1e-3, (
        f"seed {seed}: centred cosines vs the simplex, max gap {centred_gap:.2e}"
    )
