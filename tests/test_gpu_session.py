"""tools/gpu_session.sh and tools/gpu_wheels.sh agree with what they call.

The GPU session runs once, on a borrowed machine with a few minutes of device time:
a wrong path or option there costs the session. Checked here without a GPU: the
script parses, every test file it names exists, every Python script it calls
exists and accepts each option given to it, and the wheels it installs cover the
library's dependencies that the GPU machine lacks. A rehearsal of the whole script
on a CPU is `DLT_REHEARSAL=1 bash tools/gpu_session.sh 300` (about 4 minutes).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
SESSION = ROOT / "tools" / "gpu_session.sh"
WHEELS = ROOT / "tools" / "gpu_wheels.sh"


def _commands(text: str) -> list[str]:
    """The script's commands, continuation lines joined."""
    return [c.strip() for c in text.replace("\\\n", " ").splitlines()]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_session_script_parses():
    subprocess.run(["bash", "-n", str(SESSION)], check=True)


def test_the_session_names_test_files_that_exist():
    named = re.findall(r"tests/\S+\.py", SESSION.read_text())
    assert named, "gpu_session.sh names no test file"
    missing = [p for p in named if not (ROOT / p).is_file()]
    assert not missing, missing


def test_the_scripts_it_calls_accept_its_options():
    calls = [
        re.match(r".*?python3 (\S+\.py)(.*)", c) for c in _commands(SESSION.read_text())
    ]
    calls = [m for m in calls if m]
    assert {m[1] for m in calls} >= {
        "benchmarks/training_step.py",
        "tools/large_budget.py",
    }
    for m in calls:
        script, args = ROOT / m[1], m[2]
        assert script.is_file(), m[1]
        help_text = subprocess.run(
            [sys.executable, str(script), "--help"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
        options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", args))
        unknown = [o for o in options if o not in help_text]
        assert not unknown, f"{m[1]} does not take {unknown}"


def test_the_wheels_cover_what_the_gpu_machine_lacks():
    # The library's dependencies that the GPU machine's own Python lacks (its
    # package list is summarised in gpu_wheels.sh), plus what runs notebooks.
    text = WHEELS.read_text()
    packages = set(re.search(r'PACKAGES="([^"]*)"', text)[1].split())
    there = set(re.search(r"^# On the GPU machine: (.*)$", text, re.M)[1].split())
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    names = {re.match(r"[A-Za-z0-9_.-]+", d)[0].lower() for d in deps}
    lacking = names - there - packages
    assert not lacking, f"neither on the GPU machine nor in the wheels: {lacking}"
    assert {"nbclient", "ipykernel", "nbformat"} <= packages
    # One level down: what the wheels themselves import at start-up and do not
    # bring (mnist1d imports requests, IPython pygments).
    assert {"requests", "pygments"} <= there
