import math
from functools import partial

import pytest
import torch
from torch.testing import assert_close

from dltheory import augment


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _shift_with_zeros(x, dy, dx):
    # The image moved by dy rows down and dx columns right, zeros where it leaves.
    out = torch.zeros_like(x)
    H, W = x.shape[-2:]
    out[..., max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = x[
        ..., max(-dy, 0) : H + min(-dy, 0), max(-dx, 0) : W + min(-dx, 0)
    ]
    return out


def _images(seed=0, shape=(16, 3, 8, 8)):
    return torch.rand(shape, generator=_gen(seed))


RANDOM_AUGMENTATIONS = {
    "gaussian_noise": (partial(augment.gaussian_noise, std=0.1), (8, 3, 6, 6)),
    "random_mask": (partial(augment.random_mask, p=0.3), (8, 3, 6, 6)),
    "random_affine": (augment.random_affine, (8, 3, 6, 6)),
    "random_crop": (partial(augment.random_crop, padding=2), (8, 3, 6, 6)),
    "horizontal_flip": (augment.horizontal_flip, (64, 3, 6, 6)),
    "shift1d": (partial(augment.shift1d, max_shift=5), (8, 40)),
    "scale1d": (partial(augment.scale1d, max_scale=0.5), (8, 40)),
    "digits_augmentation": (augment.digits_augmentation(), (8, 64)),
}


# --- affine: known answers ----------------------------------------------------------


@pytest.mark.parametrize(("dx", "dy"), [(1, 0), (0, 1), (-1, 1), (2, -1)])
def test_affine_shift_by_whole_pixels_moves_the_content_exactly(dx, dy):
    # Non-square on purpose: the pixel-to-normalised conversion differs per axis.
    x = _images(1, (2, 3, 6, 10))
    out = augment.affine(x, shift=(float(dx), float(dy)))
    assert_close(out, _shift_with_zeros(x, dy, dx))


def test_affine_rotation_by_90_degrees_is_rot90_counter_clockwise():
    x = _images(2, (2, 1, 7, 7))
    # rot90 from rows towards columns turns the displayed image counter-clockwise.
    assert_close(augment.affine(x, degrees=90.0), torch.rot90(x, 1, dims=(-2, -1)))


def test_affine_rotation_by_90_degrees_on_a_non_square_image():
    # With odd H and W, pixel offsets from the centre are integers and a quarter turn
    # maps them to integers: output offset (u, v) reads input offset (-v, u).
    H, W = 5, 9
    x = _images(31, (1, 1, H, W))
    out = augment.affine(x, degrees=90.0)[0, 0]
    expected = torch.zeros(H, W)
    for r in range(H):
        for c in range(W):
            u, v = c - W // 2, r - H // 2  # output offset, x right and y down
            src_c, src_r = W // 2 - v, H // 2 + u
            if 0 <= src_r < H and 0 <= src_c < W:
                expected[r, c] = x[0, 0, src_r, src_c]
    assert_close(out, expected)


def test_affine_scale_two_doubles_the_offset_from_the_centre():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 6] = 1.0  # 2 px right of the centre pixel (4, 4)
    out = augment.affine(x, scale=2.0)[0, 0]
    assert out[4, 8] == pytest.approx(1.0)  # now 4 px right
    assert out[4, :7].abs().max() < 1e-6


def test_affine_takes_one_parameter_set_per_sample():
    x = _images(3, (3, 2, 8, 8))
    degrees = torch.tensor([0.0, 30.0, -45.0])
    scale = torch.tensor([1.0, 0.9, 1.2])
    shift = torch.tensor([[0.0, 0.0], [1.5, -0.5], [-1.0, 2.0]])
    out = augment.affine(x, degrees=degrees, scale=scale, shift=shift)
    for i in range(3):
        one = augment.affine(
            x[i : i + 1],
            degrees=degrees[i].item(),
            scale=scale[i].item(),
            shift=tuple(shift[i].tolist()),
        )
        assert_close(out[i : i + 1], one)


def test_random_affine_with_zero_strength_is_the_identity():
    x = _images(4)
    out = augment.random_affine(
        x, max_degrees=0.0, max_shift=0.0, max_scale=0.0, generator=_gen(0)
    )
    assert_close(out, x)


