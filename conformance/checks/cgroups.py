"""cgroupsPath and the resources checkable from cgroup v1 files
(config-linux.md)."""

from __future__ import annotations

import os

from conformance.harness import CGROUP_ROOT, Ctx, Fail, Skip, check, read

V1 = ("memory", "pids", "cpu", "cpuset", "blkio", "devices", "freezer")


def controller_path(pid: int, controller: str) -> str | None:
    for line in read(f"/proc/{pid}/cgroup", "").splitlines():
        num, ctrls, path = line.split(":", 2)
        if controller in ctrls.split(","):
            return path
    return None


def cgfile(path: str, controller: str, name: str) -> str | None:
    p = os.path.join(CGROUP_ROOT, controller, path.lstrip("/"), name)
    try:
        return read(p).strip()
    except OSError:
        return None


def created(ctx: Ctx, b) -> tuple[str, int]:
    cid = ctx.must_create(b)
    pid = ctx.must_state(cid).get("pid")
    if not isinstance(pid, int) or pid <= 0:
        raise Fail(f"no pid: {pid!r}")
    return cid, pid


@check("LNX-CGPATH-001", "LNX-CGPATH-002")
def cgroups_path(ctx: Ctx) -> None:
    path = ctx.cgroups_path("fixed")
    seen = []
    for _ in range(2):
        b = ctx.bundle(args=["sleep", "10"])
        b.linux["cgroupsPath"] = path
        cid, pid = created(ctx, b)
        here = {c: controller_path(pid, c) for c in V1
                if os.path.isdir(os.path.join(CGROUP_ROOT, c))}
        seen.append(here)
        wrong = {c: p for c, p in here.items() if p != path}
        ctx.expect("LNX-CGPATH-001", not wrong, f"cgroups of the process: {wrong}, want {path}")
        procs = cgfile(path, "memory", "cgroup.procs") or ""
        ctx.expect("LNX-CGPATH-001", str(pid) in procs.split(),
                   f"pid {pid} not in memory {path}/cgroup.procs")
        ctx.kill(cid, "KILL")
        ctx.wait_status(cid, "stopped")
        ctx.delete(cid)
    ctx.expect("LNX-CGPATH-002", seen[0] == seen[1], f"first {seen[0]}, then {seen[1]}")


@check("LNX-MEM-001", "LNX-MEM-002", "LNX-MEM-003", "LNX-MEM-004", "LNX-MEM-005",
       "LNX-CPU-001", "LNX-CPU-002", "LNX-CPU-003", "LNX-CPU-005", "LNX-CPU-006",
       "LNX-PIDS-001")
def resources(ctx: Ctx) -> None:
    b = ctx.bundle(args=["sleep", "10"])
    b.linux["resources"] = {
        "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20,
                   "swappiness": 10, "disableOOMKiller": True},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000,
                "cpus": "0", "mems": "0"},
        "pids": {"limit": 42},
    }
    cid, pid = created(ctx, b)
    cg = {c: controller_path(pid, c) or "" for c in V1}

    def f(ctrl: str, name: str) -> str | None:
        return cgfile(cg[ctrl], ctrl, name)

    def want(rid: str, ctrl: str, name: str, value: str) -> None:
        got = f(ctrl, name)
        if got is None:
            ctx.skip(rid, f"no {ctrl}/{name} on this host")
        else:
            ctx.expect(rid, got == value, f"{name} = {got!r}, want {value!r}")

    want("LNX-MEM-001", "memory", "memory.limit_in_bytes", str(64 << 20))
    want("LNX-MEM-002", "memory", "memory.soft_limit_in_bytes", str(32 << 20))
    want("LNX-MEM-003", "memory", "memory.memsw.limit_in_bytes", str(128 << 20))
    want("LNX-MEM-004", "memory", "memory.swappiness", "10")
    oom = f("memory", "memory.oom_control") or ""
    ctx.expect("LNX-MEM-005", "oom_kill_disable 1" in oom, f"memory.oom_control: {oom!r}")
    want("LNX-CPU-001", "cpu", "cpu.shares", "512")
    q, p = f("cpu", "cpu.cfs_quota_us"), f("cpu", "cpu.cfs_period_us")
    ctx.expect("LNX-CPU-002", (q, p) == ("50000", "100000"), f"quota, period = {q}, {p}")
    want("LNX-CPU-003", "cpu", "cpu.cfs_burst_us", "10000")
    want("LNX-CPU-005", "cpuset", "cpuset.cpus", "0")
    want("LNX-CPU-006", "cpuset", "cpuset.mems", "0")
    want("LNX-PIDS-001", "pids", "pids.max", "42")


