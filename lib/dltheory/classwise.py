r"""Class-dependent effects of regularization and data augmentation (chapter 09).

Balestriero, Bottou and LeCun, *The Effects of Regularization and Data Augmentation are
Class Dependent*, NeurIPS 35 (2022), arXiv:2204.03632. The paper's text beyond its
abstract was not at hand; the notation is the book's:

.. math::

    a_c(\lambda, s) = \frac{1}{|T_c|}\sum_{i \in T_c}
        \mathbf 1[\hat y_i(\lambda, s) = c],
    \qquad \Delta a_c(\lambda) = \bar a_c(\lambda) - \bar a_c(0)  \qquad \text{(A1)}

with seeds :math:`s` paired across strengths :math:`\lambda` (the same initialisation).
Per class, a paired t-test over seeds with Holm's correction over the classes (A3, the
paired form), and a two-level bootstrap that resamples seeds and test images.

The sweep trains the whole grid (strength x seed) as one batched MLP: weights of shape
(members, in, out), full-batch training, the members' losses summed so that each
member sees its own gradient at the full learning rate (the summed loss is
block-separable and Adam acts elementwise, so members stay independent). Training
runs on ``device`` (default ``runtime.device()``); the statistics run on the CPU in
float64. The transfer experiment (claim 5, the abstract's ImageNet-to-iNaturalist
probe, shrunk): pretrain on the digits 0-4 with and without a DA (``transfer_split``,
``transfer_sweep``), freeze, fit scikit-learn's logistic regression on the second
hidden layer for the digits 5-9 (``linear_probe``), and compare (A1) on the target
digits across the source DAs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from sklearn.datasets import load_digits
from torch import Tensor

from dltheory import augment, runtime
from dltheory._checks import (
    check_array,
    check_choice,
    check_data,
    check_int,
    check_labels,
    check_predictions,
)

__all__ = [
    "REGULARIZERS",
    "lowdata_split",
    "sweep",
    "transfer_split",
    "linear_probe",
    "transfer_sweep",
    "per_class_accuracy",
    "holm",
    "paired_class_test",
    "relative_class_test",
    "two_level_bootstrap",
    "confusion_counts",
    "top_confused_pairs",
    "select_strength",
]

REGULARIZERS = ("shift", "rotation", "weight_decay")


def lowdata_split(
    *, per_class: int = 15, val_per_class: int = 15, split: int = 0
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The low-data digits split: exactly ``per_class`` training images per class.

    scikit-learn's ``load_digits`` (1797 images, pixels / 16), shuffled by the split
    seed; per class the first ``per_class`` images train, the next ``val_per_class``
    form the validation part (to choose a strength), the rest is the test set.

    Args:
        per_class: Training images per class (int >= 1).
        val_per_class: Validation images per class (int >= 0).
        split: Seed of the split (int >= 0): a random factor next to the seed.

    Returns:
        ``(x_train, y_train, x_val, y_val, x_test, y_test)``; images of shape
        (n, 1, 8, 8) float32, labels (n,) int64.

    Raises:
        TypeError: If an argument is not an int.
        ValueError: If an argument is out of range or leaves no test image.
    """
    check_int(per_class, name="per_class", minimum=1)
    check_int(val_per_class, name="val_per_class", minimum=0)
    check_int(split, name="split", minimum=0)
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(d.target, dtype=torch.int64)
    if per_class + val_per_class >= int(torch.bincount(y).min()):
        raise ValueError(
            "per_class + val_per_class must leave test images in every class "
            f"(smallest class: {int(torch.bincount(y).min())}), "
            f"got {per_class} + {val_per_class}"
        )
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(split))
    parts: list[list[Tensor]] = [[], [], []]
    for c in range(10):
        idx = perm[y[perm] == c]
        parts[0].append(idx[:per_class])
        parts[1].append(idx[per_class : per_class + val_per_class])
        parts[2].append(idx[per_class + val_per_class :])
    out = []
    for p in parts:
        i = torch.cat(p)
        out += [x[i], y[i]]
    return tuple(out)  # type: ignore[return-value]


