"""Unitary and orthogonal weights trained with rank-k updates: projUNN (chapter 08).

Kiani, Balestriero, LeCun and Lloyd, *projUNN: efficient method for training deep
networks with unitary matrices*, NeurIPS 2022 (arXiv:2203.05483). The official code does
not import at its last commit, so everything here is written from the paper's main text
(Sec. 4). The names follow the paper's *body* (the abstract swaps them):

- projUNN-D (D for direct, Thm 4.2): the closest unitary, in Frobenius norm, to the
  updated matrix, i.e. the polar factor of M = U + A B^H,

  (D1)  D(U, A, B) = M (M^H M)^(-1/2);

- projUNN-T (T for tangent, Thm 4.4): project the update onto the tangent space at U,
  then follow the exponential map,

  (T1)  Pi_U(X) = (X - U X^H U) / 2,
  (T2)  T(U, Delta) = U expm(skew(U^H Delta)),  skew(K) = (K - K^H) / 2,

  computed for Delta = A B^H in O(k n^2) (T3, the low-rank form below).

Both use the rank-2k structure of the update: with A_hat = U^H A and the orthonormal
basis Q (n, 2k) of [A_hat, B] = Q R,

  (D2)  M^H M = I + Q S Q^H,  S = R [[0, I], [I, A^H A]] R^H = V diag(lambda) V^H,
        D = M + (M Q V) diag((1 + lambda)^(-1/2) - 1) (Q V)^H;
  (T3)  skew(A_hat B^H) = Q W Q^H,  W = R [[0, I], [-I, 0]] R^H / 2,
        T = U + (U Q) (expm(W) - I) Q^H.

Every step is an (n, n) x (n, 2k) product or smaller: O(k n^2), against O(n^3) for the
SVD (:func:`polar_project`) and ``matrix_exp`` (:func:`exact_tangent_step`) references.

Functions: :func:`polar_project`, :func:`tangent_project`, :func:`exact_tangent_step`,
:func:`projunn_d`, :func:`projunn_t`, :func:`lowrank_randomized`,
:func:`lowrank_column_sampling`, :func:`orthogonality_error`, :func:`henaff_init_`,
:func:`copy_task_batch`, :func:`copy_baseline` (C1); classes :class:`ProjUNN` (an
optimizer wrapper usable with any model and any torch optimizer) and
:class:`OrthogonalRNN`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from . import runtime
from ._checks import (
    check_choice,
    check_data,
    check_finite,
    check_int,
    check_labels,
    check_tensor,
)

__all__ = [
    "polar_project",
    "tangent_project",
    "exact_tangent_step",
    "projunn_d",
    "projunn_t",
    "lowrank_randomized",
    "lowrank_column_sampling",
    "orthogonality_error",
    "henaff_init_",
    "copy_task_batch",
    "copy_baseline",
    "ProjUNN",
    "OrthogonalRNN",
    "random_orthogonal",
    "learn_rotation",
    "train_copy",
    "permute_pixels",
    "permuted_mnist",
    "train_sequence_classifier",
]


# --- validation -------------------------------------------------------------------


def _check_square(U: object, name: str) -> Tensor:
    check_tensor(U, name=name)
    if not (U.is_floating_point() or U.is_complex()):
        raise TypeError(
            f"{name}: expected a real or complex float tensor, got {U.dtype}"
        )
    if U.dim() < 2 or U.shape[-1] != U.shape[-2]:
        raise ValueError(f"{name}: expected shape (..., n, n), got {tuple(U.shape)}")
    return U


def _check_factors(U: Tensor, A: object, B: object) -> int:
    for name, X in (("A", A), ("B", B)):
        check_tensor(X, name=name)
        if X.dtype != U.dtype:
            raise TypeError(
                f"{name}: expected dtype {U.dtype} (that of U), got {X.dtype}"
            )
        if X.dim() != U.dim() or X.shape[:-1] != U.shape[:-1]:
            raise ValueError(
                f"{name}: expected shape {tuple(U.shape[:-1])} + (k,), "
                f"got {tuple(X.shape)}"
            )
    if A.shape[-1] != B.shape[-1]:
        raise ValueError(
            f"A and B: expected the same rank k, got {A.shape[-1]} and {B.shape[-1]}"
        )
    n, k = U.shape[-1], A.shape[-1]
    if k < 1 or 2 * k > n:
        raise ValueError(
            f"A, B: expected a rank k with 1 <= k <= n / 2 = {n // 2}, got {k}"
        )
    return k


def _eye_like(U: Tensor) -> Tensor:
    return torch.eye(U.shape[-1], dtype=U.dtype, device=U.device)


# --- O(n^3) references ------------------------------------------------------------


def polar_project(M: Tensor) -> Tensor:
    """The closest unitary to ``M`` in Frobenius norm, (D1), by a full SVD: O(n^3).

    M = W Sigma V^H gives W V^H. Shapes: (..., n, n) -> (..., n, n).
    """
    _check_square(M, "M")
    check_finite(M, name="M")  # the SVD syncs anyway; Inf gave a finite answer
    W, _, Vh = torch.linalg.svd(M)
    return W @ Vh


def tangent_project(U: Tensor, X: Tensor) -> Tensor:
    """Orthogonal projection of ``X`` onto the tangent space at unitary ``U``, (T1).

    Pi_U(X) = (X - U X^H U) / 2 = U skew(U^H X).
    Shapes: (..., n, n) twice -> (..., n, n).
    """
    _check_square(U, "U")
    _check_square(X, "X")
    if X.shape != U.shape or X.dtype != U.dtype:
        raise ValueError(
            f"X: expected shape {tuple(U.shape)} and dtype {U.dtype} (those of U), "
            f"got {tuple(X.shape)}, {X.dtype}"
        )
    return (X - U @ X.mH @ U) / 2


def exact_tangent_step(U: Tensor, Delta: Tensor) -> Tensor:
    """U expm(skew(U^H Delta)), (T2), with a full ``matrix_exp``: O(n^3) reference.

    Shapes: (..., n, n) twice -> (..., n, n).
    """
    _check_square(U, "U")
    _check_square(Delta, "Delta")
    if Delta.shape != U.shape or Delta.dtype != U.dtype:
        raise ValueError(
            f"Delta: expected shape {tuple(U.shape)} and dtype {U.dtype}, "
            f"got {tuple(Delta.shape)}, {Delta.dtype}"
        )
    K = U.mH @ Delta
    return U @ torch.linalg.matrix_exp((K - K.mH) / 2)


# --- projUNN in O(k n^2) --------------------------------------------------------------


def _basis(U: Tensor, A: Tensor, B: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    # A_hat = U^H A (..., n, k), computed as (A^H U)^H: the (n, n) x (n, k) product with
    # a transposed U is slow on some CPU BLAS for 2 <= k <= 8 (3.5 ms vs 0.26 ms).
    A_hat = (A.mH @ U).mH
    Q, R = torch.linalg.qr(torch.cat([A_hat, B], dim=-1))  # (..., n, 2k), (..., 2k, 2k)
    return A_hat, Q, R


def _add_lowrank(U: Tensor, X: Tensor, Y: Tensor) -> Tensor:
    # U + X Y^H for thin X, Y (..., n, r), as (U^T + conj(Y) X^T)^T: with U row-major
    # the fused addmm on the transposes is several times faster on CPU BLAS than
    # U + X @ Y^H (0.8 ms vs 10.7 ms at n = 1024, one thread); a transposed view.
    if U.dim() == 2:
        return torch.addmm(U.mT, Y.conj(), X.mT).mT
    return (U.mT + Y.conj() @ X.mT).mT


def _default_tau(dtype: torch.dtype) -> float:
    # Smallest accepted min(1 + lambda) (squared singular value of M in span Q): the
    # orthogonality error of D grows as eps / sigma_min^2.
    return 1e-3 if dtype in (torch.float32, torch.complex64) else 1e-8


def projunn_t(U: Tensor, A: Tensor, B: Tensor) -> Tensor:
    """projUNN-T (Thm 4.4): U expm(skew(U^H A B^H)) in O(k n^2), (T3).

    Args:
        U: (..., n, n) unitary (real orthogonal or complex unitary).
        A: (..., n, k) left factor of the update Delta = A B^H, with 2k <= n.
        B: (..., n, k) right factor.

    Returns:
        (..., n, n), unitary to rounding error; equal to :func:`exact_tangent_step`
        (U, A B^H).
    """
    _check_square(U, "U")
    k = _check_factors(U, A, B)
    _, Q, R = _basis(U, A, B)
    Ik = torch.eye(k, dtype=U.dtype, device=U.device)
    Zk = torch.zeros_like(Ik)
    J = torch.cat([torch.cat([Zk, Ik], -1), torch.cat([-Ik, Zk], -1)], -2) / 2
    W = R @ J @ R.mH  # (..., 2k, 2k), skew-Hermitian: skew(A_hat B^H) = Q W Q^H
    W = (W - W.mH) / 2
    # exp of the small block in double precision: torch's single-precision matrix_exp
    # loses up to ~300 eps of orthogonality (2x2 rotation, angle 0.33-3, worst near
    # 0.58), which a float32 run would otherwise pick up at every large step.
    wide = torch.complex128 if W.is_complex() else torch.float64
    if W.device.type == "mps":  # no float64 there
        wide = W.dtype
    E = torch.linalg.matrix_exp(W.to(wide)).to(U.dtype)
    E = E - torch.eye(2 * k, dtype=U.dtype, device=U.device)
    UQ = (Q.mH @ U.mH).mH  # (..., n, 2k), U Q with a row-major product
    return _add_lowrank(U, UQ @ E, Q)


def projunn_d(
    U: Tensor, A: Tensor, B: Tensor, tau: float | None = None, fallback: bool = True
) -> Tensor:
    """projUNN-D (Thm 4.2): the polar factor of U + A B^H in O(k n^2), (D2).

    Where U + A B^H is (near-)singular, min(1 + lambda) < ``tau``, the projection is
    ill-conditioned (its orthogonality error grows as eps / sigma_min^2): the step falls
    back to :func:`projunn_t` for that matrix (``fallback=True``) or raises ValueError.
    (1 + lambda)^(-1/2) - 1 is computed as expm1(-log1p(lambda) / 2).

    Args:
        U: (..., n, n) unitary.
        A: (..., n, k) left factor of the update, 2k <= n.
        B: (..., n, k) right factor.
        tau: threshold on min(1 + lambda); default 1e-3 in single, 1e-8 in double
            precision.
        fallback: use projUNN-T where the guard trips (else raise ValueError).

    Returns:
        (..., n, n), equal to :func:`polar_project` (U + A B^H) where the guard holds.
    """
    _check_square(U, "U")
    k = _check_factors(U, A, B)
    tau = _default_tau(U.dtype) if tau is None else float(tau)
    if not tau > 0:
        raise ValueError(f"tau: expected a positive float, got {tau}")
    _, Q, R = _basis(U, A, B)
    Ik = torch.eye(k, dtype=U.dtype, device=U.device)
    Zk = torch.zeros_like(Ik)
    AtA = A.mH @ A  # (..., k, k)
    C = torch.cat(
        [
            torch.cat([Zk.expand_as(AtA), Ik.expand_as(AtA)], -1),
            torch.cat([Ik.expand_as(AtA), AtA], -1),
        ],
        -2,
    )
    S = R @ C @ R.mH  # (..., 2k, 2k) Hermitian: M^H M = I + Q S Q^H
    S = (S + S.mH) / 2
    lam, V = torch.linalg.eigh(S)  # (..., 2k), (..., 2k, 2k)
    bad = (1 + lam).amin(-1) < tau  # (...,)
    if bool(bad.any()) and not fallback:
        raise ValueError(
            f"U + A B^H: min(1 + lambda) = {float((1 + lam).amin()):.2e} "
            f"< tau = {tau:.1e} "
            "(near-singular); pass fallback=True to take a projUNN-T step"
        )
    f = torch.expm1(-torch.log1p(lam.clamp_min(tau - 1)) / 2)  # (1 + lam)^(-1/2) - 1
    P = Q @ V.to(Q.dtype)  # (..., n, 2k)
    MP = (P.mH @ U.mH).mH + A @ (B.mH @ P)  # (..., n, 2k): M P, row-major products
    X = torch.cat([A, MP * f.to(P.dtype).unsqueeze(-2)], -1)  # (..., n, k + 2k)
    D = _add_lowrank(U, X, torch.cat([B, P], -1))  # U + A B^H + (M P f) P^H
    if bool(bad.any()):
        T = projunn_t(U, A, B)
        D = torch.where(bad[..., None, None], T, D)
    return D


# --- low-rank approximations of the update -----------------------------------------


def _check_matrix(M: object, k: object, name: str = "M") -> None:
    check_tensor(M, name=name)
    if not (M.is_floating_point() or M.is_complex()):
        raise TypeError(
            f"{name}: expected a real or complex float tensor, got {M.dtype}"
        )
    if not (M.is_floating_point() or M.is_complex()) or M.dim() != 2:
        raise ValueError(
            f"{name}: expected a 2-D real or complex float tensor, got "
            f"{tuple(M.shape)} {M.dtype}"
        )
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= min(M.shape):
        raise ValueError(f"k: expected an int in [1, {min(M.shape)}], got {k!r}")


def lowrank_randomized(
    M: Tensor, k: int, oversample: int = 4, gen: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Rank-k approximation M ~ A B^H by the randomized range finder (Halko et al.).

    Y = M Omega with a Gaussian Omega (m, k + p), Q_Y = orth(Y), then the SVD of
    Q_Y^H M truncated to k (without the truncation the rank would be k + p):
    A = Q_Y U_k Sigma_k, B = V_k. Shapes: M (n, m) -> A (n, k), B (m, k).
    """
    _check_matrix(M, k)
    check_finite(M, name="M")  # the SVD below syncs anyway
    if not isinstance(oversample, int) or oversample < 0:
        raise ValueError(f"oversample: expected an int >= 0, got {oversample!r}")
    n, m = M.shape
    r = min(k + oversample, n, m)
    Omega = torch.randn(m, r, generator=gen, dtype=M.real.dtype, device=M.device)
    if M.is_complex():
        Omega = torch.complex(
            Omega, torch.randn(m, r, generator=gen, dtype=M.real.dtype, device=M.device)
        )
    Qy, _ = torch.linalg.qr((Omega.mT @ M.mT).mT)  # (n, r): M Omega, row-major
    Us, s, Vh = torch.linalg.svd(Qy.mH @ M, full_matrices=False)  # (r, r), (r,), (r, m)
    A = (Qy @ Us[:, :k]) * s[:k].to(M.dtype)  # (n, k)
    return A, Vh[:k].mH


