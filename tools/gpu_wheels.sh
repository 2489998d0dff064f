#!/usr/bin/env bash
# Fetch, into .whl/ (ignored by git), the wheels that tools/gpu_session.sh installs
# on a GPU machine without network: what the notebooks need beyond that machine's own
# Python 3.12 with torch (nbclient, ipykernel, ipywidgets, mnist1d and their
# dependencies), at the versions of this project's .venv. Run from the repository
# root on a machine that reaches the package index:
#
#     bash tools/gpu_wheels.sh
#
# It also adds /.whl/ to .git/info/exclude, so that the wheels are never committed;
# an ignored folder travels to a GPU machine only when named (the device tool's
# `carry: [".whl"]`).
# About 17 MB. Left out, as the GPU machine's own Python has them (its package list,
# 2026-11; tests/test_gpu_session.py reads this line):
# On the GPU machine: torch numpy scipy scikit-learn scikit-image matplotlib tqdm pyyaml psutil attrs python-dateutil pytest hypothesis requests pygments
set -eu
PACKAGES="asttokens comm debugpy decorator executing fastjsonschema ipykernel ipython
ipython_pygments_lexers ipywidgets jedi jsonschema jsonschema-specifications
jupyter_client jupyter_core jupyterlab_widgets matplotlib-inline mnist1d nbclient
nbformat nest-asyncio2 parso pexpect platformdirs prompt_toolkit ptyprocess pure_eval
pyzmq referencing rpds-py stack-data tornado traitlets wcwidth widgetsnbextension"
PY=${PY:-.venv/bin/python}
pinned=$($PY - $PACKAGES <<'PYEOF'
import sys
from importlib import metadata
for name in sys.argv[1:]:
    try:
        print(f"{name}=={metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(name)
PYEOF
)
mkdir -p .whl
$PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl $pinned
mkdir -p .git/info
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
echo "$(ls .whl | wc -l) wheels in .whl/"
