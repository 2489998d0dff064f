import pytest
import torch
from torch import nn
from torch.testing import assert_close

from dltheory import data, models, splines


def _relu_mlp(dims, *, seed, dtype=torch.float64, bias=True):
    torch.manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        mods.append(nn.Linear(a, b, bias=bias))
        if i < len(dims) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods).to(dtype)


class _BlockMLP(nn.Module):
    # Like dltheory.models.MLP: blocks in a ModuleList, nested, with an nn.Identity.
    def __init__(self, dims):
        super().__init__()
        hidden = [
            nn.Sequential(nn.Linear(a, b), nn.Identity(), nn.ReLU())
            for a, b in zip(dims[:-2], dims[1:-1], strict=True)
        ]
        self.layers = nn.ModuleList([*hidden, nn.Linear(dims[-2], dims[-1])])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def _randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).double()


def _line_net(W, b):
    # One hidden layer whose unit k switches on the line W[k] . x + b[k] = 0.
    net = nn.Sequential(nn.Linear(2, len(b)), nn.ReLU(), nn.Linear(len(b), 1))
    net = net.double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(W, dtype=torch.float64))
        net[0].bias.copy_(torch.tensor(b, dtype=torch.float64))
    return net


def _codes_by_hand(net, x):
    # (F6) read off the Sequential layer by layer, independent of the library.
    codes, z = [], x
    for m in net:
        z = m(z)
        if isinstance(m, nn.Linear) and m is not net[-1]:
            codes.append(z > 0)
    return torch.cat(codes, dim=1)


def test_activation_codes_match_a_direct_forward():
    net = _relu_mlp([3, 8, 5, 2], seed=0)
    x = _randn(200, 3, seed=1)
    with torch.no_grad():
        expected = _codes_by_hand(net, x)  # (n, 13)
    codes = splines.activation_codes(net, x)
    assert codes.dtype == torch.bool
    assert torch.equal(codes, expected)


def test_activation_codes_of_a_nested_module_with_identities():
    net = _BlockMLP([2, 6, 4, 1]).double()
    x = _randn(50, 2, seed=2)
    with torch.no_grad():
        u1 = net.layers[0][0](x)
        u2 = net.layers[1][0](u1.relu())
    expected = torch.cat([u1 > 0, u2 > 0], dim=1)  # (n, 10)
    assert torch.equal(splines.activation_codes(net, x), expected)


def test_the_book_mlp_is_read_as_a_relu_mlp_and_batch_norm_is_rejected():
    torch.manual_seed(0)
    net = models.MLP([2, 6, 5, 1]).double()
    x = _randn(30, 2, seed=3)
    with torch.no_grad():
        u1 = net.blocks[0][0](x)  # (n, 6) pre-activations of hidden layer 1
        u2 = net.blocks[1][0](u1.relu())  # (n, 5)
    expected = torch.cat([u1 > 0, u2 > 0], dim=1)  # (n, 11)
    assert torch.equal(splines.activation_codes(net, x), expected)
    with pytest.raises(TypeError, match="BatchNorm1d"):
        splines.activation_codes(models.MLP([2, 6, 1], batch_norm=True), x.float())


def test_local_affine_map_is_the_jacobian():
    net = _relu_mlp([4, 16, 16, 3], seed=3)
    x = _randn(20, 4, seed=4)
    A, _ = splines.local_affine_map(net, x)  # (n, 3, 4)
    J = torch.vmap(torch.func.jacrev(net))(x)  # (n, 3, 4)
    # Both are the same product of at most 3 matrices in float64: ~1e-16 apart.
    assert_close(A, J.detach(), rtol=0, atol=1e-10)


