"""The claims ledger as a Sphinx extension: one YAML file per chapter, rendered.

Each chapter keeps its slice of the ledger in ``book/<chapter>/claims.yml``: per key
claim its statement, the notebook section that shows it, the test that checks it,
what the book measures (MyST text whose figures are ``{glue:text}`` roles pasting
values the notebooks record with ``dltheory.runtime.glue``; a figure that the build
cannot produce, such as a GPU run, goes in ``measured_once`` with where and when it
was measured) and whether it reproduces at small scale. Two directives render it:

- ``{claims-ledger} CC``: the table of chapter ``CC``, with its setting and notes
  (``book/claims.md`` for every chapter; each chapter's ``index.md`` for its own);
- ``{claims-totals}``: one sentence with the counts of every chapter's statuses
  (the intro).

Each row also says on how many of five seeds its claim test holds, from
``book/claim_seeds.yml`` (written by ``make seeds``, tools/claim_seeds.py: the claim
tests rerun on seeds 2, 3 and 4, which no margin was chosen on, next to seeds 0 and 1
of ``make test``); a claim that holds on fewer than five must not be marked "yes"
(:func:`seed_problems`, checked by tests/test_book.py).

The configuration value ``dlt_glue_placeholders`` (off by default) makes a build
whose notebooks were not executed (``make test``'s strict check of the pages) show
``[not run]`` where a page pastes a figure, instead of failing on the missing value:
an executed build (``make book``) still fails on a page that pastes a figure no
notebook recorded. ``tests/test_book.py`` checks the files against the claim markers
of ``tests/claims/``, the claim targets in the notebooks, and the glue keys the
notebooks record.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

STATUSES = ("yes", "partly", "inconclusive", "no", "paper scale", "not checked")
FIELDS = {
    "k",
    "statement",
    "section",
    "test",
    "measured",
    "measured_once",
    "status",
    "note",
}
PLACEHOLDER = "[not run]"
SEEDS_FILE = "claim_seeds.yml"  # under book/
LOGGER = logging.getLogger(__name__)


def load_ledgers(book: Path) -> dict[str, dict]:
    """Every chapter's ``claims.yml`` under ``book``, by chapter number ("05")."""
    ledgers = {}
    for path in sorted(book.glob("[0-9][0-9]_*/claims.yml")):
        ledger = yaml.safe_load(path.read_text(encoding="utf-8"))
        ledger["path"] = path
        ledgers[path.parent.name[:2]] = ledger
    return ledgers


def load_seeds(book: Path) -> dict[str, dict]:
    """``book/claim_seeds.yml``'s entries by claim ("05-1"); {} without the file."""
    path = book / SEEDS_FILE
    if not path.exists():
        return {}
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("claims") or {}


def _seed_list(seeds: list[int]) -> str:
    word = "seed" if len(seeds) == 1 else "seeds"
    return f"{word} {', '.join(map(str, seeds))}"


def seeds_text(entry: dict | None, test: str | None = None) -> str:
    """What a row says about its claim test on other seeds (MyST, no '|')."""
    if entry is None or (test and entry.get("test") != test):
        return "not yet rerun on seeds 2-4 (make seeds)"
    detail = entry.get("reseeded", "").partition(":")[2].strip()
    kind = entry.get("kind") or entry.get("reseeded", "").partition(":")[0]
    if "holds" in entry:
        text = f"holds on {entry['holds']} of {entry['of']} seeds"
        if entry.get("failing_seeds"):
            text += f" (fails on {_seed_list(entry['failing_seeds'])})"
        return text
    if kind == "own seeds":
        return f"not re-seeded: {detail}"
    if kind == "no seed":
        return f"no seed to vary: {detail}"
    return f"could not be re-seeded ({detail or kind})"


def seed_problems(ledgers: dict[str, dict], seeds: dict[str, dict]) -> list[str]:
    """Claims that hold on fewer seeds than were run yet are marked "yes", or whose
    note does not name the seeds they fail on."""
    found = []
    for chapter, ledger in ledgers.items():
        for claim in ledger["claims"]:
            entry = seeds.get(f"{chapter}-{claim['k']}")
            if entry is None or entry.get("test") != claim.get("test"):
                continue
            failing = entry.get("failing_seeds") or []
            if not failing:
                continue
            where = f"{ledger.get('path', chapter)}: claim {claim['k']}"
            if claim.get("status") == "yes":
                found.append(
                    f"{where}: holds on {entry['holds']} of {entry['of']} seeds "
                    f"(fails on {_seed_list(failing)}) but is marked yes"
                )
            # Each failing seed's number after the word "seed" in the note.
            note = str(claim.get("note") or "")
            after = note[note.find("seed") :] if "seed" in note else ""
            unnamed = [s for s in failing if not re.search(rf"\b{s}\b", after)]
            if unnamed:
                found.append(
                    f"{where}: fails on {_seed_list(failing)}; its note names not "
                    f"{_seed_list(unnamed)}"
                )
    return found


