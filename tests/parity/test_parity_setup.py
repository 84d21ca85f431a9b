"""Parity of container setup (issue 15, "Container setup"): each scenario runs
the same bundle through runc (Debian's 1.1.5) and through pyrunc, each with
its own --root, and compares what a caller sees."""

import json
import os
import pathlib
import shutil
import tempfile

import pytest
from helpers import Runtime, reap_children

RUNC = shutil.which("runc") or "/usr/sbin/runc"

pytestmark = [
    pytest.mark.parity,
    pytest.mark.skipif(not os.access(RUNC, os.X_OK), reason="runc is not installed"),
]


@pytest.fixture
def runc(tmp_path):
    """runc with a private --root; its containers are force-deleted after the
    test (the `runtime` fixture's leak check covers both)."""
    rt = Runtime([RUNC], str(tmp_path / "runc-state"))
    yield rt
    rt.cleanup()
    reap_children()


@pytest.fixture
def both(runtime, runc):
    """The two runtimes, by name."""
    return {"runc": runc, "pyrunc": runtime}


@pytest.fixture
def open_bundle(bundle):
    """The bundle moved where a user namespace's root can reach its rootfs
    (pytest's own directory is 0700)."""
    d = tempfile.mkdtemp(prefix="pyrunc-parity-", dir="/tmp")
    os.chmod(d, 0o755)
    shutil.copytree(bundle.path, os.path.join(d, "bundle"), symlinks=True)
    bundle.path = pathlib.Path(d) / "bundle"
    yield bundle
    shutil.rmtree(d)


def _left(rt: Runtime) -> list[str]:
    """What is left in a runtime's --root."""
    return os.listdir(rt.root) if os.path.isdir(rt.root) else []


def _hook(script: str) -> dict:
    return {"path": "/bin/sh", "args": ["sh", "-c", script]}


def test_create_container_hook_cwd_is_rootfs(both, bundle, tmp_path):
    """createContainer hooks run with the rootfs (host path) as working directory."""
    out = tmp_path / "hook-cwd"
    bundle.config["hooks"] = {"createContainer": [_hook(f"pwd > {out}")]}
    bundle.write()
    for name, rt in both.items():
        p = rt("run", "-b", str(bundle), "ct-hookcwd")
        assert p.returncode == 0, f"{name}: {p.err}"
        assert out.read_text().strip() == str(bundle.rootfs), name
        out.unlink()


# runc 1.1.5 sends its state as it was before the start ("created"); pyrunc
# sends "running", as the runtime-spec's lifecycle has it (a deliberate
# difference). Both send the pid of the process just started, even when it has
# exited already.
POSTSTART_STATUS = {"runc": "created", "pyrunc": "running"}


def test_poststart_state_describes_the_started_process(both, bundle, tmp_path):
    """The poststart hook's state has the pid of the process just started
    (`true`, usually gone by then), never pid 0 and `stopped`."""
    out = tmp_path / "poststart"
    bundle.config["hooks"] = {"poststart": [_hook(f"cat > {out}")]}
    bundle.write()
    for name, rt in both.items():
        for i in range(5):
            cid = f"ct-poststart{i}"
            rt("create", "-b", str(bundle), cid, check=True)
            pid = rt.state(cid)["pid"]
            rt("start", cid, check=True)
            state = json.loads(out.read_text())
            assert (state["pid"], state["status"]) == (pid, POSTSTART_STATUS[name]), name
            rt("delete", "-f", cid, check=True)


def _notify_profile(listener: str, names: list[str]) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": listener,
            "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}]}


@pytest.mark.parametrize("names, words", [
    (["write"], "SCMP_ACT_NOTIFY cannot be used for the write syscall"),
    (["mkdir"], "failed to connect with seccomp agent specified in the seccomp profile: "
                "dial unix "),
])
def test_seccomp_notify_refusals(both, bundle, tmp_path, names, words):
    """SCMP_ACT_NOTIFY on write is refused up front; an agent that does not
    listen is named in runc's words. Nothing is left behind."""
    bundle.config["linux"]["seccomp"] = _notify_profile(str(tmp_path / "agent.sock"), names)
    bundle.write()
    for name, rt in both.items():
        p = rt("run", "-b", str(bundle), "ct-notify")
        assert p.returncode == 1, f"{name}: {p.err}"
        assert words in p.err, f"{name}: {p.err}"
        assert "no such file or directory" in p.err or names == ["write"], f"{name}: {p.err}"
        assert not _left(rt), name


