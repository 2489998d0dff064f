"""Unit tests of dltheory.classwise (chapter 09): known answers, invariants, scipy."""

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.datasets import load_digits

from dltheory import classwise as cw


def test_lowdata_split_exact_counts_and_disjoint():
    xtr, ytr, xv, yv, xte, yte = cw.lowdata_split(per_class=5, val_per_class=3, split=1)
    assert xtr.shape == (50, 1, 8, 8)
    assert xv.shape == (30, 1, 8, 8)
    assert torch.bincount(ytr).tolist() == [5] * 10
    assert torch.bincount(yv).tolist() == [3] * 10
    assert len(xtr) + len(xv) + len(xte) == 1797

    # another split draws other images
    assert not torch.equal(
        xtr, cw.lowdata_split(per_class=5, val_per_class=3, split=2)[0]
    )


@pytest.mark.parametrize(
    "kw", [{"per_class": 0}, {"per_class": 170}, {"split": -1}, {"val_per_class": -1}]
)
def test_lowdata_split_validation(kw):
    with pytest.raises(ValueError, match="per_class|split"):
        cw.lowdata_split(**kw)


def test_per_class_accuracy_known_answer():
    y = torch.tensor([0, 0, 1, 1, 1, 2])
    preds = torch.tensor([[0, 1, 1, 1, 0, 2], [0, 0, 0, 0, 0, 0]])
    acc = cw.per_class_accuracy(preds, y, 3)
    assert torch.allclose(
        acc, torch.tensor([[0.5, 2 / 3, 1.0], [1.0, 0.0, 0.0]]).double()
    )
    with pytest.raises(ValueError, match="preds"):
        cw.per_class_accuracy(preds[:, :5], y, 3)
    with pytest.raises(TypeError):
        cw.per_class_accuracy(preds.numpy(), y, 3)


def test_holm_known_answer_and_nan():
    # alpha / 4 = 0.0125, then 0.05 / 3, 0.025: the step-down stops at 0.04 > 0.025
    p = [0.01, 0.04, 0.015, 0.5]
    assert cw.holm(p, 0.05).tolist() == [True, False, True, False]
    assert cw.holm([np.nan, 0.001], 0.05).tolist() == [False, True]
    with pytest.raises(ValueError, match="alpha"):
        cw.holm(p, 1.5)


def test_holm_controls_fwer_on_null_simulation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 8, 10))
    b = rng.normal(size=(2000, 8, 10))
    any_flag = [cw.paired_class_test(a[i], b[i])["flags"].any() for i in range(2000)]
    assert np.mean(any_flag) <= 0.05 + 0.01  # binomial sd at 0.05: 0.005


def test_paired_class_test_matches_scipy_and_flags_planted_shift():
    rng = np.random.default_rng(1)
    a = rng.normal(0.9, 0.01, size=(10, 10))
    b = a + rng.normal(0, 0.005, size=(10, 10))
    b[:, 3] -= 0.05  # planted drop
    b[:, 7] += 0.05  # planted rise
    r = cw.paired_class_test(a, b)
    assert r["flags"].tolist() == [0, 0, 0, -1, 0, 0, 0, 1, 0, 0]
    assert np.allclose(r["p"], stats.ttest_rel(b, a).pvalue)
    assert np.allclose(r["delta"], (b - a).mean(0))
    # zero variance in both arms: p = 1, no flag
    z = cw.paired_class_test(np.ones((5, 2)), np.ones((5, 2)))
    assert z["p"].tolist() == [1.0, 1.0]
    assert z["flags"].tolist() == [0, 0]
    with pytest.raises(ValueError, match="seeds"):
        cw.paired_class_test(a[:1], b[:1])
    with pytest.raises(ValueError, match="shape"):
        cw.paired_class_test(a, b[:, :3])


def test_two_level_bootstrap_known_answers():
    y = np.repeat([0, 1], 50)
    ref = np.ones((6, 100))
    test = ref.copy()
    test[:, :10] = 0  # class 0 loses exactly 10 of its 50 images on every seed
    ci = cw.two_level_bootstrap(ref, test, y, 2, n_boot=500)
    assert ci[1].tolist() == [0.0, 0.0]
    assert ci[0, 0] < -0.2 < ci[0, 1] < 0  # centred on -0.2, excludes 0
    # identical arms: a degenerate interval at 0
    assert np.allclose(cw.two_level_bootstrap(ref, ref, y, 2, n_boot=50), 0)
    with pytest.raises(ValueError, match="level"):
        cw.two_level_bootstrap(ref, test, y, 2, level=1.0)
    with pytest.raises(ValueError, match="shape"):
        cw.two_level_bootstrap(ref, test[:, :5], y, 2)