def test_local_affine_map_reproduces_f_on_the_whole_region():
    net = _relu_mlp([2, 16, 16, 16, 1], seed=5)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(100, 2, generator=gen, dtype=torch.float64)
    A, b = splines.local_affine_map(net, x)  # (n, 1, 2), (n, 1)
    with torch.no_grad():
        assert_close(net(x), (A @ x.unsqueeze(-1)).squeeze(-1) + b, rtol=0, atol=1e-10)
        # A step small enough to stay in the region: the same map still gives f.
        y = x + 1e-6 * torch.randn(100, 2, generator=gen, dtype=torch.float64)
        codes_x, codes_y = (splines.activation_codes(net, p) for p in (x, y))
        same = (codes_y == codes_x).all(dim=1)  # (n,) points still in their region
        assert same.sum() >= 90
        f_y = (A @ y.unsqueeze(-1)).squeeze(-1) + b
        assert_close(net(y)[same], f_y[same], rtol=0, atol=1e-10)


def test_local_affine_map_of_one_point_matches_the_batch_and_handles_no_bias():
    net = _relu_mlp([3, 7, 7, 2], seed=7, bias=False)
    x = _randn(5, 3, seed=8)
    A, b = splines.local_affine_map(net, x)
    A1, b1 = splines.local_affine_map(net, x[1])
    assert A1.shape == (2, 3)
    assert_close(A1, A[1])
    assert_close(b1, b[1])
    assert_close(b, torch.zeros(5, 2, dtype=torch.float64))  # no biases: b_omega = 0


def test_local_affine_map_is_float64_for_a_float32_net():
    net = _relu_mlp([2, 8, 1], seed=9, dtype=torch.float32)
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(10))
    A, b = splines.local_affine_map(net, x)
    assert A.dtype == b.dtype == torch.float64
    with torch.no_grad():
        f = net(x).double()
    # float32 forward vs float64 map of the same weights: float32 rounding, ~1e-7.
    assert_close((A @ x.double().unsqueeze(-1)).squeeze(-1) + b, f, rtol=0, atol=1e-5)


def test_grid2d_orders_points_row_by_row_from_the_bottom():
    expected = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert torch.equal(splines.grid2d(0, 1, 2), expected)
    grid = splines.grid2d(-2.0, 2.0, 5, dtype=torch.float64)
    assert grid.shape == (25, 2)
    assert grid.dtype == torch.float64
    assert_close(grid[7], torch.tensor([0.0, -1.0], dtype=torch.float64))  # i=1, j=2


def test_one_unit_cuts_the_window_in_two():
    assert splines.count_regions(_line_net([[1.0, 1.0]], [0.0]), -1, 1, res=50) == 2
    # A line that misses the window leaves it in one piece.
    assert splines.count_regions(_line_net([[1.0, 1.0]], [5.0]), -1, 1, res=50) == 1


def test_four_lines_in_general_position_make_eleven_regions():
    # x = 0.5, y = 0.3, x + y = -0.1, x - y = 0.9: no two parallel, no three through
    # one point, all six crossings inside [-3, 3]^2 and >= 0.1 apart.
    W = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]]
    net = _line_net(W, [-0.5, -0.3, 0.1, -0.9])
    assert splines.max_regions_one_layer(4) == 11
    assert splines.count_regions(net, -3, 3, res=600) == 11
    # [0.2, 0.6]^2 meets two lines, crossing at (0.5, 0.3): four regions.
    assert splines.count_regions(net, 0.2, 0.6, res=200) == 4


def test_max_regions_one_layer_known_answers():
    assert [splines.max_regions_one_layer(K) for K in range(5)] == [1, 2, 4, 7, 11]
    assert splines.max_regions_one_layer(16) == 1 + 16 + 120
    assert splines.max_regions_one_layer(5, d=1) == 6  # K points cut a line in K + 1
    assert splines.max_regions_one_layer(3, d=3) == 8  # 3 planes in 3-D: octants


def test_region_ids_are_equal_exactly_when_the_codes_are():
    # 2 x 40 = 80 hidden units: the codes need two packed 52-bit words.
    net = _relu_mlp([2, 40, 40, 1], seed=11)
    x = 3 * torch.randn(4000, 2, generator=torch.Generator().manual_seed(12))
    ids = splines.region_ids(net, x.double())  # (n,)
    codes = splines.activation_codes(net, x.double())  # (n, 80)
    distinct, expected = torch.unique(codes, dim=0, return_inverse=True)
    assert ids.max().item() + 1 == len(distinct)
    # Same partition of the points: the ids and the codes determine each other.
    assert len(torch.unique(ids * len(distinct) + expected)) == len(distinct)


