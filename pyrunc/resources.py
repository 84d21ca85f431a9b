"""linux.resources applied to a container's cgroup directories.

`apply(paths, resources)` writes every field of runtime-spec v1.3.0's
`linux.resources` into the container's cgroup, on cgroup v1 (one directory per
controller), v2 (one directory) or a hybrid of both (each controller where it
is mounted; v1 first). The conversions follow runc's (cpu.weight from shares,
io.weight from blkio weight, memory.swap.max = swap - limit).

Errors name the config field as a JSON path, the file and the value, e.g.
``$.linux.resources.memory.limit: cannot set memory limit 4M: current usage 9M``.
"""

from . import fastos as os
from .cgroups import pure_v2
from .errors import PyruncError

RES = "$.linux.resources"
MAX_U64 = 18446744073709551615

# The default device rules appended to the config's, as runc's AllowedDevices
# (libcontainer/specconv): the standard character devices and the ptys. runc's
# blanket "c *:* m" and "b *:* m" (mknod of anything) are left out on purpose:
# a device the rules deny cannot be made either. linux.devices nodes get an
# "m" rule of their own (see device_rules) so that the init can create them.
DEFAULT_DEVICES = (
    ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 7, "rwm"), ("c", 5, 0, "rwm"),
    ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"), ("c", 136, -1, "rwm"), ("c", 5, 2, "rwm"),
    ("c", 10, 200, "rwm"),  # /dev/net/tun, as runc: VPN images make it themselves
)
# Unlike runc, no "c *:* m" / "b *:* m": a node the config does not allow cannot
# even be made (the security suite's device class).


def human(n: int) -> str:
    """Bytes as 4M, 9.5M, 512K, 1G (binary units)."""
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            v = f"{n / size:.1f}".removesuffix(".0")
            return f"{v}{unit}"
    return f"{n}B"


class Cgroup:
    """Where each controller of a container's cgroup lives.

    `paths` is the {hierarchy name: directory} map that cgroups.container_paths
    makes: keys like "memory" or "cpu,cpuacct" for v1, "unified" for v2."""

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths
        self.v1: dict[str, str] = {}
        for key, path in paths.items():
            if key != "unified":
                for ctrl in key.split(","):
                    self.v1[ctrl] = path
        self.unified = paths.get("unified")
        self.v2_controllers: set[str] = set()
        if self.unified:
            try:
                with open(os.path.join(self.unified, "cgroup.controllers")) as f:
                    self.v2_controllers = set(f.read().split())
            except OSError:
                pass
        self.pure_v2 = pure_v2(paths)

    def find(self, ctrl: str) -> tuple[str, int] | None:
        """(directory, version) of a controller, or None."""
        if ctrl in self.v1:
            return self.v1[ctrl], 1
        if self.unified and ctrl in self.v2_controllers:
            return self.unified, 2
        return None

    def need(self, ctrl: str, field: str) -> tuple[str, int]:
        found = self.find(ctrl)
        if found is None:
            raise PyruncError(f"{field}: the {ctrl} cgroup controller is not available "
                              f"(not mounted on cgroup v1, not enabled on cgroup v2)")
        return found

    def freezer(self) -> tuple[str, int] | None:
        """The directory that freezes the container: v1 freezer, else cgroup.freeze."""
        if "freezer" in self.v1:
            return self.v1["freezer"], 1
        if self.unified and os.path.exists(os.path.join(self.unified, "cgroup.freeze")):
            return self.unified, 2
        return None


class WriteError(PyruncError):
    """Writing a cgroup file failed; `errno` says why (ENOENT: no such file)."""

    def __init__(self, msg: str, errno: int) -> None:
        super().__init__(msg)
        self.errno = errno


def write(directory: str, name: str, value: str, field: str) -> None:
    """Write one cgroup file, with an error naming field, file and value."""
    path = os.path.join(directory, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)  # as runc
    except FileNotFoundError:
        raise WriteError(f"{field}: {name} does not exist in {directory} (the kernel or "
                         "the cgroup controller does not support this setting)", 2) from None
    except OSError as e:
        raise WriteError(f"{field}: opening {path}: {e.strerror}", e.errno) from None
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise WriteError(f"{field}: writing \"{value.strip()}\" to {path}: {e.strerror}",
                         e.errno) from None
    finally:
        os.close(fd)


