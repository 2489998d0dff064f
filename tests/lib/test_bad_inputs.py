"""Every public function and class of dltheory, fed bad input (issue 14).

The public names are found by introspection: every module of ``lib/dltheory`` whose
name does not start with ``_``, every function or class defined there whose name does
not start with ``_``. ``REGISTRY`` maps each name to one VALID call on tiny inputs
(``test_the_valid_call_runs`` checks that it runs, so the registry stays true) and
says which arguments are tensors and which hyper-parameters have an out-of-range
value. A class is registered by its constructor, and an ``nn.Module`` also by its
forward (a second ``Case`` with ``call``). From that the bad calls are generated:

* for each tensor argument, by its flags: ``t`` a string instead of a tensor
  (TypeError); ``d`` an integer dtype where float is expected (TypeError); ``i`` a
  float dtype where integer labels are expected (TypeError); ``s`` one extra and one
  missing dimension (ValueError); ``e`` an empty batch (ValueError); ``n`` one NaN
  and one Inf entry (ValueError); ``p`` the same NaN and Inf, for a function run at
  every training step, which does not check finiteness: the NaN/Inf must show in
  the output (or raise as for ``n``), never become a silent finite number;
* for each hyper-parameter in ``bad``, its out-of-range value (ValueError or TypeError).

Each bad call must raise that exception with a message that names the argument (as a
word) and says what it got. A name found by introspection that is neither in
``REGISTRY`` nor in ``EXEMPT`` (a one-line reason each) fails
``test_every_public_name_is_registered``, so a new function fails CI until it is
registered. ``KNOWN`` lists bad calls still unclear, as strict xfails.

NaN/Inf checks force a host sync on a GPU, so the library does them on the inputs of
public entry points only, never per training step: losses (``losses.*``, the graph
losses of ``spectral``, ``kernels.contrastive_kernel_loss``), augmentations, module
forwards and the projUNN primitives that ``ProjUNN.step`` calls without an SVD do not
check them (flag ``p``, or no NaN flag for augmentations, where a NaN pixel stays a
pixel and may be cropped or masked like any other).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import matplotlib
import pytest
import torch
from torch import nn

import dltheory
from dltheory import (
    augment,
    independence,
    kernels,
    losses,
    models,
    perturbation,
    spectral,
    tensor,
    train,
    unitary,
)

matplotlib.use("Agg")

F64 = torch.float64


def rn(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def labels(n: int, c: int = 2) -> torch.Tensor:
    return torch.arange(n) % c


def orth(n: int, seed: int = 0) -> torch.Tensor:
    return torch.linalg.qr(rn(n, n, seed=seed, dtype=F64))[0]


def ring(n: int) -> torch.Tensor:
    """A symmetric 0/1 ring graph on n nodes, float64."""
    i = torch.arange(n)
    G = torch.zeros(n, n, dtype=F64)
    G[i, (i + 1) % n] = 1.0
    G[(i + 1) % n, i] = 1.0
    return G


def mlp(*dims: int, bn: bool = False) -> nn.Module:
    torch.manual_seed(0)
    return models.MLP(list(dims), batch_norm=bn).eval()


def pnet() -> perturbation.PlainOrResNetMLP:
    return perturbation.PlainOrResNetMLP(2, 4, 2, 2, eps=0.5, generator=gen())


@dataclass
class Case:
    """One valid call and the bad variants generated from it."""

    make: Callable[[], dict]  # fresh keyword arguments of a valid call
    tensors: dict[str, str] = field(default_factory=dict)  # name -> flags
    bad: dict[str, object] = field(default_factory=dict)  # hyper -> bad value
    call: Callable[[dict], object] | None = None  # default: fn(**kwargs)


def T(**tensors: str) -> dict[str, str]:
    return tensors


ALL = "tdsen"  # a float batch: every check
# Flag p (instead of n): a function called at every training step, which does not check
# finiteness (a GPU sync): a NaN/Inf input must show as a non-finite output, or raise
# a ValueError naming the argument; a finite number out of it would be a silent bug.
ANY = "tden"  # a float tensor of any shape (no extra/missing-dimension check)


# ------------------------------------------------------------------------------------
# The registry. Keys: "module.name". A list of Cases is allowed (constructor, forward).

REGISTRY: dict[str, Case | list[Case]] = {}


def reg(name: str, *cases: Case) -> None:
    REGISTRY[name] = cases[0] if len(cases) == 1 else list(cases)


# --- augment ------------------------------------------------------------------------
# Augmentations run at every training step: shape checks only (no finite check, which
# would sync a GPU each step); a NaN pixel stays a pixel like any other.
AUG = "tde"
AUG_IMG = "tdse"
img = lambda: rn(3, 1, 8, 8).sigmoid()  # noqa: E731
reg(
    "augment.gaussian_noise",
    Case(lambda: dict(x=rn(3, 4), std=0.1, generator=gen()), T(x=AUG), {"std": -1.0}),
)
reg(
    "augment.clip",
    Case(lambda: dict(x=rn(3, 4)), T(x=AUG), {"low": 2.0}),
)
reg(
    "augment.random_mask",
    Case(lambda: dict(x=rn(3, 4), p=0.2, generator=gen()), T(x=AUG), {"p": 1.5}),
)
reg(
    "augment.scale1d",
    Case(
        lambda: dict(x=rn(3, 8), max_scale=0.2, generator=gen()),
        T(x=AUG),
        {"max_scale": -0.1},
    ),
)
reg(
    "augment.shift1d",
    Case(
        lambda: dict(x=rn(3, 8), max_shift=2, generator=gen()),
        T(x=AUG),
        {"max_shift": -1},
    ),
)
reg(
    "augment.random_crop",
    Case(
        lambda: dict(x=img(), padding=1, generator=gen()), T(x=AUG_IMG), {"padding": -1}
    ),
)
reg(
    "augment.horizontal_flip",
    Case(lambda: dict(x=img(), generator=gen()), T(x=AUG_IMG), {"p": 2.0}),
)
reg(
    "augment.affine",
    Case(lambda: dict(x=img(), degrees=10.0), T(x=AUG_IMG), {"scale": -1.0}),
)
reg(
    "augment.random_affine",
    Case(lambda: dict(x=img(), generator=gen()), T(x=AUG_IMG), {"max_scale": -0.5}),
)
reg(
    "augment.compose",
    Case(lambda: dict(), call=lambda _: augment.compose(augment.clip)),
)
reg(
    "augment.two_views",
    Case(
        lambda: dict(x=rn(3, 64), aug=augment.digits_augmentation(), generator=gen()),
        T(x=AUG),
        {"aug": "not callable"},
    ),
)
reg(
    "augment.as_images",
    Case(
        lambda: dict(aug=augment.horizontal_flip, shape=(1, 8, 8)),
        bad={"shape": (0, 8, 8)},
    ),
)
reg(
    "augment.digits_augmentation",
    Case(lambda: dict(strength=1.0), bad={"strength": -1.0}),
)
reg(
    "augment.strong_digits_augmentation",
    Case(lambda: dict(strength=1.0), bad={"strength": -1.0}),
)

# --- classwise ----------------------------------------------------------------------
reg(
    "classwise.per_class_accuracy",
    Case(
        lambda: dict(preds=labels(6, 3), y=labels(6, 3), n_classes=3),
        T(preds="tise", y="tise"),
        {"n_classes": 0},
    ),
)
reg(
    "classwise.confusion_counts",
    Case(
        lambda: dict(preds=labels(6, 3), y=labels(6, 3), n_classes=3),
        T(preds="tise", y="tise"),
        {"n_classes": 0},
    ),
)
reg(
    "classwise.holm",
    Case(lambda: dict(pvals=[0.01, 0.2, 0.04]), bad={"alpha": 1.5}),
)
reg(
    "classwise.paired_class_test",
    Case(
        lambda: dict(acc_ref=rn(4, 3).sigmoid(), acc_test=rn(4, 3, seed=1).sigmoid()),
        bad={"alpha": 0.0},
    ),
)
reg(
    "classwise.relative_class_test",
    Case(
        lambda: dict(acc_ref=rn(4, 3).sigmoid(), acc_test=rn(4, 3, seed=1).sigmoid()),
        bad={"alpha": 0.0},
    ),
)
reg(
    "classwise.two_level_bootstrap",
    Case(
        lambda: dict(
            correct_ref=torch.ones(2, 6, dtype=torch.bool),
            correct_test=torch.zeros(2, 6, dtype=torch.bool),
            y=labels(6, 3),
            n_classes=3,
            n_boot=20,
        ),
        bad={"level": 1.5, "n_boot": 0},
    ),
)
reg(
    "classwise.top_confused_pairs",
    Case(lambda: dict(delta_m=rn(3, 3), k=2), bad={"k": -1}),
)
reg(
    "classwise.select_strength",
    Case(lambda: dict(acc=rn(3, 2, 4).sigmoid()), bad={"rule": "nope"}),
)
reg(
    "classwise.lowdata_split",
    Case(lambda: dict(per_class=2, val_per_class=2), bad={"per_class": 0}),
)
reg(
    "classwise.sweep",
    Case(
        lambda: dict(
            x_train=rn(10, 1, 8, 8).sigmoid(),
            y_train=labels(10, 2),
            eval_sets={"val": rn(4, 1, 8, 8).sigmoid()},
            regularizer="weight_decay",
            strengths=[0.0],
            seeds=[0],
            width=8,
            steps=2,
            n_classes=2,
        ),
        T(x_train="tdsen", y_train="tise"),
        {"steps": 0, "regularizer": "nope"},
    ),
)

reg(
    "classwise.linear_probe",
    Case(
        lambda: dict(
            f_fit=rn(8, 3), y_fit=labels(8), f_test=rn(4, 3, seed=1), max_iter=20
        ),
        T(f_fit="tsen", f_test="tsen"),
        {"C": 0.0},
    ),
)
reg(
    "classwise.transfer_split",
    Case(lambda: dict(source_per_class=2), bad={"source_per_class": 0}),
)

# --- data ---------------------------------------------------------------------------
reg("data.digits", Case(lambda: dict(), bad={"test_size": 1.5}))
reg("data.two_moons", Case(lambda: dict(n=20), bad={"n": 0, "noise": -1.0}))
reg("data.swiss_roll", Case(lambda: dict(n=20), bad={"n": 0, "n_classes": 0}))
reg("data.blobs", Case(lambda: dict(n=20), bad={"n": 0, "cluster_std": -1.0}))
reg("data.image", Case(lambda: dict(name="camera", size=16), bad={"name": "nope"}))

# --- independence -------------------------------------------------------------------
reg("independence.median_gamma", Case(lambda: dict(h=rn(6, 3)), T(h=ALL)))
reg(
    "independence.hsic",
    Case(
        lambda: dict(x=rn(6, 2), y=rn(6, 2, seed=1)),
        T(x="tden", y="tden"),
        {"gamma_x": -1.0},
    ),
)
reg(
    "independence.pairwise_hsic",
    Case(lambda: dict(h=rn(6, 3)), T(h=ALL), {"gamma": -1.0, "chunk_size": 0}),
)
reg(
    "independence.mean_pairwise_hsic",
    Case(lambda: dict(h=rn(6, 3)), T(h=ALL), {"gamma": -1.0}),
)
reg(
    "independence.feature_dependence",
    Case(lambda: dict(h=rn(8, 3), n_features=4), T(h=ALL), {"n_features": 0}),
)
reg(
    "independence.dhsic",
    Case(lambda: dict(x=rn(6, 3)), T(x="tden"), {"gamma": -1.0}),
)
reg(
    "independence.pairwise_hsic_rff",
    Case(
        lambda: dict(h=rn(6, 3), n_features=8, generator=gen()),
        T(h=ALL),
        {"n_features": 0},
    ),
)
reg(
    "independence.amari_distance",
    Case(lambda: dict(W=orth(3), A=orth(3, 1)), T(W="tdsen", A="tdsen")),
)
reg(
    "independence.ica_problem",
    Case(
        lambda: dict(n=20, d=2, kinds=("laplace", "uniform"), generator=gen()),
        bad={"n": 0, "kinds": ("nope", "uniform")},
    ),
)
reg(
    "independence.whiten",
    Case(lambda: dict(x=rn(10, 2)), T(x=ALL), {"method": "nope"}),
)
reg(
    "independence.fastica",
    Case(lambda: dict(x=rn(20, 2), max_iter=5), T(x=ALL), {"max_iter": 0}),
)
reg(
    "independence.SeparableProjector",
    Case(lambda: dict(d=2, m=4, generator=gen()), bad={"d": 0, "sigma": -1.0}),
    Case(
        lambda: dict(h=rn(5, 2)),
        T(h="tdsep"),
        call=lambda kw: independence.SeparableProjector(2, 4, generator=gen())(kw["h"]),
    ),
)
reg(
    "independence.dense_projector",
    Case(lambda: dict(d=2, width=4, generator=gen()), bad={"width": 0}),
)
reg(
    "independence.cross_block_covariance",
    Case(lambda: dict(z=rn(6, 4), d=2), T(z=ALL), {"d": 3}),
)
reg(
    "independence.within_block_covariance",
    Case(lambda: dict(z=rn(6, 4), d=2), T(z=ALL), {"d": 3}),
)
reg(
    "independence.vcreg_ica",
    Case(
        lambda: dict(x=rn(40, 2), m=4, steps=2, batch_size=20, generator=gen()),
        T(x=ALL),
        {"steps": 0, "penalty": "nope", "lr": -1.0},
    ),
)

# --- information --------------------------------------------------------------------
reg(
    "information.logdet_cov",
    Case(lambda: dict(z=rn(8, 3)), T(z=ALL), {"eps": -1.0}),
)
reg(
    "information.gaussian_entropy",
    Case(lambda: dict(z=rn(8, 3)), T(z=ALL), {"eps": -1.0}),
)
reg(
    "information.gaussian_mi",
    Case(lambda: dict(z_a=rn(8, 2), z_b=rn(8, 2, seed=1)), T(z_a=ALL, z_b=ALL)),
)
reg(
    "information.entropy_minus_invariance_bound",
    Case(
        lambda: dict(z_a=rn(8, 2), z_b=rn(8, 2, seed=1)),
        T(z_a=ALL, z_b=ALL),
        {"eps": -1.0},
    ),
)
reg(
    "information.sample_input_mixture",
    Case(
        lambda: dict(x_n=rn(3, 2), sigma_x=0.1, samples=4, generator=gen()),
        T(x_n=ALL),
        {"samples": 0, "sigma_x": -1.0},
    ),
)
reg(
    "information.spline_pushforward",
    Case(
        lambda: dict(model=mlp(2, 4, 2), x_n=rn(3, 2), sigma_x=0.1),
        T(x_n=ALL),
        {"sigma_x": -1.0},
    ),
)
reg(
    "information.relative_covariance_error",
    Case(
        lambda: dict(z_samples=rn(2, 5, 2), cov=torch.eye(2).expand(2, 2, 2) * 1.0),
        T(z_samples=ALL, cov=ALL),
    ),
)
reg(
    "information.whitened_covariance_error",
    Case(
        lambda: dict(z_samples=rn(2, 5, 2), cov=torch.eye(2).expand(2, 2, 2) * 1.0),
        T(z_samples=ALL, cov=ALL),
    ),
)
reg(
    "information.in_anchor_region",
    Case(
        lambda: dict(net=mlp(2, 4, 2), x_n=rn(3, 2), x_samples=rn(3, 4, 2)),
        T(x_n=ALL, x_samples=ALL),
    ),
)
reg(
    "information.fraction_in_anchor_region",
    Case(
        lambda: dict(net=mlp(2, 4, 2), x_n=rn(3, 2), x_samples=rn(3, 4, 2)),
        T(x_n=ALL, x_samples=ALL),
    ),
)
reg(
    "information.covariance_sampling_error",
    Case(
        lambda: dict(cov=torch.eye(2).expand(2, 2, 2) * 1.0, samples=4),
        T(cov=ALL),
        {"samples": 1},
    ),
)
reg(
    "information.pushforward_check",
    Case(
        lambda: dict(
            net=mlp(2, 16, 2), x_n=rn(3, 2), sigma_x=0.1, samples=4, generator=gen()
        ),
        T(x_n=ALL),
        {"samples": 0, "sigma_x": -1.0},
    ),
)
reg(
    "information.mixture_entropy_bounds",
    Case(
        lambda: dict(mean=rn(3, 2), cov=torch.eye(2).expand(3, 2, 2) * 1.0),
        T(mean=ALL, cov=ALL),
        {"kind": "nope"},
    ),
)
reg(
    "information.mixture_entropy_mc",
    Case(
        lambda: dict(
            mean=rn(3, 2),
            cov=torch.eye(2).expand(3, 2, 2) * 1.0,
            samples=50,
            generator=gen(),
        ),
        T(mean=ALL, cov=ALL),
        {"samples": 0},
    ),
)
reg(
    "information.conditional_embeddings",
    Case(
        lambda: dict(
            encoder=mlp(4, 3),
            x=rn(3, 4),
            k=2,
            augmentation=augment.compose(augment.clip),
            generator=gen(),
        ),
        T(x="tden"),
        {"k": 0},
    ),
)
reg(
    "information.gaussianity_tests",
    Case(
        lambda: dict(samples=rn(20, 2), n_dirs=2, generator=gen()),
        T(samples="tden"),
        {"n_dirs": 0, "test": "nope"},
    ),
)
reg(
    "information.variance_ratio",
    Case(lambda: dict(cond=rn(3, 4, 2)), T(cond=ALL)),
)
reg(
    "information.within_total_ratios",
    Case(lambda: dict(cond=rn(3, 4, 2)), T(cond=ALL)),
)
reg(
    "information.conditional_vs_marginal",
    Case(
        lambda: dict(
            encoder=mlp(4, 2),
            x=rn(3, 4),
            x_pool=rn(6, 4),
            k=8,
            repeats=2,
            n_dirs=2,
            augmentation=augment.compose(augment.clip),
            generator=gen(),
        ),
        T(x="tden", x_pool="tden"),
        {"k": 0},
    ),
)
reg(
    "information.vicreg_information_terms",
    Case(
        lambda: dict(z_a=rn(8, 2), z_b=rn(8, 2, seed=1)),
        T(z_a=ALL, z_b=ALL),
        {"eps": -1.0, "convention": "nope"},
    ),
)

# --- kernels ------------------------------------------------------------------------
reg("kernels.median_heuristic", Case(lambda: dict(x=rn(6, 2)), T(x=ALL)))
reg(
    "kernels.rbf_kernel",
    Case(
        lambda: dict(x=rn(4, 2), y=rn(5, 2, seed=1)), T(x=ALL, y=ALL), {"gamma": -1.0}
    ),
)
reg(
    "kernels.polynomial_kernel",
    Case(lambda: dict(x=rn(4, 2), y=rn(5, 2, seed=1)), T(x=ALL, y=ALL), {"degree": 0}),
)
reg(
    "kernels.random_fourier_features",
    Case(
        lambda: dict(x=rn(4, 2), n_features=6, gamma=0.5, generator=gen()),
        T(x=ALL),
        {"n_features": 0, "gamma": -1.0},
    ),
)
reg(
    "kernels.digit_views",
    Case(
        lambda: dict(x=rn(2, 64).sigmoid(), n_views=2, generator=gen()),
        T(x=ALL),
        {"n_views": 0},
    ),
)
reg(
    "kernels.augmentation_adjacency",
    Case(lambda: dict(group_ids=labels(6, 3)), T(group_ids="tise")),
)
reg("kernels.laplacian", Case(lambda: dict(A=ring(5)), T(A=ALL)))
reg(
    "kernels.kernel_pca",
    Case(lambda: dict(K=torch.eye(5, dtype=F64) + 0.1, k=2), T(K=ALL), {"k": 0}),
)
reg(
    "kernels.pair_scores",
    Case(
        lambda: dict(f_a=rn(4, 2), f_b=rn(4, 2, seed=1), generator=gen()),
        T(f_a=ALL, f_b=ALL),
    ),
)
reg(
    "kernels.pair_separation",
    Case(
        lambda: dict(f_a=rn(4, 2), f_b=rn(4, 2, seed=1), generator=gen()),
        T(f_a=ALL, f_b=ALL),
    ),
)
reg(
    "kernels.InducedKernel",
    Case(lambda: dict(loss="contrastive", k=2), bad={"loss": "nope", "ridge": -1.0}),
)
reg(
    "kernels.contrastive_kernel_loss",
    Case(
        lambda: dict(f=rn(6, 2), A=kernels.augmentation_adjacency(labels(6, 3))),
        T(f="tdsep", A="tdse"),
    ),
)
reg(
    "kernels.ExplicitKernelEncoder",
    Case(lambda: dict(n_features=4, k=2, generator=gen()), bad={"k": 0}),
)
reg(
    "kernels.fit_explicit_encoder",
    Case(
        lambda: dict(
            encoder=kernels.ExplicitKernelEncoder(4, 2, generator=gen()),
            phi=rn(6, 4, dtype=F64),
            group_ids=labels(6, 3),
            max_iter=3,
        ),
        T(phi=ALL, group_ids="tise"),
        {"max_iter": 0},
    ),
)

# --- losses: called every step, so NaN propagates (flag p) instead of raising --------
two = lambda: dict(z_a=rn(6, 3), z_b=rn(6, 3, seed=1))  # noqa: E731
reg("losses.invariance", Case(two, T(z_a="tdsep", z_b="tdsep"), {"convention": "x"}))
reg("losses.variance", Case(lambda: dict(z=rn(6, 3)), T(z="tdsep"), {"eps": -1.0}))
reg("losses.covariance", Case(lambda: dict(z=rn(6, 3)), T(z="tdsep")))
reg("losses.vicreg_terms", Case(two, T(z_a="tdsep", z_b="tdsep"), {"eps": -1.0}))
reg("losses.vicreg", Case(two, T(z_a="tdsep", z_b="tdsep"), {"inv_weight": -1.0}))
reg("losses.vcreg", Case(lambda: dict(z=rn(6, 3)), T(z="tdsep"), {"var_weight": -1.0}))
reg("losses.barlow_twins", Case(two, T(z_a="tdsep", z_b="tdsep"), {"lambd": -1.0}))
reg("losses.info_nce", Case(two, T(z_a="tdsep", z_b="tdsep"), {"temperature": 0.0}))
reg("losses.spectral_contrastive", Case(two, T(z_a="tdsep", z_b="tdsep"), {"mu": -1.0}))

# --- models -------------------------------------------------------------------------
reg(
    "models.MLP",
    Case(lambda: dict(dims=[2, 4, 3]), bad={"dims": [2], "activation": "nope"}),
    Case(lambda: dict(x=rn(5, 2)), T(x="tds"), call=lambda kw: mlp(2, 4, 3)(kw["x"])),
)
reg("models.projector", Case(lambda: dict(dims=[2, 4, 3]), bad={"dims": [2]}))
reg(
    "models.CNN",
    Case(lambda: dict(in_shape=(1, 8, 8), channels=(2, 2)), bad={"in_shape": (8,)}),
)
reg(
    "models.JointEmbedding",
    Case(
        lambda: dict(backbone=mlp(2, 3), projector=mlp(3, 2)),
        bad={"backbone": "not a module"},
    ),
)
reg(
    "models.layer_outputs",
    Case(
        lambda: dict(model=mlp(2, 4, 3), x=rn(5, 2)),
        T(x="te"),
        {"model": "not a module"},
    ),
)
reg(
    "models.count_parameters",
    Case(lambda: dict(model=mlp(2, 3)), bad={"model": "not a module"}),
)
reg("models.digits_backbone", Case(lambda: dict()))
reg(
    "models.short_layer_names",
    Case(lambda: dict(names=["backbone.1", "projector.1"]), bad={"names": 3}),
)

# --- perturbation -------------------------------------------------------------------
reg(
    "perturbation.activation_slopes",
    Case(lambda: dict(u=rn(3, 4)), T(u="td"), {"act": "nope"}),
)
reg(
    "perturbation.PlainOrResNetMLP",
    Case(
        lambda: dict(d_in=2, width=4, depth=2, d_out=2, generator=gen()),
        bad={"width": 0, "act": "nope"},
    ),
    Case(lambda: dict(x=rn(5, 2)), T(x="tds"), call=lambda kw: pnet()(kw["x"])),
)
for _name in (
    "activation_pattern",
    "region_ids",
    "local_linear_map",
    "layer_product",
    "jacobian",
):
    reg(
        f"perturbation.{_name}",
        Case(lambda: dict(net=pnet(), x=rn(5, 2)), T(x=ALL), {"net": "not a net"}),
    )
reg(
    "perturbation.layer_local_matrix",
    Case(lambda: dict(W=rn(3, 3), q=torch.ones(3), eps=0.5), T(W="tdsn", q="tdsn")),
)
reg(
    "perturbation.densenet_local_matrix",
    Case(lambda: dict(W=rn(3, 3), q=torch.ones(3)), T(W="tdsn", q="tdsn")),
)
reg("perturbation.spectrum", Case(lambda: dict(M=rn(3, 3)), T(M="tdn")))
reg(
    "perturbation.condition_number",
    Case(lambda: dict(M=rn(3, 3)), T(M="tdn"), {"tol": -1.0}),
)
reg("perturbation.spectral_radius", Case(lambda: dict(M=rn(3, 3)), T(M="tdn")))
reg(
    "perturbation.perturbation_bounds",
    Case(lambda: dict(W=rn(3, 3), q=torch.ones(3), eps=0.5), T(W="tdsn", q="tdsn")),
)
reg(
    "perturbation.diagonal_bounds",
    Case(lambda: dict(d=rn(3), M=rn(3, 3)), T(d="tdsn", M="tdsn")),
)
reg(
    "perturbation.loss_along_line",
    Case(
        lambda: dict(
            net=pnet(),
            layer=0,
            direction=rn(4, 4),
            ts=torch.linspace(-1, 1, 5),
            X=rn(6, 2),
            Y=rn(6, 2, seed=1),
        ),
        T(direction="tdsn", ts="tdsen", X=ALL, Y=ALL),
        {"layer": 7, "loss": "nope"},
    ),
)
reg(
    "perturbation.fit_piecewise_quadratic",
    Case(
        lambda: dict(
            ts=torch.linspace(-1, 1, 8),
            loss=torch.linspace(-1, 1, 8) ** 2,
            piece=torch.zeros(8, dtype=torch.long),
        ),
        T(ts="tdsn", loss="tdsn"),
        {"min_points": 0},
    ),
)
for _name in ("layer_hessian", "gauss_newton"):
    reg(
        f"perturbation.{_name}",
        Case(
            lambda: dict(net=pnet(), layers=0, X=rn(4, 2), Y=rn(4, 2, seed=1)),
            T(X=ALL, Y=ALL),
            {"layers": 9},
        ),
    )
reg(
    "perturbation.kronecker_hessian",
    Case(lambda: dict(net=pnet(), layer=0, X=rn(4, 2)), T(X=ALL), {"layer": 9}),
)
reg(
    "perturbation.train_mse",
    Case(
        lambda: dict(net=pnet(), X=rn(4, 2), Y=rn(4, 2, seed=1), steps=2, lr=0.01),
        T(X=ALL, Y=ALL),
        {"steps": -1, "lr": -1.0},
    ),
)

# --- plots (take tensors; the axes argument is optional) -----------------------------
reg("plots.use_style", Case(lambda: dict()))
reg("plots.pca_2d", Case(lambda: dict(f=rn(6, 3)), T(f="tdse")))
reg("plots.plot_embedding", Case(lambda: dict(f=rn(6, 3), y=labels(6)), T(f="tdse")))
reg(
    "plots.plot_curves",
    Case(
        lambda: dict(history={"step": [1, 2], "loss": [2.0, 1.0]}), bad={"history": 3}
    ),
)
reg(
    "plots.plot_regions",
    Case(
        lambda: dict(image=torch.zeros(3, 3, dtype=torch.long), extent=(-1, 1, -1, 1)),
        T(image="tse"),
    ),
)
reg("plots.plot_bars", Case(lambda: dict(table={"a": {"5": 0.8}}), bad={"table": 3}))
reg(
    "plots.plot_per_class",
    Case(lambda: dict(values={"a": [0.1, 0.2]}), bad={"values": 3}),
)
reg("plots.plot_matrix", Case(lambda: dict(m=rn(3, 3)), T(m="tse")))
reg(
    "plots.plot_images",
    Case(lambda: dict(x=rn(2, 16), shape=(4, 4)), T(x="tse"), {"shape": (5, 5)}),
)
reg("plots.plot_spectrum", Case(lambda: dict(f=rn(6, 3)), T(f="tdse")))
reg(
    "plots.plot_gaussian_ellipse",
    Case(
        lambda: dict(mean=torch.zeros(2), cov=torch.eye(2)),
        T(mean="tdsn", cov="tdsn"),
        {"k": -1.0},
    ),
)
reg(
    "plots.plot_layer_accuracies",
    Case(lambda: dict(curves={"a": {"l1": 0.5, "l2": 0.6}}), bad={"curves": 3}),
)
reg(
    "plots.plot_layer_heatmap",
    Case(
        lambda: dict(
            accuracy=rn(2, 3).sigmoid(), layers=["a", "b"], settings=["x", "y", "z"]
        ),
        bad={"accuracy": rn(3, 3)},
    ),
)

# --- probes -------------------------------------------------------------------------
ft = lambda: dict(  # noqa: E731
    f_train=rn(8, 3), y_train=labels(8), f_test=rn(6, 3, seed=1), y_test=labels(6)
)
FT = T(f_train=ALL, y_train="tise", f_test=ALL, y_test="tise")
reg(
    "probes.embed",
    Case(lambda: dict(model=mlp(2, 3), x=rn(5, 2)), T(x="te"), {"batch_size": 0}),
)
reg(
    "probes.few_labels",
    Case(
        lambda: dict(y=labels(8), labels_per_class=2, generator=gen()),
        T(y="tise"),
        {"labels_per_class": 0},
    ),
)
reg("probes.linear_probe", Case(lambda: dict(**ft(), max_iter=5), FT, {"c": -1.0}))
reg("probes.knn_probe", Case(lambda: dict(**ft(), k=3), FT, {"k": 0}))
reg(
    "probes.probe_features",
    Case(
        lambda: dict(**ft(), labels_per_class=(2,), k=3, draws=1, generator=gen()),
        FT,
        {"draws": 0},
    ),
)
reg("probes.effective_rank", Case(lambda: dict(f=rn(6, 3)), T(f=ALL)))
xt = lambda: dict(  # noqa: E731
    model=mlp(2, 4, 3),
    x_train=rn(8, 2),
    y_train=labels(8),
    x_test=rn(6, 2, seed=1),
    y_test=labels(6),
    max_iter=5,
    draws=1,
)
XT = T(x_train="tden", y_train="tise", x_test="tden", y_test="tise")
reg("probes.probe_layers", Case(xt, XT, {"method": "nope"}))
reg(
    "probes.probe_layers_validated",
    Case(
        lambda: dict(**xt(), x_val=rn(4, 2, seed=2), y_val=labels(4)),
        T(**XT, x_val="tden", y_val="tise"),
        {"method": "nope"},
    ),
)
reg(
    "probes.guillotine_gap",
    Case(
        lambda: dict(accuracies={"backbone.0": 0.8, "projector.0": 0.6}),
        bad={"accuracies": {}},
    ),
)
reg(
    "probes.train_and_probe",
    Case(
        lambda: dict(
            run=train.SSLRun(
                steps=2, batch_size=4, backbone_widths=(4,), projector_widths=(4,)
            ),
            x_train=rn(8, 64).sigmoid(),
            y_train=labels(8),
            x_test=rn(6, 64, seed=1).sigmoid(),
            y_test=labels(6),
            seed=0,
            labels_per_class=2,
            draws=1,
            device="cpu",
        ),
        T(x_train="tden", y_train="tise", x_test="tden", y_test="tise"),
        {"draws": 0},
    ),
)

# --- runtime ------------------------------------------------------------------------
reg("runtime.device", Case(lambda: dict()))
reg("runtime.float64_device", Case(lambda: dict()))
reg("runtime.is_cuda", Case(lambda: dict(dev=torch.device("cpu")), bad={"dev": 3}))
reg(
    "runtime.host_to_device",
    Case(lambda: dict(t=torch.ones(3), dev="cpu"), bad={"dev": 3}),
)
reg("runtime.seed_everything", Case(lambda: dict(seed=0), bad={"seed": "zero"}))
reg("runtime.scale", Case(lambda: dict()))
reg("runtime.budget", Case(lambda: dict(small=1, large=2)))
reg("runtime.run_manifest", Case(lambda: dict()))
reg("runtime.wall_time", Case(lambda: dict()))

# --- spectral -----------------------------------------------------------------------
reg("spectral.knn_graph", Case(lambda: dict(x=rn(6, 2), k=2), T(x=ALL), {"k": 0}))
reg(
    "spectral.label_graph",
    Case(lambda: dict(y=labels(6), generator=gen()), T(y="tise"), {"partners": 0}),
)
reg(
    "spectral.misaligned_graph",
    Case(
        lambda: dict(y=labels(6), partners=1, generator=gen()),
        T(y="tise"),
        {"partners": 0},
    ),
)
reg("spectral.augmentation_graph", Case(lambda: dict(n=3, views=2), bad={"views": 0}))
reg("spectral.graph_laplacian", Case(lambda: dict(G=ring(5)), T(G=ALL)))
reg(
    "spectral.laplacian_eigenmaps",
    Case(lambda: dict(G=ring(5), K=2), T(G=ALL), {"K": 0}),
)
reg(
    "spectral.vicreg_closed_form",
    Case(
        lambda: dict(G=ring(5), K=2, alpha=1.0), T(G=ALL), {"K": 0, "variant": "nope"}
    ),
)
reg(
    "spectral.vicreg_graph_loss",
    Case(
        lambda: dict(Z=rn(5, 2, dtype=F64), G=ring(5), alpha=1.0),
        T(Z="tdsep", G="tdse"),
        {"variant": "nope"},
    ),
)
xg = lambda: dict(x=rn(6, 3, dtype=F64), G=ring(6), K=2)  # noqa: E731
reg("spectral.vicreg_linear_closed_form", Case(xg, T(x=ALL, G=ALL), {"K": 0}))
reg(
    "spectral.spectral_contrastive_linear_closed_form",
    Case(xg, T(x=ALL, G=ALL), {"K": 0}),
)
reg("spectral.barlow_twins_linear_closed_form", Case(xg, T(x=ALL, G=ALL), {"K": 0}))
reg("spectral.linear_eigenvalues", Case(xg, T(x=ALL, G=ALL), {"K": 0}))
reg(
    "spectral.cca",
    Case(
        lambda: dict(x_a=rn(8, 2, dtype=F64), x_b=rn(8, 2, seed=1, dtype=F64), K=1),
        T(x_a=ALL, x_b=ALL),
        {"K": 0},
    ),
)
reg(
    "spectral.simclr_graph_loss",
    Case(
        lambda: dict(Z=rn(5, 2, dtype=F64), G=ring(5), tau=0.5),
        T(Z="tdsep", G="tdse"),
        {"tau": 0.0},
    ),
)
reg(
    "spectral.spectral_contrastive_loss",
    Case(lambda: dict(Z=rn(5, 2, dtype=F64), G=ring(5)), T(Z="tdsep", G="tdse")),
)
reg(
    "spectral.classical_mds",
    Case(lambda: dict(gram=torch.eye(4, dtype=F64), K=2), T(gram=ALL), {"K": 0}),
)
reg(
    "spectral.fit_free_embedding",
    Case(
        lambda: dict(
            loss_fn=lambda Z: (Z**2).sum(), N=4, K=2, steps=2, generator=gen()
        ),
        bad={"steps": -1, "N": 0},
    ),
)
reg(
    "spectral.principal_angles",
    Case(lambda: dict(a=orth(4)[:, :2], b=orth(4, 1)[:, :2]), T(a=ALL, b=ALL)),
)
reg("spectral.cosine_gram", Case(lambda: dict(Z=rn(4, 2)), T(Z=ALL)))
reg(
    "spectral.whitened_invariance",
    Case(
        lambda: dict(Z=rn(5, 2, dtype=F64), G=ring(5)), T(Z=ALL, G=ALL), {"rtol": -1.0}
    ),
)
reg("spectral.variance_spectrum", Case(lambda: dict(Z=rn(5, 2)), T(Z=ALL)))
reg(
    "spectral.vicreg_fit_report",
    Case(
        lambda: dict(
            Z=spectral.vicreg_closed_form(ring(6), 2, alpha=1.0)[0],
            G=ring(6),
            alpha=1.0,
        ),
        T(Z=ALL, G=ALL),
        {"tol": -1.0},
    ),
)
reg(
    "spectral.digits_pool",
    Case(lambda: dict(seed=0, pool_size=40, test_size=20), bad={"pool_size": 0}),
)
reg(
    "spectral.pca_coordinates",
    Case(
        lambda: dict(x_pool=rn(8, 4), x_test=rn(3, 4, seed=1), n_components=2),
        T(x_pool=ALL, x_test=ALL),
        {"n_components": 0},
    ),
)
reg(
    "spectral.lda_map",
    Case(
        lambda: dict(x=rn(8, 3, dtype=F64), y=labels(8)), T(x=ALL, y="tise"), {"K": 0}
    ),
)
reg(
    "spectral.sweep_representations",
    Case(
        lambda: dict(
            x=rn(6, 3, dtype=F64),
            G=ring(6),
            K=2,
            alphas=(1.0,),
            hinge_alphas=(),
            others=("raw",),
        ),
        T(x=ALL, G=ALL),
        {"K": 0},
    ),
)
reg(
    "spectral.probe_sweep",
    Case(
        lambda: dict(
            features={"raw": (rn(8, 3), rn(6, 3, seed=1))},
            y_train=labels(8),
            y_test=labels(6),
            labels_per_class=(2,),
            draws=1,
        ),
        T(y_train="tise", y_test="tise"),
        {"draws": 0},
    ),
)

# --- splines ------------------------------------------------------------------------
reg(
    "splines.activation_codes",
    Case(lambda: dict(net=mlp(2, 4, 2), x=rn(5, 2)), T(x=ALL), {"net": "not a net"}),
)
reg(
    "splines.local_affine_map",
    Case(lambda: dict(net=mlp(2, 4, 2), x=rn(5, 2)), T(x="tden"), {"net": "not a net"}),
)
reg(
    "splines.grid2d",
    Case(lambda: dict(lo=-1.0, hi=1.0, res=3), bad={"res": 0, "hi": -2.0}),
)
reg(
    "splines.ids_of_codes",
    Case(lambda: dict(codes=torch.rand(5, 3) > 0.5), T(codes="tse")),
)
reg(
    "splines.region_ids",
    Case(lambda: dict(net=mlp(2, 4, 2), x=rn(5, 2)), T(x=ALL), {"net": "not a net"}),
)
reg(
    "splines.region_image",
    Case(lambda: dict(net=mlp(2, 4, 2), lo=-1.0, hi=1.0, res=4), bad={"res": 0}),
)
reg(
    "splines.count_regions",
    Case(lambda: dict(net=mlp(2, 4, 2), lo=-1.0, hi=1.0, res=4), bad={"res": 0}),
)
reg("splines.max_regions_one_layer", Case(lambda: dict(K=3, d=2), bad={"K": -1}))
reg(
    "splines.bn_stats",
    Case(lambda: dict(W=rn(3, 2), Z=rn(5, 2, seed=1)), T(W=ALL, Z=ALL)),
)
reg(
    "splines.tls_offset",
    Case(lambda: dict(W=rn(3, 2), Z=rn(5, 2, seed=1)), T(W=ALL, Z=ALL)),
)
reg(
    "splines.hyperplane_distances",
    Case(
        lambda: dict(W=rn(3, 2), b=rn(3, seed=2), Z=rn(5, 2, seed=1)),
        T(W=ALL, b="tdsn", Z=ALL),
    ),
)
reg(
    "splines.freeze_bn_stats",
    Case(lambda: dict(net=mlp(2, 4, 2, bn=True), X=rn(5, 2)), T(X=ALL)),
)
reg(
    "splines.fold_bn",
    Case(lambda: dict(net=mlp(2, 4, 2, bn=True)), bad={"net": "not a net"}),
)
reg(
    "splines.layer_hyperplanes",
    Case(lambda: dict(net=mlp(2, 4, 2), layer=1), bad={"layer": 5}),
)
reg(
    "splines.unit_boundary_distances",
    Case(lambda: dict(net=mlp(2, 4, 2), X=rn(5, 2)), T(X=ALL)),
)
reg(
    "splines.boundary_distance",
    Case(lambda: dict(net=mlp(2, 4, 2), X=rn(5, 2)), T(X=ALL)),
)
reg(
    "splines.segment_crossings",
    Case(
        lambda: dict(net=mlp(2, 4, 2), a=-torch.ones(2), b=torch.ones(2)),
        T(a="tdsn", b="tdsn"),
        {"max_crossings": 0},
    ),
)
reg(
    "splines.bn_offset_jitter",
    Case(
        lambda: dict(W=rn(3, 2), X=rn(8, 2, seed=1), B=4, n_draws=5, generator=gen()),
        T(W=ALL, X=ALL),
        {"B": 0},
    ),
)
reg(
    "splines.decision_margin_2d",
    Case(
        lambda: dict(f=lambda x: x[:, 0], X=rn(4, 2), lo=-1.0, hi=1.0, res=8),
        T(X=ALL),
        {"res": 1},
    ),
)
reg("splines.RefStatBN", Case(lambda: dict(num_features=3), bad={"num_features": 0}))
reg(
    "splines.fit_epochs",
    Case(
        lambda: dict(
            net=mlp(2, 4, 2),
            x=rn(8, 2),
            y=labels(8),
            x_test=rn(4, 2, seed=1),
            y_test=labels(4),
            epochs=1,
            batch_size=4,
            generator=gen(),
        ),
        T(x=ALL, y="tise", x_test=ALL, y_test="tise"),
        {"epochs": 0, "lr": -1.0},
    ),
)

# --- student ------------------------------------------------------------------------
reg(
    "student.without_solutions",
    Case(
        lambda: dict(
            notebook={"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        ),
        bad={"notebook": 3},
    ),
)

# --- tensor -------------------------------------------------------------------------
reg(
    "tensor.poisson_gaussian_noise",
    Case(
        lambda: dict(x=rn(4, 4).sigmoid(), tau=10.0, gen=gen()),
        T(x="tden"),
        {"tau": 0.0, "readout_std": -1.0},
    ),
)
reg(
    "tensor.salt_and_pepper",
    Case(
        lambda: dict(x=rn(4, 4).sigmoid(), frac=0.1, gen=gen()),
        T(x="tden"),
        {"frac": 1.5},
    ),
)
reg(
    "tensor.psnr",
    Case(
        lambda: dict(x=rn(4, 4), xhat=rn(4, 4, seed=1)),
        T(x="tden", xhat="tden"),
        {"data_range": -1.0},
    ),
)
reg(
    "tensor.low_rank_matrix",
    Case(lambda: dict(n1=6, n2=5, r=2, gen=gen()), bad={"r": 0, "kind": "nope"}),
)
reg(
    "tensor.phantom3d", Case(lambda: dict(n=4, n_ellipsoids=2, gen=gen()), bad={"n": 0})
)
reg(
    "tensor.holdout_mask",
    Case(lambda: dict(shape=(4, 4), frac=0.2, gen=gen()), bad={"frac": 1.5}),
)
reg("tensor.svd_truncate", Case(lambda: dict(Y=rn(5, 4), r=2), T(Y=ALL), {"r": 0}))
reg(
    "tensor.svd_soft_threshold",
    Case(lambda: dict(Y=rn(5, 4), lam=0.1), T(Y=ALL), {"lam": -1.0}),
)
reg("tensor.svd_gavish_donoho", Case(lambda: dict(Y=rn(5, 4)), T(Y=ALL)))
reg(
    "tensor.cp_als",
    Case(lambda: dict(Y=rn(3, 4, 5), R=2, iters=3, gen=gen()), T(Y=ALL), {"R": 0}),
)
reg(
    "tensor.synthetic_hsi",
    Case(
        lambda: dict(image=rn(4, 4, 3).sigmoid(), n_bands=5),
        T(image=ALL),
        {"n_bands": 0},
    ),
)
reg(
    "tensor.Decoder2d",
    Case(lambda: dict(h=4, w=4, r=2, channels=2, levels=1, gen=gen()), bad={"r": 0}),
)
reg(
    "tensor.DeepTensorHSI",
    Case(
        lambda: dict(h=4, w=4, n_bands=4, r=2, channels=2, levels=1, gen=gen()),
        bad={"r": 0},
    ),
)
reg(
    "tensor.DeepTensorPCA",
    Case(lambda: dict(h=4, w=4, r=2, channels=2, levels=1, gen=gen()), bad={"r": 0}),
)
reg(
    "tensor.fit_pca",
    Case(
        lambda: dict(
            model=tensor.DeepTensorPCA(4, 4, 2, channels=2, levels=1, gen=gen()),
            X=rn(6, 16),
            iters=2,
        ),
        T(X=ALL),
        {"iters": 0},
    ),
)
reg("tensor.pca_basis", Case(lambda: dict(U=rn(5, 2)), T(U=ALL)))
reg(
    "tensor.Decoder1d",
    Case(lambda: dict(n=8, r=2, channels=2, levels=1, gen=gen()), bad={"n": 0}),
)
reg(
    "tensor.Decoder3d",
    Case(lambda: dict(n=4, channels=2, levels=1, gen=gen()), bad={"n": 0}),
)
reg(
    "tensor.DeepTensorMatrix",
    Case(
        lambda: dict(n1=8, n2=8, r=2, channels=2, levels=1, gen=gen()),
        bad={"r": 0, "nonneg": "nope"},
    ),
)
reg(
    "tensor.DeepTensorCP",
    Case(
        lambda: dict(shape=(4, 4, 4), R=2, channels=2, levels=1, gen=gen()),
        bad={"R": 0},
    ),
)
reg("tensor.FreeFactors", Case(lambda: dict(n1=4, n2=3, r=2, gen=gen()), bad={"r": 0}))
reg(
    "tensor.fit",
    Case(
        lambda: dict(
            model=tensor.FreeFactors(4, 3, 2, gen=gen()), Y=rn(4, 3), iters=2, gen=gen()
        ),
        T(Y=ALL),
        {"iters": 0, "loss": "nope"},
    ),
)

# --- train --------------------------------------------------------------------------
reg(
    "train.train_ssl",
    Case(
        lambda: dict(
            model=models.JointEmbedding(mlp(4, 3), mlp(3, 2)),
            x=rn(8, 4),
            augmentation=augment.compose(augment.clip),
            loss_fn=losses.vicreg,
            steps=2,
            batch_size=4,
            generator=gen(),
            device="cpu",
            progress=False,
        ),
        T(x="tden"),
        {"steps": 0, "lr": -1.0, "precision": "float16", "compile": "yes"},
    ),
)
reg(
    "train.train_supervised",
    Case(
        lambda: dict(
            model=mlp(4, 2),
            x=rn(8, 4),
            y=labels(8),
            steps=2,
            batch_size=4,
            generator=gen(),
            device="cpu",
            progress=False,
        ),
        T(x="tden", y="tise"),
        {"steps": 0, "lr": -1.0, "precision": "float16", "compile": "yes"},
    ),
)
reg(
    "train.run_supervised",
    Case(
        lambda: dict(
            build=lambda: mlp(4, 2),
            x=rn(8, 4),
            y=labels(8),
            seed=0,
            steps=2,
            batch_size=4,
            device="cpu",
            progress=False,
        ),
        T(x="tden", y="tise"),
        {"steps": 0},
    ),
)
reg("train.SSLRun", Case(lambda: dict(steps=2), bad={"loss": "nope", "steps": 0}))
reg(
    "train.run_ssl",
    Case(
        lambda: dict(
            run=train.SSLRun(
                steps=2, batch_size=4, backbone_widths=(4,), projector_widths=(4,)
            ),
            x=rn(8, 64).sigmoid(),
            generator=gen(),
            device="cpu",
            progress=False,
        ),
        T(x="tden"),
        {"run": "not a run"},
    ),
)

# --- unitary ------------------------------------------------------------------------
# polar_project ... lowrank_column_sampling run inside ProjUNN.step each step: flag p
# (those that take an SVD or a random column draw, which sync anyway, do check).
reg("unitary.permute_pixels", Case(lambda: dict(x=rn(3, 6)), T(x="tden")))
reg(
    "unitary.train_sequence_classifier",
    Case(
        lambda: dict(
            model=unitary.OrthogonalRNN(1, 4, 3),
            optimizer=None,
            x_train=rn(8, 5, 1),
            y_train=labels(8, 3),
            x_test=rn(4, 5, 1),
            y_test=labels(4, 3),
            steps=1,
            batch=4,
            gen=gen(),
            eval_size=4,
        ),
        T(x_train="tden", y_train="tise", x_test="tden", y_test="tise"),
        {"steps": 0},
        call=lambda kw: unitary.train_sequence_classifier(**_with_opt(kw)),
    ),
)
reg("unitary.polar_project", Case(lambda: dict(M=rn(3, 3)), T(M="tdsp")))
reg(
    "unitary.tangent_project",
    Case(lambda: dict(U=orth(3), X=rn(3, 3, dtype=F64)), T(U="tdsp", X="tdsp")),
)
reg(
    "unitary.exact_tangent_step",
    Case(lambda: dict(U=orth(3), Delta=rn(3, 3, dtype=F64)), T(U="tdsp", Delta="tdsp")),
)
ab = lambda: dict(U=orth(4), A=rn(4, 1, dtype=F64), B=rn(4, 1, seed=1, dtype=F64))  # noqa: E731
reg("unitary.projunn_t", Case(ab, T(U="tdsp", A="tdsp", B="tdsp")))
reg("unitary.projunn_d", Case(ab, T(U="tdsp", A="tdsp", B="tdsp"), {"tau": -1.0}))
reg(
    "unitary.lowrank_randomized",
    Case(lambda: dict(M=rn(4, 4), k=1, gen=gen()), T(M="tdsp"), {"k": 0}),
)
reg(
    "unitary.lowrank_column_sampling",
    Case(lambda: dict(M=rn(4, 4), k=1, gen=gen()), T(M="tdsp"), {"k": 0}),
)
reg("unitary.orthogonality_error", Case(lambda: dict(U=orth(3)), T(U="tdn")))
reg(
    "unitary.henaff_init_",
    Case(lambda: dict(W=torch.zeros(4, 4), gen=gen()), T(W="tds")),
)
reg(
    "unitary.copy_task_batch",
    Case(lambda: dict(B=2, T=3, K=2, n=3, gen=gen()), bad={"B": 0, "T": 0}),
)
reg("unitary.copy_baseline", Case(lambda: dict(T=3, K=2, n=3), bad={"n": 0}))
reg(
    "unitary.OrthogonalRNN",
    Case(
        lambda: dict(n_in=4, n_hidden=4, n_out=3),
        bad={"n_hidden": 0, "nonlinearity": "nope", "init": "nope"},
    ),
)
reg(
    "unitary.ProjUNN",
    Case(lambda: _projunn_kwargs(), bad={"projector": "nope", "rank": 0}),
)
reg(
    "unitary.random_orthogonal",
    Case(lambda: dict(n=3, gen=gen()), bad={"n": 0, "det": 2}),
)
reg(
    "unitary.learn_rotation",
    Case(
        lambda: dict(U0=orth(3), U_tar=orth(3, 1), k=1, steps=2, gen=gen()),
        T(U0="tdsn", U_tar="tdsn"),
        {"steps": -1, "projector": "nope"},
    ),
)
reg(
    "unitary.train_copy",
    Case(
        lambda: dict(
            model=unitary.OrthogonalRNN(5, 4, 4),
            optimizer=None,
            steps=1,
            T=2,
            K=1,
            n=3,
            batch=2,
            gen=gen(),
            eval_batches=1,
        ),
        bad={"steps": 0},
        call=lambda kw: unitary.train_copy(**_with_opt(kw)),
    ),
)


def _projunn_kwargs() -> dict:
    lin = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        lin.weight.copy_(orth(4).float())
    return dict(
        base=torch.optim.SGD(lin.parameters(), lr=0.1), unitary=[lin.weight], gen=gen()
    )


def _with_opt(kw: dict) -> dict:
    if kw.get("optimizer") is None:
        kw["optimizer"] = torch.optim.SGD(kw["model"].parameters(), lr=0.01)
    return kw


# --- widgets ------------------------------------------------------------------------
reg("widgets.mode", Case(lambda: dict()))


# ------------------------------------------------------------------------------------
# Exemptions: a public name that the registry does not call, with the reason.

EXEMPT: dict[str, str] = {
    # Result containers: frozen dataclasses / NamedTuples the library fills itself.
    "data.Split": "result container (dataclass) filled by the loaders",
    "independence.ICAProblem": "result container filled by ica_problem",
    "independence.ICAResult": "result container filled by vcreg_ica",
    "information.Pushforward": "result container filled by spline_pushforward",
    "information.PushforwardCheck": "result container filled by pushforward_check",
    "information.MCEstimate": "result container filled by mixture_entropy_mc",
    "information.WithinTotal": "result container filled by within_total_ratios",
    "probes.ProbedRun": "result container filled by train_and_probe",
    "augment.Augmentation": "a typing Protocol (the call signature), no code",
    # Opt-in datasets: read files or the network; tests/lib/test_data.py covers them.
    "data.mnist": "opt-in dataset read from disk/network (test_data.py: errors)",
    "data.cifar10": "opt-in dataset read from disk/network (test_data.py: errors)",
    "unitary.permuted_mnist": "opt-in MNIST read from disk/network (test_unitary)",
    "classwise.transfer_sweep": "chapter 09 pipeline: trains nets per condition (slow)",
    "data.mnist1d": "dataset generator of the mnist1d package (seconds to build)",
    # Whole-chapter pipelines: seconds to minutes even at their smallest.
    "spectral.graph_representations": "chapter 05 pipeline on the digits pool (slow)",
    "spectral.design_sweep": "chapter 05 pipeline on the digits pool (slow)",
    # Process-level side effects.
    "runtime.init_distributed": "starts torch.distributed from environment variables",
    "runtime.glue": "writes to the notebook's output (myst-nb glue)",
    "student.main": "command-line entry point (argv), tested in test_student.py",
    # Interactive widgets: take a callable and ipywidgets controls, no tensors;
    # tests/lib/test_plots_widgets.py and test_widgets_notebooks.py cover them.
    "widgets.static_grid": "takes a drawing callable, no tensors (test_plots_widgets)",
    "widgets.control_values": "takes an ipywidgets control (test_plots_widgets)",
    "widgets.check_controls": "takes an ipywidgets widget (test_plots_widgets)",
    "widgets.interact": "takes a drawing callable and controls (test_plots_widgets)",
}


# ------------------------------------------------------------------------------------
# The harness.


def public_names() -> list[str]:
    names = []
    for info in pkgutil.iter_modules(dltheory.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"dltheory.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_"):
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            names.append(f"{info.name}.{name}")
    return sorted(names)


def resolve(name: str) -> Callable:
    module, attr = name.split(".")
    return getattr(importlib.import_module(f"dltheory.{module}"), attr)


def cases(name: str) -> list[Case]:
    entry = REGISTRY[name]
    return entry if isinstance(entry, list) else [entry]


def run(name: str, case: Case, kwargs: dict) -> object:
    if case.call is not None:
        return case.call(kwargs)
    return resolve(name)(**kwargs)


def _set_first(x: torch.Tensor, value: float) -> torch.Tensor:
    x = x.detach().clone(memory_format=torch.contiguous_format)
    x.view(-1)[0] = value
    return x


def variants(x: torch.Tensor, flags: str) -> list[tuple[str, object, type]]:
    """(label, bad value, expected exception) for one tensor argument."""
    out: list[tuple[str, object, type]] = []
    if "t" in flags:
        out.append(("a string", "not a tensor", TypeError))
    if "d" in flags:
        out.append(
            ("an integer dtype", torch.ones(x.shape, dtype=torch.long), TypeError)
        )
    if "i" in flags:
        out.append(("a float dtype", x.float(), TypeError))
    if "s" in flags:
        out.append(("an extra dimension", x.unsqueeze(-1), ValueError))
        if x.dim() >= 1:
            out.append(("a missing dimension", x[..., 0], ValueError))
    if "e" in flags:
        out.append(("an empty batch", x[:0], ValueError))
    if "n" in flags or "p" in flags:
        out.append(("a NaN", _set_first(x, float("nan")), ValueError))
        out.append(("an Inf", _set_first(x, float("inf")), ValueError))
    return out


def bad_calls() -> list[tuple[str, int, str, str]]:
    """(name, case index, argument, variant label) of every generated bad call."""
    out = []
    for name in sorted(REGISTRY):
        for i, case in enumerate(cases(name)):
            kwargs = case.make()
            for arg, flags in case.tensors.items():
                for label, _, _ in variants(kwargs[arg], flags):
                    out.append((name, i, arg, label))
            for arg in case.bad:
                out.append((name, i, arg, "out of range"))
    return out


def _nonfinite(result: object) -> bool:
    if isinstance(result, torch.Tensor):
        return not bool(torch.isfinite(result).all())
    if isinstance(result, dict):
        return any(_nonfinite(v) for v in result.values())
    if isinstance(result, tuple | list):
        return any(_nonfinite(v) for v in result)
    return False


def assert_names(err: BaseException, arg: str) -> None:
    message = str(err)
    assert re.search(rf"(?<![\w.]){re.escape(arg)}(?!\w)", message), (
        f"message does not name {arg!r}: {message!r}"
    )
    assert "got" in message or "given" in message, (
        f"message does not say what was given: {message!r}"
    )


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_every_public_name_is_registered():
    names = public_names()
    assert len(names) >= 250  # about 254 in December 2026
    missing = [n for n in names if n not in REGISTRY and n not in EXEMPT]
    assert not missing, f"register these in tests/lib/test_bad_inputs.py: {missing}"
    stale = [n for n in list(REGISTRY) + list(EXEMPT) if n not in names]
    assert not stale, f"no longer public, remove from the registry: {stale}"
    assert not set(REGISTRY) & set(EXEMPT)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_valid_call_runs(name):
    for case in cases(name):
        run(name, case, case.make())


# Bad inputs that still give an unclear error, by test id, with what happens: a
# strict xfail, so fixing one fails the test until its line here is removed.
KNOWN: dict[str, str] = {}


def _call_id(name: str, index: int, arg: str, label: str) -> str:
    return f"{name}[{index}]-{arg}-{label.replace(' ', '_')}"


BAD_CALLS = [
    pytest.param(
        *call,
        id=_call_id(*call),
        marks=[pytest.mark.xfail(strict=True, reason=KNOWN[_call_id(*call)])]
        if _call_id(*call) in KNOWN
        else [],
    )
    for call in bad_calls()
]


def test_known_failures_are_generated_calls():
    ids = {p.id for p in BAD_CALLS}
    assert not set(KNOWN) - ids, f"stale KNOWN entries: {set(KNOWN) - ids}"


@pytest.mark.parametrize(("name", "index", "arg", "label"), BAD_CALLS)
def test_bad_input_raises_a_clear_error(name, index, arg, label):
    case = cases(name)[index]
    kwargs = case.make()
    # A misspelt argument would raise "unexpected keyword argument" and pass.
    params = () if case.call else inspect.signature(resolve(name)).parameters
    assert arg in kwargs or arg in params, f"{name} has no argument {arg!r}"
    if label == "out of range":
        kwargs[arg] = case.bad[arg]
        with pytest.raises((ValueError, TypeError)) as info:
            run(name, case, kwargs)
        assert_names(info.value, arg)
        return
    flags = case.tensors[arg]
    value, expected = next(
        (v, e) for lab, v, e in variants(kwargs[arg], flags) if lab == label
    )
    kwargs[arg] = value
    if "p" in flags and label in ("a NaN", "an Inf"):
        # A per-step function: no finite check (a GPU sync); the NaN/Inf must show.
        try:
            result = run(name, case, kwargs)
        except ValueError as err:
            assert_names(err, arg)
            return
        assert _nonfinite(result), "a NaN/Inf input gave a finite result"
        return
    with pytest.raises(expected) as info:
        run(name, case, kwargs)
    assert_names(info.value, arg)