def test_region_image_has_the_grid_layout_and_consistent_ids():
    net = _relu_mlp([2, 16, 16, 1], seed=13)
    img = splines.region_image(net, -2, 2, res=60)
    assert img.shape == (60, 60)
    assert img.dtype == torch.long
    grid = splines.grid2d(-2, 2, 60, dtype=torch.float64)  # (3600, 2)
    codes = splines.activation_codes(net, grid)  # (3600, 32)
    code_of_id = torch.zeros(int(img.max()) + 1, codes.shape[1], dtype=torch.bool)
    code_of_id[img.reshape(-1)] = codes
    assert torch.equal(code_of_id[img.reshape(-1)], codes)  # one code per id
    assert len(torch.unique(code_of_id, dim=0)) == len(code_of_id)  # one id per code
    assert splines.count_regions(net, -2, 2, res=60) == len(code_of_id)


def test_an_affine_net_has_one_region():
    net = nn.Sequential(nn.Linear(2, 3)).double()
    x = torch.randn(7, 2, dtype=torch.float64)
    assert splines.activation_codes(net, x).shape == (7, 0)
    assert splines.count_regions(net, -1, 1, res=10) == 1
    A, b = splines.local_affine_map(net, x[0])
    assert_close(A, net[0].weight.detach())
    assert_close(b, net[0].bias.detach())


class _FunctionalReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(2, 4), nn.Linear(4, 1)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


class _Reordered(nn.Module):
    # Registered out of order: the Linear-ReLU reading differs from forward.
    def __init__(self):
        super().__init__()
        self.out, self.act, self.inp = nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4)

    def forward(self, x):
        return self.out(self.act(self.inp(x)))


@pytest.mark.parametrize(
    ("net", "error", "match"),
    [
        (nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)), TypeError, "Tanh"),
        (nn.Sequential(nn.Linear(2, 4), nn.ReLU()), ValueError, "ends with nn.ReLU"),
        (_FunctionalReLU(), ValueError, "exactly one nn.ReLU"),
        ("not a net", TypeError, "net: expected a torch.nn.Module, got str"),
    ],
)
def test_a_net_that_is_not_a_relu_mlp_is_rejected(net, error, match):
    with pytest.raises(error, match=match):
        splines.activation_codes(net, torch.zeros(3, 2))


def test_a_net_whose_forward_differs_from_its_modules_is_rejected():
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(14))
    with pytest.raises(ValueError, match="forward pass differs"):
        splines.local_affine_map(_Reordered(), x)


