"""`pyrunc debug`: host tools inside a container that has none."""

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time

import pytest


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


# -- an interactive session ------------------------------------------------------

def test_debug_interactive_session_in_a_pty(runtime, bundle):
    """Typed commands, Ctrl-C to a running sleep, Ctrl-Z and fg, a resize, and
    `exit 3` giving status 3: the shell owns its terminal's foreground process
    group in the container's pid namespace (it used to end with "Cannot set
    tty process group" and status 2)."""
    from integration.clients.clientlib import Pty

    shell_less(bundle)
    runtime("run", "-d", "-b", str(bundle), "ct-dbg-tty", check=True)
    t = Pty([*runtime.cmd, "--root", runtime.root, "debug", "ct-dbg-tty"], rows=30, cols=100)
    try:
        t.expect("# ")
        t.send("echo $((6*7)); ps -e -o pid,pgid,tpgid,args; echo END-PS\r")
        out = t.expect("\nEND-PS").split("echo END-PS")[-1]
        rows = [line.split() for line in out.splitlines()]
        shell = [r for r in rows if r[-1:] == ["/bin/sh"]]
        ps = [r for r in rows if r[3:5] == ["ps", "-e"]]
        assert "42" in out and shell and ps, t.text
        # the shell leads a session in the container's pid namespace, and the
        # foreground process group of its terminal is the running ps's
        assert shell[0][0] == shell[0][1] and ps[0][1] == ps[0][2] == ps[0][0], rows
        assert any(r[:1] == ["1"] and r[-2:] == ["/sleep", "1000"] for r in rows), rows
        t.send("sleep 100\r")
        time.sleep(0.5)
        t.send("\x03")
        t.send("echo rc=$?\r")
        t.expect("rc=130")
        t.send("sleep 101\r")
        time.sleep(0.5)
        t.send("\x1a")
        t.expect("Stopped")
        t.send("fg\r")
        time.sleep(0.5)
        t.send("\x03")
        t.send("echo fg=$?\r")
        t.expect("fg=130")
        t.resize(41, 117)
        t.expect_size(41, 117)
        t.send("exit 3\r")
        assert t.wait() == 3, t.text
        assert "Cannot set tty process group" not in t.text
        assert "found pyrunc container ct-dbg-tty" in t.text
    finally:
        t.close()
    assert runtime.state("ct-dbg-tty")["status"] == "running"


def test_debug_one_shot_command_in_a_pty_keeps_its_status(runtime, bundle):
    from integration.clients.clientlib import Pty

    shell_less(bundle)
    runtime("run", "-d", "-b", str(bundle), "ct-dbg-tty2", check=True)
    t = Pty([*runtime.cmd, "--root", runtime.root, "debug", "ct-dbg-tty2", "--",
             "sh", "-c", "tty; exit 5"])
    try:
        assert t.wait() == 5, t.text
        assert "/dev/pts/" in t.text
    finally:
        t.close()
    # without a terminal, the caller's stdio as it is
    p = runtime("debug", "ct-dbg-tty2", "sh", "-c", "tty; exit 6")
    assert p.returncode == 6 and "not a tty" in p.out


def test_debug_interactive_session_in_a_user_namespace(runtime, bundle, host_dir):
    """A container with a user namespace: the session joins it (after its
    tools root is built with the host's privileges) and job control works."""
    from integration.clients.clientlib import Pty

    shell_less(bundle)
    for d in ("proc", "dev"):  # (the namespace's root cannot make them)
        (bundle.rootfs / d).mkdir()
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/sys"]
    bundle.write()
    # where the namespace's root (host uid 100000) can reach it: not under
    # pytest's directory, which another pytest run may make 0700 again
    os.chmod(host_dir, 0o755)
    b = shutil.copytree(bundle.path, os.path.join(host_dir, "bundle"), symlinks=True)
    runtime("run", "-d", "-b", b, "ct-dbg-userns", check=True)
    init = runtime.state("ct-dbg-userns")["pid"]
    t = Pty([*runtime.cmd, "--root", runtime.root, "debug", "ct-dbg-userns"])
    try:
        t.expect("# ")
        t.send("readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u; echo END-NS\r")
        out = t.expect("\nEND-NS").split("echo END-NS")[-1].split()
        # the container's root (host uid 100000), not the unmapped host root
        assert out[:5] == [os.readlink(f"/proc/{init}/ns/user"), "0", "100000", "65536",
                           "0"], out
        t.send("sleep 100\r")
        time.sleep(0.5)
        t.send("\x03")
        t.send("echo rc=$?\r")
        t.expect("rc=130")
        t.send("exit 4\r")
        assert t.wait() == 4, t.text
    finally:
        t.close()


