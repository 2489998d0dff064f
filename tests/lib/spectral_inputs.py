"""Random inputs shared by the unit tests of dltheory.spectral (float64, seeded)."""

import torch

F64 = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed, scale=1.0):
    return scale * torch.randn(*shape, generator=_gen(seed), dtype=F64)


def _random_graph(n, *, seed, p=0.3):
    # Weighted, symmetric, zero diagonal; a ring keeps it connected.
    g = _gen(seed)
    w = torch.rand(n, n, generator=g, dtype=F64) * (torch.rand(n, n, generator=g) < p)
    ring = torch.roll(torch.eye(n, dtype=F64), 1, dims=1)
    G = torch.triu(w + ring, diagonal=1)
    return G + G.T
