"""docker 20.10: dockerd → containerd → containerd-shim-runc-v2 → the runtime,
given with `dockerd --add-runtime pyrunc=PATH` and `docker run --runtime
pyrunc` (client-calls.md §2)."""

import json
import os
import time

import clientlib as cl
import pytest

pytestmark = pytest.mark.clients


class Docker:
    def __init__(self, dockerd: cl.Dockerd, rt: cl.OciRuntime) -> None:
        self.d = dockerd
        self.runtime = cl.docker_runtime_name(rt)
        self.names: list[str] = []

    def run_argv(self, *args: str, opts: tuple = (), image: str = cl.IMAGE) -> list[str]:
        net = () if "--network" in opts else ("--network", "none")
        return self.d.argv("run", "--runtime", self.runtime, *net, *opts, image, *args)

    def run(self, *args: str, opts: tuple = (), image: str = cl.IMAGE, **kw) -> cl.Result:
        return cl.run(self.run_argv(*args, opts=opts, image=image), env=self.d.env, **kw)

    def __call__(self, *args: str, **kw) -> cl.Result:
        return self.d.docker(*args, **kw)

    def detached(self, name: str, *args: str, opts: tuple = ()) -> str:
        self.names.append(name)
        r = self.run(*args, opts=("-d", "--name", name, *opts))
        assert r.rc == 0, r
        return r.out.strip()

    def inspect(self, name: str) -> dict:
        r = self("inspect", name)
        assert r.rc == 0, r
        return json.loads(r.out)[0]

    def state(self, name: str) -> dict:
        return self.inspect(name)["State"]

    def cleanup(self) -> None:
        if self.names:
            self("rm", "-f", *self.names, timeout=60)
        cl.reap()  # shims are orphans of ours (a subreaper)
        # the shim's --root for docker's containers, whatever the runtime
        cl.assert_no_state_left(os.path.join(self.d.exec_root, "runtime-runc", "moby"), set())


@pytest.fixture
def docker(dockerd, rt):
    d = Docker(dockerd, rt)
    yield d
    d.cleanup()


def test_run_echo(docker):
    r = docker.run("echo", "hello", opts=("--rm",))
    assert (r.rc, r.out) == (0, "hello\n"), r


def test_run_exit_3(docker):
    r = docker.run("sh", "-c", "echo out; echo err >&2; exit 3", opts=("--rm",))
    assert (r.rc, r.out) == (3, "out\n") and "err" in r.err, r


def test_run_tty(docker):
    term = cl.Pty(docker.run_argv("sh", "-c", "tty; exit 4", opts=("--rm", "-t")),
                  env=docker.d.env)
    try:
        rc = term.wait()
    finally:
        term.close()
    assert "/dev/pts/0" in term.text and rc == 4, term.text


def test_run_interactive_tty(docker):
    term = cl.Pty(docker.run_argv("sh", opts=("--rm", "-it")), env=docker.d.env)
    try:
        term.expect("# ")
        term.send("echo sum=$((20+22))\r")
        term.expect("sum=42")
        term.expect_size(30, 100)
        term.send("exit 5\r")
        rc = term.wait()
    finally:
        term.close()
    assert "30 100" in term.text and rc == 5, term.text


def test_run_stdin(docker):
    r = docker.run("sh", "-c", "cat; exit 4", opts=("--rm", "-i"), input="data\nmore\n")
    assert (r.rc, r.out) == (4, "data\nmore\n"), r


def test_exec(docker, new_id):
    name = new_id()
    docker.detached(name, "sleep", "1000")
    r = docker("exec", name, "sh", "-c", "echo in-$((1+1)); exit 6")
    assert (r.rc, r.out) == (6, "in-2\n"), r
    r = docker("exec", "-d", name, "sh", "-c", "echo detached > /tmp/d")
    assert r.rc == 0, r
    r = cl.wait_for(lambda: (r := docker("exec", name, "cat", "/tmp/d")).out and r,
                    what="the detached exec's file")
    assert r.out == "detached\n", r