@pytest.mark.parametrize("nnp", [False, True])
def test_start_container_hook_runs_under_seccomp(both, bundle, nnp):
    """startContainer hooks run after the seccomp filter is loaded (runc 1.1.5,
    with or without noNewPrivileges): a hook making a blocked call is killed
    and `run` fails. (runc's `start` exits 0 even then, the error only in the
    init; pyrunc's `start` reports it: a deliberate difference.)"""
    bundle.config["root"]["readonly"] = False
    bundle.config["process"]["noNewPrivileges"] = nnp
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]}
    bundle.config["hooks"] = {"startContainer": [
        {"path": "/bin/mkdir", "args": ["mkdir", "/tmp/hookdir"]}]}
    bundle.write()
    made = bundle.rootfs / "tmp" / "hookdir"
    for name, rt in both.items():
        p = rt("run", "-b", str(bundle), "ct-starthook")
        assert p.returncode == 1, f"{name}: {p.err}"
        assert not made.exists(), name
        assert not _left(rt), name


def test_cwd_only_root_can_reach(both, bundle):
    """process.cwd that process.user cannot search (/root 0700, uid 42): the
    init enters it while still privileged, so the process starts there."""
    bundle.config["process"]["user"] = {"uid": 42, "gid": 42}
    bundle.config["process"]["cwd"] = "/root"
    bundle.config["process"]["args"] = ["sh", "-c", "pwd; id -u"]
    bundle.write()
    assert (bundle.rootfs / "root").stat().st_mode & 0o777 == 0o700
    for name, rt in both.items():
        p = rt("run", "-b", str(bundle), "ct-cwd")
        assert (p.returncode, p.out) == (0, "/root\n42\n"), f"{name}: {p.err}"


def test_exec_cwd_owned_by_the_container_user(both, bundle):
    """exec --user 0 into a cwd owned by uid 42 (0700), without
    CAP_DAC_OVERRIDE: entered before the capabilities are dropped."""
    os.chown(bundle.rootfs / "root", 42, 42)
    caps = bundle.config["process"]["capabilities"]
    assert all("CAP_DAC_OVERRIDE" not in v for v in caps.values())
    bundle.config["process"]["args"] = ["sleep", "60"]
    bundle.write()
    for name, rt in both.items():
        rt("run", "-d", "-b", str(bundle), "ct-execcwd", check=True)
        p = rt("exec", "--user", "0", "--cwd", "/root", "ct-execcwd", "pwd")
        assert (p.returncode, p.out) == (0, "/root\n"), f"{name}: {p.err}"
        rt("delete", "-f", "ct-execcwd", check=True)


def test_read_only_dev_tmpfs(both, bundle):
    """A /dev tmpfs with `ro`: its submounts, device nodes and links are made,
    then /dev is remounted read-only (the mounts below it stay writable)."""
    for m in bundle.config["mounts"]:
        if m["destination"] == "/dev":
            m["options"].append("ro")
    bundle.config["process"]["args"] = [
        "sh", "-c", "ls /dev/null /dev/pts/ptmx /dev/shm /dev/fd >/dev/null && "
        "! touch /dev/x 2>/dev/null && touch /dev/shm/x && "
        "grep ' /dev ' /proc/self/mountinfo | cut -d' ' -f6 | tr , '\\n' | grep -x ro"]
    bundle.write()
    for name, rt in both.items():
        p = rt("run", "-b", str(bundle), "ct-devro")
        assert (p.returncode, p.out) == (0, "ro\n"), f"{name}: {p.err}"


def _proc_bind(bundle, source: str) -> None:
    """The /proc mount made a bind of `source`, with the host's pid namespace."""
    cfg = bundle.config
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    for m in cfg["mounts"]:
        if m["destination"] == "/proc":
            m.update(type="none", source=source, options=["rbind", "nosuid", "noexec", "nodev"])
    bundle.write()


def test_bind_of_procfs_at_proc(both, bundle):
    """A bind of a procfs source at /proc (a host pid namespace, e.g. rootless)."""
    _proc_bind(bundle, "/proc")
    bundle.set_args("stat", "-f", "-c", "%t", "/proc")
    for name, rt in both.items():
        p = rt("run", "-b", str(bundle), "ct-procbind")
        assert (p.returncode, p.out) == (0, "9fa0\n"), f"{name}: {p.err}"


