"""The real container managers (containerd + ctr, dockerd + docker, podman +
conmon) started under a temporary directory on local sockets, for the client
tests, and the helpers they share: images made from busybox-static, a pty
driver, a logging wrapper for the runtime, and the host clean-up.

Set PYRUNC_CLIENTS_TRACE=1 (or =/abs/dir to keep the logs) to put a logging
wrapper in front of each runtime: every call's argv, environment, stdio, cwd,
duration and exit status (and, for commands that do not hand their stdio to a
container, stdin/stdout/stderr) are appended to <dir>/<runtime>.log and
printed when a test fails. The wrapper is an extra process between the client and the runtime,
so the tests run without it by default."""

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import pty
import select
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import termios
import time
from dataclasses import dataclass, field

from helpers import reap_children, shared_path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
CGROUP_ROOT = "/sys/fs/cgroup"
IMAGE = "pyrunc-busybox"  # the one image every client gets, made from busybox-static
IMAGE_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The hard limits of this machine (root lacks CAP_SYS_RESOURCE): podman's
# default 1048576 for NOFILE and NPROC cannot be set in a container here.
NOFILE = 1024
NPROC = 4096


# what this session made: container ids whose cgroups are checked and removed at the end
SESSION: dict = {"ids": set()}


@dataclass
class OciRuntime:
    """An OCI runtime under test: its name (what clients call it) and path."""

    name: str
    real: str
    path: str = ""  # what the clients are given: real, or the logging wrapper
    trace: str = ""  # the wrapper's log, when tracing

    def __post_init__(self) -> None:
        self.path = self.path or self.real

    def trace_tail(self, lines: int = 60) -> str:
        if not self.trace or not os.path.exists(self.trace):
            return ""
        with open(self.trace, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def __str__(self) -> str:
        return self.name



def extract_rootfs(tar_path: str, dest: str) -> None:
    """Unpack our own rootfs tarball as it is (owners, devices, links); the
    filter argument exists from Python 3.11.4 on (Debian's is 3.11.2)."""
    with tarfile.open(tar_path) as t:
        if hasattr(tarfile, "fully_trusted_filter"):
            t.extractall(dest, filter="fully_trusted")
        else:
            t.extractall(dest)


def docker_runtime_name(rt: OciRuntime) -> str:
    """The name dockerd knows the runtime by (see the dockerd fixture)."""
    if rt.name == "runc":
        return "runc" if rt.path == rt.real else "runc-traced"
    return rt.name


def find_runtime(name: str) -> str:
    if name == "pyrunc":
        path = os.environ.get("PYRUNC") or "/opt/pyrunc/bin/pyrunc"
        if not os.path.exists(path):
            path = shutil.which("pyrunc") or path
        return path
    return shutil.which(name) or f"/usr/sbin/{name}"


TRACE_WRAPPER = r"""#!/bin/bash
# Logging wrapper in front of an OCI runtime: records argv, env, stdio, cwd,
# duration and exit status of every call.
real=@REAL@
log=@LOG@
t0=$(date +%s%N)
fdinfo() { readlink "/proc/$$/fd/$1" 2>/dev/null || echo closed; }
stdio="0=$(fdinfo 0) 1=$(fdinfo 1) 2=$(fdinfo 2)"
{
  printf -- '--- %s pid=%s ppid=%s cwd=%s\n' "$(date +%T.%N)" "$$" "$PPID" "$PWD"
  printf 'argv:'; printf ' %q' "$@"; printf '\n'
  printf 'stdio: %s\n' "$stdio"
  printf 'fds:'; for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] 2>/dev/null &&
    printf ' %s=%s' "$n" "$(readlink "$f")"; done; printf '\n'
  printf 'env:'; env | grep -E '^(_OCI|XDG|HOME|PATH|GOMAXPROCS|NOTIFY|LISTEN|TMPDIR|CRI)' |
    tr '\n' ' '; printf '\n'
} >>"$log" 2>/dev/null
# Commands that give their stdio to a container keep it; the others' is captured.
handover=0
for a in "$@"; do case $a in create|run|exec) handover=1; break;; esac; done
if [ $handover = 1 ]; then
  "$real" "$@"; rc=$?
else
  tmp=$(mktemp -d)
  case " $* " in
  *" update "*" - "*|*" --resources - "*|*" -r - "*|*"--resources=- "*)
    cat >"$tmp/in"; "$real" "$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"; rc=$?;;
  *) "$real" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?;;
  esac
  cat "$tmp/out"; cat "$tmp/err" >&2
  { [ -s "$tmp/in" ] && printf 'stdin: %s\n' "$(head -c 2000 "$tmp/in")"
    printf 'stdout: %s\n' "$(head -c 2000 "$tmp/out")"
    printf 'stderr: %s\n' "$(head -c 2000 "$tmp/err")"; } >>"$log" 2>/dev/null
  rm -rf "$tmp"
fi
printf 'rc=%s (%s ms) %s\n' "$rc" "$(( ($(date +%s%N) - t0) / 1000000 ))" "$*" >>"$log"
exit $rc
"""


def make_runtime(name: str, tmp: str) -> OciRuntime:
    """The runtime as clients get it: the real binary, or with
    PYRUNC_CLIENTS_TRACE set a wrapper of the same name that logs each call."""
    real = find_runtime(name)
    where = os.environ.get("PYRUNC_CLIENTS_TRACE")
    if not where:
        return OciRuntime(name, real)
    logdir = where if os.path.isabs(where) else os.path.join(tmp, "trace")
    wdir = os.path.join(tmp, "trace", name)
    os.makedirs(wdir, exist_ok=True)
    os.makedirs(logdir, exist_ok=True)
    log = os.path.join(logdir, f"{name}.log")
    path = os.path.join(wdir, name)  # same basename: podman keys on it
    with open(path, "w") as f:
        f.write(TRACE_WRAPPER.replace("@REAL@", real).replace("@LOG@", log))
    os.chmod(path, 0o755)
    return OciRuntime(name, real, path=path, trace=log)


# -- images ---------------------------------------------------------------------

def make_rootfs_tar(out: str) -> str:
    """A busybox rootfs tarball: shared/tools/make-busybox-rootfs when it is
    there (the project's shared tools), else the same layout built here."""
    tool = shared_path("tools", "make-busybox-rootfs")
    if os.path.exists(tool):
        subprocess.run(["bash", tool, out], check=True, capture_output=True)
        return out
    busybox = os.path.realpath(shutil.which("busybox") or "/bin/busybox")
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    with tarfile.open(out, "w") as t:
        def add(name: str, data: bytes = b"", mode: int = 0o644, kind: bytes = tarfile.REGTYPE,
                link: str = "") -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.linkname, ti.size = kind, mode, link, len(data)
            t.addfile(ti, io.BytesIO(data) if data else None)

        for d, mode in (("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755),
                        ("root", 0o700), ("tmp", 0o1777), ("usr", 0o755), ("usr/sbin", 0o755),
                        ("var", 0o755)):
            add(d, mode=mode, kind=tarfile.DIRTYPE)
        with open(busybox, "rb") as f:
            add("bin/busybox", f.read(), 0o755)
        for a in applets:
            if a != "busybox":
                add(f"bin/{a}", kind=tarfile.SYMTYPE, link="busybox")
        add("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
        add("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        add("etc/hostname", b"busybox\n")
        add("etc/hosts", b"127.0.0.1 localhost\n")
        add("etc/resolv.conf", b"")
    return out


def make_oci_archive(rootfs_tar: str, out: str, name: str, cmd: tuple = ("sh",)) -> str:
    """An OCI image layout archive (one uncompressed layer) that `ctr images
    import` reads: no registry needed."""
    with open(rootfs_tar, "rb") as f:
        layer = f.read()

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": [IMAGE_ENV], "Cmd": list(cmd)},
        "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer), "size": len(layer)}],
    }).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest(manifest), "size": len(manifest),
        "annotations": {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": "latest"},
    }]}).encode()
    with tarfile.open(out, "w") as t:
        def add(path: str, data: bytes) -> None:
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for blob in (layer, config, manifest):
            add("blobs/sha256/" + digest(blob).split(":")[1], blob)
    return out


