"""`checkpoint` and `restore` with CRIU, with runc 1.1.5's flags and meanings.

checkpoint: CRIU dumps the container's process tree into the image directory
(default ./checkpoint); next to its images go `descriptors.json` (the init's
stdio as runc records it, for restore's pipes) and a copy of config.json.
Unless --leave-running or --pre-dump, the container is then gone, as with
runc: its processes are killed by CRIU, its cgroups and state removed.

restore: a new container from a bundle and an image directory: the state
entry is claimed and the cgroups made and limited from config.json before
CRIU brings the processes back into them; then it is a container like any
other (state, exec, kill, delete). See criu.py for the RPC."""

import json
import os

from . import state
from .cgroups import host as cgroups
from .cgroups import manager
from .container import destroy, signal_cgroup, warn
from .criu import cgroup_roots, rpc, swrk
from .errors import PyruncError
from .state import Container

CLONE_NEWNET = 0x40000000
EXTERNAL_NS = {"network": ("net", "extRootNetNS"), "pid": ("pid", "extRootPidNS")}
JOIN_NS = {"uts": "uts", "ipc": "ipc", "mount": "mnt", "user": "user"}
CG_MODES = ("soft", "full", "strict", "ignore")
DEFAULT_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                   "/dev/tty")
DESCRIPTORS = "descriptors.json"
# A per-container CRIU configuration file (runc's annotation and default file).
CONFIG_ANNOTATION = "org.criu.config"
DEFAULT_CRIU_CONFIG = "/etc/criu/runc.conf"
MS_BIND, MS_REC, MNT_DETACH = 0x1000, 0x4000, 2


# -- options shared by both commands ---------------------------------------------
def image_paths(flags: dict) -> tuple[str, str, str]:
    """(image dir, work dir, parent) from --image-path, --work-path and
    --parent-path (relative to the image dir, as runc)."""
    image = os.path.abspath(flags.get("image-path") or os.path.join(os.getcwd(), "checkpoint"))
    work = os.path.abspath(flags.get("work-path") or image)
    parent = flags.get("parent-path") or ""
    if parent:
        if os.path.isabs(parent):
            raise PyruncError("--parent-path must be relative")
        real = os.path.normpath(os.path.join(image, parent))
        if not os.path.isdir(real):
            raise PyruncError(f"invalid --parent-path: {real}: no such directory")
    return image, work, parent


def empty_ns(flags: dict) -> int:
    """--empty-ns: only network, which runc always adds (it manages no network
    devices: CRIU leaves the namespace empty, for the hooks to set up)."""
    mask = CLONE_NEWNET
    for value in flags.get("empty-ns") or []:
        for ns in value.split(","):
            if ns != "network":
                raise PyruncError(f"--empty-ns: namespace \"{ns}\" is not supported")
    return mask


def cg_mode(flags: dict):
    mode = flags.get("manage-cgroups-mode")
    if not mode:
        return None
    if mode not in CG_MODES:
        raise PyruncError(f"invalid --manage-cgroups-mode \"{mode}\" "
                          f"(soft, full, strict or ignore)")
    return getattr(rpc(), mode.upper())


def common_opts(opts, flags: dict, config: dict) -> None:
    """The criu options both requests take from flags and config."""
    opts.log_level = 4
    opts.manage_cgroups = True
    opts.notify_scripts = True
    opts.orphan_pts_master = True
    opts.shell_job = bool(flags.get("shell-job"))
    opts.tcp_established = bool(flags.get("tcp-established"))
    opts.ext_unix_sk = bool(flags.get("ext-unix-sk"))
    opts.file_locks = bool(flags.get("file-locks"))
    opts.auto_dedup = bool(flags.get("auto-dedup"))
    opts.lazy_pages = bool(flags.get("lazy-pages"))
    opts.empty_ns = empty_ns(flags)
    mode = cg_mode(flags)
    if mode is not None:
        opts.manage_cgroups_mode = mode
    annotations = config.get("annotations") or {}
    if CONFIG_ANNOTATION in annotations:
        if annotations[CONFIG_ANNOTATION]:  # (empty: no configuration file at all)
            opts.config_file = annotations[CONFIG_ANNOTATION]
    else:
        opts.config_file = DEFAULT_CRIU_CONFIG


def ns_path(config: dict, kind: str) -> str | None:
    for ns in (config.get("linux") or {}).get("namespaces", []):
        if ns.get("type") == kind:
            return ns.get("path")
    return None


def under_tmpfs(dest: str, config: dict) -> bool:
    tmpfs = [m["destination"] for m in config.get("mounts", []) if m.get("type") == "tmpfs"]
    return any(dest == t or dest.startswith(t.rstrip("/") + "/") for t in tmpfs)


