r"""Pairwise independence: HSIC, the separable random-feature projector, VCReg ICA.

Chapter 03 (VCReg and independence) follows [mialon2022vcreg, arXiv:2209.14905v2]:
decorrelating the output of a projector (VCReg, the variance and covariance terms of
VICReg) acts on the projector's *input* like a kernel independence criterion, the
Hilbert-Schmidt independence criterion (HSIC) [gretton2005hsic], so it makes the
features of the representation pairwise independent and can solve linear ICA. This
module measures pairwise dependence (``hsic``, ``pairwise_hsic``,
``mean_pairwise_hsic``, ``pairwise_hsic_rff``) and mutual dependence (``dhsic``,
[pfister2018kernel]), builds the frozen separable
random-feature projector (``SeparableProjector``) and the covariance penalties on its
output (``cross_block_covariance``, ``within_block_covariance``; the full term is
``dltheory.losses.covariance``), and solves the synthetic ICA problem
(``ica_problem``, ``whiten``, ``vcreg_ica``, the baseline ``fastica``
[hyvarinen1999fastica], scored by ``amari_distance``).

Shapes: ``n`` samples, ``d`` features of the representation h (the projector's
input; the ICA coordinates), ``m`` random features per coordinate, ``D = d * m`` the
projector's output dimension. Column ``j * m + k`` of z is feature k of coordinate
j. Papers' :math:`Z \in \mathbb R^{D \times n}` is our ``(n, D)``.

Equation labels (V1)-(V5) are **the book's** (chapter brief, section Math): the
paper's equation numbers were not recovered, so (V3) in particular is the book's own
derivation, checked numerically, not a theorem quoted from the paper.

- (V1) VCReg :math:`\mu v(Z) + \nu c(Z)`: ``dltheory.losses.vcreg`` (core);
  :math:`c(Z)` is ``dltheory.losses.covariance``.
- (V2) HSIC with Gaussian kernels, biased (V-statistic) :math:`\operatorname{tr}
  (KHLH)/n^2` and unbiased (Song et al., JMLR 13, 2012): ``hsic``, all pairs of
  features at once in ``pairwise_hsic``, by random features in
  ``pairwise_hsic_rff``; bandwidths by ``median_gamma``. Mutual (joint)
  independence of d variables, which pairwise independence does not imply: the
  d-variable HSIC ``dhsic`` [pfister2018kernel], equal to the biased HSIC at d = 2.
- (V3) For the separable projector, :math:`c(Z)` = cross-block part (pairwise HSIC
  of the coordinates under the random-feature kernel) + within-block part (a
  marginal term): ``SeparableProjector``, ``cross_block_covariance``,
  ``within_block_covariance``.
- (V4) A dense isotropic random projector is blind to rotations of white h: over
  the draw of its weights, the covariance term of :math:`z(Rh)` has the law of
  that of :math:`z(h)`, and at large width it concentrates on its mean, whatever
  the rotation R: ``dense_projector`` (chapter 03, notebook 2).
- (V5) Amari distance: ``amari_distance``.

Numerics: HSIC, whitening and the Amari distance run in float64 on the input's
device (the CPU for MPS, which has no float64) and return float64. The ICA solver
trains its rotation in float32 on ``runtime.device()`` (or ``device``) and returns
float64. Cost: O(d^2 n^2) for ``pairwise_hsic`` (d Gram matrices of n x n, chunked
over features to bound memory), O(n d^2 m^2) for ``pairwise_hsic_rff``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from dltheory import kernels, losses, runtime
from dltheory._checks import (
    check_batch,
    check_choice,
    check_finite,
    check_float,
    check_generator,
    check_int,
    check_positive,
)
from dltheory._linalg import fix_signs, to_float64

WHITENINGS = ("pca", "zca")
PENALTIES = ("cross_block", "full")
SOURCE_KINDS = ("laplace", "uniform", "rademacher", "t5")

# Elements of one (c, n, n) block of Gram matrices in pairwise_hsic (float64: 128
# MiB); sets the default number of features per chunk.
_GRAM_BLOCK_ELEMENTS = 2**24
# Side of one (c m, c m) block of the random-feature cross-covariance (128 MiB).
_RFF_BLOCK_SIDE = 4096


# --- HSIC (V2) ---------------------------------------------------------------------


def _as_columns(x: object, *, name: str, min_rows: int) -> Tensor:
    """Accept a sample of shape (n,) or (n, p); return it as (n, p) float64."""
    check_float(x, name=name)
    if x.dim() == 1:
        x = x[:, None]
    if x.dim() != 2 or x.shape[0] < min_rows or x.shape[1] < 1:
        raise ValueError(
            f"{name}: expected shape (n,) or (n, p) with n >= {min_rows}, "
            f"got {tuple(x.shape)}"
        )
    return to_float64(x)


def _median_gamma_rows(x: Tensor, *, name: str = "x") -> float:
    """1 / median of the nonzero squared distances between rows of x (n, p)."""
    dist = torch.pdist(x)  # (n(n-1)/2,) Euclidean distances, i < j
    dist = dist[dist > 0]
    if dist.numel() == 0:  # constant sample: any bandwidth gives HSIC 0
        return 1.0
    median = dist.median().item()  # the median commutes with squaring
    if median**2 == 0 or not math.isfinite(1.0 / median**2):
        # distances below about 1e-154: 1 / median^2 overflows (a NaN kernel)
        raise ValueError(
            f"{name}: expected distances between distinct samples whose squared "
            f"median has a finite inverse in float64, got a median distance of "
            f"{median:.3g}; rescale the sample or pass the bandwidth explicitly"
        )
    return 1.0 / median**2


def median_gamma(h: Tensor) -> Tensor:
    r"""Median-heuristic inverse bandwidth of each feature [gretton2005hsic], (V2).

    .. math::
        \gamma_j = 1 / \sigma_j^2, \qquad \sigma_j^2 = \mathrm{median}
        \{ (h_{aj} - h_{bj})^2 : a < b,\ h_{aj} \neq h_{bj} \}

    for the kernel :math:`k(t, t') = \exp(-\gamma (t - t')^2)` of the book's (V2).
    Unlike ``dltheory.kernels.median_heuristic`` (multivariate, over all pairs) the
    median is taken per feature and over the *nonzero* distances only, so features
    with ties (ReLU outputs, Rademacher sources) keep a finite bandwidth; the two
    agree on a column without ties. ``torch.median`` gives the lower median. A
    constant feature gets :math:`\gamma = 1` (any value: its HSIC is 0).

    Args:
        h: Features, shape (n, d), n >= 2.

    Returns:
        gamma, shape (d,), float64 > 0 on ``h``'s device (the CPU for MPS), in
        inverse squared units of h.

    Raises:
        TypeError: If ``h`` is not a floating-point tensor.
        ValueError: If ``h`` is not of shape (n, d) with n >= 2, or a feature's
            median distance is so small (below about 1e-154) that gamma overflows.
    """
    check_finite(h, name="h")
    check_batch(h, name="h", min_rows=2)
    h = to_float64(h)
    gammas = [
        _median_gamma_rows(h[:, j : j + 1], name=f"h[:, {j}]")
        for j in range(h.shape[1])
    ]
    return torch.tensor(gammas, dtype=torch.float64, device=h.device)  # (d,)


def _check_gamma(gamma: object, *, name: str) -> float | None:
    if gamma is None:
        return None
    return check_positive(gamma, name=name)


def hsic(
    x: Tensor,
    y: Tensor,
    *,
    gamma_x: float | None = None,
    gamma_y: float | None = None,
    unbiased: bool = False,
) -> Tensor:
    r"""Gaussian-kernel HSIC of two samples [gretton2005hsic], the book's (V2).

    With :math:`K_{ab} = \exp(-\gamma_x \lVert x_a - x_b \rVert^2)`, L likewise
    for y, and :math:`H = I - \mathbb 1 \mathbb 1^\top / n`, the biased
    (V-statistic) estimator of (V2) is

    .. math::
        \widehat{\mathrm{HSIC}}_b(x, y) = \frac{1}{n^2} \operatorname{tr}(KHLH),

    and the unbiased one (Song, Smola, Gretton, Bedo, Borgwardt, JMLR 13, 2012,
    the U-statistic), with :math:`\tilde K, \tilde L` the Gram matrices with
    zeroed diagonals,

    .. math::
        \widehat{\mathrm{HSIC}}_u = \frac{1}{n(n-3)} \Bigl[ \operatorname{tr}
        (\tilde K \tilde L) + \frac{\mathbb 1^\top \tilde K \mathbb 1\,
        \mathbb 1^\top \tilde L \mathbb 1}{(n-1)(n-2)} - \frac{2}{n-2}
        \mathbb 1^\top \tilde K \tilde L \mathbb 1 \Bigr].

    Departure: Gretton et al. (2005) divide the biased estimator by
    :math:`(n-1)^2`; we divide by :math:`n^2`, as the chapter's (V2) (multiply
    by :math:`n^2/(n-1)^2` for theirs; normalised HSIC does not change). The
    biased estimator is :math:`\ge 0` and exactly 0 when x or y is constant;
    the unbiased one can be negative and has mean 0 under independence.
    Kernels: ``dltheory.kernels.rbf_kernel``; default bandwidths from
    ``median_gamma`` (median of the nonzero squared distances). Unitless.

    Args:
        x: Sample, shape (n,) or (n, p).
        y: Sample, shape (n,) or (n, q), on ``x``'s device.
        gamma_x: Inverse squared bandwidth > 0 of x's kernel; None: median
            heuristic on x.
        gamma_y: Likewise for y.
        unbiased: Use the unbiased estimator (needs n >= 4).

    Returns:
        Scalar tensor, float64 on ``x``'s device (the CPU for MPS).

    Raises:
        TypeError: If ``x`` or ``y`` is not a floating-point tensor or a gamma
            not a number.
        ValueError: If the shapes disagree, n < 2 (n < 4 when unbiased), a
            gamma <= 0, or a median-heuristic gamma overflows (distances below
            about 1e-154).
    """
    check_finite(x, name="x")
    check_finite(y, name="y")
    min_rows = 4 if unbiased else 2
    x = _as_columns(x, name="x", min_rows=min_rows)
    y = _as_columns(y, name="y", min_rows=min_rows)
    if x.shape[0] != y.shape[0] or x.device != y.device:
        raise ValueError(
            "x and y: expected the same number of samples on one device, got "
            f"{x.shape[0]} on {x.device} and {y.shape[0]} on {y.device}"
        )
    gamma_x = _check_gamma(gamma_x, name="gamma_x") or _median_gamma_rows(x, name="x")
    gamma_y = _check_gamma(gamma_y, name="gamma_y") or _median_gamma_rows(y, name="y")
    n = x.shape[0]
    K = kernels.rbf_kernel(x, x, gamma=gamma_x)  # (n, n)
    L = kernels.rbf_kernel(y, y, gamma=gamma_y)  # (n, n)
    if not unbiased:
        K_c = K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()  # HKH
        return (K_c * L).sum() / n**2  # tr(HKH L) = tr(KHLH)
    K_t = K - torch.diag(K.diagonal())  # (n, n) zero diagonal
    L_t = L - torch.diag(L.diagonal())
    trace = (K_t * L_t).sum()  # tr(K~ L~), both symmetric
    sums = K_t.sum() * L_t.sum() / ((n - 1) * (n - 2))
    cross = 2.0 / (n - 2) * (K_t.sum(1) @ L_t.sum(1))  # 1^T K~ L~ 1
    return (trace + sums - cross) / (n * (n - 3))


def _feature_gammas(h: Tensor, gamma: object) -> Tensor:
    """Per-feature gamma (d,) from None, a number, or a tensor of shape (d,)."""
    d = h.shape[1]
    if gamma is None:
        return median_gamma(h)
    if isinstance(gamma, Tensor):
        if gamma.shape != (d,) or not bool((gamma > 0).all()):
            raise ValueError(
                f"gamma: expected a number > 0 or a positive tensor of shape ({d},), "
                f"got a tensor of shape {tuple(gamma.shape)}"
            )
        return to_float64(gamma).to(h.device)
    value = check_positive(gamma, name="gamma")
    return torch.full((d,), value, dtype=torch.float64, device=h.device)


def _chunks(d: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, d)) for start in range(0, d, size)]


def _grams(h: Tensor, gamma: Tensor, features: slice, *, unbiased: bool) -> Tensor:
    """Gram matrices of a chunk of features, shape (c, n, n).

    Centred (HKH) for the biased estimator, zero-diagonal for the unbiased one.
    """
    K = torch.stack(
        [
            kernels.rbf_kernel(h[:, [j]], h[:, [j]], gamma=gamma[j].item())
            for j in range(h.shape[1])[features]
        ]
    )  # (c, n, n)
    if unbiased:
        return K - torch.diag_embed(K.diagonal(dim1=1, dim2=2))
    return K - K.mean(1, keepdim=True) - K.mean(2, keepdim=True) + K.mean((1, 2), True)


def _normalize(M: Tensor) -> Tensor:
    """M_ij / sqrt(M_ii M_jj), 0 where M_ii <= 0 or M_jj <= 0."""
    diag = M.diagonal()  # (d,)
    scale = torch.where(diag > 0, diag.clamp_min(1e-300).rsqrt(), 0.0)  # (d,)
    return M * scale[:, None] * scale[None, :]


def pairwise_hsic(
    h: Tensor,
    *,
    gamma: float | Tensor | None = None,
    unbiased: bool = False,
    normalized: bool = False,
    chunk_size: int | None = None,
) -> Tensor:
    r"""HSIC between every pair of features of h, (V2) for all pairs at once.

    [gretton2005hsic] via [mialon2022vcreg, arXiv:2209.14905v2]. Entry (i, j) is
    ``hsic(h[:, i], h[:, j])``, with :math:`K_j` the Gram matrix of feature j.
    Biased: :math:`M_{ij} = \langle H K_i H, H K_j H \rangle_F / n^2`, one matrix
    product of the stacked, flattened centred Grams (d, n^2); unbiased (Song et
    al., 2012): the same product of the zero-diagonal Grams plus two rank-one
    corrections built from their row sums. ``normalized=True`` returns

    .. math::
        \frac{\mathrm{HSIC}(h_i, h_j)}{\sqrt{\mathrm{HSIC}(h_i, h_i)\,
        \mathrm{HSIC}(h_j, h_j)}} \in [0, 1] \ \text{(biased)},

    the chapter's normalised HSIC (unit diagonal); a constant feature (HSIC 0 with
    itself) gets 0 in its row and column, not NaN. Features are processed in
    chunks of ``chunk_size`` Gram matrices, so memory is about
    2 * chunk_size * n^2 floats; the time is O(d^2 n^2) either way. Unitless.

    Args:
        h: Features, shape (n, d), n >= 2 (n >= 4 when unbiased).
        gamma: Inverse squared bandwidths: None (``median_gamma`` per feature), a
            number for all features, or a positive tensor of shape (d,).
        unbiased: Use the unbiased estimator.
        normalized: Divide by the square roots of the diagonal.
        chunk_size: Features per chunk, an int >= 1; None: as many as keep one
            chunk under 2^24 floats (128 MiB).

    Returns:
        Symmetric matrix, shape (d, d), float64 on ``h``'s device (the CPU for MPS).

    Raises:
        TypeError: If ``h`` is not a floating-point tensor or ``chunk_size`` not an
            int.
        ValueError: If ``h`` has the wrong shape, or ``gamma`` or ``chunk_size`` is
            out of range.
    """
    check_finite(h, name="h")
    check_batch(h, name="h", min_rows=4 if unbiased else 2)
    h = to_float64(h)
    n, d = h.shape
    gammas = _feature_gammas(h, gamma)  # (d,)
    if chunk_size is None:
        chunk_size = max(1, _GRAM_BLOCK_ELEMENTS // n**2)
    check_int(chunk_size, name="chunk_size", minimum=1)
    blocks = _chunks(d, chunk_size)
    M = torch.empty(d, d, dtype=torch.float64, device=h.device)
    row_sums = torch.empty(d, n, dtype=torch.float64, device=h.device)  # K~ 1
    for bi, rows in enumerate(blocks):
        G_rows = _grams(h, gammas, rows, unbiased=unbiased)  # (c, n, n)
        row_sums[rows] = G_rows.sum(2)
        for cols in blocks[bi:]:
            G_cols = (
                G_rows if cols == rows else _grams(h, gammas, cols, unbiased=unbiased)
            )
            block = (
                G_rows.flatten(1) @ G_cols.flatten(1).T
            )  # (c, c') Frobenius products
            M[rows, cols] = block
            M[cols, rows] = block.T
    if unbiased:
        totals = row_sums.sum(1)  # (d,) 1^T K~ 1
        M = (
            M
            + torch.outer(totals, totals) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * row_sums @ row_sums.T  # (d, d) 1^T K~_i K~_j 1
        ) / (n * (n - 3))
    else:
        M = M / n**2
    return _normalize(M) if normalized else M


def mean_pairwise_hsic(
    h: Tensor,
    *,
    gamma: float | Tensor | None = None,
    unbiased: bool = False,
    normalized: bool = True,
    chunk_size: int | None = None,
) -> Tensor:
    r"""Mean off-diagonal entry of ``pairwise_hsic``, the chapter's Claim 2 score.

    [mialon2022vcreg, arXiv:2209.14905v2], book's (V2):
    :math:`\frac{1}{d(d-1)} \sum_{i \neq j} M_{ij}`, with M the (by default
    normalised) pairwise HSIC matrix; lower means more pairwise independent.
    Note the default ``normalized=True`` (the chapter's measure), unlike
    ``pairwise_hsic``. Unitless.

    Args:
        h: Features, shape (n, d), n >= 2 and d >= 2.
        gamma: As in ``pairwise_hsic``.
        unbiased: As in ``pairwise_hsic``.
        normalized: As in ``pairwise_hsic`` (default True here).
        chunk_size: As in ``pairwise_hsic``.

    Returns:
        Scalar tensor, float64 on ``h``'s device (the CPU for MPS).

    Raises:
        TypeError: As ``pairwise_hsic``.
        ValueError: As ``pairwise_hsic``, or if d < 2.
    """
    check_finite(h, name="h")
    check_batch(h, name="h")
    if h.shape[1] < 2:
        raise ValueError(
            f"h: expected shape (n, d) with d >= 2 features, got {tuple(h.shape)}"
        )
    M = pairwise_hsic(
        h, gamma=gamma, unbiased=unbiased, normalized=normalized, chunk_size=chunk_size
    )  # (d, d)
    off = ~torch.eye(M.shape[0], dtype=torch.bool, device=M.device)
    return M[off].mean()


def _zca_whiten(h: Tensor, *, rtol: float = 1e-8) -> Tensor:
    """ZCA-whiten the columns of h (n, k) in float64, on the retained eigenspace.

    Directions of the covariance with eigenvalue <= ``rtol`` x the largest are
    dropped (the result then has the identity covariance on the others'
    span); returns float64 (n, k) with identity covariance when h has full
    column rank.
    """
    h = to_float64(h)
    h_c = h - h.mean(0)  # (n, k)
    evals, evecs = torch.linalg.eigh(h_c.T @ h_c / (h.shape[0] - 1))  # (k,), (k, k)
    keep = evals > rtol * evals.max()
    U = evecs[:, keep]  # (k, r)
    return h_c @ U @ torch.diag(evals[keep].rsqrt()) @ U.T  # (n, k)


def feature_dependence(
    h: Tensor,
    *,
    n_features: int = 32,
    seed: int = 0,
    unbiased: bool = False,
    whiten: bool = False,
) -> dict[str, float | Tensor]:
    r"""Pairwise dependence of a representation, the chapter's Claims 4 and 5 score.

    [mialon2022vcreg, arXiv:2209.14905v2] (measure: the chapter's). Draw
    :math:`k = \min(n_{\rm features}, d_{\rm alive})` of the non-constant columns of h
    without replacement (``torch.randperm`` with a CPU generator seeded ``seed``, so
    the same representation always gives the same features), then

    .. math::
        \bar H = \frac{1}{k(k-1)} \sum_{i \ne j}
        \frac{\widehat{\rm HSIC}(h_i, h_j)}{\sqrt{\widehat{\rm HSIC}(h_i, h_i)\,
        \widehat{\rm HSIC}(h_j, h_j)}},
        \qquad \overline{|r|} = \frac{1}{k(k-1)} \sum_{i \ne j} |r(h_i, h_j)|,

    with the Gaussian-kernel HSIC of ``pairwise_hsic`` (per-feature median
    bandwidths, biased by default; ``unbiased=True`` for tests) and r the Pearson
    correlation. Lower :math:`\bar H` is more pairwise independent; put
    :math:`\overline{|r|}` next to it, since on SSL representations of the digits
    the two are almost functions of each other (chapter 03, notebook 3). Unitless.

    ``whiten=True`` first ZCA-whitens the k drawn features,
    :math:`\tilde h = (h - \bar h)\, C^{-1/2}` with C their (k, k) covariance
    (directions with eigenvalue below 1e-8 of the largest dropped), so every pair
    is uncorrelated (:math:`\overline{|r|}` about 0) and :math:`\bar H` sees only
    the dependence that is left beyond correlation (the chapter's "whitened
    HSIC"). ZCA keeps each whitened feature as close as possible to its
    original one.

    Args:
        h: Representation, shape (n, d), n >= 4 (the unbiased estimator needs 4).
        n_features: Features to draw, an int >= 2 (default 32, the chapter's).
        seed: Seed of the draw, an int >= 0.
        unbiased: Use the unbiased HSIC estimator (Song et al., 2012).
        whiten: ZCA-whiten the drawn features before scoring them.

    Returns:
        The scores as a dict with ``hsic`` (float, the mean normalised pairwise
        HSIC), ``abs_corr`` (float, the mean absolute correlation of the same
        pairs), ``matrix`` ((k, k) normalised HSIC, float64 on the CPU) and
        ``features`` ((k,) int64 indices of the drawn columns).

    Raises:
        TypeError: If ``h`` is not a floating-point tensor or an option not an int.
        ValueError: If ``h`` is not (n, d) with n >= 4, has fewer than 2
            non-constant columns, or ``n_features`` < 2.
    """
    check_finite(h, name="h")
    check_batch(h, name="h", min_rows=4)
    check_int(n_features, name="n_features", minimum=2)
    check_int(seed, name="seed", minimum=0)
    if not isinstance(whiten, bool):
        raise TypeError(f"whiten: expected a bool, got {type(whiten).__name__}")
    alive = torch.nonzero(h.std(0) > 0).flatten().cpu()  # non-constant columns
    if len(alive) < 2:
        raise ValueError(
            f"h: expected at least 2 non-constant features, got {len(alive)}"
        )
    order = torch.randperm(len(alive), generator=torch.Generator().manual_seed(seed))
    features = alive[order[:n_features]]  # (k,)
    h_k = h[:, features.to(h.device)]  # (n, k)
    if whiten:
        h_k = _zca_whiten(h_k)  # (n, k) float64, uncorrelated columns
    M = pairwise_hsic(h_k, unbiased=unbiased, normalized=True)  # (k, k) float64
    R = torch.corrcoef(h_k.T.to(M.dtype))  # (k, k)
    off = ~torch.eye(len(features), dtype=torch.bool, device=M.device)
    return {
        "hsic": M[off].mean().item(),
        "abs_corr": R[off].abs().mean().item(),
        "matrix": M.cpu(),
        "features": features,
    }


def _dhsic_variables(x: object) -> list[Tensor]:
    """The variables of ``dhsic`` as (n, p_j) float64 tensors."""
    if isinstance(x, Tensor):
        check_batch(x, name="x", min_rows=2)
        variables = [x[:, j : j + 1] for j in range(x.shape[1])]
    elif isinstance(x, list | tuple):
        variables = [
            _as_columns(v, name=f"x[{j}]", min_rows=2) for j, v in enumerate(x)
        ]
    else:
        raise TypeError(
            f"x: expected a tensor (n, d) or a list of tensors, got {type(x).__name__}"
        )
    if len(variables) < 2:
        raise ValueError(f"x: expected d >= 2 variables, got {len(variables)}")
    n, device = variables[0].shape[0], variables[0].device
    for j, v in enumerate(variables):
        if v.shape[0] != n or v.device != device:
            raise ValueError(
                "x: expected every variable with the same number of samples on one "
                f"device, got {n} on {device} for x[0] and {v.shape[0]} on "
                f"{v.device} for x[{j}]"
            )
    return [to_float64(v) for v in variables]


def _dhsic_gammas(variables: list[Tensor], gamma: object) -> list[float]:
    """One inverse squared bandwidth per variable from None, a number or d numbers."""
    d = len(variables)
    if gamma is None:
        return [_median_gamma_rows(v, name=f"x[{j}]") for j, v in enumerate(variables)]
    if isinstance(gamma, Tensor):
        if gamma.dim() != 1 or gamma.is_complex() or gamma.dtype == torch.bool:
            raise ValueError(
                f"gamma: expected a real tensor of shape ({d},), got dtype "
                f"{gamma.dtype} and shape {tuple(gamma.shape)}"
            )
        gamma = gamma.tolist()
    if isinstance(gamma, list | tuple):
        if len(gamma) != d:
            raise ValueError(
                f"gamma: expected {d} values, one per variable, got {len(gamma)}"
            )
        return [check_positive(g, name=f"gamma[{j}]") for j, g in enumerate(gamma)]
    value = check_positive(gamma, name="gamma")
    return [value] * d


def dhsic(
    x: Tensor | list[Tensor] | tuple[Tensor, ...],
    *,
    gamma: float | list[float] | tuple[float, ...] | Tensor | None = None,
) -> Tensor:
    r"""d-variable HSIC, a measure of *mutual* (joint) independence [pfister2018kernel].

    Pfister, Bühlmann, Schölkopf and Peters (JRSS-B 80(1), 2018) extend HSIC
    [gretton2005hsic] from two variables to d: dHSIC is the squared RKHS distance
    between the kernel mean embeddings of the joint law and of the product of the
    marginals, so with characteristic kernels (the Gaussian one) it is 0 if and
    only if :math:`x^1, \dots, x^d` are jointly independent, which pairwise
    independence does not imply. The estimator is their V-statistic, the plug-in
    of the empirical joint law and its empirical marginals (as in the authors' R
    package ``dHSIC``, function ``dhsic``): with :math:`K^j_{ab} = \exp(-\gamma_j
    \lVert x^j_a - x^j_b \rVert^2)`,

    .. math::
        \widehat{\mathrm{dHSIC}} = \frac{1}{n^2} \sum_{a,b} \prod_{j=1}^d K^j_{ab}
        + \prod_{j=1}^d \frac{1}{n^2} \sum_{a,b} K^j_{ab}
        - \frac{2}{n} \sum_{a} \prod_{j=1}^d \frac{1}{n} \sum_{b} K^j_{ab} .

    For d = 2 this is the biased HSIC of ``hsic``, :math:`\operatorname{tr}(KHLH) /
    n^2` (the chapter's (V2)). It is :math:`\ge 0` up to rounding (a squared norm),
    and exactly 0 when the empirical joint law factorises, e.g. on a full grid of
    values. Default bandwidths: the median heuristic of ``hsic``,
    :math:`\gamma_j = 1 / \mathrm{median}` of the nonzero squared distances of
    variable j; the R package's Gaussian kernel, :math:`\exp(-\lVert x - x'
    \rVert^2 / (2 s^2))` with :math:`s^2 = \mathrm{median}/2`, is the same kernel,
    except that it takes the median over all pairs (zeros included, at most 1000
    points). Cost: O(d n^2) time and two n x n matrices of memory (the Gram
    matrices are multiplied in one at a time). Unitless.

    Args:
        x: The d >= 2 variables: a tensor of shape (n, d), one scalar variable
            per column, or a list (or tuple) of d tensors of shape (n,) or
            (n, p_j), one variable each; n >= 2, all on one device.
        gamma: Inverse squared bandwidths: None (median heuristic per variable),
            a number > 0 for every variable, or d numbers > 0 (a list, a tuple or
            a tensor of shape (d,)).

    Returns:
        Scalar tensor, float64 on the device of ``x`` (the CPU for MPS).

    Raises:
        TypeError: If ``x`` is not a floating-point tensor or a list or tuple of
            them, or a gamma is not a number.
        ValueError: If there are fewer than 2 variables, the shapes or devices
            disagree, n < 2, or a gamma is <= 0 or their number is not d.
    """
    variables = _dhsic_variables(x)
    gammas = _dhsic_gammas(variables, gamma)
    n = variables[0].shape[0]
    joint = torch.ones(n, n, dtype=torch.float64, device=variables[0].device)
    row_product = torch.ones(n, dtype=torch.float64, device=joint.device)  # (n,)
    product_of_means = torch.ones((), dtype=torch.float64, device=joint.device)
    for v, g in zip(variables, gammas, strict=True):
        K = kernels.rbf_kernel(v, v, gamma=g)  # (n, n), one variable at a time
        joint = joint * K  # elementwise: the product kernel of the joint law
        row_means = K.mean(1)  # (n,) embedding of the marginal, at each sample
        row_product = row_product * row_means
        product_of_means = product_of_means * row_means.mean()
    return joint.mean() + product_of_means - 2.0 * row_product.mean()


def pairwise_hsic_rff(
    h: Tensor,
    n_features: int = 256,
    *,
    gamma: float | Tensor | None = None,
    normalized: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Pairwise biased HSIC by random Fourier features, O(n d^2 m^2), book's (V2)-(V3).

    [mialon2022vcreg, arXiv:2209.14905v2] with [gretton2005hsic]. Each feature j
    gets its own map :math:`\phi_j(t) \in \mathbb R^m` (``m = n_features``) from
    ``dltheory.kernels.random_fourier_features`` with :math:`\gamma_j`, so
    :math:`\Phi_j \Phi_j^\top \approx K_j`, and

    .. math::
        \widehat{\mathrm{HSIC}}_b(h_i, h_j) \approx \lVert C_{ij} \rVert_F^2,
        \qquad C_{ij} = \frac1n (H\Phi_i)^\top (H \Phi_j) \in \mathbb R^{m\times m},

    the squared Frobenius norm of the (biased) cross-covariance of the features,
    which is exactly :math:`\operatorname{tr}(\hat K_i H \hat K_j H)/n^2` for
    :math:`\hat K = \Phi\Phi^\top`. The error to ``pairwise_hsic`` (same gammas)
    falls like :math:`m^{-1/2}`; no n x n matrix is formed. Features are drawn in
    order j = 0..d-1 from ``generator``.

    Args:
        h: Features, shape (n, d), n >= 2.
        n_features: Random features m per coordinate, an int >= 1.
        gamma: As in ``pairwise_hsic`` (None: ``median_gamma``).
        normalized: Divide by the square roots of the diagonal (as in
            ``pairwise_hsic``).
        generator: Source of randomness; None uses the global one.

    Returns:
        Symmetric matrix, shape (d, d), float64 on ``h``'s device (the CPU for MPS).

    Raises:
        TypeError: If ``h`` is not a floating-point tensor, ``n_features`` not an
            int or ``generator`` not a generator.
        ValueError: If ``h`` has the wrong shape, or ``gamma`` or ``n_features`` is
            out of range.
    """
    check_finite(h, name="h")
    check_batch(h, name="h", min_rows=2)
    check_int(n_features, name="n_features", minimum=1)
    check_generator(generator)
    h = to_float64(h)
    n, d = h.shape
    gammas = _feature_gammas(h, gamma)  # (d,)
    phi = torch.stack(
        [
            kernels.random_fourier_features(
                h[:, [j]], n_features, gamma=gammas[j].item(), generator=generator
            )
            for j in range(d)
        ],
        dim=1,
    )  # (n, d, m)
    phi = phi - phi.mean(0)  # (n, d, m) H Phi_j
    M = torch.empty(d, d, dtype=torch.float64, device=h.device)
    blocks = _chunks(d, max(1, _RFF_BLOCK_SIDE // n_features))
    for bi, rows in enumerate(blocks):
        for cols in blocks[bi:]:
            C = torch.einsum("nia,njb->ijab", phi[:, rows], phi[:, cols]) / n
            block = C.pow(2).sum((2, 3))  # (c, c') ||C_ij||_F^2
            M[rows, cols] = block
            M[cols, rows] = block.T
    return _normalize(M) if normalized else M


# --- Amari distance (V5) -----------------------------------------------------------


def _amari(P: Tensor) -> Tensor:
    """Amari distance of |W A| (..., d, d), batched over leading dims."""
    d = P.shape[-1]
    rows = (P.sum(-1) / P.amax(-1) - 1).sum(-1)  # (...,)
    cols = (P.sum(-2) / P.amax(-2) - 1).sum(-1)
    return (rows + cols) / (2 * d * (d - 1))


def _check_square(M: object, *, name: str) -> Tensor:
    check_float(M, name=name)
    if M.dim() != 2 or M.shape[0] != M.shape[1] or M.shape[0] < 2:
        raise ValueError(
            f"{name}: expected a square matrix of shape (d, d) with d >= 2, "
            f"got {tuple(M.shape)}"
        )
    return to_float64(M)


def amari_distance(W: Tensor, A: Tensor) -> float:
    r"""Amari distance between an unmixing W and a mixing A, the book's (V5).

    For :math:`P = |WA|` (entrywise absolute value),

    .. math::
        d_A(W, A) = \frac{1}{2d(d-1)} \Bigl[ \sum_i \Bigl( \frac{\sum_j
        P_{ij}}{\max_j P_{ij}} - 1 \Bigr) + \sum_j \Bigl( \frac{\sum_i
        P_{ij}}{\max_i P_{ij}} - 1 \Bigr) \Bigr] \in [0, 1]

    (Amari, Cichocki and Yang, NeurIPS 1996, normalised to [0, 1]): 0 exactly when
    WA is a scaled permutation (the sources recovered up to order, sign and
    scale), 1 when every entry of P is equal. Invariant to permuting the rows of
    W or the columns of A and to a common scale; *not* to scaling single rows of
    W away from 0 (the column sums change: ``[[10, 10], [0, 1]]`` gives 0.275,
    ``[[1, 1], [0, 1]]`` 0.5). Compare unmixings whose sources have the same
    scale as the true ones, as here: ``vcreg_ica`` and ``fastica`` both return
    unit-variance sources, and ``ica_problem``'s are standardised. Used with
    [mialon2022vcreg, arXiv:2209.14905v2] and [hyvarinen1999fastica] in Claim 2.
    Unitless.

    Args:
        W: Unmixing matrix, shape (d, d), d >= 2 (recovered sources ``x @ W.T``).
        A: Mixing matrix, shape (d, d) (``x = s @ A.T``), on ``W``'s device.

    Returns:
        The distance, a Python float in [0, 1].

    Raises:
        TypeError: If ``W`` or ``A`` is not a floating-point tensor.
        ValueError: If they are not square of one size, or WA has a zero row or
            column (a singular W).
    """
    check_finite(W, name="W")
    check_finite(A, name="A")
    W = _check_square(W, name="W")
    A = _check_square(A, name="A")
    if W.shape != A.shape:
        raise ValueError(
            f"W and A: expected the same shape (d, d), got {tuple(W.shape)} and "
            f"{tuple(A.shape)}"
        )
    P = (W @ A.to(W.device)).abs()  # (d, d)
    if bool((P.amax(0) == 0).any() or (P.amax(1) == 0).any()):
        raise ValueError("W @ A: expected no zero row or column, got one (singular W)")
    return _amari(P).item()


# --- ICA problem and whitening -----------------------------------------------------


class ICAProblem(NamedTuple):
    """A synthetic linear ICA problem, x = s A^T (see ``ica_problem``)."""

    sources: Tensor  # (n, d) s, standardised independent sources
    mixing: Tensor  # (d, d) A
    x: Tensor  # (n, d) observed mixtures


def _standard_source(kind: str, n: int, generator: torch.Generator | None) -> Tensor:
    """Draw n samples of a standardised non-Gaussian source, float64 (n,)."""
    f64 = torch.float64
    if kind == "laplace":  # inverse CDF, scale 1/sqrt(2): variance 2 b^2 = 1
        u = torch.rand(n, generator=generator, dtype=f64) - 0.5
        return -torch.sign(u) * torch.log1p(-2 * u.abs()) / math.sqrt(2)
    if kind == "uniform":  # U[-sqrt 3, sqrt 3]: variance 1
        return (2 * torch.rand(n, generator=generator, dtype=f64) - 1) * math.sqrt(3)
    if kind == "rademacher":  # +-1
        return 2.0 * torch.randint(0, 2, (n,), generator=generator).to(f64) - 1.0
    # Student t, 5 dof: N / sqrt(chi2_5 / 5) has variance 5/3; rescale to 1.
    z = torch.randn(n, generator=generator, dtype=f64)
    chi2 = torch.randn(n, 5, generator=generator, dtype=f64).pow(2).sum(1)
    return z / torch.sqrt(chi2 / 5) * math.sqrt(3 / 5)


def ica_problem(
    n: int = 5000,
    d: int = 4,
    *,
    kinds: tuple[str, ...] = SOURCE_KINDS,
    generator: torch.Generator | None = None,
) -> ICAProblem:
    r"""Synthetic linear ICA problem of the chapter's Claim 2, :math:`x = s A^\top`.

    [mialon2022vcreg, arXiv:2209.14905v2] (setting: the book's). Source j is of
    kind ``kinds[j % len(kinds)]`` (cycling when d > len(kinds)), standardised in
    population (mean 0, variance 1): Laplace (scale :math:`1/\sqrt2`), uniform on
    :math:`[-\sqrt3, \sqrt3]`, Rademacher (:math:`\pm 1`), Student t with 5 degrees
    of freedom times :math:`\sqrt{3/5}`. The mixing matrix has i.i.d.
    :math:`\mathcal N(0, 1)` entries. Drawn in float64 on the CPU from
    ``generator``: sources column by column, then A.

    Args:
        n: Number of samples, an int >= 2.
        d: Number of sources, an int >= 2.
        kinds: Source kinds, a non-empty tuple of ``"laplace"``, ``"uniform"``,
            ``"rademacher"`` or ``"t5"``.
        generator: Source of randomness; None uses the global one.

    Returns:
        ``ICAProblem(sources (n, d), mixing (d, d), x (n, d))``, float64 on the CPU.

    Raises:
        TypeError: If ``n`` or ``d`` is not an int, ``kinds`` not a tuple or
            ``generator`` not a generator.
        ValueError: If ``n`` or ``d`` < 2, or a kind is unknown.
    """
    check_int(n, name="n", minimum=2)
    check_int(d, name="d", minimum=2)
    check_generator(generator)
    if not isinstance(kinds, tuple) or not kinds:
        raise TypeError(
            f"kinds: expected a non-empty tuple of source kinds, got {kinds!r}"
        )
    for kind in kinds:
        check_choice(kind, name="kinds", choices=SOURCE_KINDS)
    S = torch.stack(
        [_standard_source(kinds[j % len(kinds)], n, generator) for j in range(d)],
        dim=1,
    )  # (n, d)
    A = torch.randn(d, d, generator=generator, dtype=torch.float64)  # (d, d)
    return ICAProblem(sources=S, mixing=A, x=S @ A.T)


def whiten(x: Tensor, *, method: str = "pca") -> tuple[Tensor, Tensor]:
    r"""Whitening by ZCA or PCA, the first step of linear ICA (Claim 2).

    With :math:`\hat\Sigma = U \Lambda U^\top` the unbiased (n - 1) covariance of
    x (eigenvalues descending, eigenvector signs fixed: largest entry > 0),

    .. math::
        x_w = (x - \bar x) W_w^\top, \qquad W_w = \Lambda^{-1/2} U^\top
        \ \text{(PCA)}, \quad W_w = U \Lambda^{-1/2} U^\top \ \text{(ZCA)},

    so that the unbiased covariance of :math:`x_w` is the identity. PCA (the
    default) orders the whitened coordinates by decreasing variance of x, as
    scikit-learn's ``FastICA`` whitens (``K = (u / d).T``, up to signs and the
    n / (n - 1) scale); ZCA is the whitening closest to
    the identity map (symmetric :math:`W_w = \hat\Sigma^{-1/2}`). Any rotation of
    :math:`x_w` is white too: ICA must find it. Float64.

    Args:
        x: Data, shape (n, d), n >= 2 and of full rank d.
        method: ``"pca"`` or ``"zca"``.

    Returns:
        ``(x_w, W_w)``: whitened data, shape (n, d), and the whitening matrix,
        shape (d, d); float64 on ``x``'s device (the CPU for MPS).

    Raises:
        TypeError: If ``x`` is not a floating-point tensor.
        ValueError: If ``x`` is not (n, d) with n >= 2, ``method`` is unknown, or
            the covariance is singular (rank-deficient data cannot be whitened).
    """
    check_finite(x, name="x")
    check_batch(x, name="x", min_rows=2)
    check_choice(method, name="method", choices=WHITENINGS)
    x = to_float64(x)
    x_c = x - x.mean(0)  # (n, d)
    cov = x_c.T @ x_c / (x.shape[0] - 1)  # (d, d)
    lam, U = torch.linalg.eigh(cov)  # ascending
    lam, U = lam.flip(0), fix_signs(U.flip(1))  # descending
    if lam[-1].item() <= lam[0].item() * x.shape[1] * torch.finfo(torch.float64).eps:
        raise ValueError(
            "x: expected data of full rank (a nonsingular covariance), got "
            f"eigenvalues from {lam[0].item():.3g} down to {lam[-1].item():.3g}"
        )
    W_w = lam.rsqrt()[:, None] * U.T  # (d, d) PCA
    if method == "zca":
        W_w = U @ W_w
    return x_c @ W_w.T, W_w


def fastica(
    x: Tensor, *, random_state: int = 0, max_iter: int = 200, tol: float = 1e-4
) -> Tensor:
    r"""FastICA unmixing matrix, the Claim 2 baseline [hyvarinen1999fastica].

    ``sklearn.decomposition.FastICA(whiten="unit-variance")`` with its defaults
    (parallel fixed-point iteration, logcosh contrast), fitted on the CPU in
    float64; returns ``components_``, the unmixing in the coordinates of x:
    recovered sources are :math:`(x - \bar x) W^\top`, scored by
    ``amari_distance(W, A)``.

    Args:
        x: Mixtures, shape (n, d), n >= 2.
        random_state: Seed of FastICA's initial rotation, an int >= 0.
        max_iter: Maximum number of iterations, an int >= 1.
        tol: Convergence tolerance, > 0.

    Returns:
        W, shape (d, d), float64 on the CPU.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor or an option has the
            wrong type.
        ValueError: If ``x`` is not (n, d) with n >= 2, or an option is out of
            range.
    """
    check_finite(x, name="x")
    from sklearn.decomposition import FastICA  # heavy import, only when used

    check_batch(x, name="x", min_rows=2)
    check_int(random_state, name="random_state", minimum=0)
    check_int(max_iter, name="max_iter", minimum=1)
    check_positive(tol, name="tol")
    model = FastICA(
        n_components=x.shape[1],
        whiten="unit-variance",
        random_state=random_state,
        max_iter=max_iter,
        tol=tol,
    )
    model.fit(x.detach().to("cpu", torch.float64).numpy())
    return torch.from_numpy(model.components_.copy())  # (d, d)


# --- separable random-feature projector and VCReg terms (V3) -----------------------


class SeparableProjector(nn.Module):
    r"""Frozen separable random-feature projector, the book's (V3), Claim 1.

    [mialon2022vcreg, arXiv:2209.14905v2] (projector form: the book's). Maps h
    (n, d) to z (n, d m), one random Fourier block per coordinate:

    .. math::
        z_{j,k} = \sqrt 2 \cos(\omega_{jk} h_j + b_{jk}), \qquad
        \omega_{jk} \sim \mathcal N(0, 1/\sigma^2), \quad b_{jk} \sim U[0, 2\pi),

    so :math:`\frac1m \sum_k z_{j,k}(t) z_{j,k}(t') \approx \exp(-(t -
    t')^2 / (2\sigma^2))`, a Gaussian kernel on each coordinate (Bochner). The
    chapter's (V3) writes :math:`\sqrt{2/m}` instead of :math:`\sqrt 2`: the
    covariance terms differ by the constant :math:`m^2`, which Adam ignores.
    Column ``j * m + k`` of z is :math:`z_{j,k}`. No trainable parameters:
    :math:`\omega` and b are buffers, drawn in float64 on the CPU from
    ``generator`` (:math:`\omega` then b) and stored in float32; move with
    ``.to(device)``. ``forward`` computes in the dtype of h.

    Args:
        d: Number of input coordinates, an int >= 1.
        m: Random features per coordinate, an int >= 1 (default 32, the
            chapter's).
        sigma: Kernel bandwidth :math:`\sigma > 0` in units of h (default 2, the
            chapter's).
        generator: Source of randomness; None uses the global one.

    Buffers: ``omega`` (d, m), ``b`` (d, m).

    Raises:
        TypeError: If ``d`` or ``m`` is not an int, ``sigma`` not a number or
            ``generator`` not a generator.
        ValueError: If ``d`` or ``m`` < 1 or ``sigma`` <= 0.
    """

    omega: Tensor
    b: Tensor

    def __init__(
        self,
        d: int,
        m: int = 32,
        *,
        sigma: float = 2.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int(d, name="d", minimum=1)
        check_int(m, name="m", minimum=1)
        sigma = check_positive(sigma, name="sigma")
        check_generator(generator)
        self.d, self.m, self.sigma = d, m, sigma
        omega = torch.randn(d, m, generator=generator, dtype=torch.float64) / sigma
        b = 2 * math.pi * torch.rand(d, m, generator=generator, dtype=torch.float64)
        self.register_buffer("omega", omega.float())  # (d, m)
        self.register_buffer("b", b.float())  # (d, m)

    def forward(self, h: Tensor) -> Tensor:
        """Project h (n, d) to z (n, d * m), the book's (V3).

        Args:
            h: Representation, shape (n, d), on the buffers' device.

        Returns:
            z, shape (n, d * m), in the dtype of ``h``.

        Raises:
            TypeError: If ``h`` is not a floating-point tensor.
            ValueError: If ``h`` is not of shape (n, d).
        """
        check_batch(h, name="h")
        if h.shape[1] != self.d:
            raise ValueError(f"h: expected shape (n, {self.d}), got {tuple(h.shape)}")
        omega, b = self.omega.to(h.dtype), self.b.to(h.dtype)
        z = math.sqrt(2.0) * torch.cos(h[:, :, None] * omega + b)  # (n, d, m)
        return z.flatten(1)  # (n, d * m)

    def extra_repr(self) -> str:
        """Sizes and bandwidth, for ``print(module)``."""
        return f"d={self.d}, m={self.m}, sigma={self.sigma}"


def dense_projector(
    d: int,
    width: int = 128,
    *,
    sigma: float = 2.0,
    relu: bool = True,
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    r"""Frozen dense random MLP projector d -> width -> width, the book's (V4).

    [mialon2022vcreg, arXiv:2209.14905v2] (projector form: the book's; VICReg's
    projector shape [bardes2022vicreg] with random, frozen weights):

    .. math::
        z = W_2\, \mathrm{relu}(W_1 h + b_1), \qquad (W_1)_{ij} \sim
        \mathcal N(0, 1/\sigma^2), \ (b_1)_i \sim \mathcal N(0, 1), \
        (W_2)_{ij} \sim \mathcal N(0, 1/\mathrm{width}),

    no output bias. The rows of :math:`W_1` are isotropic, so the law of z(Rh) is
    the law of z(h) for any rotation R: as the width grows, VCReg's covariance term
    on z cannot single out a rotation of white h (the book's (V4)). ``relu=False``
    drops the ReLU: z is then affine in h, :math:`C(z) = M C(h) M^\top` with
    :math:`M = W_2 W_1`, constant over rotations of white h (the "linear
    projector"). ``sigma`` sets the input scale relative to the unit bias (for the
    ReLU, where the kinks fall); it has no effect when ``relu=False`` (up to the
    overall scale, which Adam ignores). Drawn in float32 on the CPU from
    ``generator`` (:math:`W_1`, :math:`b_1`, then :math:`W_2`); every parameter has
    ``requires_grad=False``.

    Args:
        d: Input dimension, an int >= 1.
        width: Hidden and output width, an int >= 1 (default 128 = 4 x 32, the
            separable projector's output width at the chapter's d and m).
        sigma: Input scale :math:`\sigma > 0` of the first layer, in units of h.
        relu: Put a ReLU between the layers (False: a linear projector).
        generator: Source of randomness; None uses the global one.

    Returns:
        A frozen ``nn.Sequential`` mapping (n, d) to (n, width).

    Raises:
        TypeError: If ``d`` or ``width`` is not an int, ``sigma`` not a number or
            ``generator`` not a generator.
        ValueError: If ``d`` or ``width`` < 1 or ``sigma`` <= 0.
    """
    check_int(d, name="d", minimum=1)
    check_int(width, name="width", minimum=1)
    sigma = check_positive(sigma, name="sigma")
    check_generator(generator)
    first, last = nn.Linear(d, width), nn.Linear(width, width, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.randn(width, d, generator=generator) / sigma)
        first.bias.copy_(torch.randn(width, generator=generator))
        last.weight.copy_(
            torch.randn(width, width, generator=generator) / math.sqrt(width)
        )
    layers = [first, nn.ReLU(), last] if relu else [first, last]
    return nn.Sequential(*layers).requires_grad_(False)


def _block_norms(z: Tensor, d: int) -> tuple[Tensor, Tensor]:
    """Squared Frobenius norms of the (d, d) blocks of C(z), and C's diagonal."""
    check_batch(z, name="z", min_rows=2)
    check_int(d, name="d", minimum=1)
    n, D = z.shape
    if D % d:
        raise ValueError(
            f"z: expected shape (n, d * m) with d = {d} blocks, got {tuple(z.shape)}"
        )
    z_c = z - z.mean(0)  # (n, D)
    C = z_c.T @ z_c / (n - 1)  # (D, D) unbiased, as losses.covariance
    blocks = C.reshape(d, D // d, d, D // d).pow(2).sum((1, 3))  # (d, d)
    return blocks, C.diagonal()


def cross_block_covariance(z: Tensor, *, d: int) -> Tensor:
    r"""Cross-block part of VCReg's covariance term, the book's (V3) (Claim 1 loss).

    [mialon2022vcreg, arXiv:2209.14905v2], with the covariance C(Z) of
    [bardes2022vicreg, arXiv:2105.04906v3, Eq. (3)]. Split the D = d m columns of
    z into d blocks of m (coordinate j owns columns j m .. j m + m - 1) and keep
    only the covariances between *different* blocks:

    .. math::
        c_{\times}(Z) = \frac1D \sum_{i \neq j} \lVert C(Z)_{[i],[j]} \rVert_F^2,
        \qquad c(Z) = c_{\times}(Z) + c_{\circ}(Z),

    with :math:`c(Z)` ``dltheory.losses.covariance`` (same unbiased (n - 1)
    covariance, same :math:`1/D`) and :math:`c_\circ` ``within_block_covariance``.
    For z = ``SeparableProjector``\ (h), block (i, j) is the cross-covariance of
    the random features of :math:`h_i` and :math:`h_j`, so

    .. math::
        c_\times(Z) = \frac{m^2}{D} \Bigl(\frac{n}{n-1}\Bigr)^2 \sum_{i \neq j}
        \widehat{\mathrm{HSIC}}_b(h_i, h_j)

    with the random-feature kernel :math:`\hat k_i(t, t') = \frac1m \sum_k
    z_{i,k}(t) z_{i,k}(t')`: a pairwise independence penalty (book's (V3)).

    Args:
        z: Projector output, shape (n, d * m), n >= 2.
        d: Number of blocks, an int >= 1 dividing z's width.

    Returns:
        Scalar tensor on the device and dtype of ``z``.

    Raises:
        TypeError: If ``z`` is not a floating-point tensor or ``d`` not an int.
        ValueError: If ``z`` is not (n, d * m) with n >= 2, or ``d`` < 1.
    """
    check_finite(z, name="z")
    blocks, _ = _block_norms(z, d)  # (d, d)
    return (blocks.sum() - blocks.diagonal().sum()) / z.shape[1]


def within_block_covariance(z: Tensor, *, d: int) -> Tensor:
    r"""Within-block part of VCReg's covariance term, the book's (V3) marginal term.

    [mialon2022vcreg, arXiv:2209.14905v2]; with the notation of
    ``cross_block_covariance``,

    .. math::
        c_\circ(Z) = \frac1D \sum_i \lVert \mathrm{offdiag}\, C(Z)_{[i],[i]}
        \rVert_F^2 = c(Z) - c_\times(Z).

    It depends on each coordinate's marginal only (it is rotation-sensitive
    through the marginals) and does not vanish at independent coordinates, which
    is why the full term does worse at ICA. It is not a Gaussianity measure:
    measured per marginal (chapter 03, notebook 2, m = 32, sigma = 2) it is
    largest for bounded or discrete marginals (Rademacher, uniform), smaller for
    a Gaussian and smaller still for heavy-tailed ones (Laplace, Student-t).

    Args:
        z: Projector output, shape (n, d * m), n >= 2.
        d: Number of blocks, an int >= 1 dividing z's width.

    Returns:
        Scalar tensor on the device and dtype of ``z``.

    Raises:
        TypeError: If ``z`` is not a floating-point tensor or ``d`` not an int.
        ValueError: If ``z`` is not (n, d * m) with n >= 2, or ``d`` < 1.
    """
    check_finite(z, name="z")
    blocks, diag = _block_norms(z, d)  # (d, d), (D,)
    return (blocks.diagonal().sum() - diag.pow(2).sum()) / z.shape[1]


# --- VCReg as a linear ICA solver (Claim 2) ----------------------------------------


@dataclass(frozen=True)
class ICAResult:
    """What ``vcreg_ica`` returns; matrices act on rows (``x @ W.T``)."""

    unmixing: Tensor  # (d, d) W = R W_w, in the coordinates of x, float64
    sources: Tensor  # (n, d) recovered sources (x - mean) @ W.T, float64
    rotation: Tensor  # (d, d) R, orthogonal, float64
    whitening: Tensor  # (d, d) W_w of ``whiten``, float64
    loss: Tensor  # (steps,) penalty per step (on the minibatch), float64, CPU
    amari: Tensor | None  # (steps + 1,) d_A(R_t W_w, A), t = 0..steps; None if no A


def vcreg_ica(
    x: Tensor,
    *,
    m: int = 32,
    sigma: float = 2.0,
    penalty: str = "cross_block",
    projector: nn.Module | None = None,
    steps: int = 300,
    lr: float = 5e-2,
    batch_size: int = 1000,
    whitening: str = "pca",
    mixing: Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> ICAResult:
    r"""Linear ICA by VCReg through a frozen separable projector, the chapter's Claim 2.

    [mialon2022vcreg, arXiv:2209.14905v2] (setting and defaults: the chapter's).
    Whiten x (``whiten``), then learn a rotation R of the whitened data
    :math:`x_w` by minimising a VCReg covariance penalty of the projector output:

    .. math::
        h = x_w R^\top, \qquad z = \mathrm{SeparableProjector}(h), \qquad
        \min_{R \in SO(d)} c_\times(z) \ \text{(or } c(z) \text{)}.

    R is the weight of an ``nn.Linear(d, d, bias=False)`` under
    ``torch.nn.utils.parametrizations.orthogonal`` (matrix exponential of a skew
    matrix, dynamic trivialisation), started at the identity (the whitened
    solution, chapter Pitfalls). The projector is never trained. Each step draws
    ``batch_size`` rows without replacement from ``generator`` (on the CPU) and
    takes one Adam step. ``penalty="cross_block"`` is ``cross_block_covariance``
    (book's (V3)); ``"full"`` is ``dltheory.losses.covariance``, VCReg's whole
    covariance term (V1). VCReg's variance term is left out, a choice of the
    book: it acts on :math:`z = \sqrt 2 \cos(\omega h + b)`, whose variances
    depend on the marginals of h and so on R (a rotation of white data keeps the
    variances of h at 1, not those of z), so it would add another
    marginal-dependent term, like the within-block part of the covariance. The
    unmixing in the coordinates of x is :math:`W = R W_w`.

    The problem is not convex: at the chapter's defaults (d = 4, n = 5000) a
    minority of seeds ends in a mixed solution whose penalty on the full data is
    4-10x the one at the true unmixing (measured with ``ica_problem`` seeds
    0-59: Amari > 0.2 for 5 of 60 seeds with PCA whitening, 9 of 60 with ZCA;
    the rest end at 0.01-0.06). Check ``amari`` or the final ``loss`` over
    several seeds rather than trusting one run.

    Args:
        x: Mixtures, shape (n, d), n >= 2, d >= 2, of full rank.
        m: Random features per coordinate (default 32).
        sigma: Projector bandwidth in whitened units (default 2.0).
        penalty: ``"cross_block"`` or ``"full"``.
        projector: A frozen ``nn.Module`` mapping h (n, d) to z (n, D), used
            instead of ``SeparableProjector(d, m, sigma=sigma,
            generator=generator)`` (then ``m`` and ``sigma`` are ignored and
            nothing is drawn for it), e.g. ``dense_projector`` (the book's (V4)).
            Every parameter must have ``requires_grad=False``;
            ``penalty="cross_block"`` needs D to be a multiple of d.
        steps: Adam steps, an int >= 1 (default 300).
        lr: Adam learning rate > 0 (default 5e-2).
        batch_size: Rows per step, an int in [2, n] (default 1000).
        whitening: ``"pca"`` or ``"zca"`` (``whiten``'s method). The rotation
            starts at the identity, i.e. at this whitened solution.
        mixing: True mixing A, shape (d, d), to record the Amari distance after
            every step; None records none.
        generator: CPU generator for the projector and the batches; None uses
            the global one.
        device: Where to train; ``runtime.device()`` by default.
        progress: Show a ``tqdm.auto`` progress bar.

    Returns:
        ``ICAResult`` (unmixing, sources, rotation, whitening: float64 on x's
        device, the CPU for MPS; loss and amari histories: float64 on the CPU).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a shape, size, rate or option is out of range.
    """
    check_finite(x, name="x")
    check_batch(x, name="x", min_rows=2)
    n, d = x.shape
    if d < 2:
        raise ValueError(f"x: expected shape (n, d) with d >= 2, got {tuple(x.shape)}")
    check_int(m, name="m", minimum=1)
    check_positive(sigma, name="sigma")
    check_choice(penalty, name="penalty", choices=PENALTIES)
    check_int(steps, name="steps", minimum=1)
    check_positive(lr, name="lr")
    check_int(batch_size, name="batch_size", minimum=2)
    if batch_size > n:
        raise ValueError(f"batch_size: expected an int <= n = {n}, got {batch_size}")
    check_choice(whitening, name="whitening", choices=WHITENINGS)
    if mixing is not None:
        mixing = _check_square(mixing, name="mixing")
        if mixing.shape != (d, d):
            raise ValueError(
                f"mixing: expected shape ({d}, {d}), got {tuple(mixing.shape)}"
            )
    check_generator(generator)
    if projector is not None:
        if not isinstance(projector, nn.Module):
            raise TypeError(
                "projector: expected an nn.Module or None, got "
                f"{type(projector).__name__}"
            )
        trainable = [k for k, p in projector.named_parameters() if p.requires_grad]
        if trainable:
            raise ValueError(
                "projector: expected a frozen module (no parameter with "
                f"requires_grad=True), got trainable {trainable}"
            )
    if device is not None and not isinstance(device, torch.device | str):
        raise TypeError(
            "device: expected a torch.device, a str or None, got "
            f"{type(device).__name__}"
        )
    device = torch.device(device) if device is not None else runtime.device()

    x_w, W_w = whiten(x, method=whitening)  # (n, d), (d, d) float64
    x_train = x_w.to(device, torch.float32)  # (n, d)
    if projector is None:
        projector = SeparableProjector(d, m, sigma=sigma, generator=generator)
    projector = projector.to(device)
    if penalty == "cross_block":
        with torch.no_grad():
            width = projector(x_train[:2]).shape[1]
        if width % d:
            raise ValueError(
                "projector: penalty='cross_block' needs an output width that is a "
                f"multiple of d = {d}, got {width}; use penalty='full'"
            )
    rotation = nn.Linear(d, d, bias=False)
    nn.init.eye_(rotation.weight)  # start at the whitened solution
    rotation = nn.utils.parametrizations.orthogonal(rotation).to(device)
    opt = torch.optim.Adam(rotation.parameters(), lr=lr)
    penalty_fn = (
        losses.covariance
        if penalty == "full"
        else lambda z: cross_block_covariance(z, d=d)
    )

    loss_history = torch.empty(steps, device=device)  # no host sync per step
    rotations = torch.empty(steps + 1, d, d, device=device)
    rotations[0] = rotation.weight.detach()
    for step in tqdm(range(steps), disable=not progress, desc="vcreg_ica"):
        idx = torch.randperm(n, generator=generator)[:batch_size]  # (B,) on the CPU
        h = rotation(x_train[runtime.host_to_device(idx, device)])  # (B, d) = x_w R^T
        loss = penalty_fn(projector(h))  # z: (B, d * m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_history[step] = loss.detach()
        rotations[step + 1] = rotation.weight.detach()

    R = rotations[-1].to(W_w.device, torch.float64)  # (d, d)
    unmixing = R @ W_w  # (d, d)
    amari = None
    if mixing is not None:
        P = (rotations.to("cpu", torch.float64) @ W_w.cpu() @ mixing.cpu()).abs()
        amari = _amari(P)  # (steps + 1,)
    return ICAResult(
        unmixing=unmixing,
        sources=(x_w @ R.T),  # (n, d) = (x - mean) W^T
        rotation=R,
        whitening=W_w,
        loss=loss_history.to("cpu", torch.float64),
        amari=amari,
    )
