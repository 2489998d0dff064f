"""Repository consistency: toc, notebook hygiene, one address, claims, citations.

Pure file checks: no network, no kernel, no import of dltheory. Each test names the
files to fix in its failure message.

- Every page under book/ (.md, .ipynb) is in _toc.yml, and every toc entry exists.
- Every notebook: kernel python3, no outputs, first code cell the install cell of
  STYLE.md 8.2 (with the repository URL of _config.yml).
- The repository URL agrees in _config.yml, pyproject.toml, the README's Colab badges
  and the install cells; every badge opens a notebook of the toc, and every notebook
  has a badge.
- Claims: each ``@pytest.mark.claim(chapter=..., k=..., statement=...)`` in
  tests/claims/ has a MyST target ``(claim-CC-k)=`` in exactly one notebook of
  book/CC_*/ and a row in book/CC_*/claims.yml naming its test; every target has a
  marked test, unless its ledger row names no test. Every chapter's ledger is rendered
  in book/claims.md and in the chapter's index.md.
- Measured figures: every ``{glue:text}`` role of a page (.md, notebook markdown,
  claims.yml) pastes a key that its notebook records with ``runtime.glue("key", ...)``,
  so a page cannot name a figure no run produces; the ledger's "measured" column has
  no digit outside such roles and math.
- Every ``{cite}`` key used under book/ is in book/references.bib.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10; pytest itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CLAIM_TESTS = ROOT / "tests" / "claims"
LEDGER = BOOK / "claims.md"
LEDGER_EXTENSION = BOOK / "_ext" / "claims_ledger.py"
BIBFILE = BOOK / "references.bib"

# STYLE.md 8.2; {url} and {branch} come from _config.yml's repository section.
INSTALL_CELL = """try:
    import dltheory  # noqa: F401
except ImportError:  # Colab, Kaggle, Binder: install the library, never torch
    %pip install -q "dltheory @ git+{url}@{branch}\""""

