"""Unit tests of dltheory.unitary (chapter 08, projUNN)."""

import math

import pytest
import torch

from dltheory import unitary as un


def _setup(n, k, dtype, seed=0, scale=None):
    g = torch.Generator().manual_seed(seed)
    U = un.random_orthogonal(n, det=None, dtype=dtype, gen=g)
    s = 1 / math.sqrt(n) if scale is None else scale
    A = torch.randn(n, k, dtype=dtype, generator=g) * s
    B = torch.randn(n, k, dtype=dtype, generator=g) * s
    return U, A, B


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("k", [1, 3])
def test_projunn_matches_svd_and_matrix_exp_references(dtype, k):
    U, A, B = _setup(48, k, dtype)
    D, T = un.projunn_d(U, A, B), un.projunn_t(U, A, B)
    assert (D - un.polar_project(U + A @ B.mH)).abs().max() < 1e-10
    assert (T - un.exact_tangent_step(U, A @ B.mH)).abs().max() < 1e-10
    assert un.orthogonality_error(D) < 1e-12
    assert un.orthogonality_error(T) < 1e-12


def test_projunn_batched_and_large_steps():
    g = torch.Generator().manual_seed(1)
    U = torch.stack([un.random_orthogonal(16, gen=g) for _ in range(3)])  # (3, 16, 16)
    A = torch.randn(3, 16, 2, dtype=torch.float64, generator=g)  # large: ||AB|| ~ 16
    B = torch.randn(3, 16, 2, dtype=torch.float64, generator=g)
    assert (un.projunn_d(U, A, B) - un.polar_project(U + A @ B.mH)).abs().max() < 1e-10
    T_ref = un.exact_tangent_step(U, A @ B.mH)
    assert (un.projunn_t(U, A, B) - T_ref).abs().max() < 1e-10


def test_tangent_project_is_the_orthogonal_projection():
    U, _, _ = _setup(12, 1, torch.complex128)
    X = torch.randn(12, 12, dtype=torch.complex128)
    P = un.tangent_project(U, X)
    K = U.mH @ P
    assert (K + K.mH).abs().max() < 1e-12  # P = U K with K skew-Hermitian
    assert (un.tangent_project(U, P) - P).abs().max() < 1e-12  # idempotent
    # the residual X - P is orthogonal to the tangent space (real inner product)
    Y = un.tangent_project(U, torch.randn(12, 12, dtype=torch.complex128))
    assert abs(torch.vdot((X - P).flatten(), Y.flatten()).real) < 1e-10


def test_projunn_d_falls_back_to_t_when_near_singular():
    # A = -U B (1 - 1e-3) with ||B|| = 1: M = U + A B^H has sigma_min = 1e-3.
    g = torch.Generator().manual_seed(0)
    U = un.random_orthogonal(128, dtype=torch.float32, gen=g)
    B = torch.randn(128, 1, generator=g)
    B = B / B.norm()
    A = -(U @ B) * (1 - 1e-3) + 1e-3 * torch.randn(128, 1, generator=g) / 128**0.5
    guarded = un.projunn_d(U, A, B)
    assert un.orthogonality_error(guarded) < 1e-5
    assert torch.equal(guarded, un.projunn_t(U, A, B))
    # negative control: the clamp alone (tau tiny) loses orthogonality (measured 3e-3)
    assert un.orthogonality_error(un.projunn_d(U, A, B, tau=1e-12)) > 1e-4
    with pytest.raises(ValueError, match="near-singular"):
        un.projunn_d(U, A, B, fallback=False)
    # exactly singular with A = -U B: U^H Delta = -B B^H is Hermitian, T leaves U as is
    A = -(U @ B)
    assert (un.projunn_d(U, A, B) - U).abs().max() < 1e-6


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_lowrank_approximations_recover_a_low_rank_matrix(dtype):
    g = torch.Generator().manual_seed(0)
    M = torch.randn(40, 3, dtype=dtype, generator=g) @ torch.randn(
        3, 30, dtype=dtype, generator=g
    )
    for f in (un.lowrank_randomized, un.lowrank_column_sampling):
        A, B = f(M, 3, gen=g)
        assert A.shape == (40, 3)
        assert B.shape == (30, 3)
        assert (A @ B.mH - M).abs().max() < 1e-10
    # rank k, not k + oversample; equals the truncated SVD on a full matrix
    M = torch.randn(40, 30, dtype=dtype, generator=g)
    A, B = un.lowrank_randomized(M, 2, oversample=40, gen=g)
    Us, s, Vh = torch.linalg.svd(M)
    best = (Us[:, :2] * s[:2].to(dtype)) @ Vh[:2]
    assert (A @ B.mH - best).abs().max() < 1e-10


