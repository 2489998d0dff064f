"""Claims of chapter 10 (book/10_deeptensor): DeepTensor, low-rank decomposition with
deep network priors [saragadam2022deeptensor, arXiv:2204.03145].

Setting: a 64 x 64 matrix U V^T with rank-5 piecewise-constant factors in [0, 1]
(``tensor.low_rank_matrix``), Poisson noise at tau = 10 photons (about 13-14 dB input),
DeepTensor with two 32-channel 1D convolutional decoders, Adam lr 3e-3, 300 iterations,
10 % of the entries held out for the stopping rule (M2). Every test holds a negative
control: the same assertion evaluated where the claim is false, asserted to fail.
Per-seed values were measured once on one thread of the book's 2-core CPU (torch 2.13,
December 2026, load 3-4 from other jobs) with the code of these tests, seeds 0-4.
"""

import functools
import time

import pytest
import torch
from skimage.restoration import denoise_tv_chambolle

from dltheory import data
from dltheory import tensor as T

TAU = 10.0
TV_WEIGHTS = (0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3)


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _dt(Y, X, seed, loss="l2", iters=300, holdout=0.1, ema=0.0):
    model = T.DeepTensorMatrix(*Y.shape, 5, gen=_g(seed + 100))
    Xh, hist, t = T.fit(
        model,
        Y,
        loss=loss,
        iters=iters,
        holdout=holdout,
        ema=ema,
        clean=X,
        gen=_g(seed + 200),
    )
    return T.psnr(X, Xh), hist, t


@functools.cache
def _matrix_run(seed):
    """PSNR of SVD r = 5, Gavish-Donoho SVD, oracle TV and DeepTensor per noise."""
    torch.set_num_threads(1)
    g = _g(seed)
    X = T.low_rank_matrix(64, 64, 5, "piecewise", g)
    Y = T.poisson_gaussian_noise(X, TAU, gen=g)
    sigma = (X.mean() / TAU).sqrt().item()  # matched energy: sigma^2 = mean(x) / tau
    noisy = {
        "poisson": (X, Y),
        "gauss_matched": (X, X + sigma * torch.randn(X.shape, generator=g)),
        "gauss_0.1": (X, X + 0.1 * torch.randn(X.shape, generator=g)),
    }
    Xi = T.low_rank_matrix(64, 64, 5, "gaussian", g)
    noisy["iid_factors"] = (Xi, T.poisson_gaussian_noise(Xi, TAU, gen=g))
    out = {}
    for name, (x, y) in noisy.items():
        out[name] = {
            "svd5": T.psnr(x, T.svd_truncate(y, 5)),
            "gd": T.psnr(x, T.svd_gavish_donoho(y)[0]),
            "tv": max(
                T.psnr(x, torch.tensor(denoise_tv_chambolle(y.numpy(), weight=w)))
                for w in TV_WEIGHTS
            ),
            "dt": _dt(y, x, seed)[0],
        }
    for name in ("poisson", "iid_factors"):  # the ablation without the network prior
        x, y = noisy[name]
        free = T.FreeFactors(64, 64, 5, gen=_g(seed + 100))
        out[name]["free"] = T.psnr(x, T.fit(free, y, iters=300, gen=_g(seed + 200))[0])
    return out


