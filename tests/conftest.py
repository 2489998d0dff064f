"""Re-seeding the claim tests: ``pytest --claim-seeds=2,3,4 tests/claims``.

The claim tests choose their margins on seeds 0 and 1 (sometimes 0-4) and run at those
seeds in ``make test``. ``make seeds`` (tools/claim_seeds.py) runs every claim test
again on seeds that no margin was chosen on, through the option ``--claim-seeds``;
without the option this file changes nothing.

With ``--claim-seeds=S1,S2,...`` only the tests marked ``@pytest.mark.claim`` run, and
each is re-seeded in one of these ways, or rejected loudly:

- ``parametrize``: the test takes ``seed`` from ``@pytest.mark.parametrize("seed",
  [...])`` (a literal list or a module constant such as ``SEEDS``); that mark is
  replaced by ``parametrize("seed", [S1, S2, ...])``. Other parametrizations (the
  method, the dtype) are kept. A file whose random draw has another name (chapter 09's
  data ``split``) says so in :data:`SEED_ARGUMENTS`.
- ``constant``: the test reads its seeds from a module constant inside its body (listed
  in :data:`SEED_CONSTANTS`); it runs once per seed with the constant set to ``[S]``.
- ``own seeds``: the claim is a statistic over a fixed set of seeds of its own (listed
  in :data:`OWN_SEEDS`, with why); it is not re-run.
- ``no seed``: the claim is an exact identity with no random draw (listed in
  :data:`NO_SEED`); it is not re-run.
- ``rejected``: anything else (a ``seed`` parametrized together with another argument,
  a seed from a fixture, a test in none of the lists). Such a test fails at setup with
  a message saying why, so that the run lists it rather than running it silently at its
  own seeds; the summary line counts it as an error.

Every re-seeded test records, in ``user_properties`` (and so in the JUnit XML that
tools/claim_seeds.py reads), its claim, its seed, how it was re-seeded and, when pytest
runs with ``-o enable_assertion_pass_hook=true``, the explanation of each passing
``assert`` (the measured values the assertion compared).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

#: Test files whose claim tests take their random draw under another argument name
#: than ``seed``: file name -> that name (re-seeded like ``seed``).
SEED_ARGUMENTS = {
    # the data split (each run averages training seeds 0-15 on it)
    "test_09_class_dependent_regularization.py": "split",
}

#: Claim tests whose seeds are a module constant read inside the test body (no
#: ``seed`` argument): node name (file::function) -> the constant's name.
SEED_CONSTANTS = {
    "test_06_batchnorm_splines.py::"
    "test_claim6_batch_statistics_end_with_larger_margins": "MARGIN_SEEDS",
}

#: Claim tests that are a statistic over a fixed set of seeds of their own: node name
#: -> why they are not re-seeded (the ledger shows this text).
OWN_SEEDS = {
    "test_03_vcreg_independence.py::test_claim3_random_features_sweep": (
        "a count of failed runs over its own seeds 0-9 (measured once over seeds "
        "10-19 too)"
    ),
}

#: Claim tests with no random draw (exact identities): node name -> what they check.
NO_SEED: dict[str, str] = {}

#: user_properties keys written by this file.
PROPERTY_CLAIM = "claim"
PROPERTY_SEED = "claim_seed"
PROPERTY_HOW = "reseeded"
PROPERTY_ASSERT = "assert"
MAX_ASSERTS = 12  # passing-assert explanations kept per test
MAX_ASSERT_CHARS = 300


def pytest_addoption(parser):
    parser.addoption(
        "--claim-seeds",
        default=None,
        help="run only the claim tests, re-seeded with these seeds (comma separated, "
        "e.g. 2,3,4); see tests/conftest.py",
    )
    parser.addoption(
        "--run-install",
        action="store_true",
        help="also collect tests/install (fresh environments; needs the package "
        "registry): make test-install",
    )


def pytest_ignore_collect(collection_path, config):
    # tests/install builds fresh environments from the package registry: only with
    # --run-install (make test-install), never inside make test-offline's namespace.
    if collection_path == HERE / "install" and not config.getoption("--run-install"):
        return True
    return None


def _claim_seeds(config) -> list[int] | None:
    text = config.getoption("--claim-seeds", default=None)
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise pytest.UsageError(
            f"--claim-seeds: expected comma-separated integers such as 2,3,4, "
            f"got {text!r}"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise pytest.UsageError(
            f"--claim-seeds: expected distinct integers such as 2,3,4, got {text!r}"
        )
    return seeds


def _node_name(definition) -> str:
    """``test_file.py::function`` of a test function (no parametrization)."""
    return f"{definition.path.name}::{definition.originalname}"


def _seed_name(definition) -> str:
    """The argument that holds a test's seed: ``seed`` unless SEED_ARGUMENTS says."""
    return SEED_ARGUMENTS.get(definition.path.name, "seed")