def test_relative_class_test_uniform_scales_and_planted_class():
    rng = np.random.default_rng(0)
    n = np.array([90, 91, 90, 87, 90])
    ref = rng.uniform(0.80, 0.93, (10, 5))
    # a change spread evenly over the classes (additive): no flag, exact zeros
    add = cw.relative_class_test(ref, ref + rng.normal(0.02, 0.01, (10, 1)))
    assert (add["flags"] == 0).all()
    assert (add["delta"] == 0).all()
    # a change uniform on the empirical-logit scale (a ceiling effect): no flag there
    k = ref * n
    logit = np.log((k + 0.5) / (n - k + 0.5)) + rng.normal(0.6, 0.05, (10, 1))
    up = ((np.exp(logit) * (n + 0.5) - 0.5) / (1 + np.exp(logit))) / n
    assert (cw.relative_class_test(ref, up, n_per_class=n)["flags"] == 0).all()
    # a planted class-specific drop is flagged on both scales, by itself
    test = ref + 0.02 + rng.normal(0, 0.003, (10, 5))
    test[:, 2] -= 0.05
    for kw in ({}, {"n_per_class": n}):
        assert cw.relative_class_test(ref, test, **kw)["flags"][2] == -1
    # the additive version is paired_class_test on the relative changes
    d = test - ref
    d_rel = np.round(d - d.mean(1, keepdims=True), 12)
    r = cw.paired_class_test(np.zeros_like(d_rel), d_rel)
    assert np.array_equal(cw.relative_class_test(ref, test)["p"], r["p"])
    with pytest.raises(ValueError, match="n_per_class"):
        cw.relative_class_test(ref, test, n_per_class=n[:3])
    with pytest.raises(ValueError, match="domain"):
        cw.relative_class_test(ref, ref + 0.2, n_per_class=n)
    with pytest.raises(ValueError, match="shape"):
        cw.relative_class_test(ref, test[:, :3])


def test_confusion_counts_and_pairs():
    y = torch.tensor([6, 6, 9, 9, 1])
    preds = torch.tensor([9, 6, 6, 9, 1])
    M = cw.confusion_counts(preds, y, 10)
    assert M[6, 9] == M[9, 6] == M[1, 1] == 1
    assert M.sum() == 5
    d = np.zeros((10, 10))
    d[6, 9], d[9, 6], d[2, 3] = 3, 2, 4
    assert cw.top_confused_pairs(d, 2) == [((6, 9), 5.0), ((2, 3), 4.0)]


def test_select_strength_rules():
    acc = np.zeros((2, 3, 2))
    acc[0] = [0.9, 0.7]  # average 0.8, worst 0.7
    acc[1] = [1.0, 0.65]  # average 0.825, worst 0.65
    assert cw.select_strength(acc, rule="average") == 1
    assert cw.select_strength(acc, rule="worst_class") == 0
    with pytest.raises(ValueError, match="rule"):
        cw.select_strength(acc, rule="median")


def _tiny():
    xtr, ytr, *_ = cw.lowdata_split(per_class=3, val_per_class=0)
    return xtr, ytr


def test_sweep_members_are_independent_and_paired():
    xtr, ytr = _tiny()
    kw = dict(regularizer="weight_decay", width=16, steps=5)
    big = cw.sweep(xtr, ytr, {"tr": xtr}, strengths=[0.0, 0.1], seeds=[0, 1], **kw)
    alone = cw.sweep(xtr, ytr, {"tr": xtr}, strengths=[0.1], seeds=[1], **kw)
    assert big["tr"].shape == (2, 2, 30)
    # a member trained alone predicts as inside the ensemble (summed, separable loss)
    assert torch.equal(big["tr"][1, 1], alone["tr"][0, 0])


def test_sweep_learns_and_validates():
    xtr, ytr = _tiny()
    out = cw.sweep(
        xtr,
        ytr,
        {"tr": xtr},
        regularizer="shift",
        strengths=[0, 1],
        seeds=[0],
        width=32,
        steps=100,
    )
    assert (out["tr"] == ytr).double().mean() > 0.9
    with pytest.raises(ValueError, match="regularizer"):
        cw.sweep(xtr, ytr, {}, regularizer="dropout", strengths=[0], seeds=[0])
    with pytest.raises(ValueError, match="whole pixels"):
        cw.sweep(xtr, ytr, {}, regularizer="shift", strengths=[0.5], seeds=[0], steps=1)
    with pytest.raises(ValueError, match=">= 0"):
        cw.sweep(xtr, ytr, {}, regularizer="rotation", strengths=[-1], seeds=[0])
    with pytest.raises(ValueError, match="same length"):
        cw.sweep(xtr, ytr[:3], {}, regularizer="rotation", strengths=[0], seeds=[0])


