"""Terminals for foreground `run` and `exec`: receive the pty master from the
container's init, put the caller's terminal in raw mode and relay I/O,
window size changes included, until the process exits."""

import _socket
import array
import select

from ..errors import PyruncError
from ..util import fastos as os


def console_pair() -> tuple[_socket.socket, int]:
    """A socket pair standing in for a console socket: (our end, the init's fd)."""
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    return ours, theirs.detach()


def receive_master(sock: _socket.socket) -> int:
    """The pty master fd the init sent (one SCM_RIGHTS message)."""
    fds = array.array("i")
    _, ancdata, _, _ = sock.recvmsg(256, _socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    sock.close()
    if len(fds) != 1:
        raise PyruncError("the container init sent no pty master")
    os.set_inheritable(fds[0], False)
    return fds[0]


def _copy_winsize(src: int, dst: int) -> None:
    import fcntl
    import termios

    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def relay(master: int, pid: int) -> int:
    """Relay stdin/stdout to the pty until `pid` (our child) exits; return its
    wait status."""
    import _signal
    import termios

    saved = None
    if os.isatty(0):
        import tty

        saved = termios.tcgetattr(0)
        tty.setraw(0)
        _copy_winsize(0, master)
        _signal.signal(28, lambda *_: _copy_winsize(0, master))  # SIGWINCH
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(master, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    stdin_open = True
    poller.register(0, select.POLLIN)
    try:
        exited = False
        while True:
            try:
                events = poller.poll(50 if exited else -1)
            except InterruptedError:
                continue
            if not events and exited:
                break
            for fd, ev in events:
                if fd == pidfd:
                    exited = True
                    poller.unregister(pidfd)
                elif fd == master:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        poller.unregister(master)
                        exited = True
                        continue
                    os.write(1, data)
                elif fd == 0 and stdin_open:
                    data = os.read(0, 65536) if ev & select.POLLIN else b""
                    if not data:
                        stdin_open = False
                        poller.unregister(0)
                        os.write(master, b"\x04")  # EOF for the line discipline
                    else:
                        os.write(master, data)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(pidfd)
        os.close(master)
    _, status = os.waitpid(pid, 0)
    return status
