"""CVE-2021-43784 class: the plan pyrunc-init reads is length-checked. The
installed pyrunc-init is run directly on truncated, overlong, unterminated
and randomly mutated plans: it must never die of a signal, and a bad plan
gets an 'E' error on the sync socket or a non-zero exit.

Each run is inside `unshare --mount --uts --ipc --net` with a tmpfs over
/proc/sys and /sys and a throwaway cwd, and the plans carry no clone flags:
a mutated plan cannot reach the host's mounts, hostname or sysctls."""

import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import pytest
from helpers import reap_children
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyrunc
from pyrunc import plan as P

INIT = os.path.join(os.path.dirname(pyrunc.__file__), "libexec", "pyrunc-init")
MAPS_DONE = b"m"
GUARD = "mount -t tmpfs t /proc/sys && mount -t tmpfs t /sys && exec \"$@\""


def _cstrs(*items: str) -> bytes:
    return b"".join(s.encode() + b"\0" for s in items)


def _record(rtype: int, payload: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HHI", rtype, 0, len(payload) if length is None else length) + payload


def valid_plan() -> bytes:
    plan = P.Plan()
    plan.add(P.R_ARGS, _cstrs("/bin/true"))
    plan.add(P.R_ENV, _cstrs("PATH=/bin"))
    plan.add(P.R_CWD, _cstrs("/"))
    plan.add(P.R_USER, struct.pack("<IIII", 0, 0, 0o22, 0))
    plan.add(P.R_NO_NEW_PRIVS)
    plan.add(P.R_EXEC)  # as for exec: no root filesystem set-up
    return plan.bytes()


def run_init(data: bytes) -> tuple[int, bytes]:
    """(exit status, first sync message) of pyrunc-init on a plan; -SIG if it
    died of a signal (the guard's sh execs it: the status is its own)."""
    pfd = os.memfd_create("plan", 0)
    os.write(pfd, data)
    os.lseek(pfd, 0, os.SEEK_SET)
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    cwd = tempfile.mkdtemp(prefix="pyrunc-fuzz-")
    try:
        proc = subprocess.Popen(
            ["unshare", "--mount", "--uts", "--ipc", "--net", "--propagation", "private",
             "sh", "-c", GUARD, "sh", INIT, str(pfd), str(child.fileno()), "-1"],
            pass_fds=(pfd, child.fileno()), cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(pfd)
        child.close()
        try:
            parent.send(b"g")
        except OSError:
            pass
        # stage 1 answers 'P' (the pid of its clone) or 'E'; the clone, which
        # reads its own records, may then send its own 'E': read to EOF
        reply = b""
        clone = 0
        while select.select([parent], [], [], 5)[0]:
            try:
                msg = parent.recv(4096)
            except OSError:
                break
            if not msg:
                break
            if msg[:1] == b"P" and len(msg) == 5:
                clone = struct.unpack("<I", msg[1:])[0]
                try:
                    parent.send(MAPS_DONE)
                except OSError:
                    pass
            if not reply or msg.startswith(b"E"):
                reply = msg
        try:
            status = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait()
            assert status == -signal.SIGKILL
            status = 0  # waiting (a valid plan) is not a crash
        if clone:  # a sibling: CLONE_PARENT made it our child
            status = min(status, _wait_clone(clone))
        return status, reply
    finally:
        parent.close()
        shutil.rmtree(cwd, ignore_errors=True)
        reap_children()


def _wait_clone(pid: int) -> int:
    for _ in range(200):
        try:
            done, st = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0
        if done:
            return -os.WTERMSIG(st) if os.WIFSIGNALED(st) else 0
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return 0


@pytest.fixture(scope="module", autouse=True)
def needs_root():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare")
    assert os.access(INIT, os.X_OK), INIT


def _refused(status: int, reply: bytes, what: str) -> None:
    assert status >= 0, f"{what}: killed by signal {-status}"
    assert reply.startswith(b"E") or status != 0, (what, status, reply)


BASE = valid_plan()
HEADER = P.MAGIC + struct.pack("<I", P.VERSION)
BAD = {
    "empty": b"",
    "short": b"PYRP",
    "magic": b"XYRP" + BASE[4:],
    "version": P.MAGIC + struct.pack("<I", P.VERSION + 1) + BASE[8:],
    "truncated header": HEADER + b"\x0c\x00\x00",
    "truncated record": BASE[:-3],
    "length past end": HEADER + _record(P.R_ARGS, _cstrs("/bin/true"), 1000),
    "length 2^32-1": HEADER + _record(P.R_ARGS, b"x", 0xFFFFFFFF),
    "args without NUL": HEADER + _record(P.R_ARGS, b"/bin/true"),
    "cwd without NUL": BASE + _record(P.R_CWD, b"/tmp"),
    "user short": HEADER + _record(P.R_USER, b"\x00\x00"),
    "user huge group count": HEADER + _record(P.R_ARGS, _cstrs("/bin/true"))
    + _record(P.R_USER, struct.pack("<IIII", 0, 0, 0, 0xFFFFFFF0)),
    "too many records": HEADER + _record(999, b"") * 100000,
    "join ns short": BASE + _record(P.R_JOIN_NS, b"\x00"),
    "caps short": BASE + _record(P.R_CAPS, b"\x01\x02"),
    "rlimit short": BASE + _record(P.R_RLIMIT, b"\x01"),
}


# Records only the root filesystem set-up reads (which these exec-mode plans
# skip, to keep the host's mounts safe): carried, never read; no crash.
NOT_READ = {
    "mount short": BASE + _record(P.R_MOUNT, b"\x01"),
    "sysctl without value": BASE + _record(P.R_SYSCTL, b"kernel.domainname"),
    "masked path without NUL": BASE + _record(P.R_MASKED_PATH, b"/x"),
}


@pytest.mark.parametrize("name", sorted(NOT_READ))
def test_unread_bad_record_does_not_crash(name):
    status, _ = run_init(NOT_READ[name])
    assert status >= 0, f"{name}: killed by signal {-status}"


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_plan_is_refused(name):
    status, reply = run_init(BAD[name])
    _refused(status, reply, name)


def test_valid_plan_runs():
    status, reply = run_init(BASE)
    assert status >= 0 and not reply.startswith(b"E"), (status, reply)


def test_text_edge_cases_in_plan_strings():
    """Issue 20: strings are bytes to the init. Bytes that are not UTF-8 (an
    overlong NUL, a lone surrogate's encoding) in an argument are passed on;
    an overlong cwd is refused; an overlong LSM profile too; no crash."""
    odd = b"\xc0\x80\xed\xa0\x80"
    plan = P.Plan()
    plan.add(P.R_ARGS, _cstrs("/bin/true") + odd + b"\0")
    plan.add(P.R_ENV, b"PATH=/bin\0X=" + odd + b"\0")
    plan.add(P.R_CWD, _cstrs("/"))
    plan.add(P.R_USER, struct.pack("<IIII", 0, 0, 0o22, 0))
    plan.add(P.R_EXEC)
    status, reply = run_init(plan.bytes())
    assert status >= 0 and not reply.startswith(b"E"), (status, reply)
    for rtype in (P.R_CWD, P.R_APPARMOR):
        status, reply = run_init(BASE + _record(rtype, b"/" + b"a" * 100_000 + b"\0"))
        _refused(status, reply, f"overlong record {rtype}")


def test_unknown_record_type():
    """An unknown record type in an otherwise valid plan: documented, not
    judged (pyrunc-init skips records it does not use); it must not crash."""
    status, reply = run_init(BASE + _record(999, b"\xff" * 64))
    assert status >= 0, status


@st.composite
def mutated(draw):
    data = bytearray(BASE)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "len"]))
        if op == "flip" and len(data) > 8:
            i = draw(st.integers(8, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            i = draw(st.integers(0, len(data)))
            data = data[:i]
        elif op == "insert":
            i = draw(st.integers(8, max(8, len(data))))
            data[i:i] = draw(st.binary(max_size=16))
        elif op == "len" and len(data) >= 16:
            i = draw(st.integers(8, len(data) - 8))
            data[i:i + 4] = struct.pack("<I", draw(st.sampled_from(
                [0, 1, 7, 8, 255, 0x7FFFFFFF, 0xFFFFFFFF, len(data)])))
    # no clone flags, no namespace joins: a mutation must not create or enter one
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_mutated_plans_never_crash(data):
    status, reply = run_init(data)
    assert status >= 0, f"killed by signal {-status}: {data!r}"
    if status != 0:
        assert reply.startswith(b"E") or reply == b"", (status, reply)
