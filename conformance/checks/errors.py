"""Errors: operations without an id, on unknown containers, in the wrong
state, duplicate and invalid ids, invalid configs, and that an error leaves
no trace (runtime.md, config.md)."""

from __future__ import annotations

import os
import time

from conformance.harness import (
    Ctx,
    Fail,
    cgroup_dirs,
    check,
    children,
    mount_points,
    proc_alive,
    reap,
)


def count_lines(path: str) -> int:
    try:
        with open(path) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


@check("RT-QUERY-001", "RT-START-001", "RT-KILL-001", "RT-DELETE-001", "RT-CREATE-001",
       "RT-QUERY-002")
def missing_arguments(ctx: Ctx) -> None:
    for rid, args in (("RT-QUERY-001", ["state"]), ("RT-START-001", ["start"]),
                      ("RT-KILL-001", ["kill"]), ("RT-DELETE-001", ["delete"]),
                      ("RT-CREATE-001", ["create"])):
        c = ctx.rt(*args)
        ctx.expect(rid, not c.ok, f"`{' '.join(args)}` without an id exited 0")
    # No bundle: run from an empty directory (runc's CLI defaults the bundle
    # to the current directory).
    empty = ctx.host_dir("empty")
    cid = ctx.new_id()
    ctx.ids_created.append(cid)
    c = ctx.rt("create", cid, cwd=empty)
    ctx.expect("RT-CREATE-001", not c.ok, "create without a bundle exited 0")
    ctx.expect("RT-CREATE-001", ctx.state(cid) is None,
               "create without a bundle left a container")
    for cid in ("cf-no-such-container", ctx.new_id("-unknown")):
        c = ctx.rt("state", cid)
        ctx.expect("RT-QUERY-002", not c.ok, f"state of unknown {cid} exited 0")


@check("RT-STATE-003", "RT-CREATE-002")
def duplicate_id(ctx: Ctx) -> None:
    b1 = ctx.bundle(args=["sleep", "10"])
    cid = ctx.must_create(b1)
    st1 = ctx.must_state(cid)
    b2 = ctx.bundle(args=["sleep", "10"])
    b2.config["hostname"] = "second"
    _, c = ctx.create(b2, cid)
    for rid in ("RT-STATE-003", "RT-CREATE-002"):
        ctx.expect(rid, not c.ok, "a second create with the same id exited 0")
    st2 = ctx.must_state(cid)
    same = (st2.get("pid"), st2.get("bundle"), st2.get("status")) == \
        (st1.get("pid"), st1.get("bundle"), st1.get("status"))
    ctx.expect("RT-CREATE-002", same, f"the first container changed: {st1} -> {st2}")
    ctx.expect("RT-CREATE-002", proc_alive(st1.get("pid") or 0),
               "the first container's process died")


@check("RT-CREATE-003")
def invalid_ids(ctx: Ctx) -> None:
    base = ctx.suite.tmp
    for bad in ("", "../cf-escape", "cf/sub", "cf\nnewline"):
        b = ctx.bundle(args=["true"])
        _, c = ctx.create(b, bad)
        if c.ok:
            ctx.rt("delete", "--force", bad)
            ctx.fail("RT-CREATE-003", f"create accepted the id {bad!r}")
    ctx.expect("RT-CREATE-003", not os.path.exists(os.path.join(base, "cf-escape")),
               "the id ../cf-escape made a directory outside --root")


@check("RT-START-002", "RT-DELETE-002")
def operations_on_running(ctx: Ctx) -> None:
    b = ctx.bundle("echo x >> /count; while :; do sleep 0.05; done")
    cid = ctx.must_create(b)
    ctx.must_start(cid)
    st = ctx.wait_status(cid, "running")
    time.sleep(0.2)
    s = ctx.start(cid)
    ctx.expect("RT-START-002", not s.ok, "start of a running container exited 0")
    d = ctx.delete(cid)
    ctx.expect("RT-DELETE-002", not d.ok, "delete of a running container exited 0")
    time.sleep(0.2)
    st2 = ctx.state(cid)
    alive = st2 is not None and st2.get("status") == "running" and \
        st2.get("pid") == st.get("pid") and proc_alive(st.get("pid") or 0)
    ctx.expect("RT-START-002", alive and count_lines(os.path.join(b.rootfs, "count")) == 1,
               f"after the failed start: state {st2}, program runs "
               f"{count_lines(os.path.join(b.rootfs, 'count'))} time(s)")
    ctx.expect("RT-DELETE-002", alive, f"after the failed delete: state {st2}")


