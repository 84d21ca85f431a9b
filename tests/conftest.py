"""Shared fixtures: a busybox rootfs built once, bundles, a private --root per
test, a child subreaper, and a leak check around every container test."""

import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Test the installed pyrunc (with its compiled shim and pyrunc-init), not the
# source tree that `python -m pytest` puts first on sys.path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != REPO]
sys.path.insert(0, os.path.join(REPO, "tests"))

from helpers import Runtime, Snapshot, reap_children  # noqa: E402

BUSYBOX = "/bin/busybox"


def pytest_sessionstart(session) -> None:
    """Refuse to test a stale install: the package must match the tree."""
    import pyrunc

    installed = os.path.dirname(pyrunc.__file__)
    if os.path.abspath(installed) == os.path.join(REPO, "pyrunc"):
        return
    stale = []
    tree = os.path.join(REPO, "pyrunc")
    names = sorted(os.path.relpath(os.path.join(d, f), tree)  # (the sub-packages too)
                   for d, _, files in os.walk(tree) for f in files)
    for name in names:
        if name.endswith(".py"):
            with open(os.path.join(REPO, "pyrunc", name), "rb") as a:
                mine = a.read()
            try:
                with open(os.path.join(installed, name), "rb") as b:
                    same = b.read() == mine
            except OSError:
                same = False
            if not same:
                stale.append(name)
    if stale:
        pytest.exit(f"the installed pyrunc ({installed}) differs from the tree in "
                    f"{', '.join(stale)}: run ./install.sh first", returncode=3)


@pytest.fixture(scope="session", autouse=True)
def subreaper():
    """Orphaned container processes come back to the test run, which reaps them
    (PID 1 here does not)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    yield
    reap_children()


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory):
    """A busybox rootfs made by tools/make-bundle (from Debian's busybox-static)."""
    if os.geteuid() != 0:
        pytest.skip("container tests need root")
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    base = tmp_path_factory.mktemp("template")
    subprocess.run([os.path.join(REPO, "tools", "make-bundle"), str(base)], check=True,
                   stderr=subprocess.DEVNULL, env={**os.environ, "PYRUNC": pyrunc_cmd()[0]})
    return base / "rootfs"


def pyrunc_cmd() -> list[str]:
    """How to run pyrunc: $PYRUNC, else the pyrunc on PATH."""
    cmd = os.environ.get("PYRUNC") or shutil.which("pyrunc")
    if not cmd:
        pytest.exit("pyrunc is not installed (pip install .)", returncode=3)
    return [cmd]


@pytest.fixture
def bundle(tmp_path, rootfs_template):
    """A fresh bundle: a copy of the busybox rootfs and a config.json that
    tests edit through bundle.config (a dict) before bundle.write()."""
    b = Bundle(tmp_path / "bundle", rootfs_template)
    return b


class Bundle:
    def __init__(self, path, template) -> None:
        self.path = path
        path.mkdir()
        shutil.copytree(template, path / "rootfs", symlinks=True)
        with open(template.parent / "config.json") as f:
            self.config = json.load(f)
        self.config["process"]["args"] = ["true"]
        self.write()

    @property
    def rootfs(self):
        return self.path / "rootfs"

    def write(self) -> "Bundle":
        with open(self.path / "config.json", "w") as f:
            json.dump(self.config, f, indent=1)
        return self

    def set_args(self, *args: str) -> "Bundle":
        self.config["process"]["args"] = list(args)
        return self.write()

    def __str__(self) -> str:
        return str(self.path)


@pytest.fixture
def runtime(tmp_path):
    """pyrunc with a private --root; every container is force-deleted after the
    test, and the host is checked for leaks."""
    root = tmp_path / "state"
    before = Snapshot.take()
    rt = Runtime(pyrunc_cmd(), str(root))
    yield rt
    rt.cleanup()
    reap_children()
    scope = (*sorted(rt.ids), str(tmp_path))
    leaks = Snapshot.take().leaks_since(before, scope)
    assert not leaks, f"left behind: {leaks}"


@pytest.fixture
def host_dir():
    """A fresh, empty directory in the host's /tmp (outside every bundle)."""
    d = tempfile.mkdtemp(prefix="pyrunc-host-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)
