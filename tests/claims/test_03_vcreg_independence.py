"""Claims of chapter 03 (book/03_vcreg_independence), arXiv:2209.14905.

Claim 1 is shown in notebook 1 (VCReg on a separable random-feature projector is a
pairwise HSIC penalty, the book's (V3)), claims 2 and 3 in notebook 2 (VCReg as a linear
ICA solver, against scikit-learn's FastICA; the number of random features), claims 4 and
5 in notebook 3 (pairwise independence of SSL representations). (V3) and (V4) are the
book's own derivations; the paper's theorems were not available.

Claims 4 and 5 do not reproduce at small scale as the paper states them; their tests
check what the notebook observes instead (documented there as non-reproductions): SSL
training *raises* the pairwise HSIC of digits representations above an untrained
network, and a frozen random projector raises it further. The paper's ordering
(VICReg below SimCLR) is not asserted: SimCLR is lower on every measured seed, by about
one seed standard deviation. `make test` sends a whole test file to one xdist worker,
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
    # CPU, seeds 0 / 1 (seeds 0-9 in brackets):
    # - split c = c_cross + c_within: relative gap 1.4e-16 / 0 (max 2e-16; bound
    #   1e-12, float64 rounding);
    # - |c_cross / (m/d (n/(n-1))^2 sum_{i != j} HSIC_k^) - 1|: 6.9e-15 / 7.5e-15
    #   (max 1.2e-14; bound 1e-10); dropping the (n/(n-1))^2 factor gives 2.0e-3
    #   and dividing C by n instead of n - 1 the same, so the bound detects either;
    # - RFF HSIC relative error (mean of 20 draws): m = 256: 0.103 / 0.111 (max
    #   0.117; bound 0.25); m = 8 over m = 256: 5.5 / 4.5 (min 4.1, m^(-1/2)
    #   predicts 5.7; bound 2.5, under half the gap of 4.5 to 1);
    # - c_cross(whitened mixture) / c_cross(sources): 12.3 / 20.2 (min 7.9; bound 5,
    #   under half of 12.3). Runtime about 1.2 s per seed on one thread.
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

    message = (
        f"seed {seed}: split gap {split_gap:.1e}, identity gap {identity_gap:.1e}, "
        f"RFF error m=8 {err_8:.3f}, m=256 {err_256:.3f} (x{err_8 / err_256:.1f}), "
        f"c_cross mixture {c_cross:.4f} / sources {c_sources:.4f} = {ratio:.1f}"
    )
    assert split_gap < 1e-12, message
    assert identity_gap < 1e-10, message
    assert err_256 < 0.25, message
    assert err_8 > 2.5 * err_256, message
    assert ratio > 5.0, message


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


@pytest.mark.claim(
    chapter="03",
    k=2,
    statement="VCReg's cross-block covariance term on a frozen separable "
    "random-feature projector solves linear ICA far beyond whitening, close to "
    "FastICA; the full covariance term does worse",
)
@pytest.mark.parametrize("seed", ICA_SEEDS)
def test_claim2_vcreg_solves_linear_ica(seed):
    # Claim 2 (target claim-03-2). Measured, seeds 0 / 1 / 2 (Amari distance):
    # whitening 0.438 / 0.434 / 0.277, cross-block VCReg 0.034 / 0.027 / 0.020, full
    # VCReg 0.224 / 0.248 / 0.232, FastICA 0.0094 / 0.0112 / 0.0080. Bounds: cross-block
    # < 0.15 and < 0.5 x whitening (the brief's; measured ratios 0.06-0.08); full -
    # cross-block > 0.09 (smallest gap 0.190); whitening - full > 0.02 (smallest gap
    # 0.045, seed 2); FastICA < 0.03 (the reference works on this problem). Replacing
    # the cross-block penalty by the full one fails the first bound. The solver lands
    # in a mixed minimum on 5 of 60 seeds (8, 22, 24, 51, 52), none of 0-2.
    # About 2-3 s per seed on one thread.
    p = _problem(seed)
    whitening = independence.amari_distance(independence.whiten(p.x)[1], p.mixing)
    fastica = independence.amari_distance(
        independence.fastica(p.x, random_state=0), p.mixing
    )
    cross = _vcreg_amari(seed, "cross_block")
    full = _vcreg_amari(seed, "full")
    message = (
        f"seed {seed}: Amari whitening {whitening:.3f}, cross-block {cross:.3f}, "
        f"full {full:.3f}, FastICA {fastica:.4f}"
    )
    assert cross < 0.15, message
    assert cross < 0.5 * whitening, message
    assert full - cross > 0.09, message
    assert whitening - full > 0.02, message
    assert fastica < 0.03, message


@pytest.mark.claim(
    chapter="03",
    k=3,
    statement="The separable projector is never trained, and with enough random "
    "features per coordinate (m = 32 against m = 4) the ICA solver finds the rotation "
    "more reliably",
)
def test_claim3_random_features_sweep():
    # Claim 3 (target claim-03-3). The projector has no trainable parameter (only the
    # buffers omega and b), so independence emerges without training it. Sweep m in
    # {4, 8, 16, 32, 64}, seeds 0-2 (Amari distance): m = 4: 0.320 / 0.112 / 0.041,
    # m = 8: 0.171 / 0.251 / 0.053, m = 16: 0.051 / 0.029 / 0.036, m = 32: 0.034 /
    # 0.027 / 0.020, m = 64: 0.816 / 0.027 / 0.069 (seed 0 in a mixed minimum). No
    # monotone trend beyond m = 16, so the test checks only the robust part: the mean
    # over seeds 0-2 at m = 4 exceeds the one at m = 32 by 0.131; bound 0.06. Over 20
    # seeds (measured once): runs above 0.1 are 8/20 at m = 4, 1/20 at m = 32, and
    # m = 32 is below m = 4 on 16 of 20 seeds. About 5 s on one thread (the m = 32 runs
    # are shared with the claim-2 test when both run).
    projector = independence.SeparableProjector(
        4, 32, sigma=2.0, generator=torch.Generator().manual_seed(0)
    )
    n_trainable = sum(p.numel() for p in projector.parameters() if p.requires_grad)
    assert n_trainable == 0, f"the projector has {n_trainable} trainable parameters"
    few = [_vcreg_amari(seed, m=4) for seed in ICA_SEEDS]
    enough = [_vcreg_amari(seed, m=32) for seed in ICA_SEEDS]
    gap = sum(few) / len(few) - sum(enough) / len(enough)
    message = (
        f"Amari per seed, m = 4: {[round(a, 3) for a in few]}, m = 32: "
        f"{[round(a, 3) for a in enough]}; mean gap {gap:.3f}"
    )
    assert gap > 0.06, message


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
    statement="Not reproduced at small scale: VICReg does not make the representation "
    "more pairwise independent; it raises the pairwise HSIC above an untrained network",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim4_ssl_pairwise_independence(seed):
    # Claim 4 (target claim-03-4), as observed, not as the paper states it. Measured
    # (torch 2.13, 2-core CPU, one thread), unbiased normalised HSIC, seeds 0 / 1 / 2:
    # VICReg 0.0525 / 0.0674 / 0.0724, untrained 0.0199 / 0.0192 / 0.0279: gaps
    # 0.033 / 0.048 / 0.045. Margin 0.015, under half the smallest gap (0.0164).
    # (Biased, as in the notebook: VICReg 0.056 / 0.071, untrained 0.024 / 0.023.)
    # About 5-10 s per seed on one thread (one VICReg network, 235 steps; 60 steps
    # keep the gap, 0.023-0.034, but claim 5 needs the 235-step network anyway).
    vicreg, untrained = _hsic(seed, "vicreg"), _hsic(seed, "untrained")
    assert vicreg - untrained > 0.015, (
        f"seed {seed}: pairwise HSIC VICReg {vicreg:.4f}, untrained {untrained:.4f}"
    )


@pytest.mark.slow
@pytest.mark.claim(
    chapter="03",
    k=5,
    statement="Not reproduced at small scale: a frozen random projector does not give "
    "more independent features; it raises the pairwise HSIC above a trained projector",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim5_frozen_projector(seed):
    # Claim 5 (target claim-03-5), as observed. VICReg, W = 64, same initial weights,
    # batches and views; frozen = SSLRun(freeze_projector=True). Measured, unbiased
    # normalised HSIC, seeds 0 / 1 / 2: frozen 0.0983 / 0.0984 / 0.1023, trained
    # 0.0525 / 0.0674 / 0.0724: gaps 0.046 / 0.031 / 0.030. Margin 0.014, under half
    # the smallest gap (0.0149). The gap needs the full 50 epochs: at 120 steps it
    # falls to 0.016 on seed 2, at 60 steps to 0.009 on seed 1 (biased HSIC). About
    # 5 s per seed (the trained network comes from the claim-4 test's cache).
    frozen, trained = _hsic(seed, "frozen"), _hsic(seed, "vicreg")
    assert frozen - trained > 0.014, (
        f"seed {seed}: pairwise HSIC frozen projector {frozen:.4f}, "
        f"trained {trained:.4f}"
    )
