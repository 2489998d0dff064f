"""Claims of chapter 05 (book/05_guillotine), arXiv:2206.13378.

Claims 1 and 4 are shown in notebook 1 (cutting the head; where the best layer sits),
claim 2 in notebook 2 (augmentation strength), claim 3 in notebook 3 (loss
hyper-parameters), claim 5 in notebook 4 (supervised transfer). Claim 6 (more than 30
points on ImageNet) is paper scale only.

The common setting is the notebooks': digits 1200 / 597, backbone 64-512-256, projector
256-256-256-256, Adam 1e-3 with weight decay 1e-5, batch 256, the strong digits
augmentation of strength s, SimCLR tau = 0.2 and VICReg 25 / 25 / 1 (official-code
convention); the probe is ``probes.probe_layers`` with 5 labels per class (3 draws,
label generator seed 0) unless said otherwise. Delta = Acc(backbone output) -
Acc(projector output) and Delta* = Acc(best layer) - Acc(projector output), Eq. (G2).
Networks are trained once per session (functools.cache) and shared between claims;
each notebook's number of epochs is kept, so that the tests check what the notebooks
show. Measured values below: torch 2.13 on the CPU, one thread.
"""

import functools
from dataclasses import replace

import pytest
import torch

from dltheory import augment, data, models, probes, train

_BASE = train.SSLRun(
    backbone_widths=(512, 256),
    projector_widths=(256, 256, 256),
    weight_decay=1e-5,
)
_LOSSES = {
    "SimCLR": replace(_BASE, loss="info_nce", temperature=0.2),
    "VICReg": replace(_BASE, loss="vicreg"),
}


@functools.cache
def _split():
    return data.digits(test_size=597, seed=0)  # 1200 / 597


@functools.cache
def _network(method, strength, seed, epochs, inv_weight=25.0):
    """A trained joint-embedding network of the common setting (eval mode)."""
    run = replace(
        _LOSSES[method],
        steps=round(epochs * _split().x_train.shape[0] / 256),
        inv_weight=inv_weight,
    )
    model, _ = train.run_ssl(
        run,
        _split().x_train,
        augmentation=augment.strong_digits_augmentation(strength=strength),
        generator=torch.Generator().manual_seed(seed),
        device="cpu",
        progress=False,
    )
    return model


@functools.cache
def _accuracies(method, strength, seed, epochs, probe="5 labels", inv_weight=25.0):
    """Per-layer probe accuracies of ``_network(...)``."""
    kwargs = {
        "5 labels": {"labels_per_class": 5, "draws": 3},
        "kNN": {"method": "knn", "k": 20},  # all labels, standardised features
    }[probe]
    return probes.probe_layers(
        _network(method, strength, seed, epochs, inv_weight),
        *_split(),
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )


def _rounded(accs):
    return {name: round(acc, 3) for name, acc in accs.items()}


# --- notebook 1: cutting the head (60 epochs) --------------------------------------

# Claim 1. Delta at s = 1 (points, seeds 0, 1, 2, 3, 4):
# - 5-label linear probe: SimCLR 6.1, 4.3, 6.0, 4.6, 5.2; VICReg 6.5, 11.2, 11.3, 9.0,
#   13.3;
# - kNN probe (k = 20, all labels, standardised features): SimCLR 4.5, 5.4, 4.5, 4.9,
#   6.5; VICReg 7.9, 15.4, 10.2, 12.6, 12.7.
# Bounds: half of the smallest gap over the five seeds, per method and probe. The test
# checks that the gap exists, not that training creates it: an untrained network of
# the same shape, batch norm with the data's statistics, shows Delta 0.112 (5 labels)
# and 0.035 (kNN), with its initial statistics 0.018 (5 labels); the notebook says so
# (ex-05-1-3). Training creates the large gaps of claim 2 (s = 0).
_CLAIM1_MIN_GAP = {
    ("SimCLR", "5 labels"): 0.02,
    ("VICReg", "5 labels"): 0.03,
    ("SimCLR", "kNN"): 0.02,
    ("VICReg", "kNN"): 0.04,
}


@pytest.mark.slow
@pytest.mark.claim(
    chapter="05",
    k=1,
    statement="Cutting the projector improves the probe: at the default augmentations "
    "the backbone output beats the projector output for SimCLR and VICReg",
)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("method", ["SimCLR", "VICReg"])
def test_claim1_backbone_output_beats_projector_output(method, seed):
    for probe in ("5 labels", "kNN"):
        accs = _accuracies(method, 1.0, seed, 60, probe)
        gap = probes.guillotine_gap(accs)["gap"]
        minimum = _CLAIM1_MIN_GAP[method, probe]
        assert gap >= minimum, (
            f"{method}, seed {seed}, {probe}: Delta = {gap:.3f} < {minimum} "
            f"(accuracies {_rounded(accs)})"
        )


