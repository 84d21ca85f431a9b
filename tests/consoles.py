"""A console socket server for tests, like runc's recvtty: accepts the
runtime's connection and receives the pty master (SCM_RIGHTS)."""

import array
import os
import select
import socket
import threading
import time


class ConsoleSocket:
    def __init__(self, path: str) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.master: int | None = None
        self.name = b""
        self.fd_count = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            fds = array.array("i")
            msg, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(4 * fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            self.name = msg
            self.fd_count = len(fds)
            if fds:
                self.master = fds[0]

    def wait_master(self, timeout: float = 10) -> int:
        self._thread.join(timeout)
        assert self.master is not None, "no pty master received"
        return self.master

    def close(self) -> None:
        self.server.close()
        if self.master is not None:
            os.close(self.master)
            self.master = None


def read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    """Read from a pty master until `needle` appears."""
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; got {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf
