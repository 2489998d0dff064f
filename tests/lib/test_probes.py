import math

import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from torch import nn

from dltheory import models, probes, train


@pytest.fixture(scope="module")
def digits_features():
    # Fixed features: a random ReLU layer of the digits, split 2:1.
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    f = torch.relu(x @ torch.randn(64, 32, generator=g))  # (1797, 32)
    y = torch.tensor(y)
    return f[:1200], y[:1200], f[1200:], y[1200:]


def test_linear_probe_matches_scikit_learn(digits_features):
    f_tr, y_tr, f_te, y_te = digits_features
    ours = probes.linear_probe(f_tr, y_tr, f_te, y_te)
    scaler = StandardScaler().fit(f_tr.numpy())
    reference = LogisticRegression(C=1.0, max_iter=5000).fit(
        scaler.transform(f_tr.numpy()), y_tr.numpy()
    )
    theirs = reference.score(scaler.transform(f_te.numpy()), y_te.numpy())
    # Same objective, different solvers: within 1 point (the brief's requirement).
    assert abs(ours - theirs) <= 0.01, f"torch {ours:.3f} vs scikit-learn {theirs:.3f}"


def test_sklearn_solver_is_scikit_learn_and_agrees_with_torch(digits_features):
    f_tr, y_tr, f_te, y_te = digits_features
    ours = probes.linear_probe(f_tr, y_tr, f_te, y_te, solver="sklearn", max_iter=5000)
    scaler = StandardScaler().fit(f_tr.numpy())
    reference = LogisticRegression(C=1.0, max_iter=5000).fit(
        scaler.transform(f_tr.numpy()), y_tr.numpy()
    )
    assert ours == reference.score(scaler.transform(f_te.numpy()), y_te.numpy())
    torch_solver = probes.linear_probe(f_tr, y_tr, f_te, y_te)
    assert abs(ours - torch_solver) <= 0.01, f"{ours:.3f} vs {torch_solver:.3f}"
    with pytest.raises(ValueError, match="solver"):
        probes.linear_probe(f_tr, y_tr, f_te, y_te, solver="adam")


def test_unstandardised_probe_matches_scikit_learn_on_raw_features(digits_features):
    f_tr, y_tr, f_te, y_te = digits_features
    f_tr, f_te = f_tr / 10, f_te / 10  # a scale the standardised probe would undo
    ours = probes.linear_probe(f_tr, y_tr, f_te, y_te, standardize=False)
    reference = LogisticRegression(C=1.0, max_iter=5000).fit(f_tr.numpy(), y_tr.numpy())
    theirs = reference.score(f_te.numpy(), y_te.numpy())
    standardised = probes.linear_probe(f_tr, y_tr, f_te, y_te)
    assert abs(ours - theirs) <= 0.01, f"torch {ours:.3f} vs scikit-learn {theirs:.3f}"
    # The penalty acts on the raw scale: shrunken features lose accuracy.
    assert ours < standardised - 0.01, (
        f"raw {ours:.3f}, standardised {standardised:.3f}"
    )


def test_knn_probe_matches_scikit_learn(digits_features):
    f_tr, y_tr, f_te, y_te = digits_features
    ours = probes.knn_probe(f_tr, y_tr, f_te, y_te, k=10)
    theirs = (
        KNeighborsClassifier(10)
        .fit(f_tr.numpy(), y_tr.numpy())
        .score(f_te.numpy(), y_te.numpy())
    )
    # Only ties in the vote may differ.
    assert abs(ours - theirs) <= 0.005, f"torch {ours:.3f} vs scikit-learn {theirs:.3f}"


def test_few_labels_keeps_that_many_of_each_class():
    y = torch.tensor([0] * 10 + [1] * 3 + [2] * 7)
    idx = probes.few_labels(y, 5, generator=torch.Generator().manual_seed(0))
    assert torch.bincount(y[idx]).tolist() == [5, 3, 5]
    assert len(set(idx.tolist())) == len(idx)