# Claim 4. The best layer (5-label probe) depends on the setting; seeds 0-4, 30 runs,
# never the projector output:
# - s = 0 (no augmentation), SimCLR: bb1 on every seed, bb1 - bb2 = 9.1, 8.7, 8.0,
#   7.0, 7.5 points (VICReg: bb1 on every seed, by 3.8-6.7 points);
# - s = 0.5, VICReg: proj1 on every seed, best hidden projector layer - bb2 = 0.9,
#   1.6, 1.2, 1.0, 0.5 points (SimCLR: proj1 on every seed, by 0.1-1.0 points: too
#   close to test);
# - s = 1: bb2 for VICReg on every seed, bb2 or proj1 for SimCLR; Delta* >= 4.3.
# The smallest Delta* on seeds 0, 1 is 2.4 points (VICReg, s = 0.5, seed 0). Bounds:
# half the smallest measured values on seeds 0, 1. Swapping s = 0.5 for s = 1 fails.
@pytest.mark.slow
@pytest.mark.claim(
    chapter="05",
    k=4,
    statement="The best layer is not always the backbone output: it is never the "
    "projector output, it is earlier in the backbone without augmentation and "
    "inside the projector with half-strength augmentations",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim4_best_layer_depends_on_the_setting(seed):
    for method, strength in [
        ("SimCLR", 1.0),
        ("VICReg", 1.0),
        ("SimCLR", 0.0),
        ("VICReg", 0.5),
    ]:
        accs = _accuracies(method, strength, seed, 60)
        gap = probes.guillotine_gap(accs)
        # Delta* >= 0.012 > 0 also says that the projector output is not the best.
        assert gap["best_gap"] >= 0.012, (
            f"{method}, s = {strength}, seed {seed}: best layer {gap['best_layer']}, "
            f"Delta* = {gap['best_gap']:.3f} (accuracies {_rounded(accs)})"
        )

    accs = _accuracies("SimCLR", 0.0, seed, 60)
    message = f"SimCLR, s = 0, seed {seed}: accuracies {_rounded(accs)}"
    assert max(accs, key=accs.get) == "backbone.1", message
    assert accs["backbone.1"] - accs["backbone.2"] >= 0.035, message

    accs = _accuracies("VICReg", 0.5, seed, 60)
    message = f"VICReg, s = 0.5, seed {seed}: accuracies {_rounded(accs)}"
    assert max(accs, key=accs.get) in ("projector.1", "projector.2"), message
    inside = max(accs["projector.1"], accs["projector.2"]) - accs["backbone.2"]
    assert inside >= 0.004, message


# --- notebook 2: augmentation strength (30 epochs) ----------------------------------

# Claim 2. Delta at s = 0 / 0.5 / 1 / 1.5:
# - SimCLR seed 0: 0.433 / 0.039 / 0.056 / 0.095; seed 1: 0.428 / 0.042 / 0.029 / 0.103.
# - VICReg seed 0: 0.165 / 0.006 / 0.140 / 0.107; seed 1: 0.163 / 0.013 / 0.101 / 0.052.
# Seeds 0-9, mean +- sd (smallest value in brackets):
# - SimCLR: Delta(0) 0.450 +- 0.012, Delta(0.5) 0.042 +- 0.007, Delta(1) 0.052 +-
#   0.013 (0.029), Delta(1.5) 0.094 +- 0.011; Delta(0) - Delta(0.5) (0.386),
#   Delta(0) - Delta(1) (0.377).
# - VICReg: Delta(0) 0.177 +- 0.013, Delta(0.5) 0.008 +- 0.006, Delta(1) 0.106 +-
#   0.021 (0.070), Delta(1.5) 0.096 +- 0.018; Delta(0) - Delta(0.5) (0.150),
#   Delta(0) - Delta(1) 0.071 +- 0.024 (0.025, seed 0; every other seed >= 0.06);
#   Delta(1) - Delta(0.5) (0.072): too strong an augmentation widens the gap again.
# Delta(0) exceeds Delta at s = 0.5, 1 and 1.5 on all 10 seeds for both methods, and
# the best layer at s = 0 is bb1 on every seed. Bounds: half the minima. The VICReg
# drop to s = 1 is the weakest assertion (at 150 epochs, 5 seeds: Delta(1) = 0.050 +-
# 0.013 against Delta(0) = 0.219 +- 0.015). The rise from s = 0.5 to 1 is specific to
# short training: at 150 epochs the bottom of the curve moves to s = 0.75 and
# Delta(1) - Delta(0.5) is only +0.011. Training every strength at s = 0 fails.
_DROP_TO_MODERATE = {"SimCLR": 0.19, "VICReg": 0.075}  # Delta(0) - Delta(0.5)
_DROP_TO_DEFAULT = {"SimCLR": 0.18, "VICReg": 0.012}  # Delta(0) - Delta(1)
_GAP_AT_DEFAULT = {"SimCLR": 0.014, "VICReg": 0.035}  # Delta(1)
_VICREG_RISE = 0.036  # Delta(1) - Delta(0.5), VICReg


@pytest.mark.slow
@pytest.mark.claim(
    chapter="05",
    k=2,
    statement="The gain of cutting the projector depends on the augmentations: it is "
    "largest without augmentation (s = 0), much smaller with a moderate one "
    "(s = 0.5), still positive at the default strength (s = 1), and not monotone "
    "(VICReg's gap is larger at s = 1 than at s = 0.5)",
)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("method", ["SimCLR", "VICReg"])
def test_claim2_gap_largest_without_augmentation(method, seed):
    gap = {
        s: probes.guillotine_gap(_accuracies(method, s, seed, 30))["gap"]
        for s in (0.0, 0.5, 1.0)
    }
    message = (
        f"{method}, seed {seed}: Delta(s=0) = {gap[0.0]:.3f}, Delta(s=0.5) = "
        f"{gap[0.5]:.3f}, Delta(s=1) = {gap[1.0]:.3f}; bounds: drop to 0.5 "
        f"{_DROP_TO_MODERATE[method]}, drop to 1 {_DROP_TO_DEFAULT[method]}, "
        f"Delta(1) {_GAP_AT_DEFAULT[method]}"
    )
    assert gap[0.0] - gap[0.5] >= _DROP_TO_MODERATE[method], message
    assert gap[0.0] - gap[1.0] >= _DROP_TO_DEFAULT[method], message
    assert gap[1.0] >= _GAP_AT_DEFAULT[method], message
    if method == "VICReg":
        assert gap[1.0] - gap[0.5] >= _VICREG_RISE, message


# --- notebook 3: loss hyper-parameters (40 epochs, s = 1) ---------------------------

# Claim 3. No test for SimCLR's temperature: its effect on the gap is transient.
# Paired by seed, Delta(tau = 0.5) - Delta(tau = 0.05) is +0.054 +- 0.022 at 40 epochs
# (seeds 0-9, range +0.005 to +0.077), +0.047 +- 0.014 at 60 epochs (seeds 0-7), and
# +0.015 +- 0.018 at 150 epochs (seeds 0-4, range -0.007 to +0.039): within seed
# noise once trained longer, and at 40 epochs one seed in ten shows only half a point.


@functools.cache
def _vicreg_gap_and_output_rank(inv_weight, seed):
    """Delta and the projector output's effective rank of VICReg at lambda = inv_weight.

    The notebook's setting and its call (``probes.train_and_probe``): 40 epochs at
    s = 1, mu = 25, nu = 1; the probe stops L-BFGS after 200 iterations, as in the
    notebook (accuracies within 0.0011 of 500 iterations on four networks checked).
    """
    run = replace(
        _LOSSES["VICReg"],
        steps=round(40 * _split().x_train.shape[0] / 256),
        inv_weight=inv_weight,
    )
    trained = probes.train_and_probe(
        run,
        *_split(),
        seed=seed,
        augmentation=augment.strong_digits_augmentation(strength=1.0),
        device="cpu",
        max_iter=200,
    )
    with torch.no_grad():  # run_ssl returns the model in eval mode
        out = models.layer_outputs(trained.model, _split().x_test)["projector.3"]
    return probes.guillotine_gap(trained.accuracy)["gap"], probes.effective_rank(out)


@pytest.mark.slow
@pytest.mark.claim(
    chapter="05",
    k=3,
    statement="The gain of cutting the projector depends on the SSL loss's "
    "hyper-parameters: raising VICReg's invariance weight from 5 to 50 (mu = 25, "
    "nu = 1) widens it by well over 10 points, far beyond seed noise, and collapses "
    "the projector output's effective rank",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim3_large_vicreg_invariance_weight_widens_the_gap(seed):
    # Paired by seed, Delta(lambda = 50) - Delta(lambda = 5) at 40 epochs, seeds 0-9:
    # +0.128, +0.201, +0.162, +0.174, +0.178, +0.191, +0.208, +0.165, +0.221, +0.131
    # (mean +0.176 +- 0.031; the seed sd of Delta within one setting is 0.019-0.020).
    # The bound 0.06 is under half the smallest, 0.128. Also +0.226 +- 0.027 at 60
    # epochs (seeds 0-7, min +0.188) and +0.197 +- 0.040 at 150 epochs (seeds 0-4).
    # Projector-output effective rank, lambda = 5 minus lambda = 50: 39.3 to 45.2
    # (lambda = 5: 42-48, lambda = 50: 2.1-3.1); the bound 19 is under half of 39.3.
    # Training both runs with the same lambda fails.
    gap_5, rank_5 = _vicreg_gap_and_output_rank(5.0, seed)
    gap_50, rank_50 = _vicreg_gap_and_output_rank(50.0, seed)
    assert gap_50 - gap_5 >= 0.06, (
        f"seed {seed}: Delta(lambda=50) = {gap_50:.3f}, Delta(lambda=5) = {gap_5:.3f}"
    )
    assert rank_5 - rank_50 >= 19, (
        f"seed {seed}: output effective rank {rank_5:.1f} (lambda=5), "
        f"{rank_50:.1f} (lambda=50)"
    )


# --- notebook 4: supervised transfer ------------------------------------------------


@functools.cache
def _supervised_transfer_accuracies(seed):
    """Per-layer 5-label probe accuracies of a classifier of digits 0-4.

    The SSL network's shape with a classifier head ending in 5 logits, trained on
    digits 0-4 with the strong digits views (s = 1) for 141 steps (60 epochs of the
    602 source images), probed on digits 5-9 (target) and 0-4 (source).
    """
    source = _split().select_classes([0, 1, 2, 3, 4])
    target = _split().select_classes([5, 6, 7, 8, 9])
    model, _ = train.run_supervised(
        lambda: models.JointEmbedding(
            models.MLP([64, 512, 256], batch_norm=True, linear_output=False),
            models.projector([256, 256, 256, 5]),
        ),
        source.x_train,
        source.y_train,
        seed=seed,
        steps=141,
        weight_decay=1e-5,
        augmentation=augment.strong_digits_augmentation(strength=1),
        device="cpu",
        progress=False,
    )
    return {
        name: probes.probe_layers(
            model,
            *task,
            labels_per_class=5,
            draws=3,
            generator=torch.Generator().manual_seed(0),
        )
        for name, task in (("target", target), ("source", source))
    }


@pytest.mark.claim(
    chapter="05",
    k=5,
    statement="Guillotine regularisation is generic: a classifier trained on digits "
    "0-4 is read best before its head for the new digits 5-9, and at its logits "
    "for the training classes",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim5_supervised_transfer_prefers_an_earlier_layer_for_new_classes(seed):
    # Seeds 0 / 1 (seeds 0-4 in brackets):
    # - target (digits 5-9), Delta* = best layer - logits: 0.385 / 0.322 (0.32-0.43;
    #   best layer bb2 / bb1, over 0-4 always bb1, bb2 or proj1); bound 0.15, under
    #   half the smallest, 0.32;
    # - target, best layer - proj2 (the head's last hidden layer): 0.104 / 0.072
    #   (min 0.072); bound 0.03;
    # - source (digits 0-4), best layer - logits: 0 / 0 (0 on every seed: the logits
    #   are the best layer or tied with it); bound 0.01 (3 of the 299 test images).
    # Probing the source classes in place of the target fails the first bound.
    accs = _supervised_transfer_accuracies(seed)
    target = probes.guillotine_gap(accs["target"])
    source = probes.guillotine_gap(accs["source"])
    best = accs["target"][target["best_layer"]]
    below_last_hidden = best - accs["target"]["projector.2"]
    message = (
        f"seed {seed}: target {_rounded(accs['target'])}, best "
        f"{target['best_layer']}, Delta* {target['best_gap']:.3f}; source "
        f"{_rounded(accs['source'])}, Delta* {source['best_gap']:.3f}"
    )
    assert target["best_gap"] >= 0.15, message
    assert below_last_hidden >= 0.03, message
    assert source["best_gap"] <= 0.01, message
