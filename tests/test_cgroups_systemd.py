"""The systemd cgroup driver: its tests (tests/vm_systemd) run in a VM with
systemd as PID 1 (RUN_IN_VM_INIT=systemd), once on pure cgroup v2 and once
on a v1 hybrid. On this host,
without systemd, --systemd-cgroup fails cleanly."""

import os

import pytest
from vmtier import run_tier

from pyrunc.cgroups import systemd
from pyrunc.errors import PyruncError


@pytest.mark.skipif(os.environ.get("RUN_IN_VM") == "1", reason="already inside the VM")
@pytest.mark.parametrize("cgroup", ["v2", "hybrid"])
def test_systemd_driver_in_vm(cgroup):
    """One VM boot per layout: pure v2, and a v1 hybrid like this host's."""
    run_tier("vm_systemd", cgroup=cgroup, init="systemd")


# -- on this host: the D-Bus wire protocol against a real dbus-daemon ---------------

@pytest.fixture
def bus(tmp_path):
    """A private dbus-daemon (a session bus on a socket in tmp_path)."""
    import shutil
    import subprocess

    if not shutil.which("dbus-daemon"):
        pytest.skip("dbus-daemon is not installed")
    path = str(tmp_path / "bus.sock")
    p = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1",
                          f"--address=unix:path={path}"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    try:
        assert p.stdout.readline().startswith(b"unix:path=")
        yield path
    finally:
        p.kill()
        p.wait()


def test_dbus_calls_errors_and_signals(bus):
    from pyrunc.cgroups import dbus

    c = dbus.Connection(bus)
    other = dbus.Connection(bus)
    try:
        assert c.unique_name.startswith(":1.")
        names = c.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                       "org.freedesktop.DBus", "ListNames")[0]
        assert c.unique_name in names and other.unique_name in names
        pid = c.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                     "GetConnectionUnixProcessID", "s", other.unique_name)
        assert pid == [os.getpid()]
        with pytest.raises(dbus.DBusError) as e:
            c.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                   "NoSuchMethod")
        assert e.value.name == "org.freedesktop.DBus.Error.UnknownMethod"
        # a signal with the shapes systemd uses, matched and decoded
        c.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
               "AddMatch", "s", "type='signal',interface='org.example.T'")
        body = (7, "/job/7", "u.scope", "done",
                [("PIDs", ("au", [1, 2])), ("S", ("(sb)", ("z", True))),
                 ("Mask", ("ay", b"\x05")), ("Max", ("t", systemd.INFINITY))])
        other.serial += 1
        other.sock.sendall(dbus.encode(dbus.SIGNAL, other.serial,
                                       {"path": "/x", "interface": "org.example.T",
                                        "member": "JobRemoved"}, "uossa(sv)", body))
        msg = c.wait_signal(lambda m: m.fields.get("member") == "JobRemoved")
        assert tuple(msg.body[:4]) == body[:4]
        assert msg.body[4] == [("PIDs", ("au", [1, 2])), ("S", ("(sb)", ("z", True))),
                               ("Mask", ("ay", b"\x05")), ("Max", ("t", systemd.INFINITY))]
    finally:
        c.close()
        other.close()


def test_dbus_no_bus_is_a_clear_error(tmp_path):
    from pyrunc.cgroups import dbus

    with pytest.raises(dbus.DBusError, match="cannot connect to .*nobus"):
        dbus.Connection(str(tmp_path / "nobus"))


# -- cgroupsPath and unit properties --------------------------------------------------

@pytest.mark.parametrize("path,want", [
    (None, ("system.slice", "pyrunc-ID.scope")),
    ("machine.slice:libpod:abc", ("machine.slice", "libpod-abc.scope")),
    (":crio:abc", ("system.slice", "crio-abc.scope")),
    ("a-b.slice::abc", ("a-b.slice", "abc.scope")),
    ("system.slice:x:kubepods-pod1.slice", ("system.slice", "kubepods-pod1.slice")),
])
def test_parse_path(path, want):
    assert systemd.parse_path(path, "ID") == want


@pytest.mark.parametrize("path", ["/abs/path", "rel", "a:b", "a:b:c:d", "nosuffix:p:n",
                                  "a--b.slice:p:n", "-a.slice:p:n", "system.slice:p:",
                                  "system.slice:p:a/b"])
def test_parse_path_refuses(path):
    with pytest.raises(PyruncError, match=r"\$\.linux\.cgroupsPath"):
        systemd.parse_path(path, "ID")


def test_expand_slice():
    assert systemd.expand_slice("-.slice") == "/"
    assert systemd.expand_slice("system.slice") == "/system.slice"
    assert systemd.expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"


def test_properties_as_runc():
    res = {"memory": {"limit": 8 << 20, "reservation": 4 << 20, "swap": 16 << 20},
           "cpu": {"shares": 1024, "quota": 33333, "period": 100000, "cpus": "0-2,9",
                   "mems": "0"}}
    v2 = dict(systemd.properties(res, True))
    assert v2["MemoryMax"] == ("t", 8 << 20)
    assert v2["MemoryLow"] == ("t", 4 << 20)
    assert v2["MemorySwapMax"] == ("t", 8 << 20)
    assert v2["CPUWeight"] == ("t", 39)
    assert v2["CPUQuotaPerSecUSec"] == ("t", 340000)  # 333330 rounded up to whole percents
    assert v2["CPUQuotaPeriodUSec"] == ("t", 100000)
    assert v2["AllowedCPUs"] == ("ay", b"\x07\x02")
    assert v2["AllowedMemoryNodes"] == ("ay", b"\x01")
    v1 = dict(systemd.properties(res, False))
    assert v1["MemoryLimit"] == ("t", 8 << 20) and v1["CPUShares"] == ("t", 1024)
    assert "AllowedCPUs" not in v1 and "MemoryMax" not in v1
    unlimited = dict(systemd.properties({"memory": {"limit": -1}, "cpu": {"quota": -1}}, True))
    assert unlimited["MemoryMax"] == unlimited["CPUQuotaPerSecUSec"] == ("t", systemd.INFINITY)
    assert systemd.tasks_max({"pids": {"limit": 4}}) == [("TasksMax", ("t", 4))]
    assert systemd.tasks_max({"pids": {"limit": 0}}) == []  # only in pids.max


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"), reason="systemd runs here")
def test_no_systemd_here_clear_error(runtime, bundle):
    """Without systemd, --systemd-cgroup fails with one line and leaves nothing."""
    p = runtime("--systemd-cgroup", "run", "-b", str(bundle), "ct-nosd")
    assert p.returncode == 1
    assert p.err.strip().count("\n") == 0 and "systemd is not running" in p.err, p.err
    assert not os.path.exists(os.path.join(runtime.root, "ct-nosd"))
