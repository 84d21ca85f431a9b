"""The machinery of the suite: driving a runtime through its CLI, building
busybox bundles, a registry of checks, per-check timeouts and cleanup.

Everything here is standard library only: the suite must run against any
runc-compatible runtime on a bare Debian machine with busybox-static."""

from __future__ import annotations

import array
import contextlib
import copy
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

BUSYBOX = "/bin/busybox"
CGROUP_ROOT = "/sys/fs/cgroup"
PR_SET_CHILD_SUBREAPER = 36
DEFAULT_TIMEOUT = 30.0
CALL_TIMEOUT = 20.0


# ---------------------------------------------------------------------------
# verdicts and the registry of checks


class Fail(Exception):
    """The remaining requirements of the check fail with this reason."""


class Skip(Exception):
    """The remaining requirements of the check are skipped with this reason."""


class CheckTimeout(Exception):
    pass


@dataclass
class Check:
    func: Callable
    ids: tuple[str, ...]
    timeout: float
    name: str = ""


CHECKS: list[Check] = []


def check(*ids: str, timeout: float = DEFAULT_TIMEOUT):
    """Register a check function covering the requirement `ids`."""

    def deco(func):
        CHECKS.append(Check(func, ids, timeout, func.__name__))
        return func

    return deco


@dataclass
class Result:
    id: str
    status: str  # PASS, FAIL or SKIP
    reason: str = ""
    check: str = ""


# ---------------------------------------------------------------------------
# processes: subreaper and reaping


EXIT_STATUS: dict[int, int] = {}


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap() -> None:
    """Reap every exited child (orphaned containers come back to us)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        EXIT_STATUS[pid] = status


def children() -> set[int]:
    me = os.getpid()
    out = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        if int(fields[1]) == me:
            out.add(int(pid))
    return out


def kill_children(keep: set[int] = frozenset()) -> None:
    """SIGKILL our leftover children (processes this run started or that
    were re-parented to it as subreaper) and reap them."""
    for _ in range(50):
        reap()
        left = children() - set(keep)
        if not left:
            return
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def proc_alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def proc_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def ns_link(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


# ---------------------------------------------------------------------------
# the runtime's command line


@dataclass
class Call:
    args: list[str]
    rc: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def why(self) -> str:
        text = (self.err.strip() or self.out.strip()).splitlines()
        return f"exit {self.rc}: {text[-1][:200] if text else '(no message)'}"


class Runtime:
    """`RUNTIME [--runtime-arg ...] --root ROOT SUBCOMMAND ...`."""

    def __init__(self, path: str, extra: list[str], root: str) -> None:
        self.path = path
        self.extra = list(extra)
        self.root = root

    def argv(self, *args: str) -> list[str]:
        return [self.path, *self.extra, "--root", self.root, *args]

    def __call__(self, *args: str, stdout=None, stderr=None, cwd: str | None = None,
                 timeout: float = CALL_TIMEOUT, preexec=None, env=None) -> Call:
        # Files, never pipes: a created container inherits the runtime's stdio
        # and keeps it open, so a pipe would never see EOF.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                p = subprocess.run(self.argv(*args), stdin=subprocess.DEVNULL,
                                   stdout=stdout or out, stderr=stderr or err, cwd=cwd,
                                   timeout=timeout, preexec_fn=preexec, env=env)
                rc = p.returncode
            except subprocess.TimeoutExpired:
                rc = -999
            out.seek(0)
            err.seek(0)
            o = out.read().decode(errors="replace")
            e = err.read().decode(errors="replace")
            if rc == -999:
                e += f"\n(timed out after {timeout}s)"
        return Call([*args], rc, o, e)

    def version(self) -> str:
        try:
            p = subprocess.run([self.path, *self.extra, "--version"], capture_output=True,
                               timeout=20, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"unknown ({e})"
        text = p.stdout.decode(errors="replace").strip().splitlines()
        return text[0] if text else "unknown"


# ---------------------------------------------------------------------------
# bundles


def build_rootfs(path: str) -> None:
    """A busybox root filesystem: bin/busybox (Debian's busybox-static) and a
    symlink per applet, a few directories and /etc files."""
    if not os.path.exists(BUSYBOX):
        raise SystemExit(f"{BUSYBOX} is missing: apt-get install busybox-static")
    for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "home", "mnt", "out"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
        os.chmod(os.path.join(path, d), 0o755)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    os.chmod(os.path.join(path, "root"), 0o700)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    os.chmod(os.path.join(path, "bin", "busybox"), 0o755)
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, check=True,
                             text=True).stdout.split()
    for a in applets:
        if a != "busybox" and "/" not in a:
            os.symlink("busybox", os.path.join(path, "bin", a))
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
    with open(os.path.join(path, "etc", "group"), "w") as f:
        f.write("root:x:0:\ntty:x:5:\nusers:x:100:\nnogroup:x:65534:\n")
    with open(os.path.join(path, "etc", "hostname"), "w") as f:
        f.write("rootfs\n")
    # A file that exists only inside the rootfs: lets hooks tell whether
    # pivot_root has happened.
    with open(os.path.join(path, "conformance-rootfs-marker"), "w") as f:
        f.write("rootfs\n")


CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def base_config(args: list[str], cgroups_path: str) -> dict:
    """A minimal, complete config.json written from the runtime-spec."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=dumb"],
            "cwd": "/",
            "capabilities": {k: list(CAPS) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        },
    }


