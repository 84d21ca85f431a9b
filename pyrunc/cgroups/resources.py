"""linux.resources applied to a container's cgroup directories.

`apply(paths, resources)` writes every field of runtime-spec v1.3.0's
`linux.resources` into the container's cgroup, on cgroup v1 (one directory per
controller), v2 (one directory) or a hybrid of both (each controller where it
is mounted; v1 first). The conversions follow runc's (cpu.weight from shares,
io.weight from blkio weight, memory.swap.max = swap - limit).

Each controller is found where it is mounted (common.Cgroup); what differs
between versions is written by that version's backend (v1.py, v2.py, same
function names), what does not (cpuset, pids, hugetlb, rdma, unified, the v1
net controllers) here. A new controller: its field in `apply`, its files here
or in v1.py/v2.py, and its stats in stats.py.

Errors name the config field as a JSON path, the file and the value, e.g.
``$.linux.resources.memory.limit: cannot set memory limit 4M: current usage 9M``.
"""

from ..errors import PyruncError
from ..util import fastos as os
from .common import RES, Cgroup, num, write

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


# -- entry points ------------------------------------------------------------------

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


def _memory(cg: Cgroup, mem: dict, full: dict) -> None:
    f = f"{RES}.memory"
    d, version = cg.need("memory", f)
    limit = num(mem.get("limit") or 0, f"{f}.limit", -1)
    swap = num(mem.get("swap") or 0, f"{f}.swap", -1)
    reservation = num(mem.get("reservation") or 0, f"{f}.reservation", -1)
    if limit == -1 and not swap:
        swap = -1  # as runc: unlimited memory means unlimited swap too
    if version == 1:
        from . import v1

        v1.memory(d, mem, limit, swap, reservation, f)
    else:
        from . import v2

        v2.memory(d, mem, limit, swap, reservation, f, full)


# -- cpu and cpuset ----------------------------------------------------------------

def _cpuset(cg: Cgroup, cpu: dict) -> None:
    f = f"{RES}.cpu"
    for key in ("cpus", "mems"):
        if cpu.get(key):
            d, _ = cg.need("cpuset", f"{f}.{key}")
            write(d, f"cpuset.{key}", str(cpu[key]), f"{f}.{key}")


def _cpu(cg: Cgroup, cpu: dict, full: dict) -> None:
    f = f"{RES}.cpu"
    keys = ("shares", "quota", "period", "burst", "realtimeRuntime", "realtimePeriod", "idle")
    if not any(cpu.get(k) is not None for k in keys):
        return
    d, version = cg.need("cpu", f)
    if version == 1:
        from . import v1

        v1.cpu(d, cpu, f)
    else:
        from . import v2

        v2.cpu(d, cpu, full, f)


def _pids(cg: Cgroup, pids: dict) -> None:
    f = f"{RES}.pids.limit"
    if pids.get("limit") is None:
        return
    limit = num(pids["limit"], f)
    d, _ = cg.need("pids", f)
    # spec 1.3: 0 is a real limit; negative means no limit
    write(d, "pids.max", "max" if limit < 0 else str(limit), f)


def _blockio(cg: Cgroup, bio: dict) -> None:
    f = f"{RES}.blockIO"
    d, version = cg.need("blkio" if "blkio" in cg.v1 else "io", f)
    if version == 1:
        from . import v1

        v1.blkio(d, bio, f)
    else:
        from . import v2

        v2.io(d, bio, f)


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
        limit = str(num(entry.get("limit"), f"{ef}.limit", 0))
        names = ((f"hugetlb.{size}.limit_in_bytes", f"hugetlb.{size}.rsvd.limit_in_bytes")
                 if version == 1 else (f"hugetlb.{size}.max", f"hugetlb.{size}.rsvd.max"))
        write(d, names[0], limit, f"{ef}.limit")
        if os.path.exists(os.path.join(d, names[1])):
            write(d, names[1], limit, f"{ef}.limit")


def _network(cg: Cgroup, net: dict) -> None:
    f = f"{RES}.network"
    if net.get("classID") is not None:
        if "net_cls" not in cg.v1:
            raise PyruncError(f"{f}.classID: the net_cls cgroup controller is not available "
                              "(it exists only on cgroup v1, and is not mounted here)")
        write(cg.v1["net_cls"], "net_cls.classid", str(num(net["classID"], f"{f}.classID")),
               f"{f}.classID")
    for i, p in enumerate(net.get("priorities") or []):
        pf = f"{f}.priorities[{i}]"
        if "net_prio" not in cg.v1:
            raise PyruncError(f"{pf}: the net_prio cgroup controller is not available "
                              "(it exists only on cgroup v1, and is not mounted here)")
        write(cg.v1["net_prio"], "net_prio.ifpriomap", f"{p['name']} {int(p['priority'])}", pf)


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
        write(d, "rdma.max", f"{dev} {' '.join(parts)}", f"{f}.{dev}")


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
        write(cg.unified, key, str(value), kf)


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
        # as runc: letters other than r, w and m are ignored; a deny of none of
        # them denies nothing, an allow of none of them is refused
        kept = "".join(a for a in "rwm" if a in access)
        if not kept and d.get("allow"):
            raise PyruncError(f"{df}.access: \"{access}\" allows nothing (none of r, w, m)")
        access = kept
        major = -1 if d.get("major") is None else int(d["major"])
        minor = -1 if d.get("minor") is None else int(d["minor"])
        out.append((bool(d.get("allow")), t, major, minor, access))
    for n in nodes or []:
        if n.get("type") in ("c", "u", "b") and "major" in n and "minor" in n:
            out.append((True, "b" if n["type"] == "b" else "c", int(n["major"]),
                        int(n["minor"]), "m"))
    out += [(True, *r) for r in DEFAULT_DEVICES]
    return out


def _devices(cg: Cgroup, devices: list, nodes: list | None) -> None:
    f = f"{RES}.devices"
    rules = device_rules(devices, nodes)
    if "devices" in cg.v1:
        from . import v1

        v1.devices(cg.v1["devices"], rules, len(devices), f)
        return
    if cg.pure_v2:
        from . import v2

        v2.devices(cg.unified, rules, f)


def setup(paths: dict[str, str], made: list[str], linux: dict, devices: bool = True) -> None:
    """At create, before the init joins: controllers enabled, limits written
    (`linux` is the config's linux object: resources, and devices to create)."""
    from .v2 import enable_controllers

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
