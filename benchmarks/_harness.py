"""What every benchmark of ``make bench`` shares: timing, the machine, the results file.

A benchmark script times the library against its baseline in one process: it first
checks that both give the same answer, then calls each ``warmup`` times untimed and
``repeats`` times timed, and keeps the median. The rows, the machine (CPU model,
cores, threads, load average before and after, library versions) and the date go
to ``benchmarks/results/<name>.json``, which ``benchmarks/report.py`` renders into
the book's Performance page (``book/performance.md``); the book never re-runs a
benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: The clock of every timing; ``start`` sets it: with one thread, the CPU time of
#: the calling thread (torch, LAPACK and scikit-learn then run on it), which time
#: spent waiting for a core on a shared machine does not inflate; with more, wall.
_CLOCK = {"clock": time.perf_counter, "name": "wall clock"}


def clock() -> float:
    """Seconds on the benchmarks' clock (see ``start``)."""
    return _CLOCK["clock"]()


def parser(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark takes: threads, repeats, where results go."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--repeats", type=int, default=5, help="timed calls (median)")
    p.add_argument("--quick", action="store_true", help="smallest sizes only")
    p.add_argument(
        "--out", type=Path, default=RESULTS, help="folder of the results file"
    )
    return p


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def paired_median_seconds(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    *,
    warmup: int = 1,
    min_total_s: float = 0.5,
    max_repeats: int = 50,
) -> dict[str, float]:
    """Median wall time of each function, timed in turns: a, b, a, b, ...

    Taking turns exposes every function to the same load on a shared machine.
    ``warmup`` untimed calls of each first (0 when the caller's own check of the
    answers already ran them). Fast functions get more repeats, so that each is
    timed for about ``min_total_s`` in all (``repeats`` to ``max_repeats`` calls).
    """
    times: dict[str, list[float]] = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        t0 = clock()
        fn()
        times[name] = [clock() - t0]
    calls = min_total_s / max(min(t[0] for t in times.values()), 1e-6)
    calls = int(min(max(repeats, calls), max_repeats))
    for _ in range(calls - 1):
        for name, fn in fns.items():
            t0 = clock()
            fn()
            times[name].append(clock() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_memory_mb(fn: Callable[[], object]) -> float:
    """Peak resident memory that one call of ``fn()`` adds, in MiB.

    ``fn`` runs in a forked child process: its peak resident set size
    (``ru_maxrss``) minus its resident size before the call. Large tensors are
    allocated with mmap and returned to the system when freed, so this is the
    largest working set of the call, to a page. Linux only; call it with torch
    set to one thread (a forked child must not use a thread pool its parent
    started).
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        try:
            before = _rss_bytes()
            fn()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            os.write(write, str(max(peak - before, 0)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        text = f.read()
    os.waitpid(pid, 0)
    return int(text) / 2**20 if text else float("nan")


def growth_exponent(sizes, seconds) -> float:
    """Slope of log(time) against log(size): t ~ size^slope, least squares."""
    x, y = np.log(np.asarray(sizes, float)), np.log(np.asarray(seconds, float))
    return float(np.polyfit(x, y, 1)[0])


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages of the machine."""
    with open("/proc/loadavg") as f:
        return [float(v) for v in f.read().split()[:3]]


def machine(threads: int) -> dict[str, object]:
    """The machine a benchmark runs on, named: CPU, cores, threads, versions."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("numpy", "sklearn"):
        with contextlib.suppress(ImportError):
            versions[name] = __import__(name).__version__
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": threads,
        "platform": platform.platform(),
        "versions": versions,
    }


def start(threads: int) -> dict[str, object]:
    """Set torch's threads, print and return the machine; record the start load."""
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    with contextlib.suppress(ImportError):  # numpy's BLAS and scikit-learn's OpenMP
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    one = threads == 1
    _CLOCK.update(
        clock=time.thread_time if one else time.perf_counter,
        name="CPU time of the calling thread" if one else "wall clock",
    )
    info = machine(threads)
    info["clock"] = _CLOCK["name"]
    info["load_before"] = loadavg()
    info["started"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, torch {torch.__version__}, "
        f"{threads} thread(s), timed by {info['clock']}, load {info['load_before']}"
    )
    return info


def write(
    name: str,
    info: dict[str, object],
    rows: list[dict[str, object]],
    *,
    out: Path,
    title: str,
    baseline: str,
    notes: list[str],
    targets: list[dict[str, object]],
    fits: list[dict[str, object]] | None = None,
    extra: dict[str, object] | None = None,
    script: str | None = None,
) -> Path:
    """Write ``out/<name>.json``: the machine, the date, the rows, the targets.

    ``script`` is the script's name when it differs from ``name`` (a script that
    writes one file per device: ``training_step.cuda``).
    """
    info = dict(info)
    info["load_after"] = loadavg()
    info["finished"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    payload = {
        "benchmark": name,
        "script": f"benchmarks/{script or name}.py",
        "title": title,
        "baseline": baseline,
        "machine": info,
        "rows": rows,
        "fits": fits or [],
        "targets": targets,
        "notes": notes,
        **(extra or {}),
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, default=_json_default) + "\n")
    for t in targets:
        status = "met" if t["met"] else "NOT met"
        print(f"target {status}: {t['what']} ({t['measured']})")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