COLAB_LINK = re.compile(
    r"https://colab\.research\.google\.com/github/"
    r"(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)/blob/(?P<branch>[\w.-]+)/(?P<path>[^\s)\"']+)"
)
CLAIM_TARGET = re.compile(r"^\s*\(claim-(?P<chapter>\d{2})-(?P<k>\d+)\)=\s*$", re.M)
GLUE_ROLE = re.compile(r"\{glue(?::[a-z]+)?\}`(?P<body>[^`]*)`")
GLUE_CALL = re.compile(r"runtime\.glue\(\s*(?P<quote>[\"'])(?P<key>[^\"']*)(?P=quote)")
MATH_SPAN = re.compile(r"\$[^$]*\$")
CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`(?P<keys>[^`]*)`")
BIB_ENTRY = re.compile(r"^@(?P<type>\w+)\s*\{\s*(?P<key>[^,\s]+)\s*,", re.M)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def _repository() -> tuple[str, str]:
    """(url, branch) from _config.yml, the one address of the book."""
    repo = _config()["repository"]
    return repo["url"].rstrip("/").removesuffix(".git"), str(repo.get("branch", "main"))


def _toc_entries() -> list[str]:
    """Every ``root`` and ``file`` of _toc.yml, in order, as written."""
    spec = importlib.util.spec_from_file_location(
        "large_budget_tool", ROOT / "tools" / "large_budget.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.toc_entries(ROOT)


def _without_suffix(entry: str) -> str:
    return re.sub(r"\.(md|ipynb)$", "", entry)


def _book_files(pattern: str) -> list[Path]:
    return sorted(
        p
        for p in BOOK.rglob(pattern)
        if not any(
            part.startswith((".", "_build")) for part in p.relative_to(ROOT).parts
        )
    )


def _notebooks() -> list[Path]:
    return _book_files("*.ipynb")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _markdown_texts() -> dict[Path, str]:
    """The prose of the book: each .md page, and each notebook's markdown cells."""
    texts = {p: p.read_text(encoding="utf-8") for p in _book_files("*.md")}
    for nb in _notebooks():
        cells = [c for c in _cells(nb) if c.get("cell_type") == "markdown"]
        texts[nb] = "\n\n".join(_source(c) for c in cells)
    return texts


@dataclass(frozen=True)
class Claim:
    path: Path
    function: str
    chapter: object
    k: object
    statement: object
    problems: tuple[str, ...]

    @property
    def node_id(self) -> str:
        return f"{_rel(self.path)}::{self.function}"


def _claim_markers() -> list[Claim]:
    """Every ``@pytest.mark.claim(...)`` on a test function under tests/claims/."""
    claims = []
    for path in sorted(CLAIM_TESTS.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for deco in node.decorator_list:
                if not (
                    isinstance(deco, ast.Call)
                    and ast.unparse(deco.func) == "pytest.mark.claim"
                ):
                    continue
                problems = []
                if deco.args:
                    problems.append("pass chapter, k, statement as keywords")
                kwargs = {}
                for kw in deco.keywords:
                    try:
                        kwargs[kw.arg] = ast.literal_eval(kw.value)
                    except ValueError:
                        problems.append(f"{kw.arg} is not a literal")
                if set(kwargs) != {"chapter", "k", "statement"}:
                    problems.append(
                        f"expected keywords chapter, k, statement, got {sorted(kwargs)}"
                    )
                claims.append(
                    Claim(
                        path=path,
                        function=node.name,
                        chapter=kwargs.get("chapter"),
                        k=kwargs.get("k"),
                        statement=kwargs.get("statement"),
                        problems=tuple(problems),
                    )
                )
    return claims


def _claim_targets() -> dict[tuple[str, int], list[Path]]:
    """(chapter, k) -> the notebooks holding ``(claim-CC-k)=``, once per occurrence."""
    targets: dict[tuple[str, int], list[Path]] = {}
    for nb in _notebooks():
        for cell in _cells(nb):
            if cell.get("cell_type") != "markdown":
                continue
            for m in CLAIM_TARGET.finditer(_source(cell)):
                targets.setdefault((m["chapter"], int(m["k"])), []).append(nb)
    return targets


def _ledger_module():
    """book/_ext/claims_ledger.py, the Sphinx extension that renders the ledger."""
    spec = importlib.util.spec_from_file_location("claims_ledger", LEDGER_EXTENSION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LEDGERS = _ledger_module().load_ledgers(BOOK)


def _ledger_rows() -> dict[tuple[str, int], dict]:
    """(chapter, k) -> the row of book/CC_*/claims.yml."""
    return {
        (chapter, claim["k"]): claim
        for chapter, ledger in LEDGERS.items()
        for claim in ledger["claims"]
    }


def _glued_keys(notebook: Path) -> list[str]:
    """The keys a notebook records with ``runtime.glue("key", ...)``, in order."""
    code = [_source(c) for c in _cells(notebook) if c.get("cell_type") == "code"]
    return [m["key"] for m in GLUE_CALL.finditer("\n".join(code))]


def glue_problems(text: str, *, where: str) -> list[str]:
    """Glue roles in ``text`` that do not paste a key their notebook records."""
    found = []
    for m in GLUE_ROLE.finditer(text):
        path, sep, rest = m["body"].partition("::")
        if not sep or not path.startswith("/book/") or not path.endswith(".ipynb"):
            found.append(
                f"{where}: {m[0]}: expected `/book/<chapter>/<notebook>.ipynb::key`, "
                "the notebook's path from the repository root"
            )
            continue
        key, colon, _ = rest.partition(":")
        if m[0].startswith("{glue:text}") and not colon:
            # myst-nb splits the role at its last colon: without a format spec it
            # reads "path:" as the key. Strings take ":s".
            found.append(f"{where}: {m[0]}: expected a format spec (:.3f, :d, :s)")
            continue
        notebook = ROOT / path.lstrip("/")
        if not notebook.is_file():
            found.append(f"{where}: {m[0]}: no notebook {path}")
        elif key not in _glued_keys(notebook):
            found.append(
                f"{where}: {m[0]}: {path} records no {key!r} "
                f'(runtime.glue("{key}", ...) with the key as a string literal)'
            )
    return found


def _bib_keys() -> list[str]:
    text = BIBFILE.read_text(encoding="utf-8")
    return [
        m["key"]
        for m in BIB_ENTRY.finditer(text)
        if m["type"].lower() not in ("comment", "string", "preamble")
    ]


# --- Pages and table of contents -------------------------------------------------


def test_every_toc_entry_is_one_page_that_exists():
    problems = []
    for entry in _toc_entries():
        stem = _without_suffix(entry)
        found = [p for p in (ROOT / f"{stem}.md", ROOT / f"{stem}.ipynb") if p.exists()]
        if len(found) != 1:
            problems.append(f"{entry}: found {[_rel(p) for p in found] or 'no page'}")
    assert not problems, "_toc.yml entries without exactly one page:\n" + "\n".join(
        problems
    )


def test_every_page_under_book_is_in_the_toc():
    listed = {_without_suffix(e) for e in _toc_entries()}
    pages = _book_files("*.md") + _notebooks()
    missing = [_rel(p) for p in pages if _rel(p.with_suffix("")) not in listed]
    assert not missing, (
        "pages under book/ missing from _toc.yml (only_build_toc_files would skip "
        "them silently): " + ", ".join(missing)
    )


def test_no_page_is_listed_twice_in_the_toc():
    counts = Counter(_without_suffix(e) for e in _toc_entries())
    twice = sorted(e for e, n in counts.items() if n > 1)
    assert not twice, f"listed more than once in _toc.yml: {twice}"


def test_the_config_reads_the_bibliography_of_the_book():
    bibfiles = _config()["bibtex_bibfiles"]
    assert bibfiles == [_rel(BIBFILE)], f"bibtex_bibfiles: {bibfiles}"


def _intro_chapter_items() -> dict[int, str]:
    """Chapter number -> its item in the intro's "Chapters" list (joined lines)."""
    text = (BOOK / "intro.md").read_text(encoding="utf-8")
    section = text.split("## Chapters", 1)[1].split("\n## ", 1)[0]
    items = re.split(r"^(?=\d+\. )", section, flags=re.M)
    return {
        int(item.split(".", 1)[0]): " ".join(item.split())
        for item in items
        if re.match(r"\d+\. ", item)
    }


def test_the_intro_links_every_chapter_of_the_toc_and_only_those_are_coming():
    listed = {_without_suffix(e) for e in _toc_entries()}
    items = _intro_chapter_items()
    problems = []
    if sorted(items) != list(range(11)):
        problems.append(f"chapters listed: {sorted(items)}, expected 0-10")
    for number, item in items.items():
        folders = sorted(BOOK.glob(f"{number:02d}_*"))
        index = f"book/{folders[0].name}/index" if folders else None
        in_toc = index in listed
        linked = index is not None and f"{{doc}}`{index[5:]}`" in item
        coming = "(coming)" in item
        if in_toc and (not linked or coming):
            problems.append(
                f"chapter {number} is in the toc: link {index}, no (coming)"
            )
        if not in_toc and (linked or not coming):
            problems.append(f"chapter {number} is not in the toc: say (coming)")
    assert not problems, "book/intro.md, Chapters:\n" + "\n".join(problems)


# --- Notebook hygiene -------------------------------------------------------------


NOTEBOOKS = _notebooks()
NOTEBOOK_IDS = [_rel(p) for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_notebook_kernel_is_python3(notebook):
    meta = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]
    name = meta.get("kernelspec", {}).get("name")
    assert name == "python3", f"{_rel(notebook)}: kernelspec name {name!r}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_notebook_has_no_outputs(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell.get("cell_type") == "code"
        and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{_rel(notebook)}: outputs or execution counts in cells {dirty}; "
        "run nbstripout --keep-id on it"
    )
    assert "widgets" not in nb["metadata"], f"{_rel(notebook)}: widget state saved"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_notebook_first_code_cell_is_the_install_cell(notebook):
    url, branch = _repository()
    expected = INSTALL_CELL.format(url=url, branch=branch)
    code = [c for c in _cells(notebook) if c.get("cell_type") == "code"]
    assert code, f"{_rel(notebook)}: no code cell"
    first = _source(code[0]).rstrip()
    assert first == expected, (
        f"{_rel(notebook)}: the first code cell must be exactly\n{expected}\n"
        f"got\n{first}"
    )


# --- One address for the book -----------------------------------------------------


def test_pyproject_names_the_repository_of_the_config():
    url, _ = _repository()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = pyproject["project"]["urls"]["Repository"].rstrip("/")
    assert listed == url, f"pyproject.toml Repository {listed}, _config.yml {url}"


def test_readme_colab_badges_open_the_notebooks_of_the_repository():
    url, branch = _repository()
    links = list(COLAB_LINK.finditer((ROOT / "README.md").read_text(encoding="utf-8")))
    assert links, "README.md has no Colab badge"
    problems = []
    for m in links:
        if f"https://github.com/{m['owner']}/{m['repo']}" != url:
            problems.append(f"{m[0]}: not the repository {url}")
        if m["branch"] != branch:
            problems.append(f"{m[0]}: branch {m['branch']}, not {branch}")
        if not (ROOT / m["path"]).is_file() or not m["path"].endswith(".ipynb"):
            problems.append(f"{m[0]}: no notebook {m['path']}")
    badged = {m["path"] for m in links}
    problems += [f"{nb}: no Colab badge" for nb in NOTEBOOK_IDS if nb not in badged]
    assert not problems, "README.md Colab badges:\n" + "\n".join(problems)


# --- Claims: markers, targets, ledger ---------------------------------------------


def test_claim_markers_are_well_formed():
    problems = []
    claims = _claim_markers()
    for c in claims:
        problems += [f"{c.node_id}: {p}" for p in c.problems]
        if not (isinstance(c.chapter, str) and re.fullmatch(r"\d{2}", c.chapter)):
            problems.append(f"{c.node_id}: chapter {c.chapter!r} is not like '00'")
        elif not c.path.name.startswith(f"test_{c.chapter}_"):
            problems.append(f"{c.node_id}: chapter {c.chapter} in another file")
        if not (isinstance(c.k, int) and c.k >= 1):
            problems.append(f"{c.node_id}: k {c.k!r} is not a positive int")
        elif not c.function.startswith(f"test_claim{c.k}_"):
            problems.append(f"{c.node_id}: name must start with test_claim{c.k}_")
        if not (isinstance(c.statement, str) and c.statement.strip()):
            problems.append(f"{c.node_id}: empty statement")
    ids = Counter((c.chapter, c.k) for c in claims)
    problems += [f"claim {key} marked {n} times" for key, n in ids.items() if n > 1]
    assert not problems, "claim markers:\n" + "\n".join(problems)


def test_every_claim_test_has_one_target_in_its_chapter():
    targets = _claim_targets()
    problems = []
    for c in _claim_markers():
        where = targets.get((c.chapter, c.k), [])
        label = f"(claim-{c.chapter}-{c.k})="
        if len(where) != 1:
            found = [_rel(p) for p in where] or "none"
            problems.append(f"{c.node_id}: {label} in exactly one notebook, {found}")
        elif not where[0].parent.name.startswith(f"{c.chapter}_"):
            problems.append(f"{c.node_id}: {label} is in {_rel(where[0])}")
    assert not problems, "claim targets:\n" + "\n".join(problems)


def test_every_chapter_ledger_is_well_formed_and_rendered():
    problems = []
    ledger_page = LEDGER.read_text(encoding="utf-8")
    chapters = sorted({p.parent.name for p in _notebooks()})
    for folder in chapters:
        chapter = folder[:2]
        if chapter not in LEDGERS:
            problems.append(f"book/{folder}: no claims.yml")
            continue
        problems += _ledger_module().problems(LEDGERS[chapter])
        directive = f"```{{claims-ledger}} {chapter}\n```"
        if directive not in ledger_page:
            problems.append(f"{_rel(LEDGER)}: does not render chapter {chapter}")
        index = (BOOK / folder / "index.md").read_text(encoding="utf-8")
        if directive not in index:
            problems.append(f"book/{folder}/index.md: does not render its ledger")
    assert not problems, "claims ledger:\n" + "\n".join(problems)


def test_the_totals_name_every_claim_without_a_test():
    module = _ledger_module()
    ledgers = {
        "00": {"claims": [{"k": 1, "test": "t::a", "status": "yes"}]},
        "01": {
            "claims": [
                {"k": 1, "test": None, "status": "paper scale"},
                {"k": 2, "test": "t::b", "status": "partly"},
            ]
        },
    }
    assert module.untested(ledgers) == ["01-1"]
    assert "**1** have no claim test (01-1)" in module.totals_text(ledgers)
    ledgers["01"]["claims"][0]["test"] = "t::c"
    assert module.untested_text(ledgers) == "Every claim has a test."


# --- Claims on unseen seeds (make seeds, book/claim_seeds.yml) ----------------------


def _seed_entry(test, holds, failing, of=5):
    return {
        "test": test,
        "reseeded": "parametrize",
        "kind": "parametrize",
        "holds": holds,
        "of": of,
        "failing_seeds": failing,
    }


def test_the_ledger_shows_on_how_many_seeds_each_claim_holds():
    module = _ledger_module()
    ledger = {
        "chapter": "05",
        "claims": [
            {"k": 1, "statement": "a", "test": "t.py::c1", "measured": "m"},
            {"k": 2, "statement": "b", "test": "t.py::c2", "measured": "m"},
            {"k": 3, "statement": "c", "test": "t.py::c3", "measured": "m"},
            {"k": 4, "statement": "d", "test": None, "measured": "m"},
            {"k": 5, "statement": "e", "test": "t.py::c5", "measured": "m"},
            {"k": 6, "statement": "f", "test": "t.py::c6", "measured": "m"},
        ],
    }
    for claim in ledger["claims"]:
        claim["status"] = "partly"
    seeds = {
        "05-1": _seed_entry("t.py::c1", 5, []),
        "05-2": _seed_entry("t.py::c2", 3, [2, 4]),
        "05-3": {
            "test": "t.py::c3",
            "reseeded": "own seeds: a count over seeds 0-9",
            "kind": "own seeds",
        },
        "05-6": _seed_entry("t.py::old_name", 5, []),  # the test changed since
    }
    table = module.ledger_table(ledger, repository="r", branch="b", seeds=seeds)
    rows = {
        int(line.split("|")[1]): line
        for line in table.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    }
    assert "*holds on 5 of 5 seeds*" in rows[1]
    assert "*holds on 3 of 5 seeds (fails on seeds 2, 4)*" in rows[2]
    assert "*not re-seeded: a count over seeds 0-9*" in rows[3]
    assert "seeds" not in rows[4]  # no test, nothing to rerun
    assert "not yet rerun on seeds 2-4" in rows[5]
    assert "not yet rerun on seeds 2-4" in rows[6]
    # Negative control: without the seeds file's entries, no row claims a count.
    plain = module.ledger_table(ledger, repository="r", branch="b")
    assert "holds on" not in plain
    assert "not yet rerun" not in plain
    ledgers = {"05": ledger}
    assert "**1** of the **2** re-seeded claim tests hold on all five seeds" in (
        module.totals_text(ledgers, seeds)
    )
    assert "re-seeded" not in module.totals_text(ledgers)


def test_a_claim_failing_an_unseen_seed_is_not_marked_yes():
    module = _ledger_module()
    seeds = module.load_seeds(BOOK)
    problems = module.seed_problems(LEDGERS, seeds)
    assert not problems, "book/claim_seeds.yml against the ledger:\n" + "\n".join(
        problems
    )
    # Negative control: the same check flags a "yes" that fails seed 3, and a
    # "partly" whose note does not name the seed.
    ledger = {
        "chapter": "05",
        "path": "book/05/claims.yml",
        "claims": [{"k": 1, "test": "t.py::c1", "status": "yes", "note": ""}],
    }
    failing = {"05-1": _seed_entry("t.py::c1", 4, [3])}
    found = module.seed_problems({"05": ledger}, failing)
    assert any("marked yes" in p for p in found), found
    ledger["claims"][0].update(status="partly", note="fails on an unseen seed")
    found = module.seed_problems({"05": ledger}, failing)
    assert found == [
        "book/05/claims.yml: claim 1: fails on seed 3; its note names not seed 3"
    ]
    ledger["claims"][0]["note"] = "fails on seed 3 (margin 0.02 below the bound)"
    assert module.seed_problems({"05": ledger}, failing) == []


def test_the_seeds_file_names_claims_of_the_ledger():
    seeds = _ledger_module().load_seeds(BOOK)
    rows = _ledger_rows()
    unknown = [
        key for key in seeds if (key.split("-")[0], int(key.split("-")[1])) not in rows
    ]
    assert not unknown, f"book/claim_seeds.yml names claims no ledger has: {unknown}"


def test_every_claim_test_has_a_row_in_the_ledger():
    rows = _ledger_rows()
    problems = []
    for c in _claim_markers():
        row = rows.get((c.chapter, c.k))
        target = f"claim-{c.chapter}-{c.k}"
        if row is None:
            problems.append(
                f"{c.node_id}: no claim {c.k} in book/{c.chapter}_*/claims.yml"
            )
        elif row["test"] != c.node_id:
            problems.append(f"{c.node_id}: its row names the test {row['test']!r}")
        elif target not in (row.get("section") or ""):
            problems.append(f"{c.node_id}: its row does not link to {target}")
    assert not problems, "claims ledger:\n" + "\n".join(problems)


def test_every_test_in_the_ledger_is_a_marked_claim_test():
    marked = {c.node_id for c in _claim_markers()}
    named = {row["test"] for row in _ledger_rows().values() if row["test"]}
    stale = sorted(named - marked)
    assert not stale, f"claims.yml files name tests without a claim marker: {stale}"


def test_every_claim_target_has_a_test_or_says_it_has_none():
    marked = {(c.chapter, c.k) for c in _claim_markers()}
    rows = _ledger_rows()
    problems = []
    for (chapter, k), where in sorted(_claim_targets().items()):
        label = f"claim-{chapter}-{k}"
        if len(where) > 1:
            problems.append(f"({label})= appears {len(where)} times: {where}")
        if (chapter, k) in marked:
            continue
        row = rows.get((chapter, k))
        if row is None or row["test"] or label not in (row.get("section") or ""):
            problems.append(
                f"({label})= in {_rel(where[0])} has no claim test, and its row of "
                f"book/{chapter}_*/claims.yml does not link to it with `test: null`"
            )
    assert not problems, "claim targets:\n" + "\n".join(problems)


# --- Measured figures come from the run that built the page --------------------


def test_every_pasted_figure_is_recorded_by_its_notebook():
    problems = []
    for path, text in _markdown_texts().items():
        problems += glue_problems(text, where=_rel(path))
    for ledger in LEDGERS.values():
        text = ledger["path"].read_text(encoding="utf-8")
        problems += glue_problems(text, where=_rel(ledger["path"]))
    assert not problems, "pasted figures:\n" + "\n".join(problems)


def test_a_pasted_figure_no_notebook_records_is_caught():
    # Negative control of the test above: a key, a path and a form that are wrong.
    nb = "/book/05_guillotine/1_cutting_the_head.ipynb"
    wrong = [
        f"{{glue:text}}`{nb}::no-such-figure:.3f`",
        "{glue:text}`/book/05_guillotine/no_such_notebook.ipynb::x`",
        "{glue:text}`delta-simclr:.1f`",
        f"{{glue:text}}`{nb}::delta-simclr`",
    ]
    for text in wrong:
        assert glue_problems(text, where="page"), text


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_glue_keys_are_unique_within_a_notebook(notebook):
    counts = Counter(_glued_keys(notebook))
    twice = sorted(k for k, n in counts.items() if n > 1)
    assert not twice, f"{_rel(notebook)}: keys recorded more than once: {twice}"


def test_the_ledger_types_no_measured_figure():
    # Every digit of a "measured" cell is inside a pasted figure or in math (a
    # setting such as $s = 1$); a figure measured once elsewhere goes in
    # `measured_once`, which says where and when.
    problems = []
    for (chapter, k), row in sorted(_ledger_rows().items()):
        bare = MATH_SPAN.sub("", GLUE_ROLE.sub("", row["measured"]))
        if re.search(r"\d", bare):
            problems.append(f"claim {chapter}-{k}: typed figures in {bare!r}")
    assert not problems, "hand-typed figures in claims.yml:\n" + "\n".join(problems)


# --- Citations --------------------------------------------------------------------


def test_references_bib_keys_are_unique():
    counts = Counter(_bib_keys())
    assert counts, f"no entry found in {_rel(BIBFILE)}"
    twice = sorted(k for k, n in counts.items() if n > 1)
    assert not twice, f"keys defined twice in {_rel(BIBFILE)}: {twice}"


def test_every_cited_key_is_in_references_bib():
    keys = set(_bib_keys())
    cited: dict[str, set[str]] = {}
    for path, text in _markdown_texts().items():
        for m in CITE_ROLE.finditer(text):
            for key in filter(None, (k.strip() for k in m["keys"].split(","))):
                cited.setdefault(key, set()).add(_rel(path))
    assert cited, "no {cite} found under book/: is the pattern still right?"
    unknown = {k: sorted(v) for k, v in cited.items() if k not in keys}
    assert not unknown, f"cited but not in {_rel(BIBFILE)}: {unknown}"
