"""The two training loops of the book: joint-embedding SSL and supervised.

Used by every chapter that trains a network. Both loops draw mini-batches with
replacement from a tensor dataset held on the device (small data: no DataLoader),
log a history dict, show a ``tqdm.auto`` progress bar unless ``progress=False``,
and run on ``runtime.device()`` unless told otherwise.

``train_ssl`` also runs unchanged under ``torchrun --nproc_per_node=N``: when
``torch.distributed`` is initialised it wraps the model in DistributedDataParallel,
each rank embeds its slice of the global batch, the embeddings are gathered with
the autograd-aware ``torch.distributed.nn.functional.all_gather`` so that every rank
computes the same loss on the global batch, and DDP's gradient averaging then
reproduces the one-process gradient (the loss must not be rescaled by the world
size). Batch norm: on CUDA the model's BatchNorm layers become SyncBatchNorm so the
statistics are global too; on the CPU (gloo) torch has no SyncBatchNorm, so each
rank normalises with its own slice and only BN-free models match one process
exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from dltheory import augment, losses, models, runtime
from dltheory._checks import (
    check_choice,
    check_finite,
    check_float,
    check_generator,
    check_int,
    check_labels,
    check_positive,
    check_tensor,
)

Augmentation = Callable[..., Tensor]
Loss = Callable[[Tensor, Tensor], Tensor]


def _optimizer(params, *, optimizer: str, lr: float, weight_decay: float):
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"optimizer: expected 'adam', 'adamw' or 'sgd', got {optimizer!r}")


def _check_loop_args(x, steps, batch_size, lr, weight_decay, generator) -> None:
    check_tensor(x, name="x")
    if x.dim() < 2 or x.shape[0] < 2:
        raise ValueError(
            f"x: expected shape (n, ...) with n >= 2, got {tuple(x.shape)}"
        )
    check_int(steps, name="steps", minimum=1)
    check_int(batch_size, name="batch_size", minimum=2)
    check_positive(lr, name="lr")
    check_positive(weight_decay, name="weight_decay", strict=False)
    check_generator(generator)


def _distributed() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather(z: Tensor) -> Tensor:
    """Concatenate the (n_local, K) slices of all ranks in rank order, with grads."""
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(z), dim=0)  # (n_global, K)


PRECISIONS = ("float32", "bfloat16")


def _check_speed_options(precision: str, compile: bool) -> None:
    check_choice(precision, name="precision", choices=PRECISIONS)
    if not isinstance(compile, bool):
        raise TypeError(f"compile: expected a bool, got {type(compile).__name__}")


def _autocast(device: torch.device, precision: str):
    """bf16 autocast on ``device`` for ``precision="bfloat16"``, else a no-op."""
    return torch.autocast(
        device_type=device.type,
        dtype=torch.bfloat16,
        enabled=precision == "bfloat16",
    )


def train_ssl(
    model: nn.Module,
    x: Tensor,
    *,
    augmentation: Augmentation,
    loss_fn: Loss,
    steps: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer: str = "adam",
    log_terms: Callable[[Tensor, Tensor], dict[str, Tensor]] | None = None,
    log_every: int = 50,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    precision: str = "float32",
    compile: bool = False,
) -> dict[str, list[float]]:
    """Train a joint-embedding model on pairs of augmented views of ``x``.

    Each step draws ``batch_size`` inputs with replacement, makes two views with
    ``augmentation(x_batch, generator=...)``, embeds both with ``model(views) -> (h,
    z)`` and minimises ``loss_fn(z_a, z_b)`` (any loss of ``dltheory.losses``, with
    its weights fixed by ``functools.partial``). Only parameters with
    ``requires_grad`` go to the optimiser, so a frozen part (e.g. the projector of
    ``SSLRun(freeze_projector=True)``) keeps its weights; its batch norm still runs
    in training mode. The model is left in eval mode.

    Args:
        model: A module whose forward returns ``(h, z)``, e.g. ``JointEmbedding``.
        x: Unlabelled inputs, shape (n, ...), on any device.
        augmentation: Callable ``aug(x, generator=None) -> x``.
        loss_fn: Callable ``loss(z_a, z_b) -> scalar``.
        steps: Number of optimisation steps.
        batch_size: Global batch size (split across ranks under torchrun).
        lr: Learning rate.
        weight_decay: Weight decay of the optimiser.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9).
        log_terms: Optional ``terms(z_a, z_b) -> dict`` logged every ``log_every``
            steps without gradient, e.g. ``losses.vicreg_terms``.
        log_every: Logging period in steps; the last step is always logged.
        generator: CPU generator for batches and augmentations (same seed, same run,
            on every device and on every rank).
        device: Where to train; ``runtime.device()`` by default.
        progress: Show a tqdm progress bar (rank 0 only).
        precision: ``"float32"``, or ``"bfloat16"`` to run the model's forward
            pass under bf16 autocast (matrix products in bfloat16, weights and
            optimiser in float32); the embeddings are cast back to float32 before
            the loss, whose batch statistics need the precision.
        compile: Compile the model's forward pass and the loss with
            ``torch.compile`` (the first steps then pay the compile time). Off by
            default: see the book's Performance page for where either pays. Not
            under torchrun (a ValueError there).

    Returns:
        A history dict of lists, ``step``, ``loss``, ``embedding_std`` (mean over
        dimensions of the per-dimension standard deviation of z_a), and one list
        per key of ``log_terms``.

    Raises:
        TypeError: If ``x`` is not a tensor or ``generator`` not a Generator.
        ValueError: If a size or rate is out of range, or ``model`` has no
            trainable parameter.
    """
    check_finite(x, name="x")
    _check_loop_args(x, steps, batch_size, lr, weight_decay, generator)
    check_int(log_every, name="log_every", minimum=1)
    _check_speed_options(precision, compile)
    device = torch.device(device) if device is not None else runtime.device()
    rank, world = _distributed()
    if batch_size % world:
        raise ValueError(
            f"batch_size: expected a multiple of the world size {world}, "
            f"got {batch_size}"
        )
    if compile and world > 1:  # DDP + the gathered loss under dynamo: untested
        raise ValueError(
            f"compile: not supported under torchrun (world size {world}); "
            "got compile=True"
        )
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    model = model.to(device).train()
    x = x.to(device)
    net: nn.Module = model
    if world > 1:
        if runtime.is_cuda(device):
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if runtime.is_cuda(device) else None
        )
    trainable = [p for p in net.parameters() if p.requires_grad]  # frozen: skipped
    if not trainable:
        raise ValueError("model: expected at least one parameter with requires_grad")
    opt = _optimizer(trainable, optimizer=optimizer, lr=lr, weight_decay=weight_decay)
    local = slice(rank * batch_size // world, (rank + 1) * batch_size // world)

    def embed_and_loss(x_a: Tensor, x_b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        with _autocast(device, precision):
            _, z_a = net(x_a)  # (B / world, K)
            _, z_b = net(x_b)
        if z_a.dtype == torch.bfloat16:  # autocast's output; float64 stays
            z_a, z_b = z_a.float(), z_b.float()
        if world > 1:
            z_a, z_b = _gather(z_a), _gather(z_b)  # (B, K) on every rank
        return loss_fn(z_a, z_b), z_a, z_b

    step_fn = torch.compile(embed_and_loss) if compile else embed_and_loss
    history: dict[str, list[float]] = {"step": [], "loss": [], "embedding_std": []}
    bar = tqdm(range(1, steps + 1), disable=not progress or rank > 0, desc="train_ssl")
    for step in bar:
        # Every rank draws the same global batch and views, then keeps its slice.
        idx = torch.randint(x.shape[0], (batch_size,), generator=gen)  # (B,)
        x_batch = x[runtime.host_to_device(idx, device)]  # (B, ...)
        x_a = augmentation(x_batch, generator=gen)[local]  # (B / world, ...)
        x_b = augmentation(x_batch, generator=gen)[local]
        loss, z_a, z_b = step_fn(x_a, x_b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % log_every == 0 or step == steps:
            history["step"].append(step)
            history["loss"].append(loss.item())
            history["embedding_std"].append(z_a.detach().std(dim=0).mean().item())
            if log_terms is not None:
                with torch.no_grad():
                    for key, value in log_terms(z_a.detach(), z_b.detach()).items():
                        history.setdefault(key, []).append(float(value))
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return history


def train_supervised(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    steps: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer: str = "adam",
    augmentation: Augmentation | None = None,
    log_every: int = 50,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    precision: str = "float32",
    compile: bool = False,
) -> dict[str, list[float]]:
    """Train a classifier ``model(x) -> logits`` with cross-entropy.

    A model that returns a tuple, such as a ``JointEmbedding`` whose projector is
    a classifier head (``(h, logits)``, chapter 05's supervised Guillotine), is
    trained on its last element. Each step draws ``batch_size`` examples with
    replacement, optionally augments them with ``augmentation(x, generator=...)``,
    and takes one optimiser step. The model is left in eval mode.

    Args:
        model: Maps (n, ...) to logits (n, C).
        x: Inputs, shape (n, ...).
        y: Integer labels, shape (n,).
        steps: Number of optimisation steps.
        batch_size: Batch size.
        lr: Learning rate.
        weight_decay: Weight decay of the optimiser.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9).
        augmentation: Optional callable ``aug(x, generator=None) -> x``.
        log_every: Logging period in steps; the last step is always logged.
        generator: CPU generator for batches and augmentations.
        device: Where to train; ``runtime.device()`` by default.
        progress: Show a tqdm progress bar.
        precision: ``"float32"``, or ``"bfloat16"`` for the forward pass under bf16
            autocast (logits cast back to float32 for the loss).
        compile: Compile the forward pass and the loss with ``torch.compile``.

    Returns:
        A history dict of lists, ``step``, ``loss`` and ``accuracy`` (on the batch, a
        fraction in [0, 1]).

    Raises:
        TypeError: If ``x`` or ``y`` has the wrong type.
        ValueError: If shapes disagree or a size or rate is out of range.
    """
    check_finite(x, name="x")
    check_float(x, name="x")
    _check_loop_args(x, steps, batch_size, lr, weight_decay, generator)
    check_labels(y, name="y", n=x.shape[0])
    check_int(log_every, name="log_every", minimum=1)
    _check_speed_options(precision, compile)
    device = torch.device(device) if device is not None else runtime.device()
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    model = model.to(device).train()
    x, y = x.to(device), y.to(device)

    def logits_and_loss(x_batch: Tensor, y_batch: Tensor) -> tuple[Tensor, Tensor]:
        with _autocast(device, precision):
            logits = model(x_batch)  # (B, C), or a tuple ending with the logits
        logits = logits[-1] if isinstance(logits, tuple) else logits
        if logits.dtype == torch.bfloat16:  # autocast's output; float64 stays
            logits = logits.float()
        return F.cross_entropy(logits, y_batch), logits

    step_fn = torch.compile(logits_and_loss) if compile else logits_and_loss
    opt = _optimizer(
        model.parameters(), optimizer=optimizer, lr=lr, weight_decay=weight_decay
    )
    history: dict[str, list[float]] = {"step": [], "loss": [], "accuracy": []}
    bar = tqdm(range(1, steps + 1), disable=not progress, desc="train_supervised")
    for step in bar:
        idx = torch.randint(x.shape[0], (batch_size,), generator=gen)  # (B,)
        idx = runtime.host_to_device(idx, device)
        x_batch, y_batch = x[idx], y[idx]
        if augmentation is not None:
            x_batch = augmentation(x_batch, generator=gen)
        loss, logits = step_fn(x_batch, y_batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % log_every == 0 or step == steps:
            history["step"].append(step)
            history["loss"].append(loss.item())
            history["accuracy"].append(
                (logits.argmax(1) == y_batch).float().mean().item()
            )
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return history


def run_supervised(
    build: Callable[[], nn.Module],
    x: Tensor,
    y: Tensor,
    *,
    seed: int,
    steps: int,
    augmentation: Augmentation | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    **kwargs,
) -> tuple[nn.Module, dict[str, list[float]]]:
    """Build a classifier under a fixed seed and train it with ``train_supervised``.

    The supervised counterpart of ``run_ssl``: ``seed`` fixes the initial weights
    (``build()`` runs under ``torch.manual_seed(seed)`` inside ``fork_rng``, so the
    global generator is left as it was) and the batches and views (a CPU generator
    seeded with ``seed``). Chapter 05 trains its transfer classifiers with it.

    Args:
        build: Returns a fresh model, e.g. a ``JointEmbedding`` whose projector is a
            classifier head.
        x: Inputs, shape (n, ...).
        y: Integer labels, shape (n,).
        seed: The run's seed.
        steps: Number of optimisation steps.
        augmentation: Optional callable ``aug(x, generator=None) -> x``.
        device: Where to train; ``runtime.device()`` by default.
        progress: Show a tqdm progress bar.
        **kwargs: Passed to ``train_supervised`` (``batch_size``, ``lr``,
            ``weight_decay``, ``optimizer``, ``log_every``, ``precision``, ``compile``).

    Returns:
        The trained model (in eval mode) and the history of ``train_supervised``.

    Raises:
        TypeError: If ``build`` is not callable or does not return a module.
    """
    check_finite(x, name="x")
    if not callable(build):
        raise TypeError(f"build: expected a callable, got {type(build).__name__}")
    check_int(seed, name="seed", minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"build: expected it to return an nn.Module, got {type(model).__name__}"
        )
    history = train_supervised(
        model,
        x,
        y,
        steps=steps,
        augmentation=augmentation,
        generator=torch.Generator().manual_seed(seed),
        device=device,
        progress=progress,
        **kwargs,
    )
    return model, history


SSL_LOSSES = ("vicreg", "barlow_twins", "info_nce", "spectral_contrastive")


@dataclass(frozen=True)
class SSLRun:
    """One joint-embedding run of the common SSL setting (chapter 00 and later).

    The defaults are the foundations chapter's digits setting: an MLP backbone
    64 -> 128 -> 128 (Linear-BN-ReLU twice), a projector 128 -> 128 -> 64, the
    digits augmentation at ``augmentation_strength``, Adam at 1e-3, 1000 steps of
    256 inputs drawn with replacement. Variants are ``dataclasses.replace(run,
    var_weight=0.0)``.

    ``freeze_projector=True`` keeps the projector at its random initialisation
    (chapter 03, a frozen random projector [mialon2022vcreg, arXiv:2209.14905v2]):
    all its parameters, the batch-norm affine weights included, get
    ``requires_grad=False`` and only the backbone is trained. Its batch norm stays
    in training mode, so it still normalises with the statistics of each batch: a
    fixed random map up to that normalisation.
    """

    loss: str = "vicreg"  # one of SSL_LOSSES
    inv_weight: float = 25.0  # lambda in VICReg Eq. (6)
    var_weight: float = 25.0  # mu in VICReg Eq. (6)
    cov_weight: float = 1.0  # nu in VICReg Eq. (6)
    convention: str = "code"  # VICReg's constant factors, see losses.vicreg
    lambd: float = 5e-3  # Barlow Twins Eq. (1)
    temperature: float = 0.2  # SimCLR's tau, Eq. (1)
    backbone_widths: tuple[int, ...] = (128, 128)  # hidden widths; H = last
    projector_widths: tuple[int, ...] = (128, 64)  # K = last
    augmentation_strength: float = 1.0  # see augment.digits_augmentation
    steps: int = 1000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0  # of Adam (chapter 05: 1e-5)
    freeze_projector: bool = False  # train the backbone only (chapter 03)

    def __post_init__(self) -> None:
        """Check the options at construction (not later, deep inside a run)."""
        check_choice(self.loss, name="loss", choices=SSL_LOSSES)
        check_int(self.steps, name="steps", minimum=1)
        check_int(self.batch_size, name="batch_size", minimum=2)
        check_positive(self.lr, name="lr")

    def loss_fn(self) -> Loss:
        """The loss of this run with its weights fixed: ``loss_fn()(z_a, z_b)``."""
        if self.loss == "vicreg":
            return partial(
                losses.vicreg,
                inv_weight=self.inv_weight,
                var_weight=self.var_weight,
                cov_weight=self.cov_weight,
                convention=self.convention,
            )
        if self.loss == "barlow_twins":
            return partial(losses.barlow_twins, lambd=self.lambd)
        if self.loss == "info_nce":
            return partial(losses.info_nce, temperature=self.temperature)
        if self.loss == "spectral_contrastive":
            return losses.spectral_contrastive
        raise ValueError(f"loss: expected one of {SSL_LOSSES}, got {self.loss!r}")

    def model(self, in_features: int) -> models.JointEmbedding:
        """A freshly initialised backbone and projector (seed torch first).

        With ``freeze_projector`` the projector's parameters are frozen
        (``requires_grad=False``); its batch norm keeps its training mode.
        """
        backbone = models.MLP(
            [in_features, *self.backbone_widths], batch_norm=True, linear_output=False
        )
        head = models.projector([self.backbone_widths[-1], *self.projector_widths])
        if self.freeze_projector:
            head.requires_grad_(False)
        return models.JointEmbedding(backbone, head)


def run_ssl(
    run: SSLRun,
    x: Tensor,
    *,
    augmentation: Augmentation | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    precision: str = "float32",
    compile: bool = False,
) -> tuple[models.JointEmbedding, dict[str, list[float]]]:
    """Build the model of ``run`` and train it with ``train_ssl`` on ``x``.

    The model's initial weights come from ``generator`` (so that one seed fixes
    the whole run); VICReg runs log their three unweighted terms. With
    ``run.freeze_projector`` only the backbone is trained (see ``SSLRun``).

    Args:
        run: The settings.
        x: Unlabelled inputs, shape (n, d).
        augmentation: Defaults to ``augment.digits_augmentation`` at
            ``run.augmentation_strength`` (inputs of 64 pixels).
        generator: CPU generator for the initial weights, batches and views.
        device: Where to train; ``runtime.device()`` by default.
        progress: Show a tqdm progress bar.
        precision: ``"float32"`` or ``"bfloat16"`` (see ``train_ssl``).
        compile: Compile the forward pass and the loss (see ``train_ssl``).

    Returns:
        The trained model (in eval mode) and the history of ``train_ssl``.
    """
    check_finite(x, name="x")
    if not isinstance(run, SSLRun):
        raise TypeError(f"run: expected an SSLRun, got {type(run).__name__}")
    check_generator(generator)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
        model = run.model(x.shape[1])
    if augmentation is None:
        augmentation = augment.digits_augmentation(strength=run.augmentation_strength)
    log_terms = (
        partial(losses.vicreg_terms, convention=run.convention)
        if run.loss == "vicreg"
        else None
    )
    history = train_ssl(
        model,
        x,
        augmentation=augmentation,
        loss_fn=run.loss_fn(),
        steps=run.steps,
        batch_size=run.batch_size,
        lr=run.lr,
        weight_decay=run.weight_decay,
        log_terms=log_terms,
        generator=gen,
        device=device,
        progress=progress,
        precision=precision,
        compile=compile,
    )
    return model, history
