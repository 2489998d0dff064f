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


def _rotation_graph():
    # A regular augmentation graph: N rotations of one input (N equally spaced points
    # on a circle), each a positive of its 10 nearest rotations (5 on each side), so
    # every degree is 10; spectral.knn_graph of the orbit.
    angle = torch.arange(N, dtype=torch.float64) * (2 * torch.pi / N)
    return spectral.knn_graph(torch.stack([angle.cos(), angle.sin()], dim=1), 10)


@pytest.mark.claim(
    chapter="01",
    k=1,
    statement="On the local side, VICReg preserves the leading singular vectors of G "
    "exactly when G has constant degree (an augmentation graph): Laplacian Eigenmaps "
    "and the fitted VICReg span singular vectors 2..K+1 of a regular G",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim1_le_spans_the_leading_singular_vectors_of_a_regular_g(seed):
    # Claim 1 (target claim-01-1), the book's reading for the local side. For a
    # constant degree d, L = d I - G, so L's bottom eigenvectors are G's top ones (an
    # identity); what is left to check is that they are also G's top *singular*
    # vectors (no negative eigenvalue of G larger in modulus) and that a fitted VICReg
    # reaches them. The regular augmentation graph of rotations, K = 6, Frobenius
    # VICReg alpha/beta = 0.5 fitted from the seed's initialisation (the graph does not
    # depend on the seed). Measured, seeds 0-4: min principal-angle cosine between LE
    # and singular vectors 2..7 of G 1 - 7e-16 on every seed (bound 1 - 1e-9), fitted
    # VICReg 0.999999 or more on every seed (bound 0.999).
    # Negative control: the same assertion on a graph whose degrees are not constant,
    # the symmetrised 10-NN graph of the swiss roll (degrees 10-18): LE against G's own
    # singular vectors 2..7 gives 0.267 0.150 0.652 0.369 0.601 (seeds 0-4), asserted
    # < 0.9, so the test fails if the claim held for any graph.
    G = _rotation_graph()
    degree = G.sum(dim=1)
    assert degree.min() == degree.max(), f"degrees {degree.min()} to {degree.max()}"
    U = torch.linalg.svd(G).U[:, 1 : K + 1]
    Z_le, _ = spectral.laplacian_eigenmaps(G, K)
    cos_le = spectral.principal_angles(Z_le, U).min().item()
    loss = functools.partial(spectral.vicreg_graph_loss, G=G, alpha=0.5)
    Z_vic = spectral.fit_free_embedding(
        loss, N, K, steps=STEPS, lr=LR, generator=torch.Generator().manual_seed(seed)
    )
    cos_vic = spectral.principal_angles(Z_vic - Z_vic.mean(0), U).min().item()
    G_knn = _graph(seed)  # negative control: not regular
    Z_knn, _ = spectral.laplacian_eigenmaps(G_knn, K)
    U_knn = torch.linalg.svd(G_knn).U[:, 1 : K + 1]
    cos_control = spectral.principal_angles(Z_knn, U_knn).min().item()
    message = (
        f"seed {seed}: min cosine LE {cos_le:.9f}, VICReg {cos_vic:.6f}; negative "
        f"control (swiss-roll 10-NN graph, not regular) {cos_control:.3f}"
    )
    assert cos_le > 1 - 1e-9, message
    assert cos_vic > 0.999, message
    assert not cos_control > 0.999, message  # negative control fails the assertion
    assert cos_control < 0.9, message


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
    # Claim 2 (target claim-01-2). Frobenius variant, alpha/beta in {0.5, 1, 2}, K = 6.
    # Measured at K = 6, seeds 0-4: max |t_learned - t_(S3)| over the three weights
    # 1.2e-4 1.0e-4 1.5e-4 1.0e-4 1.8e-4 (bound 0.02, the brief's); min principal-angle
    # cosine with the predicted eigenvectors 0.999997 0.999987 0.999999 0.999989
    # 0.999998 (bound 0.99); rank 6, 6, 5 / 6, 6, 6 / 6, 6, 4 / 6, 6, 6 / 6, 6, 6 =
    # #{lambda_k < 2 beta/alpha} (seed 1 keeps lambda_7 = 0.974 < 1 at t = 0.026).
    # Negative control: the wrong formula t = max(0, 1 - alpha lambda_k / beta) (no
    # factor 2): the same assertion max |t_learned - t| < 0.02 fails, by 0.203 to
    # 0.499 over the weights and seeds 0-4; asserted > 0.1 (half the smallest).
    for alpha in (0.5, 1.0, 2.0):
        report = spectral.vicreg_fit_report(
            _fit(seed, alpha), _graph(seed), alpha=alpha
        )
        t_wrong = (1 - alpha * _eigenvalues(seed)).clamp(min=0)  # (K,), no factor 2
        wrong = (report["t_learned"] - t_wrong).abs().max().item()
        message = (
            f"seed {seed}, alpha/beta {alpha}: max |t - t*| {report['max_error']:.4f}, "
            f"min cosine {report['cosines'].min():.5f}, rank {report['rank']} vs "
            f"{_count_below(seed, alpha)}; learned {report['t_learned']}, "
            f"(S3) {report['t_predicted']}; negative control (no factor 2): "
            f"max |t - t_wrong| {wrong:.3f}"
        )
        assert report["max_error"] < 0.02, message
        assert report["cosines"].min() > 0.99, message
        assert report["rank"] == _count_below(seed, alpha), message
        assert not wrong < 0.02, message  # negative control fails the assertion
        assert wrong > 0.1, message


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
    # not available), K = 6. Frobenius, alpha/beta = 1, 2, 3, 4: rank 6, 5, 4, 2 /
    # 6, 6, 4, 3 / 6, 4, 4, 3 / 6, 6, 4, 2 / 6, 6, 4, 3 (seeds 0-4) = #{lambda_k <
    # 2 beta/alpha} exactly; collapsed variances learned <= 1.5e-4, smallest kept
    # 0.026 (rank threshold 1e-3). Hinge, nu = 25, alpha = 2, 3: rank 6 (K), smallest
    # variance 0.0605, 0.0269 / 0.0659, 0.0293 / 0.0601, 0.0263 / 0.0706, 0.0309 /
    # 0.0949, 0.0422 (bound 0.01, under half of 0.0263); max |t - t_(S4)| over the
    # directions with t_(S4) < 1: 9e-5, 6e-4 / 4e-5, 3e-5 / 8e-4, 9e-5 / 1.6e-3, 3.5e-4
    # / 4.5e-3, 2.8e-3 (bound 0.01). A direction at the hinge's kink (t_(S4) = 1,
    # seeds 1 and 4 at alpha = 2) converges slowly, the loss being flat there: learned
    # 0.984 and 0.958 after 2000 steps; asserted > 0.9 (the old bound, 0.04 on every
    # direction, set on seeds 0 / 1, fails seed 4 by this direction: 0.042).
    # Negative controls: (i) the rank the wrong formula #{lambda_k < beta/alpha}
    # predicts is 5, 2, 1, 0 / 6, 3, 1, 1 / 4, 3, 1, 0 / 6, 2, 1, 0 / 6, 3, 2, 1
    # (seeds 0-4): it misses the rank at alpha = 2, 3, 4 on every seed; (ii) the
    # hinge's assertion (rank K, every variance > 0.01) on the Frobenius fit at the
    # same alpha = 3 fails (rank 4 on every seed 0-4).
    ranks, wrong_counts = [], []
    for alpha in (1.0, 2.0, 3.0, 4.0):
        report = spectral.vicreg_fit_report(
            _fit(seed, alpha), _graph(seed), alpha=alpha
        )
        ranks.append(report["rank"])
        wrong_counts.append(int((_eigenvalues(seed) < 1.0 / alpha).sum()))
        assert report["rank"] == _count_below(seed, alpha), (
            f"seed {seed}, Frobenius alpha/beta {alpha}: rank {report['rank']}, "
            f"expected {_count_below(seed, alpha)}; learned {report['t_learned']}"
        )
    assert ranks[-1] <= K - 3, f"seed {seed}: Frobenius ranks {ranks}"
    # negative control (i): the wrong formula's counts must fail the rank assertion
    assert ranks != wrong_counts, f"seed {seed}: {ranks} vs wrong {wrong_counts}"

    def full_rank(report):
        return report["rank"] == K and report["t_learned"].min() > 0.01

    for alpha in (2.0, 3.0):
        report = spectral.vicreg_fit_report(
            _fit(seed, alpha, "hinge"), _graph(seed), alpha=alpha, variant="hinge"
        )
        message = (
            f"seed {seed}, hinge alpha {alpha}: rank {report['rank']}, learned "
            f"{report['t_learned']}, (S4) {report['t_predicted']}"
        )
        assert full_rank(report), message
        interior = report["t_predicted"] < 1  # away from the hinge's kink
        error = (report["t_learned"] - report["t_predicted"]).abs()
        assert error[interior].max() < 0.01, message
        assert (report["t_learned"][~interior] > 0.9).all(), message
    # negative control (ii): the same assertion on the Frobenius fit at alpha = 3
    frobenius = spectral.vicreg_fit_report(_fit(seed, 3.0), _graph(seed), alpha=3.0)
    assert not full_rank(frobenius), f"seed {seed}: Frobenius {frobenius['t_learned']}"
    _hinge_loses_rank_when_the_covariance_weight_cannot_decorrelate(seed)


def _hinge_loses_rank_when_the_covariance_weight_cannot_decorrelate(seed):
    # Claim 7 (target claim-01-7), a partial non-reproduction: the hinge's full rank
    # needs nu large enough. alpha = 5, nu = 25 (mu = 1), K = 6, seeds 0-4: rank 5, 5,
    # 4, 4, 6 and a loss below the decorrelated optimum (S4) by 0.015, 0.011, 0.025,
    # 0.009, 0.002 (asserted >= 0.005 on seeds 0 / 1): the rank is lost on 4 of 5
    # seeds, and seed 4 keeps it. The same alpha with nu = 1000: rank 6 on every seed,
    # max |t - t_(S4)| 3e-4, 3e-4, 2e-4, 5e-5, 5.3e-3 (seed 4's fit ends 0.002 above
    # the loss of (S4): slow; bound 0.01).
    # Negative control: the nu = 1000 fit fails the nu = 25 assertion (rank < K), and
    # the nu = 25 fit fails the nu = 1000 one (rank K).
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
            assert report["max_error"] < 0.01, message


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
    # within-class scatter; 10 partners 0.995, 20 partners 0.997). Negative controls:
    # the first 9 principal components 0.03 / 0.12, the misaligned graph's closed
    # form (its own partner draw) 0.001 / 0.003 (seeds 0 / 1; all five seeds below).
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
    # negative control: the same assertion on the misaligned graph's closed form and
    # on the first 9 principal components fails (seeds 0-4: misaligned 0.001 0.003
    # 0.057 0.040 0.028; PCs 0.030 0.117 0.051 0.003 0.075)
    G_mis = spectral.misaligned_graph(
        y_pool, partners=5, generator=torch.Generator().manual_seed(seed)
    )
    W_mis, _ = spectral.vicreg_linear_closed_form(f_pool, G_mis, 9)
    for name, Z_control in (("misaligned", f_pool @ W_mis), ("PCs", f_pool[:, :9])):
        control = spectral.principal_angles(Z_control, Z_lda).min().item()
        assert not control > 0.95, f"negative control {name}: {control:.3f}"
        assert control < 0.5, f"negative control {name}: {control:.3f}"

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
    # the maps notebook 2 shows, from spectral.graph_representations, with the
    # supervised reference (LDA on the pool labels).
    maps, (f_pool, y_pool, f_test, y_test) = spectral.graph_representations(
        seed, supervised=True
    )
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
    statement="The relation graph decides downstream performance: under a "
    "standardised probe the aligned graph beats raw features and the misaligned one "
    "fails; under a probe on the features as they are, raw features beat the "
    "whitened aligned representation, and only the shrunk aligned one (alpha = 3) "
    "beats them",
)
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_claim5_the_graph_decides_the_probe_accuracy(seed):
    # Claim 5 (target claim-01-5), both halves. Linear VICReg closed forms, probe with
    # 10 labels per class (5 draws). Both graphs read all 1000 pool labels; the
    # supervised reference, LDA on those labels under the same probe, is printed in
    # the message (seeds 0-4, standardised 0.921 0.924
    # 0.927 0.932 0.935; as is 0.930 0.931 0.935 0.939 0.934). Measured, seeds 0-4:
    # (a) standardised probe: raw PCA-40 0.830 0.825 0.810 0.831 0.850; aligned (hard
    # constraints, K = 32) 0.850 0.845 0.839 0.850 0.876 (+0.019 to +0.029 over raw);
    # misaligned 0.500 0.519 0.509 0.537 0.582 (raw - misaligned >= 0.27).
    # (b) as-is probe: raw 0.891 0.907 0.895 0.907 0.902 beats the same hard-constrained
    # aligned representation 0.851 0.847 0.839 0.852 0.877
    # (by 0.040 0.060 0.056 0.055 0.025), and aligned alpha = 3 (rank
    # 8-9) beats raw: 0.942 0.929 0.936 0.935 0.944 (+0.022 to +0.051); misaligned
    # 0.503 ... 0.585.
    # Thresholds: +0.01 (half the smallest gain, 0.019 / 0.022), 0.01 for the
    # reversal (under half its smallest, 0.025), and 0.2.
    # Negative control: the "beats raw" assertion of (a) on the misaligned graph
    # fails (misaligned - raw = -0.33 to -0.27).
    std = _graph_probe(seed, standardize=True)
    as_is = _graph_probe(seed, standardize=False)
    numbers = f"standardised {std}, as is {as_is}"
    raw = "raw PCA-40"

    def beats_raw(acc, name):
        return acc[name] > acc[raw] + 0.01

    assert beats_raw(std, "aligned"), numbers
    assert std[raw] > std["misaligned"] + 0.2, numbers
    assert as_is[raw] > as_is["aligned"] + C5_REVERSAL, numbers
    assert beats_raw(as_is, "aligned α=3"), numbers
    assert as_is[raw] > as_is["misaligned"] + 0.2, numbers
    assert not beats_raw(std, "misaligned"), numbers  # negative control fails


