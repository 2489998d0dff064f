r"""Checks of the built book (``_build/html``), for ``make check-site``.

Static checks read the HTML files:

- ``dead_links``: every relative ``href`` (``<a>``, ``<link>``, ``<area>``) and
  ``src`` (``<script>``, ``<iframe>``, ``<source>``) of every page resolves to a file
  of the site, and an ``<a>``'s ``#anchor`` is an ``id`` (or ``name``) in that file;
- ``missing_images``: every ``<img>``'s file exists;
- ``colab_problems``: every Colab link opens a notebook of the repository, on the
  repository and branch of ``_config.yml``, and every notebook page has the Colab
  link to its own notebook.

Rendered checks run headless Chromium (``DLT_CHROMIUM``, default ``chromium``) on a
page served over loopback HTTP, after its JavaScript ran: the server adds a probe
script to each page that waits for MathJax's first typesetting, then writes each
image's ``naturalWidth`` into the DOM, which Chromium dumps (``rendered_problems``
reads it), and takes a screenshot. They fail on a broken image (``naturalWidth``
0), unrendered math (a ``math`` element without MathJax 3's ``mjx-container``, a
MathJax error, or raw ``$$``, ``\(``, ``\[`` left in the text) and a page whose
rendering did not finish.
"""

from __future__ import annotations

import functools
import http.server
import io
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

COLAB = "https://colab.research.google.com/"
COLAB_LINK = re.compile(
    r"https://colab\.research\.google\.com/github/"
    r"(?P<owner>[^/]+)/(?P<repo>[^/]+)/blob/(?P<branch>[^/]+)/(?P<path>[^?#]+)"
)
#: Raw TeX that MathJax should have replaced: display and inline delimiters, and
#: dollar math with a TeX command inside.
RAW_MATH = re.compile(
    r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$"
)
#: Elements whose text is code or not shown: raw TeX there is not a rendering bug.
NOT_PROSE = {
    "script",
    "style",
    "pre",
    "code",
    "kbd",
    "samp",
    "textarea",
    "noscript",
    "template",
    "mjx-container",
    "svg",
    "math",
}
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
PROBE_DONE = "data-site-check"
PROBE_WIDTH = "data-site-check-width"
PROBE = f"""<script>
(function () {{
  document.querySelectorAll("img").forEach(function (img) {{ img.loading = "eager"; }});
  function record() {{
    document.querySelectorAll("img").forEach(function (img) {{
      img.setAttribute("{PROBE_WIDTH}", String(img.complete ? img.naturalWidth : 0));
    }});
    document.documentElement.setAttribute("{PROBE_DONE}", "done");
  }}
  window.addEventListener("load", function () {{
    var mj = window.MathJax;
    var ready = mj && mj.startup && mj.startup.promise;
    (ready || Promise.resolve()).then(record, record);
  }});
}})();
</script>"""


@dataclass
class Element:
    """One start tag: its name, attributes and line."""

    tag: str
    attrs: dict[str, str]
    line: int


@dataclass
class ParsedPage:
    """What the checks need from one HTML document."""

    elements: list[Element] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    prose: list[tuple[int, str]] = field(default_factory=list)
    #: For each element with class ``math``: (line, has an mjx-container inside).
    math: list[tuple[int, bool]] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = ParsedPage()
        self.stack: list[tuple[str, int | None]] = []  # (tag, index into page.math)
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        line = self.getpos()[0]
        self.page.elements.append(Element(tag, values, line))
        for key in ("id", "name") if tag == "a" else ("id",):
            if values.get(key):
                self.page.ids.add(values[key])
        if tag == "mjx-container":
            for _, index in self.stack:
                if index is not None:
                    self.page.math[index] = (self.page.math[index][0], True)
        if tag in VOID:
            return
        index = None
        if "math" in values.get("class", "").split():
            index = len(self.page.math)
            self.page.math.append((line, False))
        self.stack.append((tag, index))
        if tag in NOT_PROSE:
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                for closed, _ in self.stack[depth:]:
                    if closed in NOT_PROSE:
                        self.hidden -= 1
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.page.prose.append((self.getpos()[0], data))


def parse(html: str) -> ParsedPage:
    """Parse an HTML document (a file or a rendered DOM)."""
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.page


@functools.lru_cache(maxsize=4096)
def _parse_file(path: Path) -> ParsedPage:
    return parse(path.read_text(encoding="utf-8", errors="replace"))


