"""`pyrunc debug`: troubleshoot a running container from the host.

A command (default: a shell) joins the container's pid, network, ipc, uts
and cgroup namespaces (and its user namespace) but runs with the host's tools
or those of a tools root filesystem, with the container's own filesystem at
/container, read-only unless asked otherwise. It works on images with no
shell at all and leaves nothing behind (see csrc/debug.c)."""

import os
import struct

from .cgroups import manager
from .errors import PyruncError
from .state import Container

DEBUG_NAMESPACES = ("pid", "network", "ipc", "uts", "cgroup")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def build_plan(c: Container, tools: str | None, rw: bool, cmd: list[str]) -> bytes:
    """The plan of a debug session into container `c`."""
    from . import plan as p

    pid = c.pid
    namespaces = c.data.get("namespaces", [])
    userns = f"/proc/{pid}/ns/user" if "user" in namespaces else ""
    plan = p.Plan()
    plan.add(p.R_DEBUG, struct.pack("<I", int(rw)) + p._cstr(tools or "", "--tools")
             + p._cstr(f"/proc/{pid}/ns/mnt", "mnt") + p._cstr(userns, "user"))
    plan.add(p.R_CLONE_FLAGS, struct.pack("<Q", 0))
    p.add_joins(plan, pid, [k for k in namespaces if k in DEBUG_NAMESPACES])
    env = [f"PATH={DEFAULT_PATH}", "HOME=/root", f"TERM={os.environ.get('TERM', 'xterm')}",
           f"PYRUNC_DEBUG_CONTAINER={c.id}"]
    plan.add(p.R_ARGS, b"".join(p._cstr(a, "command") for a in cmd))
    plan.add(p.R_ENV, b"".join(p._cstr(e, "env") for e in env))
    plan.add(p.R_CWD, b"/\0")
    return plan.bytes()


def debug(root: str, cid: str, *, tools: str | None = None, rw: bool = False,
          cmd: list[str] | None = None) -> int:
    """Run the debug session in the foreground; return its exit status."""
    from .create import wait_forwarding_signals
    from .spawn import Init

    c = Container.load(root, cid)
    if c.status() not in ("running", "paused", "created"):
        raise PyruncError(f"debug: container {cid} is not running")
    if tools:
        tools = os.path.abspath(tools)
        if not os.path.isdir(tools):
            raise PyruncError(f"debug: --tools {tools}: not a directory")
    if not cmd:
        cmd = ["/bin/sh"] if not tools else ["sh"]
    init = Init(build_plan(c, tools, rw, cmd))
    try:
        manager.load(c.data).join(init.stage1)
        pid = init.go()
        init.maps_done()
        init.wait_ready()
    except BaseException:
        init.kill()
        raise
    return wait_forwarding_signals(pid)