C5_REVERSAL = 0.01


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
    # Claim 6 (target claim-01-6): the checks below, closed forms only, each with
    # its negative control.
    _design_guidance_and_its_controls(seed)
    _the_advantage_of_simclr_needs_a_probe_that_keeps_the_scale(seed)


def _sweep(seed, graph, labels_per_class):
    # spectral.design_sweep's accuracies, closed forms only, probe on the features as
    # is (logistic regression, C = 1), 2 draws; name -> list over labels_per_class.
    result = spectral.design_sweep(
        seed,
        graph=graph,
        alphas=(0.1, 1.0, 3.0),
        hinge_alphas=(),
        others=("Barlow Twins", "SimCLR spectral"),
        labels_per_class=labels_per_class,
    )
    acc = {k: v.tolist() for k, v in result["accuracy"].items()}
    return acc, result["rank"]


def _few_labels_favour_a_high_invariance_weight(acc):
    # The assertion of claim 6 (a) on the accuracies at (1, 50) labels per class.
    one = {k: v[0] for k, v in acc.items()}
    fifty = [v[1] for v in acc.values()]
    return (
        one["VICReg α=3"] - one["VICReg α=0.1"] >= 0.2
        and one["SimCLR spectral"] - one["Barlow Twins"] >= 0.2
        and max(fifty) - min(fifty) <= 0.04
    )


