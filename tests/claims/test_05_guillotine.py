"""Claims of chapter 05 (book/05_guillotine), arXiv:2206.13378.

Claims 1 and 4 are shown in notebook 1 (cutting the head; where the best layer sits),
claim 2 in notebook 2 (augmentation strength), claim 3 in notebook 3 (loss
hyper-parameters), claim 5 in notebook 4 (supervised transfer). Claim 6 (more than 30
points on ImageNet) is paper scale only.

The common setting is the notebooks': digits 1200 / 597, backbone 64-512-256, projector
256-256-256-256, Adam 1e-3 with weight decay 1e-5, batch 256, the strong digits
augmentation of strength s, SimCLR tau = 0.2 and VICReg 25 / 25 / 1 (official-code
convention); the probe is ``probes.probe_layers`` with 5 labels per class (3 draws).
Claims 1 and 4 draw the labelled images afresh for every training seed (generator
seed 10000 + seed, ``_draws``), and claim 4 chooses the best layer on a validation half
of the test images (``_halves()``, 298 images) and reports it on the other half (299
images); claim 5 does the same, with each task's share of the two halves; claims 2
and 3 keep the draws of generator seed 0 with which their margins were measured.
Delta = Acc(backbone output) - Acc(projector output) and Delta* = Acc(best layer) -
Acc(projector output), Eq. (G2). Every claim test evaluates its
assertion on a negative control (a setting where the claim is false) and asserts that
it fails there.
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


def _draws(seed):
    """The label draws of training seed ``seed`` (claims 1 and 4): one set per run."""
    return torch.Generator().manual_seed(10_000 + seed)


@functools.cache
def _halves():
    """Validation and test halves of the 597 test images (298 / 299), fixed."""
    order = torch.randperm(597, generator=torch.Generator().manual_seed(0))
    return order[:298].sort().values, order[298:].sort().values


@functools.cache
def _untrained(seed):
    """The network that ``_network(..., seed, ...)`` starts from, never trained.

    The same initial weights as ``train.run_ssl`` under seed ``seed`` (it seeds torch
    with the first draw of that generator), with the batch-norm running statistics
    of the training images (30 forward passes in training mode, momentum 0.1), so
    that batch norm centres every layer as in a trained network.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
        model = _LOSSES["SimCLR"].model(64)  # both methods: the same shapes
    model.train()
    with torch.no_grad():
        for _ in range(30):
            model(_split().x_train)
    return model.eval()


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


_PROBES = {
    "5 labels": {"labels_per_class": 5, "draws": 3},
    "kNN": {"method": "knn", "k": 20},  # all labels, standardised features
}


@functools.cache
def _accuracies(method, strength, seed, epochs, probe="5 labels", inv_weight=25.0):
    """Per-layer probe accuracies of ``_network(...)``, label draws of seed 0."""
    return probes.probe_layers(
        _network(method, strength, seed, epochs, inv_weight),
        *_split(),
        generator=torch.Generator().manual_seed(0),
        **_PROBES[probe],
    )


@functools.cache
def _gap(method, strength, seed, probe):
    """Delta of a 60-epoch network, or of ``_untrained(seed)`` if ``method`` is None.

    The labelled draws are the run's own (``_draws(seed)``): the trained network and
    the untrained one it started from share them.
    """
    model = _untrained(seed) if method is None else _network(method, strength, seed, 60)
    accs = probes.probe_layers(
        model, *_split(), generator=_draws(seed), **_PROBES[probe]
    )
    return probes.guillotine_gap(accs)["gap"]


@functools.cache
def _validated(method, strength, seed):
    """5-label accuracies of a 60-epoch network on the validation and test halves."""
    split, (val, test) = _split(), _halves()
    return probes.probe_layers_validated(
        _network(method, strength, seed, 60),
        split.x_train,
        split.y_train,
        split.x_test[val],
        split.y_test[val],
        split.x_test[test],
        split.y_test[test],
        generator=_draws(seed),
        **_PROBES["5 labels"],
    )


def _rounded(accs):
    return {name: round(acc, 3) for name, acc in accs.items()}


# --- notebook 1: cutting the head (60 epochs) --------------------------------------