_write = write


def read(directory: str, name: str) -> str | None:
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read().strip()
    except OSError:
        return None


def read_int(directory: str, name: str) -> int:
    v = read(directory, name)
    if v is None or v == "max":
        return MAX_U64 if v == "max" else 0
    try:
        return int(v.split()[0])
    except (ValueError, IndexError):
        return 0


def _num(value: object, field: str, lo: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PyruncError(f"{field}: must be an integer, got {value!r}")
    if lo is not None and value < lo:
        raise PyruncError(f"{field}: must be at least {lo}, got {value}")
    return value


# -- entry points ------------------------------------------------------------------

def enable_controllers(paths: dict[str, str], made: list[str]) -> None:
    """cgroup v2: make the controllers reach the container's cgroup by enabling
    them in cgroup.subtree_control of the directories between the hierarchy's
    root and it: always in the ones we made; in existing ones only on a pure
    v2 host (on a hybrid host the unified tree belongs to the machine)."""
    leaf = paths.get("unified")
    if not leaf:
        return
    cg = Cgroup(paths)
    mount = _mountpoint(leaf)
    parents = []
    p = os.path.dirname(leaf)
    while len(p) >= len(mount):
        parents.append(p)
        if p == mount:
            break
        p = os.path.dirname(p)
    for d in reversed(parents):
        if d not in made and not cg.pure_v2:
            continue
        available = (read(d, "cgroup.controllers") or "").split()
        enabled = set((read(d, "cgroup.subtree_control") or "").split())
        for ctrl in available:
            if ctrl in enabled:
                continue
            try:
                write(d, "cgroup.subtree_control", f"+{ctrl}", "cgroup.subtree_control")
            except PyruncError:
                continue  # a resource that needs it reports the missing controller


def _mountpoint(path: str) -> str:
    from .cgroups import hierarchies

    for h in hierarchies():
        if h.version == 2 and (path == h.mountpoint or path.startswith(h.mountpoint + "/")):
            return h.mountpoint
    return "/sys/fs/cgroup"


def apply(paths: dict[str, str], resources: dict | None, *, full: dict | None = None,
          update: bool = False, nodes: list | None = None, devices: bool = True) -> None:
    """Write `resources` (a linux.resources object) into the container's cgroup.

    `full` is the complete resources the container will have after this call
    (for an update: the stored ones merged with the change); fields written
    together (cpu.max, memory.swap.max) take their partner from it."""
    resources = resources or {}
    full = full or resources
    cg = Cgroup(paths)
    if not update and devices:  # as runc: the device rules always apply, with its defaults
        _devices(cg, resources.get("devices") or [], nodes)
    if resources.get("memory"):
        _memory(cg, resources["memory"], full.get("memory") or {})
    if resources.get("cpu"):
        _cpuset(cg, resources["cpu"])
        _cpu(cg, resources["cpu"], full.get("cpu") or {})
    if resources.get("pids"):
        _pids(cg, resources["pids"])
    if resources.get("blockIO"):
        _blockio(cg, resources["blockIO"])
    if resources.get("hugepageLimits"):
        _hugetlb(cg, resources["hugepageLimits"])
    if resources.get("network"):
        _network(cg, resources["network"])
    if resources.get("rdma"):
        _rdma(cg, resources["rdma"])
    if resources.get("unified"):
        _unified(cg, resources["unified"])


# -- memory ------------------------------------------------------------------------

def _memory(cg: Cgroup, mem: dict, full: dict) -> None:
    f = f"{RES}.memory"
    d, version = cg.need("memory", f)
    limit = _num(mem.get("limit") or 0, f"{f}.limit", -1)
    swap = _num(mem.get("swap") or 0, f"{f}.swap", -1)
    reservation = _num(mem.get("reservation") or 0, f"{f}.reservation", -1)
    if limit == -1 and not swap:
        swap = -1  # as runc: unlimited memory means unlimited swap too
    if version == 1:
        _memory_v1(d, mem, limit, swap, reservation, f)
    else:
        _memory_v2(d, mem, limit, swap, reservation, f, full)


def _set_limit(d: str, name: str, value: int, field: str, usage_file: str) -> None:
    text = str(value) if value != -1 else ("-1" if name.endswith("_in_bytes") else "max")
    try:
        write(d, name, text, field)
    except WriteError as e:
        if e.errno == 16:  # EBUSY: below what is in use
            usage = read_int(d, usage_file)
            what = "memory+swap limit" if "memsw" in name else "memory limit"
            raise PyruncError(f"{field}: cannot set {what} {human(value)}: current usage "
                              f"{human(usage)} ({d}/{name})") from None
        if e.errno == 22 and name == "memory.limit_in_bytes" and value > 0:
            memsw = read_int(d, "memory.memsw.limit_in_bytes")
            if 0 < memsw < value:
                raise PyruncError(f"{field}: cannot set memory limit {human(value)} above the "
                                  f"memory+swap limit {human(memsw)}: set the swap limit "
                                  "(--memory-swap) too") from None
        raise


def _memory_v1(d: str, mem: dict, limit: int, swap: int, reservation: int, f: str) -> None:
    def set_limit() -> None:
        if limit:
            _set_limit(d, "memory.limit_in_bytes", limit, f"{f}.limit", "memory.usage_in_bytes")

    def set_swap() -> None:
        if swap:
            if not os.path.exists(os.path.join(d, "memory.memsw.limit_in_bytes")):
                if swap == -1:
                    return
                raise PyruncError(f"{f}.swap: memory.memsw.limit_in_bytes does not exist in "
                                  f"{d}: the kernel does not account swap (swapaccount=1)")
            _set_limit(d, "memory.memsw.limit_in_bytes", swap, f"{f}.swap",
                       "memory.memsw.usage_in_bytes")

    # The kernel wants limit <= memsw limit at every step: order the two writes.
    if limit and swap:
        cur = read_int(d, "memory.limit_in_bytes")
        if swap == -1 or cur < swap:
            set_swap()
            set_limit()
        else:
            set_limit()
            set_swap()
    else:
        set_limit()
        set_swap()
    if reservation:
        _write(d, "memory.soft_limit_in_bytes", str(reservation), f"{f}.reservation")
    if mem.get("kernel"):
        warn(f"{f}.kernel: kernel memory limits are ignored (deprecated by the kernel)")
    if mem.get("kernelTCP"):
        k = _num(mem["kernelTCP"], f"{f}.kernelTCP", -1)
        _write(d, "memory.kmem.tcp.limit_in_bytes", str(k), f"{f}.kernelTCP")
    if mem.get("swappiness") is not None:
        s = _num(mem["swappiness"], f"{f}.swappiness")
        if not 0 <= s <= 100:
            raise PyruncError(f"{f}.swappiness: invalid value {s} (valid range is 0-100)")
        _write(d, "memory.swappiness", str(s), f"{f}.swappiness")
    if mem.get("disableOOMKiller") is not None:
        _write(d, "memory.oom_control", "1" if mem["disableOOMKiller"] else "0",
               f"{f}.disableOOMKiller")
    if mem.get("useHierarchy") is not None:
        want = "1" if mem["useHierarchy"] else "0"
        if read(d, "memory.use_hierarchy") != want:
            _write(d, "memory.use_hierarchy", want, f"{f}.useHierarchy")


def _memory_v2(d: str, mem: dict, limit: int, swap: int, reservation: int, f: str,
               full: dict) -> None:
    full_limit = limit or int(full.get("limit") or 0)
    swap_text = ""
    if swap == -1:
        swap_text = "max"
    elif swap:
        if full_limit in (0, -1):
            raise PyruncError(f"{f}.swap: unable to set a swap limit without a memory limit")
        if swap < full_limit:
            raise PyruncError(f"{f}.swap: memory+swap limit {swap} should be >= the memory "
                              f"limit {full_limit}")
        swap_text = str(swap - full_limit)
    if limit and mem.get("checkBeforeUpdate") and limit != -1:
        usage = read_int(d, "memory.current")
        if usage > limit:
            raise PyruncError(f"{f}.limit: cannot set memory limit {human(limit)}: current "
                              f"usage {human(usage)} (checkBeforeUpdate)")
    if swap_text:
        if os.path.exists(os.path.join(d, "memory.swap.max")):
            _write(d, "memory.swap.max", swap_text, f"{f}.swap")
        elif swap_text not in ("max", "0"):
            raise PyruncError(f"{f}.swap: memory.swap.max does not exist in {d}: "
                              "the kernel does not account swap")
    if limit:
        _set_limit(d, "memory.max", limit, f"{f}.limit", "memory.current")
    if reservation:
        _write(d, "memory.low", "max" if reservation == -1 else str(reservation),
               f"{f}.reservation")
    for key in ("kernel", "kernelTCP", "swappiness", "useHierarchy"):
        if mem.get(key) not in (None, 0, -1, False) and not (key == "useHierarchy"
                                                              and mem[key] is True):
            warn(f"{f}.{key}: ignored on cgroup v2 (no such setting)")
    if mem.get("disableOOMKiller"):
        warn(f"{f}.disableOOMKiller: ignored on cgroup v2 (no such setting)")


def warn(msg: str) -> None:
    from .log import warning

    warning(msg)


# -- cpu and cpuset ----------------------------------------------------------------

def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) to cpu.weight (1..10000), as runc converts."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def _cpuset(cg: Cgroup, cpu: dict) -> None:
    f = f"{RES}.cpu"
    for key in ("cpus", "mems"):
        if cpu.get(key):
            d, _ = cg.need("cpuset", f"{f}.{key}")
            _write(d, f"cpuset.{key}", str(cpu[key]), f"{f}.{key}")


def _cpu(cg: Cgroup, cpu: dict, full: dict) -> None:
    f = f"{RES}.cpu"
    keys = ("shares", "quota", "period", "burst", "realtimeRuntime", "realtimePeriod", "idle")
    if not any(cpu.get(k) is not None for k in keys):
        return
    d, version = cg.need("cpu", f)
    if version == 1:
        _cpu_v1(d, cpu, f)
    else:
        _cpu_v2(d, cpu, full, f)


def _cpu_v1(d: str, cpu: dict, f: str) -> None:
    # realtime first: a later quota may need the runtime budget
    for key, name in (("realtimePeriod", "cpu.rt_period_us"),
                      ("realtimeRuntime", "cpu.rt_runtime_us")):
        if cpu.get(key):
            _write(d, name, str(_num(cpu[key], f"{f}.{key}", -1)), f"{f}.{key}")
    shares = cpu.get("shares")
    if shares:
        shares = _num(shares, f"{f}.shares", 0)
        _write(d, "cpu.shares", str(shares), f"{f}.shares")
        got = read_int(d, "cpu.shares")
        if shares > got:
            raise PyruncError(f"{f}.shares: the maximum allowed cpu-shares is {got}")
        if shares < got:
            raise PyruncError(f"{f}.shares: the minimum allowed cpu-shares is {got}")
    quota = _num(cpu.get("quota") or 0, f"{f}.quota", -1)
    period = _num(cpu.get("period") or 0, f"{f}.period", 0)
    burst = cpu.get("burst")
    retry_period = False
    if period:
        try:
            write(d, "cpu.cfs_period_us", str(period), f"{f}.period")
        except WriteError as e:
            # a shorter period may exceed the parent's quota until the quota is set
            if e.errno != 22 or not quota:
                raise
            retry_period = True
    retry_burst = False
    if burst is not None:
        burst = _num(burst, f"{f}.burst", 0)
        if quota > 0 and burst > quota:
            raise PyruncError(f"{f}.burst: {burst} is larger than the quota {quota}")
        try:
            write(d, "cpu.cfs_burst_us", str(burst), f"{f}.burst")
        except WriteError as e:
            if e.errno != 22 or not quota:
                raise
            retry_burst = True
    if quota:
        _write(d, "cpu.cfs_quota_us", str(quota), f"{f}.quota")
        if retry_period:
            _write(d, "cpu.cfs_period_us", str(period), f"{f}.period")
        if retry_burst:
            _write(d, "cpu.cfs_burst_us", str(burst), f"{f}.burst")
    if cpu.get("idle") is not None:
        _write(d, "cpu.idle", str(_num(cpu["idle"], f"{f}.idle")), f"{f}.idle")


def _cpu_v2(d: str, cpu: dict, full: dict, f: str) -> None:
    if cpu.get("realtimeRuntime") or cpu.get("realtimePeriod"):
        raise PyruncError(f"{f}.realtimeRuntime: realtime CPU limits are not supported on "
                          "cgroup v2")
    if cpu.get("idle") is not None:
        _write(d, "cpu.idle", str(_num(cpu["idle"], f"{f}.idle")), f"{f}.idle")
    shares = cpu.get("shares")
    if shares:
        shares = _num(shares, f"{f}.shares", 2)
        if shares > 262144:
            raise PyruncError(f"{f}.shares: {shares} is above the maximum 262144")
        _write(d, "cpu.weight", str(shares_to_weight(shares)), f"{f}.shares")
    quota = _num(cpu.get("quota") or 0, f"{f}.quota", -1)
    period = _num(cpu.get("period") or 0, f"{f}.period", 0)
    burst = cpu.get("burst")
    retry_burst = False
    if burst is not None:
        burst = _num(burst, f"{f}.burst", 0)
        q = quota or int(full.get("quota") or 0)
        if q > 0 and burst > q:
            raise PyruncError(f"{f}.burst: {burst} is larger than the quota {q}")
        try:
            write(d, "cpu.max.burst", str(burst), f"{f}.burst")
        except WriteError as e:
            if e.errno != 22 or not quota:
                raise
            retry_burst = True
    if quota or period:
        quota = quota or int(full.get("quota") or 0)
        period = period or int(full.get("period") or 0)
        text = str(quota) if quota > 0 else "max"
        if period:
            text += f" {period}"
        _write(d, "cpu.max", text, f"{f}.quota" if cpu.get("quota") else f"{f}.period")
        if retry_burst:
            _write(d, "cpu.max.burst", str(burst), f"{f}.burst")


