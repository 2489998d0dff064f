r"""Probes: how good are frozen features for a downstream task?

Used by every SSL chapter (00-05) and by chapter 09. A *linear probe* is a
multinomial logistic regression trained on standardised frozen features, here on
the device with L-BFGS (the same objective as scikit-learn's ``LogisticRegression``
with ``C = 1``); a *kNN probe* is the majority vote of the ``k`` nearest training
features. Both can use a few labels per class, averaged over draws of the labelled
subset, which is where self-supervised features differ most from raw inputs.
``probe_layers`` applies a probe to every layer of a network (chapter 05's
Guillotine regularisation is this function). ``effective_rank`` measures collapse:

.. math::
    \operatorname{erank}(F) = \exp\Big(-\sum_k p_k \log p_k\Big),\qquad
    p_k = \frac{\sigma_k^2}{\sum_j \sigma_j^2}  \tag{F1}

with :math:`\sigma_k` the singular values of the centred feature matrix. Shapes:
``n`` samples, ``H`` features. Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from torch import Tensor, nn

from dltheory import models
from dltheory._checks import (
    check_batch,
    check_choice,
    check_generator,
    check_int,
    check_labels,
    check_positive,
)


def _check_probe_inputs(f_train, y_train, f_test, y_test) -> None:
    check_batch(f_train, name="f_train")
    check_batch(f_test, name="f_test")
    check_labels(y_train, name="y_train", n=f_train.shape[0])
    check_labels(y_test, name="y_test", n=f_test.shape[0])
    if f_train.shape[1] != f_test.shape[1]:
        raise ValueError(
            "f_train and f_test: expected the same number of features, "
            f"got {f_train.shape[1]} and {f_test.shape[1]}"
        )


@torch.no_grad()
def embed(model: nn.Module, x: Tensor, *, batch_size: int = 1024) -> Tensor:
    """Frozen features of ``x``: the representation h of a joint-embedding model.

    Runs in eval mode (batch norm uses its running statistics, so a sample's
    feature does not depend on its batch) without gradients, in batches, on the
    model's device, and restores the model's mode. If the model returns a tuple
    ``(h, z)`` the representation h is returned, never the projector's z.

    Args:
        model: A module mapping (n, ...) to (n, H) or to ``(h, z)``.
        x: Inputs, shape (n, ...).
        batch_size: Inputs per forward pass.

    Returns:
        Features of shape (n, H) on the model's device.
    """
    check_int(batch_size, name="batch_size", minimum=1)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, x.shape[0], batch_size):
        out = model(x[start : start + batch_size].to(device))
        chunks.append(out[0] if isinstance(out, tuple) else out)
    model.train(was_training)
    return torch.cat(chunks).flatten(1)  # (n, H)


def few_labels(
    y: Tensor, labels_per_class: int, *, generator: torch.Generator | None = None
) -> Tensor:
    """Indices of ``labels_per_class`` random examples of each class of ``y``.

    Args:
        y: Integer labels, shape (n,).
        labels_per_class: How many examples to keep per class (all of a class if it
            has fewer).
        generator: CPU generator for the draw.

    Returns:
        Sorted indices into ``y``, shape (n_labelled,), on ``y``'s device.
    """
    check_labels(y, name="y")
    check_int(labels_per_class, name="labels_per_class", minimum=1)
    check_generator(generator)
    keys = torch.rand(y.shape[0], generator=generator, dtype=torch.float64)  # (n,)
    y_cpu = y.cpu()
    order = torch.argsort(y_cpu.double() + keys)  # by class, random within a class
    counts = torch.bincount(y_cpu)
    starts = torch.cumsum(counts, 0) - counts  # first position of each class
    rank = torch.arange(y.shape[0]) - starts[y_cpu[order]]  # rank within its class
    return order[rank < labels_per_class].sort().values.to(y.device)


def _standardise(f_train: Tensor, f_test: Tensor) -> tuple[Tensor, Tensor]:
    mean = f_train.mean(dim=0)
    std = f_train.std(dim=0, unbiased=False)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant features: 1
    return (f_train - mean) / std, (f_test - mean) / std


def _logistic_regression(
    f: Tensor, y: Tensor, n_classes: int, *, c: float, max_iter: int
) -> tuple[Tensor, Tensor]:
    """Weights minimising mean cross-entropy + |W|^2 / (2 c n), sklearn's objective."""
    n, h = f.shape
    w = torch.zeros(h, n_classes, device=f.device, dtype=f.dtype, requires_grad=True)
    b = torch.zeros(n_classes, device=f.device, dtype=f.dtype, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1,
        max_iter=max_iter,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-5,
        tolerance_change=1e-10,
        history_size=50,
    )

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(f @ w + b, y) + w.pow(2).sum() / (2 * c * n)
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def linear_probe(
    f_train: Tensor,
    y_train: Tensor,
    f_test: Tensor,
    y_test: Tensor,
    *,
    labels_per_class: int | None = None,
    draws: int = 5,
    c: float = 1.0,
    max_iter: int = 500,
    standardize: bool = True,
    solver: str = "torch",
    generator: torch.Generator | None = None,
) -> float:
    r"""Test accuracy of a linear classifier trained on frozen features.

    Multinomial logistic regression on features standardised with the labelled
    training subset's mean and standard deviation (or taken as they are when
    ``standardize=False``, so that the scale a method gives each direction counts,
    as in chapter 01's design-guidance sweep), minimising

    .. math::
        \frac1n \sum_i -\log \operatorname{softmax}(W^\top f_i + b)_{y_i}
        + \frac{1}{2 C n} \|W\|_F^2,

    which is scikit-learn's ``LogisticRegression(C=C)`` objective divided by
    ``C n``, solved on the features' device with L-BFGS in float64
    (``solver="torch"``), or by scikit-learn's ``LogisticRegression`` itself on
    the CPU (``solver="sklearn"``, for chapters that compare against
    scikit-learn baselines; the two agree within a point, tested).

    Args:
        f_train: Training features, shape (n, H).
        y_train: Training labels, shape (n,).
        f_test: Test features, shape (m, H).
        y_test: Test labels, shape (m,).
        labels_per_class: Train on this many labelled examples per class, drawn at
            random; ``None`` uses every training label.
        draws: Number of draws of the labelled subset to average over (ignored when
            ``labels_per_class`` is None).
        c: Inverse regularisation strength (scikit-learn's ``C``).
        max_iter: L-BFGS iterations.
        standardize: Standardise each feature with the labelled subset's mean and
            standard deviation (the default); False uses the features as given.
        solver: ``"torch"`` (L-BFGS on the device) or ``"sklearn"``
            (``sklearn.linear_model.LogisticRegression(C=c, max_iter=max_iter)``).
        generator: CPU generator for the labelled subsets.

    Returns:
        Mean test accuracy, a fraction in [0, 1].

    Raises:
        TypeError: If features are not floating point or labels not integers.
        ValueError: If shapes disagree or a setting is out of range.
    """
    _check_probe_inputs(f_train, y_train, f_test, y_test)
    check_int(draws, name="draws", minimum=1)
    check_positive(c, name="c")
    check_int(max_iter, name="max_iter", minimum=1)
    check_choice(solver, name="solver", choices=("torch", "sklearn"))
    dtype = torch.float64 if f_train.device.type != "mps" else torch.float32
    f_train, f_test = f_train.detach().to(dtype), f_test.detach().to(dtype)
    y_test = y_test.to(f_test.device)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    subsets = (
        [torch.arange(f_train.shape[0])]
        if labels_per_class is None
        else [
            few_labels(y_train, labels_per_class, generator=generator)
            for _ in range(draws)
        ]
    )
    accuracies = []
    for idx in subsets:
        idx = idx.to(f_train.device)
        tr, te = (
            _standardise(f_train[idx], f_test)
            if standardize
            else (f_train[idx], f_test)
        )
        y_idx = y_train.to(f_train.device)[idx]
        if solver == "sklearn":
            clf = LogisticRegression(C=c, max_iter=max_iter)
            clf.fit(tr.cpu().numpy(), y_idx.cpu().numpy())
            accuracies.append(clf.score(te.cpu().numpy(), y_test.cpu().numpy()))
            continue
        with torch.enable_grad():
            w, b = _logistic_regression(tr, y_idx, n_classes, c=c, max_iter=max_iter)
        accuracies.append(((te @ w + b).argmax(1) == y_test).double().mean().item())
    return sum(accuracies) / len(accuracies)


