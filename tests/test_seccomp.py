"""linux.seccomp, checked from inside real containers: errno rules, argument
conditions, every action, the Docker and Podman profiles, noNewPrivileges
false with a non-root user, the SCMP_ACT_NOTIFY listener, and validation."""

import copy
import fcntl
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest
from helpers import need_shared, shared_path

CLIENT_SPECS = shared_path("reference", "client-specs")

# The test syscall: sched_yield (24) ignores its arguments, which the filter
# still sees, and neither busybox sh nor a static binary's startup makes it.
TEST_SC = "sched_yield"
OTHER_SC = "getpgrp"  # 111: the same, for a second rule
EPERM, ENOSPC, ENOSYS = 1, 28, 38

# sc NR [ARG...]: make one syscall; numeric args are passed as numbers, others
# as string pointers; prints "ok" or "errno N".
SC_SOURCE = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv)
{
	long a[6] = { 0 };
	if (argc < 2)
		return 2;
	for (int i = 2; i < argc && i < 8; i++)
		a[i - 2] = (argv[i][0] >= '0' && argv[i][0] <= '9') ?
			(long)strtoull(argv[i], NULL, 0) : (long)argv[i];
	long r = syscall(strtol(argv[1], NULL, 0), a[0], a[1], a[2], a[3], a[4], a[5]);
	if (r < 0)
		printf("errno %d\n", errno);
	else
		printf("ok\n");
	return 0;
}
"""

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64",
                                reason="syscall numbers and profiles are x86_64's")


@pytest.fixture(scope="session")
def sc_binary(tmp_path_factory):
    cc = shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler for the syscall helper")
    d = tmp_path_factory.mktemp("sc")
    (d / "sc.c").write_text(SC_SOURCE)
    subprocess.run([cc, "-static", "-O2", "-o", str(d / "sc"), str(d / "sc.c")], check=True)
    return d / "sc"


@pytest.fixture
def sbundle(bundle, sc_binary):
    """The busybox bundle with /bin/sc."""
    shutil.copy(sc_binary, bundle.rootfs / "bin" / "sc")
    return bundle


def profile(default="SCMP_ACT_ALLOW", *rules, **extra) -> dict:
    return {"defaultAction": default, "syscalls": list(rules), **extra}


def rule(names, action="SCMP_ACT_ERRNO", **extra) -> dict:
    return {"names": [names] if isinstance(names, str) else names, "action": action, **extra}


def client_seccomp(client: str) -> dict:
    path = need_shared("reference", "client-specs", f"{client}-run-config.json")
    with open(path) as f:
        return json.load(f)["linux"]["seccomp"]


def run(runtime, bundle, seccomp, script: str, cid: str = "ct-sc"):
    bundle.config["root"]["readonly"] = False  # without the filter, mkdir would work
    bundle.config["linux"]["seccomp"] = seccomp
    bundle.set_args("sh", "-c", script)
    return runtime("run", "-b", str(bundle), cid)


def status_fields(text: str) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


# --- rules and errno ------------------------------------------------------------------


def test_denied_syscall_returns_errno(runtime, bundle):
    sec = profile("SCMP_ACT_ALLOW", rule(["mkdir", "mkdirat"], errnoRet=EPERM))
    p = run(runtime, bundle, sec, "mkdir /tmp/x; echo rc=$?; touch /tmp/y && echo touched; "
            "grep Seccomp: /proc/self/status")
    assert p.returncode == 0, p.err
    assert "Operation not permitted" in p.err
    assert p.out.split() == ["rc=1", "touched", "Seccomp:", "2"]


def test_errno_ret_and_default_eperm(runtime, sbundle):
    sec = profile("SCMP_ACT_ALLOW", rule(["mkdir", "mkdirat"], errnoRet=ENOSPC),
                  rule(TEST_SC))
    p = run(runtime, sbundle, sec, "mkdir /tmp/x; sc 24")
    assert "No space left on device" in p.err
    assert p.out == f"errno {EPERM}\n"  # errnoRet left out: EPERM


def test_default_errno_with_allow_list(runtime, sbundle):
    """defaultAction ERRNO with defaultErrnoRet and Docker's allow list, less mkdir."""
    sec = copy.deepcopy(client_seccomp("docker"))
    for r in sec["syscalls"]:
        r["names"] = [n for n in r["names"] if n not in ("mkdir", "mkdirat")]
    sec["syscalls"] = [r for r in sec["syscalls"] if r["names"]]
    sec["defaultErrnoRet"] = ENOSPC
    p = run(runtime, sbundle, sec, "mkdir /tmp/x; echo rc=$?; sc 272 0; echo ok")
    assert p.returncode == 0, p.err
    assert "No space left on device" in p.err
    assert p.out == f"rc=1\nerrno {ENOSPC}\nok\n"


