"""Starting pyrunc-init and driving it over the sync socket (see csrc/plan.h).

The init binary is copied into a sealed memfd and executed from there, so no
process in the container can reach, let alone rewrite, a host file through
/proc/PID/exe (the runc CVE-2019-5736 class)."""

import _socket
import fcntl
import struct

from .errors import PyruncError
from .util import fastos as os

TYPE_CHECKING = False
if TYPE_CHECKING:  # (importing collections.abc costs ~1.5 ms)
    from collections.abc import Callable

MSG_GO = b"g"
MSG_PID = ord("P")
MSG_HELPER = ord("h")
MSG_MAPS_DONE = b"m"
MSG_HOOKS = ord("H")
MSG_CONTINUE = b"c"
MSG_READY = ord("R")
MSG_ERROR = ord("E")
MSG_TRACE = ord("T")

F_SEALS = 0x0001 | 0x0002 | 0x0004 | 0x0008  # SEAL, SHRINK, GROW, WRITE


def init_binary() -> str:
    """Path of the installed pyrunc-init."""
    path = os.environ.get("PYRUNC_INIT") or os.path.join(
        os.path.dirname(__file__), "libexec", "pyrunc-init")
    if not os.access(path, os.X_OK):
        raise PyruncError(f"pyrunc-init not found at {path}: is pyrunc installed?")
    return path


def sealed_init() -> int:
    """A sealed, executable memfd copy of pyrunc-init."""
    fd = os.memfd_create("pyrunc-init", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    src = os.open(init_binary(), os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(src).st_size
        done = 0
        while done < size:
            n = os.sendfile(fd, src, done, size - done)
            if n == 0:
                break
            done += n
    finally:
        os.close(src)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, F_SEALS)
    return fd


def _memfd_with(data: bytes, name: str, min_fd: int) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    os.write(fd, data)
    return above(fd, min_fd)


def above(fd: int, min_fd: int) -> int:
    """Move fd to a number >= min_fd, so that preserved fds stay untouched."""
    if fd >= min_fd:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, min_fd)
    os.close(fd)
    return new


