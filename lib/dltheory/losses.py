r"""Joint-embedding SSL losses: VICReg, VCReg, Barlow Twins, SimCLR, spectral.

Used by chapter 00 (SSL in ten minutes) and every SSL chapter after it (01 spectral
SSL, 02 kernel SSL, 03 VCReg and independence, 04 VICReg and information, 05
Guillotine regularization). Each loss is a pure function of two batches of
embeddings, the two views of the same n inputs, and returns a scalar tensor on the
device and dtype of its inputs; the training loops take them as callables,
``partial(losses.vicreg, var_weight=0.0)``.

Shapes: ``n`` samples in a batch, ``d`` embedding features. Row i of ``z_a`` and
row i of ``z_b`` are a positive pair. Papers that write a batch as
:math:`Z \in \mathbb{R}^{d \times n}` are transposed here to ``(n, d)``.

Equations implemented (arXiv versions pinned: equation numbers move between them):

- VICReg [bardes2022vicreg, arXiv:2105.04906v3]: variance Eqs. (1)-(2),
  covariance Eqs. (3)-(4), invariance Eq. (5), the loss Eq. (6):
  ``variance``, ``covariance``, ``invariance``, ``vicreg``, ``vicreg_terms``.
- VCReg, VICReg without its invariance term, as studied in
  [mialon2022vcreg, arXiv:2209.14905v1]: ``vcreg``.
- Barlow Twins [zbontar2021barlow, arXiv:2103.03230v3, Eqs. (1)-(2)]:
  ``barlow_twins``.
- SimCLR's NT-Xent [chen2020simclr, arXiv:2002.05709v3, Eq. (1)]: ``info_nce``.
- The spectral contrastive loss [haochen2021provable, arXiv:2106.04156v6,
  Secs. 3.2 and 4]: ``spectral_contrastive``.

Paper and code: where the authors' released code computes another constant factor
than the printed equation, a ``convention="code" | "paper"`` argument chooses, and
both are tested against an independent transcription. The single VICReg terms
(``invariance``) default to the paper, the equation they are named after; the
combined ``vicreg`` and ``vicreg_terms`` default to the code, because the
coefficients 25 / 25 / 1 were tuned with it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from dltheory._checks import check_batch, check_choice, check_positive, check_same_shape

CONVENTIONS = ("code", "paper")


def _check_pair(z_a: object, z_b: object) -> None:
    check_batch(z_a, name="z_a", min_rows=2)
    check_batch(z_b, name="z_b", min_rows=2)
    check_same_shape(z_a, z_b, names=("z_a", "z_b"))


def invariance(z_a: Tensor, z_b: Tensor, *, convention: str = "paper") -> Tensor:
    r"""VICReg invariance term s(Z, Z') [bardes2022vicreg, arXiv:2105.04906v3, Eq. (5)].

    .. math::
        s(Z, Z') = \frac{1}{n} \sum_{i=1}^{n} \lVert z_i - z'_i \rVert_2^2

    The mean over samples of the squared distance between the two views.

    Departure of the authors' code (facebookresearch/vicreg, ``main_vicreg.py``,
    ``VICReg.forward``, commit 4e12602): ``F.mse_loss(x, y)``, the mean over all
    n d entries, which is Eq. (5) divided by d. ``convention="code"`` computes it.

    Args:
        z_a: Embeddings of the first view, shape (n, d), n >= 2.
        z_b: Embeddings of the second view, shape (n, d).
        convention: ``"paper"`` for Eq. (5), ``"code"`` for the authors' mean over
            the n d entries (Eq. (5) / d).

    Returns:
        Scalar tensor on the device and dtype of ``z_a``.

    Raises:
        TypeError: If ``z_a`` or ``z_b`` is not a floating-point tensor.
        ValueError: If the shapes are not (n, d) with n >= 2, differ, or
            ``convention`` is not ``"code"`` or ``"paper"``.
    """
    _check_pair(z_a, z_b)
    check_choice(convention, name="convention", choices=CONVENTIONS)
    if convention == "code":
        return F.mse_loss(z_a, z_b)
    return (z_a - z_b).pow(2).sum(dim=1).mean()  # (n,) squared distances, then mean


def variance(z: Tensor, *, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    r"""VICReg variance term v(Z) [bardes2022vicreg, arXiv:2105.04906v3, Eqs. (1)-(2)].

    .. math::
        v(Z) = \frac{1}{d} \sum_{j=1}^{d} \max\bigl(0, \gamma - S(z^j, \epsilon)\bigr),
        \qquad S(x, \epsilon) = \sqrt{\mathrm{Var}(x) + \epsilon}

    with :math:`z^j` the j-th feature over the batch and Var the unbiased variance
    (divisor n - 1), as in the authors' code (``x.var(dim=0)``). A hinge on the
    standard deviation of each feature: zero once every feature has standard
    deviation at least about gamma. For a constant batch it is
    :math:`\max(0, \gamma - \sqrt{\epsilon})`. Matches the authors' code for one
    branch; ``vicreg_terms`` combines the two branches (summed in the paper,
    averaged in the code).

    ``eps`` keeps the gradient finite where a feature is constant: with
    ``eps=0`` the value is defined there but its gradient is not.

    Args:
        z: Embeddings, shape (n, d), n >= 2.
        gamma: Target standard deviation, > 0 (1 in the paper).
        eps: Added to the variance before the square root, >= 0.

    Returns:
        Scalar tensor on the device and dtype of ``z``.

    Raises:
        TypeError: If ``z`` is not a floating-point tensor, or a hyperparameter
            is not a number.
        ValueError: If ``z`` is not of shape (n, d) with n >= 2, or a
            hyperparameter is out of range.
    """
    check_batch(z, name="z", min_rows=2)
    check_positive(gamma, name="gamma")
    check_positive(eps, name="eps", strict=False)
    std = torch.sqrt(torch.var(z, dim=0, correction=1) + eps)  # (d,), S(z^j, eps)
    return F.relu(gamma - std).mean()


def covariance(z: Tensor) -> Tensor:
    r"""VICReg covariance term c(Z) [bardes2022vicreg, arXiv:2105.04906v3, Eq. (4)].

    .. math::
        C(Z) = \frac{1}{n-1} \sum_{i=1}^{n} (z_i - \bar z)(z_i - \bar z)^\top,
        \qquad c(Z) = \frac{1}{d} \sum_{i \neq j} C(Z)_{ij}^2

    with C(Z) the covariance matrix of Eq. (3). Zero exactly when the d features are
    pairwise uncorrelated in the batch. Matches the authors' code for one branch;
    ``vicreg`` adds the terms of the two branches, as in Eq. (6).

    Args:
        z: Embeddings, shape (n, d), n >= 2.

    Returns:
        Scalar tensor on the device and dtype of ``z``.

    Raises:
        TypeError: If ``z`` is not a floating-point tensor.
        ValueError: If ``z`` is not of shape (n, d) with n >= 2.
    """
    check_batch(z, name="z", min_rows=2)
    n, d = z.shape
    centered = z - z.mean(dim=0)  # (n, d)
    cov = centered.T @ centered / (n - 1)  # (d, d), unbiased as in Eq. (3)
    off_diagonal = cov.pow(2).sum() - cov.diagonal().pow(2).sum()
    return off_diagonal / d


def vicreg_terms(
    z_a: Tensor,
    z_b: Tensor,
    *,
    gamma: float = 1.0,
    eps: float = 1e-4,
    convention: str = "code",
) -> dict[str, Tensor]:
    r"""Unweighted VICReg terms [bardes2022vicreg, arXiv:2105.04906v3, Eq. (6)].

    The parts of Eq. (6) before weighting, each already combined over the two
    branches, so that ``vicreg`` is their weighted sum and a training loop can log
    them. With s, v, c of Eqs. (5), (1) and (4):

    .. math::
        \text{paper:}\quad
        \bigl(s(Z, Z'),\ v(Z) + v(Z'),\ c(Z) + c(Z')\bigr)

        \text{code:}\quad
        \bigl(s(Z, Z') / d,\ [v(Z) + v(Z')] / 2,\ c(Z) + c(Z')\bigr)

    ``convention="code"`` is what the authors' released code computes
    (facebookresearch/vicreg, ``main_vicreg.py``, ``VICReg.forward``, commit
    4e12602): ``repr_loss = F.mse_loss(x, y)``, the mean over n d entries;
    ``std_loss``, the two variance terms averaged (each halved); ``cov_loss``, the
    two covariance terms summed, each with divisor n - 1 and divided by d.

    Args:
        z_a: Embeddings of the first view, shape (n, d), n >= 2.
        z_b: Embeddings of the second view, shape (n, d).
        gamma: Target standard deviation of ``variance``, > 0.
        eps: Added to the variance of ``variance``, >= 0.
        convention: ``"code"`` (default) or ``"paper"``, see above.

    Returns:
        A dict with scalar tensors ``"invariance"``, ``"variance"`` and
        ``"covariance"``, on the device and dtype of ``z_a``.

    Raises:
        TypeError: If ``z_a`` or ``z_b`` is not a floating-point tensor, or a
            hyperparameter is not a number.
        ValueError: If the shapes are not (n, d) with n >= 2 or differ, a
            hyperparameter is out of range, or ``convention`` is not ``"code"``
            or ``"paper"``.
    """
    _check_pair(z_a, z_b)
    check_choice(convention, name="convention", choices=CONVENTIONS)
    v = variance(z_a, gamma=gamma, eps=eps) + variance(z_b, gamma=gamma, eps=eps)
    return {
        "invariance": invariance(z_a, z_b, convention=convention),
        "variance": v / 2 if convention == "code" else v,
        "covariance": covariance(z_a) + covariance(z_b),
    }


def vicreg(
    z_a: Tensor,
    z_b: Tensor,
    *,
    inv_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
    convention: str = "code",
) -> Tensor:
    r"""VICReg loss [bardes2022vicreg, arXiv:2105.04906v3, Eq. (6)].

    .. math::
        \ell(Z, Z') = \lambda\, s(Z, Z') + \mu\,[v(Z) + v(Z')] + \nu\,[c(Z) + c(Z')]

    with s, v, c the terms of Eqs. (5), (1)-(2) and (3)-(4), and
    :math:`\lambda, \mu, \nu` = ``inv_weight``, ``var_weight``, ``cov_weight``.
    That is ``convention="paper"``. The default, ``convention="code"``, is what the
    authors' released code computes (facebookresearch/vicreg, ``main_vicreg.py``,
    ``VICReg.forward``, commit 4e12602):

    .. math::
        \ell_{\text{code}}(Z, Z') = \lambda\, \frac{s(Z, Z')}{d}
            + \mu\, \frac{v(Z) + v(Z')}{2} + \nu\,[c(Z) + c(Z')]

    The coefficients 25 / 25 / 1 (the paper's and the code's defaults) were tuned
    with the code's convention, hence the default; with ``convention="paper"`` the
    same coefficients weigh invariance d times and variance twice as much. The
    code's ``FullGatherLayer`` computes the variance and covariance on the batch
    gathered over all processes; here they are computed on the batch given.

    Args:
        z_a: Embeddings of the first view, shape (n, d), n >= 2.
        z_b: Embeddings of the second view, shape (n, d).
        inv_weight: lambda, >= 0.
        var_weight: mu, >= 0.
        cov_weight: nu, >= 0.
        gamma: Target standard deviation of the variance term, > 0.
        eps: Added to the variance before the square root, >= 0.
        convention: ``"code"`` (default) or ``"paper"``, see above.

    Returns:
        Scalar tensor on the device and dtype of ``z_a``.

    Raises:
        TypeError: If ``z_a`` or ``z_b`` is not a floating-point tensor, or a
            hyperparameter is not a number.
        ValueError: If the shapes are not (n, d) with n >= 2 or differ, a
            hyperparameter is out of range, or ``convention`` is not ``"code"``
            or ``"paper"``.
    """
    check_positive(inv_weight, name="inv_weight", strict=False)
    check_positive(var_weight, name="var_weight", strict=False)
    check_positive(cov_weight, name="cov_weight", strict=False)
    terms = vicreg_terms(z_a, z_b, gamma=gamma, eps=eps, convention=convention)
    return (
        inv_weight * terms["invariance"]
        + var_weight * terms["variance"]
        + cov_weight * terms["covariance"]
    )


def vcreg(
    z: Tensor,
    *,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
) -> Tensor:
    r"""VCReg, VICReg's regularizer on one batch [mialon2022vcreg, arXiv:2209.14905v1].

    .. math::
        \mathcal{L}_{\text{VCReg}}(Z) = \mu\, v(Z) + \nu\, c(Z)

    with v and c the VICReg terms [bardes2022vicreg, arXiv:2105.04906v3,
    Eqs. (1)-(4)]: VICReg's regularizer applied to one branch, without the
    invariance term, as chapter 03 studies it. Per branch, the paper's Eq. (6)
    weighs v by mu = 25, while the authors' VICReg code, which averages the two
    branches, weighs it by 12.5; pass ``var_weight=12.5`` to match the code.

    Args:
        z: Embeddings, shape (n, d), n >= 2.
        var_weight: mu, >= 0.
        cov_weight: nu, >= 0.
        gamma: Target standard deviation of the variance term, > 0.
        eps: Added to the variance before the square root, >= 0.

    Returns:
        Scalar tensor on the device and dtype of ``z``.

    Raises:
        TypeError: If ``z`` is not a floating-point tensor, or a hyperparameter
            is not a number.
        ValueError: If ``z`` is not of shape (n, d) with n >= 2, or a
            hyperparameter is out of range.
    """
    check_positive(var_weight, name="var_weight", strict=False)
    check_positive(cov_weight, name="cov_weight", strict=False)
    v = variance(z, gamma=gamma, eps=eps)
    return var_weight * v + cov_weight * covariance(z)


def barlow_twins(
    z_a: Tensor, z_b: Tensor, *, lambd: float = 5e-3, eps: float = 1e-5
) -> Tensor:
    r"""Barlow Twins loss [zbontar2021barlow, arXiv:2103.03230v3, Eqs. (1)-(2)].

    .. math::
        \hat z_{bi} = \frac{z_{bi} - \bar z_i}{\sqrt{\sigma_i^2 + \epsilon}},
        \qquad \mathcal{C}_{ij} = \frac{1}{n} \sum_{b=1}^{n} \hat z^A_{bi}\,
            \hat z^B_{bj},
        \qquad \mathcal{L}_{\mathcal{BT}} = \sum_i (1 - \mathcal{C}_{ii})^2
            + \lambda \sum_i \sum_{j \neq i} \mathcal{C}_{ij}^2

    with :math:`\sigma_i^2` the biased (divisor n) variance of feature i over the
    batch: the standardisation of the authors' code,
    ``nn.BatchNorm1d(d, affine=False)`` in training mode (facebookresearch/
    barlowtwins, ``main.py``, ``BarlowTwins.forward``, commit 8e8d284).

    The paper's Eq. (2) is the cosine form on mean-centred embeddings,
    :math:`\mathcal{C}_{ij} = \sum_b z^A_{bi} z^B_{bj} / (\sqrt{\sum_b (z^A_{bi})^2}
    \sqrt{\sum_b (z^B_{bj})^2})`. It is the formula above with ``eps=0``, as the
    1/n of the variances cancels the 1/n of the mean; the default ``eps`` (the
    code's) changes each :math:`\mathcal{C}_{ij}` by a relative
    :math:`\approx \epsilon / \sigma^2`. With ``eps=0`` a constant feature makes
    the loss NaN (0 / 0). The paper's Algorithm 1 divides by ``z.std(0)``, the
    unbiased standard deviation, which scales :math:`\mathcal{C}` by (n - 1) / n;
    we follow Eq. (2) and the code instead. The paper's lambda is 5e-3, the
    code's default 0.0051.

    Args:
        z_a: Embeddings of the first view, shape (n, d), n >= 2.
        z_b: Embeddings of the second view, shape (n, d).
        lambd: Weight of the redundancy-reduction (off-diagonal) term, >= 0.
        eps: Added to each biased variance, as BatchNorm does, >= 0.

    Returns:
        Scalar tensor on the device and dtype of ``z_a``.

    Raises:
        TypeError: If ``z_a`` or ``z_b`` is not a floating-point tensor, or a
            hyperparameter is not a number.
        ValueError: If the shapes are not (n, d) with n >= 2 or differ, or a
            hyperparameter is out of range.
    """
    _check_pair(z_a, z_b)
    check_positive(lambd, name="lambd", strict=False)
    check_positive(eps, name="eps", strict=False)
    n = z_a.shape[0]

    def standardize(z: Tensor) -> Tensor:
        # (d,), (d,): biased variance as in BatchNorm; one pass for both statistics
        var, mean = torch.var_mean(z, dim=0, correction=0)
        return (z - mean) * torch.rsqrt(var + eps)  # (n, d)

    c = standardize(z_a).T @ standardize(z_b) / n  # (d, d) cross-correlation
    on_diagonal = (1 - c.diagonal()).pow(2).sum()
    off_diagonal = c.pow(2).sum() - c.diagonal().pow(2).sum()
    return on_diagonal + lambd * off_diagonal


def info_nce(
    z_a: Tensor, z_b: Tensor, *, temperature: float = 0.5, convention: str = "paper"
) -> Tensor:
    r"""SimCLR's NT-Xent loss [chen2020simclr, arXiv:2002.05709v3, Eq. (1)].

    .. math::
        \ell(i, j) = -\log \frac{\exp(s_{ij} / \tau)}
            {\sum_{k=1}^{2n} \mathbb{1}_{[k \neq i]} \exp(s_{ik} / \tau)},
        \qquad \mathcal{L} = \frac{1}{2n} \sum_{i=1}^{2n} \ell(i, p(i))

    over the 2n embeddings :math:`u_1, \dots, u_{2n}` of both views, with
    :math:`s_{ik} = u_i^\top u_k / (\lVert u_i \rVert \lVert u_k \rVert)` the
    cosine similarity, :math:`\tau` = ``temperature`` and p(i) the index of the
    other view of the same input. Every embedding is an anchor once, so both
    directions count; the denominator holds the positive and the 2n - 2
    negatives, not the anchor itself. In nats.

    ``convention="code"`` is what the authors' code computes (google-research/
    simclr, ``tf2/objective.py``, ``add_contrastive_loss``, commit 383d414):
    ``tf.reduce_mean(loss_a + loss_b)``, the sum of the two directions' means,
    twice the paper's average. The code masks the anchor by subtracting 1e9 from
    its logit; here it is set to minus infinity. Cosines use ``F.normalize``, whose
    1e-12 floor on the norm makes a zero embedding a zero vector instead of 0 / 0;
    when d > 2n the Gram matrix is divided by the (floored) norms instead, the same
    value with fewer entries to scale (benchmarks/losses.py).
    Temperature: 0.5 is the paper's best value for CIFAR-10 (Appendix B.9); the
    code's default, for ImageNet, is 0.1.

    Args:
        z_a: Embeddings of the first view, shape (n, d), n >= 2.
        z_b: Embeddings of the second view, shape (n, d).
        temperature: tau, > 0.
        convention: ``"paper"`` (default, the mean over 2n anchors) or ``"code"``
            (twice that).

    Returns:
        Scalar tensor on the device and dtype of ``z_a``, in nats.

    Raises:
        TypeError: If ``z_a`` or ``z_b`` is not a floating-point tensor, or
            ``temperature`` is not a number.
        ValueError: If the shapes are not (n, d) with n >= 2 or differ,
            ``temperature`` is not > 0, or ``convention`` is not ``"code"`` or
            ``"paper"``.
    """
    _check_pair(z_a, z_b)
    check_positive(temperature, name="temperature")
    check_choice(convention, name="convention", choices=CONVENTIONS)
    n, d = z_a.shape
    z = torch.cat([z_a, z_b])  # (2n, d)
    if d <= 2 * n:  # scale the fewer entries: the rows of z ...
        u = F.normalize(z, dim=1)  # (2n, d), unit rows
        cosines = u @ u.T  # (2n, 2n), s_ik
    else:  # ... or the Gram matrix; same value (F.normalize's floor on the norm)
        norms = z.norm(dim=1).clamp_min(1e-12)  # (2n,)
        cosines = (z @ z.T) / torch.outer(norms, norms)  # (2n, 2n), s_ik
    logits = cosines / temperature
    self_pairs = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_pairs, float("-inf"))  # k != i
    positives = torch.arange(2 * n, device=z.device).roll(n)  # (2n,), p(i) = i +- n
    loss = F.cross_entropy(logits, positives)  # mean over the 2n anchors
    return 2 * loss if convention == "code" else loss


def spectral_contrastive(
    z_a: Tensor, z_b: Tensor, *, mu: float | None = None
) -> Tensor:
    r"""Spectral contrastive loss [haochen2021provable, arXiv:2106.04156v6, Sec. 4].

    .. math::
        \hat{\mathcal{L}}(f) = -\frac{2}{n} \sum_{i=1}^{n} z_{a,i}^\top z_{b,i}
            + \frac{1}{n(n-1)} \sum_{i \neq j} \bigl(z_{a,i}^\top z_{b,j}\bigr)^2

    The batch estimate of the population loss of Sec. 3.2,
    :math:`\mathcal{L}(f) = -2\, \mathbb{E}_{x, x^+}[f(x)^\top f(x^+)]
    + \mathbb{E}_{x, x^-}[(f(x)^\top f(x^-))^2]`, with the positive pairs
    :math:`(z_{a,i}, z_{b,i})` and the negative pairs :math:`(z_{a,i}, z_{b,j})`,
    i != j; averaging over the n(n - 1) ordered negative pairs makes it unbiased
    (Sec. 4). The loss is minimised by the top eigenvectors of the normalised
    augmentation graph, up to an invertible linear map. Equation number: not
    confirmed for v6, hence the sections; a third-party reading of the arXiv
    paper numbers the population loss Eq. (6).

    ``mu`` selects the authors' code (jhaochenz96/spectral_contrastive_learning,
    ``models/spectral.py``, ``D``, commit ee431bd): each embedding longer than
    :math:`\sqrt{\mu}` is projected onto the sphere of radius :math:`\sqrt{\mu}`,
    and the loss is divided by mu (mu = 1 for CIFAR-10, 10 for ImageNet in their
    configs). ``mu=None`` (default) is the formula above, with no norm cap.

    Args:
        z_a: Embeddings of the first view, shape (n, d), n >= 2.
        z_b: Embeddings of the second view, shape (n, d).
        mu: None for the paper's formula, or the code's norm cap, > 0.

    Returns:
        Scalar tensor on the device and dtype of ``z_a``.

    Raises:
        TypeError: If ``z_a`` or ``z_b`` is not a floating-point tensor, or ``mu``
            is neither None nor a number.
        ValueError: If the shapes are not (n, d) with n >= 2 or differ, or ``mu``
            is not > 0.
    """
    _check_pair(z_a, z_b)
    if mu is not None:
        check_positive(mu, name="mu")
        radius = math.sqrt(mu)
        z_a, z_b = (
            torch.where(
                z.norm(dim=1, keepdim=True) < radius,  # (n, 1)
                z,
                radius * F.normalize(z, dim=1),
            )
            for z in (z_a, z_b)
        )
    n = z_a.shape[0]
    positive = -2 * (z_a * z_b).sum(dim=1).mean()  # (n,) inner products, then mean
    gram = z_a @ z_b.T  # (n, n), z_{a,i}^T z_{b,j}
    negative = (gram.pow(2).sum() - gram.diagonal().pow(2).sum()) / (n * (n - 1))
    loss = positive + negative
    return loss if mu is None else loss / mu