def test_unknown_syscall_names_are_skipped(runtime, sbundle):
    sec = profile("SCMP_ACT_ALLOW", rule(["no_such_syscall_42", TEST_SC, "bogus"],
                                         errnoRet=ENOSPC))
    p = run(runtime, sbundle, sec, "sc 24")
    assert p.returncode == 0, p.err
    assert p.out == f"errno {ENOSPC}\n"


# --- argument conditions -------------------------------------------------------------------


@pytest.mark.parametrize("op,value,two,hits,misses", [
    ("SCMP_CMP_EQ", 8, None, [8], [0, 9, 8 | 1 << 32]),
    ("SCMP_CMP_NE", 8, None, [0, 9, 1 << 40], [8]),
    ("SCMP_CMP_LT", 1 << 33, None, [0, (1 << 33) - 1], [1 << 33, 1 << 34]),
    ("SCMP_CMP_LE", 100, None, [0, 100], [101, 1 << 63]),
    ("SCMP_CMP_GE", 1 << 63, None, [1 << 63, (1 << 64) - 1], [0, (1 << 63) - 1]),
    ("SCMP_CMP_GT", 100, None, [101, 1 << 32], [0, 100]),
    ("SCMP_CMP_MASKED_EQ", 0xF0, 0x30, [0x30, 0x13F, 0x3A], [0x20, 0x40, 0]),
])
def test_argument_operators(runtime, sbundle, op, value, two, hits, misses):
    arg = {"index": 1, "value": value, "op": op}
    if two is not None:
        arg["valueTwo"] = two
    sec = profile("SCMP_ACT_ALLOW", rule(TEST_SC, errnoRet=ENOSPC, args=[arg]))
    calls = [v for v in hits + misses]
    script = "; ".join(f"sc 24 0 {v}" for v in calls)
    p = run(runtime, sbundle, sec, script)
    assert p.returncode == 0, p.err
    want = [f"errno {ENOSPC}"] * len(hits) + ["ok"] * len(misses)
    assert p.out.splitlines() == want


def test_personality_only_with_one_value(runtime, sbundle):
    sec = profile("SCMP_ACT_ALLOW", rule("personality", errnoRet=ENOSPC,
                                         args=[{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]))
    p = run(runtime, sbundle, sec, "sc 135 8; sc 135 0xffffffff; sc 135 0")
    assert p.out.splitlines() == [f"errno {ENOSPC}", "ok", "ok"]


def test_args_on_the_same_index_are_ored_and_on_different_ones_anded(runtime, sbundle):
    """As runc: conditions that repeat an index are separate rules."""
    same = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]
    both = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]
    sec = profile("SCMP_ACT_ALLOW", rule(TEST_SC, errnoRet=ENOSPC, args=same),
                  rule(OTHER_SC, errnoRet=ENOSPC, args=both))
    p = run(runtime, sbundle, sec, "sc 24 1; sc 24 2; sc 24 3; sc 111 1 2; sc 111 1 3; "
            "sc 111 0 2")
    assert p.out.splitlines() == [f"errno {ENOSPC}"] * 2 + ["ok"] + [f"errno {ENOSPC}"] + [
        "ok"] * 2


