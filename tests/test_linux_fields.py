"""Linux fields of runtime-spec 1.3, checked by their effect: process.scheduler,
process.ioPriority, process.execCPUAffinity, linux.personality,
linux.memoryPolicy, linux.netDevices, idmapped mounts, linux.sysctl, and the
AppArmor/SELinux fields on a host that has neither."""

import ctypes
import json
import os
import subprocess
import time

import pytest

SLEEPER = ("sh", "-c", "while :; do sleep 1; done")


def stat_of(text: str) -> dict[str, int]:
    """nice, rt_priority and policy from a /proc/PID/stat line (fields 19, 40, 41)."""
    fields = text[text.rindex(")") + 2:].split()
    return {"nice": int(fields[16]), "rt_priority": int(fields[37]),
            "policy": int(fields[38])}


def host_stat(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/stat") as f:
        return stat_of(f.read())


def created(runtime, bundle, cid: str = "ct-lf") -> int:
    """Create (not start) a sleeper; its pid, whose attributes are final already."""
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), cid, check=True)
    return runtime.state(cid)["pid"]


def create_error(runtime, bundle, cid: str = "ct-lf-bad") -> str:
    bundle.write()
    p = runtime("create", "-b", str(bundle), cid)
    assert p.returncode != 0, "create should have failed"
    assert not os.path.exists(os.path.join(runtime.root, cid)), "state left behind"
    return p.err


# -- process.scheduler ----------------------------------------------------------------

SCHED_OTHER, SCHED_FIFO, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE = 0, 1, 3, 5, 6


def test_scheduler_batch_with_nice(runtime, bundle):
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
    out = runtime.run_output(bundle, "cat", "/proc/self/stat")
    assert stat_of(out) == {"nice": 7, "rt_priority": 0, "policy": SCHED_BATCH}


def test_scheduler_seen_from_the_host(runtime, bundle):
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_IDLE"}
    pid = created(runtime, bundle)
    assert host_stat(pid)["policy"] == SCHED_IDLE
    runtime("start", "ct-lf", check=True)
    assert host_stat(pid)["policy"] == SCHED_IDLE  # kept across execve


def test_negative_nice_for_a_non_root_user(runtime, bundle):
    """Set while the init is still privileged: before the user change."""
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_OTHER", "nice": -5}
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    out = runtime.run_output(bundle, "cat", "/proc/self/stat")
    assert stat_of(out)["nice"] == -5


def test_scheduler_deadline(runtime, bundle):
    bundle.config["process"]["scheduler"] = {
        "policy": "SCHED_DEADLINE", "runtime": 10_000_000, "deadline": 100_000_000,
        "period": 100_000_000}
    out = runtime.run_output(bundle, "cat", "/proc/self/sched")
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":")
                                                    for line in out.splitlines())}
    assert fields["policy"] == str(SCHED_DEADLINE)


def test_scheduler_applies_to_exec(runtime, bundle):
    """An exec'd process gets the container's scheduler unless it has its own."""
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 3}
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-lf", check=True)
    p = runtime("exec", "ct-lf", "cat", "/proc/self/stat", check=True)
    assert stat_of(p.out)["policy"] == SCHED_BATCH and stat_of(p.out)["nice"] == 3


RT_V1 = "/sys/fs/cgroup/cpu/cpu.rt_runtime_us"


@pytest.mark.skipif(not os.path.exists(RT_V1), reason="no cgroup v1 realtime group scheduling")
def test_realtime_needs_a_realtime_budget(runtime, bundle):
    """With cgroup v1 realtime group scheduling, SCHED_FIFO fails in a cgroup
    without rt runtime: a clear error naming the field and the remedy; with
    linux.resources.cpu.realtimeRuntime it works."""
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_FIFO", "priority": 10}
    err = create_error(runtime, bundle)
    assert "$.process.scheduler" in err and "SCHED_FIFO" in err, err
    assert "realtimeRuntime" in err, err
    cpu = bundle.config["linux"].setdefault("resources", {}).setdefault("cpu", {})
    cpu.update(realtimeRuntime=10000, realtimePeriod=1000000)
    out = runtime.run_output(bundle, "cat", "/proc/self/stat")
    assert stat_of(out) == {"nice": 0, "rt_priority": 10, "policy": SCHED_FIFO}


