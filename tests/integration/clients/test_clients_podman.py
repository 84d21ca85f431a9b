"""podman 4.3 + conmon 2.1.6, the runtime given with `podman --runtime PATH`
(client-calls.md §3). conmon runs `create` and `exec`; podman itself runs
start, kill, pause, update and (from its cleanup process, without any global
flag) `delete --force`."""

import json
import os
import time

import clientlib as cl
import pytest

pytestmark = pytest.mark.clients


class Podman:
    def __init__(self, podman: cl.Podman, rt: cl.OciRuntime) -> None:
        self.p = podman
        self.rt = rt
        self.names: list[str] = []
        # podman passes no --root: the runtime's default one
        self.root = {"pyrunc": "/run/pyrunc", "runc": "/run/runc"}[rt.name]
        self.before = cl.state_dirs(self.root)

    def argv(self, *args: str) -> list[str]:
        return self.p.argv(*args, runtime=self.rt.path)

    def run_argv(self, *args: str, opts: tuple = ()) -> list[str]:
        return self.argv("run", *opts, cl.IMAGE, *args)

    def run(self, *args: str, opts: tuple = (), **kw) -> cl.Result:
        return cl.run(self.run_argv(*args, opts=opts), env=self.p.env, **kw)

    def __call__(self, *args: str, **kw) -> cl.Result:
        return cl.run(self.argv(*args), env=self.p.env, **kw)

    def detached(self, name: str, *args: str, opts: tuple = ()) -> str:
        self.names.append(name)
        r = self.run(*args, opts=("-d", "--name", name, *opts))
        assert r.rc == 0, r
        return r.out.strip()

    def state(self, name: str) -> dict:
        r = self("inspect", name)
        assert r.rc == 0, r
        return json.loads(r.out)[0]["State"]

    def cleanup(self) -> None:
        if self.names:
            self("rm", "-f", "--ignore", "-t", "0", *self.names, timeout=60)
        # the runtime's state (pyrunc: /run/pyrunc, runc: /run/runc) is gone too
        for name in self.names:
            assert self("inspect", name).rc != 0
        cl.reap()  # conmon's daemonized halves are orphans of ours (a subreaper)
        cl.assert_no_state_left(self.root, self.before)


@pytest.fixture
def podman(podmand, rt):
    p = Podman(podmand, rt)
    yield p
    p.cleanup()


def test_run_echo(podman):
    r = podman.run("echo", "hello", opts=("--rm",))
    assert (r.rc, r.out) == (0, "hello\n"), r


def test_run_exit_3(podman):
    r = podman.run("sh", "-c", "echo out; echo err >&2; exit 3", opts=("--rm",))
    assert (r.rc, r.out) == (3, "out\n") and "err" in r.err, r


def test_run_tty(podman):
    term = cl.Pty(podman.run_argv("sh", opts=("--rm", "-it")), env=podman.p.env)
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


def test_run_stdin(podman):
    r = podman.run("sh", "-c", "cat; exit 4", opts=("--rm", "-i"), input="data\nmore\n")
    assert (r.rc, r.out) == (4, "data\nmore\n"), r


def test_preserve_fds(podman):
    """`--preserve-fds 1`: conmon passes fd 3 (our pipe) to `create --preserve-fds 1`."""
    rfd, wfd = os.pipe()
    try:
        os.write(wfd, b"through fd 3\n")
        os.close(wfd)
        wfd = -1
        # podman passes its fds 3.. on
        r = cl.run(podman.run_argv("sh", "-c", "cat <&3", opts=("--rm", "--preserve-fds", "1")),
                   env=podman.p.env, **cl.fds_at({3: rfd}))
    finally:
        os.close(rfd)
        if wfd >= 0:
            os.close(wfd)
    assert (r.rc, r.out) == (0, "through fd 3\n"), r