def test_exec_tty(docker, new_id):
    name = new_id()
    docker.detached(name, "sleep", "1000")
    term = cl.Pty(docker.d.argv("exec", "-it", name, "sh"), env=docker.d.env, rows=24,
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


def test_top(docker, new_id):
    name = new_id()
    docker.detached(name, "sh", "-c", "sleep 1000 & sleep 1001 & wait")
    r = cl.wait_for(lambda: (r := docker("top", name)).rc == 0 and "sleep 1001" in r.out and r,
                    what="docker top")
    assert "sleep 1000" in r.out and len(r.out.splitlines()) == 4, r


def test_pause_unpause(docker, new_id):
    name = new_id()
    docker.detached(name, "sleep", "1000")
    r = docker("pause", name)
    assert r.rc == 0, r
    assert docker.state(name)["Status"] == "paused"
    r = docker("unpause", name)
    assert r.rc == 0, r
    assert docker.state(name)["Status"] == "running"
    assert docker("exec", name, "true").rc == 0


def test_update(docker, new_id):
    name = new_id()
    cid = docker.detached(name, "sleep", "1000", opts=("--memory", "64m", "--pids-limit", "50",
                                                       "--cpus", "0.5"))
    r = docker("update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "70",
               "--cpus", "0.7", name)
    assert r.rc == 0, r
    cg = f"docker/{cid}"
    assert _read(f"memory/{cg}/memory.limit_in_bytes") == 128 << 20
    assert _read(f"memory/{cg}/memory.memsw.limit_in_bytes") == 256 << 20
    assert _read(f"pids/{cg}/pids.max") == 70
    assert _read(f"cpu/{cg}/cpu.cfs_quota_us") == 70000
    assert _read(f"cpu/{cg}/cpu.cfs_period_us") == 100000


def _read(rel: str) -> int:
    with open(f"{cl.CGROUP_ROOT}/{rel}") as f:
        return int(f.read())


def test_stop(docker, new_id):
    """`docker stop -t 1`: kill 15, a second later kill 9 (sleep as pid 1
    ignores SIGTERM), delete."""
    name = new_id()
    docker.detached(name, "sleep", "1000")
    t0 = time.monotonic()
    r = docker("stop", "-t", "1", name)
    assert r.rc == 0, r
    assert time.monotonic() - t0 < 10
    st = docker.state(name)
    assert (st["Status"], st["ExitCode"]) == ("exited", 137), st


def test_stop_handled_sigterm(docker, new_id):
    name = new_id()
    docker.detached(name, "sh", "-c", 'trap "exit 9" TERM; while :; do sleep 0.1; done')
    time.sleep(0.3)
    r = docker("stop", "-t", "10", name)
    assert r.rc == 0, r
    assert docker.state(name)["ExitCode"] == 9


def test_kill(docker, new_id):
    name = new_id()
    docker.detached(name, "sleep", "1000")
    r = docker("kill", name)
    assert r.rc == 0, r
    cl.wait_for(lambda: docker.state(name)["Status"] == "exited", what="exited")
    assert docker.state(name)["ExitCode"] == 137


def test_rm_force(docker, new_id):
    name = new_id()
    docker.detached(name, "sleep", "1000")
    pid = docker.state(name)["Pid"]
    r = docker("rm", "-f", name)
    assert r.rc == 0, r
    assert docker("inspect", name).rc != 0
    cl.wait_for(lambda: not os.path.exists(f"/proc/{pid}/exe"), what="the container's init gone")


def test_pid_host(docker):
    """--pid host: after the init exits, the shim kills what is left in the
    cgroup with `kill --all <id> 9`."""
    r = docker.run("sh", "-c", f"test -d /proc/{os.getpid()} && echo host-pid-ns; "
                   "sleep 1000 & echo bg=$!", opts=("--rm", "--pid", "host"))
    assert r.rc == 0 and "host-pid-ns" in r.out, r
    bg = int(r.out.split("bg=")[1].split()[0])
    cl.wait_for(lambda: not os.path.exists(f"/proc/{bg}/exe"),
                what=f"the background sleep {bg} killed")


@pytest.mark.parametrize("binary,code", [("/etc/passwd", 126), ("/nonexistent", 127)])
def test_exec_failure_exit_codes(docker, binary, code):
    """docker maps the runtime's message to 126 (permission denied) or 127
    (no such file or directory / executable file not found)."""
    r = docker.run(binary, opts=("--rm",))
    assert r.rc == code, r


# -- more of what docker puts in config.json ------------------------------------------

def test_exec_missing_binary(docker, new_id):
    name = new_id()
    docker.detached(name, "sleep", "1000")
    r = docker("exec", name, "/nonexistent")
    assert r.rc == 126 and "no such file or directory" in (r.out + r.err).lower(), r
    r = docker("exec", name, "/etc/passwd")
    assert r.rc == 126 and "permission denied" in (r.out + r.err).lower(), r


def test_exec_user_env_workdir(docker, new_id):
    name = new_id()
    docker.detached(name, "sleep", "1000")
    r = docker("exec", "-u", "65534:65534", "-w", "/tmp", "-e", "FOO=bar", name, "sh", "-c",
               "id -u; id -g; pwd; echo $FOO")
    assert (r.rc, r.out.split()) == (0, ["65534", "65534", "/tmp", "bar"]), r


def test_no_leaked_fds(docker, new_id):
    """The shim's own fds (a socket at 3 during create) must not reach the container."""
    name = new_id()
    docker.detached(name, "sleep", "1000")
    r = docker("exec", name, "ls", "/proc/1/fd")
    assert (r.rc, r.out.split()) == (0, ["0", "1", "2"]), r


def test_restart(docker, new_id):
    name = new_id()
    docker.detached(name, "sh", "-c", "date >> /count; sleep 1000")
    r = docker("restart", "-t", "1", name)
    assert r.rc == 0, r
    r = docker("exec", name, "wc", "-l", "/count")
    assert r.out.split()[:1] == ["2"], r


def test_user_caps_readonly(docker):
    r = docker.run("sh", "-c", "id -u; touch /x 2>&1; touch /run/y && echo tmpfs-ok; "
                   "grep CapBnd /proc/self/status",
                   opts=("--rm", "-u", "1000", "--read-only", "--tmpfs", "/run:mode=1777",
                         "--cap-drop", "ALL", "--cap-add", "NET_RAW"))
    assert r.rc == 0 and r.out.splitlines()[0] == "1000", r
    assert "Read-only file system" in r.out and "tmpfs-ok" in r.out, r
    assert r.out.split()[-1] == "0000000000002000", r


def test_volume_ulimit_sysctl_shm(docker, clients_base, new_id):
    host_dir = os.path.join(clients_base, new_id("vol"))
    os.makedirs(host_dir)
    with open(os.path.join(host_dir, "in"), "w") as f:
        f.write("from-host\n")
    r = docker.run("sh", "-c", "cat /data/in; echo out > /data/out; ulimit -n; "
                   "cat /proc/sys/net/ipv4/ip_forward; df -k /dev/shm | tail -1; "
                   "cat /proc/self/oom_score_adj; hostname",
                   opts=("--rm", "-v", f"{host_dir}:/data", "--ulimit", "nofile=512:512",
                         "--sysctl", "net.ipv4.ip_forward=1", "--shm-size", "16m",
                         "--oom-score-adj", "300", "--hostname", "boxy"))
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[:3] == ["from-host", "512", "1"], r
    assert lines[3].split()[1] == "16384" and lines[4:] == ["300", "boxy"], r
    with open(os.path.join(host_dir, "out")) as f:
        assert f.read() == "out\n"


def test_network_host(docker):
    with open("/proc/sys/kernel/hostname") as f:
        hostname = f.read().strip()
    r = docker.run("hostname", opts=("--rm", "--network", "host"))
    assert (r.rc, r.out.strip()) == (0, hostname), r


def test_join_namespaces_of_container(docker, new_id):
    """--pid/--ipc/--network container:X: namespaces joined by path."""
    name = new_id()
    docker.detached(name, "sh", "-c", "echo shared > /dev/shm/m; sleep 1000",
                    opts=("--ipc", "shareable"))
    r = docker.run("sh", "-c", "ps -o args | grep -c '[s]leep 1000'; cat /dev/shm/m",
                   opts=("--rm", "--pid", f"container:{name}", "--ipc", f"container:{name}"))
    assert (r.rc, r.out.split()) == (0, ["1", "shared"]), r


def _a_disk() -> str:
    """A whole disk of this machine (blkio throttling wants one, not a partition)."""
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "ram", "zram", "nbd")) and os.path.exists(f"/dev/{name}"):
            return f"/dev/{name}"
    return "/dev/vda"