def is_bind(m: dict) -> bool:
    opts = m.get("options") or []
    return m.get("type") == "bind" or "bind" in opts or "rbind" in opts


def external_mounts(config: dict, paths: dict[str, str]) -> list[tuple[str, str]]:
    """(destination, host source) of the mounts CRIU must treat as external:
    bind mounts, the container's cgroup directories bound under a cgroup
    mount (`paths`, by hierarchy), and device nodes (as runc)."""
    out = [(os.path.normpath(m["destination"]), m.get("source", "")) for m in
           config.get("mounts", []) if is_bind(m)]
    names = {h.name or "unified": h.dirname for h in cgroups.hierarchies()}
    for m in config.get("mounts", []):
        if m.get("type") == "cgroup":
            dest = os.path.normpath(m["destination"])
            out += [(f"{dest}/{names[n]}", p) for n, p in paths.items() if n in names]
    devices = [d["path"] for d in (config.get("linux") or {}).get("devices", [])]
    out += [(p, p) for p in (*devices, *DEFAULT_DEVICES)]
    return out


def load_config(bundle: str) -> dict:
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise PyruncError(f"reading {bundle}/config.json: {e}") from None


# -- checkpoint --------------------------------------------------------------------
def checkpoint(root: str, cid: str, flags: dict) -> None:
    """Dump a running container with CRIU (see the module's docstring)."""
    c = Container.load(root, cid)
    c.lock()
    try:
        _checkpoint_locked(c, flags)
    finally:
        c.unlock()


def _checkpoint_locked(c: Container, flags: dict) -> None:
    status = c.status()
    if status not in ("running", "paused"):
        raise PyruncError(f"container cannot be checkpointed in {status} state")
    rpc_pb2 = rpc()
    pre_dump = bool(flags.get("pre-dump"))
    leave = bool(flags.get("leave-running"))
    image, work, parent = image_paths(flags)
    config = load_config(c.data["bundle"])
    req = rpc_pb2.criu_req()
    req.type = rpc_pb2.PRE_DUMP if pre_dump else rpc_pb2.DUMP
    o = req.opts
    common_opts(o, flags, config)
    o.pid = c.pid
    o.root = c.data["rootfs"]
    o.leave_running = leave
    o.log_file = "dump.log"
    if parent:
        o.parent_img = parent
        o.track_mem = True
    if flags.get("page-server"):
        addr, _, port = flags["page-server"].rpartition(":")
        if not addr or not port.isdigit():
            raise PyruncError(f"--page-server \"{flags['page-server']}\": want ADDRESS:PORT")
        o.ps.address = addr
        o.ps.port = int(port)
    status_fd = int(flags.get("status-fd") or -1)
    if status_fd >= 0:
        o.status_fd = status_fd
    for kind, (name, key) in EXTERNAL_NS.items():
        path = ns_path(config, kind)
        if path:
            o.external.append(f"{name}[{os.stat(path).st_ino}]:{key}")
    cg = c.data.get("cgroup", {})
    if cg.get("freezer") or cg.get("unified"):
        o.freeze_cgroup = cg.get("freezer") or cg["unified"]
    if not pre_dump:
        for dest, _ in external_mounts(config, c.data.get("cgroup", {})):
            o.ext_mnt.add(key=dest, val=dest)
        for path in (config.get("linux") or {}).get("maskedPaths", []):
            target = f"/proc/{c.pid}/root{path}"
            if os.path.exists(target) and not os.path.isdir(target):
                o.ext_mnt.add(key=path, val="/dev/null")
    made: list[str] = []  # every directory made here, parents first
    for d in (image, work):
        missing = []
        while not os.path.isdir(d):
            missing.append(d)
            d = os.path.dirname(d)
        for m in reversed(missing):
            os.mkdir(m, 0o700)
            made.append(m)
    log_path = os.path.join(work, "dump.log")
    try:
        dirs = [os.open(d, os.O_RDONLY | os.O_DIRECTORY) for d in (image, work)]
    except OSError as e:
        raise PyruncError(f"checkpoint: {e.filename}: {e.strerror}") from None
    o.images_dir_fd, o.work_dir_fd = dirs
    stdio = [os.readlink(f"/proc/{c.pid}/fd/{i}") if os.path.exists(f"/proc/{c.pid}/fd/{i}")
             else "/dev/null" for i in range(3)]
    try:
        swrk(req, log_path=log_path, what="checkpoint",
             pass_fds=(*dirs, *([status_fd] if status_fd >= 0 else [])))
    except PyruncError as e:
        if "cannot run on this kernel" in str(e):  # nothing was done: leave nothing
            _remove_made(made, log_path)
        raise
    finally:
        for fd in dirs:
            os.close(fd)
    if not pre_dump:
        with open(os.path.join(image, DESCRIPTORS), "w") as f:
            json.dump(stdio, f)
        with open(os.path.join(c.data["bundle"], "config.json"), "rb") as src, \
                open(os.path.join(image, "config.json"), "wb") as dst:
            dst.write(src.read())
    if not (leave or pre_dump):
        signal_cgroup(c, 9)  # (CRIU killed the tree; anything it left goes too)
        destroy(c)


