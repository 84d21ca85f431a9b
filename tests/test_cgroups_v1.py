"""cgroup v1 (the host's hybrid layout): limits from linux.resources, update,
pause/resume, ps, events, kill --all and delete, checked from the host."""

import json
import os
import subprocess
import time

import pytest
from helpers import reap_children


def _v1_memory() -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(" - cgroup " in line and "memory" in line.split()[-1].split(",")
                       for line in f)
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _v1_memory(), reason="no cgroup v1 memory hierarchy")
MiB = 1 << 20


def cgroup_paths(runtime, cid: str) -> dict:
    with open(os.path.join(runtime.root, cid, "state.json")) as f:
        return json.load(f)["cgroup"]


def ctrl(runtime, cid: str, name: str) -> str:
    for key, path in cgroup_paths(runtime, cid).items():
        if name in key.split(","):
            return path
    raise AssertionError(f"no {name} hierarchy in {cgroup_paths(runtime, cid)}")


def read(path: str, name: str) -> str:
    with open(os.path.join(path, name)) as f:
        return f.read().strip()


def start_detached(runtime, bundle, cid: str, *args: str, resources: dict | None = None):
    if resources is not None:
        bundle.config["linux"]["resources"] = resources
    bundle.set_args(*args)
    runtime("run", "-d", "-b", str(bundle), cid, check=True)
    return runtime.state(cid)["pid"]


def test_small_memory_and_pids_limits(runtime, bundle):
    """8 MiB and 4 pids are enough: only the tiny C init is charged to the cgroup."""
    bundle.config["linux"]["resources"] = {"memory": {"limit": 8 * MiB}, "pids": {"limit": 4}}
    out = runtime.run_output(bundle, "sh", "-c", "echo ok", cid="ct-small")
    assert out == "ok\n"


def test_limits_land_in_files(runtime, bundle):
    res = {"memory": {"limit": 64 * MiB, "reservation": 32 * MiB, "swappiness": 10},
           "cpu": {"shares": 512, "quota": 30000, "period": 60000, "cpus": "0", "mems": "0"},
           "pids": {"limit": 42}}
    start_detached(runtime, bundle, "ct-files", "sleep", "100", resources=res)
    mem = ctrl(runtime, "ct-files", "memory")
    assert read(mem, "memory.limit_in_bytes") == str(64 * MiB)
    assert read(mem, "memory.soft_limit_in_bytes") == str(32 * MiB)
    assert read(mem, "memory.swappiness") == "10"
    cpu = ctrl(runtime, "ct-files", "cpu")
    assert read(cpu, "cpu.shares") == "512"
    assert read(cpu, "cpu.cfs_quota_us") == "30000"
    assert read(cpu, "cpu.cfs_period_us") == "60000"
    cpuset = ctrl(runtime, "ct-files", "cpuset")
    assert read(cpuset, "cpuset.cpus") == "0"
    assert read(cpuset, "cpuset.mems") == "0"
    assert read(ctrl(runtime, "ct-files", "pids"), "pids.max") == "42"
    # the container is in those cgroups
    pid = runtime.state("ct-files")["pid"]
    assert str(pid) in read(mem, "cgroup.procs").split()


def test_negative_pids_limit_is_max(runtime, bundle):
    start_detached(runtime, bundle, "ct-pmax", "sleep", "100",
                   resources={"pids": {"limit": -1}})
    assert read(ctrl(runtime, "ct-pmax", "pids"), "pids.max") == "max"


