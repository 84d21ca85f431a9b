"""pyrunc's Python API, for tools and test harnesses.

The CLI is built on the same functions (pyrunc.container, create, execute),
so a container made here is the one `pyrunc --root ROOT state ID` reports,
and errors are the same `pyrunc.errors.PyruncError` (one line, JSON path
where a config field is to blame)::

    from pyrunc.api import Runtime

    rt = Runtime("/run/pyrunc-tests")
    rt.create("web", "/path/to/bundle")     # created: the init waits
    rt.start("web")                         # the program runs
    rt.state("web")["status"]               # "running"
    rt.exec("web", ["ls", "/"])             # exit status of ls
    rt.kill("web", "TERM")
    rt.delete("web", force=True)

Processes started here are children of the calling process (as with the
CLI under a shim): call `Runtime.reap()` or be a subreaper and wait for them.
"""

from __future__ import annotations

import os

from . import container, create, execute
from .config import execspec
from .errors import PyruncError
from .state import DEFAULT_ROOT

__all__ = ["PyruncError", "Runtime"]


class Runtime:
    """The containers under one state root (the CLI's --root)."""

    def __init__(self, root: str = DEFAULT_ROOT, systemd_cgroup: bool = False) -> None:
        self.root = root
        self.systemd_cgroup = systemd_cgroup  # cgroups as systemd scopes (--systemd-cgroup)

    def create(self, cid: str, bundle: str, *, pid_file: str | None = None,
               console_socket: str | None = None, no_pivot: bool = False,
               preserve_fds: int = 0) -> dict:
        """Create a container from a bundle; returns its state (status created)."""
        create.create(self.root, cid, bundle, pid_file=pid_file,
                      console_socket=console_socket, no_pivot=no_pivot,
                      preserve_fds=preserve_fds, systemd_cgroup=self.systemd_cgroup)
        return self.state(cid)

    def start(self, cid: str) -> None:
        """Run the container's program (returns once it is executed)."""
        container.start(self.root, cid)

    def run(self, cid: str, bundle: str, *, detach: bool = False, keep: bool = False) -> int:
        """create + start; in the foreground, wait and return the exit status."""
        return create.run(self.root, cid, bundle, detach=detach, keep=keep,
                          systemd_cgroup=self.systemd_cgroup)

    def state(self, cid: str) -> dict:
        """The runtime-spec state document."""
        return container.get_state(self.root, cid)

    def list(self) -> list[dict]:
        """The state of every container under the root."""
        return container.list_states(self.root)

    def kill(self, cid: str, signal: str | int | None = None, *, all_procs: bool = False) -> None:
        """Send a signal (a number or a name; default the stopSignal annotation, or TERM)."""
        container.kill(self.root, cid, signal, all_procs=all_procs)

    def delete(self, cid: str, *, force: bool = False) -> None:
        """Remove a stopped container (force: kill it first)."""
        container.delete(self.root, cid, force=force)

    def exec(self, cid: str, args: list[str] | None = None, *, process: dict | None = None,
             detach: bool = False, pid_file: str | None = None, **flags) -> int:
        """Run a process in the container: `args` with CLI-style flags (cwd, env,
        user, cap, ...) or a full `process` object. Returns the exit status in
        the foreground."""
        if process is None:
            process = execspec.exec_process_spec(self.root, cid, flags, list(args or []))
        return execute.exec_process(self.root, cid, process, detach=detach,
                                    pid_file=pid_file)

    @staticmethod
    def reap() -> list[tuple[int, int]]:
        """Reap exited children (container processes); returns (pid, status) pairs."""
        out = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return out
            if pid == 0:
                return out
            out.append((pid, status))
