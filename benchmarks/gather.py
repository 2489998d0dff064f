"""Run a benchmark script that prints its results, and keep them as a results file.

Run: ``.venv/bin/python benchmarks/gather.py unitary_updates [-- ARGS...]``.

The chapter benchmarks ``unitary_updates.py`` (chapter 08) and
``deeptensor_speed.py`` (chapter 10) print their tables instead of writing a
results file. This runs one of them (``--threads 1`` unless other arguments are
given), and writes ``benchmarks/results/<name>.json`` with the machine, the date,
the load, the printed output, the ``target ...: met | NOT met`` lines as targets,
and, as rows, every ``<method>: <number>`` line under an ``n = <size>:`` header
(the per-size tables both scripts print), so that the Performance page can plot
them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import _harness

SIZE_HEADER = re.compile(r"^n = (?P<n>\d+): (?P<what>.*)$")
TABLE_ROW = re.compile(r"^\s+(?P<method>[^:]+?):\s+(?P<value>[\d.]+)(?: ms\b.*)?$")
TARGET = re.compile(r"target (?P<what>.+?): (?P<status>met|NOT met)\s*$")


def parse(text: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(rows, targets) of a printed report: per-size tables and target lines."""
    rows, targets, size, unit = [], [], None, None
    for line in text.splitlines():
        header = SIZE_HEADER.match(line)
        if header:
            size, unit = int(header["n"]), header["what"]
            continue
        if not line.strip():
            size = None
            continue
        row = TABLE_ROW.match(line)
        if size is not None and row:
            rows.append(
                {
                    "method": row["method"].strip(),
                    "n": size,
                    "ms": float(row["value"]),
                    "unit": unit,
                }
            )
        target = TARGET.search(line)
        if target:
            where = f" (n = {size})" if size is not None else ""
            targets.append(
                {
                    "what": target["what"] + where,
                    "measured": "printed",
                    "met": target["status"] == "met",
                }
            )
    return rows, targets


def main(argv=None):
    """Run the named script, print its output, and write its results file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        raise SystemExit("usage: gather.py <script name> [-- ARGS...]")
    name, rest = argv[0], argv[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    script = Path(__file__).with_name(f"{name}.py")
    if not script.is_file():
        raise SystemExit(f"gather.py: no benchmark script {script}")
    args = rest or ["--threads", "1"]
    threads = int(args[args.index("--threads") + 1]) if "--threads" in args else 1
    info = _harness.start(threads)
    info["clock"] = "clock the script prints"  # it times itself
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    print(done.stdout, end="")
    if done.returncode:
        print(done.stderr, file=sys.stderr)
        raise SystemExit(f"{script.name} failed with exit status {done.returncode}")
    rows, targets = parse(done.stdout)
    title = (script.read_text().split('"""')[1].splitlines() or [name])[0]
    _harness.write(
        name,
        info,
        rows,
        out=_harness.RESULTS,
        title=title,
        baseline="as the script prints it",
        notes=[
            f"command: python benchmarks/{script.name} {' '.join(args)} "
            f"({time.perf_counter() - t0:.0f} s)",
        ],
        targets=targets,
        extra={"stdout": done.stdout},  # the printed report, verbatim
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
