"""Unit tests of the additions of notebook 2 (linear regime and graphs) to spectral."""

import math

import pytest
import scipy.linalg
import torch
from spectral_inputs import F64, _gen, _randn, _random_graph
from torch.testing import assert_close

from dltheory import spectral


def _moments(x, G, *, degree_scale):
    # Sigma and M of (S5), written out.
    n = x.shape[0]
    xc = x - x.mean(dim=0)
    L = torch.diag(G.sum(1)) - G
    if degree_scale:
        L = L / G.sum(1).mean()
    return xc.T @ xc / n, xc.T @ L @ xc / n


# --- linear_eigenvalues and the hinge closed form ------------------------------------


@pytest.mark.parametrize("degree_scale", [False, True])
def test_linear_eigenvalues_equal_scipy_generalised_eigh(degree_scale):
    x, G = _randn(30, 5, seed=0), _random_graph(30, seed=1)
    Sigma, M = _moments(x, G, degree_scale=degree_scale)
    expected = scipy.linalg.eigh(M.numpy(), Sigma.numpy(), eigvals_only=True)[:3]
    got = spectral.linear_eigenvalues(x, G, 3, degree_scale=degree_scale)
    assert_close(got, torch.tensor(expected))


def test_linear_eigenvalues_set_the_frobenius_rank():
    x, G = _randn(40, 6, seed=2), _random_graph(40, seed=3)
    lambd = spectral.linear_eigenvalues(x, G, 6, degree_scale=True)  # ascending
    alpha = 4.0 / (lambd[2] + lambd[3]).item()  # threshold 2/alpha between 3rd, 4th
    _, t = spectral.vicreg_linear_closed_form(x, G, 6, alpha=alpha, degree_scale=True)
    assert int((t > 0).sum()) == 3
    assert_close(t, (1 - alpha * lambd / 2).clamp(min=0))


def test_hinge_closed_form_variances_follow_s4():
    x, G = _randn(40, 6, seed=4), _random_graph(40, seed=5)
    alpha, mu = 2.0, 0.5
    W, t = spectral.vicreg_linear_closed_form(
        x, G, 4, alpha=alpha, mu=mu, variant="hinge", degree_scale=True
    )
    lambd = spectral.linear_eigenvalues(x, G, 4, degree_scale=True)
    assert_close(t, (mu / (2 * alpha * lambd)).pow(2).clamp(max=1))
    Sigma, _ = _moments(x, G, degree_scale=True)
    assert_close(W.T @ Sigma @ W, torch.diag(t))  # decorrelated, variances t


def test_hinge_closed_form_with_alpha_zero_is_the_whitened_solution():
    x, G = _randn(30, 5, seed=6), _random_graph(30, seed=7)
    W, t = spectral.vicreg_linear_closed_form(x, G, 3, alpha=0.0, variant="hinge")
    W_hard, _ = spectral.vicreg_linear_closed_form(x, G, 3)
    assert_close(t, torch.ones(3, dtype=F64))
    assert_close(W, W_hard)


def _ring_problem():
    # Ring graph (2 neighbours each side); features cos 3t, cos 5t / 2 and noise:
    # well-separated lambda_k (0.12, 0.32, then about 1), t = (1, 0.28) at alpha 3.
    n = 60
    theta = torch.arange(n, dtype=F64) * 2 * math.pi / n
    eye = torch.eye(n, dtype=F64)
    G = sum(torch.roll(eye, s, dims=1) for s in (1, 2, -1, -2))
    smooth = torch.stack([torch.cos(3 * theta), 0.5 * torch.cos(5 * theta)], dim=1)
    return torch.cat([smooth, _randn(n, 2, seed=0)], dim=1), G


def test_hinge_closed_form_is_a_minimum_of_the_linear_hinge_loss():
    # Adam converges slowly on the hinge (chapter 01, Pitfalls): check optimality
    # directly. No small perturbation of W* lowers the loss of Z = XW, and the
    # whitened W (t = 1) or the Frobenius variances do worse.
    x, G = _ring_problem()
    alpha = 3.0
    W, t = spectral.vicreg_linear_closed_form(
        x, G, 2, alpha=alpha, variant="hinge", degree_scale=True
    )
    assert 0.2 < t[1] < 0.4
    assert t[0] == 1

    def loss(W):
        return spectral.vicreg_graph_loss(
            x @ W, G, alpha=alpha, nu=100.0, degree_scale=True
        ).item()

    best = loss(W)
    steps = 1e-3 * torch.randn(200, *W.shape, generator=_gen(1), dtype=F64)
    assert min(loss(W + step) for step in steps) >= best
    W_hard, _ = spectral.vicreg_linear_closed_form(x, G, 2, degree_scale=True)
    W_frob, _ = spectral.vicreg_linear_closed_form(
        x, G, 2, alpha=alpha, degree_scale=True
    )
    assert loss(W_hard) > best + 1e-3
    assert loss(W_frob) > best + 1e-3


