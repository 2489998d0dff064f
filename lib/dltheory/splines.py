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

Chapter 06 (``book/06_batchnorm_splines``, [balestriero2022batch]) adds batch
normalization: ``bn_stats`` and ``freeze_bn_stats`` (B1), ``fold_bn`` (eval-mode BN
folded into the Linear before it, so that every function here accepts the result),
``layer_hyperplanes`` (B2), ``tls_offset`` and ``hyperplane_distances`` (B3),
``unit_boundary_distances``, ``boundary_distance`` and ``segment_crossings`` (B4 and
exact region counts along a segment), ``bn_offset_jitter`` (B5), ``decision_margin_2d``,
``RefStatBN`` and ``fit_epochs`` (the training runs of its claims 3 to 6).

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

from dltheory._checks import (
    check_data,
    check_finite,
    check_float,
    check_generator,
    check_int,
)
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
    check_finite(x, name="x")
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
    check_finite(x, name="x")
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


def ids_of_codes(codes: Tensor) -> Tensor:
    """Region id of each row of activation codes: equal exactly when the rows are.

    The partition of a ReLU network is indexed by its activation codes (one bit per
    unit, Eq. (3) of Balestriero & Baraniuk 2018); this numbers the distinct codes
    0..R-1 in lexicographic order of their packed words, exactly (no hashing), so
    any network family can reuse it (``region_ids`` here, the residual nets of
    ``perturbation``).

    Args:
        codes: Boolean codes, shape (n, U), one row per input, one column per unit.

    Returns:
        Long tensor of shape (n,) with values 0..R-1, on the device of ``codes``.

    Raises:
        TypeError: If ``codes`` is not a boolean tensor.
        ValueError: If ``codes`` is not of shape (n, U) with n, U >= 1.
    """
    if not isinstance(codes, Tensor) or codes.dtype != torch.bool:
        given = codes.dtype if isinstance(codes, Tensor) else type(codes).__name__
        raise TypeError(f"codes: expected a boolean tensor, got {given}")
    if codes.dim() != 2 or 0 in codes.shape:
        raise ValueError(
            f"codes: expected shape (n, U) with n, U >= 1, got {tuple(codes.shape)}"
        )
    return _ids_of_rows(_pack(codes))


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
    check_finite(x, name="x")
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


# --- Chapter 06: batch normalization and the partition ------------------------------
#
# Equations of book/06_batchnorm_splines (the paper is [balestriero2022batch],
# arXiv:2209.14778; its Eq. (1) is the layer z^{l+1} = a(W z^l + c); the labels
# (B1)-(B5) are the book's):
#
# - (B1) a BN layer a(gamma (<w_k, z> - mu_k) / sigma_k + beta), with the statistics
#   of a batch: ``bn_stats``, ``freeze_bn_stats``, ``fold_bn``;
# - (B2) unit k's zero set {<w_k, z> = mu_k - beta_k sigma_k / gamma_k}:
#   ``layer_hyperplanes``;
# - (B3) mu_k is the total-least-squares offset of the hyperplane with normal w_k:
#   ``tls_offset``, ``hyperplane_distances``;
# - (B4) the distance to the nearest boundary: ``unit_boundary_distances``,
#   ``boundary_distance``; the regions crossed along a segment, exactly:
#   ``segment_crossings``;
# - (B5) the jitter of the batch mean: ``bn_offset_jitter``;
# - the margin of a 2-D classifier: ``decision_margin_2d``; the "no jitter" control
#   of the chapter's claim 4: ``RefStatBN``.


def _check_matrix(x: object, *, name: str, cols: int | None = None) -> Tensor:
    check_float(x, name=name)
    if x.dim() != 2 or x.shape[0] < 1 or (cols is not None and x.shape[1] != cols):
        shape = f"(n, {cols})" if cols is not None else "(n, d)"
        raise ValueError(
            f"{name}: expected shape {shape} with n >= 1, got {tuple(x.shape)}"
        )
    return x