def knn_probe(
    f_train: Tensor,
    y_train: Tensor,
    f_test: Tensor,
    y_test: Tensor,
    *,
    k: int = 20,
    batch_size: int = 1024,
) -> float:
    """Test accuracy of the majority vote of the ``k`` nearest training features.

    Euclidean distance on the features as given, on their device; ties between
    classes go to the smaller label.

    Args:
        f_train: Training features, shape (n, H).
        y_train: Training labels, shape (n,).
        f_test: Test features, shape (m, H).
        y_test: Test labels, shape (m,).
        k: Number of neighbours, 1 <= k <= n.
        batch_size: Test points per distance computation.

    Returns:
        Test accuracy, a fraction in [0, 1].
    """
    _check_probe_inputs(f_train, y_train, f_test, y_test)
    check_int(k, name="k", minimum=1)
    if k > f_train.shape[0]:
        raise ValueError(f"k: expected at most n = {f_train.shape[0]}, got {k}")
    f_train, f_test = (
        f_train.detach().float(),
        f_test.detach().float().to(f_train.device),
    )
    y_train = y_train.to(f_train.device)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    correct = 0
    for start in range(0, f_test.shape[0], batch_size):
        dist = torch.cdist(f_test[start : start + batch_size], f_train)  # (b, n)
        neighbours = dist.topk(k, dim=1, largest=False).indices  # (b, k)
        votes = F.one_hot(y_train[neighbours], n_classes).sum(dim=1)  # (b, C)
        pred = votes.argmax(dim=1).cpu()
        correct += (pred == y_test[start : start + batch_size].cpu()).sum().item()
    return correct / f_test.shape[0]


