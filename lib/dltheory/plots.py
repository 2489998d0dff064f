"""One look for every figure of the book, and the figures that recur.

Used by every chapter. ``use_style()`` (called by a notebook, never on import) sets
the Okabe-Ito colour cycle, which colour-blind readers can tell apart, and labelled,
uncluttered axes. Each helper is ``plot_<what>(..., ax=None) -> Axes``: it takes
tensors (detached and moved to the CPU here), draws on ``ax`` (a new figure when
None) and never calls ``show`` or ``savefig``. Sequential maps use ``viridis``,
signed maps ``RdBu_r`` centred on zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from torch import Tensor

from dltheory._checks import (
    check_array,
    check_data,
    check_int,
    check_mapping,
    check_positive,
)

OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")


def use_style() -> None:
    """Set the book's matplotlib style: Okabe-Ito colours, light grid, open axes."""
    mpl.rcParams.update(
        {
            "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.frameon": False,
            "figure.dpi": 100,
            "figure.figsize": (6.0, 4.0),
            "image.cmap": "viridis",
        }
    )


def _numpy(x) -> np.ndarray:
    if isinstance(x, Tensor):
        return (
            x.detach()
            .to("cpu", torch.float64 if x.is_floating_point() else x.dtype)
            .numpy()
        )
    return np.asarray(x)


def _axes(ax: Axes | None) -> Axes:
    return plt.subplots()[1] if ax is None else ax


def pca_2d(f: Tensor) -> Tensor:
    """Project features (n, H) on their first two principal directions: (n, 2)."""
    check_data(f, name="f", ndim=2, finite=False)
    f = f.detach().to("cpu", torch.float64)
    centred = f - f.mean(dim=0)
    if f.shape[1] <= 2:
        return centred
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return centred @ vh[:2].T  # (n, 2)


def plot_embedding(
    f: Tensor, y: Tensor | None = None, *, ax: Axes | None = None, title: str = ""
) -> Axes:
    """Scatter features by label; more than two features go through a 2-D PCA."""
    ax = _axes(ax)
    points = _numpy(pca_2d(f))
    labels = None if y is None else _numpy(y)
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=6, alpha=0.7)
    else:
        classes = np.unique(labels)
        cmap = ListedColormap(OKABE_ITO) if len(classes) <= 8 else plt.get_cmap("tab10")
        for i, c in enumerate(classes):
            mask = labels == c
            ax.scatter(
                points[mask, 0],
                points[mask, 1],
                s=6,
                alpha=0.7,
                color=cmap(i % cmap.N),
                marker=MARKERS[i % len(MARKERS)],
                label=str(c),
            )
        ax.legend(markerscale=2, fontsize=7, ncols=2, title="label", title_fontsize=8)
    pc = "PC" if f.shape[1] > 2 else "feature "
    ax.set(xlabel=f"{pc}1", ylabel=f"{pc}2", title=title)
    return ax


def plot_curves(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str] | None = None,
    *,
    ax: Axes | None = None,
    title: str = "",
    log_scale: bool = False,
) -> Axes:
    """Plot logged quantities of a training history against ``history["step"]``."""
    check_mapping(history, name="history")
    ax = _axes(ax)
    keys = [k for k in history if k != "step"] if keys is None else keys
    for i, key in enumerate(keys):
        ax.plot(
            history["step"],
            history[key],
            label=key,
            linestyle=LINESTYLES[i % len(LINESTYLES)],
        )
    ax.set(
        xlabel="step",
        ylabel="value" + (" (log scale)" if log_scale else ""),
        title=title,
    )
    if log_scale:
        ax.set_yscale("log")
    if len(keys) > 1:
        ax.legend()
    return ax


def plot_regions(
    image: Tensor,
    extent: tuple[float, float, float, float],
    *,
    ax: Axes | None = None,
    title: str = "",
    seed: int = 0,
) -> Axes:
    """Show a partition of a 2-D input space: one random colour per region id.

    Args:
        image: Region ids, shape (res, res), row i at the i-th y value from the
            bottom (as ``splines.region_image`` returns it).
        extent: ``(x_min, x_max, y_min, y_max)`` in input units.
        ax: Axes to draw on.
        title: Title (state the finding).
        seed: Seed of the random colours; colour carries no meaning here.
    """
    check_array(image, name="image", ndim=2)
    ax = _axes(ax)
    ids = _numpy(image).astype(np.int64)
    n_regions = int(ids.max()) + 1
    colours = np.random.default_rng(seed).uniform(0.15, 0.95, size=(n_regions, 3))
    ax.imshow(colours[ids], origin="lower", extent=extent, interpolation="nearest")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title)
    ax.grid(False)
    return ax


