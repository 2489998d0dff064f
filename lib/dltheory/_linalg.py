"""Float64 conventions shared by the closed forms of dltheory (private).

One job: where and in which precision closed-form linear algebra runs, and how its
eigenvectors are made unique. MPS has no float64, so such work moves to the CPU
there (STYLE.md, section 6); eigenvector signs are fixed so that the
largest-magnitude entry of each column is positive.
"""

from __future__ import annotations

import torch
from torch import Tensor


def work_device(device: torch.device) -> torch.device:
    """Device for float64 work: ``device`` itself, or the CPU for MPS."""
    return torch.device("cpu") if device.type == "mps" else device


def to_float64(x: Tensor) -> Tensor:
    """``x`` in float64 on ``work_device(x.device)``."""
    return x.to(device=work_device(x.device), dtype=torch.float64)


def column_signs(U: Tensor) -> Tensor:
    """Sign (+1 or -1) of the largest-magnitude entry of each column, shape (K,)."""
    rows = U.abs().argmax(dim=0)  # (K,)
    signs = torch.sign(U[rows, torch.arange(U.shape[1], device=U.device)])  # (K,)
    return torch.where(signs == 0, torch.ones_like(signs), signs)


def fix_signs(U: Tensor) -> Tensor:
    """Flip each column of ``U`` so that its largest-magnitude entry is positive."""
    return U * column_signs(U)