def test_bad_inputs_are_rejected_naming_the_argument():
    net = _relu_mlp([2, 4, 1], seed=0)
    with pytest.raises(ValueError, match=r"x: expected shape \(n, 2\).*got \(5, 3\)"):
        splines.activation_codes(net, torch.zeros(5, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
        splines.local_affine_map(net, torch.zeros(5, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"x: expected shape \(n, 2\).*\(2, 1, 2\)"):
        splines.local_affine_map(net, torch.zeros(2, 1, 2, dtype=torch.float64))
    with pytest.raises(
        ValueError, match=r"x: expected shape \(2,\) or \(n, 2\).*\(3,\)"
    ):
        splines.local_affine_map(net, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="lo, hi: expected finite lo < hi, got lo=1"):
        splines.count_regions(net, 1, -1)
    with pytest.raises(ValueError, match="res: expected an int >= 2, got 1"):
        splines.region_image(net, -1, 1, res=1)
    with pytest.raises(TypeError, match="res: expected an int, got float"):
        splines.grid2d(-1, 1, 10.0)
    with pytest.raises(TypeError, match="lo: expected a number, got str"):
        splines.grid2d("-1", 1, 10)
    with pytest.raises(ValueError, match="net: expected 2 inputs for a 2-D grid"):
        splines.count_regions(_relu_mlp([3, 4, 1], seed=0), -1, 1)
    with pytest.raises(ValueError, match="K: expected an int >= 0, got -1"):
        splines.max_regions_one_layer(-1)


# --- Chapter 06: batch normalization and the partition ------------------------------


def _bn_mlp(dims, *, seed, affine=True, random_affine=False):
    torch.manual_seed(seed)
    net = models.MLP(dims, batch_norm=True, bn_affine=affine).double()
    if random_affine:
        gen = torch.Generator().manual_seed(seed + 100)
        with torch.no_grad():
            for bn in net.modules():
                if isinstance(bn, nn.BatchNorm1d):
                    bn.weight.copy_(0.5 + torch.rand(bn.num_features, generator=gen))
                    bn.bias.copy_(torch.randn(bn.num_features, generator=gen))
    return net


def test_bn_stats_are_the_biased_train_mode_statistics_in_float64():
    X = _randn(50, 3, seed=0).float()
    W, c = _randn(4, 3, seed=1).float(), _randn(4, seed=2).float()
    mu, sigma = splines.bn_stats(W, X, c)
    assert mu.dtype == sigma.dtype == torch.float64
    u = X.double() @ W.double().T + c.double()
    assert_close(mu, u.mean(0))
    assert_close(sigma, u.std(0, correction=0))
    bn = nn.BatchNorm1d(4, affine=False, momentum=None).double().train()
    bn(u)  # one pass: running_var is the unbiased variance
    assert_close(sigma**2 * 50 / 49, bn.running_var)
    with pytest.raises(ValueError, match="Z: expected shape"):
        splines.bn_stats(W, X[:, :2])
    with pytest.raises(ValueError, match="c: expected shape"):
        splines.bn_stats(W, X, c[:2])
    with pytest.raises(TypeError, match="W"):
        splines.bn_stats(W.long(), X)


def test_tls_offset_is_the_argmin_of_the_summed_squared_distances():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    Z = _randn(200, 2, seed=3) ** 3  # skewed: mean and median differ
    W = _randn(5, 2, seed=4)
    b = splines.tls_offset(W, Z)
    assert_close(b, (Z @ W.T).mean(0))
    mu, sigma = splines.bn_stats(W, Z)
    assert_close(b, mu)  # (B3): the BN mean
    for k in range(5):

        def objective(t, k=k):
            H = splines.hyperplane_distances(
                W[k : k + 1], torch.tensor([t]).double(), Z
            )
            return float((H**2).sum())

        found = scipy_optimize.minimize_scalar(objective).x
        assert abs(found - b[k].item()) < 1e-6
        assert objective(b[k].item()) == pytest.approx(
            200 * sigma[k].item() ** 2 / W[k].norm().item() ** 2, rel=1e-10
        )
        # Negative control: the L1 minimiser (median) is not the TLS offset here.
        median = (Z @ W[k]).median().item()
        assert abs(median - b[k].item()) > 1e-3
    with pytest.raises(ValueError, match="zero row"):
        splines.tls_offset(torch.zeros(1, 2).double(), Z)


def test_hyperplane_distances_match_the_projection():
    Z, W, b = _randn(30, 3, seed=5), _randn(4, 3, seed=6), _randn(4, seed=7)
    D = splines.hyperplane_distances(W, b, Z)  # (30, 4)
    for k in range(4):
        w = W[k]
        foot = Z - ((Z @ w - b[k]) / (w @ w))[:, None] * w  # projection on H_k
        assert_close(foot @ w, b[k].expand(30))
        assert_close(D[:, k], (Z - foot).norm(dim=1))
    with pytest.raises(ValueError, match="b: expected shape"):
        splines.hyperplane_distances(W, b[:3], Z)


@pytest.mark.parametrize("random_affine", [False, True])
def test_freeze_bn_stats_reproduces_train_mode_and_fold_bn_the_eval_net(random_affine):
    X = _randn(120, 2, seed=8) + 3.0
    net = _bn_mlp([2, 8, 8, 1], seed=0, random_affine=random_affine).train()
    with torch.no_grad():
        y_train = net(X)  # BN with the batch X's statistics
    assert splines.freeze_bn_stats(net, X) is net
    assert not net.training
    with torch.no_grad():
        assert_close(net(X), y_train)
        folded = splines.fold_bn(net)
        assert_close(folded(X), y_train)
    assert [type(m) for m in folded] == [nn.Linear, nn.ReLU] * 2 + [nn.Linear]
    # Every plain-MLP function accepts the folded net.
    assert splines.count_regions(folded, 2.0, 4.0, res=20) >= 1


def test_fold_bn_rejects_train_mode_and_other_modules():
    net = _bn_mlp([2, 4, 1], seed=0).train()
    with pytest.raises(ValueError, match="train mode"):
        splines.fold_bn(net)
    with pytest.raises(TypeError, match="Tanh"):
        splines.fold_bn(nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1)))
    with pytest.raises(ValueError, match="right after a Linear"):
        splines.fold_bn(nn.Sequential(nn.BatchNorm1d(2).eval(), nn.Linear(2, 1)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        splines.freeze_bn_stats(net, _randn(1, 2, seed=0))
    # A plain ReLU MLP folds to itself.
    plain = _relu_mlp([2, 5, 1], seed=0)
    x = _randn(7, 2, seed=1)
    assert_close(splines.fold_bn(plain)(x), plain(x))


def test_layer_hyperplanes_pass_through_the_centroid_when_beta_is_zero():
    X = _randn(200, 2, seed=9) * 0.3 + torch.tensor([3.0, -1.0]).double()
    net = splines.freeze_bn_stats(_bn_mlp([2, 16, 16, 1], seed=1), X)
    W, c = splines.layer_hyperplanes(net, 1)  # (16, 2), (16,)
    assert (X.mean(0) @ W.T + c).abs().max() < 1e-12
    # With beta != 0 the offset is mu - beta sigma / gamma (B2).
    net = splines.freeze_bn_stats(_bn_mlp([2, 16, 1], seed=1, random_affine=True), X)
    W, c = splines.layer_hyperplanes(net, 1)
    lin, bn = net.blocks[0][0], net.blocks[0][1]
    mu, sigma = splines.bn_stats(lin.weight, X)
    sigma = (sigma**2 + bn.eps).sqrt()
    offset = mu - bn.bias * sigma / bn.weight  # <w_k, z> = offset_k on H_k
    w = lin.weight.detach()
    assert_close(W, (bn.weight / sigma)[:, None].detach() * w)
    assert_close(-c * sigma / bn.weight.detach(), offset.detach())
    with pytest.raises(ValueError, match="layer"):
        splines.layer_hyperplanes(net, 2)


def test_boundary_distance_is_exact_against_a_radial_search():
    net = _relu_mlp([2, 12, 12, 12, 1], seed=2)
    X = _randn(4, 2, seed=10)
    d = splines.boundary_distance(net, X)
    dist, exact, layer_of = splines.unit_boundary_distances(net, X)
    assert dist.shape == exact.shape == (4, 36)
    assert layer_of == [1] * 12 + [2] * 12 + [3] * 12
    assert exact[:, :12].all()  # layer 1 is always exact
    W, b = net[0].weight.detach(), net[0].bias.detach()
    assert_close(dist[:, :12], splines.hyperplane_distances(W, -b, X))
    codes = splines.activation_codes(net, X)
    angles = torch.linspace(0, 2 * torch.pi, 360, dtype=torch.float64)
    directions = torch.stack([angles.cos(), angles.sin()], dim=1)  # (720, 2)
    for i in range(4):
        radii = torch.linspace(0, 1.2 * d[i].item(), 400, dtype=torch.float64)
        pts = X[i] + radii[:, None, None] * directions  # (400, 360, 2)
        c = splines.activation_codes(net, pts.reshape(-1, 2)).reshape(400, 360, -1)
        left = (c != codes[i]).any(-1)  # (400, 360)
        first = radii[left.float().argmax(0)[left.any(0)]].min().item()
        assert d[i].item() <= first <= d[i].item() * 1.02 + 2 * radii[1].item()


def test_boundary_distance_guards_units_constant_on_the_region():
    net = _line_net([[1.0, 0.0], [0.0, 0.0]], [0.0, 1.0])  # unit 2: no gradient
    X = torch.tensor([[0.5, 0.0], [-2.0, 3.0]], dtype=torch.float64)
    dist, exact, _ = splines.unit_boundary_distances(net, X)
    assert torch.isinf(dist[:, 1]).all()
    assert_close(splines.boundary_distance(net, X), torch.tensor([0.5, 2.0]).double())
    const = _line_net([[0.0, 0.0]], [1.0])
    assert torch.isinf(splines.boundary_distance(const, X)).all()


def test_segment_crossings_match_a_dense_sampling_and_the_lines():
    net = _line_net([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [-0.5, 0.25, 0.0])
    a, b = torch.tensor([-1.0, -1.0]).double(), torch.tensor([1.0, 1.0]).double()
    # x(t) = -1 + 2t on both axes: x1 = 0.5 at t = 0.75, x2 = -0.25 at t = 0.375,
    # x1 + x2 = 0 at t = 0.5.
    assert_close(
        splines.segment_crossings(net, a, b),
        torch.tensor([0.375, 0.5, 0.75]).double(),
    )
    deep = _bn_mlp([2, 16, 16, 16, 1], seed=3)
    X = _randn(100, 2, seed=11)
    splines.freeze_bn_stats(deep, X)
    a, b = X.min(0).values, X.max(0).values
    ts = splines.segment_crossings(deep, a, b)
    t = torch.linspace(0, 1, 100_001, dtype=torch.float64)
    ids = splines.region_ids(splines.fold_bn(deep), a + t[:, None] * (b - a))
    assert len(ts) == int((ids[1:] != ids[:-1]).sum())
    assert (ts.diff() > 0).all()
    with pytest.raises(ValueError, match="a == b"):
        splines.segment_crossings(net, a, a)
    with pytest.raises(ValueError, match="max_crossings"):
        splines.segment_crossings(deep, a, b, max_crossings=2)


@pytest.mark.parametrize("replace", [True, False])
def test_bn_offset_jitter_is_sigma_over_sqrt_b(replace):
    X = _randn(400, 2, seed=12) ** 3  # heavy-tailed: the ratio is still 1 on average
    W = _randn(8, 2, seed=13)
    gen = torch.Generator().manual_seed(0)
    ratio = splines.bn_offset_jitter(
        W, X, 16, n_draws=4000, replace=replace, generator=gen
    )
    assert ratio.shape == (8,)
    assert abs(ratio.mean().item() - 1) < 0.05
    with pytest.raises(ValueError, match="B: expected"):
        splines.bn_offset_jitter(W, X, 400, replace=False)
    with pytest.raises(TypeError, match="generator"):
        splines.bn_offset_jitter(W, X, 8, generator=0)


def test_decision_margin_2d_of_a_line_is_the_distance_to_it():
    X = torch.tensor([[0.0, 0.0], [1.0, 0.5], [-1.5, 1.0]])
    m = splines.decision_margin_2d(lambda g: g[:, 0] - 0.3, X, -2.0, 2.0, res=201)
    assert_close(m, torch.tensor([0.3, 0.7, 1.8]).double(), atol=0.011, rtol=0)
    inf = splines.decision_margin_2d(lambda g: g[:, 0] + 5, X, -2.0, 2.0, res=11)
    assert torch.isinf(inf).all()
    with pytest.raises(TypeError, match="f: expected a callable"):
        splines.decision_margin_2d(1, X, -2.0, 2.0)
    with pytest.raises(ValueError, match="X: expected shape"):
        splines.decision_margin_2d(lambda g: g[:, 0], X[:, :1], -2.0, 2.0)


def test_decision_margin_2d_of_a_circle_is_within_its_error_bounds():
    # Curved boundary {norm(x) = 1}: exact distance abs(norm(x) - 1); the grid result
    # lies in [exact - h / 2, exact + (sqrt(2) + 1/2) h] (the docstring's bounds).
    X = torch.tensor([[0.0, 0.0], [0.3, 0.2], [1.2, -0.9], [0.05, 1.02]])
    res = 41
    h = 4.0 / (res - 1)
    m = splines.decision_margin_2d(lambda g: g.norm(dim=1) - 1, X, -2.0, 2.0, res=res)
    exact = (X.double().norm(dim=1) - 1).abs()
    assert (m >= exact - h / 2 - 1e-9).all(), (m, exact)
    assert (m <= exact + 1.92 * h).all(), (m, exact)


def test_ref_stat_bn_uses_the_reference_rows():
    torch.manual_seed(0)
    x = torch.randn(10, 3).double()
    ref = splines.RefStatBN(3).double().train()
    bn = nn.BatchNorm1d(3).double().train()
    assert_close(ref(x), bn(x))  # ref_rows = 0: standard BN
    ref.ref_rows = 6
    out = ref(x)
    var, mu = torch.var_mean(x[-6:], dim=0, correction=0)
    assert_close(out, (x - mu) / (var + ref.eps).sqrt())
    ref.ref_rows, ref.mean_noise_batch = 0, 4
    ref.noise_generator = torch.Generator().manual_seed(0)
    assert not torch.allclose(ref(x), bn(x))


def test_fit_epochs_trains_records_and_uses_full_statistics():
    split = data.two_moons(100, noise=0.1, seed=0, test_size=0.2)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(2, 16), splines.RefStatBN(16), nn.ReLU(), nn.Linear(16, 1)
    )
    h = splines.fit_epochs(
        net, *split, epochs=3, batch_size=8, lr=1e-2, optimizer="adam",
        full_stats=True,
    )  # fmt: skip
    assert h["epoch"] == [1, 2, 3]
    assert h["train"][-1] > 0.75
    assert not net.training
    assert net[1].ref_rows == 80  # the whole training set normalises every step
    # Evaluated with the training set's exact statistics.
    _, var = splines.bn_stats(net[0].weight, split.x_train, net[0].bias)
    assert_close(net[1].running_var, var.float() ** 2)
    ten = models.MLP([2, 8, 3])
    y3 = split.y_train % 3
    h3 = splines.fit_epochs(ten, split.x_train, y3, split.x_test, split.y_test % 3,
                            epochs=1, batch_size=10)  # fmt: skip
    assert len(h3["test"]) == 1
    with pytest.raises(ValueError, match="batch_size"):
        splines.fit_epochs(ten, *split, epochs=1, batch_size=500)
    with pytest.raises(ValueError, match="optimizer"):
        splines.fit_epochs(ten, *split, epochs=1, optimizer="rmsprop")


def test_ids_of_codes_numbers_distinct_rows_exactly():
    g = torch.Generator().manual_seed(0)
    # 60 units: two packed words, so rows that differ only in the second word count
    codes = torch.rand(500, 60, generator=g) > 0.5
    codes[100:200] = codes[0]
    codes[300, :] = codes[0]
    codes[300, 59] = ~codes[0, 59]  # differs in the last unit only
    ids = splines.ids_of_codes(codes)
    same = (codes[:, None, :] == codes[None, :, :]).all(-1)  # (500, 500)
    assert torch.equal(ids[:, None] == ids[None, :], same)
    assert ids.max().item() + 1 == len(torch.unique(codes, dim=0))
    assert ids[300] != ids[0]


@pytest.mark.parametrize(
    ("codes", "error"),
    [
        (torch.zeros(3, 4), TypeError),
        (torch.zeros(3, dtype=torch.bool), ValueError),
        (torch.zeros(0, 4, dtype=torch.bool), ValueError),
    ],
)
def test_ids_of_codes_rejects_bad_input(codes, error):
    with pytest.raises(error, match="codes"):
        splines.ids_of_codes(codes)
