"""Install resilience (``make test-install``): the install cell in a fresh environment.

Colab, Kaggle and most readers' machines already have torch, and the notebooks' first
cell must install this package next to it without touching it. This test builds that
situation and runs it:

1. a fresh virtual environment (``_build/fresh-venv``, no system site packages) that
   holds only torch and what torch needs: the distributions are copied file by file
   from this environment's install (their ``RECORD``; hard links where the file system
   allows), so it is the same torch, nothing is downloaded for it, and it takes seconds;
2. ``ipykernel`` installed into it (a Jupyter kernel, as every notebook host has);
3. one notebook executed in it, with its first cell (the install cell, checked to be
   the book's by tests/test_book.py) pointed at this clone instead of GitHub: the same
   ``%pip install "dltheory @ git+...@<commit>"``, here ``git+file://<clone>@HEAD``;
4. torch's version, its install record and its files' identity checked unchanged.

It needs the package registry (numpy, scipy, ... come from there), so it runs outside
the network namespace of ``make test-offline``, and is collected only with
``--run-install`` (tests/conftest.py). About a minute and a half on 2 cores.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
FRESH = ROOT / "_build" / "fresh-venv"
NOTEBOOK = ROOT / "book" / "00_foundations" / "2_networks_are_splines.ipynb"
GITHUB_SPEC = "git+https://github.com/"
KERNEL = "dlt-fresh-venv"
PURELIB = "import sysconfig; print(sysconfig.get_path('purelib'))"


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _copy_distribution(name: str, target_site: Path, done: set[str]) -> None:
    """Copy one installed distribution and its requirements into ``target_site``."""
    dist = metadata.distribution(name)
    key = dist.metadata["Name"].lower().replace("_", "-")
    if key in done:
        return
    done.add(key)
    here = Path(dist.locate_file("")).resolve()
    for file in dist.files or []:
        source = Path(dist.locate_file(file)).resolve()
        if not source.is_file() or here not in source.parents:
            continue  # scripts in bin/, caches: not part of the importable package
        _link_or_copy(source, target_site / source.relative_to(here))
    for text in dist.requires or []:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        _copy_distribution(requirement.name, target_site, done)


def _torch_identity(python: Path) -> dict:
    """torch's version, its installed version and its files' identity, in ``python``."""
    code = (
        "import importlib.metadata as m, json, os, torch;"
        "s = os.stat(torch.__file__);"
        "print(json.dumps({'version': torch.__version__,"
        " 'installed': m.version('torch'), 'file': torch.__file__,"
        " 'inode': s.st_ino, 'mtime': s.st_mtime_ns}))"
    )
    out = subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _outputs(cell) -> str:
    """The text a cell printed (stream outputs)."""
    return "".join(out.get("text", "") for out in cell.get("outputs", []))


def _run(command: list[str], **kwargs) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}:\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-3000:]}"
    )


@pytest.fixture(scope="module")
def fresh_python() -> Path:
    """A fresh venv holding only torch (and its requirements) and ipykernel."""
    shutil.rmtree(FRESH, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(FRESH)
    python = FRESH / "bin" / "python"
    site = Path(
        subprocess.run(
            [
                str(python),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    copied: set[str] = set()
    _copy_distribution("torch", site, copied)
    # A current pip, as notebook hosts have (ensurepip's may be too old to parse a
    # git+file:// direct reference), and a Jupyter kernel.
    _run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    _run([str(python), "-m", "pip", "install", "-q", "ipykernel"])
    _run(
        [
            str(python),
            "-m",
            "ipykernel",
            "install",
            "--prefix",
            str(FRESH),
            "--name",
            KERNEL,
        ]
    )
    return python


def test_install_cell_in_a_fresh_venv_keeps_torch(fresh_python):
    before = _torch_identity(fresh_python)
    assert before["file"].startswith(str(FRESH)), before  # its own copy, not ours
    assert before["version"] == _torch_identity(Path(sys.executable))["version"]
    probe = [str(fresh_python), "-c", "import dltheory"]
    assert subprocess.run(probe, capture_output=True).returncode != 0, (
        "the fresh venv already has dltheory"
    )

    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    assert GITHUB_SPEC in cell.source, cell.source
    assert "%pip install" in cell.source, cell.source
    # The cell's own line, with this clone's committed HEAD for GitHub's main.
    start = cell.source.index(GITHUB_SPEC)
    end = cell.source.index('"', start)
    cell.source = (
        cell.source[:start] + f"git+file://{ROOT}@{commit}" + cell.source[end:]
    )

    env = dict(
        os.environ,
        DLT_SCALE="small",
        DLT_DEVICE="cpu",
        OMP_NUM_THREADS="1",
        JUPYTER_PATH=str(FRESH / "share" / "jupyter"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    old_env = dict(os.environ)
    os.environ.update(env)  # the kernel inherits the environment of this process
    try:
        client = NotebookClient(
            nb,
            kernel_name=KERNEL,
            timeout=600,
            resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        )
        client.execute()
    except CellExecutionError as error:
        raise AssertionError(
            f"{NOTEBOOK.name} failed in the fresh venv; the install cell printed:\n"
            f"{_outputs(cell)[-3000:]}"
        ) from error
    finally:
        os.environ.clear()
        os.environ.update(old_env)

    install_output = _outputs(cell)
    after = _torch_identity(fresh_python)
    assert after == before, (
        f"torch changed: before {before}, after {after}; install cell said "
        f"{install_output[-2000:]}"
    )
    shown = subprocess.run(
        [str(fresh_python), "-m", "pip", "show", "dltheory"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Name: dltheory" in shown
