"""Offline: the opt-in datasets fail with their clear message where there is no network.

``make test-offline`` (and so ``make test``) runs the checks inside a network namespace
that has only the loopback interface (tools/offline.sh, which sets DLT_OFFLINE=1).
There, the tests below turn pytest-socket off and let the real network stack fail: no
name resolves and no address is reachable, and ``data.cifar10`` (the large budget's
CIFAR-10) fails with its message, with or without ``download=True``. Outside the
namespace they run only where pytest-socket blocks connections (``make test-checks``),
so that nothing here ever starts a real download.
"""

import os
import socket
import sys
import types
import urllib.error
import urllib.request

import pytest
import pytest_socket

from dltheory import data

# torchvision's address for CIFAR-10 (torchvision.datasets.CIFAR10.url).
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFLINE = os.environ.get("DLT_OFFLINE") == "1"


def _interfaces() -> list[str]:
    return sorted(name for _, name in socket.if_nameindex())


@pytest.fixture
def no_network():
    """The real network stack inside the namespace, or pytest-socket's block."""
    if OFFLINE:
        assert _interfaces() == ["lo"], (
            f"DLT_OFFLINE=1 but interfaces {_interfaces()}: tools/offline.sh should "
            "have made a namespace with loopback only"
        )
        # The namespace, not the plugin, must stop it: the real socket functions.
        pytest_socket._remove_restrictions()
        return "namespace"
    if socket.socket.connect is pytest_socket._true_connect:
        pytest.skip("no network namespace and no pytest-socket block: not run here")
    return "pytest-socket"


class _FakeCIFAR10:
    """What torchvision's CIFAR10 does: a missing folder, or a download by URL."""

    def __init__(self, root, train, download):  # noqa: ARG002 (torchvision's signature)
        if download:
            with urllib.request.urlopen(CIFAR_URL, timeout=10):  # noqa: S310
                pass
        raise RuntimeError(
            "Dataset not found or corrupted. You can use download=True to download it"
        )


@pytest.fixture
def torchvision_cifar(monkeypatch):
    """torchvision if installed (its real download), else the fake above."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        module = types.ModuleType("torchvision")
        module.datasets = types.SimpleNamespace(CIFAR10=_FakeCIFAR10)
        monkeypatch.setitem(sys.modules, "torchvision", module)


def test_the_namespace_has_no_network(no_network):
    if no_network != "namespace":
        pytest.skip("only inside make test-offline's namespace")
    with pytest.raises(OSError, match="name resolution|Name or service"):
        socket.getaddrinfo("www.cs.toronto.edu", 443)
    with pytest.raises(OSError, match="unreachable"):
        # TEST-NET-1 (RFC 5737): no route out of a namespace with loopback only.
        socket.create_connection(("192.0.2.1", 80), timeout=5)


def test_cifar10_fails_offline_with_its_message(
    no_network,  # noqa: ARG001 (the fixture checks the setting)
    torchvision_cifar,  # noqa: ARG001
    tmp_path,
):
    with pytest.raises(RuntimeError, match="download=False") as error:
        data.cifar10(root=tmp_path)
    assert "needs internet" in str(error.value)
    assert str(tmp_path) in str(error.value)
    with pytest.raises(RuntimeError, match="could not download") as error:
        data.cifar10(root=tmp_path, download=True)
    message = str(error.value)
    assert message.startswith("cifar10: ")
    assert str(tmp_path) in message
    assert "needs internet" in message
    assert "DLT_DATA" in message


def test_a_failed_download_names_the_dataset_and_what_to_do(monkeypatch, tmp_path):
    # No network needed: the dataset class fails the way urllib does offline.
    class Unreachable:
        def __init__(self, root, train, download):  # noqa: ARG002
            if download:
                raise urllib.error.URLError(socket.gaierror(-3, "name resolution"))
            raise RuntimeError("Dataset not found")

    module = types.ModuleType("torchvision")
    module.datasets = types.SimpleNamespace(MNIST=Unreachable, CIFAR10=Unreachable)
    monkeypatch.setitem(sys.modules, "torchvision", module)
    for loader in (data.mnist, data.cifar10):
        with pytest.raises(RuntimeError, match="could not download") as error:
            loader(root=tmp_path, download=True)
        assert str(error.value).startswith(f"{loader.__name__}: ")
        assert "name resolution" in str(error.value)
        assert isinstance(error.value.__cause__, urllib.error.URLError)

    class Forbidden:  # download=False: an OSError is not "missing files"
        def __init__(self, root, train, download):  # noqa: ARG002
            raise PermissionError(13, "Permission denied")

    module.datasets = types.SimpleNamespace(MNIST=Forbidden, CIFAR10=Forbidden)
    with pytest.raises(PermissionError):
        data.cifar10(root=tmp_path)
