r"""Self-supervised losses as spectral embeddings of a relation graph G.

Chapter 01 (spectral SSL) reproduces [balestriero2022contrastive,
arXiv:2205.11508v3]: written in terms of the matrix G that says which samples are
positives of which, VICReg is Laplacian Eigenmaps of G [belkin2003laplacian] (the
local side), SimCLR and the spectral contrastive loss [haochen2021provable] are
classical MDS [torgerson1952mds] of a normalised G (the global side), and in the
linear regime the optimal parameters are generalised eigenvectors: Locality
Preserving Projections [he2003lpp], LDA with the label graph [fisher1936lda], CCA
[hotelling1936cca] for Barlow Twins. This module builds the graphs, the Laplacian,
the closed-form optima and the graph-form losses that a free representation Z is
fitted to (``fit_free_embedding``), and compares subspaces
(``principal_angles``).

Shapes: ``N`` samples (views included), ``D`` input features, ``K`` embedding
dimensions. ``G`` is a dense symmetric non-negative (N, N) tensor with zero
diagonal, :math:`G_{ij} > 0` iff samples i and j are positives; row i of ``Z``
(N, K) is the representation :math:`z_i`. Notation: :math:`\mathrm{Deg} =
\mathrm{diag}(G \mathbb{1})`, :math:`L = \mathrm{Deg} - G`, :math:`H = I -
\mathbb{1}\mathbb{1}^\top / N`, :math:`C(Z) = Z^\top H Z / N` (biased covariance),
:math:`0 = \lambda_1 \le \lambda_2 \le \dots` the eigenvalues of L and
:math:`u_k` its eigenvectors.

Equations implemented (labels are the book's: the paper's theorem statements were
not available, so (S1)-(S6) and every closed form here are **the book's own
derivation**, consistent with the paper's claims and checked numerically; the
Barlow Twins reading is unverified):

- (S1) :math:`\sum_{ij} G_{ij} \lVert z_i - z_j \rVert^2 = 2 \operatorname{Tr}
  (Z^\top L Z)`, :math:`L = HLH`: ``graph_laplacian``; graphs: ``knn_graph``,
  ``label_graph``, ``misaligned_graph``, ``augmentation_graph``.
- (S2) VICReg with hard constraints, :math:`\min \operatorname{Tr}(Z^\top L Z)`
  s.t. :math:`C(Z) = I`, is Laplacian Eigenmaps, :math:`Z^\star = \sqrt N
  [u_2, \dots, u_{K+1}]`: ``laplacian_eigenmaps``.
- (S3) Frobenius VICReg, variances :math:`t_k = \max(0, 1 - \alpha \lambda_k /
  (2\beta))`, and (S4) hinge VICReg, :math:`t_k = \min(1, (\mu / (2 \alpha
  \lambda_k))^2)`: ``vicreg_closed_form``; the loss: ``vicreg_graph_loss``.
- (S5) linear regime, :math:`M w = \lambda \Sigma w`: ``vicreg_linear_closed_form``
  (hard constraints, or the variances of (S3) or (S4) with ``variant``);
  the linear spectral contrastive (SimCLR) and Barlow Twins closed forms:
  ``spectral_contrastive_linear_closed_form``,
  ``barlow_twins_linear_closed_form``; ``cca``.
- (S6) SimCLR in graph form, the cross-entropy between G and the row-stochastic
  similarity :math:`P(Z)`: ``simclr_graph_loss`` (its default ``form="paper"``);
  the spectral contrastive loss in graph form, kernel PCA of the normalised
  adjacency :math:`\hat G`: ``spectral_contrastive_loss``; ``classical_mds``.

Numerics: closed forms and eigendecompositions run in float64 on the input's
device (on MPS, which has no float64, on the CPU) and return float64. Eigenvector
signs are fixed (the largest-magnitude entry of each column is positive). Where an
eigenvalue is repeated (e.g. the n zero eigenvalues of an augmentation graph of n
originals), only its eigenspace is determined: the returned basis is the one
``torch.linalg.eigh`` gives, so compare such results with ``principal_angles``.
The batch losses used to train networks live in :mod:`dltheory.losses`; the graph
forms here are for free-Z analysis.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from torch import Tensor

from dltheory import augment, data, probes
from dltheory._checks import (
    check_batch,
    check_choice,
    check_data,
    check_finite,
    check_float,
    check_generator,
    check_int,
    check_labels,
    check_positive,
)
from dltheory._linalg import column_signs, fix_signs, to_float64, work_device

VARIANTS = ("frobenius", "hinge")

# Relative eigenvalue below which a covariance counts as singular (an error unless
# ridge > 0), and above which its condition number only warns.
_SINGULAR = 1e-12
_ILL_CONDITIONED = 1e-10


# --- helpers -----------------------------------------------------------------------


def _check_square(
    m: object, *, name: str, n: int | None = None, symmetric: bool = True
) -> Tensor:
    check_float(m, name=name)
    if m.dim() != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise ValueError(
            f"{name}: expected a square matrix of shape (N, N) with N >= 2, "
            f"got {tuple(m.shape)}"
        )
    if n is not None and m.shape[0] != n:
        raise ValueError(f"{name}: expected shape ({n}, {n}), got {tuple(m.shape)}")
    if symmetric:
        asymmetry = (m - m.T).abs().max().item()
        if asymmetry > 1e-8 * max(1.0, m.abs().max().item()):
            raise ValueError(
                f"{name}: expected a symmetric matrix, got max |M - M^T| = "
                f"{asymmetry:.3g}"
            )
    return m


def _check_graph(G: object, *, n: int | None = None, full: bool = True) -> Tensor:
    """Check a relation graph: symmetric, non-negative, zero diagonal.

    ``full=False`` (the graph-form losses, called thousands of times in a fit)
    checks the type, shape and diagonal only, O(N) besides the shape.
    """
    _check_square(G, name="G", n=n, symmetric=full)
    if full and (G < 0).any():
        raise ValueError(
            f"G: expected non-negative weights, got min {G.min().item():.3g}"
        )
    if G.diagonal().ne(0).any():
        raise ValueError(
            "G: expected a zero diagonal (no self-loops), got max |G_ii| = "
            f"{G.diagonal().abs().max().item():.3g}; use G.fill_diagonal_(0)"
        )
    return G


def _check_features(x: object, G: Tensor, *, name: str = "x") -> Tensor:
    check_batch(x, name=name, min_rows=2)
    if x.shape[0] != G.shape[0]:
        raise ValueError(
            f"{name} and G: expected {name} of shape (N, D) with N = {G.shape[0]} "
            f"rows, as G, got {tuple(x.shape)}"
        )
    return x


def _check_k(K: object, *, maximum: int, what: str) -> int:
    check_int(K, name="K", minimum=1)
    if maximum < K:
        raise ValueError(f"K: expected an int <= {maximum} ({what}), got {K}")
    return K


def _inv_sqrt_degree(deg: Tensor) -> Tensor:
    """D^{-1/2} as a vector, with 0 for isolated samples (zero degree)."""
    safe = torch.where(deg > 0, deg, torch.ones_like(deg))
    return torch.where(deg > 0, safe.rsqrt(), torch.zeros_like(deg))


def _centred_eigh(L: Tensor) -> tuple[Tensor, Tensor]:
    r"""Eigenpairs of a Laplacian L on the complement of the constant vector.

    Returns the N - 1 eigenvalues in ascending order, shape (N - 1,), and
    orthonormal eigenvectors orthogonal to :math:`\mathbb 1`, shape (N, N - 1).
    Since :math:`L \mathbb 1 = 0`, adding :math:`c\, \mathbb 1 \mathbb 1^\top / N`
    with c above :math:`\lambda_{\max}(L) \le 2 \max_i \mathrm{Deg}_{ii}`
    (Gershgorin) moves the constant to the top of the spectrum and leaves the rest
    unchanged, so the bottom N - 1 eigenvectors are centred even when 0 is a
    repeated eigenvalue (a disconnected graph).
    """
    n = L.shape[0]
    c = 2 * L.diagonal().max() + 1
    shifted = L + c / n  # L + c 1 1^T / N
    lambd, U = torch.linalg.eigh(shifted)  # ascending; the constant is last
    return lambd[:-1], U[:, :-1]


def _inv_sqrt_psd(S: Tensor, *, name: str) -> Tensor:
    """S^{-1/2} of a covariance, with an error if S is singular."""
    s, Q = torch.linalg.eigh(S)  # (D,), (D, D)
    largest = s[-1].item()
    smallest = s[0].item()
    if largest <= 0 or smallest <= _SINGULAR * largest:
        raise ValueError(
            f"{name}: expected a non-singular covariance, got smallest eigenvalue "
            f"{smallest:.3g} and largest {largest:.3g}; remove constant or collinear "
            "features (e.g. project on principal components) or pass ridge > 0"
        )
    if smallest <= _ILL_CONDITIONED * largest:
        warnings.warn(
            f"{name}: ill-conditioned covariance (condition number "
            f"{largest / smallest:.3g}); the closed form is sensitive to rounding, "
            "consider ridge > 0 or fewer features",
            stacklevel=3,
        )
    return (Q * s.rsqrt()) @ Q.T  # (D, D)


def _covariance(x: Tensor, *, centre: bool, ridge: float) -> Tensor:
    n, d = x.shape
    xc = x - x.mean(dim=0) if centre else x  # (N, D)
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    return xc.T @ xc / n + ridge * eye  # (D, D)


# --- graphs ------------------------------------------------------------------------


def knn_graph(x: Tensor, k: int, *, symmetric: bool = True) -> Tensor:
    r"""k-nearest-neighbour relation graph, the book's G for a manifold.

    .. math::
        A_{ij} = [\,j \text{ is one of the } k \text{ nearest neighbours of } i\,],
        \qquad G = \max(A, A^\top)

    with Euclidean distances in input units, a sample not being its own
    neighbour. Ties at the k-th distance are broken by ``torch.topk``.

    Args:
        x: Points, shape (N, D), N >= 2.
        k: Number of neighbours, an int in [1, N - 1].
        symmetric: If True (default), symmetrise by the maximum (an edge if
            either is a neighbour of the other); if False, return the directed
            A, whose row i has exactly k ones.

    Returns:
        G, shape (N, N), float64 0/1 entries, zero diagonal, on ``x``'s device
        (the CPU for MPS).

    Raises:
        TypeError: If ``x`` is not a floating-point tensor or ``k`` not an int.
        ValueError: If ``x`` is not (N, D) with N >= 2 or ``k`` is out of range.
    """
    check_finite(x, name="x")
    check_batch(x, name="x", min_rows=2)
    n = x.shape[0]
    check_int(k, name="k", minimum=1)
    if k > n - 1:
        raise ValueError(f"k: expected an int <= N - 1 = {n - 1}, got {k}")
    x = to_float64(x)
    dist = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")  # (N, N)
    dist.fill_diagonal_(math.inf)
    neighbours = dist.topk(k, dim=1, largest=False).indices  # (N, k)
    A = torch.zeros_like(dist).scatter_(1, neighbours, 1.0)  # (N, N) directed
    return torch.maximum(A, A.T) if symmetric else A


def _random_partners(valid: Tensor, partners: int, generator) -> Tensor:
    """Symmetrised graph linking each row to ``partners`` random valid columns."""
    n = valid.shape[0]
    scores = torch.rand(n, n, generator=generator, dtype=torch.float64)  # CPU draw
    scores = scores.to(valid.device).masked_fill(~valid, 2.0)  # invalid last
    chosen = scores.topk(partners, dim=1, largest=False).indices  # (N, partners)
    A = torch.zeros(n, n, dtype=torch.float64, device=valid.device)
    A.scatter_(1, chosen, 1.0)
    return torch.maximum(A, A.T)


def label_graph(
    y: Tensor, *, partners: int | None = None, generator: torch.Generator | None = None
) -> Tensor:
    r"""Supervised relation graph: positives share a label.

    .. math::
        G_{ij} = [\,y_i = y_j,\ i \ne j\,] \quad (\texttt{partners=None})

    With ``partners = p``, each sample i draws p distinct partners uniformly
    among the other samples of its class, :math:`A_{ij} = 1` for them, and
    :math:`G = \max(A, A^\top)`, so degrees are at least p. The draw is one
    ``torch.rand(N, N, generator=generator)`` on the CPU, so a seed gives the same
    graph on every device.

    Args:
        y: Integer class labels, shape (N,), N >= 2.
        partners: None (default) for all same-class pairs, or the number of
            random same-class partners per sample, an int in [1, n_min - 1] with
            n_min the size of the smallest class.
        generator: Source of randomness for ``partners``; None uses the global
            one.

    Returns:
        G, shape (N, N), float64 0/1 entries, zero diagonal, on ``y``'s device
        (the CPU for MPS).

    Raises:
        TypeError: If ``y`` is not an integer tensor, ``partners`` not an int or
            ``generator`` not a generator.
        ValueError: If ``y`` is not of shape (N,) with N >= 2 or ``partners`` is
            out of range.
    """
    check_labels(y, name="y")
    check_generator(generator)
    n = y.shape[0]
    if n < 2:
        raise ValueError(f"y: expected shape (N,) with N >= 2, got {tuple(y.shape)}")
    y = y.to(work_device(y.device))
    eye = torch.eye(n, dtype=torch.bool, device=y.device)
    same = (y[:, None] == y[None, :]) & ~eye  # (N, N)
    if partners is None:
        return same.to(torch.float64)
    check_int(partners, name="partners", minimum=1)
    smallest = torch.unique(y, return_counts=True)[1].min().item()
    if partners > smallest - 1:
        raise ValueError(
            f"partners: expected an int <= {smallest - 1} (the smallest class has "
            f"{smallest} samples), got {partners}"
        )
    return _random_partners(same, partners, generator)


def misaligned_graph(
    y: Tensor, *, partners: int, generator: torch.Generator | None = None
) -> Tensor:
    r"""Relation graph misaligned with the labels: positives from another class.

    Each sample i draws one class :math:`c_i \ne y_i` uniformly among the other
    classes, then ``partners`` distinct samples of class :math:`c_i` uniformly;
    :math:`A_{ij} = 1` for them and :math:`G = \max(A, A^\top)`. No edge joins two
    samples of the same class. Draws, on the CPU in this order:
    ``torch.randint(C - 1, (N,))`` for the classes, then ``torch.rand(N, N)``.

    Args:
        y: Integer class labels, shape (N,), at least two classes.
        partners: Number of partners per sample, an int in [1, n_min] with n_min
            the size of the smallest class.
        generator: Source of randomness; None uses the global one.

    Returns:
        G, shape (N, N), float64 0/1 entries, zero diagonal, on ``y``'s device
        (the CPU for MPS).

    Raises:
        TypeError: If ``y`` is not an integer tensor, ``partners`` not an int or
            ``generator`` not a generator.
        ValueError: If ``y`` has fewer than two classes or ``partners`` is out of
            range.
    """
    check_labels(y, name="y")
    check_generator(generator)
    check_int(partners, name="partners", minimum=1)
    y = y.to(work_device(y.device))
    _, index, counts = torch.unique(y, return_inverse=True, return_counts=True)
    n_classes = counts.numel()
    if n_classes < 2:
        raise ValueError(f"y: expected at least 2 classes, got {n_classes}")
    if partners > counts.min().item():
        raise ValueError(
            f"partners: expected an int <= {counts.min().item()} (the size of the "
            f"smallest class), got {partners}"
        )
    shift = torch.randint(n_classes - 1, (y.shape[0],), generator=generator)  # (N,)
    other = (index + 1 + shift.to(y.device)) % n_classes  # (N,) never y_i's class
    valid = index[None, :] == other[:, None]  # (N, N): j in class c_i
    return _random_partners(valid, partners, generator)


def augmentation_graph(n: int, views: int) -> Tensor:
    r"""Augmentation graph: the views of one original are each other's positives.

    .. math::
        G = I_n \otimes (\mathbb 1_V \mathbb 1_V^\top - I_V)

    Sample ``i * views + v`` is view v of original i. L has exactly n zero
    eigenvalues, one per block (book, after (S2)).

    Args:
        n: Number of originals, an int >= 1.
        views: Views per original, an int >= 2.

    Returns:
        G, shape (n * views, n * views), float64 on the CPU.

    Raises:
        TypeError: If ``n`` or ``views`` is not an int.
        ValueError: If ``n < 1`` or ``views < 2``.
    """
    check_int(n, name="n", minimum=1)
    check_int(views, name="views", minimum=2)
    block = torch.ones(views, views, dtype=torch.float64) - torch.eye(
        views, dtype=torch.float64
    )
    return torch.kron(torch.eye(n, dtype=torch.float64), block)


def graph_laplacian(
    G: Tensor, *, normalized: bool = False, degree_scale: bool = False
) -> Tensor:
    r"""Graph Laplacian of a relation graph, the book's (S1).

    .. math::
        L = \mathrm{Deg} - G, \qquad
        \sum_{i,j} G_{ij} \lVert z_i - z_j \rVert^2 = 2 \operatorname{Tr}(Z^\top L Z),
        \qquad L \mathbb 1 = 0,\ L = HLH \tag{S1}

    ``normalized=True`` gives :math:`I - \mathrm{Deg}^{-1/2} G\, \mathrm{Deg}^{-1/2}`
    (the Laplacian of ``sklearn.manifold.SpectralEmbedding``; not the one of
    (S2)-(S5)), with :math:`\mathrm{Deg}^{-1/2}_{ii} := 0` for an isolated sample, so
    that :math:`I - L_{\text{norm}} = \hat G` is the normalised affinity of
    ``spectral_contrastive_loss``. ``degree_scale=True`` divides the unnormalised L
    by the mean degree, so that the invariance weight of (S3)-(S5) has a
    degree-independent scale (chapter 01, Pitfalls).

    Args:
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal.
        normalized: Symmetric normalised Laplacian instead of Deg - G.
        degree_scale: Divide Deg - G by the mean degree (unnormalised only).

    Returns:
        L, shape (N, N), on the device and dtype of ``G``.

    Raises:
        TypeError: If ``G`` is not a floating-point tensor.
        ValueError: If ``G`` is not a valid graph, both flags are set, or
            ``degree_scale`` is set for a graph without edges.
    """
    _check_graph(G)
    deg = G.sum(dim=1)  # (N,)
    if normalized:
        if degree_scale:
            raise ValueError(
                "degree_scale: expected False with normalized=True (the normalised "
                "Laplacian is already scale-free), got True"
            )
        s = _inv_sqrt_degree(deg)
        eye = torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
        return eye - s[:, None] * G * s[None, :]
    L = torch.diag(deg) - G  # (N, N)
    if degree_scale:
        mean_degree = deg.mean()
        if mean_degree.item() == 0:
            raise ValueError("degree_scale: G has no edges (mean degree 0)")
        L = L / mean_degree
    return L


# --- local side: VICReg = Laplacian Eigenmaps ----------------------------------------


def laplacian_eigenmaps(G: Tensor, K: int) -> tuple[Tensor, Tensor]:
    r"""Laplacian Eigenmaps, the book's (S2) [belkin2003laplacian].

    .. math::
        \min_Z \operatorname{Tr}(Z^\top L Z) \ \text{s.t.}\ C(Z) = I
        \ \Rightarrow\ Z^\star = \sqrt N\, [u_2, \dots, u_{K+1}]\, R,
        \quad R \in O(K) \tag{S2}

    VICReg with hard constraints on a free representation (book's derivation;
    [balestriero2022contrastive, arXiv:2205.11508v3] states the correspondence).
    The eigenvectors are those of the unnormalised L on the complement of the
    constant vector (the centring of C(Z)), returned with R = I and fixed signs;
    then :math:`C(Z^\star) = I` and :math:`\operatorname{Tr}(Z^{\star\top} L
    Z^\star)/N = \sum_k \lambda_k`. For a connected G these are eigenvectors 2 to
    K + 1 of L. For a disconnected G (an augmentation graph has one zero
    eigenvalue per block) the zero eigenspace has dimension > 1 and any basis of
    it is optimal: compare with ``principal_angles``.

    Args:
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal.
        K: Embedding dimension, an int in [1, N - 1].

    Returns:
        ``(Z, eigvals)``: Z of shape (N, K) and :math:`\lambda_2, \dots,
        \lambda_{K+1}` of shape (K,), ascending, float64 on ``G``'s device.

    Raises:
        TypeError: If ``G`` is not a floating-point tensor or ``K`` not an int.
        ValueError: If ``G`` is not a valid graph or ``K`` is out of range.
    """
    check_float(G, name="G")
    L = graph_laplacian(to_float64(G))
    n = L.shape[0]
    _check_k(K, maximum=n - 1, what="N - 1 non-constant eigenvectors")
    lambd, U = _centred_eigh(L)
    return math.sqrt(n) * fix_signs(U[:, :K]), lambd[:K]


def _variances(
    lambd: Tensor, *, alpha: float, beta: float, mu: float, variant: str
) -> Tensor:
    """The book's (S3) / (S4) variances for eigenvalues ``lambd`` >= 0."""
    lambd = lambd.clamp(min=0)  # rounding can give -1e-16 for a zero eigenvalue
    if variant == "frobenius":
        return (1 - alpha * lambd / (2 * beta)).clamp(min=0)
    free = (lambd == 0) | (alpha == 0)  # no invariance cost: t = 1
    safe = torch.where(free, torch.ones_like(lambd), alpha * lambd)
    return torch.where(free, 1.0, (mu / (2 * safe)).pow(2).clamp(max=1))