def _paired_accuracies(acc_ref, acc_test) -> tuple[np.ndarray, np.ndarray]:
    """Both accuracy tables as float arrays of one shape (R, C), or a ValueError."""
    a = np.asarray(acc_ref, dtype=float)
    b = np.asarray(acc_test, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(
            "acc_ref and acc_test must both have shape (R, C), "
            f"got {a.shape}, {b.shape}"
        )
    return a, b


def _augment(
    x: Tensor, regularizer: str, strength: float, gen: torch.Generator
) -> Tensor:
    # x: (B, 1, 8, 8); shift = integer shifts by zero-padded random crops (errata 1)
    if strength == 0 or regularizer == "weight_decay":
        return x
    if regularizer == "shift":
        if float(strength) != int(strength):
            raise ValueError(f"shift strengths must be whole pixels, got {strength}")
        return augment.random_crop(x, padding=int(strength), generator=gen)
    return augment.random_affine(
        x, max_degrees=float(strength), max_shift=0.0, max_scale=0.0, generator=gen
    )


def _check_xy(x_train, y_train) -> None:
    if not isinstance(x_train, Tensor) or not isinstance(y_train, Tensor):
        raise TypeError(
            f"x_train and y_train must be tensors, got {type(x_train).__name__}, "
            f"{type(y_train).__name__}"
        )
    if len(x_train) != len(y_train):
        raise ValueError(
            f"x_train and y_train must have the same length, got {len(x_train)} "
            f"and {len(y_train)}"
        )


def _resolve_device(device) -> torch.device:
    if device is None:
        return runtime.device()
    if not isinstance(device, str | torch.device):
        raise TypeError(
            f"device must be a str, a torch.device or None, got {type(device).__name__}"
        )
    return torch.device(device)


def _fit(
    x_img: Tensor,
    y: Tensor,
    conditions: list[tuple[str, float]],
    seeds: list[int],
    *,
    width: int,
    steps: int,
    lr: float | None,
    n_classes: int,
    da_seed: int,
    device: torch.device,
):
    r"""Train one batched MLP, member m = (condition v, seed r) with m = v R + r.

    Returns the weights ``Ws`` (M, in, out) and biases ``bs`` (M, 1, out) on
    ``device``, float32. Initialisations are drawn on the CPU from the seed (the same
    on every device and across conditions: paired); augmentations are drawn by a CPU
    generator and moved to ``device`` (``augment``'s convention), so a seed gives the
    same draws on every device.
    """
    V, R = len(conditions), len(seeds)
    M = V * R
    x_img = x_img.to(device)
    y = y.to(device)
    dims = [64, width, width, n_classes]
    Ws, bs = [], []
    for i in range(3):
        w_r, b_r = [], []
        for s in seeds:
            g = torch.Generator().manual_seed(s * 1000 + i)
            bound = 1 / math.sqrt(dims[i])  # nn.Linear's default init, seeded
            w = (torch.rand(dims[i + 1], dims[i], generator=g) * 2 - 1) * bound
            b = (torch.rand(dims[i + 1], generator=g) * 2 - 1) * bound
            w_r.append(w.T)
            b_r.append(b)
        w_m = torch.stack(w_r).repeat(V, 1, 1)  # (M, in, out)
        b_m = torch.stack(b_r).repeat(V, 1)[:, None, :]  # (M, 1, out)
        Ws.append(w_m.to(device).requires_grad_())
        bs.append(b_m.to(device).requires_grad_())
    params = Ws + bs
    wd = None
    if conditions[0][0] == "weight_decay":
        opt = torch.optim.SGD(params, lr=lr or 0.05, momentum=0.9)
        wd = torch.tensor([s for _, s in conditions], device=device)
        wd = wd.repeat_interleave(R)[:, None, None]  # (M, 1, 1)
    else:
        opt = torch.optim.Adam(params, lr=lr or 1e-3)
    eta = opt.param_groups[0]["lr"]
    gen = torch.Generator().manual_seed(da_seed)
    y_rep = y.repeat(M)  # (M n,)
    n = len(x_img)
    for _ in range(steps):
        xs = [
            _augment(x_img.repeat(R, 1, 1, 1), reg, s, gen).reshape(R, n, 64)
            for reg, s in conditions
        ]
        logits = _forward(Ws, bs, torch.cat(xs))  # (M, n, C)
        loss = F.cross_entropy(logits.reshape(M * n, -1), y_rep, reduction="sum") / n
        opt.zero_grad()
        loss.backward()
        opt.step()
        if wd is not None:
            with torch.no_grad():
                for W in Ws:
                    W.mul_(1 - eta * wd)
    return Ws, bs


def _forward(Ws, bs, x, *, layer: int = 3) -> Tensor:
    # x: (M, n, 64) -> (M, n, C) logits, or the hidden features after ``layer`` < 3
    h = x
    for i in range(layer):
        h = torch.baddbmm(bs[i], h, Ws[i])
        if i < 2:
            h = torch.relu(h)
    return h


def sweep(
    x_train: Tensor,
    y_train: Tensor,
    eval_sets: dict[str, Tensor],
    *,
    regularizer: str,
    strengths: Sequence[float],
    seeds: Sequence[int],
    width: int = 256,
    steps: int = 300,
    lr: float | None = None,
    n_classes: int = 10,
    da_seed: int = 0,
    device: str | torch.device | None = None,
) -> dict[str, Tensor]:
    r"""Train the grid (strength x seed) as one batched MLP; predict on ``eval_sets``.

    MLP 64-``width``-``width``-C with ReLU, PyTorch's default (Kaiming-uniform)
    initialisation drawn from ``seed`` and shared across strengths (paired design).
    ``shift`` and ``rotation``: Adam (lr 1e-3), full batch, augmentation drawn fresh
    every step and per member (integer shifts up to ``strength`` pixels by
    ``augment.random_crop``; rotations uniform in +-``strength`` degrees by
    ``augment.random_affine``). ``weight_decay``: SGD with momentum 0.9 (lr 0.05) and
    decoupled decay :math:`W \leftarrow (1 - \eta\lambda) W` on the weight matrices
    only. Members' losses are summed, so each member trains at the full learning rate.

    Training runs in float32 on ``device``; initialisations and augmentation draws
    come from CPU generators, so a seed gives the same draws on every device (the
    trained weights then differ by float rounding only). Predictions come back on
    the CPU, where the statistics (float64) are computed.

    Args:
        x_train: Training images (n, 1, 8, 8) or vectors (n, 64).
        y_train: Labels (n,), int in [0, n_classes).
        eval_sets: Name -> inputs to predict on (m, ...) after training.
        regularizer: One of ``REGULARIZERS``.
        strengths: Strengths (pixels, degrees or lambda), V values >= 0.
        seeds: R initialisation seeds.
        width: Hidden width.
        steps: Full-batch steps.
        lr: Learning rate (None: 1e-3 for Adam, 0.05 for SGD).
        n_classes: Number of classes C.
        da_seed: Seed of the augmentation draws.
        device: Where to train (None: ``runtime.device()``, a GPU when there is one).

    Returns:
        Name -> predicted labels of shape (V, R, m), int64, on the CPU.

    Raises:
        TypeError: If a tensor argument is not a tensor, or ``device`` is not a str,
            a ``torch.device`` or None.
        ValueError: On an unknown regularizer, empty grids, negative strengths or
            mismatched shapes.
    """
    check_choice(regularizer, name="regularizer", choices=REGULARIZERS)
    check_data(x_train, name="x_train", ndim=(2, 4))
    check_labels(y_train, name="y_train")
    _check_xy(x_train, y_train)
    strengths = [float(s) for s in strengths]
    seeds = [int(s) for s in seeds]
    if not strengths or not seeds:
        raise ValueError("strengths and seeds must be non-empty")
    if min(strengths) < 0:
        raise ValueError(f"strengths must be >= 0, got {strengths}")
    check_int(width, name="width", minimum=1)
    check_int(steps, name="steps", minimum=1)
    dev = _resolve_device(device)
    V, R = len(strengths), len(seeds)
    M = V * R
    x_img = x_train.reshape(len(x_train), 1, 8, 8).float()
    Ws, bs = _fit(
        x_img,
        y_train,
        [(regularizer, s) for s in strengths],
        seeds,
        width=width,
        steps=steps,
        lr=lr,
        n_classes=n_classes,
        da_seed=da_seed,
        device=dev,
    )
    out = {}
    with torch.no_grad():
        for name, x in eval_sets.items():
            xe = x.reshape(len(x), 64).float().to(dev).expand(M, -1, -1)
            out[name] = _forward(Ws, bs, xe).argmax(-1).reshape(V, R, len(x)).cpu()
    return out


SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)


