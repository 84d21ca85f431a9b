"""checkpoint and restore with CRIU, inside the VM (a kernel CRIU supports).
Everything is ~20x slower here: few containers, each checked for several
things. A detached container's stdio is /dev/null: CRIU cannot dump a file
of a mount outside the container (the tests' output files)."""

import json
import os
import subprocess
import time

import pytest
from consoles import ConsoleSocket, read_until

pytestmark = pytest.mark.skipif(os.environ.get("RUN_IN_VM") != "1",
                                reason="runs only inside the VM (RUN_IN_VM=1)")
COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /dev/shm/n; sleep 0.2; done"


def run_detached(runtime, bundle, cid: str, *extra: str) -> int:
    p = subprocess.run([*runtime.cmd, "--root", runtime.root, "run", "-d", "-b", str(bundle),
                        *extra, cid], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
    runtime.ids.add(cid)
    assert p.returncode == 0, f"run -d {cid} failed"
    return runtime.state(cid)["pid"]


def counter(runtime, cid: str) -> int:
    """The counter's value, read through exec (waits for the first one)."""
    deadline = time.monotonic() + 60
    while True:
        p = runtime("exec", cid, "cat", "/dev/shm/n", timeout=120)
        if p.returncode == 0 and p.out.strip():
            return int(p.out)
        assert time.monotonic() < deadline, p.err
        time.sleep(0.5)


def ok(runtime, *args: str, **kw):
    p = runtime(*args, timeout=300, **kw)
    assert p.returncode == 0, f"pyrunc {' '.join(args)}: {p.err}"
    return p


def cgroup_of(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return "/sys/fs/cgroup" + f.read().strip().split("::", 1)[1]


def test_counter_resumes_under_new_id(runtime, bundle, tmp_path):
    """The default image path (./checkpoint), what is written next to the
    images, the original gone; the restore: a new id, its cgroup made and
    limited before, the hooks at setup-namespaces with the restored pid, the
    counter (in the container's tmpfs) going on from where it was."""
    log = tmp_path / "hooks.log"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$1 $(cat)" >> {log}\n')
    hook.chmod(0o755)
    bundle.config["hooks"] = {k: [{"path": str(hook), "args": ["hook", k]}]
                              for k in ("prestart", "createRuntime")}
    bundle.config["linux"]["resources"] = {"pids": {"limit": 20}}
    bundle.set_args("sh", "-c", COUNTER)
    run_detached(runtime, bundle, "ct-a")
    before = counter(runtime, "ct-a")
    log.write_text("")
    ok(runtime, "checkpoint", "ct-a", cwd=tmp_path)
    images = tmp_path / "checkpoint"
    assert (images / "inventory.img").exists()
    assert json.loads((images / "descriptors.json").read_text()) == ["/dev/null"] * 3
    assert json.loads((images / "config.json").read_text())["process"]["args"][-1] == COUNTER
    assert runtime("state", "ct-a").returncode != 0  # gone, as with runc
    assert not os.path.exists("/sys/fs/cgroup/ct-a")

    ok(runtime, "restore", "-d", "-b", str(bundle), "--image-path", str(images), "ct-b")
    st = runtime.state("ct-b")
    assert st["status"] == "running"
    pid = st["pid"]
    assert cgroup_of(pid) == "/sys/fs/cgroup/ct-b"
    with open("/sys/fs/cgroup/ct-b/pids.max") as f:
        assert f.read().strip() == "20"
    hooks = log.read_text().splitlines()
    assert [h.split()[0] for h in hooks] == ["prestart", "createRuntime"]
    assert all(json.loads(h.split(" ", 1)[1])["pid"] == pid for h in hooks)
    first = counter(runtime, "ct-b")
    assert first >= before  # a fresh start would count from 1
    time.sleep(1)
    assert counter(runtime, "ct-b") > first
    ok(runtime, "delete", "-f", "ct-b")
    assert not os.path.exists("/sys/fs/cgroup/ct-b")


def test_leave_running_then_restore_after_delete(runtime, bundle, tmp_path):
    """--leave-running keeps the container; after its delete, the same id is
    restored from the images. The CRIU configuration file that the
    annotation org.criu.config names is used (it renames the log)."""
    conf = tmp_path / "criu.conf"
    conf.write_text("log-file=custom.log\n")
    bundle.config["annotations"] = {"org.criu.config": str(conf)}
    bundle.set_args("sh", "-c", COUNTER)
    pid = run_detached(runtime, bundle, "ct-lr")
    before = counter(runtime, "ct-lr")
    ok(runtime, "checkpoint", "--leave-running", "--image-path", str(tmp_path / "img"),
       "--work-path", str(tmp_path / "work"), "ct-lr")
    assert (tmp_path / "work" / "custom.log").exists()
    assert not (tmp_path / "work" / "dump.log").exists()
    st = runtime.state("ct-lr")
    assert st["status"] == "running" and st["pid"] == pid
    assert counter(runtime, "ct-lr") >= before
    ok(runtime, "delete", "-f", "ct-lr")
    ok(runtime, "restore", "-d", "-b", str(bundle), "--image-path", str(tmp_path / "img"),
       "ct-lr")
    assert runtime.state("ct-lr")["status"] == "running"
    assert counter(runtime, "ct-lr") >= before


def test_pre_dump_then_dump_with_parent(runtime, bundle, tmp_path):
    """--pre-dump leaves the container running and writes a parent image;
    the final dump with --parent-path refers to it; the restore resumes."""
    bundle.set_args("sh", "-c", COUNTER)
    run_detached(runtime, bundle, "ct-pre")
    ok(runtime, "checkpoint", "--pre-dump", "--image-path", str(tmp_path / "parent"), "ct-pre")
    assert runtime.state("ct-pre")["status"] == "running"
    assert list((tmp_path / "parent").glob("pages-*.img"))
    before = counter(runtime, "ct-pre")
    bad = runtime("checkpoint", "--image-path", str(tmp_path / "final"), "--parent-path",
                  str(tmp_path / "parent"), "ct-pre")
    assert bad.returncode == 1 and "--parent-path must be relative" in bad.err
    ok(runtime, "checkpoint", "--image-path", str(tmp_path / "final"), "--parent-path",
       "../parent", "ct-pre")
    assert os.readlink(tmp_path / "final" / "parent") == "../parent"
    ok(runtime, "restore", "-d", "-b", str(bundle), "--image-path", str(tmp_path / "final"),
       "ct-pre2")
    assert counter(runtime, "ct-pre2") >= before


def test_terminal_through_console_socket(runtime, bundle, tmp_path):
    """A container with a terminal: the restored pty's master goes to
    restore's --console-socket, and the shell answers on it."""
    bundle.config["process"]["terminal"] = True
    bundle.set_args("sh")
    cs = ConsoleSocket(str(tmp_path / "c1.sock"))
    try:
        run_detached(runtime, bundle, "ct-tty", "--console-socket", cs.path)
        master = cs.wait_master()
        os.write(master, b"x=41; echo before-$((x+1))\n")
        read_until(master, b"before-42", timeout=60)
        ok(runtime, "checkpoint", "--image-path", str(tmp_path / "img"), "ct-tty")
    finally:
        cs.close()
    cs2 = ConsoleSocket(str(tmp_path / "c2.sock"))
    try:
        ok(runtime, "restore", "-d", "-b", str(bundle), "--image-path", str(tmp_path / "img"),
           "--console-socket", cs2.path, "ct-tty2")
        master = cs2.wait_master(timeout=60)
        assert cs2.name == b"/dev/ptmx"
        os.write(master, b"echo after-$((x+2))\n")  # the shell's variable survived
        read_until(master, b"after-43", timeout=60)
    finally:
        cs2.close()


def test_external_netns_and_tcp_established(runtime, bundle, tmp_path):
    """A network namespace joined by path is external to CRIU: the restored
    container is in the same one; a listener and an established connection
    in it survive with --tcp-established."""
    subprocess.run(["ip", "netns", "add", "ckptns"], check=True)
    try:
        subprocess.run(["ip", "-n", "ckptns", "link", "set", "lo", "up"], check=True)
        ino = os.stat("/run/netns/ckptns").st_ino
        for ns in bundle.config["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = "/run/netns/ckptns"
        # a server that writes what it gets into /dev/shm/got, a client
        # connected to it whose input is a fifo the shell holds open, and a
        # listener nobody has connected to yet
        bundle.set_args("sh", "-c", "mkfifo /dev/shm/in; "
                        "(sleep 100000 | nc -l -p 7000 > /dev/shm/got &); "
                        "(sleep 100000 | nc -l -p 7001 > /dev/shm/got2 &); sleep 1; "
                        "(nc 127.0.0.1 7000 < /dev/shm/in &); exec 3>/dev/shm/in; "
                        "echo 1 > /dev/shm/n; while :; do sleep 1; done")
        run_detached(runtime, bundle, "ct-net")
        counter(runtime, "ct-net")
        bad = runtime("checkpoint", "--image-path", str(tmp_path / "bad"), "ct-net")
        assert bad.returncode == 1 and "criu failed" in bad.err and "TCP" in bad.err, bad.err
        assert runtime.state("ct-net")["status"] == "running"
        ok(runtime, "checkpoint", "--tcp-established", "--image-path", str(tmp_path / "img"),
           "ct-net")
        ok(runtime, "restore", "-d", "--tcp-established", "-b", str(bundle), "--image-path",
           str(tmp_path / "img"), "ct-net2")
        pid = runtime.state("ct-net2")["pid"]
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == ino
        # the restored client's connection still reaches the restored server
        ok(runtime, "exec", "ct-net2", "sh", "-c", "echo through > /proc/1/fd/3")
        deadline = time.monotonic() + 60
        while "through" not in runtime("exec", "ct-net2", "cat", "/dev/shm/got").out:
            assert time.monotonic() < deadline, "the connection did not survive"
            time.sleep(1)
        # and the listener takes a new connection
        ok(runtime, "exec", "ct-net2", "sh", "-c",
           "(echo new | nc 127.0.0.1 7001 >/dev/null 2>&1 &)")
        deadline = time.monotonic() + 60
        while "new" not in runtime("exec", "ct-net2", "cat", "/dev/shm/got2").out:
            assert time.monotonic() < deadline, "the listener did not survive"
            time.sleep(1)
        ok(runtime, "delete", "-f", "ct-net2")
    finally:
        subprocess.run(["ip", "netns", "delete", "ckptns"])


def test_nested_bind_mounts(runtime, bundle, tmp_path):
    """Bind mounts are external to CRIU; a mount point inside another bind
    mount's source, removed after the checkpoint, is made again (runc #2748)."""
    b1, b2 = tmp_path / "b1", tmp_path / "b2"
    b1.mkdir()
    b2.mkdir()
    (b2 / "f").write_text("nested")
    bundle.config["mounts"] += [
        {"type": "bind", "source": str(b1), "destination": "/test", "options": ["rbind"]},
        {"type": "bind", "source": str(b2), "destination": "/test/for/nested",
         "options": ["rbind"]}]
    bundle.set_args("sh", "-c", "cd /test/for/nested; " + COUNTER)
    run_detached(runtime, bundle, "ct-bind")
    counter(runtime, "ct-bind")
    ok(runtime, "checkpoint", "--image-path", str(tmp_path / "img"), "ct-bind")
    subprocess.run(["rm", "-rf", str(b1 / "for")], check=True)
    ok(runtime, "restore", "-d", "-b", str(bundle), "--image-path", str(tmp_path / "img"),
       "ct-bind2")
    assert runtime("exec", "ct-bind2", "cat", "/test/for/nested/f").out == "nested"
    pid = runtime.state("ct-bind2")["pid"]
    assert os.readlink(f"/proc/{pid}/cwd") == "/test/for/nested"


def test_failed_restore_leaves_nothing(runtime, bundle, tmp_path):
    """A restore that CRIU fails half-way (an image lost): a one-line error
    with CRIU's reason; no state, cgroup, mount or process is left (the
    runtime fixture checks the host)."""
    bundle.set_args("sh", "-c", COUNTER)
    run_detached(runtime, bundle, "ct-f")
    counter(runtime, "ct-f")
    ok(runtime, "checkpoint", "--image-path", str(tmp_path / "img"), "ct-f")
    for pages in (tmp_path / "img").glob("pages-*.img"):
        pages.unlink()
    p = runtime("restore", "-d", "-b", str(bundle), "--image-path", str(tmp_path / "img"),
                "ct-f2", timeout=300)
    assert p.returncode == 1
    assert p.err.count("\n") == 1 and p.err.startswith("pyrunc: restore: criu failed: ")
    assert "restore.log" in p.err
    assert runtime("state", "ct-f2").returncode == 1
    assert not os.path.exists("/sys/fs/cgroup/ct-f2")
    with open("/proc/self/mountinfo") as f:
        assert "criu-root" not in f.read()


def test_foreground_restore_exit_status(runtime, bundle, tmp_path):
    """A foreground restore waits and exits with the process's status, as
    `run` does; the container is gone afterwards."""
    bundle.set_args("sh", "-c", "while [ ! -e /dev/shm/go ]; do sleep 0.2; done; exit 7")
    run_detached(runtime, bundle, "ct-fg")
    ok(runtime, "checkpoint", "--image-path", str(tmp_path / "img"), "ct-fg")
    proc = subprocess.Popen([*runtime.cmd, "--root", runtime.root, "restore", "-b",
                             str(bundle), "--image-path", str(tmp_path / "img"), "ct-fg"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while runtime("state", "ct-fg").returncode != 0 or \
            runtime.state("ct-fg")["status"] != "running":
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.5)
    ok(runtime, "exec", "ct-fg", "touch", "/dev/shm/go")
    assert proc.wait(timeout=120) == 7
    assert runtime("state", "ct-fg").returncode == 1


def netns_scenario(rt, bundle, tmp_path, tag: str) -> dict:
    """A counter in a network namespace given by path, checkpointed with
    --empty-ns network and restored into another namespace given by path:
    what happened, to compare runc with pyrunc."""
    ns1, ns2 = f"ckpt-{tag}-1", f"ckpt-{tag}-2"
    for ns in (ns1, ns2):
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for ns in bundle.config["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = f"/run/netns/{ns1}"
        bundle.set_args("sh", "-c", COUNTER)
        run_detached(rt, bundle, f"ct-{tag}")
        before = counter(rt, f"ct-{tag}")
        img = tmp_path / f"img-{tag}"
        dump = rt("checkpoint", "--empty-ns", "network", "--image-path", str(img), f"ct-{tag}",
                  timeout=300)
        for ns in bundle.config["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = f"/run/netns/{ns2}"
        bundle.write()
        rest = rt("restore", "-d", "--empty-ns", "network", "-b", str(bundle), "--image-path",
                  str(img), f"ct-{tag}2", timeout=300)
        seen = {"dump": (dump.returncode, dump.err[-500:]),
                "restore": (rest.returncode, rest.err[-500:]),
                "gone": rt("state", f"ct-{tag}").returncode != 0}
        if rest.returncode == 0:
            pid = rt.state(f"ct-{tag}2")["pid"]
            ino = os.stat(f"/proc/{pid}/ns/net").st_ino
            seen["in_ns2"] = ino == os.stat(f"/run/netns/{ns2}").st_ino
            seen["resumed"] = counter(rt, f"ct-{tag}2") >= before
            # CRIU's network lock (an iptables chain) is left in neither namespace
            seen["iptables"] = [subprocess.run(["ip", "netns", "exec", ns, "iptables", "-w",
                                                "-S"], capture_output=True,
                                               text=True).stdout for ns in (ns1, ns2)]
            rt("delete", "-f", f"ct-{tag}2", timeout=120)
        return seen
    finally:
        for ns in (ns1, ns2):
            subprocess.run(["ip", "netns", "delete", ns])


def test_empty_ns_network_as_runc(runtime, bundle, tmp_path):
    """--empty-ns network (which runc always adds) given explicitly, with the
    network namespace joined by path: pyrunc does what runc 1.1.5 does, and
    the restored container is in the namespace the restore's config names."""
    from helpers import Runtime
    runc = Runtime(["runc"], str(tmp_path / "runc-root"))
    try:
        want = netns_scenario(runc, bundle, tmp_path, "runc")
    finally:
        runc.cleanup()
    assert want["dump"][0] == 0 and want["restore"][0] == 0, want  # runc's reference
    got = netns_scenario(runtime, bundle, tmp_path, "py")
    assert got["dump"][0] == 0 and got["restore"][0] == 0, got
    assert got["gone"] and got["in_ns2"] and got["resumed"], got
    assert [want[k] for k in ("gone", "in_ns2", "resumed", "iptables")] == \
        [got[k] for k in ("gone", "in_ns2", "resumed", "iptables")], (want, got)


def test_podman_checkpoint_restore(runtime, tmp_path):
    """podman's container checkpoint/restore with pyrunc as the runtime, on a
    local busybox image (podman's own storage under tmp_path, no network): the
    counter resumes in place, and after --export, rm and --import under a
    new name."""
    import shutil
    import sys
    import tempfile
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)),
                                    "integration", "clients"))
    import clientlib
    base = tempfile.mkdtemp(prefix="pm", dir="/tmp")  # podman: runroot under 50 characters
    pm = clientlib.Podman(base, {"pyrunc": runtime.cmd[0]}).start()

    def podman(*args: str, check: bool = True):
        return pm.podman(*args, runtime="pyrunc", check=check, timeout=300)

    def count(name: str) -> int:
        deadline = time.monotonic() + 120
        while True:
            r = podman("exec", name, "cat", "/dev/shm/n", check=False)
            if r.rc == 0 and r.out.strip():
                return int(r.out)
            assert time.monotonic() < deadline, str(r)
            time.sleep(1)

    try:
        pm.import_image(clientlib.make_rootfs_tar(str(tmp_path / "rootfs.tar")))
        podman("run", "-d", "--network", "none", "--name", "ctr",
               f"localhost/{clientlib.IMAGE}:latest", "sh", "-c", COUNTER)
        before = count("ctr")
        podman("container", "checkpoint", "ctr")
        assert podman("inspect", "-f", "{{.State.Status}}", "ctr").out.strip() == "exited"
        podman("container", "restore", "ctr")
        assert podman("inspect", "-f", "{{.State.Status}}", "ctr").out.strip() == "running"
        first = count("ctr")
        assert first >= before  # a fresh start would count from 1
        time.sleep(1)
        assert count("ctr") > first
        export = str(tmp_path / "ctr.tar.gz")
        podman("container", "checkpoint", "--export", export, "ctr")
        podman("rm", "ctr")
        podman("container", "restore", "--import", export, "--name", "ctr2")
        assert count("ctr2") >= first
    finally:
        pm.stop()
        shutil.rmtree(base, ignore_errors=True)
