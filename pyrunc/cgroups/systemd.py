"""The systemd cgroup driver (--systemd-cgroup), as runc's: the container's
cgroup is a transient scope unit `prefix-name.scope` in a slice, made by
systemd over D-Bus with the init's pid in it and Delegate=yes. The limits
systemd knows are passed as unit properties (so that systemd keeps them), and
then written to the cgroup files as for the other drivers."""

import os
from contextlib import contextmanager

from ..errors import PyruncError
from . import manager

DEST = "org.freedesktop.systemd1"
OBJ = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
INFINITY = (1 << 64) - 1
DEFAULT_SLICE = "system.slice"
DEFAULT_PREFIX = "pyrunc"


def running() -> bool:
    """Is systemd the init system here (as sd_booted() decides)?"""
    return os.path.isdir("/run/systemd/system")


def parse_path(cgroups_path: str | None, cid: str) -> tuple[str, str]:
    """cgroupsPath "slice:prefix:name" -> (slice, unit name). The default is
    system.slice:pyrunc:<id>; an empty slice means system.slice; a name that
    ends in .slice is itself the unit."""
    text = cgroups_path or f"{DEFAULT_SLICE}:{DEFAULT_PREFIX}:{cid}"
    parts = text.split(":")
    if len(parts) != 3:
        raise PyruncError(f"$.linux.cgroupsPath: expected the form \"slice:prefix:name\" for "
                          f"systemd cgroups, got \"{text}\"")
    slice_, prefix, name = parts
    slice_ = slice_ or DEFAULT_SLICE
    expand_slice(slice_)  # validates
    if not name or "/" in name or "/" in prefix:
        raise PyruncError(f"$.linux.cgroupsPath: invalid unit name in \"{text}\"")
    if name.endswith(".slice"):
        unit = name
        expand_slice(unit)
    else:
        unit = f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    return slice_, unit


def expand_slice(slice_: str) -> str:
    """"a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice" ("-.slice" is the root)."""
    bad = PyruncError(f"$.linux.cgroupsPath: invalid slice name \"{slice_}\"")
    if not slice_.endswith(".slice") or "/" in slice_:
        raise bad
    if slice_ == "-.slice":
        return "/"
    stem = slice_[:-len(".slice")]
    if not stem or stem.startswith("-") or stem.endswith("-") or "--" in stem:
        raise bad
    path, prefix = "", ""
    for part in stem.split("-"):
        prefix = f"{prefix}-{part}" if prefix else part
        path += f"/{prefix}.slice"
    return path


def container_paths(cgroups_path: str | None, cid: str) -> tuple[str, str, dict[str, str]]:
    """(slice, unit, {hierarchy: directory}) of the container's unit."""
    from .host import directories

    slice_, unit = parse_path(cgroups_path, cid)
    if not running():
        raise PyruncError("--systemd-cgroup: systemd is not running on this host "
                          "(no /run/systemd/system)")
    if unit.endswith(".slice"):
        inner = expand_slice(unit)
    else:
        inner = os.path.join(expand_slice(slice_), unit)
    return slice_, unit, directories(inner)


# -- unit properties ---------------------------------------------------------------

def _cpus_mask(text: str, where: str) -> bytes:
    """A cpu or node list ("0-2,4") as systemd's bitmask (ay, little end first)."""
    from ..linux.attrs import MAX_CPUS, mask_words, parse_list

    _, words = mask_words(parse_list(text, where, MAX_CPUS))
    return words.rstrip(b"\0")


def properties(resources: dict, v2: bool, full: dict | None = None) -> list[tuple]:
    """The unit properties (name, (signature, value)) for a linux.resources
    object, as runc passes them; `full` is the complete resources after an
    update (quota and period go together)."""
    from .common import shares_to_weight

    full = full or resources
    props: list[tuple] = []
    mem = resources.get("memory") or {}
    limit = mem.get("limit")
    if limit:
        props.append(("MemoryMax" if v2 else "MemoryLimit",
                      ("t", INFINITY if limit < 0 else limit)))
    if v2 and mem.get("reservation"):
        r = mem["reservation"]
        props.append(("MemoryLow", ("t", INFINITY if r < 0 else r)))
    if v2 and mem.get("swap"):
        swap = mem["swap"]
        lim = limit or (full.get("memory") or {}).get("limit") or 0
        if swap < 0:
            props.append(("MemorySwapMax", ("t", INFINITY)))
        elif lim > 0 and swap >= lim:
            props.append(("MemorySwapMax", ("t", swap - lim)))
    cpu = resources.get("cpu") or {}
    fcpu = full.get("cpu") or {}
    if cpu.get("shares"):
        if v2:
            props.append(("CPUWeight", ("t", shares_to_weight(cpu["shares"]))))
        else:
            props.append(("CPUShares", ("t", cpu["shares"])))
    if cpu.get("quota") or cpu.get("period"):
        quota = cpu.get("quota") or fcpu.get("quota") or 0
        period = cpu.get("period") or fcpu.get("period") or 0
        per_sec = INFINITY
        if quota > 0:
            per_sec = quota * 1_000_000 // (period or 100_000)
            if per_sec % 10_000:  # systemd keeps whole percents: round up
                per_sec = (per_sec // 10_000 + 1) * 10_000
        if period:
            props.append(("CPUQuotaPeriodUSec", ("t", period)))
        props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))
    if v2 and cpu.get("cpus"):
        props.append(("AllowedCPUs", ("ay", _cpus_mask(str(cpu["cpus"]),
                                                       "$.linux.resources.cpu.cpus"))))
    if v2 and cpu.get("mems"):
        props.append(("AllowedMemoryNodes", ("ay", _cpus_mask(str(cpu["mems"]),
                                                              "$.linux.resources.cpu.mems"))))
    return props