def _centroid(images):
    # Centre of mass (x right, y down) in pixels from the image centre, (B, 2).
    B, _, H, W = images.shape
    mass = images.sum(dim=(1, 2, 3))
    cols = torch.arange(W, dtype=images.dtype) - (W - 1) / 2
    rows = torch.arange(H, dtype=images.dtype) - (H - 1) / 2
    cx = (images.sum(dim=(1, 2)) * cols).sum(dim=1) / mass
    cy = (images.sum(dim=(1, 3)) * rows).sum(dim=1) / mass
    return torch.stack([cx, cy], dim=1)


def test_random_affine_shifts_are_uniform_within_max_shift_pixels():
    # A centred dot on a large canvas moves with its centroid by the drawn shift.
    x = torch.zeros(512, 1, 21, 21, dtype=torch.float64)
    x[:, :, 10, 10] = 1.0
    out = augment.random_affine(
        x, max_degrees=0.0, max_shift=3.0, max_scale=0.0, generator=_gen(5)
    )
    shift = _centroid(out)  # (512, 2)
    assert shift.abs().max() <= 3.0 + 1e-9
    # U[-3, 3] has std sqrt(3) = 1.73; 512 draws estimate it to about 3 %.
    assert shift.std(dim=0).tolist() == pytest.approx([math.sqrt(3)] * 2, rel=0.1)


def test_random_affine_rotations_stay_within_max_degrees():
    x = torch.zeros(512, 1, 41, 41, dtype=torch.float64)
    x[:, :, 20, 30] = 1.0  # 10 px right of the centre
    out = augment.random_affine(
        x, max_degrees=20.0, max_shift=0.0, max_scale=0.0, generator=_gen(6)
    )
    c = _centroid(out)
    angle = torch.rad2deg(torch.atan2(-c[:, 1], c[:, 0]))  # counter-clockwise
    assert angle.abs().max() <= 20.0 + 0.5  # bilinear blur moves the centroid a bit
    assert angle.abs().max() >= 18.0  # 512 draws reach the end of the range


# --- pixel-wise ---------------------------------------------------------------------


def test_gaussian_noise_has_the_requested_std():
    x = torch.zeros(1000, 100)
    noise = augment.gaussian_noise(x, std=0.3, generator=_gen(7))
    # 1e5 draws: std of the mean 1e-3, of the std estimate 7e-4; tolerances ~7 of them.
    assert abs(noise.mean().item()) < 5e-3
    assert noise.std().item() == pytest.approx(0.3, abs=5e-3)


def test_gaussian_noise_strength_only_scales_the_same_draws():
    x = _images(8)
    small = augment.gaussian_noise(x, std=0.1, generator=_gen(9)) - x
    large = augment.gaussian_noise(x, std=0.2, generator=_gen(9)) - x
    assert_close(large, 2 * small)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_random_mask_drops_a_fraction_p_of_pixels_in_all_channels(p):
    x = torch.ones(512, 3, 16, 16)
    out = augment.random_mask(x, p=p, generator=_gen(10))
    dropped = out == 0
    assert (dropped == dropped[:, :1]).all()  # one mask for all channels
    # 131072 pixels: the std of the fraction is at most 1.4e-3; tolerance 7 of them.
    assert dropped[:, 0].double().mean().item() == pytest.approx(p, abs=0.01)


def test_random_mask_on_vectors_drops_entries_independently():
    x = torch.ones(1000, 64)
    out = augment.random_mask(x, p=0.25, generator=_gen(11))
    assert set(out.unique().tolist()) == {0.0, 1.0}  # kept entries are not rescaled
    assert (out == 0).double().mean().item() == pytest.approx(0.25, abs=0.01)


def test_random_mask_with_p_zero_and_one():
    x = _images(12)
    assert_close(augment.random_mask(x, p=0.0), x)
    assert_close(augment.random_mask(x, p=1.0), torch.zeros_like(x))


# --- crops and flips ----------------------------------------------------------------


def test_random_crop_is_an_integer_shift_within_padding():
    x = _images(13, (200, 2, 6, 7)) + 0.1  # no zeros, so every shift is identifiable
    out = augment.random_crop(x, padding=2, generator=_gen(14))
    seen = set()
    for i in range(len(x)):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(out[i], _shift_with_zeros(x[i], dy, dx))
        ]
        assert len(matches) == 1, f"sample {i}: no shift in [-2, 2]^2 explains it"
        seen.add(matches[0])
    assert len(seen) == 25  # 200 draws over 25 offsets reach them all


