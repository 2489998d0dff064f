"""Claims of chapter 04 (book/04_vicreg_information), arXiv:2207.10081.

Claim 1 is shown in notebook 1 (the spline push-forward of a Gaussian-mixture input),
claims 2 and 4 in notebook 2 (the objective VICReg's terms stand for, against
SimCLR; the dimensional collapse behind the strongly correlated embedding), claim 3 in
notebook 3 (the paper's assumptions on trained embeddings). The labels (I1)-(I6) and
the steps the chapter marks as such are the book's own statement of the paper's
construction.
"""

import dataclasses
import functools
from functools import partial

import pytest
import torch
from torch import nn

from dltheory import augment, data, information, losses, models, probes, runtime, train

# --- notebook 1: the push-forward of a Gaussian-mixture input --------------------

SAMPLES = 2000  # noise draws per anchor, as in the notebook


def _moons_spline_and_anchors(seed):
    # The notebook's setting (section 2): a 2-16-16-2 ReLU MLP trained for 500 Adam
    # steps with VICReg on two moons (Gaussian-noise views, std 0.1), and 8 random
    # training points as anchors. Seed 0 is the notebook's run.
    runtime.seed_everything(seed)
    moons = data.two_moons(1000, noise=0.1, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = models.MLP([2, 16, 16, 2])
    train.train_ssl(
        models.JointEmbedding(net, torch.nn.Identity()),
        moons.x_train,
        augmentation=partial(augment.gaussian_noise, std=0.1),
        loss_fn=losses.vicreg,
        steps=500,
        batch_size=256,
        lr=1e-2,
        generator=torch.Generator().manual_seed(seed),
        device="cpu",
        progress=False,
    )
    pick = torch.randperm(
        len(moons.x_train), generator=torch.Generator().manual_seed(seed)
    )
    return net, moons.x_train[pick[:8]]


def _pushforward_errors(net, anchors, sigma, seed):
    """Per anchor: fraction in region, errors vs (I2) and the check's samples."""
    c = information.pushforward_check(
        net,
        anchors,
        sigma,
        samples=SAMPLES,
        generator=torch.Generator().manual_seed(seed),
    )
    xc = (c.x_samples - c.x_samples.mean(1, keepdim=True)).double()  # (N, S, p)
    J = c.pushforward.jacobian.double()  # (N, d, p)
    drawn = J @ (xc.transpose(1, 2) @ xc / (SAMPLES - 1)) @ J.transpose(1, 2)
    return {
        "fraction": c.fraction,
        "error": c.error,  # relative Frobenius error (leading directions)
        "white": information.whitened_covariance_error(c.z_samples, c.pushforward.cov),
        "exact": information.relative_covariance_error(c.z_samples, drawn),
        # median p of D'Agostino-Pearson on 5 random projections per anchor
        "p": information.gaussianity_tests(
            c.z_samples,
            n_dirs=5,
            shared_directions=False,
            generator=torch.Generator().manual_seed(seed),
        ),  # (N, 5)
        "check": c,
    }


def _gaussian_in_region(m, inside, cov):
    # The claim's assertion on the anchors that keep >= 99 % of their noise in
    # their region: every direction of the predicted covariance within 12 %
    # (whitened error), and normality not rejected (median p over anchors and
    # directions >= 0.05).
    white = information.whitened_covariance_error(m["check"].z_samples, cov)[inside]
    p = m["p"][inside].median().item()
    return float(white.max()) <= 0.12 and p >= 0.05, float(white.max()), p


@pytest.mark.claim(
    chapter="04",
    k=1,
    statement="A ReLU network maps a small Gaussian around a data point exactly to "
    "the Gaussian N(f(x_n), J Sigma J^T) while the noise stays in the point's linear "
    "region; on the 2-D moons net the prediction breaks once most of the noise has "
    "left, while leaving the region alone does not break it (MNIST-1D)",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim1_pushforward_is_gaussian_where_noise_stays_in_region(seed):
    # Claim 1 (target claim-04-1), the notebook's setting; seed 0 is the notebook's run.
    # Measured (torch 2.13, CPU), seeds 0-5 (0, 1 asserted):
    # - sigma = 0.01: 5, 5, 3, 5, 3, 6 of 8 anchors keep >= 99 % of their samples in
    #   their region. Their worst whitened covariance error (every direction alike;
    #   RMS floor sqrt(3/1999) = 0.039) is 0.045, 0.068, 0.054, 0.052, 0.054, 0.071;
    #   their worst relative Frobenius error 0.020-0.060. Pooled median normaltest
    #   p over in-region anchors and directions 0.535, 0.369, 0.756, 0.514, 0.554,
    #   0.327 (margin: the 5 % level). Where all samples stay, the outputs are the
    #   affine image of the drawn inputs to <= 4e-6 (float32 rounding).
    # - negative controls (the wrong formula): the Jacobian of the next anchor
    #   (rolled by one) gives a worst in-region whitened error of 4970, 18.3, 0.87,
    #   13.6, 2.19, 8.02; covariances 20 % too large give 0.194, 0.188, 0.197,
    #   0.162, 0.201, 0.205. Margin 0.12: between 0.071 and 0.162 (half the gap).
    # - sigma = 10**-0.5 = 0.316: median fraction in region 0.23, 0.12, 0.10, 0.04,
    #   0.11, 0.14 (margin 0.5); pooled median normaltest p 3e-23, 4e-36, 7e-67,
    #   9e-19, 2e-30, 4e-19 (negative control: normality rejected once most of the
    #   noise has left). Median Frobenius error 0.271, 0.408 (0.20-0.45) over the
    #   in-region max (margin 0.1, unchanged).
    # Leaving the region does not by itself break (I2): on MNIST-1D (notebook 1,
    # section 6) the median fraction in region is 0.40 at sigma = 0.01 and 0.02 at
    # 0.03, with whitened errors 0.080 and 0.098 against a floor of 0.074 and
    # normality not rejected; that part is shown, not asserted (its training costs
    # more than this test's budget).
    net, anchors = _moons_spline_and_anchors(seed)
    m = _pushforward_errors(net, anchors, 0.01, seed)
    inside, whole = m["fraction"] >= 0.99, m["fraction"] == 1.0
    cov = m["check"].pushforward.cov  # (N, d, d)
    ok, white, p = _gaussian_in_region(m, inside, cov)
    values = (
        f"seed {seed}, sigma 0.01: fractions {m['fraction'].numpy().round(3)}, "
        f"whitened {m['white'].numpy().round(3)}, Frobenius "
        f"{m['error'].numpy().round(3)}, exact {m['exact'].numpy()}; in region: "
        f"worst whitened {white:.3f}, median p {p:.3f}"
    )
    assert int(inside.sum()) >= 3, values
    assert float(m["exact"][whole].max()) <= 1e-4, values
    assert ok, values
    assert float(m["error"][inside].max()) <= 0.1, values
    # Negative control (the wrong formula): the same assertion with the map of the
    # next anchor's region, and with covariances 20 % too large, must fail.
    rolled = cov[torch.roll(torch.arange(len(cov)), 1)]
    for name, wrong in (("next anchor's J", rolled), ("1.2 x cov", 1.2 * cov)):
        fails, white_w, _ = _gaussian_in_region(m, inside, wrong)
        assert not fails, f"{values}; negative control {name}: worst {white_w:.3f}"

    m_l = _pushforward_errors(net, anchors, 10**-0.5, seed)
    p_l = m_l["p"].median().item()
    values_l = (
        f"seed {seed}, sigma 0.316: fractions {m_l['fraction'].numpy().round(3)}, "
        f"Frobenius {m_l['error'].numpy().round(3)}, median p {p_l:.4f}"
    )
    assert float(m_l["fraction"].median()) <= 0.5, values_l
    # Negative control (noise that has left its region): normality is rejected.
    assert p_l < 0.05, values_l
    assert float(m_l["error"].median()) >= float(m["error"][inside].max()) + 0.1, (
        values_l
    )


# --- notebook 2: the Gaussian MI during training, and the collapse ---------------

SEEDS = [0, 1]
EPOCHS = 60


@functools.cache
def _setting():
    split = data.digits(train_size=1200, test_size=597, seed=0)
    views = augment.as_images(
        augment.compose(
            partial(
                augment.random_affine, max_degrees=30.0, max_shift=2.0, max_scale=0.25
            ),
            partial(augment.gaussian_noise, std=0.1),
            augment.clip,
        ),
        shape=(1, 8, 8),
    )
    test_views = augment.two_views(
        split.x_test, views, generator=torch.Generator().manual_seed(1234)
    )  # (597, 64) each, drawn once as in the notebook
    run = train.SSLRun(
        backbone_widths=(512, 256),
        projector_widths=(256, 32),
        steps=-(-EPOCHS * len(split.x_train) // 256),  # 282
    )
    return split, views, test_views, run


def _embed(model, test_views):
    # z of both fixed test views, batch norm in eval mode; float64.
    model.eval()
    with torch.no_grad():
        return tuple(model(x)[1].double() for x in test_views)  # (597, 32) each


@functools.cache
def _trained(seed, cov_weight=1.0, loss="vicreg"):
    # (z at initialisation, z after training) on the two test views, as in the
    # notebook's train_logged: torch.manual_seed(seed) for the weights, a generator
    # seeded with `seed` for the batches and views. loss="info_nce" is the
    # notebook's SimCLR (tau = 0.2).
    split, views, test_views, base = _setting()
    run = dataclasses.replace(base, cov_weight=cov_weight, loss=loss, temperature=0.2)
    torch.manual_seed(seed)
    model = run.model(split.x_train.shape[1])
    z_init = _embed(model, test_views)
    train.train_ssl(
        model,
        split.x_train,
        augmentation=views,
        loss_fn=run.loss_fn(),
        steps=run.steps,
        batch_size=run.batch_size,
        lr=run.lr,
        generator=torch.Generator().manual_seed(seed),
        device="cpu",
        progress=False,
    )
    return z_init, _embed(model, test_views)


def _objective_rise(seed, **run):
    # The rise of the objective VICReg's terms stand for, H_G(Z) minus the
    # isotropic cross-entropy bound on H(Z|Z'), and of the Gaussian I_G, in nats.
    (init_a, init_b), (end_a, end_b) = _trained(seed, **run)
    J = information.entropy_minus_invariance_bound
    return (
        (J(end_a, end_b) - J(init_a, init_b)).item(),
        (
            information.gaussian_mi(end_a, end_b)
            - information.gaussian_mi(init_a, init_b)
        ).item(),
    )


@pytest.mark.claim(
    chapter="04",
    k=2,
    statement="Read through (I3) and a cross-entropy bound, VICReg's terms stand for "
    "H_G(Z) minus an isotropic bound on H(Z|Z'); training raises it when the "
    "covariance term is strong (nu = 25), not with the default 25/25/1 weights; "
    "the Gaussian I(Z; Z') rises under VICReg and SimCLR alike",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim2_information_objective_rises_only_with_strong_covariance_term(seed):
    # Claim 2 (target claim-04-2). J = information.entropy_minus_invariance_bound
    # on the 597 fixed test pairs (eps 0, scale-free), change from initialisation to
    # 60 epochs; torch 2.13, CPU, one thread, seeds 0-4 (0, 1 asserted):
    # - VICReg nu = 25: +8.76, +11.70, +9.31, +9.18, +8.65 nats. Margin +4 (under
    #   half the smallest rise).
    # - negative control, SimCLR (no such terms): -7.78, -6.67, -8.36, -8.36, -9.39.
    # - VICReg 25/25/1 (the default): -27.4, -23.5, -28.5, -28.3, -29.2: the
    #   documented non-reproduction. Its log det R falls to about -137 (claim 4),
    #   so the entropy half falls faster than the invariance bound.
    # - the Gaussian I_G (correlation form, eps 1e-6) rises under every method:
    #   VICReg +3.25, +3.13, +3.01, +3.32, +3.15; SimCLR +3.80, +3.60, +3.59,
    #   +3.58, +3.57; nu = 25 +5.10, +5.09, +4.91, +4.79, +4.85. So its rise (old
    #   margin 1.5) says nothing about VICReg's terms: asserted on VICReg and
    #   SimCLR alike, not as evidence for the reading.
    # Runtime: three trainings of about 4.5 s each per seed on one thread; claim 4
    # reuses the two VICReg ones (cached, same process).
    J_nu25, mi_nu25 = _objective_rise(seed, cov_weight=25.0)
    J_default, mi_default = _objective_rise(seed)
    J_simclr, mi_simclr = _objective_rise(seed, loss="info_nce")
    values = (
        f"seed {seed}: rise of H_G(Z) - CE_iso: nu 25 {J_nu25:+.2f}, default "
        f"{J_default:+.2f}, SimCLR {J_simclr:+.2f}; rise of I_G: {mi_nu25:+.2f}, "
        f"{mi_default:+.2f}, {mi_simclr:+.2f} nats"
    )
    assert J_nu25 >= 4.0, values
    # Negative control (the other method family): SimCLR must not pass it.
    assert not J_simclr >= 4.0, values
    # Documented non-reproduction: the default weights do not raise it either.
    assert not J_default >= 4.0, values
    # Not specific to VICReg's terms: the Gaussian MI rises for both families.
    assert min(mi_default, mi_simclr) >= 1.5, values


@pytest.mark.claim(
    chapter="04",
    k=4,
    statement="The strongly correlated 32-d VICReg embedding (log det of the "
    "correlation near -130) is dimensional collapse, not numerics; a larger "
    "covariance weight lifts it",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim4_cov_weight_lifts_the_dimensional_collapse(seed):
    # Claim 4, the brief's puzzle (target claim-04-4, notebook 2, section 4). Measured:
    # torch 2.13 on the CPU, seeds 0-4 (0, 1 asserted), final test embeddings (eval
    # mode):
    # - VICReg 25/25/1: log det R = -137.5, -134.2, -137.3, -137.5, -140.0 nats;
    #   24, 22, 26, 24, 25 of the 32 eigenvalues of R below 0.01; effective rank
    #   4.0-4.2; log det R changes by 0.005-0.007 nats between eps = 0 and 1e-6
    #   (smallest eigenvalue of R 2e-3), so the ridge is not the cause;
    # - cov_weight 25: log det R = -36.3, -34.6, -35.9, -35.7, -35.7, no eigenvalue
    #   below 0.01, effective rank 15.6-16.0.
    # Margins: log det R +50 (gaps 99.6-104.3), effective rank +5 (gaps >= 11.5),
    # at least 11 collapsed eigenvalues with nu = 1 (half of 22). Runtime: the two
    # networks are claim 2's (cached, same process); alone about 10 s per seed.
    _, (base_a, _) = _trained(seed)
    _, (cov_a, _) = _trained(seed, cov_weight=25.0)
    logdet_base = information.logdet_cov(base_a, correlation=True).item()
    logdet_cov25 = information.logdet_cov(cov_a, correlation=True).item()
    no_ridge = information.logdet_cov(base_a, eps=0.0, correlation=True).item()
    erank_base = probes.effective_rank(base_a)
    erank_cov25 = probes.effective_rank(cov_a)
    collapsed = int((torch.linalg.eigvalsh(torch.corrcoef(base_a.T)) < 0.01).sum())
    message = (
        f"seed {seed}: log det R {logdet_base:.1f} (nu 1) vs {logdet_cov25:.1f} "
        f"(nu 25), eps 0: {no_ridge:.2f}; effective rank {erank_base:.1f} vs "
        f"{erank_cov25:.1f}; {collapsed} eigenvalues of R below 0.01 at nu 1"
    )
    assert collapsed >= 11, message
    assert abs(no_ridge - logdet_base) < 1.0, message
    assert logdet_cov25 >= logdet_base + 50, message
    assert erank_cov25 >= erank_base + 5, message
    # Negative control (the setting without collapse): the collapse assertion
    # must fail on the nu = 25 embedding (0 eigenvalues of R below 0.01, seeds
    # 0 / 1).
    collapsed_25 = int((torch.linalg.eigvalsh(torch.corrcoef(cov_a.T)) < 0.01).sum())
    assert not collapsed_25 >= 11, f"{message}; nu 25: {collapsed_25} collapsed"


# --- notebook 3: the assumptions on trained embeddings ----------------------------

N_IMAGES, K_VIEWS, REPEATS = 60, 100, 4

VIEWS = augment.strong_digits_augmentation()
RUN = train.SSLRun(
    loss="vicreg",
    backbone_widths=(512, 256),
    projector_widths=(256, 32),
    steps=469,
    batch_size=256,
    lr=1e-3,
)


@functools.cache
def _digits():
    return data.digits(train_size=1200, test_size=597, seed=0)


def _checks(encoder, x_test):
    # The notebook's assumption_checks(encoder, views_at(1.0)), seed 0.
    picked = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(0))
    c = information.conditional_vs_marginal(
        encoder,
        x_test[picked[:N_IMAGES]],
        x_test,
        VIEWS,
        k=K_VIEWS,
        repeats=REPEATS,
        generator=torch.Generator().manual_seed(0),
        directions_seed=1,
    )
    wt = information.within_total_ratios(c["cond"], c["pool"])
    return {
        "pass_cond": (c["p_cond"] > 0.05).double().mean().item(),
        "pass_marg": (c["p_marg"] > 0.05).double().mean().item(),
        "median_p_cond": c["p_cond"].median().item(),
        "median_p_marg": c["p_marg"].median().item(),
        "ratio": c["ratio"].mean().item(),
        "narrow_dirs": int((wt.ratios < 0.2).sum()),  # of d = 32
        "median_gamma": wt.ratios.median().item(),
        "half_logdet": wt.half_logdet.item(),
    }


@functools.cache
def _claim3(seed):
    x_train, _, x_test, _ = _digits()
    model, _ = train.run_ssl(
        RUN,
        x_train,
        augmentation=VIEWS,
        generator=torch.Generator().manual_seed(seed),
        device="cpu",
        progress=False,
    )
    result = _checks(nn.Sequential(model.backbone, model.projector).eval(), x_test)
    result["ratio_pixels"] = _checks(nn.Identity(), x_test)["ratio"]
    torch.manual_seed(seed)  # the untrained network of the same seed
    untrained = RUN.model(x_train.shape[1])
    control = _checks(nn.Sequential(untrained.backbone, untrained.projector), x_test)
    control["ratio_pixels"] = result["ratio_pixels"]
    return result, control


def _narrow_in_few_directions_and_more_gaussian(m):
    # The claim's assertion: narrow in total variance and in at least two
    # generalised directions (gamma < 0.2), with a Gaussian information gain
    # -1/2 log det(S_w S_t^-1) of at least 3.5 nats, and closer to Gaussian than
    # the marginal (pass rate + 0.15, median p x 3).
    return (
        m["ratio"] < 0.15
        and m["ratio"] < m["ratio_pixels"] - 0.4
        and m["narrow_dirs"] >= 2
        and m["half_logdet"] <= -3.5
        and m["pass_cond"] > m["pass_marg"] + 0.15
        and m["median_p_cond"] > 3 * m["median_p_marg"]
    )


@pytest.mark.slow
@pytest.mark.claim(
    chapter="04",
    k=3,
    statement="On trained VICReg embeddings the conditional over augmentations is "
    "narrow in a few directions only (those the views share) and as wide as the "
    "marginal in most others; closer to Gaussian than the marginal, but not Gaussian",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim3_conditional_narrow_in_few_directions_and_more_gaussian(seed):
    # Claim 3 (target claim-04-3). Measured (torch 2.13, 2-core CPU, one thread),
    # seeds 0-4 (0, 1 asserted):
    # - trace ratio (within-image / total variance, mean over 60 images) 0.113,
    #   0.117, 0.118, 0.112, 0.119; pixels 0.950. Bound 0.15 (the brief's) and
    #   pixels - 0.4 (gap 0.83).
    # - generalised eigenvalues gamma of S_within against S_total
    #   (information.within_total_ratios, d = 32): 4 below 0.2 on every seed, 6, 6,
    #   6, 6, 5 below 0.5 (smallest 0.047-0.049); median 0.914, 0.902, 0.893, 0.890,
    #   0.904; 1/2 log det(S_w S_t^-1) = -6.32, -6.30, -6.37, -6.51, -5.98 nats. So
    #   the trace ratio of 0.11 comes from about four shared directions; in most of
    #   the other 28 one image's augmentations spread as wide as the whole test set.
    #   Margins: >= 2 narrow directions (half of 4); 1/2 log det <= -3.5 (untrained
    #   -0.74 to -0.97, trained <= -5.98: about halfway); median gamma >= 0.5 (the
    #   restriction; gap 0.39).
    # - normaltest pass rate at 5 %, conditional 0.66, 0.63, 0.67, 0.63, 0.61;
    #   marginal 0.27, 0.33, 0.29, 0.31, 0.35: gaps 0.26-0.39, margin 0.15. Median p
    #   ratio margin 3 (ratios 33 / 13 on seeds 0 / 1 in an earlier run).
    # - negative control, an untrained network (torch seed = seed): trace ratio
    #   0.955, 0.952, 0.940, 0.932, 0.944; no direction below 0.5 (median gamma
    #   0.95-0.96); 1/2 log det -0.85, -0.74, -0.93, -0.97, -0.88; pass rates 0.86
    #   vs 0.94, 0.83 vs 0.88, 0.86 vs 0.89, 0.89 vs 0.89, 0.88 vs 0.89: it fails
    #   the assertion on every count.
    # 10-17 s per seed on one thread (training 469 steps dominates), hence slow.
    m, control = _claim3(seed)
    msg = f"seed {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items())
    ctl = "untrained: " + ", ".join(f"{k} {v:.4g}" for k, v in control.items())
    assert _narrow_in_few_directions_and_more_gaussian(m), msg
    # Negative control (untrained network): the same assertion must fail.
    assert not _narrow_in_few_directions_and_more_gaussian(control), ctl
    # The restriction: as wide as the marginal in most directions.
    assert m["median_gamma"] >= 0.5, msg
    # The part that does not hold: Gaussian samples of 100 pass normaltest 95 % of
    # the time at the 5 % level (93 % measured on 300 draws in the notebook); the
    # conditional passes 0.61-0.67 on seeds 0-4: gaps >= 0.28, margin 0.15.
    assert m["pass_cond"] < 0.95 - 0.15, msg
