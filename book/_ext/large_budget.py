"""The large-budget runs of the notebooks, rendered in the chapter pages.

``tools/large_budget.py`` runs notebooks at ``DLT_SCALE=large`` (on a GPU, see
``tools/gpu_session.sh``) and records, in ``book/large_budget.json``, each notebook's
status, wall time, device, date, commit and every figure it glued (its docstring
describes the file). The book itself is built at the small budget on a CPU; this
extension shows those records next to the build's own figures:

- the role ``{large-budget}`/book/05_guillotine/2_augmentation_strength.ipynb``` (the
  notebook's path from the book's root, as in the glue roles) renders that notebook's
  large-budget runtime: "8.4 min, NVIDIA H100 80GB HBM3, 4 at a time (2026-12-09,
  a1b2c3d)", "did not finish in 10 min (...)", "failed: <error> (...)", or "not
  measured yet: ..." where no run is recorded (:func:`runtime_text`);
- the directive ``{large-budget-figures} CC`` renders, for chapter ``CC``, the figures
  that the chapter's ``index.md`` and ``claims.yml`` paste from its notebooks with
  ``{glue:text}`` (the runtime ``wall-time-s`` aside), side by side: this build's value
  (the glue role itself, so the executed value in ``make book`` and ``[not run]`` in
  the no-execution check) and the large-budget run's, formatted with the same spec
  (:func:`figures_text`). Without any recorded run of the chapter it renders one
  sentence saying so and giving the command.

The functions are pure (``tests/test_large_budget.py`` imports them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective, SphinxRole

RESULTS_FILE = "large_budget.json"  # under book/
SCHEMA = 1
NOT_MEASURED = (
    "not measured yet: no GPU run recorded (run `python tools/large_budget.py`, or the "
    "notebook with `DLT_SCALE=large`)"
)
GLUE_ROLE = re.compile(r"\{glue:text\}`(?P<body>[^`]*)`")
NOTEBOOK_PATH = re.compile(r"/(?P<path>book/[^\s`:]+\.ipynb)")
RUNTIME_KEY = "wall-time-s"  # the runtime, shown by the role, not in the figures
PLACEHOLDER = "—"
_ESCAPE = re.compile(r"([\\`*_{}\[\]()#+!|<>$~^&])")


def load_runs(book: Path) -> dict[str, dict]:
    """The ``runs`` of ``book/large_budget.json`` by notebook path; {} without it.

    Raises:
        ValueError: If the file is of another schema version or has no ``runs``.
    """
    path = book / RESULTS_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: expected schema {SCHEMA}, got {data!r:.80}")
    runs = data.get("runs")
    if not isinstance(runs, dict):
        raise ValueError(f"{path}: expected 'runs' to be an object, got {runs!r:.80}")
    return runs


def notebook_of(text: str) -> str:
    """``book/CC_x/nb.ipynb`` from a role's text ``/book/CC_x/nb.ipynb``.

    Raises:
        ValueError: If ``text`` is not a notebook path from the root.
    """
    m = NOTEBOOK_PATH.fullmatch(text.strip())
    if not m:
        raise ValueError(
            "large-budget: expected a notebook path from the book's root, such as "
            f"/book/05_guillotine/2_augmentation_strength.ipynb, got {text!r}"
        )
    return m["path"]


def duration_text(seconds: float) -> str:
    """``"45 s"`` under a minute, ``"8.4 min"`` (``"10 min"``) from a minute on."""
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f}".removesuffix(".0") + " min"


def _jobs_text(entry: dict) -> str:
    jobs = entry.get("jobs", 1)
    return "one at a time" if jobs == 1 else f"{jobs} at a time"


def _when(entry: dict) -> str:
    """``"2026-12-09, a1b2c3d"``: the day (UTC) and the commit of a run."""
    return f"{str(entry.get('date', '?'))[:10]}, {entry.get('commit', 'unknown')}"


def runtime_text(entry: dict | None) -> str:
    """What the role shows for one notebook's record (``None``: no record).

    Text with code spans in backticks (:func:`inline_nodes` renders them).
    """
    if entry is None:
        return NOT_MEASURED
    device = entry.get("device", "unknown device")
    scale = "" if entry.get("scale", "large") == "large" else ", small budget"
    status = entry.get("status")
    if status == "ok":
        return (
            f"{duration_text(entry['wall_s'])}, {device}, {_jobs_text(entry)}"
            f"{scale} ({_when(entry)})"
        )
    if status == "timeout":
        if entry.get("stopped") == "deadline":
            return (
                f"unfinished: stopped after {duration_text(entry['wall_s'])} at the "
                f"end of the GPU session ({device}, {_jobs_text(entry)}{scale}, "
                f"{_when(entry)})"
            )
        limit = entry.get("limit_s") or entry["wall_s"]
        return (
            f"did not finish in {duration_text(limit)} ({device}, {_jobs_text(entry)}"
            f"{scale}, {_when(entry)})"
        )
    error = " ".join(str(entry.get("error") or "unknown error").split())
    return f"failed: {error} ({device}{scale}, {_when(entry)})"


def inline_nodes(text: str) -> list[nodes.Node]:
    """``text`` as docutils nodes: backtick spans as literals, the rest as text."""
    parts = text.split("`")
    found: list[nodes.Node] = []
    for i, part in enumerate(parts):
        if not part:
            continue
        found.append(nodes.literal(part, part) if i % 2 else nodes.Text(part))
    return found


def pasted_figures(book: Path, chapter: str) -> list[tuple[str, str, str]]:
    """The figures chapter ``chapter``'s pages paste from its own notebooks.

    Reads ``book/CC_*/index.md`` then ``book/CC_*/claims.yml`` for ``{glue:text}``
    roles; each (notebook, key) once, in the order of first use, the runtime key
    (``wall-time-s``) aside.

    Returns:
        ``(notebook path from the root, key, format spec)`` tuples; the path as in
        the role, ``/book/CC_x/nb.ipynb``.
    """
    folders = sorted(book.glob(f"{chapter}_*"))
    if not folders:
        return []
    folder = folders[0]
    prefix = f"/book/{folder.name}/"
    seen: dict[tuple[str, str], str] = {}
    for name in ("index.md", "claims.yml"):
        path = folder / name
        if not path.exists():
            continue
        for m in GLUE_ROLE.finditer(path.read_text(encoding="utf-8")):
            notebook, _, rest = m["body"].partition("::")
            key, _, spec = rest.partition(":")
            if not notebook.startswith(prefix) or key == RUNTIME_KEY:
                continue
            seen.setdefault((notebook, key), spec)
    return [(nb, key, spec) for (nb, key), spec in seen.items()]


def formatted(text: str, spec: str) -> str:
    """A recorded ``text/plain`` formatted as the ``{glue:text}`` role does it.

    Numbers with ``format(float(text), spec)`` (``int`` for ``d``); ``:s`` the
    string without its quotes. A value the spec does not fit is shown as recorded.
    """
    from ast import literal_eval

    try:
        value = literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if not spec:
        return str(value)
    kind = spec[-1]
    try:
        if kind == "s":
            value = str(value)
        elif kind in "bcdoxX":
            value = int(value)
        elif kind in "eEfFgGn%":
            value = float(value)
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def _escape(text: str) -> str:
    """``text`` as literal MyST inside a table cell."""
    return _ESCAPE.sub(r"\\\1", text)


def _header(runs: list[dict]) -> str:
    """The large-budget column's title: the device and day when all runs share them."""
    where = {(e.get("device", "?"), str(e.get("date", "?"))[:10]) for e in runs}
    if len(where) == 1:
        device, day = where.pop()
        return f"large budget ({_escape(device)}, {day})"
    return "large budget (device, date: see the runtimes)"