def transfer_split(
    *, source_per_class: int = 50, split: int = 0
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The transfer split of the digits: source 0-4, target 5-9 (claim 5).

    scikit-learn's ``load_digits`` (pixels / 16), shuffled by the split seed. Source
    task: the first ``source_per_class`` images of each digit 0-4 (labels 0-4).
    Target task: the digits 5-9 (labels 0-4 for digits 5-9), per class the first half
    to fit the probe, the second half to test it.

    Args:
        source_per_class: Source training images per digit (int >= 1).
        split: Seed of the split (int >= 0).

    Returns:
        ``(x_source, y_source, x_probe, y_probe, x_test, y_test)``; images
        (n, 1, 8, 8) float32, labels (n,) int64 in [0, 5).

    Raises:
        TypeError: If an argument is not an int.
        ValueError: If ``source_per_class`` exceeds the smallest source class.
    """
    check_int(source_per_class, name="source_per_class", minimum=1)
    check_int(split, name="split", minimum=0)
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(d.target, dtype=torch.int64)
    n_min = int(torch.bincount(y)[list(SOURCE_CLASSES)].min())
    if source_per_class > n_min:
        raise ValueError(
            f"source_per_class must be <= {n_min} (smallest source class), "
            f"got {source_per_class}"
        )
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(split))
    src, probe, test = [], [], []
    for c in SOURCE_CLASSES:
        src.append(perm[y[perm] == c][:source_per_class])
    for c in TARGET_CLASSES:
        idx = perm[y[perm] == c]
        probe.append(idx[: len(idx) // 2])
        test.append(idx[len(idx) // 2 :])
    out = []
    for parts, offset in ((src, 0), (probe, 5), (test, 5)):
        i = torch.cat(parts)
        out += [x[i], y[i] - offset]
    return tuple(out)  # type: ignore[return-value]


def linear_probe(
    f_fit, y_fit, f_test, *, C: float = 1.0, max_iter: int = 1000
) -> np.ndarray:
    """Predictions of a standardised logistic-regression probe (scikit-learn).

    ``StandardScaler`` fitted on ``f_fit``, then ``LogisticRegression(C=C)`` (lbfgs,
    multinomial): the practitioner's linear probe, not a re-implementation.

    Args:
        f_fit: Features (n, k) to fit the probe on.
        y_fit: Labels (n,).
        f_test: Features (m, k) to predict.
        C: Inverse L2 strength (> 0).
        max_iter: lbfgs iterations.

    Returns:
        Predicted labels (m,), int64.

    Raises:
        ValueError: If the shapes do not match or ``C`` <= 0.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    for name, f in (("f_fit", f_fit), ("f_test", f_test)):
        check_array(f, name=name, ndim=2)
        if not np.isfinite(np.asarray(f, dtype=np.float64)).all():
            raise ValueError(f"{name}: expected finite features, got NaN or Inf")
    a = np.asarray(f_fit, dtype=np.float64)
    b = np.asarray(f_test, dtype=np.float64)
    yf = np.asarray(y_fit)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) != len(yf):
        raise ValueError(
            "f_fit (n, k), y_fit (n,) and f_test (m, k) must match, got "
            f"{a.shape}, {yf.shape}, {b.shape}"
        )
    if not C > 0:
        raise ValueError(f"C must be > 0, got {C}")
    sc = StandardScaler().fit(a)
    clf = LogisticRegression(C=C, max_iter=max_iter).fit(sc.transform(a), yf)
    return clf.predict(sc.transform(b)).astype(np.int64)