BLOCK = _a_disk()


def _major_minor(dev: str) -> str:
    rdev = os.stat(dev).st_rdev
    return f"{os.major(rdev)}:{os.minor(rdev)}"


def test_resources(docker, new_id):
    """docker's resource flags, as cgroup v1 values (runc's translation is the reference)."""
    name = new_id()
    cid = docker.detached(name, "sleep", "1000", opts=(
        "--memory", "96m", "--memory-reservation", "48m", "--memory-swap", "192m",
        "--memory-swappiness", "10", "--cpu-shares", "512", "--cpu-period", "50000",
        "--cpu-quota", "25000", "--cpuset-cpus", "0", "--cpuset-mems", "0",
        "--pids-limit", "33", "--device-read-bps", f"{BLOCK}:1mb",
        "--device", "/dev/null:/dev/xnull:rw", "--init"))
    cg = f"docker/{cid}"
    want = {
        "memory/memory.limit_in_bytes": "100663296", "memory/memory.soft_limit_in_bytes":
        "50331648", "memory/memory.memsw.limit_in_bytes": "201326592",
        "memory/memory.swappiness": "10", "cpu/cpu.shares": "512", "cpu/cpu.cfs_period_us":
        "50000", "cpu/cpu.cfs_quota_us": "25000", "cpuset/cpuset.cpus": "0",
        "cpuset/cpuset.mems": "0", "pids/pids.max": "33",
        "blkio/blkio.throttle.read_bps_device": f"{_major_minor(BLOCK)} 1048576",
    }
    got = {}
    for rel in want:
        ctrl, f = rel.split("/")
        with open(f"{cl.CGROUP_ROOT}/{ctrl}/{cg}/{f}") as fh:
            got[rel] = fh.read().strip()
    assert got == want
    with open(f"{cl.CGROUP_ROOT}/devices/{cg}/devices.list") as fh:
        assert any(line.startswith("c 1:3 rw") for line in fh), "--device not allowed"
    r = docker("exec", name, "sh", "-c", "echo x > /dev/xnull && echo ok; ps -o args")
    assert r.rc == 0 and "ok" in r.out and "/sbin/docker-init" in r.out.replace(
        "/dev/init", "/sbin/docker-init"), r


