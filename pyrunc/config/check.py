"""`pyrunc check [BUNDLE]`: lint an OCI bundle without running it.

Every problem is a Finding: a severity (error: create would fail or the
container could not start; warning: it would run, maybe not as meant), the
JSON path of the field, one sentence, and the runtime-spec section it comes
from. The checks reuse pyrunc's own: the JSON Schema (all its errors), the
semantic checks of config.check, the seccomp checks and the plan that create
builds, so that `check` and `create` agree; on top of those come the checks
that need the bundle and this host: the program in the rootfs, bind mount
sources, id mappings, capabilities and rlimits of this kernel, sysctls, seccomp
syscall names, and the cgroup controllers that linux.resources needs.

Nothing is created or changed: no state directory, cgroup or mount."""

import errno
import os
import stat
import struct

from ..errors import ConfigError, PyruncError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_SYMLINKS = 40  # as the kernel's path walk
RLIM_INFINITY = (1 << 64) - 1
CAP_SYS_RESOURCE = 24

# JSON path prefix -> runtime-spec section (GitHub's anchors of the headings).
SECTIONS = {
    "$": "config.md",
    "$.ociVersion": "config.md#specification-version",
    "$.root": "config.md#root",
    "$.mounts": "config.md#mounts",
    "$.process": "config.md#process",
    "$.process.rlimits": "config.md#posix-process",
    "$.process.user": "config.md#user",
    "$.process.capabilities": "config.md#linux-process",
    "$.process.noNewPrivileges": "config.md#linux-process",
    "$.process.oomScoreAdj": "config.md#linux-process",
    "$.process.apparmorProfile": "config.md#linux-process",
    "$.process.selinuxLabel": "config.md#linux-process",
    "$.process.ioPriority": "config.md#linux-process",
    "$.process.scheduler": "config.md#linux-process",
    "$.process.execCPUAffinity": "config.md#linux-process",
    "$.hostname": "config.md#hostname",
    "$.domainname": "config.md#domainname",
    "$.hooks": "config.md#posix-platform-hooks",
    "$.annotations": "config.md#annotations",
    "$.linux": "config.md#platform-specific-configuration",
    "$.linux.namespaces": "config-linux.md#namespaces",
    "$.linux.uidMappings": "config-linux.md#user-namespace-mappings",
    "$.linux.gidMappings": "config-linux.md#user-namespace-mappings",
    "$.linux.timeOffsets": "config-linux.md#offset-for-time-namespace",
    "$.linux.devices": "config-linux.md#devices",
    "$.linux.netDevices": "config-linux.md#network-devices",
    "$.linux.cgroupsPath": "config-linux.md#cgroups-path",
    "$.linux.resources": "config-linux.md#control-groups",
    "$.linux.resources.devices": "config-linux.md#allowed-device-list",
    "$.linux.resources.memory": "config-linux.md#memory",
    "$.linux.resources.cpu": "config-linux.md#cpu",
    "$.linux.resources.blockIO": "config-linux.md#block-io",
    "$.linux.resources.hugepageLimits": "config-linux.md#huge-page-limits",
    "$.linux.resources.network": "config-linux.md#network",
    "$.linux.resources.pids": "config-linux.md#pids",
    "$.linux.resources.rdma": "config-linux.md#rdma",
    "$.linux.resources.unified": "config-linux.md#unified",
    "$.linux.intelRdt": "config-linux.md#intelrdt",
    "$.linux.memoryPolicy": "config-linux.md#memory-policy",
    "$.linux.sysctl": "config-linux.md#sysctl",
    "$.linux.seccomp": "config-linux.md#seccomp",
    "$.linux.rootfsPropagation": "config-linux.md#rootfs-mount-propagation",
    "$.linux.maskedPaths": "config-linux.md#masked-paths",
    "$.linux.readonlyPaths": "config-linux.md#readonly-paths",
    "$.linux.mountLabel": "config-linux.md#mount-label",
    "$.linux.personality": "config-linux.md#personality",
}
BUNDLE_SECTION = "bundle.md#container-format"


