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


@pytest.mark.claim(
    chapter="09",
    k=1,
    statement="A DA strength lowers the accuracy of some classes sharply "
    "(partly: on this split the average does not rise)",
)
@pytest.mark.parametrize("split", [0, 1])
def test_claim1_shift_lowers_some_classes_sharply(split):
    acc, _, _ = _shift_run(split)
    drop = _min_class_change(acc[0], acc[1])
    avg = float((acc[1] - acc[0]).mean())
    # Margin from splits 0-4 (16 seeds each): worst-class change at 1 px -17.5, -12.5,
    # -19.3, -13.6, -16.8 points; A/A (no DA, seeds 0-7 vs 8-15) -0.83, -1.30, -0.84,
    # -1.15, -0.83. Threshold -6 points: about half the smallest drop.
    assert drop <= -0.06, f"worst class change {drop:+.3f} (split {split})"
    # Documented non-reproduction: the average FALLS with 1 px shifts on every split
    # measured (splits 0-4: -4.25, -3.81, -4.57, -3.20, -3.85 points), so claim 1 is
    # "partly".
    assert avg < 0, f"average change {avg:+.4f}: the average rose, update the chapter"
    # negative control: A/A, same strength (no DA), disjoint seeds 0-7 vs 8-15
    control = _min_class_change(acc[0, :8], acc[0, 8:])
    assert not control <= -0.06, f"A/A worst class change {control:+.3f}"


@pytest.mark.claim(
    chapter="09",
    k=2,
    statement="Per-class changes exceed seed and test-set variation (paired t-test "
    "with Holm, two-level bootstrap), on this test set",
)
@pytest.mark.parametrize("split", [0, 1])
def test_claim2_class_changes_exceed_seed_and_test_set_noise(split):
    acc, correct, yte = _shift_run(split)
    r = cw.paired_class_test(acc[0], acc[1])
    ci = cw.two_level_bootstrap(correct[0], correct[1], yte, 10, n_boot=1000)
    # a Holm-significant DROP (a rise alone would not show the claim) whose two-level
    # interval (seeds x test images) lies below zero
    # splits 0-4: 5, 5, 4, 4, 5 such classes; A/A (negative control below): 0 on every
    # split (its Holm flags: none on any split; with 3 vs 3 seeds split 1 had one
    # spurious paired-t flag, which the bootstrap rejected)
    dropped = (r["flags"] == -1) & (ci[:, 1] < 0)
    assert dropped.any(), f"flags {r['flags']}, CI upper {np.round(ci[:, 1], 3)}"
    # negative control: A/A, no DA on both sides, disjoint seeds 0-7 vs 8-15
    r0 = cw.paired_class_test(acc[0, :8], acc[0, 8:])
    ci0 = cw.two_level_bootstrap(correct[0, :8], correct[0, 8:], yte, 10, n_boot=1000)
    dropped0 = (r0["flags"] == -1) & (ci0[:, 1] < 0)
    assert not dropped0.any(), f"A/A flags {r0['flags']}"


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

    d180 = six_nine(M[2] - M[0])
    # Margin from splits 0-4 (mean of 4 seeds): 29.5, 31.5, 32.5, 29.25, 38.5 images at
    # 180 deg; at 45 deg 0, 0, 0, 0, 0.75. Threshold 14, about half the smallest. (6, 9)
    # is not the top pair: (6, 7) or (1, 7) grew more on every split (claim "partly").
    assert d180 >= 14, f"6<->9 confusion increase at 180 deg: {d180:.1f} images"
    # negative control: +-45 degrees is label-preserving for 6 and 9 (no overlap)
    d45 = six_nine(M[1] - M[0])
    assert not d45 >= 14, f"6<->9 confusion increase at 45 deg: {d45:.1f} images"


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