# -- running commands -------------------------------------------------------------

@dataclass
class Result:
    argv: list[str]
    rc: int
    out: str
    err: str

    def __str__(self) -> str:
        return (f"$ {' '.join(self.argv)}\nrc={self.rc}\nstdout: {self.out[-3000:]}\n"
                f"stderr: {self.err[-3000:]}")


def run(argv: list[str], *, timeout: float = 60, input: str | None = None,
        env: dict | None = None, check: bool = False, **kw) -> Result:
    """Run a client command; stdout/stderr go to files (a detached container
    may keep a pipe open forever), stdin is /dev/null unless `input` or `stdin`."""
    if input is None:
        kw.setdefault("stdin", subprocess.DEVNULL)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run(argv, stdout=out, stderr=err, timeout=timeout, env=env,
                           input=input.encode() if input is not None else None, **kw)
        out.seek(0)
        err.seek(0)
        r = Result(list(argv), p.returncode, out.read().decode(errors="replace"),
                   err.read().decode(errors="replace"))
    if check and r.rc != 0:
        raise AssertionError(f"command failed:\n{r}")
    return r


class Pty:
    """A client driven through a pseudo-terminal: its stdin/stdout/stderr are
    the slave (its controlling tty), we read and type on the master."""

    def __init__(self, argv: list[str], *, env: dict | None = None, rows: int = 30,
                 cols: int = 100) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

        def ctty() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, preexec_fn=ctty)
        os.close(slave)
        self.buf = b""

    def _read(self, timeout: float) -> bool:
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError as e:  # EIO: every slave fd is closed
            if e.errno == errno.EIO:
                return False
            raise
        if not data:
            return False
        self.buf += data
        return True

    def expect(self, needle: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.5)) and self.proc.poll() is not None:
                raise AssertionError(f"no {needle!r} on the terminal; got {self.text!r}")
        return self.text

    def send(self, data: str) -> None:
        os.write(self.master, data.encode())

    def resize(self, rows: int, cols: int) -> None:
        """What CRI-O does on a resize event: TIOCSWINSZ on the master (the
        kernel sends SIGWINCH to the foreground process group)."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def expect_size(self, rows: int, cols: int, timeout: float = 10) -> None:
        """Run `stty size` in the shell until it shows rows x cols: clients
        size the container's terminal (TIOCSWINSZ on the master, after the
        start) a moment after the shell may already run."""
        deadline = time.monotonic() + timeout
        want = f"\n{rows} {cols}\r"
        while True:
            self.send("stty size\r")
            try:
                self.expect(want, timeout=0.5)
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"client still running after {timeout}s: {self.text!r}")
            self._read(0.1)
        while self._read(0.05):  # what is left in the buffer
            if not select.select([self.master], [], [], 0)[0]:
                break
        return self.proc.returncode

    @property
    def text(self) -> str:
        return self.buf.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)


def state_dirs(root: str) -> set[str]:
    """The container directories under a runtime's --root."""
    try:
        return {n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n))}
    except FileNotFoundError:
        return set()