# Claim 1. What training adds to Delta: Delta(trained network) - Delta(the network it
# started from, never trained, batch norm with the data's statistics), both probed with
# the run's label draws (points, seeds 0, 1, 2, 3, 4; 60 epochs, one thread):
# - kNN probe (k = 20, all labels), s = 1: VICReg +3.7, +10.9, +7.5, +7.4, +10.1;
#   SimCLR +2.3, +2.3, +1.3, -0.2, +3.7 (trained Delta: VICReg 7.4-13.6, SimCLR
#   4.9-6.2; untrained 3.7, 2.7, 3.5, 5.0, 2.5);
# - 5-label probe, s = 1: VICReg -0.9, -0.5, -3.5, -0.9, +3.3; SimCLR -4.7, -7.4,
#   -6.1, -8.7, -3.4 (trained Delta: VICReg 6.7-12.7, SimCLR 3.4-6.0; the untrained
#   network's own Delta is 10.7, 11.6, 10.2, 12.1, 9.4: the trained gaps are not
#   above it);
# - 5-label probe, SimCLR at s = 0 (no augmentation): +34.4, +30.2, +33.1, +31.9,
#   +36.7 (trained Delta 41.7-46.1).
# The untrained network's kNN Delta varies with its initialisation: over seeds 0-9 and
# 100-109 it is 3.9 +- 1.2 points (2.2 to 5.9), and Delta(untrained, seed + 100) -
# Delta(untrained, seed) for seeds 0-9 is +0.8, -0.5, +0.5, -0.5, +1.8, +1.3, +1.2,
# -3.2, +0.3, -0.2 points: SimCLR's kNN effect at s = 1 is inside that spread, so it is
# not asserted. Bounds: about half the smallest value over the five seeds; for VICReg's
# kNN effect 0.022, a little above half of its smallest value (3.7) so as to stay above
# every untrained-vs-untrained difference seen (largest +1.8, seed 4).
_KNN_EFFECT_VICREG = 0.022  # VICReg, kNN, s = 1
_FIVE_EFFECT_CEILING = 0.07  # both methods, 5 labels, s = 1: no effect beyond this
_S0_EFFECT_SIMCLR = 0.15  # SimCLR, 5 labels, s = 0


@pytest.mark.slow
@pytest.mark.claim(
    chapter="05",
    k=1,
    statement="Cutting the projector improves the probe: at the default augmentations "
    "the backbone output beats the projector output, by more than in the untrained "
    "network it started from for VICReg under a kNN probe only; with the 5-label "
    "probe the gap is not above the untrained network's, and without augmentation "
    "training widens it far beyond it (SimCLR)",
)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("method", ["SimCLR", "VICReg"])
def test_claim1_backbone_output_beats_projector_output(method, seed):
    def effect(method, strength, probe):
        # Delta of the trained network minus Delta of the untrained one it started
        # from.
        return _gap(method, strength, seed, probe) - _gap(None, None, seed, probe)

    five = effect(method, 1.0, "5 labels")
    message = (
        f"{method}, seed {seed}: Delta(trained) - Delta(untrained), s = 1: 5 labels "
        f"{five:+.3f} (trained {_gap(method, 1.0, seed, '5 labels'):.3f}, untrained "
        f"{_gap(None, None, seed, '5 labels'):.3f}), kNN "
        f"{effect(method, 1.0, 'kNN'):+.3f}"
    )
    # The documented non-reproduction: with the 5-label probe the trained gap at
    # s = 1 is not above the untrained network's.
    assert five <= _FIVE_EFFECT_CEILING, message
    # Without augmentation training does create the gap (SimCLR, s = 0).
    s0 = effect("SimCLR", 0.0, "5 labels")
    assert s0 >= _S0_EFFECT_SIMCLR, f"{message}; SimCLR s = 0, 5 labels {s0:+.3f}"
    # negative control of both: the s = 0 network, where training creates the gap,
    # must fail the non-reproduction's assertion, and the s = 1 one the s = 0 bound.
    assert not s0 <= _FIVE_EFFECT_CEILING, message
    assert not five >= _S0_EFFECT_SIMCLR, message
    if method == "VICReg":
        knn = effect(method, 1.0, "kNN")
        assert knn >= _KNN_EFFECT_VICREG, message
        # negative control: an untrained network of another initialisation (seed +
        # 100) in place of the trained one must fail the kNN assertion.
        control = _gap(None, None, seed + 100, "kNN") - _gap(None, None, seed, "kNN")
        assert not control >= _KNN_EFFECT_VICREG, (
            f"negative control passed: untrained seed {seed + 100} vs {seed}, kNN "
            f"{control:+.3f}"
        )


