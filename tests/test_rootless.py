"""Rootless pyrunc: containers run by a fresh unprivileged user (made by
rootless_users.py, removed afterwards with a check that nothing is left),
with runc 1.1.5 run by the same user as the reference where it can."""

import json
import os
import shutil
import subprocess
import time

import pytest
from consoles import ConsoleSocket, read_until
from rootless_users import made_user, ok, pyrunc, user_bundle


@pytest.fixture(scope="module")
def user():
    """An unprivileged user with subordinate ranges."""
    yield from made_user(ranges=True)


@pytest.fixture(scope="module")
def user_without_ranges():
    """An unprivileged user with no line in /etc/subuid or /etc/subgid."""
    yield from made_user(ranges=False)


@pytest.fixture
def rbundle(user, rootfs_template, request):
    """A bundle the user owns, with `pyrunc spec --rootless`'s config (no tty)."""
    yield from user_bundle(user, rootfs_template, request.node.name)


def rl(user, *args: str, **kw) -> subprocess.CompletedProcess:
    """pyrunc as the user (default --root: $XDG_RUNTIME_DIR/pyrunc)."""
    return user.run(pyrunc(), *args, **kw)


def runc(user, *args: str, **kw) -> subprocess.CompletedProcess:
    return user.run("runc", *args, **kw)


IDS = "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -g"


def test_spec_rootless_is_runcs_template(user):
    d = {}
    for tool in ("runc", pyrunc()):
        path = os.path.join(user.home, f"spec-{os.path.basename(tool)}")
        os.mkdir(path)
        os.chown(path, user.uid, user.gid)
        ok(user.run(tool, "spec", "--rootless", cwd=path))
        with open(os.path.join(path, "config.json")) as f:
            d[tool] = json.load(f)
        shutil.rmtree(path)
    mine, theirs = d[pyrunc()], d["runc"]
    for doc in (mine, theirs):  # (pyrunc's own name and spec version, as without --rootless)
        del doc["hostname"], doc["ociVersion"]
    assert mine == theirs
    assert mine["linux"]["uidMappings"] == [{"containerID": 0, "hostID": user.uid, "size": 1}]