def html_pages(site: Path) -> list[Path]:
    """Every page of the site.

    Its HTML files, but those in ``_static`` (the themes' template fragments) and
    ``_sources`` (copies of the sources).
    """
    return sorted(
        p
        for p in site.rglob("*.html")
        if not {"_static", "_sources"} & set(p.relative_to(site).parts)
    )


def _is_external(url: str) -> bool:
    split = urlsplit(url)
    return bool(split.scheme) or url.startswith("//")


def _resolve(site: Path, page: Path, url: str) -> tuple[Path | None, str, str]:
    """(target file or None when outside the site, fragment, problem) of a URL."""
    split = urlsplit(url)
    path = unquote(split.path)
    if path.startswith("/"):
        return None, split.fragment, "is root-absolute (breaks under a project site)"
    if not path:
        return page, unquote(split.fragment), ""
    base = page.parent.relative_to(site).as_posix()
    joined = posixpath.normpath(posixpath.join(base, path))
    if joined == ".." or joined.startswith("../"):
        return None, split.fragment, "points outside the site"
    target = site / joined
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target, unquote(split.fragment), ""


LINK_ATTRS = {
    "a": "href",
    "link": "href",
    "area": "href",
    "script": "src",
    "iframe": "src",
    "source": "src",
}


def dead_links(site: Path, pages: list[Path] | None = None) -> list[str]:
    """Relative links of the pages that do not resolve to a file (and anchor).

    Args:
        site: The built site (``_build/html``).
        pages: The pages to check; default every page of the site.

    Returns:
        One message per dead link, naming the page, line and URL.
    """
    problems = []
    for page in pages if pages is not None else html_pages(site):
        where = page.relative_to(site).as_posix()
        for element in _parse_file(page).elements:
            attr = LINK_ATTRS.get(element.tag)
            url = element.attrs.get(attr, "") if attr else ""
            if not url or _is_external(url):
                continue
            target, fragment, problem = _resolve(site, page, url)
            if problem:
                problems.append(f"{where}:{element.line}: link {url!r} {problem}")
            elif not target.is_file():
                problems.append(f"{where}:{element.line}: dead link {url!r}")
            elif (
                fragment
                and element.tag == "a"
                and target.suffix == ".html"
                and fragment not in _parse_file(target).ids
            ):
                problems.append(
                    f"{where}:{element.line}: dead anchor {url!r} "
                    f"(no id {fragment!r} in {target.relative_to(site).as_posix()})"
                )
    return problems


def missing_images(site: Path, pages: list[Path] | None = None) -> list[str]:
    """``<img>`` elements whose file is not in the site (or that have no ``src``)."""
    problems = []
    for page in pages if pages is not None else html_pages(site):
        where = page.relative_to(site).as_posix()
        for element in _parse_file(page).elements:
            if element.tag != "img":
                continue
            src = element.attrs.get("src", "")
            if not src:
                problems.append(f"{where}:{element.line}: <img> without src")
                continue
            if src.startswith("data:") or _is_external(src):
                continue
            target, _, problem = _resolve(site, page, src)
            if problem or not target.is_file():
                problems.append(f"{where}:{element.line}: broken image {src!r}")
    return problems


def colab_problems(
    site: Path, repo_root: Path, repo_url: str, branch: str
) -> list[str]:
    """Colab links that do not open the page's notebook in the book's repository.

    Every link to Colab must be ``https://colab.research.google.com/github/OWNER/
    REPO/blob/BRANCH/PATH`` with the repository and branch of ``_config.yml`` and a
    notebook ``PATH`` that exists in ``repo_root``; every page built from a notebook
    must have the link to its own notebook.

    Args:
        site: The built site (``_build/html``).
        repo_root: The repository (the book's root: ``path_to_book`` is "").
        repo_url: ``repository.url`` of ``_config.yml``.
        branch: ``repository.branch`` of ``_config.yml``.

    Returns:
        One message per problem.
    """
    owner, repo = urlsplit(repo_url).path.strip("/").removesuffix(".git").split("/")[:2]
    problems = []
    for page in html_pages(site):
        rel = page.relative_to(site)
        where = rel.as_posix()
        own = rel.with_suffix(".ipynb").as_posix()
        is_notebook = (repo_root / own).is_file()
        found = set()
        for element in _parse_file(page).elements:
            href = element.attrs.get("href", "") if element.tag == "a" else ""
            if not href.startswith(COLAB):
                continue
            match = COLAB_LINK.fullmatch(href)
            if not match:
                problems.append(
                    f"{where}:{element.line}: Colab link {href!r} malformed"
                )
                continue
            expected = (owner, repo, branch)
            got = (match["owner"], match["repo"], match["branch"])
            if got != expected:
                problems.append(
                    f"{where}:{element.line}: Colab link {href!r} opens "
                    f"{'/'.join(got)}, not {'/'.join(expected)}"
                )
            elif not (repo_root / match["path"]).is_file():
                problems.append(
                    f"{where}:{element.line}: Colab link {href!r}: no notebook "
                    f"{match['path']!r} in the repository"
                )
            else:
                found.add(match["path"])
        if is_notebook and own not in found:
            problems.append(
                f"{where}: notebook page without a Colab link to {own} "
                f"(found {sorted(found) or 'none'})"
            )
    return problems