# Claim 4. The best layer (5-label probe, the run's own label draws), chosen on the
# validation half of the test images and read on the test half; seeds 0-4, one thread
# (points):
# - s = 0, SimCLR: chosen bb1 on every seed; test-half bb1 - bb2 = 7.4, 12.7, 8.9,
#   8.2, 9.4;
# - s = 0.5, VICReg: chosen proj1, proj1, bb2, proj1, bb2; proj1 - bb2 on the test
#   half +0.3, -1.1, -0.6, -0.2, +0.9, paired 95 % t interval -0.1 +- 1.0 (on all 597
#   test images -0.0 +- 0.4): a tie;
# - s = 1: chosen proj1 on 5 of 5 seeds (SimCLR) and 4 of 5 (VICReg, bb2 on seed
#   3); proj1 - bb2 on the test half SimCLR -1.2, +0.6, +3.8, +0.1, +0.4 (+0.7 +-
#   2.3), VICReg -0.6, +2.0, +1.7, -1.4, +1.1 (+0.6 +- 1.9): a tie too;
# - the chosen layer is never the projector output; Delta* (test half) >= 1.8 (VICReg
#   s = 0.5: 2.3, 1.9, 1.8, 2.8, 2.6; SimCLR s = 1: 2.6-6.7; VICReg s = 1: 8.4-12.8;
#   SimCLR s = 0: 51.6-56.9).
# Bounds: about half the smallest values. "Inside the projector with half-strength
# augmentations" (the earlier verdict, from one fixed set of label draws for every
# run and a choice on test accuracy) does not hold once the draws are resampled and
# the layer is chosen on validation data: proj1 and bb2 tie within about a point, so
# the test asserts the tie (a documented non-reproduction; |proj1 - bb2| <= 1.1 on
# the test half), and the s = 0 network, where they are 12-19 points apart, is its
# negative control.
_DSTAR_MIN = 0.009  # Delta* of the validation-chosen layer, every setting
_BB1_AHEAD_S0 = 0.035  # SimCLR, s = 0: bb1 - bb2 on the test half
_TIE_S05 = 0.03  # VICReg, s = 0.5: |proj1 - bb2| on the test half


