"""linux.resources against fake cgroup directories (plain files in tmp_path):
the v1 and v2 file writes, conversions and errors, without touching the host."""

import io
import os

import pytest

from pyrunc import cli, ops
from pyrunc.cgroups import common, devices_bpf, resources, stats
from pyrunc.errors import PyruncError

MiB = 1 << 20


def fake(path, files: dict) -> str:
    os.makedirs(path, exist_ok=True)
    for name, value in files.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(value)
    return str(path)


def read(d: str, name: str) -> str:
    with open(os.path.join(d, name)) as f:
        return f.read()


V2_FILES = {"cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma",
            "memory.max": "max", "memory.swap.max": "max", "memory.low": "0",
            "memory.current": str(3 * MiB), "memory.oom.group": "0", "cpu.weight": "100",
            "cpu.max": "max 100000", "cpu.max.burst": "0", "cpu.idle": "0",
            "cpuset.cpus": "", "cpuset.mems": "", "pids.max": "max", "io.weight": "100",
            "io.max": "", "hugetlb.2MB.max": "max", "hugetlb.2MB.rsvd.max": "max",
            "hugetlb.1GB.max": "max", "rdma.max": "", "cgroup.freeze": "0"}


@pytest.fixture
def v2(tmp_path):
    return fake(tmp_path / "ct", V2_FILES)


def test_conversions():
    assert common.shares_to_weight(2) == 1
    assert common.shares_to_weight(1024) == 39
    assert common.shares_to_weight(262144) == 10000
    assert common.blkio_to_io_weight(10) == 1
    assert common.blkio_to_io_weight(1000) == 10000
    assert common.human(4 * MiB) == "4M"
    assert common.human(9 * MiB + MiB // 2) == "9.5M"
    assert common.human(512) == "512B"


def test_v2_writes(v2):
    res = {"memory": {"limit": 64 * MiB, "swap": 96 * MiB, "reservation": 16 * MiB},
           "cpu": {"shares": 1024, "quota": 20000, "period": 50000, "burst": 1000,
                   "cpus": "0-1", "mems": "0", "idle": 1},
           "pids": {"limit": 0},
           "blockIO": {"weight": 500, "throttleReadBpsDevice": [
               {"major": 8, "minor": 0, "rate": 1000}]},
           "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}],
           "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10}},
           "unified": {"memory.oom.group": "1"}}
    resources.apply({"unified": v2}, res, nodes=None, update=True)
    assert read(v2, "memory.max") == str(64 * MiB)
    assert read(v2, "memory.swap.max") == str(32 * MiB)
    assert read(v2, "memory.low") == str(16 * MiB)
    assert read(v2, "cpu.weight") == "39"
    assert read(v2, "cpu.max") == "20000 50000"
    assert read(v2, "cpu.max.burst") == "1000"
    assert read(v2, "cpu.idle") == "1"
    assert read(v2, "cpuset.cpus") == "0-1"
    assert read(v2, "pids.max") == "0"  # spec 1.3: a real limit
    assert read(v2, "io.weight") == str(1 + 490 * 9999 // 990)
    assert read(v2, "io.max") == "8:0 rbps=1000"
    assert read(v2, "hugetlb.2MB.max") == str(4 * MiB)
    assert read(v2, "hugetlb.2MB.rsvd.max") == str(4 * MiB)
    assert read(v2, "rdma.max") == "mlx5_1 hca_handle=3 hca_object=10"
    assert read(v2, "memory.oom.group") == "1"


def test_v2_unlimited_and_partners(v2):
    resources.apply({"unified": v2}, {"memory": {"limit": -1}, "pids": {"limit": -5}},
                    update=True)
    assert read(v2, "memory.max") == "max" and read(v2, "memory.swap.max") == "max"
    assert read(v2, "pids.max") == "max"
    # an update of the period alone keeps the stored quota
    resources.apply({"unified": v2}, {"cpu": {"period": 200000}},
                    full={"cpu": {"quota": 30000, "period": 200000}}, update=True)
    assert read(v2, "cpu.max") == "30000 200000"


@pytest.mark.parametrize("res, field, words", [
    ({"memory": {"swap": 32 * MiB}}, "$.linux.resources.memory.swap", "without a memory"),
    ({"memory": {"limit": 64 * MiB, "swap": 32 * MiB}}, "$.linux.resources.memory.swap",
     ">="),
    ({"memory": {"limit": MiB, "checkBeforeUpdate": True}}, "$.linux.resources.memory.limit",
     "cannot set memory limit 1M: current usage 3M"),
    ({"cpu": {"quota": 1000, "burst": 5000}}, "$.linux.resources.cpu.burst", "larger"),
    ({"cpu": {"realtimeRuntime": 100}}, "$.linux.resources.cpu.realtimeRuntime", "v2"),
    ({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]},
     "$.linux.resources.hugepageLimits[0].pageSize", "1GB, 2MB"),
    ({"network": {"classID": 5}}, "$.linux.resources.network.classID", "net_cls"),
    ({"unified": {"misc.max": "x 1"}}, "$.linux.resources.unified[\"misc.max\"]",
     "misc controller is not available"),
    ({"unified": {"../x": "1"}}, "$.linux.resources.unified[\"../x\"]", "file name"),
    ({"unified": {"cgroup.procs": "1"}}, "cgroup.procs", "not allowed"),
    ({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 10}]}},
     "$.linux.resources.blockIO.weightDevice[0]", "BFQ"),
])
def test_v2_errors(v2, res, field, words):
    with pytest.raises(PyruncError) as e:
        resources.apply({"unified": v2}, res, update=True)
    assert field in str(e.value) and words in str(e.value)


