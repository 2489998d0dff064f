"""Unit tests of dltheory.perturbation (chapter 07), in float64."""

import math

import pytest
import torch

from dltheory import perturbation as P


def _net(act="leaky_relu", eps=1.0, seed=0, d_in=3, width=8, depth=3, d_out=4, bs=None):
    g = torch.Generator().manual_seed(seed)
    return P.PlainOrResNetMLP(
        d_in, width, depth, d_out, eps=eps, act=act, branch_scale=bs, generator=g
    )


def _x(n, d, seed=1):
    return torch.randn(
        n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


@pytest.mark.parametrize("act", P.ACTIVATIONS)
def test_activation_slopes_reproduce_the_activation(act):
    u = _x(50, 4)
    q = P.activation_slopes(u, act, 0.2)
    ref = {
        "relu": torch.relu(u),
        "leaky_relu": torch.nn.functional.leaky_relu(u, 0.2),
        "abs": u.abs(),
    }[act]
    torch.testing.assert_close(q * u, ref, rtol=0, atol=0)


@pytest.mark.parametrize("act", P.ACTIVATIONS)
@pytest.mark.parametrize("eps", [0.0, 0.5, 1.0])
def test_local_linear_map_equals_jacobian_and_reproduces_f(act, eps):
    net = _net(act, eps)
    x = _x(20, 3)
    A, c = P.local_linear_map(net, x)
    assert A.shape == (20, 4, 3)
    assert c.shape == (20, 4)
    torch.testing.assert_close(A, P.jacobian(net, x), rtol=0, atol=1e-12)
    f = torch.func.functional_call(net, P._params64(net), (x,))
    torch.testing.assert_close(
        torch.einsum("bij,bj->bi", A, x) + c, f, rtol=0, atol=1e-12
    )


def test_layer_product_is_the_hidden_jacobian():
    net = _net("abs", 1.0, width=5, d_in=5)
    x = _x(4, 5)
    prod = P.layer_product(net, x)  # (4, 5, 5)
    A, _ = P.local_linear_map(net, x)
    p = P._params64(net)
    torch.testing.assert_close(p["out.weight"] @ prod @ p["inp.weight"], A)


def test_region_ids_split_by_pattern():
    net = _net("relu", 0.0)
    x = _x(30, 3)
    ids = P.region_ids(net, torch.cat([x, x]))
    assert torch.equal(ids[:30], ids[30:])
    codes = torch.cat([q > 0.5 for q in P.activation_pattern(net, x)], 1)
    same = (codes[:, None] == codes[None]).all(-1)
    assert torch.equal(same, ids[:30, None] == ids[None, :30])


def test_condition_number_known_answers_and_relative_tolerance():
    M = torch.diag(torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64))
    assert P.condition_number(M).item() == pytest.approx(4.0)
    S = torch.diag(torch.tensor([1.0, 1e-20], dtype=torch.float64))
    assert math.isinf(P.condition_number(S).item())  # default relative tol
    assert P.condition_number(S, tol=0.0).item() == pytest.approx(1e20)
    batch = torch.stack([M, 2 * M])
    assert P.condition_number(batch).shape == (2,)


def test_perturbation_bounds_hold_on_random_matrices():
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        W = torch.randn(30, 30, generator=g, dtype=torch.float64) / 30
        q = (torch.rand(30, generator=g, dtype=torch.float64) < 0.5).double()
        eps = 0.7
        b = P.perturbation_bounds(W, q, eps)
        s = P.spectrum(P.layer_local_matrix(W, q, eps))
        assert (s >= b["weyl_lower"].sort(descending=True).values - 1e-12).all()
        assert s[-1] >= b["sigma_min_lower"] - 1e-12
        assert (
            P.condition_number(P.layer_local_matrix(W, q, eps))
            <= b["cond_upper"] + 1e-9
        )
    with pytest.raises(ValueError, match="q"):
        P.perturbation_bounds(W, 2 * q, 0.5)


