"""Claims of chapter 08 (book/08_projunn): projUNN, unitary networks trained with rank-k
updates [kiani2022projunn, arXiv:2203.05483].

Every test holds a negative control: the same assertion evaluated where the claim is
false, asserted to fail. Per-seed values were measured on one thread of the book's
2-core CPU (torch 2.13, December 2026, load 7-11 from other jobs), with the code of
these tests; margins are about half the smallest gap seen over seeds 0-4 (on a log
scale for errors spanning decades).
"""

import math
import time

import pytest
import torch

from dltheory import unitary as un


def _problem(n, k, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    U = un.random_orthogonal(n, det=None, dtype=dtype, gen=g)
    # A, B scaled by 1 / sqrt(n): ||A B^H|| ~ 1 (errors near 1e-15)
    A = torch.randn(n, k, dtype=dtype, generator=g) / math.sqrt(n)
    B = torch.randn(n, k, dtype=dtype, generator=g) / math.sqrt(n)
    return U, A, B


# --- Claim 1 ------------------------------------------------------------------------


@pytest.mark.claim(
    chapter="08",
    k=1,
    statement="projUNN-D and projUNN-T are exact: in O(k n^2) they equal the polar "
    "projection of U + A B^H and U expm(skew(U^H A B^H))",
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_claim1_projunn_d_and_t_are_exact(seed, dtype):
    U, A, B = _problem(64, 2, dtype, seed)
    Delta = A @ B.mH
    polar = un.polar_project(U + Delta)  # full SVD, O(n^3)
    expm = un.exact_tangent_step(U, Delta)  # full matrix_exp, O(n^3)
    err_d = float((un.projunn_d(U, A, B) - polar).abs().max())
    err_t = float((un.projunn_t(U, A, B) - expm).abs().max())
    # Measured, seeds 0-2, real: D 6.4e-16..7.2e-16, T 9.4e-16..1.0e-15; complex:
    # D 5.4e-16..6.7e-16, T 5.5e-16..9.4e-16. Bound 1e-10 (the issue's).
    assert err_d < 1e-10, f"seed {seed} {dtype}: |D - polar| = {err_d:.2e}"
    assert err_t < 1e-10, f"seed {seed} {dtype}: |T - expm| = {err_t:.2e}"
    # Negative control: the other map (D against the expm reference, T against the
    # polar one) differs at O(||Delta||^2), about 1e-2 here; the unprojected U + Delta
    # is off by O(||Delta||).
    cross = float((un.projunn_d(U, A, B) - expm).abs().max())
    assert not cross < 1e-10, f"seed {seed}: D within {cross:.2e} of expm"
    raw = float((U + Delta - polar).abs().max())
    assert not raw < 1e-10, f"seed {seed}: U + Delta within {raw:.2e} of polar"


# --- Claim 2 ------------------------------------------------------------------------


def _slope(errs, etas):
    return (math.log(errs[0]) - math.log(errs[-1])) / (
        math.log(etas[0]) - math.log(etas[-1])
    )


@pytest.mark.claim(
    chapter="08",
    k=2,
    statement="projUNN-D is a retraction of projUNN-T: they agree to first order in "
    "the step, ||D - T|| = O(eta^2)",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim2_d_and_t_agree_to_first_order(seed):
    # A fixed, non-tangent direction A B^H of rank 2: the eta^2 coefficient of D - T is
    # -(K S + S K) / 2 with K, S the skew and Hermitian parts of U^H A B^H (notebook 1);
    # at rank 1 it is proportional to <U^H a, b>, small for some draws (seed 1 at
    # rank 1: slope 2.49 over eta = 1e-2..1e-4), so the test uses k = 2.
    U, A, B = _problem(32, 2, torch.float64, seed)
    etas = [1e-2, 1e-3, 1e-4]
    d_vs_t = [
        float((un.projunn_d(U, e * A, B) - un.projunn_t(U, e * A, B)).norm())
        for e in etas
    ]
    raw_vs_t = [
        float((U + e * A @ B.mH - un.projunn_t(U, e * A, B)).norm()) for e in etas
    ]
    slope = _slope(d_vs_t, etas)
    # Measured slopes, seeds 0-4: 1.999 / 2.000 / 2.000 / 2.000 / 2.002 (||D - T|| at
    # eta = 1e-2: 8.1e-6..2.0e-5); the negative control's 1.000 on every seed. Band
    # [1.5, 2.5]: half the gap 2.00 - 1.00 below.
    assert 1.5 <= slope <= 2.5, f"seed {seed}: slope {slope:.3f}, {d_vs_t}"
    # Negative control: the unprojected U + eta Delta agrees with T only to first
    # order in eta (slope 1): the same band fails.
    raw = _slope(raw_vs_t, etas)
    assert not 1.5 <= raw <= 2.5, f"seed {seed}: control slope {raw:.3f}"


# --- Claim 3 ------------------------------------------------------------------------


@pytest.mark.claim(
    chapter="08",
    k=3,
    statement="The weight stays unitary over thousands of rank-1 steps without "
    "re-orthogonalization",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim3_no_drift_over_thousands_of_steps(seed):
    n, steps = 256, 2000
    g = torch.Generator().manual_seed(seed)
    U0 = un.random_orthogonal(n, dtype=torch.float32, gen=g)
    steps_ab = []
    for _ in range(steps):
        a, b = torch.randn(n, 1, generator=g), torch.randn(n, 1, generator=g)
        steps_ab.append((a * (1e-2 / (a.norm() * b.norm())), b))  # ||a b^T|| = 1e-2
    err = {}
    for name, update in (
        ("T", un.projunn_t),
        ("D", un.projunn_d),
        ("additive", lambda U, a, b: U + a @ b.T),
    ):
        U = U0.clone()
        for a, b in steps_ab:
            U = update(U, a, b)
        err[name] = un.orthogonality_error(U)
    # Measured max|U^T U - I| after 2000 steps, float32, seeds 0-4: T 1.2e-6 / 1.1e-6 /
    # 1.0e-6 / 1.3e-6 / 1.1e-6; D 1.3e-6 / 1.2e-6 / 1.2e-6 / 1.1e-6 / 9.5e-7; the
    # additive control 1.18e-2 / 1.06e-2 / 1.00e-2 / 1.05e-2 / 1.03e-2. Bound 1e-4,
    # the geometric middle of the gap.
    assert err["T"] < 1e-4, f"seed {seed}: {err}"
    assert err["D"] < 1e-4, f"seed {seed}: {err}"
    # Negative control: the same steps added without projection drift off the group.
    assert not err["additive"] < 1e-4, f"seed {seed}: {err}"


# --- Claim 4 ------------------------------------------------------------------------


@pytest.mark.claim(
    chapter="08",
    k=4,
    statement="Rank k = 1 suffices: a rank-1 projUNN-T update learns a random "
    "orthogonal target, larger k only faster",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim4_rank_one_suffices(seed):
    g = torch.Generator().manual_seed(seed)
    n = 128
    U0 = un.random_orthogonal(n, gen=g)
    U_tar = un.random_orthogonal(n, gen=g)  # same component: det = +1 for both
    _, e1 = un.learn_rotation(U0, U_tar, 1, 600, gen=g, every=300)  # steps 0/300/600
    _, e4 = un.learn_rotation(U0, U_tar, 4, 300, gen=g, every=300)
    _, e16 = un.learn_rotation(U0, U_tar, 16, 300, gen=g, every=300)
    _, er = un.learn_rotation(U0, U_tar, 1, 600, gen=g, every=300, direction="random")
    err0 = e1[0]
    # Measured ||U - U_tar||_F^2, seeds 0-4 (err0 254-257), n = 128 (the notebook's
    # n = 256 costs twice the time): k = 1 at step 600 64.0 / 62.3 / 61.3 / 63.8 / 64.8
    # (0.24-0.25 err0), at 300 141-145; k = 4 at 300 2.82 / 2.89 / 8.57 / 4.31 / 2.61;
    # k = 16 at 300 1.8e-5 / 8.6e-6 / 5.7e-5 / 2.6e-5 / 1.5e-5; random rank-1 control
    # at 600: 257 / 251 / 255 / 257 / 258 (0.98-1.01 err0). Bound 0.5 err0 for k = 1.
    assert e1[-1] < 0.5 * err0, f"seed {seed}: k = 1 {e1}"
    assert e4[-1] < e1[1], f"seed {seed}: k = 4 {e4[-1]:.3g} vs k = 1 {e1[1]:.3g}"
    assert e16[-1] < 1e-3 * err0, f"seed {seed}: k = 16 {e16}"
    # Negative control: a random rank-1 step of the same norm does not learn.
    assert not er[-1] < 0.5 * err0, f"seed {seed}: random direction {er}"


# --- Claim 5 ------------------------------------------------------------------------


def _copy_run(seed, steps, T=50):
    torch.manual_seed(seed)
    model = un.OrthogonalRNN(10, 128, 9)
    other = [p for name, p in model.named_parameters() if name != "W.weight"]
    base = torch.optim.RMSprop(
        [{"params": other}, {"params": [model.W.weight], "lr": 1e-3 / 32}], lr=1e-3
    )
    opt = un.ProjUNN(
        base,
        [model.W.weight],
        projector="D",
        rank=1,
        gen=torch.Generator().manual_seed(seed),
    )
    g = torch.Generator().manual_seed(seed)
    return un.train_copy(model, opt, steps, T, gen=g, every=100)


@pytest.mark.slow
@pytest.mark.claim(
    chapter="08",
    k=5,
    statement="A rank-1 projUNN-D RNN learns the copy task (T = 50) below the "
    "memoryless baseline while W stays orthogonal",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim5_projunn_rnn_learns_the_copy_task(seed):
    base = un.copy_baseline(50)  # 0.297
    out = _copy_run(seed, 1000)  # held-out loss at steps 0, 100, ..., 1000
    untrained, plateau, trained = (
        out["heldout"][0],
        out["heldout"][4],
        out["heldout"][-1],
    )
    # Measured held-out loss, seeds 0-4 (hidden 128, one thread; the recurrence runs in
    # torch.rnn_relu, fused: 18-24 s of CPU a run at load 12-15 on the 2 cores; a step
    # costs 19.8 ms of CPU against 28.6 ms with the Python loop over time, at load 0.5):
    # at step 1000 0.060 / 0.035 /
    # 0.037 / 0.082 / 0.042 (0.12-0.28 x baseline), orthogonality error 2.6e-6..3.5e-6;
    # at step 400 0.295 / 0.305 / 0.287 / 0.289 / 0.290 (the memoryless plateau);
    # untrained 1.96 / 2.10 / 2.20 / 2.23 / 2.12; first below 0.5 x baseline at step
    # 700 or 800. Bound 0.5 x baseline = 0.149: 0.067 above the worst trained seed,
    # 0.14 below the plateau. No cheaper setting kept the test meaningful: at step 500
    # the runs are still on the plateau (0.258-0.284); hidden 64 after 1000 steps is
    # near it (seed 0 0.287, seed 1 0.256); batch 32 at step 1000, seed 0: 0.100; a
    # 2x or 3x larger learning rate leaves seed 1 above the bound at steps 600 and 500
    # (0.216 and 0.214).
    # The unconstrained RNN at the same learning rate for W also learns it (seed 0:
    # 0.0639 vs projUNN-D 0.0589, Python loop): the unitary advantage is not claimed at
    # T = 50.
    assert trained < 0.5 * base, f"seed {seed}: held-out {out['heldout']}"
    assert out["orth"][-1] < 1e-4, f"seed {seed}: orthogonality {out['orth']}"
    # Negative control: the same run at step 400, trained but not yet using its memory
    # (the memoryless plateau, 0.287-0.305 on seeds 0-4), and the untrained network
    # (1.96-2.23): the same bound fails on both.
    assert not plateau < 0.5 * base, f"seed {seed}: step 400 {plateau:.3f}"
    assert not untrained < 0.5 * base, f"seed {seed}: untrained {untrained:.3f}"


# --- Claim 6 ------------------------------------------------------------------------


def _least_cpu_ms(fn, reps=7):
    # The thread's CPU clock (torch on one thread), least of reps calls: robust to the
    # other jobs on the machine (chapter 10's claim 6 does the same). At load 11 on the
    # 2-core CPU the wall-clock median of projUNN-T at n = 1024 read 36 ms against
    # 2.2-2.4 ms of CPU time.
    fn()
    times = []
    for _ in range(reps):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return 1e3 * min(times)


@pytest.mark.claim(
    chapter="08",
    k=6,
    statement="A rank-k update costs O(k n^2), far below the O(n^3) of an SVD "
    "projection or a matrix exponential",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim6_rank_k_update_is_cheaper_than_n_cubed(seed):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        n = 512
        g = torch.Generator().manual_seed(seed)
        U = un.random_orthogonal(n, dtype=torch.float32, gen=g)
        A, B = torch.randn(n, 1, generator=g) / n, torch.randn(n, 1, generator=g)
        Af, Bf = (
            torch.randn(n, n // 2, generator=g) / n,
            torch.randn(n, n // 2, generator=g),
        )
        Delta = A @ B.T
        t_svd = _least_cpu_ms(lambda: un.polar_project(U + Delta))
        t_expm = _least_cpu_ms(lambda: un.exact_tangent_step(U, Delta))
        t_rank1 = _least_cpu_ms(lambda: un.projunn_t(U, A, B))
        t_full = _least_cpu_ms(lambda: un.projunn_t(U, Af, Bf))  # k = n / 2
    finally:
        torch.set_num_threads(threads)
    # Measured by the thread's CPU clock (least of 7), n = 512, float32, one thread, at
    # load 12-15 on the 2 cores, seeds 0-4: SVD polar / projUNN-T(k = 1) 30 / 106 / 76 /
    # 108 / 85 (seed 0, the process's first timing, 1.58 ms for T against 0.41-0.58);
    # full expm step / projUNN-T 16 / 59 / 52 / 62 / 58; SVD / projUNN-T(k = n/2) 0.44 /
    # 0.38 / 0.39 / 0.43 / 0.37 (the negative control). Earlier, by the wall-clock
    # median at load 2-3: 101-120, 56-79 and 0.72-0.73. Bound 5x: about half the
    # smallest gap on a log scale (sqrt(16 / 0.44) = 6).
    assert t_svd > 5 * t_rank1, f"seed {seed}: SVD {t_svd:.2f} ms, T {t_rank1:.3f} ms"
    assert t_expm > 5 * t_rank1, (
        f"seed {seed}: expm {t_expm:.2f} ms, T {t_rank1:.3f} ms"
    )
    # Negative control: at full rank (k = n / 2) the same formulas cost O(n^3) too and
    # are no cheaper than the SVD or the matrix_exp step (both assertions fail there;
    # expm step / T(k = n/2), seeds 0-4, CPU clock at load 7-9: 0.28 / 0.26 / 0.28 /
    # 0.21 / 0.28, with expm / T(k = 1) 58 / 51 / 74 / 44 / 69 in the same run).
    assert not t_svd > 5 * t_full, (
        f"seed {seed}: SVD {t_svd:.2f}, T(k=n/2) {t_full:.2f}"
    )
    assert not t_expm > 5 * t_full, (
        f"seed {seed}: expm {t_expm:.2f}, T(k=n/2) {t_full:.2f}"
    )
