"""Escape attempts from inside real containers, by CVE class, each checking
the host afterwards:

- CVE-2019-5736: rewriting the runtime binary through /proc/PID/exe;
- CVE-2024-21626: host fds (and a cwd through them) leaking into the container;
- CVE-2021-30465: mount destinations that are symlinks out of the rootfs;
- CVE-2019-19921: /proc in the rootfs that is a symlink;
- the init must be non-dumpable while it waits for `start`.
"""

import errno
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import Runtime, reap_children

SLEEPER = ("sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done")
F_GET_SEALS = 1034
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8


def one_line_error(p, *needles: str) -> str:
    assert "Traceback" not in p.err, p.err
    assert p.returncode == 1, f"exit {p.returncode}: {p.err}{p.out}"
    lines = p.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrunc: "), p.err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def no_state(root: str) -> bool:
    try:
        return not os.listdir(root)
    except FileNotFoundError:
        return True


def host_mount_points(*prefixes: str) -> set[str]:
    """The host's mount points under the given paths (only those: other tests
    may mount and unmount elsewhere meanwhile)."""
    with open("/proc/self/mountinfo") as f:
        points = {line.split()[4] for line in f}
    return {m for m in points if any(m == p or m.startswith(p.rstrip("/") + "/")
                                     for p in prefixes)}


def container_mounts(text: str) -> dict[str, str]:
    """mount point -> fs type, from a /proc/self/mountinfo printed in a container."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if " - " in line and len(fields) > 4:
            out[fields[4]] = line.split(" - ", 1)[1].split()[0]
    return out


def with_fds(runtime: Runtime, redirections: str) -> Runtime:
    """The runtime, run through `sh -c 'exec pyrunc ... REDIRECTIONS'`: the
    caller of pyrunc then holds exactly the fds the redirections open."""
    rt = Runtime(["/bin/sh", "-c", f'exec "$0" "$@" {redirections}', *runtime.cmd],
                 runtime.root)
    rt.ids = runtime.ids  # cleaned up by the fixture
    return rt


def dir_snapshot(path: str) -> tuple:
    st = os.stat(path)
    return (st.st_ino, st.st_mtime_ns, st.st_nlink, sorted(os.listdir(path)))


# -- CVE-2019-5736: the runtime binary through /proc/PID/exe ---------------------

def _installed_files(runtime: Runtime) -> list[str]:
    """The host files a CVE-2019-5736 exploit would overwrite: the python that
    runs pyrunc, the pyrunc script, the package (with pyrunc-init and the shim)."""
    cmd = os.path.realpath(shutil.which(runtime.cmd[0]) or runtime.cmd[0])
    with open(cmd, "rb") as f:
        shebang = f.readline()
    python = shebang[2:].split()[0].decode() if shebang.startswith(b"#!") else sys.executable
    pkg = subprocess.run([python, "-c", "import os, pyrunc; print(os.path.dirname("
                          "pyrunc.__file__))"], capture_output=True, text=True, cwd="/",
                         check=True).stdout.strip()
    files = {cmd, os.path.realpath(python), os.path.realpath("/opt/pyrunc/bin/python3.11")}
    for dirpath, dirnames, filenames in os.walk(pkg):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        files.update(os.path.join(dirpath, f) for f in filenames)
    assert any(f.endswith("/libexec/pyrunc-init") for f in files), files
    return sorted(f for f in files if os.path.isfile(f))


def _hashes(files: list[str]) -> dict[str, tuple[int, str]]:
    """path -> (inode, sha256). A write through /proc/PID/exe or an fd keeps the
    inode; a reinstall (pip unlinks and rewrites) does not, and an engineer may
    run one while these tests run: only same-inode changes count."""
    out = {}
    for path in files:
        try:
            with open(path, "rb") as f:
                out[path] = (os.fstat(f.fileno()).st_ino, hashlib.sha256(f.read()).hexdigest())
        except FileNotFoundError:
            continue
    return out


def assert_unchanged(files: list[str], before: dict[str, tuple[int, str]]) -> None:
    after = _hashes(files)
    changed = [path for path, (ino, digest) in before.items()
               if path in after and after[path][0] == ino and after[path][1] != digest]
    assert not changed, f"host files modified in place: {changed}"


def _init_binary(files: list[str]) -> str:
    return next(f for f in files if f.endswith("/libexec/pyrunc-init"))


def test_created_init_runs_from_a_sealed_memfd(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), "ct-memfd", check=True)
    pid = runtime.state("ct-memfd")["pid"]
    exe = f"/proc/{pid}/exe"
    assert os.readlink(exe).startswith("/memfd:"), os.readlink(exe)
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND, os.O_WRONLY | os.O_TRUNC):
        with pytest.raises(OSError) as e:
            os.close(os.open(exe, flags))
        assert e.value.errno in (errno.EPERM, errno.ETXTBSY), e.value
    # the exploit's way: an O_PATH fd, reopened for writing through /proc/self/fd
    path_fd = os.open(exe, os.O_PATH)
    try:
        with pytest.raises(OSError) as e:
            os.close(os.open(f"/proc/self/fd/{path_fd}", os.O_WRONLY))
        assert e.value.errno in (errno.EPERM, errno.ETXTBSY), e.value
    finally:
        os.close(path_fd)
    fd = os.open(exe, os.O_RDONLY)
    try:
        seals = fcntl.fcntl(fd, F_GET_SEALS)
        want = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
        assert seals & want == want, f"seals {seals:#x}"
        with pytest.raises(OSError):
            os.ftruncate(fd, 0)
        with open(_init_binary(_installed_files(runtime)), "rb") as f:
            assert os.pread(fd, 1 << 24, 0) == f.read()  # a copy of pyrunc-init
    finally:
        os.close(fd)


SHEBANG_ATTACK = r"""
# every process this container can see: try to write through its exe
for p in /proc/[0-9]*; do
    echo pwned >> "$p/exe" 2>/dev/null && echo "wrote $p/exe"
