"""The root filesystem and mounts, checked in /proc/self/mountinfo inside."""

import os


def mountinfo(out: str) -> dict[str, tuple[set[str], str, set[str]]]:
    """mount point -> (mount options, fs type, super options)."""
    result = {}
    for line in out.splitlines():
        left, sep, right = line.partition(" - ")
        f = left.split()
        if not sep or len(f) < 6:
            continue
        r = right.split()
        result[f[4]] = (set(f[5].split(",")), r[0], set(r[2].split(",")))
    return result


def test_default_mounts_and_readonly_root(runtime, bundle):
    mi = mountinfo(runtime.run_output(bundle, "cat", "/proc/self/mountinfo"))
    assert "ro" in mi["/"][0]
    assert mi["/proc"][1] == "proc"
    assert mi["/dev"][1] == "tmpfs" and "nosuid" in mi["/dev"][0]
    assert mi["/dev/pts"][1] == "devpts" and "noexec" in mi["/dev/pts"][0]
    assert mi["/dev/shm"][1] == "tmpfs" and {"nosuid", "noexec", "nodev"} <= mi["/dev/shm"][0]
    assert mi["/dev/mqueue"][1] == "mqueue"
    assert mi["/sys"][1] == "sysfs" and "ro" in mi["/sys"][0]
    assert "ro" in mi["/sys/fs/cgroup"][0]


def test_readonly_root_refuses_writes(runtime, bundle):
    bundle.set_args("sh", "-c", "touch /x 2>&1; echo $?")
    p = runtime("run", "-b", str(bundle), "ct-ro")
    assert "Read-only file system" in p.out and p.out.strip().endswith("1")
    bundle.config["root"]["readonly"] = False
    out = runtime.run_output(bundle, "sh", "-c", "touch /x && echo ok")
    assert out == "ok\n" and (bundle.rootfs / "x").exists()


def test_tmpfs_options_and_data(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/scratch", "type": "tmpfs",
                                    "source": "tmpfs",
                                    "options": ["nosuid", "nodev", "noexec", "size=1m",
                                                "mode=700"]})
    out = runtime.run_output(bundle, "sh", "-c", "cat /proc/self/mountinfo; stat -c %a /scratch")
    mi = mountinfo(out)
    opts, fstype, sopts = mi["/scratch"]
    assert fstype == "tmpfs"
    assert {"nosuid", "nodev", "noexec"} <= opts
    assert "size=1024k" in sopts and "mode=700" in sopts
    assert out.splitlines()[-1] == "700"
    assert not (bundle.rootfs / "scratch").exists() or not os.listdir(bundle.rootfs / "scratch")


def test_bind_mounts(runtime, bundle, tmp_path):
    src = tmp_path / "shared"
    src.mkdir()
    (src / "hello.txt").write_text("from the host\n")
    hostfile = tmp_path / "single.txt"
    hostfile.write_text("one file\n")
    bundle.config["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(src), "options": ["rbind", "ro"]},
        {"destination": "/rw", "type": "none", "source": str(src), "options": ["bind", "rw"]},
        {"destination": "/etc/single.txt", "source": str(hostfile), "options": ["bind", "ro"]},
    ]
    out = runtime.run_output(bundle, "sh", "-c",
                             "cat /data/hello.txt /etc/single.txt; touch /data/x 2>&1; "
                             "echo written > /rw/new.txt; cat /proc/self/mountinfo")
    assert out.startswith("from the host\none file\n")
    assert "Read-only file system" in out
    assert (src / "new.txt").read_text() == "written\n"
    mi = mountinfo(out)
    assert "ro" in mi["/data"][0] and "rw" in mi["/rw"][0] and "ro" in mi["/etc/single.txt"][0]


def test_bind_relative_source_is_from_bundle(runtime, bundle):
    (bundle.path / "stuff").mkdir()
    (bundle.path / "stuff" / "f").write_text("rel\n")
    bundle.config["mounts"].append({"destination": "/stuff", "source": "stuff",
                                    "options": ["bind"]})
    assert runtime.run_output(bundle, "cat", "/stuff/f") == "rel\n"


def test_relative_destination_is_from_root(runtime, bundle):
    bundle.config["mounts"].append({"destination": "reltmp", "type": "tmpfs",
                                    "source": "tmpfs"})
    mi = mountinfo(runtime.run_output(bundle, "cat", "/proc/self/mountinfo"))
    assert mi["/reltmp"][1] == "tmpfs"


