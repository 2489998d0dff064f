from pathlib import Path

import numpy as np
import pytest
import torch

from dltheory import runtime


def test_device_is_cpu_without_an_accelerator(monkeypatch):
    monkeypatch.delenv("DLT_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "_mps_available", lambda: False)
    assert runtime.device() == torch.device("cpu")


def test_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.delenv("DLT_DEVICE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.device() == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "_mps_available", lambda: True)
    assert runtime.device() == torch.device("mps")


def test_float64_device_replaces_mps_by_the_cpu(monkeypatch):
    monkeypatch.delenv("DLT_DEVICE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "_mps_available", lambda: True)
    assert runtime.device() == torch.device("mps")
    assert runtime.float64_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.float64_device() == torch.device("cuda", 0)


def test_dlt_device_overrides(monkeypatch):
    monkeypatch.setenv("DLT_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["tpu", "gpu", "cuda0"])
def test_dlt_device_rejects_unknown_names(monkeypatch, value):
    monkeypatch.setenv("DLT_DEVICE", value)
    with pytest.raises(ValueError, match="expected one of cpu, cuda, mps"):
        runtime.device()


def test_dlt_device_rejects_unavailable_devices(monkeypatch):
    monkeypatch.setenv("DLT_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="not available"):
        runtime.device()


def test_scale_follows_the_device_and_dlt_scale(monkeypatch):
    monkeypatch.delenv("DLT_SCALE", raising=False)
    monkeypatch.setenv("DLT_DEVICE", "cpu")
    assert runtime.scale() == "small"
    assert runtime.budget(small=1, large=2) == 1
    monkeypatch.setattr(runtime, "device", lambda: torch.device("cuda"))
    assert runtime.scale() == "large"
    monkeypatch.setenv("DLT_SCALE", "small")
    assert runtime.budget(small=1, large=2) == 1
    monkeypatch.setenv("DLT_SCALE", "large")
    assert runtime.budget(small=1, large=2) == 2


def test_scale_is_small_unless_cuda_is_present(monkeypatch):
    # The device's availability is what a reader's machine changes: no CUDA, MPS
    # only, CUDA; DLT_DEVICE=cpu on a CUDA machine (what make book / make test pin).
    monkeypatch.delenv("DLT_SCALE", raising=False)
    monkeypatch.delenv("DLT_DEVICE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "_mps_available", lambda: False)
    assert runtime.scale() == "small"
    monkeypatch.setattr(runtime, "_mps_available", lambda: True)  # Apple silicon
    assert runtime.device() == torch.device("mps")
    assert runtime.scale() == "small"
    assert runtime.budget(small=1, large=2) == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.scale() == "large"
    monkeypatch.setenv("DLT_DEVICE", "cpu")  # the Makefile's pin
    assert runtime.scale() == "small"
    monkeypatch.setenv("DLT_DEVICE", "cuda")
    assert runtime.scale() == "large"
    monkeypatch.setenv("DLT_SCALE", "small")  # DLT_SCALE wins over the device
    assert runtime.scale() == "small"
    monkeypatch.setenv("DLT_DEVICE", "cpu")
    monkeypatch.setenv("DLT_SCALE", "large")  # a reader opting into large on a CPU
    assert runtime.scale() == "large"


def test_makefile_pins_the_small_budget_and_the_cpu():
    # make book and make test build the book in the setting its figures were measured
    # in, on any machine (a GPU machine would otherwise pick the large budget).
    text = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    book_env = next(line for line in text.splitlines() if line.startswith("BOOK_ENV"))
    assert "DLT_SCALE=small" in book_env, book_env
    assert "DLT_DEVICE=cpu" in book_env, book_env
    # make test runs test-offline, which runs test-checks in a network namespace.
    assert "test-offline" in text.split("\ntest:", 1)[1].split("\n", 1)[0]
    offline = text.split("\ntest-offline:", 1)[1].split("\n\n", 1)[0]
    assert "test-checks" in offline, offline
    test_recipe = text.split("\ntest-checks:", 1)[1].split("\n\n", 1)[0]
    assert "DLT_SCALE=small" in test_recipe, test_recipe
    assert "DLT_DEVICE=cpu" in test_recipe, test_recipe


def test_dlt_scale_is_validated(monkeypatch):
    monkeypatch.setenv("DLT_SCALE", "medium")
    with pytest.raises(ValueError, match="DLT_SCALE: expected 'small' or 'large'"):
        runtime.scale()


def test_seed_everything_returns_a_seeded_generator():
    a = torch.rand(3, generator=runtime.seed_everything(7))
    b = torch.rand(3, generator=runtime.seed_everything(7))
    assert torch.equal(a, b)
    runtime.seed_everything(7)  # the global generator is seeded too
    assert torch.equal(
        torch.rand(3), torch.rand(3, generator=torch.Generator().manual_seed(7))
    )


@pytest.mark.parametrize(("seed", "error"), [(-1, ValueError), (1.5, TypeError)])
def test_seed_everything_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match="seed"):
        runtime.seed_everything(seed)


def test_run_manifest_reports_versions_device_scale_and_seed(monkeypatch):
    monkeypatch.setenv("DLT_DEVICE", "cpu")
    monkeypatch.setenv("DLT_SCALE", "small")
    runtime.seed_everything(3)
    text = runtime.run_manifest()
    for expected in (
        "torch",
        torch.__version__,
        "device",
        "cpu",
        "scale",
        "small",
        "seed",
        "3",
        "wall time (s)",
    ):
        assert expected in text


def test_init_distributed_does_nothing_in_a_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert runtime.init_distributed() is False
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert runtime.init_distributed() is False


def test_device_takes_the_gpu_of_the_local_rank(monkeypatch):
    monkeypatch.delenv("DLT_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert runtime.device() == torch.device("cuda", 1)


def test_is_cuda_tells_gpus_from_other_devices():
    assert runtime.is_cuda(torch.device("cuda", 1))
    assert not runtime.is_cuda(torch.device("cpu"))
    assert not runtime.is_cuda(torch.device("mps"))


def test_glue_records_python_numbers_that_myst_nb_can_format(monkeypatch):
    recorded = {}
    import myst_nb

    monkeypatch.setattr(
        myst_nb, "glue", lambda k, v, display: recorded.update({k: (v, display)})
    )
    runtime.glue("acc-vicreg", torch.tensor(0.886))
    runtime.glue("n-regions", np.int64(432))
    runtime.glue("method", "VICReg")
    value, display = recorded["acc-vicreg"]
    assert type(value) is float
    assert abs(value - 0.886) < 1e-6
    assert display is False
    # np.int64's repr is "np.int64(432)", which the role cannot format: stored as int.
    assert type(recorded["n-regions"][0]) is int
    assert recorded["n-regions"][0] == 432
    assert recorded["method"][0] == "VICReg"


@pytest.mark.parametrize(
    ("key", "value", "error", "match"),
    [
        (3, 1.0, TypeError, "key: expected a str"),
        ("Acc VICReg", 1.0, ValueError, "key: expected lower-case"),
        ("acc", torch.ones(2), ValueError, "value: expected a single number"),
        ("acc", float("nan"), ValueError, "value: expected a finite number"),
        ("acc", [1.0], TypeError, "value: expected a number or a str"),
    ],
)
def test_glue_rejects_bad_keys_and_values(key, value, error, match):
    with pytest.raises(error, match=match):
        runtime.glue(key, value)


def test_wall_time_counts_from_the_import():
    assert 0 < runtime.wall_time() < 24 * 3600