def test_hinge_closed_form_rejects_bad_weights():
    x, G = _randn(10, 3, seed=0), _random_graph(10, seed=1)
    with pytest.raises(ValueError, match="alpha"):
        spectral.vicreg_linear_closed_form(x, G, 2, alpha=-1.0, variant="hinge")
    with pytest.raises(ValueError, match="mu"):
        spectral.vicreg_linear_closed_form(x, G, 2, alpha=1.0, mu=0.0, variant="hinge")
    with pytest.raises(ValueError, match="alpha: the hinge variant needs"):
        spectral.vicreg_linear_closed_form(x, G, 2, variant="hinge")  # alpha=None
    with pytest.raises(ValueError, match="variant"):
        spectral.vicreg_linear_closed_form(x, G, 2, alpha=1.0, variant="hard")


# --- the sweep's data ----------------------------------------------------------------


def test_digits_pool_is_a_stratified_split_fixed_by_the_seed():
    x_pool, y_pool, x_test, y_test = spectral.digits_pool(0)
    assert x_pool.shape == (1000, 64)
    assert x_test.shape == (797, 64)
    assert x_pool.min() >= 0
    assert x_pool.max() <= 1
    counts = torch.bincount(y_pool, minlength=10)
    everything = torch.bincount(torch.cat([y_pool, y_test]), minlength=10)
    expected = everything * 1000 / 1797  # stratified: class proportions kept
    assert (counts - expected).abs().max() <= 1
    again = spectral.digits_pool(0)
    assert torch.equal(again[0], x_pool)
    assert not torch.equal(spectral.digits_pool(1)[0], x_pool)
    small = spectral.digits_pool(0, pool_size=200)
    assert small[0].shape == (200, 64)
    assert small[2].shape == (797, 64)


def test_digits_pool_rejects_too_large_a_pool():
    with pytest.raises(ValueError, match="pool_size"):
        spectral.digits_pool(0, pool_size=1001)


def test_pca_coordinates_are_centred_and_uncorrelated_on_the_pool():
    x_pool, _, x_test, _ = spectral.digits_pool(0, pool_size=200)
    f_pool, f_test, pca = spectral.pca_coordinates(x_pool, x_test, n_components=10)
    assert f_pool.shape == (200, 10)
    assert f_test.shape == (797, 10)
    assert f_pool.dtype == F64
    assert_close(f_pool.mean(0), torch.zeros(10, dtype=F64))
    cov = f_pool.T @ f_pool / 199
    variances = torch.as_tensor(pca.explained_variance_)
    assert_close(cov, torch.diag(variances))  # descending principal variances
    assert (variances[:-1] >= variances[1:]).all()


def test_pca_coordinates_reject_mismatched_features():
    with pytest.raises(ValueError, match="same number of features"):
        spectral.pca_coordinates(torch.rand(20, 5), torch.rand(4, 6), n_components=2)
    with pytest.raises(ValueError, match="n_components"):
        spectral.pca_coordinates(torch.rand(20, 5), torch.rand(4, 5), n_components=6)


# --- representations and probes ------------------------------------------------------


def test_sweep_representations_are_the_closed_forms():
    x, G = _randn(50, 6, seed=10), _random_graph(50, seed=11)
    reps = spectral.sweep_representations(x, G, K=4, alphas=(0.5,), hinge_alphas=(2,))
    assert list(reps) == [
        "raw",
        "VICReg α=0.5",
        "VICReg hinge α=2",
        "Barlow Twins",
        "SimCLR spectral",
    ]
    assert_close(reps["raw"], torch.eye(6, dtype=F64))
    W, _ = spectral.vicreg_linear_closed_form(x, G, 4, alpha=0.5, degree_scale=True)
    assert_close(reps["VICReg α=0.5"], W)
    W, _ = spectral.vicreg_linear_closed_form(
        x, G, 4, alpha=2.0, variant="hinge", degree_scale=True
    )
    assert_close(reps["VICReg hinge α=2"], W)
    assert_close(
        reps["Barlow Twins"], spectral.barlow_twins_linear_closed_form(x, G, 4)
    )
    W, _ = spectral.spectral_contrastive_linear_closed_form(x, G, 4)
    assert_close(reps["SimCLR spectral"], W)


def test_sweep_representations_reject_unknown_names():
    x, G = _randn(20, 3, seed=0), _random_graph(20, seed=1)
    with pytest.raises(ValueError, match="others"):
        spectral.sweep_representations(x, G, K=2, others=("PCA",))


def _toy_features(seed):
    # Three well-separated classes in 4-D; 30 training and 60 test samples.
    g = _gen(seed)
    means = 4 * torch.randn(3, 4, generator=g, dtype=F64)
    y_train, y_test = torch.arange(3).repeat(10), torch.arange(3).repeat(20)
    f_train = means[y_train] + torch.randn(30, 4, generator=g, dtype=F64)
    f_test = means[y_test] + torch.randn(60, 4, generator=g, dtype=F64)
    return f_train, y_train, f_test, y_test