def test_lifecycle_in_default_state_dir(user, rbundle):
    """create, state, start, list, ps, exec, kill, delete; state under
    $XDG_RUNTIME_DIR/pyrunc (0700, the user's); the user's own ids mapped to 0."""
    rbundle.write("sleep", "100")
    ok(rl(user, "create", "-b", str(rbundle), "ctr-life"))
    root = os.path.join(user.xdg, "pyrunc")
    st = os.stat(root)
    assert (st.st_mode & 0o777, st.st_uid) == (0o700, user.uid)
    assert os.path.isdir(os.path.join(root, "ctr-life"))
    assert json.loads(ok(rl(user, "state", "ctr-life")))["status"] == "created"
    ok(rl(user, "start", "ctr-life"))
    state = json.loads(ok(rl(user, "state", "ctr-life")))
    assert state["status"] == "running"
    listed = ok(rl(user, "list")).splitlines()
    assert listed[1].split()[0] == "ctr-life" and listed[1].split()[-1] == user.name
    pids = json.loads(ok(rl(user, "ps", "--format", "json", "ctr-life")))
    assert pids == [state["pid"]]
    out = ok(rl(user, "exec", "ctr-life", "sh", "-c", IDS))
    assert out.split() == ["0", str(user.uid), "1", "0", str(user.gid), "1", "deny", "0", "0"]
    for cmd in (["pause"], ["update", "--memory", "64m"], ["events", "--stats"]):
        p = rl(user, *cmd, "ctr-life")  # (this host's cgroups are not delegated)
        assert p.returncode == 1 and "ctr-life: it has no cgroup of its own" in p.err, p.err
    p = rl(user, "exec", "-u", "1000", "ctr-life", "true")
    assert p.returncode == 255 and "setting uid 1000 (not mapped in the container's user " \
        "namespace)" in p.err, p.err
    # exec joined the user namespace first: the same one as the init's
    assert os.readlink(f"/proc/{state['pid']}/ns/user") != os.readlink("/proc/self/ns/user")
    ok(rl(user, "kill", "ctr-life", "KILL"))
    deadline = time.monotonic() + 10
    while json.loads(ok(rl(user, "state", "ctr-life")))["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    ok(rl(user, "delete", "ctr-life"))
    assert os.listdir(root) == []


def test_run_matches_runc(user, rbundle):
    """The same bundle through runc and pyrunc, as the user: the same ids and exit status."""
    rbundle.write("sh", "-c", IDS + "; exit 3")
    mine = rl(user, "run", "-b", str(rbundle), "ctr-run")
    theirs = runc(user, "run", "-b", str(rbundle), "ctr-run")
    assert mine.returncode == theirs.returncode == 3, (mine.err, theirs.err)
    assert mine.out == theirs.out


def test_kill_all_and_ps_without_a_cgroup(user, rbundle):
    """No cgroup (this host's are not delegated): ps and kill --all find the
    container's processes through its pid namespace."""
    rbundle.write("sh", "-c", "sleep 100 & sleep 101; true")
    ok(rl(user, "run", "-d", "-b", str(rbundle), "ctr-all"))
    try:
        deadline = time.monotonic() + 10
        while len(json.loads(ok(rl(user, "ps", "--format", "json", "ctr-all")))) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pids = json.loads(ok(rl(user, "ps", "--format", "json", "ctr-all")))
        assert "sleep 101" in ok(rl(user, "ps", "ctr-all"))
        ok(rl(user, "kill", "--all", "ctr-all", "KILL"))
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids):
            assert time.monotonic() < deadline, pids
            time.sleep(0.05)
    finally:
        ok(rl(user, "delete", "--force", "ctr-all"))


def _alive(pid: int) -> bool:
    from helpers import reap_children

    reap_children()
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_multi_range_mapping_through_newuidmap(user, rbundle):
    """uid/gid 0 is the user, 1..65536 its subordinate range (newuidmap and
    newgidmap write the maps; setgroups stays allowed); a file chowned inside
    belongs to the subordinate id on the host."""
    linux = rbundle.config["linux"]
    for key, own in (("uidMappings", user.uid), ("gidMappings", user.gid)):
        linux[key] = [{"containerID": 0, "hostID": own, "size": 1},
                      {"containerID": 1, "hostID": user.sub, "size": 65536}]
    rbundle.config["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": [100]}
    rbundle.config["root"]["readonly"] = False
    for caps in rbundle.config["process"]["capabilities"].values():
        caps.append("CAP_CHOWN")
    rbundle.write("sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups;"
                  " id -G; touch /tmp/f && chown 1000:1001 /tmp/f && echo chowned")
    mine = rl(user, "run", "-b", str(rbundle), "ctr-multi")
    out = ok(mine).split()
    assert out[:12] == ["0", str(user.uid), "1", "1", str(user.sub), "65536",
                        "0", str(user.gid), "1", "1", str(user.sub), "65536"]
    assert out[12:] == ["allow", "0", "100", "chowned"]
    st = os.stat(os.path.join(str(rbundle), "rootfs", "tmp", "f"))
    assert (st.st_uid, st.st_gid) == (user.sub + 999, user.sub + 1000)
    os.unlink(os.path.join(str(rbundle), "rootfs", "tmp", "f"))
    # runc 1.1.5 refuses additional gids when rootless, even with setgroups allowed
    rbundle.config["process"]["user"] = {"uid": 0, "gid": 0}
    rbundle.write()
    mine = ok(rl(user, "run", "-b", str(rbundle), "ctr-multi"))
    os.unlink(os.path.join(str(rbundle), "rootfs", "tmp", "f"))
    assert ok(runc(user, "run", "-b", str(rbundle), "ctr-multi")) == mine
    os.unlink(os.path.join(str(rbundle), "rootfs", "tmp", "f"))


