"""The process: args, env, cwd, user, rlimits, capabilities, no_new_privs,
oom_score_adj, scheduler, I/O priority, terminal, file descriptors
(config.md, runtime-linux.md)."""

from __future__ import annotations

import os

from conformance.harness import (
    ConsoleSocket,
    Ctx,
    Fail,
    check,
    parse_kv,
    read_pty,
)

CAP_NUMBERS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}


def cap_mask(names: list[str]) -> int:
    m = 0
    for n in names:
        m |= 1 << CAP_NUMBERS[n]
    return m


def cap_names(mask: int) -> list[str]:
    return sorted(n for n, b in CAP_NUMBERS.items() if mask >> b & 1)


def sections(text: str) -> dict[str, str]:
    """Split output made of `== NAME` headed sections."""
    out: dict[str, list[str]] = {}
    cur = ""
    for line in text.splitlines():
        if line.startswith("== "):
            cur = line[3:].strip()
            out[cur] = []
        else:
            out.setdefault(cur, []).append(line)
    return {k: "\n".join(v) for k, v in out.items()}


@check("CFG-PROCESS-005", "CFG-PROCESS-007", "CFG-PROCESS-009", "CFG-USER-001",
       "CFG-USER-002", "CFG-USER-003", "CFG-USER-004", "CFG-HOSTNAME-001",
       "CFG-DOMAINNAME-001")
def process_identity(ctx: Ctx) -> None:
    b = ctx.bundle()
    os.makedirs(os.path.join(b.rootfs, "work", "dir"), mode=0o777)
    os.chmod(os.path.join(b.rootfs, "work", "dir"), 0o777)
    p = b.process
    # args[0] "sh" is found through PATH, as execvp does.
    p["args"] = ["sh", "-c", 'echo "== cwd"; pwd; echo "== env"; env; echo "== args"; '
                 'for a in "$0" "$@"; do echo "$a"; done; echo "== id"; id -u; id -g; id -G; '
                 'echo "== umask"; umask; echo "== uts"; cat /proc/sys/kernel/hostname '
                 '/proc/sys/kernel/domainname',
                 "arg zero", "two words", "*"]
    p["cwd"] = "/work/dir"
    p["env"] = ["PATH=/bin:/sbin", "CF_ONE=1", "CF_SPACES=a b  c", "CF_EMPTY="]
    p["user"] = {"uid": 1234, "gid": 2345, "additionalGids": [3456, 4567], "umask": 0o027}
    b.config["hostname"] = "cf-host"
    b.config["domainname"] = "cf.example"
    out = sections(ctx.run(b))
    ctx.expect("CFG-PROCESS-005", out.get("cwd", "").strip() == "/work/dir",
               f"pwd printed {out.get('cwd')!r}")
    env = parse_kv(out.get("env", ""))
    want = {"PATH": "/bin:/sbin", "CF_ONE": "1", "CF_SPACES": "a b  c", "CF_EMPTY": ""}
    got = {k: env.get(k) for k in want}
    ctx.expect("CFG-PROCESS-007", got == want, f"env: {got}")
    args = out.get("args", "").splitlines()
    ctx.expect("CFG-PROCESS-009", args == ["arg zero", "two words", "*"], f"argv: {args}")
    ids = out.get("id", "").split("\n")
    ctx.expect("CFG-USER-001", ids[:1] == ["1234"], f"uid: {ids[:1]}")
    ctx.expect("CFG-USER-002", ids[1:2] == ["2345"], f"gid: {ids[1:2]}")
    groups = set(ids[2].split()) if len(ids) > 2 else set()
    ctx.expect("CFG-USER-003", {"3456", "4567"} <= groups and groups <= {"2345", "3456", "4567"},
               f"groups: {sorted(groups)}")
    ctx.expect("CFG-USER-004", out.get("umask", "").strip() == "0027",
               f"umask: {out.get('umask', '').strip()!r}")
    uts = out.get("uts", "").split()
    ctx.expect("CFG-HOSTNAME-001", uts[:1] == ["cf-host"], f"hostname: {uts[:1]}")
    ctx.expect("CFG-DOMAINNAME-001", uts[1:2] == ["cf.example"], f"domainname: {uts[1:2]}")


@check("CFG-RLIMITS-002", "CFG-RLIMITS-003", "CFG-RLIMITS-004")
def rlimits(ctx: Ctx) -> None:
    b = ctx.bundle("cat /proc/self/limits")
    b.process["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 777, "hard": 888},
        {"type": "RLIMIT_CORE", "soft": 4096, "hard": 8192},
        {"type": "RLIMIT_MSGQUEUE", "soft": 100000, "hard": 200000},
    ]
    out = ctx.run(b)
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Max open files"):
            rows["RLIMIT_NOFILE"] = parts[3:5]
        elif line.startswith("Max core file size"):
            rows["RLIMIT_CORE"] = parts[4:6]
        elif line.startswith("Max msgqueue size"):
            rows["RLIMIT_MSGQUEUE"] = parts[3:5]
    ctx.expect("CFG-RLIMITS-002", len(rows) == 3, f"limits read: {rows}")
    for r in b.process["rlimits"]:
        got = rows.get(r["type"], ["?", "?"])
        ctx.expect("CFG-RLIMITS-003", got[0] == str(r["soft"]),
                   f"{r['type']} soft {got[0]} != {r['soft']}")
        ctx.expect("CFG-RLIMITS-004", got[1] == str(r["hard"]),
                   f"{r['type']} hard {got[1]} != {r['hard']}")