def rendered_problems(dom: str) -> list[str]:
    """Problems in a DOM that Chromium dumped after the probe script ran."""
    page = parse(dom)
    root = next((e for e in page.elements if e.tag == "html"), None)
    if root is None or root.attrs.get(PROBE_DONE) != "done":
        return ["the page did not finish rendering (no probe result in the DOM)"]
    problems = []
    for element in page.elements:
        if element.tag == "img":
            width = element.attrs.get(PROBE_WIDTH)
            if width in (None, "0"):
                src = element.attrs.get("src", "")
                problems.append(f"line {element.line}: broken image {src!r}")
        elif element.tag == "mjx-merror":
            problems.append(
                f"line {element.line}: MathJax error "
                f"{element.attrs.get('data-mjx-error', '')!r}"
            )
    for line, rendered in page.math:
        if not rendered:
            problems.append(f"line {line}: math not rendered by MathJax")
    for line, text in page.prose:
        for match in RAW_MATH.finditer(text):
            context = text[max(0, match.start() - 30) : match.end() + 30].strip()
            problems.append(f"line {line}: raw math {match.group()!r} in {context!r}")
    return problems


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the site, with the probe script added to every HTML page."""

    def send_head(self):  # noqa: D102 (http.server's hook)
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        html = path.read_text(encoding="utf-8", errors="replace")
        at = html.rfind("</body>")
        html = html[:at] + PROBE + html[at:] if at >= 0 else html + PROBE
        body = html.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format, *args):  # noqa: A002, ARG002 (quiet)
        return


class SiteServer:
    """The site on a loopback HTTP server, in a background thread."""

    def __init__(self, site: Path) -> None:
        handler = functools.partial(_Handler, directory=str(site))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SiteServer:
        """Start serving."""
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, page: str) -> str:
        """The URL of a page, given by its path in the site."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{page}"


def chromium() -> str:
    """The browser to run: ``$DLT_CHROMIUM`` or ``chromium``, found on the PATH."""
    name = os.environ.get("DLT_CHROMIUM", "chromium")
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(
            f"{name!r} not found: install Debian's chromium, or set DLT_CHROMIUM "
            "to a Chromium or Chrome executable"
        )
    return path


def render(url: str, screenshot: Path | None = None, *, budget_ms: int = 30_000) -> str:
    """Load ``url`` in headless Chromium, let its JavaScript run, return the DOM.

    Args:
        url: The page.
        screenshot: Where to save a 1280x2400 PNG of the page, or None.
        budget_ms: Virtual time the page gets (it does not advance while files
            are still loading).

    Returns:
        The serialized DOM after the page ran.
    """
    with tempfile.TemporaryDirectory(prefix="site-check-chromium-") as profile:
        command = [
            chromium(),
            "--headless",
            "--no-sandbox",  # root in CI containers; the site is our own
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--mute-audio",
            f"--user-data-dir={profile}",
            "--window-size=1280,2400",
            f"--virtual-time-budget={budget_ms}",
            "--run-all-compositor-stages-before-draw",
        ]
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            command.append(f"--screenshot={screenshot}")
        command += ["--dump-dom", url]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=180, check=False
        )
    if result.returncode != 0 or not result.stdout.strip():
        raise RuntimeError(
            f"{command[0]} failed on {url} (exit {result.returncode}):\n"
            + result.stderr[-3000:]
        )
    return result.stdout


def screenshot_name(page: str) -> str:
    """``book/05_guillotine/index.html`` -> ``book__05_guillotine__index.png``."""
    return page.removesuffix(".html").replace("/", "__") + ".png"


def iter_chapters(site: Path) -> Iterator[Path]:
    """The chapter folders of the built book (``book/NN_*``)."""
    yield from sorted(p for p in (site / "book").glob("[0-9][0-9]_*") if p.is_dir())