def running(cmdline: bytes, timeout: float = 5) -> bool:
    """Is a process with this command line still alive after `timeout`?"""
    deadline = time.monotonic() + timeout
    while True:
        alive = any(_cmdline(int(x)) == cmdline for x in os.listdir("/proc") if x.isdigit())
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def test_debug_leaves_no_process_behind(runtime, bundle):
    """What a session started in the background dies with it, with a terminal
    (the shell's background job) and without (an orphan of a command)."""
    from integration.clients.clientlib import Pty

    shell_less(bundle)
    runtime("run", "-d", "-b", str(bundle), "ct-dbg-left", check=True)
    # (the command ends once the sleep it left in the background runs)
    p = runtime("debug", "ct-dbg-left", "--", "sh", "-c",
                "sleep 4711 >/dev/null & until tr '\\0' ' ' </proc/$!/cmdline | "
                "grep -q '^sleep 4711'; do :; done; echo started")
    assert p.returncode == 0 and p.out == "started\n", p.err
    assert not running(b"sleep\x004711\x00")
    t = Pty([*runtime.cmd, "--root", runtime.root, "debug", "ct-dbg-left"])
    try:
        t.expect("# ")
        t.send("sleep 4712 &\r")
        deadline = time.monotonic() + 10
        while not running(b"sleep\x004712\x00", timeout=0):
            assert time.monotonic() < deadline, t.text
            time.sleep(0.1)
        t.send("exit\r")
        assert t.wait() == 0, t.text
    finally:
        t.close()
    assert not running(b"sleep\x004712\x00")
    assert runtime.state("ct-dbg-left")["status"] == "running"