def vicreg_closed_form(
    G: Tensor,
    K: int,
    *,
    alpha: float,
    beta: float = 1.0,
    mu: float = 1.0,
    variant: str = "frobenius",
    degree_scale: bool = False,
) -> tuple[Tensor, Tensor]:
    r"""Optimal free representation of graph-form VICReg, the book's (S3) and (S4).

    .. math::
        Z^\star = \sqrt N\, U_K \operatorname{diag}(\sqrt{t_k}), \qquad
        t_k = \max\Bigl(0,\ 1 - \frac{\alpha \lambda_k}{2 \beta}\Bigr) \tag{S3}

    .. math::
        t_k = \min\Bigl(1,\ \Bigl(\frac{\mu}{2 \alpha \lambda_k}\Bigr)^2\Bigr)
        \quad (\texttt{variant="hinge"}) \tag{S4}

    with :math:`U_K = [u_2, \dots, u_{K+1}]` and :math:`\lambda_k` as in
    ``laplacian_eigenmaps`` (of L / mean degree with ``degree_scale``). Then
    :math:`C(Z^\star) = \mathrm{diag}(t)` and :math:`\operatorname{Tr}(Z^{\star\top}
    L Z^\star) / N = \sum_k \lambda_k t_k`, so ``vicreg_graph_loss`` with the same
    arguments is, per direction, :math:`\alpha \lambda_k t_k + \beta (t_k - 1)^2`
    (minimised at (S3); the global optimum, since the loss is :math:`\beta \lVert
    P - (I - \alpha L / 2\beta) \rVert_F^2` + const in :math:`P = ZZ^\top / N` on
    the centred subspace) or :math:`\alpha \lambda_k t_k + \mu (1 - \sqrt{t_k})^+`
    (minimised at (S4); optimal among decorrelated Z, which a large enough
    covariance weight enforces). Book's derivation. For the hinge, a rotation
    mixing directions k and l changes the loss at second order by a multiple of
    :math:`4\nu(\sqrt{t_k} + \sqrt{t_l})\sqrt{t_k t_l} - \mu`, so (S4) is a
    local minimum (with ``vicreg_graph_loss``'s :math:`\nu`) only where this is
    positive for every pair; with tiny variances (a large alpha) it is not, and
    gradient descent finds lower losses with fewer directions. Gradient descent
    on the hinge loss also converges slowly (chapter 01, Pitfalls).

    Frobenius directions with :math:`\lambda_k \ge 2\beta/\alpha` collapse
    exactly (t = 0, zero columns); hinge directions shrink but never vanish. A
    zero eigenvalue (a free direction) gives t = 1 in both (for the hinge, any
    t >= 1 is optimal there; 1 is returned), as does alpha = 0.

    Args:
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal.
        K: Embedding dimension, an int in [1, N - 1].
        alpha: Invariance weight, >= 0.
        beta: Weight of :math:`\lVert C - I \rVert_F^2` (Frobenius), > 0.
        mu: Variance weight (hinge), > 0.
        variant: ``"frobenius"`` (default, (S3)) or ``"hinge"`` ((S4)).
        degree_scale: Use L / mean degree, as ``graph_laplacian``.

    Returns:
        ``(Z, t)``: Z of shape (N, K) and the variances t of shape (K,), float64 on
        ``G``'s device.

    Raises:
        TypeError: If ``G`` is not a floating-point tensor or a hyperparameter
            has the wrong type.
        ValueError: If ``G`` is not a valid graph, or ``K``, a hyperparameter or
            ``variant`` is out of range.
    """
    check_float(G, name="G")
    check_choice(variant, name="variant", choices=VARIANTS)
    alpha = check_positive(alpha, name="alpha", strict=False)
    beta = check_positive(beta, name="beta")
    mu = check_positive(mu, name="mu")
    L = graph_laplacian(to_float64(G), degree_scale=degree_scale)
    n = L.shape[0]
    _check_k(K, maximum=n - 1, what="N - 1 non-constant eigenvectors")
    lambd, U = _centred_eigh(L)
    lambd, U = lambd[:K], fix_signs(U[:, :K])  # (K,), (N, K)
    t = _variances(lambd, alpha=alpha, beta=beta, mu=mu, variant=variant)
    return math.sqrt(n) * U * t.sqrt(), t


