"""containerd 1.6 through `ctr`, the runtime given with `--runc-binary` (the
shim option BinaryName): client-calls.md §1."""

import os
import time

import clientlib as cl
import pytest

pytestmark = pytest.mark.clients

IMG = f"docker.io/library/{cl.IMAGE}:latest"


class Ctr:
    """`ctr` bound to the session's containerd and the runtime under test;
    everything a test made is removed afterwards."""

    def __init__(self, containerd: cl.Containerd, rt: cl.OciRuntime) -> None:
        self.d = containerd
        self.rt = rt
        self.ids: list[str] = []

    def run_argv(self, cid: str, *args: str, opts: tuple = ()) -> list[str]:
        self.ids.append(cid)
        return self.d.ctr_argv("run", "--runc-binary", self.rt.path, *opts, IMG, cid, *args)

    def run(self, cid: str, *args: str, opts: tuple = (), **kw) -> cl.Result:
        return cl.run(self.run_argv(cid, *args, opts=opts), **kw)

    def __call__(self, *args: str, **kw) -> cl.Result:
        return self.d.ctr(*args, **kw)

    def detached(self, cid: str, *args: str, opts: tuple = ()) -> int:
        """`ctr run -d`: returns the task's pid once it runs."""
        r = self.run(cid, *args, opts=("-d", *opts))
        assert r.rc == 0, r
        assert self.d.task_status(cid) == "RUNNING", self("task", "ls")
        return self.pid(cid)

    def pid(self, cid: str) -> int:
        for line in self("task", "ls").out.splitlines()[1:]:
            f = line.split()
            if f[0] == cid:
                return int(f[1])
        raise AssertionError(f"no task {cid}")

    def wait_status(self, cid: str, want: str, timeout: float = 20) -> None:
        cl.wait_for(lambda: self.d.task_status(cid) == want, timeout,
                    what=f"task {cid} {want} (now {self.d.task_status(cid)!r})")

    def runtime_root(self) -> str:
        """The shim's --root for our namespace."""
        return f"/run/containerd/runc/{self.d.namespace}"

    def cleanup(self) -> None:
        for cid in self.ids:
            if self.d.task_status(cid):
                self("task", "kill", "-a", "-s", "SIGKILL", cid)
                self("task", "delete", "-f", cid, timeout=30)
            self("containers", "rm", cid, timeout=30)
        cl.reap()  # shims are orphans of ours (a subreaper)
        left = [c for c in self.ids if os.path.exists(os.path.join(self.runtime_root(), c))]
        assert not left, f"runtime state left in {self.runtime_root()}: {left}"


@pytest.fixture
def ctr(containerd, rt):
    c = Ctr(containerd, rt)
    yield c
    c.cleanup()


def test_run_echo(ctr, new_id):
    r = ctr.run(new_id(), "echo", "hello", opts=("--rm",))
    assert (r.rc, r.out) == (0, "hello\n"), r


def test_run_exit_status(ctr, new_id):
    r = ctr.run(new_id(), "sh", "-c", "echo out; echo err >&2; exit 3", opts=("--rm",))
    assert r.rc == 3, r
    assert r.out == "out\n" and "err" in r.err, r


def test_run_tty(ctr, new_id):
    """`ctr run -t` through a pty: the container's console arrives on the shim's
    console socket; the shim sizes it from ours and relays it."""
    term = cl.Pty(ctr.run_argv(new_id(), "sh", opts=("--rm", "-t")))
    try:
        term.expect("# ")
        term.send("tty; echo sum=$((20+22))\r")
        term.expect("sum=42")
        term.expect_size(30, 100)
        term.send("exit 5\r")
        rc = term.wait()
    finally:
        term.close()
    assert "/dev/pts/0" in term.text and "30 100" in term.text, term.text
    assert rc == 5, term.text


def test_detach_exec(ctr, new_id):
    cid = new_id()
    ctr.detached(cid, "sleep", "1000")
    r = ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo in-$((1+1)); exit 6")
    assert (r.rc, r.out) == (6, "in-2\n"), r
    assert ctr.d.task_status(cid) == "RUNNING"


def test_exec_tty(ctr, new_id):
    cid = new_id()
    ctr.detached(cid, "sleep", "1000")
    term = cl.Pty(ctr.d.ctr_argv("task", "exec", "-t", "--exec-id", "t1", cid, "sh"),
                  rows=24, cols=81)
    try:
        term.expect("# ")
        term.send("tty\r")
        term.expect_size(24, 81)
        term.send("exit 7\r")
        rc = term.wait()
    finally:
        term.close()
    assert "/dev/pts/" in term.text and rc == 7, term.text