class Init:
    """A running pyrunc-init, from spawn to `created`."""

    def __init__(self, plan: bytes, *, fifo_fd: int = -1, preserve_fds: int = 0,
                 extra_fds: tuple[int, ...] = ()) -> None:
        from ._shim import ffi, lib

        low = 3 + preserve_fds
        exe = above(sealed_init(), low)
        plan_fd = _memfd_with(plan, "pyrunc-plan", low)
        parent, child = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        self.sock = parent
        child_fd = above(child.detach(), low)
        keep = sorted([*range(3, low), plan_fd, child_fd, *extra_fds]
                      + ([fifo_fd] if fifo_fd >= 0 else []))
        args = [ffi.new("char[]", a.encode()) for a in
                ("pyrunc-init", str(plan_fd), str(child_fd), str(fifo_fd))]
        argv = ffi.new("char *[]", [*args, ffi.NULL])
        keep_arr = ffi.new("int[]", keep)
        try:
            pid = lib.pyrunc_spawn(exe, argv, keep_arr, len(keep))
        finally:
            os.close(exe)
            os.close(plan_fd)
            os.close(child_fd)
        if pid < 0:
            raise PyruncError(f"starting pyrunc-init: {os.strerror(-pid)}")
        self.stage1 = pid
        self.helper = 0
        self.pid = 0

    def _recv(self) -> bytes:
        while True:
            try:
                msg = self.sock.recv(8192)
            except OSError as e:
                raise PyruncError(self._gone(f"reading from pyrunc-init: {e.strerror}")
                                  ) from None
            if not msg:
                raise PyruncError(self._gone("container init exited before it was ready"))
            if msg[0] == MSG_ERROR:
                raise PyruncError(msg[1:].decode(errors="replace"))
            if msg[0] != MSG_TRACE:
                return msg
            from .util import trace

            trace.step(msg[9:].decode(errors="replace"),
                       int.from_bytes(msg[1:9], "little"))

    def _send(self, msg: bytes, step: str) -> None:
        """Send on the sync socket. If the init is gone (EPIPE), say why: the
        error it sent before it exited, else how it ended, and at which step."""
        try:
            self.sock.send(msg)
        except OSError as e:
            raise PyruncError(self._gone(f"{step}: {e.strerror}")) from None

    def _gone(self, what: str) -> str:
        """The init went away: its last error if it sent one (still queued),
        else `what` and how the process ended."""
        try:
            while True:
                msg = self.sock.recv(8192, _socket.MSG_DONTWAIT)
                if not msg:
                    break
                if msg[0] == MSG_ERROR:
                    return msg[1:].decode(errors="replace")
        except OSError:
            pass
        for attr, who in (("pid", "the container process"), ("stage1", "pyrunc-init")):
            pid = getattr(self, attr)
            if not pid:
                continue
            done = status = 0
            for _ in range(100):  # (its end of the socket closes just before it exits)
                try:
                    done, status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if done:
                    break
                import time

                time.sleep(0.01)
            if not done:
                continue
            setattr(self, attr, 0)  # reaped: never signal that pid again
            if os.WIFSIGNALED(status):
                import _signal

                sig = os.WTERMSIG(status)
                return f"{what} ({who} was killed by signal {sig}: {_signal.strsignal(sig)})"
            return f"{what} ({who} exited with status {os.WEXITSTATUS(status)})"
        return what

    def go(self, *, stage1_exits: bool = True) -> int:
        """Let stage 1 go on (its cgroups are joined); return the container pid.
        An exec's stage 1 lives on until the execve (`stage1_exits` False)."""
        self._send(MSG_GO, "letting pyrunc-init stage 1 go on")
        self.pid = self._recv_pid(MSG_PID)
        if stage1_exits:
            self._reap("stage1")
        # exec: the helper exits once it has made the process; reaped now, it
        # no longer counts against the container's pids limit
        self._reap("helper")
        return self.pid

    def exec_helper(self) -> int:
        """exec: the pid of the helper that makes the process (csrc/init.c):
        it, not stage 1, goes into the container's cgroups before go()."""
        self.helper = self._recv_pid(MSG_HELPER)
        return self.helper

    def _recv_pid(self, kind: int) -> int:
        """The pid in the next message, which must be of `kind`."""
        try:
            msg = self._recv()
        except BaseException:
            self._reap_stage1()
            raise
        if msg[0] != kind or len(msg) != 5:
            raise PyruncError("pyrunc-init: unexpected message")
        return struct.unpack("<I", msg[1:])[0]

    def _reap(self, attr: str) -> None:
        pid = getattr(self, attr)
        if pid:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            setattr(self, attr, 0)

    def _reap_stage1(self) -> None:
        self._reap("stage1")
        self._reap("helper")

    def maps_done(self) -> None:
        self._send(MSG_MAPS_DONE, "telling the container process that its pid is known "
                   "and its id maps are written")

    def wait_ready(self, on_hooks: "Callable[[], tuple[str, str]] | None" = None) -> None:
        """Wait for `created`. At the hook point, the callback runs the host-side
        hooks and returns the states for the createContainer and startContainer
        hooks, which the init runs itself."""
        while True:
            msg = self._recv()
            if msg[0] == MSG_READY:
                self.sock.close()
                self._reap_stage1()
                return
            if msg[0] == MSG_HOOKS:
                create_state, start_state = on_hooks() if on_hooks else ("{}", "{}")
                first = create_state.encode()
                self._send(MSG_CONTINUE + struct.pack("<I", len(first)) + first
                           + start_state.encode(), "letting the container process go on "
                           "after the createRuntime hooks")
                continue
            raise PyruncError("pyrunc-init: unexpected message")

    def kill(self) -> None:
        """Kill whatever was started (on failure)."""
        for pid in (self.pid, self.helper, self.stage1):
            if pid:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        self._reap_stage1()
        if self.pid:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass


def write_id_maps(pid: int, linux: dict) -> None:
    """Write the user namespace's uid_map and gid_map from the host side."""
    for key, name in (("uidMappings", "uid_map"), ("gidMappings", "gid_map")):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n"
                        for m in linux.get(key, []))
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(lines)
        except OSError as e:
            raise PyruncError(f"$.linux.{key}: writing {name}: {e.strerror}") from None


def connect_console(path: str, min_fd: int) -> int:
    """Connect to the caller's console socket; the init sends the pty master there."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise PyruncError(f"connecting to console socket {path}: {e.strerror}") from None
    return above(sock.detach(), min_fd)