def test_few_labels_depends_on_the_generator():
    y = torch.arange(100) % 10
    a = probes.few_labels(y, 2, generator=torch.Generator().manual_seed(0))
    b = probes.few_labels(y, 2, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(a, b)


def test_few_label_probe_is_worse_than_all_labels(digits_features):
    f_tr, y_tr, f_te, y_te = digits_features
    few = probes.linear_probe(
        f_tr,
        y_tr,
        f_te,
        y_te,
        labels_per_class=2,
        draws=3,
        generator=torch.Generator().manual_seed(0),
    )
    full = probes.linear_probe(f_tr, y_tr, f_te, y_te)
    assert few < full - 0.05, f"2 labels/class {few:.3f}, all labels {full:.3f}"


def test_effective_rank_known_answers():
    q, _ = torch.linalg.qr(
        torch.randn(
            50, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64
        )
    )
    q = q - q.mean(dim=0)  # centring keeps span; re-orthogonalise below
    q, _ = torch.linalg.qr(q)
    # Singular values (1, 1, 1, 1): p uniform, erank 4.
    assert math.isclose(probes.effective_rank(q), 4.0, rel_tol=1e-9)
    # Singular values (1, 0, 0, 0): one direction, erank 1.
    assert math.isclose(probes.effective_rank(q[:, :1] * 3), 1.0, rel_tol=1e-9)
    # Squared singular values (3, 1): p = (3/4, 1/4).
    f = torch.cat([q[:, :1] * math.sqrt(3), q[:, 1:2]], dim=1)
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert math.isclose(probes.effective_rank(f), expected, rel_tol=1e-9)


def test_effective_rank_ignores_a_shift():
    f = torch.randn(100, 6, generator=torch.Generator().manual_seed(1))
    assert math.isclose(
        probes.effective_rank(f + 100.0), probes.effective_rank(f), rel_tol=1e-4
    )


def test_embed_uses_eval_mode_and_returns_the_representation():
    torch.manual_seed(0)
    model = models.JointEmbedding(
        models.MLP([4, 8], batch_norm=True, linear_output=False),
        models.projector([8, 8, 3]),
    )
    x = torch.randn(10, 4)
    model.train()
    h = probes.embed(model, x, batch_size=3)
    assert h.shape == (10, 8)
    assert model.training  # mode restored
    model.eval()
    # In eval mode a sample's feature does not depend on its batch.
    torch.testing.assert_close(h[:1], model(x[:1])[0])


@pytest.fixture(scope="module")
def guillotine_net():
    # Layers of different widths (16, 8, 4, 2): the batched probes pad them.
    torch.manual_seed(0)
    return models.JointEmbedding(
        models.MLP([32, 16, 8], batch_norm=True, linear_output=False),
        models.projector([8, 4, 2]),
    )


def test_probe_layers_probes_every_layer(digits_features, guillotine_net):
    f_tr, y_tr, f_te, y_te = digits_features
    result = probes.probe_layers(
        guillotine_net, f_tr, y_tr, f_te, y_te, include_input=True
    )
    assert list(result) == [
        "input",
        "backbone.1",
        "backbone.2",
        "projector.1",
        "projector.2",
    ]
    # The input itself is the features above: the same probe, the same accuracy.
    assert result["input"] == probes.linear_probe(f_tr, y_tr, f_te, y_te)
    knn = probes.probe_layers(guillotine_net, f_tr, y_tr, f_te, y_te, method="knn", k=5)
    assert list(knn) == ["backbone.1", "backbone.2", "projector.1", "projector.2"]


@pytest.mark.parametrize("budget", [None, 3])
def test_probe_layers_equals_one_probe_per_layer(
    digits_features, guillotine_net, budget
):
    # The batched solve (all layers and draws padded into one L-BFGS problem) and
    # the per-layer probes of linear_probe share the objective, hence the answers.
    f_tr, y_tr, f_te, y_te = digits_features
    f_tr, y_tr = f_tr[:300], y_tr[:300]  # keeps the all-label solves short
    batched = probes.probe_layers(
        guillotine_net,
        f_tr,
        y_tr,
        f_te,
        y_te,
        labels_per_class=budget,
        draws=3,
        generator=torch.Generator().manual_seed(0),
    )
    guillotine_net.eval()
    with torch.no_grad():
        train = models.layer_outputs(guillotine_net, f_tr)
        test = models.layer_outputs(guillotine_net, f_te)
    for name, accuracy in batched.items():
        single = probes.linear_probe(
            train[name],
            y_tr,
            test[name],
            y_te,
            labels_per_class=budget,
            draws=3,
            generator=torch.Generator().manual_seed(0),
        )
        assert abs(accuracy - single) <= 1 / len(y_te) + 1e-12, (
            f"{name}: batched {accuracy:.4f} vs per layer {single:.4f}"
        )


def test_probe_layers_knn_equals_knn_probe_on_standardised_features(
    digits_features, guillotine_net
):
    f_tr, y_tr, f_te, y_te = digits_features
    batched = probes.probe_layers(
        guillotine_net, f_tr, y_tr, f_te, y_te, method="knn", k=7
    )
    raw = probes.probe_layers(
        guillotine_net, f_tr, y_tr, f_te, y_te, method="knn", k=7, standardize=False
    )
    guillotine_net.eval()
    with torch.no_grad():
        train = models.layer_outputs(guillotine_net, f_tr)
        test = models.layer_outputs(guillotine_net, f_te)
    for name in batched:
        mean, std = train[name].mean(0), train[name].std(0, unbiased=False)
        std = torch.where(std > 1e-8, std, torch.ones_like(std))
        standardised = probes.knn_probe(
            (train[name] - mean) / std, y_tr, (test[name] - mean) / std, y_te, k=7
        )
        assert batched[name] == pytest.approx(standardised, abs=1e-12), name
        as_given = probes.knn_probe(train[name], y_tr, test[name], y_te, k=7)
        assert raw[name] == pytest.approx(as_given, abs=1e-12), name


@pytest.mark.parametrize("method", ["linear", "knn"])
def test_probe_layers_grouping_does_not_change_the_answer(
    digits_features, guillotine_net, method
):
    # max_elements small enough to put every layer in a group of its own.
    f_tr, y_tr, f_te, y_te = digits_features
    kwargs = dict(method=method, labels_per_class=5, draws=2, k=3)
    whole = probes.probe_layers(
        guillotine_net,
        f_tr,
        y_tr,
        f_te,
        y_te,
        generator=torch.Generator().manual_seed(1),
        **kwargs,
    )
    split = probes.probe_layers(
        guillotine_net,
        f_tr,
        y_tr,
        f_te,
        y_te,
        max_elements=1,
        generator=torch.Generator().manual_seed(1),
        **kwargs,
    )
    assert list(whole) == list(split)
    for name in whole:
        assert abs(whole[name] - split[name]) <= 1 / len(y_te) + 1e-12, name


def test_probe_layers_uses_eval_mode_and_restores_the_mode(
    digits_features, guillotine_net
):
    f_tr, y_tr, f_te, y_te = digits_features
    guillotine_net.train()
    before = {k: v.clone() for k, v in guillotine_net.state_dict().items()}
    first = probes.probe_layers(guillotine_net, f_tr[:200], y_tr[:200], f_te, y_te)
    assert guillotine_net.training
    # Running statistics untouched (train mode would update them), same answer.
    for key, value in guillotine_net.state_dict().items():
        torch.testing.assert_close(value, before[key])
    second = probes.probe_layers(guillotine_net, f_tr[:200], y_tr[:200], f_te, y_te)
    assert first == second


def test_row_space_solve_has_the_same_optimum():
    # Few labels (n = 30 < H = 80): W = V B with f = U S V^T is the full problem's
    # minimiser; the reduced solve returns the same weights and biases.
    g = torch.Generator().manual_seed(0)
    f = torch.randn(2, 30, 80, generator=g, dtype=torch.float64)
    y = torch.randint(3, (2, 30), generator=g)
    full = probes._logistic_regression(f, y, 3, c=1.0, max_iter=1000)
    reduced = probes._logistic_regression(f, y, 3, c=1.0, max_iter=1000, reduce=True)
    # Both stop at a gradient below 1e-5: equal to the solver tolerance.
    torch.testing.assert_close(reduced[0], full[0], atol=1e-3, rtol=0)
    torch.testing.assert_close(reduced[1], full[1], atol=1e-3, rtol=0)


def test_guillotine_gap_known_answers():
    accs = {
        "input": 0.99,
        "backbone.1": 0.80,
        "backbone.2": 0.85,
        "projector.1": 0.90,
        "projector.2": 0.60,
    }
    result = probes.guillotine_gap(accs)
    assert result["best_layer"] == "projector.1"  # the input is never chosen
    assert result["gap"] == pytest.approx(0.25)
    assert result["best_gap"] == pytest.approx(0.30)
    named = probes.guillotine_gap(accs, backbone="backbone.1", head="projector.1")
    assert named["gap"] == pytest.approx(-0.10)
    assert named["best_gap"] == pytest.approx(0.0)
    # The same accuracies under models.short_layer_names: the same gaps.
    short = {models.short_layer_names(accs)[k]: a for k, a in accs.items()}
    assert list(short) == ["input", "bb1", "bb2", "proj1", "out"]
    assert probes.guillotine_gap(short) == {**result, "best_layer": "proj1"}


@pytest.mark.parametrize("method", ["linear", "knn"])
def test_probe_layers_validated_scores_the_same_probes_on_two_sets(
    digits_features, guillotine_net, method
):
    # Same labelled subsets and solver: each half's accuracies are probe_layers's
    # on that half, and the validation set does not change the test accuracies.
    f_tr, y_tr, f_te, y_te = digits_features
    half = len(y_te) // 2
    kwargs = dict(method=method, labels_per_class=5, draws=2, k=3)
    val, test = probes.probe_layers_validated(
        guillotine_net,
        f_tr,
        y_tr,
        f_te[:half],
        y_te[:half],
        f_te[half:],
        y_te[half:],
        generator=torch.Generator().manual_seed(3),
        **kwargs,
    )
    for part, (x, y) in (
        (val, (f_te[:half], y_te[:half])),
        (test, (f_te[half:], y_te[half:])),
    ):
        alone = probes.probe_layers(
            guillotine_net,
            f_tr,
            y_tr,
            x,
            y,
            generator=torch.Generator().manual_seed(3),
            **kwargs,
        )
        assert list(part) == list(alone)
        for name in alone:
            assert part[name] == pytest.approx(alone[name], abs=1e-12), name
    # The two halves are scored separately: their size-weighted mean is the
    # accuracy on the whole test set.
    whole = probes.probe_layers(
        guillotine_net,
        f_tr,
        y_tr,
        f_te,
        y_te,
        generator=torch.Generator().manual_seed(3),
        **kwargs,
    )
    for name in whole:
        pooled = (half * val[name] + (len(y_te) - half) * test[name]) / len(y_te)
        assert pooled == pytest.approx(whole[name], abs=1e-12), name


def test_guillotine_gap_selects_the_layer_on_other_accuracies():
    test = {"bb1": 0.80, "bb2": 0.85, "proj1": 0.90, "out": 0.60}
    val = {"bb1": 0.88, "bb2": 0.84, "proj1": 0.86, "out": 0.61}
    chosen = probes.guillotine_gap(test, select_on=val)
    # bb1 is best on validation: Delta* is its test accuracy minus the head's,
    # below the optimistic Delta* of choosing on the test accuracies (0.30).
    assert chosen["best_layer"] == "bb1"
    assert chosen["best_gap"] == pytest.approx(0.20)
    assert chosen["gap"] == pytest.approx(0.25)
    assert probes.guillotine_gap(test)["best_gap"] == pytest.approx(0.30)
    with pytest.raises(ValueError, match="select_on: expected the layers"):
        probes.guillotine_gap(test, select_on={"bb1": 0.9})
    with pytest.raises(TypeError, match="select_on: expected a dict"):
        probes.guillotine_gap(test, select_on=[0.9])


def _tiny_ssl_problem():
    # Two well-separated classes of 8-d points; a small VICReg run of 20 steps.
    g = torch.Generator().manual_seed(0)
    y = torch.arange(120) % 2
    x = torch.randn(120, 8, generator=g) + 3.0 * y[:, None]
    run = train.SSLRun(backbone_widths=(16, 8), projector_widths=(8, 4), steps=20)
    return run, x[:80], y[:80], x[80:], y[80:]


def _noise(x, generator=None):
    return x + 0.1 * torch.randn(x.shape, generator=generator)


def test_train_and_probe_is_run_ssl_then_probe_layers_under_short_names():
    run, x_tr, y_tr, x_te, y_te = _tiny_ssl_problem()
    result = probes.train_and_probe(
        run, x_tr, y_tr, x_te, y_te, seed=3, augmentation=_noise, device="cpu"
    )
    # Written out: the same training generator and labelled-subset generator.
    model, history = train.run_ssl(
        run,
        x_tr,
        augmentation=_noise,
        generator=torch.Generator().manual_seed(3),
        device="cpu",
        progress=False,
    )
    accs = probes.probe_layers(
        model,
        x_tr,
        y_tr,
        x_te,
        y_te,
        labels_per_class=5,
        draws=3,
        generator=torch.Generator().manual_seed(0),
    )
    assert list(result.accuracy) == ["bb1", "bb2", "proj1", "out"]
    assert result.accuracy == pytest.approx(
        dict(zip(result.accuracy, accs.values(), strict=True))
    )
    assert result.history["loss"] == pytest.approx(history["loss"])
    for a, b in zip(result.model.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert not result.model.training


def test_train_and_probe_passes_the_seeds_and_probe_settings():
    run, x_tr, y_tr, x_te, y_te = _tiny_ssl_problem()
    kwargs = {"augmentation": _noise, "device": "cpu"}
    first = probes.train_and_probe(run, x_tr, y_tr, x_te, y_te, seed=0, **kwargs)
    other = probes.train_and_probe(run, x_tr, y_tr, x_te, y_te, seed=1, **kwargs)
    assert first.history["loss"] != pytest.approx(other.history["loss"])
    knn = probes.train_and_probe(
        run,
        x_tr,
        y_tr,
        x_te,
        y_te,
        seed=0,
        labels_per_class=None,
        method="knn",
        k=3,
        include_input=True,
        **kwargs,
    )
    expected = probes.probe_layers(
        first.model, x_tr, y_tr, x_te, y_te, method="knn", k=3, include_input=True
    )
    assert list(knn.accuracy) == ["input", "bb1", "bb2", "proj1", "out"]
    assert list(knn.accuracy.values()) == pytest.approx(list(expected.values()))
    with pytest.raises(ValueError, match="seed"):
        probes.train_and_probe(run, x_tr, y_tr, x_te, y_te, seed=-1)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda f, y: probes.linear_probe(f, y.float(), f, y), TypeError, "y_train"),
        (lambda f, y: probes.linear_probe(f, y[:-1], f, y), ValueError, "y_train"),
        (lambda f, y: probes.linear_probe(f, y, f[:, :2], y), ValueError, "features"),
        (lambda f, y: probes.knn_probe(f, y, f, y, k=0), ValueError, "k"),
        (lambda f, y: probes.knn_probe(f, y, f, y, k=99), ValueError, "k"),
        (lambda f, _: probes.effective_rank(f[:1]), ValueError, "f"),
        (
            lambda f, y: probes.probe_layers(nn.Linear(3, 2), f, y, f, y, method="svm"),
            ValueError,
            "method",
        ),
        (
            lambda f, y: probes.probe_layers(
                nn.Sequential(nn.Linear(3, 2)),
                f,
                y,
                f,
                y,
                method="knn",
                k=5,
                labels_per_class=1,
            ),
            ValueError,
            "k",
        ),
        (
            lambda f, y: probes.probe_layers(nn.Linear(3, 2), f, y.float(), f, y),
            TypeError,
            "y_train",
        ),
        (lambda _f, _: probes.guillotine_gap([0.5]), TypeError, "accuracies"),
        (lambda _f, _: probes.guillotine_gap({"input": 0.5}), ValueError, "accuracies"),
        (lambda _f, _: probes.guillotine_gap({"1": 0.5}), ValueError, "backbone"),
        (
            lambda _f, _: probes.guillotine_gap({"backbone.1": 0.5}, head="out"),
            ValueError,
            "head",
        ),
    ],
)
def test_probes_reject_bad_input(call, error, match):
    f = torch.randn(20, 3)
    y = torch.arange(20) % 2
    with pytest.raises(error, match=match):
        call(f, y)


def test_effective_rank_is_roy_vetterli_of_the_covariance():
    # (F1) normalises the squared singular values of the centred F: Roy and Vetterli's
    # effective rank of the covariance F^T F / n (its eigenvalues), not of F itself.
    gen = torch.Generator().manual_seed(0)
    scales = torch.tensor([3.0, 2.0, 1.0, 1.0, 0.5, 0.1], dtype=torch.float64)
    f = torch.randn(50, 6, generator=gen, dtype=torch.float64) * scales  # (n, H)
    eigenvalues = torch.linalg.eigvalsh(torch.cov(f.T, correction=0))  # (H,)
    p = eigenvalues / eigenvalues.sum()
    expected = torch.exp(-(p * p.log()).sum()).item()
    assert abs(probes.effective_rank(f) - expected) < 1e-10
    # Negative control: Roy and Vetterli's effective rank of F itself (singular values
    # normalised, not their squares) is another number.
    s = torch.linalg.svdvals(f - f.mean(dim=0))
    q = s / s.sum()
    of_f = torch.exp(-(q * q.log()).sum()).item()
    assert abs(probes.effective_rank(f) - of_f) > 0.1
