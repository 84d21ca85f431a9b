"""Fixtures for the client tests: the real daemons (containerd, dockerd,
podman + conmon) started once for this package (stopped as soon as its last
test ends, before the rest of the suite runs) under a private directory on local
sockets, an image made from busybox-static for each, and `rt`, the runtime
under test: every scenario runs with pyrunc and with runc, the reference.

Select or skip this tier with `-m clients` / `-m "not clients"`."""

import itertools
import os
import secrets
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clientlib as cl  # noqa: E402

RUNTIMES = ["pyrunc", "runc"]
SESSION = cl.SESSION
TOOLS = ["containerd", "ctr", "containerd-shim-runc-v2", "dockerd", "docker", "podman",
         "conmon", "runc"]
# cgroup parents the daemons share: removed after the session if new and empty
SHARED_CGROUPS = ("docker", "libpod_parent", "conmon")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "clients: starts the real container managers (containerd, dockerd, "
        "podman + conmon, CRI-O's calls through conmon) with pyrunc and runc; slow")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, add what the runtime was asked (with PYRUNC_CLIENTS_TRACE)
    and the daemons' logs to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    rt = item.funcargs.get("rt")
    if isinstance(rt, cl.OciRuntime) and rt.trace:
        rep.sections.append((f"runtime calls ({rt.name})", rt.trace_tail()))
    for name in ("containerd", "dockerd"):
        d = item.funcargs.get(name)
        if d is not None and getattr(d, "log", None):
            rep.sections.append((f"{name} log", cl.tail(d.log, 12)))


@pytest.fixture(scope="package")
def clients_base():
    """A short private directory (unix socket paths are limited to 108 bytes),
    and the host checked and cleaned afterwards: mounts under it, processes
    mentioning it, the daemons' cgroups and the paths they make elsewhere."""
    if os.geteuid() != 0:
        pytest.skip("the client tests need root")
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        pytest.fail(f"not installed: {' '.join(missing)} (./install.sh --test installs them)")
    cgroups_before = cl.cgroup_dirs()
    host = cl.HostPaths()
    base = f"/tmp/pyrunc-cl-{secrets.token_hex(4)}"  # also the session's cgroup token
    os.mkdir(base, 0o711)
    ours = {os.path.basename(base)}
    SESSION["ids"] = ours
    yield base
    cl.kill_pids(cl.processes_mentioning(base))
    cl.reap()
    cl.unmount_under(base)
    mounts = cl.mounts_under(base)
    left = cl.remove_cgroups(cgroups_before, ours, SHARED_CGROUPS)
    host.restore()
    if not mounts:
        shutil.rmtree(base, ignore_errors=True)
    assert not mounts, f"mounts left under {base}: {mounts}"
    assert not left, f"cgroups left: {left}"


@pytest.fixture(scope="package")
def images(clients_base):
    """The busybox rootfs tarball and an OCI image archive of it."""
    d = os.path.join(clients_base, "images")
    os.makedirs(d)
    rootfs = cl.make_rootfs_tar(os.path.join(d, "rootfs.tar"))
    oci = cl.make_oci_archive(rootfs, os.path.join(d, "oci.tar"),
                              f"docker.io/library/{cl.IMAGE}:latest")
    return {"rootfs": rootfs, "oci": oci}


@pytest.fixture(scope="package")
def runtimes(clients_base) -> dict:
    return {name: cl.make_runtime(name, clients_base) for name in RUNTIMES}


@pytest.fixture(params=RUNTIMES)
def rt(request, runtimes) -> cl.OciRuntime:
    """The runtime under test (pyrunc, or runc as the reference)."""
    return runtimes[request.param]


@pytest.fixture(scope="package")
def containerd(clients_base, images):
    d = cl.Containerd(clients_base, os.path.basename(clients_base))
    try:
        d.start()
        d.import_image(images["oci"])
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="package")
def dockerd(clients_base, containerd, images, runtimes):
    # pyrunc is given as the issue does it (--add-runtime); runc is dockerd's own
    # "runc" unless it is wrapped for tracing.
    named = {"pyrunc": runtimes["pyrunc"].path}
    if runtimes["runc"].path != runtimes["runc"].real:
        named["runc-traced"] = runtimes["runc"].path
    d = cl.Dockerd(clients_base, containerd, named)
    try:
        d.start()
        d.import_image(images["rootfs"])
        yield d
    finally:
        d.stop()
        SESSION["ids"] |= d.ids


@pytest.fixture(scope="package")
def podmand(clients_base, images, runtimes):
    p = cl.Podman(clients_base, {name: r.path for name, r in runtimes.items()})
    try:
        p.start()
        p.import_image(images["rootfs"])
        yield p
    finally:
        p.stop()
        SESSION["ids"] |= p.container_ids()


_ids = itertools.count(1)


@pytest.fixture
def new_id(rt, request):
    """Container ids unique in the session, naming the runtime and the test."""
    stem = request.node.originalname.removeprefix("test_").replace("_", "-")[:20]

    def make(kind: str = "") -> str:
        return f"{stem}{'-' + kind if kind else ''}-{rt.name}-{next(_ids)}"

    return make