def test_helpers_known_answers():
    assert un.copy_baseline(50, 10, 8) == pytest.approx(10 * math.log(8) / 70)
    assert un.copy_baseline(50) == pytest.approx(0.2971, abs=1e-4)
    x, y = un.copy_task_batch(4, 50, gen=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 70)
    assert torch.equal(y[:, 60:], x[:, :10])
    assert (x[:, 59] == 9).all()
    assert (y[:, :60] == 0).all()
    assert (x[:, 10:59] == 0).all()
    W = un.henaff_init_(torch.empty(8, 8), gen=torch.Generator().manual_seed(0))
    assert un.orthogonality_error(W) < 1e-6
    assert float(torch.linalg.det(W)) > 0
    Q = un.random_orthogonal(9, det=-1)
    assert float(torch.linalg.det(Q)) == pytest.approx(-1)


def test_projunn_optimizer_keeps_any_model_unitary_and_learns():
    torch.manual_seed(0)
    model = un.OrthogonalRNN(10, 16, 9)
    other = [p for n, p in model.named_parameters() if n != "W.weight"]
    # W at the full rate 1e-2: RMSprop's first steps are large (||A B^T|| up to 1.5)
    base = torch.optim.RMSprop(
        [{"params": other}, {"params": [model.W.weight], "lr": 1e-2}], lr=1e-2
    )
    g = torch.Generator().manual_seed(0)
    steps, eps = 20, torch.finfo(torch.float32).eps
    for projector in ("T", "D"):
        opt = un.ProjUNN(base, [model.W.weight], projector=projector, gen=g)
        W0 = model.W.weight.detach().clone()
        out = un.train_copy(model, opt, steps, T=5, K=2, n=8, batch=8, gen=g, every=1)
        # float32 rounding only: at most about one eps per step. Measured max 3.6e-7
        # (T) and 4.8e-7 (D), 3-4 eps; with the 2k x 2k exponential in float32 (torch's
        # single-precision matrix_exp) T reached 1.2e-5 = 100 eps within 5 steps.
        assert max(out["orth"]) < steps * eps, out["orth"]
        assert not torch.equal(W0, model.W.weight)  # W moved
    assert out["heldout"][-1] < out["heldout"][0]


def test_projunn_t_small_exponential_is_accurate_in_float32():
    # torch's float32 matrix_exp of a 2x2 rotation generator at angle 0.58 loses 300 eps
    # of orthogonality; projunn_t takes the 2k x 2k exponential in double precision.
    eps = torch.finfo(torch.float32).eps
    W = torch.tensor([[0.0, 0.58], [-0.58, 0.0]])
    E = torch.linalg.matrix_exp(W)
    assert un.orthogonality_error(E) > 50 * eps  # the pitfall (measured 299 eps)
    U = torch.eye(2 * 16)
    a = torch.zeros(32, 1)
    b = torch.zeros(32, 1)
    a[0, 0], b[1, 0] = 1.16, 1.0  # skew(U^T a b^T) generates a rotation by 0.58
    T = un.projunn_t(U, a, b)
    assert un.orthogonality_error(T) < 4 * eps
    assert float(T[0, 1]) == pytest.approx(math.sin(0.58), abs=1e-6)