def link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class Bundle:
    def __init__(self, path: str, template: str, config: dict) -> None:
        self.path = path
        os.makedirs(path)
        os.chmod(path, 0o755)
        # Hard links: fast, and nothing in the tests writes to busybox.
        shutil.copytree(template, self.rootfs, symlinks=True, copy_function=link_or_copy)
        self.config = config
        self.out = os.path.join(path, "stdout")
        self.err = os.path.join(path, "stderr")
        self.write()

    @property
    def rootfs(self) -> str:
        return os.path.join(self.path, "rootfs")

    @property
    def process(self) -> dict:
        return self.config["process"]

    @property
    def linux(self) -> dict:
        return self.config["linux"]

    def ns(self, kind: str) -> dict | None:
        for n in self.linux.get("namespaces", []):
            if n["type"] == kind:
                return n
        return None

    def set_ns(self, kind: str, path: str | None = None, present: bool = True) -> None:
        nss = [n for n in self.linux.get("namespaces", []) if n["type"] != kind]
        if present:
            nss.append({"type": kind, **({"path": path} if path else {})})
        self.linux["namespaces"] = nss

    def script(self, text: str) -> Bundle:
        self.process["args"] = ["sh", "-c", text]
        return self.write()

    def add_mount(self, dest: str, typ: str | None, source: str | None,
                  options: list[str] | None = None, **extra) -> Bundle:
        m: dict = {"destination": dest}
        if typ is not None:
            m["type"] = typ
        if source is not None:
            m["source"] = source
        if options is not None:
            m["options"] = options
        m.update(extra)
        self.config.setdefault("mounts", []).append(m)
        return self

    def write(self) -> Bundle:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=1)
        return self

    def stdout(self) -> str:
        try:
            with open(self.out, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stderr(self) -> str:
        try:
            with open(self.err, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


# ---------------------------------------------------------------------------
# the per-check context


class Ctx:
    """What a check gets: the runtime, bundle factory, container helpers and
    per-requirement verdicts. Everything it creates is undone by close()."""

    def __init__(self, suite: Suite, chk: Check) -> None:
        self.suite = suite
        self.chk = chk
        self.rt = suite.runtime
        self.ids_created: list[str] = []
        self.cleanups: list[Callable[[], None]] = []
        self.verdicts: dict[str, Result] = {}
        self.n = 0
        self.dir = tempfile.mkdtemp(prefix=f"{chk.name}-", dir=suite.tmp)
        os.chmod(self.dir, 0o755)

    # verdicts ---------------------------------------------------------------

    def _set(self, rid: str, status: str, reason: str = "") -> None:
        if rid not in self.chk.ids:
            raise KeyError(f"{rid} is not declared by check {self.chk.name}")
        if rid in self.verdicts and self.verdicts[rid].status == "FAIL":
            return  # a failure sticks
        self.verdicts[rid] = Result(rid, status, reason, self.chk.name)

    def ok(self, rid: str, reason: str = "") -> None:
        self._set(rid, "PASS", reason)

    def fail(self, rid: str, reason: str) -> None:
        self._set(rid, "FAIL", reason)

    def skip(self, rid: str, reason: str) -> None:
        self._set(rid, "SKIP", reason)

    def expect(self, rid: str, cond: bool, reason: str) -> bool:
        """PASS rid if cond, else FAIL it with reason (a later PASS does not
        undo a FAIL)."""
        if cond:
            self.ok(rid)
        else:
            self.fail(rid, reason)
        return bool(cond)

    def defer(self, fn: Callable[[], None]) -> None:
        self.cleanups.append(fn)

    # bundles and ids ---------------------------------------------------------

    def new_id(self, tag: str = "") -> str:
        self.n += 1
        return f"cf{self.suite.run_tag}-{self.chk.name[:20].replace('_', '-')}{tag}-{self.n}"

    def cgroups_path(self, name: str) -> str:
        return f"/{self.suite.cgroup_prefix}/{name}"

    def bundle(self, script: str | None = None, args: list[str] | None = None) -> Bundle:
        self.n += 1
        name = f"b{self.n}"
        cfg = base_config(args or ["true"], self.cgroups_path(f"{self.chk.name}-{self.n}"))
        b = Bundle(os.path.join(self.dir, name), self.suite.template, cfg)
        if script is not None:
            b.script(script)
        return b

    def host_dir(self, name: str) -> str:
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o777)
        return d

    # runtime operations -------------------------------------------------------

    def create(self, b: Bundle, cid: str | None = None, extra: list[str] | None = None,
               cwd: str | None = None, bundle_arg: str | None = None, **kw) -> tuple[str, Call]:
        cid = self.new_id() if cid is None else cid
        self.ids_created.append(cid)
        b.write()
        with open(b.out, "ab") as out, open(b.err, "ab") as err:
            c = self.rt("create", "--bundle", bundle_arg or b.path, *(extra or []), cid,
                        stdout=out, stderr=err, cwd=cwd, **kw)
        if not c.ok:
            c.err = b.stderr()
        return cid, c

    def must_create(self, b: Bundle, cid: str | None = None, **kw) -> str:
        cid, c = self.create(b, cid, **kw)
        if not c.ok:
            raise Fail(f"create failed: {c.why()}")
        return cid

    def start(self, cid: str) -> Call:
        return self.rt("start", cid)

    def must_start(self, cid: str) -> None:
        c = self.start(cid)
        if not c.ok:
            raise Fail(f"start failed: {c.why()}")

    def state(self, cid: str) -> dict | None:
        reap()
        c = self.rt("state", cid)
        if not c.ok:
            return None
        try:
            return json.loads(c.out)
        except ValueError:
            return None

    def must_state(self, cid: str) -> dict:
        reap()
        c = self.rt("state", cid)
        if not c.ok:
            raise Fail(f"state failed: {c.why()}")
        try:
            return json.loads(c.out)
        except ValueError as e:
            raise Fail(f"state output is not JSON: {e}: {c.out[:100]!r}") from None

    def kill(self, cid: str, sig: str = "KILL", *extra: str) -> Call:
        return self.rt("kill", *extra, cid, sig)

    def delete(self, cid: str, force: bool = False) -> Call:
        reap()
        return self.rt("delete", *(["--force"] if force else []), cid)

    def wait_status(self, cid: str, want: str = "stopped", timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        st: dict | None = None
        while time.monotonic() < deadline:
            st = self.state(cid)
            if st is not None and st.get("status") == want:
                return st
            time.sleep(0.02)
        raise Fail(f"container did not become {want} within {timeout}s "
                   f"(last state: {st and st.get('status')})")

    def run(self, b: Bundle, timeout: float = 10, delete: bool = True) -> str:
        """create + start + wait for exit (+ delete): the container's stdout."""
        cid = self.must_create(b)
        self.must_start(cid)
        self.wait_status(cid, "stopped", timeout)
        if delete:
            d = self.delete(cid)
            if not d.ok:
                self.delete(cid, force=True)
        return b.stdout()

    def run_ok(self, b: Bundle, timeout: float = 10) -> tuple[str, Call | None]:
        """Like run() but returns (stdout, failed-create-call-or-None)."""
        cid, c = self.create(b)
        if not c.ok:
            return "", c
        self.must_start(cid)
        self.wait_status(cid, "stopped", timeout)
        d = self.delete(cid)
        if not d.ok:
            self.delete(cid, force=True)
        return b.stdout(), None

    def expect_create_error(self, rid: str, b: Bundle, what: str) -> bool:
        """rid passes if `create` fails and leaves no container behind."""
        cid, c = self.create(b)
        if c.ok:
            self.delete(cid, force=True)
            self.fail(rid, f"create accepted {what}")
            return False
        st = self.state(cid)
        if st is not None:
            self.delete(cid, force=True)
            self.fail(rid, f"create failed for {what} but the container exists "
                      f"(status {st.get('status')})")
            return False
        self.ok(rid)
        return True

    # cleanup ------------------------------------------------------------------

    def close(self) -> None:
        for cid in reversed(self.ids_created):
            if self.state(cid) is not None:
                self.kill(cid, "KILL")
                self.delete(cid, force=True)
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:  # noqa: BLE001 - cleanup goes on regardless
                pass
        kill_children()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# the suite


class Suite:
    def __init__(self, runtime_path: str, runtime_args: list[str],
                 tmp: str | None = None) -> None:
        self.tmp = tempfile.mkdtemp(prefix="conformance-", dir=tmp)
        os.chmod(self.tmp, 0o755)
        self.host_mounts_before = mount_points()
        # Our own tmpfs: bundles are made of hundreds of symlinks, slow on a
        # journalled disk; and one umount takes it all away.
        self.tmpfs = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "mode=755,size=4g", "conformance", self.tmp],
            capture_output=True).returncode == 0
        if self.tmpfs:
            subprocess.run(["mount", "--make-private", self.tmp], capture_output=True)
        self.run_tag = f"{os.getpid() % 100000}"
        self.cgroup_prefix = f"conformance-{os.getpid()}-{os.urandom(3).hex()}"
        self.runtime = Runtime(runtime_path, runtime_args, os.path.join(self.tmp, "state"))
        self.template = os.path.join(self.tmp, "template")
        build_rootfs(self.template)
        self.leaks: list[str] = []

    def run_check(self, chk: Check) -> list[Result]:
        ctx = Ctx(self, chk)
        reason = ""
        status = "PASS"

        def on_alarm(signum, frame):
            raise CheckTimeout()

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, chk.timeout)
        try:
            chk.func(ctx)
        except Fail as e:
            status, reason = "FAIL", str(e)
        except Skip as e:
            status, reason = "SKIP", str(e)
        except CheckTimeout:
            status, reason = "FAIL", f"check timed out after {chk.timeout:g}s"
        except Exception as e:  # noqa: BLE001 - a broken check is a failed check
            status, reason = "FAIL", f"{type(e).__name__}: {e}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        try:
            ctx.close()
        except Exception as e:  # noqa: BLE001
            if status == "PASS":
                status, reason = "FAIL", f"cleanup failed: {e}"
        left = sorted(m for m in mount_points() if m.startswith(self.tmp + "/"))
        if left:
            self.leaks.append(f"after {chk.name}: mounts {left}")
            for m in reversed(left):
                subprocess.run(["umount", "-l", m], capture_output=True)
        out = []
        for rid in chk.ids:
            if rid in ctx.verdicts:
                out.append(ctx.verdicts[rid])
            else:
                out.append(Result(rid, status, reason, chk.name))
        return out

    def close(self) -> list[str]:
        """Remove everything; return what could not be removed."""
        problems = list(self.leaks)
        kill_children()
        for mp in sorted(mount_points() - self.host_mounts_before, key=len, reverse=True):
            if mp.startswith(self.tmp + "/"):
                subprocess.run(["umount", "-l", mp], capture_output=True)
                problems.append(f"mount left: {mp}")
        if self.tmpfs:
            if subprocess.run(["umount", self.tmp], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", self.tmp], capture_output=True)
        left = remove_cgroup_tree(self.cgroup_prefix)
        problems.extend(f"cgroup left: {p}" for p in left)
        state = self.runtime.root
        if os.path.isdir(state):
            stale = [n for n in os.listdir(state) if n.startswith("cf")]
            problems.extend(f"state left: {os.path.join(state, n)}" for n in stale)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if os.path.exists(self.tmp):
            problems.append(f"temp dir left: {self.tmp}")
        return problems


def mount_points() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {unescape(line.split()[4]) for line in f}


def unescape(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def cgroup_controllers() -> list[str]:
    out = []
    for name in sorted(os.listdir(CGROUP_ROOT)):
        p = os.path.join(CGROUP_ROOT, name)
        if os.path.isdir(p) and not os.path.islink(p) and os.path.ismount(p):
            out.append(p)
    return out


def remove_cgroup_tree(prefix: str) -> list[str]:
    """rmdir our own child cgroups (bottom-up) in every hierarchy."""
    left = []
    for top in cgroup_controllers():
        base = os.path.join(top, prefix)
        if not os.path.isdir(base):
            continue
        for _ in range(50):
            dirs = [d for d, _, _ in os.walk(base)]
            for d in sorted(dirs, key=len, reverse=True):
                with contextlib.suppress(OSError):
                    os.rmdir(d)
            if not os.path.exists(base):
                break
            time.sleep(0.05)
        else:
            left.append(base)
    return left


def cgroup_dirs(path: str) -> list[str]:
    """The directories of cgroupsPath `path` that exist, across hierarchies."""
    return [os.path.join(top, path.lstrip("/")) for top in cgroup_controllers()
            if os.path.isdir(os.path.join(top, path.lstrip("/")))]


def read(path: str, default: str | None = None) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        if default is not None:
            return default
        raise


# ---------------------------------------------------------------------------
# helpers shared by checks


def parse_kv(text: str, sep: str = "=") -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if sep in line:
            k, v = line.split(sep, 1)
            out[k.strip()] = v.strip()
    return out


def mountinfo_entries(text: str) -> list[dict]:
    """Parse mountinfo lines into dicts."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if " - " not in line or len(parts) < 10:
            continue
        sep = parts.index("-")
        out.append({
            "id": int(parts[0]), "parent": int(parts[1]), "dev": parts[2],
            "root": unescape(parts[3]), "mountpoint": unescape(parts[4]),
            "opts": parts[5].split(","), "optional": parts[6:sep],
            "fstype": parts[sep + 1], "source": parts[sep + 2],
            "super": parts[sep + 3].split(",") if len(parts) > sep + 3 else [],
        })
    return out


def find_mount(entries: list[dict], mountpoint: str) -> dict | None:
    """The last (topmost) entry for mountpoint."""
    found = None
    for e in entries:
        if e["mountpoint"] == mountpoint:
            found = e
    return found


class ConsoleSocket:
    """Receives the pty master that the runtime sends over --console-socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.master: int | None = None
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            fds = array.array("i")
            _, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(16 * fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            if fds:
                self.master = fds[0]
                for extra in fds[1:]:
                    os.close(extra)

    def wait_master(self, timeout: float = 5) -> int | None:
        self.thread.join(timeout)
        return self.master

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None


def read_pty(fd: int, until: bytes, timeout: float = 5) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while until not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def deep(d: dict) -> dict:
    return copy.deepcopy(d)


@dataclass
class Holder:
    """A host process that holds namespaces for `path` tests."""

    pid: int
    inner: int
    proc: subprocess.Popen = field(repr=False)


def start_holder(flags: list[str]) -> Holder:
    """`unshare FLAGS --fork sleep`: its child lives in the new namespaces."""
    p = subprocess.Popen(["unshare", *flags, "--fork", "sleep", "300"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        kids = read(f"/proc/{p.pid}/task/{p.pid}/children", "").split()
        if kids and proc_cmdline(int(kids[0]))[:1] == ["sleep"]:
            return Holder(p.pid, int(kids[0]), p)
        time.sleep(0.01)
    p.kill()
    p.wait()
    raise Skip("could not start an unshare(1) namespace holder")


def stop_holder(h: Holder) -> None:
    for pid in (h.inner, h.pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        h.proc.wait(5)
    reap()
