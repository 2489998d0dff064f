#!/usr/bin/env bash
# One prepared run on a borrowed GPU machine (issue 15): the checks that need a GPU,
# in one command that ends within its time. Run from the repository root:
#
#     bash tools/gpu_session.sh [SECONDS]        # SECONDS: the whole run, default 560
#
# DLT_PHASES (default "1 2 3") picks the phases: a later session whose tests and
# benchmark are already recorded gives all its time to the notebooks with
# DLT_PHASES=3.
#
# Phases, each with its own cap, in order of value:
#   1. the unit tests that need CUDA (skipped on a CPU): augmentations and the
#      training loop's host-to-device copies on the GPU, classwise sweeps (90 s);
#   2. benchmarks/training_step.py --device cuda: float32 / bf16 autocast /
#      torch.compile / pageable copies, written to training_step.cuda.json (180 s);
#   3. tools/large_budget.py: the notebooks of chapters 00-05 at DLT_SCALE=large,
#      four at a time, until the time is up; what is recorded is skipped (ok runs,
#      runs that need more time than this session has, failures at the same
#      commit), so successive sessions carry on where the last stopped.
# What it writes goes to $OUT (the device tool's folder that comes back; a local
# folder otherwise): session.log, tests.log, nvidia-smi.txt, training_step.cuda.json,
# large_budget.json, executed.tar.gz (the executed notebooks). Back on the
# development machine: copy large_budget.json to book/, training_step.cuda.json to
# benchmarks/results/, run `python benchmarks/report.py`, and commit.
#
# A rehearsal on a CPU (checks the script, not the GPU): DLT_REHEARSAL=1 bash
# tools/gpu_session.sh 300 runs the same phases on the CPU, the benchmark with
# --quick and two notebooks at the small budget, into _build/gpu_session, with the
# development venv's Python first on PATH (the wheels, built for the GPU machine's
# Python 3.12, are not installed then).
#
# The machine has no network and its own Python with torch; the packages it lacks
# (nbclient, ipykernel, ipywidgets, mnist1d and their dependencies) travel as wheels
# in .whl/ (ignored by git; see tools/gpu_wheels.sh) and are installed to a
# temporary folder. dltheory is imported from lib/ (PYTHONPATH), not installed.
set -u
total=${1:-560}
phases=${DLT_PHASES:-1 2 3}
rehearsal=${DLT_REHEARSAL:-0}
start=$(date +%s)
left() { echo $((total - ($(date +%s) - start))); }
OUT=${OUT:-_build/gpu_session}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/session.log") 2>&1
# The device machine gets a copy of the working tree, maybe without .git: the caller
# can name the commit (DLT_COMMIT=abc1234 bash tools/gpu_session.sh).
commit=${DLT_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
echo "gpu_session: $(date -u +%FT%TZ), commit $commit, $total s in all"

work=$(mktemp -d)  # the wheels' packages and the executed notebooks
if [ -d .whl ] && [ "$rehearsal" != 1 ]; then
    # Only the notebooks need them: a failure here is logged, phases 1-2 still run.
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target "$work/site" .whl/*.whl \
        || echo "gpu_session: the wheels did not install; phase 3 will fail"
    export PYTHONPATH="$work/site"
fi
export PYTHONPATH="$PWD/lib${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export DLT_DOWNLOAD=0  # no network there
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
if [ "$rehearsal" = 1 ]; then
    device=cpu bench_extra="--quick"
    nb_args="--scale small --only 00_foundations/2 --only 01_spectral_ssl/1"
else
    device=cuda bench_extra="" nb_args=""
    python3 -c "import torch; print('torch', torch.__version__, 'on', torch.cuda.get_device_name(0))" || exit 1
fi

case " $phases " in *" 1 "*)
    echo "== 1. unit tests that need CUDA ($(left) s left)"
    timeout 90 python3 -m pytest -q -p no:cacheprovider -o addopts="-ra" \
        tests/lib/test_augment.py tests/lib/test_classwise.py tests/lib/test_train.py \
        tests/lib/test_runtime.py > "$OUT/tests.log" 2>&1
    echo "tests: exit $? ($(tail -n 1 "$OUT/tests.log"))" ;;
esac

case " $phases " in *" 2 "*)
    echo "== 2. training step benchmark ($(left) s left)"
    timeout 180 python3 benchmarks/training_step.py --device $device --threads 4 \
        --repeats 3 --out "$OUT" $bench_extra
    echo "benchmark: exit $?" ;;
esac

case " $phases " in *" 3 "*)
    echo "== 3. large-budget notebooks, chapters 00-05 ($(left) s left)"
    python3 -c "import nbclient, ipykernel, IPython, ipywidgets, mnist1d" \
        && echo "notebook packages: importable"
    cp book/large_budget.json "$OUT/large_budget.json"
    mkdir -p "$work/executed"
    python3 tools/large_budget.py --chapters 00 01 02 03 04 05 --jobs 4 --skip-done \
        --deadline-s $(($(left) - 20)) --timeout-s 600 \
        --results "$OUT/large_budget.json" --executed-dir "$work/executed" \
        --commit "$commit" $nb_args
    echo "large budget: exit $?"
    tar -czf "$OUT/executed.tar.gz" -C "$work/executed" . 2>/dev/null ;;
esac
echo "gpu_session: done in $(($(date +%s) - start)) s"
exec >&- 2>&-  # close the pipe to tee, and let it write the log's last lines
wait
