"""Seccomp (rules, arguments, actions, the notify listener), sysctl,
personality and memory policy (config-linux.md)."""

from __future__ import annotations

import array
import json
import os
import socket
import threading
import time

from conformance.harness import Ctx, Fail, check

ALL_ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


@check("LNX-SECCOMP-001", "LNX-SECCOMP-005", "LNX-SECCOMP-006")
def seccomp_rules(ctx: Ctx) -> None:
    b = ctx.bundle("mkdir /tmp/cf-dir 2>&1; rmdir /tmp 2>&1; renice -n 7 -p $$ >/dev/null; "
                   "echo nice7=$?; renice -n 3 -p $$ >/dev/null; echo nice3=$?; sync; "
                   "echo sync=$?")
    b.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ALL_ARCHES,
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["setpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
             "args": [{"index": 2, "value": 7, "op": "SCMP_CMP_EQ"}]},
            {"names": ["sync"], "action": "SCMP_ACT_KILL"},
        ],
    }
    out, failed = ctx.run_ok(b)
    if failed:
        raise Fail(f"create failed: {failed.why()}")
    lines = out.splitlines()
    mk = next((ln for ln in lines if ln.startswith("mkdir")), "")
    rm = next((ln for ln in lines if ln.startswith("rmdir")), "")
    ctx.expect("LNX-SECCOMP-001", "No space left" in mk and "not permitted" in rm
               and not os.path.exists(os.path.join(b.rootfs, "tmp", "cf-dir")),
               f"mkdir (errnoRet 28): {mk!r}; rmdir (default EPERM): {rm!r}")
    ctx.expect("LNX-SECCOMP-005", "nice7=1" in lines and "nice3=0" in lines,
               f"setpriority(.., 7) denied, (.., 3) allowed: {[x for x in lines if 'nice' in x]}")
    ctx.expect("LNX-SECCOMP-006", "sync=159" in lines,
               f"sync under SCMP_ACT_KILL: {[x for x in lines if 'sync' in x]} (want 128+SIGSYS)")


