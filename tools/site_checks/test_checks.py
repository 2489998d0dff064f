"""Negative (and positive) controls of the site checks, on small hand-made pages.

Each check of ``test_site.py`` is shown here to fail on the fault it looks for, and
to pass on a page without it.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from sitecheck import (
    SiteServer,
    colab_problems,
    dead_links,
    missing_images,
    render,
    rendered_problems,
    screenshot_name,
)

REPO_URL = "https://github.com/dltheory/dltheory-book"
GOOD_COLAB = (
    "https://colab.research.google.com/github/dltheory/dltheory-book/blob/main/"
    "book/05_guillotine/1_cutting_the_head.ipynb"
)


def png(width: int = 2, height: int = 2) -> bytes:
    """A valid grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def page(body: str) -> str:
    """A whole HTML document around ``body``."""
    return (
        f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>"
    )


def write(root: Path, rel: str, content: str | bytes) -> Path:
    """Write a file of a hand-made site."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- dead internal links ---------------------------------------------------------


def test_dead_links_found(tmp_path: Path):
    """A missing file, a missing anchor, a missing script: three dead links."""
    write(tmp_path, "book/a.html", page('<h1 id="there">A</h1>'))
    write(
        tmp_path,
        "index.html",
        page(
            '<a href="book/missing.html">x</a>'
            '<a href="book/a.html#nowhere">y</a>'
            '<script src="_static/gone.js"></script>'
        ),
    )
    problems = dead_links(tmp_path)
    assert len(problems) == 3, problems
    assert any("book/missing.html" in p for p in problems)
    assert any("dead anchor" in p and "nowhere" in p for p in problems)
    assert any("_static/gone.js" in p for p in problems)


def test_live_links_pass(tmp_path: Path):
    """Files, anchors, folders, same-page anchors and external URLs are fine."""
    write(tmp_path, "book/a.html", page('<h1 id="there">A</h1><a name="old">o</a>'))
    write(tmp_path, "book/sub/index.html", page("sub"))
    write(tmp_path, "_static/s.css", "body {}")
    write(
        tmp_path,
        "index.html",
        page(
            '<p id="top"></p><a href="#top">t</a>'
            '<a href="book/a.html#there">a</a><a href="book/a.html#old">o</a>'
            '<a href="book/sub/">s</a><a href="book/a.html?x=1">q</a>'
            '<link rel="stylesheet" href="_static/s.css">'
            '<a href="https://example.org/missing">e</a><a href="mailto:a@b">m</a>'
        ),
    )
    assert dead_links(tmp_path) == []


def test_links_outside_the_site_flagged(tmp_path: Path):
    """Root-absolute links break on a project site; ../ out of the site is dead."""
    write(
        tmp_path, "index.html", page('<a href="/book/a.html">r</a><a href="../x">u</a>')
    )
    problems = dead_links(tmp_path)
    assert len(problems) == 2, problems


# --- broken images ---------------------------------------------------------------


def test_missing_image_found(tmp_path: Path):
    """An <img> whose file is missing is reported; one that exists is not."""
    write(tmp_path, "_images/ok.png", png())
    write(
        tmp_path,
        "book/p.html",
        page('<img src="../_images/ok.png"><img src="../_images/lost.png">'),
    )
    problems = missing_images(tmp_path)
    assert len(problems) == 1, problems
    assert "lost.png" in problems[0]


# --- Colab links -----------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one notebook, and its site folder."""
    root = tmp_path / "repo"
    write(root, "book/05_guillotine/1_cutting_the_head.ipynb", "{}")
    return root


