"""Exercise numbers per chapter: "Exercise 5.1.3" is exercise 3 of notebook 5.1.

sphinx-exercise 1.x numbers exercises like figures, from Sphinx's ``numfig``: without
numbered toctrees (the book's chapters carry their own numbers, "5. Guillotine ...",
from their folders ``00``-``10``) the count runs across the whole book, and a chapter-5
page says "Exercise 42". Numbered toctrees (``numbered:`` in ``_toc.yml`` with
``numfig_secnum_depth``) would count chapters from 1 in toc order, "Start here"
included, so chapter 5 would read 6.

This extension renumbers instead. After Sphinx assigns figure numbers (the
``env-get-updated`` event, when the toctree collector fills ``env.toc_fignumbers``)
it gives every exercise of ``book/CC_<slug>/N_<topic>`` the number ``(C, N, k)``, its
``k``-th exercise in page order, and ``(C, k)`` on a chapter's ``index`` page. The
exercise titles, the solution titles ("Solution to Exercise 5.1.3") and every
reference read their number from there. The book labels its exercises the same way
(``ex-05-1-3``, STYLE.md 8.6; tests/test_deploy.py checks it), so the number a
reader sees is the label a teacher writes. Pages outside a chapter folder keep
Sphinx's numbers.

Registered in ``_config.yml`` under ``sphinx.local_extensions``.
"""

from __future__ import annotations

import re

CHAPTER_PAGE = re.compile(
    r"^book/(?P<chapter>\d+)_[^/]+/(?:(?P<page>\d+)_[^/]+|index)$"
)


def chapter_numbers(
    toc_fignumbers: dict[str, dict[str, dict[str, tuple[int, ...]]]],
) -> dict[str, dict[str, tuple[int, ...]]]:
    """Per-chapter numbers of the exercises, from Sphinx's book-wide ones.

    Args:
        toc_fignumbers: ``env.toc_fignumbers``: docname -> figure type -> node id ->
            number, as Sphinx assigned it (the book-wide order within each page).

    Returns:
        docname -> node id -> new number, for every chapter page with exercises.
    """
    numbers = {}
    for docname, by_type in toc_fignumbers.items():
        match = CHAPTER_PAGE.match(docname)
        exercises = by_type.get("exercise")
        if match is None or not exercises:
            continue
        prefix = (int(match["chapter"]),)
        if match["page"] is not None:
            prefix += (int(match["page"]),)
        in_order = sorted(exercises, key=exercises.__getitem__)
        numbers[docname] = {
            node_id: (*prefix, k) for k, node_id in enumerate(in_order, start=1)
        }
    return numbers


def renumber_exercises(app, env) -> list[str]:  # noqa: ARG001 (Sphinx's signature)
    """``env-get-updated`` handler: write the chapter numbers into the environment.

    Returns the pages whose numbers changed since the last build, to be written
    again (on a first build every page is written anyway).
    """
    numbers = chapter_numbers(env.toc_fignumbers)
    for docname, by_id in numbers.items():
        env.toc_fignumbers[docname]["exercise"].update(by_id)
    previous = getattr(env, "dlt_exercise_numbers", {})
    env.dlt_exercise_numbers = numbers
    return sorted(d for d in numbers if previous.get(d) != numbers[d])


def setup(app):
    """Run after Sphinx's toctree collector (priority 500) has numbered figures."""
    app.setup_extension("sphinx_exercise")
    app.connect("env-get-updated", renumber_exercises, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
