"""The container's statistics in runc's `types.Stats` JSON layout (`events
--stats`, containerd's shim) and its OOM count (`events`), read from each
controller where common.Cgroup finds it, v1 or v2. The manager's `stats()`
and `oom_count()` read through here."""

from ..util import fastos as os
from .common import MAX_U64, Cgroup, read, read_int


def _kv(d: str | None, name: str) -> dict[str, int]:
    """A flat-keyed file (memory.stat, cpu.stat, memory.events) as a dict."""
    out: dict[str, int] = {}
    text = read(d, name) if d else None
    for line in (text or "").splitlines():
        k, _, v = line.partition(" ")
        try:
            out[k] = int(v)
        except ValueError:
            continue
    return out


def _ints(d: str, name: str) -> list[int]:
    text = read(d, name) or ""
    return [int(x) for x in text.split() if x.isdigit()]


def _cpu_list(text: str | None) -> list[int]:
    out: list[int] = []
    for part in (text or "").split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            out += range(int(lo), int(hi) + 1)
        elif part.strip().isdigit():
            out.append(int(part))
    return out


def _limit(d: str, name: str) -> int:
    v = read(d, name)
    if v is None:
        return 0
    if v == "max":
        return MAX_U64
    try:
        return int(v)  # (as the kernel holds it: runc shows v1's 9223372036854771712)
    except ValueError:
        return 0


def stats(paths: dict[str, str]) -> dict:
    """The container's statistics, in runc's `types.Stats` JSON layout (what
    `runc events --stats` prints and containerd's shim parses)."""
    cg = Cgroup(paths)
    s: dict = {"cpu": _cpu_stats(cg), "cpuset": _cpuset_stats(cg), "memory": _memory_stats(cg),
               "pids": _pids_stats(cg), "blkio": _blkio_stats(cg),
               "hugetlb": _hugetlb_stats(cg), "intel_rdt": {}, "network_interfaces": None}
    return s


def _cpu_stats(cg: Cgroup) -> dict:
    usage: dict = {"kernel": 0, "user": 0}
    thr: dict = {}
    acct = cg.find("cpuacct")
    cpu = cg.find("cpu")
    if acct and acct[1] == 1:
        d = acct[0]
        usage["total"] = read_int(d, "cpuacct.usage")
        percpu = _ints(d, "cpuacct.usage_percpu")
        if percpu:
            usage["percpu"] = percpu
        # cpuacct.usage_all: "cpu user system" rows in ns
        rows = (read(d, "cpuacct.usage_all") or "").splitlines()[1:]
        if rows:
            usage["percpu_kernel"] = [int(r.split()[2]) for r in rows]
            usage["percpu_user"] = [int(r.split()[1]) for r in rows]
        ticks = _kv(d, "cpuacct.stat")
        hz = os.sysconf("SC_CLK_TCK") or 100
        usage["kernel"] = ticks.get("system", 0) * 1_000_000_000 // hz
        usage["user"] = ticks.get("user", 0) * 1_000_000_000 // hz
    if cpu:
        d, version = cpu
        st = _kv(d, "cpu.stat")
        if version == 2:
            usage["total"] = st.get("usage_usec", 0) * 1000
            usage["kernel"] = st.get("system_usec", 0) * 1000
            usage["user"] = st.get("user_usec", 0) * 1000
            thr = {"periods": st.get("nr_periods", 0),
                   "throttledPeriods": st.get("nr_throttled", 0),
                   "throttledTime": st.get("throttled_usec", 0) * 1000}
        else:
            thr = {"periods": st.get("nr_periods", 0),
                   "throttledPeriods": st.get("nr_throttled", 0),
                   "throttledTime": st.get("throttled_time", 0)}
    elif cg.unified:  # v2 without the cpu controller: cpu.stat is always there
        st = _kv(cg.unified, "cpu.stat")
        if cg.pure_v2:
            usage["total"] = st.get("usage_usec", 0) * 1000
            usage["kernel"] = st.get("system_usec", 0) * 1000
            usage["user"] = st.get("user_usec", 0) * 1000
    return {"usage": usage, "throttling": {k: v for k, v in thr.items() if v}}


def _cpuset_stats(cg: Cgroup) -> dict:
    out: dict = {"cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0,
                 "memory_migrate": 0, "memory_spread_page": 0, "memory_spread_slab": 0,
                 "memory_pressure": 0, "sched_load_balance": 0, "sched_relax_domain_level": 0}
    found = cg.find("cpuset")
    if not found:
        return out
    d, version = found
    cpus = _cpu_list(read(d, "cpuset.effective_cpus") or read(d, "cpuset.cpus"))
    mems = _cpu_list(read(d, "cpuset.effective_mems") or read(d, "cpuset.mems"))
    if cpus:
        out["cpus"] = cpus
    if mems:
        out["mems"] = mems
    if version == 1:
        for key in ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate",
                    "memory_spread_page", "memory_spread_slab", "memory_pressure",
                    "sched_load_balance", "sched_relax_domain_level"):
            v = read(d, f"cpuset.{key}")
            if v is not None and v.lstrip("-").isdigit():
                out[key] = int(v)
    return out


def _entry(usage: int, mx: int, failcnt: int, limit: int) -> dict:
    e = {"limit": limit, "failcnt": failcnt}
    if usage:
        e["usage"] = usage
    if mx:
        e["max"] = mx
    return e


