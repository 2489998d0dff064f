"""Preview the figures a chapter pastes, without building the book.

Runs the given notebooks (one thread each, the small budget, as the book does),
collects what each records with ``runtime.glue``, then renders every
``{glue:text}`` role of the book's pages (``.md``, notebook markdown,
``claims.yml``) that pastes from them, the way myst-nb formats it. A role whose
key is missing or whose format does not fit the value is reported, and the script
exits with 1. The records are kept in ``_build/glue-preview/`` so that
``--no-run`` re-renders the pages after an edit of the prose only.

    .venv/bin/python tools/glue_preview.py book/05_guillotine/1_cutting_the_head.ipynb
    .venv/bin/python tools/glue_preview.py --no-run book/05_guillotine/*.ipynb
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "_build" / "glue-preview"
GLUE_ROLE = re.compile(r"\{glue(?::[a-z]+)?\}`(?P<body>[^`]*)`")
PREFIX = "application/papermill.record/"


def run(notebook: Path) -> dict[str, str]:
    """Execute ``notebook`` and return its glued keys and their text/plain."""
    import nbclient
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    env = {"OMP_NUM_THREADS": "1", "DLT_SCALE": "small"}
    os.environ.update(env)
    nbclient.NotebookClient(
        nb, timeout=600, resources={"metadata": {"path": str(notebook.parent)}}
    ).execute()
    records = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                records[name] = output["data"].get(PREFIX + "text/plain", "")
    return records


def pages() -> dict[str, str]:
    """Every page's text that may paste a figure."""
    texts = {}
    for path in sorted((ROOT / "book").rglob("*")):
        rel = path.relative_to(ROOT).as_posix()
        if path.suffix in (".md", ".yml"):
            texts[rel] = path.read_text(encoding="utf-8")
        elif path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            texts[rel] = "\n".join(
                "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
            )
    return texts


def main() -> int:
    """Run, render, report."""
    from myst_nb.core.variables import format_plain_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--no-run", action="store_true", help="reuse the records")
    args = parser.parse_args()
    records = {}
    for nb in args.notebooks:
        rel = nb.resolve().relative_to(ROOT).as_posix()
        store = RECORDS / (rel + ".json")
        if not args.no_run:
            store.parent.mkdir(parents=True, exist_ok=True)
            store.write_text(json.dumps(run(nb.resolve()), indent=1))
        records["/" + rel] = json.loads(store.read_text())
    failed = 0
    for page, text in pages().items():
        for m in GLUE_ROLE.finditer(text):
            path, _, rest = m["body"].partition("::")
            if path not in records:
                continue
            key, colon, fmt = rest.partition(":")
            if m[0].startswith("{glue:text}") and not colon:
                print(f"FORMAT  {page}: {m[0]}: no format spec (myst-nb needs one)")
                failed += 1
                continue
            if key not in records[path]:
                print(f"MISSING {page}: {m[0]}")
                failed += 1
                continue
            try:
                shown = format_plain_text(records[path][key], fmt or "s")
            except (ValueError, TypeError) as exc:
                print(f"FORMAT  {page}: {m[0]}: {exc}")
                failed += 1
                continue
            print(f"ok      {page}: {key} -> {shown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
