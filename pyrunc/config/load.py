"""Loading config.json from a bundle: JSON, schema, and the semantic checks a
runtime needs beyond the schema. Every error names the JSON path."""

from ..errors import ConfigError, PyruncError
from ..linux.capabilities import CAP_NUMBERS, CAP_SETS, last_cap
from ..linux.namespaces import check as check_namespaces
from ..linux.namespaces import is_hosts_namespace
from ..util import fastjson
from ..util import fastos as os

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}


NUL_OK = ("annotations",)  # where "\u0000" is taken: what never reaches the kernel


def read_json(path: str, source: str) -> dict:
    """Read a JSON object from a file, with one-line errors."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise PyruncError(f"{source}: no such file or directory ({path})") from None
    except IsADirectoryError:
        raise PyruncError(f"{source}: is a directory ({path})") from None
    except OSError as e:
        raise PyruncError(f"{source}: cannot read {path}: {e.strerror}") from None
    try:
        doc = fastjson.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise PyruncError(f"{source}: not UTF-8 text (byte 0x{raw[e.start]:02x} at line {line} "
                          f"column {col})") from None
    except ValueError as e:
        raise PyruncError(f"{source}: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError("$", "expected a JSON object", source)
    return doc


def load_bundle(bundle: str) -> tuple[dict, str, str]:
    """Load and check <bundle>/config.json; return (config, bundle, rootfs),
    both paths absolute."""
    if not os.path.exists(bundle):
        raise PyruncError(f"bundle {bundle}: no such file or directory")
    if not os.path.isdir(bundle):
        raise PyruncError(f"bundle {bundle}: not a directory")
    bundle = os.path.abspath(bundle)
    config = read_json(os.path.join(bundle, "config.json"), "config.json")
    from . import schema, textcheck

    textcheck.check(config, "config.json", nul_ok=NUL_OK)

    schema.validate(config, "config", "config.json")
    check(config)
    rootfs = config["root"]["path"]
    if not os.path.isabs(rootfs):
        rootfs = os.path.join(bundle, rootfs)
    rootfs = os.path.normpath(rootfs)
    if not os.path.exists(rootfs):
        raise ConfigError("$.root.path", f"rootfs {rootfs}: no such file or directory")
    if not os.path.isdir(rootfs):
        raise ConfigError("$.root.path", f"rootfs {rootfs}: not a directory")
    return config, bundle, rootfs


def check(config: dict) -> None:
    """Semantic checks that the schema cannot express."""
    version = config.get("ociVersion", "")
    if not version.startswith("1."):
        raise ConfigError("$.ociVersion", f"unsupported version \"{version}\" (want 1.x)")
    if "root" not in config:
        raise ConfigError("$.root", "missing: a Linux container needs a root filesystem")
    process = config.get("process")
    if process is None:
        raise ConfigError("$.process", "missing: nothing to run")
    check_process(process, "$.process")
    check_hooks(config.get("hooks", {}))
    linux = config.get("linux", {})
    namespaces = check_namespaces(linux)
    for key in ("uidMappings", "gidMappings"):
        if linux.get(key) and "user" not in namespaces:
            raise ConfigError(f"$.linux.{key}", "id mappings need a user namespace")
    user_ns = namespaces.get("user")
    if user_ns is not None and "path" not in user_ns:
        for key in ("uidMappings", "gidMappings"):
            if not linux.get(key):
                raise ConfigError(f"$.linux.{key}", "a new user namespace needs id mappings")
    for key in ("hostname", "domainname"):  # (one joined by path: set there, as runc)
        if config.get(key) and "uts" not in namespaces:
            raise ConfigError(f"$.{key}", "setting it needs a uts namespace")
    if "intelRdt" in linux and not os.path.exists("/sys/fs/resctrl/schemata"):
        raise ConfigError("$.linux.intelRdt", "Intel RDT is not available on this host "
                          "(no resctrl filesystem at /sys/fs/resctrl)")
    from ..linux import attrs as linux_attrs

    for i, mount in enumerate(config.get("mounts", [])):
        if "destination" not in mount:
            raise ConfigError(f"$.mounts[{i}].destination", "missing")
        check_proc_mount(mount, f"$.mounts[{i}]")
        if "\0" in mount["destination"]:
            raise ConfigError(f"$.mounts[{i}].destination", "contains a NUL byte")
        linux_attrs.check_mount_idmap(mount, f"$.mounts[{i}]")
    linux_attrs.check_linux(linux)
    if linux.get("mountLabel"):
        from ..linux import lsm

        lsm.check_linux(linux)
    if linux.get("netDevices"):
        from ..linux import netdev

        netdev.check(linux, namespaces)
    for severity, path, message in sysctl_findings(config):
        if severity == "error":
            raise ConfigError(path, message)


# Under /proc only these may be mounted over (what LXCFS emulates), as runc.
PROC_MOUNTS_ALLOWED = ("/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
                       "/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
                       "/proc/net/dev", "/proc/sys/kernel/ns_last_pid")


def check_proc_mount(mount: dict, where: str) -> None:
    """Nothing may be mounted inside /proc (but a few emulated files), and
    nothing but procfs at /proc itself (a bind's source must be procfs: the
    init checks it, as runc): the sysctl, mask and oom_score_adj paths must
    stay procfs (CVE-2019-16884 and kin)."""
    dest = os.path.normpath("/" + mount["destination"].lstrip("/"))
    if dest == "/proc":
        return
    if dest.startswith("/proc/") and dest not in PROC_MOUNTS_ALLOWED:
        raise ConfigError(f"{where}.destination",
                          f"\"{dest}\" cannot be mounted because it is inside /proc")


MAX_HOOK_TIMEOUT = 2**31 - 1


def check_hooks(hooks: dict) -> None:
    """Timeouts must fit the kernel's and runc's types (seconds, a C int)."""
    for kind in ("prestart", "createRuntime", "createContainer", "startContainer",
                 "poststart", "poststop"):
        for i, hook in enumerate(hooks.get(kind) or []):
            timeout = hook.get("timeout")
            if timeout is not None and not 0 < timeout <= MAX_HOOK_TIMEOUT:
                raise ConfigError(f"$.hooks.{kind}[{i}].timeout",
                                  f"{timeout} is out of range (1 to {MAX_HOOK_TIMEOUT} seconds)")


def check_process(process: dict, where: str) -> None:
    """Checks of a process object (config.json's or exec's process.json)."""
    args = process.get("args")
    if not args:
        raise ConfigError(f"{where}.args", "must name a program to run")
    cwd = process.get("cwd", "/")
    if not cwd.startswith("/"):
        raise ConfigError(f"{where}.cwd", f"must be an absolute path, not \"{cwd}\"")
    for i, var in enumerate(process.get("env", [])):
        if "=" not in var:
            raise ConfigError(f"{where}.env[{i}]", f"\"{var}\" is not NAME=value")
    caps = process.get("capabilities", {})
    last = last_cap()
    for cap_set in CAP_SETS:
        for i, name in enumerate(caps.get(cap_set, [])):
            num = CAP_NUMBERS.get(name)
            if num is None or num > last:
                raise ConfigError(
                    f"{where}.capabilities.{cap_set}[{i}]", f"unknown capability \"{name}\""
                )
    seen: set[str] = set()
    for i, rl in enumerate(process.get("rlimits", [])):
        kind = rl.get("type")
        if kind not in RLIMITS:
            raise ConfigError(f"{where}.rlimits[{i}].type", f"unknown rlimit \"{kind}\"")
        if kind in seen:
            raise ConfigError(f"{where}.rlimits[{i}].type", f"duplicate rlimit \"{kind}\"")
        seen.add(kind)
        if rl["soft"] > rl["hard"]:
            raise ConfigError(f"{where}.rlimits[{i}]", "soft limit is above the hard limit")
    from ..linux.attrs import check_process as check_linux_process

    check_linux_process(process, where)
    if process.get("apparmorProfile") or process.get("selinuxLabel"):
        from ..linux import lsm

        lsm.check_process(process, where)


# linux.sysctl: runc's validator. Only namespaced sysctls, each with a namespace
# of the container's own (config-linux.md#sysctl); `pyrunc check` reports the
# same findings.
IPC_SYSCTLS = ("kernel.sem",)
IPC_SYSCTL_PREFIXES = ("kernel.shm", "kernel.msg", "fs.mqueue.")


def sysctl_findings(config: dict) -> list[tuple[str, str, str]]:
    """(severity, JSON path, message) of each problem with linux.sysctl; an
    unknown key is a warning, the rest are errors. Safe on any JSON value."""
    from .schema import format_path

    linux = config.get("linux")
    linux = linux if isinstance(linux, dict) else {}
    namespaces: dict = {}
    for ns in linux.get("namespaces") if isinstance(linux.get("namespaces"), list) else []:
        if isinstance(ns, dict):
            namespaces.setdefault(ns.get("type"), ns)
    sysctl = linux.get("sysctl")
    out = []
    for key in sysctl if isinstance(sysctl, dict) else {}:
        where = "$.linux.sysctl" + format_path([key])[1:]
        name = key.replace("/", ".")
        shown = fastjson.dumps(key)
        if name in IPC_SYSCTLS or name.startswith(IPC_SYSCTL_PREFIXES):
            need = "ipc"
        elif name.startswith("net."):
            need = "network"
        elif name in ("kernel.hostname", "kernel.domainname"):
            need = "uts"
        else:
            out.append(("error", where, f"sysctl {shown} is not namespaced: setting it in a "
                        "container would change the host"))
            continue
        ns = namespaces.get(need)
        if ns is None or ("path" in ns and is_hosts_namespace(ns["path"], need)):
            out.append(("error", where, f"sysctl {shown} needs a {need} namespace of its "
                        "own, else it would change the host's"))
            continue
        if not os.path.exists(os.path.join("/proc/sys", *name.split("."))):
            out.append(("warning", where, f"sysctl {shown} does not exist on this host's "
                        "kernel"))
    return out