def test_missing_file_is_named(tmp_path):
    d = fake(tmp_path / "ct", {"cgroup.controllers": "memory pids"})
    with pytest.raises(PyruncError) as e:
        resources.apply({"unified": d}, {"pids": {"limit": 5}}, update=True)
    assert "$.linux.resources.pids.limit: pids.max does not exist" in str(e.value)
    with pytest.raises(PyruncError) as e:
        resources.apply({"unified": d}, {"cpu": {"shares": 5}}, update=True)
    assert "the cpu cgroup controller is not available" in str(e.value)


def test_v1_writes(tmp_path):
    mem = fake(tmp_path / "memory", {
        "memory.limit_in_bytes": str(1 << 62), "memory.memsw.limit_in_bytes": str(1 << 62),
        "memory.soft_limit_in_bytes": "0", "memory.swappiness": "60",
        "memory.oom_control": "0", "memory.kmem.tcp.limit_in_bytes": "0"})
    cpu = fake(tmp_path / "cpu", {"cpu.shares": "1024", "cpu.cfs_quota_us": "-1",
                                  "cpu.cfs_period_us": "100000", "cpu.rt_period_us": "0",
                                  "cpu.rt_runtime_us": "0"})
    blk = fake(tmp_path / "blkio", {"blkio.weight": "500", "blkio.weight_device": "",
                                    "blkio.throttle.write_iops_device": ""})
    dev = fake(tmp_path / "devices", {"devices.allow": "", "devices.deny": ""})
    net = fake(tmp_path / "net", {"net_cls.classid": "0", "net_prio.ifpriomap": ""})
    paths = {"memory": mem, "cpu,cpuacct": cpu, "blkio": blk, "devices": dev,
             "net_cls,net_prio": net}
    res = {"memory": {"limit": 64 * MiB, "swap": 128 * MiB, "reservation": MiB,
                      "swappiness": 0, "disableOOMKiller": True, "kernelTCP": MiB},
           "cpu": {"shares": 1024, "quota": 50000, "period": 100000,
                   "realtimePeriod": 1000000, "realtimeRuntime": 950000},
           "blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 20}],
                       "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 30}]},
           "network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 3}]},
           "devices": [{"allow": False, "access": "rwm"}]}
    resources.apply(paths, res)
    assert read(mem, "memory.limit_in_bytes") == str(64 * MiB)
    assert read(mem, "memory.memsw.limit_in_bytes") == str(128 * MiB)
    assert read(mem, "memory.soft_limit_in_bytes") == str(MiB)
    assert read(mem, "memory.swappiness") == "0"
    assert read(mem, "memory.oom_control") == "1"
    assert read(cpu, "cpu.cfs_quota_us") == "50000"
    assert read(cpu, "cpu.rt_runtime_us") == "950000"
    assert read(blk, "blkio.weight") == "300"
    assert read(blk, "blkio.weight_device") == "8:0 20"
    assert read(blk, "blkio.throttle.write_iops_device") == "8:0 30"
    assert read(net, "net_cls.classid") == "1048577"
    assert read(net, "net_prio.ifpriomap") == "lo 3"
    # the last write of each file: devices.deny got "a" first, then the rules
    assert read(dev, "devices.allow") == "c 10:200 rwm"