def test_task_ps(ctr, new_id):
    cid = new_id()
    pid = ctr.detached(cid, "sh", "-c", "sleep 1000 & sleep 1000 & wait")
    r = cl.wait_for(lambda: (r := ctr("task", "ps", cid)).rc == 0
                    and len(r.out.splitlines()) >= 4 and r, what="3 processes")
    pids = [int(line.split()[0]) for line in r.out.splitlines()[1:]]
    assert pid in pids and len(pids) == 3, r


def test_pause_resume(ctr, new_id):
    cid = new_id()
    ctr.detached(cid, "sleep", "1000")
    r = ctr("task", "pause", cid)
    assert r.rc == 0, r
    assert ctr.d.task_status(cid) == "PAUSED"
    r = ctr("task", "resume", cid)
    assert r.rc == 0, r
    assert ctr.d.task_status(cid) == "RUNNING"


def test_kill_sigterm(ctr, new_id):
    cid = new_id()
    ctr.detached(cid, "sh", "-c", 'trap "exit 7" TERM; while :; do sleep 0.1; done')
    time.sleep(0.2)  # the trap is set
    r = ctr("task", "kill", cid)
    assert r.rc == 0, r
    ctr.wait_status(cid, "STOPPED")
    r = ctr("task", "delete", cid)
    assert r.rc == 0 and "exit code 7" in r.err, r


def test_kill_sigkill_stopped_container(ctr, new_id):
    """A second kill on a stopped task: the shim maps the runtime's
    `container not running` to "process already finished"."""
    cid = new_id()
    ctr.detached(cid, "sleep", "1000")
    assert ctr("task", "kill", "-s", "SIGKILL", cid).rc == 0
    ctr.wait_status(cid, "STOPPED")
    r = ctr("task", "kill", "-s", "SIGKILL", cid)
    assert "process already finished" in r.err or "not found" in r.err, r
    r = ctr("task", "delete", cid)
    assert r.rc == 0, r


def test_kill_all(ctr, new_id):
    cid = new_id()
    ctr.detached(cid, "sh", "-c", "sleep 1000 & sleep 1000 & wait")
    ps = cl.wait_for(lambda: (r := ctr("task", "ps", cid)).rc == 0
                     and len(r.out.splitlines()) >= 4 and r, what="3 processes")
    pids = [int(line.split()[0]) for line in ps.out.splitlines()[1:]]
    r = ctr("task", "kill", "-a", "-s", "SIGKILL", cid)
    assert r.rc == 0, r
    ctr.wait_status(cid, "STOPPED")
    cl.wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids),
                what="every process killed")
    assert ctr("task", "delete", cid).rc == 0


def test_delete_force(ctr, new_id):
    cid = new_id()
    pid = ctr.detached(cid, "sleep", "1000")
    r = ctr("task", "delete", "-f", cid, timeout=30)
    assert r.rc == 0, r
    assert ctr.d.task_status(cid) == ""
    cl.wait_for(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid),
                what="the init gone")
    assert ctr("containers", "rm", cid).rc == 0


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_memory_limit_cpus(ctr, new_id):
    cid = new_id()
    ctr.detached(cid, "sleep", "1000", opts=("--memory-limit", "67108864", "--cpus", "0.5"))
    cg = f"{ctr.d.namespace}/{cid}"
    with open(f"{cl.CGROUP_ROOT}/memory/{cg}/memory.limit_in_bytes") as f:
        assert int(f.read()) == 67108864
    with open(f"{cl.CGROUP_ROOT}/cpu/{cg}/cpu.cfs_quota_us") as f:
        quota = int(f.read())
    with open(f"{cl.CGROUP_ROOT}/cpu/{cg}/cpu.cfs_period_us") as f:
        period = int(f.read())
    assert quota * 2 == period, (quota, period)
    r = ctr("task", "metrics", cid)
    assert r.rc == 0 and "67108864" in r.out.replace(",", ""), r


def test_create_fails(ctr, new_id):
    """A missing binary: `ctr run` fails with the runtime's message, and the
    shim's `delete --force` leaves nothing behind."""
    cid = new_id()
    r = ctr.run(cid, "/nonexistent", opts=("--rm",))
    assert r.rc != 0, r
    assert "no such file or directory" in r.err.lower(), r


# -- more of what ctr puts in config.json ---------------------------------------------

def test_run_options(ctr, new_id, clients_base):
    """--cwd (created), --env, a read-only bind mount, --seccomp, --net-host,
    --cap-drop, --read-only (ctr's spec options)."""
    src = os.path.join(clients_base, new_id("mnt"))
    os.makedirs(src)
    with open(os.path.join(src, "f"), "w") as f:
        f.write("bound\n")
    r = ctr.run(new_id(), "sh", "-c", "grep CapBnd /proc/self/status; pwd; echo $FOO; "
                "cat /mnt/f; touch /mnt/g /x 2>&1; hostname", opts=(
                    "--rm", "--cwd", "/new/dir", "--env", "FOO=bar", "--read-only",
                    "--mount", f"type=bind,src={src},dst=/mnt,options=rbind:ro", "--seccomp",
                    "--net-host", "--cap-drop", "CAP_NET_RAW"))
    with open("/proc/sys/kernel/hostname") as f:
        hostname = f.read().strip()
    lines = r.out.splitlines()
    assert lines[1:4] == ["/new/dir", "bar", "bound"], r
    assert "Read-only file system" in lines[4] and "Read-only file system" in lines[5], r
    assert lines[6] == hostname, r
    assert int(lines[0].split()[1], 16) & (1 << 13) == 0, r  # CAP_NET_RAW dropped