def _block_io_weight(ctx: Ctx) -> None:
    b = ctx.bundle(args=["sleep", "10"])
    b.linux["resources"] = {"blockIO": {"weight": 300}}
    cid, c = ctx.create(b)
    if not c.ok:
        ctx.fail("LNX-BLKIO-001", f"create failed: {c.why()}")
        return
    path = controller_path(ctx.must_state(cid).get("pid") or 0, "blkio") or ""
    w = cgfile(path, "blkio", "blkio.bfq.weight") or cgfile(path, "blkio", "blkio.weight")
    if w is None:
        ctx.skip("LNX-BLKIO-001", "no blkio.bfq.weight or blkio.weight here")
    else:
        ctx.expect("LNX-BLKIO-001", w.split()[-1] == "300", f"weight {w!r}")


@check("LNX-BLKIO-001", "LNX-BLKIO-002")
def block_io(ctx: Ctx) -> None:
    """Weight and throttling in two containers: one may fail alone."""
    dev = root_disk()
    here = controller_path(os.getpid(), "blkio")
    if here is not None and all(cgfile(here, "blkio", n) is None
                                for n in ("blkio.bfq.weight", "blkio.weight")):
        # A precondition of the host, for every runtime alike: no BFQ or CFQ here.
        ctx.skip("LNX-BLKIO-001", "this kernel has no blkio.weight or blkio.bfq.weight")
    else:
        _block_io_weight(ctx)
    if not dev:
        ctx.skip("LNX-BLKIO-002", "no block device found")
        return
    b = ctx.bundle(args=["sleep", "10"])
    b.linux["resources"] = {"blockIO": {
        "throttleReadBpsDevice": [{"major": dev[0], "minor": dev[1], "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": dev[0], "minor": dev[1], "rate": 123}]}}
    cid, pid = created(ctx, b)
    path = controller_path(pid, "blkio") or ""
    mm = f"{dev[0]}:{dev[1]}"
    rb = cgfile(path, "blkio", "blkio.throttle.read_bps_device") or ""
    wi = cgfile(path, "blkio", "blkio.throttle.write_iops_device") or ""
    ctx.expect("LNX-BLKIO-002", f"{mm} 1048576" in rb and f"{mm} 123" in wi,
               f"read_bps {rb!r}, write_iops {wi!r}")


@check("LNX-CPU-007")
def cpu_idle(ctx: Ctx) -> None:
    b = ctx.bundle(args=["sleep", "10"])
    b.linux["resources"] = {"cpu": {"idle": 1}}
    cid, pid = created(ctx, b)
    got = cgfile(controller_path(pid, "cpu") or "", "cpu", "cpu.idle")
    if got is None:
        raise Skip("no cpu.idle on this host")
    ctx.expect("LNX-CPU-007", got == "1", f"cpu.idle = {got!r}")


@check("LNX-CPU-004")
def cpu_realtime(ctx: Ctx) -> None:
    b = ctx.bundle(args=["sleep", "10"])
    b.linux["resources"] = {"cpu": {"realtimeRuntime": 1000, "realtimePeriod": 500000}}
    cid, c = ctx.create(b)
    if not c.ok:
        raise Skip(f"the runtime could not apply it (allowed: it reported an error): {c.why()}")
    pid = ctx.must_state(cid).get("pid") or 0
    path = controller_path(pid, "cpu") or ""
    rt = cgfile(path, "cpu", "cpu.rt_runtime_us"), cgfile(path, "cpu", "cpu.rt_period_us")
    ctx.expect("LNX-CPU-004", rt == ("1000", "500000"), f"rt_runtime, rt_period = {rt}")


@check("LNX-PIDS-002")
def pids_zero(ctx: Ctx) -> None:
    b = ctx.bundle(args=["sleep", "10"])
    b.linux["resources"] = {"pids": {"limit": 0}}
    cid, c = ctx.create(b)
    if not c.ok:
        raise Fail(f"create with pids.limit 0 failed: {c.why()}")
    pid = ctx.must_state(cid).get("pid") or 0
    got = cgfile(controller_path(pid, "pids") or "", "pids", "pids.max")
    ctx.expect("LNX-PIDS-002", got == "0", f"pids.max = {got!r} for limit 0")


def root_disk() -> tuple[int, int] | None:
    for name in sorted(os.listdir("/sys/block")):
        if name.startswith(("loop", "ram", "zram", "dm-", "md", "nbd", "sr")):
            continue
        try:
            ma, mi = read(f"/sys/block/{name}/dev").strip().split(":")
            return int(ma), int(mi)
        except (OSError, ValueError):
            continue
    return None

