"""exec, terminals and console sockets with real containers."""

import json
import os
import subprocess
import time

import pytest
from consoles import ConsoleSocket, read_until
from helpers import need_shared

SLEEPER = ("sh", "-c", "while :; do sleep 1; done")


@pytest.fixture
def running(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-x", check=True)
    return runtime


def ns_of(pid: int | str) -> dict[str, str]:
    return {n: os.readlink(f"/proc/{pid}/ns/{n}") for n in ("pid", "net", "ipc", "uts", "mnt")}


def test_exec_joins_namespaces_and_cgroup(running):
    init = running.state("ct-x")["pid"]
    p = running("exec", "ct-x", "sh", "-c",
                "for n in pid net ipc uts mnt; do readlink /proc/self/ns/$n; done; "
                "cat /proc/self/cgroup")
    assert p.returncode == 0, p.err
    lines = p.out.splitlines()
    assert lines[:5] == list(ns_of(init).values())
    with open(f"/proc/{init}/cgroup") as f:
        assert sorted(lines[5:]) == sorted(f.read().splitlines())


def test_exec_exit_status(running):
    assert running("exec", "ct-x", "sh", "-c", "exit 42").returncode == 42
    p = running("exec", "ct-x", "sh", "-c", "kill -KILL $$")
    assert p.returncode == 128 + 9


def test_exec_flags(running):
    p = running("exec", "--cwd", "/tmp", "-e", "A=1", "--env", "B=two", "-u", "1000:1000",
                "--additional-gids", "5", "--cap", "CAP_SYS_ADMIN", "--no-new-privs",
                "ct-x", "sh", "-c", "pwd; echo $A $B; id -u; id -g; id -G; "
                "grep -E 'CapBnd|CapInh|NoNewPrivs' /proc/self/status")
    assert p.returncode == 0, p.err
    lines = p.out.splitlines()
    assert lines[0] == "/tmp"
    assert lines[1] == "1 two"
    assert lines[2:4] == ["1000", "1000"]
    assert sorted(lines[4].split()) == ["1000", "5"]
    caps = {line.split(":")[0]: int(line.split()[1], 16) for line in lines[5:7]}
    assert caps["CapBnd"] & (1 << 21)  # CAP_SYS_ADMIN added to the bounding set
    assert caps["CapInh"] == 0  # never inheritable (CVE-2022-29162)
    assert lines[7].split() == ["NoNewPrivs:", "1"]


def test_exec_process_file(running, tmp_path):
    proc = {"args": ["sh", "-c", "echo $X; pwd; id -u"], "env": ["X=from-file", "PATH=/bin"],
            "cwd": "/etc", "user": {"uid": 7, "gid": 7}, "terminal": False}
    f = tmp_path / "process.json"
    f.write_text(json.dumps(proc))
    p = running("exec", "--process", str(f), "ct-x")
    assert p.returncode == 0, p.err
    assert p.out.splitlines() == ["from-file", "/etc", "7"]


def test_exec_client_process_fixtures(running, tmp_path):
    """The process.json files containerd, docker and podman wrote (made runnable)."""
    ref = need_shared("reference", "client-specs")
    for name in ("ctr-exec-process.json", "docker-exec-process.json",
                 "podman-exec-process.json"):
        with open(os.path.join(ref, name)) as f:
            proc = json.load(f)
        proc["args"] = ["sh", "-c", "echo ran"]
        proc["terminal"] = False
        proc.pop("consoleSize", None)
        proc["cwd"] = "/"
        for rl in proc.get("rlimits", []):
            rl["soft"] = min(rl["soft"], 1024)
            rl["hard"] = min(rl["hard"], 1024)
        f = tmp_path / name
        f.write_text(json.dumps(proc))
        p = running("exec", "--process", str(f), "ct-x")
        assert p.returncode == 0 and p.out == "ran\n", (name, p.err)


def test_exec_detach_pid_file(running, tmp_path):
    pidfile = tmp_path / "exec.pid"
    running("exec", "-d", "--pid-file", str(pidfile), "ct-x", "sleep", "100", check=True)
    pid = int(pidfile.read_text())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read() == b"sleep\x00100\x00"
    init = running.state("ct-x")["pid"]
    assert ns_of(pid) == ns_of(init)


def test_exec_errors(running, bundle):
    p = running("exec", "ct-x", "/nonexistent")
    assert p.returncode == 255
    assert 'exec: "/nonexistent": stat /nonexistent: no such file or directory' in p.err
    p = running("exec", "ct-x", "/etc/passwd")
    assert p.returncode == 255 and "permission denied" in p.err
    p = running("exec", "ct-nope", "true")
    assert p.returncode == 255 and "does not exist" in p.err
    p = running("exec", "-u", "root", "ct-x", "true")
    assert p.returncode == 255 and "uid" in p.err
    p = running("exec", "ct-x")
    assert p.returncode != 0
    running("kill", "ct-x", "KILL", check=True)
    running.wait_stopped("ct-x")
    p = running("exec", "ct-x", "true")
    assert p.returncode == 255 and "stopped" in p.err


@pytest.mark.parametrize("user", ["-1", "4294967295", "99999999999", "1:", ":1", "1:2:3", "a",
                                  "0x10", " 1", "1 ", "１"])
def test_exec_user_parsing_refuses(running, user):
    p = running("exec", "-u", user, "ct-x", "id", "-u")
    assert p.returncode == 255, (user, p.out)
    assert p.out == ""


def test_exec_no_host_fds(running):
    # the shell checks its own fds with stat (listing the directory would open one)
    p = running("exec", "ct-x", "sh", "-c",
                "i=0; while [ $i -lt 256 ]; do [ -e /proc/$$/fd/$i ] && echo $i; i=$((i+1)); done")
    assert p.out.split() == ["0", "1", "2"], p.out




def test_terminal_through_console_socket(runtime, bundle, tmp_path):
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["consoleSize"] = {"height": 33, "width": 101}
    bundle.set_args("sh")
    sock = ConsoleSocket(str(tmp_path / "console.sock"))
    try:
        runtime("create", "-b", str(bundle), "--console-socket", sock.path, "ct-tty",
                check=True)
        master = sock.wait_master()
        assert sock.fd_count == 1
        runtime("start", "ct-tty", check=True)
        os.write(master, b"tty; stty size; ls -l /dev/console | cut -c1; echo DONE$((1+1))\n")
        out = read_until(master, b"DONE2").decode()
        assert "/dev/pts/0" in out
        assert "33 101" in out
        os.write(master, b"exit 5\n")
        runtime.wait_stopped("ct-tty")
    finally:
        sock.close()


def test_exec_tty_through_console_socket(running, tmp_path):
    sock = ConsoleSocket(str(tmp_path / "exec.sock"))
    try:
        running("exec", "-t", "-d", "--console-socket", sock.path, "ct-x", "sh", check=True)
        master = sock.wait_master()
        os.write(master, b"tty; echo OK$((2+3))\n")
        out = read_until(master, b"OK5").decode()
        assert "/dev/pts/" in out
        os.write(master, b"exit\n")
    finally:
        sock.close()


def test_terminal_run_without_console_socket_needs_foreground(runtime, bundle):
    bundle.config["process"]["terminal"] = True
    bundle.set_args("true")
    p = runtime("run", "-d", "-b", str(bundle), "ct-t")
    assert p.returncode == 1 and "console-socket" in p.err


def test_foreground_terminal_run_in_a_pty(runtime, bundle):
    """`pyrunc run` of a terminal container from a terminal: raw relay both ways."""
    import pty

    bundle.config["process"]["terminal"] = True
    bundle.set_args("sh")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(runtime.cmd[0], [*runtime.cmd, "--root", runtime.root, "run", "-b",
                                   str(bundle), "ct-fg"])
    runtime.ids.add("ct-fg")
    try:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 21, 77, 0, 0))
        time.sleep(0.3)
        os.write(fd, b"stty size; echo ANS$((40+2))\n")
        out = read_until(fd, b"ANS42").decode()
        assert "21 77" in out
        os.write(fd, b"exit 3\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3
    finally:
        os.close(fd)


def test_signal_forwarding(runtime, bundle):
    bundle.set_args("sh", "-c", "trap 'echo got-usr1; exit 9' USR1; while :; do sleep 0.1; done")
    proc = subprocess.Popen([*runtime.cmd, "--root", runtime.root, "run", "-b", str(bundle),
                             "ct-sig"], stdout=subprocess.PIPE)
    runtime.ids.add("ct-sig")
    for _ in range(200):
        if os.path.exists(os.path.join(runtime.root, "ct-sig", "state.json")) and \
                runtime.state("ct-sig")["status"] == "running":
            break
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(10)
    assert proc.wait(timeout=20) == 9
    assert proc.stdout.read() == b"got-usr1\n"


def _pidfd_server(path: str) -> dict:
    import array
    import socket
    import threading

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    got: dict = {"fds": []}

    def accept() -> None:
        for _ in range(2):
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                fds = array.array("i")
                _, anc, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(4))
                for level, kind, data in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(data)
                got["fds"].extend(fds)

    got["thread"] = threading.Thread(target=accept, daemon=True)
    got["thread"].start()
    got["server"] = server
    return got


