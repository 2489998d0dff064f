"""Same seed, same numbers: one seeded claim computation per chapter, run twice.

For each chapter 00-10 the cheapest seeded computation of one of its claim tests
(the same library functions the claim test calls, at a smaller setting: fewer
steps, smaller batches) runs twice with the same seed, and every number it returns
must be bitwise equal. On the CPU with a fixed thread count PyTorch's kernels are
deterministic, so equality is exact (``torch.equal``), not a tolerance; the book's
setup page ("Same seed, same numbers?") says what differs on a GPU.

Negative control: a third run with another seed must give different numbers, so the
equality is not vacuous (a computation that ignored its seed would pass the first
assertion and fail this one).

A second test recomputes every chapter in a fresh interpreter (another hash seed,
nothing cached) and compares SHA-256 digests of all the numbers with this process's.
Only the thread count is held fixed: with two threads instead of one, 6 of the 11
computations differ in their last bits (measured when this file was written; the
setup page says why and what it means for the book's figures).
"""

import dataclasses
import hashlib
import math
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from dltheory import (
    augment,
    classwise,
    data,
    independence,
    information,
    kernels,
    models,
    perturbation,
    probes,
    runtime,
    spectral,
    splines,
    tensor,
    train,
    unitary,
)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# --- one seeded computation per chapter -------------------------------------------
# Each takes a seed and returns numbers (tensors, floats, or containers of them).


def _ch00(seed):
    # test_00_foundations, claims 1-3: train.run_ssl (VICReg, the authors' code
    # convention) on digits, then a 5-labels-per-class linear probe of the backbone.
    x_train, y_train, x_test, y_test = data.digits()
    run = dataclasses.replace(train.SSLRun(), steps=15, batch_size=128)
    model, history = train.run_ssl(
        run, x_train, generator=_gen(seed), device="cpu", progress=False
    )
    f_train, f_test = probes.embed(model, x_train), probes.embed(model, x_test)
    accuracy = probes.linear_probe(
        f_train,
        y_train,
        f_test,
        y_test,
        labels_per_class=5,
        draws=2,
        max_iter=50,
        generator=_gen(seed),
    )
    return {"history": history, "f_test": f_test, "accuracy": accuracy}


def _ch01(seed):
    # test_01_spectral_ssl, claim 2: a free Z fitted to the graph form of VICReg
    # (spectral.fit_free_embedding, Adam) on a k-NN graph of the swiss roll.
    roll = data.swiss_roll(80, noise=0.05, seed=seed)
    x = torch.cat([roll.x_train, roll.x_test]).to(torch.float64)
    G = spectral.knn_graph(x, 10)
    loss = partial(spectral.vicreg_graph_loss, G=G, alpha=1.0, variant="frobenius")
    Z = spectral.fit_free_embedding(
        loss, G.shape[0], 4, steps=100, lr=0.1, generator=_gen(seed)
    )
    return {"Z": Z, "eigenvalues": spectral.laplacian_eigenmaps(G, 4)[1]}


def _ch02(seed):
    # test_02_kernel_ssl, claim 1: views, random Fourier features, the explicit
    # encoder trained by L-BFGS, and the closed-form induced kernel.
    gen = runtime.seed_everything(seed)
    split = data.digits(train_size=800, test_size=997, seed=0)
    views, ids = kernels.digit_views(split.x_train[:8].double(), 2, generator=gen)
    gamma = 3 / (64 * views.var().item())
    phi = kernels.random_fourier_features(views, 200, gamma=gamma, generator=gen)
    encoder = kernels.ExplicitKernelEncoder(200, 8, init_scale=1e-3, generator=gen)
    history = kernels.fit_explicit_encoder(encoder, phi, ids, max_iter=20)
    closed = kernels.InducedKernel(
        "contrastive", ridge=0.0, base_kernel=lambda a, b: a @ b.T
    ).fit(phi, ids)
    return {
        "W": encoder.weight.detach(),
        "history": history,
        "K": closed.kernel(phi, phi),
    }


def _ch03(seed):
    # test_03_vcreg_independence, claim 2: linear ICA by VCReg through a frozen
    # separable projector (independence.vcreg_ica), on a small problem.
    problem = independence.ica_problem(400, 3, generator=_gen(seed))
    result = independence.vcreg_ica(
        problem.x,
        m=8,
        steps=10,
        batch_size=200,
        mixing=problem.mixing,
        generator=_gen(seed),
        device="cpu",
    )
    return dataclasses.asdict(result)


