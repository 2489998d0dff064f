r"""Deep networks are splines: activation patterns, regions and local affine maps.

A ReLU MLP is a continuous piecewise-affine (CPA) spline [balestriero2018spline]. Each
hidden unit is on or off; the activation pattern q(x) of all hidden units labels the
region omega that x lies in, and on each region the network is one affine map
A_omega x + b_omega. Chapter 00 (``book/00_foundations``) introduces these objects;
chapter 06 (batch normalization) and chapter 07 (singular values) build on them.

Equations implemented (numbers as in ``book/00_foundations/2_networks_are_splines``):

- (F6) the activation pattern q(x), ``activation_codes``;
- (F7) the local affine map (A_omega, b_omega) as a product of the diagonal on/off
  matrices Q_l, ``local_affine_map``;
- (F8) the largest number of regions of one hidden layer in 2-D,
  ``max_regions_one_layer``; regions counted on a grid, ``count_regions``,
  ``region_image``, ``region_ids``.

Networks: any ``nn.Module`` whose leaf modules, in registration order, read
Linear, ReLU, Linear, ReLU, ..., Linear (``nn.Identity`` allowed anywhere), such as an
``nn.Sequential`` or ``dltheory.models.MLP`` without batch norm. The forward pass is
checked against that reading on a few points.

Shapes: ``n`` samples, ``d`` input features, ``K`` units of a layer, ``N_l`` units of
hidden layer l, ``d_out`` outputs. Everything that decides a region (pre-activations,
codes, products of weights) is computed in float64, on the CPU when the inputs are on
MPS (which has no float64).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dltheory._checks import check_float, check_int
from dltheory._linalg import work_device

_SKIPPED = (nn.Identity,)
_BITS_PER_WORD = 52  # sums of distinct powers of two below 2**53 are exact in float64
_CHUNK_ELEMENTS = 1 << 22  # pre-activations per chunk of a grid: 32 MiB in float64


def _linear_layers(net: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of a plain ReLU MLP, in order.

    Reads the leaf modules of ``net`` in registration order and requires exactly one
    ``nn.ReLU`` between consecutive linear layers and none after the last one.

    Raises:
        TypeError: If ``net`` is not an ``nn.Module`` or holds a leaf module other
            than ``nn.Linear``, ``nn.ReLU`` and ``nn.Identity``.
        ValueError: If the linear layers and ReLUs do not alternate as in an MLP.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net: expected a torch.nn.Module, got {type(net).__name__}")
    leaves = [m for m in net.modules() if not list(m.children())]
    layers: list[nn.Linear] = []
    relus_since_linear = 0
    for m in leaves:
        if isinstance(m, _SKIPPED):
            continue
        if isinstance(m, nn.Linear):
            if layers and relus_since_linear != 1:
                raise ValueError(
                    "net: expected exactly one nn.ReLU module between consecutive "
                    f"nn.Linear layers, got {relus_since_linear} before linear layer "
                    f"{len(layers)} (a functional activation in forward is not seen)"
                )
            if layers and m.in_features != layers[-1].out_features:
                raise ValueError(
                    f"net: linear layer {len(layers)} expects {m.in_features} inputs, "
                    f"but the previous one gives {layers[-1].out_features}"
                )
            layers.append(m)
            relus_since_linear = 0
        elif isinstance(m, nn.ReLU):
            if not layers:
                raise ValueError("net: expected an nn.Linear first, got nn.ReLU")
            relus_since_linear += 1
        else:
            raise TypeError(
                "net: expected a ReLU MLP made of nn.Linear, nn.ReLU and nn.Identity, "
                f"got a {type(m).__name__} module"
            )
    if not layers:
        raise ValueError("net: expected at least one nn.Linear layer, got none")
    if relus_since_linear:
        raise ValueError(
            "net: expected an nn.Linear output layer after the last nn.ReLU, "
            "got a network that ends with nn.ReLU"
        )
    return layers


def _weights(
    layers: list[nn.Linear], device: torch.device
) -> list[tuple[Tensor, Tensor]]:
    """(W_l, b_l) of each layer, detached, float64, on ``device``."""
    out = []
    for layer in layers:
        W = layer.weight.detach().to(device, torch.float64)  # (N_l, N_{l-1})
        if layer.bias is None:
            b = torch.zeros(W.shape[0], device=device, dtype=torch.float64)
        else:
            b = layer.bias.detach().to(device, torch.float64)  # (N_l,)
        out.append((W, b))
    return out


def _forward(weights: list[tuple[Tensor, Tensor]], x: Tensor) -> tuple[Tensor, Tensor]:
    """The output f(x) and the hidden pre-activations u^l, concatenated, by (F6)."""
    z = x  # (n, d)
    pre = [x.new_zeros(x.shape[0], 0)]  # an affine net has no hidden unit
    for W, b in weights[:-1]:
        u = z @ W.T + b  # (n, N_l)
        pre.append(u)
        z = u.clamp_min(0)  # Q_l u^l
    W, b = weights[-1]
    return z @ W.T + b, torch.cat(pre, dim=1)  # (n, d_out), (n, sum N_l)


def _check_forward(net: nn.Module, weights, x: Tensor) -> None:
    """Raise unless ``net`` computes its Linear-ReLU reading on a few points of x."""
    param = next(net.parameters())
    xs = x[:4]
    with torch.no_grad():
        got = net(xs.to(param.device, param.dtype)).to(xs.device, torch.float64)
    expected, _ = _forward(weights, xs)
    if got.shape != expected.shape or not torch.allclose(
        got, expected, rtol=1e-4, atol=1e-4 * (1.0 + expected.abs().max().item())
    ):
        raise ValueError(
            "net: its forward pass differs from Linear-ReLU-...-Linear applied to its "
            "modules in registration order (skip connections, reordered layers or a "
            "different activation in forward are not supported)"
        )


def _prepare(net: nn.Module, x: object, *, single: bool = False):
    """Validate ``net`` and ``x`` of shape (n, d), or (d,) if ``single``.

    Returns the float64 weights and x as a float64 batch (n, d).
    """
    layers = _linear_layers(net)
    check_float(x, name="x")
    d = layers[0].in_features
    if single and (x.dim() != 1 or x.shape[0] != d):
        raise ValueError(
            f"x: expected shape ({d},) or (n, {d}) (the net's input width), "
            f"got {tuple(x.shape)}"
        )
    if single:
        x = x.unsqueeze(0)  # (1, d)
    if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] != d:
        raise ValueError(
            f"x: expected shape (n, {d}) with n >= 1 (the net's input width), "
            f"got {tuple(x.shape)}"
        )
    device = work_device(x.device)
    weights = _weights(layers, device)
    x64 = x.detach().to(device, torch.float64)
    _check_forward(net, weights, x64)
    return weights, x64


def activation_codes(net: nn.Module, x: Tensor) -> Tensor:
    r"""Activation pattern q(x) of every hidden unit [balestriero2018spline, Eq. (F6)].

    .. math::
        u^\ell = W_\ell z^\ell + b_\ell,\qquad z^{\ell+1} = Q_\ell u^\ell,\qquad
        Q_\ell = \operatorname{diag}(\mathbf 1[u^\ell > 0]),

    and q(x) = (diag Q_1, ..., diag Q_{L-1}). A unit exactly at zero counts as off,
    as in ``torch.relu``. Computed in float64.

    Args:
        net: A ReLU MLP (see the module docstring) with L linear layers.
        x: Inputs, shape (n, d), d the net's input width.

    Returns:
        Bool tensor of shape (n, sum N_l), hidden layer 1's units first, on the
        device of ``x`` (the CPU for MPS inputs).

    Raises:
        TypeError: If ``net`` is not a ReLU MLP or ``x`` is not a float tensor.
        ValueError: If ``x`` is not of shape (n, d).
    """
    weights, x64 = _prepare(net, x)
    if len(weights) == 1:  # no hidden layer: one region, no units
        return torch.zeros(x64.shape[0], 0, dtype=torch.bool, device=x64.device)
    _, pre = _forward(weights, x64)
    return pre > 0  # (n, sum N_l)


def local_affine_map(net: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    r"""Affine map (A_omega, b_omega) of x's region [balestriero2018spline, Eq. (F7)].

    .. math::
        A_\omega = W_L Q_{L-1} W_{L-1} \cdots Q_1 W_1,\qquad
        b_\omega = b_L + \sum_{\ell=1}^{L-1} W_L Q_{L-1} W_{L-1}\cdots W_{\ell+1}
        Q_\ell\, b_\ell,

    with Q_l the on/off pattern of (F6) at x, so that f(x) = A_omega x + b_omega and,
    for x inside its region, A_omega is the Jacobian of f at x. The products are
    accumulated from the first layer on, batched over the points (no loop over
    samples). Computed in float64 from the net's weights, detached.

    Args:
        net: A ReLU MLP (see the module docstring).
        x: One point, shape (d,), or a batch, shape (n, d).

    Returns:
        ``(A, b)``: shapes (d_out, d) and (d_out,) for one point, (n, d_out, d) and
        (n, d_out) for a batch; float64, on the device of ``x`` (the CPU for MPS).

    Raises:
        TypeError: If ``net`` is not a ReLU MLP or ``x`` is not a float tensor.
        ValueError: If ``x`` is not of shape (d,) or (n, d).
    """
    check_float(x, name="x")
    single = x.dim() == 1
    weights, x64 = _prepare(net, x, single=single)
    n = x64.shape[0]
    W, b = weights[0]
    A = W.expand(n, *W.shape)  # (n, N_1, d)
    c = b.expand(n, *b.shape)  # (n, N_1)
    z = x64
    for W_next, b_next in weights[1:]:
        u = z @ W.T + b  # (n, N_l), pre-activations of (F6)
        q = (u > 0).to(torch.float64)  # (n, N_l), diag Q_l
        z = q * u  # (n, N_l)
        A = W_next @ (q.unsqueeze(-1) * A)  # (n, N_{l+1}, d)
        c = (q * c) @ W_next.T + b_next  # (n, N_{l+1})
        W, b = W_next, b_next
    if single:
        return A[0], c[0]  # (d_out, d), (d_out,)
    return A, c  # (n, d_out, d), (n, d_out)


def _check_window(lo: object, hi: object, res: object) -> tuple[float, float, int]:
    for name, value in (("lo", lo), ("hi", hi)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"lo, hi: expected finite lo < hi, got lo={lo}, hi={hi}")
    check_int(res, name="res", minimum=2)
    return float(lo), float(hi), res


def grid2d(
    lo: float,
    hi: float,
    res: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """A square grid of res x res points on [lo, hi]^2, row by row from the bottom.

    Point ``i * res + j`` is (x_j, y_i) with x_j = y_j = lo + j (hi - lo) / (res - 1),
    so ``values.reshape(res, res)`` is an image whose row i is y_i (draw it with
    ``imshow(..., origin="lower", extent=(lo, hi, lo, hi))``).

    Args:
        lo: Lower end of both axes.
        hi: Upper end of both axes, hi > lo.
        res: Points per axis, res >= 2.
        dtype: Floating-point dtype of the grid.
        device: Device of the grid (default: the CPU).

    Returns:
        Tensor of shape (res * res, 2), columns (x, y).

    Raises:
        TypeError: If ``lo`` or ``hi`` is not a number or ``res`` not an int.
        ValueError: If lo >= hi or res < 2.
    """
    lo, hi, res = _check_window(lo, hi, res)
    t = torch.linspace(lo, hi, res, dtype=dtype, device=device)  # (res,)
    ys, xs = torch.meshgrid(t, t, indexing="ij")  # (res, res) each
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)  # (res*res, 2)


def _pack(codes: Tensor) -> Tensor:
    """Pack bool codes (n, U) into int64 words (n, ceil(U / 52)), exactly."""
    U = codes.shape[1]
    n_words = max(1, math.ceil(U / _BITS_PER_WORD))
    unit = torch.arange(U, device=codes.device)
    powers = torch.zeros(U, n_words, dtype=torch.float64, device=codes.device)
    powers[unit, unit // _BITS_PER_WORD] = 2.0 ** (unit % _BITS_PER_WORD).double()
    return (codes.to(torch.float64) @ powers).to(torch.int64)  # (n, n_words)


def _ids_of_rows(words: Tensor) -> Tensor:
    """Ids 0..R-1 of the distinct rows of an int64 matrix, in lexicographic order."""
    ids = torch.unique(words[:, 0], return_inverse=True)[1]  # (n,)
    for k in range(1, words.shape[1]):
        values, rank = torch.unique(words[:, k], return_inverse=True)
        # Pairs (id, rank) -> one key, exact: both < n, so the key < n**2 < 2**63.
        ids = torch.unique(ids * len(values) + rank, return_inverse=True)[1]
    return ids


def _grid_ids(net: nn.Module, lo, hi, res) -> Tensor:
    lo, hi, res = _check_window(lo, hi, res)
    first = _linear_layers(net)[0]
    if first.in_features != 2:
        raise ValueError(
            f"net: expected 2 inputs for a 2-D grid, got {first.in_features} inputs"
        )
    device = work_device(first.weight.device)
    x = grid2d(lo, hi, res, dtype=torch.float64, device=device)  # (res*res, 2)
    return region_ids(net, x)


def region_ids(net: nn.Module, x: Tensor) -> Tensor:
    """Region id of each point: equal ids exactly when the activation codes are equal.

    The codes (F6) of each point are packed into 52-bit words (exact) and the distinct
    rows numbered 0..R-1 in lexicographic order of the packed codes, so R is the number
    of distinct regions the points visit. Large batches are processed in chunks.

    Args:
        net: A ReLU MLP (see the module docstring).
        x: Inputs, shape (n, d).

    Returns:
        Long tensor of shape (n,) with values 0..R-1, on the device of ``x`` (the CPU
        for MPS inputs).

    Raises:
        TypeError: If ``net`` is not a ReLU MLP or ``x`` is not a float tensor.
        ValueError: If ``x`` is not of shape (n, d).
    """
    weights, x64 = _prepare(net, x)
    if len(weights) == 1:  # an affine net: a single region
        return torch.zeros(x64.shape[0], dtype=torch.long, device=x64.device)
    widest = max(W.shape[0] for W, _ in weights)
    chunk = max(1024, _CHUNK_ELEMENTS // widest)
    words = torch.cat(
        [_pack(_forward(weights, xc)[1] > 0) for xc in x64.split(chunk)]
    )  # (n, n_words)
    return _ids_of_rows(words)


def region_image(net: nn.Module, lo: float, hi: float, res: int = 300) -> Tensor:
    """Region id of each pixel of a res x res grid on [lo, hi]^2 (a 2-D input net).

    Pixels with the same activation code (F6) get the same id, 0..R-1; row i of the
    image is y_i, column j is x_j, as in ``grid2d`` (plot with ``origin="lower"``).

    Args:
        net: A ReLU MLP with 2 inputs.
        lo: Lower end of both axes.
        hi: Upper end of both axes, hi > lo.
        res: Pixels per axis, res >= 2.

    Returns:
        Long tensor of shape (res, res) on the CPU, or the net's device.

    Raises:
        TypeError: If ``net`` is not a ReLU MLP or a bound is not a number.
        ValueError: If the net does not take 2 inputs, lo >= hi or res < 2.
    """
    return _grid_ids(net, lo, hi, res).reshape(res, res)


def count_regions(net: nn.Module, lo: float, hi: float, res: int = 300) -> int:
    """Number of regions that a res x res grid on [lo, hi]^2 visits: a lower bound.

    Counts the distinct activation codes (F6) of the grid's points. A region smaller
    than the grid spacing, or one the grid misses, is not counted, so the count is a
    lower bound on the number of regions that meet the window, and it grows with
    ``res`` until the grid resolves every region. Compare counts only at equal
    window and resolution.

    Args:
        net: A ReLU MLP with 2 inputs.
        lo: Lower end of both axes.
        hi: Upper end of both axes, hi > lo.
        res: Points per axis, res >= 2.

    Returns:
        The number of distinct regions hit by the grid.

    Raises:
        TypeError: If ``net`` is not a ReLU MLP or a bound is not a number.
        ValueError: If the net does not take 2 inputs, lo >= hi or res < 2.
    """
    return int(_grid_ids(net, lo, hi, res).max().item()) + 1


def max_regions_one_layer(K: int, *, d: int = 2) -> int:
    r"""Most regions that K hyperplanes cut R^d into [Eq. (F8), Zaslavsky's count].

    .. math::
        R(K) = \sum_{i=0}^{d} \binom{K}{i}, \qquad
        d = 2:\ R(K) = 1 + K + \binom{K}{2},

    reached when the hyperplanes are in general position. One hidden layer of K
    ReLU units on a d-dimensional input has at most R(K) regions.

    Args:
        K: Number of units (hyperplanes), K >= 0.
        d: Input dimension, d >= 1 (the book's (F8) is d = 2).

    Returns:
        R(K) as an int.

    Raises:
        TypeError: If ``K`` or ``d`` is not an int.
        ValueError: If K < 0 or d < 1.
    """
    check_int(K, name="K", minimum=0)
    check_int(d, name="d", minimum=1)
    return sum(math.comb(K, i) for i in range(d + 1))
