"""Student copies of the book's notebooks: the exercises kept, their solutions removed.

A teaching tool, not a chapter's idea: the book's notebooks (book/teaching.md) hold
their exercises as sphinx-exercise blocks, with the solutions written in one of two
forms (STYLE.md 8.6):

- a ``{solution}`` directive inside a markdown cell, removed from its opening fence
  to its closing fence (text before and after it in the cell is kept);
- a gated solution, from a ``{solution-start}`` directive to the next
  ``{solution-end}`` directive, across cells: the markdown between them and every
  code or raw cell between them is removed (a markdown cell that still has text
  outside the gate, such as the next exercise, keeps that text).

Directives are fenced with three or more backticks or colons; any other fenced block
(code, math, an exercise) is kept as it is, and is opaque: a directive written inside
it is text, as in MyST. Everything else in the notebook (cells outside solutions,
their ids, metadata and outputs) is copied unchanged.

Standard library only, so that ``python -m dltheory.student`` runs without PyTorch::

    python -m dltheory.student book/05_guillotine/*.ipynb -o handout/05_guillotine

writes a solution-free copy of each notebook into the output folder, under its own
file name (``make student`` does this for every chapter, into ``_build/student/``).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "without_solutions"]

# An opening fence of MyST: up to 3 spaces, 3+ backticks or colons, then an info
# string; a directive's info string is {name} followed by its argument.
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|:{3,})\s*(?P<info>[^\n]*?)\s*$")
_DIRECTIVE = re.compile(r"^\{(?P<name>[\w.:-]+)\}\s*(?P<argument>.*)$")
_SOLUTION_DIRECTIVES = ("solution", "solution-start", "solution-end")


def without_solutions(notebook: dict) -> dict:
    """Return a copy of a notebook without the solutions of its exercises.

    Removes every ``{solution}`` block from the markdown cells, and everything from a
    ``{solution-start}`` directive through its ``{solution-end}`` directive (the
    markdown between them and the code and raw cells in between). A cell left with
    no text is dropped; the exercises and every other cell are kept in order, with
    their ids, metadata and outputs. The input is not modified.

    Args:
        notebook: A notebook in nbformat 4, as parsed by ``json.load`` (a dict with
            a ``cells`` list whose cells have a ``cell_type`` and a ``source``, a
            string or a list of strings).

    Returns:
        A new notebook dict. A changed markdown cell keeps the form of its source (a
        list of lines or one string).

    Raises:
        TypeError: If ``notebook`` is not a dict, its ``cells`` not a list, a cell not
            a dict, or a source neither a string nor a list of strings.
        ValueError: If the notebook is not nbformat 4, or its solutions are not
            well formed: a ``{solution-start}`` without a ``{solution-end}`` after it,
            a ``{solution-end}`` without a ``{solution-start}`` before it, a solution
            directive inside a gated solution, or a solution fence that is never
            closed. The message names the cell (0-based index) and the label.
    """
    if not isinstance(notebook, dict):
        raise TypeError(
            "notebook: expected a dict (a parsed .ipynb), got "
            f"{type(notebook).__name__}"
        )
    nbformat = notebook.get("nbformat", 4)
    if nbformat != 4:
        raise ValueError(f"notebook: expected nbformat 4, got nbformat {nbformat!r}")
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise TypeError(
            f"notebook['cells']: expected a list of cells, got {type(cells).__name__}"
        )

    gate: tuple[int, str] | None = None  # (cell, label) of the open solution-start
    kept = []
    for index, cell in enumerate(cells):
        source = _source(cell, index)
        if cell.get("cell_type") != "markdown":
            if gate is None:
                kept.append(copy.deepcopy(cell))
            continue
        text, gate = _strip_markdown(source, index, gate)
        if text == source:
            kept.append(copy.deepcopy(cell))
        elif text.strip():
            new = copy.deepcopy(cell)
            new["source"] = (
                text.splitlines(keepends=True)
                if isinstance(cell["source"], list)
                else text
            )
            kept.append(new)
    if gate is not None:
        start, label = gate
        raise ValueError(
            f"cell {start}: {{solution-start}} {label} has no {{solution-end}} "
            "after it (the notebook ends inside the solution)"
        )
    student = {key: copy.deepcopy(value) for key, value in notebook.items()}
    student["cells"] = kept
    return student


def _source(cell: object, index: int) -> str:
    """The source of a cell as one string, checking the cell's form."""
    if not isinstance(cell, dict):
        raise TypeError(f"cell {index}: expected a dict, got {type(cell).__name__}")
    source = cell.get("source", "")
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    raise TypeError(
        f"cell {index}: source expected a string or a list of strings, got "
        f"{type(source).__name__}"
    )