@pytest.mark.slow
@pytest.mark.claim(
    chapter="05",
    k=4,
    statement="The best layer is not always the backbone output: chosen on validation "
    "images it is never the projector output, it is the first backbone layer "
    "without augmentation, and with half-strength augmentations (VICReg) the "
    "backbone output and the first projector layer tie",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim4_best_layer_depends_on_the_setting(seed):
    settings = [("SimCLR", 1.0), ("VICReg", 1.0), ("SimCLR", 0.0), ("VICReg", 0.5)]
    chosen = {}
    for method, strength in settings:
        val, test = _validated(method, strength, seed)
        gap = chosen[method, strength] = probes.guillotine_gap(test, select_on=val)
        message = (
            f"{method}, s = {strength}, seed {seed}: chosen {gap['best_layer']}, "
            f"Delta* = {gap['best_gap']:.3f} (test half {_rounded(test)})"
        )
        assert gap["best_layer"] != "projector.3", message
        assert gap["best_gap"] >= _DSTAR_MIN, message

    def bb1_ahead(method, strength):
        test = _validated(method, strength, seed)[1]
        return (
            chosen[method, strength]["best_layer"] == "backbone.1"
            and test["backbone.1"] - test["backbone.2"] >= _BB1_AHEAD_S0
        )

    def tie(method, strength):
        test = _validated(method, strength, seed)[1]
        return abs(test["projector.1"] - test["backbone.2"]) <= _TIE_S05

    message = f"seed {seed}: chosen layers {chosen}, test halves " + str(
        {key: _rounded(_validated(*key, seed)[1]) for key in settings}
    )
    assert bb1_ahead("SimCLR", 0.0), message
    assert tie("VICReg", 0.5), message
    # negative controls: with the default augmentations (s = 1) the first backbone
    # layer is not ahead, and without augmentation proj1 and bb2 do not tie.
    assert not bb1_ahead("SimCLR", 1.0), message
    assert not tie("SimCLR", 0.0), message


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
    def gaps(seed):
        return {
            s: probes.guillotine_gap(_accuracies(method, s, seed, 30))["gap"]
            for s in (0.0, 0.5, 1.0)
        }

    def claim_holds(gap):
        holds = (
            gap[0.0] - gap[0.5] >= _DROP_TO_MODERATE[method]
            and gap[0.0] - gap[1.0] >= _DROP_TO_DEFAULT[method]
            and gap[1.0] >= _GAP_AT_DEFAULT[method]
        )
        if method == "VICReg":
            holds = holds and gap[1.0] - gap[0.5] >= _VICREG_RISE
        return holds

    gap = gaps(seed)
    message = (
        f"{method}, seed {seed}: Delta(s=0) = {gap[0.0]:.3f}, Delta(s=0.5) = "
        f"{gap[0.5]:.3f}, Delta(s=1) = {gap[1.0]:.3f}; bounds: drop to 0.5 "
        f"{_DROP_TO_MODERATE[method]}, drop to 1 {_DROP_TO_DEFAULT[method]}, "
        f"Delta(1) {_GAP_AT_DEFAULT[method]}"
    )
    assert claim_holds(gap), message
    # negative control: a setting where the strength does not change. The network
    # "without augmentation" is replaced by the other seed's network at s = 0.5
    # (the other parametrised seed trains it anyway): the claim's assertion must
    # fail. Seeds 0 / 1, Delta(0.5) of the other seed minus this seed's Delta(0.5):
    # SimCLR +0.003 / -0.003, VICReg +0.007 / -0.007, far below the drops' bounds.
    other = gaps(1 - seed)
    control = {**gap, 0.0: other[0.5]}
    assert not claim_holds(control), (
        f"negative control passed: {method}, seed {seed}, Delta(s=0.5) of seed "
        f"{1 - seed} = {other[0.5]:.3f} in place of Delta(s=0)"
    )


# --- notebook 3: loss hyper-parameters (40 epochs, s = 1) ---------------------------

# Claim 3. No test for SimCLR's temperature: its effect on the gap is transient.
# Paired by seed, Delta(tau = 0.5) - Delta(tau = 0.05) is +0.054 +- 0.022 at 40 epochs
# (seeds 0-9, range +0.005 to +0.077), +0.047 +- 0.014 at 60 epochs (seeds 0-7), and
# +0.015 +- 0.018 at 150 epochs (seeds 0-4, range -0.007 to +0.039): within seed
# noise once trained longer, and at 40 epochs one seed in ten shows only half a point.


@functools.cache
def _vicreg_gap_and_output_rank(inv_weight, seed):
    """Delta and the projector output's effective rank of VICReg at lambda = inv_weight.

    The notebook's setting (``probes.train_and_probe``): 40 epochs at s = 1, mu = 25,
    nu = 1; the probe stops L-BFGS after 200 iterations, as in the notebook
    (accuracies within 0.0011 of 500 iterations on four networks checked). The label
    draws are those of generator seed 0, with which the margins were measured; the
    notebook draws them per training seed (10000 + seed), so its figures differ a
    little from these.
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
    def claim_holds(low, high):  # (Delta, output rank) at lambda = 5 and 50
        return high[0] - low[0] >= 0.06 and low[1] - high[1] >= 19

    low = _vicreg_gap_and_output_rank(5.0, seed)
    high = _vicreg_gap_and_output_rank(50.0, seed)
    assert claim_holds(low, high), (
        f"seed {seed}: Delta(lambda=50) = {high[0]:.3f}, Delta(lambda=5) = "
        f"{low[0]:.3f}; output effective rank {low[1]:.1f} (lambda=5), "
        f"{high[1]:.1f} (lambda=50)"
    )
    # negative control: the same weight twice, lambda = 5 of the other seed (which
    # the other parametrised seed trains anyway) in place of lambda = 50: the
    # assertion must fail. Measured (one thread): Delta(lambda = 5) = -0.016 (seed 0)
    # and +0.015 (seed 1), output rank 46.4 and 44.5: the control's differences are
    # +0.030 / -0.030 (bound 0.06) and +1.9 / -1.9 (bound 19); both parts fail.
    # The other seed of the pair (0 and 1, 2 and 3, ...: seed ^ 1), so that make
    # seeds can rerun the test on seeds 2-4 (1 - seed was negative there).
    other = _vicreg_gap_and_output_rank(5.0, seed ^ 1)
    assert not claim_holds(low, other), (
        f"negative control passed: seed {seed}, lambda = 5 of seed {seed ^ 1}: "
        f"Delta {other[0]:.3f}, output rank {other[1]:.1f}"
    )


# --- notebook 4: supervised transfer ------------------------------------------------


@functools.cache
def _supervised_transfer_accuracies(seed):
    """Per-layer 5-label probe accuracies of a classifier of digits 0-4.

    The SSL network's shape with a classifier head ending in 5 logits, trained on
    digits 0-4 with the strong digits views (s = 1) for 141 steps (60 epochs of the
    602 source images), probed on digits 5-9 (target) and 0-4 (source) with the
    run's own label draws (``_draws(seed)``). Each task's test images are split by
    ``_halves()``: ``(validation, test)`` accuracies per task, as notebook 4 does.
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
    in_val = torch.zeros(597, dtype=torch.bool)
    in_val[_halves()[0]] = True
    accs = {}
    for name, task, classes in (
        ("target", target, [5, 6, 7, 8, 9]),
        ("source", source, [0, 1, 2, 3, 4]),
    ):
        v = in_val[torch.isin(_split().y_test, torch.tensor(classes))]  # 148 / 150
        accs[name] = probes.probe_layers_validated(
            model,
            task.x_train,
            task.y_train,
            task.x_test[v],
            task.y_test[v],
            task.x_test[~v],
            task.y_test[~v],
            labels_per_class=5,
            draws=3,
            generator=_draws(seed),
        )
    return accs


# Claim 5. The layer chosen on the task's validation half (148 images of digits 5-9,
# 150 of 0-4), read on its test half (150 / 149), the run's own label draws; seeds 0,
# 1, 2, 3, 4 (one thread):
# - target (digits 5-9), Delta* = chosen layer - logits: 0.378, 0.293, 0.442, 0.371,
#   0.362 (chosen bb1, bb1, bb2, bb1, bb2); bound 0.14, about half the smallest;
# - target, chosen layer - proj2 (the head's last hidden layer): 0.104, 0.109, 0.111,
#   0.078, 0.131; bound 0.035, under half the smallest;
# - source (digits 0-4), chosen layer - logits: -0.007, -0.004, +0.004, 0.000, 0.000
#   (chosen proj1, proj2, proj2, out, out: the logits or a head layer within a point
#   of them); bound 0.01 (1.5 of the 149 test-half images).
# Before (the layer chosen on the test accuracies, label draws of seed 0 for every
# run, all the test images): target Delta* 0.32-0.43, source 0 on every seed.
_TARGET_DSTAR = 0.14
_TARGET_BELOW_LAST_HIDDEN = 0.035
_SOURCE_DSTAR = 0.01


@pytest.mark.claim(
    chapter="05",
    k=5,
    statement="Guillotine regularisation is generic: a classifier trained on digits "
    "0-4 is read best before its head for the new digits 5-9, and at its logits "
    "for the training classes (layer chosen on validation images)",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim5_supervised_transfer_prefers_an_earlier_layer_for_new_classes(seed):
    accs = _supervised_transfer_accuracies(seed)

    def read(task):  # (Delta* on the test half, chosen layer - proj2 there)
        val, test = accs[task]
        gap = probes.guillotine_gap(test, select_on=val)
        return gap, test[gap["best_layer"]] - test["projector.2"]

    (target, below_last_hidden), (source, on_source) = read("target"), read("source")
    message = (
        f"seed {seed}: target test half {_rounded(accs['target'][1])}, chosen "
        f"{target['best_layer']}, Delta* {target['best_gap']:.3f}; source test half "
        f"{_rounded(accs['source'][1])}, chosen {source['best_layer']}, Delta* "
        f"{source['best_gap']:.3f}"
    )
    assert target["best_gap"] >= _TARGET_DSTAR, message
    assert below_last_hidden >= _TARGET_BELOW_LAST_HIDDEN, message
    assert source["best_gap"] <= _SOURCE_DSTAR, message
    # negative control: the classes the network was trained on, where the claim
    # says the head is the best readout, in place of the new classes: the first
    # two assertions must fail (source Delta* at most 0.004 and chosen - proj2 at
    # most 0.000 on seeds 0-4, recorded above).
    assert not (
        source["best_gap"] >= _TARGET_DSTAR and on_source >= _TARGET_BELOW_LAST_HIDDEN
    ), message