done
# the classic: a script whose interpreter is /proc/self/exe, run again and
# again, racing to open the interpreter through /proc/PID/exe for writing
i=0
while [ $i -lt 30 ]; do
    /evil & p=$!
    for t in exe exe exe; do
        echo pwned >> /proc/$p/$t 2>/dev/null && echo "wrote /proc/$p/exe"
    done
    wait $p
    i=$((i + 1))
done
echo done
"""


def test_proc_self_exe_shebang_cannot_touch_host(runtime, bundle):
    files = _installed_files(runtime)
    before = _hashes(files)
    evil = bundle.rootfs / "evil"
    evil.write_text("#!/proc/self/exe\n")
    evil.chmod(0o755)
    caps = ["CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
            "CAP_SYS_ADMIN", "CAP_KILL", "CAP_CHOWN"]
    proc = bundle.config["process"]
    proc["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
    bundle.config["root"]["readonly"] = False
    # the entrypoint itself: the init execs /evil, the kernel runs /proc/self/exe
    bundle.set_args("/evil")
    p = runtime("run", "-b", str(bundle), "ct-shebang")
    assert p.returncode != 0 and "Traceback" not in p.err, (p.returncode, p.err)
    assert no_state(runtime.root)
    # and a process inside attacking every exe it can reach
    bundle.set_args("sh", "-c", SHEBANG_ATTACK)
    p = runtime("run", "-b", str(bundle), "ct-attack")
    assert p.returncode == 0, p.err
    assert "done" in p.out
    wrote = [line for line in p.out.splitlines() if line.startswith("wrote")]
    # /proc/1/exe is the container's own busybox (in the bundle): nothing else
    assert set(wrote) <= {"wrote /proc/1/exe"}, wrote
    assert_unchanged(files, before)


HOLD_AND_REWRITE = r"""
A=$1
exec 7</proc/$A/exe && echo "opened $(readlink /proc/self/fd/7)"
echo pwned >> /proc/$A/exe 2>/dev/null && echo "write-ok while running"
kill -9 $A
i=0
while grep -q '^State:.*[RS]' /proc/$A/status 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.02; i=$((i + 1))
done
# the init is gone: its exe is no longer busy, only the seals protect it now
if echo pwned >> /proc/self/fd/7; then echo "write-ok after exit"; else echo write-refused; fi
echo size $(wc -c < /proc/self/fd/7)
"""


def test_privileged_neighbour_cannot_rewrite_init(runtime, bundle):
    """A container sharing the host's pid namespace, with CAP_SYS_PTRACE,
    grabs the exe of another container's waiting init (the CVE-2019-5736
    move), kills that init and writes through the fd it kept: it only ever
    reaches the sealed memfd, never a host file."""
    files = _installed_files(runtime)
    before = _hashes(files)
    init_size = os.path.getsize(_init_binary(files))
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), "ct-victim", check=True)
    victim = runtime.state("ct-victim")["pid"]
    caps = ["CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE", "CAP_KILL"]
    bundle.config["process"]["capabilities"] = {
        k: list(caps) for k in ("bounding", "effective", "permitted")}
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "pid"]
    bundle.set_args("sh", "-c", HOLD_AND_REWRITE, "sh", str(victim))
    p = runtime("run", "-b", str(bundle), "ct-neighbour")
    assert p.returncode == 0, p.err
    assert "opened /memfd:" in p.out, p.out  # the attack did get hold of the exe
    assert "write-ok" not in p.out and "write-refused" in p.out, p.out
    assert f"size {init_size}" in p.out, p.out
    reap_children()
    assert runtime.state("ct-victim")["status"] == "stopped"
    assert_unchanged(files, before)


# -- CVE-2024-21626: fds and a cwd that lead out of the container ----------------

# The shell's own fds, listed by a child (ls), so that neither a directory fd
# of the listing nor the pipe of a $(...) shows up; `; true` keeps sh from
# exec'ing ls in its place.
LIST_FDS = "ls -l /proc/$$/fd; true"


def _fds(out: str) -> dict[int, str]:
    """fd -> target, from LIST_FDS's output (`... 3 -> /path`)."""
    fds = {}
    for line in out.splitlines():
        left, arrow, target = line.partition(" -> ")
        if arrow and left.split()[-1].isdigit():
            fds[int(left.split()[-1])] = target
    return fds


