r"""Datasets as tensors: offline by default, real images only on request.

Used by every chapter. Each dataset comes back as a :class:`Split` of CPU tensors,
inputs ``x`` as float32 and labels ``y`` as int64, with a deterministic split: the
same ``seed`` gives the same tensors on every machine. Move a split with
``split.to(device)``.

Offline (nothing is ever downloaded):

- ``digits``: scikit-learn's 8x8 handwritten digits, pixels / 16 in [0, 1], the
  common SSL setting of the foundations chapter (1203 train / 594 test).
- ``mnist1d``: the procedural MNIST-1D of Greydanus and Kobak, generated locally by
  ``mnist1d.data.make_dataset`` (4000 train / 1000 test signals of length 40).
- ``two_moons``, ``swiss_roll``, ``blobs``: scikit-learn's synthetic manifolds.
- ``image``: a sample image bundled with scikit-image (``IMAGES`` lists them).

Opt-in (large budget): ``mnist`` and ``cifar10`` through torchvision, which dltheory
does not install. They download only with ``download=True`` and otherwise fail at
once, saying what to install or enable. Downloaded files are checked against the md5
sums torchvision holds before they are read, and nothing here unpickles a downloaded
file itself (tests/test_safe_files.py; see each function).

Shapes: ``n`` samples, ``d`` features, ``C`` channels, ``H`` x ``W`` pixels.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split
from torch import Tensor

from dltheory._checks import (
    check_choice,
    check_fraction,
    check_int,
    check_positive,
)

#: scikit-image sample images that ship inside the scikit-image wheel (checked
#: offline, in a network namespace with an empty cache, with scikit-image 0.26).
GRAY_IMAGES = (
    "brick",
    "camera",
    "cell",
    "clock",
    "coins",
    "grass",
    "gravel",
    "microaneurysms",
    "moon",
    "page",
    "shepp_logan_phantom",
    "text",
)
RGB_IMAGES = (
    "astronaut",
    "chelsea",
    "coffee",
    "colorwheel",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
)
IMAGES = tuple(sorted(GRAY_IMAGES + RGB_IMAGES))

#: Where the opt-in datasets live unless ``root`` is given: ``$DLT_DATA``, or this.
DEFAULT_ROOT = "~/.cache/dltheory"


class Split(NamedTuple):
    """A train/test split of tensors: ``x`` float32, ``y`` int64, on one device.

    Unpacks like a tuple: ``x_train, y_train, x_test, y_test = data.digits()``.
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor

    def to(self, device: torch.device | str) -> Split:
        """Return a new split with every tensor on ``device``."""
        return Split(*(t.to(device) for t in self))

    @property
    def num_classes(self) -> int:
        """The number of classes, one more than the largest label in either part."""
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def select_classes(self, classes: Sequence[int]) -> Split:
        """The examples of ``classes`` only, relabelled 0, 1, ... in the given order.

        For transfer between classes (chapter 05: train on digits 0-4, probe on
        5-9): ``split.select_classes([5, 6, 7, 8, 9])`` keeps the examples of those
        labels, in their original order, with label ``classes[i]`` mapped to ``i``.

        Args:
            classes: Distinct labels present in the split.

        Returns:
            A new split on the same device.

        Raises:
            ValueError: If ``classes`` is empty, repeats a label or names a label
                the split lacks.
        """
        classes = list(classes)
        present = set(self.y_train.tolist()) | set(self.y_test.tolist())
        if not classes or len(set(classes)) != len(classes):
            raise ValueError(f"classes: expected distinct labels, got {classes}")
        if not set(classes) <= present:
            raise ValueError(
                f"classes: expected labels among {sorted(present)}, got {classes}"
            )
        table = torch.full((self.num_classes,), -1, dtype=torch.int64)
        table[torch.tensor(classes)] = torch.arange(len(classes))
        parts = []
        for x, y in ((self.x_train, self.y_train), (self.x_test, self.y_test)):
            new = table.to(y.device)[y]  # (n,), -1 for dropped classes
            parts += [x[new >= 0], new[new >= 0]]
        return Split(*parts)

    def __repr__(self) -> str:
        """Shapes and dtypes instead of every number."""
        parts = (
            f"{name}={tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}"
            for name, t in zip(self._fields, self, strict=True)
        )
        return f"Split({', '.join(parts)}, device={self.x_train.device})"


