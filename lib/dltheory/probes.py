r"""Probes: how good are frozen features for a downstream task?

Used by every SSL chapter (00-05) and by chapter 09. A *linear probe* is a
multinomial logistic regression trained on standardised frozen features, here on
the device with L-BFGS (the same objective as scikit-learn's ``LogisticRegression``
with ``C = 1``); a *kNN probe* is the majority vote of the ``k`` nearest training
features. Both can use a few labels per class, averaged over draws of the labelled
subset, which is where self-supervised features differ most from raw inputs.
``probe_layers`` applies a probe to every layer of a network at once and
``guillotine_gap`` reads off what cutting the head gains (chapter 05's Guillotine
regularisation is these two functions; ``probe_layers_validated`` scores the same
probes on a validation and a test set, to choose the layer on the first;
``train_and_probe`` trains one SSL run and applies them). ``effective_rank``
measures collapse:

.. math::
    \operatorname{erank}(F) = \exp\Big(-\sum_k p_k \log p_k\Big),\qquad
    p_k = \frac{\sigma_k^2}{\sum_j \sigma_j^2}  \tag{F1}

with :math:`\sigma_k` the singular values of the centred feature matrix. (F1) is
Roy and Vetterli's effective rank [roy2007effective] of the covariance
:math:`F^\top F / n`, whose eigenvalues are :math:`\sigma_k^2 / n`, not of the
feature matrix itself (theirs would normalise the :math:`\sigma_k`). Shapes:
``n`` samples, ``H`` features. Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import re
from typing import NamedTuple

import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from torch import Tensor, nn

from dltheory import models, train
from dltheory._checks import (
    check_batch,
    check_choice,
    check_data,
    check_finite,
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
    check_data(x, name="x")
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
    if y.numel() == 0:
        raise ValueError("y: expected at least one label, got shape (0,)")
    check_int(labels_per_class, name="labels_per_class", minimum=1)
    check_generator(generator)
    keys = torch.rand(y.shape[0], generator=generator, dtype=torch.float64)  # (n,)
    y_cpu = y.cpu()
    order = torch.argsort(y_cpu.double() + keys)  # by class, random within a class
    counts = torch.bincount(y_cpu)
    starts = torch.cumsum(counts, 0) - counts  # first position of each class
    rank = torch.arange(y.shape[0]) - starts[y_cpu[order]]  # rank within its class
    return order[rank < labels_per_class].sort().values.to(y.device)


def _labelled_subsets(
    y: Tensor, labels_per_class: int | None, draws: int, generator
) -> list[Tensor]:
    """Indices of the labelled examples: all of them, or `draws` few-label draws."""
    if labels_per_class is None:
        return [torch.arange(y.shape[0])]
    return [few_labels(y, labels_per_class, generator=generator) for _ in range(draws)]


def _standardise(f_train: Tensor, f_test: Tensor) -> tuple[Tensor, Tensor]:
    mean = f_train.mean(dim=0)
    std = f_train.std(dim=0, unbiased=False)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant features: 1
    return (f_train - mean) / std, (f_test - mean) / std


def _logistic_regression(
    f: Tensor,
    y: Tensor,
    n_classes: int,
    *,
    c: float,
    max_iter: int,
    reduce: bool = False,
) -> tuple[Tensor, Tensor]:
    """Weights of P independent logistic regressions, solved as one L-BFGS problem.

    Each problem p minimises mean cross-entropy + |W_p|^2 / (2 c n), scikit-learn's
    objective; the sum over p is separable, so its minimiser is every problem's.
    Shapes: f (P, n, H), y (P, n) -> W (P, H, C), b (P, C). Zero feature columns
    (padding) keep zero weights.

    ``reduce=True`` with fewer examples than features (few labels) solves the same
    problem in the row space of f: with f = U S V^T (thin SVD, V of shape (H, n)),
    the data term depends on W only through f W and the penalty grows off the row
    space, so W = V B with B (n, C) the minimiser for features U S, and |W| = |B|.
    Same optimum, iterates of n x C instead of H x C numbers.
    """
    p, n, h = f.shape
    basis = None
    if reduce and n < h:
        u, s, basis = torch.linalg.svd(f, full_matrices=False)  # basis: (P, n, H)
        f = u * s[:, None, :]  # (P, n, n) = f V
    h_fit = f.shape[2]
    w = torch.zeros(
        p, h_fit, n_classes, device=f.device, dtype=f.dtype, requires_grad=True
    )
    b = torch.zeros(p, 1, n_classes, device=f.device, dtype=f.dtype, requires_grad=True)
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
        logits = torch.baddbmm(b, f, w)  # (P, n, C)
        data = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum") / n
        loss = data + w.pow(2).sum() / (2 * c * n)
        loss.backward()
        return loss

    opt.step(closure)
    w = w.detach()
    if basis is not None:
        w = basis.transpose(1, 2) @ w  # (P, H, C) = V B
    return w, b.detach()[:, 0]


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
    check_finite(f_train, name="f_train")
    check_finite(f_test, name="f_test")
    _check_probe_inputs(f_train, y_train, f_test, y_test)
    check_int(draws, name="draws", minimum=1)
    check_positive(c, name="c")
    check_int(max_iter, name="max_iter", minimum=1)
    check_choice(solver, name="solver", choices=("torch", "sklearn"))
    dtype = torch.float64 if f_train.device.type != "mps" else torch.float32
    f_train, f_test = f_train.detach().to(dtype), f_test.detach().to(dtype)
    y_test = y_test.to(f_test.device)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    subsets = _labelled_subsets(y_train, labels_per_class, draws, generator)
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
            w, b = _logistic_regression(
                tr[None], y_idx[None], n_classes, c=c, max_iter=max_iter
            )
        accuracies.append(
            ((te @ w[0] + b[0]).argmax(1) == y_test).double().mean().item()
        )
    return sum(accuracies) / len(accuracies)


def _knn_predict(
    f_train: Tensor, y_train: Tensor, f_test: Tensor, k: int, *, batch_size: int
) -> Tensor:
    """Majority vote of the k nearest training features, for P feature sets at once.

    Shapes: f_train (P, n, H), y_train (n,), f_test (P, m, H) -> predictions (P, m).
    Zero feature columns (padding) do not change distances; ties between classes go
    to the smaller label.
    """
    n_classes = int(y_train.max()) + 1
    predictions = []
    for start in range(0, f_test.shape[1], batch_size):
        dist = torch.cdist(f_test[:, start : start + batch_size], f_train)  # (P, b, n)
        neighbours = dist.topk(k, dim=2, largest=False).indices  # (P, b, k)
        votes = F.one_hot(y_train[neighbours], n_classes).sum(dim=2)  # (P, b, C)
        predictions.append(votes.argmax(dim=2))
    return torch.cat(predictions, dim=1)  # (P, m)


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
    check_finite(f_train, name="f_train")
    check_finite(f_test, name="f_test")
    _check_probe_inputs(f_train, y_train, f_test, y_test)
    check_int(k, name="k", minimum=1)
    check_int(batch_size, name="batch_size", minimum=1)
    if k > f_train.shape[0]:
        raise ValueError(f"k: expected at most n = {f_train.shape[0]}, got {k}")
    f_train = f_train.detach().float()
    f_test = f_test.detach().float().to(f_train.device)
    pred = _knn_predict(
        f_train[None],
        y_train.to(f_train.device),
        f_test[None],
        k,
        batch_size=batch_size,
    )[0]
    return (pred.cpu() == y_test.cpu()).double().mean().item()


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
    check_finite(f_train, name="f_train")
    check_finite(f_test, name="f_test")
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

    Roy and Vetterli's effective rank of the covariance of the centred features (the
    squared singular values of ``f`` are normalised), not of ``f`` itself.

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
    check_finite(f, name="f")
    check_batch(f, name="f", min_rows=2)
    device = "cpu" if f.device.type == "mps" else f.device
    f = f.detach().to(device, torch.float64)
    s = torch.linalg.svdvals(f - f.mean(dim=0))  # (min(n, H),)
    p = s.pow(2) / s.pow(2).sum()
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum()
    return entropy.exp().item()


def _pad_and_stack(features: list[Tensor]) -> Tensor:
    """Stack (n, H_l) feature matrices into (L, n, max H_l), zero-padded."""
    width = max(f.shape[1] for f in features)
    return torch.stack([F.pad(f, (0, width - f.shape[1])) for f in features])


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
    c: float = 1.0,
    max_iter: int = 500,
    standardize: bool = True,
    include_input: bool = False,
    max_elements: int = 2**25,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    r"""Probe accuracy at every layer of a network: the Guillotine readout (G1).

    Bordes et al. [bordes2022guillotine, arXiv:2206.13378] read a trained network
    f = g_L o ... o g_1 at every depth l, h_l(x) = g_l o ... o g_1(x), and probe
    each readout; Guillotine regularisation keeps the best depth
    :math:`\ell^* = \arg\max_\ell \operatorname{Acc}(h_\ell)`, which is often not
    the last (chapter 05). The layers are those of ``models.layer_outputs`` (for a
    ``JointEmbedding``: ``"backbone.1"``, ..., ``"projector.1"``, ...), computed in
    eval mode (batch norm uses its running statistics) and the mode restored.

    For each draw of the labelled subset (``labels_per_class`` per class, the same
    subsets for every layer) every layer's features are standardised with that
    subset's mean and standard deviation (``standardize=True``), then probed:
    ``"linear"`` is ``linear_probe``'s logistic regression (objective of
    scikit-learn's ``LogisticRegression(C=c)``), ``"knn"`` the vote of the ``k``
    nearest labelled features. All layers and draws are solved at once: features
    are zero-padded to the widest layer and stacked, so the linear probes are one
    batched L-BFGS problem (separable, so its minimiser is every probe's) and the
    kNN distances one batched ``cdist``. Layers are grouped so that no stack holds
    more than ``max_elements`` numbers.

    Args:
        model: An ``MLP``, ``CNN``, ``JointEmbedding`` or ``nn.Sequential``.
        x_train: Training inputs, shape (n, ...).
        y_train: Training labels, shape (n,).
        x_test: Test inputs, shape (m, ...).
        y_test: Test labels, shape (m,).
        method: ``"linear"`` or ``"knn"``.
        labels_per_class: Few-label budget; ``None`` uses every training label.
        draws: Draws of the labelled subset to average over (ignored when
            ``labels_per_class`` is None).
        k: Neighbours of the kNN probe, at most the number of labelled examples.
        c: Inverse regularisation strength of the linear probe.
        max_iter: L-BFGS iterations of the linear probe.
        standardize: Standardise each layer's features with the labelled subset's
            statistics before probing.
        include_input: Also probe the raw input, keyed ``"input"``, first.
        max_elements: Largest number of entries of one stacked feature tensor.
        generator: CPU generator of the labelled subsets.

    Returns:
        Mean test accuracy over the draws per layer name, in forward order.

    Raises:
        TypeError: If inputs or labels have the wrong type.
        ValueError: If shapes disagree or a setting is out of range.
    """
    check_data(x_train, name="x_train")
    check_data(x_test, name="x_test")
    return _probe_layers(
        model,
        x_train,
        y_train,
        [(x_test, y_test, "y_test")],
        method=method,
        labels_per_class=labels_per_class,
        draws=draws,
        k=k,
        c=c,
        max_iter=max_iter,
        standardize=standardize,
        include_input=include_input,
        max_elements=max_elements,
        generator=generator,
    )[0]


@torch.no_grad()
def probe_layers_validated(
    model: nn.Module,
    x_train: Tensor,
    y_train: Tensor,
    x_val: Tensor,
    y_val: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    *,
    method: str = "linear",
    labels_per_class: int | None = None,
    draws: int = 5,
    k: int = 20,
    c: float = 1.0,
    max_iter: int = 500,
    standardize: bool = True,
    include_input: bool = False,
    max_elements: int = 2**25,
    generator: torch.Generator | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    r"""``probe_layers`` scored on a validation set and on a test set, Eq. (G1).

    Choosing the best depth :math:`\ell^*` of (G1) [bordes2022guillotine,
    arXiv:2206.13378] on the test accuracy it is then reported with is optimistic;
    this function fits the same probes as ``probe_layers`` (same labelled subsets,
    same solver) and scores each on two held-out sets, so that the layer can be
    chosen on ``(x_val, y_val)`` and reported on ``(x_test, y_test)``
    (``guillotine_gap(test, select_on=validation)``). With the same arguments its
    test accuracies equal ``probe_layers``'s on ``(x_test, y_test)`` whenever the
    layers fit one stack (``max_elements``), as they do at chapter 05's sizes.

    Args:
        model: As for ``probe_layers``.
        x_train: Training inputs, shape (n, ...): the labelled pool.
        y_train: Training labels, shape (n,).
        x_val: Validation inputs, shape (v, ...).
        y_val: Validation labels, shape (v,).
        x_test: Test inputs, shape (m, ...).
        y_test: Test labels, shape (m,).
        method: As for ``probe_layers``.
        labels_per_class: As for ``probe_layers``.
        draws: As for ``probe_layers``.
        k: As for ``probe_layers``.
        c: As for ``probe_layers``.
        max_iter: As for ``probe_layers``.
        standardize: As for ``probe_layers``.
        include_input: As for ``probe_layers``.
        max_elements: As for ``probe_layers`` (the validation and test images
            count together).
        generator: As for ``probe_layers``.

    Returns:
        ``(validation, test)``: mean accuracy over the draws per layer name, in
        forward order, on each set.

    Raises:
        TypeError: If inputs or labels have the wrong type.
        ValueError: If shapes disagree or a setting is out of range.
    """
    check_data(x_train, name="x_train")
    check_data(x_val, name="x_val")
    check_data(x_test, name="x_test")
    validation, test = _probe_layers(
        model,
        x_train,
        y_train,
        [(x_val, y_val, "y_val"), (x_test, y_test, "y_test")],
        method=method,
        labels_per_class=labels_per_class,
        draws=draws,
        k=k,
        c=c,
        max_iter=max_iter,
        standardize=standardize,
        include_input=include_input,
        max_elements=max_elements,
        generator=generator,
    )
    return validation, test


def _probe_layers(
    model: nn.Module,
    x_train: Tensor,
    y_train: Tensor,
    evaluation: list[tuple[Tensor, Tensor, str]],
    *,
    method: str,
    labels_per_class: int | None,
    draws: int,
    k: int,
    c: float,
    max_iter: int,
    standardize: bool,
    include_input: bool,
    max_elements: int,
    generator: torch.Generator | None,
) -> list[dict[str, float]]:
    """``probe_layers``'s work, scored on each (x, y, name of y) of ``evaluation``."""
    check_choice(method, name="method", choices=("linear", "knn"))
    check_labels(y_train, name="y_train", n=x_train.shape[0])
    for x_eval, y_eval, name in evaluation:
        check_labels(y_eval, name=name, n=x_eval.shape[0])
    sizes = [y_eval.shape[0] for _, y_eval, _ in evaluation]
    x_test = torch.cat([x_eval for x_eval, _, _ in evaluation])  # (sum sizes, ...)
    y_test = torch.cat([y_eval for _, y_eval, _ in evaluation])  # (sum sizes,)
    check_int(draws, name="draws", minimum=1)
    check_int(k, name="k", minimum=1)
    check_positive(c, name="c")
    check_int(max_iter, name="max_iter", minimum=1)
    check_int(max_elements, name="max_elements", minimum=1)
    check_generator(generator)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    train = models.layer_outputs(model, x_train.to(device))  # name -> (n, H_l)
    test = models.layer_outputs(model, x_test.to(device))  # name -> (m, H_l)
    model.train(was_training)
    if include_input:
        train = {"input": x_train.flatten(1).to(device), **train}
        test = {"input": x_test.flatten(1).to(device), **test}
    subsets = _labelled_subsets(y_train, labels_per_class, draws, generator)
    n_labelled = subsets[0].shape[0]
    if method == "knn" and k > n_labelled:
        raise ValueError(f"k: expected at most {n_labelled} labelled examples, got {k}")
    dtype = torch.float64 if device.type != "mps" else torch.float32
    y_train, y_test = y_train.to(device), y_test.to(device)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    names = list(train)
    groups, group = [], []
    for name in names:  # consecutive layers whose padded stack fits max_elements
        width = max(train[other].shape[1] for other in [*group, name])
        size = (len(group) + 1) * len(subsets) * (n_labelled + y_test.shape[0]) * width
        if group and size > max_elements:
            groups.append(group)
            group = []
        group.append(name)
    groups.append(group)
    accuracy = [{} for _ in evaluation]
    for group in groups:
        f_tr, f_te = [], []
        for idx in subsets:
            idx = idx.to(device)
            for name in group:
                tr, te = train[name][idx].to(dtype), test[name].to(dtype)
                tr, te = _standardise(tr, te) if standardize else (tr, te)
                f_tr.append(tr)  # (n_labelled, H_l)
                f_te.append(te)  # (m, H_l)
        f_tr, f_te = _pad_and_stack(f_tr), _pad_and_stack(f_te)  # (D * L, ., H)
        if method == "linear":
            y_lab = torch.cat([y_train[idx.to(device)] for idx in subsets])
            y_lab = y_lab.reshape(len(subsets), 1, -1).expand(-1, len(group), -1)
            with torch.enable_grad():
                w, b = _logistic_regression(
                    f_tr,
                    y_lab.reshape(len(subsets) * len(group), -1),
                    n_classes,
                    c=c,
                    max_iter=max_iter,
                    reduce=True,  # few labels: solve in the row space, same optimum
                )
            pred = torch.baddbmm(b[:, None], f_te, w).argmax(dim=2)  # (D * L, m)
        else:
            preds = [
                _knn_predict(
                    f_tr[d * len(group) : (d + 1) * len(group)].float(),
                    y_train[idx.to(device)],
                    f_te[d * len(group) : (d + 1) * len(group)].float(),
                    k,
                    batch_size=1024,
                )
                for d, idx in enumerate(subsets)
            ]
            pred = torch.cat(preds)  # (D * L, m)
        for j, part in enumerate((pred == y_test).split(sizes, dim=1)):
            correct = part.double().mean(dim=1).reshape(len(subsets), -1)  # (D, L)
            accuracy[j].update(zip(group, correct.mean(dim=0).tolist(), strict=True))
    return [{name: acc[name] for name in names} for acc in accuracy]


def guillotine_gap(
    accuracies: dict[str, float],
    *,
    backbone: str | None = None,
    head: str | None = None,
    select_on: dict[str, float] | None = None,
) -> dict[str, float | str]:
    r"""The gains of cutting the head, Eq. (G2) of chapter 05.

    :math:`\Delta = \operatorname{Acc}(\text{backbone output}) -
    \operatorname{Acc}(\text{head output})` and
    :math:`\Delta^* = \max_\ell \operatorname{Acc}(h_\ell) -
    \operatorname{Acc}(\text{head output})` [bordes2022guillotine,
    arXiv:2206.13378]: what the usual cut (at the backbone) and the best cut gain
    over probing the layer the loss was applied to.

    Args:
        accuracies: Accuracy per layer in forward order, as ``probe_layers`` returns.
        backbone: Layer read as the backbone output; by default the last layer
            whose name starts with ``"backbone."``, or the last ``"bbk"`` of
            ``models.short_layer_names``.
        head: Layer read as the head output; by default the last layer.
        select_on: Accuracies (same layers) on which to choose the best layer,
            e.g. the validation half of ``probe_layers_validated``; ``Delta*`` is
            then that layer's ``accuracies`` minus the head's, and may be
            negative. By default the best layer is chosen on ``accuracies``
            themselves, an optimistic choice when they are test accuracies.

    Returns:
        ``{"gap": Delta, "best_layer": name of the best layer, "best_gap": Delta*}``
        (the best layer is the first of ties; ``"input"`` is never chosen).

    Raises:
        TypeError: If ``accuracies`` is not a dict.
        ValueError: If it is empty or a named layer is missing.
    """
    if not isinstance(accuracies, dict):
        raise TypeError(
            f"accuracies: expected a dict of layer -> accuracy, "
            f"got {type(accuracies).__name__}"
        )
    layers = [name for name in accuracies if name != "input"]
    if not layers:
        raise ValueError("accuracies: expected at least one layer, got none")
    if backbone is None:
        found = [
            name
            for name in layers
            if name.startswith("backbone.") or re.fullmatch(r"bb\d+", name)
        ]
        if not found:
            raise ValueError(
                f"backbone: no layer named 'backbone.*' or 'bb<k>' in {layers}; name it"
            )
        backbone = found[-1]
    head = layers[-1] if head is None else head
    for name, value in (("backbone", backbone), ("head", head)):
        if value not in accuracies:
            raise ValueError(f"{name}: expected one of {layers}, got {value!r}")
    if select_on is None:
        best = max(layers, key=lambda name: accuracies[name])
    else:
        if not isinstance(select_on, dict):
            raise TypeError(
                f"select_on: expected a dict of layer -> accuracy, "
                f"got {type(select_on).__name__}"
            )
        missing = [name for name in layers if name not in select_on]
        if missing:
            raise ValueError(
                f"select_on: expected the layers {layers}, missing {missing}"
            )
        best = max(layers, key=lambda name: select_on[name])
    return {
        "gap": accuracies[backbone] - accuracies[head],
        "best_layer": best,
        "best_gap": accuracies[best] - accuracies[head],
    }


class ProbedRun(NamedTuple):
    """What ``train_and_probe`` returns: accuracies by short layer name, and the run."""

    accuracy: dict[str, float]
    model: models.JointEmbedding
    history: dict[str, list[float]]


def train_and_probe(
    run: train.SSLRun,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    *,
    seed: int,
    augmentation=None,
    device: torch.device | str | None = None,
    labels_per_class: int | None = 5,
    draws: int = 3,
    probe_seed: int = 0,
    **probe_kwargs,
) -> ProbedRun:
    r"""Train one SSL network under one seed and probe every layer, Eqs. (G1)-(G2).

    Chapter 05's unit of measurement [bordes2022guillotine, arXiv:2206.13378]: the
    network of ``run`` is trained by ``train.run_ssl`` on the unlabelled
    ``x_train`` with a CPU generator seeded with ``seed`` (initial weights,
    batches and views), then every layer of backbone and projector is probed by
    ``probe_layers``, the readouts :math:`h_\ell` of (G1), with labelled subsets
    drawn by a generator seeded with ``probe_seed`` (the same subsets for every
    network of a study). ``guillotine_gap`` reads (G2) off the result, whose keys
    are the short names of ``models.short_layer_names`` (``"bb1"``, ...,
    ``"out"``).

    Args:
        run: The SSL settings.
        x_train: Training inputs, shape (n, d): the SSL data and the probe's
            labelled pool.
        y_train: Training labels, shape (n,), seen by the probe only.
        x_test: Test inputs, shape (m, d).
        y_test: Test labels, shape (m,).
        seed: The training seed.
        augmentation: The views, as for ``train.run_ssl`` (its default when None).
        device: Where to train and probe; ``runtime.device()`` by default.
        labels_per_class: The probe's few-label budget (chapter 05: 5); None for
            every label.
        draws: Draws of the labelled subset to average over.
        probe_seed: Seed of the labelled subsets.
        **probe_kwargs: Passed to ``probe_layers`` (``method``, ``k``, ``c``,
            ``max_iter``, ``include_input``, ...).

    Returns:
        ``ProbedRun(accuracy, model, history)``: test accuracy per short layer name
        in forward order, the trained network (eval mode) and ``run_ssl``'s
        history.

    Raises:
        TypeError: If ``run`` is not an ``SSLRun`` or an input has the wrong type.
        ValueError: If ``seed`` is negative or a probe setting is out of range.
    """
    check_data(x_train, name="x_train")
    check_data(x_test, name="x_test")
    check_int(seed, name="seed", minimum=0)
    check_int(probe_seed, name="probe_seed", minimum=0)
    model, history = train.run_ssl(
        run,
        x_train,
        augmentation=augmentation,
        generator=torch.Generator().manual_seed(seed),
        device=device,
        progress=False,
    )
    accuracy = probe_layers(
        model,
        x_train,
        y_train,
        x_test,
        y_test,
        labels_per_class=labels_per_class,
        draws=draws,
        generator=torch.Generator().manual_seed(probe_seed),
        **probe_kwargs,
    )
    short = models.short_layer_names(accuracy)
    return ProbedRun({short[k]: a for k, a in accuracy.items()}, model, history)
