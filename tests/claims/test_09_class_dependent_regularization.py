"""Claims of chapter 09 (book/09_class_dependent_regularization): the effects of
regularization and data augmentation are class dependent [balestriero2022effects,
arXiv:2204.03632].

Setting (errata of the chapter's brief): scikit-learn digits, 15 training images per
class drawn by a split seed (a random factor next to the initialisation seed), MLP
64-128-128-10, Adam lr 1e-3, 300 full-batch steps, every (strength, seed) member of one
batched ensemble, the same initialisation across strengths (paired). Shift = integer
shifts by zero-padded random crops. Claim 4: SGD with decoupled decay, the decay chosen
on the validation part with seeds 0-7, tested on fresh seeds 16-31. Claim 5: pretrain on
digits 0-4 (50 per class) with and without shifts, linear probe on digits 5-9. Every
test holds a negative control: the same assertion on an A/A comparison (same strength,
disjoint seeds), on the same average change spread evenly over the classes, or on a
label-preserving rotation range, asserted to fail there. Per-seed/per-split values were
measured on one thread of the book's 2-core CPU (torch 2.13, December 2026) with this
code.
"""

import functools

import numpy as np
import pytest
import torch
from scipy import stats

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
        rel = cw.relative_class_test(ref, test)  # a uniform move gives exact zeros
        # intervals at 99.5 %: the ten classes share a 95 % level (Bonferroni)
        ci = cw.two_level_bootstrap(c_ref, c_test, yte, 10, n_boot=4000, level=0.995)
        return (r["flags"] == -1) & (ci[:, 1] < 0) & (rel["flags"] == -1), r, rel

    # splits 0-4: 5, 5, 4, 4, 5 classes drop by the first two tests (95 % intervals),
    # 5, 4, 2, 4, 3 by all three; with the Bonferroni 99.5 % intervals used here 5, 1,
    # 2, 3, 3 (digit 9 on every split; upper bounds of its interval -0.6, -5.1, -9.7,
    # -4.0, -8.3 points; review, December 2026);
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


WD_GRID = [0.0, 1e-2, 3e-2]  # decoupled decay, chosen among these on validation
WD_SELECT_SEEDS = range(8)  # the choice: validation part, seeds 0-7
WD_TEST_SEEDS = range(16, 32)  # the test: fresh seeds, never used for the choice


@functools.lru_cache(maxsize=1)
def _weight_decay_run(split):
    torch.set_num_threads(1)
    xtr, ytr, xv, yv, xte, yte = cw.lowdata_split(split=split)
    kw = dict(regularizer="weight_decay", width=WIDTH, steps=400)
    sel = cw.sweep(
        xtr, ytr, {"val": xv}, strengths=WD_GRID, seeds=WD_SELECT_SEEDS, **kw
    )
    val = cw.per_class_accuracy(sel["val"], yv, 10).numpy()  # (3, 8, C)
    lam = WD_GRID[cw.select_strength(val, rule="average")]
    if lam == 0:
        return lam, val, None
    out = cw.sweep(
        xtr, ytr, {"test": xte}, strengths=[0.0, lam], seeds=WD_TEST_SEEDS, **kw
    )
    return lam, val, cw.per_class_accuracy(out["test"], yte, 10).numpy()  # (2, 16, C)


