"""Property-based tests (hypothesis) of the losses and the linear-algebra helpers.

Each property follows from an equation of the paper the function implements (cited in
its docstring): invariance to a permutation of the batch (applied to both views
alike), to orthogonal maps of the features where the formula only sees inner
products or distances, symmetry, and how a term scales. Where a term is *not*
invariant, and that is the point (VICReg's variance and covariance terms and Barlow
Twins act on coordinates, so an orthogonal map changes them), a test asserts the
change on a small explicit example: the negative control of the invariance.

Inputs are float64 and small (n <= 10 samples, d <= 5 features). Two kinds: Gaussian
draws from a seed hypothesis chooses (general position), and arrays of values
hypothesis builds itself (ties, zero rows, constant columns, mixed magnitudes).

Profiles: ``dltheory`` (default; 20 examples per property, derandomized so that
``make test`` draws the same examples on every machine, no example database) and
``dltheory-explore`` (300 random examples each, which passed when this file was
written), chosen by the environment variable ``DLT_HYPOTHESIS_PROFILE``. Time on one
thread: the tests themselves take about 16 s, the whole file about 35 s with imports,
measured on 2 cores shared with a load of 9 to 12.
"""

import math
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dltheory import _linalg, independence, information, kernels, losses, spectral

settings.register_profile(
    "dltheory",
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dltheory-explore",
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROPS = settings.get_profile(os.environ.get("DLT_HYPOTHESIS_PROFILE", "dltheory"))

F64 = torch.float64
SEEDS = st.integers(0, 2**32 - 1)
ROWS = st.integers(2, 10)
FEATURES = st.integers(1, 5)
SCALES = st.floats(0.05, 20.0)


def _close(a, b, *, rtol=1e-9, atol=1e-10):
    """float64 equality up to rounding, relative to the size of the values."""
    a, b = torch.as_tensor(a, dtype=F64), torch.as_tensor(b, dtype=F64)
    scale = max(1.0, a.abs().max().item(), b.abs().max().item())
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol * scale)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=F64)


def _orthogonal(gen, d):
    """A random orthogonal d x d matrix (QR of a Gaussian matrix)."""
    Q, R = torch.linalg.qr(_randn(gen, d, d))
    return Q * torch.sign(R.diagonal())  # Haar-distributed, a sign per column


def _permutation(gen, n):
    return torch.randperm(n, generator=gen)


def _psd(M, *, tol=1e-10):
    """Symmetric, and no eigenvalue below -tol times the largest magnitude."""
    _close(M, M.T)
    eig = torch.linalg.eigvalsh((M + M.T) / 2)
    return eig.min().item() >= -tol * max(1.0, eig.abs().max().item())


# Values hypothesis builds itself: quarter-integers (exact ties, zero rows, constant
# columns) and floats of mixed magnitude, no subnormals.
VALUES = st.one_of(
    st.integers(-8, 8).map(lambda k: k / 4),
    st.floats(-10.0, 10.0, allow_subnormal=False).filter(
        lambda v: v == 0 or abs(v) >= 1e-3
    ),
)


@st.composite
def view_pairs(draw, min_rows=2):
    """Two views (n, d) of float64 values built by hypothesis, and a seed."""
    n, d = draw(st.integers(min_rows, 8)), draw(FEATURES)
    shape = (n, d)
    z_a = draw(hnp.arrays(np.float64, shape, elements=VALUES))
    z_b = draw(hnp.arrays(np.float64, shape, elements=VALUES))
    return torch.from_numpy(z_a), torch.from_numpy(z_b), draw(SEEDS)


# --- losses: batch permutation ----------------------------------------------------

PAIR_LOSSES = {
    # name: (loss of two views, the equation it follows)
    "invariance paper": (losses.invariance, "VICReg Eq. (5)"),
    "invariance code": (
        lambda a, b: losses.invariance(a, b, convention="code"),
        "VICReg Eq. (5) / d",
    ),
    "vicreg code": (losses.vicreg, "VICReg Eq. (6)"),
    "vicreg paper": (
        lambda a, b: losses.vicreg(a, b, convention="paper"),
        "VICReg Eq. (6)",
    ),
    "barlow twins": (losses.barlow_twins, "Barlow Twins Eqs. (1)-(2)"),
    "info_nce": (losses.info_nce, "SimCLR Eq. (1)"),
    "info_nce code": (
        lambda a, b: losses.info_nce(a, b, convention="code"),
        "SimCLR Eq. (1), x 2",
    ),
    "spectral contrastive": (losses.spectral_contrastive, "HaoChen et al. Sec. 4"),
    "spectral contrastive mu=1": (
        lambda a, b: losses.spectral_contrastive(a, b, mu=1.0),
        "HaoChen et al.'s code",
    ),
    "vcreg": (lambda a, _: losses.vcreg(a), "VICReg Eqs. (1)-(4)"),
    "variance": (lambda a, _: losses.variance(a), "VICReg Eqs. (1)-(2)"),
    "covariance": (lambda a, _: losses.covariance(a), "VICReg Eqs. (3)-(4)"),
}