def _ch04(seed):
    # test_04_vicreg_information, claim 2: train.train_ssl from torch.manual_seed
    # weights, then the Gaussian mutual information of two fixed test views.
    split = data.digits(train_size=1200, test_size=597, seed=0)
    views = augment.as_images(
        augment.compose(
            partial(augment.random_affine, max_degrees=30.0, max_shift=2.0),
            partial(augment.gaussian_noise, std=0.1),
            augment.clip,
        ),
        shape=(1, 8, 8),
    )
    test_a, test_b = augment.two_views(split.x_test, views, generator=_gen(1234))
    run = train.SSLRun(backbone_widths=(64,), projector_widths=(64, 16), steps=10)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = run.model(64)
    train.train_ssl(
        model,
        split.x_train,
        augmentation=views,
        loss_fn=run.loss_fn(),
        steps=run.steps,
        batch_size=128,
        lr=run.lr,
        generator=_gen(seed),
        device="cpu",
        progress=False,
    )
    model.eval()
    with torch.no_grad():
        z_a, z_b = model(test_a)[1].double(), model(test_b)[1].double()
    return {"z_a": z_a, "mi": information.gaussian_mi(z_a, z_b)}


def _ch05(seed):
    # test_05_guillotine, claim 1: SimCLR through train.run_ssl with the strong
    # digits augmentation, then a kNN probe of every layer (probes.probe_layers).
    x_train, y_train, x_test, y_test = data.digits(test_size=597, seed=0)
    run = train.SSLRun(loss="info_nce", temperature=0.2, steps=10, batch_size=128)
    model, _ = train.run_ssl(
        run,
        x_train,
        augmentation=augment.strong_digits_augmentation(strength=1.0),
        generator=_gen(seed),
        device="cpu",
        progress=False,
    )
    return probes.probe_layers(
        model, x_train, y_train, x_test, y_test, method="knn", k=20
    )


def _ch06(seed):
    # test_06_batchnorm_splines, claim 3: an MLP with batch norm trained by SGD for
    # one epoch (splines.fit_epochs), weights from torch.manual_seed.
    x, y, x_test, y_test = data.digits()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = models.MLP([64, 32, 10], batch_norm=True)
    history = splines.fit_epochs(
        net, x[:512], y[:512], x_test, y_test, epochs=1, generator=_gen(seed)
    )
    return {"history": history, "weights": [p.detach() for p in net.parameters()]}


def _ch07(seed):
    # test_07_singular_values, claim 8: a residual MLP trained by full-batch SGD
    # (perturbation.train_mse) on the first digits.
    x, y = data.digits(seed=0)[:2]
    X, Y = x[:128], torch.nn.functional.one_hot(y[:128], 10).float()
    net = perturbation.PlainOrResNetMLP(64, 32, 4, 10, generator=_gen(seed))
    return perturbation.train_mse(net, X, Y, 20, 0.05)


def _ch08(seed):
    # test_08_projunn, claim 5: an orthogonal RNN on the copy task with the ProjUNN-D
    # rank-1 update (unitary.train_copy).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = unitary.OrthogonalRNN(10, 16, 9)
    other = [p for name, p in model.named_parameters() if name != "W.weight"]
    base = torch.optim.RMSprop(
        [{"params": other}, {"params": [model.W.weight], "lr": 1e-3 / 32}], lr=1e-3
    )
    optimizer = unitary.ProjUNN(
        base, [model.W.weight], projector="D", rank=1, gen=_gen(seed)
    )
    history = unitary.train_copy(model, optimizer, 5, 10, gen=_gen(seed), every=5)
    return {"history": history, "W": model.W.weight.detach()}


def _ch09(seed):
    # test_09_class_dependent_regularization, claim 1: the batched MLP grid of
    # classwise.sweep with the shift regulariser, on the low-data digits split.
    xtr, ytr, _, _, xte, _ = classwise.lowdata_split(split=0)
    out = classwise.sweep(
        xtr,
        ytr,
        {"test": xte},
        regularizer="shift",
        strengths=[0, 1],
        seeds=[seed],
        width=16,
        steps=10,
    )
    return out


def _ch10(seed):
    # test_10_deeptensor, claim 1: a DeepTensor matrix factorisation fitted to a
    # noisy low-rank matrix (tensor.fit), with its random hold-out mask.
    g = _gen(seed)
    X = tensor.low_rank_matrix(16, 16, 3, "piecewise", g)
    Y = tensor.poisson_gaussian_noise(X, 10.0, gen=g)
    model = tensor.DeepTensorMatrix(16, 16, 3, gen=_gen(seed + 100))
    Xh, history, t = tensor.fit(
        model, Y, iters=20, holdout=0.1, clean=X, gen=_gen(seed + 200)
    )
    return {"Xh": Xh, "history": history, "t": t, "psnr": tensor.psnr(X, Xh)}