def test_kill_with_a_signal_argument(runtime, bundle):
    sec = profile("SCMP_ACT_ALLOW", rule("kill", args=[
        {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]))
    p = run(runtime, bundle, sec, "kill -0 $$; echo rc=$?; kill -CONT $$; echo rc=$?")
    assert p.out == "rc=1\nrc=0\n"
    assert "Operation not permitted" in p.err


# --- actions -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"])
def test_actions_that_kill_by_sigsys(runtime, sbundle, action):
    sec = profile("SCMP_ACT_ALLOW", rule(TEST_SC, action))
    p = run(runtime, sbundle, sec, "sc 24; echo status=$?; sc 111")
    assert p.returncode == 0, p.err
    assert p.out == "status=159\nok\n"  # 128 + SIGSYS


def test_kill_of_the_container_process(runtime, sbundle):
    sbundle.config["linux"]["seccomp"] = profile("SCMP_ACT_ALLOW", rule(TEST_SC,
                                                                        "SCMP_ACT_KILL"))
    sbundle.set_args("sc", "24")
    p = runtime("run", "-b", str(sbundle), "ct-sc")
    assert p.returncode == 128 + 31, (p.returncode, p.err)


@pytest.mark.parametrize("action,want", [
    ("SCMP_ACT_LOG", "ok"), ("SCMP_ACT_ALLOW", "ok"),
    ("SCMP_ACT_TRACE", f"errno {ENOSYS}"),  # no tracer: ENOSYS
])
def test_log_allow_trace(runtime, sbundle, action, want):
    sec = profile("SCMP_ACT_ERRNO" if action == "SCMP_ACT_ALLOW" else "SCMP_ACT_ALLOW")
    if action == "SCMP_ACT_ALLOW":  # an allow list: what sh and sc need
        docker = client_seccomp("docker")
        sec = copy.deepcopy(docker)
    sec["syscalls"].append(rule(TEST_SC, action))
    p = run(runtime, sbundle, sec, "sc 24")
    assert p.returncode == 0, p.err
    assert p.out == want + "\n"


def test_rule_with_the_default_action_is_redundant(runtime, sbundle):
    sec = profile("SCMP_ACT_ALLOW", rule(TEST_SC, "SCMP_ACT_ALLOW"),
                  rule(OTHER_SC, errnoRet=ENOSPC))
    p = run(runtime, sbundle, sec, "sc 24; sc 111")
    assert p.out == f"ok\nerrno {ENOSPC}\n"


def test_enosys_stub_for_syscalls_newer_than_the_profile(runtime, sbundle):
    """As runc: with a denying default action and listed architectures,
    syscalls above the profile's highest get ENOSYS, older ones the default."""
    sec = copy.deepcopy(client_seccomp("docker"))
    p = run(runtime, sbundle, sec, "sc 1000; sc 272 0")
    assert p.out == f"errno {ENOSYS}\nerrno {EPERM}\n"
    del sec["architectures"]  # runc adds the stub for listed architectures only
    p = run(runtime, sbundle, sec, "sc 1000; sc 272 0", cid="ct-sc2")
    assert p.out == f"errno {EPERM}\nerrno {EPERM}\n"


LITTLE_ENDIAN_ARCHS = {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
                       "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
                       "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64"}


def test_architectures_of_features(runtime, sbundle):
    """Every little-endian architecture of `features` loads (in one filter);
    libseccomp cannot mix byte orders, so the others are a clear error."""
    feats = json.loads(runtime("features", check=True).out)["linux"]["seccomp"]
    assert feats["enabled"] is True
    assert set(feats["supportedFlags"]) <= set(feats["knownFlags"])
    assert LITTLE_ENDIAN_ARCHS < set(feats["archs"])
    sec = profile("SCMP_ACT_ALLOW", rule(TEST_SC, errnoRet=ENOSPC),
                  architectures=sorted(LITTLE_ENDIAN_ARCHS))
    p = run(runtime, sbundle, sec, "sc 24")
    assert p.returncode == 0, p.err
    assert p.out == f"errno {ENOSPC}\n"
    big = sorted(set(feats["archs"]) - LITTLE_ENDIAN_ARCHS)
    sec["architectures"] = ["SCMP_ARCH_X86_64", big[0]]
    p = run(runtime, sbundle, sec, "true", cid="ct-sc2")
    assert p.returncode == 1 and "byte order" in p.err, p.err


def test_flags(runtime, sbundle):
    sec = profile("SCMP_ACT_ALLOW", rule(TEST_SC, errnoRet=ENOSPC), flags=[
        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    p = run(runtime, sbundle, sec, "sc 24")
    assert p.returncode == 0, p.err
    assert p.out == f"errno {ENOSPC}\n"


# --- Docker's and Podman's profiles ----------------------------------------------------------


def test_docker_profile(runtime, sbundle):
    sec = client_seccomp("docker")
    p = run(runtime, sbundle, sec, "echo ok; unshare -U true; echo unshare=$?; sc 272 0; "
            "sc 135 0xffffffff; sc 135 1; grep Seccomp: /proc/self/status")
    assert p.returncode == 0, p.err
    # unshare is allowed with CAP_SYS_ADMIN only; personality with some values
    assert p.out.splitlines() == ["ok", "unshare=1", f"errno {EPERM}", "ok",
                                  f"errno {EPERM}", "Seccomp:\t2"]
    assert "Operation not permitted" in p.err


def test_podman_profile(runtime, sbundle):
    sec = client_seccomp("podman")
    p = run(runtime, sbundle, sec, "echo ok; sc 246 0 0 0 0; sc 1000; sc 135 1")
    assert p.returncode == 0, p.err
    # kexec_load: errnoRet 1; unknown: defaultErrnoRet 38; personality(1): default
    assert p.out.splitlines() == ["ok", f"errno {EPERM}", f"errno {ENOSYS}",
                                  f"errno {ENOSYS}"]


# --- noNewPrivileges false: the filter needs CAP_SYS_ADMIN to load -------------------------


@pytest.mark.parametrize("user,caps", [
    ({"uid": 1000, "gid": 1000}, ["CAP_NET_BIND_SERVICE"]),
    ({"uid": 1000, "gid": 1000}, None),
    ({"uid": 0, "gid": 0}, ["CAP_KILL", "CAP_CHOWN"]),
])
def test_no_new_privileges_false(runtime, sbundle, user, caps):
    proc = sbundle.config["process"]
    proc["noNewPrivileges"] = False
    proc["user"] = user
    if caps is None:
        proc.pop("capabilities", None)
    else:
        proc["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted",
                                                  "inheritable", "ambient")}
    sec = profile("SCMP_ACT_ALLOW", rule(TEST_SC, errnoRet=ENOSPC))
    p = run(runtime, sbundle, sec, "sc 24; cat /proc/self/status")
    assert p.returncode == 0, p.err
    first, _, rest = p.out.partition("\n")
    assert first == f"errno {ENOSPC}"
    st = status_fields(rest)
    assert st["NoNewPrivs"] == "0" and st["Seccomp"] == "2"
    # CAP_SYS_ADMIN, kept to load the filter, is gone
    bits = {"CAP_KILL": 5, "CAP_CHOWN": 0, "CAP_NET_BIND_SERVICE": 10}
    want = 0 if caps is None else sum(1 << bits[c] for c in caps)  # ambient too
    assert int(st["CapEff"], 16) == want
    assert int(st["CapPrm"], 16) == want
    if caps is not None:
        assert int(st["CapBnd"], 16) == sum(1 << bits[c] for c in caps)


# --- SCMP_ACT_NOTIFY: the seccomp agent -----------------------------------------------------

SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif), 80 bytes
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp), 24 bytes