def probe_features(
    f_train: Tensor,
    y_train: Tensor,
    f_test: Tensor,
    y_test: Tensor,
    *,
    labels_per_class: tuple[int | None, ...] = (5, 10, None),
    draws: int = 5,
    k: int = 10,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """The probes of the book's tables: few-label and all-label linear, and kNN.

    Args:
        f_train: Training features, shape (n, H).
        y_train: Training labels, shape (n,).
        f_test: Test features, shape (m, H).
        y_test: Test labels, shape (m,).
        labels_per_class: Budgets of the linear probe (``None``: all labels).
        draws: Draws of each few-label subset.
        k: Neighbours of the kNN probe.
        generator: CPU generator of the labelled subsets; reset to the same state
            for every budget, so two feature sets see the same subsets.

    Returns:
        Accuracies keyed ``"linear, 5/class"``, ``"linear, 10/class"``,
        ``"linear, all"`` and ``"kNN"``, fractions in [0, 1].
    """
    check_generator(generator)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    state = gen.get_state()
    results = {}
    for budget in labels_per_class:
        gen.set_state(state)
        key = "linear, all" if budget is None else f"linear, {budget}/class"
        results[key] = linear_probe(
            f_train,
            y_train,
            f_test,
            y_test,
            labels_per_class=budget,
            draws=draws,
            generator=gen,
        )
    results["kNN"] = knn_probe(f_train, y_train, f_test, y_test, k=k)
    return results


def effective_rank(f: Tensor) -> float:
    r"""Effective rank of a feature matrix, Eq. (F1) [roy2007effective].

    The exponential of the entropy of the normalised squared singular values of
    the centred features, computed in float64: between 1 (all variance along one
    direction) and min(n, H) (isotropic). A collapsed representation has a small
    effective rank; look at the feature scale too, since noise around a collapsed
    point can have a high effective rank.

    Args:
        f: Features, shape (n, H) with n >= 2.

    Returns:
        The effective rank, a float >= 1 (nan if every feature is constant).
    """
    check_batch(f, name="f", min_rows=2)
    device = "cpu" if f.device.type == "mps" else f.device
    f = f.detach().to(device, torch.float64)
    s = torch.linalg.svdvals(f - f.mean(dim=0))  # (min(n, H),)
    p = s.pow(2) / s.pow(2).sum()
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum()
    return entropy.exp().item()


@torch.no_grad()
def probe_layers(
    model: nn.Module,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    *,
    method: str = "linear",
    labels_per_class: int | None = None,
    draws: int = 5,
    k: int = 20,
    include_input: bool = False,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Probe accuracy at every layer of a network, in eval mode.

    The layers are those of ``models.layer_outputs`` (for a ``JointEmbedding``:
    ``"backbone.1"``, ..., ``"projector.1"``, ...). Chapter 05 uses this to show
    that the best layer is often not the last one.

    Args:
        model: An ``MLP``, ``CNN``, ``JointEmbedding`` or ``nn.Sequential``.
        x_train: Training inputs, shape (n, ...).
        y_train: Training labels, shape (n,).
        x_test: Test inputs, shape (m, ...).
        y_test: Test labels, shape (m,).
        method: ``"linear"`` (``linear_probe``) or ``"knn"`` (``knn_probe``).
        labels_per_class: Few-label budget of the linear probe.
        draws: Draws of the labelled subset of the linear probe.
        k: Neighbours of the kNN probe.
        include_input: Also probe the raw input, keyed ``"input"``.
        generator: CPU generator for the labelled subsets; every layer sees the
            same subsets.

    Returns:
        Accuracy per layer name, in forward order.
    """
    check_choice(method, name="method", choices=("linear", "knn"))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    train = models.layer_outputs(model, x_train.to(device))
    test = models.layer_outputs(model, x_test.to(device))
    model.train(was_training)
    if include_input:
        train = {"input": x_train.flatten(1).to(device), **train}
        test = {"input": x_test.flatten(1).to(device), **test}
    state = generator.get_state() if generator is not None else None
    results = {}
    for name in train:
        if method == "knn":
            results[name] = knn_probe(train[name], y_train, test[name], y_test, k=k)
            continue
        if state is not None:
            generator.set_state(state)
        results[name] = linear_probe(
            train[name],
            y_train,
            test[name],
            y_test,
            labels_per_class=labels_per_class,
            draws=draws,
            generator=generator,
        )
    return results
