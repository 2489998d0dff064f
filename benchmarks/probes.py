"""Time the library's probes against scikit-learn, one classifier at a time.

Run: ``.venv/bin/python benchmarks/probes.py [--threads 1] [--repeats 3] [--quick]``.

1. ``probes.probe_layers`` (one batched L-BFGS solve for every layer and draw)
   against one ``sklearn.linear_model.LogisticRegression(C=1, max_iter=500)`` per
   layer and draw, on the same standardised features of the same labelled subsets,
   for a 5-layer ReLU MLP (64 -> 256 -> 256 -> 256 -> 256 -> 128, seeded, untrained)
   on scikit-learn's digits (1000 train / 797 test), at 5 draws of 5, 20 and 80
   labels per class. Both include reading the layers out. Target: same accuracy
   per layer to 0.01, and the time of each.
2. ``probes.knn_probe`` (k = 20, batched ``cdist`` + ``topk``) against
   ``sklearn.neighbors.KNeighborsClassifier(20)`` fit + score, on Gaussian class
   clusters in 64 dimensions (10 classes, 2000 test points) with 1000 to 16000
   training points. Target: same accuracy to 0.01.

Medians of the repeats, timed in turns after the accuracy check (the warm-up).
"""

from __future__ import annotations

import sys

import _harness
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from dltheory import data, models, probes

DIMS = [64, 256, 256, 256, 256, 128]  # five Linear layers
DRAWS = 5


def _sklearn_probe_layers(model, split, labels_per_class, seed):
    """One LogisticRegression per layer and draw, on probe_layers' own features."""
    x_train, y_train, x_test, y_test = split
    with torch.no_grad():
        model.eval()
        train = models.layer_outputs(model, x_train)  # name -> (n, H_l)
        test = models.layer_outputs(model, x_test)
    gen = torch.Generator().manual_seed(seed)
    subsets = probes._labelled_subsets(y_train, labels_per_class, DRAWS, gen)
    accuracy = {name: 0.0 for name in train}
    for idx in subsets:
        for name in train:
            tr, te = probes._standardise(train[name][idx].double(), test[name].double())
            clf = LogisticRegression(C=1.0, max_iter=500)
            clf.fit(tr.numpy(), y_train[idx].numpy())
            accuracy[name] += clf.score(te.numpy(), y_test.numpy()) / len(subsets)
    return accuracy


def linear_rows(repeats, quick):
    """probe_layers against one scikit-learn logistic regression per layer and draw."""
    split = data.digits(train_size=1000, test_size=797, seed=0)
    torch.manual_seed(0)
    model = models.MLP(DIMS)
    rows = []
    for labels in [5] if quick else [5, 20, 80]:

        def ours(labels=labels):
            gen = torch.Generator().manual_seed(0)
            return probes.probe_layers(
                model, *split, labels_per_class=labels, draws=DRAWS, generator=gen
            )

        def theirs(labels=labels):
            return _sklearn_probe_layers(model, split, labels, seed=0)

        mine, other = ours(), theirs()
        gap = max(abs(mine[k] - other[k]) for k in mine)
        timed = _harness.paired_median_seconds(
            {"ours": ours, "theirs": theirs}, repeats, warmup=0, min_total_s=0.0
        )
        row = {
            "probe": "linear, 5 layers x 5 draws",
            "labels_per_class": labels,
            "n_labelled": 10 * labels,
            "accuracy_ours": mine,
            "accuracy_sklearn": other,
            "max_accuracy_gap": gap,
            "ours_s": timed["ours"],
            "theirs_s": timed["theirs"],
            "speedup": timed["theirs"] / timed["ours"],
        }
        print(
            f"linear probe, {labels:3d} labels/class: ours {row['ours_s']:.3f} s, "
            f"sklearn x{len(mine) * DRAWS} {row['theirs_s']:.3f} s, "
            f"speed-up {row['speedup']:.1f}x, largest accuracy gap {gap:.4f}"
        )
        rows.append(row)
    return rows


def _clusters(n, m, gen, d=64, classes=10):
    centres = 0.2 * torch.randn(classes, d, generator=gen)  # overlapping classes
    y = torch.randint(classes, (n + m,), generator=gen)
    x = centres[y] + torch.randn(n + m, d, generator=gen)
    return x[:n], y[:n], x[n:], y[n:]


def knn_rows(repeats, quick):
    """knn_probe against scikit-learn's KNeighborsClassifier, growing n."""
    rows = []
    for n in [1000] if quick else [1000, 4000, 16000]:
        f_tr, y_tr, f_te, y_te = _clusters(n, 2000, torch.Generator().manual_seed(n))

        def ours(f_tr=f_tr, y_tr=y_tr, f_te=f_te, y_te=y_te):
            return probes.knn_probe(f_tr, y_tr, f_te, y_te, k=20)

        def theirs(f_tr=f_tr, y_tr=y_tr, f_te=f_te, y_te=y_te):
            clf = KNeighborsClassifier(n_neighbors=20)
            clf.fit(f_tr.numpy(), y_tr.numpy())
            return clf.score(f_te.numpy(), y_te.numpy())

        mine, other = ours(), theirs()
        timed = _harness.paired_median_seconds(
            {"ours": ours, "theirs": theirs}, repeats, warmup=0
        )
        row = {
            "probe": "kNN, k = 20",
            "n_train": n,
            "n_test": 2000,
            "d": 64,
            "accuracy_ours": mine,
            "accuracy_sklearn": other,
            "max_accuracy_gap": abs(mine - other),
            "ours_s": timed["ours"],
            "theirs_s": timed["theirs"],
            "speedup": timed["theirs"] / timed["ours"],
        }
        print(
            f"kNN probe, n = {n:5d}: ours {row['ours_s']:.3f} s, sklearn "
            f"{row['theirs_s']:.3f} s, speed-up {row['speedup']:.1f}x, accuracy "
            f"{mine:.4f} vs {other:.4f}"
        )
        rows.append(row)
    return rows


def main(argv=None):
    """Time both probes and write benchmarks/results/probes.json."""
    p = _harness.parser(__doc__)
    p.set_defaults(repeats=3)
    args = p.parse_args(argv)
    info = _harness.start(args.threads)
    rows = linear_rows(args.repeats, args.quick) + knn_rows(args.repeats, args.quick)
    targets = [
        {
            "what": (
                f"{r['probe']}, "
                + (
                    f"{r['labels_per_class']} labels/class"
                    if "labels_per_class" in r
                    else f"n = {r['n_train']}"
                )
                + ": same accuracy as scikit-learn to 0.01"
            ),
            "measured": f"gap {r['max_accuracy_gap']:.4f}, "
            f"speed-up {r['speedup']:.1f}x",
            "met": r["max_accuracy_gap"] <= 0.01,
        }
        for r in rows
    ]
    _harness.write(
        "probes",
        info,
        rows,
        out=args.out,
        title="Probes against scikit-learn",
        baseline="one LogisticRegression per layer and draw; KNeighborsClassifier",
        notes=[
            "linear: 5-layer ReLU MLP 64-256-256-256-256-128 (seeded, untrained) "
            "on digits, 1000 train / 797 test, 5 draws; the accuracy gap is the "
            "largest over the layers of the mean over draws",
            "kNN: 10 Gaussian classes in 64 dimensions, 2000 test points",
        ],
        targets=targets,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
