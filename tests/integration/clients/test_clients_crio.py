"""CRI-O's calls (client-calls.md §4), replayed: CRI-O is not packaged in
Debian 12, so this module does what cri-o's internal/oci/runtime_oci.go does,
with the real conmon 2.1.6 for create and exec sync, and direct runtime calls
(`--root <root>` as two arguments, stdout and stderr captured apart) for the
rest. The config.json is the one podman wrote (same containers/common
generator as CRI-O), pointed at a busybox rootfs."""

import copy
import json
import os
import re
import socket
import subprocess
import tempfile
import time

import clientlib as cl
import pytest

pytestmark = pytest.mark.clients

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
# Go's time.Time.UnmarshalJSON: RFC 3339, fractional seconds optional
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
# CRI-O maps a failed call to "not found" when stderr has one of these (case sensitive)
NOT_FOUND_PHRASES = ("no such process", "container not running", "invalid process")


def _spec_template() -> dict:
    with open(os.path.join(FIXTURES, "podman-run-config.json")) as f:
        spec = json.load(f)
    spec["mounts"] = [m for m in spec["mounts"] if "<D>" not in m.get("source", "")]
    spec["mounts"].append({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                           "options": ["nosuid", "noexec", "nodev", "mode=1777",
                                       "size=65536k"]})
    spec["annotations"] = {"io.kubernetes.cri-o.TTY": "false",
                           "io.kubernetes.container.name": "replay"}
    return spec