@pytest.mark.parametrize("sched, where", [
    ({"policy": "SCHED_FIFO"}, "$.process.scheduler.priority"),
    ({"policy": "SCHED_OTHER", "priority": 5}, "$.process.scheduler.priority"),
    ({"policy": "SCHED_BATCH", "nice": 20}, "$.process.scheduler.nice"),
    ({"policy": "SCHED_OTHER", "runtime": 5}, "$.process.scheduler.runtime"),
    ({"policy": "SCHED_DEADLINE", "runtime": 5, "deadline": 4}, "$.process.scheduler"),
    ({"policy": "SCHED_ISO"}, "$.process.scheduler.policy"),
])
def test_bad_scheduler(runtime, bundle, sched, where):
    bundle.config["process"]["scheduler"] = sched
    err = create_error(runtime, bundle)
    assert f"{where}:" in err, err


# -- process.ioPriority ---------------------------------------------------------------

def ioprio_get(pid: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    value = libc.syscall(252, 1, pid)  # SYS_ioprio_get (x86_64), IOPRIO_WHO_PROCESS
    assert value >= 0, os.strerror(ctypes.get_errno())
    return value


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall number for x86_64")
@pytest.mark.parametrize("cls, number", [("IOPRIO_CLASS_RT", 1), ("IOPRIO_CLASS_BE", 2),
                                         ("IOPRIO_CLASS_IDLE", 3)])
def test_io_priority_from_the_host(runtime, bundle, cls, number):
    bundle.config["process"]["ioPriority"] = {"class": cls, "priority": 6}
    pid = created(runtime, bundle)
    value = ioprio_get(pid)
    assert value >> 13 == number
    if cls != "IOPRIO_CLASS_IDLE":  # the idle class has no levels
        assert value & 7 == 6


# -- linux.personality ----------------------------------------------------------------

@pytest.mark.skipif(os.uname().machine != "x86_64", reason="LINUX32 shows i686 on x86_64")
def test_personality_linux32(runtime, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-lf", check=True)
    p = runtime("exec", "ct-lf", "sh", "-c", "uname -m; cat /proc/1/personality "
                "/proc/self/personality", check=True)
    assert p.out.split() == ["i686", "00000008", "00000008"]  # the init and exec'd processes


def test_personality_linux(runtime, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX"}
    out = runtime.run_output(bundle, "sh", "-c", "uname -m; cat /proc/self/personality")
    assert out.split() == [os.uname().machine, "00000000"]


# -- linux.memoryPolicy ---------------------------------------------------------------

def numa_policies(text: str) -> set[str]:
    return {line.split()[1] for line in text.splitlines() if len(line.split()) > 1}


NUMA = os.path.exists("/proc/self/numa_maps")


@pytest.mark.skipif(not NUMA, reason="no NUMA support in this kernel")
def test_memory_policy_bind_seen_from_the_host(runtime, bundle):
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0"}
    pid = created(runtime, bundle)
    with open(f"/proc/{pid}/numa_maps") as f:
        assert numa_policies(f.read()) == {"bind:0"}
    runtime("start", "ct-lf", check=True)
    with open(f"/proc/{pid}/numa_maps") as f:  # the user program has it too
        assert numa_policies(f.read()) == {"bind:0"}
    p = runtime("exec", "ct-lf", "cat", "/proc/self/numa_maps", check=True)
    assert numa_policies(p.out) == {"bind:0"}  # and exec'd processes


@pytest.mark.skipif(not NUMA, reason="no NUMA support in this kernel")
@pytest.mark.parametrize("policy, shown", [
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]},
     "interleave=static:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]},
     "bind=relative:0"),
    ({"mode": "MPOL_LOCAL"}, "local"),
    ({"mode": "MPOL_DEFAULT"}, "default"),
])
def test_memory_policy_modes(runtime, bundle, policy, shown):
    bundle.config["linux"]["memoryPolicy"] = policy
    out = runtime.run_output(bundle, "cat", "/proc/self/numa_maps")
    assert numa_policies(out) == {shown}


def host_nodes() -> set[int]:
    with open("/sys/devices/system/node/possible") as f:
        text = f.read().strip()
    out = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


@pytest.mark.skipif(not NUMA, reason="no NUMA support in this kernel")
def test_impossible_memory_nodes(runtime, bundle):
    node = max(host_nodes()) + 1
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": f"0,{node}"}
    err = create_error(runtime, bundle)
    assert "$.linux.memoryPolicy.nodes" in err and f"node {node} does not exist" in err, err


