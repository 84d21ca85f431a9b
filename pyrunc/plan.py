"""The plan: what the container's C init must do, packed as length-checked
records (the format is described in csrc/plan.h)."""

import struct

from .config.load import RLIMITS
from .errors import ConfigError
from .linux.attrs import (  # noqa: F401  (record numbers: csrc/plan.h)
    R_CPU_AFFINITY,
    R_IOPRIO,
    R_MEMPOLICY,
    R_MOUNT_IDMAP,
    R_PERSONALITY,
    R_SCHEDULER,
)
from .linux.capabilities import CAP_SETS, cap_mask
from .linux.lsm import R_APPARMOR, R_SELINUX  # noqa: F401  (record numbers: csrc/plan.h)
from .linux.mounts import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    parse_options,
    recursive_attrs,
    root_propagation,
)
from .linux.namespaces import NS_FILES
from .util import fastos as os

MAGIC = b"PYRP"
VERSION = 1

R_CLONE_FLAGS = 1
R_JOIN_NS = 2
R_ROOTFS = 3
R_ROOT_PROPAGATION = 4
R_READONLY_ROOT = 5
R_NO_PIVOT = 6
R_MOUNT = 7
R_DEVICE = 8
R_SYMLINK = 9
R_HOSTNAME = 10
R_DOMAINNAME = 11
R_ARGS = 12
R_ENV = 13
R_CWD = 14
R_USER = 15
R_CAPS = 16
R_RLIMIT = 17
R_NO_NEW_PRIVS = 18
R_PRESERVE_FDS = 19
R_WAIT_MAPS = 20
R_MASKED_PATH = 21
R_READONLY_PATH = 22
R_SYSCTL = 23
R_HOOK_SYNC = 24
R_EXEC = 25
R_TIME_OFFSET = 26
R_CGROUP_TASKS = 27
R_CGROUP_INTO = 28
R_REMOUNT_RO = 29
R_MOUNT_TREE = 76
R_CONSOLE = 50
R_HOOK_CREATE_CONTAINER = 51
R_HOOK_START_CONTAINER = 52
R_TRACE = 60
R_MOUNT_ATTR = 61
R_KEYRING = 62
R_DEBUG = 90
R_SECCOMP_DEFAULT = 53
R_SECCOMP_ARCH = 54
R_SECCOMP_FLAG = 55
R_SECCOMP_EARLY = 58
R_SECCOMP_RULE = 56
R_SECCOMP_LISTENER = 57

CLONE_FLAGS = {
    "pid": 0x20000000, "network": 0x40000000, "mount": 0x00020000, "ipc": 0x08000000,
    "uts": 0x04000000, "user": 0x10000000, "cgroup": 0x02000000, "time": 0x00000080,
}
# Joined in this order: the user namespace first, the mount namespace last.
JOIN_ORDER = ("user", "pid", "network", "ipc", "uts", "cgroup", "time", "mount")
DEFAULT_DEVICES = (
    ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
    ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
)
DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
)
S_IFMT = {"c": 0o020000, "u": 0o020000, "b": 0o060000, "p": 0o010000}
TIME_CLOCKS = {"monotonic": 1, "boottime": 7}


def _cstr(s: str, where: str) -> bytes:
    b = s.encode(errors="surrogateescape")  # (exec: argv bytes that are not UTF-8)
    if b"\0" in b:
        raise ConfigError(where, "contains a NUL byte")
    return b + b"\0"


