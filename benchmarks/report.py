"""Render the book's Performance page from the committed benchmark results.

Run: ``.venv/bin/python benchmarks/report.py`` (``make bench`` runs it last).

Reads ``benchmarks/results/*.json`` and writes ``book/performance.md`` (tables,
targets, machine and date of each run) and one log-log figure per benchmark,
``book/performance/<name>.svg``. The book build reads these files and re-runs no
benchmark; ``tests/test_benchmarks.py`` checks that the page is what this script
renders from the results in the repository.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "book" / "performance.md"
FIGURES = ROOT / "book" / "performance"
ORDER = [
    "losses",
    "probes",
    "hsic",
    "closed_forms",
    "unitary_updates",
    "deeptensor_speed",
    "training_step",
    "training_step.cuda",
]

INTRO = """\
# Performance

The library is teaching code that reads like the equations, and it should still be
as fast as what a practitioner would write. Each benchmark below times one library
function against that baseline **in the same process** (after checking that both
give the same answer), takes the median of several calls after a warm-up, and states
the machine, the number of threads and the load of the machine while it ran.

This page is rendered by `benchmarks/report.py` from the results files that the last
`make bench` wrote (`benchmarks/results/*.json`, committed); building the book does
not re-run any benchmark. To measure your own machine:

```bash
make bench            # about 11 minutes on a two-core CPU; rewrites this page
```

The timings are from a shared two-core CPU machine under load (the load average is
given with each run), so ratios measured in one run are meaningful and absolute
times are not. The training loops' `torch.compile` and bf16 options are timed on
this CPU below{gpu}.
"""
GPU_NONE = (
    "; on a GPU they have not been measured yet (the book is built on CPU-only "
    "machines: `tools/gpu_session.sh` measures them when one is at hand)"
)
GPU_DONE = ", and on a GPU in their own section"

SYNC = """\
## Training loops: no host-device synchronisation per step

`train.train_ssl` and `train.train_supervised` read a number back to the host
(`.item()`, `.cpu()`, `.tolist()`, `float(tensor)`) only every `log_every` steps,
so on a GPU the host queues step after step without waiting for the device.
`tests/lib/test_train.py` counts these calls during a CPU training run and checks
that they grow like steps / `log_every`, not like the number of steps.

