"""Claims of chapter 09 (book/09_class_dependent_regularization): the effects of
regularization and data augmentation are class dependent [balestriero2022effects,
arXiv:2204.03632].

Setting (errata of the chapter's brief): scikit-learn digits, 15 training images per
class drawn by a split seed (a random factor next to the initialisation seed), MLP
64-128-128-10, Adam lr 1e-3, 300 full-batch steps, every (strength, seed) member of one
batched ensemble, the same initialisation across strengths (paired). Shift = integer
shifts by zero-padded random crops. Every test holds a negative control: the same
assertion on an A/A comparison (same strength, disjoint seeds) or on a label-preserving
rotation range, asserted to fail there. Per-seed/per-split values were measured on one
thread of the book's 2-core CPU (torch 2.13, December 2026, load 3-5) with this code.
"""

import functools

import numpy as np
import pytest
import torch

from dltheory import classwise as cw

SEEDS = range(16)
WIDTH = 128


@functools.lru_cache(maxsize=4)
def _shift_run(split):
    torch.set_num_threads(1)
    xtr, ytr, _, _, xte, yte = cw.lowdata_split(split=split)
    out = cw.sweep(
        xtr,
        ytr,
        {"test": xte},
        regularizer="shift",
        strengths=[0, 1],
        seeds=SEEDS,
        width=WIDTH,
    )
    preds = out["test"]  # (2, R, n)
    return cw.per_class_accuracy(preds, yte, 10).numpy(), (preds == yte).numpy(), yte


@functools.lru_cache(maxsize=2)
def _rotation_run(split):
    torch.set_num_threads(1)
    xtr, ytr, _, _, xte, yte = cw.lowdata_split(split=split)
    out = cw.sweep(
        xtr,
        ytr,
        {"test": xte},
        regularizer="rotation",
        strengths=[0, 45, 180],
        seeds=range(4),
        width=WIDTH,
    )
    return cw.confusion_counts(out["test"], yte, 10).mean(1).numpy()  # (3, C, C)


def _min_class_change(acc_ref, acc_test):
    return float((acc_test.mean(0) - acc_ref.mean(0)).min())


def _min_relative_change(acc_ref, acc_test):
    # worst class change minus the average change: what a class-uniform effect lacks
    d = (acc_test - acc_ref).mean(0)  # (C,)
    return float((d - d.mean()).min())


def _uniform(acc_ref, acc_test):
    # the claim's negation: every class moves by that seed's average change
    return acc_ref + (acc_test - acc_ref).mean(1, keepdims=True)  # (R, C)


@pytest.mark.claim(
    chapter="09",
    k=1,
    statement="A DA strength lowers the accuracy of some classes sharply "
    "(partly: on this split the average does not rise)",
)
@pytest.mark.parametrize("split", [0, 1])
def test_claim1_shift_lowers_some_classes_sharply(split):
    acc, _, _ = _shift_run(split)
    avg = float((acc[1] - acc[0]).mean())

    def sharp_class_drop(ref, test):
        # absolute drop AND a drop beyond the average's (class dependence): with the
        # average falling 3-5 points, an absolute threshold alone would nearly pass on
        # a class-uniform fall
        return (
            _min_class_change(ref, test) <= -0.06
            and _min_relative_change(ref, test) <= -0.04
        )

    # Margins from splits 0-4 (16 seeds each): worst-class change at 1 px -17.5, -12.5,
    # -19.3, -13.6, -16.8 points (threshold -6); worst class minus the average change
    # -13.2, -8.7, -14.7, -10.4, -12.9 points (threshold -4, about half the smallest).
    # A/A (no DA, seeds 0-7 vs 8-15): -0.83, -1.30, -0.84, -1.15, -0.83 and -0.62,
    # -1.03, -0.84, -0.98, -0.73.
    d, rel = _min_class_change(acc[0], acc[1]), _min_relative_change(acc[0], acc[1])
    assert sharp_class_drop(acc[0], acc[1]), (
        f"worst class change {d:+.3f}, minus the average {rel:+.3f} (split {split})"
    )
    # Documented non-reproduction: the average FALLS with 1 px shifts on every split
    # measured (splits 0-4: -4.25, -3.81, -4.57, -3.20, -3.85 points), so claim 1 is
    # "partly".
    assert avg < 0, f"average change {avg:+.4f}: the average rose, update the chapter"
    # negative control 1: A/A, same strength (no DA), disjoint seeds 0-7 vs 8-15
    assert not sharp_class_drop(acc[0, :8], acc[0, 8:]), (
        f"A/A worst class change {_min_class_change(acc[0, :8], acc[0, 8:]):+.3f}"
    )
    # negative control 2: the same average fall spread evenly over the classes
    # (relative change exactly 0): a class-independent effect must not pass
    assert not sharp_class_drop(acc[0], _uniform(acc[0], acc[1]))