def problems(ledger: dict) -> list[str]:
    """What is wrong with one chapter's ledger, as messages naming the file."""
    where = ledger.get("path", "claims.yml")
    found = []
    if ledger.get("chapter") != Path(where).parent.name[:2]:
        found.append(f"{where}: chapter {ledger.get('chapter')!r} is not its folder's")
    claims = ledger.get("claims") or []
    if not claims:
        found.append(f"{where}: no claims")
    for i, claim in enumerate(claims, start=1):
        if claim.get("k") != i:
            found.append(f"{where}: claim {i} has k = {claim.get('k')!r}")
        unknown = set(claim) - FIELDS
        missing = {"k", "statement", "test", "measured", "status"} - set(claim)
        if unknown or missing:
            found.append(
                f"{where}: claim {i}: unknown fields {sorted(unknown)}, "
                f"missing {sorted(missing)}"
            )
        if claim.get("status") not in STATUSES:
            found.append(
                f"{where}: claim {i}: status expected one of {STATUSES}, got "
                f"{claim.get('status')!r} (quote yes and no in YAML)"
            )
        for field in ("statement", "measured", "measured_once", "note", "section"):
            if "\n" in str(claim.get(field) or "") or "|" in str(
                claim.get(field) or ""
            ):
                found.append(f"{where}: claim {i}: {field} has a newline or a '|'")
    return found


def ledger_table(
    ledger: dict, *, repository: str, branch: str, seeds: dict[str, dict] | None = None
) -> str:
    """The MyST text of one chapter's table: setting, table, notes.

    With ``seeds`` (:func:`load_seeds`), each row with a test says on how many seeds
    it holds.
    """
    rows = [
        "| k | claim | notebook section | test | measured in this build | reproduces |",
        "|---|---|---|---|---|---|",
    ]
    for claim in ledger["claims"]:
        test = claim["test"]
        if test:
            path, function = test.split("::")
            # The name with spaces, so that the column wraps (a code span does not).
            words = function.replace("_", " ")
            test = f'[{words}]({repository}/blob/{branch}/{path} "{test}")'

        measured = claim["measured"]
        if claim.get("measured_once"):
            measured += f"; *measured once elsewhere:* {claim['measured_once']}"
        status = f"**{claim['status']}**"
        if claim.get("note"):
            status += f" ({claim['note']})"
        if seeds is not None and claim["test"]:
            entry = seeds.get(f"{ledger['chapter']}-{claim['k']}")
            status += f"; *{seeds_text(entry, claim['test'])}*"
        cells = [
            str(claim["k"]),
            claim["statement"],
            claim.get("section") or "—",
            test or "none",
            measured,
            status,
        ]
        rows.append("| " + " | ".join(cells) + " |")
    parts = [ledger.get("setting", ""), "\n".join(rows), ledger.get("notes", "")]
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def totals(ledgers: dict[str, dict]) -> dict[str, int]:
    """How many claims have each status, over every chapter."""
    counts = dict.fromkeys(STATUSES, 0)
    for ledger in ledgers.values():
        for claim in ledger["claims"]:
            counts[claim["status"]] += 1
    return counts


def seeds_totals_text(ledgers: dict[str, dict], seeds: dict[str, dict]) -> str:
    """One sentence: how many rerun claims hold on every seed ("" if none rerun)."""
    rerun = [
        seeds[key]
        for chapter, ledger in ledgers.items()
        for claim in ledger["claims"]
        if (key := f"{chapter}-{claim['k']}") in seeds
        and "holds" in seeds[key]
        and seeds[key].get("test") == claim.get("test")
    ]
    if not rerun:
        return ""
    every = sum(e["holds"] == e["of"] for e in rerun)
    return (
        f" Rerun on seeds 2, 3 and 4, which no margin was chosen on (`make seeds`), "
        f"**{every}** of the **{len(rerun)}** re-seeded claim tests hold on all five "
        "seeds; each row says on how many its test holds."
    )