def test_bind_of_other_source_at_proc_refused(both, bundle, host_dir):
    """Any other source at /proc is refused, and nothing is left behind."""
    _proc_bind(bundle, host_dir)
    for name, rt in both.items():
        p = rt("run", "-b", str(bundle), "ct-procbind")
        assert p.returncode == 1, f"{name}: {p.err}"
        assert "cannot be mounted because it is not of type proc" in p.err, f"{name}: {p.err}"
        assert not _left(rt), name


def test_no_pivot_hides_host_procfs(both, bundle):
    """--no-pivot: the host's procfs and sysfs mounts are detached before the
    MS_MOVE and chroot, so a user namespace in the container cannot mount a
    fresh procfs (the kernel allows it while a full procfs is reachable)."""
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.set_args("unshare", "-mrpf", "sh", "-c", "mount -t proc none /proc && echo mounted")
    for name, rt in both.items():
        p = rt("run", "--no-pivot", "-b", str(bundle), "ct-nopivot")
        assert p.returncode == 1 and "mounted" not in p.out, f"{name}: {p.out}{p.err}"
        assert "permission denied" in p.err, f"{name}: {p.err}"


def _userns(bundle) -> None:
    """A new user namespace, container root = host 100000."""
    cfg = bundle.config
    cfg["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        cfg["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def test_bind_sources_under_root_only_dirs_with_userns(both, open_bundle, host_dir):
    """Bind sources below a 0700 host directory, with a user namespace: opened
    as host root before the user namespace is entered, mounted by fd."""
    secret = os.path.join(host_dir, "secret")
    os.makedirs(os.path.join(secret, "dir"))
    with open(os.path.join(secret, "dir", "f"), "w") as f:
        f.write("in dir\n")
    with open(os.path.join(secret, "file"), "w") as f:
        f.write("a file\n")
    os.chmod(secret, 0o700)
    _userns(open_bundle)
    # the mapped root cannot make mount points in the host-owned rootfs: both need them
    os.mkdir(open_bundle.rootfs / "data")
    (open_bundle.rootfs / "file").touch()
    open_bundle.config["mounts"] += [
        {"destination": "/data", "type": "bind", "source": f"{secret}/dir",
         "options": ["rbind", "ro"]},
        {"destination": "/file", "type": "bind", "source": f"{secret}/file",
         "options": ["bind"]}]
    open_bundle.set_args("sh", "-c", "cat /data/f /file; touch /data/x 2>/dev/null || echo ro")
    for name, rt in both.items():
        p = rt("run", "-b", str(open_bundle), "ct-userbind")
        assert (p.returncode, p.out) == (0, "in dir\na file\nro\n"), f"{name}: {p.err}"


@pytest.fixture
def ns_holder():
    """Start processes in their own uts and mount namespaces (for joining them
    by path); returns the pid of a new one at each call."""
    import subprocess
    import time

    procs = []

    def start() -> int:
        p = subprocess.Popen(["unshare", "--uts", "--mount", "--propagation", "private",
                              "sleep", "120"])
        procs.append(p)
        for _ in range(250):
            if os.readlink(f"/proc/{p.pid}/ns/uts") != os.readlink("/proc/self/ns/uts"):
                return p.pid
            time.sleep(0.02)
        raise AssertionError("unshare did not start")

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_hostname_in_a_uts_namespace_joined_by_path(both, bundle, ns_holder):
    """`hostname` with a uts namespace given by path is set in that namespace."""
    import subprocess

    cfg = bundle.config
    bundle.set_args("hostname")
    for name, rt in both.items():
        holder = ns_holder()
        cfg["linux"]["namespaces"] = [
            n if n["type"] != "uts" else {"type": "uts", "path": f"/proc/{holder}/ns/uts"}
            for n in cfg["linux"]["namespaces"]]
        cfg["hostname"] = f"joined-{name}"
        bundle.write()
        p = rt("run", "-b", str(bundle), "ct-utsjoin")
        assert (p.returncode, p.out) == (0, f"joined-{name}\n"), f"{name}: {p.err}"
        seen = subprocess.run(["nsenter", "-t", str(holder), "-u", "hostname"],
                              capture_output=True, text=True, check=True).stdout
        assert seen == f"joined-{name}\n", name


def test_mount_namespace_joined_by_path(both, bundle, ns_holder):
    """A mount namespace given by path is joined (the rootfs is set up there,
    and pivot_root moves the namespace's root: one holder per runtime)."""
    cfg = bundle.config
    bundle.set_args("readlink", "/proc/self/ns/mnt")
    for name, rt in both.items():
        holder = ns_holder()
        cfg["linux"]["namespaces"] = [
            n if n["type"] != "mount" else {"type": "mount", "path": f"/proc/{holder}/ns/mnt"}
            for n in cfg["linux"]["namespaces"]]
        bundle.write()
        want = os.readlink(f"/proc/{holder}/ns/mnt") + "\n"
        p = rt("run", "-b", str(bundle), "ct-mntjoin")
        assert (p.returncode, p.out) == (0, want), f"{name}: {p.err}"


def test_no_mount_namespace_refused_by_pyrunc(both, bundle):
    """No mount namespace at all: runc makes the container's mounts in the
    caller's mount namespace (and leaves them there); pyrunc refuses (a
    deliberate difference). With maskedPaths, runc refuses too."""
    cfg = bundle.config
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                  if n["type"] != "mount"]
    bundle.write()
    for name, rt in both.items():
        p = rt("run", "-b", str(bundle), "ct-nomnt")
        assert p.returncode == 1, f"{name}: {p.err}"
        assert "mount namespace" in p.err.replace("MNT", "mount"), f"{name}: {p.err}"
        assert not _left(rt), name