@pytest.mark.claim(
    chapter="09",
    k=2,
    statement="Per-class changes exceed seed and test-set variation (paired t-test "
    "with Holm, two-level bootstrap), on this test set",
)
@pytest.mark.parametrize("split", [0, 1])
def test_claim2_class_changes_exceed_seed_and_test_set_noise(split):
    acc, correct, yte = _shift_run(split)

    def class_specific_drops(ref, test, c_ref, c_test):
        # a Holm-significant DROP (a rise alone would not show the claim) whose
        # two-level interval (seeds x test images) lies below zero, and whose change
        # minus that seed's average change is a Holm-significant drop too (a uniform
        # fall of the average would flag every class by the first two tests alone)
        r = cw.paired_class_test(ref, test)
        d = test - ref  # (R, C); rounded so that a uniform move gives exact zeros
        d_rel = np.round(d - d.mean(1, keepdims=True), 12)
        rel = cw.paired_class_test(np.zeros_like(d_rel), d_rel)
        ci = cw.two_level_bootstrap(c_ref, c_test, yte, 10, n_boot=1000)
        return (r["flags"] == -1) & (ci[:, 1] < 0) & (rel["flags"] == -1), r, rel

    # splits 0-4: 5, 5, 4, 4, 5 classes drop by the first two tests, 5, 4, 2, 4, 3
    # by all three (classes 5 and 9 on most splits);
    # A/A (negative control below): 0 on every split (its Holm flags: none on any
    # split; with 3 vs 3 seeds split 1 had one spurious paired-t flag, which the
    # bootstrap rejected)
    dropped, r, rel = class_specific_drops(acc[0], acc[1], correct[0], correct[1])
    assert dropped.any(), f"flags {r['flags']}, relative flags {rel['flags']}"
    # negative control: A/A, no DA on both sides, disjoint seeds 0-7 vs 8-15
    dropped0, r0, _ = class_specific_drops(
        acc[0, :8], acc[0, 8:], correct[0, :8], correct[0, 8:]
    )
    assert not dropped0.any(), f"A/A flags {r0['flags']}"
    # negative control 2: the same average fall spread evenly over the classes
    dropped_u, _, _ = class_specific_drops(
        acc[0], _uniform(acc[0], acc[1]), correct[0], correct[1]
    )
    assert not dropped_u.any()


@pytest.mark.claim(
    chapter="09",
    k=3,
    statement="Rotations of +-180 degrees (not label-preserving) confuse 6 and 9; "
    "+-45 degrees does not",
)
@pytest.mark.parametrize("split", [0, 1])
def test_claim3_rotating_sixes_into_nines(split):
    M = _rotation_run(split)  # (3, C, C): 0, 45, 180 degrees, mean over 4 seeds

    def six_nine(dm):
        return float(dm[6, 9] + dm[9, 6])  # symmetric 6<->9 confusion increase

    def six_nine_confused(dm):
        # the 6<->9 growth is large AND among the 5 largest of the 45 pairs (a fall of
        # the average spread over all pairs would not single it out)
        pairs = [p for p, _ in cw.top_confused_pairs(dm, 5)]
        return six_nine(dm) >= 14 and (6, 9) in pairs

    d180 = six_nine(M[2] - M[0])
    # Margin from splits 0-4 (mean of 4 seeds): 29.5, 31.5, 32.5, 29.25, 38.5 images at
    # 180 deg; at 45 deg 0, 0, 0, 0, 0.75. Threshold 14, about half the smallest. Rank
    # of (6, 9) among the 45 pairs at 180 deg: 3, 3, 2, 3, 2 (median pair +1.0 to
    # +2.25 images); (6, 9) is not the top pair: (6, 7) or (1, 7) grew more on every
    # split (claim "partly"). At 45 deg its rank is 19-36.
    top = cw.top_confused_pairs(M[2] - M[0], 5)
    assert six_nine_confused(M[2] - M[0]), (
        f"6<->9 confusion increase at 180 deg: {d180:.1f} images; top pairs {top}"
    )
    # negative control: +-45 degrees is label-preserving for 6 and 9 (no overlap)
    d45 = six_nine(M[1] - M[0])
    assert not six_nine_confused(M[1] - M[0]), (
        f"6<->9 confusion increase at 45 deg: {d45:.1f} images"
    )


@functools.lru_cache(maxsize=2)
def _weight_decay_run(split):
    torch.set_num_threads(1)
    xtr, ytr, _, _, xte, yte = cw.lowdata_split(split=split)
    out = cw.sweep(
        xtr,
        ytr,
        {"test": xte},
        regularizer="weight_decay",
        strengths=[0.0, 3e-2],
        seeds=SEEDS,
        width=WIDTH,
        steps=400,
    )
    return cw.per_class_accuracy(out["test"], yte, 10).numpy()  # (2, R, C)


@pytest.mark.claim(
    chapter="09",
    k=4,
    statement="Weight decay (SGD, decoupled, 3e-2) raises the average slightly and "
    "lowers a class significantly (Holm), on this test set",
)
@pytest.mark.parametrize("split", [0, 1])
def test_claim4_weight_decay_moves_classes_unequally(split):
    acc = _weight_decay_run(split)

    def raises_average_and_drops_a_class(ref, test):
        avg = float((test - ref).mean())
        flags = cw.paired_class_test(ref, test)["flags"]
        return avg >= 0.001 and (flags == -1).any(), avg, flags

    # Splits 0-4, 16 seeds: average +0.21, +0.39, +0.22, +0.66, +0.47 points (margin
    # +0.1, about half the smallest); Holm drops 1, 2, 1, 0, 1 classes (split 3 none:
    # the claim is "partly"); worst class -2.1, -1.7, -1.6, -1.2, -0.7 points, 1-3 test
    # images, so the two-level bootstrap would not exclude zero for all of them.
    ok, avg, flags = raises_average_and_drops_a_class(acc[0], acc[1])
    assert ok, f"average change {avg:+.4f}, flags {flags}"
    # negative control: A/A, no decay on both sides, disjoint seeds 0-7 vs 8-15
    # (splits 0-4: no flag on any)
    ok0, avg0, flags0 = raises_average_and_drops_a_class(acc[0, :8], acc[0, 8:])
    assert not ok0, f"A/A average change {avg0:+.4f}, flags {flags0}"