def test_parametrization_baseline_composes_with_the_rnn():
    # torch's own orthogonal parametrization is the baseline the chapter compares with
    model = un.OrthogonalRNN(10, 8, 9)
    torch.nn.utils.parametrizations.orthogonal(model.W, orthogonal_map="matrix_exp")
    x, _ = un.copy_task_batch(2, 5, K=2)
    with torch.nn.utils.parametrize.cached():
        assert model(x).shape == (2, 9, 9)
    assert un.orthogonality_error(model.W.weight.detach()) < 1e-5


def test_input_validation():
    U, A, B = _setup(8, 1, torch.float64)
    with pytest.raises(ValueError, match="U"):
        un.projunn_t(U[:, :7], A, B)
    with pytest.raises(TypeError, match="A"):
        un.projunn_d(U, A.float(), B)
    with pytest.raises(ValueError, match="rank k"):
        un.projunn_t(U, torch.randn(8, 5).double(), torch.randn(8, 5).double())
    with pytest.raises(ValueError, match="A and B"):
        un.projunn_t(U, A, torch.randn(8, 2).double())
    with pytest.raises(TypeError, match="U"):
        un.projunn_t(torch.eye(8, dtype=torch.long), A, B)
    with pytest.raises(ValueError, match="k"):
        un.lowrank_randomized(torch.randn(5, 4), 0)
    with pytest.raises(ValueError, match="tau"):
        un.projunn_d(U, A, B, tau=0.0)
    with pytest.raises(ValueError, match="W"):
        un.henaff_init_(torch.empty(3, 3))
    with pytest.raises(ValueError, match="T"):
        un.copy_baseline(0)
    with pytest.raises(TypeError, match="base"):
        un.ProjUNN("sgd", [U])
    with pytest.raises(ValueError, match="projector"):
        un.ProjUNN(torch.optim.SGD([torch.nn.Parameter(U)], lr=0.1), [U], projector="X")


@pytest.mark.parametrize("projector", ["T", "D"])
def test_projunn_refuses_a_non_finite_step(projector):
    # A NaN gradient used to be skipped silently (NaN > 0 is False, so the old
    # weight was copied back and training went on as if nothing happened).
    W = torch.nn.Parameter(torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))[0])
    opt = un.ProjUNN(torch.optim.SGD([W], lr=0.1), [W], projector=projector)
    W.grad = torch.full_like(W, float("nan"))
    with pytest.raises(ValueError, match="finite step"):
        opt.step()


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
def test_fused_recurrence_equals_the_python_loop(nonlinearity):
    torch.manual_seed(0)
    loop = un.OrthogonalRNN(5, 12, 3, nonlinearity, fused=False)
    fused = un.OrthogonalRNN(5, 12, 3, nonlinearity)
    fused.load_state_dict(loop.state_dict())
    x = torch.randn(4, 9, 5)
    ya, yb = loop(x), fused(x)
    torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-6)
    ya.square().sum().backward()
    yb.square().sum().backward()
    for (name, p), q in zip(loop.named_parameters(), fused.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)
    with pytest.raises(TypeError, match="fused"):
        un.OrthogonalRNN(5, 12, 3, fused=1)


@pytest.mark.parametrize("orthogonal_map", ["cayley", "matrix_exp"])
def test_train_copy_with_torch_orthogonal_parametrization(orthogonal_map):
    # the Cayley / matrix_exp baselines train in the same loop as projUNN
    torch.manual_seed(0)
    model = un.OrthogonalRNN(10, 16, 9)
    W0 = model.W.weight.detach().clone()
    torch.nn.utils.parametrizations.orthogonal(model.W, orthogonal_map=orthogonal_map)
    torch.testing.assert_close(
        model.W.weight.detach(), W0
    )  # init kept (trivialization)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-2)
    out = un.train_copy(
        model, opt, 20, 5, K=2, batch=8, gen=torch.Generator().manual_seed(0), every=10
    )
    assert out["step"] == [0, 10, 20]
    assert max(out["orth"]) < 1e-5
    assert not torch.allclose(model.W.weight.detach(), W0)  # W moved on the group
    assert out["heldout"][-1] < out["heldout"][0]