class Agent(threading.Thread):
    """A seccomp agent on a unix socket: takes the fd and the state, then
    answers every notification with `reply` (an errno, 0 for a fake success),
    or, with reply None, closes the fd after `hold` seconds."""

    def __init__(self, path: str, reply: int | None, hold: float = 0) -> None:
        super().__init__(daemon=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.reply, self.hold = reply, hold
        self.doc: dict = {}
        self.link = ""
        self.notified: list[tuple[int, int, int]] = []  # (pid, syscall nr, ppid)
        self.closed_at = 0.0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._serve()
        except BaseException as e:  # reported by the test
            self.error = e

    def _serve(self) -> None:
        self.server.settimeout(30)
        conn, _ = self.server.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 4)
            data = msg
            while chunk := conn.recv(1 << 16):  # the runtime closes after sending
                data += chunk
        assert len(fds) == 1, fds
        fd = fds[0]
        self.doc = json.loads(data)
        self.link = os.readlink(f"/proc/self/fd/{fd}")
        if self.reply is None:
            time.sleep(self.hold)
            self.closed_at = time.monotonic()
            os.close(fd)
            return
        try:
            while not self.stop.is_set():
                if not select.select([fd], [], [], 0.1)[0]:
                    continue
                buf = bytearray(80)
                try:
                    fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, buf, True)
                except OSError:
                    continue  # the process went away
                nid, pid = struct.unpack_from("<QI", buf)
                nr = struct.unpack_from("<i", buf, 16)[0]
                self.notified.append((pid, nr, _ppid(pid)))
                resp = bytearray(struct.pack("<QqiI", nid, 0, -self.reply, 0))
                try:
                    fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp, True)
                except OSError:
                    pass
        finally:
            os.close(fd)


