"""``tools/execute_book.py``: the parallel execution that ``make book`` builds from.

A tiny book goes through the same two steps as ``make book`` (execute into the
cache, then a strict ``jupyter-book build`` that reads it): glue values reach the
pages, also across documents, and no notebook runs during the build; a notebook
that raises fails the first step with its traceback.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _load():
    spec = importlib.util.spec_from_file_location(
        "execute_book", ROOT / "tools" / "execute_book.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


execute_book = _load()

CONFIG = """\
title: tiny
only_build_toc_files: true
exclude_patterns: ["_build", ".*"]
execute:
  execute_notebooks: force
  timeout: 120
  allow_errors: false
repository:
  url: https://github.com/dltheory/dltheory-book
  path_to_book: ""
  branch: main
launch_buttons:
  colab_url: "https://colab.research.google.com"
sphinx:
  config:
    nb_execution_raise_on_error: true
    nb_execution_show_tb: true
"""
TOC = """\
format: jb-book
root: book/intro
chapters:
  - file: book/nb
  - file: book/page
"""


def tiny_book(root: Path, code: str) -> Path:
    """A book whose intro and last page paste glue from the notebook between them."""
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text(CONFIG)
    (root / "_toc.yml").write_text(TOC)
    (root / "book" / "intro.md").write_text(
        "# Intro\n\nBefore: {glue:text}`/book/nb.ipynb::answer:.2f`.\n"
    )
    (root / "book" / "page.md").write_text(
        "# Page\n\nAfter: {glue:text}`/book/nb.ipynb::answer:.1f`, "
        "threads {glue:text}`/book/nb.ipynb::threads:`.\n"
    )
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [
        nbformat.v4.new_markdown_cell(
            "# Notebook\n\nHere: {glue:text}`/book/nb.ipynb::answer:.3f`."
        ),
        nbformat.v4.new_code_cell(code),
    ]
    nbformat.write(notebook, root / "book" / "nb.ipynb")
    return root


GLUE = """\
import os
from myst_nb import glue
import matplotlib.pyplot as plt
glue("answer", 42.12345, display=False)
glue("threads", os.environ.get("OMP_NUM_THREADS", "unset"), display=False)
plt.plot([1, 2, 3])
plt.show()
"""


def run_script(root: Path, config: Path) -> subprocess.CompletedProcess:
    """``tools/execute_book.py`` on the tiny book, as ``make book`` runs it."""
    return subprocess.run(
        [
            sys.executable,
            ROOT / "tools" / "execute_book.py",
            "--root",
            root,
            "--config-out",
            config,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def pasted(html: Path) -> list[str]:
    """The values that glue roles pasted into a page."""
    return re.findall(r'<span class="pasted-text">(.*?)</span>', html.read_text())


def test_glue_survives_the_cache(tmp_path: Path):
    """Execute in parallel, build from the cache: glue pasted, nothing re-executed."""
    root = tiny_book(tmp_path / "book", GLUE)
    config = root / "_build" / "config-book.yml"
    first = run_script(root, config)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 notebook(s) to run" in first.stdout
    # A second run finds the notebook in the cache.
    second = run_script(root, config)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 notebook(s) to run" in second.stdout
    assert "1 already in" in second.stdout
    build = subprocess.run(
        [
            BIN / "jupyter-book",
            "build",
            str(root),
            "-W",
            "-n",
            "--keep-going",
            "--all",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = build.stdout + build.stderr
    assert build.returncode == 0, log[-4000:]
    assert "Using cached notebook" in log
    assert "Executing notebook" not in log
    html = root / "_build" / "html" / "book"
    assert pasted(html / "intro.html") == ["42.12"]
    assert pasted(html / "nb.html") == ["42.123"]
    assert pasted(html / "page.html") == ["42.1", "1"]
    assert re.search(
        r'<img [^>]*src="\.\./_images/[0-9a-f]+\.png"', (html / "nb.html").read_text()
    )


def test_failing_notebook_fails_with_traceback(tmp_path: Path):
    """A notebook that raises: exit status 1, its cell and error printed."""
    root = tiny_book(tmp_path / "book", 'x = 1\nraise ValueError("boom-4242")')
    result = run_script(root, root / "_build" / "config-book.yml")
    assert result.returncode == 1, result.stdout + result.stderr
    out = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)  # the kernel's colours
    assert "book/nb.ipynb raised" in out
    assert 'raise ValueError("boom-4242")' in out
    assert "ValueError: boom-4242" in out
    assert "1 notebook(s) failed" in out


def test_book_config(tmp_path: Path):
    """Cache mode on the given cache, local extensions absolute, MathJax local."""
    mathjax = tmp_path / "mj"
    (mathjax / "mathjax").mkdir(parents=True)
    (mathjax / "mathjax" / "tex-mml-chtml.js").write_text("//")
    cache = tmp_path / "cache"
    config = execute_book.book_config(ROOT, cache, mathjax)
    assert config["execute"]["execute_notebooks"] == "cache"
    assert config["execute"]["cache"] == str(cache.resolve())
    for path in (config["sphinx"].get("local_extensions") or {}).values():
        assert Path(path).is_absolute(), path
        assert Path(path).is_dir(), path
    settings = config["sphinx"]["config"]
    assert settings["mathjax_path"] == "mathjax/tex-mml-chtml.js"
    assert settings["html_static_path"][-1] == str(mathjax.resolve())
    # Everything else is _config.yml's.
    original = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"] == original["repository"]
    assert config["launch_buttons"] == original["launch_buttons"]
    assert settings["nb_execution_raise_on_error"] is True
    with pytest.raises(SystemExit, match="MathJax not found"):
        execute_book.book_config(ROOT, cache, tmp_path / "nowhere")


def test_cache_key_follows_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A change to lib/, pyproject.toml or DLT_SCALE starts a new cache."""
    (tmp_path / "lib" / "pkg").mkdir(parents=True)
    module = tmp_path / "lib" / "pkg" / "m.py"
    module.write_text("A = 1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    monkeypatch.setenv("DLT_SCALE", "small")
    first = execute_book.source_hash(tmp_path)
    assert execute_book.source_hash(tmp_path) == first
    module.write_text("A = 2\n")
    second = execute_book.source_hash(tmp_path)
    assert second != first
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    third = execute_book.source_hash(tmp_path)
    assert third != second
    monkeypatch.setenv("DLT_SCALE", "large")
    assert execute_book.source_hash(tmp_path) != third
