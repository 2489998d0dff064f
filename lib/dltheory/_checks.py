"""Input validation shared by the public functions of dltheory.

Each checker raises ``TypeError`` for a wrong type or dtype and ``ValueError`` for a
wrong shape or value, with a message naming the argument, what was expected and
what was given (STYLE.md, section 5).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor


def check_tensor(x: object, *, name: str) -> Tensor:
    """Raise TypeError unless ``x`` is a torch tensor; return it."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    return x


def check_float(x: object, *, name: str) -> Tensor:
    """Raise TypeError unless ``x`` is a floating-point tensor; return it."""
    check_tensor(x, name=name)
    if not x.is_floating_point():
        raise TypeError(
            f"{name}: expected a floating-point tensor, got dtype {x.dtype}"
        )
    return x


def check_finite(x: Tensor, *, name: str) -> Tensor:
    """Raise ValueError if the tensor ``x`` holds a NaN or an Inf entry; return it.

    On a GPU this waits for the device (a host sync): call it on the inputs of a
    public entry point, never inside a training loop at every step.
    """
    check_tensor(x, name=name)
    if x.numel() and not bool(torch.isfinite(x).all()):
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(torch.isinf(x).sum())
        raise ValueError(
            f"{name}: expected finite values, got {n_nan} NaN and {n_inf} Inf entries"
        )
    return x


def check_data(
    x: object,
    *,
    name: str,
    ndim: int | tuple[int, ...] | None = None,
    finite: bool = True,
) -> Tensor:
    """Check a non-empty floating-point tensor with ``ndim`` dims, finite by default.

    One call for the usual input of a public function: TypeError unless a float
    tensor; ValueError for a wrong number of dimensions (``ndim``: an int, a tuple of
    allowed ints, or None for any), a zero-size dimension (an empty batch), or a
    NaN/Inf entry when ``finite`` (a host sync on a GPU: not per training step).
    """
    check_float(x, name=name)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and x.dim() not in allowed:
        dims = " or ".join(str(d) for d in allowed)
        raise ValueError(
            f"{name}: expected a tensor with {dims} dimensions, got shape "
            f"{tuple(x.shape)}"
        )
    if x.numel() == 0:
        raise ValueError(
            f"{name}: expected a non-empty tensor, got shape {tuple(x.shape)}"
        )
    if finite:
        check_finite(x, name=name)
    return x


def check_batch(x: object, *, name: str, min_rows: int = 1, ndim: int = 2) -> Tensor:
    """Check a floating batch of shape (n, d) (or ``ndim`` dims) with n >= min_rows."""
    check_float(x, name=name)
    if x.dim() != ndim or x.shape[0] < min_rows:
        dims = "(n, d)" if ndim == 2 else f"{ndim} dims (n, ...)"
        raise ValueError(
            f"{name}: expected shape {dims} with n >= {min_rows}, got {tuple(x.shape)}"
        )
    return x


def check_same_shape(a: Tensor, b: Tensor, *, names: tuple[str, str]) -> None:
    """Raise ValueError unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]}: expected the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_labels(y: object, *, name: str, n: int | None = None) -> Tensor:
    """Check integer class labels of shape (n,)."""
    check_tensor(y, name=name)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name}: expected an integer tensor of labels, got {y.dtype}")
    if y.dim() != 1 or (n is not None and y.shape[0] != n):
        expected = f"({n},)" if n is not None else "(n,)"
        raise ValueError(f"{name}: expected shape {expected}, got {tuple(y.shape)}")
    return y


def check_predictions(preds: object, y: object, *, n_classes: int) -> None:
    """Check predicted labels ``preds`` (..., n) against true labels ``y`` (n,).

    Both integer tensors, n >= 1, every label in [0, n_classes).
    """
    check_labels(y, name="y")
    check_tensor(preds, name="preds")
    if preds.is_floating_point() or preds.is_complex() or preds.dtype == torch.bool:
        raise TypeError(
            f"preds: expected an integer tensor of labels, got {preds.dtype}"
        )
    check_int(n_classes, name="n_classes", minimum=1)
    n = y.shape[0]
    if n == 0:
        raise ValueError("y: expected at least one label, got shape (0,)")
    if preds.dim() < 1 or preds.shape[-1] != n:
        raise ValueError(
            f"preds: expected shape (..., {n}) to match y, got {tuple(preds.shape)}"
        )
    for name, labels in (("y", y), ("preds", preds)):
        if labels.numel() and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(
                f"{name}: expected labels in [0, n_classes) = [0, {n_classes}), got "
                f"values in [{int(labels.min())}, {int(labels.max())}]"
            )


def check_array(
    x: object, *, name: str, ndim: int | tuple[int, ...] | None = None
) -> None:
    """Check a non-empty tensor or NumPy array (of any dtype) with ``ndim`` dims.

    For functions that take either, e.g. the plots; NaN is allowed (a gap).
    """
    import numpy as np

    if not isinstance(x, Tensor | np.ndarray):
        raise TypeError(
            f"{name}: expected a torch.Tensor or a NumPy array, got {type(x).__name__}"
        )
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and x.ndim not in allowed:
        dims = " or ".join(str(d) for d in allowed)
        raise ValueError(
            f"{name}: expected {dims} dimensions, got shape {tuple(x.shape)}"
        )
    if x.size == 0 if isinstance(x, np.ndarray) else x.numel() == 0:
        raise ValueError(
            f"{name}: expected a non-empty array, got shape {tuple(x.shape)}"
        )


def check_mapping(x: object, *, name: str) -> None:
    """Raise TypeError unless ``x`` is a mapping (a dict)."""
    from collections.abc import Mapping

    if not isinstance(x, Mapping):
        raise TypeError(f"{name}: expected a mapping (dict), got {type(x).__name__}")


def check_positive(value: object, *, name: str, strict: bool = True) -> float:
    """Raise unless ``value`` is a finite real number > 0 (or >= 0 when not strict)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    bad_sign = (strict and not value > 0) or (not strict and not value >= 0)
    if bad_sign or value == math.inf:  # NaN fails the comparison too
        bound = "> 0" if strict else ">= 0"
        raise ValueError(f"{name}: expected a number {bound} (finite), got {value}")
    return float(value)


def check_int(value: object, *, name: str, minimum: int | None = None) -> int:
    """Raise unless ``value`` is an int (not bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return value


def check_fraction(value: object, *, name: str, closed: bool = False) -> float:
    """Raise unless ``value`` is in [0, 1) (or [0, 1] when ``closed``)."""
    check_positive(value, name=name, strict=False)
    if value > 1 or (value == 1 and not closed):
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"{name}: expected a number in {interval}, got {value}")
    return float(value)


def check_choice(value: object, *, name: str, choices: Iterable[str]) -> str:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        listed = " or ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: expected {listed}, got {value!r}")
    return value


def check_generator(gen: object, *, name: str = "generator") -> None:
    """Raise TypeError unless ``gen`` is None or a torch.Generator."""
    if gen is not None and not isinstance(gen, torch.Generator):
        raise TypeError(
            f"{name}: expected a torch.Generator or None, got {type(gen).__name__}"
        )