def transfer_sweep(
    x_source: Tensor,
    y_source: Tensor,
    x_probe: Tensor,
    y_probe: Tensor,
    x_test: Tensor,
    *,
    conditions: Sequence[tuple[str, float]],
    seeds: Sequence[int],
    width: int = 256,
    steps: int = 300,
    lr: float | None = None,
    probe_C: float = 1.0,
    da_seed: int = 0,
    device: str | torch.device | None = None,
) -> Tensor:
    r"""Pretrain with each source DA, freeze, probe the target task (claim 5).

    For each condition (a DA and its strength, e.g. ``("rotation", 180)`` or
    ``("shift", 0)`` for none) and seed, pretrain the MLP 64-``width``-``width``-5 on
    the source task as :func:`sweep` does (Adam, full batch, the same initialisation
    for a seed across conditions: paired), take the second hidden layer (``width``
    ReLU features), and fit :func:`linear_probe` on the target's probe half. The
    downstream per-class accuracy is then (A1) on the target's test half.

    Args:
        x_source: Source images (n, 1, 8, 8).
        y_source: Source labels (n,) in [0, 5).
        x_probe: Target images to fit the probe on (k, 1, 8, 8).
        y_probe: Their labels (k,).
        x_test: Target images to test the probe on.
        conditions: D pairs (regularizer, strength), regularizer ``shift`` or
            ``rotation`` (strength 0: no DA).
        seeds: R initialisation seeds.
        width: Hidden width.
        steps: Pretraining steps.
        lr: Adam's learning rate (None: 1e-3).
        probe_C: The probe's inverse L2 strength.
        da_seed: Seed of the augmentation draws.
        device: Where to pretrain (None: ``runtime.device()``); the probes run on
            the CPU in float64.

    Returns:
        Predicted target labels of shape (D, R, m), int64, on the CPU.

    Raises:
        TypeError: On a non-tensor input or a bad ``device``.
        ValueError: On an empty grid, a regularizer other than shift or rotation, a
            negative strength or mismatched shapes.
    """
    _check_xy(x_source, y_source)
    _check_xy(x_probe, y_probe)
    conditions = [(str(r), float(s)) for r, s in conditions]
    seeds = [int(s) for s in seeds]
    if not conditions or not seeds:
        raise ValueError("conditions and seeds must be non-empty")
    for reg, s in conditions:
        check_choice(reg, name="conditions' regularizer", choices=("shift", "rotation"))
        if s < 0:
            raise ValueError(f"strengths must be >= 0, got {s} for {reg}")
    check_int(width, name="width", minimum=1)
    check_int(steps, name="steps", minimum=1)
    dev = _resolve_device(device)
    D, R = len(conditions), len(seeds)
    Ws, bs = _fit(
        x_source.reshape(len(x_source), 1, 8, 8).float(),
        y_source,
        conditions,
        seeds,
        width=width,
        steps=steps,
        lr=lr,
        n_classes=int(y_source.max()) + 1,
        da_seed=da_seed,
        device=dev,
    )
    with torch.no_grad():

        def feats(x):  # (m, ...) -> (D R, m, width), float64 on the CPU
            xe = x.reshape(len(x), 64).float().to(dev).expand(D * R, -1, -1)
            return _forward(Ws, bs, xe, layer=2).double().cpu().numpy()

        f_fit, f_test = feats(x_probe), feats(x_test)
    preds = np.stack(
        [
            linear_probe(f_fit[m], y_probe.numpy(), f_test[m], C=probe_C)
            for m in range(D * R)
        ]
    )  # (D R, m)
    return torch.from_numpy(preds).reshape(D, R, len(x_test))