@pytest.mark.claim(
    chapter="09",
    k=4,
    statement="Weight decay chosen on the validation part (SGD, decoupled) raises the "
    "average slightly and lowers a class significantly (Holm) on fresh seeds, on this "
    "test set",
)
@pytest.mark.parametrize("split", [0])
def test_claim4_weight_decay_moves_classes_unequally(split):
    lam, val, acc = _weight_decay_run(split)
    # The choice (seeds 0-7, validation part, best average over 0, 1e-2, 3e-2): 3e-2
    # on splits 0, 1, 2 (validation averages 91.50/91.67/91.83, 88.08/88.08/88.75,
    # 94.67/95.17/95.33 %).
    assert lam > 0, f"validation chose no decay: averages {val.mean((1, 2))}"

    def raises_average_and_drops_a_class(ref, test):
        d = test - ref  # (R, C)
        avg = float(d.mean())
        # the average's rise beyond seed noise: one-sided paired t over the seeds
        p_avg = stats.ttest_1samp(d.mean(1), 0.0, alternative="greater").pvalue
        flags = cw.paired_class_test(ref, test)["flags"]
        rel = cw.relative_class_test(ref, test)["flags"]
        ok = (
            avg >= 0.0007 and p_avg < 0.05 and (flags == -1).any() and (rel == -1).any()
        )
        return ok, avg, flags, rel

    # Fresh seeds 16-31 at the chosen 3e-2, splits 0, 1, 2: average +0.15, +0.22,
    # +0.15 points (margin +0.07, half the smallest); Holm drops 1, 1, 1 (worst class
    # -2.1, -2.5, -1.1 points: 1-4 test images) with 3, 4, 1 rises; the class's change
    # minus the seed's average change is a Holm drop on 1, 1, 2 classes. Split 0 (this
    # test; review, December 2026): average +0.15 +- 0.17 points over the 16 seeds,
    # one-sided p 0.001 (threshold 0.05); digit 1 -2.1 points, whose two-level bootstrap
    # interval is [-4.4, -0.3] at 95 % but [-5.6, +0.4] at 99.5 % (Bonferroni over ten
    # classes): the drop is significant across seeds on this test set, not beyond the
    # draw of the test images (claim "partly").
    ok, avg, flags, rel = raises_average_and_drops_a_class(acc[0], acc[1])
    assert ok, f"decay {lam}: average change {avg:+.4f}, flags {flags}, relative {rel}"
    # negative control: A/A, no decay on both sides, fresh seeds 16-23 vs 24-31
    # (splits 0, 1, 2: no Holm flag)
    ok0, avg0, flags0, rel0 = raises_average_and_drops_a_class(acc[0, :8], acc[0, 8:])
    assert not ok0, f"A/A average change {avg0:+.4f}, flags {flags0}, relative {rel0}"
    # negative control 2: the same average change spread evenly over the classes
    assert not raises_average_and_drops_a_class(acc[0], _uniform(acc[0], acc[1]))[0]


TRANSFER_SEEDS = range(10)


@functools.lru_cache(maxsize=1)
def _transfer_run(split):
    torch.set_num_threads(1)
    xs, ys, xp, yp, xt, yt = cw.transfer_split(source_per_class=50, split=split)
    preds = cw.transfer_sweep(
        xs,
        ys,
        xp,
        yp,
        xt,
        conditions=[("shift", 0), ("shift", 1)],
        seeds=TRANSFER_SEEDS,
        width=WIDTH,
    )  # (2, R, m): pretrained without DA / with shifts up to 1 px
    acc = cw.per_class_accuracy(preds, yt, 5).numpy()  # (2, R, 5)
    return acc, (preds == yt).numpy(), yt


def _logit_uniform(acc_ref, acc_test, n):
    # the claim's negation on the bounded scale: per seed, every class moves by the same
    # amount m_s on the empirical-logit scale of cw.relative_class_test (a ceiling
    # effect: classes near 100 % move less in points), m_s set so that the class mean
    # matches the seed's average change (a class at 100 % may exceed 1 by < 0.5 / n_c)
    k = acc_ref * n
    logit = np.log((k + 0.5) / (n - k + 0.5))  # (R, C)
    out = np.empty_like(acc_ref)
    for r in range(len(acc_ref)):
        lo, hi = -20.0, 20.0
        for _ in range(200):
            m = (lo + hi) / 2
            e = np.exp(logit[r] + m)
            a = (e * (n + 0.5) - 0.5) / (1 + e) / n
            lo, hi = (m, hi) if a.mean() < acc_test[r].mean() else (lo, m)
        out[r] = a
    return out