def test_debug_passes_signals_on_to_the_session(runtime, bundle):
    """Without a terminal, a signal to pyrunc (Ctrl-C in the caller's shell)
    reaches the whole session: the command and its children."""
    shell_less(bundle)
    runtime("run", "-d", "-b", str(bundle), "ct-dbg-sig", check=True)
    proc = subprocess.Popen([*runtime.cmd, "--root", runtime.root, "debug", "ct-dbg-sig", "--",
                             "sh", "-c", "sleep 4714; echo after"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not running(b"sleep\x004714\x00", timeout=0):
            assert time.monotonic() < deadline, "the session's sleep did not start"
            time.sleep(0.1)
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and out == b""
    assert not running(b"sleep\x004714\x00")


# -- finding the container ---------------------------------------------------------

def test_debug_by_id_prefix_and_pid(runtime, bundle):
    shell_less(bundle)
    runtime("run", "-d", "-b", str(bundle), "ct-dbgp-alpha", check=True)
    runtime("run", "-d", "-b", str(bundle), "ct-dbgp-beta", check=True)
    p = runtime("debug", "ct-dbgp-a", "--", "cat", "/proc/1/cmdline")
    assert p.returncode == 0, p.err
    assert f"found pyrunc container ct-dbgp-alpha in {runtime.root}" in p.err
    p = runtime("debug", "ct-dbgp", "--", "true")
    assert p.returncode == 1 and "ambiguous" in p.err
    assert "ct-dbgp-alpha" in p.err and "ct-dbgp-beta" in p.err
    assert len(p.err.strip().splitlines()) == 1
    # --pid: the init, or any process of the container
    runtime("exec", "-d", "ct-dbgp-beta", "/sleep", "999", check=True)
    init = runtime.state("ct-dbgp-beta")["pid"]
    other = next(int(x) for x in os.listdir("/proc") if x.isdigit() and
                 _cmdline(int(x)) == b"/sleep\x00999\x00")
    for pid in (init, other):
        p = runtime("debug", "--pid", str(pid), "--", "sh", "-c", "ps -o args")
        assert p.returncode == 0, p.err
        assert "container ct-dbgp-beta" in p.err and "/sleep 999" in p.out
    p = runtime("debug", "--pid", str(os.getpid()), "true")
    assert p.returncode == 1 and f"no container with process {os.getpid()}" in p.err


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def pod_member(bundle, tmp_path, name: str, annotations: dict):
    """A copy of the bundle with the annotations CRI-O writes."""
    b = tmp_path / name
    shutil.copytree(bundle.path, b, symlinks=True)
    with open(b / "config.json") as f:
        config = json.load(f)
    config["annotations"] = annotations
    with open(b / "config.json", "w") as f:
        json.dump(config, f)
    return b


def crio(pod: str, ns: str, kind: str, container: str = "") -> dict:
    out = {"io.kubernetes.pod.name": pod, "io.kubernetes.pod.namespace": ns,
           "io.kubernetes.cri-o.ContainerType": kind}
    if container:
        out["io.kubernetes.container.name"] = container
    return out


def test_debug_by_pod_and_list(runtime, bundle, tmp_path):
    """--pod/--namespace/--container through CRI-O's annotations; --list."""
    shell_less(bundle)
    bundle.write()
    members = {"ct-dbgk-sb": crio("dbg-web-0", "ns-a", "sandbox"),
               "ct-dbgk-app": crio("dbg-web-0", "ns-a", "container", "app"),
               "ct-dbgk-side": crio("dbg-web-0", "ns-a", "container", "side"),
               "ct-dbgk-other": crio("dbg-web-0", "ns-b", "container", "app")}
    for cid, ann in members.items():
        runtime("run", "-d", "-b", str(pod_member(bundle, tmp_path, cid, ann)), cid, check=True)
    p = runtime("debug", "--pod", "dbg-web-0", "--", "true")
    assert p.returncode == 1 and "several namespaces (ns-a, ns-b)" in p.err
    p = runtime("debug", "--pod", "dbg-web-0", "--namespace", "ns-a", "--", "true")
    assert p.returncode == 1 and "several containers (app, side)" in p.err
    p = runtime("debug", "--pod", "dbg-web-0", "--namespace", "ns-b", "--",
                "cat", "/proc/1/cmdline")
    assert p.returncode == 0, p.err
    assert "ct-dbgk-other" in p.err and "pod ns-b/dbg-web-0, container app" in p.err
    p = runtime("debug", "--pod", "dbg-web-0", "--namespace", "ns-a", "--container", "side",
                "--", "readlink", "/proc/1/ns/net")
    assert p.returncode == 0, p.err
    side = runtime.state("ct-dbgk-side")["pid"]
    assert p.out.strip() == os.readlink(f"/proc/{side}/ns/net")
    p = runtime("debug", "--pod", "dbg-web-0", "--namespace", "ns-a", "--container", "db",
                "true")
    assert p.returncode == 1 and "no container db (it has: app, side)" in p.err
    p = runtime("debug", "--pod", "dbg-nope", "true")
    assert p.returncode == 1 and "no running pod dbg-nope" in p.err
    # --list: every container of the node, ours among them
    p = runtime("debug", "--list", "--format", "json")
    assert p.returncode == 0, p.err
    rows = {r["id"]: r for r in json.loads(p.out) if r["root"] == runtime.root}
    assert set(rows) == set(members)
    for cid in members:
        assert rows[cid]["pid"] == runtime.state(cid)["pid"]
        assert rows[cid]["status"] == "running" and rows[cid]["runtime"] == "pyrunc"
        assert rows[cid]["rootfs"] == str(tmp_path / cid / "rootfs")
    assert rows["ct-dbgk-sb"]["container"] == "(sandbox)"
    assert (rows["ct-dbgk-app"]["pod"], rows["ct-dbgk-app"]["namespace"],
            rows["ct-dbgk-app"]["container"]) == ("dbg-web-0", "ns-a", "app")
    table = runtime("debug", "--list", check=True).out.splitlines()
    assert table[0].split() == ["RUNTIME", "ROOT", "ID", "NAMESPACE", "POD", "CONTAINER",
                                "PID", "STATUS", "ROOTFS"]
    assert any(line.split()[:6] == ["pyrunc", runtime.root, "ct-dbgk-side", "ns-a",
                                    "dbg-web-0", "side"] for line in table)


def test_debug_paused_container(runtime, bundle):
    shell_less(bundle)
    runtime("run", "-d", "-b", str(bundle), "ct-dbg-pause", check=True)
    runtime("pause", "ct-dbg-pause", check=True)
    try:
        p = runtime("debug", "ct-dbg-pause", "true", timeout=20)
        assert p.returncode == 1 and "is paused" in p.err and "--ignore-paused" in p.err
        # outside its frozen cgroup: the session runs and sees the frozen init
        p = runtime("debug", "--ignore-paused", "ct-dbg-pause", "--", "sh", "-c",
                    "cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/self/cgroup",
                    timeout=20)
        assert p.returncode == 0, p.err
        assert p.out.startswith("/sleep 1000 \n")
    finally:
        runtime("resume", "ct-dbg-pause", check=True)


def test_debug_bad_arguments(runtime):
    for args, msg in ((["--pid", "x"], "invalid --pid \"x\""),
                      (["--pid", "1", "--pod", "p"], "--pid and --pod cannot be used together"),
                      (["--container", "c", "x"], "--namespace and --container go with --pod"),
                      (["--list", "x"], "--list takes no container"),
                      ([], "container id cannot be empty"),
                      (["--list", "--format", "yaml"], "invalid --format \"yaml\""),
                      (["--pid", "999999999"], "no such process")):
        p = runtime("debug", *args)
        assert p.returncode == 1, (args, p.err)
        assert p.err.count("\n") == 1 and msg in p.err and "Traceback" not in p.err, p.err


# -- containers of other runtimes ----------------------------------------------------

def other_runtime(name: str) -> list[str]:
    """How to call runc or crun here. crun 1.8 refuses every container on a
    hybrid host where a controller is attached to cgroup v2 only ("cgroups in
    hybrid mode not supported"): it runs in a mount namespace of its own where
    the v2 hierarchy's cgroup.controllers reads empty."""
    controllers = "/sys/fs/cgroup/unified/cgroup.controllers"
    if name != "crun" or not os.path.exists(controllers) or not open(controllers).read().strip():
        return [name]
    return ["unshare", "--mount", "--propagation", "unchanged", "--", "sh", "-c",
            f'mount --bind /dev/null {controllers} && exec crun "$@"', "crun"]


@pytest.mark.parametrize("other", ["runc", "crun"])
def test_debug_a_container_of_runc_or_crun(runtime, bundle, other):
    """A container that Debian's runc or crun started, in its default root
    (/run/runc, /run/crun, where podman and CRI-O leave them): found through
    `RUNTIME state`, and through its state file when the program is not on
    PATH; entered."""
    if not shutil.which(other):
        pytest.skip(f"{other} is not installed")
    shell_less(bundle)
    bundle.config["process"]["terminal"] = False
    bundle.config["ociVersion"] = "1.0.2"  # (crun 1.8 refuses later ones)
    bundle.write()
    cid = f"ct-dbg-{other}-{secrets.token_hex(4)}"
    root = f"/run/{other}"
    runtime.ids.add(cid)
    argv = other_runtime(other)
    subprocess.run([*argv, "run", "-d", "-b", str(bundle), cid], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=60)
    try:
        state = json.loads(subprocess.run([other, "state", cid], check=True,
                                          capture_output=True).stdout)
        for env in (None, {"PATH": "/nonexistent"}):
            p = runtime("debug", cid[:-2], "--", "sh", "-c",
                        "cat /proc/1/cmdline | tr '\\0' ' '; echo; readlink /proc/1/ns/pid; "
                        "cat /container/etc/marker", env=env)
            assert p.returncode == 0, p.err
            assert f"found {other} container {cid} in {root}, pid {state['pid']}" in p.err
            lines = [line.strip() for line in p.out.splitlines()]
            assert lines == ["/sleep 1000", os.readlink(f"/proc/{state['pid']}/ns/pid"),
                             "container file"]
            rows = json.loads(runtime("debug", "--list", "--format", "json", env=env,
                                      check=True).out)
            row = next(r for r in rows if r["id"] == cid)
            assert (row["runtime"], row["root"], row["pid"], row["status"], row["rootfs"]) == (
                other, root, state["pid"], "running", str(bundle.rootfs))
        # the session is in the container's cgroups
        p = runtime("debug", cid, "--", "sh", "-c", "cat /proc/1/cgroup; echo ==; "
                    "cat /proc/self/cgroup")
        mine, theirs = p.out.split("==\n")
        assert p.returncode == 0 and mine == theirs, p.out
        subprocess.run([*argv, "pause", cid], check=True, capture_output=True)
        for env in (None, {"PATH": "/nonexistent"}):
            p = runtime("debug", cid, "true", env=env, timeout=20)
            assert p.returncode == 1 and "is paused" in p.err
            p = runtime("debug", "--ignore-paused", cid, "--", "cat", "/container/etc/marker",
                        env=env, timeout=20)
            assert p.returncode == 0 and p.out == "container file\n", p.err
        subprocess.run([*argv, "resume", cid], check=True, capture_output=True)
    finally:
        subprocess.run([*argv, "delete", "-f", cid], capture_output=True, timeout=30)
