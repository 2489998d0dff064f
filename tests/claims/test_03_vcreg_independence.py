"""Claims of chapter 03 (book/03_vcreg_independence), arXiv:2209.14905.

Claim 1 is shown in notebook 1 (VCReg on a separable random-feature projector is a
pairwise HSIC penalty, the book's (V3)), claims 2 and 3 in notebook 2 (a cross-block
HSIC penalty derived from VCReg as a linear ICA solver, against scikit-learn's
FastICA; the number of random features), claims 4 and 5 in notebook 3 (pairwise
independence of SSL representations). (V3) and (V4) are the book's own derivations.

Claims 4 and 5 are stated in the v1 abstract of the paper; at small scale the
evidence is inconclusive (the projector output is far from decorrelated, so the
premise of the mechanism is not met), so their tests check what the notebook
observes instead: SSL training *raises* the pairwise HSIC of digits representations
above an untrained network, and a frozen random projector raises it further. Every
test holds a negative control: the same assertion on a setting where the claim is
false, asserted to fail. `make test` sends a whole test file to one xdist worker,
where the cache trains each seed's VICReg network once for both tests.
"""

import dataclasses
import functools

import pytest
import torch

from dltheory import augment, data, independence, losses, probes, train

SEEDS = [0, 1]

# --- notebook 1: covariance of random features is HSIC -------------------------

N, D_COORDS, M, SIGMA = 1000, 4, 32, 1.0
RFF_DRAWS = 20


def _hsic_from_grams(K, L):
    # (V2) for given Gram matrices (n, n): tr(K H L H) / n^2 = <H K H, L>_F / n^2.
    K_c = K - K.mean(0) - K.mean(1, keepdim=True) + K.mean()  # H K H
    return (K_c * L).sum() / K.shape[0] ** 2


def _rff_relative_error(h, m, gamma, generator):
    # Mean over draws of sum_{i != j} |HSIC_rff - HSIC| / sum_{i != j} HSIC.
    exact = independence.pairwise_hsic(h, gamma=gamma)  # (d, d)
    off = ~torch.eye(h.shape[1], dtype=torch.bool)
    errors = []
    for _ in range(RFF_DRAWS):
        rff = independence.pairwise_hsic_rff(h, m, gamma=gamma, generator=generator)
        errors.append(((rff - exact)[off].abs().sum() / exact[off].sum()).item())
    return sum(errors) / len(errors)


