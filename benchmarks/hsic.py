"""Time all-pairs HSIC: the library's batched form, a loop over pairs, random features.

Run: ``.venv/bin/python benchmarks/hsic.py [--threads 1] [--repeats 3] [--quick]``.

The d x d matrix of Gaussian-kernel HSIC between every pair of the d features of
n = 256 samples (chapter 03, the book's (V2); median-heuristic bandwidth per
feature) for d = 16 .. 256, three ways:

- ``independence.pairwise_hsic``: the centred Gram matrices of a chunk of features
  stacked and flattened, every pair's Frobenius product one matrix product,
  O(d^2 n^2) time and O(chunk n^2) memory;
- a Python loop over the d (d + 1) / 2 pairs calling ``independence.hsic`` with
  the same bandwidths (what one writes without the batched form), up to d = 64:
  beyond it the loop takes minutes on two cores (its time at d = 256 is
  extrapolated from the fitted exponent, and marked so);
- ``independence.pairwise_hsic_rff`` with m = 16 and m = 64 random Fourier
  features per coordinate, O(n d^2 m^2), and its error: the relative Frobenius
  distance to the exact matrix, and the largest error of the normalised HSIC
  (unit diagonal) off the diagonal.

Each is checked (the loop equals the batched form to 1e-10 relative) and timed
(median of the repeats; one call at d >= 128 and for the loop), and its peak
memory is the resident memory one call adds, measured in a forked process (for
the loop, which holds two n x n Gram matrices whatever d, at the smallest d
only). The growth exponent is the least-squares slope of log time against log d
(2 for all three).
"""

from __future__ import annotations

import statistics
import sys

import _harness
import torch

from dltheory import independence

N = 256
LOOP_MAX_D = 64


def _features(d, seed=0):
    """Samples (n, d) of dependent features: mixtures of independent sources."""
    g = torch.Generator().manual_seed(seed)
    s = torch.rand(N, d, generator=g, dtype=torch.float64) - 0.5  # uniform sources
    A = torch.eye(d, dtype=torch.float64) + 0.3 * torch.randn(
        d, d, generator=g, dtype=torch.float64
    )
    return s @ A.T  # (n, d)


def _loop(h, gammas):
    d = h.shape[1]
    M = torch.empty(d, d, dtype=torch.float64)
    for i in range(d):
        for j in range(i, d):
            M[i, j] = M[j, i] = independence.hsic(
                h[:, i], h[:, j], gamma_x=float(gammas[i]), gamma_y=float(gammas[j])
            )
    return M


def _timed(fn, repeats):
    """(median seconds, last result) of ``repeats`` calls."""
    times, result = [], None
    for _ in range(repeats):
        t0 = _harness.clock()
        result = fn()
        times.append(_harness.clock() - t0)
    return statistics.median(times), result


def main(argv=None):
    """Time the three forms for growing d and write benchmarks/results/hsic.json."""
    p = _harness.parser(__doc__)
    p.set_defaults(repeats=3)
    args = p.parse_args(argv)
    info = _harness.start(args.threads)
    ds = [16, 32] if args.quick else [16, 32, 64, 128, 256]
    independence.pairwise_hsic(_features(8))  # warm-up
    rows = []
    for d in ds:
        h = _features(d)
        gammas = independence.median_gamma(h)  # (d,), as pairwise_hsic's default
        repeats = args.repeats if d < 128 else 1
        methods = {
            "batched": lambda h=h: independence.pairwise_hsic(h),
            "rff m=16": lambda h=h: independence.pairwise_hsic_rff(
                h, 16, generator=torch.Generator().manual_seed(1)
            ),
            "rff m=64": lambda h=h: independence.pairwise_hsic_rff(
                h, 64, generator=torch.Generator().manual_seed(1)
            ),
        }
        if d <= LOOP_MAX_D:
            methods["loop"] = lambda h=h, gammas=gammas: _loop(h, gammas)
        results = {}
        for name, fn in methods.items():
            loop = name == "loop"
            seconds, M = _timed(fn, 1 if loop else repeats)
            results[name] = M
            rows.append(
                {
                    "method": name,
                    "n": N,
                    "d": d,
                    "seconds": seconds,
                    # the loop holds two n x n Grams whatever d: measured once
                    "peak_mb": (
                        _harness.peak_memory_mb(fn) if not loop or d == ds[0] else None
                    ),
                }
            )
        exact = results["batched"]
        for row in rows[-len(methods) :]:
            M = results[row["method"]]
            row["rel_error"] = float((M - exact).norm() / exact.norm())
            diag = exact.diagonal().sqrt()
            norm_exact = exact / torch.outer(diag, diag)
            diag_m = M.diagonal().sqrt()
            off = ~torch.eye(d, dtype=torch.bool)
            row["max_error_normalized"] = float(
                (M / torch.outer(diag_m, diag_m) - norm_exact)[off].abs().max()
            )
            row["speedup_vs_batched"] = (
                next(
                    r["seconds"]
                    for r in rows[-len(methods) :]
                    if r["method"] == "batched"
                )
                / row["seconds"]
            )
            print(
                f"d = {d:3d} {row['method']:9s} {row['seconds']:8.3f} s  "
                f"peak {row['peak_mb'] or float('nan'):7.1f} MiB  "
                f"rel. error {row['rel_error']:.1e}  "
                f"x{row['speedup_vs_batched']:.2f} vs batched"
            )
        if "loop" in results:
            gap = float((results["loop"] - exact).norm() / exact.norm())
            if gap > 1e-10:
                raise AssertionError(f"loop and batched HSIC differ at d = {d}: {gap}")
    fits = []
    for name in ("batched", "loop", "rff m=16", "rff m=64"):
        mine = [r for r in rows if r["method"] == name]
        slope = _harness.growth_exponent(
            [r["d"] for r in mine], [r["seconds"] for r in mine]
        )
        fits.append({"method": name, "x": "d", "exponent": slope})
        print(f"{name}: time ~ d^{slope:.2f}")
    loop_fit = next(f for f in fits if f["method"] == "loop")
    last_loop = max((r for r in rows if r["method"] == "loop"), key=lambda r: r["d"])
    d_max = max(ds)
    loop_at_max = (
        last_loop["seconds"] * (d_max / last_loop["d"]) ** loop_fit["exponent"]
    )
    batched_at_max = next(
        r["seconds"] for r in rows if r["method"] == "batched" and r["d"] == d_max
    )
    if d_max > last_loop["d"]:
        rows.append(
            {
                "method": "loop (extrapolated)",
                "n": N,
                "d": d_max,
                "seconds": loop_at_max,
                "extrapolated": True,
                "speedup_vs_batched": batched_at_max / loop_at_max,
            }
        )
    speedups = {
        r["d"]: 1 / r["speedup_vs_batched"] for r in rows if r["method"] == "loop"
    }
    targets = [
        {
            "what": f"batched faster than the loop over pairs at d = {d}",
            "measured": f"{s:.1f}x",
            "met": s > 1,
        }
        for d, s in speedups.items()
    ]
    _harness.write(
        "hsic",
        info,
        rows,
        out=args.out,
        title="All-pairs HSIC: batched, loop over pairs, random features",
        baseline="a Python loop over pairs calling independence.hsic",
        notes=[
            f"n = {N} samples, float64, median-heuristic bandwidth per feature",
            f"the loop runs up to d = {LOOP_MAX_D}; its d = {d_max} row is "
            "extrapolated with its fitted exponent",
            "peak memory: resident memory one call adds, in a forked process",
        ],
        targets=targets,
        fits=fits,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