@pytest.mark.parametrize("policy, where", [
    ({"mode": "MPOL_DEFAULT", "nodes": "0"}, "$.linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_BIND"}, "$.linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_BIND", "nodes": "3-1"}, "$.linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES",
                                                    "MPOL_F_RELATIVE_NODES"]},
     "$.linux.memoryPolicy.flags"),
])
def test_bad_memory_policy(runtime, bundle, policy, where):
    bundle.config["linux"]["memoryPolicy"] = policy
    err = create_error(runtime, bundle)
    assert f"{where}:" in err, err


# -- process.execCPUAffinity ----------------------------------------------------------

CPUS = sorted(os.sched_getaffinity(0))
need_two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs")


def allowed(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split()[1]
    raise AssertionError(text)


@pytest.fixture
def running(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-lf", check=True)
    return runtime


def exec_with(runtime, tmp_path, affinity: dict, args=("cat", "/proc/self/status")):
    proc = {"args": list(args), "cwd": "/", "execCPUAffinity": affinity}
    f = tmp_path / "process.json"
    f.write_text(json.dumps(proc))
    return runtime("exec", "--process", str(f), "ct-lf")


@need_two_cpus
def test_exec_cpu_affinity_final(running, tmp_path):
    first, second = CPUS[0], CPUS[1]
    p = exec_with(running, tmp_path, {"initial": str(first), "final": str(second)})
    assert p.returncode == 0, p.err
    assert allowed(p.out) == str(second)
    # only initial: the process stays there (no final, no change after the cgroup)
    p = exec_with(running, tmp_path, {"initial": str(second)})
    assert p.returncode == 0, p.err
    assert allowed(p.out) == str(second)


@need_two_cpus
def test_exec_cpu_affinity_from_config_not_for_the_init(runtime, bundle):
    """config.json's execCPUAffinity is the default of exec'd processes; the
    container's init is not an exec'd process."""
    bundle.config["process"]["execCPUAffinity"] = {"final": str(CPUS[1])}
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-lf", check=True)
    p = runtime("exec", "ct-lf", "sh", "-c", "cat /proc/self/status; cat /proc/1/status",
                check=True)
    own, init = p.out.split("Name:")[1:3]
    assert allowed(own) == str(CPUS[1])
    assert allowed(init) != str(CPUS[1])


def test_exec_cpu_affinity_errors(running, tmp_path):
    p = exec_with(running, tmp_path, {"final": "1-0"})
    assert p.returncode == 255 and "$.execCPUAffinity.final" in p.err, p.err
    p = exec_with(running, tmp_path, {"final": "8191"})  # valid, but no such CPU
    assert p.returncode == 255 and "$.process.execCPUAffinity.final" in p.err, p.err
    p = exec_with(running, tmp_path, {"initial": "8191"})
    assert p.returncode == 255 and "$.process.execCPUAffinity.initial" in p.err, p.err


# -- linux.netDevices -----------------------------------------------------------------

def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True).returncode == 0


@pytest.fixture
def veth():
    """A veth pair on the host (this kernel may lack the dummy driver): the
    first end goes into containers; the peer shows whether it was destroyed."""
    base = f"pyrt{os.getpid() % 100000}"
    a, b = f"{base}a", f"{base}b"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    subprocess.run(["ip", "addr", "add", "10.199.7.1/24", "dev", a], check=True)
    yield a, b
    for name in (a, b):
        if link_exists(name):
            subprocess.run(["ip", "link", "del", name], capture_output=True)


def wait_gone(name: str, timeout: float = 10) -> None:
    """The kernel frees a network namespace (and destroys its virtual devices)
    asynchronously."""
    deadline = time.monotonic() + timeout
    while link_exists(name):
        assert time.monotonic() < deadline, f"{name} is still there"
        time.sleep(0.1)


def test_net_device_moved_renamed_and_up(runtime, bundle, veth):
    a, b = veth
    bundle.config["linux"]["netDevices"] = {a: {"name": "ctnet0"}}
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-lf", check=True)
    assert not link_exists(a)  # it left the host
    p = runtime("exec", "ct-lf", "ip", "addr", "show", "dev", "ctnet0", check=True)
    assert "10.199.7.1/24" in p.out  # its permanent global address came along
    assert ",UP" in p.out.splitlines()[0], p.out
    runtime("delete", "--force", "ct-lf", check=True)
    # The namespace is gone: a veth is destroyed with it (and its peer), a
    # physical device would come back to the host.
    wait_gone(b)
    assert not link_exists(a) and not link_exists("ctnet0")


def test_net_device_name_template(runtime, bundle, veth):
    a, _ = veth
    bundle.config["linux"]["netDevices"] = {a: {"name": "ct%d"}}
    out = runtime.run_output(bundle, "cat", "/proc/net/dev")
    assert "ct0:" in out


def test_net_device_keeps_its_name(runtime, bundle, veth):
    a, _ = veth
    bundle.config["linux"]["netDevices"] = {a: {}}
    out = runtime.run_output(bundle, "cat", "/proc/net/dev")
    assert f"{a}:" in out


def test_net_device_errors(runtime, bundle, veth):
    a, _ = veth
    linux = bundle.config["linux"]
    linux["netDevices"] = {"lo": {}}
    assert '$.linux.netDevices.lo' in create_error(runtime, bundle)
    linux["netDevices"] = {"pyrt-none0": {}}
    err = create_error(runtime, bundle)
    assert '$.linux.netDevices["pyrt-none0"]' in err and "no network device" in err, err
    # a name taken in the container: refused before the device moves
    linux["netDevices"] = {a: {"name": "lo"}}
    err = create_error(runtime, bundle)
    assert "exists already" in err and ".name" in err, err
    assert link_exists(a)
    linux["netDevices"] = {a: {"name": "bad/name"}}
    assert f"$.linux.netDevices.{a}.name" in create_error(runtime, bundle)
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    linux["netDevices"] = {a: {}}
    err = create_error(runtime, bundle)
    assert "$.linux.netDevices:" in err and "network namespace" in err, err
    assert link_exists(a)


# -- idmapped mounts ------------------------------------------------------------------

MAPS = [{"containerID": 1000, "hostID": 3000, "size": 10}]


def idmap_mount(source, options, maps=MAPS) -> dict:
    return {"destination": "/data", "type": "bind", "source": str(source),
            "options": options, "uidMappings": maps, "gidMappings": maps}


@pytest.fixture
def owned_tree(tmp_path):
    """/src with files owned by 1000:1000 and 0:0, and a tmpfs submount with a
    file owned by 1000:1000."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "mine").write_text("x")
    os.chown(src / "mine", 1000, 1000)
    (src / "roots").write_text("x")
    subprocess.run(["mount", "-t", "tmpfs", "sub", str(src / "sub")], check=True)
    (src / "sub" / "deep").write_text("x")
    os.chown(src / "sub" / "deep", 1000, 1000)
    yield src
    subprocess.run(["umount", str(src / "sub")], check=True)


def owners(runtime, bundle, *paths) -> list[str]:
    out = runtime.run_output(bundle, "stat", "-c", "%u:%g", *paths)
    return out.split()


def test_idmap_mount(runtime, bundle, owned_tree):
    """A file owned by 1000 in the source shows as 3000 through the mapping
    containerID 1000 -> hostID 3000; an unmapped owner shows as nobody."""
    bundle.config["mounts"].append(idmap_mount(owned_tree, ["bind", "idmap"]))
    assert owners(runtime, bundle, "/data/mine", "/data/roots") == ["3000:3000",
                                                                    "65534:65534"]
    with open(owned_tree / "mine") as f:  # the source is unchanged
        assert os.fstat(f.fileno()).st_uid == 1000


def test_ridmap_reaches_submounts(runtime, bundle, owned_tree):
    bundle.config["mounts"].append(idmap_mount(owned_tree, ["rbind", "ridmap", "ro"]))
    assert owners(runtime, bundle, "/data/mine", "/data/sub/deep") == ["3000:3000",
                                                                       "3000:3000"]
    out = runtime.run_output(bundle, "cat", "/proc/self/mountinfo")
    data = [line for line in out.splitlines() if line.split()[4] == "/data"]
    assert data and "idmapped" in data[0].split()[5] and "ro" in data[0].split()[5]


def test_idmap_is_not_recursive(runtime, bundle, owned_tree):
    bundle.config["mounts"].append(idmap_mount(owned_tree, ["rbind", "idmap"]))
    assert owners(runtime, bundle, "/data/mine", "/data/sub/deep") == ["3000:3000",
                                                                       "1000:1000"]


def test_idmap_mount_in_a_user_namespace(runtime, bundle, owned_tree):
    """The mount's mappings are host ids: with the container's own mapping on
    the mount, files show in the container as they are on disk."""
    for path in (bundle.path, owned_tree):  # pytest's 0700 directories
        for d in [path, *path.parents]:
            if str(d) in ("/", "/tmp"):
                break
            os.chmod(d, os.stat(d).st_mode | 0o055)
    (bundle.rootfs / "data").mkdir()  # the container's root cannot make it: not mapped
    userns = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = linux["gidMappings"] = userns
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["type"] not in ("sysfs", "cgroup")]
    bundle.config["mounts"].append(idmap_mount(owned_tree, ["rbind", "idmap"], userns))
    assert owners(runtime, bundle, "/data/mine", "/data/roots") == ["1000:1000", "0:0"]


@pytest.mark.parametrize("change, where", [
    (lambda m: (m.pop("uidMappings"), m.pop("gidMappings")), "uidMappings"),
    (lambda m: m["options"].remove("idmap"), "options"),
    (lambda m: m.update(type="tmpfs", source="tmpfs", options=["idmap"]), "options"),
    (lambda m: m.update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 0}]),
     "uidMappings[0].size"),
])
def test_bad_idmap_mounts(runtime, bundle, tmp_path, change, where):
    m = idmap_mount(tmp_path, ["bind", "idmap"])
    change(m)
    bundle.config["mounts"].append(m)
    i = len(bundle.config["mounts"]) - 1
    err = create_error(runtime, bundle)
    assert f"$.mounts[{i}].{where}:" in err, err


# -- linux.sysctl ---------------------------------------------------------------------

def test_sysctl_set_inside_only(runtime, bundle):
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host = f.read().strip()
    inside = "0" if host == "1" else "1"
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": inside}
    out = runtime.run_output(bundle, "cat", "/proc/sys/net/ipv4/ip_forward")
    assert out.strip() == inside
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == host


@pytest.mark.parametrize("key, drop, why", [
    ("kernel.pid_max", None, "not namespaced"),
    ("vm.swappiness", None, "not namespaced"),
    ("net.ipv4.ip_forward", "network", "needs a network namespace"),
    ("kernel.hostname", "uts", "needs a uts namespace"),
    ("kernel.shmmax", "ipc", "needs a ipc namespace"),
])
def test_sysctl_refused(runtime, bundle, key, drop, why):
    linux = bundle.config["linux"]
    linux["sysctl"] = {key: "1"}
    bundle.config.pop("hostname", None)
    bundle.config.pop("domainname", None)
    if drop:
        linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != drop]
    err = create_error(runtime, bundle)
    assert f'$.linux.sysctl["{key}"]' in err and why in err, err


def test_sysctl_in_the_hosts_namespace_is_refused(runtime, bundle):
    for ns in bundle.config["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = f"/proc/{os.getpid()}/ns/net"  # this test's: the host's
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    err = create_error(runtime, bundle)
    assert "needs a network namespace of its own" in err, err


# -- AppArmor and SELinux -------------------------------------------------------------

def test_apparmor_and_selinux_fields_refused_without_them(runtime, bundle):
    """No AppArmor or SELinux on this host: the profile and the labels are
    errors naming the field, never ignored (issue 20; more in test_lsm.py).
    features tells the runtime's support, not the host's (features-linux.md)."""
    if os.path.exists("/sys/kernel/security/apparmor") or os.path.exists("/sys/fs/selinux"):
        pytest.skip("AppArmor or SELinux is enabled here")
    for top, key, value in (("process", "apparmorProfile", "pyrunc-test-profile"),
                            ("process", "selinuxLabel", "system_u:system_r:container_t:s0"),
                            ("linux", "mountLabel", "system_u:object_r:container_file_t:s0")):
        bundle.config[top][key] = value
        bundle.set_args(*SLEEPER)
        p = runtime("run", "-d", "-b", str(bundle), "ct-lf")
        assert p.returncode == 1 and f"$.{top}.{key}: " in p.err, p.err
        del bundle.config[top][key]
    doc = json.loads(runtime("features", check=True).out)["linux"]
    assert doc["apparmor"] == {"enabled": True} and doc["selinux"] == {"enabled": True}


def test_features_of_these_fields(runtime):
    doc = json.loads(runtime("features", check=True).out)
    assert doc["linux"]["mountExtensions"] == {"idmap": {"enabled": True}}
    assert doc["linux"]["netDevices"] == {"enabled": True}
    assert "MPOL_WEIGHTED_INTERLEAVE" in doc["linux"]["memoryPolicy"]["modes"]
    assert "MPOL_F_STATIC_NODES" in doc["linux"]["memoryPolicy"]["flags"]
    assert {"idmap", "ridmap", "rro"} <= set(doc["mountOptions"])