def _a_misaligned_graph_favours_a_small_invariance_weight(acc, rank):
    # The assertion of claim 6 (b) on the accuracies at (1, 50) labels per class.
    fifty = {k: v[1] for k, v in acc.items()}
    return (
        fifty["VICReg α=0.1"] - fifty["SimCLR spectral"] >= 0.1
        and fifty["Barlow Twins"] - fifty["SimCLR spectral"] >= 0.08
        and fifty["VICReg α=0.1"] - fifty["VICReg α=3"] >= 0.3
        and rank["VICReg α=3"] == 0
    )


def _design_guidance_and_its_controls(seed):
    # Claim 6 (a) and (b) (target claim-01-6). Measured, seeds 0-4:
    # (a) aligned graph, 1 label/class: VICReg alpha 3 - alpha 0.1 = +0.435 +0.371
    # +0.455 +0.414 +0.475; SimCLR spectral - Barlow Twins = +0.442 +0.396 +0.427
    # +0.432 +0.469. 50 labels/class: max - min over VICReg alpha in {0.1, 1, 3},
    # Barlow Twins, SimCLR spectral = 0.026 0.022 0.019 0.006 0.009. Thresholds:
    # >= 0.2 (about half of the smallest gain 0.371), <= 0.04.
    # (b) misaligned graph, 50 labels/class: VICReg alpha 0.1 - SimCLR spectral =
    # +0.252 +0.233 +0.315 +0.257 +0.280; Barlow Twins - SimCLR spectral = +0.154
    # +0.215 +0.211 +0.195 +0.172; VICReg alpha 0.1 - alpha 3 = +0.614 +0.590 +0.625
    # +0.610 +0.645 (alpha 3 collapses to rank 0: chance, 0.099). Thresholds: 0.1,
    # 0.08 (about half of 0.154), 0.3.
    # Negative controls, the other graph: (a)'s assertion on the misaligned graph
    # fails (alpha 3 - alpha 0.1 at 1 label/class: -0.175 -0.205 -0.156
    # -0.175 -0.168), (b)'s on the aligned graph
    # fails (alpha 0.1 - SimCLR spectral at 50 labels/class: -0.018
    # -0.022 -0.019 -0.004 -0.007; alpha 3 keeps
    # rank 8-9 there).
    aligned, aligned_rank = _sweep(seed, "aligned", (1, 50))
    misaligned, misaligned_rank = _sweep(seed, "misaligned", (1, 50))
    numbers = f"seed {seed}: aligned {aligned}; misaligned {misaligned}"
    assert _few_labels_favour_a_high_invariance_weight(aligned), numbers
    assert _a_misaligned_graph_favours_a_small_invariance_weight(
        misaligned, misaligned_rank
    ), numbers
    # negative controls: each half's assertion on the other graph fails
    assert not _few_labels_favour_a_high_invariance_weight(misaligned), numbers
    assert not _a_misaligned_graph_favours_a_small_invariance_weight(
        aligned, aligned_rank
    ), numbers