def section(path: str) -> str:
    """The spec section of a JSON path: that of its longest known prefix."""
    while True:
        if path in SECTIONS:
            return SECTIONS[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return SECTIONS["$"]
        path = path[:cut]


class Finding:
    """One problem: severity ("error" or "warning"), JSON path, message, spec section."""

    __slots__ = ("severity", "path", "message", "spec")

    def __init__(self, severity: str, path: str, message: str, spec: str) -> None:
        self.severity = severity
        self.path = path
        self.message = message
        self.spec = spec

    def as_dict(self) -> dict:
        return {"severity": self.severity, "path": self.path, "message": self.message,
                "spec": self.spec}

    def __repr__(self) -> str:
        return f"{self.severity} {self.path}: {self.message} ({self.spec})"


def _path(base: str, *segments: object) -> str:
    from .schema import format_path

    if not segments:
        return base
    return base + format_path(list(segments))[1:]


def _d(x: object) -> dict:
    return x if isinstance(x, dict) else {}


def _l(x: object) -> list:
    return x if isinstance(x, list) else []


def _int(x: object) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def _q(s: object) -> str:
    """A value quoted for a message, on one line."""
    from ..util import fastjson

    return fastjson.dumps(s) if isinstance(s, str) else repr(s)


# -- paths inside the rootfs ----------------------------------------------------------

def resolve_in_root(root: str, path: str, cwd: str = "/") -> str:
    """The host path of `path` as the container would see it with `root` as its
    root (before any mounts): symlinks are followed inside the root (an absolute
    target starts again at the root, `..` never goes above it). A relative
    `path` is taken from `cwd`. Raises OSError (ENOENT, ENOTDIR, ELOOP)."""
    if not path.startswith("/"):
        path = cwd.rstrip("/") + "/" + path
    todo = [p for p in path.split("/") if p][::-1]  # a stack: the next part last
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop()
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        host = os.path.join(root, *done, part)
        st = os.lstat(host)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            target = os.readlink(host)
            if target.startswith("/"):
                done = []
            todo.extend(p for p in reversed(target.split("/")) if p)
            continue
        if todo and not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        done.append(part)
    return os.path.join(root, *done)


def _map_id(cid: int, mappings: list) -> int | None:
    """The host id of container id `cid` under uid/gid mappings, or None."""
    for m in mappings:
        m = _d(m)
        start, host, size = (_int(m.get(k)) for k in ("containerID", "hostID", "size"))
        if start is None or host is None or size is None:
            continue
        if start <= cid < start + size:
            return host + cid - start
    return None


def _executable(st: os.stat_result, uid: int, gids: set[int]) -> bool:
    """access(X_OK) of a file for a process with these (host) ids."""
    if stat.S_ISDIR(st.st_mode):
        return False
    if uid == 0:
        return bool(st.st_mode & 0o111)
    if st.st_uid == uid:
        return bool(st.st_mode & 0o100)
    if st.st_gid in gids:
        return bool(st.st_mode & 0o010)
    return bool(st.st_mode & 0o001)


def elf_interpreter(path: str) -> str | None:
    """The PT_INTERP loader of an ELF file, None if it has none (or is no ELF)."""
    try:
        with open(path, "rb") as f:
            hdr = f.read(64)
            if len(hdr) < 52 or hdr[:4] != b"\x7fELF" or hdr[4] not in (1, 2):
                return None
            end = "<" if hdr[5] == 1 else ">"
            if hdr[4] == 2:
                (phoff,) = struct.unpack_from(end + "Q", hdr, 32)
                phentsize, phnum = struct.unpack_from(end + "HH", hdr, 54)
            else:
                (phoff,) = struct.unpack_from(end + "I", hdr, 28)
                phentsize, phnum = struct.unpack_from(end + "HH", hdr, 42)
            for i in range(min(phnum, 512)):
                f.seek(phoff + i * phentsize)
                ph = f.read(phentsize)
                if len(ph) < 32 or struct.unpack_from(end + "I", ph, 0)[0] != 3:  # PT_INTERP
                    continue
                if hdr[4] == 2:
                    (offset,) = struct.unpack_from(end + "Q", ph, 8)
                    (size,) = struct.unpack_from(end + "Q", ph, 32)
                else:
                    (offset,) = struct.unpack_from(end + "I", ph, 4)
                    (size,) = struct.unpack_from(end + "I", ph, 16)
                f.seek(offset)
                return f.read(min(size, 4096)).split(b"\0")[0].decode(errors="replace")
    except (OSError, struct.error, ValueError):
        return None
    return None


def shebang(path: str) -> str | None:
    """The interpreter named by a `#!` line ("" for an empty one), None if none."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)  # the kernel's BINPRM_BUF_SIZE
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].strip(b" \t\r")
    return line.split(None, 1)[0].decode(errors="replace") if line else ""


# -- the checker ------------------------------------------------------------------------

class Checker:
    """Collects findings; one error per JSON path (the first found)."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self._errors: set[str] = set()

    def add(self, severity: str, path: str, message: str, spec: str | None = None) -> None:
        if severity == "error":
            if path in self._errors:
                return
            self._errors.add(path)
        self.findings.append(Finding(severity, path, message, spec or section(path)))

    def error(self, path: str, message: str, spec: str | None = None) -> None:
        self.add("error", path, message, spec)

    def warning(self, path: str, message: str, spec: str | None = None) -> None:
        self.add("warning", path, message, spec)

    def config_error(self, e: PyruncError) -> None:
        if isinstance(e, ConfigError):
            self.error(e.path, e.reason)
        else:
            msg = str(e)
            path = msg.split(":", 1)[0] if msg.startswith("$") else "$"
            self.error(path, msg[len(path) + 2:] if path != "$" else msg)

    @property
    def has_errors(self) -> bool:
        return bool(self._errors)


def check_bundle(bundle: str) -> list[Finding]:
    """All findings for the bundle at `bundle`."""
    from .load import read_json

    c = Checker()
    if not os.path.exists(bundle):
        c.error("$", f"bundle {bundle}: no such file or directory", BUNDLE_SECTION)
        return c.findings
    if not os.path.isdir(bundle):
        c.error("$", f"bundle {bundle}: not a directory", BUNDLE_SECTION)
        return c.findings
    bundle = os.path.abspath(bundle)
    path = os.path.join(bundle, "config.json")
    try:
        config = read_json(path, "config.json")
    except ConfigError as e:
        c.error(e.path, e.reason)
        return c.findings
    except PyruncError as e:
        c.error("$", str(e), BUNDLE_SECTION if not os.path.isfile(path) else "config.md")
        return c.findings
    check_config(c, config, bundle)
    return c.findings


def check_config(c: Checker, config: dict, bundle: str) -> None:
    """The checks of a parsed config.json of a bundle."""
    from . import schema, textcheck
    from .load import NUL_OK

    text = textcheck.findings(config, NUL_OK)
    for path, reason in text:
        c.error(path, reason)
    if not text:  # (the schema's walk is recursive: not past a nesting error)
        for path, reason in schema.errors(config, "config"):
            c.error(path, reason)
    schema_ok = not c.has_errors
    _guard(c, schema_ok, "semantic", _semantic, config)
    rootfs = _guard(c, schema_ok, "root", _root, config, bundle)
    steps = [
        ("process", _program, config, rootfs),
        ("mounts", _mounts, config, bundle),
        ("hooks", _hooks, config, rootfs),
        ("id mappings", _id_mappings, config),
        ("capabilities", _capabilities, config),
        ("rlimits", _rlimits, config),
        ("sysctl", _sysctl, config),
        ("seccomp", _seccomp, config, bundle),
        ("cgroups", _cgroups, config),
    ]
    for name, fn, *args in steps:
        _guard(c, schema_ok, name, fn, *args)
    if not c.has_errors:
        _guard(c, schema_ok, "plan", _plan, config, bundle, rootfs)


def _guard(c: Checker, schema_ok: bool, name: str, fn, *args):
    """Run one check; a config that the schema rejects may trip it up, which is
    then no news (the schema errors are reported): never a traceback."""
    try:
        return fn(c, *args)
    except PyruncError as e:
        c.config_error(e)
    except Exception as e:  # noqa: BLE001  (a lint must go on)
        if schema_ok:
            c.warning("$", f"the {name} check could not be completed: {e!r}")
    return None


def _semantic(c: Checker, config: dict) -> None:
    from .load import check

    check(config)


def _root(c: Checker, config: dict, bundle: str) -> str | None:
    """The rootfs path if it is a directory; reports it otherwise."""
    root = _d(config.get("root")).get("path")
    if not isinstance(root, str) or not root:
        return None
    rootfs = os.path.normpath(root if os.path.isabs(root) else os.path.join(bundle, root))
    if not os.path.exists(rootfs):
        c.error("$.root.path", f"the root filesystem {rootfs} does not exist")
        return None
    if not os.path.isdir(rootfs):
        c.error("$.root.path", f"the root filesystem {rootfs} is not a directory")
        return None
    return rootfs


def _mount_destinations(config: dict) -> list[tuple[int, str]]:
    out = []
    for i, m in enumerate(_l(config.get("mounts"))):
        dest = _d(m).get("destination")
        if isinstance(dest, str) and dest:
            out.append((i, os.path.normpath("/" + dest)))
    return out


def _covering_mount(path: str, mounts: list[tuple[int, str]]) -> int | None:
    """The index of the last mount whose destination holds `path` (not "/")."""
    path = os.path.normpath("/" + path)
    found = None
    for i, dest in mounts:
        if dest != "/" and (path == dest or path.startswith(dest + "/")):
            found = i
    return found


def _program(c: Checker, config: dict, rootfs: str | None) -> None:
    """process.args[0] found, executable, with its interpreter and loader, as
    the init's exec would do it in the container."""
    process = _d(config.get("process"))
    args = _l(process.get("args"))
    if rootfs is None or not args or not isinstance(args[0], str) or not args[0]:
        return
    name = args[0]
    where = "$.process.args[0]"
    cwd = process.get("cwd") if isinstance(process.get("cwd"), str) else "/"
    user = _d(process.get("user"))
    uid = _int(user.get("uid")) or 0
    gids = {_int(user.get("gid")) or 0} | {g for g in _l(user.get("additionalGids"))
                                           if _int(g) is not None}
    linux = _d(config.get("linux"))
    if uid and any(_d(ns).get("type") == "user" for ns in _l(linux.get("namespaces"))):
        # root in the container may execute any file with an x bit; others are
        # checked with the host ids their container ids map to
        uid = _map_id(uid, _l(linux.get("uidMappings")))
        gids = {h for h in (_map_id(g, _l(linux.get("gidMappings"))) for g in gids)
                if h is not None}
        if uid is None:
            return  # reported by the id mapping check
    mounts = _mount_destinations(config)
    try:
        cwd_host = resolve_in_root(rootfs, cwd)
        if not os.path.isdir(cwd_host):
            c.error("$.process.cwd", f"{_q(cwd)} is not a directory in the rootfs")
            return
    except OSError:
        pass  # the init makes a missing cwd (as runc)

    if "/" in name:
        candidates = [name]
    else:
        path = DEFAULT_PATH
        for var in _l(process.get("env")):
            if isinstance(var, str) and var.startswith("PATH="):
                path = var[5:]
        candidates = [f"{d}/{name}" if d else name for d in path.split(":")]
    denied = None
    for cand in candidates:
        full = cand if cand.startswith("/") else os.path.join(cwd, cand)
        try:
            host = resolve_in_root(rootfs, cand, cwd)
            st = os.stat(host)
        except OSError:
            continue
        if _executable(st, uid, gids):
            _interpreters(c, rootfs, host, full, cwd, uid, gids, where)
            return
        denied = denied or (full, st)
    if denied is not None:
        full, st = denied
        why = "a directory" if stat.S_ISDIR(st.st_mode) else (
            "not executable" if not st.st_mode & 0o111 else
            f"not executable by uid {user.get('uid', 0)}")
        c.error(where, f"{_q(name)} ({full} in the rootfs) is {why}")
        return
    covered = [i for i in (_covering_mount(cand if cand.startswith("/")
                                           else os.path.join(cwd, cand), mounts)
                           for cand in candidates) if i is not None]
    msg = f"{_q(name)} is not in the rootfs"
    if "/" not in name:
        msg += f" (not found in $PATH={path})"
    if covered:
        c.warning(where, f"{msg}; it may come from the mount $.mounts[{covered[0]}]")
    else:
        c.error(where, msg)


def _interpreters(c: Checker, rootfs: str, host: str, full: str, cwd: str, uid: int,
                  gids: set[int], where: str, depth: int = 0) -> None:
    """A script's #! interpreter and an ELF file's loader must be in the rootfs."""
    try:
        if not stat.S_ISREG(os.stat(host).st_mode):
            return
    except OSError:
        return
    interp = shebang(host)
    if interp is not None:
        if not interp:
            c.error(where, f"the script {full} has an empty #! line")
            return
        try:
            ihost = resolve_in_root(rootfs, interp, cwd)
            ist = os.stat(ihost)
        except OSError:
            c.error(where, f"the interpreter {_q(interp)} of the script {full} (#!) is not "
                    "in the rootfs")
            return
        if not _executable(ist, uid, gids):
            c.error(where, f"the interpreter {_q(interp)} of the script {full} (#!) is "
                    "not executable")
            return
        if depth < 4:  # the kernel's limit of nested interpreters
            _interpreters(c, rootfs, ihost, interp, cwd, uid, gids, where, depth + 1)
        return
    loader = elf_interpreter(host)
    if loader:
        try:
            os.stat(resolve_in_root(rootfs, loader))
        except OSError:
            c.error(where, f"{full} is dynamically linked and its loader {_q(loader)} "
                    "is not in the rootfs")


def _mounts(c: Checker, config: dict, bundle: str) -> None:
    from ..linux.mounts import MS_BIND, parse_options

    for i, m in enumerate(_l(config.get("mounts"))):
        m = _d(m)
        where = f"$.mounts[{i}]"
        dest = m.get("destination")
        if isinstance(dest, str) and dest and not dest.startswith("/"):
            c.warning(f"{where}.destination", f"{_q(dest)} is relative: relative mount "
                      "destinations are deprecated (taken from \"/\")")
        options = [o for o in _l(m.get("options")) if isinstance(o, str)]
        try:
            flags, _, _ = parse_options(options, where)
        except ConfigError as e:
            c.config_error(e)
            flags = MS_BIND if "bind" in options or "rbind" in options else 0
        if not (flags & MS_BIND or m.get("type") == "bind"):
            continue
        src = m.get("source")
        if not isinstance(src, str) or not src:
            c.error(f"{where}.source", "a bind mount needs a source")
            continue
        host = src if src.startswith("/") else os.path.join(bundle, src)
        if not os.path.exists(host):
            c.error(f"{where}.source", f"the bind mount source {host} does not exist")


# Hooks run in the runtime's namespace, or in the container's (config.md#posix-platform-hooks);
# a failing poststart or poststop hook is only logged.
HOST_HOOKS = ("prestart", "createRuntime", "poststart", "poststop")
CONTAINER_HOOKS = ("createContainer", "startContainer")


def _hooks(c: Checker, config: dict, rootfs: str | None) -> None:
    """Each hook's program exists and is executable where it will run."""
    mounts = _mount_destinations(config)
    for kind, hooks in _d(config.get("hooks")).items():
        if kind not in HOST_HOOKS + CONTAINER_HOOKS:
            continue
        severity = "warning" if kind in ("poststart", "poststop") else "error"
        for i, hook in enumerate(_l(hooks)):
            path = _d(hook).get("path")
            where = f"$.hooks.{kind}[{i}].path"
            if not isinstance(path, str) or not path.startswith("/"):
                continue  # the schema's
            if kind in HOST_HOOKS:
                if not os.path.exists(path):
                    c.add(severity, where, f"the {kind} hook {path} does not exist on this host")
                elif os.path.isdir(path) or not os.access(path, os.X_OK):
                    c.add(severity, where, f"the {kind} hook {path} is not executable")
                continue
            if rootfs is None:
                continue
            try:
                st = os.stat(resolve_in_root(rootfs, path))
            except OSError:
                i_mount = _covering_mount(path, mounts)
                if i_mount is None:
                    c.add(severity, where, f"the {kind} hook {path} is not in the rootfs")
                else:
                    c.warning(where, f"the {kind} hook {path} is not in the rootfs; it may "
                              f"come from the mount $.mounts[{i_mount}]")
                continue
            if not _executable(st, 0, set()):
                c.add(severity, where, f"the {kind} hook {path} is not executable")


def _id_mappings(c: Checker, config: dict) -> None:
    """With a new user namespace, the process's ids must be mapped."""
    linux = _d(config.get("linux"))
    user_ns = [_d(ns) for ns in _l(linux.get("namespaces")) if _d(ns).get("type") == "user"]
    if not user_ns or "path" in user_ns[0]:
        return
    user = _d(_d(config.get("process")).get("user"))
    spec = "config-linux.md#user-namespace-mappings"
    uids, gids = _l(linux.get("uidMappings")), _l(linux.get("gidMappings"))
    checks = [("$.process.user.uid", user.get("uid", 0), uids, "uid", "uidMappings"),
              ("$.process.user.gid", user.get("gid", 0), gids, "gid", "gidMappings")]
    checks += [(f"$.process.user.additionalGids[{i}]", g, gids, "gid", "gidMappings")
               for i, g in enumerate(_l(user.get("additionalGids")))]
    for where, cid, maps, kind, key in checks:
        if _int(cid) is not None and maps and _map_id(cid, maps) is None:
            c.error(where, f"{kind} {cid} is not mapped by linux.{key}, so the process "
                    "cannot take it in the new user namespace", spec)


def _capabilities(c: Checker, config: dict) -> None:
    from ..linux.capabilities import CAP_NUMBERS, CAP_SETS, last_cap

    caps = _d(_d(config.get("process")).get("capabilities"))
    last = last_cap()
    for cap_set in CAP_SETS:
        for i, name in enumerate(_l(caps.get(cap_set))):
            num = CAP_NUMBERS.get(name) if isinstance(name, str) else None
            if num is None:
                c.error(f"$.process.capabilities.{cap_set}[{i}]",
                        f"unknown capability {_q(name)}")
            elif num > last:
                c.error(f"$.process.capabilities.{cap_set}[{i}]",
                        f"{name} is not known to this kernel (its last capability is {last})")


def _has_cap(cap: int) -> bool:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def _rlimits(c: Checker, config: dict) -> None:
    """Limits above pyrunc's own hard limit need CAP_SYS_RESOURCE to be raised."""
    import resource

    from .load import RLIMITS

    can_raise = _has_cap(CAP_SYS_RESOURCE)
    for i, rl in enumerate(_l(_d(config.get("process")).get("rlimits"))):
        rl = _d(rl)
        kind = rl.get("type")
        where = f"$.process.rlimits[{i}]"
        if kind not in RLIMITS:
            c.error(f"{where}.type", f"unknown rlimit {_q(kind)}")
            continue
        hard = _int(rl.get("hard"))
        if hard is None or can_raise:
            continue
        own = resource.getrlimit(RLIMITS[kind])[1]
        own = RLIM_INFINITY if own == resource.RLIM_INFINITY or own < 0 else own
        if hard > own:
            c.error(f"{where}.hard", f"{kind} hard limit {hard} is above this host's hard "
                    f"limit {own}, and pyrunc lacks CAP_SYS_RESOURCE to raise it")


def _sysctl(c: Checker, config: dict) -> None:
    """As runc's validator: only namespaced sysctls, each with its namespace
    (config.sysctl_findings, which create enforces too)."""
    from .load import sysctl_findings

    for severity, path, message in sysctl_findings(config):
        c.add(severity, path, message)


_resolver = None


def syscall_known():
    """A function telling whether libseccomp knows a syscall name (as runc asks
    it), or None without libseccomp.so.2."""
    global _resolver
    if _resolver is None:
        import ctypes

        try:
            lib = ctypes.CDLL("libseccomp.so.2")
        except OSError:
            _resolver = False
            return None
        fn = lib.seccomp_syscall_resolve_name
        fn.argtypes = [ctypes.c_char_p]
        fn.restype = ctypes.c_int
        _resolver = lambda name: fn(name.encode()) != -1  # noqa: E731  (__NR_SCMP_ERROR)
    return _resolver or None


def _seccomp(c: Checker, config: dict, bundle: str) -> None:
    from ..linux import seccomp

    sc = _d(config.get("linux")).get("seccomp")
    if sc is None:
        return
    base = "$.linux.seccomp"
    try:
        seccomp.records(sc, base, None, bundle)
    except ConfigError as e:
        c.config_error(e)
    sc = _d(sc)
    if "defaultAction" in sc and sc["defaultAction"] not in seccomp.ACTIONS:
        c.error(f"{base}.defaultAction", f"unknown seccomp action {_q(sc['defaultAction'])}")
    for i, arch in enumerate(_l(sc.get("architectures"))):
        if arch in seccomp.SPEC_ONLY_ARCHS:
            c.error(f"{base}.architectures[{i}]", f"{arch} is not supported by libseccomp "
                    "2.5, which pyrunc is built with")
        elif arch not in seccomp.ARCHS:
            c.error(f"{base}.architectures[{i}]", f"unknown architecture {_q(arch)}")
    for i, flag in enumerate(_l(sc.get("flags"))):
        if flag not in seccomp.FLAGS:
            c.error(f"{base}.flags[{i}]", f"unknown seccomp flag {_q(flag)}")
    known = syscall_known()
    for i, rule in enumerate(_l(sc.get("syscalls"))):
        rule = _d(rule)
        where = f"{base}.syscalls[{i}]"
        if "action" in rule and rule["action"] not in seccomp.ACTIONS:
            c.error(f"{where}.action", f"unknown seccomp action {_q(rule['action'])}")
        for k, arg in enumerate(_l(rule.get("args"))):
            op = _d(arg).get("op")
            if op is not None and op not in seccomp.OPERATORS:
                c.error(f"{where}.args[{k}].op", f"unknown seccomp operator {_q(op)}")
        if known is None:
            continue
        for j, name in enumerate(_l(rule.get("names"))):
            if isinstance(name, str) and name and "\0" not in name and not known(name):
                c.warning(f"{where}.names[{j}]", f"syscall {_q(name)} is unknown to this "
                          "libseccomp; the rule skips it (as runc)")


def hugepage_sizes(base: str = "/sys/kernel/mm/hugepages") -> set[str]:
    """This host's huge page sizes, named as the hugetlb controller does (2MB, 1GB)."""
    out = set()
    try:
        names = os.listdir(base)
    except OSError:
        return out
    for name in names:
        kb = name.removeprefix("hugepages-").removesuffix("kB")
        if not kb.isdigit():
            continue
        n = int(kb)
        out.add(f"{n >> 20}GB" if n % (1 << 20) == 0 else
                f"{n >> 10}MB" if n % (1 << 10) == 0 else f"{n}KB")
    return out


def _cgroups(c: Checker, config: dict) -> None:
    """The controllers each used linux.resources field needs, as resources.apply
    looks them up, on this host's hierarchies."""
    from ..cgroups.common import RES, Cgroup
    from ..cgroups.host import hierarchies, mode

    res = _d(_d(config.get("linux")).get("resources"))
    if not res:
        return
    cg = Cgroup({h.name or "unified": h.mountpoint for h in hierarchies()})

    def need(ctrl: str, where: str) -> bool:
        if cg.find(ctrl) is None:
            c.error(where, f"the {ctrl} cgroup controller is not available on this host "
                    "(not mounted on cgroup v1, not enabled on cgroup v2)")
            return False
        return True

    if res.get("memory"):
        need("memory", f"{RES}.memory")
    cpu = _d(res.get("cpu"))
    for key in ("cpus", "mems"):
        if cpu.get(key):
            need("cpuset", f"{RES}.cpu.{key}")
    if any(cpu.get(k) is not None for k in ("shares", "quota", "period", "burst",
                                             "realtimeRuntime", "realtimePeriod", "idle")):
        need("cpu", f"{RES}.cpu")
    if _d(res.get("pids")).get("limit") is not None:
        need("pids", f"{RES}.pids.limit")
    if res.get("blockIO"):
        need("blkio" if "blkio" in cg.v1 else "io", f"{RES}.blockIO")
    limits = _l(res.get("hugepageLimits"))
    if limits and need("hugetlb", f"{RES}.hugepageLimits"):
        sizes = hugepage_sizes()
        for i, entry in enumerate(limits):
            size = _d(entry).get("pageSize")
            if size not in sizes:
                c.error(f"{RES}.hugepageLimits[{i}].pageSize",
                        f"huge page size {_q(size)} is not supported by this host "
                        f"(it has: {', '.join(sorted(sizes)) or 'none'})")
    net = _d(res.get("network"))
    for key, ctrl in (("classID", "net_cls"), ("priorities", "net_prio")):
        if net.get(key) is not None and net.get(key) != [] and ctrl not in cg.v1:
            c.error(f"{RES}.network.{key}", f"the {ctrl} cgroup controller is not mounted "
                    "on this host (it exists only on cgroup v1)")
    if res.get("rdma"):
        need("rdma", f"{RES}.rdma")
    unified = _d(res.get("unified"))
    if unified and mode(hierarchies()) != "v2":  # (as runc: create refuses it)
        c.error(f"{RES}.unified", "invalid configuration: cannot use unified on cgroup v1 "
                "(this host has cgroup v1 hierarchies)")
    elif unified:
        for key in unified:
            ctrl = key.split(".", 1)[0]
            if ctrl != "cgroup" and ctrl not in cg.v2_controllers and not os.path.exists(
                    os.path.join(cg.unified, key)):
                c.error(_path(f"{RES}.unified", key), f"the {ctrl} controller is not "
                        f"available on this host's cgroup v2 hierarchy ({cg.unified})")


def _plan(c: Checker, config: dict, bundle: str, rootfs: str | None) -> None:
    """Build (and throw away) the plan that create would: its checks too."""
    from ..plan import build_create

    # A console fd stands in for --console-socket, which only create is given.
    build_create(config, bundle, rootfs or "/nonexistent", console_fd=0, cid="check")


# -- output -------------------------------------------------------------------------------

def summary(findings: list[Finding]) -> str:
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    return (f"{errors} error{'' if errors == 1 else 's'}, "
            f"{warnings} warning{'' if warnings == 1 else 's'}")


def render_text(findings: list[Finding]) -> str:
    from ..cli import one_line

    lines = [one_line(f"{f.severity} {f.path}: {f.message} ({f.spec})") for f in findings]
    lines.append(summary(findings))
    return "\n".join(lines) + "\n"


def render_json(findings: list[Finding]) -> str:
    from ..util import fastjson

    return fastjson.dumps([f.as_dict() for f in findings], indent=2) + "\n"


def run(bundle: str, fmt: str = "text") -> tuple[str, int]:
    """The output of `pyrunc check` and its exit status."""
    if fmt not in ("text", "json"):
        raise PyruncError(f"invalid --format \"{fmt}\" (text or json)")
    findings = check_bundle(bundle)
    out = render_json(findings) if fmt == "json" else render_text(findings)
    return out, int(any(f.severity == "error" for f in findings))