def test_pidfd_socket_for_create_and_exec(runtime, bundle, tmp_path):
    import signal

    got = _pidfd_server(str(tmp_path / "pidfd.sock"))
    try:
        bundle.set_args(*SLEEPER)
        runtime("run", "-d", "--pidfd-socket", str(tmp_path / "pidfd.sock"), "-b", str(bundle),
                "ct-pidfd", check=True)
        runtime("exec", "-d", "--pidfd-socket", str(tmp_path / "pidfd.sock"), "ct-pidfd",
                "sleep", "100", check=True)
        got["thread"].join(10)
        assert len(got["fds"]) == 2
        for fd in got["fds"]:
            assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[pidfd]"
            signal.pidfd_send_signal(fd, 0)  # a live process
        # the first is the container's init
        with open(f"/proc/self/fdinfo/{got['fds'][0]}") as f:
            pid = int(next(line for line in f if line.startswith("Pid:")).split()[1])
        assert pid == running_pid(runtime, "ct-pidfd")
    finally:
        got["server"].close()
        for fd in got["fds"]:
            os.close(fd)


def running_pid(runtime, cid: str) -> int:
    return runtime.state(cid)["pid"]


def test_socket_activation_fds(runtime, bundle, tmp_path):
    """LISTEN_FDS in pyrunc's environment: the fds reach the container from 3,
    with LISTEN_FDS and LISTEN_PID=1 (the container's init) set, as runc does."""
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    for fd in (r1, w1, r2, w2):
        os.set_inheritable(fd, True)
    bundle.set_args("sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; "
                    "for i in 3 4 5; do [ -e /proc/$$/fd/$i ] && echo fd$i; done; true")
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "LISTEN_PID"}
    env["LISTEN_FDS"] = "2"
    # the caller's fds 3 and 4 are what it hands over
    import sys

    handover = (f"import os; os.dup2({r1}, 3); os.dup2({r2}, 4); "
                f"os.execv({runtime.cmd[0]!r}, [{runtime.cmd[0]!r}, '--root', "
                f"{runtime.root!r}, 'run', '-b', {str(bundle)!r}, 'ct-listen'])")
    p = subprocess.run([sys.executable, "-c", handover], env=env, pass_fds=(r1, r2),
                       capture_output=True, text=True, timeout=60)
    runtime.ids.add("ct-listen")
    for fd in (r1, w1, r2, w2):
        os.close(fd)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["2", "1", "fd3", "fd4"]


