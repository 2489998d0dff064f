"""The built book (``_build/html``) in a browser: run by ``make check-site``.

Not collected by ``make test`` (it needs the executed build and a browser). Each
check has a negative control in ``test_checks.py``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from sitecheck import (
    SiteServer,
    colab_problems,
    dead_links,
    html_pages,
    missing_images,
    parse,
    render,
    rendered_problems,
    screenshot_name,
)

ROOT = Path(__file__).resolve().parents[2]
#: The built book; DLT_SITE points the checks at another build of it.
SITE = Path(os.environ.get("DLT_SITE", ROOT / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
LOCAL_MATHJAX = "_static/mathjax/tex-mml-chtml.js"


def _toc_files() -> set[str]:
    text = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("root", "file"):
                    found.add(str(value).removesuffix(".md").removesuffix(".ipynb"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(text))
    return found


def browser_pages() -> list[str]:
    """The intro, the claims ledger, and each chapter's index and first notebook."""
    toc = _toc_files()
    pages = ["book/intro.html", "book/claims.html"]
    for chapter in sorted((ROOT / "book").glob("[0-9][0-9]_*")):
        rel = chapter.relative_to(ROOT).as_posix()
        if f"{rel}/index" not in toc:
            continue
        pages.append(f"{rel}/index.html")
        notebooks = sorted(
            p for p in chapter.glob("*.ipynb") if f"{rel}/{p.stem}" in toc
        )
        if notebooks:
            pages.append(f"{rel}/{notebooks[0].stem}.html")
    return pages


PAGES = browser_pages()


@pytest.fixture(scope="session")
def site() -> Path:
    """The built book; fails when there is none."""
    if not (SITE / "book" / "intro.html").is_file():
        pytest.fail(f"no built book in {SITE}: run `make book` first")
    return SITE


@pytest.fixture(scope="session")
def server(site: Path):
    """The site on a loopback HTTP server; old screenshots removed."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    with SiteServer(site) as running:
        yield running


def test_pages_cover_every_chapter():
    """The browser visits one index and one notebook page of every chapter."""
    chapters = sorted(
        p.name for p in (ROOT / "book").glob("[0-9][0-9]_*") if p.is_dir()
    )
    assert chapters, "no chapter folders book/NN_*"
    for chapter in chapters:
        visited = [p for p in PAGES if p.startswith(f"book/{chapter}/")]
        assert len(visited) == 2, f"{chapter}: browser pages {visited}"


def test_no_dead_internal_links(site: Path):
    """Every relative link of every page resolves to a file, and its anchor exists."""
    problems = dead_links(site)
    assert not problems, f"{len(problems)} dead link(s):\n" + "\n".join(problems)


def test_no_missing_images(site: Path):
    """Every <img> of every page has its file in the site."""
    problems = missing_images(site)
    assert not problems, "\n".join(problems)


def test_colab_links(site: Path):
    """Colab links open the page's notebook on the repository and branch of the book."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = config["repository"]
    assert repo.get("path_to_book", "") == "", "Colab paths assume path_to_book: ''"
    problems = colab_problems(site, ROOT, repo["url"], str(repo.get("branch", "main")))
    assert not problems, "\n".join(problems)
    notebook_pages = [
        p
        for p in html_pages(site)
        if (ROOT / p.relative_to(site).with_suffix(".ipynb")).is_file()
    ]
    assert notebook_pages, "no notebook page in the site"


def test_mathjax_served_with_the_book(site: Path):
    """Pages with math load MathJax 3 from _static (no CDN), after its config."""
    assert (site / LOCAL_MATHJAX).is_file(), f"{LOCAL_MATHJAX} missing from the site"
    with_math = 0
    for page in html_pages(site):
        text = page.read_text(encoding="utf-8", errors="replace")
        if 'class="math' not in text:
            continue
        with_math += 1
        scripts = [e for e in parse(text).elements if e.tag == "script"]
        sources = [e.attrs.get("src", "") for e in scripts]
        where = page.relative_to(site).as_posix()
        loads = [s for s in sources if "tex-mml-chtml" in s or "mathjax" in s.lower()]
        assert loads, f"{where}: has math but loads no MathJax"
        for src in loads:
            path = src.split("?")[0]
            assert path.endswith(LOCAL_MATHJAX), f"{where}: MathJax from {src}"
            assert (page.parent / path).resolve() == (site / LOCAL_MATHJAX).resolve()
        assert "window.MathJax = " in text, f"{where}: no mathjax3_config emitted"
        assert text.index("window.MathJax = ") < text.index(LOCAL_MATHJAX), where
    assert with_math, "no page with math: the check checked nothing"


def test_mathjax_version_matches_config(site: Path):
    """The MathJax served is the version _config.yml loads from the CDN elsewhere."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    cdn = config["sphinx"]["config"]["mathjax_path"]
    wanted = re.search(r"mathjax@(\d+\.\d+\.\d+)/", cdn)
    assert wanted, f"_config.yml: no pinned version in mathjax_path {cdn!r}"
    script = (site / LOCAL_MATHJAX).read_text(encoding="utf-8", errors="replace")
    served = re.search(r'\.VERSION="(\d+\.\d+\.\d+)"', script)
    assert served, f"{LOCAL_MATHJAX}: no VERSION found"
    assert served[1] == wanted[1], f"served {served[1]}, _config.yml pins {wanted[1]}"


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(server: SiteServer, page: str):
    """In Chromium: images load, MathJax renders every formula, a screenshot."""
    assert (SITE / page).is_file(), f"{page} is not in the built book"
    dom = render(server.url(page), SCREENSHOTS / screenshot_name(page))
    problems = rendered_problems(dom)
    assert not problems, f"{page}:\n" + "\n".join(problems)
