r"""Batched data augmentations that run on the input's device.

The views of joint-embedding SSL (foundations, chapters 01-05) and the augmentation
strength swept by chapters 05 and 09. Every function takes a batch, returns a new
one of the same shape, device and dtype, and is vectorized over the batch (no loop
over samples). Shapes: ``B`` samples, ``C`` channels, ``H`` x ``W`` pixels, ``L``
the length of a 1-D signal.

**Randomness.** Each function draws through its keyword ``generator``
(``torch.Generator | None``; ``None`` uses torch's global generator). Draws happen
on the generator's device (the CPU for ``runtime.seed_everything``'s generator) and
are then moved to the input's device (queued without making the host wait,
``runtime.host_to_device``), so a seed gives the same augmentation on every
device. A function draws the same numbers whatever its strengths, and the strengths
only scale them: with the same seed, a sweep over strength applies the same random
directions, scaled (common random numbers).

**An augmentation** is any callable ``aug(x, generator=None) -> Tensor`` (see
:class:`Augmentation`). Fix strengths with ``functools.partial`` and chain with
``compose``::

    aug = compose(partial(random_affine, max_degrees=15.0),
                  partial(gaussian_noise, std=0.1))
    x_a, x_b = two_views(x, aug, generator=gen)

``as_images`` runs an image augmentation on flat vectors (the (n, 64) digits), and
``digits_augmentation(strength=...)`` is the common SSL setting of the foundations
chapter. Only ``clip`` clamps: noise can take pixels outside [0, 1] until a ``clip``
ends the chain.

**Geometry.** ``affine`` maps pixel positions :math:`p` (in pixels, origin at the
image centre, :math:`x` to the right, :math:`y` down) of the input to

.. math::
    p' = s\,R(\theta)\,p + t, \qquad
    R(\theta) = \begin{pmatrix} \cos\theta & \sin\theta \\
                                -\sin\theta & \cos\theta \end{pmatrix},

a rotation by :math:`\theta` counter-clockwise as displayed (as in torchvision),
an isotropic scale :math:`s` and a shift :math:`t`, sampled bilinearly with zeros
outside the image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from dltheory import runtime
from dltheory._checks import (
    check_float,
    check_fraction,
    check_generator,
    check_int,
    check_positive,
)


class Augmentation(Protocol):
    """What the training loops call: ``aug(x, generator=None)``, same shape back."""

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Return an augmented copy of the batch ``x``, drawing from ``generator``."""


# ---------------------------------------------------------------------------------
# Validation and random draws


def _check_ndim(x: object, *, name: str, ndims: Sequence[int], shape: str) -> Tensor:
    """Check a floating-point tensor with one of ``ndims`` dimensions."""
    check_float(x, name=name)
    if x.dim() not in ndims:
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: expected a batch of B >= 1, got {tuple(x.shape)}")
    return x


def _check_images(x: object) -> Tensor:
    return _check_ndim(x, name="x", ndims=(4,), shape="(B, C, H, W)")


