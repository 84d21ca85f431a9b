"""Namespaces: new, joined by path, inherited; user namespace mappings and
time offsets (config-linux.md)."""

from __future__ import annotations

import os

from conformance.harness import (
    Ctx,
    Fail,
    cgroup_dirs,
    check,
    ns_link,
    read,
    start_holder,
    stop_holder,
)

KINDS = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
         "user": "user", "cgroup": "cgroup", "time": "time"}


def created_pid(ctx: Ctx, cid: str) -> int:
    pid = ctx.must_state(cid).get("pid")
    if not isinstance(pid, int) or pid <= 0:
        raise Fail(f"no pid in the state: {pid!r}")
    return pid


@check("LNX-NS-001", "LNX-NS-002", "LNX-NS-003", "LNX-NS-004", "LNX-NS-005", "LNX-NS-007",
       "LNX-NS-012")
def new_namespaces(ctx: Ctx) -> None:
    b = ctx.bundle('echo "PID $$"; cat /proc/net/dev; echo "== cg"; cat /proc/self/cgroup')
    b.set_ns("cgroup")
    cid = ctx.must_create(b)
    pid = created_pid(ctx, cid)
    same = [t for t in ("pid", "network", "mount", "ipc", "uts", "cgroup")
            if ns_link(pid, KINDS[t]) == ns_link("self", KINDS[t])]
    ctx.must_start(cid)
    ctx.wait_status(cid)
    out = b.stdout()
    body, _, cg = out.partition("== cg")
    ifaces = [ln.split(":")[0].strip() for ln in body.splitlines() if ":" in ln
              and not ln.startswith("PID") and "|" not in ln]
    checks = {
        "LNX-NS-001": ("pid", "PID 1" in body, f"$$ in the container: {body.split()[:2]}"),
        "LNX-NS-002": ("network", ifaces == ["lo"], f"interfaces {ifaces}"),
        "LNX-NS-003": ("mount", True, ""),
        "LNX-NS-004": ("ipc", True, ""),
        "LNX-NS-005": ("uts", True, ""),
        "LNX-NS-007": ("cgroup", all(ln.endswith(":/") for ln in cg.split()),
                       f"/proc/self/cgroup: {cg.split()}"),
    }
    for rid, (t, ok, why) in checks.items():
        if t in same:
            ctx.fail(rid, f"{t}: the container shares the runtime's namespace")
        else:
            ctx.expect(rid, ok, why)
    ctx.expect("LNX-NS-012", not same, f"not new: {same}")