class Plan:
    """A plan being written."""

    def __init__(self) -> None:
        from .util import trace

        self.parts = [MAGIC, struct.pack("<I", VERSION)]
        if trace.enabled:
            self.add(R_TRACE)

    def add(self, rtype: int, payload: bytes = b"") -> None:
        self.parts.append(struct.pack("<HHI", rtype, 0, len(payload)))
        self.parts.append(payload)

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def _process_records(plan: Plan, process: dict, where: str, preserve_fds: int,
                     console_fd: int = -1, exec_affinity: dict | None = None) -> None:
    """The records for a process object (shared by create and exec; exec gives
    the execCPUAffinity to apply, {} for none)."""
    if process.get("terminal"):
        if console_fd < 0:
            raise ConfigError(f"{where}.terminal", "a terminal needs a console socket")
        size = process.get("consoleSize", {})
        packed = (size.get("height", 0) & 0xFFFF) << 16 | (size.get("width", 0) & 0xFFFF)
        plan.add(R_CONSOLE, struct.pack("<II", console_fd, packed))
    plan.add(R_ARGS, b"".join(_cstr(a, f"{where}.args") for a in process["args"]))
    env = list(process.get("env", []))
    plan.add(R_ENV, b"".join(_cstr(e, f"{where}.env") for e in env))
    plan.add(R_CWD, _cstr(process.get("cwd", "/"), f"{where}.cwd"))
    user = process.get("user", {})
    groups = user.get("additionalGids", [])
    umask = user.get("umask", 0xFFFFFFFF)
    plan.add(
        R_USER,
        struct.pack(f"<IIII{len(groups)}I", user.get("uid", 0), user.get("gid", 0), umask,
                    len(groups), *groups),
    )
    caps = process.get("capabilities")
    if caps is not None:
        masks = [cap_mask(caps.get(s, [])) for s in CAP_SETS]
        # The kernel raises an ambient capability only if it is permitted and
        # inheritable; like runc, skip the others with a warning.
        allowed = masks[3] & masks[2]
        if masks[4] & ~allowed:
            from .util.log import debug

            debug(f"{where}.capabilities.ambient: capabilities that are not both permitted "
                    "and inheritable cannot be ambient; they are left out")
            masks[4] &= allowed
        plan.add(R_CAPS, struct.pack("<5Q", *masks))
    for rl in process.get("rlimits", []):
        plan.add(R_RLIMIT, struct.pack("<IQQ", RLIMITS[rl["type"]], rl["soft"], rl["hard"]))
    if process.get("noNewPrivileges"):
        plan.add(R_NO_NEW_PRIVS)
    if preserve_fds:
        plan.add(R_PRESERVE_FDS, struct.pack("<I", preserve_fds))
    from .linux import attrs as linux_attrs

    linux_attrs.process_records(plan, process, affinity=exec_affinity)
    if process.get("apparmorProfile") or process.get("selinuxLabel"):
        from .linux import lsm

        lsm.process_records(plan, process)


