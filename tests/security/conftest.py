"""Fixtures shared by the security tests."""

import shutil
import tempfile

import pytest


@pytest.fixture
def host_dir():
    """A fresh, empty directory in the host's /tmp (outside every bundle)."""
    d = tempfile.mkdtemp(prefix="pyrunc-host-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)