def test_only_stdio_reaches_the_process(runtime, bundle):
    out = runtime.run_output(bundle, "sh", "-c", LIST_FDS, cid="ct-fds")
    assert set(_fds(out)) == {0, 1, 2}, out


def _fd_targets(pid: int) -> dict[int, str]:
    d = f"/proc/{pid}/fd"
    out = {}
    for n in os.listdir(d):
        try:
            out[int(n)] = os.readlink(f"{d}/{n}")
        except FileNotFoundError:  # closed meanwhile
            continue
    return out


def test_only_stdio_reaches_the_process_seen_from_host(runtime, bundle):
    # the caller holds extra fds (5: a host file, 9: a host directory): none leak
    rt = with_fds(runtime, "5</etc/hostname 9</")
    bundle.set_args(*SLEEPER)
    rt("create", "-b", str(bundle), "ct-hostfds", check=True)
    pid = runtime.state("ct-hostfds")["pid"]
    # the waiting init holds stdio and its start socket, no file of the host
    extra = {n: t for n, t in _fd_targets(pid).items() if n > 2}
    assert len(extra) == 1 and list(extra.values())[0].startswith("socket:["), extra
    rt("start", "ct-hostfds", check=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and set(_fd_targets(pid)) != {0, 1, 2}:
        time.sleep(0.02)
    assert set(_fd_targets(pid)) == {0, 1, 2}, _fd_targets(pid)


def test_preserve_fds_passes_exactly_those(runtime, bundle, tmp_path):
    three = tmp_path / "three"
    three.write_text("from fd three\n")
    four = tmp_path / "four"
    script = (LIST_FDS + "; read line <&3; echo \"read: $line\"; echo via-four >&4")
    bundle.set_args("sh", "-c", script)
    rt = with_fds(runtime, f"3<{three} 4>{four} 5</etc/hostname 6</ 9<{tmp_path}")
    p = rt("run", "--preserve-fds", "2", "-b", str(bundle), "ct-pfds")
    assert p.returncode == 0, p.err
    fds = _fds(p.out)
    assert set(fds) == {0, 1, 2, 3, 4}, p.out
    assert fds[3] == str(three) and fds[4] == str(four)
    assert "read: from fd three" in p.out
    assert four.read_text() == "via-four\n"


def _cwd_case(runtime: Runtime, bundle, n: int, rt: Runtime | None = None,
              extra: tuple[str, ...] = ()) -> str:
    """Run with cwd /proc/self/fd/N; return "" if create failed cleanly, else the
    output of pwd and ls (checked to be inside the container)."""
    cid = f"ct-cwd{n}"
    p = (rt or runtime)("run", *extra, "-b", str(bundle.path / f"b{n}"), cid)
    if p.returncode == 1 and p.err.startswith("pyrunc: "):
        one_line_error(p, f"/proc/self/fd/{n}")
        return ""
    assert p.returncode == 0, (n, p.returncode, p.err)
    return p.out


def _bundle_with_cwd(bundle, n: int, args: tuple[str, ...]) -> None:
    """A bundle dir b<n> beside rootfs, sharing it, with cwd /proc/self/fd/<n>."""
    d = bundle.path / f"b{n}"
    d.mkdir()
    cfg = json.loads(json.dumps(bundle.config))
    cfg["root"]["path"] = str(bundle.rootfs)
    cfg["process"]["cwd"] = f"/proc/self/fd/{n}"
    cfg["process"]["args"] = list(args)
    (d / "config.json").write_text(json.dumps(cfg))


HOST_NAMES = ("state.json", "exec.sock", "config.json", "rootfs", "HOST-MARKER")
PWD_LS = ("sh", "-c", "pwd; ls -a")


def _check_inside(out: str, what: str) -> None:
    lines = out.splitlines()
    assert lines and lines[0].startswith("/") and "unreachable" not in lines[0], (what, out)
    for name in HOST_NAMES:
        assert name not in lines[1:], (what, name, out)


def test_cwd_through_proc_self_fd(runtime, bundle):
    """cwd /proc/self/fd/N for every N the init might hold: a clean failure, or
    a cwd in the container, never a host directory."""
    (bundle.path / "HOST-MARKER").write_text("")
    ns = range(3, 65)
    for n in ns:
        _bundle_with_cwd(bundle, n, PWD_LS)
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda n: _cwd_case(runtime, bundle, n), ns))
    for n, out in zip(ns, outs, strict=True):
        if out:
            _check_inside(out, f"fd {n}")
    reap_children()


