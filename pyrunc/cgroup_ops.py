"""Operations on a live container's cgroup: pause/resume (freezer), signalling
every process, ps, stats and events, update of the limits.

Kept light (os and time only at module level): kill and delete use it."""

import time

from . import fastos as os
from .errors import PyruncError
from .resources import MAX_U64, Cgroup, WriteError, read, read_int, write

# -- freezer -------------------------------------------------------------------

def is_frozen(paths: dict[str, str]) -> bool:
    fz = Cgroup(paths).freezer()
    if fz is None:
        return False
    d, version = fz
    if version == 1:
        return read(d, "freezer.state") in ("FROZEN", "FREEZING")
    return read(d, "cgroup.freeze") == "1"


def freeze(paths: dict[str, str], frozen: bool, timeout: float = 10.0) -> None:
    """Freeze (or thaw) the container's cgroup and wait until it is done."""
    fz = Cgroup(paths).freezer()
    if fz is None:
        raise PyruncError("cannot freeze: no freezer cgroup (v1 freezer controller or "
                          "cgroup v2 cgroup.freeze)")
    d, version = fz
    deadline = time.monotonic() + timeout
    delay = 0.001
    if version == 1:
        want = "FROZEN" if frozen else "THAWED"
        while True:
            # the v1 freezer may stay FREEZING (a task in an uninterruptible
            # sleep); writing FROZEN again retries, as runc does
            write(d, "freezer.state", want, "freezer.state")
            if read(d, "freezer.state") == want:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        if frozen:
            write(d, "freezer.state", "THAWED", "freezer.state")
        raise PyruncError(f"cannot {'freeze' if frozen else 'thaw'} the container: "
                          f"{d}/freezer.state is still {read(d, 'freezer.state')}")
    write(d, "cgroup.freeze", "1" if frozen else "0", "cgroup.freeze")
    want = f"frozen {1 if frozen else 0}"
    while True:
        events = read(d, "cgroup.events") or ""
        if want in events.splitlines():
            return
        if time.monotonic() > deadline:
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    if frozen:
        write(d, "cgroup.freeze", "0", "cgroup.freeze")
    raise PyruncError(f"cannot {'freeze' if frozen else 'thaw'} the container: "
                      f"{d}/cgroup.events does not say {want}")


# -- processes -----------------------------------------------------------------

def all_pids(paths: dict[str, str]) -> list[int]:
    """Every pid in the container's cgroup and the cgroups below it (from one
    hierarchy: the pids, freezer or memory one, else any)."""
    cg = Cgroup(paths)
    order = [cg.v1.get(c) for c in ("pids", "freezer", "memory", "cpu")]
    order += [cg.unified, *paths.values()]
    for d in order:
        if not d or not os.path.isdir(d):
            continue
        pids: list[int] = []
        for dirpath, _, _ in os.walk(d):
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids += [int(x) for x in f.read().split()]
            except OSError:
                continue
        return sorted(set(pids))
    return []


def signal_all(paths: dict[str, str], signum: int) -> None:
    """Signal every process of the container, as runc does: SIGKILL through
    cgroup.kill where there is one; otherwise freeze, signal, thaw, so that no
    process forks past the signal. A paused container stays paused (but is
    thawed for SIGKILL, or its processes could not die)."""
    cg = Cgroup(paths)
    if signum == 9 and cg.unified:
        try:
            write(cg.unified, "cgroup.kill", "1", "cgroup.kill")
            _thaw_if_frozen(paths)
            return
        except WriteError:
            pass  # no cgroup.kill (before 5.14): the old way
    was_frozen = is_frozen(paths)
    can_freeze = cg.freezer() is not None
    if can_freeze and not was_frozen:
        try:
            freeze(paths, True, timeout=2.0)
        except PyruncError:
            pass
    try:
        for pid in all_pids(paths):
            try:
                os.kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass
    finally:
        if can_freeze and (not was_frozen or signum == 9):
            try:
                freeze(paths, False, timeout=2.0)
            except PyruncError:
                pass


def _thaw_if_frozen(paths: dict[str, str]) -> None:
    if is_frozen(paths):
        try:
            freeze(paths, False, timeout=2.0)
        except PyruncError:
            pass


def ps_table(pids: list[int], ps_args: list[str]) -> str:
    """`ps` output: its header and the rows whose PID is one of `pids` (as runc)."""
    import subprocess

    try:
        p = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, check=False)
    except FileNotFoundError:
        raise PyruncError("ps: the ps command is not installed") from None
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        raise PyruncError(f"ps: {p.stderr.decode(errors='replace').strip() or out.strip()}")
    lines = out.split("\n")
    header = lines[0].split()
    if "PID" not in header:
        raise PyruncError("couldn't find PID field in ps output")
    idx = header.index("PID")
    want = set(pids)
    keep = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > idx and fields[idx].isdigit() and int(fields[idx]) in want:
            keep.append(line)
    return "\n".join(keep) + "\n"