def _short_status(entry: dict | None) -> str:
    if entry is None:
        return "not run"
    if entry.get("status") == "timeout":
        return "not run: did not finish (see the runtimes)"
    return "not run: failed (see the runtimes)"


def figures_text(
    chapter: str, figures: list[tuple[str, str, str]], runs: dict[str, dict]
) -> str:
    """The MyST text of ``{large-budget-figures} CC``: a table, or one sentence.

    Args:
        chapter: The two-digit chapter number.
        figures: :func:`pasted_figures` of the chapter.
        runs: :func:`load_runs`.

    Returns:
        A table "notebook | figure (glue key) | this build, small budget | large
        budget (device, date)" with one row per figure of a notebook recorded
        ``ok`` and one row per other notebook; the sentence if no notebook of the
        chapter has a record.
    """
    notebooks = sorted({nb for nb, _, _ in figures})  # the notebooks' order
    recorded = [runs[nb[1:]] for nb in notebooks if nb[1:] in runs]
    if not recorded:
        return (
            "No large-budget run of this chapter's notebooks is recorded yet: the "
            "book is built on CPU-only machines. On a GPU, "
            f"`python tools/large_budget.py --chapters {chapter}` runs them at "
            "`DLT_SCALE=large` and records their figures in `book/large_budget.json`; "
            "this section then shows them beside this build's."
        )
    ok = [e for e in recorded if e.get("status") == "ok"]
    rows = [
        f"| notebook | figure (glue key) | this build, small budget | "
        f"{_header(ok or recorded)} |",
        "|---|---|---|---|",
    ]
    for nb in notebooks:
        doc = f"{{doc}}`{nb.removesuffix('.ipynb')}`"
        entry = runs.get(nb[1:])
        keys = [(key, spec) for n, key, spec in figures if n == nb]
        if entry is None or entry.get("status") != "ok":
            count = "its figure" if len(keys) == 1 else f"its {len(keys)} figures"
            rows.append(f"| {doc} | {count} | {PLACEHOLDER} | {_short_status(entry)} |")
            continue
        glue = entry.get("glue") or {}
        for i, (key, spec) in enumerate(keys):
            small = f"{{glue:text}}`{nb}::{key}:{spec}`" if spec else PLACEHOLDER
            large = (
                _escape(formatted(glue[key], spec)) if key in glue else "not recorded"
            )
            rows.append(f"| {doc if i == 0 else ''} | `{key}` | {small} | {large} |")
    return "\n".join(rows)


