"""The benchmarks' results files, `make bench`, and the Performance page agree.

File checks only: no benchmark runs here. `make bench` writes
benchmarks/results/<name>.json for every script in benchmarks/ and renders
book/performance.md from them (benchmarks/report.py); these tests fail when a
script has no results, a results file is malformed or names no script, the Makefile
misses a script, or the committed page is not what the results render to.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
#: Helpers of the benchmarks, not benchmarks.
NOT_BENCHMARKS = {"_harness", "gather", "report"}


def _module(name: str):
    sys.path.insert(0, str(BENCH))  # the scripts import _harness by name
    try:
        spec = importlib.util.spec_from_file_location(
            f"bench_{name}", BENCH / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def _scripts() -> list[str]:
    return sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in NOT_BENCHMARKS)


def _results() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}


def test_every_benchmark_script_has_a_results_file():
    missing = [s for s in _scripts() if not (RESULTS / f"{s}.json").is_file()]
    assert not missing, f"no benchmarks/results/<name>.json (run make bench): {missing}"


@pytest.mark.parametrize("name", sorted(_results()))
def test_a_results_file_parses_and_names_its_script(name):
    data = _results()[name]
    assert data["benchmark"] == name
    # <script>.json, or <script>.<device>.json for a script run on another device
    # (training_step.cuda.json: benchmarks/training_step.py --device cuda).
    assert data["script"] == f"benchmarks/{name.split('.')[0]}.py"
    assert (ROOT / data["script"]).is_file(), f"{name}.json names a missing script"
    machine = data["machine"]
    for key in (
        "cpu",
        "cores",
        "torch_threads",
        "started",
        "load_before",
        "load_after",
    ):
        assert machine.get(key) not in (None, ""), f"{name}.json: machine.{key} missing"
    assert data["rows"], f"{name}.json has no rows"
    for target in data["targets"]:
        assert isinstance(target["met"], bool), target
        assert target["what"], target


def test_make_bench_runs_every_benchmark_script():
    text = (ROOT / "Makefile").read_text()
    named = set()
    for var in ("BENCH_SCRIPTS", "BENCH_GATHERED"):
        m = re.search(rf"^{var} := (.*)$", text, re.M)
        assert m, f"Makefile: no {var}"
        named |= set(m[1].split())
    assert named == set(_scripts()), (
        f"Makefile bench runs {sorted(named)}, benchmarks/ has {_scripts()}"
    )


def test_the_performance_page_is_rendered_from_the_committed_results():
    report = _module("report")
    page = (ROOT / "book" / "performance.md").read_text()
    assert page == report.render_markdown(report._load()), (
        "book/performance.md is not what benchmarks/report.py renders from "
        "benchmarks/results/: run .venv/bin/python benchmarks/report.py"
    )
    for figure in re.findall(r"```\{figure\} (\S+)", page):
        assert (ROOT / "book" / figure).is_file(), f"missing figure book/{figure}"
    for name, data in _results().items():
        assert data["title"] in page, f"the page has no section for {name}"


def test_gather_reads_per_size_tables_and_targets():
    gather = _module("gather")
    text = (
        "n = 256: ms per update (median of 7)\n"
        "       projUNN-T k=1:     0.125\n"
        "  ratios: SVD / T 30.1x\n"
        "  target SVD / T >= 20: met\n"
        "\n"
        "n = 16: ms per iteration (median of 5)\n"
        "         CP:     12.34 ms,     1234 parameters\n"
        "\n"
        "  target projUNN-T <= 1.5x unconstrained: NOT met\n"
    )
    rows, targets = gather.parse(text)
    assert [(r["method"], r["n"], r["ms"]) for r in rows] == [
        ("projUNN-T k=1", 256, 0.125),
        ("CP", 16, 12.34),
    ]
    assert [(t["what"], t["met"]) for t in targets] == [
        ("SVD / T >= 20 (n = 256)", True),
        ("projUNN-T <= 1.5x unconstrained", False),
    ]


def test_growth_exponent_recovers_a_power_law():
    harness = _module("_harness")
    sizes = [100, 200, 400, 800]
    assert harness.growth_exponent(
        sizes, [1e-9 * n**3 for n in sizes]
    ) == pytest.approx(3)
    # A constant time has exponent 0, not the 3 of the power law.
    assert harness.growth_exponent(sizes, [0.5] * 4) == pytest.approx(0, abs=1e-12)
