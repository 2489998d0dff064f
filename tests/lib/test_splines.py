import pytest
import torch
from torch import nn
from torch.testing import assert_close

from dltheory import models, splines


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
