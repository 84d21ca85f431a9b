"""Inside the VM with systemd as PID 1: a user's systemd (user@UID.service,
lingering) runs pyrunc in a transient scope with Delegate=yes; pyrunc moves
itself to a leaf of it (cgroup v2 has no processes in inner nodes) and the
container's cgroup, a sibling, gets its limits; ps, pause, resume, delete."""

import os
import subprocess

import pytest
from rootless_users import made_user, ok, pyrunc, user_bundle

pytestmark = pytest.mark.skipif(os.environ.get("RUN_IN_VM") != "1",
                                reason="runs only inside the systemd VM (RUN_IN_VM=1)")

SCRIPT = r"""set -e
S=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)
mkdir "$S/supervisor"
echo $$ > "$S/supervisor/cgroup.procs"
echo "+memory +pids" > "$S/cgroup.subtree_control"
cd "$1"
python3 -c 'import json, sys; c = json.load(open("config.json")); \
c["linux"]["cgroupsPath"] = sys.argv[1] + "/ctr-sd"; json.dump(c, open("config.json", "w"))' \
    "${S#/sys/fs/cgroup}"
"$PYRUNC" run -d ctr-sd </dev/null >/dev/null
echo "max=$(cat "$S/ctr-sd/memory.max")"
echo "pids=$(cat "$S/ctr-sd/pids.max")"
echo "ps=$("$PYRUNC" ps --format json ctr-sd)"
"$PYRUNC" pause ctr-sd
echo "frozen=$(cat "$S/ctr-sd/cgroup.freeze")"
"$PYRUNC" resume ctr-sd
"$PYRUNC" delete --force ctr-sd
test ! -e "$S/ctr-sd" && echo removed
"""


@pytest.fixture(scope="module")
def user():
    """A lingering user with its systemd running, made in a private copy of
    /etc (the guest's /etc is the host's, read live)."""
    subprocess.run(["cp", "-a", "/etc", "/run/etc-rootless"], check=True)
    subprocess.run(["mount", "--bind", "/run/etc-rootless", "/etc"], check=True)
    try:
        for u in made_user(ranges=True):
            subprocess.run(["loginctl", "enable-linger", u.name], check=True)
            subprocess.run(["systemctl", "start", f"user@{u.uid}.service"], check=True)
            try:
                yield u
            finally:
                subprocess.run(["loginctl", "disable-linger", u.name], check=True)
                subprocess.run(["systemctl", "stop", f"user@{u.uid}.service"], check=True)
    finally:
        subprocess.run(["umount", "/etc"], check=True)
        subprocess.run(["rm", "-rf", "/run/etc-rootless"], check=True)


@pytest.fixture
def rbundle(user, rootfs_template, request):
    yield from user_bundle(user, rootfs_template, request.node.name)


def test_limits_in_a_systemd_user_scope(user, rbundle):
    rbundle.config["linux"]["resources"] = {"memory": {"limit": 32 << 20},
                                            "pids": {"limit": 20}}
    rbundle.write("sleep", "1000")
    script = os.path.join(user.home, "in-scope.sh")
    with open(script, "w") as f:
        f.write(SCRIPT)
    env = {**user.env, "PYRUNC": pyrunc(),
           "DBUS_SESSION_BUS_ADDRESS": f"unix:path={user.xdg}/bus"}
    out = ok(user.run("systemd-run", "--user", "--scope", "--quiet", "-p", "Delegate=yes",
                      "sh", script, str(rbundle), env=env, timeout=300))
    lines = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert lines["max"] == str(32 << 20) and lines["pids"] == "20", out
    assert len(lines["ps"].strip("[]").split(",")) == 1, out
    assert lines["frozen"] == "1", out
    assert out.splitlines()[-1] == "removed", out
