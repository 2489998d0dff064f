"""``widgets.interact`` in a real Jupyter kernel, as nbmake runs the book's notebooks.

``make test`` runs every notebook under nbmake with ``DLT_WIDGETS=check``: each
widget cell then shows the live widget, drives every control through its values and
draws the static grid too, failing the notebook if any of it fails (see
``dltheory.widgets.interact``). These tests run tiny hand-made notebooks through
nbclient, the engine nbmake uses, with ``DLT_WIDGETS`` set in the kernel's
environment: what the check sees in the kernel is what the notebook records, and the
check fails when a callback fails at one value, when a figure fails to render, and
when no widget view reaches the notebook.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from dltheory import widgets

ROOT = Path(__file__).resolve().parents[2]

SETUP = """\
import matplotlib.pyplot as plt
from dltheory import widgets

calls = []


def panel(ax, depth=1, colour="k"):
    calls.append((depth, colour))
    ax.plot([0, depth], [0, 1], color=colour)
    ax.set_title(f"depth {depth}")
"""

WIDGET_CELL = """\
widgets.interact(panel, static={"depth": [1, 2]}, depth=(1, 3, 1), colour=["k", "r"])
"""


def _run(mode, *cells):
    """Execute the cells in a fresh python3 kernel with DLT_WIDGETS=mode."""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    env = {**os.environ, "DLT_WIDGETS": mode, "OMP_NUM_THREADS": "1"}
    NotebookClient(nb, timeout=120, kernel_name="python3").execute(env=env)
    return nb


def _data(cell):
    return [o["data"] for o in cell.outputs if o.output_type == "display_data"]


def _text(cell):
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")


def test_check_mode_shows_the_widget_draws_every_value_and_the_grid():
    nb = _run("check", SETUP, WIDGET_CELL, "print(calls)")
    data = _data(nb.cells[1])
    views = [
        d[widgets.WIDGET_VIEW]["model_id"] for d in data if widgets.WIDGET_VIEW in d
    ]
    assert len(views) == 1  # the view nbclient recorded, as a front end gets it
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]
    assert views[0] in state["state"]  # ... of a widget whose state it holds
    assert sum("image/png" in d for d in data) == 1  # the static grid, as in the book
    assert "drawn at 5 control values (depth 3, colour 2)" in _text(nb.cells[1])
    # The first draw at panel's defaults (depth 1, colour 'k'), each control through
    # its values with the other at its start, the start last, then the grid.
    sweep = "(1, 'k'), (2, 'k'), (3, 'k'), (1, 'k'), (1, 'r'), (1, 'k')"
    assert _text(nb.cells[2]).strip() == f"[{sweep}, (1, 'k'), (2, 'k')]"


def test_static_mode_draws_only_the_grid():
    nb = _run("static", SETUP, WIDGET_CELL, "print(calls)")
    data = _data(nb.cells[1])
    assert [sorted(d) for d in data] == [["image/png", "text/plain"]]
    assert _text(nb.cells[2]).strip() == "[(1, 'k'), (2, 'k')]"


def test_check_mode_fails_when_the_callback_fails_at_one_value():
    fails_at_3 = SETUP + (
        "\n\ndef panel(ax, depth=1, colour='k'):\n"
        "    if depth == 3:\n"
        "        raise KeyError('nothing cached at depth 3')\n"
        "    ax.plot([0, depth], [0, 1], color=colour)\n"
    )
    with pytest.raises(CellExecutionError, match="failed at depth=3") as failure:
        _run("check", fails_at_3, WIDGET_CELL)
    assert "nothing cached at depth 3" in str(failure.value)  # the chained cause


def test_check_mode_fails_when_a_figure_fails_to_render():
    bad_title = SETUP + (
        "\n\ndef panel(ax, depth=1, colour='k'):\n"
        "    ax.plot([0, depth], [0, 1], color=colour)\n"
        "    ax.set_title(r'$\\frac{1}{$' if colour == 'r' else 'fine')\n"
    )
    with pytest.raises(CellExecutionError, match="failed at colour='r'"):
        _run("check", bad_title, WIDGET_CELL)


def test_check_mode_fails_when_no_widget_view_reaches_the_notebook():
    # A kernel that does not send widget views: the widget shows as text only.
    no_views = (
        SETUP + "\nget_ipython().display_formatter.mimebundle_formatter.enabled = False"
    )
    with pytest.raises(CellExecutionError, match="sent no widget view"):
        _run("check", no_views, WIDGET_CELL)


def _recipe(target):
    """The commands of a Makefile target, continuation lines joined."""
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    block = re.search(rf"^{target}:.*\n((?:\t.*\n?)*)", makefile, re.MULTILINE)
    assert block, f"Makefile: no target {target!r}"
    return block.group(1).splitlines()


def test_make_test_runs_the_notebooks_in_check_mode_and_make_book_does_not():
    # make test runs test-offline, which runs test-checks in a network namespace.
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:.*\btest-offline\b", makefile, re.MULTILINE)
    assert any("test-checks" in line for line in _recipe("test-offline"))
    nbmake = [line for line in _recipe("test-checks") if "--nbmake" in line]
    assert nbmake, "make test: no nbmake command"
    assert all("DLT_WIDGETS=check" in line for line in nbmake), nbmake
    assert not any("DLT_WIDGETS" in line for line in _recipe("book"))


def test_notebooks_make_widgets_only_through_dltheory():
    # A direct ipywidgets.interact would have neither the static fallback nor the
    # check: nothing would run it in CI.
    tracked = subprocess.run(
        ["git", "ls-files", "book/*.ipynb"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    direct = re.compile(
        r"\bipywidgets\.(interact|interactive|interact_manual|interactive_output)\b"
        r"|from ipywidgets import [^\n]*\binteract"
    )
    offenders = [
        path
        for path in tracked
        for cell in json.loads((ROOT / path).read_text())["cells"]
        if cell["cell_type"] == "code" and direct.search("".join(cell["source"]))
    ]
    assert not offenders, offenders
