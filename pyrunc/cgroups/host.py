"""cgroups from the host side: find the hierarchies (v1, v2 or hybrid), make
the container's cgroup in each, put a process in, and remove them again.
Limits are not applied here (resources.py); the manager (manager.py) is what
the rest of pyrunc calls."""

import time

from ..errors import PyruncError
from ..util import fastos as os

MOUNTINFO = "/proc/self/mountinfo"


class Hierarchy:
    """One mounted cgroup hierarchy."""

    def __init__(self, name: str, mountpoint: str, root: str, version: int) -> None:
        self.name = name  # "memory", "cpu,cpuacct", "name=systemd", or "" for v2
        self.mountpoint = mountpoint
        self.root = root  # the hierarchy path mounted at mountpoint
        self.version = version

    @property
    def dirname(self) -> str:
        """Directory name under /sys/fs/cgroup inside a container."""
        if self.version == 2:
            return "unified"
        return self.name.replace("name=", "")


def hierarchies(mountinfo: str = MOUNTINFO) -> list[Hierarchy]:
    """The cgroup hierarchies mounted in this mount namespace (first mount of each)."""
    out: list[Hierarchy] = []
    seen: set[str] = set()
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            rfields = right.split()
            if len(rfields) < 3 or rfields[0] not in ("cgroup", "cgroup2"):
                continue
            if rfields[0] == "cgroup2":
                name, version = "", 2
            else:
                opts = rfields[2].split(",")
                ctrls = [o for o in opts if o not in ("rw", "ro") and "=" not in o
                         and o not in ("clone_children", "noprefix", "xattr", "cpuset_v2_mode")]
                ctrls += [o for o in opts if o.startswith("name=")]
                name, version = ",".join(ctrls), 1
            if name in seen:
                continue
            seen.add(name)
            out.append(Hierarchy(name, _unescape(fields[4]), _unescape(fields[3]), version))
    return out


def _unescape(s: str) -> str:
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace(
        "\\134", "\\")


def mode(hs: list[Hierarchy]) -> str:
    """'v2', 'v1' or 'hybrid'."""
    versions = {h.version for h in hs}
    if versions == {2}:
        return "v2"
    return "hybrid" if 2 in versions else "v1"


def own_cgroups(pid: str = "self") -> dict[str, str]:
    """This process's cgroup path per hierarchy name ('' for v2)."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            out[names] = path
    return out


def container_paths(cgroups_path: str | None, cid: str) -> dict[str, str]:
    """Absolute directories of the container's cgroup, one per hierarchy.

    An absolute cgroupsPath is taken from each hierarchy's root; a relative
    one (and the default, the container id) from pyrunc's own cgroup."""
    inner = cgroups_path or cid
    if ":" in inner and not inner.startswith("/"):
        raise PyruncError(
            f"cgroupsPath \"{inner}\" has the systemd form slice:prefix:name, "
            "which needs --systemd-cgroup")
    parts = [p for p in inner.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise PyruncError(f"invalid cgroupsPath \"{inner}\"")
    return directories(inner)


def directories(inner: str) -> dict[str, str]:
    """The directory of cgroup `inner` in each hierarchy where it is visible:
    an absolute path from the hierarchy's root, a relative one from pyrunc's
    own cgroup."""
    parts = [p for p in inner.split("/") if p]
    absolute = inner.startswith("/")
    own = {} if absolute else own_cgroups()
    paths = {}
    for h in hierarchies():
        base = "/" if absolute else own.get(h.name, "/")
        full = os.path.normpath(os.path.join(base, *parts))
        rel = os.path.relpath(full, h.root) if h.root != "/" else full.lstrip("/")
        if rel.startswith(".."):
            continue  # not visible in this mount
        paths[h.name or "unified"] = os.path.join(h.mountpoint, rel)
    return paths


def pure_v2(paths: dict[str, str]) -> bool:
    """Is the container's cgroup on cgroup v2 only (a v1 name=systemd mount,
    which has no controllers, does not count)?"""
    return "unified" in paths and all(k == "unified" or k.startswith("name=") for k in paths)


def missing(paths: dict[str, str]) -> list[str]:
    """The directories that `create` would make now, deepest last."""
    out: list[str] = []
    for path in paths.values():
        p, chain = path, []
        while not os.path.isdir(p):
            chain.append(p)
            p = os.path.dirname(p)
        out.extend(reversed(chain))
    return out


def create(paths: dict[str, str]) -> list[str]:
    """Make the directories; return those made, deepest last (for removal)."""
    made: list[str] = []
    for name, path in paths.items():
        missing = []
        p = path
        while not os.path.isdir(p):
            missing.append(p)
            p = os.path.dirname(p)
        for d in reversed(missing):
            try:
                os.mkdir(d, 0o755)
            except FileExistsError:
                continue
            except OSError as e:
                raise PyruncError(f"creating cgroup {d}: {e.strerror}") from None
            made.append(d)
        if "cpuset" in name.split(","):
            try:
                _fill_cpusets(path)
            except BaseException:
                remove(made)
                raise
    return made


def _fill_cpusets(path: str) -> None:
    """A v1 cpuset cgroup starts with empty cpus and mems, and no task can join
    it: as runc, every level from the hierarchy's root down to `path` (those
    made by hand too) that is empty gets its parent's."""
    chain = []
    p = path
    while os.path.exists(os.path.join(os.path.dirname(p), "cpuset.cpus")):
        chain.append(p)
        p = os.path.dirname(p)
    for d in reversed(chain):
        for f in ("cpuset.cpus", "cpuset.mems"):
            target = os.path.join(d, f)
            try:
                with open(target) as cur:
                    if cur.read().strip():
                        continue
                with open(os.path.join(os.path.dirname(d), f)) as src:
                    value = src.read().strip()
                with open(target, "w") as dst:
                    dst.write(value)
            except FileNotFoundError:
                continue
            except OSError as e:
                raise PyruncError(f"filling cgroup {target}: {e.strerror}") from None


def join(paths: dict[str, str], pid: int) -> None:
    """Move a process into the container's cgroup in every hierarchy."""
    for path in paths.values():
        try:
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(pid))
        except OSError as e:
            raise PyruncError(f"joining cgroup {path}: {e.strerror}") from None