def test_diagonal_bounds_and_densenet_sigma_min():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(20, 20, generator=g, dtype=torch.float64)
    d = torch.rand(20, generator=g, dtype=torch.float64) + 0.1
    lo, hi = P.diagonal_bounds(d, M)
    s = P.spectrum(d[:, None] * M)
    assert (s >= lo - 1e-12).all()
    assert (s <= hi + 1e-12).all()
    q = (torch.rand(20, generator=g) < 0.5).double()
    D = P.densenet_local_matrix(M, q)
    assert D.shape == (40, 20)
    torch.testing.assert_close(
        P.spectrum(D) ** 2, 1 + P.spectrum(q[:, None] * M) ** 2, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("act", P.ACTIVATIONS)
def test_densenet_local_matrix_is_the_layer_jacobian(act):
    # a DenseNet layer z -> [z; sigma(W z + b)]: its autograd Jacobian at z is [I; Q W]
    g = torch.Generator().manual_seed(3)
    W = torch.randn(6, 6, generator=g, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    z = torch.randn(6, generator=g, dtype=torch.float64)

    def layer(v):
        u = W @ v + b
        return torch.cat([v, P.activation_slopes(u, act, 0.1).detach() * u])

    q = P.activation_slopes(W @ z + b, act, 0.1)
    J = torch.func.jacrev(layer)(z)  # (12, 6)
    torch.testing.assert_close(J, P.densenet_local_matrix(W, q), rtol=1e-12, atol=1e-12)
    ref = {
        "relu": torch.relu,
        "leaky_relu": lambda u: torch.nn.functional.leaky_relu(u, 0.1),
        "abs": torch.abs,
    }[act]
    J_ref = torch.func.jacrev(lambda v: torch.cat([v, ref(W @ v + b)]))(z)
    torch.testing.assert_close(J_ref, J, rtol=1e-12, atol=1e-12)


def test_spectral_radius_known_answer():
    M = torch.tensor([[0.0, 2.0], [-2.0, 0.0]], dtype=torch.float64)  # eigenvalues +-2i
    assert P.spectral_radius(M).item() == pytest.approx(2.0)


@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
def test_layer_hessian_equals_gauss_newton_and_kronecker(act):
    net = _net(act, 1.0, d_out=6, width=6, depth=3)
    X, Y = _x(7, 3), _x(7, 6, seed=2)
    H = P.layer_hessian(net, 1, X, Y)
    assert H.shape == (36, 36)
    torch.testing.assert_close(H, P.gauss_newton(net, 1, X, Y), rtol=0, atol=1e-10)
    torch.testing.assert_close(H, P.kronecker_hessian(net, 1, X), rtol=0, atol=1e-10)


def test_gauss_newton_equals_hessian_for_a_linear_model():
    # depth-1, eps = 0, act abs with positive pre-activations is still nonlinear in the
    # input, but linear in W_0: the Hessian of the squared error is exactly 2 J^T J.
    net = _net("relu", 0.0, depth=1)
    X, Y = _x(5, 3), _x(5, 4, seed=3)
    torch.testing.assert_close(
        P.layer_hessian(net, 0, X, Y), P.gauss_newton(net, 0, X, Y), rtol=0, atol=1e-10
    )


def test_layer_hessian_gradcheck_of_the_loss():
    net = _net("leaky_relu", 1.0)
    X, Y = _x(4, 3), _x(4, 4, seed=2)
    f, theta = P._flat_loss(net, ["layers.0.weight"], X, Y)
    assert torch.autograd.gradcheck(f, (theta.clone().requires_grad_(),))


def test_loss_along_line_pieces_are_quadratic():
    net = _net("relu", 1.0)
    X, Y = _x(6, 3), _x(6, 4, seed=2)
    D = _x(8, 8, seed=4)
    ts = torch.linspace(-1, 1, 2001, dtype=torch.float64)
    r = P.loss_along_line(net, 1, D, ts, X, Y)
    assert r["loss"].shape == (2001,)
    assert len(r["kinks"]) == int(r["piece"][-1])
    fits = P.fit_piecewise_quadratic(ts, r["loss"], r["piece"])
    assert fits
    assert max(f["rel_residual"] for f in fits) < 1e-12
    # the loss at t = 0 is the network's
    f0 = torch.func.functional_call(net, P._params64(net), (X.double(),))
    mid = r["loss"][1000]
    assert mid.item() == pytest.approx(((f0 - Y) ** 2).sum().item(), rel=1e-12)


def test_train_mse_decreases_the_loss():
    net = _net("relu", 1.0, bs=0.1)
    X = _x(32, 3).float()
    Y = _x(32, 4, seed=2).float()
    out = P.train_mse(net, X, Y, steps=50, lr=0.05)
    assert out["loss"].shape == (51,)
    assert out["loss"][-1] < out["loss"][0]


def test_input_validation():
    with pytest.raises(ValueError, match="act"):
        P.PlainOrResNetMLP(2, 4, 1, 1, act="tanh")
    with pytest.raises(ValueError, match="slope"):
        P.activation_slopes(torch.zeros(2), "leaky_relu", 1.5)
    with pytest.raises(TypeError, match="net"):
        P.local_linear_map(torch.nn.Linear(2, 2), torch.zeros(1, 2))
    net = _net()
    with pytest.raises(ValueError, match="x"):
        P.local_linear_map(net, torch.zeros(2, 5))
    with pytest.raises(TypeError, match="x"):
        P.local_linear_map(net, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="layer"):
        P.layer_hessian(net, 5, _x(2, 3), _x(2, 4))
    with pytest.raises(ValueError, match="Y"):
        P.layer_hessian(net, 0, _x(2, 3), _x(3, 4))
    with pytest.raises(ValueError, match="W, q"):
        P.layer_local_matrix(torch.zeros(3, 4), torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="ts"):
        P.loss_along_line(net, 0, torch.zeros(8, 8), torch.zeros(3), _x(2, 3), _x(2, 4))
    with pytest.raises(ValueError, match="eps"):
        P.PlainOrResNetMLP(2, 4, 1, 1, eps=-1.0)


def test_spectrum_and_condition_number_match_numpy():
    np = pytest.importorskip("numpy")
    M = _x(12, 9, seed=5)
    np.testing.assert_allclose(
        P.spectrum(M).numpy(), np.linalg.svd(M.numpy(), compute_uv=False), rtol=1e-12
    )
    assert P.condition_number(M).item() == pytest.approx(
        np.linalg.cond(M.numpy()), rel=1e-10
    )
    R = _x(6, 6, seed=6)
    assert P.spectral_radius(R).item() == pytest.approx(
        max(abs(np.linalg.eigvals(R.numpy()))), rel=1e-12
    )