@check("CFG-CAPS-003", "CFG-CAPS-004", "CFG-CAPS-005", "CFG-CAPS-006", "CFG-CAPS-007",
       "CFG-NNP-001")
def capabilities(ctx: Ctx) -> None:
    """Root keeps its bounding set across execve, so effective = permitted =
    bounding here; inheritable and ambient are subsets."""
    bset = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SYS_CHROOT"]
    inh = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
    amb = ["CAP_NET_BIND_SERVICE"]
    b = ctx.bundle("cat /proc/1/status")
    b.process["capabilities"] = {"bounding": bset, "effective": bset, "permitted": bset,
                                 "inheritable": inh, "ambient": amb}
    b.process["noNewPrivileges"] = True
    st = parse_kv(ctx.run(b), ":")
    for rid, key, want in (("CFG-CAPS-003", "CapEff", bset), ("CFG-CAPS-004", "CapBnd", bset),
                           ("CFG-CAPS-005", "CapInh", inh), ("CFG-CAPS-006", "CapPrm", bset),
                           ("CFG-CAPS-007", "CapAmb", amb)):
        try:
            got = int(st.get(key, "x"), 16)
        except ValueError:
            ctx.fail(rid, f"no {key} in /proc/1/status")
            continue
        ctx.expect(rid, got == cap_mask(want), f"{key}: {cap_names(got)}, want {sorted(want)}")
    ctx.expect("CFG-NNP-001", st.get("NoNewPrivs") == "1",
               f"NoNewPrivs: {st.get('NoNewPrivs')!r}")


@check("CFG-OOM-001", "CFG-OOM-002")
def oom_score_adj(ctx: Ctx) -> None:
    def inherit() -> None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("123")

    b = ctx.bundle("cat /proc/self/oom_score_adj")
    b.process["oomScoreAdj"] = 345
    cid = ctx.must_create(b, preexec=inherit)
    ctx.must_start(cid)
    ctx.wait_status(cid)
    ctx.expect("CFG-OOM-001", b.stdout().strip() == "345", f"oom_score_adj {b.stdout()!r}")
    b2 = ctx.bundle("cat /proc/self/oom_score_adj")
    cid = ctx.must_create(b2, preexec=inherit)
    ctx.must_start(cid)
    ctx.wait_status(cid)
    ctx.expect("CFG-OOM-002", b2.stdout().strip() == "123",
               f"oom_score_adj {b2.stdout().strip()!r}, the runtime ran with 123")


