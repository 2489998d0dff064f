"""Claims of chapter 06 (book/06_batchnorm_splines): batch normalization and the
spline partition [balestriero2022batch, arXiv:2209.14778].

Every test holds a negative control: the same assertion evaluated where the claim is
false, asserted to fail. Per-seed values were measured on one thread of the book's
2-core CPU (torch 2.13, December 2026, under load from other jobs), with the code of
these tests; margins are about half the smallest gap seen over seeds 0-4.
"""

import functools

import pytest
import torch
from sklearn.datasets import make_moons
from torch import nn

from dltheory import data, models, splines


def _moons(shift, n=400, noise=0.05):
    # The chapter's moons: make_moons(400, noise=0.05, random_state=0) scaled by 0.5,
    # translated by (shift, shift).
    x, _ = make_moons(n, noise=noise, random_state=0)
    return torch.tensor(x * 0.5 + shift, dtype=torch.float32)


# --- Claim 1 ------------------------------------------------------------------------


@pytest.mark.claim(
    chapter="06",
    k=1,
    statement="BN centering is the total-least-squares offset of each unit's "
    "hyperplane to the layer input; with beta = 0 every first-layer hyperplane passes "
    "through the data centroid",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim1_bn_mean_is_the_total_least_squares_offset(seed):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    X = _moons(3.0)
    torch.manual_seed(seed)
    net = splines.freeze_bn_stats(
        models.MLP([2, 32, 32, 1], batch_norm=True, bn_affine=False), X
    )
    # Layer 2's input: the ReLU features of layer 1 (skewed: many exact zeros).
    with torch.no_grad():
        Z = net.blocks[0](X).double()  # (400, 32)
    W = net.blocks[1][0].weight.detach().double()[:8]  # (8, 32)
    mu, _ = splines.bn_stats(W, Z)

    def l2(k, b):
        return float((splines.hyperplane_distances(W[k : k + 1], b, Z) ** 2).sum())

    def l1(k, b):
        return float(splines.hyperplane_distances(W[k : k + 1], b, Z).sum())

    def gap_to_mu(objective):
        # Largest |argmin_b objective - mu_k| over units, in input units of layer 2.
        gaps = []
        for k in range(8):
            found = scipy_optimize.minimize_scalar(
                lambda t, k=k: objective(k, torch.tensor([t]).double()),
                bounds=(mu[k].item() - 5, mu[k].item() + 5),
                method="bounded",
                options={"xatol": 1e-9},
            ).x
            gaps.append(abs(found - mu[k].item()) / W[k].norm().item())
        return max(gaps)

    # Measured, seeds 0-4: largest L2 argmin - mu over 8 units 6.6e-9 / 1.2e-8 /
    # 5.1e-9 / 7.8e-9 / 7.7e-9 (the optimiser's tolerance 1e-9 on b, over norm(w));
    # largest L1 argmin (the median) - mu 0.35 / 0.29 / 0.16 / 0.32 / 0.28. Bound
    # 1e-6: 80x above the first, 1e5x below the second.
    tls = gap_to_mu(l2)
    assert tls < 1e-6, f"seed {seed}: max |TLS argmin - mu| = {tls:.2e}"
    # Negative control: the L1 fit (least absolute distances) is not centred at mu.
    l1_gap = gap_to_mu(l1)
    assert not l1_gap < 1e-6, f"seed {seed}: L1 argmin within {l1_gap:.2e} of mu"

    # beta = 0: layer 1's hyperplanes pass through the centroid of X. Measured
    # distances, seeds 0-4: max 2.1e-7 to 3.2e-7 (float32 weights); bound 1e-5.
    Wf, cf = splines.layer_hyperplanes(net, 1)
    centroid = X.double().mean(0)
    through = ((centroid @ Wf.T + cf).abs() / Wf.norm(dim=1)).max().item()
    assert through < 1e-5, f"seed {seed}: centroid {through:.2e} from a hyperplane"
    # Negative control: without BN (torch's default init) the largest distance of the
    # centroid to a first-layer line is 5.6 / 6.5 / 7.6 / 5.3 / 7.7 (seeds 0-4).
    torch.manual_seed(seed)
    Wp, cp = splines.layer_hyperplanes(models.MLP([2, 32, 32, 1]), 1)
    plain = ((centroid @ Wp.T + cp).abs() / Wp.norm(dim=1)).max().item()
    assert not plain < 1e-5, f"seed {seed}: plain net's lines within {plain:.2e}"


# --- Claim 2 ------------------------------------------------------------------------


def _net(variant, seed, X_stats):
    torch.manual_seed(seed)
    dims = [2] + [32] * 4 + [1]
    if variant == "default":
        return models.MLP(dims)
    net = models.MLP(dims, batch_norm=True, bn_affine=False)
    return splines.freeze_bn_stats(net, X_stats)


def _box(X, pad=0.25):
    return X.min(0).values - pad, X.max(0).values + pad


def _grid_regions(net, X, res=200):
    lo, hi = _box(X)
    t = torch.linspace(0, 1, res)
    g = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    return int(splines.region_ids(splines.fold_bn(net), lo + g * (hi - lo)).max()) + 1


def _line_regions(net, X):
    # Regions crossed, exactly, along the box's two diagonals and the horizontal and
    # vertical lines through the centroid (summed).
    lo, hi = _box(X)
    c = X.mean(0)
    segments = [
        (torch.stack([lo[0], c[1]]), torch.stack([hi[0], c[1]])),
        (torch.stack([c[0], lo[1]]), torch.stack([c[0], hi[1]])),
        (lo, hi),
        (torch.stack([lo[0], hi[1]]), torch.stack([hi[0], lo[1]])),
    ]
    return sum(len(splines.segment_crossings(net, a, b)) + 1 for a, b in segments)


@functools.cache
def _partition(seed):
    X0, X3 = _moons(0.0), _moons(3.0)
    nets = {
        ("default", 3): _net("default", seed, None),
        ("BN", 0): _net("BN", seed, X0),
        ("BN", 3): _net("BN", seed, X3),
        ("mismatch", 3): _net("BN", seed, X0),  # statistics of the unshifted data
    }
    out = {}
    for (variant, shift), net in nets.items():
        X = X3 if shift == 3 else X0
        out[variant, shift] = {
            "grid": _grid_regions(net, X),
            "lines": _line_regions(net, X),
            "distance": splines.boundary_distance(net, X).median().item(),
        }
    return out


@pytest.mark.claim(
    chapter="06",
    k=2,
    statement="With random weights and no training, BN concentrates the partition on "
    "the data and makes it follow the data when the data moves",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim2_bn_concentrates_the_partition_on_the_data(seed):
    r = _partition(seed)
    msg = f"seed {seed}: {r}"

    def concentrated(variant):
        # Regions in the data box, 200^2 grid and exact counts along 4 lines, and the
        # median distance of the data to the nearest boundary, against the default
        # init at shift 3.
        v, d = r[variant, 3], r["default", 3]
        return (
            v["grid"] >= 30 * d["grid"]
            and v["lines"] >= 6 * d["lines"]
            and v["distance"] * 7 < d["distance"]
        )

    # Measured at shift 3, seeds 0-4: grid regions BN 8235 / 8856 / 8796 / 8745 /
    # 8407 vs default init 118 / 76 / 20 / 60 / 79 (ratios 70-440: margin 30x);
    # regions along the 4 lines 780 / 854 / 789 / 788 / 798 vs 65 / 58 / 23 / 57 /
    # 55 (ratios 12-34: margin 6x); median boundary distance BN 0.0016-0.0018 vs
    # 0.024-0.096 (ratios 14-53: margin 7x).
    assert concentrated("BN"), msg
    # Equivariance: the partition follows the data, same counts at shift 0 and 3.
    # Measured: identical grid counts at both shifts on every seed; line counts
    # differ by at most 1 (a crossing at the end of a segment, float32 rounding).
    assert r["BN", 0]["grid"] == r["BN", 3]["grid"], msg
    assert abs(r["BN", 0]["lines"] - r["BN", 3]["lines"]) <= 2, msg
    # Negative control: BN with the statistics of the unshifted data, applied to the
    # data at shift 3. Measured grid regions 17 / 64 / 10 / 35 / 51, lines 37 / 84 /
    # 27 / 68 / 77: fewer than the default init, far from BN / 20.
    assert not concentrated("mismatch"), msg
    assert r["mismatch", 3]["grid"] < r["BN", 3]["grid"] / 20, msg


# --- Claims 3 and 5: mnist1d, MLP 40-256-256-256-10, SGD 0.05 (momentum 0.9) -------

MNIST1D_EPOCHS = 5


def _build(variant, seed, x):
    torch.manual_seed(seed)
    dims = [40, 256, 256, 256, 10]
    if variant == "plain":
        return models.MLP(dims)
    if variant in ("BN", "BN, no affine"):
        return models.MLP(dims, batch_norm=True, bn_affine=variant == "BN")
    # Folded init: the BN statistics at init, of the training set ("folded") or of the
    # training set shifted by +2 ("folded, wrong data"), folded into the Linear layers.
    # "folded, zero bias": the fold of the training set's statistics with every hidden
    # bias set to zero, i.e. BN's per-unit rescaling without its centring.
    stats_of = x + 2.0 if variant == "folded, wrong data" else x
    net = models.MLP(dims, batch_norm=True)
    folded = splines.fold_bn(splines.freeze_bn_stats(net, stats_of))
    if variant == "folded, zero bias":
        with torch.no_grad():
            for m in [m for m in folded if isinstance(m, nn.Linear)][:-1]:
                m.bias.zero_()
    return folded


@functools.cache
def _mnist1d_runs(seed):
    x, y, x_test, y_test = data.mnist1d()
    runs = {}
    for variant, epochs in [
        ("BN", MNIST1D_EPOCHS),
        ("BN, no affine", MNIST1D_EPOCHS),
        ("plain", MNIST1D_EPOCHS),
        ("folded", 1),
        ("folded, wrong data", 1),
        ("folded, zero bias", 1),
    ]:
        runs[variant] = splines.fit_epochs(
            _build(variant, seed, x),
            x,
            y,
            x_test,
            y_test,
            epochs=epochs,
            generator=torch.Generator().manual_seed(seed),
        )["test"]
    return runs


@pytest.mark.claim(
    chapter="06",
    k=3,
    statement="The data-adapted partition is a smart initialization: folding the "
    "init-time BN statistics into the Linear layers and training without BN gives "
    "BN's early speed-up",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim3_folded_bn_init_gives_the_early_speed_up(seed):
    runs = _mnist1d_runs(seed)
    epoch1 = {v: acc[0] for v, acc in runs.items()}
    msg = f"seed {seed}: test accuracy after one epoch {epoch1}"
    # Measured, seeds 0-4, epoch 1: BN 0.450 / 0.425 / 0.412 / 0.441 / 0.417, folded
    # 0.470 / 0.460 / 0.461 / 0.466 / 0.492, plain 0.300 / 0.227 / 0.306 / 0.264 /
    # 0.307, folded with the statistics of the wrong data 0.342 / 0.270 / 0.338 /
    # 0.320 / 0.343. Gaps to plain: folded 0.155-0.233 (margin 0.08), BN 0.106-0.198
    # (margin 0.05).
    assert epoch1["folded"] >= epoch1["plain"] + 0.08, msg
    assert epoch1["BN"] >= epoch1["plain"] + 0.05, msg
    # Negative control: the same fold with statistics of data shifted by +2 (same
    # scale, offsets away from the data): gap to plain 0.032-0.056, under 0.08.
    assert not epoch1["folded, wrong data"] >= epoch1["plain"] + 0.08, msg
    # The centring adds to the rescaling: the same fold with zero hidden biases (BN's
    # per-unit scale, no centring) gets 0.411 / 0.360 / 0.389 / 0.415 / 0.462 at
    # epoch 1 (seeds 0-4), most of the head start over plain; the full fold beats it
    # by 0.059 / 0.100 / 0.072 / 0.051 / 0.030 (margin 0.015). Note that the zero-bias
    # fold alone would pass the 0.08 test above (gaps 0.083-0.155): the part of the
    # speed-up owed to the data-centred partition is this smaller difference.
    assert epoch1["folded"] >= epoch1["folded, zero bias"] + 0.015, msg


@pytest.mark.claim(
    chapter="06",
    k=5,
    statement="BN's learnable gamma and beta matter little against removing BN",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim5_gamma_beta_matter_little_against_removing_bn(seed):
    runs = _mnist1d_runs(seed)
    last = {v: acc[-1] for v, acc in runs.items() if len(acc) == MNIST1D_EPOCHS}
    msg = f"seed {seed}: test accuracy after {MNIST1D_EPOCHS} epochs {last}"
    gap = last["BN"] - last["plain"]
    # Measured, seeds 0-4 at epoch 5 (re-run with this code, December 2026): BN
    # 0.622 / 0.650 / 0.628 / 0.599 / 0.643, BN without affine 0.603 / 0.623 / 0.588
    # / 0.609 / 0.590, plain 0.494 / 0.491 / 0.487 / 0.486 / 0.532: positive control
    # BN - plain 0.128 / 0.159 / 0.141 / 0.113 / 0.111 (asserted > 0.02, the errata's
    # bound); affine effect 0.019 / 0.027 / 0.040 / 0.010 / 0.053, that is 0.15 /
    # 0.17 / 0.28 / 0.09 / 0.48 of the BN gap (asserted < 0.5). Seed 4 comes within
    # 0.02 of the bound: the claim holds on seeds 0-3 with room, only just on seed 4
    # (the chapter's verdict is "partly"). An earlier comment here quoted values
    # (BN 0.73-0.78) that this code does not produce.
    assert gap > 0.02, msg
    affine = abs(last["BN"] - last["BN, no affine"])
    assert affine < 0.5 * gap, msg
    # Negative control: the same test on an ablation that does matter, removing BN
    # from the network without affine parameters: |no affine - plain| < 0.5 (BN -
    # plain) must fail. (Comparing BN itself with plain would fail by construction,
    # since the gap is BN - plain; this one can pass if the ablated net lost BN's
    # benefit.) Measured, seeds 0-4: no affine - plain 0.109 / 0.132 / 0.101 / 0.123
    # / 0.058 vs 0.5 (BN - plain) 0.064 / 0.080 / 0.071 / 0.057 / 0.056 (ratios 1.70
    # / 1.66 / 1.43 / 2.18 / 1.05: seed 4, not run here, fails the control only
    # just).
    assert not abs(last["BN, no affine"] - last["plain"]) < 0.5 * gap, msg


# --- Claim 4 ------------------------------------------------------------------------


@pytest.mark.claim(
    chapter="06",
    k=4,
    statement="Mini-batch BN statistics jitter the first-layer hyperplanes by "
    "sigma/sqrt(B)",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim4_jitter_is_sigma_over_sqrt_b(seed):
    # (a) Random first layer of 16 units on make_moons(2000, noise=0.1), 500 batches.
    X = torch.tensor(make_moons(2000, noise=0.1, random_state=0)[0]).float()
    torch.manual_seed(seed)
    W = nn.Linear(2, 16).weight.detach()
    gen = torch.Generator().manual_seed(seed)
    ratios = [
        splines.bn_offset_jitter(W, X, B, n_draws=500, generator=gen).mean().item()
        for B in (8, 32, 128)
    ]
    # Measured, seeds 0-4, mean over units of std(mu_B) / (sigma / sqrt(B)), B = 8 /
    # 32 / 128: 0.969-1.016 / 1.011-1.039 / 0.968-1.048. Bound |ratio - 1| < 0.1.
    assert all(abs(r - 1) < 0.1 for r in ratios), f"seed {seed}: {ratios}"
    # Negative control: batches of 128 drawn without replacement from 200 points,
    # against sigma / sqrt(B) without the factor sqrt((n - B) / (n - 1)): measured
    # 0.59-0.61 (seeds 0-4).
    small = X[:200]
    wrong = (
        splines.bn_offset_jitter(
            W, small, 128, n_draws=500, replace=False, generator=gen
        )
        .mean()
        .item()
        * ((200 - 128) / 199) ** 0.5
    )
    assert not abs(wrong - 1) < 0.1, f"seed {seed}: {wrong}"


def _margin_run(seed, *, full_stats, batch_size, epochs):
    tr = data.two_moons(100, noise=0.25, seed=3, test_size=0.2)  # 80 train points
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(2, 64), splines.RefStatBN(64), nn.ReLU(),
        nn.Linear(64, 64), splines.RefStatBN(64), nn.ReLU(),
        nn.Linear(64, 1),
    )  # fmt: skip
    history = splines.fit_epochs(
        net,
        tr.x_train,
        tr.y_train,
        tr.x_test,
        tr.y_test,
        epochs=epochs,
        batch_size=batch_size,
        lr=3e-3,
        optimizer="adam",
        full_stats=full_stats,
        generator=torch.Generator().manual_seed(seed),
    )
    margin = splines.decision_margin_2d(
        lambda g: net(g)[:, 0], tr.x_train, -2.0, 3.0, res=300
    )
    return margin.median().item(), history["train"][-1]


MARGIN_SEEDS = [0, 1]
MARGIN_EPOCHS = 150


@pytest.mark.claim(
    chapter="06",
    k=6,
    statement="Training with mini-batch BN statistics ends with larger margins and "
    "lower training accuracy than with the full training set's statistics",
)
def test_claim6_batch_statistics_end_with_larger_margins():
    # Two moons, 80 training points (noise 0.25), MLP 2-64-64-1 with BN (learnable
    # gamma, beta), Adam 3e-3, batch 8, 150 epochs; the margin is the median distance
    # of the training points to the decision boundary (300^2 grid on [-2, 3]^2).
    runs = {
        (full, B): [
            _margin_run(s, full_stats=full, batch_size=B, epochs=MARGIN_EPOCHS)
            for s in MARGIN_SEEDS
        ]
        for full, B in [(False, 8), (True, 8), (False, 80), (True, 80)]
    }

    def jitter_effect(batch, full):
        ratio = sum(b[0] / f[0] for b, f in zip(batch, full, strict=True)) / len(batch)
        train_gap = sum(f[1] - b[1] for b, f in zip(batch, full, strict=True))
        return ratio, train_gap / len(batch)

    ratio, train_gap = jitter_effect(runs[False, 8], runs[True, 8])
    msg = f"runs (median margin, train accuracy) {runs}"
    # Measured at 150 epochs, seeds 0 / 1 / 2 / 3 / 4, median margin with batch /
    # full statistics: 0.400 / 0.296, 0.398 / 0.315, 0.388 / 0.312, 0.381 / 0.331,
    # 0.361 / 0.308 (ratios 1.35 / 1.26 / 1.24 / 1.15 / 1.17; mean of seeds 0-1
    # 1.31); train accuracy 0.950 / 1.000, 0.950 / 0.988, 0.938 / 0.988, 0.950 /
    # 0.988, 0.950 / 0.975 (gaps 0.025-0.050; mean of seeds 0-1 0.044). Margins: mean
    # ratio >= 1.08 (about half the smallest excess 0.15), mean train gap >= 0.02.
    assert ratio >= 1.08, f"mean margin ratio {ratio:.3f}; {msg}"
    assert train_gap >= 0.02, f"train accuracy gap {train_gap:.3f}; {msg}"
    # Negative control: with batches of the whole training set (B = 80) the batch
    # statistics are the full ones, there is no jitter, and the same test fails
    # (measured margin ratios 1.00 / 0.94 / 1.00 / 0.97 / 1.00, train gaps 0 / -0.012
    # / 0 / -0.012 / 0 over seeds 0-4: the two runs differ only by rounding).
    ratio80, gap80 = jitter_effect(runs[False, 80], runs[True, 80])
    assert not (ratio80 >= 1.08 and gap80 >= 0.02), f"B = 80: {ratio80}, {gap80}"