def lowrank_column_sampling(
    M: Tensor, k: int, c: int | None = None, gen: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Rank-k approximation by column sampling (Drineas, Kannan, Mahoney), as the paper.

    Sample c columns (default 2k) with probability proportional to their squared norm,
    rescale by 1 / sqrt(c p_j), take the top-k left singular vectors V of the sample:
    M ~ V (V^H M), A = V (n, k), B = M^H V (m, k).
    """
    _check_matrix(M, k)
    check_finite(M, name="M")  # the column draw below syncs anyway
    c = 2 * k if c is None else c
    if not isinstance(c, int) or c < k:
        raise ValueError(f"c: expected an int >= k = {k}, got {c!r}")
    p = (M.abs() ** 2).sum(0)  # (m,)
    if not float(p.sum()) > 0:
        raise ValueError("M: expected a nonzero matrix")
    p = p / p.sum()
    idx = torch.multinomial(p, c, replacement=True, generator=gen)  # (c,)
    C = M[:, idx] / torch.sqrt(c * p[idx]).to(M.dtype)  # (n, c)
    V = torch.linalg.svd(C, full_matrices=False)[0][:, :k]  # (n, k)
    return V, M.mH @ V


def orthogonality_error(U: Tensor) -> float:
    """Largest absolute entry of U^H U - I (over leading batch dimensions too)."""
    _check_square(U, "U")
    check_finite(U, name="U")
    return float((U.mH @ U - _eye_like(U)).abs().max())


# --- models and the copy task ------------------------------------------------------


def henaff_init_(W: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Henaff et al. (2016) init, in place: 2x2 rotation blocks, angles ~ U[-pi, pi].

    W: (n, n) real with n even; the result is in SO(n). Returns W.
    """
    check_tensor(W, name="W")
    if W.dim() != 2 or W.shape[0] != W.shape[1] or W.shape[0] % 2:
        raise ValueError(
            f"W: expected an (n, n) tensor with n even, got {tuple(W.shape)}"
        )
    if not W.is_floating_point():
        raise TypeError(f"W: expected a real float tensor, got {W.dtype}")
    n = W.shape[0]
    theta = (torch.rand(n // 2, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    c, s = torch.cos(theta), torch.sin(theta)
    blocks = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    with torch.no_grad():
        W.copy_(torch.block_diag(*blocks).to(W.dtype))
    return W


def copy_task_batch(
    B: int, T: int, K: int = 10, n: int = 8, gen: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """A batch of the copy task (Arjovsky et al. 2016; the paper's Sec. 5.1).

    Input tokens (B, T + 2K): K symbols in {1..n}, T - 1 blanks (0), the marker n + 1,
    K blanks. Targets (B, T + 2K): T + K blanks, then the K symbols. Classes 0..n.
    """
    for name, v, lo in (("B", B, 1), ("T", T, 1), ("K", K, 1), ("n", n, 2)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name}: expected an int >= {lo}, got {v!r}")
    L = T + 2 * K
    sym = torch.randint(1, n + 1, (B, K), generator=gen)
    x = torch.zeros(B, L, dtype=torch.long)
    y = torch.zeros(B, L, dtype=torch.long)
    x[:, :K] = sym
    x[:, T + K - 1] = n + 1
    y[:, T + K :] = sym
    return x, y


def copy_baseline(T: int, K: int = 10, n: int = 8) -> float:
    """The memoryless baseline's cross-entropy, (C1): K log(n) / (T + 2K)."""
    for name, v, lo in (("T", T, 1), ("K", K, 1), ("n", n, 2)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name}: expected an int >= {lo}, got {v!r}")
    return K * math.log(n) / (T + 2 * K)


class OrthogonalRNN(nn.Module):
    """h_t = act(V x_t + W h_{t-1}), y_t = readout(h_t); W an (n, n) ``nn.Linear``.

    As the paper's RNN (no recurrent bias). ``W`` is initialised by
    :func:`henaff_init_` (``init="henaff"``) or as a Haar-random orthogonal matrix
    (``"orthogonal"``); keep it orthogonal with :class:`ProjUNN` or torch's
    ``parametrizations.orthogonal`` on ``rnn.W``, or train it unconstrained (the
    vanilla control, same init).
    Input: token ids (B, L) with ``n_in`` classes (one-hot) or floats (B, L, n_in).
    Output: (B, L, n_out). ``fused=True`` runs the recurrence with torch's RNN kernel
    (``torch.rnn_relu``, as ``nn.RNN`` without biases); ``fused=False`` with a Python
    loop over time (the same values to rounding; a readable reference).
    """

    def __init__(
        self,
        n_in: int,
        n_hidden: int,
        n_out: int,
        nonlinearity: str = "relu",
        init: str = "henaff",
        fused: bool = True,
    ):
        super().__init__()
        for name, v in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
            check_int(v, name=name, minimum=1)
        if nonlinearity not in ("relu", "tanh"):
            raise ValueError(
                f"nonlinearity: expected 'relu' or 'tanh', got {nonlinearity!r}"
            )
        if init not in ("henaff", "orthogonal"):
            raise ValueError(f"init: expected 'henaff' or 'orthogonal', got {init!r}")
        if not isinstance(fused, bool):
            raise TypeError(f"fused: expected a bool, got {type(fused).__name__}")
        self.n_in, self.act = n_in, torch.relu if nonlinearity == "relu" else torch.tanh
        self.fused = fused
        self.V = nn.Linear(n_in, n_hidden, bias=False)
        self.W = nn.Linear(n_hidden, n_hidden, bias=False)
        self.readout = nn.Linear(n_hidden, n_out)
        if init == "henaff":
            henaff_init_(self.W.weight.data)
        else:
            nn.init.orthogonal_(self.W.weight)

    def forward(self, x: Tensor) -> Tensor:
        """Token ids (B, L) or inputs (B, L, n_in) -> logits (B, L, n_out)."""
        if not x.is_floating_point():
            x = nn.functional.one_hot(x, self.n_in).float()  # (B, L, n_in)
        if x.dim() != 3 or x.shape[-1] != self.n_in:
            raise ValueError(f"x: expected (B, L, {self.n_in}), got {tuple(x.shape)}")
        W = self.W.weight  # read once per forward (cached parametrizations too)
        # the fused RNN kernel exists on the CPU and CUDA; elsewhere (MPS) the loop
        if self.fused and (x.device.type == "cpu" or runtime.is_cuda(x.device)):
            # torch's own RNN kernel (as nn.RNN without biases): the same recurrence
            # with the loop in C++, about 1.4x faster a training step on one CPU thread
            h0 = x.new_zeros(1, x.shape[0], W.shape[0])  # (layers, B, H)
            rnn = torch.rnn_relu if self.act is torch.relu else torch.rnn_tanh
            hs, _ = rnn(
                x, h0, [self.V.weight, W], False, 1, 0.0, self.training, False, True
            )
            return self.readout(hs)  # hs: (B, L, H)
        u = self.V(x)  # (B, L, H)
        h = u.new_zeros(u.shape[0], W.shape[0])
        hs = []
        for t in range(u.shape[1]):
            h = self.act(u[:, t] + h @ W.T)
            hs.append(h)
        return self.readout(torch.stack(hs, 1))


class ProjUNN:
    """Wrap any torch optimizer so that the listed square weights stay unitary (Sec. 4).

    At each ``step()`` the base optimizer proposes its update for every parameter; for a
    unitary weight U the proposal Delta = U_new - U (the preconditioned, learning-rate
    scaled step, e.g. RMSprop's) is replaced by its rank-k approximation A B^H
    (``approx="randomized"`` or ``"column"``; ``rank=None`` keeps the full Delta and
    uses the O(n^3) references) and mapped back with projUNN-T or projUNN-D.

    Args:
        base: a ``torch.optim.Optimizer`` holding all parameters (give the unitary ones
            their own param group to scale their learning rate, e.g. lr / 32).
        unitary: the (n, n) parameters to keep unitary (must be unitary at the start).
        projector: "T" or "D".
        rank: k, or None for the exact full-rank step.
        approx: "randomized" or "column".
        gen: generator of the random sketches.
    """

    def __init__(
        self,
        base: torch.optim.Optimizer,
        unitary,
        projector: str = "T",
        rank: int | None = 1,
        approx: str = "randomized",
        gen: torch.Generator | None = None,
    ):
        if not isinstance(base, torch.optim.Optimizer):
            raise TypeError(
                f"base: expected a torch.optim.Optimizer, got {type(base).__name__}"
            )
        if projector not in ("T", "D"):
            raise ValueError(f"projector: expected 'T' or 'D', got {projector!r}")
        if approx not in ("randomized", "column"):
            raise ValueError(
                f"approx: expected 'randomized' or 'column', got {approx!r}"
            )
        if rank is not None and (not isinstance(rank, int) or rank < 1):
            raise ValueError(f"rank: expected a positive int or None, got {rank!r}")
        self.unitary = list(unitary)
        for i, p in enumerate(self.unitary):
            _check_square(p, f"unitary[{i}]")
            if p.dim() != 2:
                raise ValueError(
                    f"unitary[{i}]: expected an (n, n) matrix, got {tuple(p.shape)}"
                )
        self.base, self.projector, self.rank, self.approx, self.gen = (
            base,
            projector,
            rank,
            approx,
            gen,
        )
        self.param_groups = base.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the base optimizer's gradients."""
        self.base.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self, closure=None):
        """Base step, then the rank-k projUNN step of every unitary weight."""
        old = [p.detach().clone() for p in self.unitary]
        loss = self.base.step(closure)
        for p, U in zip(self.unitary, old, strict=True):
            Delta = p - U  # (n, n): the base optimizer's proposed step
            if self.rank is None:
                new = (
                    exact_tangent_step(U, Delta)
                    if self.projector == "T"
                    else polar_project(U + Delta)
                )
            else:
                peak = Delta.abs().max()  # one host sync per step, as before
                if not bool(torch.isfinite(peak)):
                    raise ValueError(
                        "ProjUNN: expected a finite step from the base optimizer, "
                        f"got a largest entry of {float(peak)} (a NaN/Inf gradient?)"
                    )
                if not bool(peak > 0):
                    p.copy_(U)
                    continue
                lowrank = (
                    lowrank_randomized
                    if self.approx == "randomized"
                    else lowrank_column_sampling
                )
                A, B = lowrank(Delta, self.rank, gen=self.gen)
                new = (
                    projunn_t(U, A, B) if self.projector == "T" else projunn_d(U, A, B)
                )
            p.copy_(new)
        return loss

    def state_dict(self):
        """The base optimizer's state."""
        return self.base.state_dict()

    def load_state_dict(self, state):
        """Load the base optimizer's state."""
        self.base.load_state_dict(state)


# --- experiments of the chapter ------------------------------------------------------


def random_orthogonal(
    n: int,
    det: int | None = 1,
    dtype: torch.dtype = torch.float64,
    gen: torch.Generator | None = None,
) -> Tensor:
    """A Haar-random (n, n) orthogonal (real dtype) or unitary (complex dtype) matrix.

    QR of a Gaussian with the signs of diag(R) fixed (Mezzadri 2007). For a real dtype
    and ``det=1`` (or -1) the first column is flipped if needed: a real toy needs its
    target in the start's component of O(n), since both updates stay in it.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    if det not in (None, 1, -1):
        raise ValueError(f"det: expected None, 1 or -1, got {det!r}")
    Z = torch.randn(n, n, dtype=dtype, generator=gen)
    Q, R = torch.linalg.qr(Z)
    d = torch.diagonal(R)
    Q = Q * (d / d.abs())
    if det is not None and not Q.is_complex() and float(torch.linalg.det(Q)) * det < 0:
        Q[:, 0] = -Q[:, 0]
    return Q


def learn_rotation(
    U0: Tensor,
    U_tar: Tensor,
    k: int | None,
    steps: int,
    lr: float = 0.02,
    batch: int = 16,
    projector: str = "T",
    direction: str = "gradient",
    gen: torch.Generator | None = None,
    every: int = 50,
) -> tuple[Tensor, list[float]]:
    """The paper's toy (Fig. 2b): learn U_tar from pairs (x, U_tar x) with rank-k steps.

    Loss L = (1/B) sum_b norm(U x_b - U_tar x_b)^2 (not torch's MSELoss), so
    G = (2/B) sum_b r_b x_b^T has rank <= B; the step -lr G is approximated at rank k
    by column sampling (``k=None``: the exact step) and mapped back by projUNN-T or -D.
    ``direction="random"`` replaces the gradient by a random rank-k update of the same
    norm (a control that should not learn).

    Returns:
        the final U (n, n) and norm(U - U_tar)_F^2 every ``every`` steps (from 0).
    """
    _check_square(U0, "U0")
    _check_square(U_tar, "U_tar")
    check_finite(U0, name="U0")
    check_finite(U_tar, name="U_tar")
    check_int(steps, name="steps", minimum=0)
    check_choice(projector, name="projector", choices=("T", "D"))
    if direction not in ("gradient", "random"):
        raise ValueError(
            f"direction: expected 'gradient' or 'random', got {direction!r}"
        )
    U, n, errs = U0.clone(), U0.shape[-1], []
    for step in range(steps + 1):
        if step % every == 0:
            errs.append(float(((U - U_tar).abs() ** 2).sum()))
        if step == steps:
            break
        x = torch.randn(n, batch, dtype=U.dtype, generator=gen)  # (n, B)
        G = 2 / batch * ((U - U_tar) @ x) @ x.mH  # (n, n), rank <= B
        Delta = -lr * G
        if direction == "random":
            A = torch.randn(n, k, dtype=U.dtype, generator=gen)
            Bf = torch.randn(n, k, dtype=U.dtype, generator=gen)
            A = A * (Delta.norm() / (A @ Bf.mH).norm())
        elif k is None:
            U = (
                exact_tangent_step(U, Delta)
                if projector == "T"
                else polar_project(U + Delta)
            )
            continue
        else:
            A, Bf = lowrank_column_sampling(Delta, k, gen=gen)
        U = projunn_t(U, A, Bf) if projector == "T" else projunn_d(U, A, Bf)
    return U, errs


def train_copy(
    model: nn.Module,
    optimizer,
    steps: int,
    T: int,
    K: int = 10,
    n: int = 8,
    batch: int = 64,
    gen: torch.Generator | None = None,
    every: int = 50,
    eval_batches: int = 4,
) -> dict:
    """Train ``model`` on the copy task; cross-entropy over all T + 2K positions.

    ``optimizer`` is a torch optimizer or :class:`ProjUNN`; ``model.W`` may carry a
    torch parametrization (e.g. ``parametrizations.orthogonal`` with the Cayley map),
    evaluated once per step under ``parametrize.cached()``. Every ``every`` steps and
    at the end, the loss on ``eval_batches`` held-out batches (drawn once, from a
    generator seeded apart from ``gen``) is recorded.

    Returns:
        A dict of lists with keys ``step``, ``train`` (every step), ``heldout`` and
        ``orth`` (the orthogonality error of ``model.W.weight``).
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    held = torch.Generator().manual_seed(10_000 + (gen.initial_seed() if gen else 0))
    evals = [copy_task_batch(batch, T, K, n, gen=held) for _ in range(eval_batches)]
    loss_fn = nn.CrossEntropyLoss()
    out = {"step": [], "train": [], "heldout": [], "orth": []}
    train_losses = []

    def evaluate():
        with torch.no_grad():
            return sum(
                float(loss_fn(model(x).flatten(0, 1), y.flatten())) for x, y in evals
            ) / len(evals)

    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            out["step"].append(step)
            out["heldout"].append(evaluate())
            out["orth"].append(orthogonality_error(model.W.weight.detach()))
        if step == steps:
            break
        x, y = copy_task_batch(batch, T, K, n, gen=gen)
        optimizer.zero_grad()
        # cached(): a parametrized W (torch's orthogonal, Cayley or matrix_exp) is
        # computed once per step, not at every access; no effect on plain weights
        with parametrize.cached():
            loss = loss_fn(model(x).flatten(0, 1), y.flatten())
            loss.backward()
        optimizer.step()
        train_losses.append(loss.detach())  # read once, after the loop
    out["train"] = torch.stack(train_losses).tolist() if train_losses else []
    return out


# --- permuted MNIST (the paper's Table 2) ---------------------------------------------


def permute_pixels(x: Tensor, seed: int = 0) -> Tensor:
    """Images as pixel-by-pixel sequences in a fixed random order (permuted MNIST).

    The task of Le et al. (2015) used in the paper's Table 2: each image is read one
    pixel per time step (784 steps for MNIST) in the order of a permutation drawn once
    from ``seed`` (the same for every image, train and test).

    Args:
        x: (N, ...) images, e.g. (N, 1, 28, 28); L = the number of pixels per image.
        seed: seed of the permutation (``torch.randperm`` with its own generator).

    Returns:
        The sequences ``x.reshape(N, L)[:, perm]`` with a trailing feature dimension of
        size 1, shape (N, L, 1).
    """
    check_data(x, name="x")  # TypeError unless float; non-empty, finite
    if x.dim() < 2:
        raise ValueError(
            f"x: expected a tensor of shape (N, ...) with N images, got shape "
            f"{tuple(x.shape)}"
        )
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    flat = x.reshape(x.shape[0], -1)  # (N, L)
    perm = torch.randperm(flat.shape[1], generator=torch.Generator().manual_seed(seed))
    return flat[:, perm.to(flat.device)].unsqueeze(-1)  # (N, L, 1)


def permuted_mnist(
    seed: int = 0, *, root=None, download: bool = False
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Permuted MNIST (the paper's Table 2): 60000 / 10000 sequences of 784 pixels.

    Loads MNIST with :func:`dltheory.data.mnist` (torchvision, opt-in: it downloads
    the four archives only with ``download=True``, and torchvision checks their MD5
    sums; the files are parsed as raw IDX, no pickle) and reads each image pixel by
    pixel in the order of the permutation of ``seed`` (:func:`permute_pixels`).

    Returns:
        x_train (60000, 784, 1), y_train (60000,), x_test (10000, 784, 1),
        y_test (10000,), pixels in [0, 1].

    Raises:
        ImportError: torchvision is not installed (the message says what to install).
        RuntimeError: the files are missing and ``download`` is False (the message
            says where they were looked for); with ``download=True`` torchvision's own
            error when every mirror fails (sockets time out after 60 s, no hang).
    """
    import socket

    from . import data  # torchvision is imported there, only when called

    timeout = socket.getdefaulttimeout()
    if download and timeout is None:  # a dead network fails in a minute, never hangs
        socket.setdefaulttimeout(60)
    try:
        split = data.mnist(root=root, download=download)
    finally:
        socket.setdefaulttimeout(timeout)
    return (
        permute_pixels(split.x_train, seed),
        split.y_train,
        permute_pixels(split.x_test, seed),
        split.y_test,
    )


def train_sequence_classifier(
    model: nn.Module,
    optimizer,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    steps: int,
    batch: int = 128,
    gen: torch.Generator | None = None,
    every: int = 100,
    eval_size: int | None = 2000,
) -> dict:
    """Train a sequence classifier on the label read at the last time step (pMNIST).

    The model maps (B, L, d) to logits (B, L, C) (e.g. :class:`OrthogonalRNN` with
    ``n_in = d``); the loss is the cross-entropy of its last step's logits, as in the
    paper's permuted-MNIST experiment (Table 2). Minibatches are drawn with
    replacement from ``gen``; ``optimizer`` is a torch optimizer or :class:`ProjUNN`,
    and a parametrized ``model.W`` is evaluated once per step (``parametrize.cached``).
    Every ``every`` steps and at the end, the accuracy on the first ``eval_size`` test
    sequences (all with ``None``) is recorded, evaluated in chunks of ``batch``.

    Args:
        model: maps (B, L, d) floats to (B, L, C) logits.
        optimizer: a torch optimizer or :class:`ProjUNN` over ``model``'s parameters.
        x_train: (N, L, d) float training sequences (:func:`permute_pixels`).
        y_train: (N,) int64 training labels.
        x_test: (M, L, d) float test sequences.
        y_test: (M,) int64 test labels.
        steps: number of optimizer steps.
        batch: minibatch size (and evaluation chunk size).
        gen: generator of the minibatch indices.
        every: evaluate every ``every`` steps (and at the end).
        eval_size: number of test sequences evaluated (``None``: all).

    Returns:
        A dict of lists with keys ``step``, ``train`` (loss every step), ``test_acc``
        and ``orth`` (orthogonality error of ``model.W.weight``, if the model has one).
    """
    for name, X in (("x_train", x_train), ("x_test", x_test)):
        check_data(X, name=name, ndim=3)
        check_tensor(X, name=name)
        if X.dim() != 3 or not X.is_floating_point():
            raise ValueError(
                f"{name}: expected float sequences (N, L, d), got {tuple(X.shape)} "
                f"{X.dtype}"
            )
    for name, y, X in (("y_train", y_train, x_train), ("y_test", y_test, x_test)):
        check_labels(y, name=name)
        check_tensor(y, name=name)
        if y.shape != X.shape[:1] or y.dtype != torch.int64:
            raise ValueError(
                f"{name}: expected int64 labels of shape ({X.shape[0]},), got "
                f"{tuple(y.shape)} {y.dtype}"
            )
    for name, v in (("steps", steps), ("batch", batch), ("every", every)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}: expected a positive int, got {v!r}")
    n_eval = len(y_test) if eval_size is None else min(int(eval_size), len(y_test))
    loss_fn = nn.CrossEntropyLoss()
    has_w = isinstance(getattr(model, "W", None), nn.Module)
    out = {"step": [], "train": [], "test_acc": [], "orth": []}
    train_losses = []

    def accuracy():
        model.eval()
        right = 0
        with torch.no_grad(), parametrize.cached():
            for i in range(0, n_eval, batch):
                logits = model(x_test[i : min(i + batch, n_eval)])[:, -1]  # (b, C)
                right += int((logits.argmax(-1) == y_test[i : i + len(logits)]).sum())
        model.train()
        return right / n_eval

    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            out["step"].append(step)
            out["test_acc"].append(accuracy())
            if has_w:
                out["orth"].append(orthogonality_error(model.W.weight.detach()))
        if step == steps:
            break
        idx = torch.randint(len(y_train), (batch,), generator=gen)
        idx = idx.to(x_train.device)
        optimizer.zero_grad()
        with parametrize.cached():
            loss = loss_fn(model(x_train[idx])[:, -1], y_train[idx])
            loss.backward()
        optimizer.step()
        train_losses.append(loss.detach())  # read once, after the loop
    out["train"] = torch.stack(train_losses).tolist() if train_losses else []
    return out