class CrioReplay:
    """One runtime handler: its runtime root, exit and attach directories, and
    the bundles of the containers made by a test."""

    def __init__(self, base: str, rt: cl.OciRuntime, rootfs_tar: str) -> None:
        self.rt = rt
        self.cgroup_parent = os.path.basename(base)  # the session's token
        self.dir = tempfile.mkdtemp(prefix=f"crio-{rt.name}-", dir=base)
        self.root = os.path.join(self.dir, "root")  # handler.RuntimeRoot
        self.exits = os.path.join(self.dir, "exits")
        self.attach = os.path.join(self.dir, "attach")
        for d in (self.exits, self.attach):
            os.makedirs(d)
        self.rootfs_tar = rootfs_tar
        self.ids: list[str] = []
        self.template = _spec_template()

    # -- the bundle -------------------------------------------------------------------
    def bundle(self, cid: str, args: list[str], *, terminal: bool = False,
               host_pid: bool = False, resources: dict | None = None) -> str:
        b = os.path.join(self.dir, "bundles", cid)
        os.makedirs(os.path.join(b, "rootfs"))
        cl.extract_rootfs(self.rootfs_tar, os.path.join(b, "rootfs"))
        spec = copy.deepcopy(self.template)
        spec["root"] = {"path": os.path.join(b, "rootfs")}
        spec["hostname"] = cid[:60]
        spec["process"]["args"] = args
        spec["process"]["terminal"] = terminal
        spec["annotations"]["io.kubernetes.cri-o.TTY"] = str(terminal).lower()
        linux = spec["linux"]
        linux["cgroupsPath"] = f"/{self.cgroup_parent}/crio-{cid}"
        if host_pid:
            linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "pid"]
        if resources:
            linux["resources"].update(resources)
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(spec, f)
        return b

    # -- calls --------------------------------------------------------------------------
    def runtime(self, *args: str, input: str | None = None, **kw) -> cl.Result:
        """runtimeCmd: `<runtime> --root <root> ARGS`, stdout/stderr apart."""
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        return cl.run([self.rt.path, "--root", self.root, *args], input=input, env=env, **kw)

    def create(self, cid: str, bundle: str, *, terminal: bool = False,
               stdin: bool = False) -> dict:
        """CreateContainer: conmon with the sync and start pipes; returns
        conmon's sync message ({"pid": N} or {"pid": -1, "message": ...})."""
        self.ids.append(cid)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        child_start, parent_start = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        args = ["conmon", "-b", bundle, "-c", cid, "--exit-dir", self.exits,
                "-l", os.path.join(bundle, "ctr.log"), "--log-level", "info", "-n", cid,
                "-P", os.path.join(bundle, "conmon-pidfile"),
                "-p", os.path.join(bundle, "pidfile"), "--persist-dir", bundle,
                "-r", self.rt.path, "--runtime-arg", f"--root={self.root}",
                "--socket-dir-path", self.attach, "--syslog", "-u", cid,
                "--log-size-max", "-1"]
        if terminal:
            args.append("-t")
        elif stdin:
            args += ["--leave-stdin-open", "-i"]
        try:
            with tempfile.TemporaryFile() as out:
                proc = subprocess.Popen(
                    args, cwd=bundle, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    env={"_OCI_SYNCPIPE": "3", "_OCI_STARTPIPE": "4",
                         "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                    **cl.fds_at({3: child.fileno(), 4: child_start.fileno()}))
        finally:
            child.close()
            child_start.close()
        try:
            parent_start.send(b"\0")  # "we set the cgroup, go on"
            assert proc.wait(60) == 0, f"conmon exited {proc.returncode}"
            parent.settimeout(60)
            return json.loads(parent.recv(65536).decode())
        finally:
            parent.close()
            parent_start.close()

    def started(self, cid: str, args: list[str], **kw) -> int:
        """create + start; the container's pid."""
        b = self.bundle(cid, args, **{k: v for k, v in kw.items() if k != "stdin"})
        msg = self.create(cid, b, terminal=kw.get("terminal", False))
        assert msg.get("pid", -1) > 0, msg
        r = self.runtime("start", cid)
        assert r.rc == 0, r
        return msg["pid"]

    def state(self, cid: str) -> dict:
        """UpdateContainerStatus: `state` decoded as CRI-O's ContainerState
        (time.Time fields must be RFC 3339)."""
        r = self.runtime("state", cid)
        assert r.rc == 0, r
        st = json.loads(r.out)
        for key in ("created", "started", "finished"):
            if key in st:
                assert RFC3339.match(st[key]), f"{key} is not RFC 3339: {st[key]!r}"
        assert isinstance(st["pid"], int) and isinstance(st["status"], str), st
        return st

    def exit_code(self, cid: str, timeout: float = 20) -> int:
        path = os.path.join(self.exits, cid)
        cl.wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0, timeout,
                    what=f"conmon's exit file for {cid}")
        with open(path) as f:
            return int(f.read())

    def process_file(self, cid: str, args: list[str], tty: bool) -> str:
        """prepareProcessExec: the container's process with other args."""
        with open(os.path.join(self.dir, "bundles", cid, "config.json")) as f:
            proc = json.load(f)["process"]
        proc["args"] = args
        proc["terminal"] = tty
        fd, path = tempfile.mkstemp(prefix="exec-process-", dir=self.dir)
        with os.fdopen(fd, "w") as f:
            json.dump(proc, f)
        return path

    def exec_sync(self, cid: str, args: list[str], timeout: int = 20,
                  tty: bool = False) -> tuple[int, str, str]:
        """ExecSyncContainer: conmon -e --sync; returns (exit code, stdout, stderr)
        parsed from conmon's k8s-file log."""
        pidfile = tempfile.mktemp(prefix="pidfile", dir=self.dir)
        log = tempfile.mktemp(prefix=f"crio-log-{cid}", dir=self.dir)
        pfile = self.process_file(cid, args, tty)
        r, w = os.pipe()
        child_start, parent_start = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = ["conmon", "-c", cid, "-n", cid, "-r", self.rt.path, "-p", pidfile, "-e",
                "-l", log, "--socket-dir-path", self.attach, "--log-level", "info", "--sync",
                "-T", str(timeout)]
        if tty:
            argv.append("-t")
        argv += ["--exec-process-spec", pfile, "--runtime-arg", f"--root={self.root}"]
        try:
            with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    env={"_OCI_SYNCPIPE": "3", "_OCI_STARTPIPE": "4",
                         "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                    **cl.fds_at({3: w, 4: child_start.fileno()}))
                os.close(w)
                child_start.close()
                parent_start.send(b"\0")
                proc.wait(timeout + 30)
                err.seek(0)
                conmon_err = err.read().decode(errors="replace")
            with os.fdopen(r, "rb") as f:
                ec = json.loads(f.read().decode().strip().splitlines()[-1])
        finally:
            parent_start.close()
            os.unlink(pfile)
        assert ec["exit_code"] != -1, f"exec sync failed: {ec} {conmon_err}"
        stdout, stderr = "", ""
        with open(log) as f:
            for line in f:
                parts = line.split(" ", 3)
                if len(parts) < 4:
                    continue
                content = parts[3][:-1] if parts[2] == "P" else parts[3]
                if parts[1] == "stdout":
                    stdout += content
                else:
                    stderr += content
        os.unlink(log)
        return ec["exit_code"], stdout, stderr

    def cleanup(self) -> None:
        for cid in self.ids:
            self.runtime("kill", cid, "KILL")
            self.runtime("delete", "--force", cid, timeout=30)
        left = os.listdir(self.root) if os.path.isdir(self.root) else []
        # conmon exits once the container is gone; it is an orphan of ours
        cl.wait_for(lambda: not [p for p in cl.processes_mentioning(self.dir)
                                 if not _zombie(p)], timeout=10, what="conmon gone")
        cl.reap()
        assert not left, f"runtime state left in {self.root}: {left}"


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def crio(clients_base, images, rt):
    c = CrioReplay(clients_base, rt, images["rootfs"])
    yield c
    c.cleanup()


def test_create_start_state(crio, new_id):
    """create via conmon, start, and `state` as CRI-O decodes it."""
    cid = new_id()
    b = crio.bundle(cid, ["sh", "-c", "echo from-container; sleep 1000"])
    msg = crio.create(cid, b)
    assert msg.get("pid", -1) > 0, msg
    with open(os.path.join(b, "pidfile")) as f:
        assert f.read() == str(msg["pid"])  # no newline: conmon and containerd Atoi it
    st = crio.state(cid)
    assert (st["status"], st["pid"], st["id"]) == ("created", msg["pid"], cid), st
    assert crio.runtime("start", cid).rc == 0
    st = crio.state(cid)
    assert st["status"] == "running", st
    cl.wait_for(lambda: "from-container" in open(os.path.join(b, "ctr.log")).read(),
                what="the container's output in conmon's log")
    assert crio.runtime("kill", cid, "9").rc == 0
    assert crio.exit_code(cid) == 137
    st = crio.state(cid)
    assert (st["status"], st["pid"]) == ("stopped", 0), st
    assert crio.runtime("delete", "--force", cid).rc == 0
    r = crio.runtime("state", cid)
    assert r.rc != 0 and "does not exist" in r.err, r


def test_exit_code(crio, new_id):
    cid = new_id()
    crio.started(cid, ["sh", "-c", "exit 3"])
    assert crio.exit_code(cid) == 3
    assert crio.state(cid)["status"] == "stopped"


def test_create_tty(crio, new_id):
    """A terminal container: conmon gives the runtime --console-socket and gets
    the pty master; the output lands in the log."""
    cid = new_id()
    b = crio.bundle(cid, ["sh", "-c", "tty; exit 4"], terminal=True)
    msg = crio.create(cid, b, terminal=True)
    assert msg.get("pid", -1) > 0, msg
    assert crio.runtime("start", cid).rc == 0
    assert crio.exit_code(cid) == 4
    cl.wait_for(lambda: "/dev/pts/0" in open(os.path.join(b, "ctr.log")).read(),
                what="tty output in the log")


def test_create_failure_message(crio, new_id):
    """A failed create: conmon relays the runtime's stderr (no --log is given)
    as the sync message, and CRI-O cleans up with `delete --force`."""
    cid = new_id()
    b = crio.bundle(cid, ["/nonexistent"])
    msg = crio.create(cid, b)
    assert msg.get("pid") == -1, msg
    assert "nonexistent" in msg.get("message", "") and \
        "no such file or directory" in msg["message"].lower(), msg
    r = crio.runtime("delete", "--force", cid)
    assert r.rc == 0, r


def test_exec_sync(crio, new_id):
    cid = new_id()
    crio.started(cid, ["sleep", "1000"])
    code, out, err = crio.exec_sync(cid, ["sh", "-c", "echo probe-out; echo probe-err >&2; "
                                          "exit 2"])
    assert (code, out, err) == (2, "probe-out\n", "probe-err\n")


def test_exec_sync_tty(crio, new_id):
    cid = new_id()
    crio.started(cid, ["sleep", "1000"])
    code, out, _ = crio.exec_sync(cid, ["sh", "-c", "tty; exit 3"], tty=True)
    assert code == 3 and "/dev/pts/" in out, out


def test_exec_foreground(crio, new_id):
    """kubectl exec without a tty: `exec --process F ID` in the foreground;
    the runtime's exit code is the command's."""
    cid = new_id()
    crio.started(cid, ["sleep", "1000"])
    pfile = crio.process_file(cid, ["sh", "-c", "read x; echo got-$x; exit 6"], tty=False)
    r = crio.runtime("exec", "--process", pfile, cid, input="line\n")
    assert (r.rc, r.out) == (6, "got-line\n"), r


def test_exec_foreground_tty(crio, new_id):
    """kubectl exec -t: the runtime's stdio is a pty slave (CRI-O's ttyCmd); the
    runtime allocates the container's pty and relays it; exit code passed on."""
    cid = new_id()
    crio.started(cid, ["sleep", "1000"])
    pfile = crio.process_file(cid, ["sh"], tty=True)
    term = cl.Pty([crio.rt.path, "--root", crio.root, "exec", "--process", pfile, cid],
                  rows=25, cols=90)
    try:
        term.expect("# ")
        term.send("tty; echo sum=$((40+2))\r")
        term.expect("sum=42")
        term.expect_size(25, 90)
        term.resize(40, 120)  # the runtime passes a resize of its terminal on
        term.expect_size(40, 120)
        term.send("exit 7\r")
        rc = term.wait()
    finally:
        term.close()
    assert "/dev/pts/" in term.text and "25 90" in term.text, term.text
    assert rc == 7, term.text


def test_update(crio, new_id):
    """`update --resources - ID` with Go's json.Marshal(LinuxResources) on stdin
    (zeros: unchanged)."""
    cid = new_id()
    crio.started(cid, ["sleep", "1000"], resources={"memory": {"limit": 64 << 20},
                                                  "pids": {"limit": 50}})
    with open(os.path.join(FIXTURES, "docker-update-resources.json")) as f:
        res = json.dumps(json.load(f), separators=(",", ":"))
    r = crio.runtime("update", "--resources", "-", cid, input=res)
    assert r.rc == 0, r
    cg = f"{crio.cgroup_parent}/crio-{cid}"
    assert _read(f"memory/{cg}/memory.limit_in_bytes") == 128 << 20
    assert _read(f"pids/{cg}/pids.max") == 70
    assert _read(f"cpu/{cg}/cpu.cfs_quota_us") == 70000


def _read(rel: str) -> int:
    with open(f"{cl.CGROUP_ROOT}/{rel}") as f:
        return int(f.read())


def test_stop(crio, new_id):
    """StopContainer: `kill ID 15`; sleep ignores it; after the grace period
    `kill ID KILL` (a signal *name*), then the stopped container's kill is
    "not found" by CRI-O's phrases."""
    cid = new_id()
    crio.started(cid, ["sleep", "1000"])
    assert crio.runtime("kill", cid, "15").rc == 0
    time.sleep(0.3)
    assert crio.state(cid)["status"] == "running"
    r = crio.runtime("kill", cid, "KILL")
    assert r.rc == 0, r
    assert crio.exit_code(cid) == 137
    assert crio.state(cid)["status"] == "stopped"
    r = crio.runtime("kill", cid, "KILL")
    assert r.rc != 0 and any(p in r.err for p in NOT_FOUND_PHRASES), r


def test_stop_paused(crio, new_id):
    """Stopping a paused container: resume, then kill."""
    cid = new_id()
    crio.started(cid, ["sleep", "1000"])
    assert crio.runtime("pause", cid).rc == 0
    assert crio.state(cid)["status"] == "paused"
    assert crio.runtime("resume", cid).rc == 0
    assert crio.state(cid)["status"] == "running"
    assert crio.runtime("kill", cid, "KILL").rc == 0
    assert crio.exit_code(cid) == 137


def test_kill_all_host_pid(crio, new_id):
    """A container in the host pid namespace: once its init exits, CRI-O runs
    `kill -a ID 9` so that what it left behind dies."""
    cid = new_id()
    marker = os.path.join(crio.dir, f"{cid}.bg")
    b = crio.bundle(cid, ["sh", "-c", "sleep 1000 & echo $! > /bg; sleep 0.5"], host_pid=True)
    msg = crio.create(cid, b)
    assert msg.get("pid", -1) > 0, msg
    assert crio.runtime("start", cid).rc == 0
    assert crio.exit_code(cid) == 0
    with open(os.path.join(b, "rootfs", "bg")) as f:
        bg = int(f.read())
    with open(marker, "w") as f:
        f.write(str(bg))
    assert os.path.exists(f"/proc/{bg}")
    assert crio.state(cid)["status"] == "stopped"
    r = crio.runtime("kill", "-a", cid, "9")
    assert r.rc == 0, r
    cl.wait_for(lambda: not os.path.exists(f"/proc/{bg}/exe"), what="the leftover sleep killed")


def test_remove(crio, new_id):
    cid = new_id()
    pid = crio.started(cid, ["sleep", "1000"])
    r = crio.runtime("delete", "--force", cid)
    assert r.rc == 0, r
    cl.wait_for(lambda: not os.path.exists(f"/proc/{pid}/exe"), what="the init gone")
    r = crio.runtime("delete", "--force", cid)
    assert r.rc == 0, r  # CRI-O's DeleteContainer also tolerates "not found"


def test_created_then_removed(crio, new_id):
    """A created container that never starts (a sandbox that failed later):
    `state` says created, `kill ID KILL` and `delete --force` end it."""
    cid = new_id()
    b = crio.bundle(cid, ["sleep", "1000"])
    msg = crio.create(cid, b)
    assert msg.get("pid", -1) > 0, msg
    assert crio.state(cid)["status"] == "created"
    r = crio.runtime("kill", cid, "KILL")
    assert r.rc == 0, r
    assert crio.exit_code(cid) == 137
    assert crio.state(cid)["status"] == "stopped"
    cid2 = new_id()
    msg = crio.create(cid2, crio.bundle(cid2, ["sleep", "1000"]))
    r = crio.runtime("delete", "--force", cid2)
    assert r.rc == 0, r
    cl.wait_for(lambda: not os.path.exists(f"/proc/{msg['pid']}/exe"), what="the init gone")


def test_update_kubelet_style(crio, new_id):
    """CRI-O's UpdateContainerResources as kubelet drives it: limits with swap =
    limit, shares, cpuset. (Kubelet's hugepageLimits are left out: on this host
    hugetlb is only on the hybrid cgroup2, and runc fails `create` with them,
    so no such container exists; runc's `update` ignores them, pyrunc refuses.)"""
    cid = new_id()
    crio.started(cid, ["sleep", "1000"])
    res = {"cpu": {"shares": 256, "quota": 50000, "period": 100000, "cpus": "0"},
           "memory": {"limit": 96 << 20, "swap": 96 << 20}}
    r = crio.runtime("update", "--resources", "-", cid, input=json.dumps(res))
    assert r.rc == 0, r
    cg = f"{crio.cgroup_parent}/crio-{cid}"
    assert _read(f"memory/{cg}/memory.limit_in_bytes") == 96 << 20
    assert _read(f"memory/{cg}/memory.memsw.limit_in_bytes") == 96 << 20
    assert _read(f"cpu/{cg}/cpu.shares") == 256
    with open(f"{cl.CGROUP_ROOT}/cpuset/{cg}/cpuset.cpus") as f:
        assert f.read().strip() == "0"