def bn_stats(W: Tensor, Z: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
    r"""BN statistics of the pre-activations <w_k, z_i> + c_k, in one pass [(B1)].

    .. math::
        \mu_k = \frac1n \sum_i (\langle w_k, z_i\rangle + c_k),\qquad
        \sigma_k^2 = \frac1n \sum_i (\langle w_k, z_i\rangle + c_k - \mu_k)^2 ,

    the biased variance that ``nn.BatchNorm1d`` normalises with in train mode (its
    ``running_var`` stores the unbiased one). Computed in float64 over the whole of
    ``Z`` at once (no running average, the ``momentum=None`` pitfall avoided).

    Args:
        W: Weights, shape (K, d).
        Z: Layer inputs, shape (n, d).
        c: Optional bias, shape (K,) (it shifts mu only; None: zero).

    Returns:
        ``(mu, sigma)``, float64, shapes (K,) and (K,).

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes do not match.
    """
    check_finite(W, name="W")
    check_finite(Z, name="Z")
    W64, Z64 = _wz(W, Z)
    u = Z64 @ W64.T  # (n, K)
    if c is not None:
        check_float(c, name="c")
        if c.shape != (W64.shape[0],):
            raise ValueError(
                f"c: expected shape ({W64.shape[0]},), got {tuple(c.shape)}"
            )
        u = u + c.detach().to(u.device, torch.float64)
    var, mu = torch.var_mean(u, dim=0, correction=0)  # (K,), (K,)
    return mu, var.sqrt()


def _wz(W: object, Z: object) -> tuple[Tensor, Tensor]:
    check_float(W, name="W")
    if W.dim() != 2 or W.shape[0] < 1:
        raise ValueError(f"W: expected shape (K, d) with K >= 1, got {tuple(W.shape)}")
    _check_matrix(Z, name="Z", cols=W.shape[1])
    device = work_device(Z.device)
    return (
        W.detach().to(device, torch.float64),
        Z.detach().to(device, torch.float64),
    )


def tls_offset(W: Tensor, Z: Tensor) -> Tensor:
    r"""Offsets b_k of the hyperplanes {<w_k, z> = b_k} closest to Z in least squares.

    (B3): for a fixed normal w_k the squared distance of z_i to the hyperplane is
    (<w_k, z_i> - b)^2 / norm(w_k)^2, a quadratic in b minimised at the mean of
    <w_k, z_i>: the BN mean mu_k of (B1) (without bias). The minimum is
    n sigma_k^2 / norm(w_k)^2.

    Args:
        W: Normals, shape (K, d), no zero row.
        Z: Points, shape (n, d).

    Returns:
        Float64 tensor of shape (K,).

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes do not match or a row of W is zero.
    """
    check_finite(W, name="W")
    check_finite(Z, name="Z")
    W64, Z64 = _wz(W, Z)
    if (W64.norm(dim=1) == 0).any():
        raise ValueError("W: expected non-zero normals, got a zero row")
    return (Z64 @ W64.T).mean(dim=0)  # (K,)


def hyperplane_distances(W: Tensor, b: Tensor, Z: Tensor) -> Tensor:
    r"""Euclidean distance of each z_i to each hyperplane {z : <w_k, z> = b_k}.

    d(z_i, H_k) = abs(<w_k, z_i> - b_k) / norm(w_k) (B3), in float64.

    Args:
        W: Normals, shape (K, d), no zero row.
        b: Offsets, shape (K,).
        Z: Points, shape (n, d).

    Returns:
        Float64 tensor of shape (n, K).

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes do not match or a row of W is zero.
    """
    check_finite(W, name="W")
    check_finite(b, name="b")
    check_finite(Z, name="Z")
    W64, Z64 = _wz(W, Z)
    check_float(b, name="b")
    if b.shape != (W64.shape[0],):
        raise ValueError(f"b: expected shape ({W64.shape[0]},), got {tuple(b.shape)}")
    norms = W64.norm(dim=1)  # (K,)
    if (norms == 0).any():
        raise ValueError("W: expected non-zero normals, got a zero row")
    b64 = b.detach().to(W64.device, torch.float64)
    return (Z64 @ W64.T - b64).abs() / norms  # (n, K)


def _batch_norms(net: nn.Module) -> list[nn.BatchNorm1d]:
    if not isinstance(net, nn.Module):
        raise TypeError(f"net: expected a torch.nn.Module, got {type(net).__name__}")
    return [m for m in net.modules() if isinstance(m, nn.BatchNorm1d)]


@torch.no_grad()
def freeze_bn_stats(net: nn.Module, X: Tensor) -> nn.Module:
    """Set every BatchNorm1d's running statistics to the exact statistics of X (B1).

    Layer by layer, the input of each BatchNorm1d on the whole of ``X`` (with the
    earlier BN layers already frozen) gives its mean and its *biased* variance,
    computed in float64, which are written into ``running_mean`` and ``running_var``;
    then ``net`` is put in eval mode. In eval mode the net then computes exactly what
    train mode computes with ``X`` as one batch (torch's own running averages would
    not: the default momentum keeps 90 % of the old value, and ``running_var`` is the
    unbiased variance). The running mean includes the preceding Linear's bias.

    Args:
        net: A module containing ``nn.BatchNorm1d`` layers that track running stats.
        X: The data, shape (n, d), n >= 2.

    Returns:
        ``net`` itself, in eval mode.

    Raises:
        TypeError: If ``net`` is not a module or ``X`` not a float tensor.
        ValueError: If ``X`` has fewer than two rows, or a BatchNorm1d does not track
            running statistics.
    """
    check_finite(X, name="X")
    bns = _batch_norms(net)
    _check_matrix(X, name="X")
    if X.shape[0] < 2:
        raise ValueError(f"X: expected at least 2 rows, got {X.shape[0]}")
    for bn in bns:
        if bn.running_mean is None:
            raise ValueError(
                "net: expected BatchNorm1d layers with track_running_stats=True"
            )
    net.eval()
    param = next(net.parameters(), None)
    x = X.to(param.device, param.dtype) if param is not None else X
    for bn in bns:
        seen = {}

        def grab(_module, inputs, seen=seen):
            seen["u"] = inputs[0]

        handle = bn.register_forward_pre_hook(grab)
        try:
            net(x)
        finally:
            handle.remove()
        u = seen["u"].to(torch.float64)  # (n, K)
        var, mu = torch.var_mean(u, dim=0, correction=0)
        bn.running_mean.copy_(mu)
        bn.running_var.copy_(var)
    return net


def fold_bn(net: nn.Module, *, dtype: torch.dtype | None = None) -> nn.Sequential:
    r"""The eval-mode net with each BatchNorm1d folded into the Linear before it.

    In eval mode BN is affine: with s_k = gamma_k / sqrt(v_k + eps),
    y_k = s_k (u_k - m_k) + beta_k, so Linear(W, c) then BN equals
    Linear(diag(s) W, s (c - m) + beta). The result is an ``nn.Sequential`` of Linear
    and ReLU that every function of this module accepts (``activation_codes``,
    ``count_regions``, ``local_affine_map``, ...), and that can be trained further
    without BN (the "folded init" of the chapter's claim 3). Freeze the statistics
    first (``freeze_bn_stats``). The fold is computed in float64.

    Args:
        net: Leaf modules in order Linear, [BatchNorm1d], ReLU, ..., Linear
            (``nn.Identity`` allowed), e.g. ``models.MLP(..., batch_norm=True)``.
        dtype: Dtype of the new layers (default: that of the net's first Linear).

    Returns:
        A new ``nn.Sequential`` (the weights are copies; ``net`` is unchanged).

    Raises:
        TypeError: If ``net`` holds another kind of module.
        ValueError: If a BatchNorm1d does not follow a Linear, lacks running
            statistics, or ``net`` is in train mode while it has BN layers.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net: expected a torch.nn.Module, got {type(net).__name__}")
    leaves = [m for m in net.modules() if not list(m.children())]
    out: list[nn.Module] = []
    for m in leaves:
        if isinstance(m, _SKIPPED):
            continue
        if isinstance(m, nn.Linear):
            out.append(m)
        elif isinstance(m, nn.BatchNorm1d):
            if not out or not isinstance(out[-1], nn.Linear):
                raise ValueError("net: expected each BatchNorm1d right after a Linear")
            if m.running_mean is None:
                raise ValueError("net: expected BatchNorm1d with running statistics")
            if m.training:
                raise ValueError(
                    "net: in train mode BN uses the batch's statistics, so there is "
                    "no fixed map to fold; call freeze_bn_stats(net, X) or net.eval()"
                )
            out.append(m)
        elif isinstance(m, nn.ReLU):
            out.append(m)
        else:
            raise TypeError(
                "net: expected Linear, BatchNorm1d, ReLU and Identity modules, "
                f"got a {type(m).__name__} module"
            )
    first = next((m for m in out if isinstance(m, nn.Linear)), None)
    if first is None:
        raise ValueError("net: expected at least one nn.Linear layer, got none")
    dtype = dtype or first.weight.dtype
    device = first.weight.device
    layers: list[nn.Module] = []
    for m in out:
        if isinstance(m, nn.Linear):
            W = m.weight.detach().to(torch.float64)  # (N_l, N_{l-1})
            c = (
                m.bias.detach().to(torch.float64)
                if m.bias is not None
                else torch.zeros(W.shape[0], dtype=torch.float64, device=W.device)
            )
            layers.append([W, c])
        elif isinstance(m, nn.BatchNorm1d):
            W, c = layers[-1]
            s = 1.0 / (m.running_var.to(torch.float64) + m.eps).sqrt()  # (N_l,)
            beta = torch.zeros_like(s)
            if m.affine:
                s = s * m.weight.detach().to(torch.float64)
                beta = m.bias.detach().to(torch.float64)
            layers[-1] = [s[:, None] * W, s * (c - m.running_mean.double()) + beta]
        else:
            layers.append(nn.ReLU())
    seq = []
    for item in layers:
        if isinstance(item, nn.Module):
            seq.append(item)
            continue
        W, c = item
        lin = nn.Linear(W.shape[1], W.shape[0]).to(device, dtype)
        with torch.no_grad():
            lin.weight.copy_(W)
            lin.bias.copy_(c)
        seq.append(lin)
    return nn.Sequential(*seq)


def layer_hyperplanes(net: nn.Module, layer: int = 1) -> tuple[Tensor, Tensor]:
    r"""Unit k of a hidden layer switches on the hyperplane {z : W_k z + c_k = 0} (B2).

    In the layer's own input space z (the input x for ``layer=1``). For a BN layer in
    eval mode (statistics mu, sigma = sqrt(var + eps)), W_k = (gamma_k / sigma_k) w_k
    and the zero set is {<w_k, z> = mu_k - beta_k sigma_k / gamma_k} with mu_k the
    mean of <w_k, z> (the Linear's bias cancels). Read from ``fold_bn(net)``.

    Args:
        net: As for ``fold_bn`` (a plain ReLU MLP works too).
        layer: Hidden layer, 1 <= layer <= number of hidden layers.

    Returns:
        ``(W, c)`` in float64, shapes (K, d_l) and (K,).

    Raises:
        TypeError: If ``net`` is not such a module or ``layer`` not an int.
        ValueError: If ``layer`` is out of range.
    """
    check_int(layer, name="layer", minimum=1)
    linears = _linear_layers(fold_bn(net, dtype=torch.float64))
    if layer > len(linears) - 1:
        raise ValueError(
            f"layer: expected 1 <= layer <= {len(linears) - 1} (hidden layers), "
            f"got {layer}"
        )
    lin = linears[layer - 1]
    return lin.weight.detach().clone(), lin.bias.detach().clone()


def _as_relu_mlp(net: nn.Module) -> nn.Module:
    return fold_bn(net) if _batch_norms(net) else net


def unit_boundary_distances(
    net: nn.Module, X: Tensor
) -> tuple[Tensor, Tensor, list[int]]:
    r"""Linearised distance of each point to each hidden unit's zero set (B4).

    For unit j of layer l with pre-activation h_j and gradient g_j = grad_x h_j(x),
    constant on x's region, d_j(x) = abs(h_j(x)) / norm(g_j): the distance to the
    zero set of h_j's affine extension. It is the exact distance to {h_j = 0} when
    the ball of radius d_j around x stays inside x's region of the layers before l,
    i.e. when d_j <= min over earlier units of d_i (always for layer 1). A unit with
    g_j = 0 is constant on the region: distance +inf there (no boundary of its own).
    BatchNorm1d layers are folded first (``fold_bn``; freeze the statistics).

    Args:
        net: A ReLU MLP, or one with eval-mode BatchNorm1d layers.
        X: Points, shape (n, d).

    Returns:
        ``(dist, exact, layer_of_unit)``: float64 (n, U) distances, bool (n, U) where
        the linearisation is exact, and the hidden layer (1, 2, ...) of each of the U
        units.

    Raises:
        TypeError, ValueError: As ``activation_codes``.
    """
    check_data(X, name="X", ndim=2)
    net = _as_relu_mlp(net)
    weights, x64 = _prepare(net, X)
    n, d = x64.shape
    dists, exact, layer_of = [], [], []
    z = x64
    J = torch.eye(d, dtype=torch.float64, device=x64.device).expand(n, d, d)
    earlier = torch.full((n,), math.inf, dtype=torch.float64, device=x64.device)
    for ell, (W, b) in enumerate(weights[:-1], start=1):
        u = z @ W.T + b  # (n, N_l)
        G = W @ J  # (n, N_l, d): gradient of each pre-activation on x's region
        g = G.norm(dim=2)  # (n, N_l)
        dist = torch.where(g > 0, u.abs() / g.clamp_min(1e-300), math.inf)
        dists.append(dist)
        exact.append(dist <= earlier[:, None])
        layer_of += [ell] * W.shape[0]
        earlier = torch.minimum(earlier, dist.min(dim=1).values)
        q = (u > 0).to(torch.float64)  # (n, N_l)
        z = q * u
        J = q.unsqueeze(-1) * G  # (n, N_l, d)
    if not dists:
        empty = x64.new_zeros(n, 0)
        return empty, empty.bool(), []
    return torch.cat(dists, dim=1), torch.cat(exact, dim=1), layer_of


def boundary_distance(net: nn.Module, X: Tensor) -> Tensor:
    r"""Distance of each point to the nearest boundary of the partition (B4), exact.

    The minimum over all hidden units of abs(h_j(x)) / norm(grad h_j(x)). x's region is
    the polytope where every unit keeps its sign, and on it each h_j equals its affine
    extension, so the region is the intersection of the half-spaces of these
    extensions: the distance from x to its complement is the smallest distance to one
    of their hyperplanes. The minimum is therefore exact even where a single unit's
    linearised distance is not (see ``unit_boundary_distances``). +inf if no unit
    varies on the region.

    Args:
        net: A ReLU MLP, or one with eval-mode BatchNorm1d layers.
        X: Points, shape (n, d).

    Returns:
        Float64 tensor of shape (n,).
    """
    check_data(X, name="X", ndim=2)
    dist, _, _ = unit_boundary_distances(net, X)
    if dist.shape[1] == 0:
        return dist.new_full((dist.shape[0],), math.inf)
    return dist.min(dim=1).values


def segment_crossings(
    net: nn.Module, a: Tensor, b: Tensor, *, max_crossings: int = 100_000
) -> Tensor:
    r"""Where the segment a -> b crosses the partition, exactly: t in (0, 1), sorted.

    Walks along x(t) = a + t (b - a): inside the current region every pre-activation
    is affine in t (the slopes follow from the frozen on/off pattern, as in (F7)),
    so the next boundary is the smallest root t* > t of those affine functions; step
    just past it and repeat. The segment visits ``len(result) + 1`` regions (counting
    a region again if the segment re-enters it): unlike a grid count, no region that
    the segment crosses is missed, however thin. Float64 throughout; crossings closer
    than 1e-12 (relative) merge.

    Args:
        net: A ReLU MLP, or one with eval-mode BatchNorm1d layers.
        a: Start point, shape (d,).
        b: End point, shape (d,), different from ``a``.
        max_crossings: Stop with a ValueError beyond this many.

    Returns:
        Float64 tensor of shape (m,), the crossing parameters t.

    Raises:
        TypeError: If ``a`` or ``b`` is not a float tensor.
        ValueError: If their shapes differ from (d,), a == b, or there are more than
            ``max_crossings`` crossings.
    """
    check_finite(a, name="a")
    check_finite(b, name="b")
    net = _as_relu_mlp(net)
    check_float(a, name="a")
    check_float(b, name="b")
    if a.shape != b.shape or a.dim() != 1:
        raise ValueError(
            f"a, b: expected two points of shape (d,), got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
    check_int(max_crossings, name="max_crossings", minimum=1)
    weights, ab = _prepare(net, torch.stack([a, b]))
    a64, direction = ab[0], ab[1] - ab[0]
    if not direction.abs().max() > 0:
        raise ValueError("a, b: expected two different points, got a == b")
    eps = 1e-12
    t, crossings = 0.0, []
    while True:
        # Pattern just after t, then the affine pre-activations u = alpha + beta s.
        x = a64 + (t + eps) * direction
        z, dz = x[None], direction[None]  # (1, d) value and slope along the segment
        roots = []
        for W, c in weights[:-1]:
            u, du = z @ W.T + c, dz @ W.T  # (1, N_l)
            with torch.no_grad():
                s = -u / torch.where(du == 0, torch.inf, du)  # root offsets from t+eps
            roots.append(s[s > 0])
            q = (u > 0).to(torch.float64)
            z, dz = q * u, q * du
        if not roots:
            return torch.tensor(crossings, dtype=torch.float64)
        roots = torch.cat(roots)
        step = roots.min().item() if roots.numel() else math.inf
        t_next = t + eps + step
        if t_next >= 1.0:
            return torch.tensor(crossings, dtype=torch.float64)
        crossings.append(t_next)
        if len(crossings) > max_crossings:
            raise ValueError(
                f"max_crossings: the segment crosses more than {max_crossings} "
                "boundaries"
            )
        t = t_next


def bn_offset_jitter(
    W: Tensor,
    X: Tensor,
    B: int,
    *,
    n_draws: int = 500,
    replace: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Std of the mini-batch mean mu_B of each unit over sigma / sqrt(B) (B5).

    For i.i.d. batches of size B drawn with replacement,
    Var[mu_B] = sigma^2 / B: the ratio is 1 up to sampling noise. Without
    replacement the prediction carries the factor sqrt((n - B) / (n - 1)), which the
    ratio divides out. With beta = 0 the first-layer hyperplane of unit k sits at
    <w_k, z> = mu_B, so it jitters by sigma_k / (sqrt(B) norm(w_k)) in input units; with
    beta != 0 the offset is mu_B - beta sigma_B / gamma and sigma_B jitters too (not
    covered here).

    Args:
        W: First-layer weights, shape (K, d).
        X: Data, shape (n, d), n >= 2.
        B: Batch size, 1 <= B <= n (B < n without replacement).
        n_draws: Number of batches drawn, >= 2.
        replace: Draw each batch with replacement (default) or without.
        generator: CPU generator for the draws.

    Returns:
        The ratio std(mu_B) / predicted std of each unit, float64, shape (K,).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a size is out of range.
    """
    check_finite(W, name="W")
    check_data(X, name="X", ndim=2)
    W64, X64 = _wz(W, X)
    n = X64.shape[0]
    check_int(B, name="B", minimum=1)
    check_int(n_draws, name="n_draws", minimum=2)
    if not isinstance(replace, bool):
        raise TypeError(f"replace: expected a bool, got {type(replace).__name__}")
    if n < B or (not replace and n <= B):
        raise ValueError(f"B: expected B <= n{'' if replace else ' - 1'}, got {B}")
    check_generator(generator)
    u = X64 @ W64.T  # (n, K)
    mu, sigma = bn_stats(W64, X64)
    if replace:
        idx = torch.randint(n, (n_draws, B), generator=generator)
    else:
        idx = torch.rand(n_draws, n, generator=generator).argsort(dim=1)[:, :B]
    means = u[idx.to(u.device)].mean(dim=1)  # (n_draws, K)
    predicted = sigma / math.sqrt(B)
    if not replace:
        predicted = predicted * math.sqrt((n - B) / (n - 1))
    return means.std(dim=0, correction=1) / predicted


def decision_margin_2d(f, X: Tensor, lo: float, hi: float, res: int = 300) -> Tensor:
    r"""Distance of each point to the decision boundary {f = 0} of a 2-D classifier.

    The boundary is located from sign changes of f between neighbouring points of a
    res x res grid on [lo, hi]^2 (midpoints of the edges where the sign flips). With
    h = (hi - lo) / (res - 1), every such midpoint is within h / 2 of the boundary, so
    the result is at least the exact distance minus h / 2; the nearest boundary point
    lies within a cell diagonal of a flipping edge, so the result is at most the exact
    distance plus (sqrt(2) + 1/2) h (boundary pieces that enter and leave a cell
    between grid points are missed). +inf if f has one sign on the whole grid.

    Args:
        f: Callable mapping (m, 2) float tensors to (m,) scores (positive: class 1).
        X: Points, shape (n, 2).
        lo: Lower end of both axes of the window.
        hi: Upper end of both axes, hi > lo.
        res: Grid points per axis, >= 2.

    Returns:
        Float64 tensor of shape (n,).

    Raises:
        TypeError: If ``f`` is not callable or ``X`` not a float tensor.
        ValueError: If ``X`` is not (n, 2) or ``f`` returns the wrong shape.
    """
    check_finite(X, name="X")
    if not callable(f):
        raise TypeError(f"f: expected a callable, got {type(f).__name__}")
    _check_matrix(X, name="X", cols=2)
    lo, hi, res = _check_window(lo, hi, res)
    grid = grid2d(lo, hi, res, dtype=X.dtype, device=X.device)  # (res*res, 2)
    with torch.no_grad():
        values = f(grid)
    if not isinstance(values, Tensor) or values.numel() != res * res:
        raise ValueError(f"f: expected ({res * res},) scores on the grid")
    s = (values.reshape(res, res) > 0).cpu()  # (res, res), row i is y_i
    g = grid.reshape(res, res, 2).cpu().double()
    flips_x = s[:, 1:] != s[:, :-1]  # (res, res-1)
    flips_y = s[1:, :] != s[:-1, :]  # (res-1, res)
    points = torch.cat(
        [
            ((g[:, 1:] + g[:, :-1]) / 2)[flips_x],
            ((g[1:, :] + g[:-1, :]) / 2)[flips_y],
        ]
    )  # (m, 2)
    X64 = X.detach().cpu().double()
    if points.shape[0] == 0:
        return X64.new_full((X64.shape[0],), math.inf)
    return torch.cdist(X64, points).min(dim=1).values


class RefStatBN(nn.BatchNorm1d):
    """BatchNorm1d whose train-mode statistics come from reference rows (claim 4).

    In train mode with ``ref_rows = m > 0`` the mean and (biased) variance are
    computed over the last m rows of the input only, and every row is normalised with
    them: feed ``cat([batch, reference_set])`` and keep the first rows of the output
    to train with the statistics of the full training set, recomputed at every step
    with gradients through them ("full statistics", no mini-batch jitter). With
    ``ref_rows = 0`` it is standard BN. ``mean_noise_batch = B`` adds independent
    Gaussian noise of std sigma_k / sqrt(B) to each unit's mean at every train-mode
    step (the matched-noise control). Running statistics are not updated; set them
    with ``freeze_bn_stats`` before evaluating. Shapes: input (n, K).
    """

    def __init__(self, num_features: int, **kwargs) -> None:
        check_int(num_features, name="num_features", minimum=1)
        super().__init__(num_features, **kwargs)
        self.ref_rows = 0
        self.mean_noise_batch: int | None = None
        self.noise_generator: torch.Generator | None = None

    def forward(self, x: Tensor) -> Tensor:
        """Normalise x (n, K) with the reference rows' statistics in train mode."""
        if not self.training or (self.ref_rows == 0 and self.mean_noise_batch is None):
            return super().forward(x)
        ref = x[-self.ref_rows :] if self.ref_rows else x
        var, mu = torch.var_mean(ref, dim=0, correction=0)  # (K,), (K,)
        if self.mean_noise_batch is not None:
            noise = torch.randn(mu.shape, generator=self.noise_generator)
            mu = mu + noise.to(mu) * var.detach().sqrt() / math.sqrt(
                self.mean_noise_batch
            )
        y = (x - mu) / (var + self.eps).sqrt()
        if self.affine:
            y = y * self.weight + self.bias
        return y


def fit_epochs(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 0.05,
    optimizer: str = "sgd",
    weight_decay: float = 0.0,
    full_stats: bool = False,
    generator: torch.Generator | None = None,
) -> dict[str, list[float]]:
    """Train a classifier by epochs (shuffled batches) and record the accuracies.

    Cross-entropy for C > 1 outputs, logistic loss for one output (label 1 where the
    logit is positive). SGD has momentum 0.9; ``"adam"`` is torch's Adam. After each
    epoch the BatchNorm1d statistics are set to those of the whole training set
    (``freeze_bn_stats``) and train and test accuracy are measured in eval mode, so
    every BN variant is evaluated the same way. With ``full_stats`` every
    ``RefStatBN`` layer normalises with the statistics of the whole training set,
    recomputed at each step with gradients (the "no jitter" control of claim 4):
    each step forwards the batch and the training set together.

    Args:
        net: Maps (n, d) to logits (n, C) or (n, 1).
        x: Training inputs, shape (n, d).
        y: Integer training labels, shape (n,).
        x_test: Test inputs, shape (m, d).
        y_test: Integer test labels, shape (m,).
        epochs: Number of passes over the training set, >= 1.
        batch_size: Batch size (the last, smaller batch is dropped).
        lr: Learning rate.
        optimizer: ``"sgd"`` (momentum 0.9) or ``"adam"``.
        weight_decay: The optimiser's weight decay.
        full_stats: Use the reference-row statistics in every ``RefStatBN``.
        generator: CPU generator for the shuffles.

    Returns:
        ``{"epoch", "train", "test"}``: lists over epochs 1..epochs.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range.
    """
    check_finite(x, name="x")
    check_finite(x_test, name="x_test")
    from dltheory._checks import check_choice, check_labels, check_positive

    _check_matrix(x, name="x")
    check_labels(y, name="y", n=x.shape[0])
    _check_matrix(x_test, name="x_test", cols=x.shape[1])
    check_labels(y_test, name="y_test", n=x_test.shape[0])
    check_int(epochs, name="epochs", minimum=1)
    check_int(batch_size, name="batch_size", minimum=2)
    check_positive(lr, name="lr")
    check_positive(weight_decay, name="weight_decay", strict=False)
    check_choice(optimizer, name="optimizer", choices=("sgd", "adam"))
    check_generator(generator)
    if batch_size > x.shape[0]:
        raise ValueError(f"batch_size: expected <= {x.shape[0]}, got {batch_size}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    if optimizer == "sgd":
        opt = torch.optim.SGD(
            net.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay
        )
    else:
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    refs = [m for m in net.modules() if isinstance(m, RefStatBN)]
    for m in refs:
        m.ref_rows = x.shape[0] if full_stats else 0

    def loss_and_hits(logits, target):
        if logits.shape[1] == 1:
            loss = nn.functional.binary_cross_entropy_with_logits(
                logits[:, 0], target.to(logits.dtype)
            )
            return loss, ((logits[:, 0] > 0).long() == target)
        return nn.functional.cross_entropy(logits, target), logits.argmax(1) == target

    history: dict[str, list[float]] = {"epoch": [], "train": [], "test": []}
    n_batches = x.shape[0] // batch_size
    for epoch in range(1, epochs + 1):
        net.train()
        order = torch.randperm(x.shape[0], generator=gen)
        for i in range(n_batches):
            idx = order[i * batch_size : (i + 1) * batch_size]
            xb = torch.cat([x[idx], x]) if full_stats and refs else x[idx]
            logits = net(xb)[: len(idx)]  # (B, C)
            loss, _ = loss_and_hits(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if _batch_norms(net):
            freeze_bn_stats(net, x)
        net.eval()
        with torch.no_grad():
            history["epoch"].append(epoch)
            for key, (xs, ys) in (("train", (x, y)), ("test", (x_test, y_test))):
                hits = loss_and_hits(net(xs), ys)[1]
                history[key].append(hits.float().mean().item())
    return history