def _check_test_size(test_size: object) -> float:
    check_fraction(test_size, name="test_size")
    if test_size == 0:
        raise ValueError("test_size: expected a number in (0, 1), got 0")
    return float(test_size)


def _check_count_or_fraction(value: object, *, name: str, total: int) -> float | int:
    """An int in [1, total - 1] (a number of samples) or a fraction in (0, 1)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value < total:
            raise ValueError(
                f"{name}: expected an int in [1, {total - 1}], got {value}"
            )
        return value
    return _check_test_size(value) if name == "test_size" else _fraction(value, name)


def _fraction(value: object, name: str) -> float:
    check_fraction(value, name=name)
    if value == 0:
        raise ValueError(f"{name}: expected a number in (0, 1), got 0")
    return float(value)


def _split(
    x: np.ndarray,
    y: np.ndarray,
    *,
    test_size: float | int,
    seed: int,
    stratify: bool,
    train_size: float | int | None = None,
) -> Split:
    """Split arrays with scikit-learn (stratified on ``y`` if asked); return tensors."""
    x_train, x_test, y_train, y_test = train_test_split(
        x,
        y,
        test_size=test_size,
        train_size=train_size,
        random_state=seed,
        stratify=y if stratify else None,
    )
    return Split(
        torch.as_tensor(x_train, dtype=torch.float32),
        torch.as_tensor(y_train, dtype=torch.int64),
        torch.as_tensor(x_test, dtype=torch.float32),
        torch.as_tensor(y_test, dtype=torch.int64),
    )


def digits(
    *,
    test_size: float | int = 0.33,
    seed: int = 0,
    as_images: bool = False,
    train_size: float | int | None = None,
) -> Split:
    """The 8x8 handwritten digits of scikit-learn, pixels scaled to [0, 1].

    The common SSL setting of the foundations chapter: ``load_digits`` (1797 images,
    10 classes, integer pixels 0..16) divided by 16, then a split stratified by label
    with ``train_test_split(random_state=seed)``: 1203 train / 594 test by default.
    Chapter 01 draws a pool of 1000 and a test part of 797 images
    (``train_size=1000, test_size=797``).

    Args:
        test_size: The test part: a fraction in (0, 1), or a number of images.
        seed: Seed of the split (an int >= 0).
        as_images: Return ``x`` of shape (n, 1, 8, 8) instead of (n, 64).
        train_size: The training part, as ``test_size``; None: the rest.

    Returns:
        A :class:`Split`; ``x`` of shape (n, 64) (row-major pixels) or (n, 1, 8, 8).

    Raises:
        TypeError: If ``seed`` is not an int or a size not a number.
        ValueError: If a size is out of range (or the two exceed the 1797 images)
            or ``seed`` negative.
    """
    n = 1797  # scikit-learn raises if train_size + test_size exceed it
    test_size = _check_count_or_fraction(test_size, name="test_size", total=n)
    if train_size is not None:
        train_size = _check_count_or_fraction(train_size, name="train_size", total=n)
    check_int(seed, name="seed", minimum=0)
    bunch = sk_datasets.load_digits()
    split = _split(
        bunch.data / 16.0,
        bunch.target,
        test_size=test_size,
        train_size=train_size,
        seed=seed,
        stratify=True,
    )
    if as_images:
        x_train, y_train, x_test, y_test = split
        split = Split(
            x_train.reshape(-1, 1, 8, 8), y_train, x_test.reshape(-1, 1, 8, 8), y_test
        )
    return split


def mnist1d(*, seed: int = 0, num_samples: int = 5000) -> Split:
    """MNIST-1D, generated locally [greydanus2020mnist1d, arXiv:2011.14439].

    Ten 1-D digit templates, each padded, shifted, scaled, sheared and noised into a
    signal of length 40 by ``mnist1d.data.make_dataset`` with the package's default
    arguments except ``seed`` and ``num_samples`` (its published dataset uses
    ``seed=42``). Nothing is downloaded (``get_dataset`` would fetch a pickle). The
    signals are standardised over the whole dataset (mean 0, std 1) by the package,
    and its split is kept: the first 80 % of a shuffled order is the train part (not
    stratified). Generating the default 5000 samples takes about 1.5 s.

    ``make_dataset`` seeds Python's and NumPy's global generators; this function
    restores both afterwards, so calling it leaves no trace on global state.

    Args:
        seed: Seed of the generator (an int >= 0).
        num_samples: Number of signals, a multiple of 10 (one tenth per class), >= 10.

    Returns:
        A :class:`Split` with ``x`` of shape (n, 40): (4000, 40) / (1000, 40) by
        default.

    Raises:
        TypeError: If ``seed`` or ``num_samples`` is not an int.
        ValueError: If ``seed`` is negative or ``num_samples`` not a positive
            multiple of 10.
    """
    check_int(seed, name="seed", minimum=0)
    check_int(num_samples, name="num_samples", minimum=10)
    if num_samples % 10:
        raise ValueError(
            f"num_samples: expected a multiple of 10 (one tenth per class), "
            f"got {num_samples}"
        )
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    args.num_samples = num_samples
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        dataset = make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
    return Split(
        torch.as_tensor(dataset["x"], dtype=torch.float32),
        torch.as_tensor(dataset["y"], dtype=torch.int64),
        torch.as_tensor(dataset["x_test"], dtype=torch.float32),
        torch.as_tensor(dataset["y_test"], dtype=torch.int64),
    )


def two_moons(
    n: int = 1000, *, noise: float = 0.1, test_size: float = 0.25, seed: int = 0
) -> Split:
    """Two interleaving half circles in 2-D (scikit-learn ``make_moons``), 2 classes.

    Args:
        n: Number of points in all (an int >= 4).
        noise: Standard deviation of the Gaussian noise added to each coordinate,
            in input units (>= 0).
        test_size: Fraction of the points in the test part, in (0, 1).
        seed: Seed of the points and of the stratified split (an int >= 0).

    Returns:
        A :class:`Split` with ``x`` of shape (n, 2) and labels in {0, 1}.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range.
    """
    check_int(n, name="n", minimum=4)
    check_positive(noise, name="noise", strict=False)
    test_size = _check_test_size(test_size)
    check_int(seed, name="seed", minimum=0)
    x, y = sk_datasets.make_moons(n_samples=n, noise=noise, random_state=seed)
    return _split(x, y, test_size=test_size, seed=seed, stratify=True)


def swiss_roll(
    n: int = 1000,
    *,
    noise: float = 0.0,
    n_classes: int = 4,
    test_size: float = 0.25,
    seed: int = 0,
) -> Split:
    r"""A 2-D sheet rolled up in 3-D (scikit-learn ``make_swiss_roll``).

    The points are :math:`(t \cos t,\ h,\ t \sin t)` with the roll parameter
    :math:`t \sim U[1.5\pi, 4.5\pi]` and height :math:`h \sim U[0, 21]`. The label
    is :math:`t` cut into ``n_classes`` bins of equal width over
    :math:`[1.5\pi, 4.5\pi]`, so class ``k`` is the ``k``-th stretch of the roll
    from its centre outwards: a label that only a method following the manifold,
    not the ambient distance, recovers.

    Args:
        n: Number of points in all (an int >= 4).
        noise: Standard deviation of the Gaussian noise added to each coordinate,
            in input units (>= 0).
        n_classes: Number of bins of :math:`t` (an int >= 2).
        test_size: Fraction of the points in the test part, in (0, 1).
        seed: Seed of the points and of the stratified split (an int >= 0).

    Returns:
        A :class:`Split` with ``x`` of shape (n, 3) and labels in
        {0, ..., n_classes - 1}.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range.
    """
    check_int(n, name="n", minimum=4)
    check_positive(noise, name="noise", strict=False)
    check_int(n_classes, name="n_classes", minimum=2)
    test_size = _check_test_size(test_size)
    check_int(seed, name="seed", minimum=0)
    x, t = sk_datasets.make_swiss_roll(n_samples=n, noise=noise, random_state=seed)
    y = np.floor((t - 1.5 * np.pi) / (3 * np.pi) * n_classes).astype(np.int64)
    y = np.clip(y, 0, n_classes - 1)  # t = 4.5 pi exactly falls in the last bin
    return _split(x, y, test_size=test_size, seed=seed, stratify=True)


def blobs(
    n: int = 1000,
    *,
    centers: int = 3,
    dim: int = 2,
    cluster_std: float = 1.0,
    test_size: float = 0.25,
    seed: int = 0,
) -> Split:
    """Isotropic Gaussian clusters (scikit-learn ``make_blobs``), one class each.

    The centres are drawn uniformly in the box [-10, 10]^dim (scikit-learn's
    default ``center_box``).

    Args:
        n: Number of points in all (an int >= 4).
        centers: Number of clusters, which is the number of classes (an int >= 1).
        dim: Dimension of the points (an int >= 1).
        cluster_std: Standard deviation of each cluster, in input units (> 0).
        test_size: Fraction of the points in the test part, in (0, 1).
        seed: Seed of the points and of the stratified split (an int >= 0).

    Returns:
        A :class:`Split` with ``x`` of shape (n, dim) and labels in
        {0, ..., centers - 1}.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range.
    """
    check_int(n, name="n", minimum=4)
    check_int(centers, name="centers", minimum=1)
    check_int(dim, name="dim", minimum=1)
    check_positive(cluster_std, name="cluster_std")
    test_size = _check_test_size(test_size)
    check_int(seed, name="seed", minimum=0)
    x, y = sk_datasets.make_blobs(
        n_samples=n,
        centers=centers,
        n_features=dim,
        cluster_std=cluster_std,
        random_state=seed,
    )
    return _split(x, y, test_size=test_size, seed=seed, stratify=True)


def image(name: str = "camera", *, size: int | None = None) -> Tensor:
    """A sample image bundled with scikit-image, as float32 in [0, 1].

    Only images inside the scikit-image package are offered (``IMAGES``; grayscale
    ones in ``GRAY_IMAGES``, colour ones in ``RGB_IMAGES``); the others would be
    fetched from the internet. Integer images are divided by their maximum value
    (255 for uint8), as ``skimage.util.img_as_float32`` does.

    Args:
        name: One of ``IMAGES``, e.g. ``"camera"`` (512 x 512, grayscale) or
            ``"astronaut"`` (512 x 512, RGB).
        size: If given, resize to ``size`` x ``size`` pixels (bilinear, with
            anti-aliasing when shrinking, ``skimage.transform.resize``). Images
            that are not square are stretched, not cropped.

    Returns:
        A CPU tensor of shape (H, W) for a grayscale image or (H, W, 3) for a colour
        one (channels last, as scikit-image and matplotlib use them).

    Raises:
        TypeError: If ``size`` is not an int.
        ValueError: If ``name`` is not one of ``IMAGES`` or ``size`` < 1.
    """
    check_choice(name, name="name", choices=IMAGES)
    if size is not None:
        check_int(size, name="size", minimum=1)
    import skimage.data
    from skimage.transform import resize
    from skimage.util import img_as_float32

    picture = img_as_float32(getattr(skimage.data, name)())  # (H, W) or (H, W, 3)
    if size is not None:
        shape = (size, size) + picture.shape[2:]
        picture = resize(picture, shape, order=1, anti_aliasing=True).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(picture))


def _data_root(root: str | os.PathLike | None) -> Path:
    """The folder of the opt-in datasets: ``root``, ``$DLT_DATA`` or the default."""
    if root is None:
        root = os.environ.get("DLT_DATA", DEFAULT_ROOT)
    return Path(root).expanduser()


def _torchvision_datasets(caller: str):
    """Import ``torchvision.datasets`` or say how to install it."""
    try:
        from torchvision import datasets as tv_datasets
    except ImportError as error:
        raise ImportError(
            f"{caller}: needs torchvision, which dltheory does not install (it is "
            "only for the large budget). Install it next to your torch with "
            "`pip install torchvision` (or `pip install 'dltheory[vision]'`)."
        ) from error
    return tv_datasets


def _load(caller: str, dataset_class, root: Path, download: bool):
    """The train and test parts of a torchvision dataset; fail offline clearly."""
    try:
        return tuple(
            dataset_class(str(root), train=train, download=download)
            for train in (True, False)
        )
    except (OSError, RuntimeError) as error:
        if download:
            # No network (DNS failure, unreachable host: OSError) or a failed
            # download that torchvision reports as a RuntimeError.
            raise RuntimeError(
                f"{caller}: could not download the dataset into {root} ({error}). "
                "Downloading needs internet; on a machine without it, copy the "
                "dataset's files into a folder and point root (or the environment "
                "variable DLT_DATA) at it."
            ) from error
        if not isinstance(error, RuntimeError):
            raise
        raise RuntimeError(
            f"{caller}: the dataset is not in {root} (or its files fail "
            f"torchvision's checksum) and download=False. Pass "
            f"download=True to fetch it there (needs internet), or point root (or "
            f"the environment variable DLT_DATA) at a folder that holds it."
        ) from error


def mnist(*, root: str | os.PathLike | None = None, download: bool = False) -> Split:
    """MNIST through torchvision (opt-in, large budget): 60000 train / 10000 test.

    Nothing is downloaded unless ``download=True``.

    Files: torchvision checks the md5 of each of the four gzip archives against its
    hard-coded list when it downloads them (``download_and_extract_archive``) and
    reads the extracted IDX files as raw bytes, so no pickle is involved. A legacy
    cache of older torchvision versions (``MNIST/processed/*.pt``) is read with
    ``torch.load(..., weights_only=True)`` (torchvision 0.28; the default of
    ``torch.load`` since torch 2.6), which cannot run code.

    Args:
        root: Folder holding (or to receive) the files; default ``$DLT_DATA`` or
            ``~/.cache/dltheory``.
        download: Fetch the files if they are missing (needs internet).

    Returns:
        A :class:`Split` with ``x`` of shape (n, 1, 28, 28), pixels / 255 in [0, 1].

    Raises:
        ImportError: If torchvision is not installed.
        RuntimeError: If the files are missing and ``download`` is False, or
            the download fails (no internet).
    """
    tv_datasets = _torchvision_datasets("mnist")
    root = _data_root(root)
    train, test = _load("mnist", tv_datasets.MNIST, root, download)

    def images(part):
        pixels = torch.as_tensor(part.data)  # (n, 28, 28) uint8
        return pixels.unsqueeze(1).to(torch.float32) / 255  # (n, 1, 28, 28)

    def labels(part):
        return torch.as_tensor(part.targets, dtype=torch.int64)

    return Split(images(train), labels(train), images(test), labels(test))


def cifar10(*, root: str | os.PathLike | None = None, download: bool = False) -> Split:
    """CIFAR-10 through torchvision (opt-in, large budget): 50000 train / 10000 test.

    Nothing is downloaded unless ``download=True``.

    Files: CIFAR-10's Python version is six pickled batches and a pickled
    ``batches.meta``. torchvision checks the md5 of the archive when it downloads it,
    and, every time the dataset is built, the md5 of each batch file against its
    hard-coded list (``CIFAR10._check_integrity``; ``batches.meta`` likewise) before
    it unpickles them; a file that fails is refused with the ``RuntimeError`` below,
    never unpickled (tests/test_safe_files.py plants code-running pickles under the
    batch names and checks this, when torchvision is installed). Only the authors'
    files pass, whose content is arrays and labels.

    Args:
        root: Folder holding (or to receive) the files; default ``$DLT_DATA`` or
            ``~/.cache/dltheory``.
        download: Fetch the files if they are missing (needs internet).

    Returns:
        A :class:`Split` with ``x`` of shape (n, 3, 32, 32) (channels first),
        pixels / 255 in [0, 1].

    Raises:
        ImportError: If torchvision is not installed.
        RuntimeError: If the files are missing and ``download`` is False, or
            the download fails (no internet).
    """
    tv_datasets = _torchvision_datasets("cifar10")
    root = _data_root(root)
    train, test = _load("cifar10", tv_datasets.CIFAR10, root, download)

    def images(part):
        pixels = torch.as_tensor(np.asarray(part.data))  # (n, 32, 32, 3) uint8
        return pixels.permute(0, 3, 1, 2).to(torch.float32) / 255  # (n, 3, 32, 32)

    def labels(part):
        return torch.as_tensor(part.targets, dtype=torch.int64)

    return Split(images(train), labels(train), images(test), labels(test))
