"""dltheory.student: solution-free copies of notebooks.

Known answers on small hand-made notebooks (both solution forms, fences, seams
between blocks), error paths, the command line, and every notebook of the book: no
solution directive left, every exercise kept, the code cells outside solutions kept
in order (found by an independent cell-level reading), and no kept cell reading a
name that only a removed solution defines.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

import nbformat
import pytest

from dltheory import student

ROOT = Path(__file__).resolve().parents[2]
BOOK_NOTEBOOKS = sorted((ROOT / "book").glob("[0-9][0-9]_*/*.ipynb"))

SOLUTION = re.compile(r"\{solution(-start|-end)?\}")
EXERCISE_LABEL = re.compile(r"^[`:]{3,}\{exercise\}[^\n]*\n:label: (\S+)", re.M)


def md(text, as_list=False):
    return {
        "cell_type": "markdown",
        "id": f"md{abs(hash(text)) % 10**6}",
        "metadata": {},
        "source": text.splitlines(keepends=True) if as_list else text,
    }


def code(text, outputs=()):
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"code{abs(hash(text)) % 10**6}",
        "metadata": {"tags": ["keep"]},
        "outputs": list(outputs),
        "source": text,
    }


def notebook(*cells):
    return {
        "cells": list(cells),
        "metadata": {"kernelspec": {"name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def texts(nb):
    return [(c["cell_type"], student._source(c, i)) for i, c in enumerate(nb["cells"])]


EX1 = "```{exercise}\n:label: ex-1\n\nQuestion one?\n```"
EX2 = "```{exercise}\n:label: ex-2\n\nQuestion two?\n```"
START1 = "```{solution-start} ex-1\n:class: dropdown\n```"
END = "```{solution-end}\n```"


# --- Known answers ------------------------------------------------------------------


def test_a_gated_solution_is_removed_across_cells():
    nb = notebook(
        md("## Exercises\n\n" + EX1),
        md(START1 + "\nFirst the idea."),
        code("answer = 42\nprint(answer)", outputs=[{"output_type": "stream"}]),
        md("So it is 42.\n\n" + END),
        code("print('after')"),
    )
    assert texts(student.without_solutions(nb)) == [
        ("markdown", "## Exercises\n\n" + EX1),
        ("code", "print('after')"),
    ]


def test_a_solution_directive_is_removed_from_its_cell_only():
    text = (
        "Intro.\n\n" + EX1 + "\n\n```{solution} ex-1\n:class: dropdown\n\n"
        "The answer.\n```\n\n" + EX2 + "\n\nOutro."
    )
    (cell,) = student.without_solutions(notebook(md(text)))["cells"]
    assert cell["source"] == "Intro.\n\n" + EX1 + "\n\n" + EX2 + "\n\nOutro."


def test_a_cell_that_closes_one_solution_and_opens_the_next_keeps_the_exercise():
    nb = notebook(
        md(EX1 + "\n\n" + START1),
        md("Answer one."),
        md(END + "\n\n" + EX2 + "\n\n```{solution-start} ex-2\n:class: dropdown\n```"),
        code("x = 2"),
        md("Answer two.\n\n" + END + "\n\n## At paper scale\n\nRun it large."),
    )
    assert texts(student.without_solutions(nb)) == [
        ("markdown", EX1),
        ("markdown", EX2),
        ("markdown", "## At paper scale\n\nRun it large."),
    ]


def test_fences_inside_a_solution_and_other_fences_are_read_as_myst_does():
    # A code block inside a {solution} (a longer outer fence) goes with it; a
    # directive written inside a kept code block is text, and stays.
    solution = "````{solution} ex-1\n```python\nx = 1\n```\nText.\n````"
    kept_block = "```text\n```{solution} not-a-directive\n```"
    text = EX1 + "\n\n" + solution + "\n\n" + kept_block
    (cell,) = student.without_solutions(notebook(md(text)))["cells"]
    assert cell["source"] == EX1 + "\n\n" + kept_block


def test_colon_fences_are_solutions_too():
    text = EX1 + "\n\n:::{solution} ex-1\nThe answer.\n:::\n\nAfter."
    (cell,) = student.without_solutions(notebook(md(text)))["cells"]
    assert cell["source"] == EX1 + "\n\nAfter."


def test_cells_outside_solutions_are_copied_unchanged_and_the_input_is_not_modified():
    nb = notebook(
        code("import x", outputs=[{"output_type": "stream", "text": "hi"}]),
        md(EX1 + "\n\n```{solution} ex-1\nA.\n```", as_list=True),
        md("Untouched\ntext.", as_list=True),
    )
    nb["metadata"]["language_info"] = {"name": "python"}
    before = copy.deepcopy(nb)
    out = student.without_solutions(nb)
    assert nb == before
    assert out["cells"][0] == nb["cells"][0]
    assert out["cells"][0] is not nb["cells"][0]
    assert out["cells"][2] == nb["cells"][2]
    # A changed cell keeps its id, metadata and the list form of its source.
    assert out["cells"][1]["id"] == nb["cells"][1]["id"]
    assert out["cells"][1]["source"] == EX1.splitlines(keepends=True)
    assert {k: v for k, v in out.items() if k != "cells"} == {
        k: v for k, v in nb.items() if k != "cells"
    }


def test_a_notebook_without_solutions_comes_back_equal():
    nb = notebook(md("# Title"), code("x = 1"), md(EX1))
    assert student.without_solutions(nb) == nb


# --- Error paths ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "match"),
    [
        (
            [md(EX1), md(START1), code("x = 1")],
            r"cell 1: \{solution-start\} ex-1 has no",
        ),
        ([md(EX1), md(END)], r"cell 1: \{solution-end\} without a \{solution-start\}"),
        ([md(START1), md(START1), md(END)], r"cell 1: \{solution-start\} ex-1 inside"),
        ([md(START1), md("```{solution} ex-1\nA\n```"), md(END)], r"cell 1: \{soluti"),
        ([md("```{solution} ex-1\nA is never closed")], "never closed"),
    ],
    ids=["unmatched-start", "end-without-start", "nested-start", "nested", "unclosed"],
)
def test_malformed_solutions_raise_value_error(cells, match):
    with pytest.raises(ValueError, match=match):
        student.without_solutions(notebook(*cells))


@pytest.mark.parametrize(
    ("nb", "error", "match"),
    [
        ([md(EX1)], TypeError, "notebook: expected a dict"),
        ({"nbformat": 4, "cells": {"0": md(EX1)}}, TypeError, r"expected a list"),
        ({"nbformat": 3, "worksheets": []}, ValueError, "expected nbformat 4, got"),
        (notebook("not a cell"), TypeError, "cell 0: expected a dict, got str"),
        (notebook({"cell_type": "code", "source": 3}), TypeError, "cell 0: source"),
    ],
    ids=["not-a-dict", "cells-not-a-list", "nbformat-3", "cell-not-a-dict", "source"],
)
def test_malformed_notebooks_raise_with_a_message(nb, error, match):
    with pytest.raises(error, match=match):
        student.without_solutions(nb)


# --- Command line ---------------------------------------------------------------------


def test_the_command_line_writes_one_copy_per_notebook(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    nb = notebook(md(EX1), md(START1), code("x = 1"), md(END), code("y = 2"))
    (src / "1_topic.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    out = tmp_path / "out" / "05_chapter"
    assert student.main([str(src / "1_topic.ipynb"), "-o", str(out)]) == 0
    written = json.loads((out / "1_topic.ipynb").read_text(encoding="utf-8"))
    assert written == student.without_solutions(nb)
    assert "2 of 5 cells kept" in capsys.readouterr().out


def test_the_command_line_refuses_bad_input_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps(notebook(md(START1))), encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        student.main([str(bad), "-o", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "bad.ipynb: cell 0: {solution-start} ex-1 has no" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written when one input fails
    with pytest.raises(SystemExit):
        student.main([str(bad), "-o", str(tmp_path)])  # would overwrite the input
    assert "the output folder is the notebook's own folder" in capsys.readouterr().err


# --- Every notebook of the book -------------------------------------------------------


def _code_outside_solutions(nb: dict) -> list[str]:
    """The code cells outside gated solutions, read cell by cell (independently of
    the module): after a markdown cell, the gate is open if its last solution-start
    or solution-end marker is a solution-start."""
    inside, kept = False, []
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            markers = re.findall(r"\{solution-(start|end)\}", text)
            if markers:
                inside = markers[-1] == "start"
        elif cell["cell_type"] == "code" and not inside:
            kept.append(text)
    return kept


def _names(sources: list[str]) -> tuple[set[str], set[str]]:
    """Names bound and names read by some code cells (IPython magics skipped)."""
    bound, read = set(), set()
    for source in sources:
        lines = [
            ln[: len(ln) - len(ln.lstrip())] + "pass"
            if ln.lstrip().startswith(("%", "!"))
            else ln
            for ln in source.splitlines()
        ]
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Name):
                (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                bound.add(node.name)
            elif isinstance(node, ast.alias):
                bound.add((node.asname or node.name).split(".")[0])
    return bound, read


def _headings(nb: dict) -> list[str]:
    lines = [
        line
        for cell in nb["cells"]
        if cell["cell_type"] == "markdown"
        for line in "".join(cell["source"]).splitlines()
    ]
    return [line for line in lines if re.match(r"#{1,3} ", line)]


@pytest.mark.parametrize(
    "path", BOOK_NOTEBOOKS, ids=[p.relative_to(ROOT).as_posix() for p in BOOK_NOTEBOOKS]
)
def test_every_notebook_of_the_book_has_a_student_copy(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = student.without_solutions(nb)
    nbformat.validate(nbformat.from_dict(out))
    before = "\n".join("".join(c["source"]) for c in nb["cells"])
    after = "\n".join("".join(c["source"]) for c in out["cells"])
    assert SOLUTION.search(before), "the notebook has no solution: test input changed?"
    assert not SOLUTION.search(after), "a solution directive is left"
    labels = EXERCISE_LABEL.findall(before)
    assert labels, "no exercise found"
    assert EXERCISE_LABEL.findall(after) == labels, "exercises lost or reordered"
    assert _headings(out) == _headings(nb), "a section heading was lost"
    kept_code = ["".join(c["source"]) for c in out["cells"] if c["cell_type"] == "code"]
    assert kept_code == _code_outside_solutions(nb)
    removed_code = [
        "".join(c["source"])
        for c in nb["cells"]
        if c["cell_type"] == "code" and "".join(c["source"]) not in kept_code
    ]
    only_in_solutions = _names(removed_code)[0] - _names(kept_code)[0]
    needed = only_in_solutions & _names(kept_code)[1]
    assert not needed, (
        f"kept cells read names only a removed solution defines: {needed}"
    )