# -- pids, block IO, hugetlb, network, rdma, unified ---------------------------------

def _pids(cg: Cgroup, pids: dict) -> None:
    f = f"{RES}.pids.limit"
    if pids.get("limit") is None:
        return
    limit = _num(pids["limit"], f)
    d, _ = cg.need("pids", f)
    # spec 1.3: 0 is a real limit; negative means no limit
    _write(d, "pids.max", "max" if limit < 0 else str(limit), f)


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) to io.weight (1..10000), as runc converts."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


THROTTLE = (("throttleReadBpsDevice", "read_bps_device", "rbps"),
            ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
            ("throttleReadIOPSDevice", "read_iops_device", "riops"),
            ("throttleWriteIOPSDevice", "write_iops_device", "wiops"))


def _dev(entry: dict, field: str) -> str:
    try:
        return f"{int(entry['major'])}:{int(entry['minor'])}"
    except (KeyError, TypeError, ValueError):
        raise PyruncError(f"{field}: major and minor are required") from None


def _blockio(cg: Cgroup, bio: dict) -> None:
    f = f"{RES}.blockIO"
    d, version = cg.need("blkio" if "blkio" in cg.v1 else "io", f)
    bfq = os.path.exists(os.path.join(d, "blkio.bfq.weight" if version == 1
                                      else "io.bfq.weight"))
    if version == 1:
        prefix = "blkio.bfq." if bfq and not os.path.exists(
            os.path.join(d, "blkio.weight")) else "blkio."
        if bio.get("weight"):
            _write(d, prefix + "weight", str(_num(bio["weight"], f"{f}.weight")), f"{f}.weight")
        if bio.get("leafWeight"):
            _write(d, "blkio.leaf_weight", str(_num(bio["leafWeight"], f"{f}.leafWeight")),
                   f"{f}.leafWeight")
        for i, wd in enumerate(bio.get("weightDevice") or []):
            wf = f"{f}.weightDevice[{i}]"
            dev = _dev(wd, wf)
            if wd.get("weight"):
                _write(d, prefix + "weight_device", f"{dev} {wd['weight']}", f"{wf}.weight")
            if wd.get("leafWeight"):
                _write(d, "blkio.leaf_weight_device", f"{dev} {wd['leafWeight']}",
                       f"{wf}.leafWeight")
        for key, name, _ in THROTTLE:
            for i, td in enumerate(bio.get(key) or []):
                tf = f"{f}.{key}[{i}]"
                _write(d, f"blkio.throttle.{name}", f"{_dev(td, tf)} {int(td['rate'])}", tf)
        return
    if bio.get("weight"):
        w = _num(bio["weight"], f"{f}.weight")
        if bfq:
            _write(d, "io.bfq.weight", str(w), f"{f}.weight")
        else:
            _write(d, "io.weight", str(blkio_to_io_weight(w)), f"{f}.weight")
    if bio.get("leafWeight"):
        warn(f"{f}.leafWeight: ignored on cgroup v2 (no such setting)")
    for i, wd in enumerate(bio.get("weightDevice") or []):
        wf = f"{f}.weightDevice[{i}]"
        if not wd.get("weight"):
            continue
        if not bfq:
            raise PyruncError(f"{wf}: per-device weights need the BFQ I/O scheduler "
                              f"(io.bfq.weight does not exist in {d})")
        _write(d, "io.bfq.weight", f"{_dev(wd, wf)} {wd['weight']}", wf)
    for key, _, v2key in THROTTLE:
        for i, td in enumerate(bio.get(key) or []):
            tf = f"{f}.{key}[{i}]"
            _write(d, "io.max", f"{_dev(td, tf)} {v2key}={int(td['rate'])}", tf)