def test_random_crop_with_zero_padding_is_the_identity():
    x = _images(15)
    assert_close(augment.random_crop(x, padding=0, generator=_gen(0)), x)


def test_horizontal_flip_twice_with_p_one_is_the_identity():
    x = _images(16)
    once = augment.horizontal_flip(x, p=1.0)
    assert_close(once, x.flip(-1))
    assert_close(augment.horizontal_flip(once, p=1.0), x)
    assert_close(augment.horizontal_flip(x, p=0.0), x)


def test_horizontal_flip_flips_a_fraction_p_of_images():
    x = _images(17, (2000, 1, 4, 4))
    out = augment.horizontal_flip(x, p=0.3, generator=_gen(18))
    flipped = (out == x.flip(-1)).flatten(1).all(dim=1)
    kept = (out == x).flatten(1).all(dim=1)
    assert (flipped ^ kept).all()  # each image is either flipped or untouched
    # 2000 draws: std of the fraction 0.01; tolerance 4 of them.
    assert flipped.double().mean().item() == pytest.approx(0.3, abs=0.04)


# --- 1-D signals --------------------------------------------------------------------


def test_shift1d_circular_is_a_roll_by_at_most_max_shift():
    L = 40
    x = torch.arange(L, dtype=torch.float32).repeat(300, 1)  # (300, L), x_i = i
    out = augment.shift1d(x, max_shift=4, generator=_gen(19))
    shifts = (-out[:, 0]).remainder(L).long()  # out_0 = x_{-k mod L} = -k mod L
    shifts = torch.where(shifts > L // 2, shifts - L, shifts)
    for row, k in zip(out, shifts.tolist(), strict=True):
        assert_close(row, torch.roll(x[0], k))
    assert set(shifts.tolist()) == set(range(-4, 5))
    assert_close(out.sort(dim=1).values, x)  # the same multiset of values


def test_shift1d_without_wrapping_fills_zeros():
    L = 12
    x = torch.arange(1, L + 1, dtype=torch.float32).repeat(200, 1)  # no zeros
    out = augment.shift1d(x, max_shift=3, circular=False, generator=_gen(20))
    circular = augment.shift1d(x, max_shift=3, circular=True, generator=_gen(20))
    for row, wrapped in zip(out, circular, strict=True):
        k = int(wrapped[0].item() - 1)  # wrapped_0 = x_{-k mod L} = (-k mod L) + 1
        k = -k if k <= 3 else L - k
        expected = torch.roll(x[0], k)
        if k > 0:
            expected[:k] = 0
        elif k < 0:
            expected[k:] = 0
        assert_close(row, expected)


def test_shift1d_shares_one_shift_across_channels():
    x = torch.arange(30, dtype=torch.float32).repeat(50, 3, 1)  # (50, 3, 30)
    out = augment.shift1d(x, max_shift=5, generator=_gen(21))
    assert_close(out, out[:, :1].expand_as(out))
    assert not torch.equal(out[:, 0], x[:, 0])


def test_scale1d_multiplies_each_signal_by_a_factor_in_range():
    x = torch.ones(500, 2, 20)
    out = augment.scale1d(x, max_scale=0.4, generator=_gen(22))
    factor = out[:, 0, 0]
    assert_close(out, factor[:, None, None].expand_as(out))
    assert factor.min() >= 0.6
    assert factor.max() <= 1.4
    assert factor.max() - factor.min() > 0.75  # 500 draws fill most of [0.6, 1.4]
    assert_close(augment.scale1d(x, max_scale=0.0), x)


# --- randomness ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(RANDOM_AUGMENTATIONS))
def test_same_seed_same_output_different_seeds_differ(name):
    aug, shape = RANDOM_AUGMENTATIONS[name]
    x = torch.rand(shape, generator=_gen(23)) + 0.5
    first = aug(x, generator=_gen(0))
    assert_close(aug(x, generator=_gen(0)), first, rtol=0, atol=0)
    assert not torch.equal(aug(x, generator=_gen(1)), first)
    assert first.shape == x.shape
    assert first.dtype == x.dtype


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(RANDOM_AUGMENTATIONS))
def test_a_cpu_generator_gives_the_same_augmentation_on_cuda(name):
    aug, shape = RANDOM_AUGMENTATIONS[name]
    x = torch.rand(shape, generator=_gen(24))
    on_cpu = aug(x, generator=_gen(0))
    on_gpu = aug(x.to("cuda"), generator=_gen(0))
    assert on_gpu.device.type == "cuda"
    # TF32 and fused kernels may differ in the last bits on the GPU.
    assert_close(on_gpu.cpu(), on_cpu, rtol=1e-4, atol=1e-5)