def test_cwd_through_a_preserved_host_directory(runtime, bundle, host_dir):
    """The CVE itself: a directory fd of the host reaches the init (here on
    purpose, with --preserve-fds); cwd through it must not be allowed."""
    open(os.path.join(host_dir, "HOST-MARKER"), "w").close()
    before = dir_snapshot(host_dir)
    for n in (3, 4):
        _bundle_with_cwd(bundle, n, PWD_LS)
        rt = with_fds(runtime, f"3<{host_dir} 4<{host_dir}")
        out = _cwd_case(runtime, bundle, n, rt=rt, extra=("--preserve-fds", "2"))
        if out:
            _check_inside(out, f"preserved fd {n}")
    assert dir_snapshot(host_dir) == before


# -- CVE-2021-30465: mount destinations through symlinks -------------------------

def _mount_attack(bundle, host_dir: str, host_dir2: str, host_dir3: str,
                  target_exists: bool) -> None:
    r = bundle.rootfs
    os.symlink(host_dir, r / "evil")  # absolute: the host's path, not the rootfs'
    os.symlink(host_dir3, r / "evil-bind")
    if target_exists:
        for d in (host_dir, host_dir3):
            os.makedirs(r / d.lstrip("/"))
    src = bundle.path / "volume"
    src.mkdir()
    (src / "from-volume").write_text("")
    bundle.config["root"]["readonly"] = False
    bundle.config["mounts"] += [
        {"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]},
        {"destination": "/../../../.." + host_dir2, "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/evil-bind", "type": "bind", "source": str(src),
         "options": ["rbind", "ro"]},
    ]
    bundle.write()


@pytest.mark.parametrize("target_exists", [True, False], ids=["target-in-rootfs", "dangling"])
def test_mount_destination_symlinks_stay_in_rootfs(runtime, bundle, target_exists):
    dirs = [tempfile.mkdtemp(prefix="pyrunc-host-", dir="/tmp") for _ in range(3)]
    try:
        host_dir, host_dir2, host_dir3 = dirs
        shutil.rmtree(host_dir2)  # this one must not come back either
        snaps = {d: dir_snapshot(d) for d in (host_dir, host_dir3)}
        watched = (*dirs, str(bundle.path))
        mounts_before = host_mount_points(*watched)
        _mount_attack(bundle, host_dir, host_dir2, host_dir3, target_exists)
        script = ("cat /proc/self/mountinfo; echo pwned > /evil/file; "
                  f"echo pwned > {host_dir2}/file; ls /evil-bind; sleep 0.3")
        bundle.set_args("sh", "-c", script)
        rt_mounts = {}
        with ThreadPoolExecutor(1) as pool:
            fut = pool.submit(runtime, "run", "-b", str(bundle), "ct-mnt")
            # while the container runs: nothing of it on the host's mount table
            while not fut.done():
                assert host_mount_points(*watched) == mounts_before
                time.sleep(0.01)
            p = fut.result()
        if p.returncode == 1 and not target_exists:
            # refusing a dangling destination is safe; it must be clean
            one_line_error(p, "/evil")
        else:
            assert p.returncode == 0, p.err
            rt_mounts = container_mounts(p.out)
            # the mounts landed inside the rootfs, at the symlinks' targets
            assert rt_mounts.get(host_dir) == "tmpfs", p.out
            assert rt_mounts.get(host_dir2) == "tmpfs", p.out
            assert host_dir3 in rt_mounts, p.out
            assert "from-volume" in p.out
            assert (bundle.rootfs / host_dir2.lstrip("/")).is_dir()
        for d, snap in snaps.items():
            assert dir_snapshot(d) == snap, f"{d} changed on the host"
            assert os.listdir(d) == []
        assert not os.path.exists(host_dir2), "created on the host"
        assert host_mount_points(*watched) == mounts_before
        assert no_state(runtime.root)
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def test_mount_destination_parent_symlink_out(runtime, bundle, host_dir):
    """A symlinked parent directory (rootfs/data -> /tmp/HOST) with a mount
    below it (/data/sub): created and mounted inside the rootfs."""
    before = dir_snapshot(host_dir)
    os.symlink(host_dir, bundle.rootfs / "data")
    os.makedirs(bundle.rootfs / host_dir.lstrip("/"))
    bundle.config["mounts"].append({"destination": "/data/sub", "type": "tmpfs",
                                    "source": "tmpfs"})
    out = runtime.run_output(bundle, "sh", "-c", "cat /proc/self/mountinfo",
                             cid="ct-parent")
    assert container_mounts(out).get(host_dir + "/sub") == "tmpfs", out
    assert (bundle.rootfs / host_dir.lstrip("/") / "sub").is_dir()
    assert dir_snapshot(host_dir) == before and os.listdir(host_dir) == []


# -- CVE-2019-19921: /proc (and /sys) as a symlink ---------------------------------

@pytest.mark.parametrize("name,relative", [("proc", False), ("proc", True), ("sys", False)])
def test_proc_symlink_refused(runtime, bundle, host_dir, name, relative):
    target = os.path.join(host_dir, "x")
    r = bundle.rootfs
    os.rmdir(r / name)
    if relative:
        (r / "fakeproc").mkdir()
        os.symlink("fakeproc", r / name)
    else:
        os.symlink(target, r / name)
    mounts_before = host_mount_points(host_dir, str(bundle.path))
    bundle.set_args("true")
    p = runtime("create", "-b", str(bundle), "ct-procsym")
    one_line_error(p, f"/{name}")
    assert no_state(runtime.root)
    assert not os.path.exists(target) and os.listdir(host_dir) == []
    assert not os.listdir(r / "fakeproc") if relative else True
    assert host_mount_points(host_dir, str(bundle.path)) == mounts_before


# -- the waiting init is not dumpable --------------------------------------------

# Root without CAP_SYS_PTRACE (not even in its bounding set, so that the
# control process, a sleep it starts, has no capability the peeker lacks).
PEEK = r"""
import os, subprocess, sys
import prctl
prctl.capbset.sys_ptrace = False
prctl.cap_effective.sys_ptrace = False
prctl.cap_permitted.sys_ptrace = False
control = subprocess.Popen(["sleep", "30"])
try:
    for name, pid in (("control", control.pid), ("init", int(sys.argv[1]))):
        try:
            os.readlink(f"/proc/{pid}/exe")
            print(name, "ok")
        except OSError as e:
            print(name, e.errno)
finally:
    control.kill()
    control.wait()
"""


def test_waiting_init_is_not_dumpable(runtime, bundle):
    """Root without CAP_SYS_PTRACE reads /proc/PID/exe of a dumpable root
    process (the control, a plain sleep), but not of the waiting init."""
    pytest.importorskip("prctl")
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), "ct-dump", check=True)
    pid = runtime.state("ct-dump")["pid"]
    p = subprocess.run([sys.executable, "-c", PEEK, str(pid)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    result = dict(line.split() for line in p.stdout.splitlines())
    assert result == {"control": "ok", "init": str(errno.EACCES)}, p.stdout
    # still waiting, untouched
    assert runtime.state("ct-dump")["status"] == "created"