def plot_bars(
    table: Mapping[str, Mapping[str, float]],
    *,
    ax: Axes | None = None,
    title: str = "",
    ylabel: str = "accuracy",
    ylim: tuple[float, float] | None = None,
    annotate: bool = True,
) -> Axes:
    """Grouped bar chart: ``table[group][series]``, e.g. probe accuracy per feature set.

    Groups go along the x axis (one per key of ``table``); each series (the inner
    keys, such as ``"5 labels/class"``) gets one colour and hatch in every group.
    """
    check_mapping(table, name="table")
    ax = _axes(ax)
    groups = list(table)
    series = list(dict.fromkeys(s for g in groups for s in table[g]))
    width = 0.8 / len(series)
    hatches = ("", "//", "..", "xx", "\\\\", "oo")
    x = np.arange(len(groups))
    for i, s in enumerate(series):
        values = [table[g].get(s, np.nan) for g in groups]
        bars = ax.bar(
            x + (i - (len(series) - 1) / 2) * width,
            values,
            width,
            label=s,
            hatch=hatches[i % len(hatches)],
            edgecolor="white",
        )
        if annotate:
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(x, groups)
    ax.set(ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if len(series) > 1:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="x", visible=False)
    return ax


def plot_per_class(
    values: Mapping[str, Tensor | Sequence[float]],
    *,
    ax: Axes | None = None,
    title: str = "",
    ylabel: str = "accuracy",
) -> Axes:
    """Per-class bar chart: ``values[series]`` holds one number per class."""
    check_mapping(values, name="values")
    table: dict[str, dict[str, float]] = {}
    for name, per_class in values.items():
        for c, v in enumerate(_numpy(per_class).tolist()):
            table.setdefault(str(c), {})[name] = float(v)
    ax = plot_bars(table, ax=ax, title=title, ylabel=ylabel, annotate=False)
    ax.set_xlabel("class")
    return ax


def plot_matrix(
    m: Tensor,
    *,
    ax: Axes | None = None,
    title: str = "",
    signed: bool = True,
    label: str = "",
) -> Axes:
    """Show a matrix (a covariance, a similarity): ``RdBu_r`` centred on 0 if signed."""
    check_array(m, name="m", ndim=2)
    ax = _axes(ax)
    a = _numpy(m)
    if signed:
        bound = float(np.abs(a).max()) or 1.0
        im = ax.imshow(a, cmap="RdBu_r", vmin=-bound, vmax=bound)
    else:
        im = ax.imshow(a, cmap="viridis")
    ax.figure.colorbar(im, ax=ax, label=label, shrink=0.8)
    ax.set(title=title)
    ax.grid(False)
    return ax