def test_float64_input_stays_float64():
    x = _images(25).double()
    out = augment.digits_augmentation()(x[:, :1].reshape(16, 64), generator=_gen(0))
    assert out.dtype == torch.float64


# --- composing ----------------------------------------------------------------------


def test_compose_applies_left_to_right_and_passes_the_generator():
    def add_one(x, generator=None):  # noqa: ARG001
        return x + 1

    def double(x, generator=None):  # noqa: ARG001
        return 2 * x

    x = torch.zeros(3)
    assert_close(augment.compose(add_one, double)(x), torch.full((3,), 2.0))
    assert_close(augment.compose()(x), x)
    noise = partial(augment.gaussian_noise, std=1.0)
    assert_close(
        augment.compose(noise, double)(x, generator=_gen(3)),
        2 * augment.gaussian_noise(x, std=1.0, generator=_gen(3)),
    )


def test_two_views_are_two_consecutive_draws():
    x = _images(26)
    aug = augment.compose(
        augment.random_affine, partial(augment.gaussian_noise, std=0.1)
    )
    x_a, x_b = augment.two_views(x, aug, generator=_gen(4))
    gen = _gen(4)
    assert_close(x_a, aug(x, generator=gen))
    assert_close(x_b, aug(x, generator=gen))
    assert not torch.equal(x_a, x_b)


def test_as_images_reshapes_flat_rows_and_back():
    x = _images(27, (16, 1, 8, 8))
    flat = x.reshape(16, 64)  # row-major, as load_digits stores its images
    shifted = augment.as_images(
        lambda images, generator=None: augment.affine(images, shift=(1.0, 0.0))  # noqa: ARG005
    )
    assert_close(shifted(flat), _shift_with_zeros(x, 0, 1).reshape(16, 64))


def test_digits_augmentation_at_zero_strength_is_the_identity():
    x = _images(28, (32, 64))
    assert_close(augment.digits_augmentation(strength=0.0)(x, generator=_gen(0)), x)


def test_digits_augmentation_is_the_common_setting():
    x = _images(29, (32, 64))
    expected = x.reshape(32, 1, 8, 8)
    gen = _gen(5)
    expected = augment.random_affine(
        expected, max_degrees=15.0, max_shift=1.0, max_scale=0.1, generator=gen
    )
    expected = augment.gaussian_noise(expected, std=0.1, generator=gen)
    expected = augment.random_mask(expected, p=0.1, generator=gen).reshape(32, 64)
    assert_close(augment.digits_augmentation()(x, generator=_gen(5)), expected)