def _check_batch(x: object) -> Tensor:
    check_float(x, name="x")
    if x.dim() < 1:
        raise ValueError(
            f"x: expected a batch with shape (B, ...), got {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"x: expected a batch of B >= 1, got {tuple(x.shape)}")
    return x


def _draw_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _uniform(
    shape: tuple[int, ...], *, low: float, high: float, generator, like: Tensor
) -> Tensor:
    """U[low, high) of ``shape``, drawn on the generator's device, moved to ``like``."""
    dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
    u = torch.rand(
        shape, generator=generator, device=_draw_device(generator), dtype=dtype
    )
    return runtime.host_to_device(low + (high - low) * u, like.device).to(like.dtype)


def _randint(
    shape: tuple[int, ...], *, low: int, high: int, generator, device: torch.device
) -> Tensor:
    """Integers uniform in [low, high] (both included), moved to ``device``."""
    draws = torch.randint(
        0, high - low + 1, shape, generator=generator, device=_draw_device(generator)
    )
    return runtime.host_to_device(draws + low, device)


# ---------------------------------------------------------------------------------
# Pixel-wise


def gaussian_noise(
    x: Tensor, *, std: float, generator: torch.Generator | None = None
) -> Tensor:
    r"""Add i.i.d. Gaussian noise of standard deviation ``std`` to every entry.

    :math:`x' = x + \sigma \varepsilon` with :math:`\varepsilon \sim N(0, I)`.

    Args:
        x: A batch of any shape (B, ...), floating point.
        std: The standard deviation :math:`\sigma`, in input units (>= 0).
        generator: Source of the random draws.

    Returns:
        ``x`` plus noise, same shape, device and dtype; not clamped.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor.
        ValueError: If ``x`` is 0-dimensional or ``std`` negative.
    """
    _check_batch(x)
    check_positive(std, name="std", strict=False)
    check_generator(generator)
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    eps = torch.randn(
        x.shape, generator=generator, device=_draw_device(generator), dtype=dtype
    )
    return x + std * runtime.host_to_device(eps, x.device).to(x.dtype)


def clip(
    x: Tensor,
    *,
    low: float = 0.0,
    high: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Clamp every entry to [low, high], the last step of a chain that adds noise.

    Draws nothing (``generator`` is accepted so that ``compose`` can pass it).

    Args:
        x: A batch of any shape (B, ...), floating point.
        low: Lower bound.
        high: Upper bound, >= ``low``.
        generator: Ignored.

    Returns:
        ``x.clamp(low, high)``, same shape, device and dtype.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor.
        ValueError: If ``x`` is 0-dimensional or ``high < low``.
    """
    _check_batch(x)
    check_generator(generator)
    if high < low:
        raise ValueError(f"high: expected a number >= low = {low}, got {high}")
    return x.clamp(low, high)


def random_mask(
    x: Tensor, *, p: float, generator: torch.Generator | None = None
) -> Tensor:
    """Pixel dropout: set each entry to zero independently with probability ``p``.

    For images (B, C, H, W) a pixel is dropped in all channels at once (the mask has
    shape (B, 1, H, W)); for any other shape each entry is dropped on its own. Kept
    entries are not rescaled (unlike ``torch.nn.functional.dropout``).

    Args:
        x: A batch of shape (B, ...), floating point.
        p: Probability of zeroing an entry, in [0, 1].
        generator: Source of the random draws.

    Returns:
        The masked batch, same shape, device and dtype.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor.
        ValueError: If ``x`` is 0-dimensional or ``p`` outside [0, 1].
    """
    _check_batch(x)
    check_fraction(p, name="p", closed=True)
    check_generator(generator)
    shape = (x.shape[0], 1, *x.shape[2:]) if x.dim() == 4 else tuple(x.shape)
    u = torch.rand(shape, generator=generator, device=_draw_device(generator))
    keep = runtime.host_to_device(u >= p, x.device)  # U[0, 1) >= p: prob. 1 - p
    return x * keep


def scale1d(
    x: Tensor, *, max_scale: float, generator: torch.Generator | None = None
) -> Tensor:
    """Multiply each signal by its own factor drawn uniformly in [1 - s, 1 + s].

    Args:
        x: Signals of shape (B, L) or (B, C, L), floating point.
        max_scale: The half-width ``s`` of the range of factors, in [0, 1].
        generator: Source of the random draws.

    Returns:
        The scaled signals, same shape, device and dtype.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor.
        ValueError: If ``x`` is not 2- or 3-dimensional or ``max_scale`` is outside
            [0, 1].
    """
    _check_ndim(x, name="x", ndims=(2, 3), shape="(B, L) or (B, C, L)")
    check_fraction(max_scale, name="max_scale", closed=True)
    check_generator(generator)
    factor = _uniform(
        (x.shape[0],),
        low=1 - max_scale,
        high=1 + max_scale,
        generator=generator,
        like=x,
    )  # (B,)
    return x * factor.reshape(-1, *([1] * (x.dim() - 1)))


# ---------------------------------------------------------------------------------
# Integer shifts and flips


def shift1d(
    x: Tensor,
    *,
    max_shift: int,
    circular: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Shift each signal by a random integer :math:`k` in [-max_shift, max_shift].

    The output is :math:`x'_i = x_{(i - k) \bmod L}` when ``circular``, else
    :math:`x_{i-k}` with zeros where :math:`i - k` falls outside [0, L): a positive
    :math:`k` moves the content towards higher indices.

    Args:
        x: Signals of shape (B, L) or (B, C, L) (one shift per sample, shared by the
            channels), floating point.
        max_shift: Largest shift, in samples (an int >= 0).
        circular: Wrap around (True) or fill with zeros (False).
        generator: Source of the random draws.

    Returns:
        The shifted signals, same shape, device and dtype.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor or ``max_shift`` not an int.
        ValueError: If ``x`` is not 2- or 3-dimensional or ``max_shift`` negative.
    """
    _check_ndim(x, name="x", ndims=(2, 3), shape="(B, L) or (B, C, L)")
    check_int(max_shift, name="max_shift", minimum=0)
    check_generator(generator)
    length = x.shape[-1]
    k = _randint(
        (x.shape[0],),
        low=-max_shift,
        high=max_shift,
        generator=generator,
        device=x.device,
    )  # (B,)
    source = torch.arange(length, device=x.device) - k[:, None]  # (B, L)
    inside = (source >= 0) & (source < length)
    index = source.remainder(length)  # in [0, L), also for negative entries
    if x.dim() == 3:
        index, inside = index[:, None, :].expand_as(x), inside[:, None, :]
    shifted = x.gather(-1, index)
    return shifted if circular else shifted * inside


def random_crop(
    x: Tensor, *, padding: int, generator: torch.Generator | None = None
) -> Tensor:
    """Pad with zeros by ``padding`` pixels, then crop back to H x W at random.

    The crop's offset is uniform over the (2 padding + 1)^2 positions, drawn per
    sample: this shifts each image by integers (dy, dx) in [-padding, padding], with
    zeros filling the uncovered border. Vectorized by indexing the padded batch.

    Args:
        x: Images of shape (B, C, H, W), floating point.
        padding: Zero padding on every side, in pixels (an int >= 0).
        generator: Source of the random draws.

    Returns:
        The cropped images, same shape, device and dtype.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor or ``padding`` not an int.
        ValueError: If ``x`` is not 4-dimensional or ``padding`` negative.
    """
    _check_images(x)
    check_int(padding, name="padding", minimum=0)
    check_generator(generator)
    B, _, H, W = x.shape
    offset = _randint(
        (B, 2), low=0, high=2 * padding, generator=generator, device=x.device
    )  # (B, 2): top-left corner (row, column) of the crop in the padded image
    padded = F.pad(x, (padding,) * 4)  # (B, C, H + 2p, W + 2p)
    rows = offset[:, 0, None] + torch.arange(H, device=x.device)  # (B, H)
    cols = offset[:, 1, None] + torch.arange(W, device=x.device)  # (B, W)
    batch = torch.arange(B, device=x.device)[:, None, None]  # (B, 1, 1)
    crops = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return crops.permute(0, 3, 1, 2)  # (B, C, H, W)


def horizontal_flip(
    x: Tensor, *, p: float = 0.5, generator: torch.Generator | None = None
) -> Tensor:
    """Mirror each image left-right with probability ``p``, independently.

    Args:
        x: Images of shape (B, C, H, W), floating point.
        p: Probability of flipping an image, in [0, 1].
        generator: Source of the random draws.

    Returns:
        The batch with some images mirrored, same shape, device and dtype.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor.
        ValueError: If ``x`` is not 4-dimensional or ``p`` outside [0, 1].
    """
    _check_images(x)
    check_fraction(p, name="p", closed=True)
    check_generator(generator)
    u = torch.rand((x.shape[0],), generator=generator, device=_draw_device(generator))
    flip = runtime.host_to_device(u < p, x.device)[:, None, None, None]  # (B,1,1,1)
    return torch.where(flip, x.flip(-1), x)


# ---------------------------------------------------------------------------------
# Affine


def _per_sample(
    value: float | Tensor, *, name: str, like: Tensor, width: int
) -> Tensor:
    """A number, pair or per-sample tensor as a tensor of shape (B, width)."""
    B = like.shape[0]
    if not isinstance(value, Tensor):
        value = torch.tensor(value, dtype=like.dtype)
    value = runtime.host_to_device(value, like.device).to(like.dtype)
    if value.shape in ((), (width,)):
        return value.reshape(1, -1).expand(B, width)
    if value.shape in ((B,), (B, width)):
        return value.reshape(B, width)
    expected = "a number" if width == 1 else f"a pair or shape ({width},)"
    raise ValueError(
        f"{name}: expected {expected} or one per sample, shape ({B}, {width}), "
        f"got shape {tuple(value.shape)}"
    )


def affine(
    x: Tensor,
    *,
    degrees: float | Tensor = 0.0,
    scale: float | Tensor = 1.0,
    shift: tuple[float, float] | Tensor = (0.0, 0.0),
) -> Tensor:
    r"""Rotate, scale and shift images about their centre: :math:`p' = sR(\theta)p + t`.

    The deterministic map that ``random_affine`` samples (the equation is in the
    module docstring). Output pixel :math:`p'` reads the input at
    :math:`p = R(\theta)^\top (p' - t) / s`, interpolated bilinearly with zeros
    outside, through ``F.affine_grid`` / ``F.grid_sample`` with
    ``align_corners=False`` (pixel centres at :math:`(2i + 1)/W - 1` in normalised
    coordinates, so one pixel is :math:`2/W` wide and a shift by an integer number
    of pixels moves the content exactly). The pixel map is converted to normalised
    coordinates per axis, so rotations stay rotations on non-square images.

    Args:
        x: Images of shape (B, C, H, W), floating point.
        degrees: Rotation :math:`\theta` in degrees, counter-clockwise as displayed;
            a number or one per sample, shape (B,).
        scale: Isotropic scale :math:`s` (> 1 enlarges the content); a number or
            shape (B,).
        shift: Shift :math:`t = (t_x, t_y)` in pixels, :math:`t_x` to the right and
            :math:`t_y` down; a pair or shape (B, 2).

    Returns:
        The transformed images, same shape, device and dtype.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor.
        ValueError: If ``x`` is not 4-dimensional, an argument has the wrong shape,
            or a scale is not positive.
    """
    _check_images(x)
    B, _, H, W = x.shape
    theta = torch.deg2rad(_per_sample(degrees, name="degrees", like=x, width=1))[:, 0]
    s = _per_sample(scale, name="scale", like=x, width=1)[:, 0]  # (B,)
    t = _per_sample(shift, name="shift", like=x, width=2)  # (B, 2) in pixels
    if not bool((s > 0).all()):
        raise ValueError(f"scale: expected numbers > 0, got minimum {s.min().item()}")
    cos, sin = torch.cos(theta) / s, torch.sin(theta) / s  # (B,) entries of A^{-1}
    # A^{-1} = R(theta)^T / s = [[cos, -sin], [sin, cos]] / s in pixel units. With
    # D = diag(W / 2, H / 2) (pixels per normalised unit), the sampling grid is
    # p_norm = D^{-1} A^{-1} D p'_norm - D^{-1} A^{-1} t.
    inv_t_x = cos * t[:, 0] - sin * t[:, 1]  # (B,) A^{-1} t, x component (pixels)
    inv_t_y = sin * t[:, 0] + cos * t[:, 1]  # (B,) y component
    row_x = torch.stack([cos, -sin * H / W, -inv_t_x * 2 / W], dim=1)  # (B, 3)
    row_y = torch.stack([sin * W / H, cos, -inv_t_y * 2 / H], dim=1)  # (B, 3)
    matrix = torch.stack([row_x, row_y], dim=1)  # (B, 2, 3)
    grid = F.affine_grid(matrix, list(x.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(
        x, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )


def random_affine(
    x: Tensor,
    *,
    max_degrees: float = 15.0,
    max_shift: float = 1.0,
    max_scale: float = 0.1,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Apply ``affine`` with parameters drawn uniformly and independently per sample.

    Rotation :math:`\theta \in [-m_\theta, m_\theta]` degrees, scale
    :math:`s \in [1 - m_s, 1 + m_s]`, shift :math:`t_x, t_y \in [-m_t, m_t]` pixels
    (continuous, so shifts are sub-pixel and interpolated bilinearly). The defaults
    are the digits setting of the foundations chapter (15 degrees, 10 %, 1 px).
    Four numbers per sample are drawn whatever the strengths; all strengths zero
    give the identity.

    Args:
        x: Images of shape (B, C, H, W), floating point.
        max_degrees: Largest rotation :math:`m_\theta`, in degrees (>= 0).
        max_shift: Largest shift :math:`m_t` along each axis, in pixels (>= 0).
        max_scale: Largest relative change of scale :math:`m_s`, in [0, 1).
        generator: Source of the random draws.

    Returns:
        The transformed images, same shape, device and dtype.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor.
        ValueError: If ``x`` is not 4-dimensional or a strength is out of range.
    """
    _check_images(x)
    check_positive(max_degrees, name="max_degrees", strict=False)
    check_positive(max_shift, name="max_shift", strict=False)
    check_fraction(max_scale, name="max_scale")
    check_generator(generator)
    u = _uniform((x.shape[0], 4), low=-1.0, high=1.0, generator=generator, like=x)
    return affine(
        x,
        degrees=max_degrees * u[:, 0],
        scale=1 + max_scale * u[:, 1],
        shift=max_shift * u[:, 2:],
    )


# ---------------------------------------------------------------------------------
# Putting augmentations together


class _Compose:
    """The augmentations ``fns`` applied in order, each with the same generator."""

    def __init__(self, fns: tuple[Callable[..., Tensor], ...]):
        self.fns = fns

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for fn in self.fns:
            x = fn(x, generator=generator)
        return x

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {fn!r}" for fn in self.fns)
        return f"compose(\n{inner}\n)" if self.fns else "compose()"


def compose(*fns: Callable[..., Tensor]) -> Augmentation:
    """Chain augmentations: ``compose(f, g)(x, generator)`` is ``g(f(x, ...), ...)``.

    Args:
        *fns: Augmentations ``fn(x, generator=None) -> Tensor``, applied left to
            right; strengths fixed with ``functools.partial``. None gives the
            identity.

    Returns:
        An augmentation ``aug(x, generator=None)`` passing ``generator`` to each
        ``fn`` in turn (its ``repr`` lists them).

    Raises:
        TypeError: If an element of ``fns`` is not callable.
    """
    for i, fn in enumerate(fns):
        if not callable(fn):
            raise TypeError(f"fns[{i}]: expected a callable, got {type(fn).__name__}")
    return _Compose(tuple(fns))


def two_views(
    x: Tensor, aug: Augmentation, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Two independent augmentations of the same batch, the views of joint embedding.

    Args:
        x: A batch, as ``aug`` expects it.
        aug: An augmentation ``aug(x, generator=None)``.
        generator: Passed to both calls; the second call draws after the first, so
            the views differ.

    Returns:
        The pair ``(aug(x), aug(x))`` of views.

    Raises:
        TypeError: If ``aug`` is not callable.
    """
    if not callable(aug):
        raise TypeError(f"aug: expected a callable, got {type(aug).__name__}")
    check_generator(generator)
    return aug(x, generator=generator), aug(x, generator=generator)


class _AsImages:
    """``aug`` run on flat vectors reshaped to images, and flattened back."""

    def __init__(self, aug: Callable[..., Tensor], shape: tuple[int, int, int]):
        self.aug, self.shape = aug, shape

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        d = math.prod(self.shape)
        check_float(x, name="x")
        if x.dim() != 2 or x.shape[1] != d:
            raise ValueError(
                f"x: expected flat images of shape (B, {d}) for image shape "
                f"{self.shape}, got {tuple(x.shape)}"
            )
        images = x.reshape(-1, *self.shape)  # (B, C, H, W)
        return self.aug(images, generator=generator).reshape(x.shape[0], d)  # (B, d)

    def __repr__(self) -> str:
        return f"as_images({self.aug!r}, shape={self.shape})"


def as_images(
    aug: Callable[..., Tensor], shape: tuple[int, int, int] = (1, 8, 8)
) -> Augmentation:
    """Run an image augmentation on flat vectors: reshape, augment, flatten back.

    For data stored as rows, such as ``data.digits()``'s (n, 64) pixels (row-major,
    which is how ``load_digits`` flattens its 8 x 8 images), so that models and
    probes keep their (n, d) inputs and only the augmentation sees images.

    Args:
        aug: An augmentation of images (B, C, H, W).
        shape: The image shape (C, H, W) of one row.

    Returns:
        An augmentation of batches of shape (B, C * H * W).

    Raises:
        TypeError: If ``aug`` is not callable.
        ValueError: If ``shape`` is not three positive ints.
    """
    if not callable(aug):
        raise TypeError(f"aug: expected a callable, got {type(aug).__name__}")
    shape = tuple(shape)
    if len(shape) != 3 or not all(
        isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in shape
    ):
        raise ValueError(f"shape: expected three positive ints (C, H, W), got {shape}")
    return _AsImages(aug, shape)


def digits_augmentation(*, strength: float = 1.0) -> Augmentation:
    """The augmentation of the common SSL setting on flat (n, 64) digits.

    Per view, in this order: ``random_affine`` (rotation ±15°·strength, scale
    ±10 %·strength, shift ±1 px·strength), ``gaussian_noise`` (σ = 0.1·strength)
    and ``random_mask`` (pixel dropout with p = 0.1·strength), run on the 8 x 8
    images through ``as_images``. ``strength=1`` is the foundations chapter's
    setting, ``strength=0`` the identity; chapters 05 and 09 sweep it. Not clamped:
    noisy pixels can leave [0, 1].

    Args:
        strength: Multiplier of every strength, in [0, 10) (at 10 the scale range
            would reach 0 and the dropout probability 1).

    Returns:
        An augmentation ``aug(x, generator=None)`` of batches of shape (B, 64).

    Raises:
        TypeError: If ``strength`` is not a number.
        ValueError: If ``strength`` is outside [0, 10).
    """
    check_positive(strength, name="strength", strict=False)
    if strength >= 10:
        raise ValueError(f"strength: expected a number in [0, 10), got {strength}")
    images = compose(
        partial(
            random_affine,
            max_degrees=15.0 * strength,
            max_shift=1.0 * strength,
            max_scale=0.1 * strength,
        ),
        partial(gaussian_noise, std=0.1 * strength),
        partial(random_mask, p=0.1 * strength),
    )
    return as_images(images, shape=(1, 8, 8))


def strong_digits_augmentation(*, strength: float = 1.0) -> Augmentation:
    """The stronger digits views of chapters 03 and 04, on flat (n, 64) digits.

    Per view, in this order: ``random_affine`` (rotation ±30°·strength, scale
    ±25 %·strength, shift ±2 px·strength, a quarter of the 8-pixel image),
    ``gaussian_noise`` (σ = 0.1·strength), then ``clip`` to [0, 1]; run on the
    8 x 8 images through ``as_images``. Stronger than ``digits_augmentation`` (no
    pixel dropout) and clipped, as in the SSL settings of the chapters on
    independence (03) and information (04).

    Args:
        strength: Multiplier of every strength, in [0, 4) (at 4 the scale range
            would reach 0).

    Returns:
        An augmentation ``aug(x, generator=None)`` of batches of shape (B, 64).

    Raises:
        TypeError: If ``strength`` is not a number.
        ValueError: If ``strength`` is outside [0, 4).
    """
    check_positive(strength, name="strength", strict=False)
    if strength >= 4:
        raise ValueError(f"strength: expected a number in [0, 4), got {strength}")
    images = compose(
        partial(
            random_affine,
            max_degrees=30.0 * strength,
            max_shift=2.0 * strength,
            max_scale=0.25 * strength,
        ),
        partial(gaussian_noise, std=0.1 * strength),
        clip,
    )
    return as_images(images, shape=(1, 8, 8))