class LargeBudgetRole(SphinxRole):
    """``{large-budget}`/book/CC_x/nb.ipynb```: the notebook's large-budget runtime."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        try:
            notebook = notebook_of(self.text)
        except ValueError as error:
            msg = self.inliner.reporter.error(str(error), line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        book = Path(self.env.srcdir) / "book"
        if not (book.parent / notebook).is_file():
            msg = self.inliner.reporter.error(
                f"large-budget: no notebook {notebook} in the book", line=self.lineno
            )
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        self.env.note_dependency(str(book / RESULTS_FILE))
        try:
            runs = load_runs(book)
        except ValueError as error:
            msg = self.inliner.reporter.error(str(error), line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        text = runtime_text(runs.get(notebook))
        node = nodes.inline(self.rawtext, "", classes=["large-budget"])
        node.extend(inline_nodes(text))
        return [node], []


class LargeBudgetFigures(SphinxDirective):
    """``{large-budget-figures} CC``: chapter CC's figures, small and large budget."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        chapter = self.arguments[0]
        book = Path(self.env.srcdir) / "book"
        if not re.fullmatch(r"\d{2}", chapter) or not list(book.glob(f"{chapter}_*")):
            raise self.error(
                f"large-budget-figures: expected a chapter number such as 05, "
                f"got {chapter!r}"
            )
        for path in [book / RESULTS_FILE, *book.glob(f"{chapter}_*/claims.yml")]:
            self.env.note_dependency(str(path))
        try:
            runs = load_runs(book)
        except ValueError as error:
            raise self.error(str(error)) from error
        text = figures_text(chapter, pasted_figures(book, chapter), runs)
        container = nodes.container(classes=["large-budget-figures"])
        self.state.nested_parse(
            StringList(text.splitlines(), source=self.get_source_info()[0]),
            self.content_offset,
            container,
        )
        return [container]


def setup(app):
    """Register the role and the directive."""
    app.add_role("large-budget", LargeBudgetRole())
    app.add_directive("large-budget-figures", LargeBudgetFigures)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
