"""`pyrunc debug`: host tools inside a container that has none."""

import hashlib
import json
import os
import shutil


def tree_hash(root) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(filenames + dirnames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            h.update(f"{path} {st.st_mode} {st.st_uid} {st.st_size}".encode())
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


def shell_less(bundle):
    """Replace the rootfs with one static program (busybox as /sleep) and a file."""
    shutil.rmtree(bundle.rootfs)
    (bundle.rootfs / "etc").mkdir(parents=True)
    (bundle.rootfs / "etc" / "marker").write_text("container file\n")
    shutil.copy("/bin/busybox", bundle.rootfs / "sleep")
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["destination"] in ("/proc", "/dev", "/sys")]
    bundle.config["linux"]["maskedPaths"] = []
    bundle.config["linux"]["readonlyPaths"] = []
    bundle.set_args("/sleep", "1000")


def test_debug_with_host_tools_in_a_shell_less_container(runtime, bundle):
    shell_less(bundle)
    runtime("run", "-d", "-b", str(bundle), "ct-dbg", check=True)
    before = tree_hash(bundle.rootfs)
    p = runtime("debug", "ct-dbg", "--", "sh", "-c",
                "ps -eo pid,args; echo ==; cat /proc/net/dev; echo ==; "
                "cat /container/etc/marker; echo ==; readlink /proc/self/ns/net; "
                "touch /container/new 2>&1; echo $?")
    assert p.returncode == 0, p.err
    procs, netdev, marker, rest = p.out.split("==\n")
    assert "1 /sleep 1000" in procs.replace("  ", " ")
    assert [line.split(":")[0].strip() for line in netdev.splitlines()[2:]] == ["lo"]
    assert marker == "container file\n"
    init = runtime.state("ct-dbg")["pid"]
    assert rest.splitlines()[0] == os.readlink(f"/proc/{init}/ns/net")
    assert "Read-only file system" in rest and rest.strip().endswith("1")
    assert tree_hash(bundle.rootfs) == before


def test_debug_exit_status_and_default_command(runtime, bundle):
    shell_less(bundle)
    runtime("run", "-d", "-b", str(bundle), "ct-dbg2", check=True)
    assert runtime("debug", "ct-dbg2", "sh", "-c", "exit 7").returncode == 7
    p = runtime("debug", "ct-dbg2", input=b"echo from-default-shell\n")
    assert p.returncode == 0 and "from-default-shell" in p.out


def test_debug_with_a_tools_rootfs(runtime, bundle, rootfs_template):
    shell_less(bundle)
    runtime("run", "-d", "-b", str(bundle), "ct-dbg3", check=True)
    p = runtime("debug", "--tools", str(rootfs_template), "ct-dbg3", "--", "sh", "-c",
                "readlink /bin/sh; ls /container; ps")
    assert p.returncode == 0, p.err
    lines = p.out.splitlines()
    assert lines[0] == "busybox"  # the tools root's shell, not the host's
    assert "sleep" in lines and "etc" in lines
    assert any("/sleep 1000" in line for line in lines)


def test_debug_rw(runtime, bundle):
    """--rw: /container is as writable as the container's own root is."""
    shell_less(bundle)
    bundle.config["root"]["readonly"] = False
    bundle.write()
    runtime("run", "-d", "-b", str(bundle), "ct-dbg4", check=True)
    runtime("debug", "--rw", "ct-dbg4", "sh", "-c", "echo hi > /container/written",
            check=True)
    assert (bundle.rootfs / "written").read_text() == "hi\n"


def test_debug_refuses_stopped_and_unknown(runtime, bundle):
    bundle.set_args("true")
    runtime("run", "-d", "-b", str(bundle), "ct-dbg5", check=True)
    runtime.wait_stopped("ct-dbg5")
    p = runtime("debug", "ct-dbg5", "true")
    assert p.returncode == 1 and "not running" in p.err
    p = runtime("debug", "ct-nope", "true")
    assert p.returncode == 1 and "does not exist" in p.err
    assert json.loads(runtime("list", "--format", "json").out)[0]["id"] == "ct-dbg5"
