import pytest
import torch

from dltheory import _checks


def test_check_finite_passes_finite_and_integer_tensors_through():
    x = torch.randn(3, 2)
    assert _checks.check_finite(x, name="x") is x
    assert _checks.check_finite(torch.arange(3), name="y") is not None
    assert _checks.check_finite(torch.empty(0, 2), name="x").shape == (0, 2)
    z = torch.tensor([1 + 2j, 3j])
    assert _checks.check_finite(z, name="z") is z


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_check_finite_names_the_argument_and_counts_the_bad_entries(bad):
    x = torch.zeros(2, 3)
    x[1, 2] = bad
    with pytest.raises(ValueError, match=r"^z_a: expected finite values, got ") as e:
        _checks.check_finite(x, name="z_a")
    nan = 1 if bad != bad else 0
    assert f"got {nan} NaN and {1 - nan} Inf entries" in str(e.value)


def test_check_finite_rejects_a_non_tensor():
    with pytest.raises(TypeError, match="M: expected a torch.Tensor, got list"):
        _checks.check_finite([1.0], name="M")


def test_the_existing_checkers_keep_their_messages():
    with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
        _checks.check_float(torch.arange(3), name="x")
    with pytest.raises(ValueError, match=r"x: expected shape \(n, d\) with n >= 2"):
        _checks.check_batch(torch.zeros(1, 3), name="x", min_rows=2)
    with pytest.raises(TypeError, match="y: expected an integer tensor of labels"):
        _checks.check_labels(torch.zeros(3), name="y")
    with pytest.raises(ValueError, match=r"k: expected an int >= 1, got 0"):
        _checks.check_int(0, name="k", minimum=1)
    with pytest.raises(ValueError, match=r"p: expected a number in \[0, 1\), got 1"):
        _checks.check_fraction(1, name="p")
    with pytest.raises(ValueError, match="mode: expected 'a' or 'b', got 'c'"):
        _checks.check_choice("c", name="mode", choices=("a", "b"))


def test_check_data_accepts_a_finite_float_tensor_of_the_allowed_dims():
    x = torch.randn(2, 3)
    assert _checks.check_data(x, name="x") is x
    assert _checks.check_data(x, name="x", ndim=(2, 3)) is x
    nan = torch.tensor([float("nan")])
    assert _checks.check_data(nan, name="x", finite=False) is nan


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ("x", TypeError, "Y: expected a torch.Tensor, got str"),
        (torch.ones(2, 2, dtype=torch.long), TypeError, "Y: expected a floating-point"),
        (
            torch.ones(2),
            ValueError,
            r"Y: expected a tensor with 2 dimensions, got shape \(2,\)",
        ),
        (
            torch.ones(0, 2),
            ValueError,
            r"Y: expected a non-empty tensor, got shape \(0, 2\)",
        ),
        (torch.tensor([[1.0, float("inf")]]), ValueError, "Y: expected finite values"),
    ],
)
def test_check_data_names_the_argument_and_what_it_got(bad, error, message):
    with pytest.raises(error, match=message):
        _checks.check_data(bad, name="Y", ndim=2)


def test_check_predictions_accepts_matching_labels():
    _checks.check_predictions(
        torch.zeros(3, 4, dtype=torch.long), torch.arange(4), n_classes=4
    )


@pytest.mark.parametrize(
    ("preds", "y", "error", "message"),
    [
        (torch.zeros(4), torch.arange(4), TypeError, "preds: expected an integer"),
        (torch.zeros(4, dtype=torch.long), torch.zeros(4), TypeError, "y: expected"),
        (
            torch.zeros(3, dtype=torch.long),
            torch.arange(4),
            ValueError,
            r"preds: expected shape \(\.\.\., 4\) to match y, got \(3,\)",
        ),
        (
            torch.zeros(0, dtype=torch.long),
            torch.arange(0),
            ValueError,
            "y: expected at least one label",
        ),
        (
            torch.zeros(4, dtype=torch.long),
            torch.arange(4) + 2,
            ValueError,
            r"y: expected labels in \[0, n_classes\) = \[0, 4\), got values in "
            r"\[2, 5\]",
        ),
        ("p", torch.arange(4), TypeError, "preds: expected a torch.Tensor, got str"),
    ],
)
def test_check_predictions_names_the_bad_argument(preds, y, error, message):
    with pytest.raises(error, match=message):
        _checks.check_predictions(preds, y, n_classes=4)


def test_check_array_takes_tensors_and_arrays_of_any_dtype():
    import numpy as np

    _checks.check_array(np.zeros((2, 3), dtype=int), name="m", ndim=2)
    _checks.check_array(torch.tensor([[float("nan")]]), name="m", ndim=(1, 2))
    with pytest.raises(TypeError, match="m: expected a torch.Tensor or a NumPy array"):
        _checks.check_array([[1.0]], name="m")
    with pytest.raises(ValueError, match=r"m: expected 2 dimensions, got shape \(3,\)"):
        _checks.check_array(np.zeros(3), name="m", ndim=2)
    with pytest.raises(ValueError, match=r"m: expected a non-empty array, got shape"):
        _checks.check_array(torch.zeros(0, 2), name="m", ndim=2)


def test_check_mapping():
    _checks.check_mapping({"a": 1}, name="table")
    with pytest.raises(
        TypeError, match="table: expected a mapping \\(dict\\), got int"
    ):
        _checks.check_mapping(3, name="table")


@pytest.mark.parametrize("strict", [True, False])
def test_check_positive_rejects_infinity_and_nan(strict):
    # An infinite gamma or temperature used to pass (rbf_kernel(x, x, gamma=inf) gave
    # a NaN diagonal, variance(z, gamma=inf) an inf loss); NaN never passed.
    assert _checks.check_positive(2, name="gamma", strict=strict) == 2.0
    for bad in (float("inf"), float("nan")):
        with pytest.raises(
            ValueError, match=r"gamma: expected a number >=? 0 \(finite\)"
        ):
            _checks.check_positive(bad, name="gamma", strict=strict)