CHAPTERS = {
    "00": _ch00,
    "01": _ch01,
    "02": _ch02,
    "03": _ch03,
    "04": _ch04,
    "05": _ch05,
    "06": _ch06,
    "07": _ch07,
    "08": _ch08,
    "09": _ch09,
    "10": _ch10,
}


# --- comparison -------------------------------------------------------------------


def _flatten(value, prefix=""):
    """(path, leaf) pairs of nested dicts, lists and tuples; leaves are numbers."""
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _flatten(value[key], f"{prefix}/{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _leaf_equal(a, b):
    """Bitwise equality of two leaves (NaN equal to NaN in the same place)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(
                a.nan_to_num(0.0) if a.is_floating_point() else a,
                b.nan_to_num(0.0) if b.is_floating_point() else b,
            )
            and torch.equal(a.isnan(), b.isnan())
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


def _differences(first, second):
    """Paths whose leaves differ between two results of one computation."""
    a, b = dict(_flatten(first)), dict(_flatten(second))
    if a.keys() != b.keys():
        return sorted(a.keys() ^ b.keys())
    return [path for path in a if not _leaf_equal(a[path], b[path])]


_SEED0 = {}  # chapter -> the first seed-0 result of this process


def _run(chapter, seed):
    # fork_rng: the computations that seed torch's global generator leave the
    # global state of the other tests in this process as it was.
    with torch.random.fork_rng(devices=[]):
        return CHAPTERS[chapter](seed)


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_same_seed_gives_bitwise_identical_numbers(chapter):
    threads = torch.get_num_threads()
    first = _run(chapter, 0)
    second = _run(chapter, 0)
    _SEED0[chapter] = first
    assert torch.get_num_threads() == threads
    assert len(dict(_flatten(first))) > 0
    assert _differences(first, second) == [], (
        f"chapter {chapter}: seed 0 twice gave different numbers"
    )
    # Negative control: another seed changes the numbers, so the equality above is
    # not that of a computation that ignores its seed.
    other = _run(chapter, 1)
    assert _differences(first, other) != [], (
        f"chapter {chapter}: seeds 0 and 1 gave the same numbers"
    )


def _digest(result):
    """SHA-256 of every leaf's path, type, dtype, shape and bytes."""
    h = hashlib.sha256()
    for path, leaf in _flatten(result):
        h.update(f"{path}|{type(leaf).__name__}|".encode())
        if isinstance(leaf, torch.Tensor):
            leaf = leaf.detach().cpu().contiguous()
            h.update(f"{leaf.dtype}|{tuple(leaf.shape)}|".encode())
            h.update(leaf.numpy().tobytes())
        elif isinstance(leaf, np.ndarray):
            h.update(f"{leaf.dtype}|{leaf.shape}|".encode() + leaf.tobytes())
        elif isinstance(leaf, float):
            h.update(leaf.hex().encode())
        else:
            h.update(repr(leaf).encode())
    return h.hexdigest()


def test_another_process_gives_the_same_numbers():
    # A fresh interpreter (another hash seed, nothing imported or cached before)
    # computes every chapter's numbers again; their digests must match this
    # process's. Same thread count as here.
    threads = torch.get_num_threads()
    here = {
        chapter: _digest(_SEED0[chapter] if chapter in _SEED0 else _run(chapter, 0))
        for chapter in sorted(CHAPTERS)
    }
    script = (
        "import sys, torch; torch.set_num_threads(int(sys.argv[1])); "
        "sys.path.insert(0, sys.argv[2]); import test_determinism as t; "
        "[print(c, t._digest(t._run(c, 0))) for c in sorted(t.CHAPTERS)]"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345", OMP_NUM_THREADS=str(threads))
    out = subprocess.run(
        [sys.executable, "-c", script, str(threads), str(Path(__file__).parent)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    there = dict(line.split() for line in out.splitlines() if line.strip())
    assert there == here
    # Negative control of the digest: one ulp in one number changes it.
    result = _run("07", 0)
    moved = dict(result)
    moved["loss"] = result["loss"].clone()
    moved["loss"][-1] = torch.nextafter(moved["loss"][-1], torch.tensor(math.inf))
    assert _digest(moved) != _digest(result)


def test_comparison_catches_a_one_ulp_change():
    # Negative control of the comparison itself: a float64 value moved by one ulp,
    # a NaN against a number, a float against an equal int, all count as different.
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    y = x.clone()
    y[1] = torch.nextafter(y[1], torch.tensor(3.0, dtype=torch.float64))
    assert _differences({"x": x}, {"x": y}) == ["/x"]
    assert _differences({"x": x}, {"x": x.clone()}) == []
    assert _differences([float("nan")], [float("nan")]) == []
    assert _differences([float("nan")], [1.0]) == ["[0]"]
    assert _differences([1.0], [1]) == ["[0]"]
