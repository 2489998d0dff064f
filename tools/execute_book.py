r"""Execute the book's notebooks in parallel into a jupyter-cache, for ``make book``.

``jupyter-book build`` with ``execute_notebooks: force`` runs the notebooks one after
another. This script runs them ``--jobs`` at a time, each kernel with one thread
(``OMP_NUM_THREADS=1``: two torch kernels with two threads each on two cores ran a
notebook 13x slower), and stores the executed notebooks in a jupyter-cache. It then
writes a copy of ``_config.yml`` with ``execute_notebooks: cache`` pointing at that
cache, so that ``jupyter-book build --config`` with it reads every notebook's outputs
from the cache (figures, glue data and all) instead of running it again.

The cache lives in ``_build/jupyter_cache-<hash>``. myst-nb's cache key is a
notebook's code alone, so the hash covers what else decides the outputs: the
library's source (``lib/**/*.py``), ``pyproject.toml``, the installed distributions,
the Python version and the ``DLT_*`` settings; a change to any of them starts a new
cache, and the old ones are removed. Notebooks are executed exactly as myst-nb's
``force`` mode does (``jupyter_cache.executors.utils.single_nb_execution`` with the
notebook's folder as working directory, the timeout and ``allow_errors`` of
``_config.yml``), so the built pages are the same.

A notebook that raises fails the script (exit status 1) after every notebook ran,
with each failure's traceback printed; ``make book`` then stops before building.

Usage (``make book`` runs it)::

    python tools/execute_book.py --jobs 2 --config-out _build/config-book.yml \
        --mathjax _build/mathjax-3.2.2.1
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import yaml
from sphinx_external_toc.parsing import parse_toc_yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE_PREFIX = "jupyter_cache-"
#: Environment variables of the library that change what a notebook computes.
SETTINGS = ("DLT_SCALE", "DLT_DEVICE", "DLT_WIDGETS", "DLT_DATA")


def source_hash(root: Path = ROOT) -> str:
    """A short hash of everything but the notebook's code that decides its outputs.

    Args:
        root: The repository root.

    Returns:
        Twelve hex digits.
    """
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(label.encode() + b"\0" + data + b"\0")

    files = sorted(
        p for p in (root / "lib").rglob("*.py") if "__pycache__" not in p.parts
    )
    for path in [*files, root / "pyproject.toml"]:
        if path.is_file():
            add(path.relative_to(root).as_posix(), path.read_bytes())
    dists = sorted(
        f"{d.metadata['Name']}=={d.version}".lower()
        for d in importlib.metadata.distributions()
    )
    add("distributions", "\n".join(dists).encode())
    add("python", sys.version.encode())
    for name in SETTINGS:
        add(name, os.environ.get(name, "").encode())
    return digest.hexdigest()[:12]


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks of ``_toc.yml``, in the book's order (jupyter-book's parser)."""
    site = parse_toc_yaml(root / "_toc.yml")  # iterates the docnames in toc order
    return [path for name in site if (path := root / f"{name}.ipynb").is_file()]


def book_config(root: Path, cache: Path, mathjax: Path | None) -> dict:
    """``_config.yml`` as ``make book`` builds it.

    Execution reads ``cache`` (``execute_notebooks: cache``); paths that
    ``_config.yml`` gives relative to itself (``sphinx.local_extensions``) are made
    absolute, since the copy lives in ``_build/``; with ``mathjax``, the pages load
    MathJax from the book's ``_static/mathjax`` (a folder holding ``mathjax/``,
    copied in by Sphinx through ``html_static_path``) instead of its CDN.

    Args:
        root: The repository root, where ``_config.yml`` is.
        cache: The jupyter-cache folder.
        mathjax: Folder whose ``mathjax/tex-mml-chtml.js`` is MathJax 3, or None.

    Returns:
        The configuration, ready for ``yaml.safe_dump``.
    """
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    execute = config.setdefault("execute", {})
    execute["execute_notebooks"] = "cache"
    execute["cache"] = str(cache.resolve())
    sphinx = config.setdefault("sphinx", {})
    local = sphinx.get("local_extensions") or {}
    for name, path in local.items():
        local[name] = str((root / path).resolve())
    if mathjax is not None:
        script = mathjax / "mathjax" / "tex-mml-chtml.js"
        if not script.is_file():
            raise SystemExit(f"execute_book: MathJax not found: {script} is missing")
        settings = sphinx.setdefault("config", {})
        settings["mathjax_path"] = "mathjax/tex-mml-chtml.js"  # relative to _static
        static = list(settings.get("html_static_path", []))
        settings["html_static_path"] = [*static, str(mathjax.resolve())]
    return config


