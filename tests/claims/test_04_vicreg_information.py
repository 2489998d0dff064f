"""Claims of chapter 04 (book/04_vicreg_information), arXiv:2207.10081.

Claim 1 is shown in notebook 1 (the spline push-forward of a Gaussian-mixture input),
claims 2 and 4 in notebook 2 (the Gaussian MI between views during VICReg training; the
dimensional collapse behind the strongly correlated embedding), claim 3 in notebook 3
(the paper's assumptions on trained embeddings). The labels (I1)-(I6) and the steps the
chapter marks as such are the book's own statement of the paper's construction.
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
    """Per anchor: fraction in region, error vs (I2), error vs the affine image."""
    pf = information.spline_pushforward(net, anchors, sigma)
    x_s = information.sample_input_mixture(
        anchors, sigma, samples=SAMPLES, generator=torch.Generator().manual_seed(seed)
    )  # (N, S, p)
    with torch.no_grad():
        z_s = net(x_s.flatten(0, 1)).unflatten(0, x_s.shape[:2])  # (N, S, d)
    fraction = information.fraction_in_anchor_region(net, anchors, x_s)  # (N,)
    error = information.relative_covariance_error(z_s, pf.cov)  # (N,)
    xc = (x_s - x_s.mean(1, keepdim=True)).double()  # (N, S, p)
    J = pf.jacobian.double()  # (N, d, p)
    drawn = J @ (xc.transpose(1, 2) @ xc / (SAMPLES - 1)) @ J.transpose(1, 2)
    return fraction, error, information.relative_covariance_error(z_s, drawn)


@pytest.mark.claim(
    chapter="04",
    k=1,
    statement="A ReLU network maps a small Gaussian around a data point to the "
    "Gaussian N(f(x_n), J Sigma J^T) while the noise stays in the point's linear "
    "region; the prediction breaks when the noise crosses region boundaries",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim1_pushforward_is_gaussian_where_noise_stays_in_region(seed):
    # Claim 1 (target claim-04-1), the notebook's setting; seed 0 is the notebook's run.
    # Measured (seeds 0, 1; seeds 2-5 in brackets; torch 2.13, CPU):
    # - sigma = 0.01: 5, 6 (4-5) of 8 anchors keep >= 99 % of their samples in their
    #   region; their relative covariance error against (I2) is at most 0.020, 0.034
    #   (<= 0.069), the sampling floor being 0.032-0.039 RMS. Where all samples stay,
    #   the outputs are the affine image of the drawn inputs to 8e-7, 4e-7 (<= 4e-6;
    #   float32 rounding).
    # - sigma = 10**-0.5 = 0.316: median fraction in region 0.20, 0.17 (0.04-0.28),
    #   median error 0.271, 0.408 (0.203-0.449): gaps of 0.25, 0.37 (>= 0.15) over
    #   the in-region maximum at sigma = 0.01.
    # Margins: error gap >= 0.1 (half of 0.25 is 0.125); median fraction <= 0.5
    # (half the gap between 0.20 and 0.99 is 0.39); in-region error <= 0.1 (about
    # 3x the floor); rounding <= 1e-4. Breaking the code fails it: covariances 20 %
    # too large give in-region errors 0.14-0.17 at sigma = 0.01.
    net, anchors = _moons_spline_and_anchors(seed)
    fraction, error, exact = _pushforward_errors(net, anchors, 0.01, seed)
    inside, whole = fraction >= 0.99, fraction == 1.0
    values = (
        f"sigma 0.01: fractions {fraction.numpy().round(3)}, "
        f"errors {error.numpy().round(3)}, exact {exact.numpy()}"
    )
    assert int(inside.sum()) >= 3, values
    assert float(exact[whole].max()) <= 1e-4, values
    max_inside = float(error[inside].max())
    assert max_inside <= 0.1, values

    fraction_l, error_l, _ = _pushforward_errors(net, anchors, 10**-0.5, seed)
    values_l = (
        f"sigma 0.316: fractions {fraction_l.numpy().round(3)}, "
        f"errors {error_l.numpy().round(3)}; in-region max at 0.01: {max_inside:.3f}"
    )
    assert float(fraction_l.median()) <= 0.5, values_l
    assert float(error_l.median()) >= max_inside + 0.1, values_l


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
def _trained(seed, cov_weight=1.0):
    # (z at initialisation, z after training) on the two test views, as in the
    # notebook's train_logged: torch.manual_seed(seed) for the weights, a generator
    # seeded with `seed` for the batches and views.
    split, views, test_views, base = _setting()
    run = dataclasses.replace(base, cov_weight=cov_weight)
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


@pytest.mark.claim(
    chapter="04",
    k=2,
    statement="VICReg's terms read as an information objective, and the Gaussian "
    "estimate of I(Z; Z') between two views rises during VICReg training",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim2_gaussian_mi_rises_during_vicreg(seed):
    # Claim 2 (target claim-04-2). Measured with torch 2.13 on the CPU, one thread:
    # I_G (information.gaussian_mi, correlation form, eps 1e-6) on the 597 fixed
    # test pairs, 1.09 -> 4.37 nats (seed 0) and 1.01 -> 4.19 (seed 1), rises
    # +3.28 / +3.18, at every logged epoch (20, 40, 60); the bias of the estimate
    # for independent views is d^2 / 2n = 0.86 nats. Margin 1.5 nats, under half
    # the smaller rise. Runtime about 4.5 s per seed on one thread.
    (init_a, init_b), (end_a, end_b) = _trained(seed)
    mi_start = information.gaussian_mi(init_a, init_b).item()
    mi_end = information.gaussian_mi(end_a, end_b).item()
    assert mi_end >= mi_start + 1.5, (
        f"seed {seed}: I_G {mi_start:.2f} -> {mi_end:.2f} nats "
        f"(rise {mi_end - mi_start:+.2f}, expected >= +1.5)"
    )


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
    # torch 2.13 on the CPU, seeds 0 / 1, final test embeddings (eval mode):
    # - VICReg 25/25/1: log det R = -137.3 / -134.2 nats, 24 / 23 of the 32
    #   eigenvalues of R below 0.01, effective rank 4.1 / 4.0; log det R changes by
    #   < 0.01 nats between eps = 0 and 1e-6 (smallest eigenvalue of R 2e-3), so
    #   the ridge is not the cause;
    # - cov_weight 25: log det R = -36.1 / -34.3, no eigenvalue below 0.01,
    #   effective rank 15.8 / 16.0.
    # Margins: log det R +50 (gaps 101.2 / 99.9), effective rank +5 (gaps 11.7 /
    # 12.0), at least 11 collapsed eigenvalues with nu = 1 (half of 23). Runtime
    # on one thread: 10 s per seed alone, 4.2 s after the first test has cached the
    # nu = 1 network of the seed (same file, same process).
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
    return {
        "pass_cond": (c["p_cond"] > 0.05).double().mean().item(),
        "pass_marg": (c["p_marg"] > 0.05).double().mean().item(),
        "median_p_cond": c["p_cond"].median().item(),
        "median_p_marg": c["p_marg"].median().item(),
        "ratio": c["ratio"].mean().item(),
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
    return result


@pytest.mark.slow
@pytest.mark.claim(
    chapter="04",
    k=3,
    statement="On trained VICReg embeddings the conditional over augmentations is "
    "narrow and closer to Gaussian than the marginal, but not Gaussian",
)
@pytest.mark.parametrize("seed", SEEDS)
def test_claim3_conditional_narrow_and_more_gaussian_than_marginal(seed):
    # Claim 3 (target claim-04-3). Measured (torch 2.13, 2-core CPU, one thread),
    # seeds 0 / 1:
    # - variance ratio (within-image / total, mean over 60 images) 0.112 / 0.117,
    #   pixels 0.950 / 0.950: gaps 0.84 / 0.83, margin 0.4 (under half, 0.415); the
    #   absolute bound 0.15 is the brief's (seeds 0-4 of a draft: 0.112-0.117; at 50
    #   epochs it is 0.14-0.15, hence the full 100 epochs);
    # - normaltest pass rate at 5 %, conditional 0.65 / 0.61, marginal 0.27 / 0.30:
    #   gaps 0.38 / 0.31, margin 0.15 (under half of 0.31);
    # - median p, conditional 0.134 / 0.120, marginal 0.004 / 0.009: ratios 33 / 13;
    #   factor 3 is under half the smallest gap on a log scale (sqrt(13) = 3.6).
    # The brief's "median p cond > 10 x median p marg" has too little margin here.
    # Seed 2 (not asserted): 0.118, 0.69 vs 0.28, 0.234 vs 0.005. An untrained network
    # (seed 0 weights) fails every assertion: ratio 0.955, pass 0.86 vs 0.94, median p
    # 0.355 vs 0.445. 10-17 s per seed on one thread (training 469 steps dominates; at
    # 50 epochs the ratio is 0.14-0.15, too close to 0.15), hence slow.
    m = _claim3(seed)
    msg = f"seed {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items())
    assert m["ratio"] < 0.15, msg
    assert m["ratio"] < m["ratio_pixels"] - 0.4, msg
    assert m["pass_cond"] > m["pass_marg"] + 0.15, msg
    assert m["median_p_cond"] > 3 * m["median_p_marg"], msg
    # The part that does not hold: Gaussian samples of 100 pass normaltest 95 % of
    # the time at the 5 % level (93 % measured on 300 draws in the notebook); the
    # conditional passes 0.65 / 0.61: gaps 0.30 / 0.34, margin 0.15.
    assert m["pass_cond"] < 0.95 - 0.15, msg