def assert_no_state_left(root: str, before: set[str], timeout: float = 10) -> None:
    """Every container a test made is gone from the runtime's --root too."""
    try:
        wait_for(lambda: not state_dirs(root) - before, timeout, what="state dirs removed")
    except AssertionError:
        raise AssertionError(f"runtime state left in {root}: "
                             f"{sorted(state_dirs(root) - before)}") from None


def wait_for(pred, timeout: float = 20, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def wait_socket(path: str, proc: subprocess.Popen, log: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited {proc.returncode}:\n{tail(log)}")
        if os.path.exists(path):
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(path)
                    return
                except OSError:
                    pass
        time.sleep(0.05)
    raise AssertionError(f"{proc.args[0]} did not listen on {path}:\n{tail(log)}")


def tail(path: str, n: int = 40) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# -- host state and clean-up -------------------------------------------------------

def cgroup_dirs() -> set[str]:
    out = set()
    for name in os.listdir(CGROUP_ROOT):
        top = os.path.join(CGROUP_ROOT, name)
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        for dirpath, dirnames, _ in os.walk(top):
            out.update(os.path.join(dirpath, d) for d in dirnames)
    return out


# The cgroups a client makes for its own processes (conmon moves itself into
# libpod_parent/<id>/conmon): the client's, not the runtime's, so the clean-up
# may stop what is left in them. A runtime's leftovers are only ever rmdir'd.
CLIENT_OWN = ("conmon",)


def remove_cgroups(before: set[str], ours: set[str], shared: tuple[str, ...],
                   wait: float = 10.0) -> list[str]:
    """Remove the cgroups made since `before` for our containers (a path
    component containing one of `ours`: container ids, our namespace) and
    return those that could not be removed; then try the daemons' `shared`
    parents (docker, libpod_parent...) if they are new and empty. Only rmdir,
    retried for up to `wait` s while they are busy (a process still leaving);
    what is still in a client's own cgroup (CLIENT_OWN) is killed first.
    Another run's cgroups are never touched. Directories podman makes on the
    tmpfs for unmounted controllers go the same way."""
    left = []
    new = sorted(cgroup_dirs() - before, key=lambda p: -p.count("/"))
    for d in new:
        parts = d[len(CGROUP_ROOT) + 1:].split("/")[1:]
        if not any(tok in p for p in parts for tok in ours):
            continue
        deadline = time.monotonic() + wait
        while True:
            if parts[-1] in CLIENT_OWN:
                kill_pids(_cgroup_pids(d))
                reap()
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    left.append(f"{d}: {e.strerror}")
                    break
                time.sleep(0.1)
    for d in new:
        parts = d[len(CGROUP_ROOT) + 1:].split("/")[1:]
        if parts and all(p in shared for p in parts):
            with contextlib.suppress(OSError):
                os.rmdir(d)
    return left


def _cgroup_pids(d: str) -> list[int]:
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def unmount_under(path: str) -> None:
    """Lazily unmount everything under path, deepest first (the daemons' overlay,
    shm, netns and self-bind mounts)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(5):
        mps = mounts_under(path)
        if not mps:
            return
        for mp in sorted(mps, key=lambda p: -p.count("/")):
            libc.umount2(mp.encode(), 2)  # MNT_DETACH


def processes_mentioning(needle: str) -> list[int]:
    """Pids whose command line contains needle (daemons, shims, conmons of ours)."""
    out = []
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if needle.encode() in cmd:
            out.append(int(pid))
    return out


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


reap = reap_children  # (tests/helpers.py)


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


DAEMONS = ("containerd", "dockerd", "podman", "conmon", "containerd-shim")


def others_running() -> bool:
    """True if some container daemon runs on this machine (another test run)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in DAEMONS or comm.startswith("containerd-shim"):
            return True
    return False


@dataclass
class HostPaths:
    """Paths outside our directory that the daemons create: removed afterwards
    if they were not there before."""

    paths: tuple[str, ...] = ("/etc/docker", "/run/docker", "/run/containerd",
                              "/dev/shm/libpod_lock", "/run/containers", "/var/lib/containers",
                              "/etc/cni/net.d/87-podman.conflist", "/run/libpod")
    existed: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.existed = {p: os.path.lexists(p) for p in self.paths}

    def restore(self) -> None:
        if others_running():
            return  # another run's daemons may be using them
        for p, was in self.existed.items():
            if was or not os.path.lexists(p):
                continue
            if os.path.isdir(p) and not os.path.islink(p):
                if not mounts_under(p):
                    shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(p)


# -- the daemons ---------------------------------------------------------------------

class Containerd:
    """containerd with its own root, state, socket and config; `ctr` bound to it."""

    def __init__(self, base: str, namespace: str) -> None:
        self.namespace = namespace  # unique to the session: its cgroups are /<namespace>/<id>
        self.base = os.path.join(base, "containerd")
        self.root = os.path.join(self.base, "root")
        self.state = os.path.join(self.base, "state")
        self.address = os.path.join(self.base, "containerd.sock")
        self.config = os.path.join(self.base, "config.toml")
        self.log = os.path.join(self.base, "containerd.log")
        self.proc: subprocess.Popen | None = None
        self.used_namespaces: set[str] = set()

    def start(self) -> "Containerd":
        os.makedirs(self.base, exist_ok=True)
        with open(self.config, "w") as f:
            f.write(f"""version = 2
# the CRI plugin is not used by ctr or docker (and wants CNI): off, to start fast
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.btrfs"]
[plugins."io.containerd.internal.v1.opt"]
  path = "{self.base}/opt"
""")
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            ["containerd", "--config", self.config, "--root", self.root, "--state", self.state,
             "--address", self.address, "--log-level", "warn"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        logf.close()
        wait_socket(self.address, self.proc, self.log)
        return self

    def ctr(self, *args: str, namespace: str | None = None, **kw) -> Result:
        return run(["ctr", "--address", self.address, "-n", namespace or self.namespace,
                    *args], **kw)

    def ctr_argv(self, *args: str) -> list[str]:
        return ["ctr", "--address", self.address, "-n", self.namespace, *args]

    def import_image(self, oci_archive: str) -> None:
        self.ctr("images", "import", oci_archive, check=True, timeout=120)

    def task_status(self, cid: str) -> str:
        """RUNNING, PAUSED, STOPPED, CREATED... or '' when there is no task."""
        r = self.ctr("task", "ls")
        for line in r.out.splitlines()[1:]:
            f = line.split()
            if f and f[0] == cid:
                return f[-1]
        return ""

    def remove_all(self, namespace: str | None = None) -> None:
        ns = namespace or self.namespace
        for line in self.ctr("task", "ls", "-q", namespace=ns).out.split():
            self.ctr("task", "kill", "-a", "-s", "SIGKILL", line, namespace=ns)
            self.ctr("task", "delete", "-f", line, namespace=ns, timeout=30)
        for line in self.ctr("containers", "ls", "-q", namespace=ns).out.split():
            self.ctr("containers", "rm", line, namespace=ns, timeout=30)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.remove_all()
        stop_process(self.proc)
        # shims whose containers could not be deleted outlive containerd
        kill_pids(processes_mentioning(self.address))
        reap()
        unmount_under(self.base)
        self.remove_runtime_roots()

    def remove_runtime_roots(self) -> None:
        """The shim's default runtime roots, /run/containerd/runc/<namespace>."""
        for ns in {self.namespace, *self.used_namespaces}:
            with contextlib.suppress(OSError):
                os.rmdir(f"/run/containerd/runc/{ns}")


class Dockerd:
    """dockerd with its own data-root, exec-root, socket and pid file, on our
    containerd; no iptables, no bridge (containers run with --network none)."""

    def __init__(self, base: str, containerd: Containerd, runtimes: dict[str, str],
                 daemon_json: dict | None = None, name: str = "docker",
                 namespace: str = "moby") -> None:
        self.base = os.path.join(base, name)
        self.containerd = containerd
        self.runtimes = runtimes  # name -> path, given with --add-runtime
        self.daemon_json = daemon_json or {}
        self.namespace = namespace
        containerd.used_namespaces.add(namespace)
        self.host = "unix://" + os.path.join(self.base, "docker.sock")
        self.log = os.path.join(self.base, "dockerd.log")
        self.exec_root = os.path.join(self.base, "exec")
        self.env = {**os.environ, "DOCKER_CONFIG": os.path.join(self.base, "client")}
        self.proc: subprocess.Popen | None = None
        self.started_at = time.time()
        self.ids: set[str] = set()

    def start(self) -> "Dockerd":
        self.started_at = time.time()
        os.makedirs(self.base, exist_ok=True)
        cfg = os.path.join(self.base, "daemon.json")
        with open(cfg, "w") as f:
            json.dump(self.daemon_json, f, indent=2)
        argv = ["dockerd", "--config-file", cfg, "--iptables=false", "--ip6tables=false",
                "--bridge=none", "--data-root", os.path.join(self.base, "data"),
                "--exec-root", self.exec_root, "-H", self.host,
                "--pidfile", os.path.join(self.base, "docker.pid"),
                "--containerd", self.containerd.address,
                "--containerd-namespace", self.namespace,
                "--containerd-plugins-namespace", self.namespace + "-plugins",
                "--storage-driver", "overlay2", "--log-level", "warn"]
        for name, path in self.runtimes.items():
            argv += ["--add-runtime", f"{name}={path}"]
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     env=self.env)
        logf.close()
        wait_socket(self.host[len("unix://"):], self.proc, self.log, timeout=60)
        wait_for(lambda: self.docker("version").rc == 0, what="dockerd answering")
        return self

    def argv(self, *args: str) -> list[str]:
        return ["docker", "-H", self.host, *args]

    def docker(self, *args: str, **kw) -> Result:
        return run(self.argv(*args), env=self.env, **kw)

    def import_image(self, rootfs_tar: str) -> None:
        self.docker("import", "-c", 'CMD ["sh"]', "-c", f"ENV {IMAGE_ENV}", rootfs_tar,
                    f"{IMAGE}:latest", check=True, timeout=120)

    def container_ids(self) -> set[str]:
        """Every container this dockerd created (their cgroups are docker/<id>)."""
        r = self.docker("events", "--since", str(int(self.started_at) - 1), "--until",
                        str(int(time.time()) + 1), "--filter", "type=container",
                        "--filter", "event=create", "--format", "{{.ID}}", timeout=30)
        return set(r.out.split())

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.ids |= self.container_ids()
            ids = self.docker("ps", "-aq").out.split()
            if ids:
                self.docker("rm", "-f", *ids, timeout=60)
            stop_process(self.proc, timeout=30)
        with contextlib.suppress(Exception):
            self.containerd.remove_all(self.namespace)
            self.containerd.remove_all(self.namespace + "-plugins")
        unmount_under(self.base)


class Podman:
    """podman with its own root, runroot, tmpdir and containers.conf (default
    ulimits within this machine's hard limits; the runtime names in
    runtime_supports_json, as README.md shows)."""

    def __init__(self, base: str, runtimes: dict[str, str]) -> None:
        self.base = os.path.join(base, "podman")
        self.runtimes = runtimes
        self.conf = os.path.join(self.base, "containers.conf")
        self.env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
        self.env["CONTAINERS_CONF"] = self.conf
        self.global_args = ["--root", os.path.join(self.base, "root"),
                            "--runroot", os.path.join(self.base, "runroot"),
                            "--tmpdir", os.path.join(self.base, "tmp"),
                            "--storage-driver", "overlay"]

    def start(self) -> "Podman":
        os.makedirs(os.path.join(self.base, "net"), exist_ok=True)
        names = ", ".join(f'"{n}"' for n in ("crun", "runc", "kata", "runsc", "krun",
                                            *self.runtimes))
        table = "\n".join(f'{n} = ["{p}"]' for n, p in self.runtimes.items())
        with open(self.conf, "w") as f:
            f.write(f"""[containers]
# this machine's hard limits (root lacks CAP_SYS_RESOURCE)
default_ulimits = ["nofile={NOFILE}:{NOFILE}", "nproc={NPROC}:{NPROC}"]
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{self.base}/events.log"
runtime_supports_json = [{names}]

[engine.runtimes]
{table}

[network]
network_config_dir = "{self.base}/net"
""")
        return self

    def argv(self, *args: str, runtime: str | None = None) -> list[str]:
        rt = ["--runtime", runtime] if runtime else []
        return ["podman", *self.global_args, *rt, *args]

    def podman(self, *args: str, runtime: str | None = None, **kw) -> Result:
        return run(self.argv(*args, runtime=runtime), env=self.env, **kw)

    def import_image(self, rootfs_tar: str) -> None:
        self.podman("import", "--change", 'CMD ["sh"]', "--change", f"ENV {IMAGE_ENV}",
                    rootfs_tar, f"localhost/{IMAGE}:latest", check=True, timeout=120)

    def container_ids(self) -> set[str]:
        """Every container and pod this podman created (their cgroups are
        libpod_parent/libpod-<id>, and libpod_parent/<pod id> for a pod's)."""
        ids = set()
        with contextlib.suppress(OSError), open(os.path.join(self.base, "events.log")) as f:
            for line in f:
                with contextlib.suppress(ValueError):
                    ev = json.loads(line)
                    if ev.get("Type") in ("container", "pod") and ev.get("ID"):
                        ids.add(ev["ID"])
        return ids

    def stop(self) -> None:
        r = self.podman("ps", "-aq")
        if r.rc == 0 and r.out.split():
            self.podman("rm", "-f", "-t", "0", *r.out.split(), timeout=60)
        # conmon and `podman container cleanup` processes still finishing
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not processes_mentioning(self.base), timeout=10)
        kill_pids(processes_mentioning(self.base))
        reap()
        unmount_under(self.base)


def fds_at(mapping: dict[int, int]) -> dict:
    """Popen arguments that give the child `mapping` {child fd: our fd} (fds 3,
    4... as conmon and podman --preserve-fds expect) without touching ours."""

    def place() -> None:
        high = {n: fcntl.fcntl(fd, fcntl.F_DUPFD, 200) for n, fd in mapping.items()}
        for n, fd in high.items():
            os.dup2(fd, n)
            os.close(fd)

    return {"preexec_fn": place, "pass_fds": tuple(mapping)}
