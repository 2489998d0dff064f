"""tools/large_budget.py and book/_ext/large_budget.py: the large-budget runs.

The tool runs on tiny notebooks in a temporary book (a ``_toc.yml`` and
``book/00_tiny/``): one that glues and finishes, one that raises, two that sleep past
their time; CPU only, no network (the kernels talk over localhost). The rendering
functions are pure and tested on a sample of records. The book's own files: every
``{large-budget}`` role names a notebook of the toc, chapters 00-05 show the column and
the figures section, and the committed ``book/large_budget.json`` is well formed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up here
    spec.loader.exec_module(module)
    return module


tool = _module("large_budget_tool", ROOT / "tools" / "large_budget.py")
ext = _module("large_budget_ext", BOOK / "_ext" / "large_budget.py")

TOC = """\
format: jb-book
root: book/intro
parts:
  - caption: Tiny
    chapters:
      - file: book/00_tiny/index
        sections:
          - file: book/00_tiny/1_sleeps
          - file: book/00_tiny/2_sleeps
          - file: book/00_tiny/3_ok
          - file: book/00_tiny/4_fails
      - file: book/06_other/1_other
"""
SLEEPS = (
    "import os, pathlib, time\n"
    "pathlib.Path(f'kernel-{os.getpid()}.pid').write_text('')\n"
    "time.sleep(300)"
)
NOTEBOOKS = {
    "00_tiny/1_sleeps": SLEEPS,
    "00_tiny/2_sleeps": SLEEPS,
    "00_tiny/3_ok": (
        "import os, pathlib\n"
        "from dltheory import runtime\n"
        "runtime.glue('accuracy', 0.875)\n"
        "runtime.glue('label', 'a / b')\n"
        "runtime.glue('scale', runtime.scale())\n"
        "runtime.glue('threads', int(os.environ['OMP_NUM_THREADS']))\n"
        "pathlib.Path('cwd.txt').write_text('the notebook folder')"
    ),
    "00_tiny/4_fails": "raise RuntimeError('mnist: the dataset is not in /nowhere')",
    "06_other/1_other": "print('chapter 06')",
}
OK, FAILS = "book/00_tiny/3_ok.ipynb", "book/00_tiny/4_fails.ipynb"
SLEEPERS = ("book/00_tiny/1_sleeps.ipynb", "book/00_tiny/2_sleeps.ipynb")
OTHER = "book/06_other/1_other.ipynb"


@pytest.fixture
def tiny_book(tmp_path: Path) -> Path:
    """A book root with _toc.yml and the tiny notebooks (not a git checkout)."""
    (tmp_path / "_toc.yml").write_text(TOC, encoding="utf-8")
    for name, code in NOTEBOOKS.items():
        path = tmp_path / "book" / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        nb.cells = [nbformat.v4.new_code_cell(code)]
        nbformat.write(nb, path)
    return tmp_path


def _results(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))["runs"]


def _alive(pid: int) -> bool:
    psutil = pytest.importorskip("psutil")
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- the tool ----------------------------------------------------------------------


def test_toc_order_chapters_and_filters(tiny_book):
    notebooks = tool.toc_notebooks(tiny_book)
    assert notebooks == [*SLEEPERS, OK, FAILS, OTHER]
    todo, skipped = tool.plan(
        notebooks, {}, chapters=["00"], only=None, skip_done=False, scale="large"
    )
    assert todo == [*SLEEPERS, OK, FAILS]
    assert skipped == []
    todo, _ = tool.plan(
        notebooks, {}, chapters=["00", "06"], only=["*_sleeps*", "_ok"], **_no_skip()
    )
    assert todo == [*SLEEPERS, OK]


def _no_skip() -> dict:
    return {"skip_done": False, "scale": "large"}


def test_plan_skips_ok_runs_and_runs_past_the_limit_at_the_same_scale(tiny_book):
    runs = {
        SLEEPERS[0]: {"status": "ok", "scale": "large"},
        SLEEPERS[1]: {"status": "ok", "scale": "small"},  # other scale: run again
        OK: {"status": "timeout", "stopped": "deadline", "scale": "large"},  # again
        FAILS: {"status": "error", "scale": "large"},
    }
    kwargs = dict(chapters=["00"], only=None, skip_done=True, scale="large")
    notebooks = tool.toc_notebooks(tiny_book)
    todo, skipped = tool.plan(notebooks, runs, **kwargs, timeout_s=600)
    assert skipped == [SLEEPERS[0]]
    assert todo == [SLEEPERS[1], OK, FAILS]
    # Past its own limit of 600 s: skipped under a limit of 600 s, run under 900 s.
    runs[OK] = {"status": "timeout", "stopped": "timeout", "limit_s": 600.0}
    runs[OK]["scale"] = "large"
    assert tool.plan(notebooks, runs, **kwargs, timeout_s=600)[1] == [SLEEPERS[0], OK]
    assert tool.plan(notebooks, runs, **kwargs, timeout_s=900)[1] == [SLEEPERS[0]]
    # Stopped by a session's deadline after 250 s: skipped by a run of 250 s or
    # less in all, run again by a longer one.
    runs[OK] = {"status": "timeout", "stopped": "deadline", "limit_s": 250.0}
    runs[OK]["scale"] = "large"
    assert OK in tool.plan(notebooks, runs, **kwargs, deadline_s=240)[1]
    assert OK in tool.plan(notebooks, runs, **kwargs, deadline_s=500)[0]
    # A failure is run again at another commit only.
    runs[FAILS]["commit"] = "abc1234"
    assert FAILS in tool.plan(notebooks, runs, **kwargs, commit="abc1234")[1]
    assert FAILS in tool.plan(notebooks, runs, **kwargs, commit="def5678")[0]


def test_plan_runs_the_notebooks_never_recorded_first(tiny_book):
    runs = {SLEEPERS[0]: {"status": "timeout", "stopped": "deadline", "limit_s": 9.0}}
    runs[SLEEPERS[0]]["scale"] = "large"
    todo, _ = tool.plan(
        tool.toc_notebooks(tiny_book),
        runs,
        chapters=["00"],
        only=None,
        skip_done=True,
        scale="large",
        deadline_s=100,
    )
    assert todo == [SLEEPERS[1], OK, FAILS, SLEEPERS[0]]


def test_ok_and_error_are_recorded_with_glue_values_and_message(tiny_book, tmp_path):
    results = tmp_path / "out" / "results.json"
    executed = tmp_path / "executed"
    status = tool.main(
        ["--root", str(tiny_book), "--results", str(results), "--scale", "small"]
        + ["--only", "3_ok", "--only", "4_fails", "--jobs", "2", "--timeout-s", "120"]
        + ["--executed-dir", str(executed), "--force-glue-shim"]
    )
    assert status == 1  # a notebook failed
    runs = _results(results)
    assert sorted(runs) == [OK, FAILS]
    ok, failed = runs[OK], runs[FAILS]
    assert ok["status"] == "ok"
    assert ok["error"] is None
    # myst-nb's text/plain (the glue stand-in writes the same): strings quoted.
    threads = str(max(1, tool.cores() // 2))
    assert ok["glue"] == {
        "accuracy": "0.875",
        "label": "'a / b'",
        "scale": "'small'",
        "threads": threads,
    }
    assert (tiny_book / "book" / "00_tiny" / "cwd.txt").is_file()  # cwd: its folder
    assert failed["status"] == "error"
    assert failed["error"] == "RuntimeError: mnist: the dataset is not in /nowhere"
    for entry in runs.values():
        assert entry["scale"] == "small"
        assert entry["jobs"] == 2
        assert entry["threads"] == int(threads)
        assert entry["commit"] == "unknown"  # the temporary book is no git checkout
        assert entry["device"]  # "CPU, N cores" here, the GPU's name on a GPU
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["date"])
        assert 0 < entry["wall_s"] < 120
        assert entry["torch"]
    assert (executed / OK).is_file()
    assert (executed / FAILS).is_file()


def test_timeout_kills_the_kernel_and_the_deadline_stops_the_run(tiny_book, tmp_path):
    results = tmp_path / "results.json"
    other = {"status": "ok", "scale": "large", "wall_s": 1.0, "glue": {}}
    old_ok = {"status": "ok", "scale": "small", "wall_s": 2.0, "glue": {"a": "1"}}
    tool.write_results(results, {"runs": {"book/05_x/1_y.ipynb": other, OK: old_ok}})
    start = time.monotonic()
    # One at a time: the first sleeper is killed at its timeout (6 s), the second at
    # the deadline (10 s), and 3_ok, not started by then, keeps its old record.
    status = tool.main(
        ["--root", str(tiny_book), "--results", str(results), "--scale", "small"]
        + ["--only", "sleeps", "--only", "3_ok", "--jobs", "1"]
        + ["--timeout-s", "6", "--deadline-s", "10"]
    )
    took = time.monotonic() - start
    assert status == 1
    assert took < 30
    runs = _results(results)
    first, second = runs[SLEEPERS[0]], runs[SLEEPERS[1]]
    assert first["status"] == "timeout"
    assert first["stopped"] == "timeout"
    assert first["limit_s"] == 6.0
    assert 6 <= first["wall_s"] < 9
    assert second["status"] == "timeout"
    assert second["stopped"] == "deadline"
    assert second["limit_s"] < 6
    assert runs[OK] == old_ok  # not started: the old record stays
    assert runs["book/05_x/1_y.ipynb"] == other  # merged, not replaced
    pids = [int(p.stem.split("-")[1]) for p in tiny_book.glob("book/00_tiny/*.pid")]
    assert pids, "the first sleeper's kernel did not start within 6 s"
    time.sleep(0.5)
    assert not [pid for pid in pids if _alive(pid)], "a killed notebook's kernel lives"


def test_skip_done_runs_nothing_already_recorded(tiny_book, tmp_path, capsys):
    results = tmp_path / "results.json"
    done = {"status": "ok", "scale": "small", "wall_s": 1.0, "glue": {}}
    tool.write_results(results, {"runs": {OK: done, FAILS: done}})
    before = results.read_text(encoding="utf-8")
    status = tool.main(
        ["--root", str(tiny_book), "--results", str(results), "--scale", "small"]
        + ["--only", "3_ok", "--only", "4_fails", "--skip-done"]
    )
    assert status == 0
    assert "nothing to run" in capsys.readouterr().out
    assert results.read_text(encoding="utf-8") == before


def test_the_default_results_file_takes_the_large_budget_only(tiny_book, capsys):
    status = tool.main(["--root", str(tiny_book), "--scale", "small"])
    assert status == 2
    assert "--results" in capsys.readouterr().err
    assert not (tiny_book / "book" / "large_budget.json").exists()


def test_results_are_written_atomically_and_checked(tmp_path):
    path = tmp_path / "r.json"
    tool.write_results(path, {"runs": {"b": {"status": "ok"}, "a": {"status": "ok"}}})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema"] == tool.SCHEMA
    assert list(data["runs"]) == ["a", "b"]
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left
    path.write_text(json.dumps({"schema": 99, "runs": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="schema"):
        tool.load_results(path)


def test_error_line_is_the_kernels_last_line():
    class CellError(Exception):
        ename, evalue = "ImportError", "mnist: needs torchvision\x1b[0m"

    assert tool.error_line(CellError()) == "ImportError: mnist: needs torchvision"
    assert tool.error_line(TimeoutError("one\ntwo")) == "TimeoutError: two"


# --- the rendering -------------------------------------------------------------------

H100 = "NVIDIA H100 80GB HBM3"
COMMON = {
    "scale": "large",
    "jobs": 4,
    "threads": 4,
    "device": H100,
    "torch": "2.13.0",
    "date": "2026-12-09T03:12:05Z",
    "commit": "a1b2c3d",
}
NB1, NB2, NB3 = (f"book/05_x/{k}_nb.ipynb" for k in (1, 2, 3))
SAMPLE = {
    NB1: {
        **COMMON,
        "status": "ok",
        "error": None,
        "stopped": None,
        "limit_s": 600.0,
        "wall_s": 504.0,
        "glue": {"gap": "0.04123", "seeds": "'0 / 1 | 2'", "n": "7"},
    },
    NB2: {
        **COMMON,
        "status": "timeout",
        "error": None,
        "stopped": "timeout",
        "limit_s": 600.0,
        "wall_s": 600.4,
        "glue": {},
    },
    NB3: {
        **COMMON,
        "status": "error",
        "error": "ImportError: mnist: needs torchvision,\n  which dltheory lacks",
        "stopped": None,
        "limit_s": 600.0,
        "wall_s": 3.0,
        "glue": {},
    },
}


def test_runtime_text_of_each_status():
    assert (
        ext.runtime_text(SAMPLE[NB1])
        == f"8.4 min, {H100}, 4 at a time (2026-12-09, a1b2c3d)"
    )
    assert (
        ext.runtime_text(SAMPLE[NB2])
        == f"did not finish in 10 min ({H100}, 4 at a time, 2026-12-09, a1b2c3d)"
    )
    assert ext.runtime_text(SAMPLE[NB3]) == (
        "failed: ImportError: mnist: needs torchvision, which dltheory lacks "
        f"({H100}, 2026-12-09, a1b2c3d)"
    )
    stopped = {**SAMPLE[NB2], "stopped": "deadline", "wall_s": 130.0}
    assert ext.runtime_text(stopped).startswith("unfinished: stopped after 2.2 min")
    quick = {**SAMPLE[NB1], "wall_s": 44.6, "jobs": 1}
    assert ext.runtime_text(quick).startswith(f"45 s, {H100}, one at a time (")
    absent = ext.runtime_text(None)
    assert absent.startswith("not measured yet: no GPU run recorded")
    assert "`python tools/large_budget.py`" in absent
    assert "`DLT_SCALE=large`" in absent
    # Code spans become literals, the rest text.
    rendered = ext.inline_nodes(absent)
    assert [type(n).__name__ for n in rendered] == [
        "Text",
        "literal",
        "Text",
        "literal",
        "Text",
    ]


def test_values_are_formatted_as_the_glue_role_does():
    assert ext.formatted("0.04123", ".3f") == "0.041"
    assert ext.formatted("0.04123", "+.1%") == "+4.1%"
    assert ext.formatted("7", "d") == "7"
    assert ext.formatted("'0 / 1'", "s") == "0 / 1"  # the quotes go
    assert ext.formatted("'n/a'", ".2f") == "n/a"  # a spec that does not fit: as is
    from myst_nb.core.variables import format_plain_text  # the role's own function

    for text, spec in [("0.04123", ".3f"), ("7", "d"), ("'0 / 1'", "s"), ("12", ".1f")]:
        assert ext.formatted(text, spec) == format_plain_text(text, spec)


FIGURES = [
    ("/" + NB1, "gap", ".3f"),
    ("/" + NB1, "seeds", "s"),
    ("/" + NB1, "missing", ".2f"),
    ("/" + NB2, "acc", ".3f"),
    ("/" + NB3, "acc", ".3f"),
    ("/book/05_x/4_nb.ipynb", "acc", ".3f"),
]


def test_the_figures_table_sets_small_beside_large():
    text = ext.figures_text("05", FIGURES, SAMPLE)
    lines = text.splitlines()
    assert lines[0] == (
        "| notebook | figure (glue key) | this build, small budget | "
        f"large budget ({H100}, 2026-12-09) |"
    )
    assert lines[2] == (
        "| {doc}`/book/05_x/1_nb` | `gap` | "
        "{glue:text}`/book/05_x/1_nb.ipynb::gap:.3f` | 0.041 |"
    )
    assert lines[3] == (
        "|  | `seeds` | {glue:text}`/book/05_x/1_nb.ipynb::seeds:s` | 0 / 1 \\| 2 |"
    )
    assert lines[4].endswith("| not recorded |")
    assert "not run: did not finish" in lines[5]
    assert "not run: failed" in lines[6]
    assert lines[7].endswith("| its figure | — | not run |")
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])


def test_the_figures_section_without_runs_is_one_sentence():
    text = ext.figures_text("05", FIGURES, {})
    assert "|" not in text
    assert "\n" not in text
    assert "No large-budget run" in text
    assert "`python tools/large_budget.py --chapters 05`" in text


def test_pasted_figures_are_the_chapters_own_without_the_runtime():
    for chapter in ("00", "01", "02", "03", "04", "05"):
        figures = ext.pasted_figures(BOOK, chapter)
        assert figures, f"chapter {chapter}: no figure pasted"
        folder = next(BOOK.glob(f"{chapter}_*")).name
        assert all(nb.startswith(f"/book/{folder}/") for nb, _, _ in figures)
        assert ext.RUNTIME_KEY not in {key for _, key, _ in figures}
        assert len({(nb, key) for nb, key, _ in figures}) == len(figures)


# --- the book's files -----------------------------------------------------------------

ROLE = re.compile(r"\{large-budget\}`(?P<path>[^`]*)`")


def _toc_notebooks() -> set[str]:
    return set(tool.toc_notebooks(ROOT))


def _prose() -> dict[Path, str]:
    texts = {}
    for path in sorted(BOOK.rglob("*")):
        if "_build" in path.parts or path.suffix not in (".md", ".ipynb", ".yml"):
            continue
        texts[path] = path.read_text(encoding="utf-8")
    return texts


def test_every_large_budget_role_names_a_notebook_of_the_toc():
    notebooks = _toc_notebooks()
    found = 0
    for path, text in _prose().items():
        for m in ROLE.finditer(text):
            found += 1
            assert ext.notebook_of(m["path"]) in notebooks, (
                f"{path.relative_to(ROOT)}: {m[0]} names no notebook of _toc.yml"
            )
    assert found >= 18  # chapters 00-05


def test_chapters_00_to_05_show_every_notebooks_large_budget_runtime():
    notebooks = _toc_notebooks()
    for chapter in ("00", "01", "02", "03", "04", "05"):
        index = next(BOOK.glob(f"{chapter}_*/index.md"))
        text = index.read_text(encoding="utf-8")
        mine = {nb for nb in notebooks if tool.chapter_of(nb) == chapter}
        named = {ext.notebook_of(m["path"]) for m in ROLE.finditer(text)}
        assert named == mine, f"{index.relative_to(ROOT)}: roles for {sorted(named)}"
        assert f"```{{large-budget-figures}} {chapter}\n```" in text
        assert "runtime, one GPU (large budget)" in text
        rows = [line for line in text.splitlines() if "{large-budget}" in line]
        assert not [r for r in rows if "not measured" in r]  # the old cell text


def test_the_committed_results_file_is_well_formed():
    data = tool.load_results(BOOK / ext.RESULTS_FILE)  # schema and shape checked
    assert data["schema"] == ext.SCHEMA == tool.SCHEMA
    runs = ext.load_runs(BOOK)
    notebooks = _toc_notebooks()
    for notebook, entry in runs.items():
        assert notebook in notebooks, f"book/large_budget.json: {notebook} not in toc"
        assert entry["status"] in tool.STATUSES, notebook
        assert entry["scale"] == "large", f"{notebook}: only large-budget runs here"
        assert isinstance(entry["glue"], dict)
        assert entry["wall_s"] >= 0
        assert (entry["status"] == "error") == bool(entry["error"]), notebook
        for field in ("device", "torch", "date", "commit", "jobs", "limit_s"):
            assert field in entry, f"{notebook}: no {field}"