@check("LNX-NS-006", "LNX-USERNS-001", "LNX-USERNS-002", "LNX-USERNS-003", "LNX-CGOWN-001")
def user_namespace(ctx: Ctx) -> None:
    b = ctx.bundle("cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /tmp/cf-owned; "
                   "stat -c %u:%g /tmp/cf-owned")
    b.set_ns("user")
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
    b.config["mounts"] = [m for m in b.config["mounts"] if m["destination"] != "/sys"]
    b.add_mount("/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"])
    before = os.stat(os.path.join(b.rootfs, "bin", "busybox"))
    cid = ctx.must_create(b)
    pid = created_pid(ctx, cid)
    ctx.expect("LNX-NS-006", ns_link(pid, "user") != ns_link("self", "user"),
               "the container shares the runtime's user namespace")
    owners = {d: (os.stat(d).st_uid, os.stat(d).st_gid)
              for d in cgroup_dirs(b.linux["cgroupsPath"])}
    ctx.expect("LNX-CGOWN-001", bool(owners) and all(o == (0, 0) for o in owners.values()),
               f"cgroup owners: { {k: v for k, v in owners.items() if v != (0, 0)} }")
    ctx.must_start(cid)
    ctx.wait_status(cid)
    out = b.stdout().split()
    ctx.expect("LNX-USERNS-001", out[:3] == ["0", "200000", "65536"], f"uid_map: {out[:3]}")
    ctx.expect("LNX-USERNS-002", out[3:6] == ["0", "300000", "65536"], f"gid_map: {out[3:6]}")
    ctx.expect("LNX-NS-006", out[6:8] == ["0", "0:0"], f"id -u, new file owner: {out[6:8]}")
    after = os.stat(os.path.join(b.rootfs, "bin", "busybox"))
    ctx.expect("LNX-USERNS-003", (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
               and os.stat(b.rootfs).st_uid == 0,
               f"rootfs ownership changed to {after.st_uid}:{after.st_gid}")
    made = os.path.join(b.rootfs, "tmp", "cf-owned")
    if os.path.exists(made):
        st = os.stat(made)
        ctx.expect("LNX-USERNS-001", st.st_uid == 200000, f"file made as root: uid {st.st_uid}")
        ctx.expect("LNX-USERNS-002", st.st_gid == 300000, f"file made as root: gid {st.st_gid}")


@check("LNX-NS-008", "LNX-TIMENS-001")
def time_namespace(ctx: Ctx) -> None:
    b = ctx.bundle("cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime")
    b.set_ns("time")
    b.linux["timeOffsets"] = {"monotonic": {"secs": 86400 * 3, "nanosecs": 0},
                              "boottime": {"secs": 86400 * 5, "nanosecs": 0}}
    cid, c = ctx.create(b)
    if not c.ok:
        raise Fail(f"create failed: {c.why()}")
    ctx.must_start(cid)
    ctx.wait_status(cid)
    out = b.stdout().split()
    offs = dict(zip(out[0:6:3], out[1:6:3], strict=False))
    host_up = int(float(read("/proc/uptime").split()[0]))
    up = int(out[6]) if len(out) > 6 and out[6].isdigit() else -1
    ctx.expect("LNX-NS-008", bool(offs) and up >= 0, f"timens_offsets {out}")
    ctx.expect("LNX-TIMENS-001", offs.get("monotonic") == str(86400 * 3)
               and offs.get("boottime") == str(86400 * 5) and up >= host_up + 86400 * 5 - 5,
               f"offsets {offs}, uptime {up} (host {host_up})")


@check("LNX-NS-013")
def inherited_namespaces(ctx: Ctx) -> None:
    b = ctx.bundle(args=["sleep", "10"])
    b.linux["namespaces"] = [{"type": "mount"}]
    b.config.pop("hostname", None)
    cid = ctx.must_create(b)
    pid = created_pid(ctx, cid)
    differ = [k for k in ("net", "ipc", "uts", "pid", "cgroup", "user", "time")
              if ns_link(pid, k) != ns_link("self", k)]
    ctx.expect("LNX-NS-013", not differ, f"not inherited from the runtime: {differ}")


@check("LNX-NS-010", "LNX-NS-011")
def namespace_paths(ctx: Ctx) -> None:
    h = start_holder(["--net", "--ipc", "--uts", "--pid"])
    ctx.defer(lambda: stop_holder(h))
    b = ctx.bundle(args=["sleep", "10"])
    for t in ("network", "ipc", "uts", "pid"):
        b.set_ns(t, f"/proc/{h.inner}/ns/{KINDS[t]}")
    b.config.pop("hostname", None)
    cid, c = ctx.create(b)
    if not c.ok:
        ctx.fail("LNX-NS-010", f"create failed: {c.why()}")
    else:
        pid = created_pid(ctx, cid)
        wrong = [k for k in ("net", "ipc", "uts", "pid")
                 if ns_link(pid, k) != ns_link(h.inner, k)]
        ctx.expect("LNX-NS-010", not wrong, f"not in the namespace of path: {wrong}")
        ctx.kill(cid, "KILL")
    b = ctx.bundle(args=["true"])
    b.set_ns("network", f"/proc/{h.inner}/ns/uts")
    ctx.expect_create_error("LNX-NS-011", b, "a network namespace path to a uts namespace")
    b = ctx.bundle(args=["true"])
    b.set_ns("ipc", os.path.join(b.rootfs, "etc", "passwd"))
    ctx.expect_create_error("LNX-NS-011", b, "an ipc namespace path to a regular file")
