"""Where and how big a run is: device, seeds, budget, and the run manifest.

Used by every chapter. ``device()`` is the one place a device is chosen (CUDA, then
MPS, then CPU; the environment variable ``DLT_DEVICE`` overrides). ``scale()`` says
whether a notebook runs its small budget (everywhere but on a CUDA GPU) or its large
one (on a CUDA GPU); ``DLT_SCALE=small|large`` overrides, and ``make book`` and
``make test`` pin ``DLT_SCALE=small DLT_DEVICE=cpu``, the setting every figure of the
book is measured in. MPS has no float64: float64 work (the spline checks of chapter
00, for instance) stays on the CPU whatever ``device()`` says. ``budget(small,
large)`` picks the value for the current scale. ``run_manifest()`` is what the last
cell of each notebook prints. ``glue(key, value)`` records a figure a notebook
measured so that the book's pages (the chapter's index, the claims ledger, the
notebook's own prose) paste it from the run that built them instead of typing it.
"""

from __future__ import annotations

import math
import numbers
import os
import platform
import random
import re
import time

import numpy as np
import torch

from dltheory._checks import check_int

DEVICES = ("cpu", "cuda", "mps")
SCALES = ("small", "large")
GLUE_KEY = re.compile(r"[a-z0-9][a-z0-9-]*")

_IMPORTED_AT = time.perf_counter()
_last_seed: int | None = None


def _mps_available() -> bool:
    return (
        bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    )


def device() -> torch.device:
    """The device to compute on: CUDA, then MPS, then CPU.

    The environment variable ``DLT_DEVICE`` overrides the choice: ``cpu``, ``cuda``
    (or ``cuda:1``) or ``mps``.

    Returns:
        The chosen ``torch.device``.

    Raises:
        ValueError: If ``DLT_DEVICE`` names an unknown device or one that is not
            available on this machine.
    """
    requested = os.environ.get("DLT_DEVICE", "").strip().lower()
    if not requested:
        if torch.cuda.is_available():
            # Under torchrun each process takes the GPU of its local rank.
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = requested.split(":")[0]
    if kind not in DEVICES:
        raise ValueError(
            f"DLT_DEVICE: expected one of {', '.join(DEVICES)}, got {requested!r}"
        )
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": _mps_available(),
    }
    if not available[kind]:
        usable = ", ".join(k for k, ok in available.items() if ok)
        raise ValueError(
            f"DLT_DEVICE: {requested!r} is not available on this machine; "
            f"available: {usable}"
        )
    return torch.device(requested)


def float64_device() -> torch.device:
    """The device for float64 work: ``device()``, except the CPU in place of MPS.

    MPS has no float64, so closed forms and eigendecompositions that need it run on
    the CPU there; CUDA and the CPU keep ``device()``'s choice.

    Returns:
        ``device()``, or ``torch.device("cpu")`` where that is MPS.
    """
    dev = device()
    return torch.device("cpu") if dev.type == "mps" else dev


def is_cuda(dev: torch.device) -> bool:
    """Whether ``dev`` is a CUDA GPU (what NCCL, SyncBatchNorm and DDP ids need)."""
    if not isinstance(dev, torch.device):
        raise TypeError(f"dev: expected a torch.device, got {type(dev).__name__}")
    return dev.type == "cuda"