The random numbers of a step (batch indices, augmentation parameters) are drawn on
the CPU, so that one seed gives the same run on every device, and copied to the
device with `runtime.host_to_device`: from pinned memory with `non_blocking=True` on
CUDA, queued like a kernel, where a plain `.to("cuda")` from pageable memory would
make the host wait for the GPU at every step. The same test file counts the other
kind of copy during a CPU run (none per step), and on a CUDA device checks with
CUDA's sync debug mode that the synchronising calls do not grow with the steps.
"""


def _load() -> dict[str, dict]:
    found = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    return {name: found[name] for name in ORDER if name in found} | {
        name: data for name, data in found.items() if name not in ORDER
    }


def _machine(data: dict) -> str:
    m = data["machine"]
    before, after = m.get("load_before"), m.get("load_after")
    load = (
        f"; load average (1 min) {before[0]:.1f} at the start, "
        f"{after[0]:.1f} at the end"
        if before and after
        else ""
    )
    clock = f", timed by the {m['clock']}" if m.get("clock") else ""
    where = f"{m['gpu']} (host: {m['cpu']}, " if m.get("gpu") else f"{m['cpu']} ("
    return (
        f"Measured {m['started'].replace('T', ' ').replace('+00:00', ' UTC')} on "
        f"{where}{m['cores']} cores), torch {m['versions']['torch']}, "
        f"{m['torch_threads']} thread(s){clock}{load}. Script: `{data['script']}`."
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.2f}"


def _losses_table(data: dict) -> str:
    return _table(
        [
            "loss",
            "n",
            "d",
            "ours (ms)",
            "pseudo-code (ms)",
            "ours / theirs",
            "value difference (float64, rel.)",
        ],
        [
            [
                f"`{r['loss']}`",
                str(r["n"]),
                str(r["d"]),
                _ms(r["ours_s"]),
                _ms(r["theirs_s"]),
                f"{r['ratio']:.2f}",
                f"{r['max_rel_diff_float64']:.0e}",
            ]
            for r in data["rows"]
        ],
    )


def _probes_table(data: dict) -> str:
    linear = [r for r in data["rows"] if "labels_per_class" in r]
    knn = [r for r in data["rows"] if "n_train" in r]
    first = _table(
        [
            "labels per class",
            "`probe_layers` (s)",
            "scikit-learn, one fit per layer and draw (s)",
            "speed-up",
            "largest accuracy gap",
        ],
        [
            [
                str(r["labels_per_class"]),
                f"{r['ours_s']:.2f}",
                f"{r['theirs_s']:.2f}",
                f"{r['speedup']:.2f}x",
                f"{r['max_accuracy_gap']:.4f}",
            ]
            for r in linear
        ],
    )
    second = _table(
        [
            "training points",
            "`knn_probe` (s)",
            "`KNeighborsClassifier` (s)",
            "speed-up",
            "accuracy (ours / scikit-learn)",
        ],
        [
            [
                str(r["n_train"]),
                f"{r['ours_s']:.3f}",
                f"{r['theirs_s']:.3f}",
                f"{r['speedup']:.2f}x",
                f"{r['accuracy_ours']:.4f} / {r['accuracy_sklearn']:.4f}",
            ]
            for r in knn
        ],
    )
    return first + "\n\n" + second


def _hsic_table(data: dict) -> str:
    def cell(r, key, fmt):
        return format(r[key], fmt) if r.get(key) is not None else "-"

    return _table(
        [
            "d",
            "method",
            "time (s)",
            "peak memory (MiB)",
            "rel. error",
            "largest error, normalised HSIC",
            "batched time / this time",
        ],
        [
            [
                str(r["d"]),
                r["method"],
                f"{r['seconds']:.3f}",
                cell(r, "peak_mb", ".1f"),
                cell(r, "rel_error", ".1e"),
                cell(r, "max_error_normalized", ".3f"),
                f"{r['speedup_vs_batched']:.2f}",
            ]
            for r in sorted(data["rows"], key=lambda r: (r["d"], r["method"]))
        ],
    )


def _closed_forms_table(data: dict) -> str:
    return _table(
        ["N", "method", "time (s)", "time / eigh"],
        [
            [
                str(r["N"]),
                f"`{r['method']}`",
                f"{r['seconds']:.3f}",
                f"{r['vs_eigh']:.2f}",
            ]
            for r in data["rows"]
        ],
    )


def _training_step_table(data: dict) -> str:
    return _table(
        [
            "setting",
            "mode",
            "ms per step",
            "speed-up over float32",
            "first run, wall (s)",
            "loss vs float32 (rel.)",
        ],
        [
            [
                r["setting"],
                r["mode"],
                _ms(r["step_s"]),
                "—" if r["speedup"] is None else f"{r['speedup']:.2f}",
                f"{r['first_run_s']:.1f}",
                f"{r['rel_loss_diff']:.0e}",
            ]
            for r in data["rows"]
        ],
    )


def _training_step_reading(data: dict) -> str:
    rows = data["rows"]
    text = []
    for setting in dict.fromkeys(r["setting"] for r in rows):
        part = {r["mode"]: r for r in rows if r["setting"] == setting}
        if "float32" not in part:
            text.append(f"{setting}: float32 did not run")
            continue
        best = max(part.values(), key=lambda r: r["speedup"])
        text.append(
            f"{setting}: {part['float32']['step_s'] * 1e3:.1f} ms a step in float32, "
            f"fastest with {best['mode']} ({best['speedup']:.2f}x)"
            + (
                ", compile pays its first run's "
                f"{part['compile']['first_run_s']:.0f} s back after "
                f"{_break_even(part['float32'], part['compile'])}"
                if "compile" in part
                else ""
            )
        )
    return (
        "mlp is chapter 00's digits run (MLP 64 -> 128 -> 128, projector to 64), cnn "
        "a CIFAR-shaped CNN (channels 32, 64, 128, projector to 512) on synthetic "
        "images; both VICReg at batch 256, the same batches in every mode. "
        + "; ".join(text)
        + ". The first run's wall time includes compilation from an empty cache. "
        "The loops keep float32 and eager mode as their default: the options are "
        "for a reader's runs, where the table for that device says whether they pay."
    )


def _break_even(eager: dict, compiled: dict) -> str:
    saved = eager["step_s"] - compiled["step_s"]
    if saved <= 0:
        return "no number of steps: it is slower per step"
    cost = compiled["first_run_s"] - eager["first_run_s"]
    return f"about {max(cost, 0) / saved:,.0f} steps"


def _gathered_table(data: dict) -> str:
    return _table(
        ["n", "method", "ms", "what"],
        [[str(r["n"]), r["method"], f"{r['ms']:.2f}", r["unit"]] for r in data["rows"]],
    )


def _losses_reading(data: dict) -> str:
    rows = data["rows"]
    lo = min(rows, key=lambda r: r["ratio"])
    hi = max(rows, key=lambda r: r["ratio"])
    diff = max(r["max_rel_diff_float64"] for r in rows)
    return (
        f"Ours takes {lo['ratio']:.2f}x ({lo['loss']}, n = {lo['n']}, d = {lo['d']}) "
        f"to {hi['ratio']:.2f}x ({hi['loss']}, n = {hi['n']}, d = {hi['d']}) the "
        "time of the pseudo-code, with values and gradients equal to "
        f"{diff:.0e} (relative, float64). Both run the same few tensor operations, "
        "so the ratios stay near 1; the rows of a few milliseconds move by tens of "
        "per cent from run to run on a loaded machine."
    )


def _probes_reading(data: dict) -> str:
    linear = [r for r in data["rows"] if "labels_per_class" in r]
    knn = [r for r in data["rows"] if "n_train" in r]
    gap = max(r["max_accuracy_gap"] for r in data["rows"])
    text = f"Accuracies agree with scikit-learn's to {gap:.4f} at every size. "
    if linear:
        text += (
            "The batched linear probe is "
            + ", ".join(f"{r['speedup']:.2f}x" for r in linear)
            + " as fast as scikit-learn at "
            + ", ".join(str(r["labels_per_class"]) for r in linear)
            + " labels per class: on one CPU core the single L-BFGS problem over "
            "every layer and draw, with one line search for all its parts, needs more "
            "iterations than any of scikit-learn's separate fits, each iteration in "
            "float64 batched products only ten columns wide. Batching pays where one "
            "call replaces many launches, on a GPU (not measured here). "
        )
    if knn:
        text += (
            "The kNN probe is "
            + ", ".join(f"{r['speedup']:.2f}x" for r in knn)
            + " as fast as KNeighborsClassifier at "
            + ", ".join(str(r["n_train"]) for r in knn)
            + " training points."
        )
    return text


def _hsic_reading(data: dict) -> str:
    rows = data["rows"]
    loop = [r for r in rows if r["method"] == "loop"]
    text = ""
    if loop:
        text += (
            "The batched form is "
            + ", ".join(f"{1 / r['speedup_vs_batched']:.1f}x" for r in loop)
            + " faster than the loop over pairs at d = "
            + ", ".join(str(r["d"]) for r in loop)
            + ". "
        )
    d_max = max(r["d"] for r in rows)
    at_max = {r["method"]: r for r in rows if r["d"] == d_max}
    if "batched" in at_max:
        peak = at_max["batched"]["peak_mb"]
        text += f"At d = {d_max} the batched form needs {peak:.0f} MiB"
        for name in ("rff m=16", "rff m=64"):
            if name in at_max:
                r = at_max[name]
                text += (
                    f"; random features with {name[4:]} take "
                    f"{1 / r['speedup_vs_batched']:.2f}x its time and "
                    f"{r['peak_mb']:.0f} MiB, with a relative error of "
                    f"{r['rel_error']:.2f}"
                )
        text += (
            ". Random features trade accuracy for time only when m^2 is small against "
            "n (their cost is n d^2 m^2, the exact form's d^2 n^2)."
        )
    return text


def _closed_forms_reading(data: dict) -> str:
    fits = {f["method"]: f["exponent"] for f in data.get("fits", [])}
    largest = max(r["N"] for r in data["rows"])
    at = {r["method"]: r for r in data["rows"] if r["N"] == largest}
    return (
        "Fitted growth exponents of the time: "
        + ", ".join(f"{name} {e:.2f}" for name, e in fits.items())
        + f" (O(N^3) is 3). At N = {largest} they take "
        + ", ".join(
            f"{r['vs_eigh']:.2f}x ({name})" for name, r in at.items() if name != "eigh"
        )
        + " the time of one eigh of the same size."
    )


READINGS = {
    "training_step": _training_step_reading,
    "training_step.cuda": _training_step_reading,
    "losses": _losses_reading,
    "probes": _probes_reading,
    "hsic": _hsic_reading,
    "closed_forms": _closed_forms_reading,
}


TABLES = {
    "training_step": _training_step_table,
    "training_step.cuda": _training_step_table,
    "losses": _losses_table,
    "probes": _probes_table,
    "hsic": _hsic_table,
    "closed_forms": _closed_forms_table,
}


AXES = {
    "training_step": "bars, log time axis",
    "training_step.cuda": "bars, log time axis",
}


def section(name: str, data: dict) -> str:
    """The page section of one results file."""
    parts = [f"## {data['title']}", "", f"Baseline: {data['baseline']}.", ""]
    parts += [_machine(data), ""]
    table = TABLES.get(name, _gathered_table)(data)
    if data["rows"]:
        parts += [table, ""]
    if data.get("fits"):
        fits = ", ".join(
            f"{f['method']} ~ {f['x']}^{f['exponent']:.2f}" for f in data["fits"]
        )
        parts += [f"Fitted growth of the time (log-log slope): {fits}.", ""]
    if data["rows"]:
        parts += [
            f"```{{figure}} performance/{name}.svg",
            f":name: fig-performance-{name.replace('_', '-').replace('.', '-')}",
            "",
            f"{data['title']} ({AXES.get(name, 'log-log axes')}; from "
            f"`benchmarks/results/{name}.json`).",
            "```",
            "",
        ]
    if name in READINGS and data["rows"]:
        parts += [f"What to read from it: {READINGS[name](data)}", ""]
    if data["targets"]:
        met = sum(t["met"] for t in data["targets"])
        parts += [f"Targets met: {met} of {len(data['targets'])}.", ""]
        parts += [
            f"- {'met' if t['met'] else '**not met**'}: {t['what']} ({t['measured']})"
            for t in data["targets"]
        ]
        parts.append("")
    if data["notes"]:
        parts += ["Notes:", ""] + [f"- {note}" for note in data["notes"]] + [""]
    if data.get("stdout"):
        parts += [
            "The script's output:",
            "",
            "```text",
            data["stdout"].rstrip(),
            "```",
            "",
        ]
    return "\n".join(parts)


def render_markdown(results: dict[str, dict]) -> str:
    """The whole page, from the results files (name -> parsed JSON)."""
    intro = INTRO.format(gpu=GPU_DONE if "training_step.cuda" in results else GPU_NONE)
    body = [intro] + [section(name, data) for name, data in results.items()] + [SYNC]
    return "\n".join(body).rstrip() + "\n"


# --- figures ------------------------------------------------------------------


def _figure(name: str, data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dltheory import plots

    plots.use_style()
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "dltheory"})
    rows = data["rows"]
    if name.startswith("training_step"):
        fig, ax = plt.subplots(figsize=(7, 3.6))
        settings = list(dict.fromkeys(r["setting"] for r in rows))
        modes = list(dict.fromkeys(r["mode"] for r in rows))
        width = 0.8 / len(modes)
        for i, mode in enumerate(modes):
            xs, ys = [], []
            for j, setting in enumerate(settings):
                for r in rows:
                    if r["setting"] == setting and r["mode"] == mode:
                        xs.append(j + (i - (len(modes) - 1) / 2) * width)
                        ys.append(1e3 * r["step_s"])
            ax.bar(xs, ys, width, label=mode)
        ax.set_xticks(range(len(settings)), settings)
        ax.set(yscale="log", ylabel="ms per step (log scale)")
        ax.set_title(textwrap.fill(data["title"], 60), fontsize="medium")
        ax.legend(fontsize="small")
    elif name == "hsic":
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        for method in dict.fromkeys(r["method"] for r in rows):
            part = [r for r in rows if r["method"] == method]
            style = "x" if part[0].get("extrapolated") else "o-"
            for ax, key in zip(axes, ("seconds", "peak_mb"), strict=True):
                pts = [(r["d"], r[key]) for r in part if r.get(key) is not None]
                if pts:
                    ax.plot(*zip(*pts, strict=True), style, label=method)
        axes[0].set(ylabel="time (s, log scale)", title="time")
        axes[1].set(ylabel="peak memory (MiB, log scale)", title="peak memory")
        for ax in axes:
            ax.set(xscale="log", yscale="log", xlabel="features d (log scale)")
            ax.legend(fontsize="small")
    elif name == "probes":
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        linear = [r for r in rows if "labels_per_class" in r]
        knn = [r for r in rows if "n_train" in r]
        for ax, part, x, label in (
            (axes[0], linear, "n_labelled", "labelled examples (log scale)"),
            (axes[1], knn, "n_train", "training points (log scale)"),
        ):
            xs = [r[x] for r in part]
            ax.plot(xs, [r["ours_s"] for r in part], "o-", label="dltheory")
            ax.plot(xs, [r["theirs_s"] for r in part], "s--", label="scikit-learn")
            ax.set(
                xscale="log", yscale="log", xlabel=label, ylabel="time (s, log scale)"
            )
            ax.legend()
        axes[0].set_title("linear probes, 5 layers x 5 draws")
        axes[1].set_title("kNN probe, k = 20")
    else:
        fig, ax = plt.subplots(figsize=(6, 4))
        if name == "losses":
            ours = [r["ours_s"] for r in rows]
            theirs = [r["theirs_s"] for r in rows]
            lo, hi = min(ours + theirs) / 1.5, max(ours + theirs) * 1.5
            ax.plot([lo, hi], [lo, hi], ":", color="grey", label="equal time")
            ax.plot(
                [lo, hi],
                [1.1 * lo, 1.1 * hi],
                "--",
                color="grey",
                lw=0.8,
                label="ours 1.1x slower",
            )
            for loss, marker in zip(
                dict.fromkeys(r["loss"] for r in rows), "os^", strict=False
            ):
                part = [r for r in rows if r["loss"] == loss]
                ax.plot(
                    [r["theirs_s"] for r in part],
                    [r["ours_s"] for r in part],
                    marker,
                    label=loss,
                )
            ax.set(
                xlabel="pseudo-code, forward + backward (s, log scale)",
                ylabel="dltheory (s, log scale)",
            )
        elif name == "closed_forms":
            for method in dict.fromkeys(r["method"] for r in rows):
                part = [r for r in rows if r["method"] == method]
                ax.plot(
                    [r["N"] for r in part],
                    [r["seconds"] for r in part],
                    "o-",
                    label=method,
                )
            ref = [r for r in rows if r["method"] == "eigh"]
            n0, t0 = ref[-1]["N"], ref[-1]["seconds"]
            ns = [r["N"] for r in ref]
            ax.plot(
                ns, [t0 * (n / n0) ** 3 for n in ns], ":", color="grey", label="N^3"
            )
            ax.set(xlabel="N (log scale)", ylabel="time (s, log scale)")
        else:
            for method in dict.fromkeys(r["method"] for r in rows):
                part = [r for r in rows if r["method"] == method]
                ax.plot(
                    [r["n"] for r in part], [r["ms"] for r in part], "o-", label=method
                )
            ax.set(xlabel="n (log scale)", ylabel="ms (log scale)")
        ax.set(xscale="log", yscale="log")
        ax.set_title(textwrap.fill(data["title"], 60), fontsize="medium")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def main() -> int:
    """Write book/performance.md and its figures from benchmarks/results/."""
    results = _load()
    FIGURES.mkdir(parents=True, exist_ok=True)
    for name, data in results.items():
        if data["rows"]:
            _figure(name, data, FIGURES / f"{name}.svg")
    PAGE.write_text(render_markdown(results))
    print(f"wrote {PAGE.relative_to(ROOT)} and {len(results)} figure(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
