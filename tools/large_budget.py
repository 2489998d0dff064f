r"""Run the notebooks at the large budget, time each, and record what they measure.

The book is built at the small budget on a CPU; each notebook also has a large budget
(``runtime.budget(small=..., large=...)``), sized for one GPU. This script executes the
notebooks of the chapters given (default 00 to 05, in ``_toc.yml`` order) with
``DLT_SCALE=large`` and records, per notebook, how it went, how long it took and every
figure it recorded with ``dltheory.runtime.glue``. The chapter pages show those
records (``book/_ext/large_budget.py``: the ``{large-budget}`` role in each runtime
table, the ``{large-budget-figures}`` directive's small-against-large table).
``tools/gpu_session.sh`` runs it on a borrowed GPU machine; runs accumulate across
sessions (``--skip-done``).

How a notebook runs: as ``make book`` runs it (nbclient, kernel ``python3``, the
notebook's folder as working directory), in a worker process of its own, ``--jobs``
at a time, each kernel with ``OMP_NUM_THREADS`` = CPU cores // jobs. A notebook still
running ``--timeout-s`` seconds after it started, or at ``--deadline-s`` seconds after
the script started, is killed with its kernel (status ``timeout``); a notebook not
started by the deadline is not run (no record; the old one, if any, is kept). A
notebook that raises is recorded with status ``error`` and the exception's last line
as the kernel printed it (``ImportError: mnist: needs torchvision, ...``); the run
goes on. The executed notebooks are not kept unless ``--executed-dir`` names a folder
for them.

Where myst-nb is not installed (the GPU machine gets only what the notebooks need),
``runtime.glue`` would record nothing; the kernel then imports a stand-in ``myst_nb``
whose ``glue`` writes the same output as myst-nb's (a display with the
``application/papermill.record/`` MIME prefix and ``scrapbook`` metadata). Where
``dltheory`` is not importable, ``lib/`` is put on the kernel's ``PYTHONPATH``.

The results file (default ``book/large_budget.json``; written atomically after each
notebook, merged with what it holds, the newest run of a notebook replacing the older)::

    {
      "schema": 1,
      "about": "...",
      "runs": {
        "book/05_guillotine/2_augmentation_strength.ipynb": {
          "status": "ok",            # ok | error | timeout
          "error": null,             # error: the exception's last line
          "stopped": null,           # timeout: "timeout" (--timeout-s) or "deadline"
          "limit_s": 600.0,          # the seconds it was given
          "wall_s": 503.2,           # kernel start to the last cell (or the kill)
          "scale": "large",          # DLT_SCALE
          "jobs": 4,                 # notebooks run at a time
          "threads": 4,              # OMP_NUM_THREADS of its kernel
          "device": "NVIDIA H100 80GB HBM3",   # or "CPU, 16 cores"
          "torch": "2.13.0",
          "date": "2026-12-09T03:12:05Z",       # UTC, when it started
          "commit": "a1b2c3d",       # --commit, $DLT_COMMIT or git (short)
          "glue": {"gap-simclr": "0.0412", "wall-time-s": "503.1"}
        }
      }
    }

``glue`` holds each recorded key's ``text/plain`` as myst-nb stores it (a string's
quotes included, as the ``{glue:text}`` role reads it). The default file is for the
large budget: other scales are written only to a file named with ``--results``.

Usage::

    python tools/large_budget.py                        # chapters 00-05, one at a time
    python tools/large_budget.py --chapters 05 --jobs 4 --skip-done --deadline-s 540
    python tools/large_budget.py --scale small --only 00_foundations/2 \
        --results _build/large_budget_small.json        # a check on a CPU
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("book") / "large_budget.json"  # relative to --root
SCHEMA = 1
ABOUT = (
    "Large-budget runs of the book's notebooks (DLT_SCALE=large), one entry per "
    "notebook, the newest run; written by tools/large_budget.py, rendered in the "
    "chapter pages by book/_ext/large_budget.py."
)
DEFAULT_CHAPTERS = ("00", "01", "02", "03", "04", "05")
STATUSES = ("ok", "error", "timeout")
GLUE_PREFIX = "application/papermill.record/"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
POLL_S = 0.2

# The stand-in for myst_nb.glue where myst-nb is not installed: myst-nb 1.x's own
# output (myst_nb/ext/glue/__init__.py), so that the records read the same.
GLUE_SHIM = '''"""Stand-in for myst-nb's glue (tools/large_budget.py), same output."""