def _page_sizes(d: str, version: int) -> set[str]:
    suffix = ".limit_in_bytes" if version == 1 else ".max"
    out = set()
    for name in os.listdir(d):
        if name.startswith("hugetlb.") and name.endswith(suffix) and ".rsvd." not in name:
            out.add(name[len("hugetlb."):-len(suffix)])
    return out


def _hugetlb(cg: Cgroup, limits: list) -> None:
    f = f"{RES}.hugepageLimits"
    d, version = cg.need("hugetlb", f)
    sizes = _page_sizes(d, version)
    for i, entry in enumerate(limits):
        ef = f"{f}[{i}]"
        size = str(entry.get("pageSize", ""))
        if size not in sizes:
            raise PyruncError(f"{ef}.pageSize: hugepage size \"{size}\" is not supported "
                              f"(available: {', '.join(sorted(sizes)) or 'none'})")
        limit = str(_num(entry.get("limit"), f"{ef}.limit", 0))
        names = ((f"hugetlb.{size}.limit_in_bytes", f"hugetlb.{size}.rsvd.limit_in_bytes")
                 if version == 1 else (f"hugetlb.{size}.max", f"hugetlb.{size}.rsvd.max"))
        _write(d, names[0], limit, f"{ef}.limit")
        if os.path.exists(os.path.join(d, names[1])):
            _write(d, names[1], limit, f"{ef}.limit")


def _network(cg: Cgroup, net: dict) -> None:
    f = f"{RES}.network"
    if net.get("classID") is not None:
        if "net_cls" not in cg.v1:
            raise PyruncError(f"{f}.classID: the net_cls cgroup controller is not available "
                              "(it exists only on cgroup v1, and is not mounted here)")
        _write(cg.v1["net_cls"], "net_cls.classid", str(_num(net["classID"], f"{f}.classID")),
               f"{f}.classID")
    for i, p in enumerate(net.get("priorities") or []):
        pf = f"{f}.priorities[{i}]"
        if "net_prio" not in cg.v1:
            raise PyruncError(f"{pf}: the net_prio cgroup controller is not available "
                              "(it exists only on cgroup v1, and is not mounted here)")
        _write(cg.v1["net_prio"], "net_prio.ifpriomap", f"{p['name']} {int(p['priority'])}", pf)


def _rdma(cg: Cgroup, rdma: dict) -> None:
    f = f"{RES}.rdma"
    d, _ = cg.need("rdma", f)
    for dev, lim in rdma.items():
        parts = []
        if lim.get("hcaHandles") is not None:
            parts.append(f"hca_handle={int(lim['hcaHandles'])}")
        if lim.get("hcaObjects") is not None:
            parts.append(f"hca_object={int(lim['hcaObjects'])}")
        if not parts:
            raise PyruncError(f"{f}.{dev}: hcaHandles or hcaObjects is required")
        _write(d, "rdma.max", f"{dev} {' '.join(parts)}", f"{f}.{dev}")