# -- stats ---------------------------------------------------------------------

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
        n = int(v)
    except ValueError:
        return 0
    return MAX_U64 if n >= 9223372036854771712 else n


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
                "kernel": {"limit": 0, "failcnt": 0}, "kernelTCP": {"limit": 0, "failcnt": 0},
                "event_count": {}}
    d, version = found
    raw = _kv(d, "memory.stat")
    if version == 1:
        def e(prefix: str) -> dict:
            return _entry(read_int(d, f"{prefix}.usage_in_bytes"),
                          read_int(d, f"{prefix}.max_usage_in_bytes"),
                          read_int(d, f"{prefix}.failcnt"),
                          _limit(d, f"{prefix}.limit_in_bytes"))

        oom = _kv(d, "memory.oom_control")
        out = {"cache": raw.get("cache", 0), "usage": e("memory"), "swap": e("memory.memsw"),
               "kernel": e("memory.kmem"), "kernelTCP": e("memory.kmem.tcp"), "raw": raw,
               "event_count": {"oom_kill": oom.get("oom_kill", 0)}}
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
               "raw": raw,
               "event_count": {k: ev.get(k, 0) for k in ("low", "high", "max", "oom",
                                                          "oom_kill")}}
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


# -- update --------------------------------------------------------------------

UPDATE_KEYS = ("memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma",
               "unified")


def changes(new: dict) -> dict:
    """The fields of an update request that change something: zero, null and
    empty values mean "unchanged" (docker sends zeros for what it leaves)."""
    out: dict = {}
    for key in UPDATE_KEYS:
        v = new.get(key)
        if isinstance(v, dict) and key not in ("unified", "rdma"):
            sub = {}
            for k, x in v.items():
                if x is None or x == "" or x == [] or (x == 0 and k != "swappiness"
                                                      and x is not False):
                    continue
                sub[k] = x
            if sub:
                out[key] = sub
        elif v:
            out[key] = v
    return out


def merge(old: dict, delta: dict) -> dict:
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in old.items()}
    for key, v in delta.items():
        if isinstance(v, dict) and isinstance(merged.get(key), dict):
            merged[key].update(v)
        else:
            merged[key] = v
    return merged


# -- container commands ----------------------------------------------------------

def _load(root: str, cid: str, lock: bool = True):
    from .state import Container

    c = Container.load(root, cid)
    if lock:
        c.lock()
    return c


def pause(root: str, cid: str) -> None:
    """Freeze every process of a running container."""
    c = _load(root, cid)
    status = c.status()
    if status == "paused":
        raise PyruncError("container already paused")
    if status != "running":
        raise PyruncError("container not running")
    freeze(_own_cgroup(c, "pause"), True)


def resume(root: str, cid: str) -> None:
    """Thaw a paused container."""
    c = _load(root, cid)
    status = c.status()
    if status != "paused":
        raise PyruncError("container not paused" if status in ("running", "created")
                          else "container not running")
    freeze(_own_cgroup(c, "resume"), False)


def _own_cgroup(c, what: str) -> dict:
    """The container's cgroup paths; a rootless container without one (no
    cgroup was delegated to its user) cannot be paused, updated, measured."""
    paths = c.data.get("cgroup", {})
    if not paths and c.data.get("rootless"):
        raise PyruncError(f"cannot {what} container {c.id}: it has no cgroup of its own "
                          "(rootless, and no cgroup was delegated to its user)")
    return paths


def _active(c, what: str) -> dict:
    if c.status() not in ("created", "running", "paused"):
        raise PyruncError("container not running" if what != "ps" else
                          "cannot list the processes of a stopped container")
    return c.data.get("cgroup", {})


def ps_pids(root: str, cid: str) -> list[int]:
    c = _load(root, cid, lock=False)
    paths = _active(c, "ps")
    if not paths and c.data.get("rootless"):  # no cgroup: the init's pid namespace
        from .rootless import container_pids

        return container_pids(c.pid)
    return all_pids(paths)


def container_stats(root: str, cid: str) -> dict:
    c = _load(root, cid, lock=False)
    _active(c, "stats")
    return stats(_own_cgroup(c, "get the stats of"))


def events(root: str, cid: str, interval: float, out, *, poll: float = 0.1) -> None:
    """Stream events as runc does: a stats line every `interval` seconds, an
    oom line whenever the OOM count grows; return when the container stops."""
    from . import fastjson

    c = _load(root, cid, lock=False)
    _active(c, "events")
    paths = _own_cgroup(c, "watch the events of")

    def emit(kind: str, data: dict | None = None) -> None:
        ev: dict = {"type": kind, "id": cid}
        if data is not None:
            ev["data"] = data
        out.write(fastjson.dumps(ev) + "\n")
        out.flush()

    ooms = oom_count(paths)
    next_stats = time.monotonic()
    while True:
        n = oom_count(paths)
        if n > ooms:
            ooms = n
            emit("oom")
        if c.status() not in ("created", "running", "paused"):
            return
        now = time.monotonic()
        if now >= next_stats:
            try:
                emit("stats", stats(paths))
            except OSError:
                return
            next_stats = now + interval
        time.sleep(min(poll, max(0.0, next_stats - time.monotonic())) or poll)