def test_probe_sweep_is_paired_and_knows_chance():
    f_train, y_train, f_test, y_test = _toy_features(0)
    zeros = (torch.zeros(30, 4, dtype=F64), torch.zeros(60, 4, dtype=F64))
    features = {"a": (f_train, f_test), "b": (f_train, f_test), "zero": zeros}
    acc = spectral.probe_sweep(features, y_train, y_test, labels_per_class=(1, 5))
    assert acc["a"].shape == (2,)
    assert torch.equal(acc["a"], acc["b"])  # same labelled subsets
    # Zero features: no gradient on the bias with balanced labels, class 0 wins.
    assert_close(acc["zero"], torch.full((2,), 1 / 3, dtype=F64))


def test_probe_sweep_standardised_ignores_the_scale_of_each_direction():
    f_train, y_train, f_test, y_test = _toy_features(1)
    scale = torch.tensor([100.0, 0.01, 1.0, 10.0], dtype=F64)
    features = {"x": (f_train, f_test), "scaled": (f_train * scale, f_test * scale)}
    acc = spectral.probe_sweep(
        features, y_train, y_test, labels_per_class=(2,), standardize=True
    )
    assert_close(acc["x"], acc["scaled"])


def test_design_sweep_returns_accuracies_and_ranks():
    result = spectral.design_sweep(
        0,
        graph="misaligned",
        pool_size=200,
        alphas=(0.1, 5.0),
        hinge_alphas=(),
        others=("raw",),
        labels_per_class=(1, 3),
        draws=1,
    )
    assert result["labels_per_class"] == (1, 3)
    assert result["rank"] == {"raw": 40, "VICReg α=0.1": 32, "VICReg α=5": 0}
    assert result["accuracy"]["raw"].shape == (2,)
    chance = result["accuracy"]["VICReg α=5"]  # collapsed: one class predicted
    assert (chance < 0.12).all()


def test_design_sweep_rejects_unknown_graphs():
    with pytest.raises(ValueError, match="graph"):
        spectral.design_sweep(0, graph="augmentation")


def test_graph_representations_names_the_maps_of_claim_5():
    maps, (f_pool, y_pool, f_test, y_test) = spectral.graph_representations(
        0, alphas=(3.0, 20.0)
    )
    assert list(maps) == [
        "raw PCA-40",
        "aligned",
        "misaligned",
        "aligned α=3",
        "aligned α=20",
    ]
    assert_close(maps["raw PCA-40"], torch.eye(40, dtype=F64))
    assert maps["aligned"].shape == (40, 32)
    # Hard constraints: the pool's representation has identity covariance.
    z = f_pool @ maps["aligned"]
    cov = torch.cov(z.T, correction=0)
    assert_close(cov, torch.eye(32, dtype=F64), rtol=0, atol=1e-8)
    # A very high invariance weight collapses every direction (rank 0).
    assert int(torch.linalg.matrix_rank(f_pool @ maps["aligned α=20"])) == 0
    assert f_test.shape == (797, 40)


# --- the supervised reference (LDA on the pool labels) --------------------------------


def test_lda_map_spans_the_generalised_eigenvectors_of_the_scatters():
    # Independent statement: LDA's directions are the top generalised eigenvectors
    # of (between-class scatter, within-class scatter), scipy.linalg.eigh.
    y = torch.arange(60) % 3
    x = _randn(60, 4, seed=3) + torch.nn.functional.one_hot(y, 4).to(F64) * 2.0
    W = spectral.lda_map(x, y)
    assert W.shape == (4, 2)
    mean = x.mean(0)
    within = sum(
        (x[y == c] - x[y == c].mean(0)).T @ (x[y == c] - x[y == c].mean(0))
        for c in range(3)
    )
    between = sum(
        (y == c).sum() * torch.outer(x[y == c].mean(0) - mean, x[y == c].mean(0) - mean)
        for c in range(3)
    )
    _, vecs = scipy.linalg.eigh(between.numpy(), within.numpy())
    expected = torch.as_tensor(vecs[:, ::-1][:, :2].copy())
    cosines = spectral.principal_angles(x @ W, x @ expected)
    assert_close(cosines, torch.ones(2, dtype=F64))


def test_lda_map_validates_its_arguments():
    x, y = _randn(10, 3, seed=0), torch.arange(10) % 2
    with pytest.raises(ValueError, match="y"):
        spectral.lda_map(x, y[:5])
    with pytest.raises(ValueError, match="y"):
        spectral.lda_map(x, torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="K"):
        spectral.lda_map(x, y, K=2)


def test_supervised_option_adds_the_lda_reference_and_keeps_the_default():
    kwargs = dict(
        pool_size=200,
        alphas=(0.1,),
        hinge_alphas=(),
        others=("raw",),
        labels_per_class=(1,),
        draws=1,
    )
    plain = spectral.design_sweep(0, **kwargs)
    with_lda = spectral.design_sweep(0, supervised=True, **kwargs)
    assert list(plain["accuracy"]) == ["raw", "VICReg α=0.1"]
    assert list(with_lda["accuracy"]) == ["raw", "VICReg α=0.1", "LDA (pool labels)"]
    assert with_lda["rank"]["LDA (pool labels)"] == 9
    assert_close(with_lda["accuracy"]["raw"], plain["accuracy"]["raw"])
