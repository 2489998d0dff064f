"""Interactive figures that still show something without a widget front end.

Used by every chapter. ``interact(fn, static=..., **controls)`` shows live
ipywidgets controls where a front end can run them (JupyterLab, Notebook, VS Code,
Colab) and otherwise draws a static grid of the same figure at chosen values, which
is what CI, ``jupyter-book`` and the static HTML book show. The environment variable
``DLT_WIDGETS=live|static`` overrides the detection.
"""

from __future__ import annotations

import inspect
import itertools
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

MODES = ("live", "static")


def mode() -> str:
    """``"live"`` where a widget front end is attached, else ``"static"``.

    A front end is detected from Colab's module, or the variables Jupyter Server
    (``JPY_SESSION_NAME``) and VS Code (``VSCODE_PID``) set for their kernels;
    kernels run headless by nbclient (``jupyter-book``, nbmake) have neither.
    ``DLT_WIDGETS`` overrides.

    Raises:
        ValueError: If ``DLT_WIDGETS`` is set to anything but ``live`` or ``static``.
    """
    requested = os.environ.get("DLT_WIDGETS", "").strip().lower()
    if requested:
        if requested not in MODES:
            raise ValueError(
                f"DLT_WIDGETS: expected 'live' or 'static', got {requested!r}"
            )
        return requested
    attached = (
        "google.colab" in sys.modules
        or "JPY_SESSION_NAME" in os.environ
        or "VSCODE_PID" in os.environ
    )
    return "live" if attached else "static"


def static_grid(
    fn: Callable[..., object],
    static: Mapping[str, Sequence],
    *,
    fixed: Mapping[str, object] | None = None,
    panel_size: tuple[float, float] = (3.2, 2.8),
) -> Figure:
    """Draw ``fn(ax=ax, **values)`` for every combination of the ``static`` values.

    The last key of ``static`` runs along the columns, the others along the rows
    (row-major product). Arguments not in ``static`` take the values in ``fixed``,
    or ``fn``'s defaults.

    Args:
        fn: Draws one panel: ``fn(ax=Axes, **values)``.
        static: Values to show for each parameter, e.g. ``{"depth": [1, 2, 3]}``.
        fixed: Values of parameters held fixed.
        panel_size: Width and height of one panel, in inches.

    Returns:
        The figure.
    """
    if not static or any(len(v) == 0 for v in static.values()):
        raise ValueError(
            f"static: expected a non-empty list of values per key, got {static!r}"
        )
    keys = list(static)
    combos = list(itertools.product(*(static[k] for k in keys)))
    ncols = len(static[keys[-1]])
    nrows = math.ceil(len(combos) / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
        squeeze=False,
        layout="constrained",
    )
    for ax, combo in zip(axes.flat, combos, strict=False):
        fn(ax=ax, **dict(fixed or {}), **dict(zip(keys, combo, strict=True)))
    for ax in axes.flat[len(combos) :]:
        ax.set_visible(False)
    return fig


def interact(
    fn: Callable[..., object],
    *,
    static: Mapping[str, Sequence],
    **controls,
) -> None:
    """A live ``ipywidgets.interact`` where possible, else a static grid.

    The static grid is left to the notebook's inline backend to show (it is not
    returned, so it does not show twice when the call ends a cell).

    Args:
        fn: Draws one figure panel: ``fn(ax=Axes, **values)``. Parameters that are
            neither controls nor in ``static`` need defaults.
        static: The values shown without a front end (see ``static_grid``); its keys
            must be controls.
        **controls: ipywidgets abbreviations per parameter: ``(min, max, step)`` for
            a slider, a list for a dropdown, or a widget.

    Raises:
        ValueError: If a key of ``static`` is not a control, or a control is not a
            parameter of ``fn``.
    """
    params = inspect.signature(fn).parameters
    unknown = [k for k in controls if k not in params]
    if unknown:
        raise ValueError(f"controls: {unknown} are not parameters of {fn.__name__}")
    if "ax" not in params:
        raise ValueError(f"fn: expected a parameter 'ax', got {list(params)}")
    extra = [k for k in static if k not in controls]
    if extra:
        raise ValueError(f"static: keys {extra} are not controls {list(controls)}")
    if mode() == "static":
        static_grid(fn, static)
        return
    import ipywidgets

    def draw(**values):
        fig, ax = plt.subplots(layout="constrained")
        fn(ax=ax, **values)
        plt.show()

    ipywidgets.interact(draw, **controls)
    return None
