import torch
from torch.testing import assert_close

from dltheory import _linalg


def test_fix_signs_makes_the_largest_entry_of_each_column_positive():
    U = torch.tensor([[0.1, -0.2], [-0.9, 0.8], [0.3, 0.1]], dtype=torch.float64)
    fixed = _linalg.fix_signs(U)
    assert_close(
        fixed,
        torch.tensor([[-0.1, -0.2], [0.9, 0.8], [-0.3, 0.1]], dtype=torch.float64),
    )
    # Idempotent, and invariant to the sign the eigensolver happened to return.
    assert_close(_linalg.fix_signs(fixed), fixed)
    assert_close(_linalg.fix_signs(-U), fixed)


def test_a_zero_column_keeps_its_sign():
    assert _linalg.column_signs(torch.zeros(3, 1)).tolist() == [1.0]


def test_to_float64_stays_on_the_cpu_and_mps_goes_to_the_cpu():
    x = torch.ones(2, dtype=torch.float32)
    assert _linalg.to_float64(x).dtype == torch.float64
    assert _linalg.work_device(torch.device("mps")) == torch.device("cpu")
    assert _linalg.work_device(torch.device("cpu")) == torch.device("cpu")