def test_default_device_rules(docker, rt):
    """runc appends its AllowedDevices to every config's device rules: `c *:* m`
    and `b *:* m` (mknod of any node; using it still needs its own rule) and
    `c 10:200 rwm` (/dev/net/tun: VPN images mknod it themselves with
    --cap-add NET_ADMIN and no --device). pyrunc appends the tun rule but, by
    design (tests/security/: device rules default to deny), not the
    mknod-anything rules: an unlisted block node cannot even be made."""
    r = docker.run("sh", "-c", "mknod /tmp/zero c 1 5 && head -c 3 /tmp/zero | wc -c && "
                   "mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && "
                   "(cat /dev/net/tun; true) 2>&1; mknod /tmp/blk b 7 0 2>&1 && echo blk-ok",
                   opts=("--rm", "--cap-add", "NET_ADMIN"))
    assert r.rc in (0, 1) and r.out.split()[0] == "3", r
    assert "cat: /dev/net/tun: Operation not permitted" not in r.out, r  # tun opens
    if rt.name == "pyrunc":
        assert "blk-ok" not in r.out and "Operation not permitted" in r.out, r
    else:
        assert "blk-ok" in r.out, r


def test_restart_policy(docker, new_id):
    """--restart on-failure:2: dockerd creates the container again, with the same
    id, right after the runtime's delete."""
    name = new_id()
    docker.detached(name, "sh", "-c", "date >> /count; exit 1", opts=("--restart", "on-failure:2"))
    cl.wait_for(lambda: docker.inspect(name)["RestartCount"] == 2
                and docker.state(name)["Status"] == "exited", timeout=30, what="two restarts")
    r = docker("start", "-a", name)  # one more run of the same container
    assert r.rc == 1, r


def test_healthcheck(docker, new_id):
    """A health check is an exec every interval (runtime `exec --detach` each time)."""
    name = new_id()
    docker.detached(name, "sleep", "1000", opts=("--health-cmd", "test -e /proc/1/status",
                                                  "--health-interval", "1s"))
    cl.wait_for(lambda: docker.state(name).get("Health", {}).get("Status") == "healthy",
                timeout=30, what="healthy")


def test_signals(docker, new_id):
    """`docker kill -s HUP` (kill <id> 1) reaches the container's handler."""
    name = new_id()
    docker.detached(name, "sh", "-c", 'trap "echo got-hup; exit 4" HUP; '
                    'while :; do sleep 0.1; done')
    time.sleep(0.3)
    r = docker("kill", "-s", "HUP", name)
    assert r.rc == 0, r
    cl.wait_for(lambda: docker.state(name)["Status"] == "exited", what="exited")
    assert docker.state(name)["ExitCode"] == 4
    assert "got-hup" in docker("logs", name).out


def test_cgroupns_private(docker):
    r = docker.run("sh", "-c", "grep memory /proc/self/cgroup; readlink /proc/self/ns/cgroup",
                   opts=("--rm", "--cgroupns", "private"))
    assert r.rc == 0 and r.out.splitlines()[0].endswith(":memory:/"), r
    assert r.out.splitlines()[1] != os.readlink("/proc/self/ns/cgroup"), r


