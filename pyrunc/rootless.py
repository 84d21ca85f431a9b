"""Rootless: pyrunc run by an unprivileged user (runc's --rootless).

What differs for such a caller is decided here, in one place: whether the
caller is rootless, where its state lives, and how the id maps of the
container's user namespace are written (directly for the caller's own uid
and gid, through newuidmap/newgidmap for subordinate ranges). Which cgroups
it may use (none, or a delegated subtree) is cgroups/delegated.py's."""

from .errors import PyruncError
from .util import fastos as os

FULL_MAP = ["0", "0", "4294967295"]
NEWIDMAP_HINT = "Debian: apt-get install uidmap"


_in_userns: list[bool] = []


def in_user_namespace() -> bool:
    """Is this process in a user namespace other than the initial one (its
    uid_map is not the full range)?"""
    if not _in_userns:
        try:
            with open("/proc/self/uid_map") as f:
                _in_userns.append(f.read().split() != FULL_MAP)
        except OSError:
            _in_userns.append(False)
    return _in_userns[0]


def detect(flag: str | None) -> bool:
    """The global --rootless flag: true, false, or auto (default): rootless
    when the effective uid is not 0 or we are in a user namespace (as runc)."""
    if flag in ("true", "false"):
        return flag == "true"
    if flag not in (None, "auto"):
        raise PyruncError(f"invalid --rootless value \"{flag}\" (true, false or auto)")
    return os.geteuid() != 0 or in_user_namespace()


def default_root(system_root: str) -> str:
    """The state directory when no --root is given: $XDG_RUNTIME_DIR/pyrunc
    for an unprivileged caller (runc: $XDG_RUNTIME_DIR/runc), else `system_root`.
    As runc, root in a user namespace also honours XDG_RUNTIME_DIR unless
    USER is root."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.geteuid() != 0:
        if not xdg:
            raise PyruncError("rootless: XDG_RUNTIME_DIR is not set, so there is no default "
                              "state directory: set it (e.g. /run/user/"
                              f"{os.geteuid()}) or give --root DIR")
        return os.path.join(xdg, "pyrunc")
    if xdg and os.environ.get("USER") != "root" and in_user_namespace():
        return os.path.join(xdg, "pyrunc")
    return system_root


# -- id maps -------------------------------------------------------------------

def _own_single(maps: list[dict], own: int) -> bool:
    """Is the mapping the caller's own id alone, which it may write itself?"""
    return len(maps) == 1 and maps[0].get("hostID") == own and maps[0].get("size") == 1


def _user() -> tuple[str, int, int]:
    import pwd

    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name, uid, os.getegid()
    except KeyError:
        return str(uid), uid, os.getegid()


def subordinate_ranges(path: str, name: str, uid: int) -> list[tuple[int, int]]:
    """The (start, count) ranges of /etc/subuid or /etc/subgid for the user
    (by name or by number)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) != 3 or parts[0] not in (name, str(uid)):
                    continue
                if parts[1].isdigit() and parts[2].isdigit():
                    out.append((int(parts[1]), int(parts[2])))
    except OSError:
        pass
    return out


def newidmap(tool: str) -> str:
    """The path of newuidmap or newgidmap, or a clear error."""
    for d in (os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin").split(":"):
        path = os.path.join(d or ".", tool)
        if os.access(path, os.X_OK):
            return path
    raise PyruncError(f"rootless: mapping more than the caller's own id needs {tool}, which "
                      f"is not installed ({NEWIDMAP_HINT})")


def check_mappings(linux: dict) -> None:
    """Before anything is made: can this unprivileged caller write the
    container's id maps? Each range must be its own id, or inside its
    subordinate ranges (and then newuidmap/newgidmap must be installed)."""
    name, uid, gid = _user()
    for key, own, tool, db in (("uidMappings", uid, "newuidmap", "/etc/subuid"),
                               ("gidMappings", gid, "newgidmap", "/etc/subgid")):
        maps = linux.get(key) or []
        if not maps:
            raise PyruncError(f"$.linux.{key}: rootless: a new user namespace needs a "
                              f"mapping (e.g. the caller's own id: containerID 0, hostID "
                              f"{own}, size 1)")
        if _own_single(maps, own):
            continue
        ranges = subordinate_ranges(db, name, uid)
        for i, m in enumerate(maps):
            host, size = m.get("hostID", 0), m.get("size", 0)
            if size == 1 and host == own:
                continue
            if not ranges:
                raise PyruncError(f"$.linux.{key}[{i}]: rootless: no subordinate range for "
                                  f"user {name} in {db} (add a line such as "
                                  f"\"{name}:100000:65536\")")
            if not any(s <= host and host + size <= s + n for s, n in ranges):
                have = ", ".join(f"{s}-{s + n - 1}" for s, n in ranges)
                raise PyruncError(f"$.linux.{key}[{i}]: rootless: host ids {host}-"
                                  f"{host + size - 1} are neither the caller's own id {own} "
                                  f"nor in its subordinate range in {db} ({have})")
        newidmap(tool)


def check_namespaces(linux: dict) -> None:
    """An unprivileged caller needs a user namespace (new, or joined by path)
    to make any other namespace; a new one needs mappings it may write."""
    user = next((ns for ns in linux.get("namespaces", []) if ns.get("type") == "user"), None)
    if user is None:
        raise PyruncError("$.linux.namespaces: rootless: the caller is not root, so the "
                          "container needs a user namespace (add {\"type\": \"user\"} and "
                          "uidMappings/gidMappings, as `pyrunc spec --rootless` does)")
    if "path" not in user:
        check_mappings(linux)


def write_id_maps(pid: int, linux: dict) -> None:
    """An unprivileged caller's id maps of the container `pid`: its own uid and
    gid directly (setgroups denied first, as the kernel requires), anything
    else through newuidmap/newgidmap."""
    name, uid, gid = _user()
    for key, own, tool, file in (("uidMappings", uid, "newuidmap", "uid_map"),
                                 ("gidMappings", gid, "newgidmap", "gid_map")):
        maps = linux.get(key) or []
        if _own_single(maps, own):
            try:
                if file == "gid_map":
                    with open(f"/proc/{pid}/setgroups", "w") as f:
                        f.write("deny")
                with open(f"/proc/{pid}/{file}", "w") as f:
                    f.write(f"{maps[0].get('containerID', 0)} {own} 1\n")
            except OSError as e:
                raise PyruncError(f"$.linux.{key}: writing {file}: {e.strerror}") from None
            continue
        import subprocess

        args = [newidmap(tool), str(pid)]
        for m in maps:
            args += [str(m.get("containerID", 0)), str(m.get("hostID", 0)),
                     str(m.get("size", 0))]
        p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if p.returncode != 0:
            msg = " ".join((p.stderr or p.stdout).split()) or f"exit status {p.returncode}"
            raise PyruncError(f"$.linux.{key}: {tool}: {msg}")
