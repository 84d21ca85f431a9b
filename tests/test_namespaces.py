"""Namespaces, checked from inside real containers."""

import os

import pytest

ALL = ("pid", "network", "ipc", "uts", "mount", "cgroup", "time", "user")
NS_FILE = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
           "cgroup": "cgroup", "time": "time", "user": "user"}
SLEEPER = ("sh", "-c", "while :; do sleep 1; done")


def inside_ns(runtime, bundle, cid="ct-ns") -> dict[str, str]:
    script = "; ".join(f"echo {f} $(readlink /proc/self/ns/{f})" for f in NS_FILE.values())
    out = runtime.run_output(bundle, "sh", "-c", script, cid=cid)
    return dict(line.split(" ", 1) for line in out.splitlines())


def host_ns(name: str) -> str:
    return os.readlink(f"/proc/self/ns/{name}")


@pytest.mark.parametrize("kind", ["pid", "network", "ipc", "uts", "cgroup", "time"])
def test_new_namespace(runtime, bundle, kind):
    ns = [n for n in bundle.config["linux"]["namespaces"] if n["type"] != kind]
    bundle.config["linux"]["namespaces"] = ns + [{"type": kind}]
    seen = inside_ns(runtime, bundle)
    assert seen[NS_FILE[kind]] != host_ns(NS_FILE[kind])
    assert seen["mnt"] != host_ns("mnt")


@pytest.mark.parametrize("kind", ["network", "ipc", "uts", "cgroup", "time"])
def test_inherited_namespace(runtime, bundle, kind):
    bundle.config["linux"]["namespaces"] = [
        n for n in bundle.config["linux"]["namespaces"] if n["type"] != kind]
    if kind == "uts":
        bundle.config.pop("hostname", None)
    seen = inside_ns(runtime, bundle)
    assert seen[NS_FILE[kind]] == host_ns(NS_FILE[kind])


def test_pid_one(runtime, bundle):
    assert runtime.run_output(bundle, "sh", "-c", "echo $$") == "1\n"


@pytest.mark.parametrize("kind", ["network", "ipc", "uts", "pid"])
def test_join_namespace_by_path(runtime, bundle, kind):
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-owner", check=True)
    owner = runtime.state("ct-owner")["pid"]
    target = os.readlink(f"/proc/{owner}/ns/{NS_FILE[kind]}")
    ns = [n for n in bundle.config["linux"]["namespaces"] if n["type"] != kind]
    ns.append({"type": kind, "path": f"/proc/{owner}/ns/{NS_FILE[kind]}"})
    bundle.config["linux"]["namespaces"] = ns
    if kind == "uts":
        bundle.config.pop("hostname", None)
    seen = inside_ns(runtime, bundle, cid="ct-joiner")
    assert seen[NS_FILE[kind]] == target


def open_path(path) -> None:
    """Let a user namespace's root (an unprivileged host uid) reach the bundle:
    pytest makes its temp directories 0700."""
    for p in [path, *path.parents]:
        if str(p) in ("/", "/tmp"):
            break
        os.chmod(p, os.stat(p).st_mode | 0o055)


def test_user_namespace_mappings(runtime, bundle):
    open_path(bundle.path)
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 1000}]
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
    out = runtime.run_output(bundle, "sh", "-c",
                             "cat /proc/self/uid_map /proc/self/gid_map; id -u; "
                             "readlink /proc/self/ns/user")
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["0", "100000", "65536"]
    assert lines[1] == ["0", "200000", "1000"]
    assert lines[2] == ["0"]
    assert lines[3][0] != host_ns("user")


def test_user_namespace_process_runs_as_mapped_host_uid(runtime, bundle):
    open_path(bundle.path)
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1000}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1000}]
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-uns", check=True)
    pid = runtime.state("ct-uns")["pid"]
    with open(f"/proc/{pid}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
    assert uids == ["100000"] * 4


def test_time_namespace_offsets(runtime, bundle):
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"monotonic": {"secs": 86400 * 365, "nanosecs": 0}}
    out = runtime.run_output(bundle, "cat", "/proc/uptime")
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0])
    # /proc/uptime follows the boottime clock, which is not offset: check monotonic
    del out, host_uptime
    out = runtime.run_output(bundle, "cat", "/proc/self/timens_offsets")
    offsets = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert offsets["monotonic"] == [str(86400 * 365), "0"]


def test_hostname_and_domainname(runtime, bundle):
    bundle.config["hostname"] = "box-one"
    bundle.config["domainname"] = "example.org"
    out = runtime.run_output(bundle, "sh", "-c", "hostname; cat /proc/sys/kernel/domainname")
    assert out.split() == ["box-one", "example.org"]
