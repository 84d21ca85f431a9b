"""Rootless podman with pyrunc as its runtime (`podman --runtime PYRUNC`), as
a fresh unprivileged user with subordinate ranges, on a busybox image
imported from a local tarball (no registry); runc is the reference."""

import os
import shutil
import signal
import subprocess
import time

import pytest
from rootless_users import made_user, ok, pyrunc

CONF = """[containers]
netns = "none"
log_driver = "k8s-file"
# this machine's hard limits (root lacks CAP_SYS_RESOURCE)
default_ulimits = ["nofile=1024:1024"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime_supports_json = ["crun", "runc", "pyrunc"]
"""
IMAGE = "localhost/pyrunc-busybox:latest"


@pytest.fixture(scope="module")
def user():
    yield from made_user(ranges=True)


@pytest.fixture(scope="module")
def podman(user):
    """podman as the user, with its own containers.conf and the image imported;
    afterwards its containers, storage and pause process are gone."""
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    from integration.clients.clientlib import make_rootfs_tar

    conf = os.path.join(user.home, "containers.conf")
    with open(conf, "w") as f:
        f.write(CONF)
    tar = make_rootfs_tar(os.path.join(user.home, "rootfs.tar"))
    os.chmod(tar, 0o644)
    env = {**user.env, "CONTAINERS_CONF": conf}

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return user.run("podman", *args, env=env, timeout=timeout)

    try:
        ok(run("import", "--change", 'CMD ["sh"]', tar, IMAGE))
        yield run
    finally:
        run("rm", "--all", "--force", "--time", "0")
        run("system", "reset", "--force")
        pause = os.path.join(user.xdg, "libpod", "tmp", "pause.pid")
        try:
            with open(pause) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def scenario(podman, runtime: str, name: str) -> dict:
    """run --rm, a detached container, exec (with and without a tty), stop,
    logs, rm: what each printed."""
    rt = ["--runtime", runtime]
    out = {"ids": ok(podman(*rt, "run", "--rm", IMAGE, "sh", "-c",
                            "id; cat /proc/self/uid_map | wc -l"))}
    ok(podman(*rt, "run", "-d", "--name", name, IMAGE, "sh", "-c",
              'echo started; trap "echo bye; exit 7" TERM; while :; do sleep 0.1; done'))
    deadline = time.monotonic() + 30
    while "started" not in podman("logs", name).out:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    out["exec"] = ok(podman(*rt, "exec", name, "sh", "-c", "echo in-exec $(id -u)"))
    out["exec_tty"] = ok(podman(*rt, "exec", "-t", name, "tty")).strip()
    ok(podman(*rt, "stop", "-t", "10", name))
    out["logs"] = ok(podman("logs", name))
    out["exit"] = ok(podman("inspect", "--format", "{{.State.ExitCode}}", name)).strip()
    ok(podman(*rt, "rm", name))
    out["left"] = ok(podman("ps", "-a", "-q")).strip()
    return out


def test_podman_run_exec_stop_logs_rm(user, podman):
    mine = scenario(podman, pyrunc(), "pm-pyrunc")
    # (podman's user namespace: the user's own id and its one subordinate range)
    ids = mine.pop("ids")
    assert ids.startswith("uid=0(root) gid=0(root)") and ids.endswith("\n2\n"), ids
    assert mine == {"exec": "in-exec 0\n",
                    "exec_tty": "/dev/pts/0", "logs": "started\nbye\n", "exit": "7",
                    "left": ""}
    theirs = scenario(podman, "runc", "pm-runc")
    assert theirs.pop("ids") == ids
    assert theirs == mine