def _the_advantage_of_simclr_needs_a_probe_that_keeps_the_scale(seed):
    # Claim 6, the probe caveat (target claim-01-6). Aligned graph, 1 label/class.
    # Measured, seeds 0-4, SimCLR spectral - Barlow Twins: features as is +0.442
    # +0.396 +0.427 +0.432 +0.469; standardised +0.081 +0.063 +0.056 +0.086 +0.102,
    # so the gain shrinks by 0.33 to 0.37. VICReg alpha 3 keeps its gain under both
    # probes (rank collapse, +0.40 to +0.49 standardised). Threshold: a shrink of at
    # least 0.15 (under half the smallest, 0.333).
    # Negative control: the same assertion on a gain that is not a matter of scale,
    # VICReg alpha 3 (rank collapse) over alpha 0.1, fails: it shrinks by -0.018
    # -0.039 +0.055 -0.015 -0.013 (seeds 0-4); SimCLR's by 0.361 0.332 0.370 0.346
    # 0.368.
    gains = {}  # (pair, standardize) -> gain at 1 label/class
    pairs = {
        "SimCLR": ("SimCLR spectral", "Barlow Twins"),
        "VICReg α=3": ("VICReg α=3", "VICReg α=0.1"),
    }
    for standardize in (False, True):
        result = spectral.design_sweep(
            seed,
            graph="aligned",
            alphas=(0.1, 3.0),
            hinge_alphas=(),
            others=("Barlow Twins", "SimCLR spectral"),
            labels_per_class=(1,),
            standardize=standardize,
        )
        acc = result["accuracy"]
        for pair, (a, b) in pairs.items():
            gains[pair, standardize] = (acc[a] - acc[b]).item()
    shrink = {pair: gains[pair, False] - gains[pair, True] for pair in pairs}
    message = f"seed {seed}: gains (as is, standardised) {gains}, shrink {shrink}"
    assert shrink["SimCLR"] >= 0.15, message
    assert not shrink["VICReg α=3"] >= 0.15, message  # negative control fails