def _execute(path: str, timeout: int | None, allow_errors: bool) -> tuple:
    """Run one notebook as myst-nb's ``force`` mode does (in a worker process)."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = nbformat.read(path, as_version=4)
    result = single_nb_execution(
        notebook,
        cwd=str(Path(path).parent),
        timeout=timeout,
        allow_errors=allow_errors,
        meta_override=True,
    )
    executed = None if result.err else nbformat.writes(notebook)
    # The error names the cell and carries the kernel's traceback; the frames of
    # nbclient above it say nothing about the notebook.
    error = f"{type(result.err).__name__}: {result.err}" if result.err else None
    return path, executed, error, result.time


def execute(
    notebooks: list[Path],
    cache_dir: Path,
    jobs: int,
    timeout: int | None,
    allow_errors: bool,
) -> list[tuple[Path, str]]:
    """Execute the notebooks not yet in the cache, ``jobs`` at a time, and cache them.

    Args:
        notebooks: The notebooks of the book.
        cache_dir: The jupyter-cache folder (created if missing).
        jobs: How many notebooks run at once.
        timeout: Seconds per cell, as in ``_config.yml``.
        allow_errors: As in ``_config.yml``.

    Returns:
        ``(notebook, traceback)`` for each notebook that failed.
    """
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_dir))
    todo = []
    for path in notebooks:
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            todo.append(path)
    cached = len(notebooks) - len(todo)
    print(
        f"execute_book: {len(todo)} notebook(s) to run, {jobs} at a time, "
        f"one thread each; {cached} already in {_rel(cache_dir)}",
        flush=True,
    )
    failures: list[tuple[Path, str]] = []
    if not todo:
        return failures
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the kernels
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [
            pool.submit(_execute, str(path), timeout, allow_errors) for path in todo
        ]
        for done, future in enumerate(as_completed(futures), start=1):
            path, executed, traceback, seconds = future.result()
            path = Path(path)
            status = "ok" if executed is not None else "FAILED"
            print(
                f"execute_book: [{done}/{len(todo)}] {_rel(path)}: {status} "
                f"in {seconds:.1f} s",
                flush=True,
            )
            if executed is None:
                failures.append((path, traceback or "(no traceback)"))
                continue
            notebook = nbformat.reads(executed, as_version=4)
            cache.cache_notebook_bundle(
                CacheBundleIn(notebook, str(path), data={"execution_seconds": seconds}),
                check_validity=False,
                overwrite=True,
            )
    print(
        f"execute_book: ran {len(todo)} notebook(s) in "
        f"{time.perf_counter() - start:.0f} s wall time",
        flush=True,
    )
    return failures


def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """Run the script; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at once")
    parser.add_argument(
        "--config-out",
        type=Path,
        default=Path("_build/config-book.yml"),
        help="where to write the build's copy of _config.yml",
    )
    parser.add_argument(
        "--mathjax",
        type=Path,
        default=None,
        help="folder holding mathjax/tex-mml-chtml.js, served in _static/",
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the book's root (_config.yml, lib/)"
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    build_dir = root / "_build"

    cache_dir = build_dir / f"{CACHE_PREFIX}{source_hash(root)}"
    for old in build_dir.glob(f"{CACHE_PREFIX}*"):
        if old != cache_dir and old.is_dir():
            print(f"execute_book: removing stale cache {_rel(old)}", flush=True)
            shutil.rmtree(old)
    build_dir.mkdir(parents=True, exist_ok=True)

    config = book_config(root, cache_dir, args.mathjax)
    args.config_out.parent.mkdir(parents=True, exist_ok=True)
    args.config_out.write_text(
        "# Written by tools/execute_book.py from _config.yml: do not edit.\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )

    execution = config.get("execute", {})
    failures = execute(
        toc_notebooks(root),
        cache_dir,
        jobs=max(1, args.jobs),
        timeout=execution.get("timeout"),
        allow_errors=bool(execution.get("allow_errors", False)),
    )
    for path, traceback in failures:
        print(f"\n{'=' * 78}\nexecute_book: {_rel(path)} raised:\n{traceback}")
    if failures:
        names = ", ".join(_rel(p) for p, _ in failures)
        print(f"execute_book: {len(failures)} notebook(s) failed: {names}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
