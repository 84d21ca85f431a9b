"""`pyrunc debug` into containers that other managers made, found where they
keep them (issue 19): a pod of containerd's CRI plugin (the kubelet's calls,
through the CRI API) with a shell-less container, and podman's containers,
each with pyrunc and with runc (Debian's) as the runtime. pyrunc debug is
run as a node operator runs it: no --root, no hint but the pod's name, an id
prefix or a pid."""

import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile

import clientlib as cl
import pytest
from test_clients_podman import Podman

pytestmark = pytest.mark.clients

CRI_NAMESPACE = "k8s.io"  # the containerd namespace of the CRI plugin
SHIM_ROOT = f"/run/containerd/runc/{CRI_NAMESPACE}"  # the runc shim's default Root
NOSHELL = "docker.io/library/pyrunc-dbg-noshell:latest"
PROBE = ("cat /proc/1/cmdline | tr '\\0' ' '; echo; readlink /proc/1/ns/pid; "
         "ls /container; cat /container/etc/marker")


def debug(*args: str) -> cl.Result:
    """pyrunc debug as the operator types it (the default root)."""
    return cl.run([cl.find_runtime("pyrunc"), "debug", *args], timeout=90)


def check_probe(r: cl.Result, init_pid: int, cmdline: str) -> None:
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0].strip() == cmdline, r
    assert lines[1] == os.readlink(f"/proc/{init_pid}/ns/pid"), r


class CriContainerd(cl.Containerd):
    """containerd with its CRI plugin on (host network: no CNI), the runtime
    handlers pyrunc and runc, and a shell-less image as the sandbox image."""

    def __init__(self, base: str, runtimes: dict[str, str]) -> None:
        super().__init__(os.path.join(base, "cri"), CRI_NAMESPACE)
        self.runtimes = runtimes

    def start(self) -> "CriContainerd":
        os.makedirs(self.base, exist_ok=True)
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        handlers = "".join(f"""
[{cri}.containerd.runtimes.{name}]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.{name}.options]
  BinaryName = "{path}"
""" for name, path in self.runtimes.items())
        with open(self.config, "w") as f:
            f.write(f"""version = 2
disabled_plugins = ["io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.btrfs"]
[plugins."io.containerd.internal.v1.opt"]
  path = "{self.base}/opt"
[{cri}]
  sandbox_image = "{NOSHELL}"
  disable_apparmor = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[{cri}.cni]
  bin_dir = "{self.base}/cni/bin"
  conf_dir = "{self.base}/cni/net.d"
[{cri}.containerd]
  default_runtime_name = "runc"
{handlers}""")
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            ["containerd", "--config", self.config, "--root", self.root, "--state", self.state,
             "--address", self.address, "--log-level", "warn"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        logf.close()
        cl.wait_socket(self.address, self.proc, self.log)
        return self


def noshell_image(d: str) -> str:
    """An image with no shell: one static program (busybox, as /sleep) and a file."""
    rootfs = os.path.join(d, "noshell.tar")
    with tarfile.open(rootfs, "w") as t:
        for name, data, mode in (
                ("sleep", open(os.path.realpath(shutil.which("busybox") or "/bin/busybox"),
                               "rb").read(), 0o755),
                ("etc/marker", b"container file\n", 0o644)):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), mode
            t.addfile(ti, io.BytesIO(data))
    return cl.make_oci_archive(rootfs, os.path.join(d, "noshell-oci.tar"), NOSHELL,
                               cmd=("/sleep", "100000"))


@pytest.fixture(scope="module")
def cri(clients_base, runtimes):
    import cri as crilib

    d = CriContainerd(clients_base, {n: r.path for n, r in runtimes.items()})
    client = None
    try:
        d.start()
        d.import_image(noshell_image(d.base))
        client = crilib.Cri(d.address)
        yield client
    finally:
        if client is not None:
            client.close()
        d.stop()


def test_debug_a_cri_pod_with_a_shell_less_container(cri, rt, clients_base):
    """The operator's story: a pod misbehaves, its image has no shell."""
    token = secrets.token_hex(3)
    pod, ns = f"dbg-web-{token}", f"dbg-ns-{token}"
    cgroup_parent = f"/{os.path.basename(clients_base)}/dbgpod-{token}"
    config = cri.sandbox_config(pod, ns, f"uid-{token}", cgroup_parent)
    pod_id = cri.run_pod(config, rt.name)
    try:
        cid = cri.create_container(pod_id, config, "app", NOSHELL, ["/sleep", "4242"])
        cri.start_container(cid)
        rows = json.loads(debug("--list", "--format", "json").out)
        mine = {r["id"]: r for r in rows if r["pod"] == pod}
        assert set(mine) == {pod_id, cid}, rows
        app = mine[cid]
        assert (app["runtime"], app["root"], app["namespace"], app["container"],
                app["status"]) == (rt.name, SHIM_ROOT, ns, "app", "running")
        assert mine[pod_id]["container"] == "(sandbox)"
        assert app["rootfs"].endswith("/rootfs") and os.path.exists(app["rootfs"] + "/sleep")
        r = debug("--pod", pod, "--", "sh", "-c", PROBE)
        check_probe(r, app["pid"], "/sleep 4242")
        assert f"found {rt.name} container {cid} in {SHIM_ROOT} (pod {ns}/{pod}, container " \
               f"app), pid {app['pid']}, running" in r.err
        listing = r.out.splitlines()[2:]
        assert "sleep" in listing and "bin" not in listing, r  # no shell in the image
        assert listing[-1] == "container file", r
        r = debug("--pod", pod, "--namespace", ns, "--container", "app", "--", "sh", "-c",
                  "readlink /proc/1/ns/pid; exit 9")
        assert r.rc == 9 and r.out.strip() == os.readlink(f"/proc/{app['pid']}/ns/pid"), r
        r = debug(cid[:10], "--", "sh", "-c", PROBE)  # an id prefix
        check_probe(r, app["pid"], "/sleep 4242")
        r = debug("--pid", str(mine[pod_id]["pid"]), "--", "sh", "-c", PROBE)  # the sandbox
        check_probe(r, mine[pod_id]["pid"], "/sleep 100000")
        assert "the pod sandbox" in r.err
        cri.remove_container(cid)
    finally:
        cri.remove_pod(pod_id)


@pytest.fixture
def podman(podmand, rt):
    p = Podman(podmand, rt)
    yield p
    p.cleanup()


def test_debug_a_podman_container(podman, rt):
    name = f"dbg-podman-{rt.name}-{secrets.token_hex(3)}"
    cid = podman.detached(name, "sh", "-c", "echo podman-file > /tmp/f; exec sleep 4243")
    cid = podman("inspect", "--format", "{{.Id}}", name).out.strip()
    pid = podman.state(name)["Pid"]
    probe = ("cat /proc/1/cmdline | tr '\\0' ' '; echo; readlink /proc/1/ns/pid; "
             "cat /container/tmp/f; touch /container/tmp/g 2>/dev/null || echo read-only")
    r = debug(cid[:12], "--", "sh", "-c", probe)
    check_probe(r, pid, "sleep 4243")
    assert r.out.splitlines()[2:] == ["podman-file", "read-only"], r
    assert f"found {rt.name} container {cid} in {podman.root}, pid {pid}, running" in r.err
    r = debug("--pid", str(pid), "--", "sh", "-c", "exit 4")
    assert r.rc == 4, r
    rows = [x for x in json.loads(debug("--list", "--format", "json").out) if x["id"] == cid]
    assert [(x["runtime"], x["root"], x["pid"], x["status"]) for x in rows] == [
        (rt.name, podman.root, pid, "running")]
