"""The cgroups of a rootless container (manager ownership DELEGATED or NONE):
the part of its cgroup the caller may write (a delegated subtree: a chowned
directory, a systemd user unit with Delegate=yes), or none at all, as runc;
a limit without a delegated cgroup is an error naming its field. Without a
cgroup, the container's processes are found through its init's pid namespace."""

from ..errors import PyruncError
from ..util import fastos as os


def first_limit(resources: dict | None) -> str | None:
    """The JSON path of the first limit that `resources` sets (device rules do
    not count: in a user namespace no device node can be made anyway)."""
    def unset(v: object, zero: bool) -> bool:
        return v is None or v is False or v in ("", [], {}) or (zero and v == 0)

    for key, value in (resources or {}).items():
        if key == "devices" or unset(value, True):
            continue
        if isinstance(value, dict):
            for sub, v in value.items():
                if not unset(v, key != "pids"):  # (a pids limit of 0 is one: spec 1.3)
                    return f"$.linux.resources.{key}.{sub}"
            continue
        return f"$.linux.resources.{key}"
    return None


def _writable(path: str) -> bool:
    """May we make (or use) the cgroup `path`: its nearest existing directory is
    writable, and so is its cgroup.procs when it exists already."""
    p = path
    while not os.path.isdir(p):
        parent = os.path.dirname(p)
        if parent == p:
            return False
        p = parent
    if not os.access(p, os.W_OK):
        return False
    return p != path or os.access(os.path.join(path, "cgroup.procs"), os.W_OK)


def cgroup_paths(paths: dict[str, str], linux: dict) -> dict[str, str]:
    """The cgroups a rootless container uses: those of `paths` the caller may
    write (a delegated subtree, e.g. a chowned directory or a systemd user
    unit with Delegate=yes). Without one the container runs in the caller's
    cgroups, as runc's does; a limit then is an error naming its field."""
    usable = {n: p for n, p in paths.items() if _writable(p)}
    if usable == paths:
        return paths
    field = first_limit(linux.get("resources"))
    if field:
        missing = next(p for n, p in paths.items() if n not in usable)
        raise PyruncError(f"{field}: rootless: a limit needs a cgroup delegated to uid "
                          f"{os.geteuid()}, and {missing} is not writable (remove the limit, "
                          "or delegate a cgroup v2 subtree and set linux.cgroupsPath there)")
    if "unified" in usable and all(n.startswith("name=") for n in paths if n not in usable):
        return usable  # pure v2 (maybe with a v1 name=systemd): the delegated tree serves
    return {}


def container_pids(init_pid: int) -> list[int]:
    """The container's processes without a cgroup: those in the init's pid
    namespace when it has its own, else the init and its descendants."""
    try:
        init_ns = os.readlink(f"/proc/{init_pid}/ns/pid")
        own_ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        return []
    children: dict[int, list[int]] = {}
    same_ns = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            if init_ns != own_ns:
                if os.readlink(f"/proc/{pid}/ns/pid") == init_ns:
                    same_ns.append(pid)
                continue
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
            ppid = int(data[data.rfind(b")") + 2:].split()[1])
            children.setdefault(ppid, []).append(pid)
        except (OSError, ValueError, IndexError):
            continue
    if init_ns != own_ns:
        return sorted(same_ns)
    out, todo = [], [init_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(out)