@pytest.mark.parametrize("name", sorted(PAIR_LOSSES))
@PROPS
@given(pair=view_pairs())
def test_losses_invariant_to_a_permutation_of_the_batch(name, pair):
    """Each loss averages over samples (PAIR_LOSSES lists the equation): order-free."""
    loss, _ = PAIR_LOSSES[name]
    z_a, z_b, seed = pair
    perm = _permutation(_gen(seed), z_a.shape[0])
    _close(loss(z_a[perm], z_b[perm]), loss(z_a, z_b))


@pytest.mark.parametrize("name", sorted(PAIR_LOSSES))
@PROPS
@given(seed=SEEDS, n=ROWS, d=FEATURES)
def test_losses_keep_the_dtype_and_agree_across_precisions(name, seed, n, d):
    """Each loss of PAIR_LOSSES keeps its inputs' dtype; float32 agrees with float64."""
    loss, _ = PAIR_LOSSES[name]
    gen = _gen(seed)
    z_a, z_b = _randn(gen, n, d), _randn(gen, n, d)
    exact = loss(z_a, z_b)
    single = loss(z_a.float(), z_b.float())
    assert exact.dtype == F64
    assert single.dtype == torch.float32
    assert exact.shape == single.shape == ()
    torch.testing.assert_close(single.double(), exact, rtol=1e-4, atol=1e-4)


# --- losses: orthogonal maps of the features --------------------------------------

ROTATION_INVARIANT = {
    "invariance paper": PAIR_LOSSES["invariance paper"][0],  # Eq. (5): distances
    "info_nce": losses.info_nce,  # Eq. (1): cosines
    "spectral contrastive": losses.spectral_contrastive,  # Sec. 4: inner products
    "spectral contrastive mu=1": PAIR_LOSSES["spectral contrastive mu=1"][0],  # norms
}


@pytest.mark.parametrize("name", sorted(ROTATION_INVARIANT))
@PROPS
@given(seed=SEEDS, n=ROWS, d=FEATURES)
def test_distance_and_cosine_losses_invariant_to_rotations(name, seed, n, d):
    """VICReg Eq. (5), SimCLR Eq. (1), HaoChen Sec. 4 see distances, inner products."""
    loss = ROTATION_INVARIANT[name]
    gen = _gen(seed)
    z_a, z_b, Q = _randn(gen, n, d), _randn(gen, n, d), _orthogonal(gen, d)
    _close(loss(z_a @ Q, z_b @ Q), loss(z_a, z_b))


@PROPS
@given(seed=SEEDS, n=ROWS, d=st.integers(2, 5))
def test_covariance_term_moves_only_by_its_diagonal_under_rotations(seed, n, d):
    """VICReg Eq. (4): c(Z) = (|C|_F^2 - sum C_jj^2) / d; |C|_F is rotation-free."""
    gen = _gen(seed)
    z, Q = _randn(gen, n, d), _orthogonal(gen, d)

    def diagonal_energy(x):
        return torch.var(x, dim=0, correction=1).pow(2).sum() / d  # sum C_jj^2 / d

    _close(
        losses.covariance(z @ Q) + diagonal_energy(z @ Q),
        losses.covariance(z) + diagonal_energy(z),
    )