def _remove_made(made: list[str], log_path: str) -> None:
    try:
        os.unlink(log_path)
    except OSError:
        pass
    for d in reversed(made):
        try:
            os.rmdir(d)
        except OSError:
            pass


# -- restore -----------------------------------------------------------------------
def restore(root: str, cid: str, bundle: str, flags: dict) -> int:
    """Restore a container from a checkpoint; in the foreground, wait and
    return its exit status (as `run`)."""
    from .config.load import load_bundle
    from .create import (
        _make_cgroups,
        exit_status,
        first_state,
        send_fd,
        wait_forwarding_signals,
        write_pid_file,
    )
    from .linux.namespaces import check as check_namespaces

    state.validate_id(cid)
    config, bundle, rootfs = load_bundle(bundle)
    if flags.get("systemd-cgroup"):
        raise PyruncError("restore: --systemd-cgroup is not supported")
    rpc_pb2 = rpc()
    detach = bool(flags.get("detach"))
    console_socket = flags.get("console-socket")
    terminal = bool(config["process"].get("terminal"))
    if terminal and detach and not console_socket:
        raise PyruncError("cannot allocate a tty without --console-socket when detached "
                          "($.process.terminal is true)")
    image, work, _ = image_paths({**flags, "parent-path": None})
    if not os.path.isdir(image):
        raise PyruncError(f"restore: image directory {image}: no such directory")
    linux = config.get("linux", {})
    namespaces = check_namespaces(linux)
    cg = manager.new(cid, linux)
    paths = cg.paths
    req = rpc_pb2.criu_req()
    req.type = rpc_pb2.RESTORE
    o = req.opts
    common_opts(o, flags, config)
    o.log_file = "restore.log"
    o.evasive_devices = True
    o.rst_sibling = True
    keep_fds: list[int] = []
    c = Container.new(root, cid)
    crit_root = os.path.join(c.dir, "criu-root")
    mounted = False
    restored: dict = {}
    try:
        c.data = first_state(cid, config, bundle, rootfs, cg, namespaces)
        c.save()
        _make_cgroups(c, cg, linux)  # limits before the processes come back
        cg.apply_pids(linux)
        os.makedirs(work, 0o700, exist_ok=True)
        for kind, ns in namespaces.items():
            path = ns.get("path")
            if not path:
                continue
            if kind in EXTERNAL_NS:
                fd = os.open(path, os.O_RDONLY)
                keep_fds.append(fd)
                o.inherit_fd.add(key=EXTERNAL_NS[kind][1], fd=fd)
            elif kind in JOIN_NS:
                o.join_ns.add(ns=JOIN_NS[kind], ns_file=path)
            else:
                raise PyruncError(f"restore: joining a {kind} namespace by path is not "
                                  "supported by criu")
        # CRIU wants a root that is a mount point, whose parent is not overmounted
        os.mkdir(crit_root, 0o755)
        _mount(rootfs, crit_root, MS_BIND | MS_REC)
        mounted = True
        o.root = crit_root
        make_mountpoints(config, rootfs)
        for dest, source in external_mounts(config, paths):
            o.ext_mnt.add(key=dest, val=source)
        if linux.get("maskedPaths"):
            o.ext_mnt.add(key="/dev/null", val="/dev/null")
        try:
            with open(os.path.join(image, DESCRIPTORS)) as f:
                descriptors = json.load(f)
        except (OSError, ValueError) as e:
            raise PyruncError(f"restore: {image}/{DESCRIPTORS}: {e}") from None
        for i, name in enumerate(descriptors[:3]):
            if "pipe:" in name:
                o.inherit_fd.add(key=name, fd=i)
        dirs = [os.open(d, os.O_RDONLY | os.O_DIRECTORY) for d in (image, work)]
        keep_fds += dirs
        o.images_dir_fd, o.work_dir_fd = dirs

        def on_spawn(pid: int) -> None:
            cg.join(pid)  # criu restores the tree relative to its own cgroups
            for ctrls, path in cgroup_roots(pid):
                o.cg_root.add(ctrl=ctrls, path=path)

        def on_notify(script: str, pid: int, fds: list[int]) -> None:
            if script == "setup-namespaces":
                from .hooks import run_hooks

                st = {**c.oci_state(), "status": "creating", "pid": pid}
                run_hooks(config.get("hooks", {}), "prestart", st)
                run_hooks(config.get("hooks", {}), "createRuntime", st)
            elif script == "post-restore":
                restored["pid"] = pid
                c.data.update(pid=pid, pid_start=state.proc_start_time(pid),
                              status="running", created=state.now_rfc3339())
                c.save()
            elif script == "network-unlock" and namespaces.get("network", {}).get("path"):
                unlock_network(namespaces["network"]["path"])
            elif script == "orphan-pts-master" and fds:
                restored["master"] = os.dup(fds[0])

        swrk(req, log_path=os.path.join(work, "restore.log"), what="restore",
             pass_fds=tuple(keep_fds), stdio=(0, 1, 2), on_spawn=on_spawn,
             on_notify=on_notify)
        if not restored.get("pid"):
            raise PyruncError("restore: criu reported no restored process")
        if terminal:
            if "master" not in restored:
                raise PyruncError("restore: criu sent no pty master for the terminal")
            if console_socket:
                # (runc's recvtty: the pty master, named /dev/ptmx)
                send_fd(console_socket, restored.pop("master"), b"/dev/ptmx",
                        f"restore: console socket {console_socket}")
        if flags.get("pid-file"):
            write_pid_file(flags["pid-file"], restored["pid"])
    except BaseException:
        if restored.get("pid"):
            try:
                os.kill(restored["pid"], 9)
            except OSError:
                pass
        signal_cgroup(c, 9)
        cg.made = cg.made or c.data.get("cgroup_made") or []
        cg.remove()
        if mounted:
            _umount(crit_root)
            mounted = False
        c.remove()
        raise
    finally:
        for fd in keep_fds:
            os.close(fd)
        if mounted:
            _umount(crit_root)
            os.rmdir(crit_root)
    c.unlock()
    if detach:
        return 0
    pid = restored["pid"]
    if "master" in restored:
        from .linux.tty import relay

        status = exit_status(relay(restored["master"], pid))
    else:
        status = wait_forwarding_signals(pid)
    c = Container.load(root, cid)
    c.lock()
    signal_cgroup(c, 9)
    destroy(c)
    return status


