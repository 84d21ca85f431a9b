"""The cgroup v2 backend: the unified hierarchy, one directory for all
controllers. Each function takes the directory where common.Cgroup found
the controller: limits (linux.resources into files, with runc's
conversions), the eBPF device filter (devices_bpf.py) and cgroup.freeze;
and enabling the controllers down to the container's cgroup. The v1 twin
is v1.py, with the same names."""


from ..errors import PyruncError
from ..util import fastos as os
from .common import (
    THROTTLE,
    Cgroup,
    WriteError,
    blkio_to_io_weight,
    devnum,
    human,
    num,
    read,
    read_int,
    shares_to_weight,
    wait_for,
    warn,
    write,
)
from .common import set_limit as _set_limit


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
    from .host import hierarchies

    for h in hierarchies():
        if h.version == 2 and (path == h.mountpoint or path.startswith(h.mountpoint + "/")):
            return h.mountpoint
    return "/sys/fs/cgroup"


def memory(d: str, mem: dict, limit: int, swap: int, reservation: int, f: str,
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
            write(d, "memory.swap.max", swap_text, f"{f}.swap")
        elif swap_text not in ("max", "0"):
            raise PyruncError(f"{f}.swap: memory.swap.max does not exist in {d}: "
                              "the kernel does not account swap")
    if limit:
        _set_limit(d, "memory.max", limit, f"{f}.limit", "memory.current")
    if reservation:
        write(d, "memory.low", "max" if reservation == -1 else str(reservation),
               f"{f}.reservation")
    for key in ("kernel", "kernelTCP", "swappiness", "useHierarchy"):
        if mem.get(key) not in (None, 0, -1, False) and not (key == "useHierarchy"
                                                              and mem[key] is True):
            warn(f"{f}.{key}: ignored on cgroup v2 (no such setting)")
    if mem.get("disableOOMKiller"):
        warn(f"{f}.disableOOMKiller: ignored on cgroup v2 (no such setting)")


def cpu(d: str, cpu: dict, full: dict, f: str) -> None:
    if cpu.get("realtimeRuntime") or cpu.get("realtimePeriod"):
        raise PyruncError(f"{f}.realtimeRuntime: realtime CPU limits are not supported on "
                          "cgroup v2")
    if cpu.get("idle") is not None:
        write(d, "cpu.idle", str(num(cpu["idle"], f"{f}.idle")), f"{f}.idle")
    shares = cpu.get("shares")
    if shares:
        shares = num(shares, f"{f}.shares", 2)
        if shares > 262144:
            raise PyruncError(f"{f}.shares: {shares} is above the maximum 262144")
        write(d, "cpu.weight", str(shares_to_weight(shares)), f"{f}.shares")
    quota = num(cpu.get("quota") or 0, f"{f}.quota", -1)
    period = num(cpu.get("period") or 0, f"{f}.period", 0)
    burst = cpu.get("burst")
    retry_burst = False
    if burst is not None:
        burst = num(burst, f"{f}.burst", 0)
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
        write(d, "cpu.max", text, f"{f}.quota" if cpu.get("quota") else f"{f}.period")
        if retry_burst:
            write(d, "cpu.max.burst", str(burst), f"{f}.burst")


def io(d: str, bio: dict, f: str) -> None:
    """linux.resources.blockIO on the v2 io controller."""
    bfq = os.path.exists(os.path.join(d, "io.bfq.weight"))
    if bio.get("weight"):
        w = num(bio["weight"], f"{f}.weight")
        if bfq:
            write(d, "io.bfq.weight", str(w), f"{f}.weight")
        else:
            write(d, "io.weight", str(blkio_to_io_weight(w)), f"{f}.weight")
    if bio.get("leafWeight"):
        warn(f"{f}.leafWeight: ignored on cgroup v2 (no such setting)")
    for i, wd in enumerate(bio.get("weightDevice") or []):
        wf = f"{f}.weightDevice[{i}]"
        if not wd.get("weight"):
            continue
        if not bfq:
            raise PyruncError(f"{wf}: per-device weights need the BFQ I/O scheduler "
                              f"(io.bfq.weight does not exist in {d})")
        write(d, "io.bfq.weight", f"{devnum(wd, wf)} {wd['weight']}", wf)
    for key, _, v2key in THROTTLE:
        for i, td in enumerate(bio.get(key) or []):
            tf = f"{f}.{key}[{i}]"
            write(d, "io.max", f"{devnum(td, tf)} {v2key}={int(td['rate'])}", tf)


def devices(d: str, rules: list, f: str) -> None:
    """The device rules as an eBPF filter attached to the v2 cgroup."""
    from . import devices_bpf

    devices_bpf.apply(d, rules, f)


def is_frozen(d: str) -> bool:
    return read(d, "cgroup.freeze") == "1"


def freeze(d: str, frozen: bool, timeout: float) -> None:
    """Freeze (or thaw) through cgroup.freeze and wait for cgroup.events."""
    write(d, "cgroup.freeze", "1" if frozen else "0", "cgroup.freeze")
    want = f"frozen {1 if frozen else 0}"
    if wait_for(lambda: want in (read(d, "cgroup.events") or "").splitlines(), timeout):
        return
    if frozen:
        write(d, "cgroup.freeze", "0", "cgroup.freeze")
    raise PyruncError(f"cannot {'freeze' if frozen else 'thaw'} the container: "
                      f"{d}/cgroup.events does not say {want}")
