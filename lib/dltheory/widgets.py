"""Interactive figures that still show something without a widget front end.

Used by every chapter. ``interact(fn, static=..., **controls)`` shows live
ipywidgets controls where a front end can run them (JupyterLab, Notebook, VS Code,
Colab) and otherwise draws a static grid of the same figure at chosen values, which
is what ``jupyter-book`` and the static HTML book show. The environment variable
``DLT_WIDGETS=live|static|check`` overrides the detection; ``check`` is for CI: it
runs the live path in a headless kernel, drives every control through its values
(``check_controls``), then draws the static grid too, so one execution of a notebook
checks both paths.
"""

from __future__ import annotations

import inspect
import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

MODES = ("live", "static", "check")
CHECK_MAX_VALUES = 12  # positions of a numeric slider that ``check`` draws, at most
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"  # what a front end renders


def mode() -> str:
    """``"live"`` where a widget front end is attached, else ``"static"``.

    A front end is detected from Colab's module, or the variables Jupyter Server
    (``JPY_SESSION_NAME``) and VS Code (``VSCODE_PID``) set for their kernels;
    kernels run headless by nbclient (``jupyter-book``, nbmake) have neither.
    ``DLT_WIDGETS`` overrides; ``"check"`` is only ever chosen through it.

    Raises:
        ValueError: If ``DLT_WIDGETS`` is set to anything but ``live``, ``static``
            or ``check``.
    """
    requested = os.environ.get("DLT_WIDGETS", "").strip().lower()
    if requested:
        if requested not in MODES:
            raise ValueError(
                f"DLT_WIDGETS: expected 'live', 'static' or 'check', got {requested!r}"
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


def _decimal(x: float) -> float:
    # min + k * step in binary floating point: 12 significant digits drop the noise
    # (0.30000000000000004 -> 0.3) and keep every distinct slider position.
    return float(f"{x:.12g}")


def control_values(control, *, max_values: int = CHECK_MAX_VALUES) -> tuple[str, list]:
    """The trait a front end sets on an ipywidgets control, and every value it takes.

    This defines "every value" for ``check_controls``, control by control:

    - a selection (``Dropdown`` from a list or dict abbreviation, ``SelectionSlider``,
      ``RadioButtons``, ``ToggleButtons``, ``Select``): the trait ``"index"`` over
      every option, ``0, ..., len(options) - 1`` (a front end sets the index; the
      widget maps it to the option's value);
    - a bounded number (``IntSlider`` or ``FloatSlider`` from a ``(min, max)`` or
      ``(min, max, step)`` abbreviation, ``BoundedIntText``, ...): ``"value"`` at
      ``min, min + step, ..., `` up to ``max``, and ``max`` itself when the steps
      miss it (float positions to 12 significant digits; a float slider without a
      step gets ``max_values`` evenly spaced positions);
    - a ``FloatLogSlider``: ``"value"`` at ``base ** e`` for the exponent positions
      ``e = min, min + step, ..., max`` as above;
    - a boolean (``Checkbox`` from ``True``/``False``, ``ToggleButton``): ``False``
      and ``True``;
    - anything else (``Text``, ``IntText``, ranges, multiple selections): its
      current value only, since its values cannot be listed.

    A numeric control with more than ``max_values`` positions is capped at
    ``max_values`` of them, evenly spaced by index, both ends included: a slider of
    31 positions is checked at 12, about every third. Options of a selection are
    never capped: each is a key a callback may look up. The widget's current value
    (its initial value before a sweep) is always last, so setting the values in
    order leaves the control as it was.

    Args:
        control: An ipywidgets value widget, e.g. one of
            ``ipywidgets.interactive(f, **abbreviations).kwargs_widgets``.
        max_values: Cap on the positions of a numeric control, at least 2.

    Returns:
        ``(trait, values)``: the name of the trait to set, and its values.

    Raises:
        ValueError: If ``max_values`` is below 2.
    """
    if max_values < 2:
        raise ValueError(f"max_values: expected at least 2, got {max_values}")
    has = control.has_trait
    if has("options") and has("index") and isinstance(control.index, int):
        return "index", [
            *(i for i in range(len(control.options)) if i != control.index),
            control.index,
        ]
    current = control.value
    if isinstance(current, bool):
        return "value", [not current, current]
    numeric = isinstance(current, int | float) and all(
        has(t) for t in ("min", "max", "step")
    )
    if not numeric:
        return "value", [current]
    low, high, step = control.min, control.max, control.step
    if step is None or step <= 0:
        positions = [
            low + (high - low) * k / (max_values - 1) for k in range(max_values)
        ]
    else:
        count = math.floor((high - low) / step * (1 + 1e-12)) + 1
        positions = [low + k * step for k in range(count)]
        if high - positions[-1] > 1e-9 * max(abs(high), abs(step)):
            positions.append(high)
    if isinstance(current, float):
        positions = [_decimal(p) for p in positions]
    if len(positions) > max_values:
        last = len(positions) - 1
        positions = [
            positions[round(k * last / (max_values - 1))] for k in range(max_values)
        ]
    if has("base"):  # FloatLogSlider: positions are exponents
        positions = [_decimal(control.base**p) for p in positions]
    return "value", [*(p for p in positions if p != current), current]


_NOT_DRAWN = object()


def check_controls(widget, *, max_values: int = CHECK_MAX_VALUES) -> dict[str, list]:
    """Move every control of an ``ipywidgets.interactive`` through all its values.

    Each control in turn takes each value of ``control_values`` while the others
    keep their current values; combinations are not tried (their number is the
    product of the controls' sizes: tens of thousands for five sliders). A value is
    set as a front end sets it, on the widget's trait, so the callback runs the way
    it runs in Colab or Jupyter: through the ``interactive``'s observer, inside its
    output area. ipywidgets catches an error of the callback and shows its
    traceback there; this function notices (the ``interactive``'s ``result`` is not
    updated), calls the callback once more with the same values so the error
    propagates, and raises.

    Args:
        widget: An ``ipywidgets.interactive`` (``ipywidgets.interact(f, ...).widget``)
            whose callback runs on each change (not ``manual``).
        max_values: Cap on the positions of a numeric control (``control_values``).

    Returns:
        For each control, by its argument name, the values the callback received,
        in order (the current value last).

    Raises:
        RuntimeError: If the callback raises at any value; the message lists every
            failing ``name=value``, and the first failure's error is chained.
    """
    received: dict[str, list] = {}
    failures: list[tuple[str, object, dict]] = []
    for control in widget.kwargs_widgets:
        name = control._kwarg  # the argument ipywidgets binds the control to
        trait, values = control_values(control, max_values=max_values)
        if len(values) == 1:  # nothing to move: drawn when the widget was made
            received[name] = [control.get_interact_value()]
            continue
        received[name] = []
        for value in values:
            widget.result = _NOT_DRAWN
            widget.kwargs = unset = {}  # update() replaces it when it runs
            setattr(control, trait, value)
            if widget.kwargs is unset:  # the value did not change: no observer ran
                widget.update()
            received[name].append(widget.kwargs[name])
            if widget.result is _NOT_DRAWN:
                failures.append((name, widget.kwargs[name], dict(widget.kwargs)))
    if failures:
        listed = ", ".join(f"{name}={value!r}" for name, value, _ in failures)
        _, _, kwargs = failures[0]
        message = (
            f"widget callback {getattr(widget.f, '__name__', widget.f)!r} failed at "
            f"{listed} (each with the other controls at their initial values)"
        )
        try:
            widget.f(**kwargs)
        except Exception as error:
            raise RuntimeError(message) from error
        raise RuntimeError(message + "; a second call with the first values passed")
    return received


def _display_messages(action: Callable[[], object]) -> tuple[object, list[dict]]:
    """Run ``action`` and return its result and the display messages it sent."""
    from IPython import get_ipython

    publisher = getattr(get_ipython(), "display_pub", None)
    if not hasattr(publisher, "register_hook"):
        raise RuntimeError(
            "DLT_WIDGETS=check: expected a Jupyter kernel (ipykernel) to run in, "
            f"whose display messages it can watch; got display publisher {publisher!r}"
        )
    sent: list[dict] = []

    def watch(message):
        sent.append(message)
        return message  # and send it on, unchanged

    publisher.register_hook(watch)
    try:
        result = action()
    finally:
        publisher.unregister_hook(watch)
    return result, sent


def interact(
    fn: Callable[..., object],
    *,
    static: Mapping[str, Sequence],
    **controls,
) -> None:
    """A live ``ipywidgets.interact`` where possible, else a static grid.

    The static grid is left to the notebook's inline backend to show (it is not
    returned, so it does not show twice when the call ends a cell).

    With ``DLT_WIDGETS=check`` (CI, inside a Jupyter kernel) it does both, and checks
    the live path on the way. The ``ipywidgets.interact`` call of the live path must
    send the notebook a widget view (a display message of mime type
    ``application/vnd.jupyter.widget-view+json`` for its widget) and, from its first
    draw, a figure image. Then ``check_controls`` draws the figure at every value of
    every control, one control at a time (numeric sliders capped at
    ``CHECK_MAX_VALUES`` positions, see ``control_values``); each figure is rendered,
    so that an error in drawing it fails too, but not encoded as an image. A line
    reports the values drawn and the seconds the check took (wall clock, and CPU
    time of the kernel, which a loaded machine inflates less). Last, the static grid
    is drawn as without a front end.

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
        RuntimeError: With ``DLT_WIDGETS=check``: outside a Jupyter kernel, if no
            widget view or no first figure was sent, or if drawing fails at some
            control value.
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
    current = mode()
    if current == "static":
        static_grid(fn, static)
        return
    import ipywidgets

    show = True  # check mode: False once the widget has shown its first figure

    def draw(**values):
        fig, ax = plt.subplots(layout="constrained")
        try:
            fn(ax=ax, **values)
            if current == "check":
                fig.canvas.draw()  # an error in rendering raises here, not in show
        except Exception:
            plt.close(fig)
            raise
        if show:
            plt.show()
        else:
            plt.close(fig)  # rendered: encoding a PNG for the sweep checks nothing

    draw.__name__ = fn.__name__
    # ipywidgets starts each control at the default of its parameter: give draw the
    # controls' parameters of fn, so the live figure opens where fn's defaults are.
    draw.__signature__ = inspect.Signature(
        [params[k].replace(kind=inspect.Parameter.KEYWORD_ONLY) for k in controls]
    )
    if current == "live":
        ipywidgets.interact(draw, **controls)
        return
    t0, cpu0 = time.perf_counter(), time.process_time()
    live, sent = _display_messages(lambda: ipywidgets.interact(draw, **controls))
    widget = live.widget
    kinds = [
        (m["header"]["msg_type"], sorted(m["content"].get("data", {}))) for m in sent
    ]
    view = any(
        m["content"].get("data", {}).get(WIDGET_VIEW, {}).get("model_id")
        == widget.model_id
        for m in sent
        if m["header"]["msg_type"] == "display_data"
    )
    if not view:
        raise RuntimeError(
            f"DLT_WIDGETS=check: ipywidgets.interact sent no widget view "
            f"({WIDGET_VIEW}) of its widget; display messages sent: {kinds}"
        )
    if not any(t == "display_data" and "image/" in str(d) for t, d in kinds):
        raise RuntimeError(
            "DLT_WIDGETS=check: the widget showed no figure (no image display) "
            f"when it first drew; display messages sent: {kinds}"
        )
    show = False
    received = check_controls(widget)
    counts = ", ".join(f"{name} {len(v)}" for name, v in received.items())
    print(
        f"widget check: {fn.__name__} drawn at "
        f"{sum(len(v) for v in received.values())} control values ({counts}) "
        f"in {time.perf_counter() - t0:.1f} s ({time.process_time() - cpu0:.1f} s CPU)"
    )
    static_grid(fn, static)