def totals_text(ledgers: dict[str, dict], seeds: dict[str, dict] | None = None) -> str:
    """One sentence with the counts, for the intro (and one on the seeds)."""
    counts = totals(ledgers)
    n = sum(counts.values())
    return (
        f"The ledger holds **{n} key claims** of {len(ledgers)} chapters: "
        f"**{counts['yes']}** reproduce at small scale, "
        f"**{counts['partly']}** in part, **{counts['inconclusive']}** are "
        "inconclusive at this scale, "
        f"**{counts['no']}** do not, "
        f"**{counts['paper scale']}** can be checked only at the paper's scale, and "
        f"**{counts['not checked']}** could not be checked. "
        f"{untested_text(ledgers)}"
        f"{seeds_totals_text(ledgers, seeds or {})}"
    )


def untested(ledgers: dict[str, dict]) -> list[str]:
    """The claims whose row names no test, as "CC-k" ("00-4")."""
    return [
        f"{chapter}-{claim['k']}"
        for chapter, ledger in ledgers.items()
        for claim in ledger["claims"]
        if not claim.get("test")
    ]


def untested_text(ledgers: dict[str, dict]) -> str:
    """One sentence naming the claims without a test; each row says why."""
    names = untested(ledgers)
    if not names:
        return "Every claim has a test."
    return (
        f"**{len(names)}** have no claim test ({', '.join(names)}); "
        "each of those rows says why."
    )


class _LedgerDirective(SphinxDirective):
    def _ledgers(self) -> dict[str, dict]:
        book = Path(self.env.srcdir) / "book"
        ledgers = load_ledgers(book)
        for ledger in ledgers.values():
            self.env.note_dependency(str(ledger["path"]))
        return ledgers

    def _seeds(self) -> dict[str, dict]:
        book = Path(self.env.srcdir) / "book"
        if (book / SEEDS_FILE).exists():
            self.env.note_dependency(str(book / SEEDS_FILE))
        return load_seeds(book)

    def _render(self, text: str) -> list[nodes.Node]:
        container = nodes.container(classes=["claims-ledger"])
        self.state.nested_parse(
            StringList(text.splitlines(), source=self.get_source_info()[0]),
            self.content_offset,
            container,
        )
        return [container]


class ClaimsLedger(_LedgerDirective):
    """``{claims-ledger} CC``: the ledger table of chapter CC."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        chapter = self.arguments[0]
        ledgers = self._ledgers()
        if chapter not in ledgers:
            raise self.error(
                f"claims-ledger: expected a chapter with a claims.yml, one of "
                f"{sorted(ledgers)}, got {chapter!r}"
            )
        found = problems(ledgers[chapter])
        if found:
            raise self.error("; ".join(found))
        options = self.config.html_theme_options
        text = ledger_table(
            ledgers[chapter],
            repository=options.get("repository_url", "").rstrip("/"),
            branch=options.get("repository_branch", "main"),
            seeds=self._seeds(),
        )
        return self._render(text)


class ClaimsTotals(_LedgerDirective):
    """``{claims-totals}``: the counts of every chapter's statuses."""

    def run(self) -> list[nodes.Node]:
        return self._render(totals_text(self._ledgers(), self._seeds()))


class GluePlaceholders(SphinxPostTransform):
    """Show ``[not run]`` for figures of notebooks that this build did not execute.

    Runs before myst-nb replaces cross-document glue references (priority 5), and
    only where ``dlt_glue_placeholders`` is on.
    """

    default_priority = 4

    def run(self, **kwargs) -> None:  # noqa: ARG002 (Sphinx's signature)
        if not self.config.dlt_glue_placeholders:
            return
        from myst_nb.ext.glue.crossref import read_glue_cache
        from myst_nb.ext.glue.utils import PendingGlueReference

        folder = self.env.mystnb_config.output_folder
        for node in list(self.document.findall(PendingGlueReference)):
            if node.key in read_glue_cache(folder, node.refdoc):
                continue
            title = f"{node.refdoc}::{node.key} is measured when the book is built"
            node.replace_self(
                nodes.inline(
                    PLACEHOLDER, PLACEHOLDER, classes=["dlt-not-run"], title=title
                )
            )


def setup(app):
    """Register the directives, the placeholder transform and its switch."""
    app.add_config_value("dlt_glue_placeholders", False, "env", types=[bool])
    app.add_directive("claims-ledger", ClaimsLedger)
    app.add_directive("claims-totals", ClaimsTotals)
    app.add_post_transform(GluePlaceholders)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
