"""How the book is published, cited and numbered: checks that need no build.

- The GitHub Actions workflow (.github/workflows/book.yml) is valid for GitHub's own
  schema (check-jsonschema's vendored copy, offline) and does what book/setup.md
  says: a pull request runs ``make test`` and deploys nothing; a push to main (or a
  run by hand) runs ``make book`` and deploys _build/html to GitHub Pages; pip's
  cache is keyed on pyproject.toml and the Makefile. Each check has a negative
  control: a broken copy of the workflow must fail it.
- One address for the site: _config.yml's html.baseurl is the GitHub Pages address
  of its repository.url, and the README, pyproject.toml and CITATION.cff give it.
- CITATION.cff is valid CFF 1.2 and current: the version of lib/dltheory, the date
  and version of the latest release in book/changelog.md, the repository of
  _config.yml.
- Exercise numbers: the book shows exercise k of notebook N of chapter CC as
  "Exercise C.N.k" (book/_ext/exercise_numbers.py), so every exercise is labelled
  ``ex-CC-N-k``: the label a teacher writes is the number a student reads.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10; pytest itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BOOK_WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
CHANGELOG = ROOT / "book" / "changelog.md"
CITATION = ROOT / "CITATION.cff"
EXERCISE_LABEL = re.compile(r"^[`:]{3,}\{exercise\}[^\n]*\n:label: (\S+)", re.M)
RELEASE = re.compile(
    r"^## (?P<version>\d+\.\d+\.\d+) \((?P<date>\d{4}-\d{2}-\d{2})\)", re.M
)
CONDITION = re.compile(
    r"^(?:\$\{\{\s*)?github\.event_name\s*(?P<op>==|!=)\s*'(?P<event>[\w-]+)'"
    r"(?:\s*\}\})?$"
)
PAGES_EVENTS = ("push", "workflow_dispatch")


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def _check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess:
    """check-jsonschema with a schema it ships (no network)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema]
        + [str(p) for p in paths],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- The workflow: schema ---------------------------------------------------------


def test_the_workflows_are_valid_for_githubs_schema():
    assert BOOK_WORKFLOW in WORKFLOWS, f"missing {BOOK_WORKFLOW.relative_to(ROOT)}"
    result = _check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    # Negative control: the same file with one job's `steps` misspelt, and one with
    # a step that both runs a command and uses an action.
    text = BOOK_WORKFLOW.read_text(encoding="utf-8")
    misspelt = text.replace("    steps:\n", "    step:\n", 1)
    both = text.replace(
        "        run: make test\n",
        "        run: make test\n        uses: actions/checkout@v6\n",
        1,
    )
    assert misspelt != text, "the workflow changed: update the test"
    assert both != text, "the workflow changed: update the test"
    for name, broken in (("misspelt.yml", misspelt), ("both.yml", both)):
        path = tmp_path / name
        path.write_text(broken, encoding="utf-8")
        result = _check_jsonschema("vendor.github-workflows", path)
        assert result.returncode != 0, f"{name} passed the schema:\n{result.stdout}"
        assert name in result.stdout + result.stderr


# --- The workflow: what it does -----------------------------------------------------


def _triggers(workflow: dict) -> dict:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on or {}


def _runs_on(job: dict, event: str) -> bool:
    condition = job.get("if")
    if condition is None:
        return True
    m = CONDITION.match(str(condition).strip())
    if m is None:
        raise ValueError(
            f"if: {condition!r}: the test reads only `github.event_name == 'x'` "
            "or `!= 'x'`; extend tests/test_deploy.py for another form"
        )
    return (m["event"] == event) == (m["op"] == "==")


def _jobs_on(workflow: dict, event: str) -> dict[str, dict]:
    """The jobs that run on an event (their `if`, and the jobs they need)."""
    jobs = workflow.get("jobs", {})
    memo: dict[str, bool] = {}

    def runs(name: str) -> bool:
        if name not in memo:
            job = jobs[name]
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            memo[name] = _runs_on(job, event) and all(runs(n) for n in needs)
        return memo[name]

    return {name: job for name, job in jobs.items() if runs(name)}


