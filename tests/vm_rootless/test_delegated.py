"""Inside the VM (pure cgroup v2): a rootless container whose cgroup is in a
subtree delegated to its user (a directory chowned to it, as systemd does
for a unit with Delegate=yes): limits, exec, ps, update, pause/resume and
kill --all there; without the delegation, a limit is an error."""

import json
import os
import time

import pytest
from rootless_users import made_user, ok, pyrunc, user_bundle

pytestmark = pytest.mark.skipif(os.environ.get("RUN_IN_VM") != "1",
                                reason="runs only inside the cgroup v2 VM (RUN_IN_VM=1)")
MiB = 1 << 20
DELEG = "/sys/fs/cgroup/rl-deleg"


@pytest.fixture(scope="module")
def user():
    """The user, made in a private copy of /etc: the guest's /etc is the host's,
    read live under an overlay, and host-side tests adding users meanwhile
    make useradd's writes fail there."""
    import subprocess

    subprocess.run(["cp", "-a", "/etc", "/run/etc-rootless"], check=True)
    subprocess.run(["mount", "--bind", "/run/etc-rootless", "/etc"], check=True)
    try:
        yield from made_user(ranges=True)
    finally:
        subprocess.run(["umount", "/etc"], check=True)
        subprocess.run(["rm", "-rf", "/run/etc-rootless"], check=True)


@pytest.fixture
def rbundle(user, rootfs_template, request):
    yield from user_bundle(user, rootfs_template, request.node.name)


@pytest.fixture
def caller(user):
    """DELEG, chowned to the user (the directory and its cgroup.procs,
    cgroup.threads, cgroup.subtree_control: the kernel's delegation), with a
    root-owned leaf `caller` where the user's pyrunc runs."""
    os.mkdir(DELEG)
    for name in ("", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
        os.chown(os.path.join(DELEG, name), user.uid, user.gid)
    leaf = os.path.join(DELEG, "caller")
    os.mkdir(leaf)
    yield leaf
    for d in sorted((os.path.join(p) for p, _, _ in os.walk(DELEG)), key=len, reverse=True):
        os.rmdir(d)


def read(d: str, name: str) -> str:
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def test_limits_in_a_delegated_subtree(user, caller, rbundle):
    rbundle.config["linux"]["cgroupsPath"] = "/rl-deleg/ctr-dl"
    rbundle.config["linux"]["resources"] = {"memory": {"limit": 32 * MiB},
                                            "pids": {"limit": 20}}
    rbundle.write("sleep", "1000")

    def rl(*args: str) -> str:
        return ok(user.run(pyrunc(), *args, cgroup=caller, timeout=300))

    rl("run", "-d", "-b", str(rbundle), "ctr-dl")
    try:
        d = os.path.join(DELEG, "ctr-dl")
        assert os.stat(d).st_uid == user.uid
        assert read(d, "memory.max") == str(32 * MiB)
        assert read(d, "pids.max") == "20"
        pid = json.loads(rl("state", "ctr-dl"))["pid"]
        assert read(d, "cgroup.procs").split() == [str(pid)]
        out = rl("exec", "ctr-dl", "sh", "-c", "cat /proc/self/cgroup; cat /proc/self/uid_map")
        assert "0::/rl-deleg/ctr-dl" in out.splitlines()[0], out
        assert json.loads(rl("ps", "--format", "json", "ctr-dl")) == [pid]
        rl("update", "--memory", "48m", "--pids-limit", "30", "ctr-dl")
        assert (read(d, "memory.max"), read(d, "pids.max")) == (str(48 * MiB), "30")
        rl("pause", "ctr-dl")
        assert json.loads(rl("state", "ctr-dl"))["status"] == "paused"
        assert read(d, "cgroup.freeze") == "1"
        rl("resume", "ctr-dl")
        assert json.loads(rl("state", "ctr-dl"))["status"] == "running"
        rl("kill", "--all", "ctr-dl", "KILL")
        deadline = time.monotonic() + 60
        while json.loads(rl("state", "ctr-dl"))["status"] != "stopped":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        user.run(pyrunc(), "delete", "--force", "ctr-dl", cgroup=caller, timeout=300)
    assert not os.path.exists(os.path.join(DELEG, "ctr-dl"))


def test_a_limit_outside_the_delegation_is_an_error(user, caller, rbundle):
    """The default cgroupsPath is under the caller's (root-owned) cgroup."""
    rbundle.config["linux"]["resources"] = {"pids": {"limit": 20}}
    rbundle.write("true")
    p = user.run(pyrunc(), "run", "-b", str(rbundle), "ctr-nd", cgroup=caller, timeout=300)
    assert p.returncode == 1 and p.err.startswith(
        "pyrunc: $.linux.resources.pids.limit: rootless: a limit needs a cgroup delegated"), p.err
    assert os.listdir(os.path.join(user.xdg, "pyrunc")) == []
    # without a limit it runs, in the caller's cgroup
    del rbundle.config["linux"]["resources"]
    rbundle.write("cat", "/proc/self/cgroup")
    out = ok(user.run(pyrunc(), "run", "-b", str(rbundle), "ctr-nd", cgroup=caller,
                      timeout=300))
    assert out.strip() == "0::/rl-deleg/caller"