def update(root: str, cid: str, request: dict) -> dict:
    """Change the limits of a live container; returns the stored result."""
    from .resources import apply

    c = _load(root, cid)
    if c.status() not in ("created", "running", "paused"):
        raise PyruncError("container not running")
    delta = changes(request)
    if not delta:
        return c.data.get("resources", {})
    _own_cgroup(c, "update")
    merged = merge(c.data.get("resources") or {}, delta)
    if c.data.get("systemd_unit"):  # systemd first, then the exact values in the files
        from . import systemd
        from .cgroups import pure_v2

        systemd.set_properties(c.data["systemd_unit"], systemd.properties(
            delta, pure_v2(c.data.get("cgroup", {})), merged) + systemd.tasks_max(delta))
    apply(c.data.get("cgroup", {}), delta, full=merged, update=True)
    c.data["resources"] = merged
    c.save()
    return merged


# -- the update command's request ------------------------------------------------

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str, flag: str) -> int:
    """128m, 1g, 512k, 1.5g, 100 (bytes), -1 (unlimited): docker's RAMInBytes."""
    s = text.strip().lower()
    if s == "-1":
        return -1
    num = s.rstrip("kmgtpib ")
    unit = s[len(num):].strip()
    if unit.endswith("b"):
        unit = unit[:-1]
    if unit.endswith("i"):
        unit = unit[:-1]
    try:
        value = float(num)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or value < 0 or not num or not (num[0].isdigit()):
        raise PyruncError(f"invalid value for --{flag}: \"{text}\" (a size like 128m, or -1)")
    return int(value * _UNITS[unit])


def parse_duration(text: str) -> float:
    """A Go duration as runc takes it for --interval: 5s, 100ms, 1m, 1h (or seconds)."""
    s = text.strip()
    for suffix, mult in (("ms", 0.001), ("us", 1e-6), ("ns", 1e-9), ("s", 1.0),
                         ("m", 60.0), ("h", 3600.0)):
        if s.endswith(suffix):
            s, scale = s[: -len(suffix)], mult
            break
    else:
        scale = 1.0
    try:
        value = float(s) * scale
    except ValueError:
        value = -1.0
    if value <= 0:
        raise PyruncError(f"invalid --interval \"{text}\" (a duration such as 5s or 500ms)")
    return value


def _int_flag(flags: dict, name: str) -> int | None:
    v = flags.get(name)
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        raise PyruncError(f"invalid value for --{name}: \"{v}\" (an integer)") from None


def update_request(flags: dict, stdin) -> dict:
    """The linux.resources change that `pyrunc update` asks for: the JSON of
    --resources (a file, or - for stdin), else the flags (as runc)."""
    from . import fastjson

    src = flags.get("resources")
    if src:
        try:
            text = stdin.read() if src == "-" else open(src).read()
        except OSError as e:
            raise PyruncError(f"update: reading {src}: {e.strerror}") from None
        try:
            req = fastjson.loads(text)
        except ValueError as e:
            raise PyruncError(f"update: --resources {src}: {e}") from None
        if not isinstance(req, dict):
            raise PyruncError(f"update: --resources {src}: not a JSON object "
                              "(a linux.resources document)")
        return req
    for name in ("l3-cache-schema", "mem-bw-schema"):
        if flags.get(name):
            raise PyruncError(f"update: --{name}: Intel RDT is not supported")
    req: dict = {"memory": {}, "cpu": {}, "pids": {}, "blockIO": {}}
    for flag, key in (("memory", "limit"), ("memory-swap", "swap"),
                      ("memory-reservation", "reservation"), ("kernel-memory", "kernel"),
                      ("kernel-memory-tcp", "kernelTCP")):
        if flags.get(flag):
            req["memory"][key] = ram_in_bytes(flags[flag], flag)
    for flag, key in (("cpu-period", "period"), ("cpu-quota", "quota"),
                      ("cpu-share", "shares"), ("cpu-shares", "shares"),
                      ("cpu-rt-period", "realtimePeriod"), ("cpu-rt-runtime", "realtimeRuntime"),
                      ("cpu-idle", "idle")):
        v = _int_flag(flags, flag)
        if v is not None:
            req["cpu"][key] = v
    for flag, key in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if flags.get(flag):
            req["cpu"][key] = flags[flag]
    v = _int_flag(flags, "pids-limit")
    if v is not None:
        req["pids"]["limit"] = v
    v = _int_flag(flags, "blkio-weight")
    if v is not None:
        req["blockIO"]["weight"] = v
    return req
