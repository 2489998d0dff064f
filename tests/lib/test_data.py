import random
import sys
import types
from pathlib import Path

# Imported at collection, outside any test: mnist1d imports requests, whose urllib3
# opens (and closes) a local IPv6 socket at import to probe for IPv6 support, which
# pytest-socket would report inside a test. Nothing connects to the network.
import mnist1d.data  # noqa: F401
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch.testing import assert_close

from dltheory import data


def _assert_stratified(split, test_size):
    # Each class is split in the proportion test_size, up to rounding (one sample).
    y = torch.cat([split.y_train, split.y_test])
    for k in y.unique():
        total = (y == k).sum().item()
        in_test = (split.y_test == k).sum().item()
        assert abs(in_test - test_size * total) <= 1, f"class {k}: {in_test}/{total}"


def _assert_dtypes(split):
    assert split.x_train.dtype == split.x_test.dtype == torch.float32
    assert split.y_train.dtype == split.y_test.dtype == torch.int64
    assert all(t.device.type == "cpu" for t in split)


def _assert_equal_splits(a, b):
    for s, t in zip(a, b, strict=True):
        assert torch.equal(s, t)


# --- digits -------------------------------------------------------------------------


def test_digits_is_the_common_setting():
    split = data.digits()
    assert split.x_train.shape == (1203, 64)
    assert split.x_test.shape == (594, 64)
    _assert_dtypes(split)
    _assert_stratified(split, 0.33)
    assert split.num_classes == 10
    x = torch.cat([split.x_train, split.x_test])
    assert x.min() == 0.0
    assert x.max() == 1.0
    assert torch.equal(x * 16, (x * 16).round())  # pixels are k / 16
    # The split is a permutation of load_digits / 16: same rows, same labels.
    bunch = load_digits()
    original = {
        (tuple(row), label)
        for row, label in zip(
            (bunch.data / 16).astype(np.float32).tolist(),
            bunch.target.tolist(),
            strict=True,
        )
    }
    ours = {
        (tuple(row), label)
        for row, label in zip(
            x.tolist(), torch.cat([split.y_train, split.y_test]).tolist(), strict=True
        )
    }
    assert ours == original


def test_digits_is_deterministic_in_its_seed():
    _assert_equal_splits(data.digits(seed=0), data.digits(seed=0))
    assert not torch.equal(data.digits(seed=1).y_train, data.digits(seed=0).y_train)


def test_digits_as_images_are_the_rows_reshaped():
    flat, images = data.digits(), data.digits(as_images=True)
    assert images.x_train.shape == (1203, 1, 8, 8)
    assert torch.equal(images.x_train.reshape(1203, 64), flat.x_train)
    assert torch.equal(images.y_test, flat.y_test)


def test_split_moves_and_prints_shapes():
    split = data.digits()
    moved = split.to("cpu")
    assert isinstance(moved, data.Split)
    _assert_equal_splits(moved, split)
    assert repr(split) == (
        "Split(x_train=(1203, 64) float32, y_train=(1203,) int64, "
        "x_test=(594, 64) float32, y_test=(594,) int64, device=cpu)"
    )


def test_select_classes_keeps_and_relabels_in_the_given_order():
    split = data.digits()
    sub = split.select_classes([7, 3])
    for x_all, y_all, x_sub, y_sub in (
        (split.x_train, split.y_train, sub.x_train, sub.y_train),
        (split.x_test, split.y_test, sub.x_test, sub.y_test),
    ):
        keep = (y_all == 7) | (y_all == 3)
        assert torch.equal(x_sub, x_all[keep])  # original order kept
        assert torch.equal(y_sub, (y_all[keep] == 3).long())  # 7 -> 0, 3 -> 1
    assert sub.num_classes == 2
    with pytest.raises(ValueError, match="classes"):
        split.select_classes([1, 1])
    with pytest.raises(ValueError, match="classes"):
        split.select_classes([10])
    with pytest.raises(ValueError, match="classes"):
        split.select_classes([])


# --- mnist1d ------------------------------------------------------------------------


def test_mnist1d_default_size():
    # The one slow data test: generating 5000 signals takes about 1.5 s.
    split = data.mnist1d()
    assert split.x_train.shape == (4000, 40)
    assert split.x_test.shape == (1000, 40)
    _assert_dtypes(split)
    assert split.num_classes == 10
    x = torch.cat([split.x_train, split.x_test]).double()
    # The package standardises the whole dataset.
    assert x.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert x.std().item() == pytest.approx(1.0, abs=1e-3)