def test_exec_into_a_sub_cgroup(running):
    init = running.state("ct-x")["pid"]
    with open(f"/proc/{init}/cgroup") as f:
        pids_path = next(line.split(":", 2)[2].strip() for line in f if ":pids:" in line)
    sub = os.path.join("/sys/fs/cgroup/pids", pids_path.lstrip("/"), "sub")
    os.mkdir(sub)
    try:
        p = running("exec", "--cgroup", "pids:sub", "ct-x", "cat", "/proc/self/cgroup")
        assert p.returncode == 0, p.err
        lines = p.out.splitlines()
        assert any(line.endswith(":pids:" + pids_path + "/sub") for line in lines), lines
        assert any(line.endswith(":memory:" + pids_path.replace(pids_path, "")) or ":memory:" in
                   line and not line.endswith("/sub") for line in lines)
        p = running("exec", "--cgroup", "nothere", "ct-x", "true")
        assert p.returncode == 255 and "no such file or directory" in p.err
        p = running("exec", "--cgroup", "../escape", "ct-x", "true")
        assert p.returncode == 255 and "not a sub cgroup path" in p.err
    finally:
        for _ in range(100):
            try:
                os.rmdir(sub)
                break
            except OSError:
                time.sleep(0.05)


def test_exec_into_a_paused_container(running):
    running("pause", "ct-x", check=True)
    try:
        p = running("exec", "ct-x", "true")
        assert p.returncode == 255 and "paused" in p.err and "--ignore-paused" in p.err
        # with --ignore-paused the process is made, in the frozen cgroup: detach
        running("exec", "-d", "--ignore-paused", "ct-x", "true", check=True)
    finally:
        running("resume", "ct-x", check=True)


def test_exec_needs_two_pids_of_the_containers_limit(runtime, bundle):
    """exec puts only the helper and the new process in the container's cgroup
    (stage 1, which talks to pyrunc, stays out): with 2 processes running and
    pids.limit 4 it works; with 3 the helper cannot make the process."""
    bundle.config["linux"]["resources"] = {"pids": {"limit": 4}}
    bundle.set_args("sh", "-c", "sleep 1000 & wait")
    runtime("run", "-d", "-b", str(bundle), "ct-pids", check=True)
    for _ in range(10):  # and the process may fork at once: the helper is reaped by then
        p = runtime("exec", "ct-pids", "sh", "-c", "sleep 0 & wait; echo ok")
        assert p.returncode == 0 and p.out == "ok\n", p.err
    runtime("update", "--pids-limit", "3", "ct-pids", check=True)
    p = runtime("exec", "ct-pids", "echo", "ok")
    assert p.returncode == 255 and "Resource temporarily unavailable" in p.err, (p.out, p.err)
    assert p.err.count("\n") == 1