def vicreg_graph_loss(
    Z: Tensor,
    G: Tensor,
    *,
    alpha: float,
    beta: float = 1.0,
    mu: float = 1.0,
    nu: float = 25.0,
    variant: str = "hinge",
    degree_scale: bool = False,
    eps: float = 0.0,
) -> Tensor:
    r"""VICReg in graph form on a free representation, the loss of (S3)/(S4).

    .. math::
        \text{frobenius:}\quad \alpha \frac{\operatorname{Tr}(Z^\top L Z)}{N}
            + \beta \lVert C(Z) - I \rVert_F^2

    .. math::
        \text{hinge:}\quad \alpha \frac{\operatorname{Tr}(Z^\top L Z)}{N}
            + \mu \sum_{k} \bigl(1 - \sqrt{C_{kk} + \epsilon}\bigr)^+
            + \nu \sum_{k \ne l} C_{kl}^2

    with :math:`C(Z) = Z^\top H Z / N` the biased covariance and, by (S1),
    :math:`\operatorname{Tr}(Z^\top L Z)/N = \sum_{ij} G_{ij} \lVert z_i - z_j
    \rVert^2 / (2N)`. Sums over k, not means, and the biased covariance: these
    conventions make ``vicreg_closed_form`` with the same arguments its exact
    minimiser. The book's graph form, not the batch loss of [bardes2022vicreg]
    (``losses.vicreg``: mean squared distance of paired views, unbiased
    covariance, variance averaged over dimensions, target std gamma): its
    :math:`\alpha, \mu, \nu` play the roles of the paper's
    :math:`\lambda, \mu, \nu` with different scales. ``beta`` is used by the
    Frobenius variant only, ``mu``, ``nu``, ``eps`` by the hinge variant only.

    The loss ignores the column means of Z (:math:`L \mathbb 1 = 0` and C
    centres), so a fit leaves them at their initial values: centre Z before
    comparing it with a closed form (``principal_angles(Z - Z.mean(0), Z_star)``).
    For speed in fitting loops G's symmetry and signs are not checked here
    (``graph_laplacian`` checks them).

    Args:
        Z: Representation, shape (N, K), N >= 2.
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal;
            cast to the dtype and device of ``Z``.
        alpha: Invariance weight, >= 0.
        beta: Weight of the Frobenius term, >= 0.
        mu: Variance (hinge) weight, >= 0.
        nu: Covariance weight, >= 0.
        variant: ``"hinge"`` (default, as VICReg is trained) or ``"frobenius"``.
        degree_scale: Use L / mean degree, as ``graph_laplacian``.
        eps: Added to :math:`C_{kk}` before the square root, >= 0. The default 0
            keeps (S4) exact; the gradient is infinite at a zero variance.

    Returns:
        Scalar tensor on the device and dtype of ``Z``.

    Raises:
        TypeError: If ``Z`` or ``G`` is not a floating-point tensor, or a
            hyperparameter is not a number.
        ValueError: If the shapes do not match, ``G`` is not a valid graph, or a
            hyperparameter or ``variant`` is out of range.
    """
    check_batch(Z, name="Z", min_rows=2)
    check_choice(variant, name="variant", choices=VARIANTS)
    for value, name in ((alpha, "alpha"), (beta, "beta"), (mu, "mu"), (nu, "nu")):
        check_positive(value, name=name, strict=False)
    check_positive(eps, name="eps", strict=False)
    _check_graph(G, n=Z.shape[0], full=False)
    n, k = Z.shape
    G = G.to(Z)
    deg = G.sum(dim=1)  # (N,)
    # Tr(Z^T (Deg - G) Z) / N without forming L
    invariance = ((deg * Z.pow(2).sum(dim=1)).sum() - (Z * (G @ Z)).sum()) / n
    if degree_scale:
        mean_degree = deg.mean()
        if mean_degree.item() == 0:
            raise ValueError("degree_scale: G has no edges (mean degree 0)")
        invariance = invariance / mean_degree
    centred = Z - Z.mean(dim=0)  # (N, K)
    C = centred.T @ centred / n  # (K, K), biased
    if variant == "frobenius":
        eye = torch.eye(k, dtype=Z.dtype, device=Z.device)
        return alpha * invariance + beta * (C - eye).pow(2).sum()
    variance = F.relu(1 - torch.sqrt(C.diagonal() + eps)).sum()
    off_diagonal = C.pow(2).sum() - C.diagonal().pow(2).sum()
    return alpha * invariance + mu * variance + nu * off_diagonal


# --- linear regime ------------------------------------------------------------------


def vicreg_linear_closed_form(
    x: Tensor,
    G: Tensor,
    K: int,
    *,
    alpha: float | None = None,
    beta: float = 1.0,
    mu: float = 1.0,
    variant: str = "frobenius",
    degree_scale: bool = False,
    ridge: float = 0.0,
) -> tuple[Tensor, Tensor]:
    r"""Optimal linear VICReg, Z = XW: the book's (S5), with (S3)'s or (S4)'s variances.

    .. math::
        \Sigma = \frac{X^\top H X}{N} + \rho I, \qquad M = \frac{X^\top L X}{N},
        \qquad M w = \lambda\, \Sigma\, w \tag{S5}

    ``alpha=None`` (hard constraints :math:`W^\top \Sigma W = I`): the bottom-K
    generalised eigenvectors, normalised so that :math:`W^\top \Sigma W = I`, t =
    1: Locality Preserving Projections [he2003lpp]; with the label graph, M is the
    within-class scatter weighted by class size, so this is LDA [fisher1936lda]
    (exactly for balanced classes and ``partners=None``). Frobenius variant
    (``alpha`` a number): minimising :math:`\alpha \operatorname{Tr}(W^\top M W) +
    \beta \lVert W^\top \Sigma W - I \rVert_F^2` gives

    .. math::
        W^\star = \Sigma^{-1/2} V_K \operatorname{diag}(\sqrt{t_k}), \qquad
        t_k = \max\Bigl(0,\ 1 - \frac{\alpha \lambda_k}{2\beta}\Bigr)

    with :math:`(\lambda_k, V_K)` the bottom-K eigenpairs of
    :math:`\Sigma^{-1/2} M \Sigma^{-1/2}` (the same :math:`\lambda_k` as (S5)), so
    :math:`W^\top \Sigma W = \mathrm{diag}(t)`. Hinge variant (``variant="hinge"``):
    the same directions with (S4)'s variances,

    .. math::
        t_k = \min\Bigl(1,\ \Bigl(\frac{\mu}{2 \alpha \lambda_k}\Bigr)^2\Bigr)
        \tag{S4}

    assuming a covariance weight large enough to decorrelate the outputs: the
    minimiser of :math:`\alpha \operatorname{Tr}(W^\top M W) + \mu \sum_k (1 -
    \sqrt{C_{kk}})^+` over decorrelated :math:`C = W^\top \Sigma W`, direction by
    direction. It shrinks directions but never zeroes them (rank K), unlike the
    Frobenius variant. Both are ``vicreg_closed_form``'s variants for a linear
    encoder. Book's derivation. Signs are fixed on the columns of
    :math:`\Sigma^{-1/2} V_K`.

    A singular :math:`\Sigma` (constant pixels of raw digits, N <= D) makes (S5)
    degenerate: it raises unless ``ridge`` :math:`= \rho > 0`; project on
    principal components first (chapter 01, Pitfalls).

    Args:
        x: Features, shape (N, D), N >= 2.
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal.
        K: Embedding dimension, an int in [1, D].
        alpha: None (default) for hard constraints, or the invariance weight,
            >= 0, of the soft variant (0: t = 1, the whitened directions).
        beta: Weight of the Frobenius term, > 0 (Frobenius variant only).
        mu: Variance (hinge) weight, > 0 (hinge variant only).
        variant: ``"frobenius"`` (default, (S3)) or ``"hinge"`` ((S4)), the soft
            variant when ``alpha`` is a number; the hinge needs one.
        degree_scale: Use L / mean degree, as ``graph_laplacian``.
        ridge: :math:`\rho`, added to the diagonal of :math:`\Sigma`, >= 0.

    Returns:
        ``(W, t)``: W of shape (D, K) and t of shape (K,), float64 on ``x``'s
        device.

    Raises:
        TypeError: If ``x`` or ``G`` is not a floating-point tensor, or a
            hyperparameter has the wrong type.
        ValueError: If the shapes do not match, ``G`` is not a valid graph, ``K``
            or a hyperparameter is out of range, ``variant`` is unknown or is
            ``"hinge"`` with ``alpha=None``, or :math:`\Sigma` is singular.

    Warns:
        UserWarning: If :math:`\Sigma` is ill-conditioned (condition number above
            1e10).
    """
    check_finite(x, name="x")
    check_choice(variant, name="variant", choices=VARIANTS)
    x = to_float64(_check_features(x, _check_graph(G)))
    n, d = x.shape
    _check_k(K, maximum=d, what="the number of features D")
    if alpha is None and variant == "hinge":
        raise ValueError(
            "alpha: the hinge variant needs an invariance weight >= 0, got None"
        )
    if alpha is not None:
        alpha = check_positive(alpha, name="alpha", strict=False)
        beta = check_positive(beta, name="beta")
        mu = check_positive(mu, name="mu")
    ridge = check_positive(ridge, name="ridge", strict=False)
    L = graph_laplacian(G.to(x), degree_scale=degree_scale)  # (N, N)
    centred = x - x.mean(dim=0)  # (N, D); L 1 = 0, so X^T L X = Xc^T L Xc
    M = centred.T @ (L @ centred) / n  # (D, D)
    root = _inv_sqrt_psd(_covariance(x, centre=True, ridge=ridge), name="x")
    B = root @ M @ root  # (D, D)
    lambd, V = torch.linalg.eigh((B + B.T) / 2)  # ascending
    W = fix_signs(root @ V[:, :K])  # (D, K), W^T Sigma W = I
    if alpha is None:
        t = torch.ones(K, dtype=x.dtype, device=x.device)
    else:
        t = _variances(lambd[:K], alpha=alpha, beta=beta, mu=mu, variant=variant)
    return W * t.sqrt(), t


