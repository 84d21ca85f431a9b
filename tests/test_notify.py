"""NOTIFY_SOCKET: READY=1 from the container reaches the caller's socket, and
start (or run -d) returns only after it."""

import os
import socket
import subprocess
import time

import pytest

SENDER = r"""
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, getenv("NOTIFY_SOCKET"), sizeof(a.sun_path) - 1);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    sleep(atoi(argv[1]));
    sendto(s, "STATUS=warming up", 17, 0, (struct sockaddr *)&a, sizeof(a));
    sendto(s, "READY=1", 7, 0, (struct sockaddr *)&a, sizeof(a));
    pause();
    return 0;
}
"""


@pytest.fixture
def sender(bundle, tmp_path):
    src = tmp_path / "notify.c"
    src.write_text(SENDER)
    out = bundle.rootfs / "bin" / "notify-ready"
    r = subprocess.run(["cc", "-static", "-O2", "-o", str(out), str(src)], capture_output=True)
    if r.returncode:
        pytest.skip(f"no static C compiler: {r.stderr.decode()[-200:]}")
    return "/bin/notify-ready"


def test_notify_ready_reaches_the_host_and_start_waits(runtime, bundle, sender, tmp_path):
    host = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "systemd-notify.sock")
    host.bind(path)
    host.settimeout(30)
    try:
        bundle.set_args(sender, "1")
        env = {**os.environ, "NOTIFY_SOCKET": path}
        runtime("create", "-b", str(bundle), "ct-notify", check=True, env=env)
        t0 = time.monotonic()
        runtime("start", "ct-notify", check=True, env=env)
        waited = time.monotonic() - t0
        messages = [host.recv(4096) for _ in range(3)]
        assert messages[:2] == [b"STATUS=warming up", b"READY=1"]
        pid = runtime.state("ct-notify")["pid"]
        assert messages[2] == f"MAINPID={pid}".encode()
        assert waited >= 0.9  # start returned after READY=1, not before
    finally:
        host.close()


def test_notify_socket_inside_and_cleanup(runtime, bundle, tmp_path):
    path = str(tmp_path / "n.sock")
    host = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    host.bind(path)
    try:
        bundle.set_args("sh", "-c", "echo $NOTIFY_SOCKET; ls -l /run/notify | tail -1")
        p = runtime("run", "-b", str(bundle), "ct-notify2",
                    env={**os.environ, "NOTIFY_SOCKET": path})
        assert p.returncode == 0, p.err
        lines = p.out.splitlines()
        assert lines[0] == "/run/notify/notify.sock"
        assert lines[1].startswith("s") and lines[1].endswith("notify.sock")
        assert not os.path.exists(os.path.join(runtime.root, "ct-notify2"))
    finally:
        host.close()