@check("RT-START-003", "RT-KILL-002")
def operations_on_stopped(ctx: Ctx) -> None:
    b = ctx.bundle("echo x >> /count")
    cid = ctx.must_create(b)
    ctx.must_start(cid)
    ctx.wait_status(cid, "stopped")
    s = ctx.start(cid)
    ctx.expect("RT-START-003", not s.ok, "start of a stopped container exited 0")
    k = ctx.kill(cid, "KILL")
    ctx.expect("RT-KILL-002", not k.ok, "kill of a stopped container exited 0")
    time.sleep(0.2)
    st = ctx.state(cid)
    n = count_lines(os.path.join(b.rootfs, "count"))
    ctx.expect("RT-START-003", n == 1 and st is not None and st.get("status") == "stopped",
               f"after start of a stopped container: ran {n} time(s), state {st}")
    ctx.expect("RT-KILL-002", st is not None and st.get("status") == "stopped",
               f"after kill of a stopped container: state {st}")
    d = ctx.delete(cid)
    ctx.expect("RT-KILL-002", d.ok, f"delete after the failed kill: {d.why()}")


@check("RT-DELETE-003", "RT-KILL-004")
def operations_on_created(ctx: Ctx) -> None:
    b = ctx.bundle("touch /ran")
    cid = ctx.must_create(b)
    st = ctx.must_state(cid)
    d = ctx.delete(cid)
    ctx.expect("RT-DELETE-003", not d.ok, "delete of a created container exited 0")
    st2 = ctx.state(cid)
    ctx.expect("RT-DELETE-003", st2 is not None and st2.get("status") == "created"
               and proc_alive(st.get("pid") or 0),
               f"after delete of a created container: state {st2}")
    if st2 is None:
        b = ctx.bundle("touch /ran")
        cid = ctx.must_create(b)
        st = ctx.must_state(cid)
    k = ctx.kill(cid, "KILL")
    ctx.expect("RT-KILL-004", k.ok, f"kill of a created container: {k.why()}")
    ctx.wait_status(cid, "stopped", 5)
    ctx.expect("RT-KILL-004", not os.path.exists(os.path.join(b.rootfs, "ran")),
               "the user program ran")


@check("RT-START-005", "CFG-PROCESS-001")
def start_without_process(ctx: Ctx) -> None:
    b = ctx.bundle()
    del b.config["process"]
    cid, c = ctx.create(b)
    if not c.ok:
        # A runtime MAY reject it at create; start of that id must fail too.
        s = ctx.start(cid)
        for rid in ("RT-START-005", "CFG-PROCESS-001"):
            ctx.expect(rid, not s.ok, "start exited 0")
        return
    s = ctx.start(cid)
    for rid in ("RT-START-005", "CFG-PROCESS-001"):
        ctx.expect(rid, not s.ok, "start of a container without process exited 0")


@check("RT-ERRORS-001", "RT-CREATE-007", "RT-LIFECYCLE-002")
def failed_create_leaves_no_trace(ctx: Ctx) -> None:
    """A mount the kernel refuses: create fails; nothing of it remains; the
    id is free again."""
    reap()
    kids = children()
    mounts = mount_points()
    b = ctx.bundle(args=["true"])
    b.add_mount("/mnt/bad", "cf-no-such-fs", "none")
    cid, c = ctx.create(b)
    for rid in ("RT-CREATE-007", "RT-LIFECYCLE-002", "RT-ERRORS-001"):
        ctx.expect(rid, not c.ok, "create with an unknown filesystem type exited 0")
    if c.ok:
        return
    trace = []
    if ctx.state(cid) is not None:
        trace.append("the container exists")
    cg = cgroup_dirs(b.linux["cgroupsPath"])
    if cg:
        trace.append(f"cgroups {cg}")
    time.sleep(0.1)
    reap()
    new = [p for p in children() - kids if proc_alive(p)]
    if new:
        trace.append(f"processes {new}")
    extra = sorted(m for m in mount_points() - mounts if m.startswith(ctx.suite.tmp))
    if extra:
        trace.append(f"mounts {extra}")
    root = ctx.rt.root
    if os.path.isdir(root) and any(cid in n for n in os.listdir(root)):
        trace.append(f"state directory in {root}")
    ctx.expect("RT-CREATE-007", not trace or trace == [f"mounts {extra}"],
               f"left: {'; '.join(trace)}")
    ctx.expect("RT-ERRORS-001", not trace, f"left: {'; '.join(trace)}")
    b.config["mounts"].pop()
    _, c2 = ctx.create(b, cid)
    ctx.expect("RT-ERRORS-001", c2.ok, f"the id is not usable again: {c2.why()}")


