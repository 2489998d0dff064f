r"""Joint-embedding SSL in the kernel regime: base kernels and induced kernels.

Chapter 02 (kernel SSL) follows [kiani2022kernel, arXiv:2209.14884]: the encoder is
a linear map W on the feature space H of a fixed kernel, :math:`f(x) = W\phi(x)`,
and the optimal representation of a contrastive or a non-contrastive loss can be
written with kernel evaluations and the augmentation graph only; its inner product
is the *induced kernel*. This module holds the base kernels (``rbf_kernel``,
``polynomial_kernel``, ``random_fourier_features``), the chapter's augmented views
and graph (``digit_views``, ``augmentation_adjacency``, ``laplacian``), the
closed-form optima as an estimator (``InducedKernel``), the explicit-feature encoder
that checks them by training (``ExplicitKernelEncoder``, ``fit_explicit_encoder``,
``contrastive_kernel_loss``), and the measurements of the chapter: the kernel-PCA
baseline (``kernel_pca``, scikit-learn's), ``pair_scores`` and ``pair_separation``.

Notation (the chapter's): x_1..x_N are all training views, :math:`K = \Phi^\top
\Phi` (N, N) the Gram matrix, :math:`k_x = \Phi^\top \phi(x)` (N,), A (N, N) the
0/1 adjacency with :math:`A_{ij} = 1` iff views i and j share a source (self-loops
included), :math:`L = \mathrm{diag}(A \mathbb 1) - A`. The representation of m
points is returned as rows, shape (m, k); the chapter's :math:`Z = C K` is (k, N),
so ``embedding_`` is :math:`Z^\top`.

Equation labels (K1)-(K6) are **the book's**: the paper's loss definitions,
theorems and equation numbers were not available, so the losses (K3), (K5) and the
closed forms (K4), (K6) are the book's own formulation, consistent with what the
paper's abstract and introduction state (kernel evaluations plus adjacency data
suffice; augmented pairs correlated, the others decorrelated):

- (K1) representer form :math:`W^\star = C \Phi^\top`, :math:`f(x) = C k_x`:
  ``InducedKernel.transform``.
- (K2) induced kernel :math:`k^\star(x, x') = k_x^\top M k_{x'}`, :math:`M =
  C^\top C`: ``InducedKernel.kernel``.
- (K3)/(K4) contrastive :math:`\lVert Z^\top Z - A \rVert_F^2`, minimum-norm
  optimum :math:`M_c = K^{-1} A K^{-1}` (ridge :math:`\lambda \to 0`):
  ``InducedKernel(loss="contrastive")``. At a ridge :math:`\lambda > 0` the
  same formula is kernel ridge regression onto the source indicators, no longer
  an optimum of (K3).
- (K3) plus the RKHS penalty :math:`\eta \lVert W \rVert_{HS}^2`, optimum: the
  top-k eigenvectors of :math:`A - (\eta / 2) K^{-1}`:
  ``InducedKernel(loss="contrastive", k=k, penalty=eta)``. With equal groups
  these are the eigenvectors of (K6) at :math:`\mu = \eta / 2` (the chapter's
  proposition; only the scale of each coordinate differs).
- (K5)/(K6) non-contrastive :math:`\operatorname{tr}(Z L Z^\top) + \mu
  \operatorname{tr}(Z K^{-1} Z^\top)` s.t. :math:`Z Z^\top = N I_k`:
  ``InducedKernel(loss="non_contrastive")``.

Numerics: kernels and closed forms run in float64 on the input's device (the CPU
for MPS, which has no float64) and return float64. :math:`K^{-1}` is always
:math:`(K + \lambda I)^{-1}` via ``torch.linalg.eigh``; ``ridge=0`` is allowed
when K is invertible (a condition number of about 1e5, that of the RBF Gram of
digit views, costs about 5 of float64's 16 digits and is harmless). Eigenvector
signs are fixed (largest-magnitude entry > 0).
Cost: O(N^2 d) for a Gram matrix, O(N^3) for each eigendecomposition.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import partial

import torch
from sklearn.decomposition import KernelPCA
from sklearn.metrics import roc_auc_score
from torch import Tensor, nn

from dltheory import augment
from dltheory._checks import (
    check_batch,
    check_choice,
    check_finite,
    check_float,
    check_generator,
    check_int,
    check_labels,
    check_positive,
)
from dltheory._linalg import fix_signs, to_float64, work_device
from dltheory.spectral import graph_laplacian

LOSSES = ("contrastive", "non_contrastive")

# Condition number of K + ridge I above which fit warns (closed forms lose digits).
_ILL_CONDITIONED = 1e12


# --- helpers -----------------------------------------------------------------------


def _check_pair(x: object, y: object) -> tuple[Tensor, Tensor]:
    """Check two batches (n, d), (m, d) on one device; return them in float64."""
    check_batch(x, name="x")
    check_batch(y, name="y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y: expected the same number of features d, got {x.shape[1]} "
            f"and {y.shape[1]}"
        )
    if x.device != y.device:
        raise ValueError(
            f"x and y: expected the same device, got {x.device} and {y.device}"
        )
    return to_float64(x), to_float64(y)


def _check_gram(K: object, *, name: str = "K") -> Tensor:
    check_float(K, name=name)
    if K.dim() != 2 or K.shape[0] != K.shape[1] or K.shape[0] < 2:
        raise ValueError(
            f"{name}: expected a square matrix of shape (N, N) with N >= 2, "
            f"got {tuple(K.shape)}"
        )
    K = to_float64(K)
    asymmetry = (K - K.T).abs().max().item()
    if asymmetry > 1e-8 * max(1.0, K.abs().max().item()):
        raise ValueError(
            f"{name}: expected a symmetric matrix, got max |K - K^T| = {asymmetry:.3g}"
        )
    return K


def _sq_dists(x: Tensor, y: Tensor) -> Tensor:
    """Squared Euclidean distances, shape (n, m), clamped at 0 (float64)."""
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T  # (n, m)
    return sq.clamp_min_(0.0)


def median_heuristic(x: Tensor) -> float:
    r"""Median-heuristic RBF bandwidth, a common default (not the paper's).

    A widespread rule of thumb for kernel methods (used e.g. by Gretton et al.,
    "A kernel two-sample test", JMLR 2012); the paper's bandwidth choice was not
    available to the book.

    .. math::
        \gamma = 1 / \mathrm{median}_{i<j} \lVert x_i - x_j \rVert^2

    The median is over the n(n - 1)/2 squared distances between distinct rows
    of ``x`` (``torch.median``, the lower median for an even count), in squared
    input units. Not the chapter's claim setting, which uses :math:`\gamma =
    1 / (d\, \mathrm{Var}(x))` (pass it explicitly).

    Args:
        x: Points, shape (n, d), n >= 2.

    Returns:
        gamma, a Python float > 0, in inverse squared input units.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor.
        ValueError: If ``x`` is not (n, d) with n >= 2, or all rows coincide
            for at least half the pairs (median distance 0), or the median is
            so small (below about 1e-308) that its inverse overflows.
    """
    check_finite(x, name="x")
    check_batch(x, name="x", min_rows=2)
    x = to_float64(x)
    n = x.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=x.device)  # (2, n(n-1)/2)
    med = _sq_dists(x, x)[iu[0], iu[1]].median().item()
    if med <= 0:
        raise ValueError(
            "x: expected distinct points (median squared distance > 0), got a "
            "median of 0; pass gamma explicitly"
        )
    if not math.isfinite(1.0 / med):  # below about 1e-308: a NaN kernel downstream
        raise ValueError(
            f"x: expected a median squared distance with a finite inverse in "
            f"float64, got {med:.3g}; rescale x or pass gamma explicitly"
        )
    return 1.0 / med


# --- base kernels ------------------------------------------------------------------


def rbf_kernel(x: Tensor, y: Tensor, *, gamma: float | None = None) -> Tensor:
    r"""Gaussian (RBF) base kernel, the standard one (the book's choice of base kernel).

    The chapter's base kernel; the paper's kernels were not available to the book.

    .. math::
        k(x, y) = \exp(-\gamma \lVert x - y \rVert^2)

    Squared distances use :math:`\lVert x\rVert^2 + \lVert y\rVert^2 - 2 x^\top
    y`, clamped at 0 (rounding about 1e-15 relative on the diagonal of k(x, x)).

    Args:
        x: Points, shape (n, d).
        y: Points, shape (m, d), on ``x``'s device.
        gamma: Inverse squared bandwidth, > 0, in inverse squared input units.
            None: the median heuristic on ``x`` alone (``median_heuristic``),
            so k(x, y) with gamma=None is not symmetric in its arguments.

    Returns:
        Gram matrix, shape (n, m), float64 on ``x``'s device (the CPU for MPS).

    Raises:
        TypeError: If ``x`` or ``y`` is not a floating-point tensor, or
            ``gamma`` not a number.
        ValueError: If the shapes or devices disagree, or ``gamma <= 0``.
    """
    check_finite(x, name="x")
    check_finite(y, name="y")
    x, y = _check_pair(x, y)
    if gamma is None:
        gamma = median_heuristic(x)
    gamma = check_positive(gamma, name="gamma")
    return torch.exp(-gamma * _sq_dists(x, y))  # (n, m)


def polynomial_kernel(
    x: Tensor, y: Tensor, *, degree: int = 2, c: float = 1.0
) -> Tensor:
    r"""Inhomogeneous polynomial kernel, a base kernel for the chapter's model.

    .. math::
        k(x, y) = (x^\top y + c)^{p}

    Args:
        x: Points, shape (n, d).
        y: Points, shape (m, d), on ``x``'s device.
        degree: Degree p, an int >= 1.
        c: Offset, a number >= 0 (c = 0: homogeneous).

    Returns:
        Gram matrix, shape (n, m), float64 on ``x``'s device (the CPU for MPS).

    Raises:
        TypeError: If ``x`` or ``y`` is not a floating-point tensor, ``degree``
            not an int or ``c`` not a number.
        ValueError: If the shapes or devices disagree, ``degree < 1`` or ``c < 0``.
    """
    check_finite(x, name="x")
    check_finite(y, name="y")
    x, y = _check_pair(x, y)
    check_int(degree, name="degree", minimum=1)
    c = check_positive(c, name="c", strict=False)
    return (x @ y.T + c) ** degree  # (n, m)


def random_fourier_features(
    x: Tensor,
    n_features: int,
    *,
    gamma: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Random Fourier features, an explicit RBF feature map (book's Claim 1).

    :math:`\phi(x)^\top \phi(y) \approx` ``rbf_kernel(x, y, gamma=gamma)``:

    .. math::
        \phi(x) = \sqrt{2 / D}\, \cos(\Omega x + b), \quad
        \Omega_{jl} \sim \mathcal N(0, 2\gamma), \quad b_j \sim U[0, 2\pi)

    (Rahimi and Recht, NeurIPS 2007; Bochner's theorem). The estimate is
    unbiased, with entrywise error of order :math:`D^{-1/2}`. The chapter uses it
    to train W directly (Claim 1). :math:`\Omega` (D, d) then b (D,) are drawn
    in float64 on the CPU from ``generator`` and moved, so a seed gives the same
    map on every device. Two point sets share a map only if they are embedded in
    one call (concatenate them) or with generators seeded alike.

    Args:
        x: Points, shape (n, d).
        n_features: Number of features D, an int >= 1.
        gamma: RBF inverse squared bandwidth, > 0.
        generator: Source of randomness; None uses the global one.

    Returns:
        Features, shape (n, D), float64 on ``x``'s device (the CPU for MPS).

    Raises:
        TypeError: If ``x`` is not a floating-point tensor, ``n_features`` not an
            int, ``gamma`` not a number or ``generator`` not a generator.
        ValueError: If ``x`` is not (n, d), ``n_features < 1`` or ``gamma <= 0``.
    """
    check_finite(x, name="x")
    check_batch(x, name="x")
    check_int(n_features, name="n_features", minimum=1)
    gamma = check_positive(gamma, name="gamma")
    check_generator(generator)
    x = to_float64(x)
    d = x.shape[1]
    omega = torch.randn(n_features, d, generator=generator, dtype=torch.float64)
    omega = omega * math.sqrt(2 * gamma)  # (D, d)
    b = torch.rand(n_features, generator=generator, dtype=torch.float64) * 2 * math.pi
    omega, b = omega.to(x.device), b.to(x.device)
    return math.sqrt(2.0 / n_features) * torch.cos(x @ omega.T + b)  # (n, D)


# --- augmentation graph ------------------------------------------------------------


def digit_views(
    x: Tensor,
    n_views: int,
    *,
    max_degrees: float = 15.0,
    max_shift: float = 1.0,
    noise: float = 0.05,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Augmented views of flat 8 x 8 digits and their source ids (chapter 02).

    Per view: ``augment.random_affine`` (rotation in ±``max_degrees``, sub-pixel
    shift in ±``max_shift`` px, no scaling), ``augment.gaussian_noise`` (std
    ``noise``), then clipping to [0, 1], the chapter's augmentation. Views are
    stacked view-major: rows ``v * n + i`` hold view v of source i.

    Args:
        x: Flat digits, shape (n, 64), values in [0, 1].
        n_views: Views per source, an int >= 1.
        max_degrees: Largest rotation in degrees, >= 0.
        max_shift: Largest shift along each axis in pixels, >= 0.
        noise: Pixel noise standard deviation, >= 0.
        generator: Source of the random draws (on ``x``'s device).

    Returns:
        Views, shape (n * n_views, 64), and ``group_ids``, shape (n * n_views,)
        (long, the source index of each view), on ``x``'s device.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor.
        ValueError: If ``x`` is not (n, 64) or a setting is out of range.
    """
    check_finite(x, name="x")
    check_batch(x, name="x")
    check_int(n_views, name="n_views", minimum=1)
    check_positive(noise, name="noise", strict=False)
    aug = augment.as_images(
        augment.compose(
            partial(
                augment.random_affine,
                max_degrees=max_degrees,
                max_shift=max_shift,
                max_scale=0.0,
            ),
            partial(augment.gaussian_noise, std=noise),
        )
    )
    views = torch.cat([aug(x, generator=generator) for _ in range(n_views)])
    group_ids = torch.arange(x.shape[0], device=x.device).repeat(n_views)  # (n V,)
    return views.clamp(0.0, 1.0), group_ids


def augmentation_adjacency(group_ids: Tensor) -> Tensor:
    r"""Augmentation adjacency of the chapter's notation, self-loops included.

    .. math::
        A_{ij} = [\,g_i = g_j\,], \qquad A_{ii} = 1

    Views i and j are linked iff they come from the same source image. Unlike
    ``dltheory.spectral.augmentation_graph`` (chapter 01: zero diagonal, views
    interleaved by index) the groups may come in any order and have different
    sizes; for interleaved ids ``arange(n).repeat_interleave(V)`` this is
    ``spectral.augmentation_graph(n, V) + I``. Keep the self-loops: without them
    A is indefinite and :math:`M_c` of (K4) is not PSD (chapter Pitfalls).

    Args:
        group_ids: Source id of each view, integer tensor of shape (N,), N >= 1.

    Returns:
        A, shape (N, N), float64 0/1 entries, on ``group_ids``' device (the CPU
        for MPS).

    Raises:
        TypeError: If ``group_ids`` is not an integer tensor.
        ValueError: If ``group_ids`` is not of shape (N,) with N >= 1.
    """
    check_labels(group_ids, name="group_ids")
    if group_ids.shape[0] < 1:
        raise ValueError("group_ids: expected shape (N,) with N >= 1, got (0,)")
    g = group_ids.to(work_device(group_ids.device))
    return (g[:, None] == g[None, :]).to(torch.float64)  # (N, N)


def laplacian(A: Tensor) -> Tensor:
    r"""Graph Laplacian of an adjacency with self-loops, the L of the book's (K5).

    :math:`L = \mathrm{diag}(A\mathbb 1) - A`.

    Self-loops cancel in D - A, so this is ``spectral.graph_laplacian`` of A
    with its diagonal removed. For an augmentation adjacency L has one zero
    eigenvalue per source (Claim 4: the unregularised (K5) is degenerate).

    Args:
        A: Symmetric non-negative adjacency, shape (N, N), N >= 2; any diagonal.

    Returns:
        L, shape (N, N), float64 on ``A``'s device (the CPU for MPS).

    Raises:
        TypeError: If ``A`` is not a floating-point tensor.
        ValueError: If ``A`` is not square (N >= 2), symmetric and non-negative.
    """
    check_finite(A, name="A")
    A = _check_gram(A, name="A")
    G = A - torch.diag(A.diagonal())  # (N, N) zero diagonal
    return graph_laplacian(G)


# --- kernel PCA --------------------------------------------------------------------


def kernel_pca(
    K: Tensor, k: int, *, K_new: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    r"""Kernel PCA scores on a precomputed Gram matrix, the chapter's baseline.

    .. math::
        H K H = U \Lambda U^\top, \quad H = I - \mathbb 1 \mathbb 1^\top / N,
        \qquad \text{training scores } U_k \Lambda_k^{1/2}

    A thin wrapper of scikit-learn's ``KernelPCA(k, kernel="precomputed")`` (the
    baseline is scikit-learn's, not re-implemented): top-k eigenpairs of the
    centred Gram matrix, largest first. New points are projected with their
    kernel against the training points, centred with the training statistics
    (scikit-learn's ``transform``). Column signs are fixed (largest-magnitude
    training score > 0) so that a seed gives the same features everywhere.

    Args:
        K: Symmetric PSD Gram matrix of the training points, shape (N, N), N >= 2.
        k: Number of components, an int in [1, N - 1].
        K_new: Optional kernel between new points and the training points,
            shape (m, N).

    Returns:
        Training scores, shape (N, k), and the scores of the new points, shape
        (m, k) (None without ``K_new``); float64 on ``K``'s device (the CPU for
        MPS).

    Raises:
        TypeError: If ``K`` or ``K_new`` is not a floating-point tensor or ``k``
            not an int.
        ValueError: If ``K`` is not square symmetric, ``k`` is out of range or
            ``K_new`` is not (m, N).
    """
    check_finite(K, name="K")
    K = _check_gram(K)
    n = K.shape[0]
    check_int(k, name="k", minimum=1)
    if k > n - 1:
        raise ValueError(f"k: expected an int <= N - 1 = {n - 1}, got {k}")
    if K_new is not None:
        check_batch(K_new, name="K_new")
        if K_new.shape[1] != n:
            raise ValueError(
                f"K_new: expected shape (m, {n}) (kernel against the N training "
                f"points), got {tuple(K_new.shape)}"
            )
    pca = KernelPCA(k, kernel="precomputed", eigen_solver="dense")
    train = torch.from_numpy(pca.fit_transform(K.cpu().numpy()))  # (N, k)
    signs = torch.sign(train.gather(0, train.abs().argmax(0, keepdim=True)))  # (1, k)
    signs[signs == 0] = 1.0
    train = (train * signs).to(K.device)
    if K_new is None:
        return train, None
    new = torch.from_numpy(pca.transform(to_float64(K_new).cpu().numpy()))  # (m, k)
    return train, (new * signs).to(K.device)


# --- pair separation ---------------------------------------------------------------


def pair_scores(
    f_a: Tensor,
    f_b: Tensor,
    *,
    kernel: Callable[[Tensor, Tensor], Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Normalised-kernel scores of augmented and of unrelated pairs (Claim 2).

    The scores behind ``pair_separation``: the book's measurement of the sentence
    of [kiani2022kernel, arXiv:2209.14884, abstract] that the induced kernel
    "correlates points which are related by an augmentation"; the cosine score and
    the AUC are the book's choice, not the paper's. With the normalised kernel
    (cosine similarity in feature space)

    .. math::
        s(x, x') = \frac{k(x, x')}{\sqrt{k(x, x)\, k(x', x')}},

    the positive scores are :math:`s(a_i, b_i)` (two views of source i) and the
    negative scores :math:`s(a_i, b_{\pi(i)})` for a random permutation
    :math:`\pi` (``torch.randperm`` from ``generator``), the fixed points
    :math:`\pi(i) = i` dropped. Norms below 1e-150 are clamped (a zero feature
    vector scores 0, never NaN).

    Args:
        f_a: First view of m sources, shape (m, k): features (``kernel=None``,
            k is the dot product) or inputs of ``kernel``.
        f_b: Second view of the same sources, shape (m, k).
        kernel: Callable (x (n, k), y (p, k)) -> (n, p) Gram matrix, e.g.
            ``functools.partial(rbf_kernel, gamma=g)`` or ``InducedKernel.kernel``;
            None: the dot product of the rows.
        generator: CPU generator for the permutation.

    Returns:
        ``(pos, neg)``: positive scores, shape (m,), and negative scores, shape
        (m',) with m' <= m (m minus the fixed points of :math:`\pi`), float64 on
        the inputs' device, each in [-1, 1].

    Raises:
        TypeError: If the inputs are not floating point, ``kernel`` is not
            callable or ``generator`` not a generator.
        ValueError: If the shapes differ or m < 2.
    """
    check_finite(f_a, name="f_a")
    check_finite(f_b, name="f_b")
    check_batch(f_a, name="f_a", min_rows=2)
    check_batch(f_b, name="f_b", min_rows=2)
    if f_a.shape != f_b.shape:
        raise ValueError(
            f"f_a and f_b: expected the same shape (m, k), got {tuple(f_a.shape)} "
            f"and {tuple(f_b.shape)}"
        )
    if kernel is not None and not callable(kernel):
        raise TypeError(
            f"kernel: expected a callable (x, y) -> Gram or None, got "
            f"{type(kernel).__name__}"
        )
    check_generator(generator)
    a, b = to_float64(f_a.detach()), to_float64(f_b.detach())  # (m, k)
    gram = (lambda u, v: u @ v.T) if kernel is None else kernel
    norm_a = gram(a, a).diagonal().clamp_min(1e-300).sqrt()  # (m,)
    norm_b = gram(b, b).diagonal().clamp_min(1e-300).sqrt()  # (m,)
    S = gram(a, b) / norm_a[:, None] / norm_b[None, :]  # (m, m) s(a_i, b_j)
    m = a.shape[0]
    perm = torch.randperm(m, generator=generator).to(S.device)  # (m,)
    rows = torch.arange(m, device=S.device)
    keep = perm != rows
    return S.diagonal(), S[rows[keep], perm[keep]]  # (m,), (m',)


def pair_separation(
    f_a: Tensor,
    f_b: Tensor,
    *,
    kernel: Callable[[Tensor, Tensor], Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    r"""How well a kernel tells augmented pairs from unrelated ones (Claim 2).

    The book's measurement (score and AUC are the book's choice) of
    [kiani2022kernel, arXiv:2209.14884, abstract: the induced kernel "correlates
    points which are related by an augmentation ... and de-correlates points
    otherwise"]. With the normalised kernel (cosine similarity in feature space)

    .. math::
        s(x, x') = \frac{k(x, x')}{\sqrt{k(x, x)\, k(x', x')}},

    positive pairs are :math:`(a_i, b_i)` (two views of source i) and negative
    pairs :math:`(a_i, b_{\pi(i)})` for a random permutation :math:`\pi`; the
    few fixed points :math:`\pi(i) = i` are dropped from the negatives. The AUC is
    scikit-learn's ``roc_auc_score`` of positives (label 1) against negatives:
    the probability that a random positive pair scores above a random negative.
    The scores themselves come from ``pair_scores`` (same generator, same pairs).

    Args:
        f_a: First view of m sources, shape (m, k): features (``kernel=None``,
            k is the dot product) or inputs of ``kernel``.
        f_b: Second view of the same sources, shape (m, k).
        kernel: Callable (x (n, k), y (p, k)) -> (n, p) Gram matrix, e.g.
            ``functools.partial(rbf_kernel, gamma=g)`` or ``InducedKernel.kernel``;
            None: the dot product of the rows.
        generator: CPU generator for the permutation.

    Returns:
        ``{"pos": mean positive score, "neg": mean negative score, "auc": AUC}``.

    Raises:
        TypeError: If the inputs are not floating point or ``kernel`` is not
            callable.
        ValueError: If the shapes differ or m < 2.
    """
    check_finite(f_a, name="f_a")
    check_finite(f_b, name="f_b")
    pos, neg = pair_scores(f_a, f_b, kernel=kernel, generator=generator)
    scores = torch.cat([pos, neg]).cpu().numpy()
    labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]).cpu().numpy()
    return {
        "pos": pos.mean().item(),
        "neg": neg.mean().item(),
        "auc": float(roc_auc_score(labels, scores)),
    }


# --- induced kernel ----------------------------------------------------------------


class InducedKernel:
    r"""Closed-form kernel-regime SSL optimum [kiani2022kernel, arXiv:2209.14884].

    Book's Eqs. (K1)-(K6).

    Encoder :math:`f(x) = W \phi(x)` with the representer form (K1) :math:`W =
    C\Phi^\top`, so :math:`f(x) = C k_x` (``transform``) and the induced kernel
    (K2) is :math:`k^\star(x, x') = k_x^\top C^\top C\, k_{x'}` (``kernel``). With
    :math:`K_\lambda^{-1} = (K + \lambda I)^{-1}` (``ridge`` :math:`= \lambda`):

    ``loss="contrastive"``, the book's (K3) :math:`\lVert Z^\top Z - A
    \rVert_F^2`, minimum-norm optimum (K4)

    .. math::
        C = \Lambda_A^{1/2} U_A^\top K_\lambda^{-1}, \quad
        M_c = K_\lambda^{-1} A K_\lambda^{-1}, \quad
        k^\star_c(x_i, x_j) = A_{ij} \text{ at } \lambda = 0 \tag{K4}

    For the group adjacency the eigenvectors of A are the normalised group
    indicators with eigenvalue the group size V_g, so :math:`\Lambda_A^{1/2}
    U_A^\top = E^\top` with E (N, G) the 0/1 indicator: coordinate g of f(x) is
    the sum of the coefficients :math:`K_\lambda^{-1} k_x` over the views of
    source g. ``k=None`` is full rank (k = G sources, zero loss); k < G keeps the
    k largest groups (Eckart-Young), which is degenerate when sizes tie (a
    warning; chapter Claim 4). At :math:`\lambda > 0` this C is kernel ridge
    regression of the source indicators E on the views, :math:`f(x) = E^\top
    (K + \lambda I)^{-1} k_x`, and no longer an optimum of (K3); only the limit
    :math:`\lambda \to 0` is (K4).

    ``loss="contrastive"`` with ``penalty`` :math:`\eta > 0`: (K3) plus the
    RKHS penalty, :math:`\lVert Z^\top Z - A \rVert_F^2 + \eta
    \operatorname{tr}(Z K_\lambda^{-1} Z^\top)` (:math:`= \lVert Z^\top Z - B
    \rVert_F^2 + \text{const}`, :math:`B = A - \tfrac{\eta}{2}
    K_\lambda^{-1}`), optimum by Eckart-Young

    .. math::
        Z^\top = [b_1, \dots, b_k]\, \mathrm{diag}(\beta_1, \dots,
        \beta_k)^{1/2}, \quad B b_j = \beta_j b_j,\ \beta_1 \ge \dots \ge
        \beta_k > 0, \quad C = Z K_\lambda^{-1} .

    With equal group sizes V, :math:`L = V I - A`, so :math:`B = V I - (L +
    \tfrac{\eta}{2} K_\lambda^{-1})`: the :math:`b_j` are the :math:`u_j` of
    (K6) at :math:`\mu = \eta / 2` (the chapter's proposition), and the two
    representations differ only by the scale of each coordinate.

    ``loss="non_contrastive"``, the book's (K5) :math:`\operatorname{tr}(Z L
    Z^\top) + \mu \operatorname{tr}(Z K_\lambda^{-1} Z^\top)` s.t. :math:`Z
    Z^\top = N I_k`, optimum by Ky Fan (K6)

    .. math::
        Z^\top = \sqrt N\, [u_1, \dots, u_k], \quad (L + \mu K_\lambda^{-1}) u_j
        = \nu_j u_j,\ \nu_1 \le \dots \le \nu_k, \quad C = Z K_\lambda^{-1} \tag{K6}

    Both closed forms are the book's own derivation, not the paper's theorems
    (not found). Departure at :math:`\lambda > 0`: ``transform(x_train)`` is
    :math:`C K = Z K_\lambda^{-1} K`, not exactly the optimum
    :math:`Z^\top` stored in ``embedding_`` (relative gap about
    :math:`\lambda / \lambda_{\min}(K)`).

    Args:
        loss: ``"contrastive"`` (K4) or ``"non_contrastive"`` (K6).
        k: Output dimension, an int >= 1, or None (contrastive only: full rank,
            the number of sources). Required for ``"non_contrastive"``.
        ridge: Ridge :math:`\lambda` >= 0 added to K before inverting (default
            1e-3, the chapter's).
        mu: Weight :math:`\mu` > 0 of the RKHS norm in (K5) (default 1e-2, the
            chapter's); ignored for ``"contrastive"``.
        penalty: Weight :math:`\eta` >= 0 of the RKHS penalty added to (K3)
            (``"contrastive"`` only; default 0, the unregularised (K4)); > 0
            needs an int ``k``.
        gamma: RBF inverse squared bandwidth > 0; None: median heuristic on the
            training points at ``fit`` (stored in ``gamma_``). Ignored when
            ``base_kernel`` is given.
        base_kernel: Callable (x (n, d), y (m, d)) -> (n, m) Gram matrix; None:
            ``rbf_kernel`` with ``gamma``.

    Fitted attributes (after ``fit``): ``x_train_`` (N, d) float64,
    ``gamma_`` (float or None), ``kernel_eigvals_`` (N,) eigenvalues of K,
    ascending, ``coef_`` C (k, N), ``eigvals_`` (k,) the eigenvalues selecting the
    representation (group sizes, descending, for contrastive; :math:`\beta_j`,
    descending, with a penalty; :math:`\nu_j`, ascending, for
    non-contrastive), ``embedding_`` (N, k) the optimum
    :math:`Z^\top`.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``loss`` is unknown, ``k < 1``, ``ridge < 0``,
            ``mu <= 0``, ``penalty < 0``, ``gamma <= 0``, or ``k`` is None for
            non-contrastive or with a penalty.
    """

    def __init__(
        self,
        loss: str = "contrastive",
        *,
        k: int | None = None,
        ridge: float = 1e-3,
        mu: float = 1e-2,
        penalty: float = 0.0,
        gamma: float | None = None,
        base_kernel: Callable[[Tensor, Tensor], Tensor] | None = None,
    ) -> None:
        check_choice(loss, name="loss", choices=LOSSES)
        if k is not None:
            check_int(k, name="k", minimum=1)
        elif loss == "non_contrastive":
            raise ValueError("k: expected an int >= 1 for 'non_contrastive', got None")
        check_positive(ridge, name="ridge", strict=False)
        check_positive(mu, name="mu")
        penalty = check_positive(penalty, name="penalty", strict=False)
        if penalty > 0 and k is None:
            raise ValueError("k: expected an int >= 1 with penalty > 0, got None")
        if gamma is not None:
            check_positive(gamma, name="gamma")
        if base_kernel is not None and not callable(base_kernel):
            raise TypeError(
                "base_kernel: expected a callable (x, y) -> Gram or None, got "
                f"{type(base_kernel).__name__}"
            )
        self.loss = loss
        self.k = k
        self.ridge = ridge
        self.mu = mu
        self.penalty = penalty
        self.gamma = gamma
        self.base_kernel = base_kernel

    def _gram(self, x: Tensor, y: Tensor) -> Tensor:
        if self.base_kernel is not None:
            return to_float64(self.base_kernel(x, y))
        return rbf_kernel(x, y, gamma=self.gamma_)

    def fit(self, x: Tensor, group_ids: Tensor) -> InducedKernel:
        """Compute the closed-form optimum on training views (two O(N^3) ``eigh``).

        Args:
            x: Training views, shape (N, d), N >= 2.
            group_ids: Source id of each view, integer tensor of shape (N,).

        Returns:
            self, with the fitted attributes set.

        Raises:
            TypeError: If ``x`` is not floating or ``group_ids`` not integer.
            ValueError: If the shapes disagree, ``k`` exceeds the number of
                sources (contrastive) or N (non-contrastive).
        """
        check_batch(x, name="x", min_rows=2)
        n = x.shape[0]
        check_labels(group_ids, name="group_ids", n=n)
        x = to_float64(x)
        group_ids = group_ids.to(x.device)
        self.gamma_ = None
        if self.base_kernel is None:
            self.gamma_ = self.gamma if self.gamma is not None else median_heuristic(x)
        self.x_train_ = x
        K = self._gram(x, x)  # (N, N)
        s, Q = torch.linalg.eigh(K)  # (N,), (N, N) ascending
        self.kernel_eigvals_ = s
        shifted = s + self.ridge  # (N,)
        if shifted[0].item() <= 0:
            raise ValueError(
                "ridge: K + ridge I is singular (smallest eigenvalue "
                f"{shifted[0].item():.3g}); pass ridge > 0"
            )
        if shifted[-1].item() > _ILL_CONDITIONED * shifted[0].item():
            warnings.warn(
                "K + ridge I is ill-conditioned (condition number "
                f"{(shifted[-1] / shifted[0]).item():.3g}); increase ridge",
                stacklevel=2,
            )
        K_inv = (Q / shifted) @ Q.T  # (N, N) (K + ridge I)^{-1}
        if self.loss == "contrastive":
            self._fit_contrastive(group_ids, K_inv)
        else:
            self._fit_non_contrastive(group_ids, K_inv)
        return self

    def _fit_contrastive(self, group_ids: Tensor, K_inv: Tensor) -> None:
        if self.penalty > 0:
            self._fit_penalised_contrastive(group_ids, K_inv)
            return
        _, index, sizes = torch.unique(
            group_ids, return_inverse=True, return_counts=True
        )  # (N,), (G,)
        n_groups = sizes.numel()
        k = n_groups if self.k is None else self.k
        if k > n_groups:
            raise ValueError(
                f"k: expected an int <= {n_groups} (the number of sources, the rank "
                f"of A), got {k}"
            )
        order = torch.sort(sizes, descending=True, stable=True).indices[:k]  # (k,)
        if k < n_groups and sizes[order[-1]] == sizes.sort(descending=True)[0][k]:
            warnings.warn(
                f"k = {k} < {n_groups} sources with tied group sizes: the rank-k "
                "contrastive optimum is degenerate (an arbitrary choice of groups)",
                stacklevel=3,
            )
        E = (index[:, None] == order[None, :]).to(torch.float64)  # (N, k)
        self.eigvals_ = sizes[order].to(torch.float64)  # (k,)
        self.embedding_ = E  # (N, k) Z^T: Z^T Z = A restricted to the kept groups
        self.coef_ = E.T @ K_inv  # (k, N)

    def _fit_penalised_contrastive(self, group_ids: Tensor, K_inv: Tensor) -> None:
        n = K_inv.shape[0]
        if self.k > n:
            raise ValueError(f"k: expected an int <= N = {n}, got {self.k}")
        B = augmentation_adjacency(group_ids) - (self.penalty / 2) * K_inv  # (N, N)
        beta, U = torch.linalg.eigh((B + B.T) / 2)  # ascending
        beta, U = beta.flip(0)[: self.k], U.flip(1)[:, : self.k]  # (k,), (N, k)
        if beta[-1].item() <= 0:
            n_pos = int((beta > 0).sum())
            raise ValueError(
                f"k: only {n_pos} eigenvalues of A - (penalty / 2) K^-1 are "
                f"positive, got k = {self.k}; lower k or the penalty"
            )
        Zt = fix_signs(U) * beta.sqrt()  # (N, k)
        self.eigvals_ = beta
        self.embedding_ = Zt
        self.coef_ = Zt.T @ K_inv  # (k, N)

    def _fit_non_contrastive(self, group_ids: Tensor, K_inv: Tensor) -> None:
        n = K_inv.shape[0]
        if self.k > n:
            raise ValueError(f"k: expected an int <= N = {n}, got {self.k}")
        L = laplacian(augmentation_adjacency(group_ids))  # (N, N)
        S = L + self.mu * K_inv
        nu, U = torch.linalg.eigh((S + S.T) / 2)  # ascending
        Zt = math.sqrt(n) * fix_signs(U[:, : self.k])  # (N, k)
        self.eigvals_ = nu[: self.k]  # (k,)
        self.embedding_ = Zt
        self.coef_ = Zt.T @ K_inv  # (k, N) C = Z K^{-1}

    def _check_fitted(self, x: object, name: str) -> Tensor:
        if not hasattr(self, "coef_"):
            raise ValueError("InducedKernel: not fitted, call fit(x, group_ids) first")
        check_batch(x, name=name)
        d = self.x_train_.shape[1]
        if x.shape[1] != d:
            raise ValueError(
                f"{name}: expected shape (m, {d}) as the training views, got "
                f"{tuple(x.shape)}"
            )
        return to_float64(x).to(self.x_train_.device)

    def transform(self, x: Tensor) -> Tensor:
        r"""Representation :math:`f(x) = C k_x` of new points, the book's (K1).

        Uses only base-kernel evaluations against the training views.

        Args:
            x: Points, shape (m, d), d as at ``fit``.

        Returns:
            Features, shape (m, k), float64 on the training device.

        Raises:
            TypeError: If ``x`` is not a floating-point tensor.
            ValueError: If not fitted or ``x`` has the wrong shape.
        """
        x = self._check_fitted(x, "x")
        return self._gram(x, self.x_train_) @ self.coef_.T  # (m, N) @ (N, k)

    def kernel(self, x1: Tensor, x2: Tensor) -> Tensor:
        r"""Induced kernel, the book's (K2).

        :math:`k^\star(x_1, x_2) = k_{x_1}^\top C^\top C k_{x_2}`.

        Args:
            x1: Points, shape (m1, d).
            x2: Points, shape (m2, d).

        Returns:
            Gram matrix of the induced kernel, shape (m1, m2), float64.

        Raises:
            TypeError: If ``x1`` or ``x2`` is not a floating-point tensor.
            ValueError: If not fitted or a shape is wrong.
        """
        f1 = self.transform(self._check_fitted(x1, "x1"))  # (m1, k)
        f2 = self.transform(self._check_fitted(x2, "x2"))  # (m2, k)
        return f1 @ f2.T


# --- explicit-feature encoder (the training check of Claim 1) ------------------------


def contrastive_kernel_loss(f: Tensor, A: Tensor) -> Tensor:
    r"""The book's contrastive loss (K3) on a representation given as rows.

    .. math::
        \mathcal L_c = \lVert Z^\top Z - A \rVert_F^2 = \lVert F F^\top - A
        \rVert_F^2, \qquad F = Z^\top \in \mathbb R^{N \times k}

    The book's own formulation (a spectral-contrastive-type loss whose optimum
    correlates augmented views and decorrelates the others); the paper's
    contrastive loss was not available to the book (the chapter's first page
    says so). Differentiable.

    Args:
        f: Representation of the N training views, shape (N, k).
        A: Augmentation adjacency, shape (N, N).

    Returns:
        The loss, a scalar tensor.

    Raises:
        TypeError: If ``f`` or ``A`` is not a floating-point tensor.
        ValueError: If ``A`` is not (N, N) for the N rows of ``f``.
    """
    check_batch(f, name="f")
    check_float(A, name="A")
    n = f.shape[0]
    if A.shape != (n, n):
        raise ValueError(
            f"A: expected shape ({n}, {n}) for the {n} rows of f, got {tuple(A.shape)}"
        )
    return ((f @ f.T - A.to(f)) ** 2).sum()


class ExplicitKernelEncoder(nn.Module):
    r"""Linear head on explicit kernel features, :math:`f(x) = W \phi(x)`.

    The encoder of [kiani2022kernel, arXiv:2209.14884] before the representer
    form (K1): W (k, D) acts on a finite feature map :math:`\phi` (random
    Fourier features here), so it can be trained by gradient descent and
    compared with the closed form (Claim 1). Only the part of W inside
    :math:`\mathrm{span}\,\Phi` changes the loss; the part outside stays at its
    initial value, which is the small gap between training and the closed form.

    Args:
        n_features: Input feature dimension D, an int >= 1.
        k: Output dimension, an int >= 1.
        init_scale: Standard deviation of the Gaussian initial W, >= 0 (0 is a
            saddle point of (K3): the gradient vanishes and nothing moves).
        generator: CPU generator for the initial W.

    Shapes: ``forward(phi)`` maps (N, D) float64 features to (N, k) rows.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``n_features < 1``, ``k < 1`` or ``init_scale < 0``.
    """

    def __init__(
        self,
        n_features: int,
        k: int,
        *,
        init_scale: float = 1e-3,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int(n_features, name="n_features", minimum=1)
        check_int(k, name="k", minimum=1)
        init_scale = check_positive(init_scale, name="init_scale", strict=False)
        check_generator(generator)
        w = torch.randn(k, n_features, generator=generator, dtype=torch.float64)
        self.weight = nn.Parameter(init_scale * w)  # (k, D)

    def forward(self, phi: Tensor) -> Tensor:
        """Representation rows ``phi @ W^T``, shape (N, k), of features (N, D)."""
        check_batch(phi, name="phi")
        if phi.shape[1] != self.weight.shape[1]:
            raise ValueError(
                f"phi: expected shape (N, {self.weight.shape[1]}), got "
                f"{tuple(phi.shape)}"
            )
        return phi.to(self.weight) @ self.weight.T  # (N, k)


def fit_explicit_encoder(
    encoder: ExplicitKernelEncoder,
    phi: Tensor,
    group_ids: Tensor,
    *,
    max_iter: int = 500,
) -> list[float]:
    r"""Train an explicit-feature encoder on the book's (K3) with L-BFGS.

    Minimises :math:`\lVert F F^\top - A \rVert_F^2` over W in place
    (``torch.optim.LBFGS`` with a strong-Wolfe line search, float64). First-order
    Adam did not converge in 3000 steps on this problem (chapter Pitfalls);
    L-BFGS reaches about 1e-8 in a second on a well-conditioned kernel.

    Args:
        encoder: The model to train (its W is updated in place).
        phi: Explicit features of the N training views, shape (N, D).
        group_ids: Source id of each view, integer tensor of shape (N,).
        max_iter: L-BFGS iterations, an int >= 1.

    Returns:
        The loss after each L-BFGS function evaluation (the last is the final
        loss).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the shapes disagree.
    """
    check_finite(phi, name="phi")
    if not isinstance(encoder, ExplicitKernelEncoder):
        raise TypeError(
            f"encoder: expected an ExplicitKernelEncoder, got {type(encoder).__name__}"
        )
    check_batch(phi, name="phi")
    check_labels(group_ids, name="group_ids", n=phi.shape[0])
    check_int(max_iter, name="max_iter", minimum=1)
    phi = to_float64(phi).to(encoder.weight.device)
    A = augmentation_adjacency(group_ids).to(phi.device)  # (N, N)
    opt = torch.optim.LBFGS(
        encoder.parameters(),
        max_iter=max_iter,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        history_size=50,
        line_search_fn="strong_wolfe",
    )
    history: list[float] = []

    def closure() -> Tensor:
        opt.zero_grad()
        loss = contrastive_kernel_loss(encoder(phi), A)
        loss.backward()
        history.append(loss.item())
        return loss

    with torch.enable_grad():
        opt.step(closure)
        history.append(closure().item())
    return history
