"""Linux namespaces: the types, their files in /proc/PID/ns, the checks of
linux.namespaces, and whether a namespace to join is the host's (config,
netdev and the sysctl checks ask)."""

from ..errors import ConfigError
from ..util import fastos as os

NAMESPACES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
# namespace type: its file in /proc/PID/ns
NS_FILES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
            "user": "user", "cgroup": "cgroup", "time": "time"}


def check(linux: dict) -> dict[str, dict]:
    """Namespaces by type; duplicates and bad paths are errors."""
    out: dict[str, dict] = {}
    for i, ns in enumerate(linux.get("namespaces", [])):
        kind = ns.get("type")
        if kind not in NAMESPACES:
            raise ConfigError(f"$.linux.namespaces[{i}].type", f"unknown namespace \"{kind}\"")
        if kind in out:
            raise ConfigError(f"$.linux.namespaces[{i}].type", f"duplicate namespace \"{kind}\"")
        path = ns.get("path")
        if path is not None:
            if not path.startswith("/"):
                raise ConfigError(f"$.linux.namespaces[{i}].path", "must be an absolute path")
            if not os.path.exists(path):
                raise ConfigError(
                    f"$.linux.namespaces[{i}].path", f"{path}: no such file or directory"
                )
        out[kind] = ns
    return out


def is_hosts_namespace(path: object, kind: str) -> bool:
    """Whether a namespace to join is pyrunc's own (the host's), as runc asks."""
    try:
        a, b = os.stat(str(path)), os.stat(f"/proc/self/ns/{NS_FILES[kind]}")
    except (OSError, ValueError):
        return False  # check_namespaces reports a path that does not exist
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
