"""Fresh unprivileged users for the rootless tests (tests/test_rootless*.py,
tests/vm_rootless/): made with useradd, subordinate ranges in /etc/subuid and
/etc/subgid and an XDG_RUNTIME_DIR, removed afterwards with a check that
nothing of theirs is left (no process, no state, no line in /etc/subuid)."""

import fcntl
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
from helpers import reap_children

SUBID_FILES = ("/etc/subuid", "/etc/subgid")
SUB_COUNT = 65536


def _free_sub_start() -> int:
    """A subordinate range start that no line of /etc/subuid or /etc/subgid overlaps."""
    used = []
    for path in SUBID_FILES:
        try:
            with open(path) as f:
                for line in f:
                    parts = line.strip().split(":")
                    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                        used.append((int(parts[1]), int(parts[1]) + int(parts[2])))
        except FileNotFoundError:
            pass
    start = 4_000_000 + secrets.randbelow(1000) * SUB_COUNT
    while any(a < start + SUB_COUNT and start < b for a, b in used):
        start += SUB_COUNT
    return start


def _edit_subids(name: str, line: str | None) -> None:
    """Add `line` to both files, or (None) remove the user's lines, under a lock."""
    for path in SUBID_FILES:
        with open(path, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            lines = [x for x in f.read().splitlines() if x.split(":")[0] != name]
            if line:
                lines.append(line)
            f.seek(0)
            f.truncate()
            f.write("".join(x + "\n" for x in lines))


def user_pids(uid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    out.append(int(name))
            except OSError:
                pass
    return out


class User:
    """A fresh unprivileged user; `run` runs a command as it, in its home."""

    def __init__(self, ranges: bool) -> None:
        if os.geteuid() != 0:
            pytest.skip("the rootless tier needs root (to make its users)")
        self.name = f"pyrl{secrets.token_hex(3)}"
        for _ in range(20):  # (another test run may hold /etc/passwd's lock a moment)
            p = subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh",
                                "--user-group", "-K", "SUB_UID_COUNT=0", "-K",
                                "SUB_GID_COUNT=0", self.name], capture_output=True, text=True)
            if p.returncode == 0 or "lock" not in p.stderr:
                break
            time.sleep(0.5)
        assert p.returncode == 0, f"useradd {self.name}: {p.stderr}"
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, pw.pw_dir
        os.chmod(self.home, 0o755)
        self.sub = _free_sub_start() if ranges else None
        if ranges:
            _edit_subids(self.name, f"{self.name}:{self.sub}:{SUB_COUNT}")
        self.xdg = f"/run/user/{self.uid}"
        os.makedirs("/run/user", mode=0o755, exist_ok=True)
        os.mkdir(self.xdg, 0o700)
        os.chown(self.xdg, self.uid, self.gid)
        self.env = {"PATH": f"{os.path.dirname(os.environ.get('PYRUNC', '/x/pyrunc'))}:"
                            "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                    "HOME": self.home, "USER": self.name, "LOGNAME": self.name,
                    "XDG_RUNTIME_DIR": self.xdg, "LANG": "C.UTF-8"}

    def run(self, *args: str, env: dict | None = None, cwd: str | None = None,
            timeout: float = 60, cgroup: str | None = None, **kw) -> subprocess.CompletedProcess:
        """`args` as the user; in the v2 `cgroup` directory if given (root moves
        the process there, then setpriv drops to the user)."""
        e = dict(self.env if env is None else env)
        ids: dict = {"user": self.uid, "group": self.gid, "extra_groups": []}
        argv = list(args)
        if cgroup:
            ids = {}
            argv = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && u=$1 g=$2 && shift 2 && '
                    'exec setpriv --reuid="$u" --regid="$g" --clear-groups -- "$@"',
                    cgroup, str(self.uid), str(self.gid), *argv]
        # files, not pipes: a detached container keeps its stdio open
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(argv, env=e, cwd=cwd or self.home, stdout=out, stderr=err,
                               stdin=subprocess.DEVNULL, timeout=timeout, **ids, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read(), err.read()
        p.out = p.stdout.decode(errors="replace")
        p.err = p.stderr.decode(errors="replace")
        return p

    def remove(self) -> list[str]:
        """Remove the user and all it had; return what was left behind."""
        left = []
        reap_children()  # (zombies of this session's subreaper)
        pids = user_pids(self.uid)
        if pids:
            left.append(f"processes of {self.name}: {[_cmdline(p) for p in pids]}")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while user_pids(self.uid) and time.monotonic() < deadline:
            reap_children()
            time.sleep(0.05)
        state = os.path.join(self.xdg, "pyrunc")
        if os.path.isdir(state) and os.listdir(state):
            left.append(f"state left: {os.listdir(state)}")
        shutil.rmtree(self.xdg, ignore_errors=True)
        subprocess.run(["userdel", "--remove", self.name], capture_output=True)
        if self.sub is not None:
            _edit_subids(self.name, None)
        shutil.rmtree(self.home, ignore_errors=True)
        return left


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f"{pid} " + f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return str(pid)


def pyrunc() -> str:
    cmd = os.environ.get("PYRUNC") or shutil.which("pyrunc")
    if not cmd:
        pytest.exit("pyrunc is not installed", returncode=3)
    return cmd


def made_user(ranges: bool):
    """For a fixture: a fresh user, removed afterwards; fails if it left anything."""
    u = User(ranges=ranges)
    yield u
    left = u.remove()
    assert not left, f"left behind: {left}"


class RBundle:
    """A bundle in a user's home: config.json as a dict, written by write()."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(os.path.join(path, "config.json")) as f:
            self.config = json.load(f)

    def write(self, *args: str) -> "RBundle":
        if args:
            self.config["process"]["args"] = list(args)
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=1)
        return self

    def __str__(self) -> str:
        return self.path


def user_bundle(user: User, rootfs_template, name: str):
    """For a fixture: a bundle the user owns, with the config that `pyrunc spec
    --rootless` writes for it (no terminal); removed afterwards."""
    path = os.path.join(user.home, f"b-{name[:40]}")
    shutil.copytree(rootfs_template, os.path.join(path, "rootfs"), symlinks=True)
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", path], check=True)
    p = user.run(pyrunc(), "spec", "--rootless", "--bundle", path)
    assert p.returncode == 0, p.err
    b = RBundle(path)
    b.config["process"]["terminal"] = False
    b.write()
    yield b
    shutil.rmtree(path, ignore_errors=True)


def ok(p: subprocess.CompletedProcess) -> str:
    """The output of a command that must have succeeded."""
    assert p.returncode == 0, f"exit {p.returncode}: {p.err}{p.out}"
    return p.out