@pytest.mark.claim(
    chapter="03",
    k=1,
    statement="VCReg's covariance term on the output of a separable random-feature "
    "projector is a pairwise HSIC penalty on its input (under the random-feature "
    "kernel, which tends to a Gaussian kernel) plus a within-coordinate marginal term",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim1_vcreg_on_separable_rff_is_pairwise_hsic(seed):
    # Claim 1 (target claim-03-1), the book's (V3). Measured with torch 2.13 on the
    # CPU, one thread, December 2026, seeds 0 / 1 / 2 / 3 / 4:
    # - split c = c_cross + c_within: relative gap 0 on every seed (bound 1e-12,
    #   float64 rounding);
    # - |c_cross / (m/d (n/(n-1))^2 sum_{i != j} HSIC_k^) - 1|: 6.7e-16 / 2.4e-15 /
    #   1.6e-14 / 7.8e-16 / 8.3e-15 (bound 1e-10); dropping the (n/(n-1))^2 factor
    #   gives 2.0e-3, and dividing C by n instead of n - 1 the same;
    # - RFF HSIC relative error (mean of 20 draws): m = 256: 0.103 / 0.111 / 0.090 /
    #   0.100 / 0.096 (bound 0.25); m = 8 over m = 256: 5.5 / 4.5 / 4.8 / 4.9 / 5.4
    #   (m^(-1/2) predicts 5.7; bound 2.5, under half the gap of 4.5 to 1);
    # - c_cross(whitened mixture) / c_cross(sources): 12.3 / 20.2 / 11.9 / 8.9 / 26.1
    #   (bound 5, about half of 8.9).
    # Negative controls (seeds 0-4, December 2026): (a) the wrong formula, the
    # constant without (n/(n-1))^2, gives an identity gap of 2.0e-3 on every seed,
    # so `identity_gap < 1e-10` fails on it; (b) Gaussian sources (independent in
    # every rotated basis, so no rotation is more dependent than another): the
    # cross-block ratio of the whitened mixture to the sources is 0.95 / 0.72 /
    # 0.53 / 1.04 / 0.92, so `ratio > 5` fails on it (non-Gaussian sources, seeds
    # 0-4: 12.3 / 20.2 / 11.9 / 8.9 / 26.1). Runtime about 1.5 s per seed on one
    # thread.
    gen = torch.Generator().manual_seed(seed)
    problem = independence.ica_problem(N, D_COORDS, generator=gen)
    h, _ = independence.whiten(problem.x)  # (n, d) white, dependent coordinates
    projector = independence.SeparableProjector(
        D_COORDS, M, sigma=SIGMA, generator=torch.Generator().manual_seed(seed)
    ).double()
    z = projector(h)  # (n, d m)

    c_total = losses.covariance(z).item()
    c_cross = independence.cross_block_covariance(z, d=D_COORDS).item()
    c_within = independence.within_block_covariance(z, d=D_COORDS).item()
    split_gap = abs(c_cross + c_within - c_total) / c_total

    blocks = [z[:, j * M : (j + 1) * M] for j in range(D_COORDS)]  # (n, m) each
    grams = [Z_j @ Z_j.T / M for Z_j in blocks]  # (n, n) random-feature kernels
    hsic_sum = sum(
        _hsic_from_grams(grams[i], grams[j]).item()
        for i in range(D_COORDS)
        for j in range(D_COORDS)
        if i != j
    )
    constant = M / D_COORDS * (N / (N - 1)) ** 2
    identity_gap = abs(c_cross / (constant * hsic_sum) - 1)

    gamma = 1 / (2 * SIGMA**2)  # the projector's kernel exp(-(t - t')^2 / (2 sigma^2))
    g_rff = torch.Generator().manual_seed(100 + seed)
    err_8 = _rff_relative_error(h, 8, gamma, g_rff)
    err_256 = _rff_relative_error(h, 256, gamma, g_rff)

    c_sources = independence.cross_block_covariance(
        projector(problem.sources), d=D_COORDS
    ).item()
    ratio = c_cross / c_sources

    # Negative control (a): the wrong constant, without the (n/(n-1))^2 factor.
    wrong_gap = abs(c_cross / (M / D_COORDS * hsic_sum) - 1)
    # Negative control (b): Gaussian sources and their whitened mixture.
    g_gauss = torch.Generator().manual_seed(1000 + seed)
    s_gauss = torch.randn(N, D_COORDS, generator=g_gauss, dtype=torch.float64)
    a_gauss = torch.randn(D_COORDS, D_COORDS, generator=g_gauss, dtype=torch.float64)
    h_gauss, _ = independence.whiten(s_gauss @ a_gauss.T)  # (n, d) white
    ratio_gauss = (
        independence.cross_block_covariance(projector(h_gauss), d=D_COORDS)
        / independence.cross_block_covariance(projector(s_gauss), d=D_COORDS)
    ).item()

    message = (
        f"seed {seed}: split gap {split_gap:.1e}, identity gap {identity_gap:.1e} "
        f"(wrong constant {wrong_gap:.1e}), RFF error m=8 {err_8:.3f}, m=256 "
        f"{err_256:.3f} (x{err_8 / err_256:.1f}), c_cross mixture {c_cross:.4f} / "
        f"sources {c_sources:.4f} = {ratio:.1f} (Gaussian sources {ratio_gauss:.2f})"
    )
    assert split_gap < 1e-12, message
    assert identity_gap < 1e-10, message
    assert err_256 < 0.25, message
    assert err_8 > 2.5 * err_256, message
    assert ratio > 5.0, message
    # negative control: the same assertions fail for the wrong constant and for
    # Gaussian sources, where no rotation is more dependent than another
    assert not wrong_gap < 1e-10, message
    assert not ratio_gauss > 5.0, message


# --- notebook 2: VCReg as a linear ICA solver -----------------------------------

ICA_SEEDS = [0, 1, 2]


@functools.cache
def _problem(seed):
    return independence.ica_problem(
        5000, 4, generator=torch.Generator().manual_seed(seed)
    )


@functools.cache
def _vcreg_amari(seed, penalty="cross_block", m=32):
    p = _problem(seed)
    result = independence.vcreg_ica(
        p.x,
        m=m,
        penalty=penalty,
        mixing=p.mixing,
        generator=torch.Generator().manual_seed(seed),
        device="cpu",
    )
    return result.amari[-1].item()


def _gaussian_problem(seed):
    # Negative control of claim 2: Gaussian sources, n = 5000, A ~ N(0, 1)^{4 x 4};
    # any rotation of white Gaussian data is as independent as the sources, so no
    # method can find A.
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(4, 4, generator=g, dtype=torch.float64)
    S = torch.randn(5000, 4, generator=g, dtype=torch.float64)
    return S @ A.T, A


def _solves(amari, whitening):
    # Claim 2's criterion for "solves ICA": the Amari distance under 0.15 and under
    # half of whitening's.
    return amari < 0.15 and amari < 0.5 * whitening


@pytest.mark.claim(
    chapter="03",
    k=2,
    statement="A cross-block HSIC penalty derived from VCReg (its covariance term "
    "restricted to pairs of different coordinates) on a frozen separable "
    "random-feature projector solves linear ICA at d = 4; VCReg's whole covariance "
    "term only partly (better than whitening, worse than the cross-block penalty)",
)
@pytest.mark.parametrize("seed", ICA_SEEDS)
def test_claim2_vcreg_solves_linear_ica(seed):
    # Claim 2 (target claim-03-2). sigma = 2 was chosen on seeds 100-104, disjoint
    # from every seed below (mean Amari of the cross-block solver: sigma = 1: 0.351,
    # two mixed minima; sigma = 2: 0.031; sigma = 4: 0.164). Measured with torch 2.13,
    # one thread, December 2026, seeds 0 / 1 / 2 / 3 / 4 (Amari distance):
    # whitening 0.438 / 0.434 / 0.277 / 0.271 / 0.525; cross-block 0.034 / 0.027 /
    # 0.020 / 0.034 / 0.019; full term 0.224 / 0.248 / 0.232 / 0.195 / 0.126;
    # FastICA 0.0094 / 0.0112 / 0.0080 / 0.0063 / 0.0131.
    # - solves: cross-block < 0.15 and < 0.5 x whitening (largest ratio 0.13);
    # - only partly: whitening - full > 0.02 (gaps 0.214 / 0.186 / 0.045 / 0.076 /
    #   0.399, half the smallest) and full - cross-block > 0.05 (gaps 0.190 / 0.221
    #   / 0.212 / 0.161 / 0.107, half the smallest). The full term is not a failure
    #   of the criterion on every seed (seed 4: 0.126), hence "partly";
    # - negative control, Gaussian sources (seeds 0-4): cross-block 0.461 / 0.401 /
    #   0.395 / 0.342 / 0.350 against whitening 0.44 / 0.49 / 0.47 / 0.66 / 0.49,
    #   so `_solves` fails there;
    # - FastICA < 0.03 (the reference works on this problem).
    # The solver lands in a mixed minimum on 5 of 60 seeds (8, 22, 24, 51, 52), none
    # of 0-2, and fails at d = 8 (claims.yml, measured once). About 4 s per seed on
    # one thread.
    p = _problem(seed)
    whitening = independence.amari_distance(independence.whiten(p.x)[1], p.mixing)
    fastica = independence.amari_distance(
        independence.fastica(p.x, random_state=0), p.mixing
    )
    cross = _vcreg_amari(seed, "cross_block")
    full = _vcreg_amari(seed, "full")
    x_gauss, a_gauss = _gaussian_problem(seed)
    gauss = independence.vcreg_ica(
        x_gauss,
        mixing=a_gauss,
        generator=torch.Generator().manual_seed(seed),
        device="cpu",
    ).amari[-1]
    gauss_whitening = independence.amari_distance(
        independence.whiten(x_gauss)[1], a_gauss
    )
    message = (
        f"seed {seed}: Amari whitening {whitening:.3f}, cross-block {cross:.3f}, "
        f"full {full:.3f}, FastICA {fastica:.4f}; Gaussian sources: cross-block "
        f"{gauss:.3f}, whitening {gauss_whitening:.3f}"
    )
    assert _solves(cross, whitening), message
    assert whitening - full > 0.02, message
    assert full - cross > 0.05, message
    assert fastica < 0.03, message
    # negative control: on Gaussian sources the same criterion must fail
    assert not _solves(gauss.item(), gauss_whitening), message


FAILURE_SEEDS = list(range(10))


def _failures(m):
    # Runs of the ICA solver with Amari distance above 0.1, seeds 0-9.
    return sum(_vcreg_amari(seed, m=m) > 0.1 for seed in FAILURE_SEEDS)


@pytest.mark.claim(
    chapter="03",
    k=3,
    statement="With the projector frozen at its random draw, too few random features "
    "per coordinate (m = 4) make the ICA solver miss the rotation more often than "
    "m = 32",
)
def test_claim3_random_features_sweep():
    # Claim 3 (target claim-03-3). The projector has no trainable parameter by
    # construction (only the buffers omega and b), so that is not evidence; what is
    # tested is that a random projector needs enough features. Runs with Amari > 0.1
    # over seeds 0-9 (torch 2.13, one thread, December 2026), per seed:
    # m = 4: 0.320 / 0.112 / 0.041 / 0.055 / 0.267 / 0.093 / 0.044 / 0.529 / 0.040 /
    #   0.150: 5 of 10; m = 32: 0.034 / 0.027 / 0.020 / 0.034 / 0.019 / 0.054 /
    #   0.015 / 0.033 / 0.297 / 0.038: 1 of 10 (seed 8, a mixed minimum); m = 16:
    #   0.051 / 0.029 / 0.036 / 0.028 / 0.273 / 0.053 / 0.046 / 0.040 / 0.034 /
    #   0.028: 1 of 10. The 20-seed run (measured once, November 2026): 8/20 at
    #   m = 4, 8/20 at m = 8, 1/20 at m = 16 and m = 32, so the gap m = 4 minus
    #   m = 32 is 4 on seeds 0-9 and 3 on seeds 10-19; bound >= 2, about half the
    #   smallest. Negative control: m = 16 against m = 32 (no difference in the
    #   20-seed run, 1 and 1 here) must fail the same bound. About 15 s on one
    #   thread (the m = 32 runs of seeds 0-2 are shared with the claim-2 test).
    few, enough, control = _failures(4), _failures(32), _failures(16)
    message = (
        f"runs with Amari > 0.1 over seeds 0-9: m = 4: {few}, m = 32: {enough}, "
        f"m = 16 (negative control): {control}"
    )
    assert few - enough >= 2, message
    # negative control: m = 16 is enough features, so the same bound must fail
    assert not control - enough >= 2, message


# --- notebook 3: pairwise independence of SSL representations ------------------

VIEWS = augment.strong_digits_augmentation()
RUN = train.SSLRun(
    loss="vicreg",
    backbone_widths=(512, 256),
    projector_widths=(64, 64),
    steps=235,
    batch_size=256,
    lr=1e-3,
)


@functools.cache
def _digits():
    return data.digits(train_size=1200, test_size=597, seed=0)


def _dependence(h):
    # The notebook's score with the unbiased estimator: 32 non-constant features
    # drawn once with a generator seeded 0.
    return independence.feature_dependence(h, n_features=32, seed=0, unbiased=True)[
        "hsic"
    ]


@functools.cache
def _hsic(seed, network):
    x_train, _, x_test, _ = _digits()
    if network == "untrained":
        torch.manual_seed(seed)
        return _dependence(probes.embed(RUN.model(64).backbone, x_test))
    run = dataclasses.replace(RUN, freeze_projector=network == "frozen")
    model, _ = train.run_ssl(
        run,
        x_train,
        augmentation=VIEWS,
        generator=torch.Generator().manual_seed(seed),
        device="cpu",
        progress=False,
    )
    return _dependence(probes.embed(model, x_test))


@pytest.mark.slow
@pytest.mark.claim(
    chapter="03",
    k=4,
    statement="Inconclusive at small scale (the paper: VCReg SSL methods learn more "
    "pairwise-independent representations than other methods); observed: VICReg "
    "training raises the pairwise HSIC of the representation above an untrained "
    "network",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim4_ssl_pairwise_independence(seed):
    # Claim 4 (target claim-03-4), as observed, not as the paper states it. Measured
    # (torch 2.13, one thread, December 2026), unbiased normalised HSIC, seeds
    # 0 / 1 / 2 / 3 / 4: VICReg 0.0504 / 0.0688 / 0.0747 / 0.0600 / 0.0599, untrained
    # 0.0199 / 0.0192 / 0.0279 / 0.0224 / 0.0220: gaps 0.031 / 0.050 / 0.047 / 0.038
    # / 0.038. Margin 0.015, about half the smallest gap (0.0305). SimCLR: 0.0479 /
    # 0.0625 / 0.0623 / 0.0632 / 0.0531 (not asserted).
    # After ZCA-whitening the 32 features (feature_dependence(whiten=True), dependence
    # beyond correlation only), seeds 0-4: VICReg 0.0185 / 0.0164 / 0.0239 / 0.0165 /
    # 0.0168, SimCLR 0.0110 / 0.0116 / 0.0172 / 0.0114 / 0.0154, untrained 0.0092 /
    # 0.0117 / 0.0133 / 0.0122 / 0.0104 (not asserted: the verdict is inconclusive).
    # Negative control: an untrained network of the next seed in place of VICReg (no
    # training, so the claim is false there): untrained(s + 1) - untrained(s) =
    # -0.0007 / +0.0087 / -0.0055 / -0.0004 / -0.0001 for s = 0-4, so the same bound
    # fails on it. About 10 s per seed on one thread (one VICReg network, 235 steps;
    # the claim-5 test reuses it).
    vicreg, untrained = _hsic(seed, "vicreg"), _hsic(seed, "untrained")
    control = _hsic(seed + 1, "untrained")
    message = (
        f"seed {seed}: pairwise HSIC VICReg {vicreg:.4f}, untrained {untrained:.4f}, "
        f"untrained of seed {seed + 1} (negative control) {control:.4f}"
    )
    assert vicreg - untrained > 0.015, message
    # negative control: without training the same bound must fail
    assert not control - untrained > 0.015, message


@pytest.mark.slow
@pytest.mark.claim(
    chapter="03",
    k=5,
    statement="Inconclusive at small scale (the paper: pairwise independence emerges "
    "independently from learning the projector); observed: training the backbone "
    "through a frozen random projector raises the pairwise HSIC above a trained "
    "projector",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim5_frozen_projector(seed):
    # Claim 5 (target claim-03-5), as observed. VICReg, W = 64, same initial weights,
    # batches and views; frozen = SSLRun(freeze_projector=True). Measured (torch
    # 2.13, one thread, December 2026), unbiased normalised HSIC, seeds 0-4: frozen
    # 0.1008 / 0.0946 / 0.0984 / 0.1048 / 0.1029, trained 0.0504 / 0.0688 / 0.0747 /
    # 0.0600 / 0.0599: gaps 0.050 / 0.026 / 0.024 / 0.045 / 0.043. Margin 0.012,
    # about half the smallest gap (0.0237).
    # Whitened (seeds 0-4): frozen 0.0242 / 0.0145 / 0.0240 / 0.0183 / 0.0219 against
    # trained 0.0185 / 0.0164 / 0.0239 / 0.0165 / 0.0168: the gap is mostly linear
    # correlation (not asserted).
    # Negative control: the frozen-projector network before any training (the
    # untrained backbone: nothing learnt through the frozen projector): untrained -
    # trained = -0.031 / -0.050 / -0.047 / -0.038 / -0.038, so the same bound fails.
    # About 10 s per seed (the trained network comes from the claim-4 test's cache).
    frozen, trained = _hsic(seed, "frozen"), _hsic(seed, "vicreg")
    control = _hsic(seed, "untrained")
    message = (
        f"seed {seed}: pairwise HSIC frozen projector {frozen:.4f}, trained "
        f"{trained:.4f}, untrained (negative control) {control:.4f}"
    )
    assert frozen - trained > 0.012, message
    # negative control: before training through the frozen projector, the same
    # bound must fail
    assert not control - trained > 0.012, message