# --- notebook 3 ------------------------------------------------------------

# The block graph of notebook 3, section 1: n = 6 groups of V = 4 views, K_BLOCK = 8
# (its own name: rebinding the module's K = 6 here once ran claims 1, 2 and 7 at K = 8).
N_GROUPS, VIEWS, K_BLOCK = 6, 4, 8


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
    statement="SimCLR on a block relation graph reaches a closed-form optimum, the "
    "regular simplex of classical MDS of the group distance, of rank n - 1 for any "
    "K >= n - 1, where hard-constraint and hinge VICReg keep rank K; the spectral "
    "contrastive loss is kernel PCA of the normalised adjacency",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim3_simclr_on_a_block_graph_is_mds_of_the_graph_distance(seed):
    # Claim 3 (target claim-01-3). Free Z (24 x K), (S6) with tau = 0.3, 3000 Adam steps
    # at lr 1e-2, float64, K = 8 and K = 12; 1-2 s a fit on one idle core. Measured
    # (torch 2.13 CPU, (S6), the paper's form), seeds 0-4, K = 8: max |Gram_SimCLR -
    # Gram_MDS| 1.4e-15 2.2e-15 1.2e-15 1.4e-15 1.7e-15, K = 12: 3.0e-15 1.4e-15
    # 1.1e-15 1.2e-15 1.6e-12 (cosine Gram matrices; MDS of d_ij = 1 - [same group]);
    # rank 5 = n - 1 on every seed and K, with a relative tolerance of 1e-6 on the
    # eigenvalues of the cosine Gram (1e-3 on the singular values of the normalised
    # Z). The bound 1e-3 is the brief's. The test needs a converged fit: after 1000
    # steps the gap is 3.3e-4 / 1.7e-3 and seed 1 has rank 7 (checked).
    # What this does not separate: the Frobenius VICReg optimum (S3) at alpha/beta =
    # 0.5 on this graph has the same cosine Gram (gap 2e-16, rank 5), since it zeroes
    # the within-group directions (lambda = V = 4 >= 2 beta / alpha).
    # Negative control (the other family): the same assertion on hard-constraint VICReg
    # (Laplacian Eigenmaps, K = 8: rank 8, gap 1.27) and on hinge VICReg (S4)
    # (alpha = 1, K = 8: rank 8, gap 0.059; alpha = 3: rank 8, gap 0.007) fails: their
    # rank is K, not n - 1.
    G, same = _block_graph()
    N = G.shape[0]
    gram_mds = spectral.cosine_gram(spectral.classical_mds(d2=1 - same, K=N_GROUPS - 1))

    def is_the_simplex(Z):
        gram = spectral.cosine_gram(Z)
        gap = (gram - gram_mds).abs().max().item()
        return gap < 1e-3 and _rank(gram) == N_GROUPS - 1, gap, _rank(gram)

    for K_fit in (K_BLOCK, 12):
        Z = spectral.fit_free_embedding(
            partial(spectral.simclr_graph_loss, G=G, tau=0.3),
            N,
            K_fit,
            steps=3000,
            generator=torch.Generator().manual_seed(seed),
        )
        ok, gap, rank = is_the_simplex(Z)
        eigenvalues = torch.linalg.eigvalsh(spectral.cosine_gram(Z)).flip(0)[:K_fit]
        assert ok, (
            f"seed {seed}, K {K_fit}: max |Gram_SimCLR - Gram_MDS| = {gap:.2e}, rank "
            f"{rank} (n - 1 = {N_GROUPS - 1}); eigenvalues of the cosine Gram "
            f"{[f'{v:.1e}' for v in eigenvalues.tolist()]}"
        )
    # negative control: non-contrastive optima with rank K fail the assertion
    controls = {
        "hard-constraint VICReg": spectral.laplacian_eigenmaps(G, K_BLOCK)[0],
        "hinge VICReg alpha 1": spectral.vicreg_closed_form(
            G, K_BLOCK, alpha=1.0, variant="hinge"
        )[0],
        "hinge VICReg alpha 3": spectral.vicreg_closed_form(
            G, K_BLOCK, alpha=3.0, variant="hinge"
        )[0],
    }
    for name, Z_control in controls.items():
        ok, gap, rank = is_the_simplex(Z_control)
        assert not ok, f"negative control {name} passes: gap {gap:.2e}, rank {rank}"
        assert rank == K_BLOCK, f"negative control {name}: rank {rank}"
    _spectral_contrastive_is_kernel_pca_and_centres_to_the_simplex(seed)