def test_mnist1d_is_deterministic_and_leaves_global_state_alone():
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    expected = (random.random(), np.random.rand())  # noqa: NPY002
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    a = data.mnist1d(seed=3, num_samples=100)
    assert (random.random(), np.random.rand()) == expected  # noqa: NPY002
    _assert_equal_splits(a, data.mnist1d(seed=3, num_samples=100))
    assert not torch.equal(data.mnist1d(seed=4, num_samples=100).x_train, a.x_train)
    assert a.x_train.shape == (80, 40)
    assert torch.bincount(torch.cat([a.y_train, a.y_test])).tolist() == [10] * 10


# --- synthetic ----------------------------------------------------------------------


def test_two_moons():
    split = data.two_moons(400, noise=0.0, seed=1)
    assert split.x_train.shape == (300, 2)
    assert split.x_test.shape == (100, 2)
    _assert_dtypes(split)
    _assert_stratified(split, 0.25)
    x, y = (
        torch.cat([split.x_train, split.x_test]),
        torch.cat([split.y_train, split.y_test]),
    )
    # Without noise: moon 0 is the upper unit half circle about (0, 0), moon 1 the
    # lower one about (1, 0.5).
    centre = torch.tensor([[0.0, 0.0], [1.0, 0.5]])[y]
    assert_close((x - centre).norm(dim=1), torch.ones(400))
    _assert_equal_splits(split, data.two_moons(400, noise=0.0, seed=1))


def test_swiss_roll_labels_are_bins_of_the_roll_parameter():
    split = data.swiss_roll(800, n_classes=4, seed=2)
    assert split.x_train.shape == (600, 3)
    _assert_dtypes(split)
    _assert_stratified(split, 0.25)
    x, y = (
        torch.cat([split.x_train, split.x_test]),
        torch.cat([split.y_train, split.y_test]),
    )
    # Without noise, (t cos t, h, t sin t) has distance t from the axis.
    t = x[:, [0, 2]].double().norm(dim=1)
    expected = ((t - 1.5 * torch.pi) / (3 * torch.pi) * 4).floor().clamp(0, 3).long()
    assert torch.equal(y, expected)
    assert torch.bincount(y).min() > 150  # equal-width bins of a uniform t


def test_blobs():
    split = data.blobs(600, centers=5, dim=7, cluster_std=0.5, seed=3)
    assert split.x_train.shape == (450, 7)
    _assert_dtypes(split)
    _assert_stratified(split, 0.25)
    assert split.num_classes == 5
    _assert_equal_splits(
        split, data.blobs(600, centers=5, dim=7, cluster_std=0.5, seed=3)
    )
    assert not torch.equal(
        data.blobs(600, centers=5, dim=7, seed=4).x_train,
        data.blobs(600, centers=5, dim=7, seed=3).x_train,
    )


# --- images -------------------------------------------------------------------------


@pytest.mark.parametrize("name", data.IMAGES)
def test_every_listed_image_loads_offline_in_unit_range(name):
    # The test run has no network (pytest-socket, network namespace): a listed image
    # that scikit-image would fetch fails here.
    picture = data.image(name)
    assert picture.dtype == torch.float32
    assert picture.dim() == (2 if name in data.GRAY_IMAGES else 3)
    if picture.dim() == 3:
        assert picture.shape[2] == 3
    assert picture.min() >= 0.0
    assert picture.max() <= 1.0
    assert picture.max() > picture.min()


def test_image_camera_is_skimage_camera_over_255():
    import skimage.data

    expected = torch.from_numpy(skimage.data.camera().astype(np.float32) / 255)
    assert_close(data.image("camera"), expected)


def test_image_resizes_to_a_square():
    small = data.image("astronaut", size=32)
    assert small.shape == (32, 32, 3)
    assert small.min() >= 0.0
    assert small.max() <= 1.0
    # Shrinking keeps the mean brightness (anti-aliased averaging).
    assert small.mean().item() == pytest.approx(
        data.image("astronaut").mean().item(), abs=0.01
    )
    assert data.image("coins", size=20).shape == (20, 20)


# --- opt-in datasets (no network: torchvision is absent or faked) -------------------