def test_memory_limit_oom_killed_and_reported(runtime, bundle):
    res = {"memory": {"limit": 16 * MiB}}
    if os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        res["memory"]["swap"] = 16 * MiB
    hog = 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'
    start_detached(runtime, bundle, "ct-oom", "sh", "-c",
                   f"sleep 1; sh -c '{hog}'; echo rc=$?; sleep 100", resources=res)
    with open(os.path.join(os.path.dirname(runtime.root), "events.out"), "w+b") as out:
        ev = subprocess.Popen([*runtime.cmd, "--root", runtime.root, "events", "--interval",
                               "1s", "ct-oom"], stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            lines: list = []
            while time.monotonic() < deadline:
                out.seek(0)
                lines = [json.loads(x) for x in out.read().splitlines() if x.strip()]
                if any(e["type"] == "oom" for e in lines):
                    break
                time.sleep(0.1)
            assert {"type": "oom", "id": "ct-oom"} in lines, lines
            assert any(e["type"] == "stats" for e in lines)
            mem = ctrl(runtime, "ct-oom", "memory")
            oom = dict(line.split() for line in read(mem, "memory.oom_control").splitlines())
            assert int(oom["oom_kill"]) >= 1
            assert int(read(mem, "memory.max_usage_in_bytes")) <= 16 * MiB
            runtime("delete", "--force", "ct-oom", check=True)
            assert ev.wait(timeout=10) == 0  # the stream ends with the container
        finally:
            if ev.poll() is None:
                ev.kill()
            ev.wait()


def test_pids_limit_makes_fork_fail(runtime, bundle):
    bundle.config["linux"]["resources"] = {"pids": {"limit": 3}}
    bundle.set_args("sh", "-c", "for i in 1 2 3 4 5 6; do sleep 5 & done; echo forked")
    p = runtime("run", "-b", str(bundle), "ct-pids")
    assert "can't fork" in p.err or "Resource temporarily unavailable" in p.err, p.err


def test_denied_device_cannot_be_opened_or_made(runtime, bundle):
    # /dev/fuse (10:229) is made from linux.devices (so mknod of it is allowed)
    # but not in the allow list: it cannot be opened. /dev/port (1:4) cannot even
    # be made.
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}]
    bundle.config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    for kind in ("bounding", "effective", "permitted"):  # so that only the cgroup says no
        bundle.config["process"]["capabilities"][kind].append("CAP_MKNOD")
    out = runtime.run_output(
        bundle, "sh", "-c",
        "head -c0 /dev/fuse 2>/dev/null && echo read-ok || echo read-denied; "
        "mknod /dev/shm/p c 1 4 2>/dev/null && echo mknod-ok || echo mknod-denied; "
        "mknod /dev/shm/z c 1 5 2>/dev/null && echo mknod-zero-ok; "
        "echo x > /dev/null && echo null-ok", cid="ct-dev")
    assert out.split() == ["read-denied", "mknod-denied", "mknod-zero-ok", "null-ok"]
    bundle.config["linux"]["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}]}
    out = runtime.run_output(bundle, "sh", "-c", "head -c0 /dev/fuse && echo read-ok",
                             cid="ct-dev2")
    assert out == "read-ok\n"


def test_devices_list_is_deny_all_plus_rules(runtime, bundle):
    bundle.config["linux"]["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "r"}]}
    start_detached(runtime, bundle, "ct-devlist", "sleep", "100")
    rules = read(ctrl(runtime, "ct-devlist", "devices"), "devices.list").splitlines()
    assert "a *:* rwm" not in rules
    assert "b 7:0 r" in rules and "c 1:3 rwm" in rules


def _counter_script(path: str = "/dev/shm/n") -> str:
    return f"i=0; while :; do i=$((i+1)); echo $i > {path}; sleep 0.05; done"


def test_pause_resume(runtime, bundle):
    pid = start_detached(runtime, bundle, "ct-pause", "sh", "-c",
                         f"({_counter_script()}) & {_counter_script('/dev/shm/m')}")
    counter = f"/proc/{pid}/root/dev/shm/n"
    time.sleep(0.3)
    assert runtime("pause", "ct-pause").returncode == 0
    assert runtime.state("ct-pause")["status"] == "paused"
    freezer = ctrl(runtime, "ct-pause", "freezer")
    assert read(freezer, "freezer.state") == "FROZEN"
    pids = json.loads(runtime("ps", "--format", "json", "ct-pause", check=True).out)
    assert len(pids) >= 3
    for p in pids:  # frozen tasks sleep in the refrigerator
        with open(f"/proc/{p}/stat") as f:
            assert f.read().rsplit(")", 1)[1].split()[0] == "D"
    with open(counter) as f:
        before = f.read()
    time.sleep(0.4)
    with open(counter) as f:
        assert f.read() == before
    p = runtime("pause", "ct-pause")  # (runc's words for a paused one)
    assert p.returncode == 1 and "container not running" in p.err
    assert runtime("resume", "ct-pause").returncode == 0
    assert runtime.state("ct-pause")["status"] == "running"
    time.sleep(0.4)
    with open(counter) as f:
        assert f.read() != before
    p = runtime("resume", "ct-pause")
    assert p.returncode == 1 and "not paused" in p.err


def test_pause_stopped_container_fails(runtime, bundle):
    bundle.set_args("true")
    runtime("create", "-b", str(bundle), "ct-pstop", check=True)
    runtime("start", "ct-pstop", check=True)
    runtime.wait_stopped("ct-pstop")
    p = runtime("pause", "ct-pstop")
    assert p.returncode == 1 and "container not running" in p.err


def test_update_changes_live_limits(runtime, bundle):
    start_detached(runtime, bundle, "ct-upd", "sleep", "100",
                   resources={"memory": {"limit": 64 * MiB}, "pids": {"limit": 20},
                              "cpu": {"shares": 1024}})
    mem = ctrl(runtime, "ct-upd", "memory")
    runtime("update", "--memory", "128m", "--pids-limit", "30", "--cpu-shares", "256",
            "--cpu-quota", "20000", "--cpu-period", "100000", "--memory-reservation", "16M",
            "ct-upd", check=True)
    assert read(mem, "memory.limit_in_bytes") == str(128 * MiB)
    assert read(mem, "memory.soft_limit_in_bytes") == str(16 * MiB)
    assert read(ctrl(runtime, "ct-upd", "pids"), "pids.max") == "30"
    cpu = ctrl(runtime, "ct-upd", "cpu")
    assert read(cpu, "cpu.shares") == "256"
    assert read(cpu, "cpu.cfs_quota_us") == "20000"
    # JSON on stdin; zeros (as docker sends) leave values unchanged
    req = {"memory": {"limit": 96 * MiB, "reservation": 0, "swap": 0},
           "cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": "", "mems": ""},
           "pids": {"limit": 0}, "blockIO": {"weight": 0}}
    runtime("update", "--resources", "-", "ct-upd", input=json.dumps(req).encode(),
            check=True)
    assert read(mem, "memory.limit_in_bytes") == str(96 * MiB)
    assert read(ctrl(runtime, "ct-upd", "pids"), "pids.max") == "30"
    assert read(cpu, "cpu.shares") == "256"
    # and a file
    path = os.path.join(os.path.dirname(runtime.root), "res.json")
    with open(path, "w") as f:
        json.dump({"pids": {"limit": 7}}, f)
    runtime("update", f"--resources={path}", "ct-upd", check=True)
    assert read(ctrl(runtime, "ct-upd", "pids"), "pids.max") == "7"


def test_update_below_usage_names_value_and_usage(runtime, bundle):
    start_detached(runtime, bundle, "ct-upd2", "sh", "-c",
                   "x=$(head -c 6000000 /dev/zero | tr '\\0' a); sleep 100; echo ${#x}",
                   resources={"memory": {"limit": 64 * MiB}})
    time.sleep(1.5)
    p = runtime("update", "--memory", "1m", "ct-upd2")
    assert p.returncode == 1
    assert "memory.limit" in p.err and "cannot set memory limit 1M: current usage" in p.err


def test_update_bad_values(runtime, bundle):
    start_detached(runtime, bundle, "ct-upd3", "sleep", "100")
    p = runtime("update", "--memory", "lots", "ct-upd3")
    assert p.returncode == 1 and "--memory" in p.err
    p = runtime("update", "--cpuset-cpus", "999", "ct-upd3")
    assert p.returncode == 1 and "cpuset.cpus" in p.err and "999" in p.err


def test_ps_lists_container_processes(runtime, bundle):
    pid = start_detached(runtime, bundle, "ct-ps", "sh", "-c", "sleep 100 & sleep 200; echo")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pids = json.loads(runtime("ps", "--format", "json", "ct-ps", check=True).out)
        if len(pids) == 3:
            break
        time.sleep(0.05)
    assert pid in pids and len(pids) == 3
    table = runtime("ps", "ct-ps", check=True).out.splitlines()
    assert "PID" in table[0].split() and len(table) == 4
    assert any("sleep 200" in line for line in table)
    table = runtime("ps", "ct-ps", "-o", "pid,comm", check=True).out.splitlines()
    assert table[0].split() == ["PID", "COMMAND"]
    assert sorted(int(line.split()[0]) for line in table[1:]) == sorted(pids)


def test_kill_all_reaches_every_process(runtime, bundle):
    # without a pid namespace, the init dying does not take the others along
    bundle.config["linux"]["namespaces"] = [
        n for n in bundle.config["linux"]["namespaces"] if n["type"] != "pid"]
    start_detached(runtime, bundle, "ct-killall", "sh", "-c",
                   "trap '' TERM; sleep 100 & sleep 100 & sleep 100 & wait")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pids = json.loads(runtime("ps", "--format", "json", "ct-killall", check=True).out)
        if len(pids) == 4:
            break
        time.sleep(0.05)
    assert len(pids) == 4
    runtime("kill", "--all", "ct-killall", "KILL", check=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
        reap_children()
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)
    runtime.wait_stopped("ct-killall")


def test_kill_all_term_reaches_paused_container_and_keeps_it_paused(runtime, bundle):
    bundle.config["linux"]["namespaces"] = [
        n for n in bundle.config["linux"]["namespaces"] if n["type"] != "pid"]
    start_detached(runtime, bundle, "ct-killall2", "sh", "-c", "sleep 100 & sleep 100")
    time.sleep(0.2)
    runtime("pause", "ct-killall2", check=True)
    runtime("kill", "--all", "ct-killall2", "TERM", check=True)
    assert runtime.state("ct-killall2")["status"] == "paused"
    runtime("resume", "ct-killall2", check=True)
    runtime.wait_stopped("ct-killall2")


def test_delete_force_paused_leaves_no_cgroup(runtime, bundle):
    start_detached(runtime, bundle, "ct-del", "sh", "-c", "sleep 100 & sleep 100")
    dirs = list(cgroup_paths(runtime, "ct-del").values())
    assert all(os.path.isdir(d) for d in dirs)
    runtime("pause", "ct-del", check=True)
    p = runtime("delete", "ct-del")
    assert p.returncode == 1 and "paused" in p.err
    runtime("delete", "--force", "ct-del", check=True)
    assert not any(os.path.exists(d) for d in dirs)


def test_events_stats_fields(runtime, bundle):
    start_detached(runtime, bundle, "ct-stats", "sh", "-c", "sleep 100 & sleep 100; echo",
                   resources={"memory": {"limit": 64 * MiB}, "pids": {"limit": 50}})
    out = runtime("events", "--stats", "ct-stats", check=True).out
    assert out.count("\n") == 1
    ev = json.loads(out)
    assert ev["type"] == "stats" and ev["id"] == "ct-stats"
    d = ev["data"]
    assert {"cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
            "network_interfaces"} <= set(d)
    assert d["cpu"]["usage"]["total"] > 0
    assert isinstance(d["cpu"]["usage"]["percpu"], list)
    assert {"kernel", "user"} <= set(d["cpu"]["usage"])
    mem = d["memory"]
    assert mem["usage"]["limit"] == 64 * MiB
    assert mem["usage"]["usage"] > 0 and mem["usage"]["max"] >= mem["usage"]["usage"]
    assert mem["usage"]["failcnt"] == 0
    assert {"swap", "kernel", "raw"} <= set(mem) and "total_rss" in mem["raw"]
    assert d["pids"] == {"current": 3, "limit": 50}
    assert isinstance(d["hugetlb"], dict)
    p = runtime("events", "--stats", "ct-nothere")
    assert p.returncode == 1 and "does not exist" in p.err


def test_bad_resources_errors_name_the_field(runtime, bundle):
    bundle.config["linux"]["resources"] = {"memory": {"swappiness": 200}}
    bundle.set_args("true")
    p = runtime("run", "-b", str(bundle), "ct-bad1")
    assert p.returncode == 1
    assert "$.linux.resources.memory.swappiness" in p.err and "200" in p.err
    bundle.config["linux"]["resources"] = {"hugepageLimits": [{"pageSize": "3MB",
                                                               "limit": 1 << 21}]}
    bundle.write()
    p = runtime("run", "-b", str(bundle), "ct-bad2")
    assert p.returncode == 1 and "$.linux.resources.hugepageLimits" in p.err
    bundle.config["linux"]["resources"] = {"network": {"classID": 1048577}}
    bundle.write()
    p = runtime("run", "-b", str(bundle), "ct-bad3")
    assert p.returncode == 1 and "net_cls" in p.err
    bundle.config["linux"]["resources"] = {"memory": {"limit": 1 << 20}}
    bundle.set_args("sh", "-c", "x=$(head -c 4000000 /dev/zero | tr '\\0' a); echo big")
    p = runtime("run", "-b", str(bundle), "ct-bad4")
    assert p.returncode != 0 and "big" not in p.out


def test_memory_failcnt_counts_limit_hits(runtime, bundle):
    """Issue 20: after an 8 MiB limit was hit, `events --stats` reports the
    kernel's memory.failcnt (runc 1.1.5 does the same on v1; on v2 pyrunc
    reports memory.events max, where runc reports 0: tests/vm_tier)."""
    start_detached(runtime, bundle, "ct-fail", "sleep", "1000",
                   resources={"memory": {"limit": 8 * MiB}})
    hog = runtime("exec", "ct-fail", "sh", "-c",
                  "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo survived")
    assert hog.returncode == 137 and "survived" not in hog.out
    mem = json.loads(runtime("events", "--stats", "ct-fail", check=True).out)["data"]["memory"]
    failcnt = int(read(ctrl(runtime, "ct-fail", "memory"), "memory.failcnt"))
    assert failcnt > 0
    assert mem["usage"]["failcnt"] == failcnt
    assert mem["usage"]["max"] == 8 * MiB