def _uncorrelated_anisotropic():
    """Four samples, two centred uncorrelated features of std 3.46 and 0.115."""
    signs = torch.tensor(
        [[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=F64
    )
    return signs * torch.tensor([3.0, 0.1], dtype=F64)


def _rotation_45():
    c = math.sqrt(0.5)
    return torch.tensor([[c, -c], [c, c]], dtype=F64)


def test_coordinate_terms_are_not_invariant_to_an_orthogonal_map():
    """VICReg Eqs. (1)-(4), Barlow Twins Eq. (2) work per feature: not rotation-free."""
    # Negative control of the invariances above: uncorrelated features of unequal
    # variance, rotated by 45 degrees, become correlated and of equal variance.
    z, R = _uncorrelated_anisotropic(), _rotation_45()
    assert losses.covariance(z).item() == 0.0
    assert losses.covariance(z @ R).item() > 1.0  # (8.0 here)
    assert losses.variance(z).item() > 0.4  # one std below gamma = 1: hinge 0.44
    assert losses.variance(z @ R).item() == 0.0  # both stds 2.45 after rotation
    assert losses.barlow_twins(z, z, eps=0.0).item() == pytest.approx(0.0, abs=1e-12)
    assert losses.barlow_twins(z @ R, z @ R, eps=0.0).item() > 1e-3
    assert abs(losses.vicreg(z @ R, z @ R) - losses.vicreg(z, z)).item() > 1.0
    # while the invariances hold on the same example
    _close(losses.invariance(z @ R, 2 * z @ R), losses.invariance(z, 2 * z))
    _close(losses.info_nce(z @ R, -z @ R), losses.info_nce(z, -z))


# --- losses: symmetry -------------------------------------------------------------

SYMMETRIC = {
    "invariance paper": PAIR_LOSSES["invariance paper"][0],  # Eq. (5)
    "vicreg code": losses.vicreg,  # Eq. (6): both branches alike
    "barlow twins": losses.barlow_twins,  # Eq. (2): C -> C^T
    "info_nce": losses.info_nce,  # Eq. (1): every one of the 2n is an anchor
    "spectral contrastive": losses.spectral_contrastive,  # Sec. 4: gram -> gram^T
}


@pytest.mark.parametrize("name", sorted(SYMMETRIC))
@PROPS
@given(pair=view_pairs())
def test_two_view_losses_symmetric_in_the_views(name, pair):
    """VICReg Eq. (6), Barlow Twins Eq. (2), SimCLR Eq. (1), HaoChen: symmetric."""
    z_a, z_b, _ = pair
    loss = SYMMETRIC[name]
    _close(loss(z_b, z_a), loss(z_a, z_b))


# --- losses: scale ----------------------------------------------------------------


@PROPS
@given(pair=view_pairs(), c=SCALES)
def test_invariance_term_is_quadratic(pair, c):
    """VICReg Eq. (5): s(cZ, cZ') = c^2 s(Z, Z'), for both conventions."""
    z_a, z_b, _ = pair
    for convention in ("paper", "code"):
        _close(
            losses.invariance(c * z_a, c * z_b, convention=convention),
            c**2 * losses.invariance(z_a, z_b, convention=convention),
        )


@PROPS
@given(pair=view_pairs(), c=SCALES)
def test_covariance_term_is_quartic_and_shift_free(pair, c):
    """VICReg Eqs. (3)-(4): C(cZ + b) = c^2 C(Z), so c(cZ + b) = c^4 c(Z)."""
    z, shift, _ = pair
    _close(losses.covariance(c * z + shift[0]), c**4 * losses.covariance(z))


@PROPS
@given(pair=view_pairs(), c=SCALES, gamma=st.floats(0.1, 3.0), eps=st.floats(0, 1))
def test_variance_term_is_homogeneous_in_z_gamma_and_root_eps(pair, c, gamma, eps):
    """VICReg Eqs. (1)-(2): v(cZ + b; c gamma, c^2 eps) = c v(Z; gamma, eps)."""
    z, shift, _ = pair
    _close(
        losses.variance(c * z + shift[0], gamma=c * gamma, eps=c**2 * eps),
        c * losses.variance(z, gamma=gamma, eps=eps),
    )


@PROPS
@given(seed=SEEDS, n=st.integers(3, 10), d=FEATURES)
def test_barlow_twins_invariant_to_per_feature_affine_maps(seed, n, d):
    """Barlow Twins Eq. (2) standardises: feature scales, shifts, shared flips free."""
    gen = _gen(seed)
    z_a, z_b = _randn(gen, n, d), _randn(gen, n, d)
    scale_a, scale_b = _randn(gen, d).exp(), _randn(gen, d).exp()  # > 0
    flip = torch.where(torch.rand(d, generator=gen) < 0.5, -1.0, 1.0).to(F64)
    mapped_a = (z_a * scale_a + _randn(gen, d)) * flip
    mapped_b = (z_b * scale_b + _randn(gen, d)) * flip
    _close(
        losses.barlow_twins(mapped_a, mapped_b, eps=0.0),
        losses.barlow_twins(z_a, z_b, eps=0.0),
        rtol=1e-7,
    )


@PROPS
@given(seed=SEEDS, n=ROWS, d=FEATURES)
def test_info_nce_invariant_to_a_positive_scale_of_each_row(seed, n, d):
    """SimCLR Eq. (1) uses cosine similarities: each embedding's length is free."""
    gen = _gen(seed)
    z_a, z_b = _randn(gen, n, d), _randn(gen, n, d)
    s_a, s_b = _randn(gen, n, 1).exp(), _randn(gen, n, 1).exp()
    _close(losses.info_nce(s_a * z_a, s_b * z_b), losses.info_nce(z_a, z_b))


def test_info_nce_is_not_translation_invariant():
    """SimCLR Eq. (1): a common shift changes the cosines (negative control)."""
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=F64)
    shift = torch.tensor([5.0, 5.0], dtype=F64)
    assert abs(losses.info_nce(z + shift, z + shift) - losses.info_nce(z, z)) > 0.1


@PROPS
@given(pair=view_pairs(), c=SCALES)
def test_spectral_contrastive_is_quadratic_plus_quartic(pair, c):
    """HaoChen Sec. 4: L(cZ, cZ') = c^2 (positive term) + c^4 (negative term)."""
    z_a, z_b, _ = pair
    positive = -2 * (z_a * z_b).sum(dim=1).mean()
    negative = losses.spectral_contrastive(z_a, z_b) - positive
    _close(
        losses.spectral_contrastive(c * z_a, c * z_b),
        c**2 * positive + c**4 * negative,
    )


# --- _linalg ----------------------------------------------------------------------


@PROPS
@given(arrays=view_pairs(), seed=SEEDS)
def test_fix_signs_is_a_canonical_form_under_column_sign_flips(arrays, seed):
    """_linalg.fix_signs: one representative per column sign class (eigenvectors)."""
    U = arrays[0]
    signs = torch.where(torch.rand(U.shape[1], generator=_gen(seed)) < 0.5, -1.0, 1.0)
    fixed = _linalg.fix_signs(U)
    assert torch.equal(_linalg.fix_signs(U * signs.to(F64)), fixed)
    assert torch.equal(_linalg.fix_signs(fixed), fixed)  # idempotent
    assert set(_linalg.column_signs(U).tolist()) <= {-1.0, 1.0}
    assert _linalg.to_float64(U.float()).dtype == F64


# --- kernels ----------------------------------------------------------------------


@PROPS
@given(seed=SEEDS, n=ROWS, d=FEATURES, gamma=st.floats(0.01, 5.0))
def test_rbf_kernel_symmetric_psd_and_distance_based(seed, n, d, gamma):
    """k(x, y) = exp(-gamma ||x - y||^2) is PSD (Bochner) and sees only distances."""
    gen = _gen(seed)
    x, Q, b = _randn(gen, n, d), _orthogonal(gen, d), _randn(gen, d)
    perm = _permutation(gen, n)
    K = kernels.rbf_kernel(x, x, gamma=gamma)
    assert _psd(K)
    _close(K.diagonal(), torch.ones(n, dtype=F64))
    assert bool(((K > 0) & (K <= 1)).all())
    _close(kernels.rbf_kernel(x @ Q + b, x @ Q + b, gamma=gamma), K)
    _close(kernels.rbf_kernel(x[perm], x[perm], gamma=gamma), K[perm][:, perm])


@PROPS
@given(seed=SEEDS, n=st.integers(3, 10), d=FEATURES, c=SCALES)
def test_rbf_bandwidth_scales_with_the_inputs(seed, n, d, c):
    """Median heuristic (Gretton et al. 2012): gamma(cx) = gamma(x) / c^2."""
    x = _randn(_gen(seed), n, d)
    gamma = kernels.median_heuristic(x)
    assert kernels.median_heuristic(c * x) == pytest.approx(gamma / c**2, rel=1e-9)
    _close(kernels.rbf_kernel(c * x, c * x), kernels.rbf_kernel(x, x, gamma=gamma))


@PROPS
@given(seed=SEEDS, n=ROWS, d=FEATURES, degree=st.integers(1, 4), c=st.floats(0, 2))
def test_polynomial_kernel_psd_and_rotation_invariant(seed, n, d, degree, c):
    """(x^T y + c)^p is PSD (Schur product, c >= 0), sees inner products only."""
    gen = _gen(seed)
    x, Q = _randn(gen, n, d), _orthogonal(gen, d)
    K = kernels.polynomial_kernel(x, x, degree=degree, c=c)
    assert _psd(K, tol=1e-9)
    _close(kernels.polynomial_kernel(x @ Q, x @ Q, degree=degree, c=c), K)


def test_polynomial_kernel_is_not_translation_invariant():
    """(x^T y + c)^p depends on the origin, unlike the RBF kernel (negative control)."""
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    K = kernels.polynomial_kernel(x, x)
    assert not torch.allclose(kernels.polynomial_kernel(x + 1, x + 1), K)
    _close(
        kernels.rbf_kernel(x + 1, x + 1, gamma=1.0), kernels.rbf_kernel(x, x, gamma=1.0)
    )


@PROPS
@given(ids=st.lists(st.integers(0, 4), min_size=2, max_size=12), seed=SEEDS)
def test_augmentation_adjacency_and_laplacian(ids, seed):
    """Book's (K3)-(K5): A = [g_i = g_j] PSD, eigenvalues group sizes; L 1 = 0, PSD."""
    g = torch.tensor(ids)
    A = kernels.augmentation_adjacency(g)
    assert _psd(A)
    sizes = sorted(torch.unique(g, return_counts=True)[1].tolist())
    eig = torch.linalg.eigvalsh(A)
    _close(eig[-len(sizes) :], torch.tensor(sizes, dtype=F64))
    perm = _permutation(_gen(seed), len(ids))
    assert torch.equal(kernels.augmentation_adjacency(g[perm]), A[perm][:, perm])
    L = kernels.laplacian(A)
    assert _psd(L)
    _close(L @ torch.ones(len(ids), dtype=F64), torch.zeros(len(ids), dtype=F64))


@PROPS
@given(seed=SEEDS, sizes=st.lists(st.integers(1, 3), min_size=2, max_size=4))
def test_induced_kernel_reproduces_the_adjacency_and_is_psd(seed, sizes):
    """Book's (K2)/(K4): at ridge 0, k*(x_i, x_j) = A_ij on the views; k* is PSD."""
    gen = _gen(seed)
    ids = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    x, x_new = _randn(gen, len(ids), 3), _randn(gen, 4, 3)
    model = kernels.InducedKernel(
        "contrastive",
        ridge=0.0,
        base_kernel=lambda a, b: kernels.rbf_kernel(a, b, gamma=0.5),
    ).fit(x, ids)
    _close(
        model.kernel(x, x),
        kernels.augmentation_adjacency(ids),
        rtol=1e-6,
        atol=1e-7,
    )
    both = torch.cat([x, x_new])
    assert _psd(model.kernel(both, both), tol=1e-8)


# --- spectral ---------------------------------------------------------------------


def _random_graph(gen, n):
    """Symmetric, non-negative, zero-diagonal weights, some exactly zero."""
    W = torch.rand(n, n, generator=gen, dtype=F64)
    W = torch.where(W < 0.3, 0.0, W)
    G = torch.triu(W, 1)
    return G + G.T


@PROPS
@given(seed=SEEDS, n=ROWS, k=FEATURES)
def test_graph_laplacian_identity_psd_and_equivariance(seed, n, k):
    """Book's (S1): sum G_ij |z_i - z_j|^2 = 2 Tr(Z^T L Z); L 1 = 0, PSD,equivariant."""
    gen = _gen(seed)
    G, Z, perm = _random_graph(gen, n), _randn(gen, n, k), _permutation(gen, n)
    L = spectral.graph_laplacian(G)
    _close((G * torch.cdist(Z, Z).pow(2)).sum(), 2 * torch.trace(Z.T @ L @ Z))
    _close(L.sum(dim=1), torch.zeros(n, dtype=F64))
    assert _psd(L)
    _close(spectral.graph_laplacian(G[perm][:, perm]), L[perm][:, perm])
    eig = torch.linalg.eigvalsh(spectral.graph_laplacian(G, normalized=True))
    assert eig.min().item() >= -1e-10
    assert eig.max().item() <= 2 + 1e-10


@PROPS
@given(seed=SEEDS, n=st.integers(3, 10), k=st.integers(2, 5))
def test_graph_losses_invariant_to_relabelling_and_rotation(seed, n, k):
    """(S3), (S6), HaoChen's loss: free of relabelling (PZ, PGP^T), rotations of Z."""
    gen = _gen(seed)
    G, Z, perm = _random_graph(gen, n), _randn(gen, n, k), _permutation(gen, n)
    G = G + 1e-3 * spectral.augmentation_graph(1, n)  # every degree > 0
    Q, shift = _orthogonal(gen, k), _randn(gen, k)
    G_p = G[perm][:, perm]
    rotation_free = {
        "vicreg frobenius": lambda z, g: spectral.vicreg_graph_loss(
            z, g, alpha=0.7, variant="frobenius"
        ),
        "simclr paper": lambda z, g: spectral.simclr_graph_loss(z, g, tau=0.5),
        "simclr book": lambda z, g: spectral.simclr_graph_loss(
            z, g, tau=0.5, form="book"
        ),
        "spectral contrastive": spectral.spectral_contrastive_loss,
    }
    for loss in rotation_free.values():
        _close(loss(Z[perm], G_p), loss(Z, G))
        _close(loss(Z @ Q, G), loss(Z, G))
    hinge = {"alpha": 0.7, "variant": "hinge"}
    _close(
        spectral.vicreg_graph_loss(Z[perm], G_p, **hinge),
        spectral.vicreg_graph_loss(Z, G, **hinge),
    )
    # (S3)/(S4) ignore column means (L 1 = 0, C centres); SimCLR's cosines do not.
    _close(
        spectral.vicreg_graph_loss(Z + shift, G, **hinge),
        spectral.vicreg_graph_loss(Z, G, **hinge),
    )
    scale = _randn(gen, n, 1).exp()  # (S6) sees cosines: row lengths are free
    _close(
        spectral.simclr_graph_loss(scale * Z, G, tau=0.5),
        spectral.simclr_graph_loss(Z, G, tau=0.5),
    )


def test_vicreg_hinge_graph_loss_is_not_rotation_invariant():
    """(S4)'s hinge acts on diag C(Z) only: a rotation moves it (negative control)."""
    z, R = _uncorrelated_anisotropic(), _rotation_45()
    G = spectral.augmentation_graph(2, 2)
    for variant, moves in (("hinge", True), ("frobenius", False)):
        a = spectral.vicreg_graph_loss(z, G, alpha=1.0, variant=variant)
        b = spectral.vicreg_graph_loss(z @ R, G, alpha=1.0, variant=variant)
        assert bool(abs(a - b) > 1e-3) == moves, variant


@PROPS
@given(seed=SEEDS, n=ROWS, k=FEATURES, c=SCALES)
def test_variance_spectrum_and_cosine_gram(seed, n, k, c):
    """eig C(Z): rotation-, shift-, order-free, scales c^2; cos(Z) PSD, diagonal 1."""
    gen = _gen(seed)
    Z, Q, perm = _randn(gen, n, k), _orthogonal(gen, k), _permutation(gen, n)
    spectrum = spectral.variance_spectrum(Z)
    _close(spectral.variance_spectrum(c * Z[perm] @ Q + 1.5), c**2 * spectrum)
    _close(spectrum.sum(), torch.var(Z, dim=0, correction=0).sum())
    cos = spectral.cosine_gram(Z)
    assert _psd(cos)
    _close(cos.diagonal(), torch.ones(n, dtype=F64))
    _close(spectral.cosine_gram(_randn(gen, n, 1).exp() * Z @ Q), cos)


@PROPS
@given(seed=SEEDS, n=st.integers(6, 10), k1=st.integers(1, 3), k2=st.integers(1, 3))
def test_principal_angles_symmetric_and_basis_free(seed, n, k1, k2):
    """cos theta_k = sigma_k(Q_a^T Q_b): symmetric in (a, b), free of either basis."""
    gen = _gen(seed)
    a, b = _randn(gen, n, k1), _randn(gen, n, k2)
    M = _randn(gen, k1, k1) + 3 * torch.eye(k1, dtype=F64)  # invertible (a.s.)
    cosines = spectral.principal_angles(a, b)
    _close(spectral.principal_angles(b, a), cosines)
    _close(spectral.principal_angles(a @ M, b), cosines, rtol=1e-7, atol=1e-8)
    assert bool(((cosines >= 0) & (cosines <= 1)).all())
    _close(spectral.principal_angles(a, a), torch.ones(k1, dtype=F64))


@PROPS
@given(seed=SEEDS, n=st.integers(5, 10), d=st.integers(1, 3), c=SCALES)
def test_knn_graph_sees_only_distance_ranks(seed, n, d, c):
    """k-NN graph: 0/1, symmetric, zero diagonal; free of rotations, shifts, scale."""
    gen = _gen(seed)
    x, Q = _randn(gen, n, d), _orthogonal(gen, d)
    G = spectral.knn_graph(x, 2)
    assert torch.equal(G, G.T)
    assert bool((G.diagonal() == 0).all())
    assert set(G.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(spectral.knn_graph(c * x @ Q + 2.0, 2), G)


@PROPS
@given(seed=SEEDS, n=st.integers(3, 10), k=st.integers(1, 3))
def test_classical_mds_recovers_euclidean_distances(seed, n, k):
    """Torgerson's MDS: top-k of -H D2 H / 2 for points in R^k gives back D2."""
    y = _randn(_gen(seed), n, k)
    d2 = torch.cdist(y, y).pow(2)
    out = spectral.classical_mds(d2=d2, K=min(k, n))
    _close(torch.cdist(out, out).pow(2), d2, rtol=1e-7, atol=1e-8)


@PROPS
@given(seed=SEEDS, n=st.integers(20, 40), da=st.integers(1, 3), db=st.integers(1, 3))
def test_cca_correlations_symmetric_and_invariant_to_invertible_maps(seed, n, da, db):
    """Hotelling's CCA: rho(x_a, x_b) = rho(x_b, x_a) = rho(x_a M_a + c, x_b M_b)."""
    gen = _gen(seed)
    x_a = _randn(gen, n, da)
    x_b = x_a[:, :1] @ _randn(gen, 1, db) + _randn(gen, n, db)  # correlated views
    M_a = _randn(gen, da, da) + 3 * torch.eye(da, dtype=F64)
    K = min(da, db)
    rho = spectral.cca(x_a, x_b, K)[2]
    _close(spectral.cca(x_b, x_a, K)[2], rho, rtol=1e-7, atol=1e-8)
    _close(spectral.cca(x_a @ M_a + 1.0, x_b, K)[2], rho, rtol=1e-7, atol=1e-8)
    assert bool(((rho >= -1e-12) & (rho <= 1 + 1e-12)).all())


# --- independence: HSIC ------------------------------------------------------------


@PROPS
@given(pair=view_pairs(min_rows=4))
def test_hsic_symmetric_non_negative_and_order_free(pair):
    """Gretton et al. 2005, (V2): HSIC(x, y) = HSIC(y, x) >= 0, free of sample order."""
    x, y, seed = pair
    perm = _permutation(_gen(seed), x.shape[0])
    value = independence.hsic(x, y)
    _close(independence.hsic(y, x), value)
    assert value.item() >= -1e-15
    _close(independence.hsic(x[perm], y[perm]), value)
    _close(
        independence.hsic(y, x, unbiased=True), independence.hsic(x, y, unbiased=True)
    )
    _close(independence.hsic(x, torch.ones_like(y)), torch.zeros((), dtype=F64))


@PROPS
@given(seed=SEEDS, n=st.integers(4, 10), p=st.integers(1, 3), c=SCALES)
def test_hsic_with_median_bandwidths_is_free_of_similarity_maps(seed, n, p, c):
    """(V2) with median bandwidths: a similarity map of x leaves HSIC unchanged."""
    gen = _gen(seed)
    x, Q = _randn(gen, n, p), _orthogonal(gen, p)
    y = x[:, :1].pow(2) + 0.5 * _randn(gen, n, 1)
    _close(independence.hsic(c * x @ Q + 1.0, y), independence.hsic(x, y), rtol=1e-7)


@PROPS
@given(seed=SEEDS, n=st.integers(4, 10), p=st.integers(1, 3))
def test_hsic_of_a_sample_with_itself_bounds_any_reordering(seed, n, p):
    """(V2) and Cauchy-Schwarz: HSIC(x, x) >= HSIC(x, x[perm]), pairs matter."""
    # Not an invariance (negative control of the joint permutation above): permuting
    # y alone destroys the pairing HSIC measures, so the value can only drop.
    gen = _gen(seed)
    x, perm = _randn(gen, n, p), _permutation(gen, n)
    assert independence.hsic(x, x[perm]).item() <= (
        independence.hsic(x, x).item() * (1 + 1e-9)
    )
    if not torch.equal(perm, torch.arange(n)):
        assert independence.hsic(x, x[perm]).item() < independence.hsic(x, x).item()


@PROPS
@given(seed=SEEDS, n=st.integers(5, 10), d=st.integers(1, 3))
def test_pairwise_hsic_is_the_symmetric_matrix_of_pairwise_hsic(seed, n, d):
    """Mialon et al. via (V2): entry (i, j) is HSIC(h_i, h_j), a symmetric matrix."""
    gen = _gen(seed)
    h = _randn(gen, n, d)
    h[:, -1] = h[:, 0].pow(2) + 0.1 * h[:, -1]  # one dependent pair when d > 1
    M = independence.pairwise_hsic(h)
    _close(M, M.T)
    for i in range(d):
        for j in range(d):
            _close(M[i, j], independence.hsic(h[:, i], h[:, j]))
    perm = _permutation(gen, n)
    _close(independence.pairwise_hsic(h[perm]), M)


@PROPS
@given(
    seed=SEEDS,
    n=st.integers(12, 30),
    da=st.integers(1, 3),
    db=st.integers(1, 3),
    eps=st.sampled_from([0.0, 1e-6, 1e-2]),
)
def test_gaussian_mi_symmetric_non_negative_and_free_of_linear_maps(
    seed, n, da, db, eps
):
    """Book's (I6): I_G >= 0 (Fischer), symmetric, free of (eps=0: linear) maps."""
    gen = _gen(seed)
    z_a = _randn(gen, n, da)
    z_b = z_a[:, :1] @ _randn(gen, 1, db) + _randn(gen, n, db)
    mi = information.gaussian_mi(z_a, z_b, eps=eps)
    assert mi.item() >= -1e-12
    _close(information.gaussian_mi(z_b, z_a, eps=eps), mi)
    perm = _permutation(gen, n)
    _close(information.gaussian_mi(z_a[perm], z_b[perm], eps=eps), mi)
    scale_a = _randn(gen, da).exp() * torch.where(
        torch.rand(da, generator=gen) < 0.5, -1, 1
    )
    _close(information.gaussian_mi(z_a * scale_a + 2.0, z_b, eps=eps), mi, rtol=1e-7)
    if eps == 0.0:
        A = _randn(gen, da, da) + 3 * torch.eye(da, dtype=F64)  # invertible (a.s.)
        _close(information.gaussian_mi(z_a @ A, z_b, eps=0.0), mi, rtol=1e-7)
        _close(
            information.gaussian_mi(z_a, z_b, eps=0.0, correlation=False),
            mi,
            rtol=1e-7,
        )


# --- identities the docstrings state between functions ------------------------------


@PROPS
@given(pair=view_pairs(min_rows=3))
def test_dhsic_of_two_variables_is_hsic(pair):
    """Pfister et al. 2018: for d = 2 the dHSIC V-statistic is the biased HSIC (V2)."""
    x, y, seed = pair
    value = independence.dhsic([x, y])
    _close(value, independence.hsic(x, y))
    _close(independence.dhsic([y, x]), value)
    perm = _permutation(_gen(seed), x.shape[0])
    _close(independence.dhsic([x[perm], y[perm]]), value)
    assert value.item() >= -1e-15


@PROPS
@given(pair=view_pairs(), tau=st.floats(0.05, 2.0))
def test_simclr_graph_loss_is_nt_xent_with_one_positive_each(pair, tau):
    """(S6) and its book form equal SimCLR Eq. (1) on augmentation_graph(n, 2)."""
    z_a, z_b, _ = pair
    n = z_a.shape[0]
    Z = torch.stack([z_a, z_b], dim=1).reshape(2 * n, -1)  # rows a_0, b_0, a_1, ...
    G = spectral.augmentation_graph(n, 2)
    expected = losses.info_nce(z_a, z_b, temperature=tau)
    for form in ("paper", "book"):
        _close(spectral.simclr_graph_loss(Z, G, tau=tau, form=form), expected)


@PROPS
@given(seed=SEEDS, n=ROWS, k=FEATURES)
def test_spectral_contrastive_graph_loss_is_a_matrix_factorisation(seed, n, k):
    """HaoChen Sec. 3.2, matrix form: L(Z) = |G_hat - Z Z^T|_F^2 - |G_hat|_F^2."""
    gen = _gen(seed)
    G, Z = _random_graph(gen, n), _randn(gen, n, k)
    G_hat = torch.eye(n, dtype=F64) - spectral.graph_laplacian(G, normalized=True)
    _close(
        spectral.spectral_contrastive_loss(Z, G),
        (G_hat - Z @ Z.T).pow(2).sum() - G_hat.pow(2).sum(),
    )


@PROPS
@given(ids=st.lists(st.integers(0, 3), min_size=2, max_size=10), seed=SEEDS)
def test_contrastive_kernel_loss_sees_only_the_gram_of_the_rows(ids, seed):
    """Book's (K3): |F F^T - A|_F^2 is free of rotations of F's columns."""
    gen = _gen(seed)
    A = kernels.augmentation_adjacency(torch.tensor(ids))
    f, Q = _randn(gen, len(ids), 3), _orthogonal(gen, 3)
    value = kernels.contrastive_kernel_loss(f, A)
    _close(value, (f @ f.T - A).pow(2).sum())
    _close(kernels.contrastive_kernel_loss(f @ Q, A), value)


@PROPS
@given(
    seed=SEEDS,
    n=st.integers(3, 9),
    alpha=st.floats(0.0, 5.0),
    beta=st.floats(0.1, 3.0),
    scale=st.sampled_from([1e-3, 1e-1, 1.0, 10.0]),
)
def test_vicreg_frobenius_closed_form_is_a_global_minimum(seed, n, alpha, beta, scale):
    """Book's (S3): Z* = sqrt(N) U_K diag(sqrt t) minimises (S3); C(Z*) = diag(t)."""
    gen = _gen(seed)
    G = _random_graph(gen, n)
    K = int(torch.randint(1, n, (1,), generator=gen))
    Z, t = spectral.vicreg_closed_form(G, K, alpha=alpha, beta=beta)
    centred = Z - Z.mean(dim=0)
    _close(centred.T @ centred / n, torch.diag(t))

    def loss(z):
        return spectral.vicreg_graph_loss(
            z, G, alpha=alpha, beta=beta, variant="frobenius"
        ).item()

    best = loss(Z)
    for other in (Z + scale * _randn(gen, n, K), scale * _randn(gen, n, K)):
        assert best <= loss(other) + 1e-9 * max(1.0, abs(best))


# --- bugs the fuzzing found ---------------------------------------------------------


@pytest.mark.parametrize("tiny", [1e-158, 1e-160])
def test_median_bandwidths_refuse_to_overflow(tiny):
    """1 / median^2 overflowed to inf, then a NaN kernel and a NaN HSIC."""
    # Found by fuzzing: points 1e-160 apart gave median_heuristic = inf, a NaN
    # diagonal in rbf_kernel (inf * 0) and a NaN HSIC. Now a ValueError names the
    # argument. (Below about 1e-162 torch.pdist rounds the distances to 0 and the
    # sample counts as constant, with a finite gamma.)
    x = torch.tensor([[0.0], [tiny], [0.0], [tiny]], dtype=F64)
    y = torch.arange(4, dtype=F64)
    with pytest.raises(ValueError, match=r"^x: .*finite inverse"):
        kernels.median_heuristic(x)
    with pytest.raises(ValueError, match=r"^x: "):
        kernels.rbf_kernel(x, x)
    with pytest.raises(ValueError, match=r"^x: .*finite inverse"):
        independence.hsic(x, y)
    with pytest.raises(ValueError, match=r"^y: "):
        independence.hsic(y, x)
    with pytest.raises(ValueError, match=r"^h\[:, 1\]: "):
        independence.median_gamma(torch.cat([y[:, None], x], dim=1))
    with pytest.raises(ValueError, match=r"^x\[1\]: "):
        independence.dhsic([y, x])
    # Negative control: distances of 1e-150 still give finite bandwidths and values.
    ok = x * (1e-150 / tiny)
    assert math.isfinite(kernels.median_heuristic(ok))
    assert bool(torch.isfinite(kernels.rbf_kernel(ok, ok)).all())
    assert math.isfinite(independence.hsic(ok, y).item())
