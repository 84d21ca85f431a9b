"""`pyrunc spec`: a default config.json, as `runc spec` writes it."""

import os

from .. import OCI_VERSION
from ..errors import PyruncError
from ..util import fastjson

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_spec(rootless: bool = False) -> dict:
    """The default configuration (terminal, sh, readonly rootfs, usual mounts)."""
    spec = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS)
                             for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pyrunc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }
    if rootless:  # runc's rootless template (runc spec --rootless), field for field
        linux = spec["linux"]
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
        linux["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user")]
        del linux["resources"]
        for i, m in enumerate(spec["mounts"]):
            if m["type"] == "sysfs":  # no new network namespace: the host's /sys, bound
                spec["mounts"][i] = {"destination": "/sys", "type": "none", "source": "/sys",
                                     "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
            elif m["type"] == "devpts":
                m["options"].remove("gid=5")
    return spec


def write_spec(bundle: str, rootless: bool = False) -> None:
    """Write <bundle>/config.json; refuse to overwrite one."""
    path = os.path.join(bundle, "config.json")
    if not os.path.isdir(bundle):  # (runc's words: it chdirs there)
        why = "not a directory" if os.path.exists(bundle) else "no such file or directory"
        raise PyruncError(f"chdir {bundle}: {why}")
    if os.path.exists(path):
        raise PyruncError("File config.json exists. Remove it first")
    with open(path, "w") as f:
        f.write(fastjson.dumps(default_spec(rootless), indent=2) + "\n")