def self_join(paths: dict[str, str], joins_cgroupns: bool
              ) -> tuple[list[str], str | None, dict[str, str]]:
    """What the init's stage 1 joins by itself, without the RCU grace period
    that a write of a pid to cgroup.procs waits for (csrc/cgroup.c): the
    `tasks` files of the v1 hierarchies, and the v2 cgroup to clone the
    container into, unless a cgroup namespace is joined by path (with
    nsdelegate, the kernel refuses a clone into a cgroup outside the
    cloner's cgroup namespace).
    Also returns the rest, for `join`."""
    tasks = [os.path.join(p, "tasks") for n, p in paths.items() if n != "unified"]
    if "unified" not in paths:
        return tasks, None, {}
    if joins_cgroupns:
        return tasks, None, {"unified": paths["unified"]}
    return tasks, paths["unified"], {}


def procs(paths: dict[str, str]) -> list[int]:
    """The pids in the container's cgroup (from the first hierarchy that has it)."""
    for path in paths.values():
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            continue
    return []


def remove(made: list[str], timeout: float = 5.0) -> None:
    """Remove the directories made for the container, deepest first; wait for
    the last processes to leave."""
    deadline = time.monotonic() + timeout
    for d in sorted(made, key=lambda p: p.count("/"), reverse=True):
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno == 16 and any(entry.is_dir() for entry in os.scandir(d)):
                    break  # another container's cgroup lives below: keep it
                if e.errno == 16 and time.monotonic() < deadline:  # processes leaving
                    time.sleep(0.005)
                    continue
                if e.errno in (16, 39):  # still busy, or has children not ours
                    break
                if not os.path.isdir(d):  # never made (a name too long, ...)
                    break
                raise PyruncError(f"removing cgroup {d}: {e.strerror}") from None


def sub_paths(paths: dict[str, str], specs: list[str]) -> dict[str, str]:
    """exec --cgroup, as runc: `PATH` (every hierarchy; alone) or
    `CTRL[,CTRL]:PATH`, a sub-cgroup of the container's (`/`: its own), which
    must exist."""
    subs: dict[str, str] = {}
    for spec in specs:
        cs = spec.split(":", 2)
        if len(cs) > 2:
            raise PyruncError(f"invalid --cgroup argument: {spec}")
        if len(cs) == 1:
            if len(specs) != 1:
                raise PyruncError(f"invalid --cgroup argument: {spec} "
                                  "(missing <controller>: prefix)")
            subs[""] = spec
        else:
            for ctrl in cs[0].split(","):
                subs[ctrl] = cs[1]
    out = dict(paths)

    def under(base: str, add: str) -> str:
        target = os.path.normpath(os.path.join(base, add.lstrip("/")))
        if target != base and not target.startswith(base + "/"):
            raise PyruncError("unable to create new parent process: "
                              f"{add} is not a sub cgroup path")
        return target

    for ctrl, add in subs.items():
        names = [n for n in paths if not ctrl or ctrl in n.split(",")
                 or (n == "unified" and ctrl == "unified")]
        if not names:
            raise PyruncError("unable to create new parent process: "
                              f"unknown controller {ctrl} in SubCgroupPaths")
        for n in names:
            out[n] = under(paths[n], add)
    for n, target in out.items():
        if target != paths[n] and not os.path.isdir(target):
            raise PyruncError("unable to start container process: error adding pid to "
                              f"cgroups: openat2 {target}/cgroup.procs: "
                              "no such file or directory")
    return out