def _spectral_contrastive_is_kernel_pca_and_centres_to_the_simplex(seed):
    # Claim 3, section 2 of notebook 3. Free Z (24 x 8), (M3), 3000 Adam steps at
    # lr 0.03 (at lr 1e-2 the quartic loss is still 2e-2 away after 3000 steps);
    # under 1 s. Measured, seeds 0-4: max |Z Z^T - kernel PCA of G_hat| 1.5e-6 /
    # 5.8e-6 / 1.1e-9 / 6.2e-6 / 3.4e-8; rank 6 = n; after centring, max |cos Gram -
    # Gram_MDS of d_ij| 6.5e-7 / 1.2e-5 / 5.4e-9 / 2.3e-5 / 1.1e-7. Bounds 1e-3: over
    # 40x the measured values.
    # Negative control: without the centring (the wrong object for the simplex) the
    # cosines across groups are 0, not -0.2: the same assertion fails by 0.200 on
    # every seed 0-4; asserted > 0.1.
    G, same = _block_graph()
    N = G.shape[0]
    G_hat = torch.eye(N, dtype=G.dtype) - spectral.graph_laplacian(G, normalized=True)
    Z = spectral.fit_free_embedding(
        partial(spectral.spectral_contrastive_loss, G=G),
        N,
        K_BLOCK,
        steps=3000,
        lr=0.03,
        generator=torch.Generator().manual_seed(seed),
    )
    Y = spectral.classical_mds(gram=G_hat, K=K_BLOCK)  # kernel PCA of G_hat
    gap = (Z @ Z.T - Y @ Y.T).abs().max().item()
    rank = _rank(spectral.cosine_gram(Z))
    gram_mds = spectral.cosine_gram(spectral.classical_mds(d2=1 - same, K=N_GROUPS - 1))
    centred_gap = (
        (spectral.cosine_gram(Z - Z.mean(dim=0)) - gram_mds).abs().max().item()
    )
    uncentred_gap = (spectral.cosine_gram(Z) - gram_mds).abs().max().item()
    assert gap < 1e-3, f"seed {seed}: max |Z Z^T - kernel PCA| = {gap:.2e}"
    assert rank == N_GROUPS, f"seed {seed}: rank {rank}, expected {N_GROUPS}"
    assert centred_gap < 1e-3, (
        f"seed {seed}: centred cosines vs the simplex, max gap {centred_gap:.2e}"
    )
    # negative control: the uncentred Z fails the same assertion
    assert not uncentred_gap < 1e-3, f"seed {seed}: uncentred {uncentred_gap:.2e}"
    assert uncentred_gap > 0.1, f"seed {seed}: uncentred {uncentred_gap:.2e}"