def notify_profile(path: str, **extra) -> dict:
    return profile("SCMP_ACT_ALLOW", rule(["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY"),
                   listenerPath=path, **extra)


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except OSError:
        return -1


def test_notify_agent_answers(runtime, bundle, tmp_path):
    """The agent gets the notify fd and the state; a mkdir it answers with a
    fake success returns 0 without creating anything."""
    path = str(tmp_path / "agent.sock")
    agent = Agent(path, reply=0)
    agent.start()
    bundle.config["annotations"] = {"org.example": "x"}
    sec = notify_profile(path, listenerMetadata="MKDIR=fake", flags=[
        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    p = run(runtime, bundle, sec, "mkdir /tmp/x; echo rc=$?; test -d /tmp/x && echo made "
            "|| echo absent; ls /proc/self/fd | tr '\\n' ' '")
    agent.stop.set()
    agent.join(10)
    assert agent.error is None, agent.error
    assert p.returncode == 0, p.err
    assert p.out == "rc=0\nabsent\n0 1 2 3 "  # no agent socket, no notify fd (3: ls's)
    assert agent.link == "anon_inode:seccomp notify"
    doc = agent.doc
    assert doc["ociVersion"] == "1.3.0" and doc["fds"] == ["seccompFd"]
    assert doc["metadata"] == "MKDIR=fake"
    st = doc["state"]
    assert st["id"] == "ct-sc" and st["bundle"] == str(bundle)
    assert st["status"] == "running" and st["annotations"] == {"org.example": "x"}
    assert isinstance(doc["pid"], int) and doc["pid"] == st["pid"] > 1
    assert agent.notified, "no notification"
    pid, nr, ppid = agent.notified[0]
    assert nr in (83, 258)  # mkdir, mkdirat
    assert doc["pid"] in (pid, ppid)


def test_notify_agent_errno(runtime, bundle, tmp_path):
    path = str(tmp_path / "agent.sock")
    agent = Agent(path, reply=ENOSPC)
    agent.start()
    p = run(runtime, bundle, notify_profile(path), "mkdir /tmp/x; echo rc=$?")
    agent.stop.set()
    agent.join(10)
    assert agent.error is None, agent.error
    assert p.out == "rc=1\n"
    assert "No space left on device" in p.err


def test_notify_blocks_until_the_agent_closes_the_fd(runtime, bundle, tmp_path):
    path = str(tmp_path / "agent.sock")
    agent = Agent(path, reply=None, hold=1.5)
    agent.start()
    t0 = time.monotonic()
    p = run(runtime, bundle, notify_profile(path), "mkdir /tmp/x; echo rc=$?")
    took = time.monotonic() - t0
    agent.join(10)
    assert agent.error is None, agent.error
    assert agent.link == "anon_inode:seccomp notify"
    assert p.out == "rc=1\n"
    assert "Function not implemented" in p.err  # no listener left: ENOSYS
    assert took >= 1.4


def test_notify_with_create_and_start(runtime, bundle, tmp_path):
    """The listener is connected at create (host paths resolve there); the fd
    and the state come at start, with the pid `state` shows."""
    path = str(tmp_path / "agent.sock")
    agent = Agent(path, reply=0)
    agent.start()
    bundle.config["linux"]["seccomp"] = notify_profile(path)
    bundle.set_args("sh", "-c", "mkdir /tmp/x; sleep 30")
    runtime("create", "-b", str(bundle), "ct-sc", check=True)
    pid = runtime.state("ct-sc")["pid"]
    time.sleep(0.2)
    assert agent.doc == {}
    runtime("start", "ct-sc", check=True)
    deadline = time.monotonic() + 10
    while not agent.notified and time.monotonic() < deadline:
        time.sleep(0.05)
    runtime("kill", "ct-sc", "KILL", check=True)
    runtime.wait_stopped("ct-sc")
    runtime("delete", "ct-sc", check=True)
    agent.stop.set()
    agent.join(10)
    assert agent.error is None, agent.error
    assert agent.doc["pid"] == pid == agent.doc["state"]["pid"]
    assert agent.notified


def test_notify_agent_not_listening(runtime, bundle, tmp_path):
    sec = notify_profile(str(tmp_path / "nobody.sock"))
    p = run(runtime, bundle, sec, "true")
    assert p.returncode == 1
    assert p.err.startswith("pyrunc: $.linux.seccomp.listenerPath: failed to connect with "
                            "seccomp agent specified in the seccomp profile: dial unix ")
    assert "no such file or directory" in p.err and p.err.count("\n") == 1


# --- exec: the container's filter applies to exec'd processes too (as runc) ---------------


def test_exec_gets_the_filter(runtime, sbundle):
    sbundle.config["root"]["readonly"] = False
    sbundle.config["process"]["noNewPrivileges"] = False  # exec'd processes too
    sbundle.config["linux"]["seccomp"] = profile("SCMP_ACT_ALLOW",
                                                 rule(TEST_SC, errnoRet=ENOSPC))
    sbundle.set_args("sh", "-c", "while :; do sleep 1; done")
    runtime("run", "-d", "-b", str(sbundle), "ct-sc", check=True)
    p = runtime("exec", "ct-sc", "sh", "-c", "sc 24; grep Seccomp: /proc/self/status")
    assert p.returncode == 0, p.err
    assert p.out.split() == ["errno", str(ENOSPC), "Seccomp:", "2"]
    p = runtime("exec", "-u", "1000:1000", "ct-sc", "sh", "-c",
                "sc 24; grep -E 'CapEff|NoNewPrivs' /proc/self/status")
    assert p.returncode == 0, p.err
    assert p.out.split() == ["errno", str(ENOSPC), "CapEff:", "0000000000000000",
                             "NoNewPrivs:", "0"]


def test_exec_filter_loaded_last_when_not_early_safe(runtime, sbundle):
    """A filter that could stop exec's stage 1 (a rule on write, here for fd
    99 only) is loaded as the last step before execve instead: it works."""
    from pyrunc.linux.seccomp import early_load_safe

    sec = profile("SCMP_ACT_ALLOW", rule(TEST_SC, errnoRet=ENOSPC),
                  {"names": ["write"], "action": "SCMP_ACT_ERRNO",
                   "args": [{"index": 0, "value": 99, "op": "SCMP_CMP_EQ"}]})
    assert not early_load_safe(sec)
    sbundle.config["root"]["readonly"] = False
    sbundle.config["linux"]["seccomp"] = sec
    sbundle.set_args("sh", "-c", "while :; do sleep 1; done")
    runtime("run", "-d", "-b", str(sbundle), "ct-sc", check=True)
    p = runtime("exec", "ct-sc", "sh", "-c", "sc 24; grep Seccomp: /proc/self/status")
    assert p.returncode == 0, p.err
    assert p.out.split() == ["errno", str(ENOSPC), "Seccomp:", "2"]


def test_exec_notify_agent(runtime, bundle, tmp_path):
    path = str(tmp_path / "agent.sock")
    bundle.config["root"]["readonly"] = False
    bundle.config["linux"]["seccomp"] = notify_profile(path)
    bundle.set_args("sh", "-c", "while :; do sleep 1; done")
    first = Agent(path, reply=0)
    first.start()
    runtime("run", "-d", "-b", str(bundle), "ct-sc", check=True)
    first.stop.set()  # the init's agent: gets the fd, nothing to answer
    first.join(10)
    assert first.error is None and first.doc, first.error
    init = runtime.state("ct-sc")["pid"]
    os.unlink(path)
    agent = Agent(path, reply=ENOSPC)
    agent.start()
    p = runtime("exec", "ct-sc", "sh", "-c", "mkdir /tmp/x; echo rc=$?")
    agent.stop.set()
    agent.join(10)
    assert agent.error is None, agent.error
    assert p.out == "rc=1\n" and "No space left on device" in p.err
    doc = agent.doc
    assert doc["state"]["pid"] == init and doc["state"]["status"] == "running"
    assert doc["pid"] != init and doc["pid"] > 1
    assert agent.notified and doc["pid"] in agent.notified[0][::2]


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("mutate,path,reason", [
    (lambda s: s["syscalls"][0].update(action="SCMP_ACT_BOGUS"),
     "$.linux.seccomp.syscalls[0].action", "SCMP_ACT_BOGUS"),
    (lambda s: s.update(defaultAction="SCMP_ACT_NOPE"), "$.linux.seccomp.defaultAction", ""),
    (lambda s: s["syscalls"][0].update(args=[{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]),
     "$.linux.seccomp.syscalls[0].args[0].index", "from 0 to 5"),
    (lambda s: s["syscalls"][0].update(args=[{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]),
     "$.linux.seccomp.syscalls[0].args[0].op", "SCMP_CMP_XX"),
    (lambda s: s.update(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]),
     "$.linux.seccomp.architectures[1]", "SCMP_ARCH_VAX"),
    (lambda s: s.update(architectures=["SCMP_ARCH_M68K"]),
     "$.linux.seccomp.architectures[0]", "libseccomp"),
    (lambda s: s.update(flags=["SECCOMP_FILTER_FLAG_BOGUS"]), "$.linux.seccomp.flags[0]",
     "SECCOMP_FILTER_FLAG_BOGUS"),
    (lambda s: s["syscalls"][0].update(action="SCMP_ACT_ALLOW", errnoRet=5),
     "$.linux.seccomp.syscalls[0].errnoRet", "SCMP_ACT_ERRNO"),
    (lambda s: s.update(defaultErrnoRet=5), "$.linux.seccomp.defaultErrnoRet",
     "SCMP_ACT_ERRNO"),
    (lambda s: s["syscalls"][0].update(action="SCMP_ACT_NOTIFY"),
     "$.linux.seccomp.listenerPath", "SCMP_ACT_NOTIFY"),
    (lambda s: s.update(defaultAction="SCMP_ACT_NOTIFY", listenerPath="/x"),
     "$.linux.seccomp.defaultAction", "default"),
    (lambda s: s["syscalls"][0].update(action="SCMP_ACT_NOTIFY", names=["sendmsg"]) or s.update(
        listenerPath="/x"), "$.linux.seccomp.syscalls[0].names[0]", "sendmsg"),
    (lambda s: s["syscalls"][0].update(names=[]), "$.linux.seccomp.syscalls[0].names", ""),
    (lambda s: s.update(listenerMetadata="m"), "$.linux.seccomp", "listenerPath"),
])
def test_validation_errors(runtime, bundle, mutate, path, reason):
    sec = profile("SCMP_ACT_ALLOW", rule(TEST_SC))
    mutate(sec)
    p = run(runtime, bundle, sec, "true")
    assert p.returncode == 1
    prefix = f"pyrunc: config.json: {path}"
    assert p.err.startswith(prefix), p.err
    assert reason in p.err and p.err.count("\n") == 1, p.err
    assert p.out == ""
    assert runtime("list", "-q", check=True).out == ""


def test_check_without_a_plan():
    """pyrunc.seccomp.check: the same checks, usable for exec's process."""
    from pyrunc.errors import ConfigError
    from pyrunc.linux import seccomp

    seccomp.check(client_seccomp("docker"))
    seccomp.check(client_seccomp("podman"))
    with pytest.raises(ConfigError) as e:
        seccomp.check({"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["x"], "action": "SCMP_ACT_KILL",
                                     "errnoRet": 1}]}, "$.s")
    assert e.value.path == "$.s.syscalls[0].errnoRet"
    recs = seccomp.records(client_seccomp("docker"), state={"id": "x"})
    kinds = [k for k, _ in recs]
    # personality's five conditions on arg 0 are five rules (ORed)
    assert kinds.count("R_SECCOMP_RULE") == 12 and kinds.count("R_SECCOMP_ARCH") == 3


# -- exec: may the filter be loaded before the clone into the pid namespace? ------

DOCKER_LIKE = {  # the shape of docker's default: an allowlist, clone with a flag mask
    "defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [
        {"names": ["capget", "capset", "close", "close_range", "execve", "exit", "exit_group",
                   "ioctl", "read", "recvfrom", "sendto", "setsid", "write"],
         "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0,
                   "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    ]}


def _without(profile: dict, name: str) -> dict:
    rules = [dict(r, names=[n for n in r["names"] if n != name]) for r in profile["syscalls"]]
    return {**profile, "syscalls": rules}


@pytest.mark.parametrize("profile,safe", [
    ({"defaultAction": "SCMP_ACT_ALLOW"}, True),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]}, True),
    (DOCKER_LIKE, True),
    (_without(DOCKER_LIKE, "sendto"), False),   # stage 1 could not report
    (_without(DOCKER_LIKE, "setsid"), False),   # the child could not take a terminal
    ({**DOCKER_LIKE, "syscalls": [  # clone allowed only with namespace flags
        *_without(DOCKER_LIKE, "clone")["syscalls"],
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0x20000, "valueTwo": 0x20000,
                   "op": "SCMP_CMP_MASKED_EQ"}]}]}, False),
    ({"defaultAction": "SCMP_ACT_ALLOW",  # a rule on write, whatever its arguments
      "syscalls": [{"names": ["write"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 99, "op": "SCMP_CMP_EQ"}]}]}, False),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}, False),
    ({"defaultAction": "SCMP_ACT_LOG"}, False),
])
def test_early_load_safe(profile, safe):
    from pyrunc.linux.seccomp import early_load_safe

    assert early_load_safe(profile) is safe