def _strip_markdown(
    text: str, index: int, gate: tuple[int, str] | None
) -> tuple[str, tuple[int, str] | None]:
    """Remove solutions from one markdown cell; ``gate`` is open on entry if set.

    Returns the kept text (``text`` itself when nothing was removed) and the gate
    state after the cell.
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    removed = seam = False
    i = 0
    while i < len(lines):
        line = lines[i]
        opening = _FENCE.match(line)
        if opening is None:
            if gate is None and not (seam and not line.strip()):
                out.append(line)
                seam = False
            i += 1
            continue
        end = _closing_fence(lines, i, opening["fence"])
        directive = _DIRECTIVE.match(opening["info"])
        name = directive["name"] if directive else None
        label = directive["argument"].strip() if directive else ""
        if name in _SOLUTION_DIRECTIVES:
            if end is None:
                raise ValueError(
                    f"cell {index}: the fence of {{{name}}} {label} is never closed "
                    f"(expected a line of {opening['fence']})"
                )
            if name == "solution-start":
                if gate is not None:
                    raise ValueError(
                        f"cell {index}: {{solution-start}} {label} inside the "
                        f"solution {gate[1]} opened in cell {gate[0]}; close that "
                        "one with {solution-end} first"
                    )
                gate = (index, label)
            elif name == "solution-end":
                if gate is None:
                    raise ValueError(
                        f"cell {index}: {{solution-end}} without a {{solution-start}} "
                        "before it"
                    )
                gate = None
            elif gate is not None:
                raise ValueError(
                    f"cell {index}: {{solution}} {label} inside the solution "
                    f"{gate[1]} opened in cell {gate[0]}"
                )
            removed = True
            # Drop the blank line after the block if one already precedes it.
            seam = not out or not out[-1].strip()
        elif gate is None:
            out.extend(lines[i : len(lines) if end is None else end + 1])
            seam = False
        i = len(lines) if end is None else end + 1
    if not removed and gate is None:
        return text, gate
    return "".join(out).strip("\n"), gate


def _closing_fence(lines: list[str], start: int, fence: str) -> int | None:
    """Index of the line closing the fence opened at ``start``, or None."""
    closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    for j in range(start + 1, len(lines)):
        if closing.match(lines[j]):
            return j
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Write a solution-free copy of each notebook given (``python -m`` entry point).

    Args:
        argv: The command-line arguments without the program name: one or more
            ``.ipynb`` paths, then ``-o OUTDIR``. Defaults to ``sys.argv[1:]``.

    Returns:
        0 on success. A bad argument, an unreadable notebook or a malformed solution
        exits with status 2 and a message naming the file.
    """
    parser = argparse.ArgumentParser(
        prog="python -m dltheory.student",
        description="Copy notebooks without the solutions of their exercises.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, help="the .ipynb files")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="folder for the copies (created if missing; never an input's folder)",
    )
    args = parser.parse_args(argv)
    out_dir = args.output
    names = [path.name for path in args.notebooks]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        parser.error(f"two notebooks would be written to one file: {twice}")
    for path in args.notebooks:
        if path.suffix != ".ipynb":
            parser.error(f"{path}: expected a .ipynb file")
        if out_dir.resolve() == path.parent.resolve():
            parser.error(f"{path}: the output folder is the notebook's own folder")
    copies = []
    for path in args.notebooks:
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
            copies.append((path, len(notebook["cells"]), without_solutions(notebook)))
        except (OSError, ValueError, TypeError) as error:
            parser.error(f"{path}: {error}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, n_cells, student in copies:
        target = out_dir / path.name
        # Jupyter's own layout: indent 1, sorted keys, UTF-8.
        text = json.dumps(student, indent=1, sort_keys=True, ensure_ascii=False)
        target.write_text(text + "\n", encoding="utf-8")
        print(f"{target}: {len(student['cells'])} of {n_cells} cells kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