def test_permute_pixels_is_one_fixed_permutation():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 1, 3, 4)
    s0 = un.permute_pixels(x, seed=0)
    assert s0.shape == (2, 12, 1)
    assert torch.equal(s0, un.permute_pixels(x, seed=0))  # fixed by the seed
    assert not torch.equal(s0, un.permute_pixels(x, seed=1))
    # the same permutation for every image, and a permutation of the pixels
    assert torch.equal(s0[1] - s0[0], torch.full((12, 1), 12.0))
    assert torch.equal(s0[0, :, 0].sort().values, torch.arange(12.0))
    with pytest.raises(TypeError, match="x"):
        un.permute_pixels(torch.arange(5), 0)  # integer pixels
    with pytest.raises(ValueError, match="x"):
        un.permute_pixels(torch.ones(5), 0)  # no image dimension
    with pytest.raises(TypeError, match="seed"):
        un.permute_pixels(x, seed=0.5)


def test_train_sequence_classifier_learns_a_tiny_permuted_task():
    # synthetic 4x4 "images": the class is whether pixel (0, 0) is bright; after the
    # permutation that pixel sits somewhere in the 16-step sequence
    g = torch.Generator().manual_seed(0)
    x = torch.rand(600, 1, 4, 4, generator=g) * 0.2
    y = torch.randint(0, 2, (600,), generator=g)
    x[:, 0, 0, 0] += y.float()
    seq = un.permute_pixels(x, seed=3)  # (600, 16, 1)
    torch.manual_seed(0)
    model = un.OrthogonalRNN(1, 16, 2)
    other = [p for name, p in model.named_parameters() if name != "W.weight"]
    base = torch.optim.RMSprop(
        [{"params": other}, {"params": [model.W.weight], "lr": 1e-2 / 32}], lr=1e-2
    )
    opt = un.ProjUNN(base, [model.W.weight], projector="T", rank=1)
    out = un.train_sequence_classifier(
        model,
        opt,
        seq[:500],
        y[:500],
        seq[500:],
        y[500:],
        150,
        batch=32,
        gen=g,
        every=50,
        eval_size=None,
    )
    assert out["step"] == [0, 50, 100, 150]
    assert len(out["train"]) == 150
    assert out["test_acc"][-1] >= 0.9, out["test_acc"]
    assert max(out["orth"]) < 1e-5
    with pytest.raises(ValueError, match="y_train"):
        un.train_sequence_classifier(model, opt, seq[:10], y[:9], seq[:10], y[:10], 1)
    with pytest.raises(ValueError, match="x_test"):
        un.train_sequence_classifier(model, opt, seq, y, x, y, 1)


def test_permuted_mnist_offline_says_what_to_do(monkeypatch, tmp_path):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "torchvision", None)  # not installed
    with pytest.raises(ImportError, match="pip install torchvision"):
        un.permuted_mnist(0, root=tmp_path)

    class Missing:  # torchvision present, files absent, no network
        def __init__(self, root, train, download):  # noqa: ARG002
            raise RuntimeError("Dataset not found. You can use download=True")

    module = types.ModuleType("torchvision")
    module.datasets = types.SimpleNamespace(MNIST=Missing)
    monkeypatch.setitem(sys.modules, "torchvision", module)
    with pytest.raises(RuntimeError, match="download=True") as error:
        un.permuted_mnist(0, root=tmp_path)
    assert str(tmp_path) in str(error.value)
    with pytest.raises(RuntimeError, match="Dataset not found"):  # download failed
        un.permuted_mnist(0, root=tmp_path, download=True)

    class Fake:  # the conversion path on fake files
        def __init__(self, root, train, download):  # noqa: ARG002
            n = 3 if train else 2
            self.data = torch.arange(n * 784, dtype=torch.uint8).reshape(n, 28, 28)
            self.targets = torch.arange(n)

    module.datasets = types.SimpleNamespace(MNIST=Fake)
    xtr, ytr, xte, yte = un.permuted_mnist(1, root=tmp_path)
    assert xtr.shape == (3, 784, 1)
    assert xte.shape == (2, 784, 1)
    assert ytr.tolist() == [0, 1, 2]
    assert float(xtr.max()) <= 1
