"""The systemd cgroup driver (--systemd-cgroup), inside a VM with systemd as
PID 1, on pure cgroup v2 and on a v1 hybrid (PYRUNC_VM_CGROUP says which
one the VM was booted with). Each container is checked from both sides: what
systemd says about the unit, and what the kernel's cgroup files say."""

import glob
import json
import os
import subprocess
import time

import pytest

from pyrunc.cgroups.common import shares_to_weight

pytestmark = pytest.mark.skipif(
    os.environ.get("RUN_IN_VM") != "1" or not os.path.isdir("/run/systemd/system"),
    reason="runs only in the systemd VM")
MiB = 1 << 20
CG = "/sys/fs/cgroup"


def show(unit: str, *props: str) -> dict[str, str]:
    out = subprocess.run(["systemctl", "show", unit, "-p", ",".join(props)],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def read(d: str, name: str) -> str:
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def leftovers(unit: str) -> list[str]:
    return glob.glob(f"{CG}/**/{unit}", recursive=True)


def pure_v2() -> bool:
    with open("/proc/self/mountinfo") as f:
        kinds = {line.split(" - ")[1].split()[0] for line in f if " - cgroup" in line}
    return kinds == {"cgroup2"}


def unit_gone(unit: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if show(unit, "LoadState")["LoadState"] == "not-found":
            return True
        time.sleep(0.2)
    return False


def test_systemd_is_pid1_and_the_layout_is_as_booted():
    with open("/proc/1/comm") as f:
        assert f.read().strip() == "systemd"
    assert pure_v2() == (os.environ.get("PYRUNC_VM_CGROUP", "v2") == "v2")


def test_scope_limits_update_pause_delete(runtime, bundle):
    """A scope in a slice systemd makes on demand, with Delegate=yes and the
    limits in systemd's properties and in the files; update changes both;
    pause freezes; delete stops the unit and leaves no cgroup."""
    cid, unit = "ct-sd", "pyrunc-ct-sd.scope"
    bundle.config["linux"]["cgroupsPath"] = "machine.slice:pyrunc:ct-sd"
    bundle.config["linux"]["resources"] = {
        "memory": {"limit": 8 * MiB}, "pids": {"limit": 4},
        "cpu": {"shares": 512, "quota": 25000, "period": 100000, "cpus": "0"}}
    bundle.set_args("sh", "-c", "while :; do sleep 1; done")
    runtime("--systemd-cgroup", "run", "-d", "-b", str(bundle), cid, check=True, timeout=300)
    mem, weight = ("MemoryMax", "CPUWeight") if pure_v2() else ("MemoryLimit", "CPUShares")
    props = show(unit, "ActiveState", "Delegate", mem, "TasksMax", weight,
                 "CPUQuotaPerSecUSec", "Slice", "ControlGroup")
    assert props["ActiveState"] == "active", props
    assert props["Delegate"] == "yes"
    assert props["Slice"] == "machine.slice"
    assert props["ControlGroup"] == "/machine.slice/pyrunc-ct-sd.scope"
    assert props[mem] == str(8 * MiB)
    assert props["TasksMax"] == "4"
    assert props[weight] == str(shares_to_weight(512) if pure_v2() else 512)
    assert props["CPUQuotaPerSecUSec"] == "250ms"
    v2 = pure_v2()
    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().split()
    assert all(line.endswith(":/machine.slice/pyrunc-ct-sd.scope") for line in lines), lines
    assert "0::/machine.slice/pyrunc-ct-sd.scope" in lines
    with open(os.path.join(runtime.root, cid, "state.json")) as f:
        cg = json.load(f)["cgroup"]
    if v2:
        assert list(cg) == ["unified"]
        d = cg["unified"]
        assert d == os.path.join(CG, "machine.slice", unit)
        files = {"mem": (d, "memory.max"), "pids": (d, "pids.max"), "cpu": (d, "cpu.max"),
                 "cpus": (d, "cpuset.cpus")}
        quota = "25000 100000"
    else:
        assert cg["memory"] == os.path.join(CG, "memory", "machine.slice", unit)
        files = {"mem": (cg["memory"], "memory.limit_in_bytes"),
                 "pids": (cg["pids"], "pids.max"),
                 "cpu": (cg["cpu,cpuacct"], "cpu.cfs_quota_us"),
                 "cpus": (cg["cpuset"], "cpuset.cpus")}
        quota = "25000"
    assert read(*files["mem"]) == str(8 * MiB)
    assert read(*files["pids"]) == "4"
    assert read(*files["cpu"]) == quota
    assert read(*files["cpus"]) == "0"
    # the device rules hold in the scope too (pyrunc's eBPF program on v2)
    p = runtime("exec", cid, "mknod", "/dev/shm/sda", "b", "8", "0", timeout=300)
    assert p.returncode != 0 and "Operation not permitted" in p.err, p.err
    # the pids limit holds: the 5th process cannot be made
    p = runtime("exec", cid, "sh", "-c", "for i in 1 2 3 4; do sleep 3 & done; wait",
                timeout=300)
    assert "can't fork" in p.err or "Resource temporarily unavailable" in p.err, p.err
    # update: systemd's view and the files
    runtime("--systemd-cgroup", "update", "--memory", "16M", "--pids-limit", "10", cid,
            check=True, timeout=300)
    props = show(unit, mem, "TasksMax")
    assert props == {mem: str(16 * MiB), "TasksMax": "10"}
    assert read(*files["mem"]) == str(16 * MiB)
    assert read(*files["pids"]) == "10"
    # pause and resume
    runtime("pause", cid, check=True, timeout=300)
    assert runtime.state(cid)["status"] == "paused"
    if v2:
        assert "frozen 1" in read(cg["unified"], "cgroup.events")
    else:
        assert read(cg["freezer"], "freezer.state") == "FROZEN"
    runtime("resume", cid, check=True, timeout=300)
    assert runtime.state(cid)["status"] == "running"
    # delete --force: no unit, no cgroup
    runtime("--systemd-cgroup", "delete", "--force", cid, check=True, timeout=300)
    assert unit_gone(unit)
    assert not leftovers(unit)


def test_default_path_memory_enforced(runtime, bundle):
    """No cgroupsPath: system.slice:pyrunc:<id>. A process past the memory
    limit is OOM-killed; after `run` the unit is gone."""
    cid, unit = "ct-sd-oom", "pyrunc-ct-sd-oom.scope"
    bundle.config["linux"]["resources"] = {"memory": {"limit": 8 * MiB}}
    bundle.set_args("sh", "-c", "cat /proc/self/cgroup; "
                    'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived')
    p = runtime("--systemd-cgroup", "run", "-b", str(bundle), cid, timeout=300)
    assert "survived" not in p.out
    assert p.returncode == 137, (p.returncode, p.out, p.err)
    assert unit_gone(unit)
    assert not leftovers(unit)


def test_bad_path_and_failed_create_leave_nothing(runtime, bundle):
    """A cgroupsPath not in the slice:prefix:name form is refused, naming the
    field; a create that fails after the unit started (a prestart hook that
    fails) stops the unit again."""
    bundle.config["linux"]["cgroupsPath"] = "/not/systemd"
    bundle.write()
    p = runtime("--systemd-cgroup", "create", "-b", str(bundle), "ct-sd-bad", timeout=300)
    assert p.returncode == 1
    assert "$.linux.cgroupsPath" in p.err and "slice:prefix:name" in p.err, p.err
    assert not os.path.exists(os.path.join(runtime.root, "ct-sd-bad"))

    bundle.config["linux"]["cgroupsPath"] = ":pyrunc:ct-sd-hook"
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/false"}]}
    bundle.write()
    p = runtime("--systemd-cgroup", "create", "-b", str(bundle), "ct-sd-hook", timeout=300)
    assert p.returncode == 1, p.err
    assert unit_gone("pyrunc-ct-sd-hook.scope")
    assert not leftovers("pyrunc-ct-sd-hook.scope")
    assert not os.path.exists(os.path.join(runtime.root, "ct-sd-hook"))
