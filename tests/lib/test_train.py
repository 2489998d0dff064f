import copy
import dataclasses
import functools
import os
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.testing import assert_close

from dltheory import augment, losses, models, runtime, train


def _noise(x, generator=None):
    return x + 0.1 * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def _vicreg_like(z_a, z_b):
    # A loss that needs the global batch (variance and covariance over the batch),
    # written here so that this test depends on train.py only.
    centred = z_a - z_a.mean(dim=0)
    cov = centred.T @ centred / (z_a.shape[0] - 1)
    std = cov.diagonal().add(1e-4).sqrt()
    return (
        (z_a - z_b).pow(2).mean()
        + torch.relu(1 - std).mean()
        + (cov.pow(2).sum() - cov.diagonal().pow(2).sum()) / z_a.shape[1]
    )


def _net(seed):
    torch.manual_seed(seed)
    return models.JointEmbedding(
        models.MLP([8, 16, 16]), models.projector([16, 16, 8], batch_norm=False)
    )


def _data():
    return torch.randn(200, 8, generator=torch.Generator().manual_seed(0))


def _run():
    return train.train_ssl(
        _net(0),
        _data(),
        augmentation=_noise,
        loss_fn=_vicreg_like,
        steps=20,
        batch_size=64,
        lr=0.05,
        optimizer="sgd",
        log_every=1,
        generator=torch.Generator().manual_seed(1),
        device="cpu",
        progress=False,
    )


def _rank(rank, world_size, store, queue):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=world_size
    )
    torch.set_num_threads(1)
    history = _run()
    if rank == 0:
        queue.put(history["loss"])
    dist.barrier()
    dist.destroy_process_group()


def test_two_gloo_ranks_reach_the_loss_of_one_process(tmp_path):
    one = _run()["loss"]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(
        _rank, args=(2, tmp_path / "store", queue), nprocs=2, start_method="spawn"
    )
    two = queue.get()
    # 20 SGD steps: each rank embeds half the global batch; gathered embeddings give
    # the same loss and DDP's averaged gradients the same step. float32 rounding of
    # the split reductions stays far below 1e-5.
    assert_close(torch.tensor(two), torch.tensor(one), rtol=1e-5, atol=1e-6)
    assert one[-1] < one[0] - 0.1, (
        f"the run did not train: {one[0]:.3f} -> {one[-1]:.3f}"
    )


def test_train_ssl_is_reproducible_from_the_generator():
    a, b = _run()["loss"], _run()["loss"]
    assert a == b


def test_train_ssl_logs_terms_and_embedding_std():
    terms = functools.partial(lambda z_a, z_b: {"gap": (z_a - z_b).abs().mean()})
    history = train.train_ssl(
        _net(0),
        _data(),
        augmentation=_noise,
        loss_fn=_vicreg_like,
        steps=10,
        batch_size=32,
        log_every=5,
        log_terms=terms,
        device="cpu",
        progress=False,
    )
    assert history["step"] == [5, 10]
    assert len(history["gap"]) == 2
    assert len(history["embedding_std"]) == 2


def test_train_supervised_fits_separable_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 2, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    torch.manual_seed(0)
    net = models.MLP([2, 16, 2])
    history = train.train_supervised(
        net,
        x,
        y,
        steps=200,
        batch_size=64,
        lr=1e-2,
        generator=g,
        device="cpu",
        progress=False,
    )
    accuracy = (net(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.95, f"train accuracy {accuracy:.3f}"
    assert history["loss"][-1] < history["loss"][0]
    assert not net.training


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"steps": 0}, ValueError, "steps"),
        ({"batch_size": 1}, ValueError, "batch_size"),
        ({"lr": -1.0}, ValueError, "lr"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
        ({"generator": 3}, TypeError, "generator"),
    ],
)
def test_train_ssl_rejects_bad_settings(kwargs, error, match):
    settings = {
        "augmentation": _noise,
        "loss_fn": _vicreg_like,
        "steps": 2,
        "device": "cpu",
        "progress": False,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        train.train_ssl(_net(0), _data(), **settings)


def test_train_supervised_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="y: expected shape"):
        train.train_supervised(
            nn.Linear(8, 2),
            _data(),
            torch.zeros(10, dtype=torch.long),
            steps=1,
            device="cpu",
            progress=False,
        )