def _seed_marks(definition) -> list:
    """The parametrize marks of a test function that name its seed argument."""
    seed = _seed_name(definition)
    marks = []
    for mark in definition.iter_markers(name="parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        if seed in names:
            marks.append((mark, list(names)))
    return marks


def _plan(definition, fixturenames) -> tuple[str, str]:
    """How a claim test is re-seeded: (kind, detail), kind as in the docstring."""
    name = _node_name(definition)
    if name in OWN_SEEDS:
        return "own seeds", OWN_SEEDS[name]
    if name in NO_SEED:
        return "no seed", NO_SEED[name]
    if name in SEED_CONSTANTS:
        return "constant", SEED_CONSTANTS[name]
    seed = _seed_name(definition)
    if seed not in fixturenames:
        return "rejected", (
            "it takes no seed argument and is in none of SEED_CONSTANTS, OWN_SEEDS, "
            "NO_SEED (tests/conftest.py): add it to one of them"
        )
    marks = _seed_marks(definition)
    if len(marks) != 1:
        return "rejected", (
            f"expected one @pytest.mark.parametrize({seed!r}, ...), found {len(marks)} "
            "(a seed from a fixture cannot be re-seeded)"
        )
    mark, names = marks[0]
    if names != [seed]:
        return "rejected", (
            f"its seed is parametrized together with {names}: give the seed its own "
            f"@pytest.mark.parametrize({seed!r}, ...)"
        )
    if mark not in definition.own_markers:
        return "rejected", "its seed parametrization is not on the function itself"
    return "parametrize", "" if seed == "seed" else f"argument {seed}"


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    seeds = _claim_seeds(metafunc.config)
    definition = metafunc.definition
    if seeds is None or definition.get_closest_marker("claim") is None:
        return
    kind, detail = _plan(definition, metafunc.fixturenames)
    metafunc.config.stash.setdefault(_PLANS, {})[_node_name(definition)] = (
        kind,
        detail,
    )
    if kind == "parametrize":
        mark = _seed_marks(definition)[0][0]
        definition.own_markers.remove(mark)
        metafunc.parametrize(_seed_name(definition), seeds)
    elif kind == "constant":
        metafunc.parametrize("_claim_seed", seeds, indirect=True)


#: node name -> (kind, detail), filled as the claim tests are collected.
_PLANS = pytest.StashKey[dict]()


def _plan_of(config, name: str) -> tuple[str, str]:
    return config.stash.get(_PLANS, {}).get(name, ("rejected", "no plan was made"))


@pytest.fixture(autouse=True)
def _claim_seed(request):
    """Under ``--claim-seeds``, set a ``constant`` test's seed list to ``[seed]``."""
    seed = getattr(request, "param", None)
    if seed is None:
        yield None
        return
    name = SEED_CONSTANTS[_node_name(request.node)]
    module = request.module
    if not hasattr(module, name):
        raise pytest.UsageError(
            f"--claim-seeds: SEED_CONSTANTS names {name} for {request.node.nodeid}, "
            f"but {module.__name__} has no such constant"
        )
    old = getattr(module, name)
    setattr(module, name, [seed])
    try:
        yield seed
    finally:
        setattr(module, name, old)


def pytest_collection_modifyitems(config, items):
    if _claim_seeds(config) is None:
        return
    kept, deselected, seen = [], [], set()
    for item in items:
        marker = item.get_closest_marker("claim")
        if marker is None:
            deselected.append(item)
            continue
        name = _node_name(item)
        kind, detail = _plan_of(config, name)
        if kind in ("own seeds", "no seed", "rejected"):
            # One entry per test function, whatever its parametrization.
            if name in seen:
                deselected.append(item)
                continue
            seen.add(name)
        claim = f"{marker.kwargs.get('chapter')}-{marker.kwargs.get('k')}"
        params = getattr(getattr(item, "callspec", None), "params", {})
        seed = params.get(_seed_name(item), params.get("_claim_seed"))
        item.user_properties += [
            (PROPERTY_CLAIM, claim),
            (PROPERTY_HOW, f"{kind}: {detail}" if detail else kind),
        ]
        if kind in ("parametrize", "constant"):
            item.user_properties.append((PROPERTY_SEED, seed))
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = kept


def pytest_runtest_setup(item):
    if _claim_seeds(item.config) is None:
        return
    if item.get_closest_marker("claim") is None:
        return
    kind, detail = _plan_of(item.config, _node_name(item))
    if kind == "rejected":
        pytest.fail(f"--claim-seeds cannot re-seed {item.nodeid}: {detail}")
    if kind in ("own seeds", "no seed"):
        pytest.skip(f"{kind}: {detail}")


def pytest_assertion_pass(item, lineno, orig, expl):  # noqa: ARG001 (pytest's signature)
    if _claim_seeds(item.config) is None:
        return
    recorded = [p for p in item.user_properties if p[0] == PROPERTY_ASSERT]
    if len(recorded) >= MAX_ASSERTS:
        return
    # One line, without the memory addresses of functions (they change every run).
    text = re.sub(r" at 0x[0-9a-f]+", "", " ".join(expl.split()))
    if len(text) > MAX_ASSERT_CHARS:
        text = text[: MAX_ASSERT_CHARS - 3] + "..."
    item.user_properties.append((PROPERTY_ASSERT, f"{orig}  =>  {text}"))