def plot_images(
    x: Tensor,
    *,
    shape: tuple[int, int],
    ncols: int = 8,
    ax: Axes | None = None,
    title: str = "",
) -> Axes:
    """Tile a batch of grey images (n, H*W) or (n, 1, H, W) into one mosaic.

    Each image is shown on the same grey scale (the batch's range), separated by a
    one-pixel white gap; ``ncols`` images per row.
    """
    check_array(x, name="x", ndim=(2, 4))
    if x.shape[0] and math.prod(x.shape[1:]) != math.prod(shape):
        raise ValueError(
            f"shape: expected H * W = {math.prod(x.shape[1:])} pixels per image of x, "
            f"got {tuple(shape)}"
        )
    ax = _axes(ax)
    images = _numpy(x).reshape(-1, *shape)
    n, (h, w) = images.shape[0], shape
    nrows = -(-n // ncols)
    lo, hi = float(images.min()), float(images.max())
    mosaic = np.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        mosaic[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = image
    cmap = plt.get_cmap("gray_r").with_extremes(bad="white")
    ax.imshow(mosaic, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
    ax.set(title=title, xticks=[], yticks=[])
    ax.grid(False)
    return ax


def plot_spectrum(
    f: Tensor,
    *,
    ax: Axes | None = None,
    title: str = "",
    label: str | None = None,
    ylim: tuple[float, float] | None = (1e-4, 1e1),
) -> Axes:
    """Standard deviations of features along their principal directions, log scale.

    The singular values of the centred features divided by sqrt(n - 1), largest
    first: a collapsed representation has them all near zero, a dimensionally
    collapsed one has a few large and the rest near zero.
    """
    check_data(f, name="f", ndim=2, finite=False)
    ax = _axes(ax)
    f = f.detach().to("cpu", torch.float64)
    s = torch.linalg.svdvals(f - f.mean(dim=0)) / (f.shape[0] - 1) ** 0.5
    ax.semilogy(np.arange(1, len(s) + 1), _numpy(s).clip(1e-12), label=label)
    ax.set(xlabel="principal direction", ylabel="std (log scale)", title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    return ax


def plot_gaussian_ellipse(
    mean: Tensor,
    cov: Tensor,
    *,
    k: float = 2.0,
    ax: Axes | None = None,
    points: int = 100,
    **style,
) -> Axes:
    r"""Draw the k-sigma ellipse of a 2-D Gaussian (chapter 04's push-forward check).

    The ellipse is :math:`\{z : (z - \mu)^\top \Sigma^{-1} (z - \mu) = k^2\}`.

    The curve is :math:`\mu + k L (\cos t, \sin t)^\top` with :math:`\Sigma = L
    L^\top` (Cholesky, float64). Used by chapter 04 to compare the predicted
    push-forward N(f(x_n), J Sigma_x J^T) with the sample covariance of the outputs.

    Args:
        mean: Centre, shape (2,).
        cov: Covariance, shape (2, 2), positive definite.
        k: Radius in standard deviations, > 0 (2: about 86 % of a 2-D Gaussian).
        ax: Axes to draw on.
        points: Points on the curve, >= 3.
        **style: Passed to ``ax.plot`` (colour, linestyle, label).

    Raises:
        ValueError: If the shapes are not (2,) and (2, 2), ``cov`` is not positive
            definite, or ``k <= 0``.
    """
    check_data(mean, name="mean", ndim=1)
    check_data(cov, name="cov", ndim=2)
    k = check_positive(k, name="k")
    check_int(points, name="points", minimum=3)
    if tuple(mean.shape) != (2,) or tuple(cov.shape) != (2, 2):
        raise ValueError(
            f"mean, cov: expected shapes (2,) and (2, 2), got {tuple(mean.shape)} "
            f"and {tuple(cov.shape)}"
        )
    L, info = torch.linalg.cholesky_ex(cov.detach().to("cpu", torch.float64))
    if info != 0:
        raise ValueError("cov: expected a positive-definite covariance")
    t = torch.linspace(0, 2 * math.pi, points, dtype=torch.float64)
    circle = torch.stack([t.cos(), t.sin()], dim=1)  # (points, 2)
    curve = mean.detach().to("cpu", torch.float64) + k * circle @ L.T  # (points, 2)
    ax = _axes(ax)
    ax.plot(curve[:, 0].numpy(), curve[:, 1].numpy(), **style)
    return ax


def plot_layer_accuracies(
    curves: Mapping[str, Mapping[str, float]],
    *,
    ax: Axes | None = None,
    layers: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    baseline: float | None = None,
    baseline_label: str = "raw pixels",
    cut_after: str | None = None,
    mark_best: bool = True,
    styles: Mapping[str, Mapping[str, object]] | None = None,
    title: str = "",
) -> Axes:
    """Probe accuracy against depth, one line per network (chapter 05's (G1)).

    The recurring figure of Guillotine regularisation [bordes2022guillotine,
    arXiv:2206.13378]: ``curves[name][layer]`` is the test accuracy of a probe on
    layer ``layer`` of network ``name`` (``probes.probe_layers``), drawn over the
    layers in forward order. Each curve gets its own colour, marker and line style;
    a black star marks its best layer (the arg max of (G1)); a dotted grey line the
    accuracy of a reference such as the raw pixels; a thin vertical line the cut
    between backbone and projector.

    Args:
        curves: Accuracy per layer, per curve label; every curve has ``layers``.
        ax: Axes to draw on.
        layers: Layers along the x axis, in order; by default the keys of the
            first curve without ``"input"``.
        labels: Tick label per layer; the layer names by default.
        baseline: Accuracy drawn as a horizontal reference line, if given.
        baseline_label: Its legend entry.
        cut_after: Draw the cut between this layer and the next.
        mark_best: Star each curve's best layer.
        styles: ``ax.plot`` keywords per curve label, replacing its default
            colour, marker and line style (to keep one style per method across
            figures that show different subsets).
        title: The axes' title.

    Returns:
        The axes, with x label and ticks set (the caller sets the y label).

    Raises:
        ValueError: If ``curves`` is empty, a curve lacks a layer, or
            ``cut_after`` is not one of ``layers``.
    """
    check_mapping(curves, name="curves")
    if not curves:
        raise ValueError("curves: expected at least one curve, got none")
    if layers is None:
        layers = [k for k in next(iter(curves.values())) if k != "input"]
    layers = list(layers)
    for name, accs in curves.items():
        missing = [layer for layer in layers if layer not in accs]
        if missing:
            raise ValueError(f"curves: {name!r} has no accuracy for {missing}")
    if cut_after is not None and cut_after not in layers:
        raise ValueError(f"cut_after: expected one of {layers}, got {cut_after!r}")
    ax = _axes(ax)
    x = np.arange(len(layers))
    for i, (name, accs) in enumerate(curves.items()):
        y = np.array([accs[layer] for layer in layers], dtype=float)
        style = {
            "color": OKABE_ITO[i % len(OKABE_ITO)],
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
            **((styles or {}).get(name, {})),
        }
        ax.plot(x, y, label=name, **style)
        if mark_best:
            best = int(np.argmax(y))
            ax.plot(x[best], y[best], "*", color="black", markersize=12, zorder=3)
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle=":", label=baseline_label)
    xlabel = "layer"
    if cut_after is not None:
        ax.axvline(layers.index(cut_after) + 0.5, color="grey", linewidth=0.8)
        xlabel = "layer (the cut is the vertical line)"
    names = labels or {}
    ax.set_xticks(x, [names.get(layer, layer) for layer in layers])
    ax.set(xlabel=xlabel, title=title)
    return ax


def plot_layer_heatmap(
    accuracy,
    layers: Sequence[str],
    settings: Sequence[str],
    *,
    ax: Axes | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str = "",
    xlabel: str = "setting",
) -> Axes:
    """Accuracy per layer (rows) and training setting (columns), values written in.

    Chapter 05's map of where along a network a probe loses accuracy, one column
    per setting (an augmentation strength, a loss weight). ``viridis``, with each
    value printed in white on dark cells and black on light ones. The image is
    ``ax.images[-1]``, for a colour bar shared by several maps.

    Args:
        accuracy: Array or tensor of shape (len(layers), len(settings)).
        layers: Row labels, in forward order from the top.
        settings: Column labels.
        ax: Axes to draw on.
        vmin: Lower end of the colour scale (the data's minimum by default).
        vmax: Upper end of the colour scale (the data's maximum by default).
        title: The axes' title.
        xlabel: What the columns are.

    Raises:
        ValueError: If the shape of ``accuracy`` does not match the labels.
    """
    a = _numpy(accuracy).astype(float)
    if a.shape != (len(layers), len(settings)):
        raise ValueError(
            f"accuracy: expected shape ({len(layers)}, {len(settings)}) from the "
            f"labels, got {a.shape}"
        )
    ax = _axes(ax)
    lo = float(a.min()) if vmin is None else vmin
    hi = float(a.max()) if vmax is None else vmax
    image = ax.imshow(a, cmap="viridis", vmin=lo, vmax=hi, aspect="auto")
    for (row, col), value in np.ndenumerate(a):
        r, g, b, _ = image.cmap(image.norm(value))
        dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # perceived luminance
        ax.text(
            col,
            row,
            f"{value:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if dark else "black",
        )
    ax.set_xticks(range(len(settings)), list(settings))
    ax.set_yticks(range(len(layers)), list(layers))
    ax.set(xlabel=xlabel, ylabel="layer", title=title)
    ax.grid(False)
    return ax