def test_run_ssl_with_a_frozen_projector_trains_the_backbone_only(monkeypatch):
    # SSLRun(freeze_projector=True): every projector parameter (BN affine included)
    # keeps its initial value, the backbone moves, and the projector's BN still
    # normalises with batch statistics (its running mean is updated in train mode).
    built = []
    model_of = train.SSLRun.model

    def recording_model(self, in_features):  # keep a copy of the initial weights
        model = model_of(self, in_features)
        built.append(copy.deepcopy(model))
        return model

    monkeypatch.setattr(train.SSLRun, "model", recording_model)
    run = train.SSLRun(
        backbone_widths=(16, 16), projector_widths=(16, 8), steps=5, batch_size=32
    )

    def trained(r):
        model, _ = train.run_ssl(
            r,
            _data(),
            augmentation=_noise,
            generator=torch.Generator().manual_seed(0),
            device="cpu",
            progress=False,
        )
        return model, built[-1]

    model, init = trained(dataclasses.replace(run, freeze_projector=True))
    assert not any(p.requires_grad for p in model.projector.parameters())
    for (name, p), p0 in zip(
        model.projector.named_parameters(), init.projector.parameters(), strict=True
    ):
        assert_close(p, p0, rtol=0, atol=0, msg=f"projector.{name} moved")
    bn = [m for m in model.projector.modules() if isinstance(m, nn.BatchNorm1d)]
    assert bn, "the projector has no batch norm"
    assert not torch.equal(bn[0].running_mean, init.projector.blocks[0][1].running_mean)
    moved = [
        (p - p0).abs().max().item()
        for p, p0 in zip(
            model.backbone.parameters(), init.backbone.parameters(), strict=True
        )
    ]
    assert min(moved) > 0, f"backbone parameters moved by {moved}"
    # Without the flag the same run trains the projector (the check above can fail).
    free, free_init = trained(run)
    moved = free.projector.blocks[0][0].weight - free_init.projector.blocks[0][0].weight
    assert moved.abs().max() > 0


def test_train_supervised_trains_the_last_element_of_a_tuple():
    # A JointEmbedding whose projector is a classifier head: (h, logits).
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 2, generator=g)
    y = (x[:, 0] - x[:, 1] > 0).long()
    torch.manual_seed(0)
    net = models.JointEmbedding(
        models.MLP([2, 16], linear_output=False), models.MLP([16, 2])
    )
    train.train_supervised(
        net,
        x,
        y,
        steps=200,
        batch_size=64,
        lr=1e-2,
        generator=g,
        device="cpu",
        progress=False,
    )
    accuracy = (net(x)[1].argmax(1) == y).float().mean().item()
    assert accuracy > 0.95, f"train accuracy {accuracy:.3f}"


def test_run_supervised_is_train_supervised_under_one_seed():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 3, generator=g)
    y = (x[:, 0] > 0).long()
    state = torch.random.get_rng_state()
    model, history = train.run_supervised(
        lambda: models.MLP([3, 8, 2]),
        x,
        y,
        seed=3,
        steps=20,
        batch_size=16,
        device="cpu",
        progress=False,
    )
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        again = models.MLP([3, 8, 2])
    train.train_supervised(
        again,
        x,
        y,
        steps=20,
        batch_size=16,
        device="cpu",
        progress=False,
        generator=torch.Generator().manual_seed(3),
    )
    for p, q in zip(model.parameters(), again.parameters(), strict=True):
        assert_close(p, q, rtol=0, atol=0)
    assert len(history["loss"]) == 1
    with pytest.raises(TypeError, match="build"):
        train.run_supervised(lambda: 3, x, y, seed=0, steps=1, progress=False)


def test_run_ssl_passes_the_weight_decay_to_the_optimiser(monkeypatch):
    seen = []
    optimizer_of = train._optimizer

    def recording(params, **kwargs):
        seen.append(kwargs["weight_decay"])
        return optimizer_of(params, **kwargs)

    monkeypatch.setattr(train, "_optimizer", recording)
    run = train.SSLRun(
        backbone_widths=(8,),
        projector_widths=(4,),
        steps=1,
        batch_size=8,
        weight_decay=1e-5,
    )
    train.run_ssl(run, _data(), augmentation=_noise, device="cpu", progress=False)
    assert seen == [1e-5]
    assert train.SSLRun().weight_decay == 0.0  # earlier chapters' runs unchanged


def test_train_ssl_rejects_a_model_without_trainable_parameters():
    net = _net(0).requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad"):
        train.train_ssl(
            net,
            _data(),
            augmentation=_noise,
            loss_fn=_vicreg_like,
            steps=1,
            device="cpu",
            progress=False,
        )