def test_with_ns(ctr, new_id):
    """--with-ns: join another task's network and ipc namespaces by path."""
    donor = new_id("donor")
    pid = ctr.detached(donor, "sleep", "1000")
    r = ctr.run(new_id(), "sh", "-c", "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc",
                opts=("--rm", "--with-ns", f"network:/proc/{pid}/ns/net",
                      "--with-ns", f"ipc:/proc/{pid}/ns/ipc"))
    assert r.rc == 0, r
    assert r.out.split() == [os.readlink(f"/proc/{pid}/ns/{n}") for n in ("net", "ipc")], r


def test_parallel_runs_and_execs(ctr, new_id):
    """Clients run many runtime calls at once: 6 containers and 6 execs together."""
    import concurrent.futures

    ids = [new_id("par") for _ in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        runs = list(pool.map(lambda c: ctr.run(c, "sh", "-c", f"echo {c}", opts=("--rm",)), ids))
    for c, r in zip(ids, runs, strict=True):
        assert (r.rc, r.out) == (0, f"{c}\n"), r
    cid = new_id()
    ctr.detached(cid, "sleep", "1000")
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        execs = list(pool.map(lambda i: ctr("task", "exec", "--exec-id", f"p{i}", cid, "sh", "-c",
                                            f"echo exec-{i}"), range(6)))
    for i, r in enumerate(execs):
        assert (r.rc, r.out) == (0, f"exec-{i}\n"), r


def test_delete_force_paused(ctr, new_id):
    """`task delete -f` of a paused task: `kill --all <id> 9` on a frozen cgroup."""
    cid = new_id()
    pid = ctr.detached(cid, "sh", "-c", "sleep 1000 & wait")
    assert ctr("task", "pause", cid).rc == 0
    r = ctr("task", "delete", "-f", cid, timeout=30)
    assert r.rc == 0, r
    assert ctr.d.task_status(cid) == ""
    cl.wait_for(lambda: not os.path.exists(f"/proc/{pid}/exe"), what="the init gone")


# -- calls of containerd's shim that ctr cannot provoke, replayed ----------------------

def test_shim_deletes_created_task(ctr, images, new_id):
    """containerd's shim deletes a task that was created but never started
    (pkg/process: createdState.Delete, e.g. when `ctr run`'s Start fails) with
    `delete <id>`, no --force: runc kills the waiting init and deletes it.
    pyrunc follows the runtime-spec there (runtime.md, delete: a container that
    is not stopped MUST NOT be deleted): the plain delete is refused and the
    shim's clean-up, `delete --force`, removes it."""
    import json

    cid = new_id()
    bundle = os.path.join(ctr.d.base, "replay", cid)
    os.makedirs(os.path.join(bundle, "rootfs"))
    cl.extract_rootfs(images["rootfs"], os.path.join(bundle, "rootfs"))
    with open(os.path.join(os.path.dirname(__file__), "fixtures", "ctr-run-config.json")) as f:
        spec = json.load(f)
    spec["linux"]["cgroupsPath"] = f"/{ctr.d.namespace}/{cid}"
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    shim = [ctr.rt.path, "--root", ctr.runtime_root(), "--log",
            os.path.join(bundle, "log.json"), "--log-format", "json"]
    r = cl.run([*shim, "create", "--bundle", bundle, "--pid-file",
                os.path.join(bundle, "init.pid"), cid], cwd=bundle)
    assert r.rc == 0, r
    with open(os.path.join(bundle, "init.pid")) as f:
        pid = int(f.read())
    try:
        r = cl.run([*shim, "delete", cid], cwd=bundle)
        if ctr.rt.name == "pyrunc":
            assert r.rc == 1 and "not stopped: created" in r.err, r
            assert os.path.exists(f"/proc/{pid}/exe")  # untouched, as the spec says
            r = cl.run([*shim, "delete", "--force", cid], cwd=bundle)
        assert r.rc == 0, r
        cl.wait_for(lambda: not os.path.exists(f"/proc/{pid}/exe"), what="the created init gone")
        assert not os.path.exists(os.path.join(ctr.runtime_root(), cid))
    finally:
        cl.run([*shim, "delete", "--force", cid], cwd=bundle)
        cl.reap()