def test_digits_augmentation_grows_with_strength():
    x = _images(30, (256, 64))
    change = [
        (augment.digits_augmentation(strength=s)(x, generator=_gen(6)) - x)
        .pow(2)
        .mean()
        .item()
        for s in (0.25, 0.5, 1.0, 2.0)
    ]
    assert change == sorted(change)
    assert change[0] > 0


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: augment.gaussian_noise(
                torch.zeros(2, 3, dtype=torch.long), std=1.0
            ),
            TypeError,
            "x: expected a floating-point tensor",
        ),
        (
            lambda: augment.gaussian_noise([1.0], std=1.0),
            TypeError,
            "x: expected a torch",
        ),
        (lambda: augment.gaussian_noise(torch.zeros(2), std=-0.1), ValueError, "std"),
        (
            lambda: augment.random_mask(torch.zeros(2, 3), p=1.5),
            ValueError,
            r"p: expected a number in \[0, 1\], got 1.5",
        ),
        (
            lambda: augment.random_affine(torch.zeros(2, 8, 8)),
            ValueError,
            r"x: expected shape \(B, C, H, W\), got \(2, 8, 8\)",
        ),
        (
            lambda: augment.random_affine(torch.zeros(2, 1, 8, 8), max_degrees=-1.0),
            ValueError,
            "max_degrees",
        ),
        (
            lambda: augment.random_affine(torch.zeros(2, 1, 8, 8), max_scale=1.0),
            ValueError,
            r"max_scale: expected a number in \[0, 1\)",
        ),
        (
            lambda: augment.random_affine(torch.zeros(2, 1, 8, 8), generator=0),
            TypeError,
            "generator: expected a torch.Generator",
        ),
        (
            lambda: augment.affine(torch.zeros(2, 1, 8, 8), scale=0.0),
            ValueError,
            "scale: expected numbers > 0",
        ),
        (
            lambda: augment.affine(torch.zeros(2, 1, 8, 8), shift=torch.zeros(3, 2)),
            ValueError,
            r"shift: expected .* shape \(2, 2\), got shape \(3, 2\)",
        ),
        (
            lambda: augment.random_crop(torch.zeros(2, 1, 8, 8), padding=1.5),
            TypeError,
            "padding: expected an int",
        ),
        (
            lambda: augment.random_crop(torch.zeros(2, 1, 8, 8), padding=-1),
            ValueError,
            "padding",
        ),
        (
            lambda: augment.horizontal_flip(torch.zeros(2, 64)),
            ValueError,
            r"x: expected shape \(B, C, H, W\)",
        ),
        (
            lambda: augment.shift1d(torch.zeros(2, 1, 8, 8), max_shift=1),
            ValueError,
            r"x: expected shape \(B, L\) or \(B, C, L\)",
        ),
        (
            lambda: augment.shift1d(torch.zeros(2, 8), max_shift=-1),
            ValueError,
            "max_shift",
        ),
        (
            lambda: augment.scale1d(torch.zeros(2, 8), max_scale=2.0),
            ValueError,
            "max_scale",
        ),
        (
            lambda: augment.compose(augment.random_affine, 3),
            TypeError,
            r"fns\[1\]: expected a callable",
        ),
        (
            lambda: augment.two_views(torch.zeros(2, 3), "flip"),
            TypeError,
            "aug: expected a callable",
        ),
        (
            lambda: augment.as_images(augment.random_affine, shape=(8, 8)),
            ValueError,
            r"shape: expected three positive ints",
        ),
        (
            lambda: augment.as_images(augment.random_affine)(torch.zeros(2, 63)),
            ValueError,
            r"x: expected flat images of shape \(B, 64\)",
        ),
        (
            lambda: augment.digits_augmentation(strength=10.0),
            ValueError,
            r"strength: expected a number in \[0, 10\)",
        ),
        (lambda: augment.digits_augmentation(strength=-1.0), ValueError, "strength"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_clip_clamps_and_composes():
    x = torch.tensor([[-0.5, 0.2, 1.7]])
    assert_close(augment.clip(x), torch.tensor([[0.0, 0.2, 1.0]]))
    assert_close(augment.clip(x, low=-1.0, high=0.5), torch.tensor([[-0.5, 0.2, 0.5]]))
    noisy = augment.compose(partial(augment.gaussian_noise, std=5.0), augment.clip)
    out = noisy(torch.zeros(4, 10), generator=torch.Generator().manual_seed(0))
    assert out.min() >= 0
    assert out.max() <= 1
    with pytest.raises(ValueError, match="high"):
        augment.clip(x, low=1.0, high=0.0)


def test_strong_digits_augmentation_is_the_composition_it_documents():
    x = torch.rand(6, 64, generator=torch.Generator().manual_seed(0))
    ours = augment.strong_digits_augmentation(strength=0.5)(
        x, generator=torch.Generator().manual_seed(1)
    )
    by_hand = augment.as_images(
        augment.compose(
            partial(
                augment.random_affine, max_degrees=15.0, max_shift=1.0, max_scale=0.125
            ),
            partial(augment.gaussian_noise, std=0.05),
            augment.clip,
        )
    )(x, generator=torch.Generator().manual_seed(1))
    assert_close(ours, by_hand)
    assert ours.min() >= 0
    assert ours.max() <= 1
    with pytest.raises(ValueError, match="strength"):
        augment.strong_digits_augmentation(strength=4.0)