def test_exec(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    r = podman("exec", name, "sh", "-c", "echo in-$((1+1)); exit 6")
    assert (r.rc, r.out) == (6, "in-2\n"), r


def test_exec_detached(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    r = podman("exec", "-d", name, "sh", "-c", "echo detached > /tmp/d")
    assert r.rc == 0, r
    r = cl.wait_for(lambda: (r := podman("exec", name, "cat", "/tmp/d")).out and r,
                    what="the detached exec's file")
    assert r.out == "detached\n", r


def test_exec_tty(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    term = cl.Pty(podman.argv("exec", "-it", name, "sh"), env=podman.p.env, rows=24,
                  cols=81)
    try:
        term.expect("# ")
        term.send("tty\r")
        term.expect_size(24, 81)
        term.send("exit 7\r")
        rc = term.wait()
    finally:
        term.close()
    assert "/dev/pts/" in term.text and rc == 7, term.text


def test_exec_preserve_fds(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    rfd, wfd = os.pipe()
    try:
        os.write(wfd, b"exec fd 3\n")
        os.close(wfd)
        r = cl.run(podman.argv("exec", "--preserve-fds", "1", name, "sh", "-c", "cat <&3"),
                   env=podman.p.env, **cl.fds_at({3: rfd}))
    finally:
        os.close(rfd)
    assert (r.rc, r.out) == (0, "exec fd 3\n"), r


def test_top(podman, new_id):
    name = new_id()
    podman.detached(name, "sh", "-c", "sleep 1000 & sleep 1001 & wait")
    r = cl.wait_for(lambda: (r := podman("top", name)).rc == 0 and "1001" in r.out and r,
                    what="podman top")
    assert "sleep 1000" in r.out and len(r.out.splitlines()) == 4, r


def test_pause_unpause(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    r = podman("pause", name)
    assert r.rc == 0, r
    assert podman.state(name)["Status"] == "paused"
    r = podman("unpause", name)
    assert r.rc == 0, r
    assert podman.state(name)["Status"] == "running"
    assert podman("exec", name, "true").rc == 0


def test_update(podman, new_id):
    name = new_id()
    cid = podman.detached(name, "sleep", "1000", opts=("--memory", "64m"))
    r = podman("update", "--memory", "128m", "--memory-swap", "256m", "--cpus", "0.7", name)
    assert r.rc == 0, r
    cg = f"libpod_parent/libpod-{cid}"
    assert _read(f"memory/{cg}/memory.limit_in_bytes") == 128 << 20
    assert _read(f"memory/{cg}/memory.memsw.limit_in_bytes") == 256 << 20
    assert _read(f"cpu/{cg}/cpu.cfs_quota_us") == 70000
    r = podman("update", "--cpu-shares", "512", "--memory-reservation", "64m", name)
    assert r.rc == 0, r
    assert _read(f"cpu/{cg}/cpu.shares") == 512
    assert _read(f"memory/{cg}/memory.soft_limit_in_bytes") == 64 << 20
    assert _read(f"memory/{cg}/memory.limit_in_bytes") == 128 << 20  # unchanged


def _read(rel: str) -> int:
    with open(f"{cl.CGROUP_ROOT}/{rel}") as f:
        return int(f.read())


def test_stop(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    t0 = time.monotonic()
    r = podman("stop", "-t", "1", name)
    assert r.rc == 0, r
    assert time.monotonic() - t0 < 10
    st = podman.state(name)
    assert (st["Status"], st["ExitCode"]) == ("exited", 137), st


def test_kill(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    r = podman("kill", name)
    assert r.rc == 0, r
    cl.wait_for(lambda: podman.state(name)["Status"] == "exited", what="exited")
    assert podman.state(name)["ExitCode"] == 137


def test_rm_force(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    pid = podman.state(name)["Pid"]
    r = podman("rm", "-f", "-t", "1", name)
    assert r.rc == 0, r
    assert podman("inspect", name).rc != 0
    cl.wait_for(lambda: not os.path.exists(f"/proc/{pid}/exe"), what="the container's init gone")


def test_pid_host(podman):
    r = podman.run("sh", "-c", f"test -d /proc/{os.getpid()} && echo host-pid-ns",
                   opts=("--rm", "--pid", "host"))
    assert (r.rc, r.out) == (0, "host-pid-ns\n"), r


def test_restart(podman, new_id):
    name = new_id()
    podman.detached(name, "sh", "-c", "cat /tmp/x 2>/dev/null; date >> /tmp/x; sleep 1000")
    pid1 = podman.state(name)["Pid"]
    r = podman("restart", "-t", "1", name)
    assert r.rc == 0, r
    st = podman.state(name)
    assert st["Status"] == "running" and st["Pid"] != pid1, st
    r = podman("exec", name, "wc", "-l", "/tmp/x")
    assert r.out.split()[0] == "2", r


def test_create_start(podman, new_id):
    name = new_id()
    podman.names.append(name)
    r = podman("create", "--name", name, cl.IMAGE, "sh", "-c", "echo started; exit 2")
    assert r.rc == 0, r
    r = podman("start", "-a", name)
    assert (r.rc, r.out) == (2, "started\n"), r
    assert podman.state(name)["ExitCode"] == 2


@pytest.mark.parametrize("binary,code", [("/etc/passwd", 126), ("/nonexistent", 127)])
def test_exec_failure_exit_codes(podman, binary, code):
    r = podman.run(binary, opts=("--rm",))
    assert r.rc == code, r


def test_runtime_by_name(podmand, rt):
    """containers.conf `[engine.runtimes]` gives the runtime a name (README)."""
    r = cl.run(podmand.argv("run", "--rm", cl.IMAGE, "echo", "named", runtime=rt.name),
               env=podmand.env)
    assert (r.rc, r.out) == (0, "named\n"), r
    r = cl.run(podmand.argv("info", "--format", "{{.Host.OCIRuntime.Path}}",
                                  runtime=rt.name), env=podmand.env)
    assert r.out.strip() == rt.path, r


# -- more of what podman puts in config.json ------------------------------------------

def test_exec_missing_binary(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    r = podman("exec", name, "/nonexistent")
    assert r.rc == 127, r
    r = podman("exec", name, "/etc/passwd")
    assert r.rc == 126, r


def test_exec_user_env_workdir(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    r = podman("exec", "-u", "65534:65534", "-w", "/tmp", "-e", "FOO=bar", name, "sh", "-c",
               "id -u; id -g; pwd; echo $FOO; umask")
    assert (r.rc, r.out.split()) == (0, ["65534", "65534", "/tmp", "bar", "0022"]), r
    r = podman("exec", name, "ls", "/proc/1/fd")  # nothing of conmon's leaked
    assert (r.rc, r.out.split()) == (0, ["0", "1", "2"]), r


def test_user_namespace(podman):
    """--uidmap/--gidmap: a user namespace, its maps written by the runtime."""
    r = podman.run("sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map; "
                   "touch /ok && echo writable",
                   opts=("--rm", "--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"))
    assert r.rc == 0, r
    assert r.out.split() == ["0", "0", "100000", "65536", "0", "100000", "65536", "writable"], r


def test_pod_shared_namespaces(podman, images, new_id):
    """A pod: the infra container's uts, ipc and pid namespaces are joined by path."""
    infra = f"localhost/{cl.IMAGE}-infra:latest"
    if podman("image", "exists", infra).rc != 0:
        podman("import", "--change", 'CMD ["sleep", "100000"]', images["rootfs"], infra,
               check=True)
    pod = new_id("pod")
    r = podman("pod", "create", "--name", pod, "--share", "uts,ipc,pid", "--hostname", "podhost",
               "--infra-image", infra)
    assert r.rc == 0, r
    try:
        name = new_id()
        podman.names.append(name)
        r = podman("run", "-d", "--name", name, "--pod", pod, cl.IMAGE, "sh", "-c",
                   "echo shared > /dev/shm/m; sleep 1000")
        assert r.rc == 0, r
        r = podman("run", "--rm", "--pod", pod, cl.IMAGE, "sh", "-c",
                   "hostname; cat /dev/shm/m; ps -o args | grep -c '^[s]leep 1000$'")
        assert (r.rc, r.out.split()) == (0, ["podhost", "shared", "1"]), r
    finally:
        podman("pod", "rm", "-f", "-t", "0", pod, timeout=60)


@pytest.mark.parametrize("binary,code", [("/etc/passwd", 126), ("/nonexistent", 127)])
def test_text_log_format(podmand, rt, clients_base, binary, code):
    """A runtime whose name is not in runtime_supports_json gets no
    --log-format=json: podman reads the text log / stderr for its exit-code
    mapping and its message."""
    d = os.path.join(clients_base, "text-log")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"{rt.name}-text")
    if not os.path.exists(path):
        os.symlink(rt.path, path)
    r = cl.run(podmand.argv("run", "--rm", cl.IMAGE, "echo", "plain", runtime=path),
               env=podmand.env)
    assert (r.rc, r.out) == (0, "plain\n"), r
    r = cl.run(podmand.argv("run", "--rm", cl.IMAGE, binary, runtime=path), env=podmand.env)
    assert r.rc == code, r
    assert binary in r.err, r


def test_healthcheck(podman, new_id):
    """`podman healthcheck run`: an exec through conmon."""
    name = new_id()
    podman.detached(name, "sleep", "1000", opts=("--health-cmd", "test -e /proc/1/status",
                                                  "--health-interval", "disable"))
    r = podman("healthcheck", "run", name)
    assert r.rc == 0, r
    r = podman("inspect", "--format", "{{.State.Health.Status}}", name)
    assert r.out.strip() == "healthy", r


def test_rm_force_paused(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    pid = podman.state(name)["Pid"]
    assert podman("pause", name).rc == 0
    r = podman("rm", "-f", "-t", "1", name)
    assert r.rc == 0, r
    cl.wait_for(lambda: not os.path.exists(f"/proc/{pid}/exe"), what="the init gone")


def test_init_then_rm_and_start(podman, new_id):
    """`podman init`: conmon's create only; then `rm -f` of a created container,
    and init + start of another."""
    name = new_id()
    podman.names.append(name)
    assert podman("create", "--name", name, cl.IMAGE, "sleep", "1000").rc == 0
    r = podman("init", name)
    assert r.rc == 0, r
    assert podman.state(name)["Status"] == "initialized"
    pid = podman.state(name)["Pid"]
    r = podman("rm", "-f", "-t", "1", name)
    assert r.rc == 0, r
    cl.wait_for(lambda: not os.path.exists(f"/proc/{pid}/exe"), what="the created init gone")
    name2 = new_id()
    podman.names.append(name2)
    assert podman("create", "--name", name2, cl.IMAGE, "sh", "-c", "exit 5").rc == 0
    assert podman("init", name2).rc == 0
    r = podman("start", "-a", name2)
    assert r.rc == 5, r


def test_exec_stdin(podman, new_id):
    name = new_id()
    podman.detached(name, "sleep", "1000")
    r = podman("exec", "-i", name, "sh", "-c", "cat; echo eof-seen", input="in\n", timeout=30)
    assert (r.rc, r.out) == (0, "in\neof-seen\n"), r


def test_rootfs_dir_read_only(podman, images, clients_base, new_id):
    """--rootfs DIR (no image) and --read-only (podman adds tmpfs on /run, /tmp,
    /var/tmp, /dev/shm)."""

    root = os.path.join(clients_base, new_id("rootfs"))
    os.makedirs(root)
    cl.extract_rootfs(images["rootfs"], root)
    r = cl.run(podman.argv("run", "--rm", "--read-only", "--rootfs", root, "sh", "-c",
                           "touch /x 2>&1; touch /tmp/y && echo tmp-ok; cat /etc/hostname"),
               env=podman.p.env)
    assert r.rc == 0 and "Read-only file system" in r.out and "tmp-ok" in r.out, r
    assert not os.path.exists(os.path.join(root, "x"))