# --- No host-device synchronisation per step (issue 15) -----------------------------
# Each call below copies a tensor's value to the host: on a GPU it waits for every
# queued kernel. The loops may do it only when they log, every `log_every` steps.
# torch's own optimisers are not counted: Adam and SGD keep their step counter on
# the host (``state["step"]`` is a CPU tensor unless ``capturable=True``) and read it
# with ``.item()`` every step without touching the device.
_HOST_READS = ("item", "cpu", "tolist", "numpy", "__float__", "__int__", "__bool__")
_TORCH_OPTIM = str(Path(torch.optim.__file__).parent)


def _host_reads(monkeypatch, run) -> int:
    """How many times ``run()`` reads a tensor back to the host (optimisers aside)."""
    count = 0

    def counting(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            nonlocal count
            if not sys._getframe(1).f_code.co_filename.startswith(_TORCH_OPTIM):
                count += 1
            return original(self, *args, **kwargs)

        return wrapper

    with monkeypatch.context() as m:
        for name in _HOST_READS:
            m.setattr(torch.Tensor, name, counting(name))
        run()
    return count


def _ssl(steps, log_every, loss_fn=_vicreg_like):
    return lambda: train.train_ssl(
        _net(0),
        _data(),
        augmentation=_noise,
        loss_fn=loss_fn,
        steps=steps,
        batch_size=16,
        log_every=log_every,
        generator=torch.Generator().manual_seed(1),
        device="cpu",
        progress=False,
    )


def _supervised(steps, log_every, loss_fn=None):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(100, 8, generator=g)
    y = torch.randint(3, (100,), generator=g)
    torch.manual_seed(0)
    net = models.MLP([8, 16, 3])
    if loss_fn is not None:  # the negative control reads the logits every step
        forward = net.forward
        net.forward = lambda xb: loss_fn(forward(xb))
    return lambda: train.train_supervised(
        net,
        x,
        y,
        steps=steps,
        batch_size=16,
        log_every=log_every,
        generator=g,
        device="cpu",
        progress=False,
    )


def _reads_every_step(*args):
    z = args[0]
    z.sum().item()  # what the loops must not do: a host read inside the step
    return _vicreg_like(*args) if len(args) == 2 else z


@pytest.mark.parametrize("loop", [_ssl, _supervised])
def test_training_loops_read_the_host_only_when_they_log(monkeypatch, loop):
    # One log in 10 steps or in 40 steps: the same number of host reads, so none
    # happens per step; 4 logs in 40 steps: at most 4 times one log's reads.
    # Measured (torch 2.13, CPU): 4 / 4 / 13 reads for both loops; the control
    # below 14 (10 steps) and 44 (40 steps).
    one_log_short = _host_reads(monkeypatch, loop(10, 10))
    one_log_long = _host_reads(monkeypatch, loop(40, 40))
    four_logs = _host_reads(monkeypatch, loop(40, 10))
    assert one_log_long == one_log_short, (one_log_short, one_log_long)
    assert four_logs <= 4 * one_log_short, (one_log_short, four_logs)
    # Negative control: a step that reads a value to the host (a `.item()` inside
    # the step) makes the count grow with the steps, and the first assertion fails.
    control_short = _host_reads(monkeypatch, loop(10, 10, _reads_every_step))
    control_long = _host_reads(monkeypatch, loop(40, 40, _reads_every_step))
    assert control_long >= control_short + 30, (control_short, control_long)
    assert control_long != control_short


# The chapters' own loops (chapter 08's copy task, chapter 10's fits): the losses stay
# on the device and are read once after the loop, and the held-out choice of
# tensor.fit is kept with torch.where, so the reads do not grow with the steps
# (their evaluations every `every` steps aside). Measured (torch 2.13, CPU): the
# same count at 10 and 40 steps for each loop; negative control, the loops as they
# were (a float() of the loss every step): 22 / 52, 21 / 81 and 11 / 41 reads.
def _copy_task(steps):
    from dltheory import unitary

    def run():
        g = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        model = unitary.OrthogonalRNN(10, 8, 10)
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-3)
        unitary.train_copy(model, opt, steps, T=3, K=8, n=3, batch=4, gen=g, every=100)

    return run


def _tensor_fit(steps):
    from dltheory import tensor

    def run():
        g = torch.Generator().manual_seed(0)
        model = tensor.FreeFactors(6, 5, 2, gen=g)
        Y = torch.randn(6, 5, generator=g)
        tensor.fit(model, Y, iters=steps, gen=g)

    return run


