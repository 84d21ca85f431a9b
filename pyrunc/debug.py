"""`pyrunc debug`: troubleshoot a running container from the host.

A command (default: a shell) joins the container's pid, network, ipc, uts
and cgroup namespaces (and its user namespace) but runs with the host's tools
or those of a tools root filesystem, with the container's own filesystem at
/container, read-only unless asked otherwise. It works on images with no
shell at all and leaves nothing behind (see csrc/debug.c)."""

import os
import struct
import sys

from .cgroups import host as cgroups
from .discover import Target, frozen, process_cgroups
from .errors import PyruncError

DEBUG_NAMESPACES = ("pid", "network", "ipc", "uts", "cgroup")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NO_TTY = 0xFFFFFFFF


def own_namespaces(pid: int) -> list[str]:
    """The kinds of namespace (of DEBUG_NAMESPACES and user) in which process
    `pid` is not where we are."""
    from .linux.namespaces import NS_FILES

    out = []
    for kind in (*DEBUG_NAMESPACES, "user"):
        try:
            theirs = os.stat(f"/proc/{pid}/ns/{NS_FILES[kind]}")
            ours = os.stat(f"/proc/self/ns/{NS_FILES[kind]}")
        except OSError as e:
            raise PyruncError(f"debug: process {pid}: {e.strerror}") from None
        if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino):
            out.append(kind)
    return out


def build_plan(t: Target, tools: str | None, rw: bool, cmd: list[str], tty_fd: int = -1) -> bytes:
    """The plan of a debug session into container `t`."""
    from . import plan as p

    pid = t.pid
    namespaces = own_namespaces(pid)
    userns = f"/proc/{pid}/ns/user" if "user" in namespaces else ""
    plan = p.Plan()
    plan.add(p.R_DEBUG, struct.pack("<I", int(rw)) + p._cstr(tools or "", "--tools")
             + p._cstr(f"/proc/{pid}/ns/mnt", "mnt") + p._cstr(userns, "user")
             + struct.pack("<I", tty_fd if tty_fd >= 0 else NO_TTY))
    plan.add(p.R_CLONE_FLAGS, struct.pack("<Q", 0))
    p.add_joins(plan, pid, [k for k in namespaces if k in DEBUG_NAMESPACES])
    env = [f"PATH={DEFAULT_PATH}", "HOME=/root", f"TERM={os.environ.get('TERM', 'xterm')}",
           f"PYRUNC_DEBUG_CONTAINER={t.id}"]
    plan.add(p.R_ARGS, b"".join(p._cstr(a, "command") for a in cmd))
    plan.add(p.R_ENV, b"".join(p._cstr(e, "env") for e in env))
    plan.add(p.R_CWD, b"/\0")
    return plan.bytes()


def target_cgroups(t: Target) -> dict[str, str]:
    """The cgroups the session joins: those pyrunc made, else the init's (not
    a hierarchy's root: the runtime did not place it there)."""
    if t.runtime == "pyrunc":
        from .state import Container

        paths = Container.load(t.root, t.id).data.get("cgroup")
        if paths:
            return paths
    roots = {h.mountpoint for h in cgroups.hierarchies()}
    return {n: p for n, p in process_cgroups(t.pid).items() if p not in roots}


def debug(t: Target, *, tools: str | None = None, rw: bool = False,
          cmd: list[str] | None = None, tty: bool | None = None,
          ignore_paused: bool = False) -> int:
    """Run the debug session in the foreground; return its exit status.
    With a terminal (`tty`; by default when stdin is one, and stdout too for
    a command) the session gets a pty of its own, relayed as `exec -t` does."""
    from .create import exit_status, wait_forwarding_signals
    from .spawn import Init, above

    if t.status == "running" and frozen(t.pid):  # (a runtime that cannot tell)
        t.status = "paused"
    if t.status == "paused" and not ignore_paused:
        raise PyruncError(f"debug: container {t.id} is paused (resume it, or use "
                          "--ignore-paused to debug it frozen, outside its cgroup)")
    if t.status not in ("running", "paused", "created") or t.pid <= 0:
        raise PyruncError(f"debug: container {t.id} is not running")
    if tools:
        tools = os.path.abspath(tools)
        if not os.path.isdir(tools):
            raise PyruncError(f"debug: --tools {tools}: not a directory")
    shell = ["/bin/sh"] if not tools else ["sh"]
    paths = {} if t.status == "paused" else target_cgroups(t)
    try:
        pidns = os.readlink(f"/proc/{t.pid}/ns/pid")
    except OSError as e:
        raise PyruncError(f"debug: container {t.id}: process {t.pid}: {e.strerror}") from None
    master = slave = -1
    if tty is None:  # a terminal, unless a command's output goes elsewhere (no \r\n there)
        tty = os.isatty(0) and (os.isatty(1) or not cmd)
    if tty:
        master, slave = os.openpty()
        slave = above(slave, 3)
    init = None
    try:
        init = Init(build_plan(t, tools, rw, cmd or shell, slave),
                    extra_fds=(slave,) if slave >= 0 else ())
        if slave >= 0:
            os.close(slave)
            slave = -1
        cgroups.join(paths, init.stage1)
        pid = init.go()
        init.maps_done()
        init.wait_ready()
    except BaseException:
        if init is not None:
            init.kill()
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
        raise
    try:
        if master >= 0:
            from .linux.tty import relay

            return exit_status(relay(master, pid))
        return wait_forwarding_signals(pid, group=True)
    finally:
        for leftover in leftovers(pid, pidns):
            try:
                os.kill(leftover, 9)
            except ProcessLookupError:
                pass


def leftovers(session: int, pidns: str) -> list[int]:
    """Processes a finished session left running in the container (in the
    background, or orphaned): those in the pid namespace `pidns` and in its
    session (the session process leads one of its own: csrc/debug.c)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
            ns = os.readlink(f"/proc/{name}/ns/pid")
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        if ns == pidns and int(fields[3]) == session:
            out.append(int(name))
    return out


def list_table(targets: list[Target]) -> str:
    """`debug --list`: one row per container."""
    rows = [("RUNTIME", "ROOT", "ID", "NAMESPACE", "POD", "CONTAINER", "PID", "STATUS",
             "ROOTFS")]
    for t in targets:
        r = t.row()
        rows.append(tuple(str(r[k]) or "-" for k in (
            "runtime", "root", "id", "namespace", "pod", "container", "pid", "status",
            "rootfs")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                   + "\n" for r in rows)


def say(msg: str) -> None:
    sys.stderr.write(f"pyrunc debug: {msg}\n")
