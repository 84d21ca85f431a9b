"""cgroup v2, inside the VM (pure cgroup2 at /sys/fs/cgroup). Everything is
about 20x slower here: few containers, each checked for several things."""

import json
import os
import shutil
import time

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("RUN_IN_VM") != "1",
                                reason="runs only inside the cgroup v2 VM (RUN_IN_VM=1)")
MiB = 1 << 20
HOG = 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'


def cgroup_dir(runtime, cid: str) -> str:
    with open(os.path.join(runtime.root, cid, "state.json")) as f:
        return json.load(f)["cgroup"]["unified"]


def read(d: str, name: str) -> str:
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def wait_for(path: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                text = f.read()
            if text.endswith("\n"):
                return text
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{path} did not appear")


def test_is_pure_v2():
    with open("/proc/self/mountinfo") as f:
        kinds = {line.split(" - ")[1].split()[0] for line in f if " - cgroup" in line}
    assert kinds == {"cgroup2"}


def test_limits_update_pause_delete(runtime, bundle):
    """8 MiB and 4 pids are enough; the files say what the config says; update,
    pause and resume act on the live cgroup; delete --force removes it."""
    bundle.config["linux"]["resources"] = {
        "memory": {"limit": 8 * MiB, "swap": 16 * MiB, "reservation": 4 * MiB},
        "pids": {"limit": 4},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "unified": {"memory.oom.group": "1"}}
    bundle.set_args("sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /dev/shm/n; "
                    "sleep 0.2; done")
    runtime("run", "-d", "-b", str(bundle), "ct-v2", check=True)
    d = cgroup_dir(runtime, "ct-v2")
    assert read(d, "memory.max") == str(8 * MiB)
    assert read(d, "memory.swap.max") == str(8 * MiB)  # swap - limit
    assert read(d, "memory.low") == str(4 * MiB)
    assert read(d, "memory.oom.group") == "1"
    assert read(d, "pids.max") == "4"
    assert read(d, "cpu.weight") == str(1 + (512 - 2) * 9999 // 262142)
    assert read(d, "cpu.max") == "50000 100000"
    assert read(d, "cpuset.cpus") == "0"
    pid = runtime.state("ct-v2")["pid"]
    assert str(pid) in read(d, "cgroup.procs").split()

    runtime("update", "--memory", "32m", "--memory-swap", "64m", "--cpu-quota", "20000",
            "--pids-limit", "10", "--cpu-shares", "1024", "ct-v2", check=True)
    assert read(d, "memory.max") == str(32 * MiB)
    assert read(d, "memory.swap.max") == str(32 * MiB)
    assert read(d, "cpu.max") == "20000 100000"
    assert read(d, "pids.max") == "10"
    assert read(d, "cpu.weight") == str(1 + (1024 - 2) * 9999 // 262142)

    counter = f"/proc/{pid}/root/dev/shm/n"
    wait_for(counter)
    runtime("pause", "ct-v2", check=True)
    assert "frozen 1" in read(d, "cgroup.events").splitlines()
    assert runtime.state("ct-v2")["status"] == "paused"
    with open(counter) as f:
        before = f.read()
    time.sleep(1.5)
    with open(counter) as f:
        assert f.read() == before
    runtime("resume", "ct-v2", check=True)
    assert "frozen 0" in read(d, "cgroup.events").splitlines()
    assert runtime.state("ct-v2")["status"] == "running"

    stats = json.loads(runtime("events", "--stats", "ct-v2", check=True).out)["data"]
    assert stats["memory"]["usage"]["limit"] == 32 * MiB
    assert stats["pids"]["limit"] == 10 and stats["pids"]["current"] >= 1
    assert stats["cpu"]["usage"]["total"] > 0

    runtime("pause", "ct-v2", check=True)
    runtime("delete", "--force", "ct-v2", check=True)
    assert not os.path.exists(d)


def test_memory_limit_enforced(runtime, bundle):
    bundle.config["linux"]["resources"] = {"memory": {"limit": 16 * MiB, "swap": 16 * MiB}}
    bundle.set_args("sh", "-c", f"sh -c '{HOG}'; echo rc=$? > /dev/shm/rc; sleep 100")
    runtime("run", "-d", "-b", str(bundle), "ct-oom", check=True)
    d = cgroup_dir(runtime, "ct-oom")
    pid = runtime.state("ct-oom")["pid"]
    assert wait_for(f"/proc/{pid}/root/dev/shm/rc", 120) == "rc=137\n"
    events = dict(line.split() for line in read(d, "memory.events").splitlines())
    assert int(events["oom_kill"]) >= 1
    stats = json.loads(runtime("events", "--stats", "ct-oom", check=True).out)["data"]
    assert stats["memory"]["usage"]["failcnt"] >= 1


def test_pids_limit_and_devices(runtime, bundle):
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}]
    bundle.config["linux"]["resources"] = {
        "pids": {"limit": 3}, "devices": [{"allow": False, "access": "rwm"}]}
    bundle.set_args("sh", "-c",
                    "head -c0 /dev/fuse 2>/dev/null && echo fuse-ok || echo fuse-denied; "
                    "echo x > /dev/null && echo null-ok; "
                    "for i in 1 2 3 4 5; do sleep 5 & done; echo forked")
    p = runtime("run", "-b", str(bundle), "ct-pids")
    assert "fuse-denied" in p.out and "null-ok" in p.out, p.out + p.err
    assert "can't fork" in p.err or "Resource temporarily unavailable" in p.err, p.err
    bundle.config["linux"]["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}]}
    bundle.set_args("sh", "-c", "head -c0 /dev/fuse && echo fuse-ok")
    assert runtime.run_output(bundle, "sh", "-c", "head -c0 /dev/fuse && echo fuse-ok",
                              cid="ct-dev") == "fuse-ok\n"


def test_cgroup_namespaces(runtime, bundle, tmp_path, rootfs_template):
    """The init is cloned into its cgroup (clone3 CLONE_INTO_CGROUP): with a
    cgroup namespace of its own it sees itself at "/". A container that joins
    that namespace by path lands in its own cgroup too: with nsdelegate the
    kernel refuses a clone into a cgroup outside the cloner's namespace, so
    pyrunc moves that init in from the host."""
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    bundle.set_args("sh", "-c", "cat /proc/self/cgroup > /dev/shm/cg; sleep 100")
    runtime("run", "-d", "-b", str(bundle), "ct-cgns", check=True)
    owner = runtime.state("ct-cgns")["pid"]
    assert wait_for(f"/proc/{owner}/root/dev/shm/cg") == "0::/\n"
    other = tmp_path / "other"
    other.mkdir()
    shutil.copytree(rootfs_template, other / "rootfs", symlinks=True)
    cfg = json.loads(json.dumps(bundle.config))
    cfg["linux"]["namespaces"][-1] = {"type": "cgroup", "path": f"/proc/{owner}/ns/cgroup"}
    cfg["process"]["args"] = ["sleep", "100"]
    (other / "config.json").write_text(json.dumps(cfg))
    runtime("run", "-d", "-b", str(other), "ct-cgns-join", check=True)
    pid = runtime.state("ct-cgns-join")["pid"]
    d = cgroup_dir(runtime, "ct-cgns-join")
    assert read(d, "cgroup.procs") == str(pid)


def test_frozen_cgroup_refused(runtime, bundle):
    """A cgroup frozen beforehand (cgroup.freeze 1): refused at once, with
    runc's words, and nothing is left (issue 15)."""
    top = f"/sys/fs/cgroup/pyrunc-frozen-{os.getpid()}"
    os.mkdir(top)
    try:
        with open(os.path.join(top, "cgroup.freeze"), "w") as f:
            f.write("1")
        bundle.config["linux"]["cgroupsPath"] = "/" + os.path.basename(top)
        bundle.write()
        p = runtime("run", "-d", "-b", str(bundle), "ct-frozen", timeout=300)
        assert p.returncode == 1, p.err
        assert "container's cgroup unexpectedly frozen" in p.err
        assert not os.path.isdir(runtime.root) or not os.listdir(runtime.root)
        assert not [e for e in os.scandir(top) if e.is_dir()]
    finally:
        with open(os.path.join(top, "cgroup.freeze"), "w") as f:
            f.write("0")
        os.rmdir(top)