def test_errors_name_what_is_missing(user, user_without_ranges, rbundle):
    """One line each, exit 1, and nothing left in the state directory."""
    root = os.path.join(user.xdg, "pyrunc")
    env = {k: v for k, v in user.env.items() if k != "XDG_RUNTIME_DIR"}
    p = rl(user, "run", "-b", str(rbundle), "ctr-err", env=env)
    assert p.returncode == 1 and "XDG_RUNTIME_DIR is not set" in p.err, p.err

    p = rl(user, "--systemd-cgroup", "run", "-b", str(rbundle), "ctr-err")
    assert p.returncode == 1 and "--systemd-cgroup: not supported for an unprivileged" in p.err
    p = rl(user, "--rootless", "maybe", "list")
    assert p.returncode == 1 and 'invalid --rootless value "maybe"' in p.err, p.err
    # --rootless false: cgroups as for root, which this user may not make (as runc)
    p = rl(user, "--rootless", "false", "run", "-b", str(rbundle), "ctr-err")
    assert p.returncode == 1 and "creating cgroup" in p.err and "Permission denied" in p.err

    cfg = json.loads(json.dumps(rbundle.config))
    rbundle.config["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
    rbundle.write()
    p = rl(user, "run", "-b", str(rbundle), "ctr-err")
    assert p.returncode == 1 and p.err.startswith(
        "pyrunc: $.linux.resources.memory.limit: rootless: a limit needs a cgroup delegated"), \
        p.err
    assert len(p.err.splitlines()) == 1 and "Traceback" not in p.err
    rbundle.config = json.loads(json.dumps(cfg))

    rbundle.config["linux"]["uidMappings"].append(
        {"containerID": 1, "hostID": user.sub, "size": 10})
    rbundle.write()
    p = rl(user, "run", "-b", str(rbundle), "ctr-err",
           env={**user.env, "PATH": "/nonexistent"})
    assert p.returncode == 1 and "needs newuidmap, which is not installed" in p.err, p.err
    rbundle.config["linux"]["uidMappings"][1]["hostID"] = user.sub + 65536
    rbundle.write()
    p = rl(user, "run", "-b", str(rbundle), "ctr-err")
    assert p.returncode == 1 and p.err.startswith("pyrunc: $.linux.uidMappings[1]: rootless: "
                                                  "host ids"), p.err
    rbundle.config = json.loads(json.dumps(cfg))

    rbundle.config["linux"]["namespaces"] = [
        n for n in cfg["linux"]["namespaces"] if n["type"] != "user"]
    del rbundle.config["linux"]["uidMappings"], rbundle.config["linux"]["gidMappings"]
    rbundle.write()
    p = rl(user, "run", "-b", str(rbundle), "ctr-err")
    assert p.returncode == 1 and "$.linux.namespaces: rootless" in p.err, p.err
    rbundle.config = json.loads(json.dumps(cfg))
    rbundle.write()
    assert not os.path.isdir(root) or os.listdir(root) == []

    other = user_without_ranges
    bpath = os.path.join(other.home, "b")
    os.mkdir(bpath)
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": other.uid, "size": 1},
                                   {"containerID": 1, "hostID": 200000, "size": 10}]
    with open(os.path.join(bpath, "config.json"), "w") as f:
        json.dump(cfg, f)
    os.symlink(os.path.join(str(rbundle), "rootfs"), os.path.join(bpath, "rootfs"))
    p = other.run(pyrunc(), "run", "-b", bpath, "ctr-err")
    assert p.returncode == 1 and (f"$.linux.uidMappings[1]: rootless: no subordinate range "
                                  f"for user {other.name} in /etc/subuid") in p.err, p.err