def test_sweep_device_argument():
    xtr, ytr = _tiny()
    kw = dict(regularizer="rotation", strengths=[0, 90], seeds=[0, 1], width=16)
    default = cw.sweep(xtr, ytr, {"tr": xtr}, steps=5, **kw)["tr"]
    on_cpu = cw.sweep(xtr, ytr, {"tr": xtr}, steps=5, device="cpu", **kw)["tr"]
    as_obj = cw.sweep(xtr, ytr, {"tr": xtr}, steps=5, device=torch.device("cpu"), **kw)[
        "tr"
    ]
    # on a CPU-only machine the default is the CPU; draws come from CPU generators
    if cw.runtime.device().type == "cpu":
        assert torch.equal(default, on_cpu)
    assert torch.equal(on_cpu, as_obj)
    assert on_cpu.device.type == "cpu"
    with pytest.raises(TypeError, match="device"):
        cw.sweep(xtr, ytr, {}, steps=1, device=0, **kw)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_sweep_on_gpu_matches_cpu():
    xtr, ytr = _tiny()
    kw = dict(regularizer="shift", strengths=[0, 1], seeds=[0, 1], width=32, steps=50)
    gpu = cw.sweep(xtr, ytr, {"tr": xtr}, device="cuda", **kw)["tr"]
    cpu = cw.sweep(xtr, ytr, {"tr": xtr}, device="cpu", **kw)["tr"]
    assert gpu.device.type == "cpu"
    # same initialisations and augmentation draws; float rounding only
    assert (gpu == cpu).double().mean() > 0.95


def test_transfer_split_counts_and_labels():
    xs, ys, xp, yp, xt, yt = cw.transfer_split(source_per_class=7, split=3)
    assert xs.shape == (35, 1, 8, 8)
    assert torch.bincount(ys).tolist() == [7] * 5
    # every image of digits 5-9 is in the probe half or the test half, labels 0-4
    n_target = int(np.isin(load_digits().target, [5, 6, 7, 8, 9]).sum())
    assert len(xp) + len(xt) == n_target
    assert set(yp.tolist()) == set(yt.tolist()) == {0, 1, 2, 3, 4}
    assert (torch.bincount(yp) - torch.bincount(yt)).abs().max() <= 1
    flat = torch.cat([xp, xt]).reshape(-1, 64)
    assert len(torch.unique(flat, dim=0)) >= len(flat) - 5  # halves (nearly) distinct
    with pytest.raises(ValueError, match="source_per_class"):
        cw.transfer_split(source_per_class=1000)


def test_linear_probe_is_sklearns_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    f = rng.normal(size=(120, 6))
    y = (f[:, 0] + 0.3 * rng.normal(size=120) > 0).astype(int) + (f[:, 1] > 1)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=1000))
    ref.fit(f[:80], y[:80])
    got = cw.linear_probe(f[:80], y[:80], f[80:], C=0.5)
    assert np.array_equal(got, ref.predict(f[80:]))
    with pytest.raises(ValueError, match="C must"):
        cw.linear_probe(f, y, f, C=0)
    with pytest.raises(ValueError, match="must match"):
        cw.linear_probe(f, y, f[:, :3])


def test_transfer_sweep_identical_pretraining_and_validation():
    xs, ys, xp, yp, xt, yt = cw.transfer_split(source_per_class=5)
    kw = dict(seeds=[0, 1], width=16, steps=20, device="cpu")
    conds = [("shift", 0), ("rotation", 0), ("rotation", 180)]
    preds = cw.transfer_sweep(xs, ys, xp, yp, xt, conditions=conds, **kw)
    assert preds.shape == (3, 2, len(xt))
    # identical pretraining (no DA named twice) gives identical probes: paired seeds
    assert torch.equal(preds[0], preds[1])
    assert not torch.equal(preds[0], preds[2])
    assert (preds[0] == yt).double().mean() > 0.5  # 5 classes: chance is 0.2
    with pytest.raises(ValueError, match="regularizer"):
        cw.transfer_sweep(xs, ys, xp, yp, xt, conditions=[("weight_decay", 1)], **kw)
    with pytest.raises(ValueError, match=">= 0"):
        cw.transfer_sweep(xs, ys, xp, yp, xt, conditions=[("shift", -1)], **kw)
    with pytest.raises(ValueError, match="non-empty"):
        cw.transfer_sweep(xs, ys, xp, yp, xt, conditions=[], **kw)