def _step_index(job: dict, *, run: str | None = None, uses: str | None = None):
    """Index of the first step running ``run`` or using action ``uses`` (any @v)."""
    for i, step in enumerate(job.get("steps", [])):
        if run is not None and run in str(step.get("run", "")).splitlines():
            return i
        if uses is not None and str(step.get("uses", "")).split("@")[0] == uses:
            return i
    return None


def _setting(workflow: dict, job: dict, key: str) -> dict:
    """A job's permissions or env, over the workflow's."""
    merged = dict(workflow.get(key) or {})
    merged.update(job.get(key) or {})
    return merged


def workflow_problems(workflow: dict) -> list[str]:
    """What keeps the workflow from doing what book/setup.md says, one line each."""
    problems = []
    triggers = _triggers(workflow)
    if "pull_request" not in triggers:
        problems.append("on: no pull_request trigger")
    push = triggers.get("push") or {}
    if "main" not in (push.get("branches") or []):
        problems.append("on: push to main is not a trigger")
    if "workflow_dispatch" not in triggers:
        problems.append("on: no workflow_dispatch trigger (a run by hand)")
    if "concurrency" not in workflow and not any(
        "concurrency" in job for job in workflow.get("jobs", {}).values()
    ):
        problems.append("no concurrency group: two deployments could race")

    for name, job in workflow.get("jobs", {}).items():
        makes = [
            i
            for i, s in enumerate(job.get("steps", []))
            if "make " in str(s.get("run"))
        ]
        if not makes:
            continue
        checkout = _step_index(job, uses="actions/checkout")
        python = _step_index(job, uses="actions/setup-python")
        if checkout is None or checkout > makes[0]:
            problems.append(f"job {name}: no actions/checkout before make")
        if python is None or python > makes[0]:
            problems.append(f"job {name}: no actions/setup-python before make")
            continue
        with_ = job["steps"][python].get("with") or {}
        if with_.get("cache") != "pip":
            problems.append(f"job {name}: setup-python without cache: pip")
        keys = str(with_.get("cache-dependency-path", "")).split()
        if not {"pyproject.toml", "Makefile"} <= set(keys):
            problems.append(
                f"job {name}: pip cache keyed on {keys}, "
                "not pyproject.toml and Makefile"
            )

    try:
        on_pr = _jobs_on(workflow, "pull_request")
        on_pages = {event: _jobs_on(workflow, event) for event in PAGES_EVENTS}
    except ValueError as error:
        return [*problems, str(error)]

    if not any(_step_index(j, run="make test") is not None for j in on_pr.values()):
        problems.append("pull_request: no job runs `make test`")
    for name, job in on_pr.items():
        for action in ("actions/upload-pages-artifact", "actions/deploy-pages"):
            if _step_index(job, uses=action) is not None:
                problems.append(f"pull_request: job {name} uses {action}")

    for event, jobs in on_pages.items():
        builders = {}
        for name, job in jobs.items():
            make = _step_index(job, run="make book")
            upload = _step_index(job, uses="actions/upload-pages-artifact")
            if make is None:
                continue
            if upload is None or upload < make:
                problems.append(f"{event}: job {name} uploads no Pages artifact")
                continue
            path = (job["steps"][upload].get("with") or {}).get("path")
            if str(path).rstrip("/") != "_build/html":
                problems.append(
                    f"{event}: job {name} publishes {path}, not _build/html"
                )
            if _step_index(job, uses="actions/configure-pages") is None:
                problems.append(f"{event}: job {name} has no actions/configure-pages")
            chromium = _setting(workflow, job, "env").get("DLT_CHROMIUM")
            if chromium != "google-chrome":
                problems.append(f"{event}: job {name} DLT_CHROMIUM is {chromium!r}")
            builders[name] = job
        if not builders:
            problems.append(f"{event}: no job runs `make book` and uploads _build/html")
        deployers = {
            name: job
            for name, job in jobs.items()
            if _step_index(job, uses="actions/deploy-pages") is not None
        }
        if not deployers:
            problems.append(f"{event}: no job deploys to Pages")
        for name, job in deployers.items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            if not set(needs) & set(builders):
                problems.append(f"{event}: job {name} deploys without the book job")
            granted = _setting(workflow, job, "permissions")
            for scope in ("pages", "id-token"):
                if granted.get(scope) != "write":
                    problems.append(f"job {name}: permissions {scope}: write missing")
            environment = job.get("environment") or {}
            if isinstance(environment, dict):
                environment = environment.get("name")
            if environment != "github-pages":
                problems.append(f"job {name}: environment {environment!r}")
    return sorted(set(problems))