def tasks_max(resources: dict) -> list[tuple]:
    """TasksMax, set once the container's process exists (0 only in the file)."""
    limit = (resources.get("pids") or {}).get("limit")
    if limit is None or limit == 0:
        return []
    return [("TasksMax", ("t", INFINITY if limit < 0 else limit))]


# -- calls -------------------------------------------------------------------------

@contextmanager
def _session(what: str, jobs: bool = False):
    """A connection to the system bus for one task; its errors say `what` failed.
    `jobs`: listen for the JobRemoved signals (see _wait_job)."""
    from .dbus import Connection, DBusError

    try:
        conn = Connection()
    except DBusError as e:
        raise PyruncError(f"--systemd-cgroup: {e.message}") from None
    try:
        if jobs:
            conn.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                      "AddMatch", "s", f"type='signal',sender='{DEST}',"
                      f"interface='{MANAGER}',member='JobRemoved'")
        yield conn
    except DBusError as e:
        raise PyruncError(f"{what}: {e.message or e.name}") from None
    except OSError as e:
        raise PyruncError(f"{what}: D-Bus: {e}") from None
    finally:
        conn.close()


def _wait_job(conn, job: str, what: str) -> None:  # noqa: ANN001
    msg = conn.wait_signal(lambda m: m.fields.get("member") == "JobRemoved"
                           and len(m.body) == 4 and m.body[1] == job)
    result = msg.body[3]
    if result != "done":
        raise PyruncError(f"{what}: systemd job {result}")


def start(slice_: str, unit: str, pid: int, cid: str, props: list[tuple]) -> None:
    """Make the transient unit with `pid` in it and wait until it is running."""
    from .dbus import DBusError

    what = f"starting systemd unit {unit}"
    all_props = [("Description", ("s", f"pyrunc container {cid}")),
                 ("PIDs", ("au", [pid])), ("Delegate", ("b", True)),
                 ("MemoryAccounting", ("b", True)), ("CPUAccounting", ("b", True)),
                 ("IOAccounting", ("b", True)), ("TasksAccounting", ("b", True)),
                 ("DefaultDependencies", ("b", False)), *props]
    if unit.endswith(".scope"):
        all_props.insert(0, ("Slice", ("s", slice_)))
    with _session(what, jobs=True) as conn:
        args = ("ssa(sv)a(sa(sv))", unit, "replace", all_props, [])
        try:
            job = conn.call(DEST, OBJ, MANAGER, "StartTransientUnit", *args)[0]
        except DBusError as e:
            if not e.name.endswith(".UnitExists"):
                raise
            # a failed unit of that name is kept until reset (as runc)
            try:
                conn.call(DEST, OBJ, MANAGER, "ResetFailedUnit", "s", unit)
            except DBusError:
                pass
            job = conn.call(DEST, OBJ, MANAGER, "StartTransientUnit", *args)[0]
        _wait_job(conn, job, what)


def set_properties(unit: str, props: list[tuple]) -> None:
    """Change properties of the running unit (runtime only, as runc)."""
    if props:
        with _session(f"setting properties of systemd unit {unit}") as conn:
            conn.call(DEST, OBJ, MANAGER, "SetUnitProperties", "sba(sv)", unit, True, props)


def stop(unit: str) -> None:
    """Stop the unit and wait for it (a unit already gone is fine)."""
    from .dbus import DBusError

    what = f"stopping systemd unit {unit}"
    with _session(what, jobs=True) as conn:
        try:
            job = conn.call(DEST, OBJ, MANAGER, "StopUnit", "ss", unit, "replace")[0]
        except DBusError as e:
            if e.name.endswith(".NoSuchUnit"):
                return
            raise
        _wait_job(conn, job, what)


# -- the driver ----------------------------------------------------------------------

class Manager(manager.Manager):
    """The systemd driver: a transient scope made over D-Bus with the init in
    it, the limits systemd knows as unit properties, then the exact values in
    the files (and directories for the v1 controllers systemd does not
    manage) as the cgroupfs driver writes them."""

    needs_process = True

    def __init__(self, paths: dict[str, str], made: list[str] | None = None,
                 ownership: str = manager.FULL, *, unit: str, slice_: str = "",
                 started: bool = True) -> None:
        super().__init__(paths, made, ownership)
        self.unit = unit
        self.slice = slice_
        self.started = started  # (stopped by remove)

    def self_join(self, joins_cgroupns: bool) -> tuple[list[str], str | None, dict[str, str]]:
        """A scope needs a process: pyrunc moves stage 1 there."""
        return [], None, self.paths

    def start(self, pid: int, cid: str, resources: dict) -> None:
        from .host import pure_v2

        self.started = True
        start(self.slice, self.unit, pid, cid, properties(resources, pure_v2(self.paths)))

    def apply_pids(self, linux: dict) -> None:
        set_properties(self.unit, tasks_max(linux.get("resources") or {}))
        super().apply_pids(linux)

    def update(self, delta: dict, merged: dict) -> None:
        """systemd first, then the exact values in the files."""
        from .host import pure_v2

        set_properties(self.unit, properties(delta, pure_v2(self.paths), merged)
                       + tasks_max(delta))
        super().update(delta, merged)

    def remove(self) -> None:
        """Stop the unit (a failure is only a warning), then remove what was made."""
        if self.started:
            try:
                stop(self.unit)
            except PyruncError as e:
                from .common import warn

                warn(str(e))
        super().remove()
