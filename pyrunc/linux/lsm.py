"""Linux security modules: process.apparmorProfile, process.selinuxLabel and
linux.mountLabel. A security setting this host cannot apply is an error
naming the field (never a container that runs unconfined); where the host
has the LSM, the init writes the profile or label to its /proc/self/attr
exec attribute just before it drops its privileges, so that it takes effect
at execve (csrc/process.c), and the mount label becomes each filesystem
mount's `context=` option."""

from ..errors import ConfigError
from ..util import fastos as os

R_APPARMOR = 78  # str profile: "exec PROFILE" to /proc/self/attr/apparmor/exec
R_SELINUX = 79   # str label: to /proc/self/attr/exec

APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
SELINUX_ENFORCE = "/sys/fs/selinux/enforce"
# no context= on these: bind mounts take no data; proc, sysfs, mqueue and
# cgroup mounts are not labelled by it (as runc)
UNLABELLED = ("bind", "proc", "sysfs", "mqueue", "cgroup", "cgroup2")


def apparmor_enabled() -> bool:
    try:
        with open(APPARMOR_ENABLED, "rb") as f:
            return f.read(1) == b"Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists(SELINUX_ENFORCE)


def check_process(process: dict, where: str) -> None:
    """The process's LSM settings can be applied on this host."""
    if process.get("apparmorProfile") and not apparmor_enabled():
        raise ConfigError(f"{where}.apparmorProfile", "apparmor profile is specified in "
                          "config, but apparmor is not enabled on this host")
    if process.get("selinuxLabel") and not selinux_enabled():
        raise ConfigError(f"{where}.selinuxLabel", "selinux label is specified in config, "
                          "but selinux is disabled or not supported")


def check_linux(linux: dict) -> None:
    if linux.get("mountLabel") and not selinux_enabled():
        raise ConfigError("$.linux.mountLabel", "selinux mount label is specified in config, "
                          "but selinux is disabled or not supported")


def process_records(plan, process: dict) -> None:
    from ..plan import _cstr

    if process.get("apparmorProfile"):
        plan.add(R_APPARMOR, _cstr(process["apparmorProfile"], "$.process.apparmorProfile"))
    if process.get("selinuxLabel"):
        plan.add(R_SELINUX, _cstr(process["selinuxLabel"], "$.process.selinuxLabel"))


def mount_data(data: str, fstype: str, bind: bool, label: str | None) -> str:
    """A mount's data with the mount label as its SELinux context."""
    if not label or bind or fstype in UNLABELLED:
        return data
    return f"{data},context=\"{label}\"" if data else f"context=\"{label}\""