@pytest.mark.parametrize("loader", [data.mnist, data.cifar10])
def test_opt_in_datasets_without_torchvision_say_what_to_install(loader, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install torchvision"):
        loader()


def _fake_torchvision(monkeypatch, dataset_class):
    datasets = types.SimpleNamespace(MNIST=dataset_class, CIFAR10=dataset_class)
    module = types.ModuleType("torchvision")
    module.datasets = datasets
    monkeypatch.setitem(sys.modules, "torchvision", module)


@pytest.mark.parametrize("loader", [data.mnist, data.cifar10])
def test_opt_in_datasets_missing_files_say_to_pass_download(
    loader, monkeypatch, tmp_path
):
    calls = []

    class Missing:
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            raise RuntimeError("Dataset not found. You can use download=True")

    _fake_torchvision(monkeypatch, Missing)
    monkeypatch.setenv("DLT_DATA", str(tmp_path))
    with pytest.raises(RuntimeError, match="download=True") as error:
        loader()
    assert str(tmp_path) in str(error.value)
    assert calls == [(str(tmp_path), True, False)]  # never asked to download
    monkeypatch.delenv("DLT_DATA")
    with pytest.raises(RuntimeError, match=r"needs internet"):
        loader()
    assert calls[-1][0] == str(Path("~/.cache/dltheory").expanduser())


def test_opt_in_datasets_convert_to_float_in_unit_range(monkeypatch):
    class FakeMNIST:
        def __init__(self, root, train, download):  # noqa: ARG002
            n = 5 if train else 3
            self.data = torch.full((n, 28, 28), 255, dtype=torch.uint8)
            self.targets = torch.arange(n)

    _fake_torchvision(monkeypatch, FakeMNIST)
    split = data.mnist(root="/nowhere")
    assert split.x_train.shape == (5, 1, 28, 28)
    assert split.x_test.shape == (3, 1, 28, 28)
    _assert_dtypes(split)
    assert torch.equal(split.x_train, torch.ones(5, 1, 28, 28))

    class FakeCIFAR:
        def __init__(self, root, train, download):  # noqa: ARG002
            n = 4 if train else 2
            self.data = np.zeros((n, 32, 32, 3), dtype=np.uint8)
            self.data[..., 1] = 51  # green channel 0.2
            self.targets = list(range(n))

    _fake_torchvision(monkeypatch, FakeCIFAR)
    split = data.cifar10()
    assert split.x_train.shape == (4, 3, 32, 32)
    _assert_dtypes(split)
    assert_close(split.x_train[:, 1], torch.full((4, 32, 32), 0.2))
    assert split.x_train[:, [0, 2]].abs().max() == 0


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: data.digits(test_size=0.0),
            ValueError,
            r"test_size: expected .* \(0, 1\)",
        ),
        (lambda: data.digits(test_size=1.2), ValueError, "test_size"),
        (lambda: data.digits(seed=-1), ValueError, "seed: expected an int >= 0"),
        (lambda: data.digits(seed=0.5), TypeError, "seed: expected an int"),
        (
            lambda: data.mnist1d(num_samples=105),
            ValueError,
            "num_samples: expected a multiple of 10",
        ),
        (lambda: data.two_moons(2), ValueError, "n: expected an int >= 4"),
        (lambda: data.two_moons(noise=-0.1), ValueError, "noise"),
        (lambda: data.swiss_roll(n_classes=1), ValueError, "n_classes"),
        (lambda: data.blobs(cluster_std=0.0), ValueError, "cluster_std"),
        (lambda: data.blobs(dim=2.0), TypeError, "dim: expected an int"),
        (
            lambda: data.image("lena"),
            ValueError,
            r"name: expected .*'camera'.* got 'lena'",
        ),
        (lambda: data.image("eagle"), ValueError, "name"),  # would be downloaded
        (lambda: data.image("camera", size=0), ValueError, "size"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_digits_takes_sizes_as_numbers_of_images():
    pool = data.digits(train_size=1000, test_size=797, seed=0)
    assert pool.x_train.shape == (1000, 64)
    assert pool.x_test.shape == (797, 64)
    small = data.digits(train_size=200, test_size=797, seed=0)
    assert small.x_train.shape == (200, 64)
    # Stratified: each class keeps its share of the 1797 images, to one image.
    counts = torch.bincount(pool.y_train, minlength=10)
    whole = counts + torch.bincount(pool.y_test, minlength=10)
    expected = whole * 1000 / (1000 + 797)
    assert (counts - expected).abs().max() <= 1, (counts, expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_size": 0}, "test_size"),
        ({"test_size": 1797}, "test_size"),
        ({"train_size": 1.5}, "train_size"),
        ({"train_size": 1500, "test_size": 797}, "train_size"),
    ],
)
def test_digits_rejects_impossible_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.digits(**kwargs)