def test_console_socket(user, rbundle):
    sock_path = os.path.join(user.home, "console.sock")
    console = ConsoleSocket(sock_path)
    os.chmod(sock_path, 0o777)
    try:
        rbundle.config["process"]["terminal"] = True
        rbundle.write("sh", "-c", "tty; echo uid=$(id -u); sleep 100")
        ok(rl(user, "run", "-d", "--console-socket", sock_path, "-b", str(rbundle), "ctr-tty"))
        out = read_until(console.wait_master(), b"uid=0")
        assert b"/dev/pts/0" in out
    finally:
        console.close()
        rl(user, "delete", "--force", "ctr-tty")
        os.unlink(sock_path)


def _mountinfo_of(out: str, dest: str) -> list[str]:
    return [line.split() for line in out.splitlines() if line.split()[4:5] == [dest]]


def test_sysfs_and_proc_from_the_host_when_the_kernel_refuses(user, rbundle):
    """sysfs without a network namespace of its own, proc in the host's pid
    namespace: bound from the host (the kernel refuses a new instance in a
    user namespace); with a network namespace, sysfs is a new instance."""
    mounts = [m for m in rbundle.config["mounts"] if m["destination"] != "/sys"]
    mounts.append({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                   "options": ["nosuid", "noexec", "nodev", "ro"]})
    rbundle.config["mounts"] = mounts
    rbundle.config["linux"]["namespaces"] = [
        n for n in rbundle.config["linux"]["namespaces"] if n["type"] != "pid"]
    rbundle.write("sh", "-c", "cat /proc/self/mountinfo; ls /proc/1 >/dev/null && echo host-pid1;"
                  " ls /sys/kernel >/dev/null && echo sys-ok")
    out = ok(rl(user, "run", "-b", str(rbundle), "ctr-sys"))
    host = open("/proc/self/mountinfo").read()
    sys_in = _mountinfo_of(out, "/sys")[0]
    assert sys_in[2] == _mountinfo_of(host, "/sys")[0][2]  # the host's sysfs
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(sys_in[5].split(","))
    assert _mountinfo_of(out, "/proc")[0][2] == _mountinfo_of(host, "/proc")[0][2]
    assert "host-pid1" in out and "sys-ok" in out
    # with a network namespace of its own: a new sysfs (and a new proc with a pid ns)
    rbundle.config["linux"]["namespaces"] += [{"type": "network"}, {"type": "pid"}]
    rbundle.write()
    out = ok(rl(user, "run", "-b", str(rbundle), "ctr-sys"))
    assert _mountinfo_of(out, "/sys")[0][2] != _mountinfo_of(host, "/sys")[0][2]
    assert _mountinfo_of(out, "/proc")[0][2] != _mountinfo_of(host, "/proc")[0][2]


def test_locked_mount_flags_are_kept(user, rbundle):
    """A bind mount of a nosuid,nodev,noexec mount with only "ro" asked for:
    the kernel locks those flags in a user namespace; the remount keeps them."""
    src = os.path.join(user.home, "locked")
    os.mkdir(src)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "nosuid,nodev,noexec,size=1m", "tmpfs", src],
                   check=True)
    try:
        rbundle.config["mounts"].append({"destination": "/mnt", "type": "bind", "source": src,
                                         "options": ["bind", "ro"]})
        rbundle.write("sh", "-c", "cat /proc/self/mountinfo; touch /mnt/x || echo refused")
        out = ok(rl(user, "run", "-b", str(rbundle), "ctr-lock"))
        opts = set(_mountinfo_of(out, "/mnt")[0][5].split(","))
        assert {"ro", "nosuid", "nodev", "noexec"} <= opts
        assert "refused" in out
        # (runc 1.1.5 fails here with EPERM; runc 1.2 keeps the locked flags too)
    finally:
        subprocess.run(["umount", src], check=True)
        os.rmdir(src)