def test_init_killed_during_create_names_the_step(both, bundle):
    """The container process dies while pyrunc talks to it (here a createRuntime
    hook kills it; in the field, e.g. SIGHUP from a console receiver dropping
    the pty master): the error names the step and how it died, never a bare
    `Broken pipe`; nothing is left behind."""
    bundle.config["hooks"] = {"createRuntime": [_hook(
        'pid=$(sed \'s/.*"pid":\\([0-9]*\\).*/\\1/\'); kill -9 "$pid"')]}
    bundle.write()
    for name, rt in both.items():
        for i in range(5 if name == "pyrunc" else 1):
            p = rt("run", "-b", str(bundle), f"ct-killed{i}")
            assert p.returncode == 1, f"{name}: {p.err}"
            assert not _left(rt), name
            if name == "pyrunc":
                assert p.err.count("\n") == 1 and "killed by signal 9" in p.err, p.err


RECEIVER = r"""
import array, os, socket, sys
# Like runc's `recvtty --mode null`: take each pty master, read what is there,
# drop the connection; the masters stay open until we are killed.
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path + ".new")
s.listen(16)
os.rename(path + ".new", path)  # listening from the moment the path exists
masters = []
while True:
    c, _ = s.accept()
    _, anc, _, _ = c.recvmsg(4096, socket.CMSG_SPACE(16))
    for _, _, data in anc:
        for fd in array.array("i", data[:len(data) - len(data) % 4]):
            os.set_blocking(fd, False)
            try:
                os.read(fd, 4096)
            except OSError:
                pass
            masters.append(fd)
    c.close()
"""


def _receiver(path: str):
    """Start a console receiver; return once it listens on `path`."""
    import subprocess
    import sys
    import time

    p = subprocess.Popen([sys.executable, "-c", RECEIVER, path])
    while not os.path.exists(path):
        assert p.poll() is None, "the console receiver died"
        time.sleep(0.001)
    return p


def test_run_detached_with_a_console_socket_stress(both, bundle, tmp_path):
    """`run -d --console-socket S ID` with a receiver that has just started
    listening on S: 50 runs of pyrunc (10 of runc) all succeed, the process
    holding the pty."""
    bundle.config["process"]["terminal"] = True
    bundle.set_args("sleep", "30")
    sock = str(tmp_path / "console.sock")
    for name, rt in both.items():
        for i in range(50 if name == "pyrunc" else 10):
            recv = _receiver(sock)
            try:
                p = rt("run", "-d", "--console-socket", sock, "-b", str(bundle), "ct-tty")
                assert (p.returncode, p.err) == (0, ""), f"{name} run {i}: {p.err}"
                pid = rt.state("ct-tty")["pid"]
                assert os.readlink(f"/proc/{pid}/fd/0").startswith("/dev/pts/"), name
                rt("delete", "-f", "ct-tty", check=True)
            finally:
                recv.kill()
                recv.wait()
                os.unlink(sock)