def _tensor_fit_pca(steps):
    from dltheory import tensor

    def run():
        g = torch.Generator().manual_seed(0)
        model = tensor.FreeFactors(6, 2, 2, gen=g)
        model.forward = lambda: model.U  # a free (d, r) basis
        tensor.fit_pca(model, torch.randn(20, 6, generator=g), iters=steps)

    return run


@pytest.mark.parametrize("loop", [_copy_task, _tensor_fit, _tensor_fit_pca])
def test_chapter_loops_do_not_read_the_host_per_step(monkeypatch, loop):
    short = _host_reads(monkeypatch, loop(10))
    long = _host_reads(monkeypatch, loop(40))
    assert long == short, (short, long)


# --- Host-to-device copies are queued, not waited for (issue 15) --------------------
# The loops draw batch indices and augmentation parameters on the CPU (one seed, the
# same run on every device) and copy them to the device every step. A plain
# ``t.to("cuda")`` from pageable memory makes the host wait for the GPU's queue;
# ``runtime.host_to_device`` copies from pinned memory with ``non_blocking=True``.
# On the CPU this test counts the other kind: ``Tensor.to`` of a CPU tensor with a
# device argument, called from anywhere but ``runtime.host_to_device`` and torch
# itself (``Module.to``). Measured (torch 2.13, CPU): the same count at 10 and 40
# steps, 1 / 1 (SSL, digits augmentation and masking) and 2 / 2 (supervised): the
# one-off moves of the data; negative control below, the loops with plain copies
# as they were: 151 / 601 and 12 / 42.
_TORCH_DIR = str(Path(torch.__file__).parent)


