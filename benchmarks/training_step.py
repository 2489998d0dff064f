"""Time a training step of ``train.train_ssl``: float32, bf16 autocast, torch.compile.

Run: ``.venv/bin/python benchmarks/training_step.py [--device cpu|cuda] [--threads 1]
[--quick]``.

Two settings of the book, VICReg at batch 256, each trained from the same seed with
the same batches and views in every mode:

1. ``mlp``: chapter 00's digits run (``train.SSLRun()``: MLP 64 -> 128 -> 128,
   projector 128 -> 128 -> 64, the digits augmentation);
2. ``cnn``: a CIFAR-shaped run (``models.CNN((3, 32, 32), (32, 64, 128))``, projector
   128 -> 512 -> 512, random crop + flip + noise; synthetic images, so nothing is
   downloaded), the kind of network the large budgets of chapters 03 and 05 train.

Modes: ``float32`` (the default), ``bfloat16`` (``precision="bfloat16"``: autocast of
the forward pass), ``compile`` (``compile=True``) and both. On a CUDA device one
more: ``pageable copies``, float32 with the loop's per-step host-to-device copies
made by a plain ``t.to(device)`` instead of ``runtime.host_to_device`` (pinned,
non-blocking), to measure what the pinned copies save.

Each mode trains twice through the public loop, ``steps_short`` and
``steps_long`` steps from the same seed; the time per step is the difference of the
two times over the difference of the steps (so the one-off costs, compilation
included, cancel), and the one-off cost is what is left of the short run (on one CPU
thread both are CPU time of the main thread, which leaves out compilation in
inductor's worker processes; the first run's wall time, cold cache or not, shows
it). Before any timing the losses of the short runs are compared with float32's
(same seed, same batches): equal to 1e-3 relative for compiled float32, to 5e-2
for bf16. The loop ends with a host read (its last log), so the wall times include
the device's work.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from functools import partial

import _harness
import torch

from dltheory import augment, losses, models, runtime, train

MODES = {  # name -> (precision, compile)
    "float32": ("float32", False),
    "bfloat16": ("bfloat16", False),
    "compile": ("float32", True),
    "compile + bfloat16": ("bfloat16", True),
}
TOLERANCE = {"float32": 1e-3, "bfloat16": 5e-2}  # relative, first-run loss vs float32


def _mlp_setting():
    run = train.SSLRun()
    x = torch.rand(1797, 64, generator=torch.Generator().manual_seed(0)) * 16
    return {
        "build": lambda: run.model(64),
        "x": x,
        "augmentation": augment.digits_augmentation(strength=1.0),
    }


def _cnn_setting():
    x = torch.rand(2048, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def build():
        backbone = models.CNN((3, 32, 32), (32, 64, 128))
        return models.JointEmbedding(backbone, models.projector([128, 512, 512]))

    views = augment.compose(
        partial(augment.random_crop, padding=4),
        augment.horizontal_flip,
        partial(augment.gaussian_noise, std=0.05),
    )
    return {"build": build, "x": x, "augmentation": views}


SETTINGS = {"mlp": _mlp_setting, "cnn": _cnn_setting}


def _train(setting, *, steps, precision, compile, device):
    """Seconds (benchmark clock), wall seconds and last loss of one seeded run.

    The benchmark clock is the calling thread's CPU time with one thread on a CPU
    (load-robust, see ``_harness.start``), the wall clock on a GPU (the host
    waits for the device at the loop's last log).
    """
    torch.manual_seed(0)
    model = setting["build"]()
    if device.type == "cuda":
        torch.cuda.synchronize()
    clock = time.perf_counter if device.type == "cuda" else _harness.clock
    t0, w0 = clock(), time.perf_counter()
    history = train.train_ssl(
        model,
        setting["x"],
        augmentation=setting["augmentation"],
        loss_fn=losses.vicreg,
        steps=steps,
        batch_size=256,
        log_every=steps,  # one host read, at the end
        generator=torch.Generator().manual_seed(1),
        device=device,
        progress=False,
        precision=precision,
        compile=compile,
    )
    return clock() - t0, time.perf_counter() - w0, history["loss"][-1]


def _pageable(t, dev):
    return t.to(dev)  # what the loops did before runtime.host_to_device


def measure(
    name, setting, modes, *, steps_short, steps_long, repeats, device, rows, save
):
    """Append one row per mode to ``rows`` and ``save()`` after each.

    The row: time per step, one-off cost, first run's wall time, and the loss
    after ``steps_short`` steps against float32's (the setting's first row). A
    mode that raises (a compiler missing, say) is reported and skipped.
    """
    for mode, (precision, compile) in modes.items():
        kwargs = {"precision": precision, "compile": compile, "device": device}
        try:
            _, short, loss = _train(setting, steps=steps_short, **kwargs)
            per_step, one_off = [], []
            for _ in range(repeats):
                t_short, _, _ = _train(setting, steps=steps_short, **kwargs)
                t_long, _, _ = _train(setting, steps=steps_long, **kwargs)
                step = (t_long - t_short) / (steps_long - steps_short)
                per_step.append(step)
                one_off.append(t_short - steps_short * step)
        except Exception as error:  # reported; the other modes still run
            print(f"{name:4s} {mode:25s} failed: {type(error).__name__}: {error}")
            continue
        reference = next((r["loss"] for r in rows if r["setting"] == name), loss)
        rel = abs(loss - reference) / abs(reference)
        row = {
            "setting": name,
            "mode": mode,
            "step_s": statistics.median(per_step),
            "one_off_s": statistics.median(one_off),
            "first_run_s": short,  # wall: compilation, from a cold cache or not
            "loss": loss,
            "rel_loss_diff": rel,
            "tolerance": TOLERANCE[precision],
        }
        rows.append(row)
        save()
        print(
            f"{name:4s} {mode:25s} {1e3 * row['step_s']:8.2f} ms/step, one-off "
            f"{row['one_off_s']:6.2f} s (first run {short:6.1f} s), loss {loss:.4f} "
            f"(rel. diff to float32 {rel:.1e})",
            flush=True,
        )


def main() -> int:
    """Measure every setting and mode on ``--device``; write the results file."""
    p = _harness.parser(__doc__)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument(
        "--copies",
        action="store_true",
        help="also time plain (pageable) copies where they are the same (CPU)",
    )
    args = p.parse_args()
    device = torch.device(args.device)
    # A fresh compile cache: the first compiled run pays what a reader's first run
    # pays (later runs in this process find their kernels cached).
    cache = tempfile.mkdtemp(prefix="dlt-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    os.environ["TRITON_CACHE_DIR"] = os.path.join(cache, "triton")
    info = _harness.start(args.threads)
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["clock"] = "wall clock"  # the host waits for the GPU at the last log
        # "float32" on a GPU: cuDNN's convolutions use TF32 unless told otherwise.
        info["tf32"] = {
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        }
    if args.quick:
        steps = {"mlp": (10, 40), "cnn": (2, 6)}
    elif device.type == "cuda":  # an MLP step takes 1-2 ms there: a longer run
        steps = {"mlp": (20, 1020), "cnn": (20, 220)}
    else:  # the CNN takes about 0.5 s a step on one CPU thread
        steps = {"mlp": (20, 220), "cnn": (2, 12)}
    repeats = {"mlp": args.repeats, "cnn": min(args.repeats, 3)}
    if args.quick:
        repeats = {"mlp": 1, "cnn": 1}
    rows: list[dict] = []

    def save():  # after every row: a run stopped from outside keeps what it did
        return _save(rows, info, device, steps, args.out)

    for name, make in SETTINGS.items():
        setting = make()
        short, long = steps[name]
        sizes = dict(steps_short=short, steps_long=long, repeats=repeats[name])
        sizes.update(device=device, rows=rows, save=save)
        measure(name, setting, {"float32": MODES["float32"]}, **sizes)
        if device.type == "cuda" or args.copies:  # plain, blocking copies
            original = runtime.host_to_device
            runtime.host_to_device = _pageable
            try:
                pageable = {"float32, pageable copies": MODES["float32"]}
                measure(name, setting, pageable, **sizes)
            finally:
                runtime.host_to_device = original
        others = {m: v for m, v in MODES.items() if m != "float32"}
        measure(name, setting, others, **sizes)
    targets = save()
    return 0 if all(t["met"] for t in targets) else 1


def _save(rows, info, device, steps, out):
    """Write the results file with the rows so far; return the targets."""
    eager = {r["setting"]: r["step_s"] for r in rows if r["mode"] == "float32"}
    for r in rows:  # None where float32 itself failed
        r["speedup"] = (
            eager[r["setting"]] / r["step_s"] if r["setting"] in eager else None
        )
    targets = [
        {
            "what": f"{r['setting']}, {r['mode']}: loss of the first run equal to "
            f"float32's (relative tolerance {r['tolerance']:g})",
            "measured": f"{r['rel_loss_diff']:.1e}",
            "met": bool(r["rel_loss_diff"] <= r["tolerance"]),
        }
        for r in rows
        if r["mode"] != "float32"
    ]
    suffix = "" if device.type == "cpu" else f".{device.type}"
    _harness.write(
        f"training_step{suffix}",
        info,
        rows,
        out=out,
        title=f"A training step on {'a GPU' if device.type == 'cuda' else 'the CPU'}: "
        "float32, bf16 autocast, torch.compile",
        baseline="float32, eager (the loops' default)",
        notes=[
            "VICReg at batch 256; time per step from two seeded runs of train_ssl "
            "of different lengths (one-off costs cancel); one-off cost = what is "
            "left of the short run (compilation, first allocations).",
            f"steps (short, long): {steps}",
            "first run: the first call of each mode, wall clock; compiled modes "
            "start from an empty compile cache (the first compiled mode of each "
            "setting compiles from scratch, the second reuses what it can).",
        ],
        targets=targets,
        extra={"device": str(device)},
        script="training_step",
    )
    return targets


if __name__ == "__main__":
    sys.exit(main())
