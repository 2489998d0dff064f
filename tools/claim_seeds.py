"""``make seeds``: every claim test on seeds no margin was chosen on, as a table.

Runs the claim tests of tests/claims (``@pytest.mark.claim``) with ``--claim-seeds``
(tests/conftest.py swaps each test's seeds; a test it cannot re-seed fails loudly and
is listed), reads pytest's JUnit XML (outcome, failure message, and the measured values
of every passing ``assert``, recorded through pytest's assertion-pass hook) and merges
the results into book/claim_seeds.yml, which the claims ledger
(book/_ext/claims_ledger.py) shows as "holds on k of 5 seeds".

The five seeds are the two that ``make test`` runs (0 and 1, on which the margins were
chosen: a green ``make test`` means they pass) and the three unseen ones (2, 3, 4). A
claim holds on a seed when every test item of that seed passes (for example both
methods of a claim parametrized by method). Results are merged per claim and seed, so
that one chapter, or one timing-sensitive test rerun alone, updates only its rows::

    python tools/claim_seeds.py                        # every chapter, seeds 2,3,4
    python tools/claim_seeds.py --chapters 00,01 --jobs 2
    python tools/claim_seeds.py --chapters 10 -- -k claim6   # rerun one test alone

Standard library and PyYAML only; pytest runs in this interpreter's environment.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "book" / "claim_seeds.yml"
WORK = ROOT / "_build" / "claim_seeds"
DEFAULT_SEEDS = (0, 1)  # the seeds make test runs, on which margins were chosen
UNSEEN_SEEDS = (2, 3, 4)
TOTAL = len(DEFAULT_SEEDS) + len(UNSEEN_SEEDS)
MAX_MESSAGE = 700
ADDRESS = re.compile(r" at 0x[0-9a-f]+")  # a function's memory address: run-specific
HEADER = """\
# Claim tests on seeds no margin was chosen on: written by `make seeds`
# (tools/claim_seeds.py), read by the claims ledger (book/_ext/claims_ledger.py).
# Per claim: how its test was re-seeded (tests/conftest.py), the seeds it holds on
# out of five (0 and 1 from the normal run, make test; the others from this run),
# and per seed the outcome with the measured values (the passing assertions) or the
# failure message. Do not edit by hand: rerun `make seeds`.
"""


def machine() -> str:
    """One line naming the machine: CPU, cores, OS, Python, torch."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "absent"
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, torch {torch_version}"
    )


def load() -> str:
    """The 1/5/15-minute load averages, or "unknown"."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def run_pytest(chapters: list[str], seeds: list[int], jobs: int, extra: list[str]):
    """Run the re-seeded claim tests; return the JUnit XML path and the exit code."""
    files = sorted(
        str(p.relative_to(ROOT))
        for chapter in chapters
        for p in (ROOT / "tests" / "claims").glob(f"test_{chapter}_*.py")
    )
    if not files:
        raise SystemExit(f"claim_seeds: no claim test file for chapters {chapters}")
    WORK.mkdir(parents=True, exist_ok=True)
    junit = WORK / f"junit-{'-'.join(chapters)}.xml"
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        DLT_SCALE="small",
        DLT_DEVICE="cpu",
        # A separate cache of rewritten test modules: the assertion-pass hook needs
        # them rewritten with it on, and make test's cached ones were not.
        PYTHONPYCACHEPREFIX=str(WORK / "pycache"),
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-o",
        "enable_assertion_pass_hook=true",
        f"--claim-seeds={','.join(map(str, seeds))}",
        f"--junitxml={junit}",
        "-q",
        "--durations=0",
        *(["-n", str(jobs), "--dist", "loadfile"] if jobs > 1 else []),
        *files,
        *extra,
    ]
    print("claim_seeds:", " ".join(command), flush=True)
    code = subprocess.call(command, cwd=ROOT, env=env)
    return junit, code


def _message(element) -> str:
    text = element.get("message") or element.text or ""
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def parse_junit(path: Path) -> list[dict]:
    """One record per test item: claim, test, seed, how re-seeded, outcome, values."""
    records = []
    for case in ET.parse(path).iter("testcase"):
        props = [(p.get("name"), p.get("value")) for p in case.iter("property")]
        named = dict(props)
        if "claim" not in named:
            continue
        module = case.get("classname", "").replace(".", "/")
        name = case.get("name", "")
        outcome, message = "passed", ""
        for tag in ("failure", "error"):
            found = case.find(tag)
            if found is not None:
                outcome, message = "failed", _message(found)
        skipped = case.find("skipped")
        if skipped is not None and outcome == "passed":
            outcome, message = "skipped", _message(skipped)
        records.append(
            {
                "claim": named["claim"],
                "test": f"{module}.py::{name.split('[')[0]}",
                "item": name,
                "seed": int(named["claim_seed"]) if "claim_seed" in named else None,
                "reseeded": named.get("reseeded", ""),
                "outcome": outcome,
                "message": message,
                "values": [ADDRESS.sub("", v) for k, v in props if k == "assert"],
                "time": round(float(case.get("time") or 0), 1),
            }
        )
    return records


def merge(results: dict, records: list[dict], stamp: str) -> dict:
    """Fold one run's records into the results, per claim and seed."""
    claims = results.setdefault("claims", {})
    by_claim: dict[str, list[dict]] = {}
    for record in records:
        by_claim.setdefault(record["claim"], []).append(record)
    for claim, items in by_claim.items():
        entry = claims.setdefault(claim, {})
        entry["test"] = items[0]["test"]
        how = items[0]["reseeded"]
        entry["reseeded"] = how
        seeded = [r for r in items if r["seed"] is not None]
        if not seeded:
            # own seeds, no seed, or rejected: nothing to count on the unseen seeds.
            entry.pop("seeds", None)
            entry["outcome"] = items[0]["outcome"]
            entry["message"] = items[0]["message"]
            entry["run"] = stamp
            continue
        entry.pop("outcome", None)
        entry.pop("message", None)
        seeds = entry.setdefault("seeds", {})
        for seed in sorted({r["seed"] for r in seeded}):
            mine = [r for r in seeded if r["seed"] == seed]
            failed = [r for r in mine if r["outcome"] != "passed"]
            seeds[seed] = {
                "holds": not failed,
                "run": stamp,
                "seconds": round(sum(r["time"] for r in mine), 1),
                "items": [
                    {
                        "item": r["item"],
                        "outcome": r["outcome"],
                        **({"message": r["message"]} if r["message"] else {}),
                        **({"values": r["values"]} if r["values"] else {}),
                    }
                    for r in mine
                ],
            }
    for entry in claims.values():
        summarize(entry)
    results["claims"] = dict(sorted(claims.items()))
    return results