def test_device_rules_and_bpf_reduction():
    rules = resources.device_rules(
        [{"allow": False, "access": "rwm"},
         {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}],
        [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}])
    assert rules[0] == (False, "a", -1, -1, "rwm")
    assert rules[1] == (True, "c", 10, 229, "rw")
    assert rules[2] == (True, "c", 1, 11, "m")
    assert (True, "c", 1, 3, "rwm") in rules and (True, "c", 136, -1, "rwm") in rules
    default, rest = devices_bpf.reduce(rules)
    assert default is False and rest == rules[1:]
    default, rest = devices_bpf.reduce([(True, "a", -1, -1, "rwm")])
    assert default is True and rest == []
    for bad, word in (({"allow": True, "type": "x", "access": "r"}, "type"),
                      ({"allow": True, "access": ""}, "access"),
                      ({"allow": True, "access": "x"}, "access")):
        with pytest.raises(PyruncError) as e:
            resources.device_rules([bad])
        assert f"$.linux.resources.devices[0].{word}" in str(e.value)
    # as runc: other letters are ignored; a deny of none of r, w, m denies nothing
    assert resources.device_rules([{"allow": True, "access": "mxrr"}])[0] == (
        True, "a", -1, -1, "rm")
    assert resources.device_rules([{"allow": False, "access": "x"}])[0] == (
        False, "a", -1, -1, "")


def test_update_request_and_changes():
    req = cli.update_request({"memory": "128m", "memory-swap": "-1",
                                     "cpu-shares": "512", "pids-limit": "7",
                                     "cpuset-cpus": "0"}, io.StringIO())
    assert req["memory"] == {"limit": 128 * MiB, "swap": -1}
    assert req["cpu"] == {"shares": 512, "cpus": "0"}
    assert req["pids"] == {"limit": 7}
    docker = {"memory": {"limit": 0, "swap": 0, "swappiness": None}, "cpu": {"shares": 0},
              "pids": {"limit": 0}, "blockIO": {"weight": 0}}
    assert ops.changes(docker) == {}
    req = cli.update_request({"resources": "-"},
                                    io.StringIO('{"memory": {"limit": 1048576}}'))
    assert ops.changes(req) == {"memory": {"limit": MiB}}
    merged = ops.merge({"memory": {"limit": 1, "swap": 2}}, {"memory": {"limit": 3}})
    assert merged == {"memory": {"limit": 3, "swap": 2}}
    for text, value in (("1g", 1 << 30), ("512k", 512 << 10), ("100", 100), ("1.5m", 3 << 19),
                        ("64MiB", 64 * MiB), ("2 GB", 2 << 30)):
        assert cli.ram_in_bytes(text, "memory") == value
    for bad in ("lots", "-5", "12x", ""):
        with pytest.raises(PyruncError):
            cli.ram_in_bytes(bad, "memory")
    assert cli.parse_duration("5s") == 5 and cli.parse_duration("250ms") == 0.25
    assert cli.parse_duration("2") == 2
    with pytest.raises(PyruncError):
        cli.parse_duration("soon")
    with pytest.raises(PyruncError):
        cli.update_request({"resources": "-"}, io.StringIO("[1]"))


def test_v2_stats_layout(v2):
    fake(v2, {"memory.events": "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n",
              "memory.stat": "anon 100\nfile 200\n", "memory.max": str(64 * MiB),
              "memory.swap.current": "0", "memory.peak": str(5 * MiB),
              "cpu.stat": "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 3\n"
                          "nr_throttled 1\nthrottled_usec 7\n",
              "pids.current": "2", "pids.max": "10",
              "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
              "hugetlb.2MB.current": "0", "hugetlb.2MB.events": "max 0\n"})
    s = stats.stats({"unified": v2})
    assert s["cpu"]["usage"] == {"kernel": 4000, "user": 6000, "total": 10000}
    assert s["cpu"]["throttling"] == {"periods": 3, "throttledPeriods": 1,
                                      "throttledTime": 7000}
    m = s["memory"]
    assert m["usage"] == {"limit": 64 * MiB, "failcnt": 4, "usage": 3 * MiB, "max": 5 * MiB}
    assert m["cache"] == 200 and m["raw"] == {"anon": 100, "file": 200}
    assert "event_count" not in m  # (runc 1.1.5 has none)
    assert s["pids"] == {"current": 2, "limit": 10}
    assert s["blkio"]["ioServiceBytesRecursive"][:2] == [
        {"major": 8, "op": "Read", "value": 10}, {"major": 8, "op": "Write", "value": 20}]
    assert s["hugetlb"] == {"2MB": {"failcnt": 0}}
    assert stats.oom_count({"unified": v2}) == 2