def _workflow() -> dict:
    return yaml.safe_load(BOOK_WORKFLOW.read_text(encoding="utf-8"))


def test_the_workflow_tests_pull_requests_and_deploys_main():
    assert workflow_problems(_workflow()) == []


def _drop_if(wf):
    for job in wf["jobs"].values():
        job.pop("if", None)


def _steps(wf, uses):
    return [
        s for j in wf["jobs"].values() for s in j["steps"] if uses in s.get("uses", "")
    ]


MUTATIONS = {
    "no make test": (
        lambda wf: wf["jobs"]["test"]["steps"][-1].update(run="make lint"),
        "pull_request: no job runs `make test`",
    ),
    "deploys pull requests": (_drop_if, "pull_request: job deploy uses"),
    "wrong folder": (
        lambda wf: _steps(wf, "upload-pages-artifact")[0]["with"].update(path="_build"),
        "publishes _build, not _build/html",
    ),
    "no pip cache": (
        lambda wf: _steps(wf, "setup-python")[0]["with"].pop("cache"),
        "setup-python without cache: pip",
    ),
    "cache misses the Makefile": (
        lambda wf: _steps(wf, "setup-python")[1]["with"].update(
            {"cache-dependency-path": "pyproject.toml"}
        ),
        "not pyproject.toml and Makefile",
    ),
    "no pages permission": (
        lambda wf: wf["jobs"]["deploy"].pop("permissions"),
        "permissions pages: write missing",
    ),
    "no chrome": (
        lambda wf: wf["jobs"]["book"].pop("env"),
        "DLT_CHROMIUM is None",
    ),
    "no main": (
        lambda wf: wf[True]["push"].update(branches=["master"]),
        "push to main is not a trigger",
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_the_workflow_check_catches_a_broken_workflow(mutation):
    # Negative control: each edit of the real workflow must be reported.
    edit, expected = MUTATIONS[mutation]
    broken = copy.deepcopy(_workflow())
    edit(broken)
    problems = workflow_problems(broken)
    assert any(expected in p for p in problems), problems


# --- One address ---------------------------------------------------------------------


def test_the_site_address_is_the_pages_address_of_the_repository_everywhere():
    config = _config()
    repo = config["repository"]["url"].rstrip("/")
    owner, name = repo.removeprefix("https://github.com/").split("/")
    site = config["html"]["baseurl"].rstrip("/")
    assert site == f"https://{owner.lower()}.github.io/{name}", (
        f"html.baseurl {site} is not the GitHub Pages address of {repo} (a custom "
        "domain? then change this test with it)"
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    online = re.search(r"Read it online at <([^>]+)>", readme)
    assert online, "README: no 'Read it online at <…>'"
    assert online[1].rstrip("/") == site, f"README: online at {online[1]}"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["urls"]["Homepage"].rstrip("/") == site
    assert (
        yaml.safe_load(CITATION.read_text(encoding="utf-8"))["url"].rstrip("/") == site
    )


# --- CITATION.cff --------------------------------------------------------------------


def _version() -> str:
    tree = ast.parse((ROOT / "lib" / "dltheory" / "__init__.py").read_text("utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and ast.unparse(node.targets[0]) == "__version__"
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("no __version__ in lib/dltheory/__init__.py")


def test_citation_cff_is_valid(tmp_path):
    result = _check_jsonschema("vendor.citation-file-format", CITATION)
    assert result.returncode == 0, result.stdout + result.stderr
    # Negative control: a CFF without its required authors is rejected.
    cff = yaml.safe_load(CITATION.read_text(encoding="utf-8"))
    del cff["authors"]
    broken = tmp_path / "CITATION.cff"
    broken.write_text(yaml.safe_dump(cff), encoding="utf-8")
    assert _check_jsonschema("vendor.citation-file-format", broken).returncode != 0


def test_citation_cff_is_the_latest_release_of_the_changelog():
    cff = yaml.safe_load(CITATION.read_text(encoding="utf-8"))
    changelog = CHANGELOG.read_text(encoding="utf-8")
    assert changelog.find("## Unreleased") < changelog.find("\n## 0"), (
        "book/changelog.md opens with an 'Unreleased' section"
    )
    latest = RELEASE.search(changelog)
    assert latest, "book/changelog.md: no release heading '## X.Y.Z (YYYY-MM-DD)'"
    assert str(cff["version"]) == latest["version"] == _version(), (
        f"CITATION.cff {cff['version']}, changelog {latest['version']}, "
        f"lib/dltheory {_version()}: a release changes the three together"
    )
    assert str(cff["date-released"]) == latest["date"]
    assert cff["repository-code"].rstrip("/") == _config()["repository"]["url"]


# --- Exercise numbers ----------------------------------------------------------------


def _exercise_numbers_module():
    path = ROOT / "book" / "_ext" / "exercise_numbers.py"
    spec = importlib.util.spec_from_file_location("exercise_numbers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_book_numbers_exercises_per_chapter():
    extensions = _config()["sphinx"]["local_extensions"]
    assert extensions.get("exercise_numbers") == "book/_ext"
    numbers = _exercise_numbers_module().chapter_numbers(
        {
            "book/05_guillotine/1_cutting_the_head": {
                "exercise": {"ex-b": (43,), "ex-a": (42,)},
                "figure": {"fig": (7,)},
            },
            "book/05_guillotine/index": {"exercise": {"ex-i": (41,)}},
            "book/setup": {"exercise": {"ex-s": (1,)}},
        }
    )
    # Sphinx's book-wide numbers 42, 43 become 5.1.1, 5.1.2; other pages keep theirs.
    assert numbers == {
        "book/05_guillotine/1_cutting_the_head": {"ex-a": (5, 1, 1), "ex-b": (5, 1, 2)},
        "book/05_guillotine/index": {"ex-i": (5, 1)},
    }


NOTEBOOKS = sorted((ROOT / "book").glob("[0-9][0-9]_*/[0-9]*_*.ipynb"))


@pytest.mark.parametrize(
    "notebook", NOTEBOOKS, ids=[p.relative_to(ROOT).as_posix() for p in NOTEBOOKS]
)
def test_exercise_labels_are_the_numbers_the_book_shows(notebook):
    chapter = notebook.parent.name.split("_")[0]
    page = notebook.name.split("_")[0]
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    text = "\n".join(
        "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
    )
    labels = EXERCISE_LABEL.findall(text)
    expected = [f"ex-{chapter}-{page}-{k}" for k in range(1, len(labels) + 1)]
    assert labels == expected, (
        f"{notebook.relative_to(ROOT)}: the book shows its exercises as "
        f"{', '.join(f'{int(chapter)}.{int(page)}.{k}' for k in range(1, 4))}, ...: "
        f"label them {expected}, got {labels}"
    )