def _memory_stats(cg: Cgroup) -> dict:
    found = cg.find("memory")
    if not found:
        return {"usage": {"limit": 0, "failcnt": 0}, "swap": {"limit": 0, "failcnt": 0},
                "kernel": {"limit": 0, "failcnt": 0}, "kernelTCP": {"limit": 0, "failcnt": 0}}
    d, version = found
    raw = _kv(d, "memory.stat")
    if version == 1:
        def e(prefix: str) -> dict:
            return _entry(read_int(d, f"{prefix}.usage_in_bytes"),
                          read_int(d, f"{prefix}.max_usage_in_bytes"),
                          read_int(d, f"{prefix}.failcnt"),
                          _limit(d, f"{prefix}.limit_in_bytes"))

        out = {"cache": raw.get("cache", 0), "usage": e("memory"), "swap": e("memory.memsw"),
               "kernel": e("memory.kmem"), "kernelTCP": e("memory.kmem.tcp"), "raw": raw}
    else:
        ev = _kv(d, "memory.events")
        current = read_int(d, "memory.current")
        limit = _limit(d, "memory.max")
        swap_cur = read_int(d, "memory.swap.current")
        swap_max = _limit(d, "memory.swap.max")
        swap_limit = MAX_U64 if MAX_U64 in (limit, swap_max) else limit + swap_max
        out = {"cache": raw.get("file", 0),
               "usage": _entry(current, read_int(d, "memory.peak"), ev.get("max", 0), limit),
               "swap": _entry(current + swap_cur, 0, ev.get("max", 0), swap_limit),
               "kernel": {"limit": 0, "failcnt": 0}, "kernelTCP": {"limit": 0, "failcnt": 0},
               "raw": raw}
    if not out["cache"]:
        del out["cache"]
    return out


def _pids_stats(cg: Cgroup) -> dict:
    found = cg.find("pids")
    if not found:
        return {}
    d, _ = found
    out = {"current": read_int(d, "pids.current")}
    lim = read(d, "pids.max")
    if lim and lim != "max":
        out["limit"] = int(lim)
    return {k: v for k, v in out.items() if v}


def _blkio_lines(d: str, name: str) -> list[dict]:
    out = []
    for line in (read(d, name) or "").splitlines():
        f = line.split()
        if len(f) != 3 or ":" not in f[0]:
            continue
        ma, mi = f[0].split(":")
        e: dict = {"major": int(ma), "minor": int(mi), "op": f[1], "value": int(f[2])}
        out.append({k: v for k, v in e.items() if v or k == "op"})
    return out


def _blkio_stats(cg: Cgroup) -> dict:
    found = cg.find("blkio") or cg.find("io")
    if not found and cg.unified and cg.pure_v2:
        found = (cg.unified, 2)
    if not found:
        return {}
    d, version = found
    out: dict = {}
    if version == 1:
        for key, names in (("ioServiceBytesRecursive", ("blkio.io_service_bytes_recursive",
                                                        "blkio.bfq.io_service_bytes_recursive",
                                                        "blkio.throttle.io_service_bytes_recursive")),
                           ("ioServicedRecursive", ("blkio.io_serviced_recursive",
                                                    "blkio.bfq.io_serviced_recursive",
                                                    "blkio.throttle.io_serviced_recursive"))):
            for name in names:
                if os.path.exists(os.path.join(d, name)):
                    entries = _blkio_lines(d, name)
                    if entries:
                        out[key] = entries
                    break
        return out
    sb: list = []
    sv: list = []
    for line in (read(d, "io.stat") or "").splitlines():
        f = line.split()
        if not f or ":" not in f[0]:
            continue
        ma, mi = (int(x) for x in f[0].split(":"))
        kv = dict(x.split("=", 1) for x in f[1:] if "=" in x)
        for k, op, target in (("rbytes", "Read", sb), ("wbytes", "Write", sb),
                              ("dbytes", "Discard", sb), ("rios", "Read", sv),
                              ("wios", "Write", sv), ("dios", "Discard", sv)):
            if k in kv:
                e = {"major": ma, "minor": mi, "op": op, "value": int(kv[k])}
                target.append({k2: v for k2, v in e.items() if v or k2 == "op"})
    if sb:
        out["ioServiceBytesRecursive"] = sb
    if sv:
        out["ioServicedRecursive"] = sv
    return out


def _hugetlb_stats(cg: Cgroup) -> dict:
    found = cg.find("hugetlb")
    if not found:
        return {}
    d, version = found
    out = {}
    for name in sorted(os.listdir(d)):
        if not name.startswith("hugetlb."):
            continue
        if version == 1 and name.endswith(".usage_in_bytes") and ".rsvd." not in name:
            size = name[len("hugetlb."):-len(".usage_in_bytes")]
            e = {"usage": read_int(d, name),
                 "max": read_int(d, f"hugetlb.{size}.max_usage_in_bytes"),
                 "failcnt": read_int(d, f"hugetlb.{size}.failcnt")}
        elif version == 2 and name.endswith(".current") and ".rsvd." not in name:
            size = name[len("hugetlb."):-len(".current")]
            e = {"usage": read_int(d, name),
                 "failcnt": _kv(d, f"hugetlb.{size}.events").get("max", 0)}
        else:
            continue
        out[size] = {k: v for k, v in e.items() if v or k == "failcnt"}
    return out


def oom_count(paths: dict[str, str]) -> int:
    """How many OOM kills the container's memory cgroup has seen."""
    found = Cgroup(paths).find("memory")
    if not found:
        return 0
    d, version = found
    if version == 1:
        kv = _kv(d, "memory.oom_control")
        return kv.get("oom_kill", 0) or kv.get("under_oom", 0)
    ev = _kv(d, "memory.events")
    return max(ev.get("oom_kill", 0), ev.get("oom", 0))