@check("CFG-SCHED-001")
def scheduler(ctx: Ctx) -> None:
    b = ctx.bundle("cat /proc/1/stat")
    b.process["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
    out, failed = ctx.run_ok(b)
    if failed:
        raise Fail(f"create failed: {failed.why()}")
    fields = out[out.rfind(")") + 2:].split()
    # stat fields 19 (nice) and 41 (policy), counted from 1; fields[0] is 3
    nice, policy = fields[16], fields[38]
    ctx.expect("CFG-SCHED-001", (nice, policy) == ("7", "3"),
               f"nice {nice}, policy {policy} (want 7 and 3 = SCHED_BATCH)")


@check("CFG-IOPRIO-001")
def io_priority(ctx: Ctx) -> None:
    b = ctx.bundle("ionice -p 1")
    b.process["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
    out, failed = ctx.run_ok(b)
    if failed:
        raise Fail(f"create failed: {failed.why()}")
    ctx.expect("CFG-IOPRIO-001", out.strip() == "best-effort: prio 6",
               f"ionice: {out.strip()!r}")


@check("CFG-PROCESS-002")
def console_size_without_terminal(ctx: Ctx) -> None:
    b = ctx.bundle("[ -t 1 ] && echo tty || echo notty")
    b.process["consoleSize"] = {"height": 10, "width": 20}
    out, failed = ctx.run_ok(b)
    if failed:
        raise Fail(f"create with consoleSize and terminal false failed: {failed.why()}")
    ctx.expect("CFG-PROCESS-002", out.strip() == "notty", f"output {out.strip()!r}")


@check("CFG-PROCESS-003", "CFG-PROCESS-004", "LNX-DEFDEV-007")
def terminal(ctx: Ctx) -> None:
    b = ctx.bundle('[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo ALLTTY; stty size; '
                   't=$(tty); echo "TTY $t"; echo "CONSOLE $(stat -c %t:%T /dev/console) '
                   '$(stat -L -c %t:%T $t)"; echo END')
    b.process["terminal"] = True
    b.process["consoleSize"] = {"height": 25, "width": 91}
    sock = ConsoleSocket(os.path.join(ctx.dir, "console.sock"))
    ctx.defer(sock.close)
    cid = ctx.must_create(b, extra=["--console-socket", sock.path])
    master = sock.wait_master()
    if master is None:
        raise Fail("no pty master received on the console socket")
    ctx.must_start(cid)
    out = read_pty(master, b"END\r\n").decode(errors="replace").replace("\r", "")
    ctx.wait_status(cid, "stopped")
    lines = out.splitlines()
    ctx.expect("CFG-PROCESS-003", "ALLTTY" in lines and any(
        ln.startswith("TTY /dev/pts/") for ln in lines), f"terminal output {out!r}")
    ctx.expect("CFG-PROCESS-004", "25 91" in lines, f"stty size: {out!r}")
    con = [ln.split()[1:] for ln in lines if ln.startswith("CONSOLE ")]
    ctx.expect("LNX-DEFDEV-007", bool(con) and len(con[0]) == 2 and con[0][0] == con[0][1]
               and con[0][0].startswith("88:"),
               f"/dev/console vs the pty (major:minor hex): {con}")


@check("RTL-FD-001", "RTL-DEVLINK-001", "RTL-DEVLINK-002", "RTL-DEVLINK-003",
       "RTL-DEVLINK-004", "LNX-FS-001", "LNX-DEFDEV-001", "LNX-DEFDEV-002", "LNX-DEFDEV-003",
       "LNX-DEFDEV-004", "LNX-DEFDEV-005", "LNX-DEFDEV-006", "LNX-DEFDEV-008")
def dev_and_fds(ctx: Ctx) -> None:
    b = ctx.bundle('echo "== fds"; ls /proc/1/fd; echo "== links"; '
                   'for l in fd stdin stdout stderr; do echo "$l $(readlink /dev/$l)"; done; '
                   'echo "== devs"; for d in null zero full random urandom tty; do '
                   'echo "$d $(stat -c "%F %t:%T" /dev/$d)"; done; '
                   'echo "== ptmx"; readlink /dev/ptmx || stat -c "%F %t:%T" /dev/ptmx; '
                   'echo "== io"; echo x > /dev/null && head -c 3 /dev/zero | od -An -tx1 '
                   '&& head -c 8 /dev/urandom | wc -c; '
                   'echo "== mounts"; cat /proc/self/mountinfo')
    out = sections(ctx.run(b))
    fds = out.get("fds", "").split()
    ctx.expect("RTL-FD-001", sorted(fds) == ["0", "1", "2"], f"open fds of pid 1: {fds}")
    links = dict(ln.split(" ", 1) for ln in out.get("links", "").splitlines() if " " in ln)
    for rid, name, want in (("RTL-DEVLINK-001", "fd", "/proc/self/fd"),
                            ("RTL-DEVLINK-002", "stdin", "/proc/self/fd/0"),
                            ("RTL-DEVLINK-003", "stdout", "/proc/self/fd/1"),
                            ("RTL-DEVLINK-004", "stderr", "/proc/self/fd/2")):
        ctx.expect(rid, links.get(name) == want,
                   f"/dev/{name} -> {links.get(name)!r}, want {want}")
    devs = dict(ln.split(" ", 1) for ln in out.get("devs", "").splitlines() if " " in ln)
    for rid, name, mm in (("LNX-DEFDEV-001", "null", "1:3"), ("LNX-DEFDEV-002", "zero", "1:5"),
                          ("LNX-DEFDEV-003", "full", "1:7"), ("LNX-DEFDEV-004", "random", "1:8"),
                          ("LNX-DEFDEV-005", "urandom", "1:9"), ("LNX-DEFDEV-006", "tty", "5:0")):
        ctx.expect(rid, devs.get(name) == f"character special file {mm}",
                   f"/dev/{name}: {devs.get(name)!r}")
    io = out.get("io", "").split()
    if io != ["00", "00", "00", "8"]:
        for rid in ("LNX-DEFDEV-001", "LNX-DEFDEV-002", "LNX-DEFDEV-005"):
            ctx.fail(rid, f"reading/writing the devices: {io}")
    ptmx = out.get("ptmx", "").strip()
    ctx.expect("LNX-DEFDEV-008", ptmx in ("pts/ptmx", "/dev/pts/ptmx", "character special "
                                          "file 5:2"), f"/dev/ptmx: {ptmx!r}")
    types = {}
    for line in out.get("mounts", "").splitlines():
        parts = line.split()
        if " - " in line:
            types[parts[4]] = parts[parts.index("-") + 1]
    want = {"/proc": "proc", "/sys": "sysfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs"}
    got = {k: types.get(k) for k in want}
    ctx.expect("LNX-FS-001", got == want, f"mounts: {got}")