def unlock_network(ns_path: str) -> None:
    """Remove CRIU's network lock (its iptables chain) from a network namespace
    joined by path: CRIU leaves an external namespace locked after restore,
    for the caller to unlock (the network-unlock notification)."""
    import subprocess

    def ipt(tool: str, *args: str) -> bool:
        try:
            return subprocess.run(["nsenter", f"--net={ns_path}", tool, "-w", *args],
                                  capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    for tool in ("iptables", "ip6tables"):
        for chain in ("INPUT", "OUTPUT"):
            for _ in range(8):  # (one rule per dump that locked it)
                if not ipt(tool, "-D", chain, "-j", "CRIU"):
                    break
        if ipt(tool, "-F", "CRIU"):
            ipt(tool, "-X", "CRIU")


def make_mountpoints(config: dict, rootfs: str) -> None:
    """Create the mount points CRIU needs in the rootfs and in bind-mount
    sources (nested binds), except under tmpfs mounts, whose content CRIU
    restores (runc's prepareCriuRestoreMounts)."""
    binds: list[tuple[str, str]] = []  # (destination, source) seen so far
    for m in config.get("mounts", []):
        dest = os.path.normpath(m["destination"])
        if under_tmpfs(dest, config) and m.get("type") != "tmpfs":
            continue
        host = rootfs + dest
        for bdest, bsource in reversed(binds):
            if dest.startswith(bdest.rstrip("/") + "/"):
                host = os.path.join(bsource, os.path.relpath(dest, bdest))
                break
        src = m.get("source", "")
        if is_bind(m) and src and not os.path.isdir(src):
            if not os.path.exists(host):
                os.makedirs(os.path.dirname(host), exist_ok=True)
                open(host, "a").close()
        else:
            os.makedirs(host, exist_ok=True)
        if is_bind(m):
            binds.append((dest, src))


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, flags: int) -> None:
    import ctypes

    if _libc().mount(source.encode(), target.encode(), None, flags, None) != 0:
        e = ctypes.get_errno()
        raise PyruncError(f"restore: binding {source} at {target}: {os.strerror(e)}")


def _umount(target: str) -> None:
    if _libc().umount2(target.encode(), MNT_DETACH) != 0:
        warn(f"restore: unmounting {target} failed")