def spectral_contrastive_linear_closed_form(
    x: Tensor, G: Tensor, K: int, *, ridge: float = 0.0
) -> tuple[Tensor, Tensor]:
    r"""Optimal linear W for the spectral contrastive loss, Z = XW (book's derivation).

    With positive pairs drawn with probability :math:`G_{ij} / \sum G` and
    negatives independent and uniform over the N samples, the population loss of
    [haochen2021provable, arXiv:2106.04156v6, Sec. 3.2] for :math:`z = W^\top x` is

    .. math::
        -2 \operatorname{Tr}(W^\top A W) + \operatorname{Tr}\bigl((W^\top S W)^2\bigr),
        \qquad A = \frac{X^\top G X}{\sum_{ij} G_{ij}}, \quad
        S = \frac{X^\top X}{N} + \rho I

    (S uncentred, as the loss is). In :math:`P = S^{1/2} W W^\top S^{1/2}` it is
    :math:`\lVert P - S^{-1/2} A S^{-1/2} \rVert_F^2` + const, minimised by

    .. math::
        W^\star = S^{-1/2} U_K \operatorname{diag}\bigl(\sqrt{\mu_k^+}\bigr)

    with :math:`(\mu_k, U_K)` the top-K eigenpairs of :math:`S^{-1/2} A S^{-1/2}`:
    directions are weighted by how much positives agree. The book's linear
    reading of SimCLR (chapter 01, Claim 6).

    Args:
        x: Features, shape (N, D), N >= 2.
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal,
            with at least one edge.
        K: Embedding dimension, an int in [1, D].
        ridge: :math:`\rho`, added to the diagonal of S, >= 0.

    Returns:
        ``(W, mu)``: W of shape (D, K) and the top-K eigenvalues :math:`\mu_k` of
        shape (K,), descending (possibly negative; W uses :math:`\mu_k^+`),
        float64 on ``x``'s device.

    Raises:
        TypeError: If ``x`` or ``G`` is not a floating-point tensor.
        ValueError: If the shapes do not match, ``G`` is not a valid graph or has
            no edge, ``K`` or ``ridge`` is out of range, or S is singular.

    Warns:
        UserWarning: If S is ill-conditioned.
    """
    check_finite(x, name="x")
    x = to_float64(_check_features(x, _check_graph(G)))
    d = x.shape[1]
    _check_k(K, maximum=d, what="the number of features D")
    ridge = check_positive(ridge, name="ridge", strict=False)
    G = G.to(x)
    total = G.sum()
    if total.item() == 0:
        raise ValueError("G: expected at least one edge, got an empty graph")
    A = x.T @ (G @ x) / total  # (D, D)
    root = _inv_sqrt_psd(_covariance(x, centre=False, ridge=ridge), name="x")
    B = root @ A @ root
    mu, U = torch.linalg.eigh((B + B.T) / 2)  # ascending
    mu, U = mu.flip(0)[:K], U.flip(1)[:, :K]  # top K, descending
    W = fix_signs(root @ U)  # (D, K)
    return W * mu.clamp(min=0).sqrt(), mu


def barlow_twins_linear_closed_form(
    x: Tensor, G: Tensor, K: int, *, ridge: float = 0.0
) -> Tensor:
    r"""Barlow Twins, linear: whitened top-K canonical directions of positive pairs.

    .. math::
        \Sigma = \frac{X_c^\top X_c}{N} + \rho I, \qquad
        A = \frac{X_c^\top G X_c}{\sum_{ij} G_{ij}}, \qquad
        W^\star = \Sigma^{-1/2} U_K

    with :math:`X_c = HX` and :math:`U_K` the top-K eigenvectors of
    :math:`\Sigma^{-1/2} A \Sigma^{-1/2}`. Then :math:`W^\top \Sigma W = I` (each
    output standardised, as Barlow Twins' batch norm does) and the positive-pair
    cross-correlation :math:`W^\top A W = \mathrm{diag}(\rho_k)` is diagonal with
    the largest canonical correlations: the closest a shared linear encoder gets
    to Barlow Twins' target C = I [zbontar2021barlow]. Like CCA
    [hotelling1936cca] between a sample and its positives. The book's linear
    reading; the correspondence with the paper's statement is **unverified**.

    Args:
        x: Features, shape (N, D), N >= 2.
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal,
            with at least one edge.
        K: Embedding dimension, an int in [1, D].
        ridge: :math:`\rho`, added to the diagonal of :math:`\Sigma`, >= 0.

    Returns:
        W, shape (D, K), float64 on ``x``'s device.

    Raises:
        TypeError: If ``x`` or ``G`` is not a floating-point tensor.
        ValueError: If the shapes do not match, ``G`` is not a valid graph or has
            no edge, ``K`` or ``ridge`` is out of range, or :math:`\Sigma` is
            singular.

    Warns:
        UserWarning: If :math:`\Sigma` is ill-conditioned.
    """
    check_finite(x, name="x")
    x = to_float64(_check_features(x, _check_graph(G)))
    d = x.shape[1]
    _check_k(K, maximum=d, what="the number of features D")
    ridge = check_positive(ridge, name="ridge", strict=False)
    G = G.to(x)
    total = G.sum()
    if total.item() == 0:
        raise ValueError("G: expected at least one edge, got an empty graph")
    centred = x - x.mean(dim=0)  # (N, D)
    A = centred.T @ (G @ centred) / total  # (D, D)
    root = _inv_sqrt_psd(_covariance(x, centre=True, ridge=ridge), name="x")
    B = root @ A @ root
    _, U = torch.linalg.eigh((B + B.T) / 2)  # ascending
    return fix_signs(root @ U.flip(1)[:, :K])  # (D, K)