def test_colab_link_to_own_notebook_passes(repo: Path):
    """The launch button of the notebook's own page, as Jupyter Book writes it."""
    site = repo / "_build/html"
    write(
        site,
        "book/05_guillotine/1_cutting_the_head.html",
        page(f'<a href="{GOOD_COLAB}">c</a>'),
    )
    assert colab_problems(site, repo, REPO_URL, "main") == []


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        (GOOD_COLAB.replace("/blob/main/", "/blob/master/"), "not dltheory"),
        (GOOD_COLAB.replace("dltheory/dltheory-book", "someone/fork"), "not dltheory"),
        (
            GOOD_COLAB.replace("/book/05_guillotine/", "/book/book/05_guillotine/"),
            "no notebook",
        ),
        ("https://colab.research.google.com/drive/123", "malformed"),
    ],
)
def test_wrong_colab_link_found(repo: Path, href: str, expected: str):
    """Wrong branch, wrong repository, doubled book/ folder, not a GitHub link."""
    site = repo / "_build/html"
    write(
        site,
        "book/05_guillotine/1_cutting_the_head.html",
        page(f'<a href="{href}">c</a>'),
    )
    problems = colab_problems(site, repo, REPO_URL, "main")
    assert any(expected in p for p in problems), problems
    assert any("without a Colab link" in p for p in problems), problems


def test_notebook_page_without_colab_link_found(repo: Path):
    """A notebook page must have its launch button."""
    site = repo / "_build/html"
    write(site, "book/05_guillotine/1_cutting_the_head.html", page("no button"))
    write(
        site, "book/05_guillotine/index.html", page("not a notebook: no button needed")
    )
    problems = colab_problems(site, repo, REPO_URL, "main")
    assert len(problems) == 1, problems
    assert "1_cutting_the_head.html" in problems[0]


# --- rendered DOM (no browser) ---------------------------------------------------

DONE = '<html data-site-check="done">'


def test_rendered_dom_passes():
    """Rendered math, a loaded image, TeX in code: nothing to report."""
    dom = (
        DONE + '<body><span class="math"><mjx-container class="MathJax">'
        "<mjx-math></mjx-math></mjx-container></span>"
        '<img src="a.png" data-site-check-width="640">'
        r"<pre>plt.title(r'$\lambda$')  # \( kept in code \)</pre>"
        r"<code>$$x$$</code><p>It costs $5 and $10.</p></body></html>"
    )
    assert rendered_problems(dom) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('<img src="a.png" data-site-check-width="0">', "broken image"),
        ('<img src="a.png">', "broken image"),
        (r'<span class="math notranslate">\(x^2\)</span>', "not rendered"),
        (r'<div class="math">\[x\]</div>', "not rendered"),
        (r"<p>the loss $$\sum_i x_i$$ is</p>", "raw math"),
        (r"<p>where \(x\) is</p>", "raw math"),
        (r"<p>where $\lambda$ is</p>", "raw math"),
        (
            '<mjx-container><mjx-merror data-mjx-error="Undefined control '
            'sequence \\foo"></mjx-merror></mjx-container>',
            "MathJax error",
        ),
    ],
)
def test_rendered_dom_faults_found(body: str, expected: str):
    """Each fault of a rendered page is reported."""
    problems = rendered_problems(f"{DONE}<body>{body}</body></html>")
    assert any(expected in p for p in problems), problems


def test_unfinished_page_found():
    """A DOM without the probe's mark did not finish rendering."""
    assert rendered_problems("<html><body>x</body></html>")


# --- in the browser --------------------------------------------------------------


def test_browser_finds_broken_images_and_raw_math(tmp_path: Path):
    """Chromium: a missing and a corrupt image have naturalWidth 0; raw TeX stays."""
    write(tmp_path, "ok.png", png(4, 3))
    write(tmp_path, "corrupt.png", b"\x89PNG\r\n\x1a\nnot an image")
    write(
        tmp_path,
        "p.html",
        page(
            '<img src="ok.png"><img src="missing.png"><img src="corrupt.png">'
            r'<p>Math without MathJax: <span class="math">\(x^2\)</span></p>'
        ),
    )
    with SiteServer(tmp_path) as server:
        dom = render(server.url("p.html"), tmp_path / screenshot_name("p.html"))
    problems = rendered_problems(dom)
    assert (tmp_path / "p.png").stat().st_size > 0
    broken = [p for p in problems if "broken image" in p]
    assert len(broken) == 2, problems
    assert not any("ok.png" in p for p in broken), problems
    assert any("not rendered" in p for p in problems), problems
    assert any("raw math" in p for p in problems), problems