def with_home(env: list[str], rootfs: str, uid: int) -> list[str]:
    """Add HOME from the container's /etc/passwd when the config has none (as runc)."""
    if any(e.startswith("HOME=") for e in env):
        return env
    home = "/"
    passwd = os.path.join(rootfs, "etc/passwd")
    inside = True
    if os.path.islink(os.path.join(rootfs, "etc")) or os.path.islink(passwd):
        passwd = os.path.realpath(passwd)  # (only then: it imports os)
        inside = passwd.startswith(os.path.realpath(rootfs) + "/")
    if inside:
        try:
            with open(passwd, encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.rstrip("\n").split(":")
                    if len(fields) >= 6 and fields[2] == str(uid):
                        home = fields[5] or "/"
                        break
        except OSError:
            pass
    return [*env, f"HOME={home}"]


def build_create(config: dict, bundle: str, rootfs: str, *, no_pivot: bool = False,
                 preserve_fds: int = 0, cgroup_mounts=None,
                 console_fd: int = -1, cid: str = "",
                 new_keyring: bool = True, cgroup_tasks: tuple[str, ...] = (),
                 cgroup_into: str | None = None) -> tuple[bytes, dict]:
    """The plan for `create`; also returns facts the parent needs (namespaces).
    Stage 1 writes "0" to the `cgroup_tasks` files and clones the container into
    `cgroup_into` (see cgroups.self_join)."""
    plan = Plan()
    for path in cgroup_tasks:
        plan.add(R_CGROUP_TASKS, _cstr(path, "$.linux.cgroupsPath"))
    if cgroup_into:
        plan.add(R_CGROUP_INTO, _cstr(cgroup_into, "$.linux.cgroupsPath"))
    if new_keyring:
        plan.add(R_KEYRING, _cstr(f"_ses.{cid}", "id"))
    linux = config.get("linux", {})
    namespaces = {ns["type"]: ns for ns in linux.get("namespaces", [])}
    if "mount" not in namespaces:
        # (runc would mount in the caller's namespace, and leave the mounts there)
        raise ConfigError("$.linux.namespaces", "a mount namespace is required: the "
                          "container's mounts are made in it")
    flags = 0
    for kind, ns in namespaces.items():
        if "path" not in ns:
            flags |= CLONE_FLAGS[kind]
    plan.add(R_CLONE_FLAGS, struct.pack("<Q", flags))
    for kind in JOIN_ORDER:
        ns = namespaces.get(kind)
        if ns and "path" in ns:
            plan.add(R_JOIN_NS, struct.pack("<Q", CLONE_FLAGS[kind]) + _cstr(ns["path"], kind))
    new_user = "user" in namespaces and "path" not in namespaces["user"]
    if new_user:
        plan.add(R_WAIT_MAPS)
    if "time" in namespaces and "path" not in namespaces["time"]:
        for clock, off in linux.get("timeOffsets", {}).items():
            if clock not in TIME_CLOCKS:
                raise ConfigError(f"$.linux.timeOffsets.{clock}", "unknown clock")
            plan.add(R_TIME_OFFSET, struct.pack("<IIq", TIME_CLOCKS[clock],
                                                off.get("nanosecs", 0), off.get("secs", 0)))
    elif linux.get("timeOffsets"):
        raise ConfigError("$.linux.timeOffsets", "needs a new time namespace")

    plan.add(R_ROOTFS, _cstr(rootfs, "$.root.path"))
    if "rootfsPropagation" in linux:
        plan.add(R_ROOT_PROPAGATION, struct.pack("<Q", root_propagation(
            linux["rootfsPropagation"])))
    if config["root"].get("readonly"):
        plan.add(R_READONLY_ROOT)
    if no_pivot:
        plan.add(R_NO_PIVOT)

    dev_bound = False
    late_ro: list[bytes] = []
    for i, m in enumerate(config.get("mounts", [])):
        where = f"$.mounts[{i}]"
        dest = m["destination"]
        if not dest.startswith("/"):
            dest = "/" + dest
        fstype = m.get("type", "")
        flags_, prop, data = parse_options(m.get("options", []), where)
        bind = bool(flags_ & MS_BIND) or fstype == "bind"
        if linux.get("mountLabel"):
            from .linux.lsm import mount_data

            data = mount_data(data, fstype, bind, linux["mountLabel"])
        src = m.get("source", "")
        if bind and src and not src.startswith("/"):
            src = os.path.join(bundle, src)
        if bind and os.path.normpath(dest) == "/dev":
            dev_bound = True
        if (flags_ & MS_RDONLY and not bind
                and (fstype == "tmpfs" or os.path.normpath(dest) == "/dev")):
            # as runc: rw until its submounts, devices and links are made
            flags_ &= ~MS_RDONLY
            late_ro.append(_cstr(dest, where) + _cstr(where, where))
        if fstype == "cgroup" and cgroup_mounts is not None:
            for rec in cgroup_mounts(dest, flags_, where):
                plan.add(R_MOUNT, rec)
            continue
        if "idmap" in m.get("options", []) or "ridmap" in m.get("options", []):
            from .linux.attrs import check_mount_idmap, idmap_record

            check_mount_idmap(m, where)
            idmap_record(plan, m, src, bool(flags_ & MS_REC), where)
        elif bind and new_user and _host_root():
            # as runc: the source opened as host root, before the user namespace
            # (it may be under a directory only root can search; an unprivileged
            # caller cannot clone a mount tree: the container binds by path)
            plan.add(R_MOUNT_TREE, struct.pack("<I", int(bool(flags_ & MS_REC)))
                     + _cstr(src, where) + _cstr(where, where))
        # bind: 1; 2: at /proc, so the source must be procfs (the init checks)
        bind_bits = int(bind) | (2 if bind and os.path.normpath(dest) == "/proc" else 0)
        plan.add(R_MOUNT, struct.pack("<QQI", flags_, prop, bind_bits) + b"".join(
            _cstr(s, where) for s in (src, dest, fstype, data, where)))
        attr_set, attr_clr = recursive_attrs(m.get("options", []))
        if attr_set or attr_clr:
            plan.add(R_MOUNT_ATTR, struct.pack("<QQ", attr_set, attr_clr) + _cstr(dest, where)
                     + _cstr(where, where))

    devices = {d["path"]: d for d in linux.get("devices", [])}
    # in a user namespace (new, or pyrunc's own, e.g. under rootless podman) no
    # device node can be made: the host's are bound, as runc does
    bind_devices = new_user
    if not new_user:
        from .rootless import in_user_namespace

        bind_devices = in_user_namespace()
    if not dev_bound:
        for path, major, minor in DEFAULT_DEVICES:
            if path not in devices:
                _device(plan, {"path": path, "type": "c", "major": major, "minor": minor,
                               "fileMode": 0o666, "uid": 0, "gid": 0}, bind_devices, "default")
    for i, dev in enumerate(linux.get("devices", [])):
        _device(plan, dev, bind_devices, f"$.linux.devices[{i}]")
    if not dev_bound:
        for target, link in DEV_SYMLINKS:
            plan.add(R_SYMLINK, _cstr(target, link) + _cstr(link, link))
        if os.path.exists("/proc/kcore"):
            plan.add(R_SYMLINK, b"/proc/kcore\0/dev/core\0")
        if "/dev/ptmx" not in devices:
            plan.add(R_SYMLINK, b"pts/ptmx\0/dev/ptmx\0")

    for rec in late_ro:
        plan.add(R_REMOUNT_RO, rec)
    for key in ("hostname", "domainname"):
        if config.get(key):
            plan.add(R_HOSTNAME if key == "hostname" else R_DOMAINNAME,
                     _cstr(config[key], f"$.{key}"))
    for key, value in linux.get("sysctl", {}).items():
        plan.add(R_SYSCTL, _cstr(key, f"$.linux.sysctl.{key}") + _cstr(value, key))
    for path in linux.get("readonlyPaths", []):  # (then the masks, on top: runc's order)
        plan.add(R_READONLY_PATH, _cstr(path, "$.linux.readonlyPaths"))
    for path in linux.get("maskedPaths", []):
        plan.add(R_MASKED_PATH, _cstr(path, "$.linux.maskedPaths"))

    hooks = config.get("hooks", {})
    if any(hooks.get(k) for k in ("prestart", "createRuntime", "createContainer",
                                  "startContainer")):
        plan.add(R_HOOK_SYNC)
    for kind, rtype in (("createContainer", R_HOOK_CREATE_CONTAINER),
                        ("startContainer", R_HOOK_START_CONTAINER)):
        for i, hook in enumerate(hooks.get(kind, [])):
            where = f"$.hooks.{kind}[{i}]"
            args = hook.get("args") or [hook["path"]]
            env = hook.get("env", [])
            plan.add(rtype, struct.pack("<III", hook.get("timeout", 0), len(args), len(env))
                     + b"".join(_cstr(s, where) for s in (hook["path"], *args, *env, where)))
    process = dict(config["process"])
    process["env"] = with_home(process.get("env", []), rootfs,
                               process.get("user", {}).get("uid", 0))
    _process_records(plan, process, "$.process", preserve_fds, console_fd)
    from .linux.attrs import linux_records

    linux_records(plan, linux)
    if "seccomp" in linux:
        from .linux.seccomp import add_records, agent_state

        add_records(plan, linux["seccomp"], "$.linux.seccomp", agent_state(config, cid, bundle),
                    bundle)
    return plan.bytes(), {"new_user": new_user, "namespaces": namespaces}


def _host_root() -> bool:
    """Is pyrunc root in the initial user namespace (not rootless)?"""
    if os.geteuid() != 0:
        return False
    from .rootless import in_user_namespace

    return not in_user_namespace()


def add_joins(plan: Plan, init_pid: int, namespaces: list[str]) -> None:
    """Join the namespaces of the process `init_pid` (those in `namespaces`),
    in the order the kernel needs (user first)."""
    for kind in JOIN_ORDER:
        if kind in namespaces:
            path = f"/proc/{init_pid}/ns/{NS_FILES[kind]}"
            plan.add(R_JOIN_NS, struct.pack("<Q", CLONE_FLAGS[kind]) + _cstr(path, kind))


def build_exec(process: dict, init_pid: int, namespaces: list[str], rootfs: str, *,
               where: str = "process", preserve_fds: int = 0, console_fd: int = -1,
               container=None) -> bytes:
    """The plan for `exec`: join the namespaces of the container's init, then
    apply the process's attributes and run it."""
    plan = Plan()
    plan.add(R_EXEC)
    plan.add(R_CLONE_FLAGS, struct.pack("<Q", 0))
    add_joins(plan, init_pid, namespaces)
    process = dict(process)
    process["env"] = with_home(process.get("env", []), rootfs,
                               process.get("user", {}).get("uid", 0))
    # As runc: the container's scheduler, I/O priority and exec CPU affinity
    # unless the process has its own.
    base = container.data.get("process", {}) if container is not None else {}
    for key in ("scheduler", "ioPriority", "execCPUAffinity"):
        if key not in process and key in base:
            process[key] = base[key]
    _process_records(plan, process, f"$.{where}" if where == "process" else where,
                     preserve_fds, console_fd, process.get("execCPUAffinity") or {})
    if container is not None:
        from .linux.attrs import linux_records

        linux_records(plan, container.data.get("linux_attrs", {}))
    if container is not None and container.data.get("seccomp"):
        from .linux.seccomp import add_records, early_load_safe, exec_state

        add_records(plan, container.data["seccomp"], "$.linux.seccomp", exec_state(container),
                    container.data.get("bundle", ""))
        if early_load_safe(container.data["seccomp"]) and not (
                process.get("apparmorProfile") or process.get("selinuxLabel")):
            plan.add(R_SECCOMP_EARLY)  # (an LSM attribute is written after it: not early)
    return plan.bytes()


def _device(plan: Plan, dev: dict, bind: bool, where: str) -> None:
    kind = dev["type"]
    path = dev["path"]
    if not path.startswith("/dev/"):
        raise ConfigError(f"{where}.path", f"device path \"{path}\" is not under /dev")
    mode = S_IFMT[kind] | (dev.get("fileMode", 0o666) & 0o7777)
    numbers = [dev.get(key, 0) for key in ("major", "minor", "uid", "gid")]
    for key, n in zip(("major", "minor", "uid", "gid"), numbers, strict=True):
        if not 0 <= n <= 0xFFFFFFFF:
            raise ConfigError(f"{where}.{key}", f"{n} is out of range (0 to 4294967295)")
    plan.add(R_DEVICE, struct.pack("<6I", mode, *numbers, int(bind))
             + _cstr(path, f"{where}.path"))


def cgroup_bind_records(sources: list[tuple[str, str]], dest: str, flags: int,
                        where: str) -> list[bytes]:
    """A cgroup mount on a v1 host: a tmpfs with the container's own cgroup
    directory of each hierarchy bound under it."""
    recs = [struct.pack("<QQI", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, 0) + b"".join(
        _cstr(s, where) for s in ("tmpfs", dest, "tmpfs", "mode=755", where))]
    for name, src in sources:
        recs.append(struct.pack("<QQI", flags | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                0, 1) + b"".join(
            _cstr(s, where) for s in (src, f"{dest}/{name}", "bind", "", where)))
    if flags & MS_RDONLY:  # then the tmpfs itself is read-only too, as with runc
        recs.append(struct.pack("<QQI", MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
                                | MS_NOEXEC, 0, 0) + b"".join(
            _cstr(s, where) for s in ("tmpfs", dest, "tmpfs", "mode=755", where)))
    return recs