class Listener:
    """A seccomp agent socket: records each connection's data and fds."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.sock.settimeout(10)
        self.conns: list[dict] = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            rec = {"data": b"", "fds_per_msg": [], "eof": False}
            self.conns.append(rec)
            conn.settimeout(5)
            with conn:
                while True:
                    fds = array.array("i")
                    try:
                        msg, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(16 * 4))
                    except OSError:
                        break
                    for level, kind, data in anc:
                        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
                    rec["fds_per_msg"].append(len(fds))
                    for fd in fds:
                        os.close(fd)
                    if not msg:
                        rec["eof"] = True
                        break
                    rec["data"] += msg

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(2)


@check("LNX-SECCOMP-007", "LNX-SECCOMP-008", "LNX-SECCOMP-011", "LNX-SECCOMP-012",
       "LNX-SECCOMP-009")
def seccomp_notify(ctx: Ctx) -> None:
    path = os.path.join(ctx.dir, "agent.sock")
    agent = Listener(path)
    ctx.defer(agent.close)
    b = ctx.bundle("mkdir /tmp/x 2>&1; echo done")
    b.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ALL_ARCHES,
        "listenerPath": path, "listenerMetadata": "cf-metadata",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }
    cid, c = ctx.create(b)
    if not c.ok:
        for rid in ("LNX-SECCOMP-007", "LNX-SECCOMP-008", "LNX-SECCOMP-011", "LNX-SECCOMP-012"):
            ctx.fail(rid, f"create failed: {c.why()}")
    else:
        st = ctx.must_state(cid)
        # The filter may be loaded at create or only at start (just before
        # execve): start, so that either way the state is sent.
        ctx.must_start(cid)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (agent.conns and agent.conns[0]["eof"]):
            time.sleep(0.02)
        conns = list(agent.conns)
        ctx.expect("LNX-SECCOMP-007", len(conns) >= 1,
                   "no AF_UNIX SOCK_STREAM connection to listenerPath")
        if conns:
            rec = conns[0]
            ctx.expect("LNX-SECCOMP-008", len(conns) == 1 and rec["eof"],
                       f"{len(conns)} connection(s); closed after the state: {rec['eof']}")
            try:
                doc, end = json.JSONDecoder().raw_decode(rec["data"].decode())
                extra = rec["data"].decode()[end:].strip()
            except ValueError as e:
                doc, extra = None, str(e)
            ctx.expect("LNX-SECCOMP-008", doc is not None and not extra,
                       f"payload is not exactly one JSON document: {extra[:80]!r}")
            fdmsgs = [n for n in rec["fds_per_msg"] if n]
            nfds = len(doc.get("fds", [])) if isinstance(doc, dict) else -1
            ctx.expect("LNX-SECCOMP-011", doc is not None and rec["fds_per_msg"][:1] == [nfds]
                       and len(fdmsgs) == 1,
                       f"fds per sendmsg {rec['fds_per_msg']}, names {nfds}")
            if isinstance(doc, dict):
                s = doc.get("state") or {}
                probs = []
                if not isinstance(doc.get("ociVersion"), str):
                    probs.append("ociVersion")
                if doc.get("fds") != ["seccompFd"]:
                    probs.append(f"fds {doc.get('fds')!r}")
                if doc.get("pid") != st.get("pid"):
                    probs.append(f"pid {doc.get('pid')!r} != {st.get('pid')!r}")
                if doc.get("metadata") != "cf-metadata":
                    probs.append(f"metadata {doc.get('metadata')!r}")
                if s.get("id") != cid or s.get("bundle") != b.path:
                    probs.append(f"state {s}")
                ctx.expect("LNX-SECCOMP-012", not probs, f"process state: {probs}")
            else:
                ctx.fail("LNX-SECCOMP-012", "no JSON process state")
        ctx.kill(cid, "KILL")
    b = ctx.bundle(args=["true"])
    b.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ALL_ARCHES,
        "listenerPath": os.path.join(ctx.dir, "nobody-listens.sock"),
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }
    ctx.expect_create_error("LNX-SECCOMP-009", b, "a listenerPath nobody listens on")


@check("LNX-SYSCTL-001")
def sysctl(ctx: Ctx) -> None:
    b = ctx.bundle("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax")
    b.linux["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345"}
    out, failed = ctx.run_ok(b)
    if failed:
        raise Fail(f"create failed: {failed.why()}")
    ctx.expect("LNX-SYSCTL-001", out.split() == ["1", "12345"],
               f"ip_forward, msgmax = {out.split()}")


@check("LNX-PERSONALITY-001")
def personality(ctx: Ctx) -> None:
    b = ctx.bundle("uname -m")
    b.linux["personality"] = {"domain": "LINUX32"}
    out, failed = ctx.run_ok(b)
    if failed:
        raise Fail(f"create failed: {failed.why()}")
    ctx.expect("LNX-PERSONALITY-001", out.strip() in ("i686", "i586", "i386", "armv8l"),
               f"uname -m: {out.strip()!r}")


@check("LNX-MEMPOL-001")
def memory_policy(ctx: Ctx) -> None:
    """The policy of a task cannot be read from outside it: a valid policy
    must be accepted and one the kernel refuses (a node that does not exist)
    must be an error, as a policy that is really set_mempolicy()'d is."""
    nodes = [n for n in os.listdir("/sys/devices/system/node") if n.startswith("node")] \
        if os.path.isdir("/sys/devices/system/node") else []
    b = ctx.bundle("echo ran")
    b.linux["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0"}
    out, failed = ctx.run_ok(b)
    if failed:
        raise Fail(f"MPOL_BIND on node 0 failed: {failed.why()}")
    ctx.expect("LNX-MEMPOL-001", out.strip() == "ran", "the program did not run")
    b = ctx.bundle(args=["true"])
    b.linux["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": str(len(nodes) + 60)}
    ctx.expect_create_error("LNX-MEMPOL-001", b, f"MPOL_BIND on node {len(nodes) + 60} of "
                            f"{len(nodes)}")