def per_class_accuracy(preds: Tensor, y: Tensor, n_classes: int) -> Tensor:
    r"""Per-class accuracy :math:`a_c` of (A1) for every leading index.

    Args:
        preds: Predicted labels of shape (..., n).
        y: True labels (n,).
        n_classes: C.

    Returns:
        Accuracies of shape (..., C), float64; NaN for a class absent from ``y``.

    Raises:
        TypeError: If ``preds`` or ``y`` is not a tensor.
        ValueError: If the last dimension of ``preds`` is not len(y).
    """
    check_predictions(preds, y, n_classes=n_classes)
    if not isinstance(preds, Tensor) or not isinstance(y, Tensor):
        raise TypeError("preds and y must be tensors")
    check_int(n_classes, name="n_classes", minimum=1)
    if y.ndim != 1 or preds.shape[-1] != len(y):
        raise ValueError(
            f"preds must have shape (..., {len(y)}) to match y, "
            f"got {tuple(preds.shape)}"
        )
    onehot = F.one_hot(y.long(), n_classes).double()  # (n, C)
    correct = (preds == y).double()  # (..., n)
    return (correct @ onehot) / onehot.sum(0)  # (..., C)


def holm(pvals, alpha: float = 0.05) -> np.ndarray:
    r"""Holm's step-down rejections over C hypotheses.

    Sort :math:`p_{(1)} \le \dots \le p_{(C)}`; reject :math:`H_{(j)}` while
    :math:`p_{(j)} \le \alpha / (C - j + 1)`.

    Args:
        pvals: p-values (C,); NaN is read as 1.
        alpha: Family-wise error rate in (0, 1).

    Returns:
        Boolean rejections (C,), in the input order.

    Raises:
        ValueError: If ``pvals`` is not 1-D or ``alpha`` not in (0, 1).
    """
    p = np.nan_to_num(np.asarray(pvals, dtype=float), nan=1.0)
    if p.ndim != 1:
        raise ValueError(f"pvals must be 1-D, got shape {p.shape}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    C = len(p)
    reject = np.zeros(C, dtype=bool)
    for j, i in enumerate(np.argsort(p, kind="stable")):
        if p[i] > alpha / (C - j):
            break
        reject[i] = True
    return reject


def paired_class_test(
    acc_ref, acc_test, *, alpha: float = 0.05
) -> dict[str, np.ndarray]:
    """Per-class paired t-test over seeds (``scipy.stats.ttest_rel``) with Holm.

    Args:
        acc_ref: Per-class accuracies (R, C) at the reference strength.
        acc_test: Per-class accuracies (R, C) at the tested strength, paired by seed.
        alpha: Family-wise error rate.

    Returns:
        ``delta`` (C,) mean paired change, ``sd`` (C,) its sd over seeds, ``p`` (C,)
        two-sided p-values (NaN when both arms have zero variance, mapped to 1),
        ``flags`` (C,) int: -1 a Holm-significant drop, +1 a rise, 0 none.

    Raises:
        ValueError: If the shapes differ, are not 2-D, or R < 2.
    """
    a, b = _paired_accuracies(acc_ref, acc_test)
    if a.shape[0] < 2:
        raise ValueError(f"need at least 2 seeds (rows), got {a.shape[0]}")
    d = b - a  # (R, C)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = stats.ttest_rel(b, a, axis=0).pvalue
    p = np.nan_to_num(p, nan=1.0)
    rej = holm(p, alpha)
    delta = d.mean(0)
    flags = np.where(rej, np.sign(delta), 0).astype(int)
    return {"delta": delta, "sd": d.std(0, ddof=1), "p": p, "flags": flags}


def relative_class_test(
    acc_ref, acc_test, *, n_per_class=None, alpha: float = 0.05
) -> dict[str, np.ndarray]:
    r"""Does a class move differently from the average? Paired test with Holm.

    Per seed :math:`s` and class :math:`c`, the change :math:`d_{sc}` minus the seed's
    class-mean change :math:`\bar d_s = \frac1C\sum_c d_{sc}`, tested against zero over
    the seeds (:func:`paired_class_test`, Holm over the classes). A change spread
    evenly over the classes gives exact zeros (differences are rounded at 1e-12).

    On the additive scale (``n_per_class`` None) :math:`d_{sc}` is the change of
    :math:`a_c` in (A1): a class near 100 % cannot rise, so any rise of the average
    makes it "fall" relative to the average. With ``n_per_class`` (the test images
    :math:`n_c` per class), :math:`d_{sc}` is the change of the empirical logit
    :math:`\log\frac{k + 1/2}{n_c - k + 1/2}`, :math:`k = n_c a_c`, so that a change
    uniform on the logit scale (a ceiling effect) gives no flag either. A class that
    moves differently on both scales is class dependent beyond either ceiling model.

    Args:
        acc_ref: Per-class accuracies (R, C) at the reference.
        acc_test: Per-class accuracies (R, C), paired by seed.
        n_per_class: None (additive scale) or the C test-image counts (logit scale).
        alpha: Family-wise error rate.

    Returns:
        :func:`paired_class_test`'s dict for the relative changes (``delta`` in
        points of accuracy or in logits).

    Raises:
        ValueError: On mismatched shapes, R < 2, or counts that do not match C.
    """
    a, b = _paired_accuracies(acc_ref, acc_test)
    if n_per_class is not None:
        n = np.asarray(n_per_class, dtype=float)
        if n.shape != (a.shape[1],) or (n <= 0).any():
            raise ValueError(
                f"n_per_class must hold {a.shape[1]} positive counts, got {n}"
            )

        def elogit(acc):  # (R, C) -> empirical logits (R, C)
            k = acc * n
            if (k <= -0.5).any() or (k >= n + 0.5).any():
                raise ValueError(
                    "accuracies must lie in the empirical logit's domain "
                    "(-0.5 / n_c, 1 + 0.5 / n_c), got "
                    f"[{acc.min():.4f}, {acc.max():.4f}]"
                )
            return np.log((k + 0.5) / (n - k + 0.5))

        a, b = elogit(a), elogit(b)
    d = b - a  # (R, C)
    d_rel = np.round(d - d.mean(1, keepdims=True), 12)
    return paired_class_test(np.zeros_like(d_rel), d_rel, alpha=alpha)


def two_level_bootstrap(
    correct_ref,
    correct_test,
    y,
    n_classes: int,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> np.ndarray:
    r"""Percentile intervals of :math:`\Delta a_c` resampling seeds and test images.

    Each replicate draws R seeds with replacement (the same for both arms: paired) and,
    within every class, :math:`|T_c|` test images with replacement; the class change is
    the mean over the drawn (seed, image) cells of ``correct_test - correct_ref``.

    Args:
        correct_ref: Correctness (R, n) (bool or 0/1) at the reference strength.
        correct_test: Correctness (R, n) at the tested strength.
        y: Test labels (n,).
        n_classes: C.
        n_boot: Replicates (int >= 1).
        level: Coverage in (0, 1).
        seed: Seed of the resampling.

    Returns:
        Intervals of shape (C, 2), the lower and upper bounds per class.

    Raises:
        ValueError: On mismatched shapes or out-of-range arguments.
    """
    a = np.asarray(correct_ref, dtype=float)
    b = np.asarray(correct_test, dtype=float)
    y = np.asarray(y)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(y):
        raise ValueError(
            f"correct_ref and correct_test must have shape (R, {len(y)}), "
            f"got {a.shape}, {b.shape}"
        )
    check_int(n_boot, name="n_boot", minimum=1)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    R = a.shape[0]
    d = b - a  # (R, n)
    w_seed = np.stack(
        [np.bincount(rng.integers(0, R, R), minlength=R) for _ in range(n_boot)]
    )
    out = np.full((n_classes, 2), np.nan)
    q = [(1 - level) / 2, (1 + level) / 2]
    for c in range(n_classes):
        dc = d[:, y == c]  # (R, n_c)
        nc = dc.shape[1]
        if nc == 0:
            continue
        w_img = rng.multinomial(nc, np.full(nc, 1 / nc), size=n_boot)  # (B, n_c)
        reps = np.einsum("br,rn,bn->b", w_seed, dc, w_img) / (R * nc)
        out[c] = np.quantile(reps, q)
    return out


def confusion_counts(preds: Tensor, y: Tensor, n_classes: int) -> Tensor:
    r"""Confusion counts :math:`M_{cc'} = \#\{i \in T_c : \hat y_i = c'\}`.

    One matrix per leading index of ``preds``.

    Args:
        preds: Predicted labels (..., n).
        y: True labels (n,).
        n_classes: C.

    Returns:
        Counts of shape (..., C, C), float64; rows are the true classes.

    Raises:
        ValueError: If the last dimension of ``preds`` is not len(y).
    """
    check_predictions(preds, y, n_classes=n_classes)
    if preds.shape[-1] != len(y):
        raise ValueError(
            f"preds must have shape (..., {len(y)}), got {tuple(preds.shape)}"
        )
    onehot_true = F.one_hot(y.long(), n_classes).double()  # (n, C)
    onehot_pred = F.one_hot(preds.long(), n_classes).double()  # (..., n, C)
    return torch.einsum("nc,...nd->...cd", onehot_true, onehot_pred)


def top_confused_pairs(delta_m, k: int = 3) -> list[tuple[tuple[int, int], float]]:
    r"""The class pairs whose symmetric confusion grows most, largest first.

    The increase of pair (a, b), a < b, is :math:`\Delta M_{ab} + \Delta M_{ba}`.

    Args:
        delta_m: A confusion difference (C, C).
        k: How many pairs.

    Returns:
        ``[((a, b), increase), ...]`` of length k.
    """
    check_int(k, name="k", minimum=0)
    m = np.asarray(delta_m, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"delta_m must be square (C, C), got {m.shape}")
    s = m + m.T
    pairs = [((a, b), s[a, b]) for a in range(len(m)) for b in range(a + 1, len(m))]
    return sorted(pairs, key=lambda t: -t[1])[:k]


def select_strength(acc, *, rule: str = "average") -> int:
    """Index of the strength chosen on a validation part.

    Args:
        acc: Per-class validation accuracies (V, R, C).
        rule: ``"average"`` (largest class-mean accuracy over seeds) or
            ``"worst_class"`` (largest worst-class accuracy of the seed means).

    Returns:
        The chosen index in [0, V).
    """
    check_choice(rule, name="rule", choices=("average", "worst_class"))
    a = np.asarray(acc, dtype=float)
    if a.ndim != 3:
        raise ValueError(f"acc must have shape (V, R, C), got {a.shape}")
    m = a.mean(1)  # (V, C)
    score = m.mean(1) if rule == "average" else m.min(1)
    return int(np.argmax(score))