def _blocking_copies(monkeypatch, run) -> int:
    count = 0
    original = torch.Tensor.to

    def counting(self, *args, **kwargs):
        nonlocal count
        caller = sys._getframe(1).f_code
        target = kwargs.get("device", args[0] if args else None)
        if (
            self.device.type == "cpu"
            and isinstance(target, str | torch.device | torch.Tensor)
            and not caller.co_filename.startswith(_TORCH_DIR)
            and not (
                caller.co_filename == runtime.__file__
                and caller.co_name == "host_to_device"
            )
        ):
            count += 1
        return original(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(torch.Tensor, "to", counting)
        run()
    return count


def _ssl_digits(steps, *, device="cpu", seed=0, log_every=None, **options):
    """A small VICReg run on digit-like inputs with the digits augmentation."""
    g = torch.Generator().manual_seed(seed)
    x = 16 * torch.rand(100, 64, generator=g)
    torch.manual_seed(seed)
    model = train.SSLRun(backbone_widths=(16,), projector_widths=(16, 8)).model(64)
    return lambda: train.train_ssl(
        model,
        x,
        augmentation=augment.compose(
            augment.digits_augmentation(strength=1.0),
            functools.partial(augment.random_mask, p=0.1),
        ),
        loss_fn=losses.vicreg,
        steps=steps,
        batch_size=16,
        log_every=log_every or steps,
        generator=g,
        device=device,
        progress=False,
        **options,
    )


def _plain_copy(t, dev):
    return t.to(dev)  # the loops' copies before runtime.host_to_device


@pytest.mark.parametrize("loop", [_ssl_digits, lambda steps: _supervised(steps, steps)])
def test_training_loops_copy_to_the_device_without_waiting(monkeypatch, loop):
    short = _blocking_copies(monkeypatch, loop(10))
    long = _blocking_copies(monkeypatch, loop(40))
    assert long == short, (short, long)
    # Negative control: with plain copies the count grows with the steps.
    monkeypatch.setattr(runtime, "host_to_device", _plain_copy)
    control_short = _blocking_copies(monkeypatch, loop(10))
    control_long = _blocking_copies(monkeypatch, loop(40))
    assert control_long >= control_short + 30, (control_short, control_long)


def test_host_to_device_keeps_values_dtype_and_identity_on_the_cpu():
    t = torch.arange(6, dtype=torch.int64).reshape(2, 3)
    assert runtime.host_to_device(t, "cpu") is t
    moved = runtime.host_to_device(t.double(), torch.device("cpu"))
    assert moved.dtype == torch.float64
    assert_close(moved, t.double())


def _sync_warnings(run) -> int:
    """How many synchronising CUDA calls ``run()`` makes (CUDA's sync debug mode)."""
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_host_to_device_copies_and_the_loop_does_not_sync_per_step(monkeypatch):
    t = torch.arange(1000)
    on_gpu = runtime.host_to_device(t, "cuda")
    torch.cuda.synchronize()
    assert on_gpu.device.type == "cuda"
    assert torch.equal(on_gpu.cpu(), t)
    # Synchronising calls (a blocking copy, .item()) must not grow with the steps:
    # the run's one log syncs, so the count is at least 1.
    short = _sync_warnings(_ssl_digits(10, device="cuda"))
    long = _sync_warnings(_ssl_digits(40, device="cuda"))
    assert short == long, (short, long)
    assert short >= 1  # the mode does report: the final log's .item()
    # Negative control: plain copies from pageable memory, as the loops made them.
    monkeypatch.setattr(runtime, "host_to_device", _plain_copy)
    control = _sync_warnings(_ssl_digits(10, device="cuda"))
    control_long = _sync_warnings(_ssl_digits(40, device="cuda"))
    assert control_long > control, (control, control_long)


# --- bf16 autocast and torch.compile (issue 15) ---------------------------------
def test_bf16_autocast_trains_close_to_float32():
    # Same seed, same batches: bf16 matrix products (8 bits of mantissa) move the
    # loss little over 20 steps; the weights stay float32. Measured (torch 2.13,
    # CPU), largest relative difference over the 20 steps, seeds 0-4: 8.5e-4,
    # 1.0e-3, 1.0e-3, 7.0e-4, 1.8e-3. Negative control: the next seed's run
    # differs from float32's by 6.9e-2 to 1.3e-1, above the tolerance.
    fp32 = _ssl_digits(20, log_every=1)()["loss"]
    bf16 = _ssl_digits(20, log_every=1, precision="bfloat16")()["loss"]
    other = _ssl_digits(20, log_every=1, seed=1)()["loss"]

    def largest_rel(a, b):
        return max(abs(u - v) / abs(u) for u, v in zip(a, b, strict=True))

    assert bf16 != fp32  # the forward pass did run in bfloat16
    assert largest_rel(fp32, bf16) < 1e-2, largest_rel(fp32, bf16)
    assert largest_rel(fp32, other) > 1e-2, largest_rel(fp32, other)


def test_compiled_loops_match_eager(monkeypatch):
    # torch.compile (inductor, CPU) fuses the forward pass and the loss: the
    # same losses to float32 rounding. About 15 s, most of it compiling. The
    # spy checks that compile=True does compile (equal losses alone would also
    # hold if the option were ignored).
    compiled_fns = []
    original = torch.compile

    def spy(fn, *args, **kwargs):
        compiled_fns.append(fn)
        return original(fn, *args, **kwargs)

    monkeypatch.setattr(torch, "compile", spy)
    eager = _ssl_digits(5, log_every=1)()["loss"]
    assert compiled_fns == []
    compiled = _ssl_digits(5, log_every=1, compile=True)()["loss"]
    assert len(compiled_fns) == 1
    assert_close(torch.tensor(compiled), torch.tensor(eager), rtol=1e-4, atol=1e-5)
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(64, 8, generator=g), torch.randint(3, (64,), generator=g)
    histories = []
    for compile in (False, True):
        torch.manual_seed(0)
        histories.append(
            train.train_supervised(
                models.MLP([8, 16, 3]),
                x,
                y,
                steps=5,
                batch_size=16,
                log_every=1,
                generator=torch.Generator().manual_seed(3),
                device="cpu",
                progress=False,
                compile=compile,
            )["loss"]
        )
    assert_close(
        torch.tensor(histories[1]), torch.tensor(histories[0]), rtol=1e-4, atol=1e-5
    )
    assert len(compiled_fns) == 2


def test_bf16_keeps_float64_outputs_and_refuses_compile_under_torchrun(monkeypatch):
    # A float64 model is left alone by bf16 autocast (no cast down to float32).
    seen = []

    def loss(z_a, z_b):
        seen.append(z_a.dtype)
        return _vicreg_like(z_a, z_b)

    train.train_ssl(
        _net(0).double(),
        _data().double(),
        augmentation=_noise,
        loss_fn=loss,
        steps=2,
        batch_size=16,
        device="cpu",
        progress=False,
        precision="bfloat16",
    )
    assert set(seen) == {torch.float64}
    monkeypatch.setattr(train, "_distributed", lambda: (0, 2))
    with pytest.raises(ValueError, match="compile"):
        _ssl_digits(2, compile=True)()