@pytest.mark.claim(
    chapter="09",
    k=5,
    statement="A DA in pretraining moves the downstream classes unequally, beyond a "
    "uniform change in points or in logits (digits 0-4 to 5-9; partly: no downstream "
    "class falls beyond test-set variation)",
)
@pytest.mark.parametrize("split", [0])
def test_claim5_transfer_moves_downstream_classes_unequally(split):
    acc, _, yt = _transfer_run(split)
    n = np.bincount(yt.numpy())  # test images per target digit

    def average_up_classes_unequal(ref, test):
        # the downstream average rises (one-sided paired t over seeds) AND the change
        # is class dependent: a class's change minus the seed's average change is
        # Holm-significant, with the same sign, both in points (additive) and in
        # empirical logits. In points alone, a class near 100 % cannot rise, so any
        # rise of the average would flag it (digit 6 is at 100 % without DA on split
        # 0); in logits alone, half an image lost at 100 % is a large change
        d = test - ref  # (R, 5)
        p_avg = stats.ttest_1samp(d.mean(1), 0.0, alternative="greater").pvalue
        add = cw.relative_class_test(ref, test)["flags"]
        lgt = np.zeros_like(add)  # in logits only where points flag (the additive
        if (
            add != 0
        ).any():  # control's digit 6 exceeds 100 %, outside the logit scale)
            lgt = cw.relative_class_test(ref, test, n_per_class=n)["flags"]
        both = (add != 0) & (add == lgt)
        ok = p_avg < 0.01 and d.mean() >= 0.005 and both.any()
        return ok, float(d.mean()), float(p_avg), add, lgt

    # Split 0, seeds 0-9 (this test): per-seed average change +2.04, +2.46, +2.01,
    # +2.69, +1.55, +1.59, +0.24, +0.93, +2.24, +2.03 points, mean +1.78 (p 1.6e-5);
    # relative Holm flags in points and in logits: digit 6 down, digit 9 up (both).
    # Other seed sets (the DA draws differ with the set): split 0 seeds 0-9 / 10-19 of
    # a 20-seed run: +1.84 / +1.73 points, both-scale flags digits 6 and 9 / digit 6;
    # split 1 seeds 0-9: +1.74, digit 8 up on both scales. Earlier 15-seed sets: average
    # +1.1 to +1.9 points (margin +0.5).
    ok, avg, p_avg, add, lgt = average_up_classes_unequal(acc[0], acc[1])
    assert ok, (
        f"split {split}: average {avg:+.4f} (p {p_avg:.2g}), relative flags in points "
        f"{add}, in logits {lgt}"
    )
    # Documented non-reproduction of "average up, a class down" (the paper: -40
    # points): no target class falls by 2 points (about 2 of its ~90 test images).
    # Worst class: -0.5 here (digit 6, from 100 %; 95 % bootstrap interval [-1.9, 0.0]);
    # -0.4 to -0.8 over the split-0 seed sets, +0.7 on split 1.
    worst = float((acc[1] - acc[0]).mean(0).min())
    assert worst > -0.02, f"a downstream class now falls {100 * worst:+.1f} points"
    # negative control: A/A, identical pretraining (no DA), disjoint seeds 0-4 vs 5-9
    # (split 0: average +1.02 points but p 0.11, no relative flag; 20-seed run, seeds
    # 10-14 vs 15-19: +0.99, p 0.027; split 1: -0.90; no relative flag in any)
    ok0, avg0, p0, add0, _ = average_up_classes_unequal(acc[0, :5], acc[0, 5:])
    assert not ok0, f"A/A average {avg0:+.4f} (p {p0:.2g}), relative {add0}"
    # negative control 2: the same average rise spread evenly over the classes in points
    assert not average_up_classes_unequal(acc[0], _uniform(acc[0], acc[1]))[0]
    # negative control 3: the same average rise spread evenly in logits (a pure ceiling
    # effect). The earlier points-only criterion passed here (relative flags on 5, 4, 5
    # digits of the three seed sets above, 5 in this test's run): it could not tell
    # class dependence from a ceiling; in logits the flags are exactly 0
    lu = _logit_uniform(acc[0], acc[1], n)
    ok_l, _, _, add_l, lgt_l = average_up_classes_unequal(acc[0], lu)
    assert not ok_l, (
        f"logit-uniform: relative flags {add_l} in points, {lgt_l} in logits"
    )
    assert (add_l != 0).any(), "the points-only criterion no longer fails here"