def summarize(entry: dict) -> None:
    """Set ``holds`` (k of 5), ``failing_seeds`` and ``kind`` of one claim's entry."""
    kind = entry.get("reseeded", "").split(":")[0]
    entry["kind"] = kind
    if "seeds" not in entry:
        entry.pop("holds", None)
        entry.pop("failing_seeds", None)
        return
    measured = {int(s): r["holds"] for s, r in entry["seeds"].items()}
    # Seeds 0 and 1: the normal run (make test, green) unless measured here.
    outcome = {s: True for s in DEFAULT_SEEDS} | measured
    counted = [s for s in (*DEFAULT_SEEDS, *UNSEEN_SEEDS) if s in outcome]
    entry["holds"] = sum(outcome[s] for s in counted)
    entry["of"] = len(counted)
    entry["failing_seeds"] = [s for s in counted if not outcome[s]]


def main(argv: list[str] | None = None) -> int:
    """Run, merge, write; the exit code is pytest's unless ``--no-fail``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--chapters",
        default=None,
        help="comma-separated chapter numbers (default: every chapter)",
    )
    parser.add_argument("--seeds", default=",".join(map(str, UNSEEN_SEEDS)))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--junit",
        type=Path,
        default=None,
        help="merge this JUnit XML of an earlier run instead of running pytest",
    )
    parser.add_argument("extra", nargs="*", help="after --: more pytest arguments")
    args = parser.parse_args(argv)
    if args.chapters:
        chapters = [c.strip() for c in args.chapters.split(",") if c.strip()]
    else:
        chapters = sorted(
            {p.name[5:7] for p in (ROOT / "tests" / "claims").glob("test_*.py")}
        )
    seeds = [int(s) for s in args.seeds.split(",")]
    start = load()
    if args.junit:
        junit, code = args.junit, 0
    else:
        junit, code = run_pytest(chapters, seeds, args.jobs, args.extra)
    if not junit.exists():
        print(f"claim_seeds: pytest wrote no {junit} (exit {code})", file=sys.stderr)
        return code or 1
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    stamp = f"{now}, load {start} -> {load()}, jobs {args.jobs}"
    results = {}
    if args.out.exists():
        results = yaml.safe_load(args.out.read_text(encoding="utf-8")) or {}
    results["machine"] = machine()
    results["default_seeds"] = list(DEFAULT_SEEDS)
    results["unseen_seeds"] = list(UNSEEN_SEEDS)
    results = merge(results, parse_junit(junit), stamp)
    text = yaml.safe_dump(results, sort_keys=False, allow_unicode=True, width=88)
    args.out.write_text(HEADER + text, encoding="utf-8")
    print(f"claim_seeds: wrote {args.out}")
    for claim, entry in results["claims"].items():
        if "holds" in entry:
            failing = entry["failing_seeds"]
            tail = f", fails on seeds {failing}" if failing else ""
            print(f"  {claim}: holds on {entry['holds']} of {entry['of']}{tail}")
        else:
            print(f"  {claim}: {entry['reseeded']} ({entry['outcome']})")
    return code


if __name__ == "__main__":
    sys.exit(main())
