"""exec: a new process in a running container, joining its namespaces and
cgroups (see csrc/init.c for why the process is born in its final shape)."""

from .cgroups import manager
from .container import ACTIVE
from .create import exit_status, send_pidfd, wait_forwarding_signals, write_pid_file
from .errors import PyruncError
from .state import Container
from .util import fastos as os
from .util import trace


class ExecError(PyruncError):
    """An exec failure: runc exits 255 for these."""


def exec_process(root: str, cid: str, process: dict, *, detach: bool = False,
                 pid_file: str | None = None, pidfd_socket: str | None = None,
                 console_socket: str | None = None,
                 preserve_fds: int = 0, ignore_paused: bool = False,
                 sub_cgroups: list[str] | None = None) -> int:
    """Run a new process in a running container (joining all its namespaces and
    its cgroup, or sub-cgroups of it). In the foreground, return its exit status."""
    from . import plan
    from .spawn import Init, above, connect_console

    c = Container.load(root, cid)
    status = c.status()
    if status == "paused" and not ignore_paused:
        raise ExecError("exec failed: cannot exec in a paused container "
                        "(use --ignore-paused to override)")
    if status not in ACTIVE:
        raise ExecError("exec failed: cannot exec in a stopped container")
    console_fd = -1
    ours = None
    if process.get("terminal"):
        if console_socket:
            console_fd = connect_console(console_socket, 3 + preserve_fds)
        elif detach:
            raise ExecError("exec failed: cannot allocate a tty without --console-socket "
                            "when detached")
        else:
            from .linux.tty import console_pair

            ours, theirs = console_pair()
            console_fd = above(theirs, 3 + preserve_fds)
    init = None
    master = -1
    try:
        plan_bytes = plan.build_exec(process, c.pid, c.data.get("namespaces", []),
                                     c.data.get("rootfs", "/"), preserve_fds=preserve_fds,
                                     console_fd=console_fd, container=c)
        init = Init(plan_bytes, preserve_fds=preserve_fds,
                    extra_fds=(console_fd,) if console_fd >= 0 else ())
        if console_fd >= 0:
            os.close(console_fd)
            console_fd = -1
        joiner = init.exec_helper()
        trace.debug(f"nsexec[{init.stage1}]: => nsexec container setup")
        # execCPUAffinity.initial: before the cgroup (its final: the init, last)
        from .linux.attrs import initial_affinity

        initial_affinity(joiner, process.get(
            "execCPUAffinity", c.data.get("process", {}).get("execCPUAffinity")))
        cg = manager.load(c.data)
        targets = cg.sub_paths(sub_cgroups or [])
        # Into a paused container (--ignore-paused): the frozen cgroups last, or
        # the setup itself would freeze half-way.
        later = {n: p for n, p in targets.items() if status == "paused" and
                 ("freezer" in n.split(",") or n == "unified")}
        cg.join(joiner, {n: p for n, p in targets.items() if n not in later})
        pid = init.go(stage1_exits=False)
        trace.debug("child process in init()")
        init.maps_done()
        if ours is not None:
            from .linux.tty import receive_master

            master = receive_master(ours)
        init.wait_ready()
        trace.debug("setns_init: about to exec")
        if later:
            cg.join(pid, later)
    except PyruncError as e:
        if init is not None:
            init.kill()
        if master >= 0:
            os.close(master)
        msg = str(e)
        raise ExecError(msg if msg.startswith("exec failed") else f"exec failed: {msg}") from None
    finally:
        if console_fd >= 0:
            os.close(console_fd)
    if pid_file:
        try:
            write_pid_file(pid_file, pid)
        except OSError as e:  # as runc: the process is killed, exit 255
            import _signal

            os.kill(pid, _signal.SIGKILL)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            raise ExecError(f"exec failed: open {e.filename or pid_file}: "
                            f"{(e.strerror or str(e)).lower()}") from None
    if pidfd_socket:
        send_pidfd(pidfd_socket, pid)
    if detach:
        return 0
    if master >= 0:
        from .linux.tty import relay

        return exit_status(relay(master, pid))
    return wait_forwarding_signals(pid)