@check("CFG-VERSION-001", "CFG-ROOT-001", "CFG-ROOT-004", "CFG-PROCESS-006", "CFG-PROCESS-008",
       "CFG-RLIMITS-001", "CFG-RLIMITS-005", "CFG-HOOKS-001", "CFG-HOOKS-002",
       "CFG-ANNOT-001", "CFG-ANNOT-003", "CFG-ANNOT-009", "CFG-VALID-001", "CFG-MOUNTS-009",
       "LNX-NS-009", "LNX-NS-014", "LNX-MASKED-002", "LNX-RO-002", "LNX-SECCOMP-002",
       "LNX-SECCOMP-003", "LNX-SECCOMP-004", "LNX-SECCOMP-010", "CFG-MOUNTOPT-IDMAP-ERR",
       "LNX-UNIFIED-003", "LNX-RDT-001", timeout=60)
def invalid_configs(ctx: Ctx) -> None:
    """Each config breaks one rule: create must fail and leave nothing."""
    true = "/bin/true"
    allow = {"defaultAction": "SCMP_ACT_ALLOW"}
    cases = [
        ("CFG-VERSION-001", "no ociVersion", lambda c: c.pop("ociVersion")),
        ("CFG-VERSION-001", "ociVersion 'conformance'",
         lambda c: c.update(ociVersion="conformance")),
        ("CFG-ROOT-001", "no root", lambda c: c.pop("root")),
        ("CFG-ROOT-004", "root.path that does not exist",
         lambda c: c["root"].update(path="no-such-rootfs")),
        ("CFG-PROCESS-006", "relative cwd", lambda c: c["process"].update(cwd="tmp")),
        ("CFG-PROCESS-008", "empty args", lambda c: c["process"].update(args=[])),
        ("CFG-RLIMITS-001", "rlimit RLIMIT_CONFORMANCE",
         lambda c: c["process"].update(
             rlimits=[{"type": "RLIMIT_CONFORMANCE", "soft": 1, "hard": 1}])),
        ("CFG-RLIMITS-005", "two RLIMIT_NOFILE entries",
         lambda c: c["process"].update(
             rlimits=[{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
                      {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}])),
        ("CFG-HOOKS-001", "a relative hook path",
         lambda c: c.update(hooks={"createRuntime": [{"path": "bin/true"}]})),
        ("CFG-HOOKS-002", "a hook timeout of 0",
         lambda c: c.update(hooks={"createRuntime": [{"path": true, "timeout": 0}]})),
        ("CFG-ANNOT-001", "annotations as a list",
         lambda c: c.update(annotations=["com.example.a=b"])),
        ("CFG-ANNOT-003", "an empty annotation key",
         lambda c: c.update(annotations={"": "x"})),
        ("CFG-ANNOT-009", "a numeric annotation value",
         lambda c: c.update(annotations={"com.example.n": 1})),
        ("CFG-VALID-001", "namespace type 'conformance'",
         lambda c: c["linux"]["namespaces"].append({"type": "conformance"})),
        ("CFG-VALID-001", "rootfsPropagation 'sideways'",
         lambda c: c["linux"].update(rootfsPropagation="sideways")),
        ("CFG-VALID-001", "seccomp defaultAction 'SCMP_ACT_CONFORMANCE'",
         lambda c: c["linux"].update(seccomp={"defaultAction": "SCMP_ACT_CONFORMANCE"})),
        ("CFG-VALID-001", "device type 'x'",
         lambda c: c["linux"].update(devices=[{"path": "/dev/cfx", "type": "x",
                                               "major": 1, "minor": 3}])),
        ("CFG-MOUNTS-009", "mount uidMappings without gidMappings",
         lambda c: c["mounts"].append({"destination": "/mnt/idm", "type": "bind",
                                       "source": "/tmp", "options": ["bind", "idmap"],
                                       "uidMappings": [{"containerID": 0, "hostID": 1000,
                                                        "size": 1}]})),
        ("CFG-MOUNTOPT-IDMAP-ERR", "idmap without mappings or a user namespace",
         lambda c: c["mounts"].append({"destination": "/mnt/idm", "type": "bind",
                                       "source": "/tmp", "options": ["bind", "idmap"]})),
        ("LNX-NS-009", "a relative namespace path",
         lambda c: c["linux"]["namespaces"].__setitem__(
             1, {"type": "network", "path": "proc/1/ns/net"})),
        ("LNX-NS-014", "two network namespaces",
         lambda c: c["linux"]["namespaces"].append({"type": "network"})),
        ("LNX-MASKED-002", "a relative maskedPaths entry",
         lambda c: c["linux"].update(maskedPaths=["proc/kcore"])),
        ("LNX-RO-002", "a relative readonlyPaths entry",
         lambda c: c["linux"].update(readonlyPaths=["proc/sys"])),
        ("LNX-SECCOMP-002", "errnoRet on SCMP_ACT_KILL",
         lambda c: c["linux"].update(seccomp={**allow, "syscalls": [
             {"names": ["sync"], "action": "SCMP_ACT_KILL", "errnoRet": 5}]})),
        ("LNX-SECCOMP-003", "defaultErrnoRet on SCMP_ACT_ALLOW",
         lambda c: c["linux"].update(seccomp={**allow, "defaultErrnoRet": 5, "syscalls": [
             {"names": ["sync"], "action": "SCMP_ACT_ERRNO"}]})),
        ("LNX-SECCOMP-004", "a seccomp rule with no names",
         lambda c: c["linux"].update(seccomp={**allow, "syscalls": [
             {"names": [], "action": "SCMP_ACT_ERRNO"}]})),
        ("LNX-SECCOMP-010", "listenerMetadata without listenerPath",
         lambda c: c["linux"].update(seccomp={**allow, "listenerMetadata": "x", "syscalls": [
             {"names": ["sync"], "action": "SCMP_ACT_ERRNO"}]})),
        ("LNX-UNIFIED-003", "unified memory.max (memory is not on cgroup2 here)",
         lambda c: c["linux"].update(resources={"unified": {"memory.max": "100000000"}})),
        ("LNX-RDT-001", "intelRdt without a resctrl filesystem",
         lambda c: c["linux"].update(intelRdt={"closID": "cf-clos"})),
    ]
    if os.path.exists("/sys/fs/resctrl/tasks"):
        cases = [x for x in cases if x[0] != "LNX-RDT-001"]
        ctx.skip("LNX-RDT-001", "resctrl is mounted on this host")
    unified = "/sys/fs/cgroup/unified/cgroup.controllers"
    if not os.path.exists(unified) or "memory" in open(unified).read():
        cases = [x for x in cases if x[0] != "LNX-UNIFIED-003"]
        ctx.skip("LNX-UNIFIED-003", "memory is available on cgroup2 here")
    for rid, what, edit in cases:
        b = ctx.bundle(args=["true"])
        edit(b.config)
        ctx.expect_create_error(rid, b, what)


@check("CFG-EXT-001", "CFG-ANNOT-008")
def unknown_properties(ctx: Ctx) -> None:
    b = ctx.bundle("echo ran")
    b.config["com.example.conformance"] = {"nested": [1, 2]}
    b.config["process"]["com.example.unknown"] = True
    b.config["linux"]["com.example.unknown"] = "x"
    b.config["root"]["com.example.unknown"] = 1
    b.config["mounts"][0]["com.example.unknown"] = None
    b.config["annotations"] = {"com.example.conformance.unknown": "v",
                               "org.example.other": ""}
    cid, c = ctx.create(b)
    if not c.ok:
        ctx.fail("CFG-EXT-001", f"create failed: {c.why()}")
        ctx.fail("CFG-ANNOT-008", f"create failed: {c.why()}")
        return
    ctx.must_start(cid)
    ctx.wait_status(cid, "stopped")
    ctx.expect("CFG-EXT-001", b.stdout().strip() == "ran", "the program did not run")
    ctx.ok("CFG-ANNOT-008")


@check("CFG-ANNOT-006")
def stop_signal_annotation(ctx: Ctx) -> None:
    b = ctx.bundle("trap 'touch /usr1; exit 0' USR1; trap 'touch /term; exit 0' TERM; "
                   "touch /ready; while :; do sleep 0.05; done")
    b.config["annotations"] = {"org.opencontainers.image.stopSignal": "SIGUSR1"}
    cid = ctx.must_create(b)
    ctx.must_start(cid)
    deadline = time.monotonic() + 5
    while not os.path.exists(os.path.join(b.rootfs, "ready")):
        if time.monotonic() > deadline:
            raise Fail("the container did not start")
        time.sleep(0.02)
    k = ctx.rt("kill", cid)
    if not k.ok:
        raise Fail(f"kill without a signal: {k.why()}")
    ctx.wait_status(cid, "stopped", 5)
    got = [s for s in ("usr1", "term") if os.path.exists(os.path.join(b.rootfs, s))]
    ctx.expect("CFG-ANNOT-006", got == ["usr1"],
               f"kill without a signal sent {got or 'nothing'}, not the stopSignal SIGUSR1")