def cca(
    x_a: Tensor, x_b: Tensor, K: int, *, ridge: float = 0.0
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Canonical correlation analysis [hotelling1936cca].

    .. math::
        \Sigma_{aa}^{-1/2} \Sigma_{ab} \Sigma_{bb}^{-1/2}
            = U \operatorname{diag}(\rho) V^\top,
        \qquad W_a = \Sigma_{aa}^{-1/2} U_K, \quad W_b = \Sigma_{bb}^{-1/2} V_K

    with biased covariances of the centred features (:math:`\Sigma_{aa} =
    X_a^\top H X_a / N + \rho I`, likewise :math:`\Sigma_{bb}`, :math:`\Sigma_{ab}
    = X_a^\top H X_b / N`). Then :math:`W_a^\top \Sigma_{aa} W_a = W_b^\top
    \Sigma_{bb} W_b = I` and :math:`W_a^\top \Sigma_{ab} W_b =
    \mathrm{diag}(\rho_1, \dots, \rho_K)`, the canonical correlations, descending.
    Signs: fixed on :math:`W_a`, with :math:`W_b` flipped alike so that every
    correlation is >= 0. Offered for the Barlow Twins comparison (unverified in
    the paper's setting).

    Args:
        x_a: First view, shape (N, Da), N >= 2.
        x_b: Second view, shape (N, Db).
        K: Number of canonical pairs, an int in [1, min(Da, Db)].
        ridge: Added to the diagonal of both auto-covariances, >= 0.

    Returns:
        ``(W_a, W_b, corr)`` of shapes (Da, K), (Db, K), (K,), float64 on
        ``x_a``'s device.

    Raises:
        TypeError: If ``x_a`` or ``x_b`` is not a floating-point tensor.
        ValueError: If the shapes do not match, ``K`` or ``ridge`` is out of
            range, or an auto-covariance is singular.

    Warns:
        UserWarning: If an auto-covariance is ill-conditioned.
    """
    check_finite(x_a, name="x_a")
    check_finite(x_b, name="x_b")
    check_batch(x_a, name="x_a", min_rows=2)
    check_batch(x_b, name="x_b", min_rows=2)
    if x_a.shape[0] != x_b.shape[0]:
        raise ValueError(
            f"x_a and x_b: expected the same number of rows, got {tuple(x_a.shape)} "
            f"and {tuple(x_b.shape)}"
        )
    _check_k(K, maximum=min(x_a.shape[1], x_b.shape[1]), what="min(Da, Db)")
    ridge = check_positive(ridge, name="ridge", strict=False)
    x_a = to_float64(x_a)
    x_b = to_float64(x_b).to(x_a.device)
    n = x_a.shape[0]
    a = x_a - x_a.mean(dim=0)  # (N, Da)
    b = x_b - x_b.mean(dim=0)  # (N, Db)
    root_a = _inv_sqrt_psd(_covariance(a, centre=False, ridge=ridge), name="x_a")
    root_b = _inv_sqrt_psd(_covariance(b, centre=False, ridge=ridge), name="x_b")
    U, corr, Vh = torch.linalg.svd(root_a @ (a.T @ b / n) @ root_b)
    W_a = root_a @ U[:, :K]  # (Da, K)
    W_b = root_b @ Vh[:K].T  # (Db, K)
    signs = column_signs(W_a)  # (K,), the same flip keeps corr >= 0
    return W_a * signs, W_b * signs, corr[:K]


# --- global side: SimCLR = MDS ------------------------------------------------------


def _check_positive_degrees(G: Tensor) -> Tensor:
    deg = G.sum(dim=1)
    if (deg <= 0).any():
        raise ValueError(
            f"G: expected every sample to have a positive, got "
            f"{int((deg <= 0).sum().item())} isolated samples"
        )
    return deg


def simclr_graph_loss(
    Z: Tensor, G: Tensor, *, tau: float, form: str = "paper"
) -> Tensor:
    r"""SimCLR (InfoNCE with cosine similarity) in graph form.

    With :math:`s_{ij}` the cosine similarity of :math:`z_i, z_j` (``F.normalize``,
    as ``losses.info_nce``), :math:`\tau` = ``tau`` and the row-stochastic
    similarity :math:`P(Z)_{ij} = e^{s_{ij}/\tau} / \sum_{k \ne i}
    e^{s_{ik}/\tau}` (:math:`j \ne i`), ``form="paper"`` is the cross-entropy
    between the matrices G and :math:`P(Z)` of
    [balestriero2022contrastive, arXiv:2205.11508v3, Sec. 2] (cited by section: the
    book read it in a secondary reproduction of that section, not in the paper),
    averaged over the N anchors:

    .. math::
        \mathcal L_{\text{paper}} = -\frac1N \sum_{i} \sum_{j \ne i} G_{ij}
            \log P(Z)_{ij} \tag{S6}

    (the paper writes the sum; the 1/N makes one positive per sample equal
    NT-Xent's mean). ``form="book"`` is an earlier variant of the book, **not** (S6),
    the log of the G-weighted mean of the positives' probabilities:

    .. math::
        \mathcal L_{\text{book}} = -\frac1N \sum_i \log
            \frac{\sum_{j \ne i} G_{ij}\, P(Z)_{ij}}{\sum_j G_{ij}}

    Both equal NT-Xent [chen2020simclr, arXiv:2002.05709v3, Eq. (1)],
    ``losses.info_nce(..., convention="paper")``, when every sample has one positive
    of weight 1 (``augmentation_graph(n, 2)`` with the two views' rows
    interleaved); with several positives the paper's form asks each positive to be
    likely, the book's only their sum, and by Jensen's inequality
    :math:`\mathcal L_{\text{paper}} \ge \mathcal L_{\text{book}}` for a 0/1 G.
    In nats, computed with ``logsumexp``.

    Args:
        Z: Representation, shape (N, K), N >= 2.
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal,
            every sample with at least one positive; cast to ``Z``'s dtype and
            device.
        tau: Temperature, > 0.
        form: ``"paper"`` (default) or ``"book"``, see above.

    Returns:
        Scalar tensor on the device and dtype of ``Z``, in nats.

    Raises:
        TypeError: If ``Z`` or ``G`` is not a floating-point tensor or ``tau``
            not a number.
        ValueError: If the shapes do not match, ``G`` is not a valid graph or has
            an isolated sample, ``tau`` is not > 0, or ``form`` is unknown.
    """
    check_batch(Z, name="Z", min_rows=2)
    check_positive(tau, name="tau")
    check_choice(form, name="form", choices=("paper", "book"))
    _check_graph(G, n=Z.shape[0], full=False)
    G = G.to(Z)
    deg = _check_positive_degrees(G)  # (N,)
    n = Z.shape[0]
    u = F.normalize(Z, dim=1)  # (N, K) unit rows
    logits = u @ u.T / tau  # (N, N)
    self_pairs = torch.eye(n, dtype=torch.bool, device=Z.device)
    logits = logits.masked_fill(self_pairs, -math.inf)  # k != i
    log_all = torch.logsumexp(logits, dim=1, keepdim=True)  # (N, 1)
    if form == "paper":
        log_prob = (logits - log_all).masked_fill(self_pairs, 0.0)  # (N, N)
        return -(G * log_prob).sum(dim=1).mean()
    log_positive = torch.logsumexp(logits + G.log(), dim=1) - deg.log()  # (N,)
    return (log_all.squeeze(1) - log_positive).mean()


def spectral_contrastive_loss(Z: Tensor, G: Tensor) -> Tensor:
    r"""Spectral contrastive loss, graph form [haochen2021provable, arXiv:2106.04156v6].

    .. math::
        \mathcal L(Z) = -2 \operatorname{Tr}(Z^\top \hat G Z)
            + \lVert Z^\top Z \rVert_F^2
            = \lVert \hat G - Z Z^\top \rVert_F^2 - \lVert \hat G \rVert_F^2,
        \qquad \hat G = \mathrm{Deg}^{-1/2} G\, \mathrm{Deg}^{-1/2}

    the matrix form of HaoChen et al.'s population loss (their Sec. 3.2, the
    normalised augmentation graph :math:`\bar A`): their
    :math:`-2\,\mathbb E_{x,x^+}[f(x)^\top f(x^+)] + \mathbb E_{x,x^-}[(f(x)^\top
    f(x^-))^2]` with positive pairs drawn with probability :math:`G_{ij} / \sum G`
    and negatives from the marginal :math:`w_i = \mathrm{Deg}_{ii} / \sum G` is
    exactly :math:`\mathcal L(Z)` with rows :math:`z_i = \sqrt{w_i} f(x_i)`
    (factor 1). Minimised by the top-K eigenpairs of :math:`\hat G` scaled by the
    square roots of its positive eigenvalues: ``classical_mds(gram=G_hat, K=K)``.
    :math:`\hat G = I` - ``graph_laplacian(G, normalized=True)``, with
    :math:`\mathrm{Deg}^{-1/2}_{ii} := 0` for an isolated sample. Cost O(N^2 K),
    without the (N, N) Gram matrix.

    Args:
        Z: Representation, shape (N, K), N >= 2.
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal;
            cast to ``Z``'s dtype and device.

    Returns:
        Scalar tensor on the device and dtype of ``Z``.

    Raises:
        TypeError: If ``Z`` or ``G`` is not a floating-point tensor.
        ValueError: If the shapes do not match or ``G`` is not a valid graph.
    """
    check_batch(Z, name="Z", min_rows=2)
    _check_graph(G, n=Z.shape[0], full=False)
    G = G.to(Z)
    s = _inv_sqrt_degree(G.sum(dim=1))  # (N,)
    G_hat = s[:, None] * G * s[None, :]  # (N, N)
    return -2 * (Z * (G_hat @ Z)).sum() + (Z.T @ Z).pow(2).sum()


def classical_mds(
    *, d2: Tensor | None = None, gram: Tensor | None = None, K: int
) -> Tensor:
    r"""Classical multidimensional scaling [torgerson1952mds].

    .. math::
        B = -\tfrac12 H D^{(2)} H \ \ (\text{from } d2), \qquad
        B = \texttt{gram} \ \ (\text{as given}), \qquad
        Y = U_K \operatorname{diag}\bigl(\sqrt{\lambda_k^+}\bigr)

    with :math:`(\lambda_k, U_K)` the top-K eigenpairs of B, descending. From
    squared Euclidean distances :math:`D^{(2)}_{ij} = \lVert y_i - y_j \rVert^2` it
    returns a centred configuration with those distances (up to an orthogonal map)
    when K covers their rank; a ``gram`` is used as given, not centred (pass
    :math:`HBH` to centre it), so that ``classical_mds(gram=G_hat, K=K)`` is
    kernel PCA of the normalised adjacency, the minimiser of
    ``spectral_contrastive_loss``; this is not MDS of a distance (G_hat's zero
    diagonal would imply squared distances :math:`-2\hat G_{ij} \le 0`).
    Negative eigenvalues (distances that are not Euclidean) give zero columns.
    Signs fixed.

    Args:
        d2: Squared distances, shape (N, N), symmetric, non-negative.
        gram: Gram matrix of inner products, shape (N, N), symmetric.
        K: Embedding dimension, an int in [1, N].

    Returns:
        Y, shape (N, K), float64 on the input's device.

    Raises:
        TypeError: If the given matrix is not a floating-point tensor or ``K``
            not an int.
        ValueError: If not exactly one of ``d2`` and ``gram`` is given, the
            matrix is not square and symmetric, ``d2`` has a negative entry, or
            ``K`` is out of range.
    """
    if gram is not None:
        check_finite(gram, name="gram")
    if (d2 is None) == (gram is None):
        raise ValueError(
            "d2, gram: expected exactly one of them, got "
            + ("neither" if d2 is None else "both")
        )
    if d2 is not None:
        _check_square(d2, name="d2")
        if (d2 < 0).any():
            raise ValueError(
                f"d2: expected non-negative squared distances, got min "
                f"{d2.min().item():.3g}"
            )
        d2 = to_float64(d2)
        # -1/2 H D2 H by row, column and grand means
        B = -0.5 * (
            d2 - d2.mean(0, keepdim=True) - d2.mean(1, keepdim=True) + d2.mean()
        )
    else:
        B = to_float64(_check_square(gram, name="gram"))
    n = B.shape[0]
    _check_k(K, maximum=n, what="N")
    lambd, U = torch.linalg.eigh((B + B.T) / 2)  # ascending
    lambd, U = lambd.flip(0)[:K], U.flip(1)[:, :K]  # top K
    return fix_signs(U) * lambd.clamp(min=0).sqrt()


# --- fitting and comparing ----------------------------------------------------------


def fit_free_embedding(
    loss_fn: Callable[[Tensor], Tensor],
    N: int,
    K: int,
    *,
    steps: int,
    lr: float = 1e-2,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    r"""Minimise a loss over a free representation Z with Adam.

    Z starts at ``torch.randn(N, K, generator=generator)`` (drawn on the CPU in
    float32, then moved to ``device`` and ``dtype``, so a seed gives the same start
    everywhere), and takes ``steps`` Adam steps (PyTorch defaults besides ``lr``)
    on ``loss_fn(Z)``: a free representation is the limit of an infinitely
    expressive encoder, whose optimum the closed forms of this module give. Use
    ``functools.partial`` to bind a graph-form loss:
    ``partial(vicreg_graph_loss, G=G, alpha=1.0, variant="frobenius")``.

    Args:
        loss_fn: Maps Z, shape (N, K), to a scalar tensor.
        N: Number of samples, an int >= 1.
        K: Embedding dimension, an int >= 1.
        steps: Number of Adam steps, an int >= 0.
        lr: Adam's learning rate, > 0.
        generator: Source of randomness for the start; None uses the global one.
        device: Where Z lives; None for the CPU.
        dtype: Floating dtype of Z (float64 by default, for comparisons with the
            closed forms).

    Returns:
        The final Z, shape (N, K), detached.

    Raises:
        TypeError: If ``loss_fn`` is not callable, does not return a scalar
            tensor, or an argument has the wrong type.
        ValueError: If an argument is out of range, or Z has non-finite entries
            at the end (lower ``lr``).
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn: expected a callable, got {type(loss_fn).__name__}")
    check_int(N, name="N", minimum=1)
    check_int(K, name="K", minimum=1)
    check_int(steps, name="steps", minimum=0)
    check_positive(lr, name="lr")
    check_generator(generator)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating torch.dtype, got {dtype!r}")
    Z = torch.randn(N, K, generator=generator).to(device=device, dtype=dtype)
    Z.requires_grad_(True)
    optimizer = torch.optim.Adam([Z], lr=lr)
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(Z)
        if step == 0 and (not isinstance(loss, Tensor) or loss.dim() != 0):
            raise TypeError(
                "loss_fn: expected a scalar tensor, got "
                + (
                    f"shape {tuple(loss.shape)}"
                    if isinstance(loss, Tensor)
                    else type(loss).__name__
                )
            )
        loss.backward()
        optimizer.step()
    Z = Z.detach()
    if not torch.isfinite(Z).all():
        raise ValueError(
            f"fit_free_embedding: Z has non-finite entries after {steps} steps; "
            f"lower lr (got {lr})"
        )
    return Z


def _orthonormal_basis(a: Tensor) -> Tensor:
    """Orthonormal basis of the column space, numerical rank by SVD."""
    U, s, _ = torch.linalg.svd(a, full_matrices=False)
    if s.numel() == 0 or s[0].item() == 0:
        return U[:, :0]
    tol = max(a.shape) * torch.finfo(a.dtype).eps * s[0]
    return U[:, : int((s > tol).sum().item())]


def principal_angles(a: Tensor, b: Tensor) -> Tensor:
    r"""Cosines of the principal angles between two column spaces.

    .. math::
        \cos \theta_k = \sigma_k(Q_a^\top Q_b), \quad k = 1, \dots, \min(K_1, K_2)

    with :math:`Q_a, Q_b` orthonormal bases (by SVD) of the spaces spanned by the
    columns of ``a`` and ``b``, as given (not centred). Invariant to any
    invertible map of the columns, so it compares subspaces whatever the basis,
    scaling or signs (non-unique optima, Pitfalls). Cosines are in float64,
    clamped to [0, 1], descending. A numerically rank-deficient argument
    (singular values below max(N, K) eps times the largest; e.g. a collapsed
    column) spans a smaller space: its missing dimensions count as orthogonal,
    cosine 0.

    Args:
        a: Shape (N, K1).
        b: Shape (N, K2).

    Returns:
        Cosines, shape (min(K1, K2),), float64 on ``a``'s device.

    Raises:
        TypeError: If ``a`` or ``b`` is not a floating-point tensor.
        ValueError: If they are not 2-D or their numbers of rows differ.
    """
    check_finite(a, name="a")
    check_finite(b, name="b")
    check_batch(a, name="a")
    check_batch(b, name="b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"a and b: expected the same number of rows, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
    a = to_float64(a)
    b = to_float64(b).to(a.device)
    cosines = torch.linalg.svdvals(_orthonormal_basis(a).T @ _orthonormal_basis(b))
    k = min(a.shape[1], b.shape[1])
    out = torch.zeros(k, dtype=a.dtype, device=a.device)
    out[: cosines.numel()] = cosines.clamp(0, 1)
    return out


# --- 3_contrastive_is_global ---------------------------------------------------------


def cosine_gram(Z: Tensor) -> Tensor:
    r"""Gram matrix of the normalised rows: the cosines SimCLR sees.

    .. math::
        \mathrm{cos}(Z)_{ij} = \frac{z_i^\top z_j}{\lVert z_i \rVert \lVert z_j \rVert}

    (``F.normalize``, as ``simclr_graph_loss``, so a zero row gives zeros). (S6)
    depends on Z only through this matrix, so two representations with the same
    cosine Gram are one and the same for SimCLR, whatever the rotation or the row
    norms; the chapter compares SimCLR's optimum with classical MDS through it
    (Claim 3 of [balestriero2022contrastive, arXiv:2205.11508v3]; the simplex
    reading is the book's derivation).

    Args:
        Z: Representation, shape (N, K), N >= 1.

    Returns:
        The cosine Gram matrix, shape (N, N), float64 on ``Z``'s device (on the
        CPU for MPS).

    Raises:
        TypeError: If ``Z`` is not a floating-point tensor.
        ValueError: If ``Z`` is not 2-D.
    """
    check_finite(Z, name="Z")
    check_batch(Z, name="Z")
    u = F.normalize(to_float64(Z), dim=1)  # (N, K) unit rows
    return u @ u.T


def whitened_invariance(
    Z: Tensor, G: Tensor, *, rtol: float = 1e-8
) -> tuple[Tensor, Tensor, int]:
    r"""Invariance of a whitened representation and its closed-form lower bound.

    .. math::
        W = H Z V_r \operatorname{diag}(c_1, \dots, c_r)^{-1/2},\qquad
        \frac1N \operatorname{Tr}(W^\top L W) \;\ge\; \sum_{k=2}^{r+1} \lambda_k

    with :math:`(c_k, V_r)` the eigenpairs of :math:`C(Z) = Z^\top H Z / N` above
    ``rtol`` times the largest (r of them, the numerical rank), so that
    :math:`C(W) = I_r`. Whitening removes the scale, which the loss terms other
    than the invariance set, so representations learned by different losses can
    be compared on one scale: the normalised invariance term of VICReg, (S1).
    The bound is the value of Laplacian Eigenmaps (S2), the free-Z optimum under
    the same constraint (Ky Fan's minimum principle, since W is centred and
    :math:`L = HLH`); every representation, a trained network's included, lies
    on or above it. Book's derivation, for [balestriero2022contrastive,
    arXiv:2205.11508v3].

    Args:
        Z: Representation, shape (N, K).
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal.
        rtol: Relative eigenvalue of C(Z) below which a direction counts as
            collapsed and is left out, in (0, 1).

    Returns:
        ``(value, bound, r)``: the invariance :math:`\operatorname{Tr}(W^\top L
        W)/N` and the bound, float64 scalars on ``G``'s device, and the rank r.

    Raises:
        TypeError: If ``Z`` or ``G`` is not a floating-point tensor.
        ValueError: If the shapes do not match, ``G`` is not a valid graph,
            ``rtol`` is not in (0, 1), or Z is collapsed (C(Z) = 0).
    """
    check_finite(Z, name="Z")
    check_batch(Z, name="Z", min_rows=2)
    rtol = check_positive(rtol, name="rtol")
    if rtol >= 1:
        raise ValueError(f"rtol: expected a number in (0, 1), got {rtol}")
    G = _check_graph(G, n=Z.shape[0])
    L = graph_laplacian(to_float64(G))  # (N, N)
    n = L.shape[0]
    z = to_float64(Z).to(L.device)
    z = z - z.mean(dim=0)  # H Z
    c, V = torch.linalg.eigh(z.T @ z / n)  # ascending, (K,), (K, K)
    if c[-1].item() <= 0:
        raise ValueError("Z: expected a non-collapsed representation, got C(Z) = 0")
    keep = c > rtol * c[-1]
    r = int(keep.sum().item())
    W = z @ V[:, keep] * c[keep].rsqrt()  # (N, r), C(W) = I_r
    value = (W * (L @ W)).sum() / n
    bound = _centred_eigh(L)[0][:r].sum()
    return value, bound, r


# --- 1_vicreg_is_laplacian_eigenmaps -----------------------------------------------


def variance_spectrum(Z: Tensor) -> Tensor:
    r"""Variances of a representation along its principal directions.

    .. math::
        \operatorname{eig}\bigl(C(Z)\bigr),\qquad C(Z) = Z^\top H Z / N

    in descending order: for the optimum of the book's (S3) / (S4) these are the
    :math:`t_k` of ``vicreg_closed_form``, whatever rotation :math:`R \in O(K)` of
    (S2) or offset the optimiser lands on, since both leave the spectrum of the
    (biased) covariance unchanged [balestriero2022contrastive, arXiv:2205.11508v3].
    The number of entries above a small tolerance is the rank of the centred Z.

    Args:
        Z: Representation, shape (N, K), N >= 2.

    Returns:
        The K variances, shape (K,), descending, clamped at 0 (rounding can give
        -1e-17 for a collapsed direction), float64 on ``Z``'s device (the CPU for
        MPS).

    Raises:
        TypeError: If ``Z`` is not a floating-point tensor.
        ValueError: If ``Z`` is not 2-D with N >= 2 rows.
    """
    check_finite(Z, name="Z")
    check_batch(Z, name="Z", min_rows=2)
    z = to_float64(Z)
    centred = z - z.mean(dim=0)  # (N, K) = H Z
    C = centred.T @ centred / z.shape[0]  # (K, K), biased
    return torch.linalg.eigvalsh(C).flip(0).clamp(min=0)


def vicreg_fit_report(
    Z: Tensor,
    G: Tensor,
    *,
    alpha: float,
    beta: float = 1.0,
    mu: float = 1.0,
    variant: str = "frobenius",
    degree_scale: bool = False,
    tol: float = 1e-3,
) -> dict[str, Tensor | int | float]:
    r"""Compare a fitted free representation with the closed form (S3) / (S4).

    With :math:`t` the variances of ``vicreg_closed_form(G, K, ...)`` (the book's
    (S3) for ``variant="frobenius"``, (S4) for ``"hinge"``) and :math:`\hat t`
    those of Z (``variance_spectrum``), both descending, the report gives

    - ``t_learned`` :math:`\hat t` and ``t_predicted`` :math:`t`, shape (K,);
    - ``max_error`` :math:`\max_k |\hat t_k - t_k|`;
    - ``rank`` :math:`\#\{k : \hat t_k > \text{tol}\}` and ``rank_predicted``
      :math:`r = \#\{k : t_k > \text{tol}\}`; in the Frobenius variant, with
      ``tol`` below the smallest non-zero :math:`t_k`, :math:`r = \#\{k \le K :
      \lambda_{k+1} < 2\beta/\alpha\}` (with ``degree_scale``, of L / mean degree);
    - ``cosines``: the cosines of the principal angles, shape (r,), between the
      top-r principal directions of the centred Z and the r closed-form
      directions with :math:`t_k > \text{tol}` (eigenvectors of L), so that a
      collapsed direction, which carries no direction, is left out. All 1 when Z
      spans the predicted subspace.

    Book's derivation and check, for [balestriero2022contrastive,
    arXiv:2205.11508v3]. Where L has a repeated eigenvalue inside the kept
    directions' cut (e.g. the zero eigenvalues of an augmentation graph), the
    closed form picks one basis of an eigenspace of which any subspace is
    optimal: low cosines there mean non-uniqueness, not failure; compare with
    the whole eigenspace through ``principal_angles``.

    Args:
        Z: Fitted representation, shape (N, K), N >= 2, K <= N - 1.
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal.
        alpha: Invariance weight, >= 0.
        beta: Weight of the Frobenius term, > 0.
        mu: Variance (hinge) weight, > 0.
        variant: ``"frobenius"`` (default) or ``"hinge"``.
        degree_scale: Use L / mean degree, as ``graph_laplacian``.
        tol: Variance below which a direction counts as collapsed, > 0.

    Returns:
        A dict with keys ``t_learned``, ``t_predicted``, ``cosines`` (float64
        tensors on ``G``'s device, the CPU for MPS), ``max_error`` (float),
        ``rank`` and ``rank_predicted`` (int).

    Raises:
        TypeError: If ``Z`` or ``G`` is not a floating-point tensor, or a
            hyperparameter has the wrong type.
        ValueError: If the shapes do not match, ``G`` is not a valid graph, or a
            hyperparameter or ``variant`` is out of range.
    """
    check_finite(Z, name="Z")
    check_batch(Z, name="Z", min_rows=2)
    tol = check_positive(tol, name="tol")
    G = _check_graph(G, n=Z.shape[0])
    n, k = Z.shape
    Z_star, t = vicreg_closed_form(
        G,
        k,
        alpha=alpha,
        beta=beta,
        mu=mu,
        variant=variant,
        degree_scale=degree_scale,
    )  # (N, K), (K,) in the order of ascending lambda
    order = t.argsort(descending=True, stable=True)
    t_predicted = t[order]
    t_learned = variance_spectrum(Z).to(t.device)
    z = to_float64(Z).to(t.device)
    U = torch.linalg.svd(z - z.mean(dim=0), full_matrices=False).U  # (N, K)
    kept = order[t_predicted > tol]  # closed-form columns that do not collapse
    r = kept.numel()
    return {
        "t_learned": t_learned,
        "t_predicted": t_predicted,
        "max_error": (t_learned - t_predicted).abs().max().item(),
        "rank": int((t_learned > tol).sum().item()),
        "rank_predicted": r,
        "cosines": principal_angles(U[:, :r], Z_star[:, kept])
        if r > 0
        else t.new_zeros(0),
    }


# --- 2_linear_regime_and_graphs ------------------------------------------------------

SWEEP_ALPHAS = (0.01, 0.1, 0.3, 1.0, 2.0, 3.0, 5.0)
SWEEP_HINGE_ALPHAS = (0.1, 1.0, 5.0)
SWEEP_LABELS = (1, 2, 3, 5, 10, 20, 50)
SWEEP_GRAPHS = ("aligned", "misaligned")
SWEEP_OTHERS = ("raw", "Barlow Twins", "SimCLR spectral")


def linear_eigenvalues(
    x: Tensor,
    G: Tensor,
    K: int,
    *,
    degree_scale: bool = False,
    ridge: float = 0.0,
) -> Tensor:
    r"""The bottom-K generalised eigenvalues of the book's (S5).

    .. math::
        M w_k = \lambda_k \Sigma w_k,\qquad
        \lambda_k = \frac{w_k^\top M w_k}{w_k^\top \Sigma w_k}
        = \frac{\operatorname{Tr}(z_k^\top L z_k)}{N\, C(z_k)} \tag{S5}

    computed from the hard-constraint solution of ``vicreg_linear_closed_form``
    (:math:`W^\top \Sigma W = I`) as :math:`\operatorname{diag}(W^\top M W)`: how
    much positives disagree along each direction, per unit variance. (S3) and (S4)
    turn them into variances (the two variants of ``vicreg_linear_closed_form``);
    ``2 beta / alpha`` is the Frobenius variant's collapse threshold. Book's
    derivation, for [balestriero2022contrastive, arXiv:2205.11508v3].

    Args:
        x: Features, shape (N, D), N >= 2.
        G: Relation graph, shape (N, N), symmetric, non-negative, zero diagonal.
        K: Number of eigenvalues, an int in [1, D].
        degree_scale: Use L / mean degree, as ``graph_laplacian``.
        ridge: Added to the diagonal of :math:`\Sigma`, >= 0.

    Returns:
        :math:`\lambda_1 \le \dots \le \lambda_K`, shape (K,), float64 on ``x``'s
        device.

    Raises:
        TypeError, ValueError: As ``vicreg_linear_closed_form``.
    """
    check_finite(x, name="x")
    W, _ = vicreg_linear_closed_form(
        x, G, K, degree_scale=degree_scale, ridge=ridge
    )  # (D, K), W^T Sigma W = I
    x = to_float64(x)
    L = graph_laplacian(to_float64(G).to(x.device), degree_scale=degree_scale)  # (N, N)
    Z = (x - x.mean(dim=0)) @ W  # (N, K)
    return (Z * (L @ Z)).sum(dim=0) / x.shape[0]  # diag(W^T M W)


def digits_pool(
    seed: int, *, pool_size: int = 1000, test_size: int = 797
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The digits of chapter 01's linear sweep: a random pool and a test part.

    ``data.digits(train_size=pool_size, test_size=test_size, seed=seed)``, a
    split stratified by label: the pool is the unlabelled set the graphs
    and closed forms see (and the probe draws its few labels from); the test part
    is never seen before the probe's evaluation.

    Args:
        seed: Seed of the split, an int >= 0.
        pool_size: Images in the pool, an int in [10, 1797 - test_size].
        test_size: Images in the test part, an int >= 10.

    Returns:
        ``(x_pool, y_pool, x_test, y_test)``: pixels of shape (n, 64), float32
        in [0, 1], and int64 labels, on the CPU.

    Raises:
        TypeError: If an argument is not an int.
        ValueError: If the sizes are out of range.
    """
    check_int(test_size, name="test_size", minimum=10)
    check_int(pool_size, name="pool_size", minimum=10)
    if pool_size + test_size > 1797:
        raise ValueError(
            f"pool_size: expected an int <= 1797 - test_size = {1797 - test_size}, "
            f"got {pool_size}"
        )
    return tuple(data.digits(test_size=test_size, train_size=pool_size, seed=seed))


def pca_coordinates(
    x_pool: Tensor, x_test: Tensor, *, n_components: int = 40
) -> tuple[Tensor, Tensor, object]:
    r"""Principal-component coordinates, fitted on the pool (``sklearn`` ``PCA``).

    Needed before (S5) on raw digits: always-zero pixels make :math:`\Sigma`
    singular and create spurious perfectly invariant directions (chapter 01,
    Pitfalls). ``PCA(n_components, svd_solver="full")`` is fitted on ``x_pool``,
    then both parts are projected (centred with the pool's mean, not whitened).

    Args:
        x_pool: Pool features, shape (N, D).
        x_test: Test features, shape (M, D).
        n_components: Number of components, an int in [1, min(N, D)].

    Returns:
        ``(f_pool, f_test, pca)``: coordinates of shapes (N, n_components) and
        (M, n_components), float64 on the CPU, and the fitted
        ``sklearn.decomposition.PCA`` (its ``transform`` maps other images, e.g.
        augmented views, to the same coordinates).

    Raises:
        TypeError: If a feature tensor is not floating point.
        ValueError: If the shapes do not match or ``n_components`` is out of range.
    """
    check_finite(x_pool, name="x_pool")
    check_finite(x_test, name="x_test")
    check_batch(x_pool, name="x_pool", min_rows=2)
    check_batch(x_test, name="x_test")
    if x_pool.shape[1] != x_test.shape[1]:
        raise ValueError(
            "x_pool and x_test: expected the same number of features, got "
            f"{x_pool.shape[1]} and {x_test.shape[1]}"
        )
    check_int(n_components, name="n_components", minimum=1)
    if n_components > min(x_pool.shape):
        raise ValueError(
            f"n_components: expected an int <= {min(x_pool.shape)}, got {n_components}"
        )
    pool = x_pool.detach().to("cpu", torch.float64).numpy()
    pca = PCA(n_components=n_components, svd_solver="full").fit(pool)
    test = x_test.detach().to("cpu", torch.float64).numpy()
    return (
        torch.as_tensor(pca.transform(pool)),
        torch.as_tensor(pca.transform(test)),
        pca,
    )


def lda_map(x: Tensor, y: Tensor, *, K: int | None = None) -> Tensor:
    r"""The supervised reference of chapter 01: LDA fitted on labelled features.

    ``LinearDiscriminantAnalysis(solver="eigen").scalings_[:, :K]``
    [fisher1936lda], fitted on ``x`` with the labels ``y``: the map a linear
    VICReg with the full label graph approximates (chapter 01, claim 4). Chapter
    01's aligned and misaligned graphs are built from the labels of the whole
    pool, so this map, fitted on the same labels and probed the same way, is the
    reference they are compared with (notebook 2, sections 3 and 5).

    Args:
        x: Features, shape (N, D), float.
        y: Integer labels, shape (N,), at least 2 classes.
        K: Directions kept, an int in [1, C - 1]; default C - 1.

    Returns:
        W, shape (D, K), float64 on the CPU.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor or ``K`` not an int.
        ValueError: If the shapes do not match or ``K`` is out of range.
    """
    check_labels(y, name="y")
    check_finite(x, name="x")
    check_batch(x, name="x", min_rows=2)
    if not isinstance(y, Tensor) or y.shape != (x.shape[0],):
        raise ValueError(
            f"y: expected a tensor of shape ({x.shape[0]},), got "
            f"{tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__}"
        )
    classes = int(torch.unique(y).numel())
    if classes < 2:
        raise ValueError(f"y: expected at least 2 classes, got {classes}")
    K = classes - 1 if K is None else K
    _check_k(K, maximum=min(classes - 1, x.shape[1]), what="min(C - 1, D)")
    lda = LinearDiscriminantAnalysis(solver="eigen").fit(
        to_float64(x).cpu().numpy(), y.cpu().numpy()
    )
    return torch.as_tensor(lda.scalings_[:, :K], dtype=torch.float64)  # (D, K)


def graph_representations(
    seed: int,
    *,
    alphas: tuple[float, ...] = (3.0,),
    augmentation: bool = False,
    partners: int = 5,
    K: int = 32,
    supervised: bool = False,
) -> tuple[dict[str, Tensor], tuple[Tensor, Tensor, Tensor, Tensor]]:
    r"""The linear VICReg maps of chapter 01's claim 5 for one seed, by name.

    On ``digits_pool(seed)`` projected on 40 principal components: the identity
    (``"raw PCA-40"``), the hard-constrained (S5) maps of the aligned graph
    (``partners`` random same-class partners) and of the misaligned graph
    (partners from a random other class), the Frobenius maps of the aligned graph
    with the Laplacian divided by its mean degree at each invariance weight in
    ``alphas`` (``"aligned α=3"``, ...), and with ``augmentation`` the map of the
    augmentation graph of two views per image, each shifted by up to one pixel
    (``augment.random_affine`` without rotation or scaling). One generator seeded
    with ``seed`` draws the graphs, then the shifts. The book's own construction
    [balestriero2022contrastive, arXiv:2205.11508v3]. Both graphs read the labels
    of the whole pool; with ``supervised`` the maps include
    ``"LDA (pool labels)"`` (``lda_map`` on the same labels), the supervised
    reference for them.

    Args:
        seed: Seed of the pool split, the graphs and the shifts, an int >= 0.
        alphas: Invariance weights of the Frobenius maps.
        augmentation: Also fit the augmentation graph.
        partners: Partners per sample of the aligned and misaligned graphs.
        K: Output dimension of every map.
        supervised: Also return ``"LDA (pool labels)"``, shape (40, 9).

    Returns:
        The maps ``W`` of shape (40, K) (the identity is (40, 40)) by name, and the
        split ``(f_pool, y_pool, f_test, y_test)`` in PCA coordinates (float64).
    """
    x_pool, y_pool, x_test, y_test = digits_pool(seed)
    f_pool, f_test, pca = pca_coordinates(x_pool, x_test)  # (n, 40), float64
    gen = torch.Generator().manual_seed(seed)
    aligned = label_graph(y_pool, partners=partners, generator=gen)
    misaligned = misaligned_graph(y_pool, partners=partners, generator=gen)
    maps = {
        "raw PCA-40": torch.eye(f_pool.shape[1], dtype=torch.float64),
        "aligned": vicreg_linear_closed_form(f_pool, aligned, K)[0],
        "misaligned": vicreg_linear_closed_form(f_pool, misaligned, K)[0],
    }
    if augmentation:
        images = x_pool.reshape(-1, 1, 8, 8)
        shift = partial(
            augment.random_affine, max_degrees=0.0, max_scale=0.0, generator=gen
        )
        views = torch.stack([shift(images), shift(images)], dim=1).reshape(-1, 64)
        f_views = torch.as_tensor(pca.transform(views.double().numpy()))  # (2n, 40)
        graph = augmentation_graph(len(y_pool), 2)
        maps["augmentation"] = vicreg_linear_closed_form(f_views, graph, K)[0]
    for alpha in alphas:
        maps[f"aligned α={alpha:g}"] = vicreg_linear_closed_form(
            f_pool, aligned, K, alpha=alpha, degree_scale=True
        )[0]
    if supervised:
        maps["LDA (pool labels)"] = lda_map(f_pool, y_pool)
    return maps, (f_pool, y_pool, f_test, y_test)


def sweep_representations(
    x: Tensor,
    G: Tensor,
    *,
    K: int = 32,
    alphas: tuple[float, ...] = SWEEP_ALPHAS,
    hinge_alphas: tuple[float, ...] = SWEEP_HINGE_ALPHAS,
    others: tuple[str, ...] = SWEEP_OTHERS,
    beta: float = 1.0,
    mu: float = 1.0,
) -> dict[str, Tensor]:
    r"""The linear maps W of chapter 01's design-guidance sweep (Claim 6), by name.

    All closed forms on the pool features ``x`` with the Laplacian divided by its
    mean degree (chapter 01, Pitfalls), features ``x @ W``:

    - ``"VICReg α=a"``: Frobenius variant (S3), ``vicreg_linear_closed_form``;
    - ``"VICReg hinge α=a"``: hinge variant (S4) with ``mu``,
      ``vicreg_linear_closed_form(..., variant="hinge")``;
    - ``"Barlow Twins"``: ``barlow_twins_linear_closed_form`` (whitened top-K
      canonical directions; the book's reading, unverified);
    - ``"SimCLR spectral"``: ``spectral_contrastive_linear_closed_form``
      (HaoChen et al.'s loss, the book's linear reading of SimCLR);
    - ``"raw"``: the identity (D, D), the features themselves.

    The names format ``a`` with ``:g`` (``"VICReg α=0.1"``). Book's derivations,
    for [balestriero2022contrastive, arXiv:2205.11508v3].

    Args:
        x: Pool features, shape (N, D), e.g. ``pca_coordinates``'s.
        G: Relation graph on the pool, shape (N, N).
        K: Embedding dimension, an int in [1, D].
        alphas: Invariance weights of the Frobenius variant, each >= 0.
        hinge_alphas: Invariance weights of the hinge variant, each >= 0.
        others: Any of ``"raw"``, ``"Barlow Twins"``, ``"SimCLR spectral"``.
        beta: Frobenius weight of (S3), > 0.
        mu: Hinge weight of (S4), > 0.

    Returns:
        Name to W, float64, shape (D, K) (the identity for ``"raw"``), in the
        order: raw, Frobenius, hinge, Barlow Twins, SimCLR.

    Raises:
        ValueError: If a name in ``others`` is unknown, or as the closed forms.
    """
    check_data(x, name="x", ndim=2)
    check_finite(x, name="x")
    for name in others:
        check_choice(name, name="others", choices=SWEEP_OTHERS)
    x = to_float64(x)
    out: dict[str, Tensor] = {}
    if "raw" in others:
        out["raw"] = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    for a in alphas:
        out[f"VICReg α={a:g}"] = vicreg_linear_closed_form(
            x, G, K, alpha=a, beta=beta, degree_scale=True
        )[0]
    for a in hinge_alphas:
        out[f"VICReg hinge α={a:g}"] = vicreg_linear_closed_form(
            x, G, K, alpha=a, mu=mu, variant="hinge", degree_scale=True
        )[0]
    if "Barlow Twins" in others:
        out["Barlow Twins"] = barlow_twins_linear_closed_form(x, G, K)
    if "SimCLR spectral" in others:
        out["SimCLR spectral"] = spectral_contrastive_linear_closed_form(x, G, K)[0]
    return out


def probe_sweep(
    features: dict[str, tuple[Tensor, Tensor]],
    y_train: Tensor,
    y_test: Tensor,
    *,
    labels_per_class: tuple[int, ...] = SWEEP_LABELS,
    draws: int = 2,
    standardize: bool = False,
    c: float = 1.0,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Few-label linear-probe accuracy of several representations, paired.

    ``probes.linear_probe`` (multinomial logistic regression, inverse
    regularisation ``c``) for every representation and labels-per-class budget,
    ``draws`` labelled subsets each, drawn from a generator seeded with ``seed``
    afresh for every representation and budget: all representations see the same
    labelled examples, so their differences are paired. ``standardize=False`` (the
    default of chapter 01's sweep) probes the features as they are, so the scale a
    method gives each direction counts; ``True`` standardises them first, which
    undoes any per-direction scaling.

    Args:
        features: Name to ``(f_train, f_test)``, shapes (n, H) and (m, H).
        y_train: Labels of the training (pool) part, shape (n,).
        y_test: Labels of the test part, shape (m,).
        labels_per_class: Budgets, each an int >= 1.
        draws: Labelled subsets per budget, an int >= 1.
        standardize: Standardise the features (with the labelled subset's
            statistics) before the probe.
        c: Inverse regularisation strength, > 0 (scikit-learn's ``C``).
        seed: Seed of the labelled subsets, an int >= 0.

    Returns:
        Name to test accuracies, shape (len(labels_per_class),), float64
        fractions in [0, 1].

    Raises:
        TypeError, ValueError: If an argument is out of range, or as
            ``probes.linear_probe``.
    """
    check_int(seed, name="seed", minimum=0)
    for n in labels_per_class:
        check_int(n, name="labels_per_class", minimum=1)
    out = {}
    for name, (f_train, f_test) in features.items():
        accuracies = [
            probes.linear_probe(
                f_train,
                y_train,
                f_test,
                y_test,
                labels_per_class=n,
                draws=draws,
                c=c,
                standardize=standardize,
                generator=torch.Generator().manual_seed(seed),
            )
            for n in labels_per_class
        ]
        out[name] = torch.tensor(accuracies, dtype=torch.float64)
    return out


def design_sweep(
    seed: int,
    *,
    graph: str = "aligned",
    pool_size: int = 1000,
    n_components: int = 40,
    partners: int = 5,
    K: int = 32,
    alphas: tuple[float, ...] = SWEEP_ALPHAS,
    hinge_alphas: tuple[float, ...] = SWEEP_HINGE_ALPHAS,
    others: tuple[str, ...] = SWEEP_OTHERS,
    labels_per_class: tuple[int, ...] = SWEEP_LABELS,
    draws: int = 2,
    standardize: bool = False,
    supervised: bool = False,
) -> dict:
    r"""One seed and graph of chapter 01's design-guidance sweep (Claim 6).

    The setting of [balestriero2022contrastive, arXiv:2205.11508v3]'s design
    guidance as the book tests it in the linear regime: ``digits_pool(seed,
    pool_size)``, ``pca_coordinates`` (``n_components``, fitted on the pool),
    the graph on the pool (``"aligned"``: ``label_graph`` with ``partners``
    random same-class partners; ``"misaligned"``: ``misaligned_graph``, partners
    from one random other class; both drawn with ``manual_seed(seed)``), the
    closed forms of ``sweep_representations`` (L divided by its mean degree,
    :math:`\beta = \mu = 1`), and ``probe_sweep`` with labelled subsets seeded by
    ``seed``.

    Args:
        seed: Seed of the split, the graph and the labelled subsets, an int >= 0.
        graph: ``"aligned"`` or ``"misaligned"``.
        pool_size: Images in the pool (the test part has 797).
        n_components: Principal components kept.
        partners: Partners per sample in the graph.
        K: Embedding dimension of the closed forms.
        alphas: Frobenius invariance weights.
        hinge_alphas: Hinge invariance weights.
        others: Any of ``"raw"``, ``"Barlow Twins"``, ``"SimCLR spectral"``.
        labels_per_class: Budgets of the probe.
        draws: Labelled subsets per budget.
        standardize: Standardise the features before the probe (default: as is).
        supervised: Also probe ``"LDA (pool labels)"``, ``lda_map`` fitted on the
            labels of the whole pool, which both graphs read: the supervised
            reference of the sweep.

    Returns:
        A dict with ``"accuracy"`` (name to accuracies, shape
        (len(labels_per_class),)), ``"rank"`` (name to the rank of the pool
        features, an int), ``"labels_per_class"`` and ``"graph"``.

    Raises:
        TypeError, ValueError: If an argument is out of range.
    """
    check_choice(graph, name="graph", choices=SWEEP_GRAPHS)
    x_pool, y_pool, x_test, y_test = digits_pool(seed, pool_size=pool_size)
    f_pool, f_test, _ = pca_coordinates(x_pool, x_test, n_components=n_components)
    make = label_graph if graph == "aligned" else misaligned_graph
    G = make(y_pool, partners=partners, generator=torch.Generator().manual_seed(seed))
    weights = sweep_representations(
        f_pool, G, K=K, alphas=alphas, hinge_alphas=hinge_alphas, others=others
    )
    if supervised:
        weights["LDA (pool labels)"] = lda_map(f_pool, y_pool)
    features = {name: (f_pool @ W, f_test @ W) for name, W in weights.items()}
    accuracy = probe_sweep(
        features,
        y_pool,
        y_test,
        labels_per_class=labels_per_class,
        draws=draws,
        standardize=standardize,
        seed=seed,
    )
    rank = {
        name: int(torch.linalg.matrix_rank(f).item())
        for name, (f, _) in features.items()
    }
    return {
        "accuracy": accuracy,
        "rank": rank,
        "labels_per_class": tuple(labels_per_class),
        "graph": graph,
    }