def _unified(cg: Cgroup, unified: dict) -> None:
    f = f"{RES}.unified"
    if not cg.unified:
        raise PyruncError(f"{f}: cgroup v2 is not mounted, so unified settings cannot apply")
    for key, value in unified.items():
        kf = f"{f}[\"{key}\"]"
        if "/" in key or key in ("", ".", ".."):
            raise PyruncError(f"{kf}: must be a file name in the cgroup directory")
        if key.startswith("cgroup.") and key not in ("cgroup.max.depth",
                                                     "cgroup.max.descendants"):
            raise PyruncError(f"{kf}: setting {key} is not allowed")
        if not os.path.exists(os.path.join(cg.unified, key)):
            ctrl = key.split(".", 1)[0]
            if ctrl not in cg.v2_controllers:
                raise PyruncError(f"{kf}: the {ctrl} controller is not available on the "
                                  f"cgroup v2 hierarchy ({cg.unified})")
            raise PyruncError(f"{kf}: {key} does not exist in {cg.unified}")
        _write(cg.unified, key, str(value), kf)


# -- devices -----------------------------------------------------------------------

def device_rules(devices: list, nodes: list | None = None
                 ) -> list[tuple[bool, str, int, int, str]]:
    """(allow, type, major, minor, access) in order: the config's rules
    (validated), mknod of the linux.devices nodes, the default devices; -1 is
    a wildcard."""
    f = f"{RES}.devices"
    out = []
    for i, d in enumerate(devices):
        df = f"{f}[{i}]"
        t = d.get("type") or "a"
        if t not in ("a", "b", "c"):
            raise PyruncError(f"{df}.type: invalid device type \"{t}\" (a, b or c)")
        access = d.get("access") or ""
        if not access:
            raise PyruncError(f"{df}.access: cannot be empty")
        if set(access) - set("rwm"):
            raise PyruncError(f"{df}.access: invalid access \"{access}\" (r, w and m)")
        major = -1 if d.get("major") is None else int(d["major"])
        minor = -1 if d.get("minor") is None else int(d["minor"])
        out.append((bool(d.get("allow")), t, major, minor, access))
    for n in nodes or []:
        if n.get("type") in ("c", "u", "b") and "major" in n and "minor" in n:
            out.append((True, "b" if n["type"] == "b" else "c", int(n["major"]),
                        int(n["minor"]), "m"))
    out += [(True, *r) for r in DEFAULT_DEVICES]
    return out


def rule_text(t: str, major: int, minor: int, access: str) -> str:
    if t == "a":
        return "a"
    ma = "*" if major < 0 else str(major)
    mi = "*" if minor < 0 else str(minor)
    return f"{t} {ma}:{mi} {access}"


def _devices(cg: Cgroup, devices: list, nodes: list | None) -> None:
    f = f"{RES}.devices"
    rules = device_rules(devices, nodes)
    if "devices" in cg.v1:
        d = cg.v1["devices"]
        # deny everything, then the rules in order: nothing is inherited
        _write(d, "devices.deny", "a", f)
        for i, (allow, t, major, minor, access) in enumerate(rules):
            where = f"{f}[{i}]" if i < len(devices) else f"{f} (default rule)"
            _write(d, "devices.allow" if allow else "devices.deny",
                   rule_text(t, major, minor, access), where)
        return
    if cg.pure_v2:
        from . import devices_bpf

        devices_bpf.apply(cg.unified, rules, f)


def setup(paths: dict[str, str], made: list[str], linux: dict, devices: bool = True) -> None:
    """At create, before the init joins: controllers enabled, limits written
    (`linux` is the config's linux object: resources, and devices to create)."""
    enable_controllers(paths, made)
    resources = dict(linux.get("resources") or {})
    # pids.max comes after the clone (apply_pids): a limit of 0 is a real
    # limit (spec 1.3), yet the container's first process must be created.
    resources.pop("pids", None)
    apply(paths, resources, nodes=linux.get("devices"), devices=devices)


def apply_pids(paths: dict[str, str], linux: dict) -> None:
    """The pids limit, once the container's init exists (moving a process into
    a cgroup is not limited by pids.max, forking is)."""
    pids = (linux.get("resources") or {}).get("pids")
    if pids:
        apply(paths, {"pids": pids}, update=True)