def test_shared_volume_propagation(docker, clients_base, new_id):
    """-v SRC:DST:rshared (docker sets linux.rootfsPropagation "shared" and the
    bind's "rshared"; Kubernetes' Bidirectional mountPropagation is the same):
    mounts propagate both ways. SRC is our own bind mount, made shared."""
    src = os.path.join(clients_base, new_id("prop"))
    os.makedirs(os.path.join(src, "hsub"))
    cl.run(["mount", "--bind", src, src], check=True)
    try:
        cl.run(["mount", "--make-rshared", src], check=True)
        name = new_id()
        docker.detached(name, "sleep", "1000", opts=("-v", f"{src}:/x:rshared", "--cap-add",
                                                      "SYS_ADMIN"))
        cl.run(["mount", "-t", "tmpfs", "host-made", os.path.join(src, "hsub")], check=True)
        r = docker("exec", name, "sh", "-c", "grep -c ' /x/hsub ' /proc/self/mountinfo; "
                   "mkdir -p /x/csub && mount -t tmpfs ctr-made /x/csub && echo mounted")
        assert r.out.split() == ["1", "mounted"], r
        assert os.path.join(src, "csub") in cl.mounts_under(src), cl.mounts_under(src)
    finally:
        docker.cleanup()
        docker.names = []
        cl.unmount_under(src)


def test_rm_force_paused(docker, new_id):
    name = new_id()
    docker.detached(name, "sleep", "1000")
    pid = docker.state(name)["Pid"]
    assert docker("pause", name).rc == 0
    r = docker("rm", "-f", name)
    assert r.rc == 0, r
    cl.wait_for(lambda: not os.path.exists(f"/proc/{pid}/exe"), what="the init gone")


def test_unlimited_values(docker, new_id):
    """-1 means unlimited: --memory-swap -1 (swap -1 in config.json), and
    `docker update --pids-limit -1` / `--memory-swap -1` after limits."""
    name = new_id()
    cid = docker.detached(name, "sleep", "1000", opts=("--memory", "64m", "--memory-swap", "-1",
                                                       "--pids-limit", "20"))
    cg = f"docker/{cid}"
    assert _read(f"memory/{cg}/memory.limit_in_bytes") == 64 << 20
    assert _read(f"memory/{cg}/memory.memsw.limit_in_bytes") > 1 << 60
    r = docker("update", "--pids-limit", "-1", "--memory", "128m", "--memory-swap", "-1", name)
    assert r.rc == 0, r
    with open(f"{cl.CGROUP_ROOT}/pids/{cg}/pids.max") as f:
        assert f.read().strip() == "max"
    assert _read(f"memory/{cg}/memory.limit_in_bytes") == 128 << 20


def test_commit_pauses(docker, new_id):
    """`docker commit` pauses the container around the copy (pause, resume)."""
    name = new_id()
    docker.detached(name, "sh", "-c", "echo data > /made; sleep 1000")
    cl.wait_for(lambda: docker("exec", name, "cat", "/made").out == "data\n", what="/made")
    image = f"{cl.IMAGE}-{name}:latest"
    r = docker("commit", name, image)
    try:
        assert r.rc == 0, r
        assert docker.state(name)["Status"] == "running"
        r = docker.run("cat", "/made", opts=("--rm",), image=image)
        assert (r.rc, r.out) == (0, "data\n"), r
    finally:
        docker("rmi", "-f", image)


def test_update_error_message(docker, new_id):
    """A failed `update`: dockerd shows the runtime's message (go-runc reads
    its output; no `unable to retrieve OCI runtime error`)."""
    name = new_id()
    docker.detached(name, "sh", "-c", "head -c 24m /dev/zero > /dev/shm/fill; sleep 1000",
                    opts=("--memory", "64m", "--memory-swap", "64m"))
    cl.wait_for(lambda: docker("exec", name, "ls", "-l", "/dev/shm/fill").out.split()[4:5]
                == [str(24 << 20)], what="24 MiB of shm charged to the container")
    # the kernel refuses a limit below what cannot be reclaimed (EBUSY)
    r = docker("update", "--memory", "8m", "--memory-swap", "8m", name)
    assert r.rc != 0, r
    assert "unable to retrieve OCI runtime error" not in r.err, r
    assert "memory limit" in r.err and "usage" in r.err, r  # runc and pyrunc say why


def test_exec_stdin(docker, new_id):
    """`docker exec -i`: the exec'd process gets our stdin and sees its EOF
    (nothing of the runtime's keeps the pipe open)."""
    name = new_id()
    docker.detached(name, "sleep", "1000")
    r = docker("exec", "-i", name, "sh", "-c", "cat; echo eof-seen", input="in\n", timeout=30)
    assert (r.rc, r.out) == (0, "in\neof-seen\n"), r
