"""The cgroup v1 backend: one directory per controller (or per group of
co-mounted controllers). Each function takes the directory where
common.Cgroup found its controller: limits (linux.resources into files),
device rules and the freezer. The v2 twin is v2.py, with the same names."""

from ..errors import PyruncError
from ..util import fastos as os
from .common import THROTTLE, WriteError, devnum, num, read, read_int, wait_for, warn, write
from .common import set_limit as _set_limit


def memory(d: str, mem: dict, limit: int, swap: int, reservation: int, f: str) -> None:
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
        write(d, "memory.soft_limit_in_bytes", str(reservation), f"{f}.reservation")
    if mem.get("kernel"):
        warn(f"{f}.kernel: kernel memory limits are ignored (deprecated by the kernel)")
    if mem.get("kernelTCP"):
        k = num(mem["kernelTCP"], f"{f}.kernelTCP", -1)
        write(d, "memory.kmem.tcp.limit_in_bytes", str(k), f"{f}.kernelTCP")
    if mem.get("swappiness") is not None:
        s = num(mem["swappiness"], f"{f}.swappiness")
        if not 0 <= s <= 100:
            raise PyruncError(f"{f}.swappiness: invalid value {s} (valid range is 0-100)")
        write(d, "memory.swappiness", str(s), f"{f}.swappiness")
    if mem.get("disableOOMKiller") is not None:
        write(d, "memory.oom_control", "1" if mem["disableOOMKiller"] else "0",
               f"{f}.disableOOMKiller")
    if mem.get("useHierarchy") is not None:
        want = "1" if mem["useHierarchy"] else "0"
        if read(d, "memory.use_hierarchy") != want:
            write(d, "memory.use_hierarchy", want, f"{f}.useHierarchy")


def cpu(d: str, cpu: dict, f: str) -> None:
    # realtime first: a later quota may need the runtime budget
    for key, name in (("realtimePeriod", "cpu.rt_period_us"),
                      ("realtimeRuntime", "cpu.rt_runtime_us")):
        if cpu.get(key):
            write(d, name, str(num(cpu[key], f"{f}.{key}", -1)), f"{f}.{key}")
    shares = cpu.get("shares")
    if shares:
        shares = num(shares, f"{f}.shares", 0)
        write(d, "cpu.shares", str(shares), f"{f}.shares")
        got = read_int(d, "cpu.shares")
        if shares > got:
            raise PyruncError(f"{f}.shares: the maximum allowed cpu-shares is {got}")
        if shares < got:
            raise PyruncError(f"{f}.shares: the minimum allowed cpu-shares is {got}")
    quota = num(cpu.get("quota") or 0, f"{f}.quota", -1)
    period = num(cpu.get("period") or 0, f"{f}.period", 0)
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
        burst = num(burst, f"{f}.burst", 0)
        if quota > 0 and burst > quota:
            raise PyruncError(f"{f}.burst: {burst} is larger than the quota {quota}")
        try:
            write(d, "cpu.cfs_burst_us", str(burst), f"{f}.burst")
        except WriteError as e:
            if e.errno != 22 or not quota:
                raise
            retry_burst = True
    if quota:
        write(d, "cpu.cfs_quota_us", str(quota), f"{f}.quota")
        if retry_period:
            write(d, "cpu.cfs_period_us", str(period), f"{f}.period")
        if retry_burst:
            write(d, "cpu.cfs_burst_us", str(burst), f"{f}.burst")
    if cpu.get("idle") is not None:
        write(d, "cpu.idle", str(num(cpu["idle"], f"{f}.idle")), f"{f}.idle")


def blkio(d: str, bio: dict, f: str) -> None:
    """linux.resources.blockIO on the v1 blkio controller."""
    bfq = os.path.exists(os.path.join(d, "blkio.bfq.weight"))
    prefix = "blkio.bfq." if bfq and not os.path.exists(
        os.path.join(d, "blkio.weight")) else "blkio."
    if bio.get("weight"):
        write(d, prefix + "weight", str(num(bio["weight"], f"{f}.weight")), f"{f}.weight")
    if bio.get("leafWeight"):
        write(d, "blkio.leaf_weight", str(num(bio["leafWeight"], f"{f}.leafWeight")),
               f"{f}.leafWeight")
    for i, wd in enumerate(bio.get("weightDevice") or []):
        wf = f"{f}.weightDevice[{i}]"
        dev = devnum(wd, wf)
        if wd.get("weight"):
            write(d, prefix + "weight_device", f"{dev} {wd['weight']}", f"{wf}.weight")
        if wd.get("leafWeight"):
            write(d, "blkio.leaf_weight_device", f"{dev} {wd['leafWeight']}",
                   f"{wf}.leafWeight")
    for key, name, _ in THROTTLE:
        for i, td in enumerate(bio.get(key) or []):
            tf = f"{f}.{key}[{i}]"
            write(d, f"blkio.throttle.{name}", f"{devnum(td, tf)} {int(td['rate'])}", tf)


def rule_text(t: str, major: int, minor: int, access: str) -> str:
    if t == "a":
        return "a"
    ma = "*" if major < 0 else str(major)
    mi = "*" if minor < 0 else str(minor)
    return f"{t} {ma}:{mi} {access}"


def devices(d: str, rules: list, n_config: int, f: str) -> None:
    """The device rules on the v1 devices controller (`n_config` of them
    from the config, the rest default rules)."""
    # deny everything, then the rules in order: nothing is inherited
    write(d, "devices.deny", "a", f)
    for i, (allow, t, major, minor, access) in enumerate(rules):
        if not access:
            continue  # (a deny of no access: nothing to do)
        where = f"{f}[{i}]" if i < n_config else f"{f} (default rule)"
        write(d, "devices.allow" if allow else "devices.deny",
               rule_text(t, major, minor, access), where)


def is_frozen(d: str) -> bool:
    return read(d, "freezer.state") in ("FROZEN", "FREEZING")


def freeze(d: str, frozen: bool, timeout: float) -> None:
    """Freeze (or thaw) through freezer.state and wait until it is done."""
    want = "FROZEN" if frozen else "THAWED"

    def done() -> bool:
        # the v1 freezer may stay FREEZING (a task in an uninterruptible
        # sleep); writing FROZEN again retries, as runc does
        write(d, "freezer.state", want, "freezer.state")
        return read(d, "freezer.state") == want

    if wait_for(done, timeout):
        return
    if frozen:
        write(d, "freezer.state", "THAWED", "freezer.state")
    raise PyruncError(f"cannot {'freeze' if frozen else 'thaw'} the container: "
                      f"{d}/freezer.state is still {read(d, 'freezer.state')}")
