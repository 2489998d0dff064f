r"""Information in deterministic networks: Gaussian entropies, MI and push-forwards.

Chapter 04 (what do we maximize in SSL?) follows [shwartzziv2022what,
arXiv:2207.10081v1] and cites its extension [shwartzziv2023information,
arXiv:2303.00633] for what it adds. A deterministic network has no noise, so
I(X; f(X)) is infinite or undefined; the paper models the input as a mixture of
small Gaussians centred on the data points and pushes it through a piecewise-affine
(spline) network, which turns every component into a Gaussian as long as its noise
stays in one linear region. VICReg's terms then read as an information objective:
variance and covariance as a surrogate for the Gaussian entropy H(Z), invariance
as a cross-entropy upper bound on the conditional entropy H(Z | Z'). This module
measures those quantities on embeddings and checks the assumptions behind them.

Equation labels (I1)-(I6) are **the book's** (chapter brief, section Math): the
paper's equation numbers were not recovered, so each docstring says where a
formula is the book's own statement of a standard result.

- (I1) input mixture :math:`x \sim \frac1N \sum_n \mathcal N(x_n, \Sigma_x)`:
  ``sample_input_mixture``.
- (I2) spline push-forward :math:`z \mid n \sim \mathcal N(f(x_n), J_n \Sigma_x
  J_n^\top)`: ``spline_pushforward`` (Jacobians by ``torch.func``, equal to
  ``dltheory.splines.local_affine_map`` on a ReLU MLP), checked on samples by
  ``relative_covariance_error`` (variance-weighted), ``whitened_covariance_error``
  (every direction alike) and, where it breaks, ``fraction_in_anchor_region``.
- (I3) Gaussian (log-det) entropy :math:`H(Z) \le \frac12 \log\det(2\pi e
  \Sigma_Z)`: ``gaussian_entropy``, ``logdet_cov``.
- (I4) mixture entropy bounds :math:`\sum_n \pi_n H(\mathcal N_n) \le H(Z) \le
  \sum_n \pi_n H(\mathcal N_n) + H(\pi)`: ``mixture_entropy_bounds`` (also the
  tighter pairwise bounds of [kolchinsky2017estimating]), and a Monte-Carlo estimate,
  ``mixture_entropy_mc``.
- (I5) :math:`I(Z; Z') = H(Z) - H(Z \mid Z')`, logged term by term during
  training by ``vicreg_information_terms``; the objective VICReg's terms stand
  for, ``entropy_minus_invariance_bound``.
- (I6) Gaussian estimate of the MI between two views: ``gaussian_mi``.

The assumptions of the paper (a narrow, nearly Gaussian conditional p(z | x) over
augmentations; a far-from-Gaussian marginal) are checked with
``conditional_embeddings``, ``gaussianity_tests`` (scipy.stats on random 1-D
projections), ``variance_ratio`` (a trace ratio) and ``within_total_ratios``
(direction by direction). Effective rank is
``dltheory.probes.effective_rank``; the VICReg terms are
``dltheory.losses.vicreg_terms``.

Shapes: ``n`` samples (rows of a batch of embeddings), ``d`` embedding features,
``N`` anchors (mixture components), ``p`` input features, ``S`` samples per anchor,
``k`` augmentations per input. Entropies and mutual informations are in nats.
Numerics: log-determinants, entropies and MI run in float64 on the input's device
(the CPU for MPS, which has no float64) and return float64; they are
differentiable. Every log-det adds a ridge ``eps`` to the matrix it takes the
determinant of (``eps = 0`` is allowed, and then a rank-deficient matrix gives
-inf with a warning).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from scipy import stats
from torch import Tensor, nn
from torch.distributions import MultivariateNormal

from dltheory import losses, probes, splines
from dltheory._checks import (
    check_batch,
    check_choice,
    check_data,
    check_finite,
    check_float,
    check_generator,
    check_int,
    check_positive,
    check_same_shape,
)
from dltheory._linalg import to_float64

BOUNDS = ("simple", "pairwise")
NORMALITY_TESTS = ("normaltest", "shapiro")

_LOG_2PI_E = math.log(2 * math.pi * math.e)
_MC_CHUNK_ELEMENTS = 1 << 22  # samples x components x d per chunk (32 MiB float64)
_PAIR_CHUNK_ELEMENTS = 1 << 22  # pairs x d x d per chunk of the pairwise bounds


# --- Gaussian (log-det) entropy and MI (I3), (I6) ----------------------------------


def _covariance64(z: Tensor) -> Tensor:
    """Unbiased covariance of z (n, d) in float64, shape (d, d)."""
    z = to_float64(z)
    centered = z - z.mean(dim=0)  # (n, d)
    return centered.T @ centered / (z.shape[0] - 1)  # (d, d)


def _correlation(cov: Tensor, *, name: str) -> Tensor:
    """Correlation matrix of a covariance (d, d); ValueError for a constant feature."""
    var = cov.diagonal()  # (d,)
    if bool((var <= 0).any()):
        bad = torch.nonzero(var <= 0).flatten().tolist()
        raise ValueError(
            f"{name}: the correlation is undefined for constant features, got zero "
            f"variance in features {bad[:10]}; use correlation=False"
        )
    inv_std = var.rsqrt()  # (d,)
    return cov * inv_std[:, None] * inv_std[None, :]  # (d, d)


def _logdet(M: Tensor, *, eps: float, n: int, name: str) -> Tensor:
    """The log det of (M + eps I), a symmetric PSD (d, d) matrix; -inf if singular."""
    d = M.shape[0]
    if eps == 0 and n - 1 < d:
        warnings.warn(
            f"{name}: {n} samples give a covariance of rank <= {n - 1} < d = {d}, "
            "so its log det is -inf; use eps > 0 or more samples",
            stacklevel=3,
        )
        return M.new_tensor(-math.inf)  # exact; rounding would give a finite value
    ridged = M + eps * torch.eye(d, dtype=M.dtype, device=M.device)  # (d, d)
    sign, logabsdet = torch.linalg.slogdet(ridged)
    # A PSD matrix has det >= 0; rounding can give a tiny negative one: -inf then.
    return torch.where(sign > 0, logabsdet, logabsdet.new_tensor(-math.inf))


def logdet_cov(z: Tensor, *, eps: float = 1e-6, correlation: bool = False) -> Tensor:
    r"""Log-determinant of the covariance (or correlation) of embeddings, for (I3).

    .. math::
        \log\det(\hat\Sigma_Z + \epsilon I), \qquad
        \hat\Sigma_Z = \frac{1}{n-1} \sum_i (z_i - \bar z)(z_i - \bar z)^\top,

    or, with ``correlation=True``, :math:`\log\det(R + \epsilon I)` for the
    correlation matrix :math:`R = D^{-1/2} \hat\Sigma_Z D^{-1/2}`,
    :math:`D = \operatorname{diag} \hat\Sigma_Z`. The covariance log-det is in log
    squared units of z and shifts by :math:`2 d \log s` when z is scaled by s (an
    untrained network with tiny outputs has a very negative one); the correlation
    log-det is scale-free, at most 0 (Hadamard's inequality), and 0 exactly for
    uncorrelated features. It is the sum of the log-eigenvalues, so the smallest
    eigenvalues dominate it: read it next to the spectrum. ``eps`` is in squared
    units of z for the covariance and dimensionless for the correlation. The
    divisor n - 1 is that of ``dltheory.losses.covariance``.

    Args:
        z: Embeddings, shape (n, d), n >= 2.
        eps: Ridge added to the diagonal, >= 0 (the brief's 1e-6).
        correlation: Take the log-det of the correlation matrix instead.

    Returns:
        Scalar float64 tensor on ``z``'s device (the CPU for MPS); -inf if the
        ridged matrix is singular (only possible with ``eps = 0``).

    Raises:
        TypeError: If ``z`` is not a floating-point tensor or ``eps`` not a number.
        ValueError: If ``z`` is not of shape (n, d) with n >= 2, ``eps < 0``, or
            (with ``correlation``) a feature is constant.
    """
    check_finite(z, name="z")
    check_batch(z, name="z", min_rows=2)
    eps = check_positive(eps, name="eps", strict=False)
    cov = _covariance64(z)  # (d, d)
    if correlation:
        cov = _correlation(cov, name="z")
    return _logdet(cov, eps=eps, n=z.shape[0], name="z")


def gaussian_entropy(z: Tensor, *, eps: float = 1e-6) -> Tensor:
    r"""Gaussian (max-entropy) estimate of H(Z) in nats, (I3) [shwartzziv2022what].

    .. math::
        \hat H_{\rm G}(Z) = \frac12 \log\det\bigl(2\pi e\,(\hat\Sigma_Z +
        \epsilon I)\bigr) = \frac d2 \log(2\pi e) + \frac12
        \log\det(\hat\Sigma_Z + \epsilon I),

    with :math:`\hat\Sigma_Z` the unbiased sample covariance. For any density with
    covariance :math:`\Sigma_Z`, :math:`H(Z) \le \frac12 \log\det(2\pi e
    \Sigma_Z)`, with equality iff Z is Gaussian (the book's (I3), a standard
    result: the Gaussian maximises entropy at fixed covariance). So this is the
    plug-in value of an upper bound, exact for Gaussian data. A differential
    entropy: it can be negative and shifts by :math:`d \log s` under z -> s z.

    Args:
        z: Embeddings, shape (n, d), n >= 2.
        eps: Ridge added to the covariance, >= 0, in squared units of z.

    Returns:
        Scalar float64 tensor (nats) on ``z``'s device (the CPU for MPS).

    Raises:
        TypeError: If ``z`` is not a floating-point tensor or ``eps`` not a number.
        ValueError: If ``z`` is not of shape (n, d) with n >= 2 or ``eps < 0``.
    """
    check_finite(z, name="z")
    check_batch(z, name="z", min_rows=2)
    eps = check_positive(eps, name="eps", strict=False)
    logdet = _logdet(_covariance64(z), eps=eps, n=z.shape[0], name="z")
    return 0.5 * (z.shape[1] * _LOG_2PI_E + logdet)


def gaussian_mi(
    z_a: Tensor, z_b: Tensor, *, eps: float = 1e-6, correlation: bool = True
) -> Tensor:
    r"""Gaussian estimate of I(Z; Z') between two views in nats, (I6).

    .. math::
        \hat I_{\rm G}(Z; Z') = \frac12 \bigl[\log\det C_{11} + \log\det C_{22}
        - \log\det C\bigr], \qquad C = \begin{pmatrix} C_{11} & C_{12} \\ C_{21}
        & C_{22} \end{pmatrix}

    with C the (2d, 2d) sample covariance of the concatenated views
    :math:`(z_i, z'_i)`, :math:`C_{11}, C_{22}` its diagonal blocks [the book's
    (I6); the mutual information of jointly Gaussian vectors, a standard
    result]. Exact for jointly Gaussian (Z, Z'), otherwise the MI of the Gaussian
    with the same second moments (a proxy, not a bound in general). Rows i of
    ``z_a`` and ``z_b`` are the two views of input i.

    ``correlation=True`` (default) uses the correlation matrix R of the
    concatenated views in place of C. At ``eps = 0`` both give the same number
    (the diagonal rescaling cancels between the three determinants), so the
    estimate is invariant to any invertible linear map of each view; with a ridge
    ``eps > 0`` (added to each of the three matrices) the correlation form stays
    invariant to rescaling each feature, whereas the covariance form shrinks to 0
    for embeddings with variances below ``eps`` (an untrained network).

    Estimation bias: from n samples the estimate is biased upward; at I = 0 its
    mean is about :math:`d_a d_b / (2n)` nats (0.86 nats for d = 32 and n = 597),
    so compare values at equal n and d, or use n >> d.

    Args:
        z_a: Embeddings of the first view, shape (n, d), n >= 2.
        z_b: Embeddings of the second view, shape (n, d'), same n and device.
        eps: Ridge added to each matrix, >= 0.
        correlation: Standardise the features first (see above).

    Returns:
        Scalar float64 tensor (nats) on ``z_a``'s device (the CPU for MPS).

    Raises:
        TypeError: If a view is not a floating-point tensor or ``eps`` not a
            number.
        ValueError: If a view is not (n, d) with n >= 2, the numbers of rows
            differ, ``eps < 0``, or (with ``correlation``) a feature is constant.
    """
    check_finite(z_a, name="z_a")
    check_finite(z_b, name="z_b")
    check_batch(z_a, name="z_a", min_rows=2)
    check_batch(z_b, name="z_b", min_rows=2)
    if z_a.shape[0] != z_b.shape[0] or z_a.device != z_b.device:
        raise ValueError(
            "z_a and z_b: expected the same number of rows (paired views) on one "
            f"device, got {z_a.shape[0]} on {z_a.device} and {z_b.shape[0]} on "
            f"{z_b.device}"
        )
    eps = check_positive(eps, name="eps", strict=False)
    n, d = z_a.shape
    joint = torch.cat([to_float64(z_a), to_float64(z_b)], dim=1)  # (n, d + d')
    C = _covariance64(joint)  # (d + d', d + d')
    if correlation:
        C = _correlation(C, name="z_a and z_b")
    logdet_a = _logdet(C[:d, :d], eps=eps, n=n, name="z_a")
    logdet_b = _logdet(C[d:, d:], eps=eps, n=n, name="z_b")
    logdet_joint = _logdet(C, eps=eps, n=n, name="z_a and z_b")
    return 0.5 * (logdet_a + logdet_b - logdet_joint)


def entropy_minus_invariance_bound(
    z_a: Tensor, z_b: Tensor, *, eps: float = 0.0
) -> Tensor:
    r"""The information objective VICReg's terms stand for, in nats (claim 2).

    .. math::
        \hat J(Z; Z') = \hat H_{\rm G}(Z) - \frac d2 \log\Bigl(2\pi e\,
        \frac{\mathbb E\lVert Z - Z'\rVert^2}{d}\Bigr)
        = \frac12 \log\det(\hat\Sigma_Z + \epsilon I) - \frac d2
        \log\frac{\mathbb E\lVert Z - Z'\rVert^2}{d}

    (the book's reading of (I5)): the Gaussian (log-det) entropy (I3), which the
    variance and covariance terms stand for, minus the best isotropic Gaussian
    cross-entropy :math:`-\mathbb E \log \mathcal N(Z; Z', \sigma^2 I)` over
    :math:`\sigma^2`, the upper bound on H(Z | Z') that the invariance term
    controls. Each half over-estimates its entropy, so :math:`\hat J` is not a
    bound on I(Z; Z') in either direction; for Gaussian Z with isotropic view
    noise, :math:`Z' = Z + \sigma E`, it is :math:`\frac12\log\det\Sigma_Z -
    d\log\sigma` (the book's derivation). Scale-free (z -> s z shifts both halves
    by :math:`d \log s`) at ``eps = 0``. The mean squared view distance uses the
    divisor n, the covariance n - 1. Computed in float64.

    Args:
        z_a: Embeddings of the first view, shape (n, d), n >= 2.
        z_b: Embeddings of the second view, same shape.
        eps: Ridge of the log-det, >= 0, in squared units of z.

    Returns:
        Scalar float64 tensor (nats) on ``z_a``'s device (the CPU for MPS).

    Raises:
        TypeError: If a view is not a floating-point tensor.
        ValueError: If the shapes differ or are not (n, d) with n >= 2, ``eps < 0``,
            or the two views are equal (a zero view distance).
    """
    check_finite(z_a, name="z_a")
    check_finite(z_b, name="z_b")
    check_batch(z_a, name="z_a", min_rows=2)
    check_batch(z_b, name="z_b", min_rows=2)
    check_same_shape(z_a, z_b, names=("z_a", "z_b"))
    eps = check_positive(eps, name="eps", strict=False)
    a, b = to_float64(z_a), to_float64(z_b).to(to_float64(z_a).device)
    d = a.shape[1]
    distance = (a - b).pow(2).sum(dim=1).mean()  # E ||z - z'||^2
    if distance.item() == 0:
        raise ValueError(
            "z_a and z_b: expected views that differ, got a zero view distance"
        )
    logdet = _logdet(_covariance64(a), eps=eps, n=a.shape[0], name="z_a")
    return 0.5 * logdet - 0.5 * d * torch.log(distance / d)


# --- The input mixture and its push-forward (I1), (I2) ------------------------------


class Pushforward(NamedTuple):
    """The Gaussian mixture of (I2): one component per anchor x_n."""

    mean: Tensor  # (N, d) f(x_n)
    cov: Tensor  # (N, d, d) J_n Sigma_x J_n^T, float64
    jacobian: Tensor  # (N, d, p) J_n = df/dx at x_n


def _check_sigma(sigma_x: object, p: int, *, like: Tensor) -> Tensor:
    """sigma_x as a float64 (p, p) covariance: a number s gives s^2 I."""
    if isinstance(sigma_x, int | float) and not isinstance(sigma_x, bool):
        s = check_positive(sigma_x, name="sigma_x")
        return s**2 * torch.eye(p, dtype=torch.float64, device=like.device)
    check_float(sigma_x, name="sigma_x")
    if tuple(sigma_x.shape) != (p, p):
        raise ValueError(
            f"sigma_x: expected a number (isotropic std) or a covariance of shape "
            f"({p}, {p}), got shape {tuple(sigma_x.shape)}"
        )
    sigma = to_float64(sigma_x).to(like.device)
    if not torch.allclose(sigma, sigma.T, rtol=1e-6, atol=1e-12):
        raise ValueError("sigma_x: expected a symmetric matrix, got an asymmetric one")
    if bool(torch.linalg.eigvalsh(sigma)[0] < 0):
        raise ValueError(
            "sigma_x: expected a positive semi-definite covariance, got a negative "
            f"eigenvalue {torch.linalg.eigvalsh(sigma)[0].item():.3g}"
        )
    return sigma


def _check_anchors(x_n: object, *, name: str = "x_n") -> Tensor:
    check_batch(x_n, name=name, min_rows=1)
    return x_n


def sample_input_mixture(
    x_n: Tensor,
    sigma_x: float | Tensor,
    *,
    samples: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Samples of the input mixture (I1), ``samples`` per anchor [shwartzziv2022what].

    .. math::
        x \sim \frac1N \sum_{n=1}^{N} \mathcal N(x_n, \Sigma_x)

    drawn stratified: exactly ``samples`` draws :math:`x_n + L \varepsilon`
    (:math:`\Sigma_x = L L^\top`, :math:`\varepsilon \sim \mathcal N(0, I)`) from
    each component, so that row n of the result is component n's sample. Drawn on
    the CPU from ``generator``, then moved to ``x_n``'s device in its dtype.

    Args:
        x_n: Anchors, shape (N, p).
        sigma_x: Isotropic standard deviation s > 0 (:math:`\Sigma_x = s^2 I`), or
            a covariance of shape (p, p), in input units.
        samples: Draws per anchor, S >= 1.
        generator: CPU generator of the noise.

    Returns:
        Tensor of shape (N, S, p).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the shapes disagree, ``sigma_x`` is not a covariance or
            ``samples < 1``.
    """
    check_finite(x_n, name="x_n")
    _check_anchors(x_n)
    check_int(samples, name="samples", minimum=1)
    check_generator(generator)
    N, p = x_n.shape
    sigma = _check_sigma(sigma_x, p, like=torch.empty(0))  # (p, p) on the CPU
    eigvals, V = torch.linalg.eigh(sigma)  # a square root that allows singular PSD
    L = V * eigvals.clamp_min(0).sqrt()  # (p, p), L L^T = sigma_x
    noise = torch.randn(N, samples, p, generator=generator, dtype=torch.float64)
    offsets = noise @ L.T  # (N, S, p)
    return x_n[:, None, :] + offsets.to(x_n.device, x_n.dtype)  # (N, S, p)


def _tensor_output(model: Callable[[Tensor], object], x: Tensor, *, name: str):
    out = model(x)
    if not isinstance(out, Tensor):
        raise TypeError(
            f"{name}: expected a callable returning a tensor (n, d), got "
            f"{type(out).__name__}; for a JointEmbedding pass "
            "nn.Sequential(model.backbone, model.projector) (the embedding z)"
        )
    return out


class _EvalMode:
    """Context: an nn.Module in eval mode (BN with running stats), mode restored."""

    def __init__(self, model: object):
        self.model = model if isinstance(model, nn.Module) else None

    def __enter__(self):
        if self.model is not None:
            self.was_training = self.model.training
            self.model.eval()

    def __exit__(self, *exc):
        if self.model is not None:
            self.model.train(self.was_training)


def spline_pushforward(
    model: Callable[[Tensor], Tensor], x_n: Tensor, sigma_x: float | Tensor
) -> Pushforward:
    r"""Push the input mixture (I1) through a network: component n's Gaussian, (I2).

    [shwartzziv2022what, arXiv:2207.10081v1; the book's (I2)]. A ReLU network is
    continuous piecewise affine: on the region :math:`\omega` containing
    :math:`x_n`, :math:`f(x) = A_\omega x + b_\omega`. If the noise stays in
    :math:`\omega`,

    .. math::
        z \mid n \sim \mathcal N\bigl(f(x_n),\, J_n \Sigma_x J_n^\top\bigr),
        \qquad J_n = \frac{\partial f}{\partial x}(x_n) = A_{\omega_n},

    so the embedding is the Gaussian mixture :math:`p(z) = \frac1N \sum_n
    \mathcal N(z; f(x_n), J_n \Sigma_x J_n^\top)`. The Jacobians come from
    ``torch.func.jacrev`` vectorised over the anchors with ``torch.func.vmap``
    (no loop over points), so any network differentiable at the anchors works
    (batch norm in eval mode included); for a plain ReLU MLP :math:`J_n` equals
    ``dltheory.splines.local_affine_map``'s :math:`A_\omega`. Whether the noise
    does stay in the region is ``fraction_in_anchor_region``'s question. An
    ``nn.Module`` runs in eval mode (batch norm uses its running statistics); its
    mode is restored.

    Args:
        model: Network mapping (n, p) to a tensor (n, d), e.g. an ``nn.Sequential``
            or ``dltheory.models.MLP``; for a ``JointEmbedding`` pass
            ``nn.Sequential(model.backbone, model.projector)``.
        x_n: Anchors, shape (N, p), in the dtype and on the device of the model.
        sigma_x: Isotropic standard deviation s > 0 (:math:`\Sigma_x = s^2 I`) or
            a covariance of shape (p, p), in input units.

    Returns:
        ``Pushforward(mean, cov, jacobian)``: f(x_n) of shape (N, d), the
        covariances :math:`J_n \Sigma_x J_n^\top` of shape (N, d, d) in float64,
        and the Jacobians of shape (N, d, p) in the model's dtype; detached, on
        ``x_n``'s device (``cov`` on the CPU for MPS).

    Raises:
        TypeError: If ``model`` is not callable or does not return a tensor, or
            ``x_n`` is not a floating-point tensor.
        ValueError: If ``x_n`` is not (N, p) or ``sigma_x`` is not a number > 0
            or a (p, p) covariance.
    """
    check_finite(x_n, name="x_n")
    if not callable(model):
        raise TypeError(f"model: expected a callable, got {type(model).__name__}")
    _check_anchors(x_n)
    x_n = x_n.detach()
    p = x_n.shape[1]
    sigma = _check_sigma(sigma_x, p, like=to_float64(x_n[:0]))  # (p, p)

    def f_single(x: Tensor) -> Tensor:  # (p,) -> (d,)
        return model(x[None])[0]

    with _EvalMode(model):
        mean = _tensor_output(model, x_n, name="model").detach()  # (N, d)
        J = torch.func.vmap(torch.func.jacrev(f_single))(x_n).detach()  # (N, d, p)
    J64 = to_float64(J)  # (N, d, p)
    cov = J64 @ sigma @ J64.transpose(1, 2)  # (N, d, d)
    return Pushforward(mean=mean, cov=cov, jacobian=J)


def _sample_and_predicted_covariances(
    z_samples: Tensor, cov: Tensor
) -> tuple[Tensor, Tensor]:
    """Validated (N, S, d) samples and (N, d, d) predictions, as float64 covariances.

    Returns the unbiased sample covariance of each anchor's S outputs, (N, d, d), and
    the predictions in float64 on the samples' device, (N, d, d).
    """
    check_batch(z_samples, name="z_samples", min_rows=1, ndim=3)
    check_batch(cov, name="cov", min_rows=1, ndim=3)
    N, S, d = z_samples.shape
    if S < 2 or tuple(cov.shape) != (N, d, d):
        raise ValueError(
            f"z_samples and cov: expected shapes (N, S, d) with S >= 2 and "
            f"(N, d, d), got {tuple(z_samples.shape)} and {tuple(cov.shape)}"
        )
    z = to_float64(z_samples)
    centered = z - z.mean(dim=1, keepdim=True)  # (N, S, d)
    empirical = centered.transpose(1, 2) @ centered / (S - 1)  # (N, d, d)
    cov = to_float64(cov).to(z.device)
    return empirical, cov


def relative_covariance_error(z_samples: Tensor, cov: Tensor) -> Tensor:
    r"""Relative Frobenius error of predicted covariances against samples, for (I2).

    .. math::
        e_n = \frac{\lVert \hat\Sigma_n - \Sigma_n \rVert_F}
        {\lVert \Sigma_n \rVert_F}

    with :math:`\hat\Sigma_n` the unbiased sample covariance of the S outputs of
    anchor n and :math:`\Sigma_n` the prediction (``Pushforward.cov``). Inside one
    linear region, and for Gaussian noise, :math:`e_n` is sampling error only,
    of order :math:`\sqrt{2/S}`; a noise ball crossing region boundaries adds a
    bias that does not shrink with S. Computed in float64.

    Args:
        z_samples: Outputs for each anchor's noise samples, shape (N, S, d), S >= 2.
        cov: Predicted covariances, shape (N, d, d).

    Returns:
        Float64 tensor of shape (N,) (dimensionless), on ``cov``'s device.

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes do not match or a predicted covariance is 0.
    """
    check_finite(z_samples, name="z_samples")
    check_finite(cov, name="cov")
    empirical, cov = _sample_and_predicted_covariances(z_samples, cov)
    scale = torch.linalg.matrix_norm(cov)  # (N,)
    if bool((scale == 0).any()):
        raise ValueError("cov: expected nonzero predicted covariances, got a zero one")
    return torch.linalg.matrix_norm(empirical - cov) / scale  # (N,)


def whitened_covariance_error(z_samples: Tensor, cov: Tensor) -> Tensor:
    r"""Whitened covariance error of predicted covariances against samples, for (I2).

    .. math::
        w_n = \frac{\lVert \Sigma_n^{-1/2} \hat\Sigma_n \Sigma_n^{-1/2} - I
        \rVert_F}{\sqrt d}

    with :math:`\hat\Sigma_n` the unbiased sample covariance of the S outputs of
    anchor n and :math:`\Sigma_n` the prediction. ``relative_covariance_error``
    weighs the directions by their variance, so it sees only the leading ones
    (its sampling floor implies :math:`(\operatorname{tr}\Sigma)^2 /
    \lVert\Sigma\rVert_F^2` effective directions); the whitened error counts every
    direction of the prediction equally, and a 10 % error in its smallest
    direction shows as much as one in its largest. Exact Gaussian samples give a
    root mean square of :math:`\sqrt{(1 + d)/(S - 1)}` (``covariance_sampling_error``
    of the identity; the book's derivation, the same Wishart moments). It is
    invariant to an invertible linear map applied to both samples and prediction.
    Computed in float64 by an eigendecomposition of each :math:`\Sigma_n`.

    Args:
        z_samples: Outputs for each anchor's noise samples, shape (N, S, d), S >= 2.
        cov: Predicted covariances, shape (N, d, d), positive definite.

    Returns:
        Float64 tensor of shape (N,) (dimensionless), on ``cov``'s device.

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes do not match or a predicted covariance is
            singular (smallest eigenvalue <= 1e-12 times the largest).
    """
    check_finite(z_samples, name="z_samples")
    check_finite(cov, name="cov")
    empirical, cov = _sample_and_predicted_covariances(z_samples, cov)
    d = cov.shape[-1]
    eigvals, U = torch.linalg.eigh(cov)  # (N, d) ascending, (N, d, d)
    if bool((eigvals[:, 0] <= 1e-12 * eigvals[:, -1].clamp_min(0)).any()):
        bad = torch.nonzero(eigvals[:, 0] <= 1e-12 * eigvals[:, -1]).flatten()
        raise ValueError(
            "cov: expected positive definite predicted covariances, got singular "
            f"ones for anchors {bad.tolist()[:10]}"
        )
    inv_sqrt = U * eigvals.rsqrt()[:, None, :] @ U.transpose(1, 2)  # (N, d, d)
    white = inv_sqrt @ empirical @ inv_sqrt  # (N, d, d)
    eye = torch.eye(d, dtype=white.dtype, device=white.device)
    return torch.linalg.matrix_norm(white - eye) / math.sqrt(d)  # (N,)


def in_anchor_region(net: nn.Module, x_n: Tensor, x_samples: Tensor) -> Tensor:
    r"""Which noise samples lie in their anchor's linear region, for (I2).

    The per-sample version of ``fraction_in_anchor_region`` (which is its mean over
    samples): sample s of anchor n is in the region :math:`\omega_n` iff its
    activation pattern q(x) (``dltheory.splines.activation_codes``, (F6)) equals the
    anchor's on every hidden unit. Computed in float64, batched over all samples.

    Args:
        net: A plain ReLU MLP (Linear, ReLU, ..., Linear; see ``dltheory.splines``).
        x_n: Anchors, shape (N, p).
        x_samples: Samples around each anchor, shape (N, S, p).

    Returns:
        Bool tensor of shape (N, S), on the device of ``x_samples`` (the CPU for
        MPS inputs).

    Raises:
        TypeError: If ``net`` is not a ReLU MLP or an input not a float tensor.
        ValueError: If the shapes do not match the net's input width.
    """
    check_finite(x_n, name="x_n")
    check_finite(x_samples, name="x_samples")
    _check_anchors(x_n)
    check_batch(x_samples, name="x_samples", min_rows=1, ndim=3)
    N, p = x_n.shape
    if x_samples.shape[0] != N or x_samples.shape[2] != p:
        raise ValueError(
            f"x_samples: expected shape ({N}, S, {p}) to match x_n {tuple(x_n.shape)}, "
            f"got {tuple(x_samples.shape)}"
        )
    S = x_samples.shape[1]
    anchor_codes = splines.activation_codes(net, x_n)  # (N, U)
    codes = splines.activation_codes(net, x_samples.reshape(N * S, p))  # (N S, U)
    codes = codes.reshape(N, S, -1)  # (N, S, U)
    return (codes == anchor_codes[:, None, :].to(codes.device)).all(dim=2)  # (N, S)


def fraction_in_anchor_region(net: nn.Module, x_n: Tensor, x_samples: Tensor) -> Tensor:
    r"""Fraction of each anchor's noise samples in the anchor's linear region, (I2).

    Where (I2) breaks: the push-forward of :math:`\mathcal N(x_n, \Sigma_x)` is
    Gaussian only if the noise stays in the region :math:`\omega_n` of
    :math:`x_n`, where f is one affine map. A sample shares the region iff its
    activation pattern q(x) (``dltheory.splines.activation_codes``, the
    foundations chapter's (F6)) equals the anchor's on every hidden unit. A
    fraction of 1 means every sample saw the same affine map, hence an exact
    Gaussian push-forward; the fraction falls as :math:`\Sigma_x` grows and the
    noise ball crosses region boundaries. Computed in float64, batched over all
    samples.

    Args:
        net: A plain ReLU MLP (Linear, ReLU, ..., Linear; see
            ``dltheory.splines``).
        x_n: Anchors, shape (N, p).
        x_samples: Samples around each anchor, shape (N, S, p), e.g. from
            ``sample_input_mixture``.

    Returns:
        Float64 tensor of shape (N,), fractions in [0, 1].

    Raises:
        TypeError: If ``net`` is not a ReLU MLP or an input not a float tensor.
        ValueError: If the shapes do not match the net's input width.
    """
    check_finite(x_n, name="x_n")
    check_finite(x_samples, name="x_samples")
    return in_anchor_region(net, x_n, x_samples).to(torch.float64).mean(dim=1)


def covariance_sampling_error(cov: Tensor, samples: int) -> Tensor:
    r"""RMS relative covariance error of exact Gaussian samples, the floor of (I2).

    .. math::
        \sqrt{\mathbb E\, e_n^2} = \sqrt{\frac{1 + (\operatorname{tr}\Sigma_n)^2 /
        \lVert\Sigma_n\rVert_F^2}{S - 1}}

    for :math:`e_n` = ``relative_covariance_error`` of S samples drawn exactly from
    :math:`\mathcal N(\mu_n, \Sigma_n)` (the book's derivation from the Wishart
    moments :math:`\operatorname{Var}\hat\Sigma_{ij} = (\Sigma_{ij}^2 +
    \Sigma_{ii}\Sigma_{jj}) / (S - 1)`). It lies between :math:`\sqrt{2/(S-1)}`
    (rank one) and :math:`\sqrt{(1 + d)/(S-1)}` (isotropic). An error well above it
    is a bias, not sampling noise. Computed in float64.

    Args:
        cov: Covariances, shape (N, d, d), nonzero.
        samples: Samples per component, S >= 2.

    Returns:
        Float64 tensor of shape (N,), dimensionless, on ``cov``'s device.

    Raises:
        TypeError: If ``cov`` is not a floating-point tensor or ``samples`` not an int.
        ValueError: If ``cov`` is not (N, d, d), is zero, or ``samples < 2``.
    """
    check_finite(cov, name="cov")
    check_batch(cov, name="cov", min_rows=1, ndim=3)
    check_int(samples, name="samples", minimum=2)
    if cov.shape[1] != cov.shape[2]:
        raise ValueError(f"cov: expected shape (N, d, d), got {tuple(cov.shape)}")
    cov = to_float64(cov)
    frob2 = torch.linalg.matrix_norm(cov).pow(2)  # (N,)
    if bool((frob2 == 0).any()):
        raise ValueError("cov: expected nonzero covariances, got a zero one")
    trace = cov.diagonal(dim1=-2, dim2=-1).sum(dim=-1)  # (N,)
    return ((1 + trace.pow(2) / frob2) / (samples - 1)).sqrt()  # (N,)


class PushforwardCheck(NamedTuple):
    """(I2) checked on samples at one input covariance: see ``pushforward_check``."""

    pushforward: Pushforward  # the prediction: mean (N, d), cov (N, d, d), jacobian
    x_samples: Tensor  # (N, S, p) input noise samples, row n around anchor n
    z_samples: Tensor  # (N, S, d) their outputs
    in_region: Tensor  # (N, S) bool, sample in its anchor's region
    fraction: Tensor  # (N,) float64, fraction of samples in the region
    error: Tensor  # (N,) float64, relative covariance error against the prediction
    floor: Tensor  # (N,) float64, RMS sampling error of an exact prediction


@torch.no_grad()
def pushforward_check(
    net: nn.Module,
    x_n: Tensor,
    sigma_x: float | Tensor,
    *,
    samples: int,
    generator: torch.Generator | None = None,
) -> PushforwardCheck:
    r"""Check the spline push-forward (I2) on samples, and whether its premise holds.

    [shwartzziv2022what, arXiv:2207.10081v1; the book's claim 04-1.] Predicts
    :math:`z \mid n \sim \mathcal N(f(x_n), J_n \Sigma_x J_n^\top)` with
    ``spline_pushforward``, draws ``samples`` inputs per anchor from (I1) with
    ``sample_input_mixture``, runs them through ``net`` (eval mode, no gradients;
    the mode is restored), and returns, per anchor, the premise (the samples'
    fraction in the anchor's region, ``in_anchor_region``), the conclusion (the
    ``relative_covariance_error`` of the outputs against the prediction) and its
    ``covariance_sampling_error`` floor. Reusing one seed at several ``sigma_x``
    scales the same standard noise (common random numbers): inside one region the
    relative error is then the same at every sigma.

    Args:
        net: A plain ReLU MLP (see ``dltheory.splines``) mapping (n, p) to (n, d).
        x_n: Anchors, shape (N, p), on the net's device and in its dtype.
        sigma_x: Isotropic input std s > 0, or a (p, p) covariance, in input units.
        samples: Draws per anchor, S >= 2.
        generator: CPU generator of the noise.

    Returns:
        A ``PushforwardCheck``; tensors on ``x_n``'s device (float64 statistics).

    Raises:
        TypeError: If ``net`` is not a ReLU MLP or an input has the wrong type.
        ValueError: As ``spline_pushforward`` and ``sample_input_mixture``, or if
            ``samples < 2``.
    """
    check_finite(x_n, name="x_n")
    check_int(samples, name="samples", minimum=2)
    check_generator(generator)
    pf = spline_pushforward(net, x_n, sigma_x)  # mean (N, d), cov (N, d, d)
    x_s = sample_input_mixture(x_n, sigma_x, samples=samples, generator=generator)
    was_training = net.training
    net.eval()
    try:
        z_s = net(x_s.flatten(0, 1)).unflatten(0, x_s.shape[:2])  # (N, S, d)
    finally:
        net.train(was_training)
    inside = in_anchor_region(net, x_n, x_s)  # (N, S)
    return PushforwardCheck(
        pushforward=pf,
        x_samples=x_s,
        z_samples=z_s,
        in_region=inside,
        fraction=inside.to(torch.float64).mean(dim=1),
        error=relative_covariance_error(z_s, pf.cov),
        floor=covariance_sampling_error(pf.cov, samples),
    )


# --- Entropy of a Gaussian mixture (I4) ---------------------------------------------


def _check_mixture(mean: object, cov: object, weights: object):
    check_batch(mean, name="mean", min_rows=1)
    check_batch(cov, name="cov", min_rows=1, ndim=3)
    N, d = mean.shape
    if tuple(cov.shape) != (N, d, d):
        raise ValueError(
            f"cov: expected shape ({N}, {d}, {d}) to match mean {tuple(mean.shape)}, "
            f"got {tuple(cov.shape)}"
        )
    mean64 = to_float64(mean)
    cov64 = to_float64(cov).to(mean64.device)
    if weights is None:
        pi = torch.full((N,), 1.0 / N, dtype=torch.float64, device=mean64.device)
    else:
        check_float(weights, name="weights")
        if tuple(weights.shape) != (N,):
            raise ValueError(
                f"weights: expected shape ({N},), got {tuple(weights.shape)}"
            )
        pi = to_float64(weights).to(mean64.device)
        if bool((pi < 0).any()) or abs(pi.sum().item() - 1.0) > 1e-6:
            raise ValueError(
                "weights: expected nonnegative weights summing to 1, got sum "
                f"{pi.sum().item():.6g} and minimum {pi.min().item():.3g}"
            )
    chol, info = torch.linalg.cholesky_ex(cov64)  # (N, d, d)
    if bool((info != 0).any()):
        bad = torch.nonzero(info).flatten().tolist()
        raise ValueError(
            f"cov: expected positive-definite covariances, got singular or "
            f"indefinite ones for components {bad[:10]} (a Jacobian of rank < d has "
            "no density: add eps * I, or use fewer output dimensions)"
        )
    return mean64, cov64, pi, chol


def _component_entropies(chol: Tensor) -> Tensor:
    """H(N(mu_n, Sigma_n)) in nats from Cholesky factors (N, d, d), shape (N,)."""
    d = chol.shape[-1]
    logdet = 2 * chol.diagonal(dim1=-2, dim2=-1).log().sum(dim=-1)  # (N,)
    return 0.5 * (d * _LOG_2PI_E + logdet)


def _pairwise_log_kernel(mean, cov, chol, *, divergence: str) -> Tensor:
    """-D(p_i || p_j) for all pairs, KL or Bhattacharyya, shape (N, N)."""
    N, d = mean.shape
    logdet = 2 * chol.diagonal(dim1=-2, dim2=-1).log().sum(dim=-1)  # (N,)
    rows = max(1, _PAIR_CHUNK_ELEMENTS // max(1, N * d * d))
    out = []
    for i0 in range(0, N, rows):
        sl = slice(i0, i0 + rows)
        diff = mean[None, :, :] - mean[sl, None, :]  # (r, N, d) mu_j - mu_i
        if divergence == "kl":
            # KL(p_i || p_j) = 1/2 [tr(S_j^-1 S_i) + m^T S_j^-1 m - d + ld_j - ld_i]
            L_j = chol[None].expand(diff.shape[0], N, d, d)  # (r, N, d, d)
            A = torch.linalg.solve_triangular(
                L_j, chol[sl, None].expand(-1, N, d, d), upper=False
            )  # (r, N, d, d) L_j^-1 L_i
            m = torch.linalg.solve_triangular(L_j, diff[..., None], upper=False)
            trace = A.pow(2).sum(dim=(-2, -1))  # (r, N)
            maha = m[..., 0].pow(2).sum(dim=-1)  # (r, N)
            div = 0.5 * (trace + maha - d + logdet[None, :] - logdet[sl, None])
        else:
            # Bhattacharyya: 1/8 m^T S^-1 m + 1/2 log(det S / sqrt(det S_i det S_j))
            S = 0.5 * (cov[sl, None] + cov[None, :])  # (r, N, d, d)
            L = torch.linalg.cholesky(S)  # (r, N, d, d)
            m = torch.linalg.solve_triangular(L, diff[..., None], upper=False)
            maha = m[..., 0].pow(2).sum(dim=-1)  # (r, N)
            logdet_S = 2 * L.diagonal(dim1=-2, dim2=-1).log().sum(dim=-1)  # (r, N)
            div = maha / 8 + 0.5 * (
                logdet_S - 0.5 * (logdet[sl, None] + logdet[None, :])
            )
        out.append(-div)
    return torch.cat(out)  # (N, N)


def mixture_entropy_bounds(
    mean: Tensor,
    cov: Tensor,
    weights: Tensor | None = None,
    *,
    kind: str = "simple",
) -> tuple[Tensor, Tensor]:
    r"""Lower and upper bounds on the entropy of a Gaussian mixture in nats, (I4).

    ``kind="simple"`` is the book's (I4) (a standard result; the lower bound is
    H(Z) >= H(Z | n), the upper one H(Z) <= H(Z, n) = H(n) + H(Z | n)):

    .. math::
        \sum_n \pi_n H(\mathcal N_n) \;\le\; H(Z) \;\le\;
        \sum_n \pi_n H(\mathcal N_n) + H(\pi),

    :math:`H(\mathcal N_n) = \frac12 \log\det(2\pi e \Sigma_n)`, :math:`H(\pi) =
    -\sum_n \pi_n \log \pi_n`. The gap is H(pi) (log N for equal weights),
    whatever the geometry. ``kind="pairwise"`` gives the tighter pairwise-distance
    bounds [kolchinsky2017estimating, arXiv:1706.02419] (Kolchinsky and Tracey,
    Entropy 19(7):361, 2017; not in the paper), with the Bhattacharyya distance BD
    (lower) and the KL divergence (upper):

    .. math::
        \hat H_D = \sum_i \pi_i H(\mathcal N_i) - \sum_i \pi_i \log \sum_j \pi_j
        e^{-D(\mathcal N_i \,\|\, \mathcal N_j)},\qquad
        \hat H_{\rm BD} \le H(Z) \le \hat H_{\rm KL}.

    They lie inside the simple ones, equal H(N_0) for identical components and
    tend to the simple upper bound for well-separated ones. Computed in float64.

    Args:
        mean: Component means, shape (N, d).
        cov: Component covariances, shape (N, d, d), positive definite.
        weights: Mixture weights pi, shape (N,), nonnegative, summing to 1;
            None: 1 / N each.
        kind: ``"simple"`` (the book's (I4)) or ``"pairwise"``.

    Returns:
        ``(lower, upper)``, scalar float64 tensors (nats) on ``mean``'s device
        (the CPU for MPS).

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes disagree, a covariance is not positive
            definite, the weights are not a distribution, or ``kind`` is unknown.
    """
    check_finite(mean, name="mean")
    check_finite(cov, name="cov")
    check_choice(kind, name="kind", choices=BOUNDS)
    mean64, cov64, pi, chol = _check_mixture(mean, cov, weights)
    H_components = (pi * _component_entropies(chol)).sum()
    if kind == "simple":
        H_pi = -(pi * torch.log(pi.clamp_min(1e-300))).sum()  # 0 log 0 = 0
        return H_components, H_components + H_pi
    log_pi = torch.log(pi.clamp_min(1e-300))  # (N,)
    bounds = []
    for divergence in ("bhattacharyya", "kl"):
        log_kernel = _pairwise_log_kernel(mean64, cov64, chol, divergence=divergence)
        inner = torch.logsumexp(log_pi[None, :] + log_kernel, dim=1)  # (N,)
        bounds.append(H_components - (pi * inner).sum())
    return bounds[0], bounds[1]


class MCEstimate(NamedTuple):
    """A Monte-Carlo estimate and its standard error (same units)."""

    value: Tensor
    stderr: Tensor


def mixture_entropy_mc(
    mean: Tensor,
    cov: Tensor,
    weights: Tensor | None = None,
    *,
    samples: int = 10_000,
    generator: torch.Generator | None = None,
) -> MCEstimate:
    r"""Monte-Carlo estimate of the entropy of a Gaussian mixture in nats, for (I4).

    .. math::
        \hat H = -\frac1S \sum_{s=1}^{S} \log p(z_s), \qquad
        p(z) = \sum_n \pi_n \mathcal N(z; \mu_n, \Sigma_n),\quad z_s \sim p,

    unbiased, with standard error :math:`\mathrm{sd}(\log p(z_s)) / \sqrt S`. The
    densities are ``torch.distributions.MultivariateNormal``'s, combined with a
    log-sum-exp over components, in float64 and chunks of samples. Components
    and noise are drawn on the CPU from ``generator``, then moved.

    Args:
        mean: Component means, shape (N, d).
        cov: Component covariances, shape (N, d, d), positive definite.
        weights: Mixture weights, shape (N,); None: 1 / N each.
        samples: Number of samples S >= 2.
        generator: CPU generator of the samples.

    Returns:
        ``MCEstimate(value, stderr)``, scalar float64 tensors (nats) on ``mean``'s
        device (the CPU for MPS).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: As ``mixture_entropy_bounds``, or ``samples < 2``.
    """
    check_finite(mean, name="mean")
    check_finite(cov, name="cov")
    check_int(samples, name="samples", minimum=2)
    check_generator(generator)
    mean64, cov64, pi, chol = _check_mixture(mean, cov, weights)
    N, d = mean64.shape
    device = mean64.device
    idx = torch.multinomial(pi.cpu(), samples, replacement=True, generator=generator)
    noise = torch.randn(samples, d, generator=generator, dtype=torch.float64)
    idx, noise = idx.to(device), noise.to(device)
    z = mean64[idx] + (chol[idx] @ noise[..., None])[..., 0]  # (S, d)
    components = MultivariateNormal(mean64, scale_tril=chol)  # batch (N,)
    log_pi = torch.log(pi.clamp_min(1e-300))  # (N,)
    chunk = max(1, _MC_CHUNK_ELEMENTS // max(1, N * d))
    log_p = torch.cat(
        [
            torch.logsumexp(components.log_prob(zc[:, None, :]) + log_pi, dim=1)
            for zc in z.split(chunk)
        ]
    )  # (S,)
    return MCEstimate(value=-log_p.mean(), stderr=log_p.std() / math.sqrt(samples))


# --- Checking the assumptions on trained embeddings ---------------------------------


@torch.no_grad()
def conditional_embeddings(
    encoder: Callable[[Tensor], Tensor],
    x: Tensor,
    augmentation: Callable[..., Tensor],
    *,
    k: int = 100,
    batch_size: int = 4096,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Embeddings of k augmentations of each input: samples of p(z | x).

    The paper's assumption is that the conditional p(z | x) over augmentations is
    a narrow, nearly Gaussian component of the marginal mixture
    [shwartzziv2022what, arXiv:2207.10081v1; the book's claim 3]. Each input is
    repeated k times, the whole (n k, ...) batch is augmented in one call (each
    copy gets its own draw) and embedded in chunks of ``batch_size``, without
    gradients. An ``nn.Module`` runs in eval mode (batch norm with running
    statistics, so an embedding does not depend on its batch); its mode is
    restored.

    Args:
        encoder: Maps (m, ...) to embeddings (m, d), e.g.
            ``nn.Sequential(model.backbone, model.projector)``.
        x: Inputs, shape (n, ...), n >= 1.
        augmentation: ``aug(x, generator=None)`` returning a batch of x's shape.
        k: Augmentations per input, k >= 2.
        batch_size: Rows per forward pass, >= 1.
        generator: Generator passed to ``augmentation``.

    Returns:
        Tensor of shape (n, k, d), row i holding input i's k embeddings, on the
        encoder's output device.

    Raises:
        TypeError: If ``encoder`` or ``augmentation`` is not callable, ``encoder``
            does not return a tensor, or ``x`` is not a float tensor.
        ValueError: If ``x`` is empty, k < 2 or ``batch_size < 1``.
    """
    check_finite(x, name="x")
    for name, fn in (("encoder", encoder), ("augmentation", augmentation)):
        if not callable(fn):
            raise TypeError(f"{name}: expected a callable, got {type(fn).__name__}")
    check_float(x, name="x")
    if x.dim() < 1 or x.shape[0] < 1:
        raise ValueError(
            f"x: expected shape (n, ...) with n >= 1, got {tuple(x.shape)}"
        )
    check_int(k, name="k", minimum=2)
    check_int(batch_size, name="batch_size", minimum=1)
    check_generator(generator)
    n = x.shape[0]
    repeated = x.repeat_interleave(k, dim=0)  # (n k, ...), input i's copies adjacent
    views = augmentation(repeated, generator=generator)  # (n k, ...)
    with _EvalMode(encoder):
        z = torch.cat(
            [
                _tensor_output(encoder, chunk, name="encoder")
                for chunk in views.split(batch_size)
            ]
        )  # (n k, d)
    return z.reshape(n, k, -1)  # (n, k, d)


def gaussianity_tests(
    samples: Tensor,
    *,
    n_dirs: int = 5,
    test: str = "normaltest",
    shared_directions: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""P-values of normality tests on random 1-D projections of samples.

    Projects the samples on ``n_dirs`` random unit directions :math:`u_j`
    (uniform on the sphere, drawn from ``generator``) and tests each projection
    :math:`u_j^\top z` for normality with scipy.stats: ``"normaltest"``, the
    D'Agostino-Pearson omnibus test of skewness and kurtosis (the brief's choice;
    needs k >= 8 samples, and scipy warns below 20), or ``"shapiro"``,
    Shapiro-Wilk (k >= 3). A Gaussian vector has Gaussian projections, so small
    p-values reject Gaussianity; high p-values only fail to reject it (the power
    grows with k: compare p-values at equal sample sizes). For a batch (n, k, d)
    the same directions serve every row (``shared_directions=True``) or each row
    gets its own draw, in row order (False: use it when the rows overlap, e.g.
    subsets of one pool, so that the p-values do not hinge on a few directions).

    Args:
        samples: Samples, shape (k, d), or a batch of n samples, shape (n, k, d).
        n_dirs: Number of random directions, >= 1.
        test: ``"normaltest"`` or ``"shapiro"``.
        shared_directions: One draw of directions for all rows of an (n, k, d)
            batch (True) or a fresh draw per row (False).
        generator: CPU generator of the directions.

    Returns:
        The p-values (float64, between 0 and 1, on the CPU), shape (n_dirs,) for
        (k, d) input and (n, n_dirs) for (n, k, d) input.

    Raises:
        TypeError: If ``samples`` is not a floating-point tensor.
        ValueError: If ``samples`` is not (k, d) or (n, k, d), has too few
            samples for the test, or ``test`` is unknown.
    """
    check_finite(samples, name="samples")
    check_choice(test, name="test", choices=NORMALITY_TESTS)
    check_int(n_dirs, name="n_dirs", minimum=1)
    check_generator(generator)
    check_float(samples, name="samples")
    if not isinstance(shared_directions, bool):
        raise TypeError(
            "shared_directions: expected a bool, got "
            f"{type(shared_directions).__name__}"
        )
    min_k = 8 if test == "normaltest" else 3
    if samples.dim() not in (2, 3) or samples.shape[-2] < min_k:
        raise ValueError(
            f"samples: expected shape (k, d) or (n, k, d) with k >= {min_k} for "
            f"{test}, got {tuple(samples.shape)}"
        )
    d = samples.shape[-1]
    rows = 1 if shared_directions or samples.dim() == 2 else samples.shape[0]
    dirs = torch.stack(  # (rows, d, n_dirs), drawn row after row
        [
            torch.randn(d, n_dirs, generator=generator, dtype=torch.float64)
            for _ in range(rows)
        ]
    )
    dirs = dirs / dirs.norm(dim=1, keepdim=True)  # unit columns
    z = samples.detach().to("cpu", torch.float64)
    proj = (
        z @ (dirs[0] if rows == 1 else dirs)
    ).numpy()  # (k, n_dirs) or (n, k, n_dirs)
    if test == "normaltest":
        pvalues = stats.normaltest(proj, axis=-2).pvalue  # (n_dirs,) or (n, n_dirs)
    else:
        flat = np.moveaxis(proj, -2, -1).reshape(-1, proj.shape[-2])  # (.., k)
        pvalues = np.array([stats.shapiro(row).pvalue for row in flat]).reshape(
            proj.shape[:-2] + (n_dirs,)
        )
    return torch.as_tensor(pvalues, dtype=torch.float64)


def variance_ratio(cond: Tensor, z_all: Tensor | None = None) -> Tensor:
    r"""Within-input variance over total variance, per input: how narrow p(z|x) is.

    .. math::
        r_i = \frac{\operatorname{tr} \hat\Sigma(Z \mid x_i)}
        {\operatorname{tr} \hat\Sigma(Z)}

    with :math:`\hat\Sigma(Z \mid x_i)` the covariance of input i's k
    augmented embeddings and :math:`\hat\Sigma(Z)` that of the marginal:
    ``z_all`` if given (e.g. one embedding per test input), otherwise all n k
    conditional samples pooled. Both use the biased divisor (k, n k), so with
    the pooled marginal the law of total variance holds exactly:
    :math:`\frac1n \sum_i r_i = 1 - \frac{\text{between-input variance}}
    {\text{total variance}} \in [0, 1]`. The paper's narrow-component assumption
    [shwartzziv2022what] is :math:`r_i \ll 1`; the book's claim 3 reports the
    mean, min and max of :math:`r_i`. Computed in float64.

    Args:
        cond: Conditional samples, shape (n, k, d), k >= 2 (from
            ``conditional_embeddings``).
        z_all: Marginal samples, shape (m, d), m >= 2; None: pool ``cond``.

    Returns:
        Float64 tensor of shape (n,), dimensionless, on ``cond``'s device (the
        CPU for MPS).

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes are wrong or the marginal has zero variance.
    """
    check_finite(cond, name="cond")
    check_batch(cond, name="cond", min_rows=1, ndim=3)
    if cond.shape[1] < 2:
        raise ValueError(
            f"cond: expected shape (n, k, d) with k >= 2, got {tuple(cond.shape)}"
        )
    c = to_float64(cond)
    within = (c - c.mean(dim=1, keepdim=True)).pow(2).mean(dim=1).sum(dim=1)  # (n,)
    if z_all is None:
        marginal = c.reshape(-1, c.shape[2])  # (n k, d)
    else:
        check_batch(z_all, name="z_all", min_rows=2)
        if z_all.shape[1] != c.shape[2]:
            raise ValueError(
                f"z_all: expected {c.shape[2]} features like cond, got shape "
                f"{tuple(z_all.shape)}"
            )
        marginal = to_float64(z_all).to(c.device)
    total = (marginal - marginal.mean(dim=0)).pow(2).mean(dim=0).sum()
    if total.item() == 0:
        raise ValueError("z_all: expected a marginal with nonzero variance, got 0")
    return within / total  # (n,)


class WithinTotal(NamedTuple):
    """Per-direction narrowness of p(z | x): see ``within_total_ratios``."""

    ratios: Tensor  # (d,) float64, generalised eigenvalues, ascending
    directions: Tensor  # (d, d) float64, column j: direction of ratios[j]
    half_logdet: Tensor  # scalar float64, 1/2 log det(S_within S_total^-1), nats
    trace_ratio: Tensor  # scalar float64, tr S_within / tr S_total


def within_total_ratios(cond: Tensor, z_all: Tensor | None = None) -> WithinTotal:
    r"""Within-input against total covariance, direction by direction (claim 3).

    Solves the generalised eigenproblem

    .. math::
        \Sigma_{\rm within}\, v_j = \gamma_j\, \Sigma_{\rm total}\, v_j,
        \qquad \Sigma_{\rm within} = \frac1n \sum_i \hat\Sigma(Z \mid x_i),

    with :math:`\hat\Sigma(Z \mid x_i)` the covariance of input i's k augmented
    embeddings and :math:`\Sigma_{\rm total}` that of the marginal (``z_all``,
    or all n k samples pooled), both with the biased divisor as in
    ``variance_ratio``. :math:`\gamma_j` is the fraction of the variance along
    :math:`v_j` (the direction, in the metric of the marginal) that one input's
    augmentations span: with the pooled marginal :math:`\Sigma_{\rm total} =
    \Sigma_{\rm within} + \Sigma_{\rm between}`, so every :math:`\gamma_j \in
    [0, 1]`, 0 for a direction the augmentations never move and 1 for one that
    carries augmentation noise only. The trace ratio :math:`\operatorname{tr}
    \Sigma_{\rm within} / \operatorname{tr}\Sigma_{\rm total}` (the mean of
    ``variance_ratio`` over inputs with a pooled marginal) is a variance-weighted
    average dominated by the largest directions; the ratios show all of them.
    :math:`\frac12 \log\det(\Sigma_{\rm within}\Sigma_{\rm total}^{-1}) =
    \frac12 \sum_j \log\gamma_j \le 0` is the Gaussian proxy of
    :math:`H(Z \mid x) - H(Z)` (the book's derivation from (I3); minus a
    Gaussian estimate of I(Z; x)). The narrow-component assumption of
    [shwartzziv2022what] is :math:`\gamma_j \ll 1` in every direction. Computed in
    float64 (Cholesky whitening by the total covariance).

    Args:
        cond: Conditional samples, shape (n, k, d), k >= 2.
        z_all: Marginal samples, shape (m, d), m > d; None: pool ``cond``.

    Returns:
        A ``WithinTotal`` on ``cond``'s device (the CPU for MPS).

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes are wrong or the total covariance is singular.
    """
    check_finite(cond, name="cond")
    check_batch(cond, name="cond", min_rows=1, ndim=3)
    if cond.shape[1] < 2:
        raise ValueError(
            f"cond: expected shape (n, k, d) with k >= 2, got {tuple(cond.shape)}"
        )
    c = to_float64(cond)
    n, k, d = c.shape
    centred = c - c.mean(dim=1, keepdim=True)  # (n, k, d)
    within = torch.einsum("nki,nkj->ij", centred, centred) / (n * k)  # (d, d)
    if z_all is None:
        marginal = c.reshape(-1, d)  # (n k, d)
    else:
        check_batch(z_all, name="z_all", min_rows=2)
        if z_all.shape[1] != d:
            raise ValueError(
                f"z_all: expected {d} features like cond, got shape "
                f"{tuple(z_all.shape)}"
            )
        marginal = to_float64(z_all).to(c.device)
    m0 = marginal - marginal.mean(dim=0)  # (m, d)
    total = m0.T @ m0 / marginal.shape[0]  # (d, d)
    L, info = torch.linalg.cholesky_ex(total)  # (d, d)
    if int(info) != 0:
        raise ValueError(
            "z_all: expected a marginal with a nonsingular covariance (m > d samples "
            "spanning all d features), got a singular one"
        )
    white = torch.linalg.solve_triangular(L, within, upper=False)  # L^-1 S_w
    white = torch.linalg.solve_triangular(L, white.T, upper=False)  # L^-1 S_w L^-T
    ratios, V = torch.linalg.eigh(0.5 * (white + white.T))  # (d,), (d, d)
    directions = torch.linalg.solve_triangular(L.T, V, upper=True)  # L^-T V
    directions = directions / directions.norm(dim=0, keepdim=True)
    return WithinTotal(
        ratios=ratios,
        directions=directions,
        half_logdet=0.5 * ratios.clamp_min(0).log().sum(),
        trace_ratio=within.trace() / total.trace(),
    )


def conditional_vs_marginal(
    encoder: Callable[[Tensor], Tensor],
    x: Tensor,
    x_pool: Tensor,
    augmentation: Callable[..., Tensor],
    *,
    k: int = 100,
    repeats: int = 4,
    n_dirs: int = 5,
    generator: torch.Generator | None = None,
    directions_seed: int = 1,
) -> dict[str, Tensor]:
    r"""The chapter's check of the paper's assumptions (claim 3), in one call.

    [shwartzziv2022what, arXiv:2207.10081]: the conditional p(z | x) over
    augmentations should be a narrow, nearly Gaussian component of the marginal
    p(z). Draws k augmented embeddings of each input of ``x``
    (``conditional_embeddings``), a pool of ``repeats`` augmented embeddings of
    each input of ``x_pool`` as samples of the marginal, and for every input one
    subset of k pool samples, so that conditional and marginal are tested at the
    same sample size. Both get ``gaussianity_tests`` with a fresh draw of
    directions per row, from two generators seeded ``directions_seed`` (row i of
    the conditional and of the marginal share their directions), and the
    ``variance_ratio`` of each conditional against the pool.

    Args:
        encoder: Callable mapping inputs (n, ...) to embeddings (n, d), in eval
            mode (e.g. ``nn.Sequential(model.backbone, model.projector)``).
        x: Inputs whose conditionals are sampled, shape (n, ...).
        x_pool: Inputs whose views sample the marginal, shape (N, ...).
        augmentation: ``aug(x, generator=None)``.
        k: Views per input, and the size of each marginal subset (>= 8).
        repeats: Views per pool input, >= 1 (N * repeats >= k).
        n_dirs: Random directions per row of the normality tests.
        generator: CPU generator of the views and of the marginal subsets.
        directions_seed: Seed of the test directions, an int >= 0.

    Returns:
        A dict with ``cond`` (n, k, d), ``pool`` (N repeats, d), ``p_cond`` and
        ``p_marg`` (n, n_dirs) and ``ratio`` (n,).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a size is out of range.
    """
    check_finite(x, name="x")
    check_data(x_pool, name="x_pool")
    check_int(k, name="k", minimum=8)
    check_int(repeats, name="repeats", minimum=1)
    check_int(directions_seed, name="directions_seed", minimum=0)
    if x_pool.shape[0] * repeats < k:
        raise ValueError(
            f"x_pool: expected at least k = {k} pool samples, got "
            f"{x_pool.shape[0]} inputs x {repeats} repeats"
        )
    cond = conditional_embeddings(encoder, x, augmentation, k=k, generator=generator)
    pool = conditional_embeddings(
        encoder, x_pool, augmentation, k=repeats, generator=generator
    ).flatten(0, 1)  # (N * repeats, d)
    rows = torch.stack(  # (n, k): one marginal subset per input
        [torch.randperm(len(pool), generator=generator)[:k] for _ in range(len(cond))]
    )
    marginal = pool[rows.to(pool.device)]  # (n, k, d)

    def pvalues(samples: Tensor) -> Tensor:
        directions = torch.Generator().manual_seed(directions_seed)
        return gaussianity_tests(
            samples, n_dirs=n_dirs, shared_directions=False, generator=directions
        )

    return {
        "cond": cond,
        "pool": pool,
        "p_cond": pvalues(cond),
        "p_marg": pvalues(marginal),
        "ratio": variance_ratio(cond, pool),
    }


def vicreg_information_terms(
    z_a: Tensor, z_b: Tensor, *, eps: float = 1e-6, convention: str = "code"
) -> dict[str, Tensor]:
    r"""VICReg's terms next to the information quantities they stand for, (I5).

    One dict per logging step (``train_ssl(..., log_terms=...)`` takes it):

    - ``invariance``, ``variance``, ``covariance``: the unweighted VICReg terms of
      ``dltheory.losses.vicreg_terms`` (``convention`` as there);
    - ``entropy``: the Gaussian entropy (I3), ``gaussian_entropy``, in nats, the
      mean over the two views;
    - ``logdet_cov``, ``logdet_corr``: ``logdet_cov`` without and with
      ``correlation``, mean over the two views;
    - ``mi``: the Gaussian I(Z; Z') of (I6), ``gaussian_mi`` (correlation form),
      in nats;
    - ``effective_rank``: ``dltheory.probes.effective_rank`` of ``z_a``.

    In the book's reading of (I5), :math:`I(Z; Z') = H(Z) - H(Z \mid Z')`: the
    variance and covariance terms push the log-det entropy up, and the invariance
    term is, up to constants, the cross-entropy :math:`-\mathbb E \log q(Z \mid
    Z')` of a Gaussian :math:`q(z \mid z') = \mathcal N(z', \sigma^2 I)`, an
    upper bound on H(Z | Z') (the book's derivation, a standard variational
    bound).

    Args:
        z_a: Embeddings of the first view, shape (n, d), n >= 2.
        z_b: Embeddings of the second view, shape (n, d).
        eps: Ridge of the log-dets, >= 0.
        convention: ``"code"`` or ``"paper"``, see ``losses.vicreg_terms``.

    Returns:
        A dict of scalar tensors (the VICReg terms in ``z_a``'s dtype, the rest
        float64).

    Raises:
        TypeError: If a view is not a floating-point tensor.
        ValueError: If the shapes are not (n, d) with n >= 2 or differ, or an
            argument is out of range.
    """
    check_finite(z_a, name="z_a")
    check_finite(z_b, name="z_b")
    check_batch(z_a, name="z_a", min_rows=2)
    check_batch(z_b, name="z_b", min_rows=2)
    check_same_shape(z_a, z_b, names=("z_a", "z_b"))
    terms = dict(losses.vicreg_terms(z_a, z_b, convention=convention))
    terms["entropy"] = 0.5 * (
        gaussian_entropy(z_a, eps=eps) + gaussian_entropy(z_b, eps=eps)
    )
    for key, corr in (("logdet_cov", False), ("logdet_corr", True)):
        terms[key] = 0.5 * (
            logdet_cov(z_a, eps=eps, correlation=corr)
            + logdet_cov(z_b, eps=eps, correlation=corr)
        )
    terms["mi"] = gaussian_mi(z_a, z_b, eps=eps)
    terms["effective_rank"] = torch.tensor(
        probes.effective_rank(z_a), dtype=torch.float64
    )
    return terms
