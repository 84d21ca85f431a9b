"""NOTIFY_SOCKET (sd_notify) through a container, as runc does it.

At create, a directory `notify/` in the container's state directory is bound
read-only at /run/notify in the container, and the process gets
NOTIFY_SOCKET=/run/notify/notify.sock. At start (or run), pyrunc binds that
datagram socket before the program runs, passes its messages on to the
caller's NOTIFY_SOCKET, and returns once the program says READY=1 (adding
MAINPID, the container's pid as the host sees it)."""

import _socket
import select

from ..errors import PyruncError
from ..util import fastos as os

IN_CONTAINER = "/run/notify/notify.sock"


def host_socket() -> str | None:
    """The caller's NOTIFY_SOCKET (empty means unset)."""
    return os.environ.get("NOTIFY_SOCKET") or None


def setup_spec(config: dict, state_dir: str) -> None:
    """Add the bind mount and the environment variable to the config (at
    create, before the plan; make_dir makes the directory once claimed)."""
    notify_dir = os.path.join(state_dir, "notify")
    config.setdefault("mounts", []).append({
        "destination": os.path.dirname(IN_CONTAINER), "source": notify_dir, "type": "bind",
        "options": ["bind", "nosuid", "noexec", "nodev", "ro"]})
    process = config["process"]
    process["env"] = [e for e in process.get("env", []) if not e.startswith("NOTIFY_SOCKET=")]
    process["env"].append(f"NOTIFY_SOCKET={IN_CONTAINER}")


def make_dir(state_dir: str) -> None:
    os.mkdir(os.path.join(state_dir, "notify"), 0o755)


def bind(dirfd: int) -> _socket.socket | None:
    """The container's notify socket, bound before its program runs (at start)."""
    if not os.path.isdir(f"/proc/self/fd/{dirfd}/notify"):
        return None
    path = f"/proc/self/fd/{dirfd}/notify/notify.sock"
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    sock.bind(path)
    os.chmod(path, 0o777)
    return sock


def forward_until_ready(sock: _socket.socket, host: str, pid: int) -> None:
    """Pass the container's messages on to `host` until READY=1 (or until the
    container process is gone)."""
    out = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    target = "\0" + host[1:] if host.startswith("@") else host
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    try:
        while True:
            events = dict(poller.poll())
            if sock.fileno() in events:
                msg = sock.recv(65536)
                try:
                    out.sendto(msg, target)
                except OSError as e:
                    raise PyruncError(f"NOTIFY_SOCKET {host}: {e.strerror}") from None
                if b"READY=1" in msg.split(b"\n"):
                    out.sendto(f"MAINPID={pid}".encode(), target)
                    return
            elif pidfd in events:
                return  # the program ended without READY=1
    finally:
        os.close(pidfd)
        out.close()
        sock.close()
