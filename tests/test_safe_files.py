"""Safe files: nothing the book loads from disk can run code (issue 14).

- Our code (lib/, tools/, benchmarks/, tests/, the book's notebooks and scripts) never
  calls ``torch.load`` without ``weights_only=True``, never unpickles (``pickle``,
  ``dill``, ``joblib``, ``pandas.read_pickle``, ``numpy.load(allow_pickle=True)``):
  an AST scan, with a negative control that the scan does flag such calls. A line
  that does it on purpose (the tests below, on a file they wrote) carries the comment
  ``# safe-files: deliberate``.
- ``torch.load`` without the argument is safe as well with the torch the book needs
  (weights_only=True is its default since 2.6): the third-party code we call
  (torchvision's legacy MNIST cache) relies on that.
- The opt-in CIFAR-10 (large budget) is a pickle: torchvision checks the md5 of every
  batch file against its hard-coded list before unpickling it. Checked on a planted
  file when torchvision is installed (it is not part of the CPU test environment).
"""

import ast
import json
import pickle
from pathlib import Path

import pytest
import torch

from dltheory import data

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("lib", "tools", "benchmarks", "tests", "book")
PRAGMA = "# safe-files: deliberate"

# (module, function) calls that unpickle; module names as written in the source.
UNPICKLERS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("pickle", "Unpickler"),
    ("cPickle", "load"),
    ("cPickle", "loads"),
    ("dill", "load"),
    ("dill", "loads"),
    ("cloudpickle", "load"),
    ("cloudpickle", "loads"),
    ("joblib", "load"),
    ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
    ("torch", "load"),  # allowed with weights_only=True only
    ("serialization", "load"),  # torch.serialization.load
    ("np", "load"),  # allowed without allow_pickle=True
    ("numpy", "load"),
}
UNPICKLING_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib"}


def _keyword(call, name):
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _is_true(node):
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_loads(source, name="<source>"):
    """(line, text) of each call or import in ``source`` that may unpickle."""
    tree = ast.parse(source, filename=name)
    lines = source.splitlines()
    found = []
    for node in ast.walk(tree):
        bad = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
            module = (
                base.attr
                if isinstance(base, ast.Attribute)
                else getattr(base, "id", None)
            )
            pair = (module, node.func.attr)
            if pair in UNPICKLERS:
                if module in ("torch", "serialization"):
                    bad = not _is_true(_keyword(node, "weights_only"))
                elif module in ("np", "numpy"):
                    bad = _is_true(_keyword(node, "allow_pickle"))
                else:
                    bad = True
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {alias.name for alias in node.names}
            top = node.module.split(".")[0]
            bad = (top in UNPICKLING_MODULES and bool(names & {"load", "loads"})) or (
                node.module in ("torch", "torch.serialization") and "load" in names
            )
        if bad:
            text = lines[node.lineno - 1]
            if PRAGMA not in text:
                found.append((node.lineno, text.strip()))
    return found


def _notebook_cells(path):
    """The code cells of a notebook, IPython magics and shell lines made ``pass``."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        yield "\n".join(
            line[: len(line) - len(line.lstrip())] + "pass"
            if line.lstrip().startswith(("%", "!"))
            else line
            for line in lines
        )


def _sources():
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            if "_build" in path.parts or ".ipynb_checkpoints" in path.parts:
                continue
            if path.suffix == ".py":
                yield path, path.read_text(encoding="utf-8")
            elif path.suffix == ".ipynb":
                for cell in _notebook_cells(path):
                    yield path, cell


def test_no_unsafe_load_in_our_code():
    scanned, problems = 0, []
    for path, source in _sources():
        scanned += 1
        for line, text in unsafe_loads(source, str(path)):
            problems.append(f"{path.relative_to(ROOT)}:{line}: {text}")
    assert scanned > 50  # lib, tests, notebooks: the scan saw the repository
    assert problems == [], (
        "torch.load needs weights_only=True, and nothing may unpickle:\n"
        + "\n".join(problems)
    )


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("torch.load(path)", True),
        ("torch.load(path, weights_only=False)", True),
        ("torch.load(path, map_location='cpu')", True),
        ("torch.serialization.load(path)", True),
        ("pickle.load(f)", True),
        ("pickle.loads(blob)", True),
        ("joblib.load(path)", True),
        ("pd.read_pickle(path)", True),
        ("np.load(path, allow_pickle=True)", True),
        ("from pickle import load", True),
        ("from torch import load", True),
        ("torch.load(path, weights_only=True)", False),
        ("torch.load(path, map_location='cpu', weights_only=True)", False),
        ("np.load(path)", False),
        ("torch.save(state, path)", False),
        ("json.load(f)", False),
        (f"pickle.load(f)  {PRAGMA}", False),
    ],
)
def test_scan_flags_what_it_should(source, flagged):
    # Negative control of the scan above: unsafe calls are found, safe ones are not.
    assert bool(unsafe_loads(source)) == flagged


class _Payload:
    """Unpickling it creates a file: stands for code a malicious file would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_torch_load_refuses_to_run_code_by_default(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save(_Payload(marker), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # safe-files: deliberate (the default since torch 2.6)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not marker.exists()
    # Negative control: the payload is real; unpickling it runs the code.
    with open(path.with_suffix(".pkl"), "wb") as f:
        pickle.dump(_Payload(marker), f)
    with open(path.with_suffix(".pkl"), "rb") as f:
        pickle.load(f).close()  # safe-files: deliberate
    assert marker.exists()
    # and a state dict loads with weights_only=True
    state = {"w": torch.arange(3.0)}
    torch.save(state, tmp_path / "ok.pt")
    loaded = torch.load(tmp_path / "ok.pt", weights_only=True)
    assert torch.equal(loaded["w"], state["w"])


def test_cifar10_files_are_checksummed_before_unpickling(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    cifar = torchvision.datasets.CIFAR10
    names = [name for name, _ in cifar.train_list + cifar.test_list]
    assert len(names) == 6
    assert all(len(md5) == 32 for _, md5 in cifar.train_list + cifar.test_list)
    assert len(cifar.tgz_md5) == 32
    # Plant pickles that would run code at the right names: the md5 check refuses
    # them before unpickling.
    marker = tmp_path / "ran"
    folder = tmp_path / cifar.base_folder
    folder.mkdir()
    for name in [*names, cifar.meta["filename"]]:
        with open(folder / name, "wb") as f:
            pickle.dump(_Payload(marker), f)
    with pytest.raises(RuntimeError, match="download=True"):
        data.cifar10(root=tmp_path)
    assert not marker.exists()
    # Negative control: without the md5 check the same files run their code.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cifar, "_check_integrity", lambda self: True)  # noqa: ARG005
        with pytest.raises(Exception):  # noqa: B017, PT011 (what fails next varies)
            data.cifar10(root=tmp_path)
    assert marker.exists()