@pytest.mark.claim(
    chapter="10",
    k=1,
    statement="On a structured low-rank matrix under Poisson noise (tau = 10) "
    "DeepTensor beats truncated SVD at the same rank by several dB",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim1_beats_same_rank_svd(seed):
    r = _matrix_run(seed)
    gain = r["poisson"]["dt"] - r["poisson"]["svd5"]
    # seeds 0-7: gain +6.13 / +5.61 / +7.25 / +5.05 / +4.26 / +5.26 / +6.46 / +5.85 dB;
    # margin 2 dB (about half the smallest)
    assert gain > 2.0, r
    # negative control (i.i.d. Gaussian factors, no structure for the prior, same
    # noise): gain -1.51 / -2.25 / -0.52 / -0.18 / -1.39 / +1.84 / -1.69 / -0.87 dB
    # (seeds 0-7): a near tie, not a clear SVD win; seed 5 (like the notebook's draw)
    # comes within 0.2 dB of the threshold, so this control is weak
    ctrl = r["iid_factors"]["dt"] - r["iid_factors"]["svd5"]
    assert not ctrl > 2.0, r
    # The assertion above also holds WITHOUT the network: free factors with the same
    # loss, lr, held-out stopping and rank beat rank-5 SVD by +2.03 / +1.64 / +2.33 /
    # +1.95 / +2.70 / +3.30 / +4.31 / +5.15 dB (seeds 0-7), early-stopped shrinkage.
    # The prior's own part, DeepTensor - free factors: +4.10 / +3.97 / +4.92 / +3.10 /
    # +1.56 / +1.96 / +2.15 / +0.70 dB; threshold 0.6, below the smallest and above
    # the control's largest
    prior = r["poisson"]["dt"] - r["poisson"]["free"]
    assert prior > 0.6, r
    # negative control: on i.i.d. factors the prior's part vanishes, DeepTensor - free
    # +0.17 / -0.22 / -0.09 / +0.19 / +0.19 / +0.43 / -0.20 / +0.28 dB (seeds 0-7)
    ctrl_prior = r["iid_factors"]["dt"] - r["iid_factors"]["free"]
    assert not ctrl_prior > 0.6, r


@pytest.mark.claim(
    chapter="10",
    k=2,
    statement="The gain over same-rank SVD grows as the SNR falls; at matched energy, "
    "Poisson and Gaussian noise give about the same gain (the type matters little)",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim2_noise_level_not_type(seed):
    r = _matrix_run(seed)

    def gain(k):
        return r[k]["dt"] - r[k]["svd5"]

    diff = abs(gain("poisson") - gain("gauss_matched"))
    # seeds 0-4: gain(Poisson) - gain(matched Gaussian) +0.78 / -0.38 / +0.85 / +0.43 /
    # +0.89; the control's difference (below) 4.07 / 1.60 / 3.42 / 4.72 / 3.33:
    # threshold 1.25,
    # the midpoint between the largest matched and the smallest unmatched difference
    assert diff < 1.25, r
    # negative control: Gaussian sigma = 0.1 (20 dB, the brief's unmatched comparison):
    # the gain is smaller at the higher SNR, and the same assertion fails. Signed, so it
    # also checks the direction (the gain grows as the SNR falls): gain(Poisson) -
    # gain(sigma 0.1) = 6.13 - 2.06, 5.61 - 4.01, 7.25 - 3.83, 5.05 - 0.33, 4.26 - 0.93
    ctrl = gain("poisson") - gain("gauss_0.1")
    assert not ctrl < 1.25, r


@pytest.mark.claim(
    chapter="10",
    k=3,
    statement="Against structure-aware baselines the gain shrinks: DeepTensor still "
    "beats the Gavish-Donoho truncated SVD, but ties total-variation denoising "
    "(oracle weight)",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim3_structure_aware_baselines(seed):
    p = _matrix_run(seed)["poisson"]
    # seeds 0-4: DT - GD +2.90 / +1.11 / +4.11 / +1.92 / +3.51 dB; margin 0.5
    assert p["dt"] > p["gd"] + 0.5, p
    # seeds 0-4: TV (oracle weight) - DT -0.62 / +1.61 / -0.66 / -0.40 / +0.18 dB: a tie
    assert abs(p["tv"] - p["dt"]) < 3.0, p
    # negative control: the same tie assertion against rank-5 SVD fails (gaps 4.3-7.3
    # dB;
    # threshold 3.0 between the largest tie 1.61 and the smallest gap 4.26)
    assert not abs(p["svd5"] - p["dt"]) < 3.0, p


@functools.cache
def _outlier_run(seed):
    torch.set_num_threads(1)
    g = _g(seed)
    X = T.low_rank_matrix(64, 64, 5, "piecewise", g)
    Ysp = T.salt_and_pepper(X, 0.05, gen=g)
    sigma = ((Ysp - X) ** 2).mean().sqrt().item()  # Gaussian noise of the same energy
    Yg = X + sigma * torch.randn(X.shape, generator=g)
    return {
        (noise, loss): _dt(Y, X, seed, loss=loss)[0]
        for noise, Y in (("sp", Ysp), ("gauss", Yg))
        for loss in ("l1", "l2")
    }


@pytest.mark.claim(
    chapter="10",
    k=4,
    statement="With outliers (5 % salt-and-pepper) the L1 loss makes DeepTensor robust",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim4_l1_loss_and_outliers(seed):
    r = _outlier_run(seed)
    # seeds 0-4, salt-and-pepper: L1 - L2 +4.24 / +5.95 / +5.21 / +2.36 / +3.64 dB;
    # margin 1.2
    MARGIN = 1.2
    assert r["sp", "l1"] > r["sp", "l2"] + MARGIN, r
    # negative control: Gaussian noise of the same energy (no outliers): L1 gains
    # nothing
    # (L1 - L2 -1.48 / -1.27 / -0.88 / -1.11 / -0.96 dB)
    assert not r["gauss", "l1"] > r["gauss", "l2"] + MARGIN, r


@pytest.mark.claim(
    chapter="10",
    k=5,
    statement="Held-out entries pick the stopping point: the fit overfits later, and "
    "the iterate chosen by the held-out loss is within 1 dB of the best one",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim5_heldout_early_stopping(seed):
    torch.set_num_threads(1)
    g = _g(seed)
    X = T.low_rank_matrix(64, 64, 5, "piecewise", g)
    Y = T.poisson_gaussian_noise(X, 3.0, gen=g)
    _, h, t = _dt(Y, X, seed, iters=600, holdout=0.2, ema=0.9)
    best, chosen, final = max(h["psnr"]), h["psnr"][t - 1], h["psnr"][-1]
    # seeds 0-4 (PSNR of the EMA-smoothed output, dB): best 22.60 / 23.02 / 22.22 /
    # 21.33 / 21.68; chosen - best -0.04 / -0.08 / -0.06 / -0.69 / -0.02 (t* = 56 / 62 /
    # 52 / 81 / 58 of 600); final - best -6.1 / -5.8 / -6.6 / -5.0 / -4.1
    assert final <= best - 1.0, (best, chosen, final)  # overfitting happens
    assert chosen >= best - 1.0, (best, chosen, final, t)
    # negative control: the training loss as the rule (its smallest value) lands late:
    # 16.51 / 17.24 / 15.66 / 16.35 / 17.61 dB, 4-7 dB below the best
    t_train = min(range(len(h["train"])), key=h["train"].__getitem__)
    assert not h["psnr"][t_train] >= best - 1.0, (best, h["psnr"][t_train], t_train)


def _ms_per_iter(model, target, reps=15):
    """CPU milliseconds of one Adam iteration: the least of `reps` after a warm-up.

    Timed with the calling thread's CPU clock (one intra-op thread, so torch computes
    on it): another process on the same cores stretches the wall clock of either model
    by its own amount, which made wall-clock ratios swing from 13x to 4x under load.
    """
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    times = []
    for i in range(reps + 1):
        t0 = time.thread_time()
        loss = ((model() - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:  # the first is a warm-up
            times.append(time.thread_time() - t0)
    return 1e3 * min(times)


@pytest.mark.claim(
    chapter="10",
    k=6,
    statement="Per iteration, CP-DeepTensor (three 1D decoders) is much cheaper than "
    "one 3D-convolution decoder (3x3x3, 32 channels, 3 levels) of the volume",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim6_cp_cheaper_than_conv3d(seed):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    n = 32
    vol = T.phantom3d(n, gen=_g(seed))
    cp = _ms_per_iter(T.DeepTensorCP((n, n, n), 16, gen=_g(seed)), vol)
    c3 = _ms_per_iter(T.Decoder3d(n, kernel=3, gen=_g(seed)), vol)
    c1 = _ms_per_iter(T.Decoder3d(n, kernel=1, gen=_g(seed)), vol)
    torch.set_num_threads(threads)
    # seeds 0-4, one thread, least CPU time of 5 iterations (ms), measured twice (idle
    # machine / three busy loops on its 2 cores): CP 2.7-4.0; 3x3x3 46-57; ratios
    # 14.8 / 16.6 / 15.0 / 15.5 / 19.7 and 14.2 / 16.1 / 18.0 / 14.0 / 13.2. At load
    # 10-12 (other helpers' jobs) CP's CPU time rises more than the 3D network's: with
    # the least of 5 one run gave 8.9 (CP 6.3 ms); with the least of 15 (now) ratios
    # 13.8 / 11.9 / 13.1 / 13.7 / 12.9, control 5.1-5.9, and in a second run at load
    # 10-12 11.1 / 11.8 / 12.6 / 15.8 / 11.6, control 4.8 / 5.3 / 5.2 / 5.9 / 5.1.
    # Threshold 9.5, midway between the smallest loaded ratio (11.1) and the control's
    # largest (7.8, idle); above the target of 8 at 32^3. (Wall-clock medians
    # gave 12.5-14.7 alone and fell to 4.0 when other tests shared the cores, hence
    # the CPU clock.)
    MARGIN = 9.5
    assert c3 / cp > MARGIN, (cp, c3, c1)
    # negative control: a 1x1x1 3D decoder (the official 3D deep decoder's kernel):
    # ratios 6.5 / 7.8 / 6.7 / 7.1 / 7.2 and 6.4 / 6.9 / 7.7 / 6.3 / 5.4 (the kernel
    # volume, 27 vs 1, makes most of the gap)
    assert not c1 / cp > MARGIN, (cp, c3, c1)


@functools.cache
def _hsi_cube():
    """The synthetic 64 x 64 x 32 cube of notebook 3 (astronaut abundances)."""
    img = data.image("astronaut", size=64)
    return T.synthetic_hsi(img, n_bands=32)[0]


@functools.cache
def _hsi_run(seed, tau):
    """PSNR of the Gavish-Donoho SVD of the unfolding and of DeepTensorHSI at tau.

    250 iterations, half of notebook 3's 500, to keep the suite's time: the gap at
    tau = 5 is smaller (DeepTensor is still improving), the crossover the same.
    """
    torch.set_num_threads(1)
    cube = _hsi_cube()
    Y = T.poisson_gaussian_noise(cube, tau, gen=_g(seed))
    gd = T.svd_gavish_donoho(Y.reshape(-1, 32))[0].reshape(cube.shape)
    model = T.DeepTensorHSI(64, 64, 32, 4, channels=16, gen=_g(seed + 100))
    Xh = T.fit(model, Y, iters=250, gen=_g(seed + 200))[0]
    out = {"gd": T.psnr(cube, gd), "dt": T.psnr(cube, Xh)}
    if tau == 5.0:  # the same fit without networks: free rank-4 factors
        free = T.FreeFactors(64 * 64, 32, 4, gen=_g(seed + 100))
        M = T.fit(free, Y.reshape(-1, 32), iters=400, lr=1e-2, gen=_g(seed + 200))[0]
        out["free"] = T.psnr(cube, M.reshape(cube.shape))
    return out


@pytest.mark.claim(
    chapter="10",
    k=7,
    statement="Hyperspectral denoising (a 2D spatial and a 1D spectral decoder): "
    "DeepTensor beats the Gavish-Donoho SVD of the unfolding at low SNR (tau = 5) "
    "only; at high SNR (tau = 50) SVD wins",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim7_hyperspectral_low_snr_only(seed):
    low, high = _hsi_run(seed, 5.0), _hsi_run(seed, 50.0)
    # seeds 0-4 (same cube; the seed draws the noise and the decoders), DeepTensor -
    # Gavish-Donoho, 250 iterations: at tau = 5 +1.63 / +2.16 / +2.55 / +2.80 / +1.88
    # dB; at tau = 50 -7.60 / -6.99 / -6.67 / -6.20 / -7.34 dB. Margin 0.8, about half
    # the smallest gap. (At notebook 3's 500 iterations: +3.47 / +3.52 / +3.87 / +3.73
    # / +3.48 and -5.44 / -5.34 / -4.86 / -4.92 / -5.43 dB.)
    MARGIN = 0.8
    assert low["dt"] > low["gd"] + MARGIN, (low, high)
    # negative control: the same assertion at tau = 50, past the crossover
    assert not high["dt"] > high["gd"] + MARGIN, (low, high)
    assert high["gd"] > high["dt"] + MARGIN, (low, high)  # and SVD wins there
    # negative control for the networks' part: free rank-4 factors with the same loss,
    # held-out stopping and mask (lr 1e-2, 400 iterations: at lr 3e-3 they are still
    # rising at 250 and peak at 19.7 dB after 2000 on seed 0) do not beat Gavish-Donoho
    # at tau = 5: free - GD -1.49 / -1.21 / -1.74 / -1.14 / -1.36 dB (seeds 0-4; the
    # chosen iteration 58-137 of 400), so the low-SNR win is not early-stopped shrinkage
    assert not low["free"] > low["gd"] + MARGIN, (low, high)


def _projection_error(Q, X, mu, clean):
    """||project(X) - clean||^2 / ||clean - mean||^2 for an orthonormal Q (625, r)."""
    rec = (X - mu) @ Q @ Q.T + mu
    return float(((rec - clean) ** 2).sum() / ((clean - clean.mean(0)) ** 2).sum())


@functools.cache
def _faces_run(seed):
    """Projection errors of the clean test faces: PCA, deep PCA, untrained decoder."""
    from skimage.data import lfw_subset
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split

    torch.set_num_threads(1)
    faces = torch.tensor(lfw_subset().reshape(200, -1), dtype=torch.float32)
    labels = [1] * 100 + [0] * 100
    tr, te = train_test_split(
        list(range(200)), test_size=0.5, stratify=labels, random_state=seed
    )
    Xtr, Xte = faces[tr], faces[te]  # clean faces (notebook 3 adds sigma = 0.3 too)
    mu = Xtr.mean(0)
    P = torch.tensor(PCA(10).fit(Xtr.numpy()).components_.T)  # (625, 10)
    U = T.fit_pca(T.DeepTensorPCA(25, 25, 10, gen=_g(seed + 100)), Xtr, 300)[0]
    with torch.no_grad():
        U0 = T.DeepTensorPCA(25, 25, 10, gen=_g(seed + 100))()
    out = {
        "pca": _projection_error(P, Xte, mu, Xte),
        "deep": _projection_error(T.pca_basis(U), Xte, mu, Xte),
        "untrained": _projection_error(T.pca_basis(U0), Xte, mu, Xte),
    }
    return out


@pytest.mark.claim(
    chapter="10",
    k=8,
    statement="Deep PCA on lfw_subset faces: the fitted decoder's eigen-images learn "
    "the face subspace (far below an untrained decoder's error) but do not beat "
    "scikit-learn's PCA at this scale",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_claim8_deep_pca_eigenfaces(seed):
    c = _faces_run(seed)
    # seeds 0-4 (the seed draws the split and the decoder), relative projection error
    # of the clean test faces: PCA 0.181 / 0.165 / 0.194 / 0.148 / 0.177, deep PCA
    # 0.264 / 0.288 / 0.316 / 0.242 / 0.259 (deep - PCA +0.083 / +0.123 / +0.122 /
    # +0.094 / +0.082), untrained decoder 0.378 / 0.400 / 0.359 / 0.414 / 0.383
    # (untrained - PCA +0.197 / +0.235 / +0.165 / +0.266 / +0.206). Threshold 0.14,
    # between the largest deep gap (0.123) and the smallest untrained one (0.165). With
    # noise sigma = 0.3 on every image (same code, noise drawn from the seed; shown in
    # notebook 3, not asserted): deep - PCA -0.004 / +0.046 / +0.029 / +0.031 / +0.001,
    # a near tie; untrained - PCA +0.073 to +0.200
    MARGIN = 0.14
    assert c["deep"] < c["pca"] + MARGIN, c
    # negative control: the untrained decoder (same network, not fitted) fails it
    assert not c["untrained"] < c["pca"] + MARGIN, c
    # observed, not the paper's claim: on clean faces PCA is better than deep PCA
    # (gaps above, smallest 0.082; margin 0.04 about half of it)
    assert c["deep"] > c["pca"] + 0.04, c