def test_mount_propagation_flags(runtime, bundle, tmp_path):
    src = tmp_path / "p"
    src.mkdir()
    bundle.config["mounts"] += [
        {"destination": "/shared", "source": str(src), "options": ["rbind", "rshared"]},
        {"destination": "/private", "source": str(src), "options": ["rbind", "rprivate"]},
    ]
    out = runtime.run_output(bundle, "cat", "/proc/self/mountinfo")
    lines = {line.split()[4]: line for line in out.splitlines()}
    assert "shared:" in lines["/shared"].split(" - ")[0]
    assert "shared:" not in lines["/private"].split(" - ")[0]
    assert "master:" not in lines["/private"].split(" - ")[0]


def test_mount_order(runtime, bundle):
    bundle.config["mounts"] += [
        {"destination": "/stack", "type": "tmpfs", "source": "a", "options": ["size=1m"]},
        {"destination": "/stack/inner", "type": "tmpfs", "source": "b", "options": ["size=2m"]},
    ]
    out = runtime.run_output(bundle, "cat", "/proc/self/mountinfo")
    order = [line.split()[4] for line in out.splitlines()]
    assert order.index("/stack") < order.index("/stack/inner")


def test_default_devices(runtime, bundle):
    out = runtime.run_output(bundle, "sh", "-c",
                             "for d in null zero full random urandom tty; do "
                             "stat -c '%n %F %t:%T %a' /dev/$d; done; "
                             "for l in fd stdin ptmx; do readlink /dev/$l; done; "
                             "echo x > /dev/null && "
                             "head -c 4 /dev/zero | od -An -tx1")
    lines = out.splitlines()
    want = {"null": "1:3", "zero": "1:5", "full": "1:7", "random": "1:8", "urandom": "1:9",
            "tty": "5:0"}
    for line in lines[:6]:
        name, rest = line.split(" ", 1)
        assert rest == f"character special file {want[name[5:]]} 666", line
    assert lines[6:9] == ["/proc/self/fd", "/proc/self/fd/0", "pts/ptmx"]
    assert lines[9].split() == ["00", "00", "00", "00"]


def test_config_devices(runtime, bundle):
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o620,
         "uid": 7, "gid": 8},
        {"path": "/dev/sub/fifo", "type": "p", "fileMode": 0o600}]
    out = runtime.run_output(bundle, "sh", "-c",
                             "stat -c '%F %t:%T %a %u %g' /dev/mynull /dev/sub/fifo")
    first, second = out.splitlines()
    assert first == "character special file 1:3 620 7 8"
    assert second.startswith("fifo") and " 600 0 0" in second


def test_masked_and_readonly_paths(runtime, bundle):
    out = runtime.run_output(bundle, "sh", "-c",
                             "cat /proc/kcore | wc -c; ls /proc/acpi | wc -l; "
                             "(echo 1 > /proc/sys/kernel/domainname) 2>&1; echo rc=$?")
    lines = out.splitlines()
    assert lines[0].strip() == "0"
    assert lines[1].strip() == "0"
    assert "Read-only file system" in out and lines[-1] == "rc=1"


def test_no_pivot(runtime, bundle):
    bundle.set_args("sh", "-c", "cat /proc/self/mountinfo | head -1; ls /")
    p = runtime("run", "--no-pivot", "-b", str(bundle), "ct-np")
    assert p.returncode == 0, p.err
    assert "bin" in p.out.split()
    assert "/tmp" not in p.out.splitlines()[0].split()[4]


def test_rootfs_propagation(runtime, bundle):
    bundle.config["linux"]["rootfsPropagation"] = "rshared"
    out = runtime.run_output(bundle, "cat", "/proc/self/mountinfo")
    root = next(line for line in out.splitlines() if line.split()[4] == "/")
    assert "shared:" in root


def test_host_mounts_unchanged(runtime, bundle):
    with open("/proc/self/mountinfo") as f:
        before = f.read()
    bundle.config["mounts"].append({"destination": "/t", "type": "tmpfs", "source": "t"})
    runtime.run_output(bundle, "true")
    with open("/proc/self/mountinfo") as f:
        assert f.read() == before