GLUE_PREFIX = "application/papermill.record/"


def glue(name, variable, display=True):
    """Record ``variable``'s display data under ``name``, as myst_nb.glue does."""
    import IPython
    from IPython.display import display as ipy_display

    mimebundle, metadata = IPython.core.formatters.format_display_data(variable)
    mime_prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = dict(name=name, mime_prefix=mime_prefix)
    ipy_display(
        {mime_prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata
    )
'''


# --- which notebooks -------------------------------------------------------------


def toc_entries(root: Path) -> list[str]:
    """Every ``root`` and ``file`` entry of ``root/_toc.yml``, in order, as written.

    Reads the file with PyYAML (not jupyter-book's parser, which the GPU machine
    lacks), depth first. tests/test_book.py uses it too.
    """
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    entries: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("root", "file"):
                    entries.append(str(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return entries


def toc_notebooks(root: Path) -> list[str]:
    """The notebooks of ``root/_toc.yml`` in the book's order, paths from ``root``."""
    entries = [re.sub(r"\.(md|ipynb)$", "", e) for e in toc_entries(root)]
    return [f"{e}.ipynb" for e in entries if (root / f"{e}.ipynb").is_file()]


def chapter_of(notebook: str) -> str | None:
    """``"05"`` for ``book/05_guillotine/2_augmentation_strength.ipynb``, else None."""
    m = re.match(r"book/(\d{2})_[^/]+/", notebook)
    return m[1] if m else None


def matches(notebook: str, patterns: list[str] | None) -> bool:
    """Whether ``notebook`` matches one of ``patterns`` (a glob, else a substring)."""
    if not patterns:
        return True
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            if fnmatch.fnmatch(notebook, pattern) or fnmatch.fnmatch(
                notebook, f"*{pattern}*"
            ):
                return True
        elif pattern in notebook:
            return True
    return False


def plan(
    notebooks: list[str],
    runs: dict[str, dict],
    *,
    chapters: list[str],
    only: list[str] | None,
    skip_done: bool,
    scale: str,
    timeout_s: float = float("inf"),
    deadline_s: float | None = None,
    commit: str | None = None,
) -> tuple[list[str], list[str]]:
    """The notebooks to run, and those skipped as already recorded.

    With ``skip_done`` a notebook recorded at ``scale`` is skipped when its run
    was ``ok``; when it ran past its own time limit, at least ``timeout_s``, or
    was stopped by a deadline after at least ``deadline_s`` (this run would spend
    that time again and be stopped again: its large budget must shrink, or it
    needs a run with more time); or when it failed at the same ``commit`` (the same
    code fails the same way). The notebooks never recorded run first, then the
    others, each in the book's order.

    Args:
        notebooks: Candidate notebooks (paths from the root), in order.
        runs: The results file's ``runs``.
        chapters: Two-digit chapter numbers to keep.
        only: Glob or substring filters (any may match), or None for all.
        skip_done: Skip what is recorded (above).
        scale: The scale of this run.
        timeout_s: This run's limit per notebook.
        deadline_s: This run's time in all, or None.
        commit: This run's commit, or None.

    Returns:
        ``(todo, skipped)``: never-recorded notebooks first in ``todo``, each part
        and ``skipped`` in the order of ``notebooks``.
    """
    todo, skipped = [], []
    for nb in notebooks:
        if chapter_of(nb) not in chapters or not matches(nb, only):
            continue
        entry = runs.get(nb) or {}
        status, given = entry.get("status"), entry.get("limit_s", 0)
        stopped = entry.get("stopped")
        over_limit = status == "timeout" and (
            (stopped == "timeout" and given >= timeout_s)
            or (
                stopped == "deadline" and deadline_s is not None and given >= deadline_s
            )
        )
        same_failure = status == "error" and commit and entry.get("commit") == commit
        done = status == "ok" or over_limit or same_failure
        if skip_done and done and entry.get("scale") == scale:
            skipped.append(nb)
        else:
            todo.append(nb)
    todo.sort(key=lambda nb: nb in runs)  # stable: never recorded first
    return todo, skipped


# --- the results file --------------------------------------------------------------


def load_results(path: Path) -> dict:
    """The results file at ``path`` ({"schema", "about", "runs"}; empty if missing).

    Raises:
        ValueError: If the file is of another schema version or not a JSON object
            with a ``runs`` object.
    """
    if not path.exists():
        return {"schema": SCHEMA, "about": ABOUT, "runs": {}}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("runs"), dict):
        raise ValueError(
            f"{path}: expected a JSON object with 'runs', got {data!r:.80}"
        )
    if data.get("schema") != SCHEMA:
        raise ValueError(
            f"{path}: expected schema {SCHEMA}, got {data.get('schema')!r}"
        )
    return data


def write_results(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "schema": SCHEMA,
        "about": data.get("about", ABOUT),
        "runs": dict(sorted(data["runs"].items())),
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- the machine -------------------------------------------------------------------


def cores() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine(env: dict[str, str]) -> tuple[str, str]:
    """``(device name, torch version)``, asked of a fresh Python with ``env``.

    A child process, so that this one holds no CUDA context while notebooks run.
    The device is the GPU's name where the notebooks will use CUDA (``DLT_DEVICE``
    unset or ``cuda``), else ``"CPU, N cores"``.
    """
    code = (
        "import json, os, torch\n"
        "want = os.environ.get('DLT_DEVICE', '').strip().lower()\n"
        "gpu = torch.cuda.is_available() and want in ('', 'cuda') or "
        "want.startswith('cuda')\n"
        "name = torch.cuda.get_device_name(0) if gpu else None\n"
        "print(json.dumps([name, torch.__version__]))\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        name, version = json.loads(out.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError, OSError):
        name, version = None, "unknown"
    return name or f"CPU, {cores()} cores", version


def git_commit(root: Path) -> str:
    """``git rev-parse --short HEAD`` in ``root``, or ``"unknown"``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return "unknown"
    return out or "unknown"


def _importable(module: str, env: dict[str, str]) -> bool:
    """Whether ``module`` imports in a fresh Python with ``env`` (as the kernel)."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return result.returncode == 0


def kernel_env(
    root: Path,
    *,
    scale: str,
    threads: int,
    shim_dir: Path | None,
    force_shim: bool = False,
) -> dict[str, str]:
    """The environment of the workers and their kernels.

    ``DLT_SCALE`` and ``OMP_NUM_THREADS`` set; ``lib/`` on ``PYTHONPATH`` if
    ``dltheory`` does not import; the glue stand-in (written to ``shim_dir``) first
    on it if ``myst_nb`` does not import, or if ``force_shim`` (for the tests).
    """
    env = dict(os.environ)
    env.update(DLT_SCALE=scale, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if not _importable("dltheory", env):
        paths.insert(0, str(root / "lib"))
    probe = {**env, "PYTHONPATH": os.pathsep.join(paths)}
    if shim_dir is not None and (force_shim or not _importable("myst_nb", probe)):
        (shim_dir / "myst_nb").mkdir(parents=True, exist_ok=True)
        (shim_dir / "myst_nb" / "__init__.py").write_text(GLUE_SHIM, encoding="utf-8")
        paths.insert(0, str(shim_dir))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


# --- one notebook, in a worker process ------------------------------------------------


def glue_records(notebook) -> dict[str, str]:
    """Every key the notebook's outputs record with myst-nb's glue: its text/plain."""
    records = {}
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if not meta or "name" not in meta:
                continue
            prefix = meta.get("mime_prefix", "")
            text = output.get("data", {}).get(prefix + "text/plain")
            if text is not None:
                records[meta["name"]] = (
                    "".join(text) if isinstance(text, list) else text
                )
    return records


def error_line(exc: BaseException) -> str:
    """The exception's last line as the kernel printed it (``ename: evalue``)."""
    ename = getattr(exc, "ename", None)
    if ename:  # nbclient's CellExecutionError: the kernel's exception
        evalue = ANSI.sub("", str(getattr(exc, "evalue", "") or "")).strip()
        return f"{ename}: {evalue}" if evalue else ename
    text = ANSI.sub("", str(exc)).strip()
    last = text.splitlines()[-1] if text else ""
    return f"{type(exc).__name__}: {last}" if last else type(exc).__name__


def worker(notebook: Path, out: Path, executed: Path | None) -> int:
    """Execute ``notebook`` and write ``{status, error, wall_s, glue}`` to ``out``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        timeout=None,  # the parent enforces --timeout-s on the whole notebook
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    start = time.perf_counter()
    status, error = "ok", None
    try:
        client.execute()
    except Exception as exc:  # noqa: BLE001 (any failure is recorded, not raised)
        status, error = "error", error_line(exc)
    wall = time.perf_counter() - start
    if executed is not None:
        executed.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, executed)
    result = {
        "status": status,
        "error": error,
        "wall_s": wall,
        "glue": glue_records(nb),
    }
    out.write_text(json.dumps(result), encoding="utf-8")
    return 0


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and every process under it (its kernel has its own session)."""
    try:
        import psutil

        try:
            family = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        for p in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
    except ImportError:  # no psutil: the worker's process group (not the kernel's)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


# --- the run -------------------------------------------------------------------------


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(entry: dict) -> str:
    wall = f"{entry['wall_s']:.1f} s"
    if entry["status"] == "ok":
        return f"ok in {wall}, {len(entry['glue'])} figure(s) recorded"
    if entry["status"] == "timeout":
        why = "the deadline" if entry.get("stopped") == "deadline" else "--timeout-s"
        return f"TIMEOUT, killed after {wall} ({why})"
    return f"ERROR after {wall}: {entry['error']}"


def run(args: argparse.Namespace) -> int:
    """Run the planned notebooks; returns the exit status (0: all started ran ok)."""
    root = args.root.resolve()
    results_path = args.results if args.results is not None else root / RESULTS
    if args.results is None and args.scale != "large":
        print(
            f"large_budget: {RESULTS} is for DLT_SCALE=large; name another file with "
            f"--results to record a run at scale {args.scale!r}",
            file=sys.stderr,
        )
        return 2
    data = load_results(results_path)
    commit = args.commit or os.environ.get("DLT_COMMIT") or git_commit(root)
    todo, skipped = plan(
        toc_notebooks(root),
        data["runs"],
        chapters=args.chapters,
        only=args.only,
        skip_done=args.skip_done,
        scale=args.scale,
        timeout_s=args.timeout_s,
        deadline_s=args.deadline_s,
        commit=commit,
    )
    for nb in skipped:
        status = data["runs"][nb]["status"]
        print(f"large_budget: {nb}: skipped, recorded {status} at scale {args.scale}")
    if not todo:
        print("large_budget: nothing to run")
        return 0
    jobs = max(1, min(args.jobs, len(todo)))
    threads = max(1, cores() // jobs)
    shim_dir = Path(tempfile.mkdtemp(prefix="large_budget_"))
    try:
        env = kernel_env(
            root,
            scale=args.scale,
            threads=threads,
            shim_dir=shim_dir,
            force_shim=args.force_glue_shim,
        )
        device, torch_version = machine(env)
        print(
            f"large_budget: {len(todo)} notebook(s) at scale {args.scale}, {jobs} at a "
            f"time, {threads} thread(s) each, on {device} (torch {torch_version}, "
            f"commit {commit}); timeout {args.timeout_s:.0f} s each"
            + (f", deadline {args.deadline_s:.0f} s" if args.deadline_s else ""),
            flush=True,
        )
        common = {
            "scale": args.scale,
            "jobs": jobs,
            "threads": threads,
            "device": device,
            "torch": torch_version,
            "commit": commit,
        }
        counts = _execute_all(
            todo, root, env, shim_dir, common, data, results_path, jobs, args
        )
    finally:
        shutil.rmtree(shim_dir, ignore_errors=True)
    total = ", ".join(f"{counts[s]} {s}" for s in (*STATUSES, "not run"))
    print(
        f"large_budget: {total}, {len(skipped)} skipped; "
        f"{time.monotonic() - args.started:.0f} s in all; results in {results_path}",
        flush=True,
    )
    return 0 if counts["error"] == counts["timeout"] == 0 else 1


def _execute_all(todo, root, env, shim_dir, common, data, results_path, jobs, args):
    """The scheduler: ``jobs`` workers at a time, killed at their limit."""
    queue = list(todo)
    running: dict[str, tuple] = {}  # notebook -> (proc, started, limit, why, out, date)
    counts = dict.fromkeys((*STATUSES, "not run"), 0)
    done = 0
    deadline = args.started + args.deadline_s if args.deadline_s else None
    while queue or running:
        now = time.monotonic()
        while queue and len(running) < jobs and (deadline is None or now < deadline):
            nb = queue.pop(0)
            out = shim_dir / (nb.replace("/", "__") + ".result.json")
            command = [sys.executable, str(Path(__file__).resolve()), "--worker"]
            command += [str(root / nb), "--worker-out", str(out)]
            if args.executed_dir is not None:
                command += ["--worker-executed", str(args.executed_dir.resolve() / nb)]
            limit, why = now + args.timeout_s, "timeout"
            if deadline is not None and deadline < limit:
                limit, why = deadline, "deadline"
            proc = subprocess.Popen(command, env=env, cwd=root, start_new_session=True)
            running[nb] = (proc, now, limit, why, out, _utc_now())
        if deadline is not None and now >= deadline and queue:
            for nb in queue:
                print(f"large_budget: {nb}: not run (the deadline passed)", flush=True)
            counts["not run"] += len(queue)
            queue = []
        for nb, (proc, started, limit, why, out, date) in list(running.items()):
            now = time.monotonic()
            if proc.poll() is None and now < limit:
                continue
            if proc.poll() is None:
                kill_tree(proc)
                entry = {"status": "timeout", "error": None, "stopped": why}
                entry.update(wall_s=now - started, glue={})
            elif out.exists():
                entry = json.loads(out.read_text(encoding="utf-8"))
                entry["stopped"] = None
            else:
                entry = {
                    "status": "error",
                    "error": f"the worker process exited with status {proc.returncode}",
                    "stopped": None,
                    "wall_s": now - started,
                    "glue": {},
                }
            del running[nb]
            entry = {
                "status": entry["status"],
                "error": entry["error"],
                "stopped": entry["stopped"],
                "limit_s": round(limit - started, 1),
                "wall_s": round(entry["wall_s"], 1),
                **common,
                "date": date,
                "glue": entry["glue"],
            }
            data["runs"][nb] = entry
            write_results(results_path, data)
            counts[entry["status"]] += 1
            done += 1
            print(
                f"large_budget: [{done}/{len(todo)}] {nb}: {_summary(entry)}",
                flush=True,
            )
        if running or queue:
            time.sleep(POLL_S)
    return counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help`` lists it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chapters",
        nargs="+",
        default=list(DEFAULT_CHAPTERS),
        help="two-digit chapter numbers, run in _toc.yml order (default: 00 to 05)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        help="run only notebooks whose path (from the root) matches: a glob, else a "
        "substring (repeatable)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="notebooks run at a time (default: 1)"
    )
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=600.0,
        help="seconds a notebook may run (default: 600)",
    )
    parser.add_argument(
        "--deadline-s",
        type=float,
        default=None,
        help="seconds for the whole run: no notebook starts after, running ones are "
        "killed at it",
    )
    parser.add_argument(
        "--skip-done",
        action="store_true",
        help="skip notebooks recorded at the same scale that ran ok, that ran past "
        "a limit at least --timeout-s or a deadline at least --deadline-s, or that "
        "failed at the same commit; never-recorded notebooks run first",
    )
    parser.add_argument(
        "--scale",
        choices=("small", "large"),
        default="large",
        help="DLT_SCALE of the kernels (default: large)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help=f"the results file (default: {RESULTS}, for the large budget only)",
    )
    parser.add_argument(
        "--executed-dir",
        type=Path,
        default=None,
        help="save each executed notebook there, under its path from the root",
    )
    parser.add_argument(
        "--commit",
        default=None,
        help="the commit to record (default: $DLT_COMMIT, else git's HEAD; a copy of "
        "the working tree without .git records 'unknown')",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="the book's root, holding _toc.yml and book/ (default: this repository)",
    )
    parser.add_argument(
        "--force-glue-shim", action="store_true", help=argparse.SUPPRESS
    )  # the tests: use the glue stand-in even where myst-nb is installed
    args = parser.parse_args(argv)
    for chapter in args.chapters:
        if not re.fullmatch(r"\d{2}", chapter):
            parser.error(f"--chapters: expected two-digit numbers, got {chapter!r}")
    if args.jobs < 1:
        parser.error(f"--jobs: expected a positive integer, got {args.jobs}")
    if args.timeout_s <= 0 or (args.deadline_s is not None and args.deadline_s <= 0):
        parser.error("--timeout-s and --deadline-s: expected positive seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the script (or, with ``--worker``, one notebook); returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":  # internal: one notebook, in its own process
        worker_parser = argparse.ArgumentParser(prog="large_budget.py --worker")
        worker_parser.add_argument("notebook", type=Path)
        worker_parser.add_argument("--worker-out", type=Path, required=True)
        worker_parser.add_argument("--worker-executed", type=Path, default=None)
        w = worker_parser.parse_args(argv[1:])
        return worker(w.notebook, w.worker_out, w.worker_executed)
    started = time.monotonic()
    args = parse_args(argv)
    args.started = started
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