def host_to_device(t: torch.Tensor, dev: torch.device | str) -> torch.Tensor:
    """Copy ``t`` to ``dev`` without making the host wait for the device.

    The book's loops draw their random numbers (batch indices, augmentation
    parameters) on the CPU, so that one seed gives the same run on every device,
    and copy them to the device every step. A plain ``t.to("cuda")`` from
    ordinary (pageable) host memory synchronises with the device: the host waits
    until every queued kernel has run, every step, and cannot queue the next step
    while the GPU works. From page-locked (pinned) memory with
    ``non_blocking=True`` the copy is queued on the device's stream like a kernel
    (torch keeps the pinned buffer alive until the copy has run). Elsewhere (a CPU
    tensor to the CPU, MPS, or a tensor already on a device) it is ``t.to(dev)``.

    Args:
        t: Any tensor, shape (...).
        dev: The target device.

    Returns:
        ``t`` on ``dev``, same shape and dtype (``t`` itself when already there).

    Raises:
        TypeError: If ``t`` is not a tensor or ``dev`` not a device or string.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t: expected a torch.Tensor, got {type(t).__name__}")
    if not isinstance(dev, torch.device | str):
        raise TypeError(
            f"dev: expected a torch.device or str, got {type(dev).__name__}"
        )
    dev = torch.device(dev)
    if t.device.type == "cpu" and dev.type == "cuda":
        return t.pin_memory().to(dev, non_blocking=True)
    return t.to(dev)


def init_distributed() -> bool:
    """Join the process group when launched by ``torchrun`` with several processes.

    Call it once at the top of a training script: it reads the variables torchrun
    sets (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``), initialises
    ``torch.distributed`` with NCCL on GPUs and gloo on the CPU, and selects the
    local GPU. ``train.train_ssl`` then trains with DistributedDataParallel.

    Returns:
        True if a process group with more than one process is now initialised,
        False for a plain single-process run (nothing is done).
    """
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        on_gpu = is_cuda(device())
        if on_gpu:
            torch.cuda.set_device(device())
        dist.init_process_group("nccl" if on_gpu else "gloo")
    return True


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a CPU generator seeded with ``seed``.

    Pass the generator to every function that samples (``generator=gen``): data is
    drawn on the CPU and then moved, so a seed gives the same data on every device.

    Args:
        seed: A non-negative integer.

    Returns:
        A ``torch.Generator`` on the CPU, seeded with ``seed``.

    Raises:
        TypeError: If ``seed`` is not an int.
        ValueError: If ``seed`` is negative.
    """
    global _last_seed
    check_int(seed, name="seed", minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (global state others draw from)
    torch.manual_seed(seed)
    _last_seed = seed
    return torch.Generator().manual_seed(seed)


def scale() -> str:
    """The budget scale: ``"large"`` on a CUDA GPU, ``"small"`` everywhere else.

    ``"small"`` is the budget the book is built and tested with (``make book`` and
    ``make test`` pin ``DLT_SCALE=small DLT_DEVICE=cpu``). Only a CUDA device
    (``device()``) turns the large budget on by default: an Apple-silicon GPU (MPS)
    keeps the small budget, whose sizes were measured, and so does a CUDA machine
    told ``DLT_DEVICE=cpu``. The environment variable ``DLT_SCALE`` (``small`` or
    ``large``) overrides it: a reader opts into the large budget.

    Raises:
        ValueError: If ``DLT_SCALE`` is set to anything but ``small`` or ``large``.
    """
    requested = os.environ.get("DLT_SCALE", "").strip().lower()
    if requested:
        if requested not in SCALES:
            raise ValueError(
                f"DLT_SCALE: expected 'small' or 'large', got {requested!r}"
            )
        return requested
    return "large" if device().type == "cuda" else "small"


def budget(small, large):
    """Return ``small`` or ``large`` according to ``scale()``.

    A notebook's budget line reads ``steps = runtime.budget(small=1000, large=5000)``.
    """
    return large if scale() == "large" else small


def run_manifest() -> str:
    """A short report of this run: versions, device, scale, seed and wall time.

    The last cell of every notebook prints it, so a reader can tell what a figure
    was measured with. The wall time counts from the import of ``dltheory.runtime``.
    """
    import dltheory

    lines = {
        "dltheory": dltheory.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device()),
        "scale": scale(),
        "seed": str(_last_seed),
        "torch threads": str(torch.get_num_threads()),
        "platform": platform.platform(terse=True),
        "wall time (s)": f"{time.perf_counter() - _IMPORTED_AT:.1f}",
    }
    width = max(len(k) for k in lines)
    return "\n".join(f"{k:<{width}} : {v}" for k, v in lines.items())


def wall_time() -> float:
    """Seconds since ``dltheory.runtime`` was imported: a notebook's runtime so far."""
    return time.perf_counter() - _IMPORTED_AT


def glue(key: str, value: object) -> None:
    """Record a measured figure under ``key`` for the book's pages to paste.

    A page pastes it with myst-nb's role, always with the notebook's path from the
    repository root, also within the same notebook::

        {glue:text}`/book/05_guillotine/1_cutting_the_head.ipynb::delta-simclr:.1f`

    so every number a reader sees comes from the run that built the page. Where
    myst-nb is not installed (Colab, a student's Jupyter) nothing is recorded and
    the notebook runs the same. Tensors and NumPy scalars are stored as Python
    numbers, whose text the role can format.

    Args:
        key: Lower-case letters, digits and hyphens, unique within the notebook.
        value: A number (int, float, bool, 0-d tensor or NumPy scalar) or a string.

    Raises:
        TypeError: If ``key`` is not a string or ``value`` is of another type.
        ValueError: If ``key`` is not of the form above, ``value`` has more than one
            element, or is NaN or infinite.
    """
    if not isinstance(key, str):
        raise TypeError(f"key: expected a str, got {type(key).__name__}")
    if not GLUE_KEY.fullmatch(key):
        raise ValueError(
            f"key: expected lower-case letters, digits and hyphens, got {key!r}"
        )
    if isinstance(value, torch.Tensor | np.ndarray | np.generic):
        size = value.numel() if isinstance(value, torch.Tensor) else np.size(value)
        if size != 1:
            raise ValueError(
                f"value: expected a single number, got shape {tuple(value.shape)}"
            )
        value = value.item()
    if not isinstance(value, numbers.Real | str):
        raise TypeError(
            f"value: expected a number or a str, got {type(value).__name__}"
        )
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = int(value) if isinstance(value, numbers.Integral) else float(value)
        if not math.isfinite(value):
            raise ValueError(
                f"value: expected a finite number for {key!r}, got {value}"
            )
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # no book build here: nothing reads the record
        return
    myst_glue(key, value, display=False)
