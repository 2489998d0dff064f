r"""Singular value perturbation and deep network optimization (chapter 07).

Riedi, Balestriero and Baraniuk [riedi2022singular] (arXiv:2203.03099) read networks
from ConvNets to ResNets and DenseNets as continuous piecewise-affine splines: inside an
activation region each layer is an exact linear map, and with the squared-error loss the
loss is piecewise quadratic in one layer's parameters, shaped by the singular values of
matrices built from the local maps. This module implements the book's formulation
(``book/07_singular_values``; the paper's theorems were not at hand, see the chapter):

- (L1) the layer family z^{l+1} = sigma(W_l z^l + b_l) + eps z^l, ``PlainOrResNetMLP``
  (eps = 0 a plain "ConvNet" layer, eps = 1 a ResNet layer; branch weight std settable);
- sigma(u) = Q(u) u with Q diagonal, ``activation_slopes``, ``activation_pattern``,
  ``region_ids``;
- (L2) the local affine map A_omega = W_out prod_l (Q_l W_l + eps I) W_in,
  ``local_linear_map`` (batched Q-product), ``jacobian`` (torch.func reference),
  ``layer_product`` (the hidden stack),
  ``layer_local_matrix`` (Q W + eps I), ``densenet_local_matrix`` ([I; Q W]);
- (Q1) the piecewise-quadratic loss in one layer: ``loss_along_line``,
  ``fit_piecewise_quadratic``, ``layer_hessian`` (torch.func.hessian),
  ``gauss_newton`` (2 J^T J) and ``kronecker_hessian``
  (2 sum_i (P_i^T P_i) (x) (z_i z_i^T), row-major vec);
- (P1)-(P5) elementary perturbation facts: ``spectrum``, ``condition_number``,
  ``spectral_radius``, ``perturbation_bounds``, ``diagonal_bounds``;
- training: ``train_mse`` (full-batch SGD on the squared error, chapter 07 claim 8).

Shapes: ``B`` points, ``d_in`` inputs, ``N`` the width, ``L`` hidden layers, ``C``
outputs. Identities are computed in float64 (parameters are cast, the module is not
modified). No function loops over samples in Python.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.func import functional_call, hessian, jacrev, vmap

from dltheory._checks import (
    check_batch,
    check_choice,
    check_finite,
    check_float,
    check_int,
)
from dltheory.splines import ids_of_codes

ACTIVATIONS = ("relu", "leaky_relu", "abs")


def _check_act(act: object, slope: object) -> tuple[str, float]:
    act = check_choice(act, name="act", choices=ACTIVATIONS)
    if isinstance(slope, bool) or not isinstance(slope, int | float):
        raise TypeError(f"slope: expected a float, got {type(slope).__name__}")
    if not 0.0 <= float(slope) < 1.0:
        raise ValueError(f"slope: expected 0 <= slope < 1, got {slope}")
    return act, float(slope)


def activation_slopes(u: Tensor, act: str = "relu", slope: float = 0.1) -> Tensor:
    """The diagonal of Q(u): sigma(u) = Q(u) u, elementwise (chapter 07, masks).

    ReLU q in {0, 1}; leaky ReLU q in {slope, 1}; absolute value q in {-1, 1}. At
    u = 0 the right slope is used (q = 1), which leaves sigma(u) = q u exact.

    Args:
        u: Pre-activations, any shape.
        act: ``"relu"``, ``"leaky_relu"`` or ``"abs"``.
        slope: The leaky ReLU's negative slope eta, 0 <= eta < 1.

    Returns:
        Tensor of the shape and dtype of ``u``.

    Raises:
        TypeError: If ``u`` is not a float tensor or ``slope`` not a number.
        ValueError: If ``act`` is unknown or ``slope`` outside [0, 1).
    """
    check_float(u, name="u")
    act, slope = _check_act(act, slope)
    neg = {"relu": 0.0, "leaky_relu": slope, "abs": -1.0}[act]
    return torch.where(u >= 0, torch.ones_like(u), torch.full_like(u, neg))


class PlainOrResNetMLP(nn.Module):
    r"""The layer family (L1) of chapter 07: z^{l+1} = sigma(W_l z^l + b_l) + eps z^l.

    x (B, d_in) -> z^1 = W_in x + b_in (a linear input projection, needed when
    d_in != width) -> ``depth`` layers (L1) of width N -> W_out z + b_out (B, d_out).
    eps = 0 is a plain network (the paper's ConvNet with dense matrices), eps = 1 a
    ResNet. Layer weights W_l have i.i.d. N(0, std^2) entries and zero biases; std is
    ``branch_scale`` if given, otherwise the variance-preserving (He) value
    sqrt(2 / ((1 + slope^2) N)) (1 / sqrt(N) for abs). The input and output layers use
    torch's default init.

    Args:
        d_in, width, depth, d_out: Sizes (depth >= 1 hidden layers).
        eps: The skip fraction eps >= 0.
        act: ``"relu"``, ``"leaky_relu"`` or ``"abs"``.
        slope: The leaky ReLU's negative slope.
        branch_scale: Std of the layer weights, or None for He.
        generator: Optional torch.Generator for the init.
    """

    def __init__(
        self,
        d_in: int,
        width: int,
        depth: int,
        d_out: int,
        eps: float = 0.0,
        act: str = "relu",
        slope: float = 0.1,
        branch_scale: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, v in (("d_in", d_in), ("width", width), ("depth", depth)):
            check_int(v, name=name, minimum=1)
        check_int(d_out, name="d_out", minimum=1)
        if isinstance(eps, bool) or not isinstance(eps, int | float) or eps < 0:
            raise ValueError(f"eps: expected a float >= 0, got {eps!r}")
        self.act, self.slope = _check_act(act, slope)
        if branch_scale is None:
            gain = 1.0 if self.act == "abs" else 2.0 / (1.0 + self.slope**2)
            branch_scale = math.sqrt(gain / width)
        if not isinstance(branch_scale, int | float) or branch_scale < 0:
            raise ValueError(
                f"branch_scale: expected a float >= 0, got {branch_scale!r}"
            )
        self.eps, self.branch_scale = float(eps), float(branch_scale)
        self.inp = nn.Linear(d_in, width)
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.out = nn.Linear(width, d_out)
        with torch.no_grad():
            for lin in (self.inp, self.out):
                bound = 1.0 / math.sqrt(lin.in_features)
                lin.weight.uniform_(-bound, bound, generator=generator)
                lin.bias.uniform_(-bound, bound, generator=generator)
            for lin in self.layers:
                lin.weight.normal_(0.0, self.branch_scale, generator=generator)
                lin.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        """(L1) layer by layer: x (B, d_in) -> (B, d_out)."""
        check_float(x, name="x")  # type and shape only: no GPU sync per step
        if x.dim() == 0 or x.shape[-1] != self.inp.in_features:
            raise ValueError(
                f"x: expected shape (B, {self.inp.in_features}), got {tuple(x.shape)}"
            )
        z = self.inp(x)  # (B, N)
        for lin in self.layers:
            u = lin(z)
            z = activation_slopes(u, self.act, self.slope) * u + self.eps * z
        return self.out(z)  # (B, d_out)


def _check_net(net: object) -> PlainOrResNetMLP:
    if not isinstance(net, PlainOrResNetMLP):
        raise TypeError(f"net: expected a PlainOrResNetMLP, got {type(net).__name__}")
    return net


def _params64(net: PlainOrResNetMLP) -> dict[str, Tensor]:
    return {k: v.detach().to(torch.float64) for k, v in net.named_parameters()}


def _check_x(net: PlainOrResNetMLP, x: object, name: str = "x") -> Tensor:
    x = check_batch(x, name=name)
    if x.shape[1] != net.inp.in_features:
        raise ValueError(
            f"{name}: expected {net.inp.in_features} columns, got {x.shape[1]}"
        )
    return x.to(torch.float64)


def activation_pattern(net: PlainOrResNetMLP, x: Tensor) -> list[Tensor]:
    """The diagonals q_l of Q_l at each input, one (B, N) float64 tensor per layer.

    Raises:
        TypeError: If ``net`` is not a ``PlainOrResNetMLP`` or ``x`` not float.
        ValueError: If ``x`` is not of shape (B, d_in).
    """
    check_finite(x, name="x")
    net = _check_net(net)
    x = _check_x(net, x)
    p = _params64(net)
    z = x @ p["inp.weight"].T + p["inp.bias"]
    qs = []
    for i in range(len(net.layers)):
        u = z @ p[f"layers.{i}.weight"].T + p[f"layers.{i}.bias"]
        q = activation_slopes(u, net.act, net.slope)
        qs.append(q)
        z = q * u + net.eps * z
    return qs


def region_ids(net: PlainOrResNetMLP, x: Tensor) -> Tensor:
    """Region id (B,) long of each input: equal exactly when all patterns are equal.

    The code of a unit is the sign of its pre-activation (q > 0.5 for the three
    activations), packed exactly as in ``splines.region_ids`` (chapter 00).
    """
    check_finite(x, name="x")
    codes = torch.cat([q > 0.5 for q in activation_pattern(net, x)], dim=1)
    return ids_of_codes(codes)


def local_linear_map(net: PlainOrResNetMLP, x: Tensor) -> tuple[Tensor, Tensor]:
    r"""The local affine map (L2) at each input, by the Q-product, batched.

    A_omega = W_out prod_{l=L}^{1} (Q_l W_l + eps I) W_in and c_omega such that
    f(x) = A_omega x + c_omega on the region of x, in float64.

    Args:
        net: A ``PlainOrResNetMLP``.
        x: Inputs (B, d_in).

    Returns:
        ``(A, c)`` of shapes (B, d_out, d_in) and (B, d_out), float64.

    Raises:
        TypeError: If ``net`` is not a ``PlainOrResNetMLP`` or ``x`` not float.
        ValueError: If ``x`` is not of shape (B, d_in).
    """
    check_finite(x, name="x")
    qs = activation_pattern(net, x)  # validates net and x; (B, N) per layer
    p = _params64(net)
    B = x.shape[0]
    A = p["inp.weight"].expand(B, -1, -1)  # (B, N, d_in)
    c = p["inp.bias"].expand(B, -1)  # (B, N)
    for i, q in enumerate(qs):
        W, b = p[f"layers.{i}.weight"], p[f"layers.{i}.bias"]
        A = q[:, :, None] * (W @ A) + net.eps * A
        c = q * (c @ W.T + b) + net.eps * c
    return p["out.weight"] @ A, c @ p["out.weight"].T + p["out.bias"]


def layer_product(net: PlainOrResNetMLP, x: Tensor) -> Tensor:
    r"""The hidden stack's map prod_{l=L}^{1} (Q_l W_l + eps I), (B, N, N), float64.

    The Jacobian dz^{L+1}/dz^1 (L2 without the input and output layers), whose
    conditioning with depth chapter 07's claim 7 measures.
    """
    check_finite(x, name="x")
    qs = activation_pattern(net, x)  # validates net and x; (B, N) per layer
    p = _params64(net)
    B, N = x.shape[0], net.inp.out_features
    A = torch.eye(N, dtype=torch.float64).expand(B, N, N)
    for i, q in enumerate(qs):
        A = q[:, :, None] * (p[f"layers.{i}.weight"] @ A) + net.eps * A
    return A


def jacobian(net: PlainOrResNetMLP, x: Tensor) -> Tensor:
    """The input-output Jacobian (B, d_out, d_in), torch.func vmap of jacrev, float64.

    The autograd reference for ``local_linear_map``.
    """
    check_finite(x, name="x")
    net = _check_net(net)
    x = _check_x(net, x)
    p = _params64(net)

    def f(xi):
        return functional_call(net, p, (xi[None],))[0]

    return vmap(jacrev(f))(x)


def layer_local_matrix(W: Tensor, q: Tensor, eps: float) -> Tensor:
    """Q W + eps I (chapter 07, L2), batched: W (..., N, N), q (..., N) -> (..., N, N).

    Raises:
        TypeError: If ``W`` or ``q`` is not a float tensor.
        ValueError: If the shapes do not match.
    """
    check_finite(W, name="W")
    check_finite(q, name="q")
    check_float(W, name="W")
    check_float(q, name="q")
    if q.dim() < 1:
        raise ValueError(f"q: expected shape (..., N), got {tuple(q.shape)}")
    if W.dim() < 2 or W.shape[-1] != W.shape[-2] or q.shape[-1] != W.shape[-1]:
        raise ValueError(
            f"W, q: expected (..., N, N) and (..., N), got {tuple(W.shape)} and "
            f"{tuple(q.shape)}"
        )
    eye = torch.eye(W.shape[-1], dtype=W.dtype, device=W.device)
    return q[..., :, None] * W + eps * eye


def densenet_local_matrix(W: Tensor, q: Tensor) -> Tensor:
    """The DenseNet layer's local map [I; Q W], (..., 2N, N).

    sigma_k([I; QW])^2 = 1 + sigma_k(QW)^2, so sigma_min >= 1 for every W and q.
    """
    check_finite(W, name="W")
    check_finite(q, name="q")
    QW = layer_local_matrix(W, q, 0.0)
    eye = torch.eye(W.shape[-1], dtype=W.dtype, device=W.device).expand_as(QW)
    return torch.cat([eye, QW], dim=-2)


def spectrum(M: Tensor) -> Tensor:
    """Singular values (..., min(m, n)), descending (``torch.linalg.svdvals``)."""
    check_finite(M, name="M")
    check_float(M, name="M")
    if M.dim() < 2:
        raise ValueError(f"M: expected (..., m, n), got {tuple(M.shape)}")
    return torch.linalg.svdvals(M)


def condition_number(M: Tensor, tol: float | None = None) -> Tensor:
    """sigma_max / sigma_min of each matrix (...,), inf where sigma_min <= tol.

    The default tolerance is relative, max(m, n) * machine eps * sigma_max (as
    ``numpy.linalg.matrix_rank``): a product of rank-deficient factors gives inf
    instead of a float rounding artefact such as 1e82.
    """
    check_finite(M, name="M")
    s = spectrum(M)
    smax, smin = s[..., 0], s[..., -1]
    if tol is None:
        t = max(M.shape[-2:]) * torch.finfo(s.dtype).eps * smax
    else:
        if isinstance(tol, bool) or not isinstance(tol, int | float) or tol < 0:
            raise ValueError(f"tol: expected a float >= 0 or None, got {tol!r}")
        t = torch.full_like(smax, float(tol))
    return torch.where(smin > t, smax / smin, torch.full_like(smax, math.inf))


def spectral_radius(M: Tensor) -> Tensor:
    """The largest eigenvalue modulus of each square matrix (...,)."""
    check_float(M, name="M")
    if M.dim() < 2 or M.shape[-1] != M.shape[-2]:
        raise ValueError(f"M: expected (..., N, N), got {tuple(M.shape)}")
    check_finite(M, name="M")  # a NaN made LAPACK's eigvals crash the interpreter
    return torch.linalg.eigvals(M).abs().amax(-1)


def perturbation_bounds(W: Tensor, q: Tensor, eps: float) -> dict[str, Tensor]:
    """The book's (P2) and (P3) for Q W + eps I.

    (P2) Weyl: abs(sigma_k(QW + eps I) - sigma_k(QW)) <= eps. (P3) if abs(q_i) <= 1:
    sigma_min(QW + eps I) >= eps - norm2(W), and cond <= (eps + norm2(W)) /
    (eps - norm2(W)) when norm2(W) < eps (inf otherwise).

    Returns:
        dict with ``weyl_lower``, ``weyl_upper`` (..., N), ``sigma_min_lower`` and
        ``cond_upper`` (...,), ``norm_W`` (...,).
    """
    check_finite(W, name="W")
    check_finite(q, name="q")
    s = spectrum(layer_local_matrix(W, q, 0.0))
    if (q.abs() > 1).any():
        raise ValueError("q: (P3) needs |q_i| <= 1")
    nW = torch.linalg.matrix_norm(W, ord=2)
    cond = torch.where(
        nW < eps,
        (eps + nW) / (eps - nW).clamp_min(1e-300),
        torch.full_like(nW, math.inf),
    )
    return {
        "weyl_lower": (s - eps).clamp_min(0.0),
        "weyl_upper": s + eps,
        "sigma_min_lower": eps - nW,
        "cond_upper": cond,
        "norm_W": nW,
    }


def diagonal_bounds(d: Tensor, M: Tensor) -> tuple[Tensor, Tensor]:
    """Bounds min abs(d) sigma_k(M) <= sigma_k(DM) <= max abs(d) sigma_k(M), D diagonal.

    From sigma_k(AB) <= norm2(A) sigma_k(B) and sigma_k(AB) >= sigma_min(A) sigma_k(B).
    Shapes d (..., m), M (..., m, n) -> two (..., min(m, n)).
    """
    check_finite(d, name="d")
    check_finite(M, name="M")
    check_float(d, name="d")
    if d.dim() < 1 or d.shape[:-1] != M.shape[:-2]:
        raise ValueError(
            f"d: expected shape {tuple(M.shape[:-2])} + (N,) to match M, got "
            f"{tuple(d.shape)}"
        )
    s = spectrum(M)
    if d.shape[-1] != M.shape[-2]:
        raise ValueError(f"d: expected {M.shape[-2]} entries, got {d.shape[-1]}")
    a = d.abs()
    return a.amin(-1, keepdim=True) * s, a.amax(-1, keepdim=True) * s


# --- the loss as a function of one layer (Q1) ---------------------------------------


def _loss(out: Tensor, Y: Tensor, loss: str) -> Tensor:
    if loss == "mse":
        return ((out - Y) ** 2).sum()
    return -(Y * torch.log_softmax(out, -1)).sum()  # cross-entropy, one-hot Y


def _check_xy(net, X, Y):
    X = _check_x(net, X, "X")
    Y = check_batch(Y, name="Y").to(torch.float64)
    if Y.shape != (X.shape[0], net.out.out_features):
        raise ValueError(
            f"Y: expected shape {(X.shape[0], net.out.out_features)}, got "
            f"{tuple(Y.shape)}"
        )
    return X, Y


def _layer_name(net: PlainOrResNetMLP, layer: object, name: str = "layer") -> str:
    check_int(layer, name=name, minimum=0)
    if layer >= len(net.layers):
        raise ValueError(
            f"{name}: expected 0 <= layer < {len(net.layers)}, got {layer}"
        )
    return f"layers.{layer}.weight"


def loss_along_line(
    net: PlainOrResNetMLP,
    layer: int,
    direction: Tensor,
    ts: Tensor,
    X: Tensor,
    Y: Tensor,
    loss: str = "mse",
) -> dict[str, Tensor]:
    r"""The summed loss at W_l + t Delta for each t, and its pieces of constant pattern.

    Within a piece (all activation patterns of all samples fixed) the network is affine
    in W_l, so the squared error is exactly quadratic in t (Q1); kinks are where some
    pre-activation changes sign. Computed with ``vmap`` over t, in float64.

    Args:
        net: A ``PlainOrResNetMLP``.
        layer: Index into ``net.layers`` of the layer W_l that moves.
        direction: Delta, the shape of W_l (N, N).
        ts: Increasing values of t (T,).
        X: Inputs (n, d_in).
        Y: Targets (n, d_out).
        loss: ``"mse"`` (sum of squares) or ``"ce"`` (cross-entropy, the control).

    Returns:
        dict with ``loss`` (T,), ``piece`` (T,) long (consecutive ids), ``kinks`` (K,)
        midpoints between consecutive t whose patterns differ.
    """
    check_finite(direction, name="direction")
    check_finite(ts, name="ts")
    check_finite(X, name="X")
    check_finite(Y, name="Y")
    net = _check_net(net)
    name = _layer_name(net, layer)
    X, Y = _check_xy(net, X, Y)
    loss = check_choice(loss, name="loss", choices=("mse", "ce"))
    check_float(direction, name="direction")
    if direction.shape != net.layers[layer].weight.shape:
        raise ValueError(
            f"direction: expected {tuple(net.layers[layer].weight.shape)}, got "
            f"{tuple(direction.shape)}"
        )
    ts = check_float(ts, name="ts").to(torch.float64)
    if ts.dim() != 1 or len(ts) < 2 or not (ts[1:] > ts[:-1]).all():
        raise ValueError(
            "ts: expected an increasing 1-D tensor of length >= 2, got shape "
            f"{tuple(ts.shape)}"
        )
    p = _params64(net)
    D = direction.to(torch.float64)

    def at(t):
        q = dict(p)
        q[name] = p[name] + t * D
        z = X @ q["inp.weight"].T + q["inp.bias"]
        signs = []
        for i in range(len(net.layers)):
            u = z @ q[f"layers.{i}.weight"].T + q[f"layers.{i}.bias"]
            s = activation_slopes(u, net.act, net.slope)
            signs.append(u >= 0)
            z = s * u + net.eps * z
        out = z @ q["out.weight"].T + q["out.bias"]
        return _loss(out, Y, loss), torch.cat(signs, 1)

    losses, codes = vmap(at)(ts)  # (T,), (T, n, L N)
    change = (codes[1:] != codes[:-1]).flatten(1).any(1)  # (T - 1,)
    piece = torch.cat([torch.zeros(1, dtype=torch.long), change.long().cumsum(0)])
    kinks = ((ts[1:] + ts[:-1]) / 2)[change]
    return {"loss": losses, "piece": piece, "kinks": kinks}


def fit_piecewise_quadratic(
    ts: Tensor, loss: Tensor, piece: Tensor, min_points: int = 5
) -> list[dict]:
    """Least-squares quadratic on each piece with at least ``min_points`` points.

    t is centred and scaled per piece before the fit (float64 ``torch.linalg.lstsq``).

    Returns:
        A list with one dict per fitted piece, with keys ``t_lo``, ``t_hi``, ``n``,
        ``coef`` (3,) of a + b s + c s^2 in the scaled s, and ``rel_residual`` =
        max abs(fit - loss) / max abs(loss) on the piece.
    """
    check_finite(ts, name="ts")
    check_finite(loss, name="loss")
    ts = check_float(ts, name="ts").to(torch.float64)
    loss = check_float(loss, name="loss").to(torch.float64)
    if ts.shape != loss.shape or piece.shape != ts.shape:
        raise ValueError(
            "ts, loss, piece: expected equal 1-D shapes, got "
            f"{tuple(ts.shape)}, {tuple(loss.shape)} and {tuple(piece.shape)}"
        )
    check_int(min_points, name="min_points", minimum=4)
    out = []
    for k in torch.unique(piece).tolist():
        m = piece == k
        if int(m.sum()) < min_points:
            continue
        t, y = ts[m], loss[m]
        s = (t - t.mean()) / (t.max() - t.min())
        V = torch.stack([torch.ones_like(s), s, s * s], 1)
        coef = torch.linalg.lstsq(V, y[:, None], driver="gelsd").solution[:, 0]
        res = (V @ coef - y).abs().max() / y.abs().max().clamp_min(1e-300)
        out.append(
            {
                "t_lo": float(t.min()),
                "t_hi": float(t.max()),
                "n": int(m.sum()),
                "coef": coef,
                "rel_residual": float(res),
            }
        )
    return out


def _flat_loss(net, names, X, Y, loss="mse"):
    p = _params64(net)
    shapes = [p[n].shape for n in names]
    sizes = [math.prod(s) for s in shapes]

    def f(theta):
        q = dict(p)
        for n, s, part in zip(names, shapes, theta.split(sizes), strict=True):
            q[n] = part.reshape(s)  # row-major vec
        return _loss(functional_call(net, q, (X,)), Y, loss)

    theta0 = torch.cat([p[n].reshape(-1) for n in names])
    return f, theta0


def _names(net, layers):
    if isinstance(layers, int):
        layers = (layers,)
    return [_layer_name(net, k, name="layers") for k in layers]


def layer_hessian(
    net: PlainOrResNetMLP, layers: int | tuple[int, ...], X: Tensor, Y: Tensor
) -> Tensor:
    """Exact Hessian of the summed squared error w.r.t. the weights of ``layers``.

    torch.func.hessian in float64; W flattened row-major, layers concatenated.
    Shape (P, P), P = sum of N_out N_in. Keep the width <= 64 (P^2 entries).
    """
    check_finite(X, name="X")
    check_finite(Y, name="Y")
    net = _check_net(net)
    X, Y = _check_xy(net, X, Y)
    f, theta = _flat_loss(net, _names(net, layers), X, Y)
    return hessian(f)(theta)


def gauss_newton(
    net: PlainOrResNetMLP, layers: int | tuple[int, ...], X: Tensor, Y: Tensor
) -> Tensor:
    """2 J^T J, J the Jacobian (n C, P) of the outputs w.r.t. the weights of ``layers``.

    Equals ``layer_hessian`` for one layer inside a region (the net is affine in
    W_l there); differs for several layers (their cross terms are bilinear).
    """
    check_finite(X, name="X")
    check_finite(Y, name="Y")
    net = _check_net(net)
    X, Y = _check_xy(net, X, Y)
    names = _names(net, layers)
    p = _params64(net)
    shapes = [p[n].shape for n in names]
    sizes = [math.prod(s) for s in shapes]

    def out(theta):
        q = dict(p)
        for n, s, part in zip(names, shapes, theta.split(sizes), strict=True):
            q[n] = part.reshape(s)
        return functional_call(net, q, (X,)).reshape(-1)

    theta = torch.cat([p[n].reshape(-1) for n in names])
    J = jacrev(out)(theta)  # (n C, P)
    return 2 * J.T @ J


def kronecker_hessian(net: PlainOrResNetMLP, layer: int, X: Tensor) -> Tensor:
    r"""(Q1) in row-major vec: H = 2 sum_i (P_i^T P_i) (x) (z_i z_i^T).

    z_i is the input of layer ``layer`` (N,) and P_i = M_i Q_i (C, N) the local map
    from its pre-activation to the output. Batched over samples (einsum).
    """
    check_finite(X, name="X")
    net = _check_net(net)
    _layer_name(net, layer)
    X = _check_x(net, X, "X")
    p = _params64(net)
    z = X @ p["inp.weight"].T + p["inp.bias"]
    for i in range(layer):
        u = z @ p[f"layers.{i}.weight"].T + p[f"layers.{i}.bias"]
        z = activation_slopes(u, net.act, net.slope) * u + net.eps * z
    zl = z  # (n, N): input of the layer
    u = zl @ p[f"layers.{layer}.weight"].T + p[f"layers.{layer}.bias"]
    q = activation_slopes(u, net.act, net.slope)
    n, N = zl.shape
    z = q * u + net.eps * zl
    A = torch.diag_embed(q)  # (n, N, N): d z^{l+1} / d u_l
    for i in range(layer + 1, len(net.layers)):
        W, b = p[f"layers.{i}.weight"], p[f"layers.{i}.bias"]
        u = z @ W.T + b
        qi = activation_slopes(u, net.act, net.slope)
        z = qi * u + net.eps * z
        A = qi[:, :, None] * (W @ A) + net.eps * A
    P = p["out.weight"] @ A  # (n, C, N)
    PtP = P.transpose(1, 2) @ P  # (n, N, N)
    H = 2 * torch.einsum("iac,ib,id->abcd", PtP, zl, zl)
    return H.reshape(N * N, N * N)


def train_mse(
    net: nn.Module,
    X: Tensor,
    Y: Tensor,
    steps: int,
    lr: float,
    clip: float | None = 10.0,
) -> dict[str, Tensor]:
    """Full-batch SGD on the mean over samples of the summed squared error.

    Loss = mean_i of the squared norm of f(x_i) - y_i (MSE to one-hot targets,
    chapter 07 claim 8), gradient norm clipped at ``clip`` (None: no clipping).
    Trains ``net`` in place.

    Returns:
        dict with ``loss`` (steps + 1,), the loss before each step and after the last.
    """
    check_finite(X, name="X")
    check_finite(Y, name="Y")
    check_batch(X, name="X")
    check_batch(Y, name="Y")
    check_int(steps, name="steps", minimum=0)
    if not isinstance(lr, int | float) or lr <= 0:
        raise ValueError(f"lr: expected a float > 0, got {lr!r}")
    opt = torch.optim.SGD(net.parameters(), lr=float(lr))
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(X) - Y) ** 2).sum(1).mean()
        losses.append(loss.detach())
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
    with torch.no_grad():
        losses.append(((net(X) - Y) ** 2).sum(1).mean())
    return {"loss": torch.stack(losses)}
